//! Passport editing through the real binary: allow/deny/set/unset validate and re-sign
//! in one step, hooks running meanwhile never see a torn passport/signature pair and
//! are never denied for it, `show` speaks words, `diff` names changes, and `suggest`
//! proposes (never applies) the narrowest entries for would-deny records.

use crate::harness;
use crate::harness::Home;
use serde_json::{json, Value};

fn bash(h: &Home, cmd: &str) -> i32 {
    let input = h.claude("Bash", json!({"command": cmd}));
    h.run(&["evaluate", "--host", "claude-code"], &input).code
}

fn doc(h: &Home) -> Value {
    serde_json::from_slice(&std::fs::read(h.passport()).unwrap()).unwrap()
}

#[test]
fn allow_and_deny_change_what_the_hook_decides() {
    let h = Home::new("coding-agent");
    assert_eq!(bash(&h, "cargo bench"), 2);
    let r = h.ok(&["passport", "allow", "command", "cargo bench"]);
    assert!(
        r.stdout
            .contains("+ system.command.execute.allowed_commands: cargo bench"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("signed version 1.0.1"), "{}", r.stdout);
    assert_eq!(bash(&h, "cargo bench"), 0);
    h.ok(&["passport", "verify"]);

    h.ok(&["passport", "deny", "command", "cargo bench"]);
    assert_eq!(bash(&h, "cargo bench"), 2);
    let d = doc(&h);
    assert_eq!(d["version"], "1.0.2");
    assert!(d["limits"]["system.command.execute"]["blocked_patterns"]
        .as_array()
        .unwrap()
        .contains(&json!("cargo bench")));

    // A dry run changes nothing.
    let before = std::fs::read(h.passport()).unwrap();
    let dry = h.ok(&["passport", "allow", "domain", "example.org", "--dry-run"]);
    assert!(dry
        .stdout
        .contains("+ web.fetch.allowed_domains: example.org"));
    assert_eq!(std::fs::read(h.passport()).unwrap(), before);
}

#[test]
fn set_and_unset_validate_before_signing() {
    let h = Home::new("refund-agent");
    h.ok(&[
        "passport",
        "set",
        "finance.payment.refund.currency_limits.USD.max_per_tx",
        "100",
    ]);
    assert_eq!(
        doc(&h)["limits"]["finance.payment.refund"]["currency_limits"]["USD"]["max_per_tx"],
        100
    );
    // A limit no pack reads is refused, and the passport stays as it was.
    let before = std::fs::read(h.passport()).unwrap();
    let bad = h.run(
        &[
            "passport",
            "set",
            "finance.payment.refund.idempotency_requird",
            "true",
        ],
        b"",
    );
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stderr.contains("idempotency_required"), "{bad:?}");
    assert_eq!(std::fs::read(h.passport()).unwrap(), before);
    let mode = h.run(&["passport", "set", "mode", "loud"], b"");
    assert_eq!(mode.code, 1, "{mode:?}");

    h.ok(&["passport", "set", "mode", "observe"]);
    assert_eq!(doc(&h)["metadata"]["toolgate"]["mode"], "observe");
    h.ok(&["passport", "unset", "mode"]);
    assert!(doc(&h)["metadata"]["toolgate"].get("mode").is_none());
    let missing = h.run(&["passport", "unset", "mode"], b"");
    assert_eq!(missing.code, 1);
    h.ok(&["passport", "verify"]);
}

#[test]
fn no_hook_sees_a_torn_pair_while_the_passport_is_edited() {
    let h = Home::new("coding-agent");
    let writer = {
        let home = h.home.clone();
        let dir = h.dir.path().to_path_buf();
        let project = h.project.clone();
        std::thread::spawn(move || {
            for i in 0..25 {
                let st = std::process::Command::new(harness::BIN)
                    .args(["passport", "allow", "command", &format!("tool{i}")])
                    .env_clear()
                    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                    .env("HOME", &dir)
                    .env("TOOLGATE_HOME", &home)
                    .current_dir(&project)
                    .output()
                    .unwrap();
                assert!(st.status.success(), "{st:?}");
            }
        })
    };
    let mut decided = 0;
    while !writer.is_finished() {
        let input = h.claude("Bash", json!({"command": "git status"}));
        let r = h.run(&["evaluate", "--host", "claude-code"], &input);
        assert_eq!(r.code, 0, "a hook during an edit was denied: {r:?}");
        decided += 1;
    }
    writer.join().unwrap();
    assert!(decided > 0);
    assert!(
        doc(&h)["limits"]["system.command.execute"]["allowed_commands"]
            .as_array()
            .unwrap()
            .contains(&json!("tool24"))
    );
}

#[test]
fn show_speaks_words_and_diff_names_changes() {
    let h = Home::new("coding-agent");
    let show = h.ok(&["passport", "show"]);
    for want in [
        "Coding agent",
        "status active",
        "never expires",
        "allowed commands:",
        "    git status",
        "signed by",
    ] {
        assert!(show.stdout.contains(want), "{want}: {}", show.stdout);
    }
    let j = h.ok(&["passport", "show", "--json"]);
    assert_eq!(j.json()["status"], "active");

    let old = h.dir.path().join("old.json");
    std::fs::copy(h.passport(), &old).unwrap();
    h.ok(&["passport", "allow", "read", "/opt/docs/**"]);
    h.ok(&["passport", "set", "expires_at", "2030-01-01T00:00:00Z"]);
    let d = h.run(
        &[
            "passport",
            "diff",
            old.to_str().unwrap(),
            h.passport().to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(d.code, 1, "{d:?}");
    assert!(d
        .stdout
        .contains("+ data.file.read.allowed_paths: /opt/docs/**"));
    assert!(d
        .stdout
        .contains("~ expires_at: never -> 2030-01-01T00:00:00Z"));
    let same = h.run(
        &[
            "passport",
            "diff",
            old.to_str().unwrap(),
            old.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(same.code, 0);
}

#[test]
fn suggest_proposes_the_narrowest_entries_and_applies_nothing() {
    let h = Home::new("coding-agent");
    std::fs::write(
        h.home.join("config.json"),
        json!({"audit": {"store_input": true}}).to_string(),
    )
    .unwrap();
    h.ok(&["passport", "set", "mode", "observe"]);
    assert_eq!(bash(&h, "npm publish --dry-run"), 0);
    assert_eq!(bash(&h, "npm publish"), 0);
    let fetch = h.claude(
        "WebFetch",
        json!({"url": "https://api.example.org/v1", "prompt": "x"}),
    );
    assert_eq!(
        h.run(&["evaluate", "--host", "claude-code"], &fetch).code,
        0
    );
    let before = std::fs::read(h.passport()).unwrap();
    let s = h.ok(&["passport", "suggest", "--from-log"]);
    assert!(
        s.stdout
            .contains("+ system.command.execute.allowed_commands: npm publish    # 2 call(s)"),
        "{}",
        s.stdout
    );
    assert!(s
        .stdout
        .contains("toolgate passport allow domain 'api.example.org'"));
    assert_eq!(
        std::fs::read(h.passport()).unwrap(),
        before,
        "never applied"
    );
}
