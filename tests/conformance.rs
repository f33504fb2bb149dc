//! The OAP spec's own conformance cases, decided by the pure core: verdicts and
//! reason codes must match (digests and signatures in the expected files are placeholders).

mod common;

use serde_json::Value;
use std::collections::BTreeSet;
use toolgate::decision::{decide, Environment, NoFs, Request};
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
    let root = common::data("oap/conformance/cases");
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
            let env = Environment {
                now: time::OffsetDateTime::now_utc(),
                home: None,
                roots: vec![],
                protected: toolgate::checks::protect::Protected::with_names(),
                fs: &NoFs,
            };
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
                "2026-01-01T00:00:00Z".into(),
                &key,
            );
            assert_eq!(
                receipt.allow,
                expected["allow"].as_bool().unwrap(),
                "{label}"
            );
            assert_eq!(
                receipt.agent_id.as_deref(),
                expected["agent_id"].as_str(),
                "{label}"
            );
            assert_eq!(
                receipt.owner_id.as_deref(),
                expected["owner_id"].as_str(),
                "{label}"
            );
            assert_eq!(
                receipt.assurance_level.as_deref(),
                expected["assurance_level"].as_str(),
                "{label}"
            );
            assert!(receipt.verify(&key.public()), "{label}: receipt signature");
            assert_schema_shaped(&serde_json::to_value(&receipt).unwrap(), &label);
            decided += 1;
        }
    }
    assert!(decided >= 5, "only {decided} conformance cases found");
}

/// The receipt uses the decision schema's field names and formats.
fn assert_schema_shaped(d: &Value, label: &str) {
    let schema = read(&common::data("schemas/oap-decision-schema.json"));
    let props = schema["properties"].as_object().unwrap();
    for k in d.as_object().unwrap().keys() {
        assert!(
            props.contains_key(k) || k == "issued_at",
            "{label}: field {k} is not in the decision schema"
        );
    }
    assert!(d["kid"].as_str().unwrap().starts_with("oap:owner:"));
    assert!(d["signature"].as_str().unwrap().starts_with("ed25519:"));
    let digest = d["passport_digest"].as_str().unwrap();
    assert!(
        digest.len() == 71 && digest.starts_with("sha256:"),
        "{label}: {digest}"
    );
    assert!(uuid::Uuid::parse_str(d["decision_id"].as_str().unwrap()).is_ok());
}

#[test]
fn a_tampered_receipt_does_not_verify() {
    let key = KeyPair::generate();
    let ev = toolgate::decision::Evaluation::early_deny(
        "x.v1",
        toolgate::reason::Reason::new(toolgate::reason::ReasonCode::UnknownTool, "m"),
    );
    let mut r = Receipt::seal(&ev, None, "id".into(), "t".into(), &key);
    assert!(r.verify(&key.public()));
    r.allow = true;
    assert!(!r.verify(&key.public()));
}
