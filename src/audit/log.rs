//! Appending to the log: O(1) in its size, one write per record, under an
//! exclusive lock with a bounded wait. The same lock covers the signed head
//! and the state file, so a decision, its record and its effect on later
//! limits are one step that concurrent hooks cannot interleave.

use super::head::{head_path, read_regular, sibling, write_atomic, Checkpoint, Head, HeadFault};
use super::head_file::HeadFile;
use super::record::{Draft, Link, Lost, Record, GENESIS};
use crate::passport::KeyPair;
use crate::state::StateFile;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;

/// How long an append waits for the lock before failing closed.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);
/// First read from the end; grows until a whole line is in view.
const TAIL_WINDOW: u64 = 16 * 1024;
/// Largest window: a record with a stored 1 MiB input still fits.
const MAX_TAIL_WINDOW: u64 = 8 * 1024 * 1024;
/// Digits in a rotated segment's suffix (its first seq).
const SEGMENT_DIGITS: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("cannot open audit log {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("audit log {0} is not a regular file; refusing to write to it")]
    NotRegular(PathBuf),
    #[error("audit log {0} is a symlink; refusing to follow it")]
    Symlink(PathBuf),
    #[error("timed out after {0:?} waiting for the audit log lock")]
    LockTimeout(Duration),
    #[error("cannot take the audit log lock: {0}")]
    Lock(#[source] std::io::Error),
    #[error(
        "audit log {path} ends with an incomplete record (torn write); run `toolgate audit repair`"
    )]
    TornTail { path: PathBuf },
    #[error("cannot read audit log {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("audit log {path}: the last record is unreadable: {source}")]
    BadTail {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("audit log {path}: the last line is longer than {max} bytes, so it is not a record")]
    TailTooLong { path: PathBuf, max: u64 },
    #[error("audit log {path}: the first record is unreadable: {source}")]
    BadFirst {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write audit log {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The record is in the log, but the disk did not confirm it: its decision is not
    /// answered as made (the log then holds a record of a call that was refused).
    #[error("audit log {path}: the record was written but the disk did not confirm it ({source}); the call is refused, and the log still holds its record")]
    NotSynced {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot rotate the audit log: segment {0} already exists")]
    SegmentExists(PathBuf),
    #[error("audit log {path}: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: super::query::ReadError,
    },
    #[error("audit log {path}: {finding}. Run `toolgate verify-log` to see what is left, then `toolgate audit repair --accept-loss` to record the loss and resume")]
    Tampered { path: PathBuf, finding: Finding },
    #[error("audit state {path}: {fault}; run `toolgate audit rebuild-state`")]
    State {
        path: PathBuf,
        #[source]
        fault: StateFault,
    },
    #[error(
        "the evaluator key {have} may not sign this log: seq {seq} rotated the log to another key"
    )]
    KeyRotatedAway { have: String, seq: u64 },
    #[error("the evaluator key {have} may not sign this log: the log is signed by {signer}; rotate with `toolgate audit rotate-key`")]
    KeyNotTheLogs { have: String, signer: String },
    #[error("audit log {path}: the log does not verify, so it cannot be replayed: {broken}; see `toolgate verify-log`")]
    Rebuild {
        path: PathBuf,
        #[source]
        broken: super::verify::Broken,
    },
}

/// Why the state file is not the state the log's last record signed.
#[derive(Debug, thiserror::Error)]
pub enum StateFault {
    #[error("cannot be read: {0}")]
    Read(#[source] std::io::Error),
    #[error("is not a state file: {0}")]
    Parse(#[source] serde_json::Error),
    #[error("holds the effects of records but the log is empty (the log was deleted)")]
    WithoutLog,
    #[error("is missing while the log has records up to seq {tail_seq}")]
    Missing { tail_seq: u64 },
    #[error("does not name the log's last record (seq {tail_seq})")]
    NotLast { tail_seq: u64 },
    #[error("was edited, or is from another log or an older moment: its digest matches no record in view (seq {tail_seq} signed {signed})")]
    Edited { tail_seq: u64, signed: String },
    #[error("folding seq {seq} in does not give the state that record signed")]
    FoldMismatch { seq: u64 },
}

/// What a writer found that only tampering (or a restored backup) explains. The gate
/// refuses to append until a person records it with `toolgate audit repair --accept-loss`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Finding {
    /// The log has records but the head is gone.
    #[error("the signed head is missing while the log has records up to seq {tail_seq}, so a cut-off tail could not be seen (tampering)")]
    HeadMissing { tail_seq: u64 },
    /// The head names an earlier record than the log's last: an older head was put back.
    #[error("the signed head names seq {head_seq} but the log goes on to seq {tail_seq}: an older head was put back (tampering or a partial restore)")]
    HeadBehind {
        head_seq: u64,
        head_hash: String,
        tail_seq: u64,
    },
    /// The head names records the log no longer has.
    #[error("the signed head names seq {head_seq} ({head_hash}) but the log ends at seq {tail_seq}: {} record(s) are missing (cut off, or an older copy of the log was restored)", head_seq - tail_seq)]
    RecordsMissing {
        head_seq: u64,
        head_hash: String,
        tail_seq: u64,
    },
    /// The log and its segments are gone, but the head says records existed.
    #[error("the log is missing but the signed head says it held {} record(s), up to seq {head_seq} ({head_hash}): the log was deleted", head_seq + 1)]
    LogMissing {
        head_seq: u64,
        head_hash: String,
        log_id: String,
    },
    /// The head is not what a writer wrote, or another record than the log's.
    #[error("the signed head is not valid: {fault}")]
    HeadInvalid {
        #[source]
        fault: HeadFault,
    },
}

impl Finding {
    /// The evidence a repair signs into the chain.
    fn lost(&self) -> Lost {
        let (found, records, last_seq, last_hash, log_id) = match self {
            Finding::HeadMissing { .. } => ("head_missing", 0, None, None, None),
            Finding::HeadBehind {
                head_seq,
                head_hash,
                ..
            } => ("head_behind", 0, Some(*head_seq), Some(head_hash), None),
            Finding::RecordsMissing {
                head_seq,
                head_hash,
                tail_seq,
            } => (
                "records_missing",
                head_seq - tail_seq,
                Some(*head_seq),
                Some(head_hash),
                None,
            ),
            Finding::LogMissing {
                head_seq,
                head_hash,
                log_id,
            } => (
                "log_missing",
                head_seq + 1,
                Some(*head_seq),
                Some(head_hash),
                Some(log_id.clone()),
            ),
            Finding::HeadInvalid { .. } => ("head_invalid", 0, None, None, None),
        };
        Lost {
            found: found.into(),
            records,
            last_seq,
            last_hash: last_hash.cloned(),
            log_id,
        }
    }
}

/// How far a record's time may lie before its predecessor's before it is called out
/// (writers that started together finish in any order, within the lock wait).
pub const CLOCK_TOLERANCE_SECS: i64 = 10;

/// What `repair` did.
#[derive(Debug, Clone)]
pub enum Repaired {
    Nothing,
    /// Torn bytes moved aside: where, and how many.
    Torn {
        aside: PathBuf,
        bytes: usize,
    },
    /// A finding recorded in a signed `audit.repair` record at `seq`.
    Recorded {
        finding: Finding,
        seq: u64,
    },
}

/// When the active file is closed and a new one started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before an append once the file is at least this large.
    pub max_bytes: Option<u64>,
    /// Rotate before the first append of a new UTC day.
    pub daily: bool,
}

/// An audit log file and the files beside it (`.lock`, `.head`, `.state`, segments).
pub struct AuditLog {
    path: PathBuf,
    /// `sync_data` after each append (default on: a decision not on disk did not happen).
    pub sync: bool,
    pub rotation: Rotation,
    /// The machine-local cache key, when the caller has one: the writer then tags each
    /// head it writes, and the next writer that finds the head exactly as tagged skips
    /// re-verifying its two signatures (docs/audit.md, "The head seal").
    pub seal: Option<crate::seal::MacKey>,
}

/// Domain of the head seal's HMAC tags.
const HEAD_SEAL_DOMAIN: &str = "toolgate-audit-head-seal-v1";

/// Where an appended record landed, with the signed checkpoint that names it.
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    pub seq: u64,
    pub hash: String,
    pub checkpoint: Checkpoint,
    /// The record as written.
    pub record: Record,
}

/// The log held under its lock: the last record, the head and the state as
/// they are now, all checked against each other. Dropping it releases the lock.
pub struct Locked<'a> {
    log: &'a AuditLog,
    lock: File,
    /// The last record of the chain (in the active file or, right after a
    /// rotation, the newest segment).
    pub tail: Option<Record>,
    pub state: StateFile,
    /// The `state_digest` of the state file's bytes as they are on disk, when they are
    /// the state above: an append that leaves the state as it was writes no file.
    state_on_disk: Option<String>,
    /// The chain's id (its first record's hash); `None` before the first record.
    pub log_id: Option<String>,
    /// The head file as read: where the next head goes, and how to take it back if the
    /// record cannot be appended.
    head_file: HeadFile,
    /// Set by [`Locked::sync_after_unlock`]: the log file of an append whose `sync_data`
    /// waits for [`Locked::release`].
    unsynced: Option<Unsynced>,
}

/// `sync_data`, or in debug builds the failure `TOOLGATE_DEBUG_SYNC=fail` asks for (the
/// tests' stand-in for a disk that reports an I/O error).
fn sync_data(f: &File) -> std::io::Result<()> {
    if cfg!(debug_assertions)
        && std::env::var_os("TOOLGATE_DEBUG_SYNC").is_some_and(|v| v == "fail")
    {
        return Err(std::io::Error::other("TOOLGATE_DEBUG_SYNC=fail"));
    }
    f.sync_data()
}

/// An append's sync, held back until the lock is released.
enum Unsynced {
    /// Hold back the next append's sync.
    Wanted,
    /// The appended file, written and not yet synced.
    File(File),
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let _ = self.lock.unlock();
        // A caller that did not call `release` still gets its record on disk.
        if let Some(Unsynced::File(f)) = self.unsynced.take() {
            let _ = f.sync_data();
        }
    }
}

impl Locked<'_> {
    /// The next append's `sync_data` runs after the lock is released, in
    /// [`Locked::release`], instead of under the lock: other writers append while this one
    /// waits for its disk, and one sync can carry several writers' records. Nothing is
    /// answered before `release` returns: a record is on disk before its decision leaves,
    /// as before. The chain's order is still the lock's. docs/audit.md, "Appending", says
    /// why the order on disk is the chain's and what a failed sync leaves.
    pub fn sync_after_unlock(&mut self) {
        if self.log.sync {
            self.unsynced = Some(Unsynced::Wanted);
        }
    }

    /// Releases the lock, then syncs the record a held-back append wrote. An error means
    /// the record is in the log but may not be on disk: its decision must not be answered
    /// as made.
    pub fn release(mut self) -> Result<(), AppendError> {
        let _ = self.lock.unlock();
        match self.unsynced.take() {
            Some(Unsynced::File(f)) => sync_data(&f).map_err(|source| AppendError::NotSynced {
                path: self.log.path.clone(),
                source,
            }),
            _ => Ok(()),
        }
    }
}

/// Largest state file read: far beyond any real one, small enough to never exhaust memory.
const MAX_STATE_BYTES: u64 = 256 * 1024 * 1024;

impl AuditLog {
    pub fn new(path: impl Into<PathBuf>) -> AuditLog {
        AuditLog {
            path: path.into(),
            sync: true,
            rotation: Rotation::default(),
            seal: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn state_path(&self) -> PathBuf {
        sibling(&self.path, "state")
    }

    fn open_err(&self, source: std::io::Error) -> AppendError {
        AppendError::Open {
            path: self.path.clone(),
            source,
        }
    }

    fn write_err(&self, source: std::io::Error) -> AppendError {
        AppendError::Write {
            path: self.path.clone(),
            source,
        }
    }

    fn tampered(&self, finding: Finding) -> AppendError {
        AppendError::Tampered {
            path: self.path.clone(),
            finding,
        }
    }

    /// Opens `path` for appending: created 0600, never through a symlink, never
    /// anything but a regular file (a FIFO put in its place must not hang the gate).
    fn open_file(&self, path: &Path) -> Result<File, AppendError> {
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if meta.file_type().is_symlink() {
                return Err(AppendError::Symlink(path.into()));
            }
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.open_err(e))?;
        }
        let mut opts = OpenOptions::new();
        opts.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        }
        let open_err = |source: std::io::Error| AppendError::Open {
            path: path.into(),
            source,
        };
        let f = opts.open(path).map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                AppendError::Symlink(path.into())
            } else {
                open_err(e)
            }
        })?;
        match f.metadata() {
            Ok(m) if m.is_file() => Ok(f),
            Ok(_) => Err(AppendError::NotRegular(path.into())),
            Err(e) => Err(open_err(e)),
        }
    }

    /// Takes the lock only: for repair, which must not read the tail first.
    fn lock_file(&self) -> Result<File, AppendError> {
        let lock = self.open_file(&sibling(&self.path, "lock"))?;
        lock_with_timeout(&lock, LOCK_WAIT)?;
        Ok(lock)
    }

    /// Takes the lock and reads the tail, the head and the state, refusing
    /// anything that does not fit together (a torn tail, a head that is missing,
    /// behind or ahead of the log, a state file edited or from elsewhere) rather
    /// than chaining onto it. The one repair done here is finishing an append that
    /// was interrupted after its head was written: the head holds that record.
    pub fn lock(&self) -> Result<Locked<'_>, AppendError> {
        self.lock_checked(true)
    }

    fn lock_checked(&self, check_state: bool) -> Result<Locked<'_>, AppendError> {
        let lock = self.lock_file()?;
        let (tail, mut window) = self.read_chain_tail()?;
        let head_file = HeadFile::open(&head_path(&self.path))
            .map_err(|fault| self.tampered(Finding::HeadInvalid { fault }))?;
        let newest = head_file.newest();
        let sealed = newest.is_some_and(|r| self.head_sealed(&r.bytes, r.tag.as_deref()));
        let (log_id, pending) = self.check_head(newest.map(|r| &r.head), tail.as_ref(), sealed)?;
        let mut locked = Locked {
            log: self,
            lock,
            tail,
            state: StateFile::default(),
            state_on_disk: None,
            log_id,
            head_file,
            unsynced: None,
        };
        if let Some(rec) = pending {
            self.write_line(&rec)?;
            window.push(rec.clone());
            locked.tail = Some(rec);
            locked.head_file.settle();
        }
        if check_state {
            (locked.state, locked.state_on_disk) =
                self.load_state(locked.tail.as_ref(), &window)?;
        }
        Ok(locked)
    }

    /// Whether the head's bytes carry this machine's seal (the tag its writer stored beside
    /// them in the head file): a writer holding the key wrote exactly them after signing
    /// them, so their signatures need no second check.
    fn head_sealed(&self, head_bytes: &[u8], tag: Option<&str>) -> bool {
        match (&self.seal, tag) {
            (Some(key), Some(tag)) => key.verify(HEAD_SEAL_DOMAIN, &[head_bytes], tag),
            _ => false,
        }
    }

    /// The seal tag of a head about to be written, when this writer has the key.
    fn head_seal(&self, head_bytes: &[u8]) -> Option<String> {
        self.seal
            .as_ref()
            .map(|key| key.tag(HEAD_SEAL_DOMAIN, &[head_bytes]))
    }

    /// The head against the log's last record: returns the chain's id and the record
    /// an interrupted append left in the head, if any. A `sealed` head (this machine's
    /// writer wrote exactly these bytes) has only its key decoded, not its signatures
    /// checked again; everything about where it stands against the log is checked alike.
    fn check_head(
        &self,
        head: Option<&Head>,
        tail: Option<&Record>,
        sealed: bool,
    ) -> Result<(Option<String>, Option<Record>), AppendError> {
        let head = match (head, tail) {
            (None, None) => return Ok((None, None)),
            (None, Some(t)) => return Err(self.tampered(Finding::HeadMissing { tail_seq: t.seq })),
            (Some(h), _) => h,
        };
        let key = if sealed {
            super::head::public_from_b64(&head.key).map_err(HeadFault::Key)
        } else {
            head.check()
        }
        .map_err(|fault| self.tampered(Finding::HeadInvalid { fault }))?;
        let rec = &head.record;
        let log_id = head.checkpoint.log_id.clone();
        if rec.seq == 0 && log_id != rec.hash {
            return Err(self.tampered(Finding::HeadInvalid {
                fault: HeadFault::LogId,
            }));
        }
        let Some(t) = tail else {
            if rec.seq == 0 && rec.prev_hash == GENESIS {
                // The very first append was interrupted after its head.
                return Ok((Some(log_id), Some(rec.clone())));
            }
            return Err(self.tampered(Finding::LogMissing {
                head_seq: rec.seq,
                head_hash: rec.hash.clone(),
                log_id,
            }));
        };
        let missing = || {
            self.tampered(Finding::RecordsMissing {
                head_seq: rec.seq,
                head_hash: rec.hash.clone(),
                tail_seq: t.seq,
            })
        };
        if rec.seq == t.seq {
            return if rec.hash == t.hash {
                Ok((Some(log_id), None))
            } else {
                Err(self.tampered(Finding::HeadInvalid {
                    fault: HeadFault::OtherRecord { seq: t.seq },
                }))
            };
        }
        if rec.seq < t.seq {
            return Err(self.tampered(Finding::HeadBehind {
                head_seq: rec.seq,
                head_hash: rec.hash.clone(),
                tail_seq: t.seq,
            }));
        }
        if rec.seq > t.seq + 1 || rec.prev_hash != t.hash {
            return Err(missing());
        }
        // One ahead and chaining: the append was cut between head and log. Its key
        // must be the one the log expects next.
        let allowed = match &t.next_key {
            Some(next) => *next == head.key,
            None => t.kid == key.kid,
        };
        if !allowed {
            return Err(self.tampered(Finding::HeadInvalid {
                fault: HeadFault::Signer {
                    seq: rec.seq,
                    kid: key.kid,
                    after: t.seq,
                },
            }));
        }
        Ok((Some(log_id), Some(rec.clone())))
    }

    /// Writes one record line to the active file (synced unless `sync` is off); a
    /// partial line (disk full) is taken back while the lock is held.
    fn write_line(&self, record: &Record) -> Result<(), AppendError> {
        let (file, before) = self.write_unsynced(record)?;
        if self.sync {
            if let Err(e) = file.sync_data() {
                let _ = file.set_len(before);
                return Err(self.write_err(e));
            }
        }
        Ok(())
    }

    /// Writes one record line to the active file without syncing it, and gives the file
    /// and its length before the line; a partial line (disk full) is taken back while the
    /// lock is held.
    fn write_unsynced(&self, record: &Record) -> Result<(File, u64), AppendError> {
        let mut line = crate::canonical::to_vec(record);
        line.push(b'\n');
        let mut file = self.open_file(&self.path)?;
        let before = file.metadata().map_err(|e| self.write_err(e))?.len();
        if let Err(e) = file.write_all(&line) {
            let _ = file.set_len(before);
            return Err(self.write_err(e));
        }
        Ok((file, before))
    }

    /// The chain's last record and the window of lines read with it.
    fn read_chain_tail(&self) -> Result<(Option<Record>, TailWindow), AppendError> {
        let mut file = self.open_file(&self.path)?;
        let window = read_tail(&mut file, &self.path)?;
        if let Some(last) = window.last() {
            return Ok((Some(last.clone()), window));
        }
        match segments(&self.path).map_err(|e| self.open_err(e))?.last() {
            Some(seg) => {
                let mut f = File::open(seg).map_err(|e| self.open_err(e))?;
                let window = read_tail(&mut f, seg)?;
                Ok((window.last().cloned(), window))
            }
            None => Ok((None, TailWindow::default())),
        }
    }

    /// The state file, checked against the digest the last record carries (the
    /// SHA-256 of the file's bytes). A state some records behind (writers stopped
    /// between their record and their state) is caught up by folding those records in,
    /// each one's digest checked on the way; anything else is refused. Also returns the
    /// digest of the file's bytes when they are exactly the state returned.
    fn load_state(
        &self,
        tail: Option<&Record>,
        window: &TailWindow,
    ) -> Result<(StateFile, Option<String>), AppendError> {
        let path = self.state_path();
        let err = |fault: StateFault| AppendError::State {
            path: path.clone(),
            fault,
        };
        let bytes = match read_regular(&path, MAX_STATE_BYTES) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(err(StateFault::Read(e))),
        };
        let parse = |b: &[u8]| -> Result<StateFile, AppendError> {
            serde_json::from_slice(b).map_err(|e| err(StateFault::Parse(e)))
        };
        let empty = StateFile::default().digest();
        let digest = bytes.as_deref().map(crate::canonical::digest_bytes);
        let Some(tail) = tail else {
            return match digest {
                Some(d) if d != empty => Err(err(StateFault::WithoutLog)),
                d => Ok((StateFile::default(), d)),
            };
        };
        let Some(want) = &tail.state_digest else {
            // The last record predates state digests: the file names its record instead.
            let state = match &bytes {
                Some(b) => parse(b)?,
                None => return Err(err(StateFault::Missing { tail_seq: tail.seq })),
            };
            return if state.seq == Some(tail.seq) && state.hash == tail.hash {
                Ok((state, None))
            } else {
                Err(err(StateFault::NotLast { tail_seq: tail.seq }))
            };
        };
        if digest.as_ref() == Some(want) {
            return Ok((parse(bytes.as_deref().unwrap_or_default())?, digest));
        }
        // Behind: only now are the records before the last one parsed.
        let window = window.records();
        // Behind: the newest record in view whose digest the file has, or before the
        // first record when there is no file (or an empty one) and the view reaches seq 0.
        let at = digest.as_ref().and_then(|d| {
            window
                .iter()
                .rposition(|r| r.state_digest.as_ref() == Some(d))
        });
        let (mut state, from) = match (at, &digest) {
            (Some(i), _) => (parse(bytes.as_deref().unwrap_or_default())?, i + 1),
            (None, d) if d.is_none() || d.as_ref() == Some(&empty) => {
                if window.first().map(|r| r.seq) != Some(0) {
                    return Err(err(StateFault::Missing { tail_seq: tail.seq }));
                }
                (StateFile::default(), 0)
            }
            (None, _) => {
                return Err(err(StateFault::Edited {
                    tail_seq: tail.seq,
                    signed: want.clone(),
                }))
            }
        };
        for r in window.get(from..).unwrap_or_default() {
            state.apply(r.decided());
            if let Some(d) = &r.state_digest {
                if *d != state.digest() {
                    return Err(err(StateFault::FoldMismatch { seq: r.seq }));
                }
            }
        }
        Ok((state, None))
    }

    /// Moves a torn last line aside and records that it did; with `accept_loss`,
    /// records what the head says is gone (missing records, a missing or older
    /// head, a deleted log) in a signed `audit.repair` record, so the gate resumes
    /// with the loss on the record. Complete records are never touched.
    pub fn repair(
        &self,
        key: &KeyPair,
        ts: &str,
        accept_loss: bool,
    ) -> Result<Repaired, AppendError> {
        if let Some((aside, bytes)) = self.move_torn_tail(ts)? {
            // The torn bytes are evidence too; record them once the rest is sound.
            let mut locked = match self.lock() {
                Ok(l) => l,
                Err(AppendError::Tampered { .. }) if accept_loss => {
                    return self.record_finding(key, ts)
                }
                Err(e) => return Err(e),
            };
            let n = bytes.len();
            let rec = Draft::event(
                "audit.repair",
                ts,
                vec![format!(
                    "moved {n} torn bytes to {}; digest {}",
                    aside.display(),
                    crate::canonical::digest(&serde_json::Value::String(
                        String::from_utf8_lossy(&bytes).into_owned()
                    ))
                )],
            );
            locked.append(rec, key)?;
            return Ok(Repaired::Torn { aside, bytes: n });
        }
        match self.lock() {
            Ok(_) => Ok(Repaired::Nothing),
            Err(AppendError::Tampered { .. }) if accept_loss => self.record_finding(key, ts),
            Err(e) => Err(e),
        }
    }

    /// The torn bytes after the last newline, moved to `<log>.torn-<time>-<offset>`.
    fn move_torn_tail(&self, ts: &str) -> Result<Option<(PathBuf, Vec<u8>)>, AppendError> {
        let lock = self.lock_file()?;
        let mut file = self.open_file(&self.path)?;
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0))
            .map_err(|e| self.open_err(e))?;
        file.read_to_end(&mut bytes).map_err(|e| self.open_err(e))?;
        let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let torn = bytes.split_off(keep);
        if torn.is_empty() {
            return Ok(None);
        }
        let aside = sibling(
            &self.path,
            &format!("torn-{}-{}", ts.replace(':', ""), keep),
        );
        write_atomic(&aside, &torn).map_err(|e| self.write_err(e))?;
        file.set_len(keep as u64).map_err(|e| self.write_err(e))?;
        file.sync_all().map_err(|e| self.write_err(e))?;
        let _ = lock.unlock();
        Ok(Some((aside, torn)))
    }

    /// Records the finding that makes the log refuse appends, and resumes: the chain
    /// goes on from the log's real last record (or, for a deleted log, starts again
    /// naming the lost one), with the state rebuilt from what the log still holds.
    fn record_finding(&self, key: &KeyPair, ts: &str) -> Result<Repaired, AppendError> {
        let finding = match self.lock_checked(false) {
            Err(AppendError::Tampered { finding, .. }) => finding,
            Err(e) => return Err(e),
            Ok(_) => return Ok(Repaired::Nothing),
        };
        let lock = self.lock_file()?;
        let (tail, _) = self.read_chain_tail()?;
        let files = chain_files(&self.path).map_err(|e| self.open_err(e))?;
        let (state, log_id) = match &tail {
            Some(_) => self.verified_fold(&files, key)?,
            None => (StateFile::default(), None),
        };
        let mut locked = Locked {
            log: self,
            lock,
            tail,
            state,
            state_on_disk: None,
            log_id,
            head_file: HeadFile::empty(&head_path(&self.path)),
            unsynced: None,
        };
        let mut rec = Draft::event(
            "audit.repair",
            ts,
            vec![format!(
                "{finding}; recorded by `toolgate audit repair --accept-loss`"
            )],
        );
        rec.lost = Some(finding.lost());
        let at = locked.append(rec, key)?;
        Ok(Repaired::Recorded {
            finding,
            seq: at.seq,
        })
    }

    /// Folds every record of a chain that verifies (the current key anchoring it) into
    /// a fresh state; returns it with the chain's id.
    fn verified_fold(
        &self,
        files: &[PathBuf],
        key: &KeyPair,
    ) -> Result<(StateFile, Option<String>), AppendError> {
        use super::verify::{verify_files, HeadCheck, Options};
        let opts = Options {
            anchors: vec![key.public()],
            head: HeadCheck::Skip,
            ..Options::default()
        };
        let intact = verify_files(files, &opts).map_err(|broken| AppendError::Rebuild {
            path: self.path.clone(),
            broken,
        })?;
        let mut state = StateFile::default();
        super::query::for_each(files, |r| state.apply(r.decided())).map_err(|source| {
            AppendError::Unreadable {
                path: self.path.clone(),
                source,
            }
        })?;
        Ok((state, intact.log_id))
    }

    /// Rebuilds the state file by folding every record of the (verified) chain in
    /// order, the same fold the live append uses, and appends a signed
    /// `audit.state_rebuilt` record carrying the new state's digest: an edited or lost
    /// state is replaced only by this explicit, recorded step.
    pub fn rebuild_state(
        &self,
        key: &KeyPair,
        ts: &str,
    ) -> Result<(StateFile, Appended), AppendError> {
        let mut locked = self.lock_checked(false)?;
        let files = chain_files(&self.path).map_err(|e| self.open_err(e))?;
        let before = read_regular(&self.state_path(), MAX_STATE_BYTES).ok();
        let (state, _) = if locked.tail.is_some() {
            self.verified_fold(&files, key)?
        } else {
            (StateFile::default(), None)
        };
        let was = match &before {
            Some(b) => format!(
                "the state file's digest was {}",
                crate::canonical::digest_bytes(b)
            ),
            None => "the state file was missing or unreadable".into(),
        };
        locked.state = state;
        let rec = Draft::event(
            "audit.state_rebuilt",
            ts,
            vec![format!(
                "state rebuilt from {} records by `toolgate audit rebuild-state`; {was}",
                locked.tail.as_ref().map_or(0, |t| t.seq + 1)
            )],
        );
        let at = locked.append(rec, key)?;
        Ok((locked.state.clone(), at))
    }
}

impl Locked<'_> {
    /// The time a decision made now is made at: never before the last record, so
    /// daily caps and rate windows cannot reopen because the clock went back. The note
    /// says so when the clock is behind by more than the tolerance.
    pub fn monotonic_now(&self, now: OffsetDateTime) -> (OffsetDateTime, Option<String>) {
        let Some(last) = self.tail.as_ref() else {
            return (now, None);
        };
        let last_unix = last.unix_ts();
        let behind = last_unix - now.unix_timestamp();
        if behind <= 0 {
            return (now, None);
        }
        let at = OffsetDateTime::from_unix_timestamp(last_unix).unwrap_or(now);
        let note = (behind > CLOCK_TOLERANCE_SECS).then(|| {
            format!(
                "clock: the system time {} is {behind}s before the previous record (seq {}, {}); decided and recorded at {}",
                crate::canonical::timestamp(now),
                last.seq,
                last.ts,
                last.ts
            )
        });
        (at, note)
    }

    /// Hands the log to a new key: the rotation record is signed by the
    /// current key and names the new one, which must sign every later record.
    pub fn rotate_key(
        &mut self,
        old: &KeyPair,
        new: &KeyPair,
        ts: &str,
    ) -> Result<Appended, AppendError> {
        let mut rec = Draft::event(
            "audit.key_rotation",
            ts,
            vec![format!("from {} to {}", old.kid(), new.kid())],
        );
        rec.next_key = Some(key_b64(new));
        self.append(rec, old)
    }

    /// Appends a record: seals the draft at its place after the tail, with the
    /// state digest it leaves and the key; writes the head holding the record,
    /// then the record, then the state. A writer stopped after the head leaves the
    /// next one a head to finish from; stopped after the record, a state one behind
    /// that the next one folds forward.
    pub fn append(&mut self, mut draft: Draft, key: &KeyPair) -> Result<Appended, AppendError> {
        let log = self.log;
        let kb64 = key_b64(key);
        let mut log_key = None;
        let (seq, prev_hash) = match &self.tail {
            Some(last) => {
                match &last.next_key {
                    Some(next) if *next != kb64 => {
                        return Err(AppendError::KeyRotatedAway {
                            have: key.kid().into(),
                            seq: last.seq,
                        })
                    }
                    Some(_) => log_key = Some(kb64.clone()),
                    None if last.kid != key.kid() => {
                        return Err(AppendError::KeyNotTheLogs {
                            have: key.kid().into(),
                            signer: last.kid.clone(),
                        })
                    }
                    None => {}
                }
                // Records never go back in time, whatever the caller's clock said.
                if draft.unix_ts() < last.unix_ts() {
                    let (_, note) = self.monotonic_now(
                        OffsetDateTime::from_unix_timestamp(draft.unix_ts())
                            .unwrap_or(OffsetDateTime::UNIX_EPOCH),
                    );
                    draft.notes.extend(note);
                    draft.ts = last.ts.clone();
                }
                (last.seq + 1, last.hash.clone())
            }
            None => (0, GENESIS.to_owned()),
        };
        if self.rotate_if_due(&draft.ts)? || self.tail.is_none() {
            log_key = Some(kb64);
        }
        let mut next = self.state.clone();
        next.apply(draft.decided());
        let state_bytes = next.to_bytes();
        let state_digest = crate::canonical::digest_bytes(&state_bytes);
        let link = Link {
            seq,
            prev_hash,
            log_key,
            state_digest: Some(state_digest.clone()),
        };
        let record = Record::seal(draft, link, key);
        let log_id = self.log_id.clone().unwrap_or_else(|| record.hash.clone());
        let hp = head_path(&log.path);
        let head = Head::new(&log_id, &record, key);
        let head_bytes = head.to_bytes();
        let tag = log.head_seal(&head_bytes);
        self.head_file
            .write_next(&head_bytes, record.seq, tag.as_deref())
            .map_err(|source| AppendError::Write {
                path: hp.clone(),
                source,
            })?;
        let written = match self.unsynced {
            Some(Unsynced::Wanted) => log.write_unsynced(&record).map(|(f, _)| {
                self.unsynced = Some(Unsynced::File(f));
            }),
            _ => log.write_line(&record),
        };
        if let Err(e) = written {
            // Not recorded, so not decided: the head goes back to what it was.
            self.head_file.undo();
            return Err(e);
        }
        // Only now is the head before it no longer needed to match the log.
        self.head_file.settle();
        // Best effort: a state behind is folded forward by the next writer. A decision
        // that changed nothing (most allowed calls) finds the file already holding these
        // bytes, so the record's digest names it as it is, and nothing is written.
        if self.state_on_disk.as_ref() != Some(&state_digest) {
            let written = write_atomic(&log.state_path(), &state_bytes).is_ok();
            self.state_on_disk = written.then_some(state_digest);
        }
        self.state = next;
        let appended = Appended {
            seq: record.seq,
            hash: record.hash.clone(),
            checkpoint: head.checkpoint,
            record: record.clone(),
        };
        self.log_id = Some(log_id);
        self.tail = Some(record);
        Ok(appended)
    }

    /// Closes the active file into a segment when it is due. The next record
    /// is the new file's first and chains to the old file's last.
    fn rotate_if_due(&mut self, ts: &str) -> Result<bool, AppendError> {
        let log = self.log;
        let size = std::fs::metadata(&log.path).map_or(0, |m| m.len());
        if size == 0 {
            return Ok(self.tail.is_some());
        }
        let by_size = log.rotation.max_bytes.is_some_and(|m| size >= m);
        let by_day = log.rotation.daily
            && self
                .tail
                .as_ref()
                .is_some_and(|t| t.ts.get(..10) != ts.get(..10));
        if !(by_size || by_day) {
            return Ok(false);
        }
        let first = first_seq(&log.path)?;
        let seg = sibling(
            &log.path,
            &format!("{first:0width$}", width = SEGMENT_DIGITS),
        );
        if seg.exists() {
            return Err(AppendError::SegmentExists(seg));
        }
        // The last writer's sync may still be on its way (it runs after the lock), and the
        // next record goes to another file, whose sync would not carry this one's records:
        // they reach the disk before the chain moves on.
        if log.sync {
            log.open_file(&log.path)?
                .sync_data()
                .map_err(|e| log.write_err(e))?;
        }
        std::fs::rename(&log.path, &seg).map_err(|e| log.write_err(e))?;
        Ok(true)
    }
}

/// The public key as records carry it: base64url of the 32 bytes.
pub fn key_b64(key: &KeyPair) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.public().key.as_bytes())
}

/// Takes the log's lock, waiting at most `wait`. Uncontended it is one `flock` call.
/// Contended, a blocking `flock` puts this writer in the kernel's wait queue, so it is
/// woken the moment the holder lets go (polling with back-off let newcomers overtake
/// sleeping waiters: p99 in the hundreds of milliseconds under 16 hooks). The blocking
/// call runs on a helper thread holding a duplicate of the descriptor (an flock belongs
/// to the open file, so the lock it takes is this file's) and the deadline is kept here.
fn lock_with_timeout(file: &File, wait: Duration) -> Result<(), AppendError> {
    match file.try_lock() {
        Ok(()) => return Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => {}
        Err(std::fs::TryLockError::Error(e)) => return Err(AppendError::Lock(e)),
    }
    let dup = file.try_clone().map_err(AppendError::Lock)?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = dup.lock();
        // Past the deadline nobody listens: the lock is released when `dup` closes here,
        // the caller's descriptor being gone by then.
        let _ = tx.send(r);
    });
    match rx.recv_timeout(wait) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(AppendError::Lock(e)),
        Err(_) => Err(AppendError::LockTimeout(wait)),
    }
}

/// Rotated segments of `log` (`<log>.<first seq>`), oldest first.
pub fn segments(log: &Path) -> std::io::Result<Vec<PathBuf>> {
    let Some(dir) = log.parent() else {
        return Ok(vec![]);
    };
    let prefix = format!("{}.", log.file_name().unwrap_or_default().to_string_lossy());
    let mut out = vec![];
    let entries = match std::fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix(&prefix) {
            if rest.len() == SEGMENT_DIGITS && rest.bytes().all(|b| b.is_ascii_digit()) {
                out.push(log.with_file_name(&name));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The whole chain in order: segments, then the active file if it exists.
pub fn chain_files(log: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = segments(log)?;
    if log.exists() {
        files.push(log.into());
    }
    Ok(files)
}

fn first_seq(path: &Path) -> Result<u64, AppendError> {
    let read = |source: std::io::Error| AppendError::Read {
        path: path.into(),
        source,
    };
    let f = File::open(path).map_err(read)?;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(f), &mut line).map_err(read)?;
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: u64,
    }
    serde_json::from_str::<Seq>(&line)
        .map(|s| s.seq)
        .map_err(|source| AppendError::BadFirst {
            path: path.into(),
            source,
        })
}

/// The complete lines at the end of a log file. The last record is parsed when read (it
/// must parse); the ones before it only when asked, since only a state file that lags
/// needs them and parsing the whole window was a tenth of a hook's time.
#[derive(Debug, Default)]
pub struct TailWindow {
    lines: Vec<Vec<u8>>,
    last: Option<Record>,
    /// Records known beyond the file's lines (an interrupted append finished from the head).
    extra: Vec<Record>,
}

impl TailWindow {
    pub fn last(&self) -> Option<&Record> {
        self.extra.last().or(self.last.as_ref())
    }

    fn push(&mut self, r: Record) {
        self.extra.push(r);
    }

    /// Every complete record in the window, oldest first. A line that does not parse
    /// (the window may begin inside an older, larger record) drops what came before it.
    pub fn records(&self) -> Vec<Record> {
        let mut out = Vec::with_capacity(self.lines.len() + 1 + self.extra.len());
        for line in &self.lines {
            match serde_json::from_slice::<Record>(line) {
                Ok(r) => out.push(r),
                Err(_) => out.clear(),
            }
        }
        out.extend(self.last.iter().cloned());
        out.extend(self.extra.iter().cloned());
        out
    }
}

/// Reads the complete records at the end of the file (at least the last
/// one), refusing a torn tail. Cost depends on the record size, not the log's.
pub fn read_tail_records(file: &mut File, path: &Path) -> Result<Vec<Record>, AppendError> {
    read_tail(file, path).map(|w| w.records())
}

/// [`read_tail_records`] with only the last record parsed.
pub fn read_tail(file: &mut File, path: &Path) -> Result<TailWindow, AppendError> {
    let rerr = |source: std::io::Error| AppendError::Read {
        path: path.into(),
        source,
    };
    let len = file.seek(SeekFrom::End(0)).map_err(rerr)?;
    if len == 0 {
        return Ok(TailWindow::default());
    }
    let mut window = TAIL_WINDOW;
    let (start, buf) = loop {
        let start = len.saturating_sub(window);
        file.seek(SeekFrom::Start(start)).map_err(rerr)?;
        let mut buf = Vec::with_capacity((len - start) as usize);
        file.read_to_end(&mut buf).map_err(rerr)?;
        if buf.last() != Some(&b'\n') {
            return Err(AppendError::TornTail { path: path.into() });
        }
        let body = buf.get(..buf.len() - 1).unwrap_or_default();
        let whole_line = start == 0 || body.contains(&b'\n');
        if whole_line {
            break (start, buf);
        }
        if window >= MAX_TAIL_WINDOW {
            return Err(AppendError::TailTooLong {
                path: path.into(),
                max: MAX_TAIL_WINDOW,
            });
        }
        window *= 4;
    };
    let body = buf.get(..buf.len() - 1).unwrap_or_default();
    let mut lines: Vec<Vec<u8>> = body.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0); // may begin mid-line
    }
    let Some(last_line) = lines.pop() else {
        return Ok(TailWindow::default());
    };
    let last =
        serde_json::from_slice::<Record>(&last_line).map_err(|source| AppendError::BadTail {
            path: path.into(),
            source,
        })?;
    Ok(TailWindow {
        lines,
        last: Some(last),
        extra: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    fn log_with_one() -> (tempfile::TempDir, AuditLog, KeyPair) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::new(dir.path().join("a.jsonl"));
        log.sync = false;
        let key = KeyPair::generate();
        let rec = Draft::event("e", "2026-01-01T00:00:00Z", vec![]);
        log.lock().unwrap().append(rec, &key).unwrap();
        (dir, log, key)
    }

    /// The deepest cause, by walking `source()`.
    fn root<'a>(e: &'a (dyn Error + 'static)) -> &'a (dyn Error + 'static) {
        let mut at = e;
        while let Some(next) = at.source() {
            at = next;
        }
        at
    }

    #[test]
    fn an_unreadable_state_file_carries_the_io_error_as_its_source() {
        let (_dir, log, _) = log_with_one();
        std::fs::remove_file(log.state_path()).unwrap();
        std::fs::create_dir(log.state_path()).unwrap();
        let Err(e) = log.lock() else { panic!("locked") };
        let fault = match &e {
            AppendError::State { fault, .. } => fault,
            _ => panic!("{e}"),
        };
        assert!(matches!(fault, StateFault::Read(_)), "{e}");
        assert!(root(&e).is::<std::io::Error>(), "{e}");
        assert!(e.to_string().contains("rebuild-state"), "{e}");
    }

    #[test]
    fn an_unparseable_head_is_a_finding_whose_cause_is_the_json_error() {
        let (_dir, log, _) = log_with_one();
        std::fs::write(head_path(log.path()), b"[]").unwrap();
        let Err(e) = log.lock() else { panic!("locked") };
        let AppendError::Tampered { finding, .. } = &e else {
            panic!("{e}")
        };
        assert!(matches!(
            finding,
            Finding::HeadInvalid {
                fault: HeadFault::Parse { .. }
            }
        ));
        // Shared (a finding is Clone), the cause is still the parser's own error.
        assert!(
            root(finding).is::<std::sync::Arc<serde_json::Error>>(),
            "{e}"
        );
        assert!(e.to_string().contains("repair --accept-loss"), "{e}");
    }

    #[test]
    fn a_key_that_does_not_sign_this_log_is_named_with_the_logs_signer() {
        let (_dir, log, key) = log_with_one();
        let other = KeyPair::generate();
        let rec = Draft::event("e", "2026-01-01T00:00:01Z", vec![]);
        let Err(e) = log.lock().unwrap().append(rec, &other) else {
            panic!("appended")
        };
        match &e {
            AppendError::KeyNotTheLogs { have, signer } => {
                assert_eq!((have.as_str(), signer.as_str()), (other.kid(), key.kid()));
            }
            _ => panic!("{e}"),
        }
        assert!(e.to_string().contains("rotate-key"), "{e}");
    }

    #[test]
    fn an_unreadable_record_line_is_named_by_file_and_line_with_its_cause() {
        let (_dir, log, _) = log_with_one();
        let mut f = OpenOptions::new().append(true).open(log.path()).unwrap();
        f.write_all(b"{\"seq\":\n").unwrap();
        let err = super::super::query::for_each(&[log.path().into()], |_| {}).unwrap_err();
        assert!(
            matches!(
                err,
                super::super::query::ReadError::NotRecord { line: 2, .. }
            ),
            "{err}"
        );
        assert!(err.source().is_some_and(|s| s.is::<serde_json::Error>()));
    }
}
