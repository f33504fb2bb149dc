//! The signed head and checkpoints.
//!
//! A hash chain alone cannot show that its last records were cut off. The head,
//! kept beside the log and rewritten under its lock, holds the newest record in
//! full with a signed checkpoint naming it. It is written *before* the record is
//! appended, so it never legitimately lags the log: an append interrupted between
//! the two leaves a head one record ahead, holding the very record the next writer
//! completes. Anything else (a missing head, one behind the log, one further ahead)
//! is tampering, and the gate refuses to append until `toolgate audit repair`.
//!
//! A checkpoint is the part of the head that can leave the machine: log id, seq,
//! record hash, time and key id, signed. Whoever holds one can later prove the log
//! still extends it (`toolgate verify-log --checkpoint`).

use super::record::{Record, RecordFault};
use crate::canonical::jcs;
use crate::passport::keys::kid_for;
use crate::passport::{KeyPair, PublicKey};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Domain separation: a checkpoint signature is never a record's or a passport's.
pub const CHECKPOINT_CONTEXT: &str = "toolgate-audit-checkpoint-v1";
const HEAD_CONTEXT: &str = "toolgate-audit-head-v2";
pub(super) const OLD_HEAD_CONTEXT: &str = "toolgate-audit-head-v1";

/// A signed statement that log `log_id` had record `seq` with `hash` at `ts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub context: String,
    /// The hash of the log's first record (seq 0): which chain this is.
    pub log_id: String,
    pub seq: u64,
    pub hash: String,
    pub ts: String,
    /// The key that signed the checkpoint: one of the log's keys.
    pub kid: String,
    #[serde(default)]
    pub signature: String,
}

impl Checkpoint {
    /// Signs a checkpoint for record `seq`/`hash` of log `log_id`.
    pub fn sign(log_id: &str, seq: u64, hash: &str, ts: &str, key: &KeyPair) -> Checkpoint {
        let mut c = Checkpoint {
            context: CHECKPOINT_CONTEXT.into(),
            log_id: log_id.into(),
            seq,
            hash: hash.into(),
            ts: ts.into(),
            kid: key.kid().into(),
            signature: String::new(),
        };
        c.signature = key.sign_oap(&c.signed_bytes());
        c
    }

    /// The checkpoint of `record` in log `log_id`.
    pub fn of(log_id: &str, record: &Record, key: &KeyPair) -> Checkpoint {
        Checkpoint::sign(log_id, record.seq, &record.hash, &record.ts, key)
    }

    fn signed_bytes(&self) -> Vec<u8> {
        let mut v = crate::canonical::to_value(self);
        if let Some(m) = v.as_object_mut() {
            m.remove("signature");
        }
        jcs(&v)
    }

    /// Whether `key` signed this checkpoint.
    pub fn verify(&self, key: &PublicKey) -> bool {
        self.context == CHECKPOINT_CONTEXT
            && self.kid == key.kid
            && key.verify_oap(&self.signed_bytes(), &self.signature)
    }

    /// The checkpoints in a witness's file: one JSON checkpoint, a JSON array of them, or
    /// JSON lines, each a checkpoint or a document carrying one under `checkpoint`
    /// (an exported OCSF event keeps it at `unmapped.checkpoint`).
    pub fn parse_file(text: &str) -> Result<Vec<Checkpoint>, CheckpointFileError> {
        fn find(v: &serde_json::Value) -> Option<&serde_json::Value> {
            if v.get("context").is_some() {
                return Some(v);
            }
            v.get("checkpoint")
                .or_else(|| v.get("unmapped").and_then(|u| u.get("checkpoint")))
        }
        let one = |v: &serde_json::Value| -> Result<Checkpoint, CheckpointFileError> {
            let c = find(v).ok_or(CheckpointFileError::NoCheckpoint)?;
            serde_json::from_value(c.clone()).map_err(CheckpointFileError::NotCheckpoint)
        };
        let trimmed = text.trim();
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(trimmed) {
            return match &v {
                serde_json::Value::Array(items) => items.iter().map(one).collect(),
                _ => one(&v).map(|c| vec![c]),
            };
        }
        trimmed
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                let at = |source| CheckpointFileError::Line {
                    line: i + 1,
                    source: Box::new(source),
                };
                let json = match l.strip_prefix("CEF:") {
                    Some(_) => {
                        cef_checkpoint(l).ok_or(at(CheckpointFileError::CefWithoutCheckpoint))?
                    }
                    None => l.to_string(),
                };
                let v: serde_json::Value =
                    serde_json::from_str(&json).map_err(|e| at(CheckpointFileError::NotJson(e)))?;
                one(&v).map_err(at)
            })
            .collect()
    }
}

/// Why a witness's checkpoint file could not be read as checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointFileError {
    #[error("no checkpoint in this JSON document")]
    NoCheckpoint,
    #[error("not a checkpoint: {0}")]
    NotCheckpoint(#[source] serde_json::Error),
    #[error("not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("a CEF line without flexString1")]
    CefWithoutCheckpoint,
    #[error("line {line}: {source}")]
    Line {
        line: usize,
        #[source]
        source: Box<CheckpointFileError>,
    },
}

/// The checkpoint JSON in a CEF line's `flexString1` (compact JSON has no spaces), unescaped.
fn cef_checkpoint(line: &str) -> Option<String> {
    let start = line.find(" flexString1=")? + " flexString1=".len();
    let value = line[start..].split(' ').next()?;
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// The head file: the newest record in full, its signer's key and a signed checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    pub context: String,
    pub checkpoint: Checkpoint,
    /// The signer's public key (base64url); its key id is the record's `kid`.
    pub key: String,
    pub record: Record,
}

/// `<log>.head`.
pub fn head_path(log: &Path) -> PathBuf {
    sibling(log, "head")
}

/// `<log>.<suffix>`.
pub fn sibling(log: &Path, suffix: &str) -> PathBuf {
    let mut name = log.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    log.with_file_name(name)
}

/// Why a key in the base64url form records carry is not one a log may be signed with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KeyFault {
    #[error("key is not base64url: {0}")]
    Base64(#[source] base64::DecodeError),
    #[error("key is {0} bytes, not 32")]
    Length(usize),
    #[error("key is invalid: {0}")]
    Point(#[source] Arc<ed25519_dalek::SignatureError>),
    #[error("key is a weak (small-order) key")]
    Weak,
}

/// A public key from the base64url form records carry.
pub fn public_from_b64(b64: &str) -> Result<PublicKey, KeyFault> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(KeyFault::Base64)?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| KeyFault::Length(b.len()))?;
    let key =
        ed25519_dalek::VerifyingKey::from_bytes(&arr).map_err(|e| KeyFault::Point(Arc::new(e)))?;
    if key.is_weak() {
        return Err(KeyFault::Weak);
    }
    Ok(PublicKey {
        kid: kid_for(&key),
        key,
    })
}

/// Why a head file is not one a writer wrote for this log. Clone (the causes shared)
/// because a writer's finding is kept and recorded by a repair.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HeadFault {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: Arc<serde_json::Error>,
    },
    #[error(
        "{path}: a head in the older format ({OLD_HEAD_CONTEXT}), which does not hold its record"
    )]
    OldFormat { path: PathBuf },
    #[error("the head's {0}")]
    Key(#[source] KeyFault),
    #[error("the head's record (seq {seq}): {fault}")]
    Record {
        seq: u64,
        #[source]
        fault: RecordFault,
    },
    #[error("the head's checkpoint names seq {checkpoint_seq} but its record is seq {record_seq}")]
    CheckpointNamesOther {
        checkpoint_seq: u64,
        record_seq: u64,
    },
    #[error("{path}: not a head file: its {bytes} bytes are not the two slots its header names")]
    Layout { path: PathBuf, bytes: u64 },
    #[error("the head's checkpoint signature does not verify")]
    CheckpointSignature,
    #[error("its log id is not the hash of the log's first record")]
    LogId,
    #[error("it holds another record for seq {seq} than the log does (the log was rewritten)")]
    OtherRecord { seq: u64 },
    #[error("its record (seq {seq}) is signed by {kid}, which may not sign after seq {after}")]
    Signer { seq: u64, kid: String, after: u64 },
}

impl Head {
    /// The head for `record` (already sealed) of log `log_id`.
    pub fn new(log_id: &str, record: &Record, key: &KeyPair) -> Head {
        Head {
            context: HEAD_CONTEXT.into(),
            checkpoint: Checkpoint::of(log_id, record, key),
            key: super::log::key_b64(key),
            record: record.clone(),
        }
    }

    /// Whether the head is what a writer wrote: its key has the record's key id, the
    /// record hashes and is signed by it, and the checkpoint names the record and is
    /// signed by it too. Returns the key. (Which key may sign the log is the chain's
    /// business; this only shows the head was not assembled from parts.)
    pub fn check(&self) -> Result<PublicKey, HeadFault> {
        let key = public_from_b64(&self.key).map_err(HeadFault::Key)?;
        self.record.check(&key).map_err(|fault| HeadFault::Record {
            seq: self.record.seq,
            fault,
        })?;
        let c = &self.checkpoint;
        if c.seq != self.record.seq || c.hash != self.record.hash {
            return Err(HeadFault::CheckpointNamesOther {
                checkpoint_seq: c.seq,
                record_seq: self.record.seq,
            });
        }
        if !c.verify(&key) {
            return Err(HeadFault::CheckpointSignature);
        }
        Ok(key)
    }

    /// Reads the newest head of a head file (docs/audit.md, "The head file"); `Ok(None)`
    /// when there is none. Only a regular file is read, and only up to a size no head
    /// file reaches.
    pub fn load(path: &Path) -> Result<Option<Head>, HeadFault> {
        Ok(super::head_file::load(path)?.map(|r| r.head))
    }

    /// The bytes a head file holds for this head (one line).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = crate::canonical::to_vec(self);
        bytes.push(b'\n');
        bytes
    }

    /// Replaces the head file by one holding only this head, unsealed (a temporary file
    /// and a rename).
    pub fn store(&self, path: &Path) -> std::io::Result<()> {
        super::head_file::store(path, &self.to_bytes(), None)
    }
}

/// Reads `path` if it is a regular file no larger than `max` bytes: a FIFO, a device
/// or a symlink put in its place is refused without blocking on it.
pub fn read_regular(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let f = opts.open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if meta.len() > max {
        return Err(std::io::Error::other(format!(
            "{} bytes is more than the {max} allowed",
            meta.len()
        )));
    }
    let mut out = Vec::with_capacity(meta.len() as usize);
    f.take(max + 1).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(std::io::Error::other("grew past its size limit while read"));
    }
    Ok(out)
}

/// Writes `bytes` to `path` through a 0600 temporary file and a rename, so a
/// reader sees the old or the new content, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = sibling(path, "tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    drop(f);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_bad_checkpoint_line_keeps_its_line_and_its_json_error() {
        let e = Checkpoint::parse_file("{\"checkpoint\": 1}\nnot json").unwrap_err();
        assert!(e.to_string().starts_with("line 1: "), "{e}");
        let inner = e.source().expect("the line's own error");
        fn line_error(e: &(dyn std::error::Error + 'static)) -> Option<String> {
            e.downcast_ref::<Box<CheckpointFileError>>()
                .map(|b| format!("{b:?}"))
        }
        assert!(line_error(inner).is_some_and(|d| d.starts_with("NotCheckpoint")));
        assert!(inner
            .source()
            .and_then(|s| s.downcast_ref::<serde_json::Error>())
            .is_some());
        let e = Checkpoint::parse_file("{\"x\": 1}\n{\"y\": 2}").unwrap_err();
        assert_eq!(
            e.source().and_then(line_error).as_deref(),
            Some("NoCheckpoint")
        );
    }
}
