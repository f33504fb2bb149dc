//! The OAP spec's own conformance cases, decided by the pure core: verdicts and
//! reason codes must match (digests and signatures in the expected files are placeholders).

use crate::harness;
use serde_json::Value;
use std::collections::BTreeSet;
use toolgate::decision::{decide, Environment, Request};
use toolgate::packs::Catalog;
use toolgate::passport::{KeyPair, Passport};
use toolgate::receipt::{Receipt, Subject};
use toolgate::state::StateSnapshot;

fn read(p: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

#[test]
fn every_conformance_case_is_decided_as_expected() {
    let root = harness::data("oap/conformance/cases");
    let catalog = Catalog::embedded().unwrap();
    let key = KeyPair::generate();
    let mut decided = 0;
    for case in
        std::fs::read_dir(&root).expect("tests/data/oap/conformance is part of the checkout")
    {
        let case = case.unwrap().path();
        let passport = Passport::from_value(&read(&case.join("passports/template.json"))).unwrap();
        for exp in std::fs::read_dir(case.join("expected")).unwrap() {
            let exp = exp.unwrap().path();
            let name = exp
                .file_name()
                .unwrap()
                .to_string_lossy()
                .replace(".decision.json", "");
            let expected = read(&exp);
            let context = read(&case.join("contexts").join(format!("{name}.json")));
            let request = Request {
                policy_id: expected["policy_id"].as_str().unwrap().into(),
                context: context.as_object().unwrap().clone(),
            };
            let env = Environment::at(time::OffsetDateTime::now_utc());
            let ev = decide(
                &passport,
                &catalog,
                &request,
                &StateSnapshot::default(),
                &env,
            );
            let codes: BTreeSet<String> = ev.reasons.iter().map(|r| r.code.to_string()).collect();
            let want: BTreeSet<String> = expected["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["code"].as_str().unwrap().to_string())
                .collect();
            let label = format!("{}/{name}", case.display());
            assert_eq!(codes, want, "{label}: {:#?}", ev.trace);

            let digest = toolgate::canonical::digest(&passport.to_value());
            let subject = Subject {
                agent_id: &passport.passport_id,
                owner_id: &passport.owner_id,
                assurance_level: passport.assurance_level.as_str(),
                passport_digest: &digest,
            };
            let receipt = Receipt::seal(
                &ev,
                Some(&subject),
                uuid::Uuid::new_v4().to_string(),
                time::macros::datetime!(2026-01-01 00:00:00 UTC),
                &key,
            );
            let got = serde_json::to_value(&receipt).unwrap();
            // Every field the expected decision carries, with the same value,
            // except the placeholders (ids, digest, signature, times) and the message.
            for k in [
                "policy_id",
                "allow",
                "owner_id",
                "assurance_level",
                "expires_in",
            ] {
                if k == "expires_in" {
                    assert!(got[k].is_u64(), "{label}: {k}");
                    continue;
                }
                assert_eq!(got[k], expected[k], "{label}: {k}");
            }
            for k in expected.as_object().unwrap().keys() {
                assert!(got.get(k).is_some(), "{label}: the receipt has no `{k}`");
            }
            assert_eq!(got["agent_id"], got["passport_id"], "{label}");
            assert_eq!(
                got["agent_id"].as_str(),
                Some(passport.passport_id.as_str())
            );
            assert_eq!(got["created_at"], "2026-01-01T00:00:00Z", "{label}");
            assert_eq!(got["issued_at"], got["created_at"], "{label}");
            assert_eq!(got["expires_at"], "2026-01-01T00:01:00Z", "{label}");
            assert!(receipt.verify(&key.public()), "{label}: receipt signature");
            assert_schema_valid(&got, &label);
            decided += 1;
        }
    }
    assert!(decided >= 5, "only {decided} conformance cases found");
}

/// The decision schema, made satisfiable: it requires `passport_id`, `issued_at`
/// and `expires_at` without listing them in `properties` while forbidding other
/// properties (tests/data/SOURCES.md). The three are added with the types the
/// spec text gives them; everything else is the schema as published.
fn decision_schema() -> jsonschema::Validator {
    let mut schema = read(&harness::data("schemas/oap-decision-schema.json"));
    let props = schema["properties"].as_object_mut().unwrap();
    props.insert(
        "passport_id".into(),
        serde_json::json!({"type": "string", "format": "uuid"}),
    );
    for k in ["issued_at", "expires_at"] {
        props.insert(
            k.into(),
            serde_json::json!({"type": "string", "format": "date-time"}),
        );
    }
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

/// The receipt validates against the OAP decision schema, formats included.
fn assert_schema_valid(d: &Value, label: &str) {
    let errors: Vec<String> = decision_schema()
        .iter_errors(d)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{label}: {errors:?}\n{d:#}");
    assert!(d["kid"].as_str().unwrap().starts_with("oap:owner:"));
}

/// A receipt for a deny made before any passport loaded.
fn early_receipt(
    policy: toolgate::decision::PolicyRef,
    code: toolgate::reason::ReasonCode,
    key: &KeyPair,
) -> (Receipt, Value) {
    let ev = toolgate::decision::Evaluation::early_deny(
        policy,
        toolgate::reason::Reason::new(code, "m"),
    );
    let id = uuid::Uuid::new_v4().to_string();
    let r = Receipt::seal(&ev, None, id, time::OffsetDateTime::now_utc(), key);
    let v = serde_json::to_value(&r).unwrap();
    (r, v)
}

#[test]
fn the_schema_check_rejects_a_receipt_missing_a_required_field() {
    let key = KeyPair::generate();
    let (_, mut v) = early_receipt(
        "x.v1".into(),
        toolgate::reason::ReasonCode::UnknownTool,
        &key,
    );
    assert!(decision_schema().is_valid(&v));
    v.as_object_mut().unwrap().remove("expires_at");
    assert!(!decision_schema().is_valid(&v));
    v["expires_at"] = "tomorrow".into();
    assert!(
        !decision_schema().is_valid(&v),
        "a non-RFC 3339 expires_at must fail"
    );
}

/// A deny made before any passport loaded still carries every required field,
/// with placeholders of the schema's shapes (nil UUID, `L0`, an all-zero digest).
#[test]
fn a_deny_before_any_passport_carries_placeholders() {
    let key = KeyPair::generate();
    let (r, v) = early_receipt(
        "data.file.read.v1".into(),
        toolgate::reason::ReasonCode::PassportNotFound,
        &key,
    );
    assert_schema_valid(&v, "early deny");
    assert_eq!(v["passport_id"], toolgate::receipt::NO_PASSPORT_ID);
    assert_eq!(v["owner_id"], toolgate::receipt::NO_OWNER);
    assert_eq!(v["assurance_level"], "L0");
    assert_eq!(v["passport_digest"], toolgate::receipt::NO_PASSPORT_DIGEST);
    assert_eq!(v["allow"], false);
    assert!(r.verify(&key.public()));
}

/// A deny made before any pack was chosen has no policy id; the receipt carries the
/// schema-shaped placeholder (no pack may be v0), the record and spans keep `none`.
#[test]
fn a_deny_before_any_pack_names_no_policy_in_the_schemas_shape() {
    let key = KeyPair::generate();
    let (_, v) = early_receipt(
        toolgate::decision::PolicyRef::NoPack,
        toolgate::reason::ReasonCode::UnknownTool,
        &key,
    );
    assert_schema_valid(&v, "no pack");
    assert_eq!(v["policy_id"], toolgate::receipt::NO_POLICY);
    let h = harness::Home::new("coding-agent");
    let out = h.run(
        &["evaluate", "--json", "--host", "claude-code"],
        serde_json::json!({"hook_event_name": "PreToolUse", "tool_name": "NoSuchTool",
            "tool_input": {}, "session_id": "s", "cwd": h.project.to_str().unwrap()})
        .to_string()
        .as_bytes(),
    );
    let d = out.json()["decision"].clone();
    assert_eq!(d["policy_id"], toolgate::receipt::NO_POLICY, "{d}");
    assert_schema_valid(&d, "unknown tool");
    let recs = h.records();
    assert_eq!(recs.last().unwrap()["policy_id"], "none");
}

#[test]
fn a_tampered_receipt_does_not_verify() {
    let key = KeyPair::generate();
    let (mut r, _) = early_receipt(
        "x.v1".into(),
        toolgate::reason::ReasonCode::UnknownTool,
        &key,
    );
    assert!(r.verify(&key.public()));
    r.allow = true;
    assert!(!r.verify(&key.public()));
}

/// `passport new --expires-in` writes a passport the OAP passport schema accepts (the expiry
/// under `metadata`), and that expiry is enforced.
#[test]
fn an_expiring_passport_validates_against_the_passport_schema_and_expires() {
    let h = harness::Home::empty();
    h.ok(&["keygen", "--trust"]);
    h.ok(&[
        "passport",
        "new",
        "--template",
        "coding-agent",
        "--expires-in",
        "30d",
        "--sign",
    ]);
    let doc = read(&h.passport());
    let schema = read(&harness::data("schemas/oap-passport-schema.json"));
    let v = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}\n{doc:#}");
    assert!(doc.get("expires_at").is_none());
    let until = doc["metadata"]["expires_at"].as_str().unwrap();
    let shown = h.ok(&["passport", "verify", "--json"]).json();
    assert_eq!(shown["expires_at"], until);
    assert_eq!(shown["expired"], false);

    h.edit_passport(|p| p["metadata"]["expires_at"] = "2020-01-01T00:00:00Z".into());
    let call = h.claude("Bash", serde_json::json!({"command": "git status"}));
    let r = h.run(&["evaluate", "--host", "claude-code"], &call);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("oap.passport_expired"), "{r:?}");
    // A malformed expiry is refused at load, never read as "no expiry".
    let mut p = read(&h.passport());
    p["metadata"]["expires_at"] = serde_json::json!(20200101);
    std::fs::write(h.passport(), serde_json::to_vec(&p).unwrap()).unwrap();
    let r = h.run(&["passport", "sign"], b"");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("metadata.expires_at"), "{r:?}");
    let r = h.run(&["evaluate", "--host", "claude-code"], &call);
    assert_eq!(r.code, 2, "{r:?}");
}
