//! The signed head: the last record's seq and hash, kept beside the log and
//! rewritten under the log's lock. A hash chain alone cannot show that its
//! last records were cut off; a head that names a record the log no longer
//! has can.

use crate::canonical::jcs;
use crate::passport::{KeyPair, PublicKey};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Domain separation: a head signature can never be mistaken for a record's.
const CONTEXT: &str = "toolgate-audit-head-v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    pub context: String,
    pub seq: u64,
    pub hash: String,
    pub kid: String,
    pub ts: String,
    #[serde(default)]
    pub signature: String,
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

impl Head {
    pub fn new(seq: u64, hash: &str, ts: &str, key: &KeyPair) -> Head {
        let mut h = Head {
            context: CONTEXT.into(),
            seq,
            hash: hash.into(),
            kid: key.kid().into(),
            ts: ts.into(),
            signature: String::new(),
        };
        h.signature = key.sign_oap(&h.signed_bytes());
        h
    }

    fn signed_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_value(self).expect("a head serialises");
        if let Some(m) = v.as_object_mut() {
            m.remove("signature");
        }
        jcs(&v)
    }

    /// Whether `key` signed this head.
    pub fn verify(&self, key: &PublicKey) -> bool {
        self.context == CONTEXT
            && self.kid == key.kid
            && key.verify_oap(&self.signed_bytes(), &self.signature)
    }

    /// Reads a head; `Ok(None)` when there is none.
    pub fn load(path: &Path) -> Result<Option<Head>, String> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Replaces the head atomically (write a temporary file, rename).
    pub fn store(&self, path: &Path) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec(self).expect("a head serialises");
        bytes.push(b'\n');
        write_atomic(path, &bytes)
    }
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
