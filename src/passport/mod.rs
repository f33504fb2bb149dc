//! Passports: the OAP model, detached Ed25519 signatures, and issuer keys.
//!
//! A passport on disk is `NAME.json` (the OAP document, schema-valid as is)
//! with `NAME.json.sig` beside it. The signature covers the JCS bytes of the
//! whole passport, so every byte of meaning is signed and the document itself
//! needs no extra field.

pub mod keys;
pub mod model;
pub mod rollout;

pub use keys::{KeyPair, PublicKey, TrustStore};
pub use model::{AssuranceLevel, Passport, PassportInvalid, Status};

use crate::canonical::{self, jcs, parse_strict};
use crate::reason::ReasonCode;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The detached signature file's content.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SignatureEnvelope {
    /// Always `EdDSA` (Ed25519).
    pub alg: String,
    /// The signer's key id.
    pub kid: String,
    /// `sha256:` digest of the passport's JCS bytes, for people and logs.
    pub passport_digest: String,
    /// `ed25519:<base64>` over the passport's JCS bytes.
    pub signature: String,
    pub signed_at: String,
}

/// Why a passport cannot be used. Each maps to its own reason code.
#[derive(Debug, thiserror::Error)]
pub enum PassportError {
    #[error("no passport at {0}")]
    NotFound(PathBuf),
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{path} is not a valid OAP passport: {source}")]
    Invalid {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{0} has no signature file {0}.sig; sign it with `toolgate passport sign`")]
    Unsigned(PathBuf),
    /// The signature file is not a signature envelope (not strict JSON, or not its shape).
    #[error(
        "the signature of {path} does not verify: {sig} is not a signature envelope: {source}"
    )]
    BadEnvelope {
        path: PathBuf,
        sig: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The envelope was read, and what it says is refused (an algorithm other than
    /// EdDSA, a signature that does not verify).
    #[error("the signature of {path} does not verify: {problem}")]
    BadSignature { path: PathBuf, problem: String },
    #[error("{path} is signed by {kid}, which is not in the trust store; add the issuer with `toolgate trust add`")]
    Untrusted { path: PathBuf, kid: String },
    #[error("{path} is for owner `{owner}`, but its signer {kid} may sign only for {allowed}; re-sign it with that owner's issuer key, or bind the key with `toolgate trust add --owner`")]
    WrongOwner {
        path: PathBuf,
        kid: String,
        owner: String,
        allowed: String,
    },
}

impl PassportError {
    pub fn code(&self) -> ReasonCode {
        match self {
            PassportError::NotFound(_) => ReasonCode::PassportNotFound,
            PassportError::Unreadable { .. } => ReasonCode::PassportNotFound,
            PassportError::Invalid { .. } => ReasonCode::PassportInvalid,
            PassportError::Unsigned(_) => ReasonCode::PassportUnsigned,
            PassportError::BadSignature { .. } | PassportError::BadEnvelope { .. } => {
                ReasonCode::SignatureInvalid
            }
            PassportError::Untrusted { .. } | PassportError::WrongOwner { .. } => {
                ReasonCode::PassportUntrusted
            }
        }
    }
}

/// A passport whose signature verified against a trusted key. Its fields are
/// private and only [`load_verified`] builds one, so holding a value is proof
/// that the check ran (as a verified certificate type is in a TLS library).
#[derive(Debug, Clone)]
pub struct VerifiedPassport {
    passport: Passport,
    /// `sha256:` of the passport's JCS bytes.
    digest: String,
    signer_kid: String,
    signed_at: String,
    path: PathBuf,
}

impl VerifiedPassport {
    pub fn passport(&self) -> &Passport {
        &self.passport
    }

    /// `sha256:` of the passport's JCS bytes (the bytes the signature covers).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The trusted key that signed it.
    pub fn signer_kid(&self) -> &str {
        &self.signer_kid
    }

    pub fn signed_at(&self) -> &str {
        &self.signed_at
    }

    /// Where it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Path of the detached signature for a passport file.
pub fn signature_path(passport: &Path) -> PathBuf {
    let mut s = passport.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

/// Reads a passport or signature: a regular file of bounded size, never a FIFO or device.
fn read(path: &Path) -> Result<Vec<u8>, PassportError> {
    crate::regular::read(path, crate::regular::DOC_CAP).map_err(|e| {
        if e.is_not_found() {
            PassportError::NotFound(path.into())
        } else {
            PassportError::Unreadable {
                path: path.into(),
                source: Box::new(e),
            }
        }
    })
}

/// Reads a passport without checking its signature (for `passport sign`).
pub fn load_unsigned(path: &Path) -> Result<(Passport, serde_json::Value), PassportError> {
    let bytes = read(path)?;
    let value = parse_strict(&bytes).map_err(|e| PassportError::Invalid {
        path: path.into(),
        source: Box::new(e),
    })?;
    let passport = Passport::from_value(&value).map_err(|e| PassportError::Invalid {
        path: path.into(),
        source: Box::new(e),
    })?;
    Ok((passport, value))
}

/// The lock a writer holds while it replaces a passport and its signature: the two
/// renames are not atomic together, so a reader that sees a pair that does not verify
/// waits for any writer to finish and reads once more.
pub fn pair_lock_path(passport: &Path) -> PathBuf {
    let mut s = passport.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// How long a reader waits for a writer's pair lock before giving up on the retry.
const PAIR_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

fn lock_pair(path: &Path, exclusive: bool) -> std::io::Result<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(pair_lock_path(path))?;
    let started = std::time::Instant::now();
    loop {
        let r = if exclusive {
            f.try_lock()
        } else {
            f.try_lock_shared()
        };
        match r {
            Ok(()) => return Ok(f),
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < PAIR_LOCK_WAIT => {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "{} is held by another writer",
                        pair_lock_path(path).display()
                    ),
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// Replaces a passport and its signature as one change for every concurrent reader
/// of [`load_verified`]: both are written to temporary files first, then renamed into
/// place under the pair lock. The old pair stays valid until the first rename, so
/// there is no moment at which a call would be denied for a missing file.
pub fn write_signed(
    path: &Path,
    value: &serde_json::Value,
    key: &KeyPair,
    now: &str,
) -> std::io::Result<SignatureEnvelope> {
    let envelope = sign(value, key, now);
    let sig = signature_path(path);
    let doc = serde_json::to_string_pretty(value).map_err(std::io::Error::other)? + "\n";
    let env_text = serde_json::to_string_pretty(&envelope).map_err(std::io::Error::other)? + "\n";
    let staged = |p: &Path, text: &str| -> std::io::Result<PathBuf> {
        let mut s = p.as_os_str().to_owned();
        s.push(format!(".tmp-{}", std::process::id()));
        let tmp = PathBuf::from(s);
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, text.as_bytes())?;
        f.sync_all()?;
        Ok(tmp)
    };
    let _lock = lock_pair(path, true)?;
    let p_tmp = staged(path, &doc)?;
    let s_tmp = staged(&sig, &env_text)?;
    std::fs::rename(&p_tmp, path)?;
    std::fs::rename(&s_tmp, &sig)?;
    Ok(envelope)
}

/// Loads a passport and verifies its detached signature against the trust store.
///
/// The signature is checked over the canonical bytes before the document is
/// interpreted, so the typed model only ever sees authenticated data. A pair that
/// does not verify is read once more after any writer holding the pair lock is done
/// (see [`write_signed`]), so an edit in progress is never seen half made.
pub fn load_verified(path: &Path, trust: &TrustStore) -> Result<VerifiedPassport, PassportError> {
    load_verified_memo(path, trust, None)
}

/// Remembers which exact passport bytes were verified, so a process that meets them
/// again can skip the canonicalisation and the Ed25519 check. The caller (the gate)
/// keeps it authenticated; what it may and may not skip is in docs/passports.md.
pub trait VerifiedMemo {
    /// The passport digest remembered under `key`, if any.
    fn recall(&self, key: &str) -> Option<String>;
    /// Remembers that the pair `key` names verified, with its passport digest.
    fn remember(&self, key: &str, digest: &str);
}

/// [`load_verified`] with a memo of verified pairs. The memo is keyed by the SHA-256 of
/// the passport's bytes, its signature file's bytes, and the trusted key's id and bytes,
/// so any change to either file or to the trust entry is a miss; the trust store lookup,
/// the owner binding, the envelope's digest and the typed model are checked every call.
pub fn load_verified_memo(
    path: &Path,
    trust: &TrustStore,
    memo: Option<&dyn VerifiedMemo>,
) -> Result<VerifiedPassport, PassportError> {
    match load_verified_once(path, trust, memo) {
        Err(PassportError::BadSignature { .. } | PassportError::BadEnvelope { .. })
            if pair_lock_path(path).exists() =>
        {
            let _shared = lock_pair(path, false);
            load_verified_once(path, trust, memo)
        }
        r => r,
    }
}

/// The memo key of a passport pair under one trusted key.
fn memo_key(passport: &[u8], signature: &[u8], key: &PublicKey) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [
        b"toolgate-passport-memo-v1".as_slice(),
        passport,
        signature,
        key.kid.as_bytes(),
        key.key.as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn load_verified_once(
    path: &Path,
    trust: &TrustStore,
    memo: Option<&dyn VerifiedMemo>,
) -> Result<VerifiedPassport, PassportError> {
    let bytes = read(path)?;
    let sig_path = signature_path(path);
    let sig_bytes = match read(&sig_path) {
        Ok(b) => b,
        Err(PassportError::NotFound(_)) => return Err(PassportError::Unsigned(path.into())),
        Err(e) => return Err(e),
    };
    let bad = |problem: String| PassportError::BadSignature {
        path: path.into(),
        problem,
    };
    let envelope_error =
        |source: Box<dyn std::error::Error + Send + Sync>| PassportError::BadEnvelope {
            path: path.into(),
            sig: sig_path.clone(),
            source,
        };
    let envelope: SignatureEnvelope = parse_strict(&sig_bytes)
        .map_err(|e| envelope_error(Box::new(e)))
        .and_then(|v| serde_json::from_value(v).map_err(|e| envelope_error(Box::new(e))))?;
    // Only Ed25519 is ever accepted: an envelope naming another algorithm (or
    // `none`) is refused before any key is looked up.
    if envelope.alg != "EdDSA" {
        return Err(bad(format!(
            "{}: alg is `{}`; toolgate accepts only EdDSA (Ed25519)",
            sig_path.display(),
            envelope.alg
        )));
    }
    let key = trust.get(&envelope.kid);
    let remembered = memo
        .zip(key)
        .map(|(m, key)| (m, memo_key(&bytes, &sig_bytes, key)));
    // These exact bytes, signature and key were verified before: they passed the strict
    // reader then, so the typed read goes straight from the bytes, without building the
    // document as a JSON value first (a passport may list thousands of entries). Should
    // that read fail (a memo from another version), the full path below says why.
    let recalled = remembered.as_ref().and_then(|(m, k)| m.recall(k));
    let fast = recalled.and_then(|digest| Some((digest, Passport::from_verified_bytes(&bytes)?)));
    let (digest, passport) = match fast {
        Some(hit) => hit,
        None => verify_and_read(path, &bytes, &envelope, key, remembered.as_ref())?,
    };
    if digest != envelope.passport_digest {
        return Err(bad("the signed digest does not match the passport".into()));
    }
    if !trust.may_sign_for(&envelope.kid, &passport.owner_id) {
        return Err(PassportError::WrongOwner {
            path: path.into(),
            kid: envelope.kid.clone(),
            owner: passport.owner_id.clone(),
            allowed: trust
                .bound_owners(&envelope.kid)
                .unwrap_or_default()
                .join(", "),
        });
    }
    Ok(VerifiedPassport {
        passport,
        digest,
        signer_kid: envelope.kid,
        signed_at: envelope.signed_at,
        path: path.into(),
    })
}

/// The full read of a passport pair no memo vouches for: the strict reader (duplicate keys,
/// unsafe integers), the trusted key, the signature over the canonical bytes, then the
/// typed passport. A verified digest that matches the envelope is remembered.
fn verify_and_read(
    path: &Path,
    bytes: &[u8],
    envelope: &SignatureEnvelope,
    key: Option<&PublicKey>,
    remembered: Option<&(&dyn VerifiedMemo, String)>,
) -> Result<(String, Passport), PassportError> {
    let invalid = |e: Box<dyn std::error::Error + Send + Sync>| PassportError::Invalid {
        path: path.into(),
        source: e,
    };
    let value = parse_strict(bytes).map_err(|e| invalid(Box::new(e)))?;
    let key = key.ok_or_else(|| PassportError::Untrusted {
        path: path.into(),
        kid: envelope.kid.clone(),
    })?;
    let canonical_bytes = jcs(&value);
    if !key.verify_oap(&canonical_bytes, &envelope.signature) {
        return Err(PassportError::BadSignature {
            path: path.into(),
            problem: format!("not a valid signature by {}", envelope.kid),
        });
    }
    // The digest is of the bytes just verified: canonicalising twice would cost a third of the load.
    let digest = canonical::digest_bytes(&canonical_bytes);
    if digest == envelope.passport_digest {
        if let Some((m, k)) = remembered {
            m.remember(k, &digest);
        }
    }
    let passport = Passport::from_owned(value, || parse_strict(bytes).ok())
        .map_err(|e| invalid(Box::new(e)))?;
    Ok((digest, passport))
}

/// Signs a passport document, returning the envelope to store beside it.
pub fn sign(value: &serde_json::Value, key: &KeyPair, now: &str) -> SignatureEnvelope {
    SignatureEnvelope {
        alg: "EdDSA".into(),
        kid: key.kid().into(),
        passport_digest: canonical::digest(value),
        signature: key.sign_oap(&jcs(value)),
        signed_at: now.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passport::model::tests::sample;

    fn setup() -> (tempfile::TempDir, PathBuf, KeyPair, TrustStore) {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate();
        let mut trust = TrustStore::default();
        trust.insert(key.public());
        let path = dir.path().join("passport.json");
        let v = sample();
        std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        let env = sign(&v, &key, "2026-01-01T00:00:00Z");
        std::fs::write(signature_path(&path), serde_json::to_vec(&env).unwrap()).unwrap();
        (dir, path, key, trust)
    }

    #[test]
    fn verifies_and_rejects_each_failure_with_its_own_code() {
        let (_d, path, _key, trust) = setup();
        let ok = load_verified(&path, &trust).unwrap();
        assert!(ok.digest.starts_with("sha256:"));

        // Reformatting does not change meaning, so the signature still holds.
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
        load_verified(&path, &trust).unwrap();

        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("org_1", "org_2")).unwrap();
        assert_eq!(
            load_verified(&path, &trust).unwrap_err().code(),
            ReasonCode::SignatureInvalid
        );
        std::fs::write(
            &path,
            text.replace("\"org_1\"", "\"org_1\",\"owner_id\":\"org_1\""),
        )
        .unwrap();
        assert_eq!(
            load_verified(&path, &trust).unwrap_err().code(),
            ReasonCode::PassportInvalid
        );
        std::fs::write(&path, &text).unwrap();

        assert_eq!(
            load_verified(&path, &TrustStore::default())
                .unwrap_err()
                .code(),
            ReasonCode::PassportUntrusted
        );
        std::fs::remove_file(signature_path(&path)).unwrap();
        assert_eq!(
            load_verified(&path, &trust).unwrap_err().code(),
            ReasonCode::PassportUnsigned
        );
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            load_verified(&path, &trust).unwrap_err().code(),
            ReasonCode::PassportNotFound
        );
    }

    /// A memo in memory that counts its recalls; `vouch` makes it vouch for any pair.
    #[derive(Default)]
    struct Memo {
        entries: std::cell::RefCell<std::collections::HashMap<String, String>>,
        hits: std::cell::Cell<usize>,
        vouch: Option<String>,
    }

    impl VerifiedMemo for Memo {
        fn recall(&self, key: &str) -> Option<String> {
            let found = self
                .vouch
                .clone()
                .or_else(|| self.entries.borrow().get(key).cloned());
            self.hits
                .set(self.hits.get() + usize::from(found.is_some()));
            found
        }
        fn remember(&self, key: &str, digest: &str) {
            self.entries.borrow_mut().insert(key.into(), digest.into());
        }
    }

    #[test]
    fn a_remembered_pair_reads_the_same_passport_as_a_verified_one() {
        let (_d, path, _key, trust) = setup();
        let memo = Memo::default();
        let first = load_verified_memo(&path, &trust, Some(&memo)).unwrap();
        assert_eq!((memo.hits.get(), memo.entries.borrow().len()), (0, 1));
        let again = load_verified_memo(&path, &trust, Some(&memo)).unwrap();
        assert_eq!(memo.hits.get(), 1, "the second load is a memo hit");
        assert_eq!(again.digest, first.digest);
        assert_eq!(
            crate::canonical::to_value(again.passport()),
            crate::canonical::to_value(first.passport())
        );
        // Another byte of the passport is a miss, verified in full (and refused here).
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("org_1", "org_2")).unwrap();
        let e = load_verified_memo(&path, &trust, Some(&memo)).unwrap_err();
        assert_eq!(e.code(), ReasonCode::SignatureInvalid);
        assert_eq!(memo.hits.get(), 1);
    }

    #[test]
    fn a_remembered_pair_that_does_not_read_is_read_in_full_and_says_why() {
        let (_d, path, key, trust) = setup();
        // Signed, but not a passport this version accepts.
        let mut v = sample();
        v["spec_version"] = "oap/9.9".into();
        std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
        let env = sign(&v, &key, "2026-01-01T00:00:00Z");
        std::fs::write(signature_path(&path), serde_json::to_vec(&env).unwrap()).unwrap();
        let memo = Memo {
            vouch: Some(env.passport_digest.clone()),
            ..Memo::default()
        };
        let e = load_verified_memo(&path, &trust, Some(&memo)).unwrap_err();
        assert_eq!(memo.hits.get(), 1);
        assert_eq!(e.code(), ReasonCode::PassportInvalid);
        assert!(e.to_string().contains("spec_version"), "{e}");
    }

    #[test]
    fn another_keys_signature_is_invalid_even_under_a_trusted_kid() {
        let (_d, path, key, trust) = setup();
        let other = KeyPair::generate();
        let v = sample();
        let mut env = sign(&v, &other, "2026-01-01T00:00:00Z");
        env.kid = key.kid().into();
        std::fs::write(signature_path(&path), serde_json::to_vec(&env).unwrap()).unwrap();
        assert_eq!(
            load_verified(&path, &trust).unwrap_err().code(),
            ReasonCode::SignatureInvalid
        );
    }
}
