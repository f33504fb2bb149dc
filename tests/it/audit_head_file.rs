//! The head file's two slots (docs/audit.md, "The head file"): the head is rewritten in
//! place, yet at rest the file holds one head, so an older one cannot be taken out of it
//! to hide a cut-off record; a head torn while written, an append cut between head and
//! record, and a head of the earlier format all leave a log the gate goes on with.

use crate::harness::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use toolgate::audit::head::Head;

const HEADER: usize = 64;

fn head_file(home: &Home) -> PathBuf {
    home.path("audit/audit.jsonl.head")
}

/// The two slots of a head file, as raw bytes.
fn slots(path: &Path) -> (Vec<u8>, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.starts_with(b"toolgate-audit-head-slots-v1 "),
        "a slot file"
    );
    let body = &bytes[HEADER..];
    let (a, b) = body.split_at(body.len() / 2);
    (a.to_vec(), b.to_vec())
}

/// The head in a slot's bytes, if it holds a whole one.
fn slot_head(slot: &[u8]) -> Option<Value> {
    let end = slot.iter().position(|&b| b == b'\n')?;
    serde_json::from_slice(&slot[..end]).ok()
}

fn heads_in(path: &Path) -> Vec<Value> {
    let (a, b) = slots(path);
    [a, b].iter().filter_map(|s| slot_head(s)).collect()
}

fn allowed(home: &Home) {
    let o = home.evaluate(&bash("git status"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
}

fn cut_last_record(home: &Home) {
    let text = std::fs::read_to_string(home.log()).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.pop();
    std::fs::write(home.log(), lines.join("\n") + "\n").unwrap();
}

#[test]
fn at_rest_the_file_holds_one_head_and_none_of_the_one_before() {
    let home = Home::new("coding-agent");
    allowed(&home);
    let before = Head::load(&head_file(&home)).unwrap().unwrap();
    for _ in 0..3 {
        allowed(&home);
        let heads = heads_in(&head_file(&home));
        assert_eq!(heads.len(), 1, "one head at rest");
        let last = home.records().last().unwrap().clone();
        assert_eq!(heads[0]["record"]["hash"], last["hash"]);
    }
    // Not even the bytes of an earlier checkpoint's signature are left in the file.
    let raw = std::fs::read(head_file(&home)).unwrap();
    let sig = before.checkpoint.signature.as_bytes();
    assert!(!raw.windows(sig.len()).any(|w| w == sig));
    assert!(!home.path("audit/audit.jsonl.head.tmp").exists());
    assert_eq!(home.verify(&[]).0, 0);
}

#[test]
fn cutting_the_last_record_and_the_head_naming_it_is_refused() {
    // With two slots, the head before the newest would match the log cut by one record;
    // the writer clears it once the newest record is in the log, so nothing does.
    let home = Home::new("coding-agent");
    for _ in 0..4 {
        allowed(&home);
    }
    cut_last_record(&home);
    let path = head_file(&home);
    let (a, b) = slots(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    let newest = if slot_head(&a).is_some() {
        HEADER
    } else {
        HEADER + b.len()
    };
    bytes[newest..newest + a.len()].fill(0);
    std::fs::write(&path, bytes).unwrap();
    let o = home.evaluate(&bash("git status"));
    assert_unrecorded_deny(&o);
    assert!(text(&o.stdout).contains("missing"), "{}", text(&o.stdout));
}

#[test]
fn a_head_torn_while_written_leaves_the_one_before_it_in_force() {
    let home = Home::new("coding-agent");
    for _ in 0..3 {
        allowed(&home);
    }
    // A writer killed inside its pwrite: the other slot has half a head (of any record).
    let path = head_file(&home);
    let (a, b) = slots(&path);
    let (full, other) = if slot_head(&a).is_some() {
        (a.clone(), HEADER + a.len())
    } else {
        (b.clone(), HEADER)
    };
    let end = full.iter().position(|&c| c == b'\n').unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[other..other + end / 2].copy_from_slice(&full[..end / 2]);
    std::fs::write(&path, bytes).unwrap();
    allowed(&home);
    assert_eq!(home.records().len(), 4);
    assert_eq!(heads_in(&path).len(), 1);
    assert_eq!(home.verify(&[]).0, 0);
}

#[test]
fn an_append_cut_between_its_head_and_its_record_is_finished_and_the_older_head_cleared() {
    let home = Home::new("coding-agent");
    for _ in 0..2 {
        allowed(&home);
    }
    let path = head_file(&home);
    let log = std::fs::read(home.log()).unwrap();
    let (old_a, old_b) = slots(&path);
    allowed(&home);
    // The moment a writer was killed after writing its head: the older head still beside
    // it, the record not yet in the log.
    let (new_a, new_b) = slots(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    let half = new_a.len();
    let (keep, at) = if slot_head(&new_a).is_some() {
        (old_b, HEADER + half)
    } else {
        (old_a, HEADER)
    };
    assert!(slot_head(&new_a).is_some() != slot_head(&new_b).is_some());
    bytes[at..at + half].copy_from_slice(&keep);
    std::fs::write(&path, bytes).unwrap();
    std::fs::write(home.log(), log).unwrap();
    assert_eq!(heads_in(&path).len(), 2);
    allowed(&home);
    assert_eq!(
        home.records().len(),
        4,
        "the cut record is finished from its head"
    );
    assert_eq!(heads_in(&path).len(), 1);
    assert_eq!(home.verify(&[]).0, 0);
}

#[test]
fn a_head_of_the_earlier_format_is_read_and_replaced_by_a_slot_file() {
    let home = Home::new("coding-agent");
    for _ in 0..2 {
        allowed(&home);
    }
    let path = head_file(&home);
    let head = Head::load(&path).unwrap().unwrap();
    std::fs::write(&path, head.to_bytes()).unwrap();
    assert_eq!(home.verify(&[]).0, 0, "verify-log reads it");
    allowed(&home);
    assert_eq!(heads_in(&path).len(), 1);
    assert_eq!(home.verify(&[]).0, 0);
}

#[test]
fn a_head_too_big_for_its_slot_grows_the_file_and_a_small_one_shrinks_it_back() {
    let home = Home::new("coding-agent");
    std::fs::write(
        home.path("config.json"),
        r#"{"audit": {"store_input": true}}"#,
    )
    .unwrap();
    allowed(&home);
    let path = head_file(&home);
    let small = std::fs::metadata(&path).unwrap().len();
    let words: Vec<String> = (0..4000).map(|i| format!("w{i}")).collect();
    let o = home.evaluate(&bash(&format!("echo {}", words.join(" "))));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    let big = std::fs::metadata(&path).unwrap().len();
    assert!(big > small, "{big} > {small}");
    assert_eq!(heads_in(&path).len(), 1);
    assert_eq!(home.verify(&[]).0, 0);
    allowed(&home);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), small);
    assert_eq!(home.verify(&[]).0, 0);
}
