//! The signed OAP decision object ("receipt") for one evaluation.

use crate::canonical::jcs;
use crate::decision::{Evaluation, Verdict};
use crate::passport::{KeyPair, PublicKey};
use crate::reason::Reason;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How long a receipt may be relied on, in seconds. Short: suspension must bite fast.
pub const EXPIRES_IN: u64 = 60;

/// An OAP decision, field for field as the OAP decision schema names them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Receipt {
    pub decision_id: String,
    pub policy_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assurance_level: Option<String>,
    pub allow: bool,
    pub reasons: Vec<Reason>,
    pub issued_at: String,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passport_digest: Option<String>,
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

impl Receipt {
    /// Builds and signs a receipt: Ed25519 over the JCS of every other field.
    pub fn seal(
        eval: &Evaluation,
        subject: Option<&Subject>,
        decision_id: String,
        issued_at: String,
        key: &KeyPair,
    ) -> Receipt {
        let mut r = Receipt {
            decision_id,
            policy_id: eval.policy_id.clone(),
            agent_id: subject.map(|s| s.agent_id.to_owned()),
            owner_id: subject.map(|s| s.owner_id.to_owned()),
            assurance_level: subject.map(|s| s.assurance_level.to_owned()),
            allow: eval.verdict == Verdict::Allow,
            reasons: eval.reasons.clone(),
            issued_at,
            expires_in: EXPIRES_IN,
            passport_digest: subject.map(|s| s.passport_digest.to_owned()),
            kid: key.kid().to_owned(),
            signature: String::new(),
        };
        r.signature = key.sign_oap(&r.signing_bytes());
        r
    }

    /// The bytes the signature covers.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_value(self).expect("a receipt serialises");
        if let Value::Object(m) = &mut v {
            m.remove("signature");
        }
        jcs(&v)
    }

    pub fn verify(&self, key: &PublicKey) -> bool {
        key.kid == self.kid && key.verify_oap(&self.signing_bytes(), &self.signature)
    }
}
