//! Counts keyed by a context field (`count` checks): a cap per channel or repository, its
//! bounded table (a full table refuses new keys and never reopens a cap), the digested keys
//! in the state file, and the state rebuilt from the log alone.

use crate::harness::Home;
use serde_json::{json, Value};
use toolgate::decision::{decide, Environment, Request, Verdict};
use toolgate::packs::Catalog;
use toolgate::passport::Passport;
use toolgate::state::{count_key, window_start, StateSnapshot, WindowCount, MAX_COUNT_KEYS};

const SEND: &str = "messaging.message.send.v1";

fn message(channel: &str) -> Value {
    json!({"channel_id": channel, "message": "deploy done", "message_type": "text"})
}

fn passport(cap_per_channel: u64) -> Passport {
    Passport::from_value(&json!({
        "passport_id": "550e8400-e29b-41d4-a716-446655440000", "kind": "template", "spec_version": "oap/1.0",
        "owner_id": "org_1", "owner_type": "org", "assurance_level": "L0", "status": "active",
        "capabilities": [{"id": "messaging.send"}],
        "limits": {"messaging.send": {"allowed_channels": ["C-ops", "C-dev", "C-new"],
                   "msgs_per_channel_per_day": cap_per_channel}},
        "regions": ["US"],
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "version": "1.0.0"
    }))
    .unwrap()
}

const NOW: time::OffsetDateTime = time::macros::datetime!(2026-06-01 12:00 UTC);

/// Decides one message at `at`, folding an allow into `state` as the audit log would.
fn send(
    p: &Passport,
    state: &mut StateSnapshot,
    channel: &str,
    at: time::OffsetDateTime,
) -> (Verdict, Vec<String>) {
    let env = Environment::at(at).with_roots(["/p"]);
    let req = Request {
        policy_id: SEND.into(),
        context: message(channel).as_object().unwrap().clone(),
    };
    state.roll_day(&toolgate::state::utc_day(at.unix_timestamp()));
    let e = decide(p, &Catalog::embedded().unwrap(), &req, state, &env);
    if e.verdict == Verdict::Allow {
        state.apply(&e.state_changes, at.unix_timestamp());
    }
    (
        e.verdict,
        e.reasons
            .iter()
            .map(|r| r.code.as_str().to_string())
            .collect(),
    )
}

#[test]
fn a_cap_per_channel_counts_each_channel_apart_and_resets_with_the_utc_day() {
    let p = passport(2);
    let mut s = StateSnapshot::default();
    assert_eq!(send(&p, &mut s, "C-ops", NOW).0, Verdict::Allow);
    assert_eq!(send(&p, &mut s, "C-ops", NOW).0, Verdict::Allow);
    let third = send(&p, &mut s, "C-ops", NOW);
    assert_eq!(
        third,
        (Verdict::Deny, vec!["oap.limit_exceeded".to_string()])
    );
    assert_eq!(
        send(&p, &mut s, "C-dev", NOW).0,
        Verdict::Allow,
        "another channel has its own count"
    );
    let just_before_midnight = time::macros::datetime!(2026-06-01 23:59:59 UTC);
    assert_eq!(
        send(&p, &mut s, "C-ops", just_before_midnight).0,
        Verdict::Deny
    );
    let next_day = time::macros::datetime!(2026-06-02 00:00 UTC);
    assert_eq!(send(&p, &mut s, "C-ops", next_day).0, Verdict::Allow);
    // Denied calls are not counted: the denied third call did not use up tomorrow.
    assert_eq!(
        s.counts.len(),
        1,
        "yesterday's counts are forgotten: {:?}",
        s.counts
    );
}

#[test]
fn a_full_table_refuses_new_keys_and_keeps_counting_the_ones_it_holds() {
    let p = passport(2);
    let now = NOW.unix_timestamp();
    let day = window_start(now, 86_400);
    let mut s = StateSnapshot::default();
    for i in 0..MAX_COUNT_KEYS - 1 {
        s.counts.insert(
            count_key("messaging.send", "other", Some(&format!("k{i}"))),
            WindowCount {
                start: day,
                window: 86_400,
                count: 1,
            },
        );
    }
    // One slot left: the first new channel takes it.
    assert_eq!(send(&p, &mut s, "C-ops", NOW).0, Verdict::Allow);
    assert_eq!(s.counts.len(), MAX_COUNT_KEYS);
    let full = send(&p, &mut s, "C-dev", NOW);
    assert_eq!(
        full.0,
        Verdict::Deny,
        "a new key in a full table is refused, not let through"
    );
    assert_eq!(full.1, ["oap.limit_exceeded"]);
    // A key the table holds is still counted, and its cap still holds.
    assert_eq!(send(&p, &mut s, "C-ops", NOW).0, Verdict::Allow);
    assert_eq!(send(&p, &mut s, "C-ops", NOW).0, Verdict::Deny);
    // Once the windows close the table empties and new keys are counted again.
    let tomorrow = time::macros::datetime!(2026-06-02 08:00 UTC);
    assert_eq!(send(&p, &mut s, "C-dev", tomorrow).0, Verdict::Allow);
    assert_eq!(s.counts.len(), 1);
}

#[test]
fn without_the_limit_nothing_is_counted_and_a_bad_limit_fails_closed() {
    let mut p = passport(2);
    p.limits["messaging.send"]
        .as_object_mut()
        .unwrap()
        .remove("msgs_per_channel_per_day");
    let mut s = StateSnapshot::default();
    for _ in 0..5 {
        assert_eq!(send(&p, &mut s, "C-ops", NOW).0, Verdict::Allow);
    }
    assert!(s.counts.is_empty());
    p.limits["messaging.send"]["msgs_per_channel_per_day"] = json!("ten");
    assert_eq!(send(&p, &mut s, "C-ops", NOW).1, ["oap.policy_error"]);
}

#[test]
fn a_pack_counter_must_have_a_bounded_window_and_a_unique_name() {
    let pack = |checks: Value| {
        let mut c = Catalog::embedded().unwrap();
        let pack: toolgate::packs::Pack = serde_json::from_value(json!({
            "id": "test.count.v1", "name": "t", "description": "t", "version": "1.0.0",
            "status": "active", "requires_capabilities": ["test.count"], "min_assurance": "L0",
            "required_fields": ["to"], "checks": checks
        }))
        .unwrap();
        c.insert_pack(pack).map(|_| ()).map_err(|e| e.to_string())
    };
    let one = |counter: &str, window: u64| json!({"check": "count", "counter": counter, "key_field": "to", "limit": "cap", "window_seconds": window});
    assert!(pack(json!([one("a", 86_400)])).is_ok());
    assert!(pack(json!([one("a", 86_401)]))
        .unwrap_err()
        .contains("1 to 86400"));
    assert!(pack(json!([one("a", 0)])).is_err());
    assert!(pack(json!([one("a", 60), one("a", 3600)]))
        .unwrap_err()
        .contains("used twice"));
    assert!(pack(json!([one("a|b", 60)])).is_err());
}

#[test]
fn the_state_file_holds_digests_and_is_rebuilt_from_the_log() {
    let h = Home::new("coding-agent");
    h.edit_passport(|p| {
        p["capabilities"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": "messaging.send"}));
        p["limits"]["messaging.send"] = json!({"allowed_channels": ["C-secret-ops", "C-dev"],
            "msgs_per_channel_per_day": 2});
    });
    let send = |channel: &str| {
        let call = json!({"policy": SEND, "context": message(channel)}).to_string();
        h.run(&["evaluate", "--json"], call.as_bytes()).code
    };
    assert_eq!(send("C-secret-ops"), 0);
    assert_eq!(send("C-secret-ops"), 0);
    assert_eq!(send("C-dev"), 0);
    assert_eq!(send("C-secret-ops"), 2);
    let path = h.path("audit/audit.jsonl.state");
    let before = std::fs::read_to_string(&path).unwrap();
    assert!(
        !before.contains("C-secret-ops"),
        "the channel is digested: {before}"
    );
    let counts = h.agent_state()["counts"].clone();
    assert_eq!(counts.as_object().unwrap().len(), 2, "{counts}");
    let recorded: Vec<Value> = h
        .records()
        .iter()
        .flat_map(|r| r["state_changes"].as_array().cloned().unwrap_or_default())
        .filter(|c| c["kind"] == "count")
        .collect();
    assert_eq!(
        recorded.len(),
        3,
        "each allowed send is a state change in its record"
    );
    std::fs::remove_file(&path).unwrap();
    h.ok_text(&["audit", "rebuild-state"]);
    assert_eq!(
        h.agent_state()["counts"],
        counts,
        "the state is a function of the log"
    );
    assert_eq!(
        send("C-secret-ops"),
        2,
        "the rebuilt state still holds the cap"
    );
    assert_eq!(send("C-dev"), 0);
}
