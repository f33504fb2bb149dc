//! Proving a log intact: every line parses, hashes, is signed by a key that is
//! pinned or handed over by one, links to the one before, never goes back in time;
//! the signed head names the log's last record; and every checkpoint a witness
//! kept is a record the log still has.
//!
//! Large logs are checked in blocks: parsing and hashing run on every core,
//! the cheap chain checks run in order, and signatures are batch-verified on
//! every core while the next block is read and parsed. The first bad record is
//! the one with the lowest line number whatever thread found it.

use super::batch::BatchKey;
use super::head::{public_from_b64, Checkpoint, Head};
use super::log::CLOCK_TOLERANCE_SECS;
use super::record::{Lost, Record, GENESIS};
use crate::passport::keys::decode_signature;
use crate::passport::PublicKey;
use ed25519_dalek::Signature;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Bytes read per block; records are verified a block at a time.
#[cfg(not(test))]
const BLOCK: usize = 4 * 1024 * 1024;
/// Small in unit tests, so records straddle blocks.
#[cfg(test)]
const BLOCK: usize = 3000;
/// At most this many signatures per batch equation. Large batches spread the
/// multiscalar multiplication's fixed cost (its bucket sums) over more signatures; a
/// failed batch is re-checked one signature at a time, so this also bounds that work.
const BATCH: usize = 4096;

/// The first thing wrong with a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} (line {line})")]
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
    key: ed25519_dalek::VerifyingKey,
    b64: String,
    kid: String,
    /// Its place in `Walk::batch_keys`.
    slot: usize,
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
    /// Every key met so far, prepared for batch verification once.
    batch_keys: Vec<BatchKey>,
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
        h.check().map_err(|e| nowhere(e.to_string()))?;
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
        batch_keys: vec![],
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
/// block's signatures are verified, the next block is read, parsed, hashed and walked.
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
        spare: Vec::new(),
        eof: false,
    };
    let mut first_in_file = true;
    // Reads, parses and walks the block after the `base` lines already staged.
    let mut stage = |reader: &mut Blocks, base: usize, walk: &mut Walk| {
        reader.next(&mut file).map(|b| {
            b.map(|b| {
                let parsed = parse_all(&split_lines(&b.bytes));
                reader.spare = b.bytes;
                let (to_verify, chain_fail) = walk_block(&parsed, base, &mut first_in_file, walk);
                Stage {
                    lines: parsed.len(),
                    parsed,
                    torn: b.torn.is_some(),
                    to_verify,
                    chain_fail,
                    walked_to: walk.expected_seq,
                }
            })
        })
    };
    let mut line_no = 0usize;
    let mut current = stage(&mut reader, 0, walk).map_err(|e| broken(1, None, e.to_string()))?;
    let mut retired: Option<Stage> = None;
    while let Some(cur) = current.take() {
        let go_on = !cur.torn && cur.chain_fail.is_none();
        let keys = walk.batch_keys.clone();
        let (sig_fail, next) = std::thread::scope(|s| {
            // The block before is freed on the side: dropping its records is real work.
            let old = retired.take();
            s.spawn(move || drop(old));
            let sigs = s.spawn(|| {
                par_map(&cur.to_verify, |_, part| {
                    first_bad_signature(part, &cur.parsed, &keys)
                        .into_iter()
                        .collect()
                })
                .iter()
                .min()
                .copied()
            });
            let next = if go_on {
                stage(&mut reader, line_no + cur.lines, walk)
            } else {
                Ok(None)
            };
            // A worker's panic is the verifier's own bug: passed on, never read as a verdict.
            let sigs = sigs.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            (sigs, next)
        });
        match (sig_fail, &cur.chain_fail) {
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
            (None, Some((l, s, w))) => return Err(broken(*l, *s, w.clone())),
            (None, None) => {}
        }
        line_no += cur.lines;
        if let Some(p) = progress {
            p(cur.walked_to);
        }
        if cur.torn {
            return Err(broken(
                line_no + 1,
                None,
                "incomplete last line (torn write); `toolgate audit repair` moves it aside".into(),
            ));
        }
        current = next.map_err(|e| broken(line_no + 1, None, e.to_string()))?;
        retired = Some(cur);
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

/// One block, parsed, hashed and walked, its signatures still to check.
struct Stage {
    parsed: Rows<Result<Parsed, (String, Option<u64>)>>,
    lines: usize,
    torn: bool,
    /// (index into `parsed`, slot of the key that must have signed it).
    to_verify: Vec<(usize, usize)>,
    chain_fail: Option<Fail>,
    /// Records walked once this block is.
    walked_to: u64,
}

/// A run of complete lines, and whether the file ended in a torn one.
struct Block {
    bytes: Vec<u8>,
    torn: Option<Vec<u8>>,
}

/// Reads a file in blocks of whole lines.
struct Blocks {
    carry: Vec<u8>,
    /// A parsed block's buffer, reused for the next read (no fresh pages per block).
    spare: Vec<u8>,
    eof: bool,
}

impl Blocks {
    fn next(&mut self, file: &mut std::fs::File) -> std::io::Result<Option<Block>> {
        loop {
            if self.eof {
                return Ok(None);
            }
            let mut block = std::mem::take(&mut self.spare);
            block.clear();
            block.append(&mut self.carry);
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

/// Results kept as the parts that computed them (one per core), read as one sequence:
/// no copying them together.
struct Rows<R> {
    parts: Vec<Vec<R>>,
    size: usize,
}

impl<R> Rows<R> {
    fn get(&self, i: usize) -> Option<&R> {
        self.parts.get(i / self.size)?.get(i % self.size)
    }

    fn len(&self) -> usize {
        self.parts.iter().map(Vec::len).sum()
    }

    fn iter(&self) -> impl Iterator<Item = &R> {
        self.parts.iter().flatten()
    }
}

/// Runs `f` over `items` split into one contiguous part per core, keeping order;
/// `f` must return one result per item for `Rows::get` to find them.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(usize, &[T]) -> Vec<R> + Sync) -> Rows<R> {
    let size = items.len().div_ceil(threads()).max(1);
    let parts = std::thread::scope(|s| {
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
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    Rows { parts, size }
}

/// Parses and hashes a block's lines on every core; a failure keeps the seq it names.
fn parse_all(lines: &[&[u8]]) -> Rows<Result<Parsed, (String, Option<u64>)>> {
    par_map(lines, |_, part| {
        part.iter()
            .map(|l| parse_and_hash(l).map_err(|e| (e, seq_hint(l))))
            .collect()
    })
}

/// Chain, seq, time and keys, in order; stops at the first failure. Returns the
/// records whose signatures must be checked, with their keys' slots.
fn walk_block(
    parsed: &Rows<Result<Parsed, (String, Option<u64>)>>,
    base: usize,
    first_in_file: &mut bool,
    walk: &mut Walk,
) -> (Vec<(usize, usize)>, Option<Fail>) {
    let mut to_verify = Vec::with_capacity(parsed.len());
    for (i, p) in parsed.iter().enumerate() {
        let line = base + i + 1;
        let p = match p {
            Ok(p) => p,
            Err((what, seq)) => return (to_verify, Some((line, *seq, what.clone()))),
        };
        match walk_one(walk, p, *first_in_file) {
            Ok(slot) => to_verify.push((i, slot)),
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

/// Index (into `parsed`) of the first record in `part` whose signature fails. Runs of
/// one key are batch-verified; a batch that fails is re-checked in order with
/// `verify_strict`, which names the culprit.
fn first_bad_signature(
    part: &[(usize, usize)],
    parsed: &Rows<Result<Parsed, (String, Option<u64>)>>,
    keys: &[BatchKey],
) -> Option<usize> {
    // Only parsed records are verified; one that is not counts as a bad signature.
    let get = |i: usize| parsed.get(i).and_then(|p| p.as_ref().ok());
    let mut msgs = Vec::with_capacity(BATCH.min(part.len()));
    let mut sigs = Vec::with_capacity(BATCH.min(part.len()));
    for run in part.chunk_by(|a, b| a.1 == b.1) {
        let (first, slot) = run.first().copied()?;
        // A slot the walk did not fill is the verifier's own slip: nothing is accepted.
        let Some(key) = keys.get(slot) else {
            return Some(first);
        };
        for batch in run.chunks(BATCH) {
            msgs.clear();
            sigs.clear();
            for &(i, _) in batch {
                match get(i) {
                    Some(Parsed {
                        rec, sig: Some(s), ..
                    }) => {
                        msgs.push(rec.hash.as_bytes());
                        sigs.push(*s);
                    }
                    _ => break,
                }
            }
            if sigs.len() == batch.len() && key.verify(&msgs, &sigs) {
                continue;
            }
            let strict = |&&(i, _): &&(usize, usize)| {
                get(i).is_some_and(|p| {
                    p.sig
                        .is_some_and(|s| key.key().verify_strict(p.rec.hash.as_bytes(), &s).is_ok())
                })
            };
            if let Some(&(i, _)) = batch.iter().find(|b| !strict(b)) {
                return Some(i);
            }
        }
    }
    None
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
fn walk_one(w: &mut Walk, p: &Parsed, first_in_file: bool) -> Result<usize, String> {
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
    if let Some((mut ck, from)) = introduced {
        ck.slot = w.batch_keys.len();
        w.batch_keys.push(BatchKey::new(ck.key));
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
    let key = ck.slot;
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
        slot: 0,
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
    fn a_single_bit_flip_anywhere_in_a_record_line_is_caught() {
        let (_d, path, key) = log_of(3);
        let body = std::fs::read(&path).unwrap();
        let start = body.iter().position(|&b| b == b'\n').unwrap() + 1;
        let end = start + body[start..].iter().position(|&b| b == b'\n').unwrap();
        assert!(verify_file(&path, &key.public()).is_ok());
        // Every byte, each with a different one of its bits (all eight bits of every
        // signature byte are flipped in audit::batch's tests).
        for bit in (start..end).map(|i| i * 8 + i % 8) {
            let mut bad = body.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            std::fs::write(&path, &bad).unwrap();
            let caught = verify_file(&path, &key.public());
            assert!(
                caught.is_err(),
                "byte {} bit {} of the second line: {:?}",
                bit / 8 - start,
                bit % 8,
                String::from_utf8_lossy(&bad[start..end])
            );
        }
    }

    #[test]
    fn an_unrelated_key_does_not_prove_the_log() {
        let (_d, path, _key) = log_of(3);
        let b = verify_file(&path, &KeyPair::generate().public()).unwrap_err();
        assert!(b.what.contains("pinned key"), "{b:?}");
    }
}
