//! A machine-local MAC key for toolgate's own derived caches.
//!
//! Some facts are expensive to prove on every call (an Ed25519 signature over a status
//! document of a thousand passports) and cheap to remember once proven. A cache of such
//! a fact counts only if it carries an HMAC-SHA256 tag under this key: the tag proves
//! that a toolgate process holding the key wrote exactly these bytes after proving the
//! fact, so a damaged, truncated or hand-edited cache is refused instead of believed.
//! The key is 32 random bytes in a 0600 file inside toolgate's protected config root;
//! what that does and does not defend against is written in docs/fleet.md.

use crate::canonical::{hmac_sha256, hmac_sha256_matches};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand_core::{OsRng, RngCore};
use std::io::Write;
use std::path::{Path, PathBuf};

const KEY_LEN: usize = 32;

/// Why the key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(transparent)]
    Read(#[from] crate::regular::RegularError),
    #[error("{} is not a toolgate cache key ({KEY_LEN} bytes); delete it and the caches it keys are rebuilt", path.display())]
    Format { path: PathBuf },
    #[error("cannot create the cache key {}: {source}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The key; its bytes never leave this type.
pub struct MacKey([u8; KEY_LEN]);

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKey(..)")
    }
}

impl MacKey {
    /// Reads the key file (a regular file of exactly 32 bytes).
    pub fn load(path: &Path) -> Result<MacKey, SealError> {
        let bytes = crate::regular::read(path, KEY_LEN as u64)?;
        let key: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| SealError::Format { path: path.into() })?;
        Ok(MacKey(key))
    }

    /// Reads the key, creating it first if absent. The file appears whole or not at all
    /// (written beside it, then hard-linked, which fails if another process won the race).
    pub fn load_or_create(path: &Path) -> Result<MacKey, SealError> {
        match MacKey::load(path) {
            Err(SealError::Read(e)) if e.is_not_found() => {}
            other => return other,
        }
        let create = |source| SealError::Create {
            path: path.into(),
            source,
        };
        let mut bytes = [0u8; KEY_LEN];
        OsRng.fill_bytes(&mut bytes);
        let tmp = path.with_extension(format!("new-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let written = opts
            .open(&tmp)
            .and_then(|mut f| f.write_all(&bytes).and_then(|()| f.sync_all()));
        let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(MacKey(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => MacKey::load(path),
            Err(e) => Err(create(e)),
        }
    }

    /// The tag over `parts` in `domain` (each part length-prefixed, so no two lists of
    /// parts share a message).
    pub fn tag(&self, domain: &str, parts: &[&[u8]]) -> String {
        URL_SAFE_NO_PAD.encode(hmac_sha256(&self.0, &message(domain, parts)))
    }

    /// Whether `tag` is this key's tag over `parts` (compared in constant time).
    pub fn verify(&self, domain: &str, parts: &[&[u8]], tag: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(tag)
            .is_ok_and(|t| hmac_sha256_matches(&self.0, &message(domain, parts), &t))
    }
}

fn message(domain: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut msg =
        Vec::with_capacity(8 + domain.len() + parts.iter().map(|p| p.len() + 8).sum::<usize>());
    for p in std::iter::once(domain.as_bytes()).chain(parts.iter().copied()) {
        msg.extend_from_slice(&(p.len() as u64).to_be_bytes());
        msg.extend_from_slice(p);
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_binds_key_domain_and_every_part() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.key");
        let k = MacKey::load_or_create(&path).unwrap();
        let again = MacKey::load_or_create(&path).unwrap();
        let t = k.tag("d", &[b"ab", b"c"]);
        assert!(again.verify("d", &[b"ab", b"c"], &t));
        assert!(!k.verify("e", &[b"ab", b"c"], &t));
        // Moving a byte between parts changes the message.
        assert!(!k.verify("d", &[b"a", b"bc"], &t));
        assert!(!k.verify("d", &[b"ab", b"d"], &t));
        assert!(!k.verify("d", &[b"ab", b"c"], "not base64!"));
        let other = dir.path().join("other.key");
        assert!(!MacKey::load_or_create(&other)
            .unwrap()
            .verify("d", &[b"ab", b"c"], &t));
        std::fs::write(&path, b"short").unwrap();
        assert!(matches!(MacKey::load(&path), Err(SealError::Format { .. })));
    }

    /// Tags written before the MAC moved from ring to the hmac crate stay valid: RFC 4231's
    /// vector, the same MACs as ring for keys and messages of every length around SHA-256's
    /// 64-byte block, and the same cache tags under a cache key.
    #[test]
    fn tags_are_rfc_4231_hmac_sha256_as_ring_computes_them() {
        assert_eq!(
            crate::canonical::hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        for key_len in [0, 1, 32, 63, 64, 65, 131] {
            for msg_len in [0, 55, 56, 64, 1000] {
                let key: Vec<u8> = (0..key_len).map(|i| (i * 7 + 1) as u8).collect();
                let msg: Vec<u8> = (0..msg_len).map(|i| (i * 13 + 5) as u8).collect();
                let ours = hmac_sha256(&key, &msg);
                let rk = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
                let theirs = ring::hmac::sign(&rk, &msg);
                assert_eq!(ours.as_slice(), theirs.as_ref(), "{key_len}/{msg_len}");
                assert!(hmac_sha256_matches(&key, &msg, &ours));
                let mut off = ours;
                off[31] ^= 1;
                assert!(!hmac_sha256_matches(&key, &msg, &off));
            }
        }
        let key = [7u8; KEY_LEN];
        let rk = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
        let theirs = ring::hmac::sign(&rk, &message("d", &[b"ab", b"c"]));
        let tag = MacKey(key).tag("d", &[b"ab", b"c"]);
        assert_eq!(tag, URL_SAFE_NO_PAD.encode(theirs.as_ref()));
        assert!(MacKey(key).verify("d", &[b"ab", b"c"], &tag));
    }
}
