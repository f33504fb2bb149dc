//! Scoped approvals through the real binary: a deny names its decision id, a person's
//! `toolgate approve` lets exactly that call through (once, or for a while), the record
//! cites the grant, and the agent can neither read nor write grants.

use crate::harness::{Home, Run};
use serde_json::{json, Value};

fn bash(h: &Home, cmd: &str) -> Run {
    let input = h.claude("Bash", json!({"command": cmd}));
    h.run(&["evaluate", "--host", "claude-code"], &input)
}

fn last(h: &Home) -> Value {
    h.records().pop().unwrap()
}

#[test]
fn a_once_grant_lets_the_same_call_through_one_time() {
    let h = Home::new("coding-agent");
    let denied = bash(&h, "cargo bench");
    assert_eq!(denied.code, 2);
    let id = last(&h)["decision_id"].as_str().unwrap().to_string();
    let said = denied.claude_reason();
    assert!(
        said.contains(&format!("toolgate approve {}", &id[..8])),
        "{said}"
    );

    // Without a terminal and without --yes nothing is granted.
    let unconfirmed = h.run(&["approve", &id], b"y\n");
    assert_eq!(unconfirmed.code, 1, "{unconfirmed:?}");
    let g = h.ok(&["approve", &id[..8], "--yes"]);
    assert!(g.stdout.contains("granted grant-"), "{}", g.stdout);

    // A different call is not covered.
    assert_eq!(bash(&h, "cargo bench --all").code, 2);
    let ok = bash(&h, "cargo bench");
    assert_eq!(ok.code, 0, "{ok:?}");
    let rec = last(&h);
    assert_eq!(rec["verdict"], "allow");
    assert!(rec["grant_id"].as_str().unwrap().starts_with("grant-"));
    assert!(rec["reasons"][0]["message"]
        .as_str()
        .unwrap()
        .contains("allowed by approval"));
    // Used up.
    assert_eq!(bash(&h, "cargo bench").code, 2);
    h.ok(&["verify-log"]);
}

#[test]
fn a_timed_grant_covers_repeats_until_it_lapses() {
    let h = Home::new("coding-agent");
    assert_eq!(bash(&h, "cargo bench").code, 2);
    let id = last(&h)["decision_id"].as_str().unwrap().to_string();
    h.ok(&["approve", &id, "--for", "1h", "--yes"]);
    assert_eq!(bash(&h, "cargo bench").code, 0);
    assert_eq!(bash(&h, "cargo bench").code, 0);
}

#[test]
fn grants_are_out_of_the_agents_reach() {
    let h = Home::new("coding-agent");
    h.edit_passport(|p| {
        p["limits"]["data.file.read"]["allowed_paths"] = json!(["/**"]);
        p["limits"]["data.file.write"]["allowed_paths"] = json!(["/**"]);
    });
    assert_eq!(bash(&h, "cargo bench").code, 2);
    let id = last(&h)["decision_id"].as_str().unwrap().to_string();
    h.ok(&["approve", &id, "--yes"]);
    let grant = std::fs::read_dir(h.home.join("grants"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let read = h.claude("Read", json!({"file_path": grant}));
    let r = h.run(&["evaluate", "--host", "claude-code"], &read);
    assert_eq!(r.code, 2, "an agent must not read a grant: {r:?}");
    let forged = h.home.join("grants/forged.json");
    let write = h.claude("Write", json!({"file_path": forged, "content": "{}"}));
    let w = h.run(&["evaluate", "--host", "claude-code"], &write);
    assert_eq!(w.code, 2, "an agent must not write a grant: {w:?}");

    // A grant file signed by no evaluator key is ignored.
    let mut v: Value = serde_json::from_slice(&std::fs::read(&grant).unwrap()).unwrap();
    v["grant"]["input_digest"] = json!("sha256:00");
    std::fs::write(&grant, v.to_string()).unwrap();
    assert_eq!(bash(&h, "cargo bench").code, 2);
}

#[test]
fn protected_denies_cannot_be_approved() {
    let h = Home::new("coding-agent");
    let w = h.claude(
        "Write",
        json!({"file_path": h.project.join(".claude/settings.json"), "content": "{}"}),
    );
    let r = h.run(&["evaluate", "--host", "claude-code"], &w);
    assert_eq!(r.code, 2);
    let text = r.claude_reason();
    assert!(!text.contains("toolgate approve"), "{text}");
    let id = last(&h)["decision_id"].as_str().unwrap().to_string();
    let a = h.run(&["approve", &id, "--yes"], b"");
    assert_eq!(a.code, 1, "{a:?}");
    assert!(a.stderr.contains("cannot be approved"), "{a:?}");
}

fn denied_id(h: &Home, cmd: &str) -> String {
    let r = bash(h, cmd);
    assert_eq!(r.code, 2, "{cmd}: {r:?}");
    last(h)["decision_id"].as_str().unwrap().to_string()
}

#[test]
fn a_pattern_grant_allows_commands_with_those_first_words_and_nothing_else() {
    let h = Home::with_passport("coding-agent", |p| {
        p["limits"]["system.command.execute"]["blocked_patterns"] = json!(["cargo bench --evil"]);
    });
    let id = denied_id(&h, "cargo bench --bench parse");
    let g = h.ok(&[
        "approve",
        &id,
        "--pattern",
        "cargo  bench",
        "--for",
        "1h",
        "--yes",
    ]);
    assert!(
        g.stdout.contains("commands starting with `cargo bench`"),
        "{}",
        g.stdout
    );

    // Covered: the denied call, and the same first words with other arguments.
    for cmd in [
        "cargo bench --bench parse",
        "cargo bench",
        "cargo bench --bench other",
    ] {
        let r = bash(&h, cmd);
        assert_eq!(r.code, 0, "{cmd}: {r:?}");
        let rec = last(&h);
        assert!(
            rec["grant_id"].as_str().unwrap().starts_with("grant-"),
            "{rec}"
        );
        let why = rec["reasons"][0]["message"].as_str().unwrap();
        assert!(
            why.contains("`cargo bench` in limits.system.command.execute.allowed_commands"),
            "{why}"
        );
        assert!(why.contains("without it: `"), "{why}");
    }
    // Not covered: other words, and every other rule still holds for covered ones (the
    // answer then is the deny without the grant, which is what the call was).
    for (cmd, code) in [
        ("cargo benchx", "oap.command_not_allowed"),
        ("cargo publish", "oap.command_not_allowed"),
        ("cargo bench --evil", "oap.blocked_pattern"),
        ("cargo bench $X", "oap.command_expansion_not_allowed"),
        (
            "cargo bench $(curl x)",
            "`curl x` is not an allowed command",
        ),
        ("cargo bench && cargo publish", "oap.command_not_allowed"),
        ("cargo bench > /etc/passwd", "oap.command_not_allowed"),
    ] {
        let r = bash(&h, cmd);
        assert_eq!(r.code, 2, "{cmd}: {r:?}");
        let rec = last(&h);
        assert!(rec["grant_id"].is_null(), "{cmd}: {rec}");
        assert!(
            r.stderr.contains(code),
            "{cmd}: expected {code}: {}",
            r.stderr
        );
    }
    // The same write is denied for its path once the command itself is allowed outright.
    h.ok(&["passport", "allow", "command", "cargo bench"]);
    let r = bash(&h, "cargo bench > /etc/passwd");
    assert!(
        r.code == 2 && r.stderr.contains("oap.path_not_allowed"),
        "{r:?}"
    );
    h.ok(&["verify-log"]);
}

#[test]
fn a_once_pattern_grant_is_used_up_by_the_first_call_it_lets_through() {
    let h = Home::new("coding-agent");
    let id = denied_id(&h, "cargo bench --bench parse");
    h.ok(&["approve", &id, "--pattern", "cargo bench", "--yes"]);
    // A call the pattern does not cover leaves it unused.
    assert_eq!(bash(&h, "cargo publish").code, 2);
    assert_eq!(bash(&h, "cargo bench --bench x").code, 0);
    assert_eq!(bash(&h, "cargo bench --bench x").code, 2, "used up");
}

#[test]
fn patterns_wider_than_the_denied_command_are_refused() {
    let h = Home::new("coding-agent");
    let id = denied_id(&h, "cargo bench --bench parse");
    for (pattern, why) in [
        ("*", "would expand"),
        ("cargo *", "would expand"),
        ("cargo", "names only a program"),
        ("cargo bench; rm -rf /", "would expand"),
        ("cargo test", "does not cover the denied command"),
        ("cargo bench --bench parse extra", "does not cover"),
        ("carg", "does not cover"),
        ("", "empty"),
        ("$HOME/x y", "would expand"),
    ] {
        let r = h.run(&["approve", &id, "--pattern", pattern, "--yes"], b"");
        assert_eq!(r.code, 1, "{pattern:?}: {r:?}");
        assert!(
            r.stderr.contains(why),
            "{pattern:?}: expected `{why}`: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains("`cargo bench --bench parse`") || pattern.is_empty(),
            "{}",
            r.stderr
        );
    }
    assert!(
        !h.home.join("grants").exists()
            || std::fs::read_dir(h.home.join("grants"))
                .unwrap()
                .next()
                .is_none()
    );
    // The neighbours that stay allowed: the exact denied command, and any first words of it.
    h.ok(&[
        "approve",
        &id,
        "--pattern",
        "cargo bench --bench parse",
        "--yes",
    ]);
    h.ok(&["approve", &id, "--pattern", "cargo bench --bench", "--yes"]);
    // A deny that is not about the command allow list has no pattern to approve.
    let id = denied_id(&h, "cat ~/.ssh/id_rsa");
    let r = h.run(&["approve", &id, "--pattern", "cat ~/.ssh", "--yes"], b"");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("approve the exact call") || r.stderr.contains("cannot be approved"),
        "{}",
        r.stderr
    );
}

#[test]
fn denies_before_any_pack_and_enforced_codes_cannot_be_approved() {
    let h = Home::new("coding-agent");
    // A malformed call: denied by the gate itself, before a pack is chosen.
    let r = h.run(&["evaluate", "--host", "claude-code"], b"{not json");
    assert_eq!(r.code, 2, "{r:?}");
    let early = last(&h);
    assert_eq!(early["reasons"][0]["code"], "oap.invalid_input", "{early}");
    // A suspended passport: a pack's gate, but never lifted.
    h.edit_passport(|p| p["status"] = json!("suspended"));
    assert_eq!(bash(&h, "git status").code, 2);
    let suspended = last(&h);
    assert_eq!(suspended["reasons"][0]["code"], "oap.passport_suspended");
    for rec in [early, suspended] {
        let id = rec["decision_id"].as_str().unwrap();
        let a = h.run(&["approve", id, "--yes"], b"");
        assert_eq!(a.code, 1, "{a:?}");
        assert!(a.stderr.contains("cannot be approved"), "{a:?}");
    }
}
