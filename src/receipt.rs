//! The signed OAP decision object ("receipt") for one evaluation.
//!
//! The OAP decision schema and the spec's own conformance cases disagree on a
//! few names: the schema requires `passport_id`, `issued_at` and `expires_at`,
//! the cases (and the schema's `properties`) carry `agent_id`, `created_at` and
//! `expires_in`. A receipt carries both spellings with the same values, so a
//! consumer written against either finds every field it looks for.

use crate::canonical::jcs;
use crate::decision::{Evaluation, Verdict};
use crate::passport::{KeyPair, PublicKey};
use crate::reason::Reason;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// How long a receipt may be relied on, in seconds. Short: suspension must bite fast.
pub const EXPIRES_IN: u64 = 60;

/// The passport and agent id of a decision made before any passport loaded:
/// the nil UUID, which no passport may carry as its own id.
pub const NO_PASSPORT_ID: &str = "00000000-0000-0000-0000-000000000000";
/// The owner of a decision made before any passport loaded.
pub const NO_OWNER: &str = "unknown";
/// No passport, no assurance: the lowest level the schema knows.
pub const NO_ASSURANCE: &str = "L0";
/// The passport digest of a decision made before any passport loaded: all
/// zeros, the schema's shape with a value no real passport hashes to.
pub const NO_PASSPORT_DIGEST: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// The policy id of a decision no pack made (a harmless tool, a call refused before a
/// pack was chosen): the schema requires a `name.vN` id, and no pack may be version 0
/// (the loader refuses it), so this names none. Records and spans say `none`.
pub const NO_POLICY: &str = "none.v0";

/// An OAP decision, field for field as the OAP decision schema and its cases name them.
/// Every field the schema requires is present on every receipt, denies before a
/// passport loaded included (with the `NO_*` placeholders).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Receipt {
    pub decision_id: String,
    pub policy_id: String,
    pub passport_id: String,
    /// The spec cases' name for `passport_id` (same value).
    pub agent_id: String,
    pub owner_id: String,
    pub assurance_level: String,
    pub allow: bool,
    pub reasons: Vec<Reason>,
    /// RFC 3339, UTC, second precision.
    pub created_at: String,
    /// The schema's required name for `created_at` (same value).
    pub issued_at: String,
    /// RFC 3339: `created_at` plus `expires_in`.
    pub expires_at: String,
    pub expires_in: u64,
    pub passport_digest: String,
    pub kid: String,
    pub signature: String,
}

/// Who the decision was about, when a passport was loaded.
pub struct Subject<'a> {
    pub agent_id: &'a str,
    pub owner_id: &'a str,
    pub assurance_level: &'a str,
    pub passport_digest: &'a str,
}

/// RFC 3339 in UTC, second precision (the audit log's format).
fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

impl Receipt {
    /// Builds and signs a receipt: Ed25519 over the JCS of every other field.
    pub fn seal(
        eval: &Evaluation,
        subject: Option<&Subject>,
        decision_id: String,
        now: OffsetDateTime,
        key: &KeyPair,
    ) -> Receipt {
        let created = rfc3339(now);
        let expires = rfc3339(now + time::Duration::seconds(EXPIRES_IN as i64));
        let id = subject.map_or(NO_PASSPORT_ID, |s| s.agent_id);
        let mut r = Receipt {
            decision_id,
            policy_id: eval.policy_id.pack().unwrap_or(NO_POLICY).to_owned(),
            passport_id: id.to_owned(),
            agent_id: id.to_owned(),
            owner_id: subject.map_or(NO_OWNER, |s| s.owner_id).to_owned(),
            assurance_level: subject
                .map_or(NO_ASSURANCE, |s| s.assurance_level)
                .to_owned(),
            allow: eval.verdict == Verdict::Allow,
            reasons: eval.reasons.clone(),
            issued_at: created.clone(),
            created_at: created,
            expires_at: expires,
            expires_in: EXPIRES_IN,
            passport_digest: subject
                .map_or(NO_PASSPORT_DIGEST, |s| s.passport_digest)
                .to_owned(),
            kid: key.kid().to_owned(),
            signature: String::new(),
        };
        r.signature = key.sign_oap(&r.signing_bytes());
        r
    }

    /// The bytes the signature covers.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.remove("signature");
        }
        jcs(&v)
    }

    pub fn verify(&self, key: &PublicKey) -> bool {
        key.kid == self.kid && key.verify_oap(&self.signing_bytes(), &self.signature)
    }
}
