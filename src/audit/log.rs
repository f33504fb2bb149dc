//! Appending to the log: O(1) in its size, one write per record, under an
//! exclusive lock with a bounded wait.

use super::record::{Record, GENESIS};
use crate::passport::KeyPair;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long an append waits for the lock before failing closed.
pub const LOCK_WAIT: Duration = Duration::from_secs(3);
/// How far back from the end the previous record is looked for.
const TAIL_WINDOW: u64 = 256 * 1024;

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
}

/// An audit log file.
pub struct AuditLog {
    path: PathBuf,
    /// `sync_data` after each append (default on: a decision not on disk did not happen).
    pub sync: bool,
}

/// Where an appended record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    pub hash: String,
}

impl AuditLog {
    pub fn new(path: impl Into<PathBuf>) -> AuditLog {
        AuditLog {
            path: path.into(),
            sync: true,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open(&self) -> Result<File, AppendError> {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path) {
            if meta.file_type().is_symlink() {
                return Err(AppendError::Symlink(self.path.clone()));
            }
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| AppendError::Open {
                path: self.path.clone(),
                why: e.to_string(),
            })?;
        }
        let mut opts = OpenOptions::new();
        opts.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600).custom_flags(libc_o_nofollow());
        }
        opts.open(&self.path).map_err(|e| AppendError::Open {
            path: self.path.clone(),
            why: e.to_string(),
        })
    }

    /// Appends a record: fills seq, prev_hash, hash and signature from the tail under the lock.
    pub fn append(&self, mut record: Record, key: &KeyPair) -> Result<Appended, AppendError> {
        let mut file = self.open()?;
        lock_with_timeout(&file, LOCK_WAIT)?;
        let result = (|| {
            let tail = read_last_record(&mut file, &self.path)?;
            match &tail {
                Some(last) => {
                    record.seq = last.seq + 1;
                    record.prev_hash = last.hash.clone();
                    if last.kid != key.kid() {
                        record.log_key = Some(key_b64(key));
                    }
                }
                None => {
                    record.seq = 0;
                    record.prev_hash = GENESIS.into();
                    record.log_key = Some(key_b64(key));
                }
            }
            record.kid = key.kid().into();
            record.seal(key);
            let mut line = serde_json::to_vec(&record).expect("a record serialises");
            line.push(b'\n');
            let werr = |e: std::io::Error| AppendError::Write {
                path: self.path.clone(),
                why: e.to_string(),
            };
            file.write_all(&line).map_err(werr)?;
            if self.sync {
                file.sync_data().map_err(werr)?;
            }
            Ok(Appended {
                seq: record.seq,
                hash: record.hash.clone(),
            })
        })();
        let _ = file.unlock();
        result
    }
}

fn key_b64(key: &KeyPair) -> String {
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
    let mut backoff = Duration::from_micros(200);
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
        backoff = (backoff * 2).min(Duration::from_millis(20));
    }
}

/// Reads the last complete record, refusing a torn tail.
pub fn read_last_record(file: &mut File, path: &Path) -> Result<Option<Record>, AppendError> {
    let rerr = |e: std::io::Error| AppendError::BadTail {
        path: path.into(),
        why: e.to_string(),
    };
    let len = file.seek(SeekFrom::End(0)).map_err(rerr)?;
    if len == 0 {
        return Ok(None);
    }
    let start = len.saturating_sub(TAIL_WINDOW);
    file.seek(SeekFrom::Start(start)).map_err(rerr)?;
    let mut buf = Vec::with_capacity((len - start) as usize);
    file.read_to_end(&mut buf).map_err(rerr)?;
    if buf.last() != Some(&b'\n') {
        return Err(AppendError::TornTail { path: path.into() });
    }
    let body = &buf[..buf.len() - 1];
    let line_start = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if line_start == 0 && start > 0 {
        return Err(AppendError::BadTail {
            path: path.into(),
            why: format!("last line is longer than {TAIL_WINDOW} bytes"),
        });
    }
    let rec: Record =
        serde_json::from_slice(&body[line_start..]).map_err(|e| AppendError::BadTail {
            path: path.into(),
            why: e.to_string(),
        })?;
    Ok(Some(rec))
}
