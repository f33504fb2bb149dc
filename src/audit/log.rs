//! Appending to the log: O(1) in its size, one write per record, under an
//! exclusive lock with a bounded wait. The same lock covers the signed head
//! and the state file, so a decision, its record and its effect on later
//! limits are one step that concurrent hooks cannot interleave.

use super::head::{head_path, sibling, write_atomic, Head};
use super::record::{Record, GENESIS};
use crate::passport::KeyPair;
use crate::state::StateFile;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
    #[error("cannot open audit log {path}: {why}")]
    Open { path: PathBuf, why: String },
    #[error("audit log {0} is a symlink; refusing to follow it")]
    Symlink(PathBuf),
    #[error("timed out after {0:?} waiting for the audit log lock")]
    LockTimeout(Duration),
    #[error(
        "audit log {path} ends with an incomplete record (torn write); run `toolgate audit repair`"
    )]
    TornTail { path: PathBuf },
    #[error("audit log {path}: the last record is unreadable: {why}")]
    BadTail { path: PathBuf, why: String },
    #[error("cannot write audit log {path}: {why}")]
    Write { path: PathBuf, why: String },
    #[error("audit log {path} does not match its signed head: {why}; run `toolgate verify-log`")]
    Head { path: PathBuf, why: String },
    #[error("audit state {path}: {why}; run `toolgate audit rebuild-state`")]
    State { path: PathBuf, why: String },
    #[error("the evaluator key {have} may not sign this log: {why}")]
    Key { have: String, why: String },
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
}

/// Where an appended record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    pub hash: String,
}

/// The log held under its lock: the last record, the head and the state as
/// they are now. Dropping it releases the lock.
pub struct Locked<'a> {
    log: &'a AuditLog,
    lock: File,
    /// The last record of the chain (in the active file or, right after a
    /// rotation, the newest segment).
    pub tail: Option<Record>,
    pub state: StateFile,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let _ = self.lock.unlock();
    }
}

impl AuditLog {
    pub fn new(path: impl Into<PathBuf>) -> AuditLog {
        AuditLog {
            path: path.into(),
            sync: true,
            rotation: Rotation::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn state_path(&self) -> PathBuf {
        sibling(&self.path, "state")
    }

    fn open_err(&self, e: impl ToString) -> AppendError {
        AppendError::Open {
            path: self.path.clone(),
            why: e.to_string(),
        }
    }

    fn write_err(&self, e: impl ToString) -> AppendError {
        AppendError::Write {
            path: self.path.clone(),
            why: e.to_string(),
        }
    }

    /// Opens `path` for appending: created 0600, never through a symlink.
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
            opts.mode(0o600).custom_flags(libc_o_nofollow());
        }
        opts.open(path).map_err(|e| AppendError::Open {
            path: path.into(),
            why: e.to_string(),
        })
    }

    /// Takes the lock only: for repair, which must not read the tail first.
    fn lock_file(&self) -> Result<File, AppendError> {
        let lock = self.open_file(&sibling(&self.path, "lock"))?;
        lock_with_timeout(&lock, LOCK_WAIT)?;
        Ok(lock)
    }

    /// Takes the lock and reads the tail, the head and the state, refusing
    /// anything inconsistent (torn tail, a head past the end, a state file
    /// from elsewhere) rather than chaining onto it.
    pub fn lock(&self) -> Result<Locked<'_>, AppendError> {
        let lock = self.lock_file()?;
        let (tail, window) = self.read_chain_tail()?;
        let head = Head::load(&head_path(&self.path)).map_err(|why| AppendError::Head {
            path: self.path.clone(),
            why,
        })?;
        check_head(&self.path, head.as_ref(), tail.as_ref())?;
        let state = self.load_state(tail.as_ref(), &window)?;
        Ok(Locked {
            log: self,
            lock,
            tail,
            state,
        })
    }

    /// The chain's last record and the complete records read with it.
    fn read_chain_tail(&self) -> Result<(Option<Record>, Vec<Record>), AppendError> {
        let mut file = self.open_file(&self.path)?;
        let window = read_tail_records(&mut file, &self.path)?;
        if let Some(last) = window.last() {
            return Ok((Some(last.clone()), window));
        }
        match segments(&self.path).map_err(|e| self.open_err(e))?.last() {
            Some(seg) => {
                let mut f = File::open(seg).map_err(|e| self.open_err(e))?;
                let window = read_tail_records(&mut f, seg)?;
                Ok((window.last().cloned(), window))
            }
            None => Ok((None, vec![])),
        }
    }

    fn load_state(
        &self,
        tail: Option<&Record>,
        window: &[Record],
    ) -> Result<StateFile, AppendError> {
        let path = self.state_path();
        let err = |why: String| AppendError::State {
            path: path.clone(),
            why,
        };
        let mut state: StateFile = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| err(e.to_string()))?,
            // Rebuilt below from the records in view if they reach back to seq 0 (a
            // writer died before its first state write); otherwise refused.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StateFile::default(),
            Err(e) => return Err(err(e.to_string())),
        };
        let Some(tail) = tail else {
            return match state.seq {
                None => Ok(state),
                Some(s) => Err(err(format!("reflects seq {s} but the log is empty"))),
            };
        };
        if state.seq == Some(tail.seq) {
            return if state.hash == tail.hash {
                Ok(state)
            } else {
                Err(err(format!(
                    "belongs to another log (hash at seq {} differs)",
                    tail.seq
                )))
            };
        }
        if state.seq.is_some_and(|s| s > tail.seq) {
            return Err(err(format!("is ahead of the log (seq {})", tail.seq)));
        }
        // A writer died after its record and before the state: fold in the records since.
        let from = state.seq.map_or(0, |s| s + 1);
        let missing: Vec<&Record> = window.iter().filter(|r| r.seq >= from).collect();
        if missing.first().map(|r| r.seq) != Some(from) {
            return Err(err(match state.seq {
                Some(s) => format!("is behind the log (at seq {s})"),
                None => "is missing while the log has records".into(),
            }));
        }
        if let Some(s) = state.seq {
            let anchor = window.iter().find(|r| r.seq == s);
            if anchor.is_some_and(|r| r.hash != state.hash) {
                return Err(err(format!(
                    "belongs to another log (hash at seq {s} differs)"
                )));
            }
        }
        for r in missing {
            state.apply(r.decided());
        }
        Ok(state)
    }

    /// Moves a torn last line aside and records that it did. Complete records
    /// are never touched. Returns where the torn bytes went, if there were any.
    pub fn repair(&self, key: &KeyPair, ts: &str) -> Result<Option<(PathBuf, usize)>, AppendError> {
        let lock = self.lock_file()?;
        let mut file = self.open_file(&self.path)?;
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0))
            .map_err(|e| self.open_err(e))?;
        file.read_to_end(&mut bytes).map_err(|e| self.open_err(e))?;
        let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let torn = &bytes[keep..];
        let moved = if torn.is_empty() {
            None
        } else {
            let aside = sibling(
                &self.path,
                &format!("torn-{}-{}", ts.replace(':', ""), keep),
            );
            write_atomic(&aside, torn).map_err(|e| self.write_err(e))?;
            file.set_len(keep as u64).map_err(|e| self.write_err(e))?;
            file.sync_all().map_err(|e| self.write_err(e))?;
            Some((aside, torn.len()))
        };
        drop(file);
        let _ = lock.unlock();
        drop(lock);
        let Some((aside, n)) = moved else {
            return Ok(None);
        };
        let mut locked = self.lock()?;
        let rec = Record::event(
            "audit.repair",
            ts,
            vec![format!(
                "moved {n} torn bytes at offset {keep} to {}; digest {}",
                aside.display(),
                crate::canonical::digest(&serde_json::Value::String(
                    String::from_utf8_lossy(torn).into_owned()
                ))
            )],
        );
        locked.append(rec, key)?;
        Ok(Some((aside, n)))
    }
}

impl AuditLog {
    /// Rebuilds the state file by folding every record of the chain in
    /// order: the same fold the live append uses.
    pub fn rebuild_state(&self) -> Result<StateFile, AppendError> {
        let lock = self.lock_file()?;
        let files = chain_files(&self.path).map_err(|e| self.open_err(e))?;
        let mut state = StateFile::default();
        super::query::for_each(&files, |r| state.apply(r.decided()))
            .map_err(|e| self.open_err(e))?;
        let bytes = serde_json::to_vec(&state).expect("a state serialises");
        write_atomic(&self.state_path(), &bytes).map_err(|e| self.write_err(e))?;
        let _ = lock.unlock();
        Ok(state)
    }
}

impl Locked<'_> {
    /// Hands the log to a new key: the rotation record is signed by the
    /// current key and names the new one, which must sign every later record.
    pub fn rotate_key(
        &mut self,
        old: &KeyPair,
        new: &KeyPair,
        ts: &str,
    ) -> Result<Appended, AppendError> {
        let mut rec = Record::event(
            "audit.key_rotation",
            ts,
            vec![format!("from {} to {}", old.kid(), new.kid())],
        );
        rec.next_key = Some(key_b64(new));
        self.append(rec, old)
    }

    /// Appends a record: fills seq, prev_hash, kid, hash and signature from
    /// the tail, then folds it into the state and re-signs the head. The
    /// record is on disk (synced) before either; both are rebuilt from the log
    /// if a crash leaves them behind.
    pub fn append(&mut self, mut record: Record, key: &KeyPair) -> Result<Appended, AppendError> {
        let log = self.log;
        let kb64 = key_b64(key);
        record.log_key = None;
        match &self.tail {
            Some(last) => {
                match &last.next_key {
                    Some(next) if *next != kb64 => {
                        return Err(AppendError::Key {
                            have: key.kid().into(),
                            why: format!("seq {} rotated the log to another key", last.seq),
                        })
                    }
                    Some(_) => record.log_key = Some(kb64.clone()),
                    None if last.kid != key.kid() => {
                        return Err(AppendError::Key {
                            have: key.kid().into(),
                            why: format!(
                                "the log is signed by {}; rotate with `toolgate audit rotate-key`",
                                last.kid
                            ),
                        })
                    }
                    None => {}
                }
                record.seq = last.seq + 1;
                record.prev_hash = last.hash.clone();
            }
            None => {
                record.seq = 0;
                record.prev_hash = GENESIS.into();
            }
        }
        if self.rotate_if_due(&record.ts)? || self.tail.is_none() {
            record.log_key = Some(kb64);
        }
        record.kid = key.kid().into();
        record.seal(key);
        let mut line = serde_json::to_vec(&record).expect("a record serialises");
        line.push(b'\n');
        let mut file = log.open_file(&log.path)?;
        let before = file.metadata().map_err(|e| log.write_err(e))?.len();
        let written =
            file.write_all(&line)
                .and_then(|()| if log.sync { file.sync_data() } else { Ok(()) });
        if let Err(e) = written {
            // A partial line (disk full) is taken back while we still hold the lock.
            let _ = file.set_len(before);
            return Err(log.write_err(e));
        }
        self.state.apply(record.decided());
        let appended = Appended {
            seq: record.seq,
            hash: record.hash.clone(),
        };
        // Best effort: a lagging state is caught up from the log, a lagging head only weakens
        // truncation evidence by the records since, until the next append.
        if let Ok(bytes) = serde_json::to_vec(&self.state) {
            let _ = write_atomic(&log.state_path(), &bytes);
        }
        let _ = Head::new(record.seq, &record.hash, &record.ts, key).store(&head_path(&log.path));
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
            return Err(log.write_err(format!("segment {} already exists", seg.display())));
        }
        std::fs::rename(&log.path, &seg).map_err(|e| log.write_err(e))?;
        Ok(true)
    }
}

impl Record {
    /// A record about the log itself (repair, key rotation), not a tool call.
    pub fn event(event: &str, ts: &str, notes: Vec<String>) -> Record {
        Record {
            seq: 0,
            ts: ts.into(),
            decision_id: uuid::Uuid::new_v4().to_string(),
            agent_id: None,
            on_behalf_of: None,
            host: "toolgate".into(),
            session_id: None,
            tool_use_id: None,
            tool: event.into(),
            policy_id: "none".into(),
            passport_id: None,
            passport_version: None,
            passport_digest: None,
            input_digest: crate::canonical::digest(&serde_json::Value::Null),
            input: None,
            allow: true,
            verdict: "allow".into(),
            reasons: vec![],
            deciding_check: None,
            kid: String::new(),
            log_key: None,
            event: Some(event.into()),
            state_changes: vec![],
            next_key: None,
            notes,
            prev_hash: String::new(),
            hash: String::new(),
            signature: String::new(),
        }
    }
}

fn check_head(path: &Path, head: Option<&Head>, tail: Option<&Record>) -> Result<(), AppendError> {
    let Some(head) = head else { return Ok(()) };
    let err = |why: String| AppendError::Head {
        path: path.into(),
        why,
    };
    match tail {
        None => Err(err(format!(
            "the head names seq {} but the log is empty",
            head.seq
        ))),
        Some(t) if head.seq > t.seq => Err(err(format!(
            "the head names seq {} but the log ends at seq {}",
            head.seq, t.seq
        ))),
        Some(t) if head.seq == t.seq && head.hash != t.hash => {
            Err(err(format!("seq {} has another hash than the head", t.seq)))
        }
        Some(_) => Ok(()),
    }
}

/// The public key as records carry it: base64url of the 32 bytes.
pub fn key_b64(key: &KeyPair) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.public().key.as_bytes())
}

#[cfg(unix)]
fn libc_o_nofollow() -> i32 {
    // O_NOFOLLOW on Linux; the symlink_metadata check above covers other unixes.
    if cfg!(target_os = "linux") {
        0o400000
    } else {
        0
    }
}

fn lock_with_timeout(file: &File, wait: Duration) -> Result<(), AppendError> {
    let start = Instant::now();
    let mut backoff = Duration::from_micros(100);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(_)) => {}
        }
        if start.elapsed() >= wait {
            return Err(AppendError::LockTimeout(wait));
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_millis(5));
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
    let bad = |why: String| AppendError::BadTail {
        path: path.into(),
        why,
    };
    let f = File::open(path).map_err(|e| bad(e.to_string()))?;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(f), &mut line)
        .map_err(|e| bad(e.to_string()))?;
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: u64,
    }
    serde_json::from_str::<Seq>(&line)
        .map(|s| s.seq)
        .map_err(|e| bad(format!("first record: {e}")))
}

/// Reads the complete records at the end of the file (at least the last
/// one), refusing a torn tail. Cost depends on the record size, not the log's.
pub fn read_tail_records(file: &mut File, path: &Path) -> Result<Vec<Record>, AppendError> {
    let rerr = |e: std::io::Error| AppendError::BadTail {
        path: path.into(),
        why: e.to_string(),
    };
    let len = file.seek(SeekFrom::End(0)).map_err(rerr)?;
    if len == 0 {
        return Ok(vec![]);
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
        let whole_line = start == 0 || buf[..buf.len() - 1].contains(&b'\n');
        if whole_line {
            break (start, buf);
        }
        if window >= MAX_TAIL_WINDOW {
            return Err(AppendError::BadTail {
                path: path.into(),
                why: format!("last line is longer than {MAX_TAIL_WINDOW} bytes"),
            });
        }
        window *= 4;
    };
    let body = &buf[..buf.len() - 1];
    let mut lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    if start > 0 {
        lines.remove(0); // may begin mid-line
    }
    let last = lines.len() - 1;
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.into_iter().enumerate() {
        match serde_json::from_slice::<Record>(line) {
            Ok(r) => out.push(r),
            // Only the last record must parse; older ones just extend state catch-up.
            Err(e) if i == last => {
                return Err(AppendError::BadTail {
                    path: path.into(),
                    why: e.to_string(),
                })
            }
            Err(_) => out.clear(),
        }
    }
    Ok(out)
}
