//! Proving a log intact: every line parses, hashes, is signed by the log's
//! key, links to the one before, and the signed head names a record the log
//! still has.
//!
//! Large logs are checked in blocks: parsing and hashing run on every core,
//! the cheap chain checks run in order, and signatures are batch-verified on
//! every core. The first bad record is the one with the lowest line number
//! whatever thread found it.

use super::head::{head_path, Head};
use super::record::{Record, GENESIS};
use crate::passport::keys::{decode_signature, kid_for};
use crate::passport::PublicKey;
use ed25519_dalek::{Signature, VerifyingKey};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Bytes read per block; records are verified a block at a time.
#[cfg(not(test))]
const BLOCK: usize = 8 * 1024 * 1024;
/// Small in unit tests, so records straddle blocks.
#[cfg(test)]
const BLOCK: usize = 3000;
/// Signatures per batch verification.
const BATCH: usize = 1024;

/// The first thing wrong with a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub file: Option<PathBuf>,
    pub line: usize,
    pub seq: Option<u64>,
    pub what: String,
}

/// A verified log's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intact {
    pub records: u64,
    pub last_hash: String,
    /// Whether a signed head was checked (absent only for an empty log or with `head: None`).
    pub head_checked: bool,
}

/// Where to find the head, and whether its absence is an error.
#[derive(Debug, Clone)]
pub enum HeadCheck {
    /// The head at this path must exist for a non-empty log.
    Required(PathBuf),
    /// Do not check a head (e.g. an exported copy of old segments).
    Skip,
}

/// Verifies one log file with its head (if the file has one beside it).
pub fn verify_file(path: &Path, key: &PublicKey) -> Result<Intact, Broken> {
    let hp = head_path(path);
    let head = if hp.exists() {
        HeadCheck::Required(hp)
    } else {
        HeadCheck::Skip
    };
    verify_files(&[path.to_path_buf()], std::slice::from_ref(key), &head)
}

struct Parsed {
    rec: Record,
    sig: Option<Signature>,
}

/// The chain as walked so far.
struct Walk {
    expected_seq: u64,
    prev: String,
    key: Option<(VerifyingKey, String)>,
    next_key: Option<String>,
    anchors: Vec<PublicKey>,
    anchored: bool,
    head: Option<Head>,
    head_seen: bool,
}

/// Verifies a sequence of files as one chain from genesis. `anchors` are the
/// public keys trusted to have signed it: at least one must have signed a
/// record (its signature then covers everything before it through the
/// chain, and every later key was introduced by a record it or a successor
/// signed).
pub fn verify_files(
    files: &[PathBuf],
    anchors: &[PublicKey],
    head: &HeadCheck,
) -> Result<Intact, Broken> {
    let nowhere = |what: String| Broken {
        file: None,
        line: 0,
        seq: None,
        what,
    };
    let (head, head_path) = match head {
        HeadCheck::Required(p) => (
            Head::load(p).map_err(|e| nowhere(format!("signed head unreadable: {e}")))?,
            Some(p.clone()),
        ),
        HeadCheck::Skip => (None, None),
    };
    let mut walk = Walk {
        expected_seq: 0,
        prev: GENESIS.into(),
        key: None,
        next_key: None,
        anchors: anchors.to_vec(),
        anchored: false,
        head: head.clone(),
        head_seen: false,
    };
    let mut last_file: Option<&PathBuf> = None;
    let mut last_line = 0;
    for file in files {
        last_line = verify_one(file, &mut walk)?;
        last_file = Some(file);
    }
    let at_end = |what: String| Broken {
        file: last_file.cloned(),
        line: last_line + 1,
        seq: Some(walk.expected_seq),
        what,
    };
    if walk.expected_seq > 0 && !walk.anchored {
        return Err(at_end(
            "no record is signed by the given public key (the log belongs to another evaluator)"
                .into(),
        ));
    }
    match (&walk.head, &head_path) {
        (Some(h), _) if !walk.head_seen => {
            return Err(at_end(format!(
                "records missing at the end: the signed head names seq {} ({}) but the log ends before it",
                h.seq, h.hash
            )))
        }
        (None, Some(p)) if walk.expected_seq > 0 => {
            return Err(at_end(format!(
                "the signed head {} is missing, so a cut-off tail could not be seen",
                p.display()
            )))
        }
        _ => {}
    }
    Ok(Intact {
        records: walk.expected_seq,
        last_hash: walk.prev,
        head_checked: walk.head_seen,
    })
}

/// Verifies one file, continuing `walk`; returns its number of lines.
fn verify_one(path: &Path, walk: &mut Walk) -> Result<usize, Broken> {
    let broken = |line: usize, seq: Option<u64>, what: String| Broken {
        file: Some(path.into()),
        line,
        seq,
        what,
    };
    let mut file =
        std::fs::File::open(path).map_err(|e| broken(0, None, format!("cannot open: {e}")))?;
    let mut carry: Vec<u8> = Vec::new();
    let mut line_no = 0usize;
    let mut first_in_file = true;
    loop {
        let mut block = std::mem::take(&mut carry);
        let old = block.len();
        block.resize(old + BLOCK, 0);
        let n = read_full(&mut file, &mut block[old..])
            .map_err(|e| broken(line_no + 1, None, e.to_string()))?;
        block.truncate(old + n);
        let eof = n == 0;
        let cut = match block.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if eof => 0,
            None => {
                carry = block;
                continue;
            }
        };
        if eof && cut < block.len() {
            // Complete lines first, then the torn remainder.
            let lines: Vec<&[u8]> = split_lines(&block[..cut]);
            check_block(&lines, line_no, &mut first_in_file, walk)
                .map_err(|(l, s, w)| broken(l, s, w))?;
            line_no += lines.len();
            return Err(broken(
                line_no + 1,
                None,
                "incomplete last line (torn write); `toolgate audit repair` moves it aside".into(),
            ));
        }
        if block.is_empty() {
            return Ok(line_no);
        }
        carry = block.split_off(cut);
        let lines = split_lines(&block);
        check_block(&lines, line_no, &mut first_in_file, walk)
            .map_err(|(l, s, w)| broken(l, s, w))?;
        line_no += lines.len();
        if eof {
            return Ok(line_no);
        }
    }
}

fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn split_lines(block: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = block.split_inclusive(|&b| b == b'\n').collect();
    for l in v.iter_mut() {
        *l = l.strip_suffix(b"\n").unwrap_or(l);
    }
    v
}

type Fail = (usize, Option<u64>, String);

fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
}

/// Runs `f` over `items` split into one contiguous part per core, keeping order.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(usize, &[T]) -> Vec<R> + Sync) -> Vec<R> {
    let parts = threads();
    let size = items.len().div_ceil(parts).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(size)
            .enumerate()
            .map(|(i, c)| {
                let f = &f;
                s.spawn(move || f(i * size, c))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("verify thread"))
            .collect()
    })
}

/// Checks a block of complete lines; `base` is the line number before it.
fn check_block(
    lines: &[&[u8]],
    base: usize,
    first_in_file: &mut bool,
    walk: &mut Walk,
) -> Result<(), Fail> {
    // 1. Parse and hash, on every core.
    let parsed: Vec<Result<Parsed, String>> = par_map(lines, |_, part| {
        part.iter().map(|l| parse_and_hash(l)).collect()
    });
    // 2. Chain, seq and keys, in order; stops at the first failure.
    let mut to_verify: Vec<(usize, VerifyingKey)> = Vec::with_capacity(parsed.len());
    let mut chain_fail: Option<Fail> = None;
    for (i, p) in parsed.iter().enumerate() {
        let line = base + i + 1;
        let p = match p {
            Ok(p) => p,
            Err(what) => {
                chain_fail = Some((line, seq_hint(lines[i]), what.clone()));
                break;
            }
        };
        match walk_one(walk, &p.rec, *first_in_file) {
            Ok(key) => to_verify.push((i, key)),
            Err(what) => {
                chain_fail = Some((line, Some(p.rec.seq), what));
                break;
            }
        }
        *first_in_file = false;
    }
    // 3. Signatures of everything before the first chain failure, on every core.
    let sig_fail = par_map(&to_verify, |_, part| {
        first_bad_signature(part, &parsed).into_iter().collect()
    })
    .into_iter()
    .min();
    match (sig_fail, chain_fail) {
        (Some(i), _) => {
            let rec = &parsed[i].as_ref().expect("verified records parsed").rec;
            Err((
                base + i + 1,
                Some(rec.seq),
                "signature does not verify".into(),
            ))
        }
        (None, Some(f)) => Err(f),
        (None, None) => Ok(()),
    }
}

fn seq_hint(line: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: u64,
    }
    serde_json::from_slice::<Seq>(line).ok().map(|s| s.seq)
}

fn parse_and_hash(line: &[u8]) -> Result<Parsed, String> {
    let rec: Record =
        serde_json::from_slice(line).map_err(|e| format!("not a valid record: {e}"))?;
    let want = rec.compute_hash();
    if rec.hash != want {
        return Err(format!(
            "content was changed: hash field is {} but the record hashes to {want}",
            rec.hash
        ));
    }
    let sig = decode_signature(&rec.signature);
    Ok(Parsed { rec, sig })
}

/// Index (into `parsed`) of the first record in `part` whose signature fails.
fn first_bad_signature(
    part: &[(usize, VerifyingKey)],
    parsed: &[Result<Parsed, String>],
) -> Option<usize> {
    let get = |i: usize| {
        parsed[i]
            .as_ref()
            .expect("only parsed records are verified")
    };
    for batch in part.chunks(BATCH) {
        let mut msgs = Vec::with_capacity(batch.len());
        let mut sigs = Vec::with_capacity(batch.len());
        let mut keys = Vec::with_capacity(batch.len());
        let mut missing = None;
        for &(i, key) in batch {
            let p = get(i);
            match p.sig {
                Some(s) => {
                    msgs.push(p.rec.hash.as_bytes());
                    sigs.push(s);
                    keys.push(key);
                }
                None => {
                    missing = Some(i);
                    break;
                }
            }
        }
        if missing.is_none() && ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok() {
            continue;
        }
        // Find the culprit with strict single verification, in order.
        for &(i, key) in batch {
            let p = get(i);
            let ok = p
                .sig
                .is_some_and(|s| key.verify_strict(p.rec.hash.as_bytes(), &s).is_ok());
            if !ok {
                return Some(i);
            }
        }
    }
    None
}

/// Checks one record against the walk and advances it; returns the key that must have signed it.
fn walk_one(w: &mut Walk, rec: &Record, first_in_file: bool) -> Result<VerifyingKey, String> {
    if rec.seq != w.expected_seq {
        return Err(if rec.seq > w.expected_seq {
            format!(
                "seq {} where {} was expected: records {}..{} are missing or out of order",
                rec.seq,
                w.expected_seq,
                w.expected_seq,
                rec.seq - 1
            )
        } else {
            format!(
                "seq {} where {} was expected: a record was repeated or reordered",
                rec.seq, w.expected_seq
            )
        });
    }
    if rec.prev_hash != w.prev {
        return Err(format!(
            "prev_hash {} does not link to the previous record ({})",
            rec.prev_hash, w.prev
        ));
    }
    match (&rec.log_key, w.next_key.take(), &w.key) {
        (Some(k), Some(next), _) if *k != next => {
            return Err("the key after a rotation is not the one the rotation named".into())
        }
        (None, Some(_), _) => {
            return Err("the first record after a key rotation does not name its key".into())
        }
        (Some(k), Some(_), _) => w.key = Some(decode_key(k)?),
        (Some(k), None, Some((_, cur))) if k != cur => {
            return Err("log_key changes the key without a rotation record".into())
        }
        (Some(_), None, Some(_)) => {}
        (Some(k), None, None) => w.key = Some(decode_key(k)?),
        (None, None, None) => return Err("the log's first record does not name its key".into()),
        (None, None, Some(_)) if first_in_file => {
            return Err("a rotated file's first record does not name the log's key".into())
        }
        (None, None, Some(_)) => {}
    }
    let (key, _) = w.key.clone().expect("set above");
    let kid = kid_for(&key);
    if rec.kid != kid {
        return Err(format!("signed as {} but the log's key is {kid}", rec.kid));
    }
    if !w.anchored && w.anchors.iter().any(|a| a.key == key) {
        w.anchored = true;
    }
    if let Some(h) = &w.head {
        if h.seq == rec.seq {
            if h.hash != rec.hash {
                return Err(format!(
                    "the signed head names hash {} for this seq but the record's is {}",
                    h.hash, rec.hash
                ));
            }
            let pk = PublicKey {
                key,
                kid: kid.clone(),
            };
            if !h.verify(&pk) {
                return Err("the signed head's signature does not verify".into());
            }
            w.head_seen = true;
        }
    }
    if let Some(next) = &rec.next_key {
        decode_key(next)?;
        w.next_key = Some(next.clone());
    }
    w.prev = rec.hash.clone();
    w.expected_seq += 1;
    Ok(key)
}

fn decode_key(b64: &str) -> Result<(VerifyingKey, String), String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|e| format!("log_key is not base64url: {e}"))?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "log_key is not 32 bytes".to_string())?;
    let key = VerifyingKey::from_bytes(&arr).map_err(|e| format!("log_key is invalid: {e}"))?;
    if key.is_weak() {
        return Err("log_key is a weak (small-order) key".into());
    }
    Ok((key, b64.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditLog;
    use crate::passport::KeyPair;

    fn log_of(n: usize) -> (tempfile::TempDir, PathBuf, KeyPair) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let key = KeyPair::generate();
        let mut log = AuditLog::new(&path);
        log.sync = false;
        let mut locked = log.lock().unwrap();
        for i in 0..n {
            let rec = Record::event("test", "2026-01-01T00:00:00Z", vec![format!("n{i}")]);
            locked.append(rec, &key).unwrap();
        }
        drop(locked);
        (dir, path, key)
    }

    fn rewrite(path: &Path, f: impl FnOnce(&mut Vec<String>)) {
        let mut lines: Vec<String> = std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        f(&mut lines);
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
    }

    #[test]
    fn intact_across_blocks_batches_and_threads() {
        let (_d, path, key) = log_of(700);
        let ok = verify_file(&path, &key.public()).unwrap();
        assert_eq!(ok.records, 700);
        assert!(ok.head_checked);
    }

    #[test]
    fn the_lowest_bad_line_wins_whichever_thread_finds_it() {
        let (_d, path, key) = log_of(700);
        let other = KeyPair::generate();
        // Two bad signatures in different batches and halves, plus a later chain break.
        rewrite(&path, |ls| {
            for k in [650usize, 400] {
                let mut r: Record = serde_json::from_str(&ls[k]).unwrap();
                r.signature = other.sign_oap(r.hash.as_bytes());
                ls[k] = serde_json::to_string(&r).unwrap();
            }
            ls.remove(690);
        });
        let b = verify_file(&path, &key.public()).unwrap_err();
        assert_eq!((b.line, b.seq), (401, Some(400)), "{b:?}");
        assert!(b.what.contains("signature"));
    }

    #[test]
    fn a_chain_break_before_a_bad_signature_is_reported_first() {
        let (_d, path, key) = log_of(300);
        let other = KeyPair::generate();
        rewrite(&path, |ls| {
            let mut r: Record = serde_json::from_str(&ls[250]).unwrap();
            r.signature = other.sign_oap(r.hash.as_bytes());
            ls[250] = serde_json::to_string(&r).unwrap();
            ls.swap(100, 101);
        });
        let b = verify_file(&path, &key.public()).unwrap_err();
        assert_eq!((b.line, b.seq), (101, Some(101)), "{b:?}");
    }

    #[test]
    fn an_unrelated_key_does_not_prove_the_log() {
        let (_d, path, _key) = log_of(3);
        let b = verify_file(&path, &KeyPair::generate().public()).unwrap_err();
        assert!(b.what.contains("given public key"), "{b:?}");
    }
}
