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
    let said = denied.json()["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap()
        .to_string();
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
    let text = r.json()["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!text.contains("toolgate approve"), "{text}");
    let id = last(&h)["decision_id"].as_str().unwrap().to_string();
    let a = h.run(&["approve", &id, "--yes"], b"");
    assert_eq!(a.code, 1, "{a:?}");
    assert!(a.stderr.contains("cannot be approved"), "{a:?}");
}
