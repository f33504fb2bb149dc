//! Proving a log intact: every line parses, hashes, is signed by a key that is
//! pinned or handed over by one, links to the one before, never goes back in time;
//! the signed head names the log's last record; and every checkpoint a witness
//! kept is a record the log still has.
//!
//! Large logs are checked in blocks: parsing and hashing run on every core,
//! the cheap chain checks run in order, and signatures are batch-verified on
//! every core while the next block is read and parsed. The first bad record is
//! the one with the lowest line number whatever thread found it.

use super::head::{public_from_b64, Checkpoint, Head};
use super::log::CLOCK_TOLERANCE_SECS;
use super::record::{Lost, Record, GENESIS};
use crate::passport::keys::decode_signature;
use crate::passport::PublicKey;
use ed25519_dalek::{Signature, VerifyingKey};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Bytes read per block; records are verified a block at a time.
#[cfg(not(test))]
const BLOCK: usize = 4 * 1024 * 1024;
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
    /// For what a checkpoint or the head proves: `truncation`, `wipe` or `rollback`.
    pub tampering: Option<&'static str>,
}

/// Which key signed which records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpan {
    pub kid: String,
    pub first_seq: u64,
    pub last_seq: u64,
    /// `pinned`, or `chained from <kid> at seq <n>`.
    pub trust: String,
}

/// A loss a person recorded with `toolgate audit repair --accept-loss`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    pub seq: u64,
    pub lost: Lost,
}

/// A verified log's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intact {
    pub records: u64,
    pub last_hash: String,
    /// The chain's id: its first record's hash.
    pub log_id: Option<String>,
    /// Whether a signed head was checked (absent only for an empty log or with `head: None`).
    pub head_checked: bool,
    pub keys: Vec<KeySpan>,
    pub losses: Vec<Declared>,
    /// Checkpoints the log was proved to extend.
    pub checkpoints: usize,
}

/// Where to find the head, and whether its absence is an error.
#[derive(Debug, Clone, Default)]
pub enum HeadCheck {
    /// The head at this path must exist for a non-empty log.
    Required(PathBuf),
    /// Do not check a head (e.g. an exported copy of old segments).
    #[default]
    Skip,
}

/// What to verify against.
#[derive(Default)]
pub struct Options {
    /// Keys the user pinned: the chain of keys must start from, or pass through, one.
    pub anchors: Vec<PublicKey>,
    pub head: HeadCheck,
    /// Checkpoints kept elsewhere, with the file each came from.
    pub checkpoints: Vec<(PathBuf, Checkpoint)>,
    /// Called after each block with the records verified so far.
    pub progress: Option<Box<dyn Fn(u64) + Sync>>,
}

/// Verifies one log file with its head (if the file has one beside it).
pub fn verify_file(path: &Path, key: &PublicKey) -> Result<Intact, Broken> {
    let hp = super::head::head_path(path);
    let head = if hp.exists() {
        HeadCheck::Required(hp)
    } else {
        HeadCheck::Skip
    };
    verify_files(
        &[path.to_path_buf()],
        &Options {
            anchors: vec![key.clone()],
            head,
            ..Options::default()
        },
    )
}

struct Parsed {
    rec: Record,
    sig: Option<Signature>,
    unix: Option<i64>,
}

/// A key of the chain: the verifying key, its base64url form and its id, computed once.
#[derive(Clone)]
struct ChainKey {
    key: VerifyingKey,
    b64: String,
    kid: String,
}

/// The chain as walked so far.
struct Walk {
    expected_seq: u64,
    prev: String,
    prev_unix: Option<i64>,
    key: Option<ChainKey>,
    next_key: Option<String>,
    anchors: Vec<PublicKey>,
    anchored: bool,
    head: Option<Head>,
    head_seen: bool,
    log_id: Option<String>,
    spans: Vec<KeySpan>,
    seen_keys: Vec<PublicKey>,
    losses: Vec<Declared>,
    /// Checkpoints by seq, the next to meet first.
    checkpoints: Vec<(PathBuf, Checkpoint)>,
    next_cp: usize,
}

fn nowhere(what: String) -> Broken {
    Broken {
        file: None,
        line: 0,
        seq: None,
        what,
        tampering: None,
    }
}

/// Verifies a sequence of files as one chain from genesis. The pinned keys in
/// `opts.anchors` must have signed at least one record: that signature covers
/// everything before it through the chain, and every later key was handed over by
/// a rotation record it or a successor signed. A key that appears any other way is
/// refused.
pub fn verify_files(files: &[PathBuf], opts: &Options) -> Result<Intact, Broken> {
    let (head, head_path) = match &opts.head {
        HeadCheck::Required(p) => (
            Head::load(p).map_err(|e| nowhere(format!("signed head unreadable: {e}")))?,
            Some(p.clone()),
        ),
        HeadCheck::Skip => (None, None),
    };
    if let Some(h) = &head {
        h.check().map_err(nowhere)?;
    }
    let mut checkpoints = opts.checkpoints.clone();
    checkpoints.sort_by_key(|(_, c)| c.seq);
    let mut walk = Walk {
        expected_seq: 0,
        prev: GENESIS.into(),
        prev_unix: None,
        key: None,
        next_key: None,
        anchors: opts.anchors.clone(),
        anchored: false,
        head,
        head_seen: false,
        log_id: None,
        spans: vec![],
        seen_keys: vec![],
        losses: vec![],
        checkpoints,
        next_cp: 0,
    };
    let mut last_file: Option<&PathBuf> = None;
    let mut last_line = 0;
    for file in files {
        last_line = verify_one(file, &mut walk, opts.progress.as_deref())?;
        last_file = Some(file);
    }
    let at_end = |what: String, tampering: Option<&'static str>| Broken {
        file: last_file.cloned(),
        line: last_line + 1,
        seq: Some(walk.expected_seq),
        what,
        tampering,
    };
    if walk.expected_seq > 0 && !walk.anchored {
        let kids: Vec<&str> = walk.spans.iter().map(|s| s.kid.as_str()).collect();
        return Err(at_end(
            format!(
                "no record is signed by a pinned key: the log's keys are {} (pin the evaluator key in the trust store, or pass --pubkey)",
                kids.join(", ")
            ),
            None,
        ));
    }
    match (&walk.head, &head_path) {
        (Some(h), _) if !walk.head_seen => {
            let r = &h.record;
            let what = if r.seq == walk.expected_seq && r.prev_hash == walk.prev {
                format!(
                    "the signed head holds seq {} ({}), which the log lacks: an append was interrupted (the next decision completes it) or the last record was removed",
                    r.seq, r.hash
                )
            } else if walk.expected_seq == 0 {
                format!(
                    "the log is empty but the signed head names seq {} ({}): the log was deleted",
                    r.seq, r.hash
                )
            } else {
                format!(
                    "records missing at the end: the signed head names seq {} ({}) but the log ends before it",
                    r.seq, r.hash
                )
            };
            let kind = if walk.expected_seq == 0 {
                "wipe"
            } else {
                "truncation"
            };
            return Err(at_end(what, Some(kind)));
        }
        (None, Some(p)) if walk.expected_seq > 0 => {
            return Err(at_end(
                format!(
                    "the signed head {} is missing, so a cut-off tail could not be seen",
                    p.display()
                ),
                Some("truncation"),
            ))
        }
        _ => {}
    }
    // Checkpoints past the end: the log no longer reaches what a witness saw.
    if let Some((file, c)) = walk.checkpoints.get(walk.next_cp) {
        let (what, kind) = if walk.log_id.as_deref().is_some_and(|id| id != c.log_id) {
            (
                format!(
                    "checkpoint {} is for log {}, but this log's first record is {}: the log was wiped and started again (the checkpoint proves records up to seq {} existed)",
                    file.display(),
                    c.log_id,
                    walk.log_id.as_deref().unwrap_or_default(),
                    c.seq
                ),
                "wipe",
            )
        } else if walk.expected_seq == 0 {
            (
                format!(
                    "the log is empty, but checkpoint {} proves log {} had records up to seq {}: the log was wiped",
                    file.display(),
                    c.log_id,
                    c.seq
                ),
                "wipe",
            )
        } else if walk.head_seen {
            (
                format!(
                    "the log and its head end at seq {}, but checkpoint {} proves seq {} existed: the log was rolled back to an older copy",
                    walk.expected_seq - 1,
                    file.display(),
                    c.seq
                ),
                "rollback",
            )
        } else {
            (
                format!(
                    "the log ends at seq {}, but checkpoint {} proves seq {} existed: records were cut off",
                    walk.expected_seq - 1,
                    file.display(),
                    c.seq
                ),
                "truncation",
            )
        };
        return Err(at_end(what, Some(kind)));
    }
    for (file, c) in &walk.checkpoints {
        let signed = walk
            .seen_keys
            .iter()
            .find(|k| k.kid == c.kid)
            .is_some_and(|k| c.verify(k));
        if !signed {
            return Err(nowhere(format!(
                "checkpoint {} (seq {}) is not signed by any key of this log",
                file.display(),
                c.seq
            )));
        }
    }
    if let Some(h) = &walk.head {
        if walk.log_id.as_deref() != Some(h.checkpoint.log_id.as_str()) {
            return Err(nowhere(format!(
                "the signed head names log {} but this log's first record is {}",
                h.checkpoint.log_id,
                walk.log_id.as_deref().unwrap_or("missing")
            )));
        }
    }
    Ok(Intact {
        records: walk.expected_seq,
        last_hash: walk.prev,
        log_id: walk.log_id,
        head_checked: walk.head_seen,
        keys: walk.spans,
        losses: walk.losses,
        checkpoints: walk.checkpoints.len(),
    })
}

/// Verifies one file, continuing `walk`; returns its number of lines. While one
/// block's signatures are verified, the next block is read, parsed and hashed.
fn verify_one(
    path: &Path,
    walk: &mut Walk,
    progress: Option<&(dyn Fn(u64) + Sync)>,
) -> Result<usize, Broken> {
    let broken = |line: usize, seq: Option<u64>, what: String| Broken {
        file: Some(path.into()),
        line,
        seq,
        tampering: classify(&what),
        what,
    };
    let mut file =
        std::fs::File::open(path).map_err(|e| broken(0, None, format!("cannot open: {e}")))?;
    let mut reader = Blocks {
        carry: Vec::new(),
        eof: false,
    };
    let stage = |reader: &mut Blocks, file: &mut std::fs::File| -> std::io::Result<Option<Stage>> {
        Ok(reader.next(file)?.map(|b| {
            let lines = split_lines(&b.bytes);
            Stage {
                parsed: parse_all(&lines),
                lines: lines.len(),
                torn: b.torn.is_some(),
            }
        }))
    };
    let mut line_no = 0usize;
    let mut first_in_file = true;
    let mut current = stage(&mut reader, &mut file).map_err(|e| broken(1, None, e.to_string()))?;
    while let Some(cur) = current.take() {
        let (to_verify, chain_fail) = walk_block(&cur.parsed, line_no, &mut first_in_file, walk);
        let go_on = !cur.torn && chain_fail.is_none();
        let (sig_fail, next) = std::thread::scope(|s| {
            let sigs = s.spawn(|| {
                par_map(&to_verify, |_, part| {
                    first_bad_signature(part, &cur.parsed).into_iter().collect()
                })
                .into_iter()
                .min()
            });
            let next = if go_on {
                stage(&mut reader, &mut file)
            } else {
                Ok(None)
            };
            // A worker's panic is the verifier's own bug: passed on, never read as a verdict.
            let sigs = sigs.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            (sigs, next)
        });
        match (sig_fail, chain_fail) {
            (Some(i), _) => {
                let seq = cur
                    .parsed
                    .get(i)
                    .and_then(|p| p.as_ref().ok())
                    .map(|p| p.rec.seq);
                return Err(broken(
                    line_no + i + 1,
                    seq,
                    "signature does not verify".into(),
                ));
            }
            (None, Some((l, s, w))) => return Err(broken(l, s, w)),
            (None, None) => {}
        }
        line_no += cur.lines;
        if let Some(p) = progress {
            p(walk.expected_seq);
        }
        if cur.torn {
            return Err(broken(
                line_no + 1,
                None,
                "incomplete last line (torn write); `toolgate audit repair` moves it aside".into(),
            ));
        }
        current = next.map_err(|e| broken(line_no + 1, None, e.to_string()))?;
    }
    Ok(line_no)
}

/// The kind of tampering a finding shows, where it shows one.
fn classify(what: &str) -> Option<&'static str> {
    if what.contains("was wiped") || what.contains("was deleted") {
        Some("wipe")
    } else if what.contains("rolled back") || what.contains("older head was put back") {
        Some("rollback")
    } else if what.contains("cut off") || what.contains("records missing at the end") {
        Some("truncation")
    } else {
        None
    }
}

/// One block, parsed and hashed, waiting for the chain walk.
struct Stage {
    parsed: Vec<Result<Parsed, (String, Option<u64>)>>,
    lines: usize,
    torn: bool,
}

/// A run of complete lines, and whether the file ended in a torn one.
struct Block {
    bytes: Vec<u8>,
    torn: Option<Vec<u8>>,
}

/// Reads a file in blocks of whole lines.
struct Blocks {
    carry: Vec<u8>,
    eof: bool,
}

impl Blocks {
    fn next(&mut self, file: &mut std::fs::File) -> std::io::Result<Option<Block>> {
        loop {
            if self.eof {
                return Ok(None);
            }
            let mut block = std::mem::take(&mut self.carry);
            let old = block.len();
            block.resize(old + BLOCK, 0);
            let n = read_full(file, block.get_mut(old..).unwrap_or_default())?;
            block.truncate(old + n);
            let eof = n == 0;
            let cut = match block.iter().rposition(|&b| b == b'\n') {
                Some(i) => i + 1,
                None if eof => 0,
                None => {
                    self.carry = block;
                    continue;
                }
            };
            if eof {
                self.eof = true;
                let rest = block.split_off(cut);
                if block.is_empty() && rest.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(Block {
                    bytes: block,
                    torn: (!rest.is_empty()).then_some(rest),
                }));
            }
            self.carry = block.split_off(cut);
            if block.is_empty() {
                continue;
            }
            return Ok(Some(Block {
                bytes: block,
                torn: None,
            }));
        }
    }
}

fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(buf.get_mut(n..).unwrap_or_default())? {
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
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Parses and hashes a block's lines on every core; a failure keeps the seq it names.
fn parse_all(lines: &[&[u8]]) -> Vec<Result<Parsed, (String, Option<u64>)>> {
    par_map(lines, |_, part| {
        part.iter()
            .map(|l| parse_and_hash(l).map_err(|e| (e, seq_hint(l))))
            .collect()
    })
}

/// Chain, seq, time and keys, in order; stops at the first failure. Returns the
/// records whose signatures must be checked, with their keys.
fn walk_block(
    parsed: &[Result<Parsed, (String, Option<u64>)>],
    base: usize,
    first_in_file: &mut bool,
    walk: &mut Walk,
) -> (Vec<(usize, VerifyingKey)>, Option<Fail>) {
    let mut to_verify: Vec<(usize, VerifyingKey)> = Vec::with_capacity(parsed.len());
    for (i, p) in parsed.iter().enumerate() {
        let line = base + i + 1;
        let p = match p {
            Ok(p) => p,
            Err((what, seq)) => return (to_verify, Some((line, *seq, what.clone()))),
        };
        match walk_one(walk, p, *first_in_file) {
            Ok(key) => to_verify.push((i, key)),
            Err(what) => return (to_verify, Some((line, Some(p.rec.seq), what))),
        }
        *first_in_file = false;
    }
    (to_verify, None)
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
    let unix = time::OffsetDateTime::parse(&rec.ts, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp());
    Ok(Parsed { rec, sig, unix })
}

/// Index (into `parsed`) of the first record in `part` whose signature fails.
fn first_bad_signature(
    part: &[(usize, VerifyingKey)],
    parsed: &[Result<Parsed, (String, Option<u64>)>],
) -> Option<usize> {
    // Only parsed records are verified; one that is not counts as a bad signature.
    let get = |i: usize| parsed.get(i).and_then(|p| p.as_ref().ok());
    for batch in part.chunks(BATCH) {
        let mut msgs = Vec::with_capacity(batch.len());
        let mut sigs = Vec::with_capacity(batch.len());
        let mut keys = Vec::with_capacity(batch.len());
        let mut missing = None;
        for &(i, key) in batch {
            let Some(p) = get(i) else {
                return Some(i);
            };
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
        let one_key = keys.windows(2).all(|w| matches!(w, [a, b] if a == b));
        let ok = missing.is_none()
            && match keys.first() {
                Some(k) if one_key => verify_batch_one_key(&msgs, &sigs, k),
                _ => ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok(),
            };
        if ok {
            continue;
        }
        // Find the culprit with strict single verification, in order.
        for &(i, key) in batch {
            let ok = get(i).is_some_and(|p| {
                p.sig
                    .is_some_and(|s| key.verify_strict(p.rec.hash.as_bytes(), &s).is_ok())
            });
            if !ok {
                return Some(i);
            }
        }
    }
    None
}

/// Batch verification of signatures all made by `key`: the same random-linear-combination
/// equation as `ed25519_dalek::verify_batch`,
/// `[-Σ z_i s_i]B + Σ [z_i]R_i + Σ [z_i k_i]A = 0` with random 128-bit `z_i`, but with
/// the key's terms summed into one (`[Σ z_i k_i]A`), so the multiscalar multiplication
/// has n + 2 points instead of 2n + 1. Like `verify_strict`, it refuses a non-canonical
/// `s` and a small-order `R`. A false here is re-checked one by one with `verify_strict`.
pub fn verify_batch_one_key(msgs: &[&[u8]], sigs: &[Signature], key: &VerifyingKey) -> bool {
    use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
    use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
    use curve25519_dalek::scalar::Scalar;
    use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
    use rand_core::RngCore;
    use sha2::{Digest, Sha512};
    if msgs.len() != sigs.len() || key.is_weak() {
        return false;
    }
    let mut random = vec![0u8; 16 * sigs.len()];
    rand_core::OsRng.fill_bytes(&mut random);
    let mut scalars = Vec::with_capacity(sigs.len() + 2);
    let mut points = Vec::with_capacity(sigs.len() + 2);
    let (mut b_coefficient, mut a_coefficient) = (Scalar::ZERO, Scalar::ZERO);
    for (i, (sig, msg)) in sigs.iter().zip(msgs).enumerate() {
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(*sig.s_bytes())) else {
            return false;
        };
        let Some(r) = CompressedEdwardsY(*sig.r_bytes()).decompress() else {
            return false;
        };
        if r.is_small_order() {
            return false;
        }
        let k = Scalar::from_hash(
            Sha512::new()
                .chain_update(sig.r_bytes())
                .chain_update(key.as_bytes())
                .chain_update(msg),
        );
        let mut z = [0u8; 32];
        let (Some(low), Some(fresh)) = (z.get_mut(..16), random.get(16 * i..16 * i + 16)) else {
            return false;
        };
        low.copy_from_slice(fresh);
        let z = Scalar::from_bytes_mod_order(z);
        b_coefficient += z * s;
        a_coefficient += z * k;
        scalars.push(z);
        points.push(r);
    }
    scalars.push(-b_coefficient);
    points.push(ED25519_BASEPOINT_POINT);
    scalars.push(a_coefficient);
    points.push(key.to_edwards());
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).is_identity()
}

/// A gap in the chain, said as a deletion: which seqs, the last hash known before them,
/// and what to do next.
fn missing_records(expected: u64, found: u64, last_hash: &str) -> String {
    let range = if found - expected == 1 {
        format!("record seq {expected} is")
    } else {
        format!("records seq {expected}..={} are", found - 1)
    };
    let before = match expected.checked_sub(1) {
        Some(last) => format!("seq {last} ({last_hash}) is the last record known before the gap"),
        None => "no record before the gap survives".into(),
    };
    format!(
        "seq {found} where {expected} was expected: {range} missing (deleted, or moved out of order); \
         {before}. Restore the missing lines from a copy of the log or an export \
         (`toolgate log export`, your SIEM), then run verify-log again; if they are gone for \
         good, keep this file as evidence of the deletion"
    )
}

/// Checks one record against the walk and advances it; returns the key that must have signed it.
fn walk_one(w: &mut Walk, p: &Parsed, first_in_file: bool) -> Result<VerifyingKey, String> {
    let rec = &p.rec;
    if rec.seq != w.expected_seq {
        return Err(if rec.seq > w.expected_seq {
            missing_records(w.expected_seq, rec.seq, &w.prev)
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
    let Some(unix) = p.unix else {
        return Err(format!("ts {:?} is not an RFC 3339 time", rec.ts));
    };
    if let Some(prev) = w.prev_unix {
        if prev - unix > CLOCK_TOLERANCE_SECS {
            return Err(format!(
                "time goes backwards: ts {} is {}s before the previous record's (more than the {CLOCK_TOLERANCE_SECS}s tolerance); writers never record that, so the record was edited or forged",
                rec.ts,
                prev - unix
            ));
        }
    }
    let introduced = match (&rec.log_key, w.next_key.take(), &w.key) {
        (Some(k), Some(next), _) if *k != next => {
            return Err("the key after a rotation is not the one the rotation named".into())
        }
        (None, Some(_), _) => {
            return Err("the first record after a key rotation does not name its key".into())
        }
        (Some(k), Some(_), Some(prev)) => Some((chain_key(k)?, Some(prev.kid.clone()))),
        (Some(k), None, Some(cur)) if *k != cur.b64 => {
            return Err(format!(
                "log_key changes the key to {} without a rotation record signed by {}",
                chain_key(k).map_or_else(|_| "an invalid key".into(), |c| c.kid),
                cur.kid
            ))
        }
        (Some(_), None, Some(_)) => None,
        (Some(k), _, None) => Some((chain_key(k)?, None)),
        (None, None, None) => return Err("the log's first record does not name its key".into()),
        (None, None, Some(_)) if first_in_file => {
            return Err("a rotated file's first record does not name the log's key".into())
        }
        (None, None, Some(_)) => None,
    };
    if let Some((ck, from)) = introduced {
        let pinned = w.anchors.iter().any(|a| a.key == ck.key);
        let trust = match (&from, pinned) {
            (_, true) => "pinned".to_string(),
            (Some(prev), false) => format!("handed over by {prev} at seq {}", rec.seq - 1),
            (None, false) => "not pinned".to_string(),
        };
        w.spans.push(KeySpan {
            kid: ck.kid.clone(),
            first_seq: rec.seq,
            last_seq: rec.seq,
            trust,
        });
        w.seen_keys.push(PublicKey {
            key: ck.key,
            kid: ck.kid.clone(),
        });
        w.anchored |= pinned;
        w.key = Some(ck);
    }
    let Some(ck) = w.key.as_ref() else {
        return Err("no key is known for this record".into());
    };
    if rec.kid != ck.kid {
        return Err(format!(
            "signed as {} but the log's key is {}",
            rec.kid, ck.kid
        ));
    }
    let key = ck.key;
    if let Some(span) = w.spans.last_mut() {
        span.last_seq = rec.seq;
    }
    if rec.seq == 0 {
        w.log_id = Some(rec.hash.clone());
    }
    check_checkpoints(w, rec)?;
    if let Some(h) = &w.head {
        if h.record.seq == rec.seq {
            if h.record.hash != rec.hash {
                return Err(format!(
                    "the signed head holds hash {} for this seq but the record's is {}",
                    h.record.hash, rec.hash
                ));
            }
            w.head_seen = true;
        } else if w.head_seen {
            return Err(format!(
                "the signed head names seq {}, but the log goes on: an older head was put back",
                h.record.seq
            ));
        }
    }
    if let Some(lost) = &rec.lost {
        w.losses.push(Declared {
            seq: rec.seq,
            lost: lost.clone(),
        });
    }
    if let Some(next) = &rec.next_key {
        chain_key(next)?;
        w.next_key = Some(next.clone());
    }
    w.prev.clone_from(&rec.hash);
    w.prev_unix = Some(unix);
    w.expected_seq += 1;
    Ok(key)
}

/// The checkpoints at this record's seq: same log, same record.
fn check_checkpoints(w: &mut Walk, rec: &Record) -> Result<(), String> {
    while let Some((file, c)) = w.checkpoints.get(w.next_cp) {
        if c.seq > rec.seq {
            break;
        }
        if w.log_id.as_deref() != Some(c.log_id.as_str()) {
            return Err(format!(
                "checkpoint {} is for log {}, but this log's first record is {}: the log was wiped and started again (the checkpoint proves records up to seq {} existed)",
                file.display(),
                c.log_id,
                w.log_id.as_deref().unwrap_or("missing"),
                c.seq
            ));
        }
        if c.hash != rec.hash {
            return Err(format!(
                "checkpoint {} names {} for seq {}, but the log's record is {}: the log was rolled back to before seq {} and rewritten",
                file.display(),
                c.hash,
                c.seq,
                rec.hash,
                c.seq
            ));
        }
        w.next_cp += 1;
    }
    Ok(())
}

fn chain_key(b64: &str) -> Result<ChainKey, String> {
    let pk = public_from_b64(b64).map_err(|e| format!("log_{e}"))?;
    Ok(ChainKey {
        key: pk.key,
        b64: b64.to_string(),
        kid: pk.kid,
    })
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
            let rec =
                crate::audit::Draft::event("test", "2026-01-01T00:00:00Z", vec![format!("n{i}")]);
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
    fn the_one_key_batch_agrees_with_strict_verification() {
        let key = KeyPair::generate();
        let vk = key.public().key;
        let msgs: Vec<Vec<u8>> = (0..40)
            .map(|i| format!("record {i}").into_bytes())
            .collect();
        let sigs: Vec<Signature> = msgs
            .iter()
            .map(|m| decode_signature(&key.sign_oap(m)).unwrap())
            .collect();
        let refs: Vec<&[u8]> = msgs.iter().map(|m| m.as_slice()).collect();
        assert!(verify_batch_one_key(&refs, &sigs, &vk));
        assert!(verify_batch_one_key(&[], &[], &vk));
        // One message changed, two signatures swapped, another key, a truncated batch.
        let mut changed = refs.clone();
        changed[17] = b"record 17!";
        assert!(!verify_batch_one_key(&changed, &sigs, &vk));
        let mut swapped = sigs.clone();
        swapped.swap(3, 4);
        assert!(!verify_batch_one_key(&refs, &swapped, &vk));
        assert!(!verify_batch_one_key(
            &refs,
            &sigs,
            &KeyPair::generate().public().key
        ));
        assert!(!verify_batch_one_key(&refs[1..], &sigs, &vk));
        // A non-canonical s (s + l) is refused, as verify_strict refuses it.
        // l, the group order, little-endian.
        let mut l = [0u8; 32];
        l[..16].copy_from_slice(&[
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14,
        ]);
        l[31] = 0x10;
        let mut bytes = sigs[5].to_bytes();
        let mut carry = 0u16;
        for i in 0..32 {
            let v = bytes[32 + i] as u16 + l[i] as u16 + carry;
            bytes[32 + i] = v as u8;
            carry = v >> 8;
        }
        let mut malleable = sigs.clone();
        malleable[5] = Signature::from_bytes(&bytes);
        assert!(vk.verify_strict(refs[5], &malleable[5]).is_err());
        assert!(!verify_batch_one_key(&refs, &malleable, &vk));
        // A small-order R (the identity) is refused.
        let mut bytes = sigs[9].to_bytes();
        let mut identity = [0u8; 32];
        identity[0] = 1;
        bytes[..32].copy_from_slice(&identity);
        let mut small = sigs.clone();
        small[9] = Signature::from_bytes(&bytes);
        assert!(!verify_batch_one_key(&refs, &small, &vk));
    }

    #[test]
    fn an_unrelated_key_does_not_prove_the_log() {
        let (_d, path, _key) = log_of(3);
        let b = verify_file(&path, &KeyPair::generate().public()).unwrap_err();
        assert!(b.what.contains("pinned key"), "{b:?}");
    }
}
