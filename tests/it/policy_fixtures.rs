//! `toolgate test` and `evaluate --dry-run` through the real binary: fixtures decide
//! against scratch state and a scratch log (the real ones are never touched), a
//! mismatch exits 1 with a diff, coverage names what was never exercised, and
//! `init` leaves a passing starter set next to the passport.

use crate::harness::Home;
use serde_json::{json, Value};

fn fixtures(h: &Home, name: &str, cases: Value) -> std::path::PathBuf {
    let dir = h.home.join("tests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), cases.to_string()).unwrap();
    dir
}

#[test]
fn init_writes_starter_fixtures_that_pass_without_touching_the_log() {
    let h = Home::empty();
    let init = h.ok(&["init"]);
    assert!(init.stdout.contains("fixtures"), "{}", init.stdout);
    assert!(h.home.join("tests/coding-agent.json").is_file());
    let r = h.run(&["test"], b"");
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("8 passed, 0 failed"), "{}", r.stdout);
    assert!(r.stdout.contains("coverage"), "{}", r.stdout);
    // A list entry no starter case uses is named as never exercised.
    assert!(
        r.stdout
            .contains("never: limits.system.command.execute.allowed_commands: cargo run"),
        "{}",
        r.stdout
    );
    assert!(
        !h.log().exists(),
        "toolgate test must not write the real audit log"
    );
    // A second init keeps the (maybe edited) fixtures.
    let again = h.ok(&["init"]);
    assert!(again.stdout.contains("fixtures  kept"), "{}", again.stdout);
}

#[test]
fn a_mismatch_exits_1_with_a_diff() {
    let h = Home::new("coding-agent");
    fixtures(
        &h,
        "wrong.json",
        json!([
            {"name": "curl is allowed (it is not)", "policy": "system.command.execute.v1",
             "context": {"command": "curl https://example.com", "cwd": "$PROJECT_ROOT"},
             "expect": {"verdict": "allow"}},
            {"name": "ls is fine", "policy": "system.command.execute.v1",
             "context": {"command": "ls", "cwd": "$PROJECT_ROOT"},
             "expect": {"verdict": "allow", "reason": "oap.allowed"}}
        ]),
    );
    let r = h.run(&["test"], b"");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("FAIL  wrong.json: curl is allowed"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("PASS  wrong.json: ls is fine"));
    assert!(r.stdout.contains("-verdict: allow"), "{}", r.stdout);
    assert!(r.stdout.contains("+verdict: deny"), "{}", r.stdout);
    assert!(r.stdout.contains("1 passed, 1 failed"));

    let junit = h.run(&["test", "--format", "junit"], b"");
    assert_eq!(junit.code, 1);
    assert!(junit.stdout.starts_with("<?xml"), "{}", junit.stdout);
    assert!(junit.stdout.contains("tests=\"2\" failures=\"1\""));
    assert_eq!(junit.stdout.matches("<failure").count(), 1);

    let j = h.run(&["test", "--format", "json"], b"");
    let v: Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v["failed"], 1);
    assert_eq!(v["cases"][0]["got"]["reason"], "oap.command_not_allowed");
}

#[test]
fn min_coverage_gates_and_a_wrong_reason_fails() {
    let h = Home::new("coding-agent");
    let dir = fixtures(
        &h,
        "one.json",
        json!({"name": "ls", "policy": "system.command.execute.v1",
               "context": {"command": "ls", "cwd": "$PROJECT_ROOT"},
               "expect": {"verdict": "allow"}}),
    );
    let d = dir.to_str().unwrap();
    assert_eq!(h.run(&["test", d], b"").code, 0);
    let short = h.run(&["test", d, "--min-coverage", "90"], b"");
    assert_eq!(short.code, 1, "{short:?}");
    assert!(
        short.stderr.contains("below --min-coverage 90"),
        "{short:?}"
    );
    assert_eq!(h.run(&["test", d, "--min-coverage", "1"], b"").code, 0);

    fixtures(
        &h,
        "typo.json",
        json!({"policy": "system.command.execute.v1", "context": {"command": "ls"},
               "expect": {"verdict": "deny", "reason": "oap.command_not_alowed"}}),
    );
    let typo = h.run(&["test", d], b"");
    assert_eq!(typo.code, 1);
    assert!(
        typo.stderr
            .contains("did you mean `oap.command_not_allowed`"),
        "{typo:?}"
    );
}

#[test]
fn fixtures_and_dry_runs_never_use_up_a_real_idempotency_key() {
    let h = Home::new("refund-agent");
    let ctx = json!({"amount": 1200, "currency": "USD", "reason_code": "customer_request",
                     "idempotency_key": "order-77"});
    fixtures(
        &h,
        "refund.json",
        json!([
            {"policy": "finance.payment.refund.v1", "context": ctx, "expect": {"verdict": "allow"}},
            {"policy": "finance.payment.refund.v1", "context": ctx,
             "expect": {"verdict": "deny", "reason": "oap.idempotency_conflict"}}
        ]),
    );
    // The cases of one file share their scratch state; every run starts afresh.
    for _ in 0..2 {
        let r = h.run(&["test"], b"");
        assert_eq!(r.code, 0, "{r:?}");
    }
    let file = h.project.join("refund.json");
    std::fs::write(&file, ctx.to_string()).unwrap();
    let f = file.to_str().unwrap();
    let args = [
        "evaluate",
        "--dry-run",
        "--json",
        "--policy",
        "finance.payment.refund.v1",
        "--context",
        f,
    ];
    for _ in 0..2 {
        let r = h.run(&args, b"");
        assert_eq!(r.code, 0, "a dry run leaves the key unused: {r:?}");
        assert_eq!(r.json()["dry_run"], true);
        assert!(r.json()["audit"].is_null());
    }
    assert!(!h.log().exists(), "dry runs write no real record");
    // The real thing uses the key once.
    let real = &args[..1]
        .iter()
        .chain(&args[2..])
        .copied()
        .collect::<Vec<_>>();
    assert_eq!(h.run(real, b"").code, 0);
    let again = h.run(real, b"");
    assert_eq!(again.code, 2, "{again:?}");
    assert_eq!(h.records().len(), 2);
}

/// Every file below `root`, with its bytes.
fn tree(root: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn fixtures_and_dry_runs_write_nothing_outside_their_scratch_directory() {
    let h = Home::new("coding-agent");
    fixtures(
        &h,
        "status.json",
        json!([{"host": "claude-code", "input": {"hook_event_name": "PreToolUse",
                "tool_name": "Bash", "tool_input": {"command": "git status"}, "cwd": "/repo"},
                "expect": {"verdict": "allow"}}]),
    );
    let tmp = h.dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let before = tree(&h.home);
    let call = h.claude("Bash", json!({"command": "git status"}));
    let runs = [
        (&["test"][..], &b""[..]),
        (
            &["evaluate", "--host", "claude-code", "--dry-run"][..],
            &call[..],
        ),
    ];
    for (args, stdin) in runs {
        let mut c = h.cmd(args);
        c.env("TMPDIR", &tmp);
        let r = crate::harness::run_command(c, stdin);
        assert_eq!(r.code, 0, "{args:?}: {r:?}");
        // Not the cache key, not the verified-passport memo, not a record.
        assert_eq!(tree(&h.home), before, "{args:?} wrote below the real root");
        let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
        assert!(
            left.is_empty(),
            "{args:?} left its scratch behind: {left:?}"
        );
    }
    // The real hook still writes them: the runs above had something to leave out.
    assert_eq!(h.run(&["evaluate", "--host", "claude-code"], &call).code, 0);
    assert_ne!(tree(&h.home), before);
}
