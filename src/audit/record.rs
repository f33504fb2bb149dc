//! One audit record: a JSON line, hash-chained and signed.

use crate::canonical::{hex, jcs};
use crate::passport::{KeyPair, PublicKey};
use crate::reason::Reason;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `prev_hash` of the first record of a log with no predecessor.
pub const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// Everything the evidence must answer: who did what, for whom, under which passport, decided by whom.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub seq: u64,
    pub ts: String,
    pub decision_id: String,
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub on_behalf_of: Option<String>,
    pub host: String,
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub tool_use_id: Option<String>,
    pub tool: String,
    pub policy_id: String,
    #[serde(default)]
    pub passport_id: Option<String>,
    #[serde(default)]
    pub passport_version: Option<String>,
    #[serde(default)]
    pub passport_digest: Option<String>,
    /// `sha256:` of the JCS of the tool input.
    pub input_digest: String,
    /// The tool input itself, only when configured, with secrets redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    pub allow: bool,
    pub verdict: String,
    pub reasons: Vec<Reason>,
    /// The check that decided a deny or review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deciding_check: Option<String>,
    /// Evaluator key that signed this record.
    pub kid: String,
    /// The evaluator's public key (base64url), on a log's first record and on key changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_key: Option<String>,
    /// Telemetry or other side notes that never change the verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub prev_hash: String,
    #[serde(default)]
    pub hash: String,
    #[serde(default)]
    pub signature: String,
}

impl Record {
    /// SHA-256 over the JCS of the record without `hash` and `signature`.
    pub fn compute_hash(&self) -> String {
        let mut v = serde_json::to_value(self).expect("a record serialises");
        if let Value::Object(m) = &mut v {
            m.remove("hash");
            m.remove("signature");
        }
        format!("sha256:{}", hex(&Sha256::digest(jcs(&v))))
    }

    /// Fills `hash` and `signature` (Ed25519 over the hash string's bytes).
    pub fn seal(&mut self, key: &KeyPair) {
        self.hash = self.compute_hash();
        self.signature = key.sign_oap(self.hash.as_bytes());
    }

    /// Whether hash and signature are right for this record and key.
    pub fn check(&self, key: &PublicKey) -> Result<(), String> {
        let want = self.compute_hash();
        if self.hash != want {
            return Err(format!(
                "hash is {} but the record hashes to {want}",
                self.hash
            ));
        }
        if self.kid != key.kid {
            return Err(format!(
                "signed by {} but the log key is {}",
                self.kid, key.kid
            ));
        }
        if !key.verify_oap(self.hash.as_bytes(), &self.signature) {
            return Err("signature does not verify".into());
        }
        Ok(())
    }
}
