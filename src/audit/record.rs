//! One audit record: a JSON line, hash-chained and signed.

use crate::canonical::{hex, jcs};
use crate::passport::{KeyPair, PublicKey};
use crate::reason::{Reason, ReasonCode};
use crate::state::{Decided, StateChange};
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
    /// Set on records the gate writes about the log itself
    /// (`audit.repair`, `audit.key_rotation`) rather than about a tool call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The state changes applied for this (allowed) call, so
    /// `audit rebuild-state` can replay them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub state_changes: Vec<StateChange>,
    /// On a key-rotation record (signed by the old key): the new key
    /// (base64url), which must sign every later record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_key: Option<String>,
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
        let mut bytes = Vec::with_capacity(1024);
        if !write_jcs(&v, &mut bytes) {
            bytes = jcs(&v);
        }
        format!("sha256:{}", hex(&Sha256::digest(&bytes)))
    }

    /// Unix seconds of `ts` (0 when unparseable, which verify-log never lets through).
    pub fn unix_ts(&self) -> i64 {
        time::OffsetDateTime::parse(&self.ts, &time::format_description::well_known::Rfc3339)
            .map(|t| t.unix_timestamp())
            .unwrap_or(0)
    }

    /// This record as the state file folds it in.
    pub fn decided(&self) -> Decided<'_> {
        let tripwire = self
            .reasons
            .first()
            .is_some_and(|r| r.code == ReasonCode::TripwireTripped);
        Decided {
            seq: self.seq,
            hash: &self.hash,
            agent_id: self.agent_id.as_deref().filter(|_| self.event.is_none()),
            allow: self.allow,
            counts_as_deny: self.verdict == "deny" && !tripwire,
            changes: &self.state_changes,
            now_unix: self.unix_ts(),
        }
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

/// RFC 8785 bytes of `v`, written directly: records hold only strings,
/// integers, booleans, null, arrays and objects, for which JCS is sorted keys
/// (UTF-16 order) plus serde_json's own compact escaping. Returns false on a
/// non-integer or unsafe-integer number, for which the caller falls back to the general
/// canonicaliser (ES6 number formatting). verify-log hashes every record, so
/// this is its hot path.
fn write_jcs(v: &Value, out: &mut Vec<u8>) -> bool {
    match v {
        Value::Null | Value::Bool(_) | Value::String(_) => {
            serde_json::to_writer(&mut *out, v).expect("writing to a Vec cannot fail");
            true
        }
        Value::Number(n) => {
            // JCS writes numbers as IEEE doubles: beyond 2^53 an integer is rounded.
            let safe = n
                .as_i64()
                .is_some_and(|i| i.unsigned_abs() <= crate::canonical::MAX_SAFE_INTEGER)
                || n.as_u64()
                    .is_some_and(|u| u <= crate::canonical::MAX_SAFE_INTEGER);
            if !safe {
                return false;
            }
            out.extend_from_slice(n.to_string().as_bytes());
            true
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                if !write_jcs(item, out) {
                    return false;
                }
            }
            out.push(b']');
            true
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| {
                if a.0.is_ascii() && b.0.is_ascii() {
                    a.0.cmp(b.0)
                } else {
                    a.0.encode_utf16().cmp(b.0.encode_utf16())
                }
            });
            out.push(b'{');
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k).expect("writing to a Vec cannot fail");
                out.push(b':');
                if !write_jcs(item, out) {
                    return false;
                }
            }
            out.push(b'}');
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            ".*".prop_map(Value::String),
            "[\\u{0}-\\u{1f}\"\\\\a\\u{7f}\\u{2028}\\u{e9}\\u{1F600}]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((".{0,4}", inner), 0..5)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn the_fast_writer_agrees_with_the_canonicaliser(v in json()) {
            let mut fast = Vec::new();
            if write_jcs(&v, &mut fast) {
                prop_assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(jcs(&v)).unwrap());
            }
        }
    }
}
