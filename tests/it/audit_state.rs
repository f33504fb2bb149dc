//! Stateful limits across separate hook processes, the tripwire, state
//! rebuilds, log rotation and key rotation.

use crate::harness::*;
use serde_json::{json, Value};

#[test]
fn the_daily_cap_holds_across_processes() {
    let home = Home::new("refund-agent"); // USD max_per_tx 5000, daily_cap 50000
    for i in 0..10 {
        let o = home.refund(5000, &format!("k{i}"));
        assert_eq!(code(&o), "oap.allowed");
    }
    let o = home.refund(1, "k-last");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(code(&o), "oap.limit_exceeded");
    // The denied refund spent nothing.
    let agent = home.agent_state();
    assert_eq!(agent["daily_totals"]["finance.payment.refund|USD"], 50000);
}

#[test]
fn rate_limits_count_calls_of_other_processes() {
    let home = Home::with_passport("coding-agent", |p| {
        p["limits"]["system.command.execute"]["max_requests_per_min"] = json!(3);
    });
    let codes: Vec<String> = (0..5)
        .map(|_| code(&home.evaluate(&bash("git status"))))
        .collect();
    assert_eq!(
        codes,
        [
            "oap.allowed",
            "oap.allowed",
            "oap.allowed",
            "oap.rate_limited",
            "oap.rate_limited"
        ]
    );
}

#[test]
fn the_tripwire_sends_an_agent_to_deny_after_repeated_denies_and_records_it() {
    let home = Home::with_passport("coding-agent", |p| {
        p["metadata"]["tripwire"] =
            json!({"max_denies": 3, "window_seconds": 600, "action": "deny"});
    });
    assert_eq!(code(&home.evaluate(&bash("git status"))), "oap.allowed");
    for _ in 0..3 {
        assert_eq!(
            code(&home.evaluate(&bash("sudo ls"))),
            "oap.blocked_pattern"
        );
    }
    let o = home.evaluate(&bash("git status"));
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(code(&o), "oap.tripwire_tripped");
    let last = home.records().pop().unwrap();
    assert_eq!(last["reasons"][0]["code"], "oap.tripwire_tripped");
    assert_eq!(last["verdict"], "deny");
    // Tripwire denies do not feed the tripwire: state holds only the three real denies.
    let agent = home.agent_state();
    assert_eq!(agent["denies"].as_array().unwrap().len(), 3);
}

#[test]
fn the_tripwire_can_send_to_review_instead() {
    let home = Home::with_passport("coding-agent", |p| {
        p["metadata"]["tripwire"] =
            json!({"max_denies": 1, "window_seconds": 60, "action": "review"});
    });
    assert_eq!(
        code(&home.evaluate(&bash("sudo ls"))),
        "oap.blocked_pattern"
    );
    let o = home.evaluate(&bash("git status"));
    assert_eq!(code(&o), "oap.tripwire_tripped");
    assert_eq!(decision(&o)["verdict"], "review");
}

#[test]
fn a_malformed_tripwire_is_refused_when_signed_and_when_loaded() {
    let home = Home::new("coding-agent");
    let path = home.path("passport.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["metadata"]["tripwire"] = json!({"max_denies": 0, "window_seconds": 60});
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    // `passport sign` names the field instead of signing a rule that cannot work.
    let o = home.run(&["passport", "sign"], b"");
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("metadata.tripwire"), "{}", o.stderr);
    // Signed some other way, the gate refuses it when the passport loads.
    let key = toolgate::passport::KeyPair::load(&home.path("keys/toolgate.key.jwk")).unwrap();
    let env = toolgate::passport::sign(&v, &key, "2026-01-01T00:00:00Z");
    std::fs::write(
        toolgate::passport::signature_path(&path),
        serde_json::to_vec(&env).unwrap(),
    )
    .unwrap();
    let o = home.evaluate(&bash("git status"));
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(code(&o), "oap.passport_invalid");
    assert!(
        text(&o.stdout).contains("metadata.tripwire"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn a_lost_state_file_denies_until_rebuilt_from_the_log() {
    let home = Home::new("refund-agent");
    // Enough records that the first is no longer in the tail the writer reads.
    for i in 0..30 {
        assert_eq!(code(&home.refund(1, &format!("k{i}"))), "oap.allowed");
    }
    let state = home.path("audit/audit.jsonl.state");
    let before = std::fs::read(&state).unwrap();
    std::fs::remove_file(&state).unwrap();
    assert_unrecorded_deny(&home.refund(100, "k0"));
    home.ok_text(&["audit", "rebuild-state"]);
    let agents =
        |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).unwrap()["agents"].clone();
    assert_eq!(agents(&std::fs::read(&state).unwrap()), agents(&before));
    assert_eq!(code(&home.refund(100, "k0")), "oap.idempotency_conflict");

    // A state file from another log is refused too.
    let other = Home::new("refund-agent");
    assert_eq!(code(&other.refund(100, "x")), "oap.allowed");
    std::fs::copy(other.path("audit/audit.jsonl.state"), &state).unwrap();
    assert_ne!(std::fs::read(&state).unwrap(), before);
    assert_eq!(code(&home.refund(100, "y")), "oap.audit_unavailable");
}

#[test]
fn a_writer_killed_before_its_first_state_write_is_caught_up() {
    let home = Home::new("refund-agent");
    assert_eq!(code(&home.refund(1, "a")), "oap.allowed");
    std::fs::remove_file(home.path("audit/audit.jsonl.state")).unwrap();
    assert_eq!(code(&home.refund(1, "a")), "oap.idempotency_conflict");
}

#[test]
fn rotation_by_size_chains_files_and_verify_log_checks_the_sequence() {
    let home = Home::new("coding-agent");
    home.config(json!({"audit": {"rotate_max_bytes": 3000}}));
    for _ in 0..12 {
        home.evaluate(&bash("git status"));
    }
    let mut segments: Vec<_> = std::fs::read_dir(home.path("audit"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == "audit.jsonl.".len() + 12 && n.starts_with("audit.jsonl.0"))
        .collect();
    segments.sort();
    assert!(segments.len() >= 2, "{segments:?}");
    let (code, rep) = home.verify(&[]);
    assert_eq!(code, 0, "{rep}");
    assert_eq!(rep["records"], 12);
    // Each new file starts by naming the key and chaining to the previous file.
    let first_of_second = &records(&home.path(&format!("audit/{}", segments[1])))[0];
    assert!(first_of_second["log_key"].is_string());
    let last_of_first = records(&home.path(&format!("audit/{}", segments[0])))
        .pop()
        .unwrap();
    assert_eq!(first_of_second["prev_hash"], last_of_first["hash"]);
    // `log` reads across files.
    let out = home.ok_text(&["log", "--json"]);
    assert_eq!(out.lines().count(), 12);
    // A missing segment breaks the chain.
    std::fs::remove_file(home.path(&format!("audit/{}", segments[1]))).unwrap();
    let (code, rep) = home.verify(&[]);
    assert_eq!(code, 1, "{rep}");
}

#[test]
fn key_rotation_is_signed_by_the_old_key_and_verifies_with_either() {
    let home = Home::new("coding-agent");
    home.evaluate(&bash("git status"));
    let old_pub = home.path("old.pub.jwk");
    std::fs::copy(home.pubkey(), &old_pub).unwrap();
    let old_key = home.path("old.key.jwk");
    std::fs::copy(home.path("keys/toolgate.key.jwk"), &old_key).unwrap();
    home.ok_text(&["keygen", "--out", home.path("new").to_str().unwrap()]);
    let new_key = home.path("new/toolgate.key.jwk");
    home.ok_text(&[
        "audit",
        "rotate-key",
        "--new-key",
        new_key.to_str().unwrap(),
    ]);
    assert_eq!(code(&home.evaluate(&bash("git status"))), "oap.allowed");

    let recs = home.records();
    assert_eq!(recs[1]["event"], "audit.key_rotation");
    assert_eq!(recs[1]["kid"], recs[0]["kid"], "signed by the old key");
    assert_eq!(recs[2]["log_key"], recs[1]["next_key"]);
    assert_ne!(recs[2]["kid"], recs[0]["kid"]);
    for pk in [old_pub.clone(), home.path("new/toolgate.pub.jwk")] {
        let o = home.output(&["verify-log", "--pubkey", pk.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o.stdout));
    }
    // The retired key may not sign any more.
    let mut cmd = home.command();
    cmd.env("TOOLGATE_KEY", &old_key);
    let o = evaluate_with(cmd, &bash("git status"));
    assert_unrecorded_deny(&o);
}

/// Appends one allowed decision of the home's agent that used `keys` idempotency keys, as
/// a writer would have after that many refunds (one record instead of thousands of hooks).
fn record_keys_used(home: &Home, keys: impl Iterator<Item = String>) {
    use toolgate::audit::{AuditLog, Record};
    use toolgate::state::StateChange;
    let key = toolgate::passport::KeyPair::load(&home.path("keys/toolgate.key.jwk")).unwrap();
    let last = std::fs::read_to_string(home.log()).unwrap();
    let last: Record = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    let capability = last
        .state_changes
        .iter()
        .find_map(|c| match c {
            StateChange::UseKey { capability, .. } => Some(capability.clone()),
            _ => None,
        })
        .expect("the last record used a key");
    let (mut draft, _) = last.into_parts();
    draft.state_changes = keys
        .map(|k| StateChange::UseKey {
            capability: capability.clone(),
            key: k,
        })
        .collect();
    let log = AuditLog::new(home.log());
    log.lock().unwrap().append(draft, &key).unwrap();
}

#[test]
fn a_full_idempotency_key_set_refuses_new_keys_and_stays_full_after_a_rebuild() {
    use toolgate::state::MAX_IDEMPOTENCY_KEYS;
    let home = Home::new("refund-agent");
    assert_eq!(code(&home.refund(1, "first-key")), "oap.allowed");
    // One short of full: the next new key is still taken, and fills the set.
    record_keys_used(
        &home,
        (2..MAX_IDEMPOTENCY_KEYS).map(|i| format!("refund-bulk-{i:05}")),
    );
    assert_eq!(code(&home.refund(1, "last-key")), "oap.allowed");
    assert_eq!(
        home.agent_state()["idempotency_keys"]
            .as_array()
            .unwrap()
            .len(),
        MAX_IDEMPOTENCY_KEYS
    );
    let o = home.refund(1, "one-too-many");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(code(&o), "oap.limit_exceeded");
    let said = text(&o.stdout);
    assert!(
        said.contains("new passport with its own agent_id"),
        "{said}"
    );
    // Used keys are still refused as used, not forgotten to make room.
    let o = home.refund(1, "first-key");
    assert_eq!(code(&o), "oap.idempotency_conflict", "{}", text(&o.stdout));
    assert_eq!(
        code(&home.refund(1, "bulk-00002")),
        "oap.idempotency_conflict"
    );
    assert_eq!(home.verify(&[]).0, 0);
    // Rebuilding the state from the log keeps every key: still full.
    home.ok_text(&["audit", "rebuild-state"]);
    assert_eq!(code(&home.refund(1, "after-rebuild")), "oap.limit_exceeded");
    assert_eq!(
        code(&home.refund(1, "last-key")),
        "oap.idempotency_conflict"
    );
}

#[test]
fn an_idempotency_key_longer_than_the_bound_is_invalid_context() {
    use toolgate::state::MAX_IDEMPOTENCY_KEY_BYTES;
    let home = Home::new("refund-agent");
    // The harness sends `refund-KEY`.
    let at_bound = "k".repeat(MAX_IDEMPOTENCY_KEY_BYTES - "refund-".len());
    let o = home.refund(1, &at_bound);
    assert_eq!(code(&o), "oap.allowed", "{}", text(&o.stdout));
    let over = format!("{at_bound}k");
    let o = home.refund(1, &over);
    assert_eq!(code(&o), "oap.invalid_context");
    assert!(
        text(&o.stdout).contains("at most 255 bytes"),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(code(&home.refund(1, &at_bound)), "oap.idempotency_conflict");
}
