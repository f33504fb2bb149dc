//! Ed25519 keys as JWKs (RFC 8037) and the trust store of issuer keys.
//!
//! A key id is derived from the public key (`oap:owner:<16 hex of SHA-256>`),
//! so a trust entry cannot claim another key's id.

use crate::canonical::hex;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ed25519_dalek::hazmat::{raw_sign, ExpandedSecretKey};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Errors reading, writing or using keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write key file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not JSON of a JWK: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: `x` is not a valid Ed25519 point: {source}")]
    Point {
        path: PathBuf,
        #[source]
        source: ed25519_dalek::SignatureError,
    },
    /// What about the JWK is wrong, with no underlying error (a missing or
    /// mismatched member).
    #[error("{path} is not an Ed25519 JWK: {problem}")]
    Format { path: PathBuf, problem: String },
    #[error("{path}: kid `{stated}` does not match the key (expected `{actual}`)")]
    KidMismatch {
        path: PathBuf,
        stated: String,
        actual: String,
    },
    #[error("{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`")]
    Permissions { path: PathBuf, mode: u32 },
    #[error("{path} already exists; refusing to overwrite a key")]
    Exists { path: PathBuf },
    #[error(transparent)]
    File(#[from] crate::regular::RegularError),
}

/// On-disk JWK for an OKP/Ed25519 key; `d` is present only in private keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Jwk {
    kty: String,
    crv: String,
    x: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    d: Option<String>,
    kid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alg: Option<String>,
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    use_: Option<String>,
    /// In a trust entry: the `owner_id`s this issuer may sign passports for
    /// (absent: any). Not a registered JWK member; JWK readers ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner_ids: Option<Vec<String>>,
}

/// The key id for a public key.
pub fn kid_for(key: &VerifyingKey) -> String {
    let h = Sha256::digest(key.as_bytes());
    format!("oap:owner:{}", &hex(&h)[..16])
}

/// A private signing key with its derived id.
pub struct KeyPair {
    /// The 32-byte seed (`d`), for saving the key.
    seed: zeroize::Zeroizing<[u8; 32]>,
    /// The seed expanded (SHA-512, clamped), once rather than per signature.
    expanded: ExpandedSecretKey,
    /// Always the seed's own public key: derived from it, or proven to be by a binding tag
    /// ([`KeyPair::load_bound`]). Signing with any other public key would be unsafe: two
    /// signatures of one message under two public keys give the private scalar away.
    public: VerifyingKey,
    kid: String,
}

/// Domain of the tag that binds a private key's stated `x` to its `d` ([`KeyPair::load_bound`]).
const BOUND_DOMAIN: &[u8] = b"toolgate-key-public-bound-v1";

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("KeyPair").field("kid", &self.kid).finish()
    }
}

impl KeyPair {
    /// A fresh key from the operating system's randomness.
    pub fn generate() -> KeyPair {
        let signing = SigningKey::generate(&mut rand_core::OsRng);
        KeyPair::from_signing(signing)
    }

    pub fn from_signing(signing: SigningKey) -> KeyPair {
        let public = signing.verifying_key();
        KeyPair::from_parts(signing.to_bytes(), public)
    }

    /// The pair from a seed and the public key already known to be the seed's.
    fn from_parts(seed: [u8; 32], public: VerifyingKey) -> KeyPair {
        KeyPair {
            expanded: ExpandedSecretKey::from(&seed),
            seed: zeroize::Zeroizing::new(seed),
            kid: kid_for(&public),
            public,
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            key: self.public,
            kid: self.kid.clone(),
        }
    }

    pub fn sign(&self, msg: &[u8]) -> Signature {
        raw_sign::<Sha512>(&self.expanded, msg, &self.public)
    }

    /// `ed25519:<base64>` signature, the OAP wire form.
    pub fn sign_oap(&self, msg: &[u8]) -> String {
        encode_signature(&self.sign(msg))
    }

    /// Loads a private JWK, refusing files other users can read.
    pub fn load(path: &Path) -> Result<KeyPair, KeyError> {
        KeyPair::load_bound(path, None)
    }

    /// [`KeyPair::load`], with `bound`: a file that may hold a tag proving that this key
    /// file's `x` is its `d`'s public key, so that deriving it (a scalar multiplication, the
    /// most expensive step of a hook call's key load) is skipped. The tag is an HMAC-SHA256
    /// under the seed itself over `x`: only a holder of `d` can make one, and toolgate makes
    /// one only after deriving `x` from `d` and finding them equal. A missing, damaged,
    /// foreign or stale tag (another key's, or a key file whose `x` was changed) does not
    /// verify, and then `x` is derived and checked as without it, and the tag rewritten
    /// (best effort: a tag that cannot be written only costs the derivation next time).
    /// Which public key a record's signature is checked against is untouched by this: the
    /// trust store decides that.
    pub fn load_bound(path: &Path, bound: Option<&Path>) -> Result<KeyPair, KeyError> {
        check_private_mode(path)?;
        let jwk = read_jwk(path)?;
        let d = jwk.d.as_deref().ok_or_else(|| KeyError::Format {
            path: path.into(),
            problem: "no private part `d`".into(),
        })?;
        let seed: [u8; 32] = decode_b64url_32(d).ok_or_else(|| KeyError::Format {
            path: path.into(),
            problem: "`d` is not 32 base64url bytes".into(),
        })?;
        let stated = decode_b64url_32(&jwk.x);
        let proven = stated.filter(|x| bound.is_some_and(|b| tag_proves(&seed, b, x)));
        let pair = match proven.and_then(|x| VerifyingKey::from_bytes(&x).ok()) {
            Some(public) => KeyPair::from_parts(seed, public),
            None => {
                let pair = KeyPair::from_signing(SigningKey::from_bytes(&seed));
                if stated != Some(*pair.public.as_bytes()) {
                    return Err(KeyError::Format {
                        path: path.into(),
                        problem: "`x` does not belong to `d`".into(),
                    });
                }
                if let Some(b) = bound {
                    let message = bound_message(pair.public.as_bytes());
                    write_private(b, &crate::canonical::hmac_sha256(&seed, &message));
                }
                pair
            }
        };
        if jwk.kid != pair.kid {
            return Err(KeyError::KidMismatch {
                path: path.into(),
                stated: jwk.kid,
                actual: pair.kid,
            });
        }
        Ok(pair)
    }

    /// Writes the private JWK with mode 0600 (created exclusively) and the public JWK beside it.
    pub fn save(&self, private_path: &Path, public_path: &Path) -> Result<(), KeyError> {
        let mut jwk = self.public().to_jwk();
        jwk.d = Some(URL_SAFE_NO_PAD.encode(*self.seed));
        write_new(private_path, &jwk, true)?;
        write_new(public_path, &self.public().to_jwk(), false)
    }
}

/// Whether the file at `bound` holds the tag under `key` (the seed) over `x`.
fn tag_proves(seed: &[u8; 32], bound: &Path, x: &[u8; 32]) -> bool {
    crate::regular::read(bound, 256)
        .is_ok_and(|tag| crate::canonical::hmac_sha256_matches(seed, &bound_message(x), &tag))
}

/// What a binding tag covers: its domain and the public key.
fn bound_message(x: &[u8; 32]) -> Vec<u8> {
    [BOUND_DOMAIN, x.as_slice()].concat()
}

/// Replaces `path` with `bytes` (mode 0600, written beside it and renamed, so a reader sees
/// the old tag or the new one), ignoring failure: the caller can do without the file.
fn write_private(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let tmp = path.with_extension(format!("new-{}", std::process::id()));
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let written = opts.open(&tmp).and_then(|mut f| f.write_all(bytes));
    if written.and_then(|()| fs::rename(&tmp, path)).is_err() {
        let _ = fs::remove_file(&tmp);
    }
}

/// A public key with its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub key: VerifyingKey,
    pub kid: String,
}

impl PublicKey {
    fn to_jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(self.key.as_bytes()),
            d: None,
            kid: self.kid.clone(),
            alg: Some("EdDSA".into()),
            use_: Some("sig".into()),
            owner_ids: None,
        }
    }

    /// The public JWK as a trust entry, bound to `owners` when given.
    pub fn to_trust_entry(&self, owners: &[String]) -> String {
        let mut jwk = self.to_jwk();
        jwk.owner_ids = (!owners.is_empty()).then(|| owners.to_vec());
        crate::canonical::to_string_pretty(&jwk) + "\n"
    }

    /// The public JWK as pretty JSON.
    pub fn to_jwk_string(&self) -> String {
        crate::canonical::to_string_pretty(&self.to_jwk()) + "\n"
    }

    /// Loads a public JWK (a private one is accepted; only its public half is kept).
    pub fn load(path: &Path) -> Result<PublicKey, KeyError> {
        PublicKey::from_jwk(path, &read_jwk(path)?)
    }

    fn from_jwk(path: &Path, jwk: &Jwk) -> Result<PublicKey, KeyError> {
        let x = decode_b64url_32(&jwk.x).ok_or_else(|| KeyError::Format {
            path: path.into(),
            problem: "`x` is not 32 base64url bytes".into(),
        })?;
        let key = VerifyingKey::from_bytes(&x).map_err(|source| KeyError::Point {
            path: path.into(),
            source,
        })?;
        let kid = kid_for(&key);
        if jwk.kid != kid {
            return Err(KeyError::KidMismatch {
                path: path.into(),
                stated: jwk.kid.clone(),
                actual: kid,
            });
        }
        Ok(PublicKey { key, kid })
    }

    /// Verifies an `ed25519:<base64>` signature with `verify_strict`.
    pub fn verify_oap(&self, msg: &[u8], sig: &str) -> bool {
        match decode_signature(sig) {
            Some(sig) => self.key.verify_strict(msg, &sig).is_ok(),
            None => false,
        }
    }
}

/// `ed25519:<base64>`.
pub fn encode_signature(sig: &Signature) -> String {
    format!("ed25519:{}", STANDARD.encode(sig.to_bytes()))
}

/// Parses `ed25519:<base64>`; anything else is `None`.
pub fn decode_signature(s: &str) -> Option<Signature> {
    let b64 = s.strip_prefix("ed25519:")?;
    let bytes = STANDARD.decode(b64).ok()?;
    let arr: [u8; 64] = bytes.try_into().ok()?;
    Some(Signature::from_bytes(&arr))
}

fn decode_b64url_32(s: &str) -> Option<[u8; 32]> {
    URL_SAFE_NO_PAD.decode(s).ok()?.try_into().ok()
}

/// Largest JWK accepted (a real one is a few hundred bytes).
const JWK_CAP: u64 = 64 * 1024;

fn read_jwk(path: &Path) -> Result<Jwk, KeyError> {
    let bytes = crate::regular::read(path, JWK_CAP)?;
    let jwk: Jwk = serde_json::from_slice(&bytes).map_err(|source| KeyError::Json {
        path: path.into(),
        source,
    })?;
    if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
        return Err(KeyError::Format {
            path: path.into(),
            problem: format!("kty/crv is {}/{}, expected OKP/Ed25519", jwk.kty, jwk.crv),
        });
    }
    Ok(jwk)
}

fn write_new(path: &Path, jwk: &Jwk, private: bool) -> Result<(), KeyError> {
    use std::io::Write;
    let err = |source| KeyError::Write {
        path: path.into(),
        source,
    };
    if path.exists() {
        return Err(KeyError::Exists { path: path.into() });
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(err)?;
    }
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if private { 0o600 } else { 0o644 });
    }
    let _ = private;
    let mut f = opts.open(path).map_err(err)?;
    let text = crate::canonical::to_string_pretty(jwk) + "\n";
    f.write_all(text.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)
}

fn check_private_mode(path: &Path) -> Result<(), KeyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(path).map_err(|source| KeyError::Read {
            path: path.into(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Permissions {
                path: path.into(),
                mode,
            });
        }
    }
    let _ = path;
    Ok(())
}

/// Issuer keys whose passport signatures are accepted, by key id.
#[derive(Debug, Default, Clone)]
pub struct TrustStore {
    keys: BTreeMap<String, PublicKey>,
    /// Issuers bound to the owners they may sign for; an issuer absent here signs for any owner.
    owners: BTreeMap<String, Vec<String>>,
}

impl TrustStore {
    /// Reads every `*.jwk` in a directory; a missing directory is an empty store.
    /// A malformed entry is an error, not a skipped file: a trust store that
    /// silently shrinks or grows is not one.
    pub fn load_dir(dir: &Path) -> Result<TrustStore, KeyError> {
        let mut store = TrustStore::default();
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(store),
            Err(source) => {
                return Err(KeyError::Read {
                    path: dir.into(),
                    source,
                })
            }
        };
        for entry in entries {
            let path = entry
                .map_err(|source| KeyError::Read {
                    path: dir.into(),
                    source,
                })?
                .path();
            if path.extension().is_some_and(|e| e == "jwk") {
                let jwk = read_jwk(&path)?;
                if jwk.d.is_some() {
                    return Err(KeyError::Format {
                        path,
                        problem:
                            "it holds a private key (`d`); a trust store holds public keys only \
                              (delete it, then `toolgate trust add` the public key)"
                                .into(),
                    });
                }
                let key = PublicKey::from_jwk(&path, &jwk)?;
                if let Some(owners) = jwk.owner_ids {
                    store.owners.insert(key.kid.clone(), owners);
                }
                store.insert(key);
            }
        }
        Ok(store)
    }

    pub fn insert(&mut self, key: PublicKey) {
        self.keys.insert(key.kid.clone(), key);
    }

    pub fn get(&self, kid: &str) -> Option<&PublicKey> {
        self.keys.get(kid)
    }

    /// Whether the issuer `kid` may sign passports for `owner_id`.
    pub fn may_sign_for(&self, kid: &str, owner_id: &str) -> bool {
        self.owners
            .get(kid)
            .is_none_or(|o| o.iter().any(|x| x == owner_id))
    }

    /// The owners `kid` is bound to, if it is bound.
    pub fn bound_owners(&self, kid: &str) -> Option<&[String]> {
        self.owners.get(kid).map(Vec::as_slice)
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// File name a key is stored under in a trust directory.
    pub fn file_name(kid: &str) -> String {
        format!("{}.jwk", kid.replace(':', "_"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_that_is_not_json_keeps_the_parse_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.pub.jwk");
        std::fs::write(&p, b"{not json").unwrap();
        let err = PublicKey::load(&p).unwrap_err();
        assert!(matches!(err, KeyError::Json { .. }), "{err}");
        let cause = std::error::Error::source(&err).expect("the serde_json error");
        assert!(cause.downcast_ref::<serde_json::Error>().is_some());
    }

    #[test]
    fn saved_keys_load_back_with_their_kid_and_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let pair = KeyPair::generate();
        let (sk, pk) = (dir.path().join("k.jwk"), dir.path().join("k.pub.jwk"));
        pair.save(&sk, &pk).unwrap();
        let back = KeyPair::load(&sk).unwrap();
        assert_eq!(back.kid(), pair.kid());
        assert_eq!(PublicKey::load(&pk).unwrap(), pair.public());
        assert!(pair.save(&sk, &pk).is_err(), "never overwrites a key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&sk, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                KeyPair::load(&sk),
                Err(KeyError::Permissions { .. })
            ));
        }
    }

    /// A key file with `pair`'s `d` and `x` taken from `other` (same `kid` as `other`).
    fn mixed_key_file(path: &Path, pair: &KeyPair, other: &KeyPair) {
        let mut jwk = other.public().to_jwk();
        jwk.d = Some(URL_SAFE_NO_PAD.encode(*pair.seed));
        fs::write(path, crate::canonical::to_string_pretty(&jwk)).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    #[test]
    fn a_bound_key_loads_from_its_tag_and_signs_as_the_derived_one() {
        let dir = tempfile::tempdir().unwrap();
        let pair = KeyPair::generate();
        let (sk, pk, tag) = (
            dir.path().join("k.jwk"),
            dir.path().join("k.pub.jwk"),
            dir.path().join("k.bound"),
        );
        pair.save(&sk, &pk).unwrap();
        let cold = KeyPair::load_bound(&sk, Some(&tag)).unwrap();
        let written = fs::read(&tag).expect("the first load writes the tag");
        let warm = KeyPair::load_bound(&sk, Some(&tag)).unwrap();
        assert_eq!(fs::read(&tag).unwrap(), written);
        for k in [&cold, &warm] {
            assert_eq!(k.public(), pair.public());
            let sig = k.sign_oap(b"record");
            assert_eq!(sig, pair.sign_oap(b"record"), "Ed25519 is deterministic");
            assert!(pair.public().verify_oap(b"record", &sig));
        }
        // A damaged tag is not believed: the key is derived again and the tag repaired.
        fs::write(&tag, b"junk").unwrap();
        assert_eq!(
            KeyPair::load_bound(&sk, Some(&tag)).unwrap().public(),
            pair.public()
        );
        assert_eq!(fs::read(&tag).unwrap(), written);
    }

    #[test]
    fn a_swapped_public_half_is_refused_whatever_tag_lies_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let (pair, other) = (KeyPair::generate(), KeyPair::generate());
        let (sk, pk, tag) = (
            dir.path().join("k.jwk"),
            dir.path().join("k.pub.jwk"),
            dir.path().join("k.bound"),
        );
        // `other`'s own valid tag, then a key file with `pair`'s `d` but `other`'s `x`:
        // believing the tag would sign with a public key that is not the seed's.
        other.save(&sk, &pk).unwrap();
        KeyPair::load_bound(&sk, Some(&tag)).unwrap();
        mixed_key_file(&sk, &pair, &other);
        for _ in 0..2 {
            let err = KeyPair::load_bound(&sk, Some(&tag)).unwrap_err();
            assert!(
                err.to_string().contains("`x` does not belong to `d`"),
                "{err}"
            );
        }
        // A tag made with `pair`'s seed over `other`'s `x` cannot be had without the
        // derivation check; one over `pair`'s own `x` does not cover `other`'s.
        let good = dir.path().join("good.jwk");
        pair.save(&good, &dir.path().join("good.pub.jwk")).unwrap();
        KeyPair::load_bound(&good, Some(&tag)).unwrap();
        assert!(KeyPair::load_bound(&sk, Some(&tag)).is_err());
    }

    #[test]
    fn a_relabelled_kid_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pair = KeyPair::generate();
        let text = pair
            .public()
            .to_jwk_string()
            .replace(pair.kid(), "oap:owner:0000000000000000");
        let p = dir.path().join("x.jwk");
        fs::write(&p, text).unwrap();
        assert!(matches!(
            PublicKey::load(&p),
            Err(KeyError::KidMismatch { .. })
        ));
    }

    #[test]
    fn signatures_verify_only_for_their_message() {
        let pair = KeyPair::generate();
        let sig = pair.sign_oap(b"hello");
        assert!(pair.public().verify_oap(b"hello", &sig));
        assert!(!pair.public().verify_oap(b"hellO", &sig));
        assert!(!KeyPair::generate().public().verify_oap(b"hello", &sig));
        assert!(!pair.public().verify_oap(b"hello", "ed25519:AAAA"));
    }
}
