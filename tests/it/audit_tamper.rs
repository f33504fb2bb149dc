//! Every kind of tampering is caught by `verify-log`, which names the first
//! record that is wrong.

use crate::harness::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use toolgate::audit::Record;
use toolgate::passport::KeyPair;

const N: usize = 8;
/// The record tampered with: seq 3, line 4.
const K: usize = 3;

fn filled(home: &Home) {
    for i in 0..N {
        let cmd = if i % 3 == 0 { "rm -rf /" } else { "git status" };
        let o = home.evaluate(&bash(cmd));
        assert!(o.status.code() == Some(0) || o.status.code() == Some(2));
    }
    assert_eq!(home.records().len(), N);
}

fn lines(home: &Home) -> Vec<String> {
    std::fs::read_to_string(home.log())
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

/// Writes `lines` as a copy of the log with the original head beside it, and verifies it.
fn verify_copy(home: &Home, lines: &[String], name: &str) -> (i32, Value) {
    let dir = home.path("copies");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    copy_head(home, &file);
    verify_at(home, &file)
}

fn copy_head(home: &Home, file: &Path) {
    let head = PathBuf::from(format!("{}.head", file.display()));
    std::fs::copy(home.path("audit/audit.jsonl.head"), head).unwrap();
}

fn verify_at(home: &Home, file: &Path) -> (i32, Value) {
    let pk = home.pubkey();
    let o = home.output(&[
        "verify-log",
        "--json",
        "--pubkey",
        pk.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    (
        o.status.code().unwrap(),
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o.stderr))),
    )
}

fn assert_broken_at(r: (i32, Value), line: u64, seq: Option<u64>, what: &str) {
    let (code, rep) = r;
    assert_eq!(code, 1, "{what}: {rep}");
    assert_eq!(rep["intact"], false, "{what}: {rep}");
    assert_eq!(rep["line"], line, "{what}: {rep}");
    if let Some(s) = seq {
        assert_eq!(rep["seq"], s, "{what}: {rep}");
    }
}

/// Changes one byte inside the value of `key` in a JSON line, keeping it JSON where possible.
fn edit_one_byte(line: &str, key: &str) -> String {
    let mut b = line.as_bytes().to_vec();
    let at = line.find(&format!("\"{key}\":")).unwrap() + key.len() + 3;
    let i = (at..b.len())
        .find(|&i| b[i].is_ascii_alphanumeric())
        .unwrap();
    b[i] = match b[i] {
        b'9' => b'0',
        c if c.is_ascii_digit() => c + 1,
        b'z' => b'a',
        b'Z' => b'A',
        c => c + 1,
    };
    String::from_utf8(b).unwrap()
}

#[test]
fn an_untouched_copy_verifies() {
    let home = Home::new("coding-agent");
    filled(&home);
    let (code, rep) = verify_copy(&home, &lines(&home), "same.jsonl");
    assert_eq!(code, 0, "{rep}");
    assert_eq!(rep["records"], N as u64);
}

#[test]
fn one_byte_edited_in_any_field_names_that_record() {
    let home = Home::new("coding-agent");
    filled(&home);
    let original = lines(&home);
    let rec: serde_json::Map<String, Value> = serde_json::from_str(&original[K]).unwrap();
    let mut tried = 0;
    for (key, value) in &rec {
        if value.is_null() || value.as_str() == Some("") {
            continue;
        }
        let mut ls = original.clone();
        ls[K] = edit_one_byte(&ls[K], key);
        assert_ne!(ls[K], original[K]);
        let r = verify_copy(&home, &ls, &format!("edit-{key}.jsonl"));
        assert_broken_at(r, K as u64 + 1, None, key);
        tried += 1;
    }
    assert!(tried >= 15, "only {tried} fields edited");
}

#[test]
fn deleted_and_reordered_records_are_named() {
    let home = Home::new("coding-agent");
    filled(&home);
    let original = lines(&home);

    let mut deleted = original.clone();
    deleted.remove(K);
    let r = verify_copy(&home, &deleted, "deleted.jsonl");
    assert_broken_at(r.clone(), K as u64 + 1, Some(K as u64 + 1), "delete");
    assert!(
        r.1["error"].as_str().unwrap().contains("missing"),
        "{}",
        r.1
    );

    let mut swapped = original.clone();
    swapped.swap(K, K + 1);
    assert_broken_at(
        verify_copy(&home, &swapped, "swapped.jsonl"),
        K as u64 + 1,
        Some(K as u64 + 1),
        "reorder",
    );

    let mut dup = original.clone();
    dup.insert(K + 1, original[K].clone());
    assert_broken_at(
        verify_copy(&home, &dup, "dup.jsonl"),
        K as u64 + 2,
        Some(K as u64),
        "duplicate",
    );
}

#[test]
fn a_cut_off_tail_is_caught_by_the_signed_head() {
    let home = Home::new("coding-agent");
    filled(&home);
    let original = lines(&home);
    let cut = &original[..N - 2];
    let r = verify_copy(&home, cut, "cut.jsonl");
    // The first missing record is seq N-2, which would have been on line N-1.
    assert_broken_at(r.clone(), (N - 1) as u64, Some((N - 2) as u64), "truncate");
    assert!(r.1["error"].as_str().unwrap().contains("head"), "{}", r.1);

    // Without its head the cut is invisible, so a missing head is itself an error.
    let file = home.path("copies/cut.jsonl");
    std::fs::remove_file(format!("{}.head", file.display())).unwrap();
    let (code, rep) = verify_at(&home, &file);
    assert_eq!(code, 1);
    assert!(rep["error"].as_str().unwrap().contains("missing"), "{rep}");

    // A forged head (edited hash) does not verify either.
    let full = home.path("copies/full.jsonl");
    std::fs::write(&full, original.join("\n") + "\n").unwrap();
    copy_head(&home, &full);
    let head_file = format!("{}.head", full.display());
    let mut head: Value = serde_json::to_value(
        toolgate::audit::head::Head::load(std::path::Path::new(&head_file))
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    head["checkpoint"]["seq"] = serde_json::json!(N as u64 - 2);
    std::fs::write(&head_file, head.to_string()).unwrap();
    let (code, rep) = verify_at(&home, &full);
    assert_eq!(code, 1, "{rep}");
    assert!(
        rep["error"].as_str().unwrap().contains("checkpoint"),
        "{rep}"
    );
}

#[test]
fn another_keys_signature_is_named() {
    let home = Home::new("coding-agent");
    filled(&home);
    let other = KeyPair::generate();
    let original = lines(&home);

    // Only the signature swapped.
    let mut rec: Record = serde_json::from_str(&original[K]).unwrap();
    rec.signature = other.sign_oap(rec.hash.as_bytes());
    let mut ls = original.clone();
    ls[K] = serde_json::to_string(&rec).unwrap();
    let r = verify_copy(&home, &ls, "sig.jsonl");
    assert_broken_at(r.clone(), K as u64 + 1, Some(K as u64), "signature");
    assert!(
        r.1["error"].as_str().unwrap().contains("signature"),
        "{}",
        r.1
    );

    // Re-sealed whole by another key (consistent hash, kid and signature).
    let rec: Record = serde_json::from_str(&original[K]).unwrap();
    let (draft, link) = rec.into_parts();
    let rec = Record::seal(draft, link, &other);
    let mut ls = original.clone();
    ls[K] = serde_json::to_string(&rec).unwrap();
    let r = verify_copy(&home, &ls, "resealed.jsonl");
    assert_broken_at(r.clone(), K as u64 + 1, Some(K as u64), "reseal");
    assert!(r.1["error"].as_str().unwrap().contains("key"), "{}", r.1);
}

#[test]
fn a_record_replayed_from_another_log_with_the_same_key_is_named() {
    let a = Home::new("coding-agent");
    let b = Home::new("coding-agent");
    // b signs with a's key: the replayed record's signature is genuine.
    for f in ["keys/toolgate.key.jwk", "keys/toolgate.pub.jwk"] {
        std::fs::copy(a.path(f), b.path(f)).unwrap();
    }
    filled(&a);
    filled(&b);
    let mut ls = lines(&a);
    ls[K] = lines(&b)[K].clone();
    let r = verify_copy(&a, &ls, "replayed.jsonl");
    assert_broken_at(r.clone(), K as u64 + 1, Some(K as u64), "replay");
    assert!(
        r.1["error"].as_str().unwrap().contains("prev_hash"),
        "{}",
        r.1
    );

    // And a whole log from another evaluator does not pass as this one's.
    let (code, rep) = verify_at(&a, &b.log());
    assert_eq!(code, 0, "same key, own head: {rep}");
    let other = Home::new("coding-agent");
    filled(&other);
    let (code, rep) = verify_at(&a, &other.log());
    assert_eq!(code, 1, "{rep}");
}

/// The hash of the record at `seq` in the untouched log.
fn hash_at(original: &[String], seq: usize) -> String {
    let r: Value = serde_json::from_str(&original[seq]).unwrap();
    r["hash"].as_str().unwrap().to_string()
}

#[test]
fn a_deleted_record_is_named_with_its_seqs_the_last_hash_known_and_what_to_do() {
    let home = Home::new("coding-agent");
    filled(&home);
    let original = lines(&home);
    let before = hash_at(&original, K - 1);

    // One record, then two, then the very first one.
    for (gone, range, last) in [
        (vec![K], format!("record seq {K} is missing"), Some(K - 1)),
        (
            vec![K, K + 1],
            format!("records seq {K}..={} are missing", K + 1),
            Some(K - 1),
        ),
        (vec![0], "record seq 0 is missing".to_string(), None),
    ] {
        let kept: Vec<String> = original
            .iter()
            .enumerate()
            .filter(|(i, _)| !gone.contains(i))
            .map(|(_, l)| l.clone())
            .collect();
        let (code, rep) = verify_copy(&home, &kept, "gap.jsonl");
        assert_eq!(code, 1, "{rep}");
        let what = rep["error"].as_str().unwrap();
        assert!(what.contains(&range), "{range}: {what}");
        match last {
            Some(s) => assert!(
                what.contains(&format!(
                    "seq {s} ({}) is the last record known before the gap",
                    hash_at(&original, s)
                )),
                "{what}"
            ),
            None => assert!(what.contains("no record before the gap survives"), "{what}"),
        }
        assert!(
            what.contains("Restore the missing lines") && what.contains("evidence"),
            "{what}"
        );
    }

    // `log show` of a deleted seq says the same, from the log the gate reads.
    let mut kept = original.clone();
    kept.drain(K..K + 2);
    std::fs::write(home.log(), kept.join("\n") + "\n").unwrap();
    for seq in [K, K + 1] {
        let o = home.output(&["log", "show", &seq.to_string()]);
        assert_eq!(o.status.code(), Some(1));
        let err = text(&o.stderr);
        assert!(err.contains(&format!("seq {seq} is missing")), "{err}");
        assert!(
            err.contains(&format!("jumps from seq {} ({before}", K - 1)),
            "{err}"
        );
        assert!(err.contains(&format!("to seq {}", K + 2)), "{err}");
        assert!(
            err.contains(&format!("records {K}..={} were deleted", K + 1)),
            "{err}"
        );
        assert!(err.contains("toolgate verify-log"), "{err}");
    }
    // Neighbours: a seq past the end and a kept one are not called deleted.
    let o = home.output(&["log", "show", "99"]);
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("the log ends at seq {}", N - 1)) && !err.contains("deleted"),
        "{err}"
    );
    home.ok(&["log", "show", &(K + 2).to_string()]);
}
