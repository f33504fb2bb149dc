//! verify-log's batch signature check, end to end: large logs written with the library
//! (one key, or a chain of rotated keys), checked by the real binary, which must name
//! the one bad record among thousands of good ones.

use crate::harness::{text, BIN};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use toolgate::audit::head::{head_path, Head};
use toolgate::audit::log::key_b64;
use toolgate::audit::{Draft, Link, Record, GENESIS};
use toolgate::passport::KeyPair;

/// Writes a log of `spans[i]` records signed by `keys[i]`, each key handing over to the
/// next with a rotation record (the last of its span), and the signed head; returns the
/// log's path and each key's public JWK.
fn write_log(dir: &Path, keys: &[KeyPair], spans: &[u64]) -> (PathBuf, Vec<PathBuf>) {
    let log = dir.join("audit.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&log).unwrap());
    let ts = "2026-12-01T10:00:00Z";
    let mut prev = GENESIS.to_string();
    let (mut seq, mut log_id, mut last) = (0u64, String::new(), None);
    for (k, (key, &n)) in keys.iter().zip(spans).enumerate() {
        for i in 0..n {
            let mut draft = Draft::event("batch-test", ts, vec![format!("record {seq}")]);
            if i + 1 == n {
                if let Some(next) = keys.get(k + 1) {
                    draft.event = Some("audit.key_rotation".into());
                    draft.next_key = Some(key_b64(next));
                }
            }
            let link = Link {
                seq,
                prev_hash: prev,
                log_key: (i == 0).then(|| key_b64(key)),
                state_digest: None,
            };
            let rec = Record::seal(draft, link, key);
            serde_json::to_writer(&mut out, &rec).unwrap();
            out.write_all(b"\n").unwrap();
            prev = rec.hash.clone();
            if seq == 0 {
                log_id = rec.hash.clone();
            }
            seq += 1;
            last = Some((rec, k));
        }
    }
    out.flush().unwrap();
    let (rec, k) = last.unwrap();
    Head::new(&log_id, &rec, &keys[k])
        .store(&head_path(&log))
        .unwrap();
    let pubs = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let p = dir.join(format!("k{i}.pub.jwk"));
            key.save(&dir.join(format!("k{i}.key.jwk")), &p).unwrap();
            p
        })
        .collect();
    (log, pubs)
}

/// `verify-log --json --pubkey PUB LOG`: (exit code, report).
fn verify(log: &Path, pubkey: &Path) -> (i32, Value) {
    let o = Command::new(BIN)
        .args(["verify-log", "--json", "--pubkey"])
        .arg(pubkey)
        .arg(log)
        .env("TOOLGATE_HOME", log.parent().unwrap().join("home"))
        .output()
        .unwrap();
    let report = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("verify-log: {}{}", text(&o.stdout), text(&o.stderr)));
    (o.status.code().unwrap_or(-1), report)
}

/// Rewrites line `line` (0-based) of the log with `f`.
fn edit_line(log: &Path, line: usize, f: impl FnOnce(&mut Record)) {
    let body = std::fs::read_to_string(log).unwrap();
    let mut lines: Vec<String> = body.lines().map(String::from).collect();
    let mut rec: Record = serde_json::from_str(&lines[line]).unwrap();
    f(&mut rec);
    lines[line] = serde_json::to_string(&rec).unwrap();
    std::fs::write(log, lines.join("\n") + "\n").unwrap();
}

/// The signature with one bit of its `s` half flipped: the record's content is untouched,
/// so only the signature check can catch it.
fn flip_signature_bit(rec: &mut Record, bit: usize) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut sig = b64
        .decode(rec.signature.strip_prefix("ed25519:").unwrap())
        .unwrap();
    sig[bit / 8] ^= 1 << (bit % 8);
    rec.signature = format!("ed25519:{}", b64.encode(sig));
}

fn assert_bad_signature_at(report: &Value, seq: u64) {
    assert_eq!(report["intact"], false, "{report}");
    assert_eq!(report["seq"], seq, "{report}");
    assert_eq!(report["line"], seq + 1, "{report}");
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("signature does not verify"),
        "{report}"
    );
}

#[test]
fn one_forged_record_among_ten_thousand_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::generate();
    let (log, pubs) = write_log(dir.path(), std::slice::from_ref(&key), &[10_000]);
    let (code, report) = verify(&log, &pubs[0]);
    assert_eq!(
        (code, &report["records"]),
        (0, &Value::from(10_000)),
        "{report}"
    );

    // Re-signed by another key over the very same hash (content and chain intact).
    let forger = KeyPair::generate();
    edit_line(&log, 7_321, |r| {
        r.signature = forger.sign_oap(r.hash.as_bytes())
    });
    let (code, report) = verify(&log, &pubs[0]);
    assert_eq!(code, 1);
    assert_bad_signature_at(&report, 7_321);

    // A single flipped bit in another record's signature, earlier in the log, is named first.
    edit_line(&log, 4_096, |r| flip_signature_bit(r, 300));
    let (_, report) = verify(&log, &pubs[0]);
    assert_bad_signature_at(&report, 4_096);
}

#[test]
fn a_log_through_two_rotations_verifies_per_key_and_names_a_bad_record_in_any_span() {
    let dir = tempfile::tempdir().unwrap();
    let keys = [
        KeyPair::generate(),
        KeyPair::generate(),
        KeyPair::generate(),
    ];
    let (log, pubs) = write_log(dir.path(), &keys, &[2_500, 3_000, 1_500]);
    let (code, report) = verify(&log, &pubs[0]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["records"], 7_000);
    let spans: Vec<(u64, u64, String)> = report["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["first_seq"].as_u64().unwrap(),
                k["last_seq"].as_u64().unwrap(),
                k["trust"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        spans.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>(),
        [(0, 2_499), (2_500, 5_499), (5_500, 6_999)]
    );
    assert_eq!(spans[0].2, "pinned");
    assert!(spans[1].2.starts_with("handed over by"), "{spans:?}");
    // Pinning the last key proves the same chain.
    assert_eq!(verify(&log, &pubs[2]).0, 0);

    // A record of the middle key's span signed with the first key: a valid signature,
    // but not by the key that must sign there.
    edit_line(&log, 4_000, |r| {
        r.signature = keys[0].sign_oap(r.hash.as_bytes())
    });
    let (code, report) = verify(&log, &pubs[0]);
    assert_eq!(code, 1);
    assert_bad_signature_at(&report, 4_000);

    // The record right after the second rotation, in the last key's span, one bit off.
    edit_line(&log, 5_500, |r| flip_signature_bit(r, 7));
    edit_line(&log, 4_000, |r| {
        r.signature = keys[1].sign_oap(r.hash.as_bytes())
    });
    let (_, report) = verify(&log, &pubs[0]);
    assert_bad_signature_at(&report, 5_500);
}
