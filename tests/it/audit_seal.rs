//! The head seal (docs/audit.md): a writer that finds the head exactly as this machine's
//! writer tagged it skips verifying its two signatures again; a head changed in any way
//! is checked in full, and `verify-log` never relies on the seal.

use crate::harness::*;
use serde_json::Value;
use std::path::PathBuf;
use toolgate::audit::head_file;

const DOMAIN: &str = "toolgate-audit-head-seal-v1";

fn head_file(home: &Home) -> PathBuf {
    home.path("audit/audit.jsonl.head")
}

/// A home with two allowed calls recorded, and the head with its checkpoint signature
/// replaced by a forged one (well formed, signing nothing).
fn forged() -> (Home, Vec<u8>) {
    let home = Home::new("coding-agent");
    for _ in 0..2 {
        let o = home.evaluate(&bash("git status"));
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    }
    let read = head_file::load(&head_file(&home)).unwrap().unwrap();
    assert!(read.tag.is_some(), "the writer seals its head");
    let mut head: Value = serde_json::from_slice(&read.bytes).unwrap();
    let sig = head["checkpoint"]["signature"]
        .as_str()
        .unwrap()
        .to_string();
    let (prefix, b64) = sig.split_once(':').unwrap();
    let mut chars: Vec<char> = b64.chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    head["checkpoint"]["signature"] =
        Value::String(format!("{prefix}:{}", String::from_iter(chars)));
    let mut bytes = serde_json::to_vec(&head).unwrap();
    bytes.push(b'\n');
    head_file::store(&head_file(&home), &bytes, None).unwrap();
    (home, bytes)
}

#[test]
fn a_head_changed_after_its_seal_is_checked_in_full_and_refused() {
    let (home, _) = forged();
    let o = home.evaluate(&bash("git status"));
    assert_unrecorded_deny(&o);
    assert!(
        text(&o.stdout).contains("checkpoint signature"),
        "{}",
        text(&o.stdout)
    );
    // A seal by another key is no seal either.
    let (home, bytes) = forged();
    let other = toolgate::seal::MacKey::load_or_create(&home.path("other.key")).unwrap();
    let tag = other.tag(DOMAIN, &[&bytes]);
    head_file::store(&head_file(&home), &bytes, Some(&tag)).unwrap();
    assert_unrecorded_deny(&home.evaluate(&bash("git status")));
}

#[test]
fn a_head_exactly_as_sealed_is_not_verified_again_but_verify_log_still_checks_it() {
    let (home, bytes) = forged();
    let key = toolgate::seal::MacKey::load(&home.path("remote/cache.key")).unwrap();
    let tag = key.tag(DOMAIN, &[&bytes]);
    head_file::store(&head_file(&home), &bytes, Some(&tag)).unwrap();
    let (code, report) = home.verify(&[]);
    assert_eq!(code, 1, "{report}");
    assert!(report.to_string().contains("checkpoint"), "{report}");
    // Only a holder of the machine's key could have written that seal: the writer takes it
    // as its own, so the call is decided and recorded, and the head written anew is valid.
    let o = home.evaluate(&bash("git status"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(home.verify(&[]).0, 0);
}
