//! APort's own vectors (the `aport-agent-guardrails` wheel, vendored in tests/data/aport with
//! their source in tests/data/SOURCES.md), run through the real binary in their order, so
//! the daily cap and idempotency see the earlier calls. Each vector passes, or is listed in
//! `DEVIATIONS` with the outcome toolgate gives instead and why.

use crate::harness;
use crate::harness::Home;
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn jsonl(rel: &str) -> Vec<Value> {
    std::fs::read_to_string(harness::data(rel))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn read(rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(harness::data(rel)).unwrap()).unwrap()
}

/// Vectors whose expectation toolgate does not meet, with what it answers and why.
/// (name, toolgate's verdict, toolgate's codes, why)
const DEVIATIONS: &[(&str, &str, &[&str], &str)] = &[(
    "deny_daily_cap_exceeded_step1",
    "deny",
    &["oap.limit_exceeded"],
    "the vector expects a 60000 USD charge to be allowed, but its own passport sets \
     currency_limits.USD.max_per_tx = 20000; toolgate applies the per-transaction cap",
)];

/// `evaluate --json` of one OAP request: the verdict and its reason codes.
pub(crate) fn decide(h: &Home, policy: &str, context: &Value) -> (String, BTreeSet<String>) {
    let call = json!({"policy": policy, "context": context}).to_string();
    let out = h.run(&["evaluate", "--json"], call.as_bytes()).json();
    let codes = out["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_string())
        .collect();
    (out["verdict"].as_str().unwrap().to_string(), codes)
}

pub(crate) fn home_with(passport: &Value) -> Home {
    let h = Home::empty();
    h.ok(&["keygen", "--trust"]);
    std::fs::create_dir_all(&h.home).unwrap();
    std::fs::write(h.passport(), serde_json::to_vec_pretty(passport).unwrap()).unwrap();
    h.ok(&["passport", "sign"]);
    h
}

#[test]
fn the_charge_packs_own_vectors_pass_in_order() {
    let dir = "aport/finance.payment.charge.v1";
    let contexts = jsonl(&format!("{dir}/contexts.jsonl"));
    let expected = jsonl(&format!("{dir}/expected.jsonl"));
    assert_eq!(contexts.len(), expected.len());
    assert!(contexts.len() >= 12);
    let h = home_with(&read(&format!("{dir}/passport.instance.json")));
    let (mut passed, mut deviated) = (0, 0);
    for (case, want) in contexts.iter().zip(&expected) {
        let name = case["name"].as_str().unwrap();
        if let Some(over) = case.get("overridePassport").and_then(Value::as_object) {
            h.edit_passport(|p| {
                for (k, v) in over {
                    p[k] = v.clone();
                }
            });
        }
        let (verdict, codes) = decide(&h, "finance.payment.charge.v1", &case["context"]);
        if let Some((_, v, c, why)) = DEVIATIONS.iter().find(|d| d.0 == name) {
            let c: BTreeSet<String> = c.iter().map(|s| s.to_string()).collect();
            assert_eq!(
                (verdict.as_str(), &codes),
                (*v, &c),
                "{name}: deviation changed ({why})"
            );
            deviated += 1;
            continue;
        }
        let want_verdict = if want["allow"] == true {
            "allow"
        } else {
            "deny"
        };
        let want_codes: BTreeSet<String> = want["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["code"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(verdict, want_verdict, "{name}: {codes:?}");
        assert_eq!(codes, want_codes, "{name}");
        passed += 1;
    }
    assert_eq!(deviated, DEVIATIONS.len());
    assert_eq!(passed + deviated, contexts.len());
}

/// toolgate's refund pack states the same context constraints as APort's `required_context`
/// for every field both name (types, minimums, lengths, patterns).
#[test]
fn the_refund_packs_required_context_agrees_with_aports() {
    let aport = read("aport/finance.payment.refund.v1/policy.json");
    let ours: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("policy-packs/finance.payment.refund.v1.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let theirs = &aport["required_context"]["properties"];
    let mine = ours["required_context"]["properties"].as_object().unwrap();
    assert!(mine.len() >= 7);
    for (field, rule) in mine {
        for k in ["type", "minimum", "minLength", "pattern"] {
            assert_eq!(rule.get(k), theirs[field].get(k), "{field}.{k}");
        }
    }
}

#[test]
fn refund_contexts_that_aports_schema_forbids_are_invalid_context() {
    let h = Home::new("refund-agent");
    let ok = json!({"amount": 500, "currency": "USD", "reason_code": "customer_request",
        "region": "US", "idempotency_key": "refund-0001"});
    assert_eq!(decide(&h, "finance.payment.refund.v1", &ok).0, "allow");
    for (field, bad) in [
        ("amount", json!(0)),
        ("idempotency_key", json!("k")),
        ("currency", json!("usd")),
        ("order_id", json!("")),
    ] {
        let mut c = ok.clone();
        c[field] = bad.clone();
        c["idempotency_key"] = if field == "idempotency_key" {
            bad.clone()
        } else {
            json!(format!("refund-{field}"))
        };
        let (v, codes) = decide(&h, "finance.payment.refund.v1", &c);
        assert_eq!(v, "deny", "{field} = {bad}");
        assert!(
            codes.contains("oap.invalid_context"),
            "{field} = {bad}: {codes:?}"
        );
    }
}
