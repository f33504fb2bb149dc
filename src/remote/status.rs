//! The signed status document: the fleet's kill switch as a file any static host serves.
//!
//! One JSON file holds the document and its Ed25519 signature over the document's JCS
//! bytes, so a reader never pairs a new document with an old signature mid-upload. The
//! sequence only goes up: a reader that has seen sequence N refuses anything below N,
//! and refuses a different document under the same N (an issuer never signs two).

use crate::canonical::{self, jcs, parse_strict};
use crate::passport::{KeyPair, TrustStore};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The `type` every status document carries, so a passport or other signed file is never read as one.
pub const STATUS_TYPE: &str = "toolgate.status.v1";

/// Largest status file accepted (about 10,000 passports).
pub const MAX_STATUS_BYTES: usize = 4 * 1024 * 1024;

/// A passport's state in the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FleetStatus {
    Active,
    Suspended,
    Revoked,
}

impl FleetStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FleetStatus::Active => "active",
            FleetStatus::Suspended => "suspended",
            FleetStatus::Revoked => "revoked",
        }
    }
}

/// One passport's line in the status document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub status: FleetStatus,
    /// When the issuer last changed this entry.
    pub updated_at: String,
    /// Why, for people reading a deny.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The document the issuer signs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusDocument {
    #[serde(rename = "type")]
    pub kind: String,
    /// Never goes back; a reader refuses a lower one.
    pub sequence: u64,
    pub issued_at: String,
    /// After this the document says nothing, and calls deny until a newer one arrives.
    pub expires_at: String,
    /// By `passport_id`.
    pub passports: BTreeMap<String, Entry>,
}

/// The file as served: the document with its detached-in-place signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedStatus {
    pub document: StatusDocument,
    /// Always `EdDSA`.
    pub alg: String,
    pub kid: String,
    /// `ed25519:<base64>` over the JCS bytes of `document`.
    pub signature: String,
}

/// Why a status file is refused. Each says what to do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatusError {
    #[error("the status file is larger than {MAX_STATUS_BYTES} bytes")]
    TooLarge,
    #[error("the status file is not a signed toolgate status document: {0}")]
    Malformed(String),
    #[error("the status document is signed by {0}, which is not in the trust store; add the issuer with `toolgate trust add`")]
    Untrusted(String),
    #[error("the status document's signature by {0} does not verify")]
    BadSignature(String),
    #[error("the status document has sequence {got}, older than the {seen} already seen: a replayed document is refused")]
    Replayed { got: u64, seen: u64 },
    #[error("the status document is a different document under the already seen sequence {0}: an issuer never signs two")]
    Equivocation(u64),
}

/// A status document whose signature verified against a trusted key.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedStatus {
    pub signed: SignedStatus,
    /// `sha256:` of the document's JCS bytes.
    pub digest: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

fn unix(field: &str, s: &str) -> Result<i64, StatusError> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|_| StatusError::Malformed(format!("{field}: `{s}` is not an RFC 3339 date-time")))
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Verifies a status file's bytes: strict JSON, the known shape, a trusted signer, a valid signature.
pub fn verify(bytes: &[u8], trust: &TrustStore) -> Result<VerifiedStatus, StatusError> {
    if bytes.len() > MAX_STATUS_BYTES {
        return Err(StatusError::TooLarge);
    }
    let value = parse_strict(bytes).map_err(|e| StatusError::Malformed(e.to_string()))?;
    let signed: SignedStatus = serde_path_to_error::deserialize(&value)
        .map_err(|e| StatusError::Malformed(format!("{}: {}", e.path(), e.inner())))?;
    if signed.alg != "EdDSA" {
        return Err(StatusError::Malformed(format!(
            "alg `{}` (expected EdDSA)",
            signed.alg
        )));
    }
    let key = trust
        .get(&signed.kid)
        .ok_or_else(|| StatusError::Untrusted(signed.kid.clone()))?;
    // Verified over the document exactly as received, before anything in it is believed.
    let bytes = jcs(value.get("document").unwrap_or(&serde_json::Value::Null));
    if !key.verify_oap(&bytes, &signed.signature) {
        return Err(StatusError::BadSignature(signed.kid.clone()));
    }
    let doc = &signed.document;
    if doc.kind != STATUS_TYPE {
        return Err(StatusError::Malformed(format!(
            "type `{}` (expected {STATUS_TYPE})",
            doc.kind
        )));
    }
    let issued_at = unix("issued_at", &doc.issued_at)?;
    let expires_at = unix("expires_at", &doc.expires_at)?;
    if expires_at < issued_at {
        return Err(StatusError::Malformed(
            "expires_at is before issued_at".into(),
        ));
    }
    for (id, e) in &doc.passports {
        if !is_uuid(id) {
            return Err(StatusError::Malformed(format!(
                "passports: `{id}` is not a passport id (UUID)"
            )));
        }
        unix(&format!("passports.{id}.updated_at"), &e.updated_at)?;
    }
    Ok(VerifiedStatus {
        digest: canonical::digest_bytes(&bytes),
        signed,
        issued_at,
        expires_at,
    })
}

impl VerifiedStatus {
    pub fn sequence(&self) -> u64 {
        self.signed.document.sequence
    }

    /// Whether this document may replace `seen`: a higher sequence, or the very same document.
    pub fn supersedes(&self, seen: Option<&VerifiedStatus>) -> Result<(), StatusError> {
        let Some(seen) = seen else { return Ok(()) };
        let (got, had) = (self.sequence(), seen.sequence());
        if got < had {
            return Err(StatusError::Replayed { got, seen: had });
        }
        if got == had && self.digest != seen.digest {
            return Err(StatusError::Equivocation(got));
        }
        Ok(())
    }

    pub fn entry(&self, passport_id: &str) -> Option<&Entry> {
        self.signed.document.passports.get(passport_id)
    }
}

/// Signs a document with the issuer key.
pub fn sign(document: StatusDocument, key: &KeyPair) -> SignedStatus {
    let value = crate::canonical::to_value(&document);
    SignedStatus {
        signature: key.sign_oap(&jcs(&value)),
        document,
        alg: "EdDSA".into(),
        kid: key.kid().into(),
    }
}

/// The next sequence after `previous`: at least the current Unix time, so an issuer who
/// lost the previous file still publishes a number every reader accepts.
pub fn next_sequence(previous: Option<u64>, now_unix: i64) -> u64 {
    let floor = u64::try_from(now_unix).unwrap_or(0);
    previous.map_or(floor, |p| p.saturating_add(1).max(floor))
}

/// What the decision needs of a verified status document: its identity and bounds, and
/// the entries of the passports asked about. Built from a document that verified, now or
/// by the refresh that wrote the authenticated index ([`super::index`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StatusSummary {
    pub sequence: u64,
    /// `sha256:` of the document's JCS bytes.
    pub digest: String,
    pub kid: String,
    pub issued_at: i64,
    pub expires_at: i64,
    /// `expires_at` as the issuer wrote it, for messages.
    pub expires_text: String,
    pub issued_text: String,
    /// How many passports the document lists.
    pub listed: usize,
    /// The entries looked up (an id the document does not list is absent).
    pub entries: BTreeMap<String, Entry>,
}

impl StatusSummary {
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    pub fn entry(&self, passport_id: &str) -> Option<&Entry> {
        self.entries.get(passport_id)
    }
}

impl From<&VerifiedStatus> for StatusSummary {
    /// Every entry of the document.
    fn from(v: &VerifiedStatus) -> StatusSummary {
        let d = &v.signed.document;
        StatusSummary {
            sequence: d.sequence,
            digest: v.digest.clone(),
            kid: v.signed.kid.clone(),
            issued_at: v.issued_at,
            expires_at: v.expires_at,
            expires_text: d.expires_at.clone(),
            issued_text: d.issued_at.clone(),
            listed: d.passports.len(),
            entries: d.passports.clone(),
        }
    }
}

/// What the decision reads about the fleet status: the last verified document, when it
/// was last confirmed, and how stale it may grow. Built by the edge, judged by the pure layer.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusView {
    /// The status URL.
    pub source: String,
    pub current: Option<StatusSummary>,
    /// Unix time of the last fetch that confirmed `current` (a verified 200 or a 304).
    pub verified_at: Option<i64>,
    pub max_stale_s: u64,
    /// The last refresh's failure, if it failed.
    pub problem: Option<String>,
}

impl StatusView {
    /// Seconds since the last confirmation (0 if the clock went back).
    pub fn age_s(&self, now_unix: i64) -> Option<u64> {
        self.verified_at
            .map(|t| u64::try_from(now_unix.saturating_sub(t)).unwrap_or(0))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const ID: &str = "550e8400-e29b-41d4-a716-446655440000";

    pub(crate) fn doc(seq: u64, status: FleetStatus) -> StatusDocument {
        StatusDocument {
            kind: STATUS_TYPE.into(),
            sequence: seq,
            issued_at: "2026-01-01T00:00:00Z".into(),
            expires_at: "2036-01-01T00:00:00Z".into(),
            passports: [(
                ID.to_string(),
                Entry {
                    status,
                    updated_at: "2026-01-01T00:00:00Z".into(),
                    reason: None,
                },
            )]
            .into(),
        }
    }

    fn bytes(s: &SignedStatus) -> Vec<u8> {
        serde_json::to_vec(s).unwrap()
    }

    fn trust(k: &KeyPair) -> TrustStore {
        let mut t = TrustStore::default();
        t.insert(k.public());
        t
    }

    #[test]
    fn verifies_only_trusted_intact_documents() {
        let key = KeyPair::generate();
        let t = trust(&key);
        let s = sign(doc(5, FleetStatus::Suspended), &key);
        let v = verify(&bytes(&s), &t).unwrap();
        assert_eq!(v.entry(ID).unwrap().status, FleetStatus::Suspended);

        let other = KeyPair::generate();
        let s2 = sign(doc(5, FleetStatus::Active), &other);
        assert!(matches!(
            verify(&bytes(&s2), &t),
            Err(StatusError::Untrusted(_))
        ));
        // A suspended entry flipped to active under the original signature.
        let mut forged = s.clone();
        forged.document.passports.get_mut(ID).unwrap().status = FleetStatus::Active;
        assert!(matches!(
            verify(&bytes(&forged), &t),
            Err(StatusError::BadSignature(_))
        ));
        let text = String::from_utf8(bytes(&s)).unwrap();
        let dup = text.replacen("{\"document\":{", "{\"document\":{\"sequence\":9,", 1);
        assert!(matches!(
            verify(dup.as_bytes(), &t),
            Err(StatusError::Malformed(_))
        ));
        let mut bad_id = doc(5, FleetStatus::Active);
        let e = bad_id.passports.remove(ID).unwrap();
        bad_id.passports.insert("alice".into(), e);
        assert!(matches!(
            verify(&bytes(&sign(bad_id, &key)), &t),
            Err(StatusError::Malformed(_))
        ));
    }

    #[test]
    fn sequence_never_goes_back() {
        let key = KeyPair::generate();
        let t = trust(&key);
        let v5 = verify(&bytes(&sign(doc(5, FleetStatus::Active), &key)), &t).unwrap();
        let v4 = verify(&bytes(&sign(doc(4, FleetStatus::Active), &key)), &t).unwrap();
        let v5b = verify(&bytes(&sign(doc(5, FleetStatus::Suspended), &key)), &t).unwrap();
        assert!(v5.supersedes(None).is_ok());
        assert!(v5.supersedes(Some(&v5)).is_ok());
        assert_eq!(
            v4.supersedes(Some(&v5)),
            Err(StatusError::Replayed { got: 4, seen: 5 })
        );
        assert_eq!(v5b.supersedes(Some(&v5)), Err(StatusError::Equivocation(5)));
        assert_eq!(next_sequence(Some(7), 3), 8);
        assert_eq!(next_sequence(Some(7), 100), 100);
        assert_eq!(next_sequence(None, 100), 100);
    }
}
