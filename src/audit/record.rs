//! One audit record: a JSON line, hash-chained and signed.

use crate::canonical::{hex, jcs};
use crate::decision::Verdict;
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
    /// The passport's `updated_at`: with `passport_version`, its place in its
    /// own history, so the state can refuse an older copy put back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passport_updated_at: Option<String>,
    /// `sha256:` of the JCS of the tool input.
    pub input_digest: String,
    /// The tool input itself, only when configured, with secrets redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// On the wire beside `verdict` (true exactly for `allow`); private, so a record is
    /// only ever built by [`Record::seal`] or read from a log.
    allow: bool,
    pub verdict: RecordVerdict,
    pub reasons: Vec<Reason>,
    /// The check that decided a deny or review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deciding_check: Option<String>,
    /// `false` when a rollout mode let through what an enforcing policy would not have:
    /// `verdict` says what happened, `would_verdict` and `would_reasons` what was held back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforced: Option<bool>,
    /// The rollout mode that let the call through (`observe`, `warn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would_verdict: Option<RecordVerdict>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub would_reasons: Vec<Reason>,
    /// The approval (`toolgate approve`) that let this call through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
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
    /// `sha256:` of the state this record leaves behind (see `StateFile::digest`), so an
    /// edited state file is caught by the writer before it decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_digest: Option<String>,
    /// On an `audit.repair` record: what was found missing and what was last known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<Lost>,
    /// Which status source decided: a status URL (hybrid mode) or `local` (the passport's own field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_source: Option<String>,
    /// Seconds since the status was last confirmed by its source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_age_s: Option<u64>,
    /// The sequence of the status document the decision read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_sequence: Option<u64>,
    /// The policy layer that decided a deny or review (`status`, `org`, `passport`, `delegation:TYPE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deciding_layer: Option<String>,
    /// `sha256:` of the org policy the call was decided under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_policy_digest: Option<String>,
    /// For whom, through whom: `user:NAME`, `passport:ID`, `subagent:TYPE#ID`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_behalf_of_chain: Vec<String>,
    /// Where each policy source of the decision came from (`passport`, `trust`,
    /// `packs`, `config`, `project_roots`): the path and how it was chosen.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub policy_sources: std::collections::BTreeMap<String, String>,
    /// Telemetry or other side notes that never change the verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The process that ran the hook (the host application), as the OS named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<HookProcess>,
    pub prev_hash: String,
    #[serde(default)]
    pub hash: String,
    #[serde(default)]
    pub signature: String,
}

/// What a record says was decided: the gate's verdicts, and `ungated` for a call
/// that ran without a gate decision (see `ungated`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordVerdict {
    Allow,
    Review,
    Deny,
    Ungated,
}

impl RecordVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordVerdict::Allow => "allow",
            RecordVerdict::Review => "review",
            RecordVerdict::Deny => "deny",
            RecordVerdict::Ungated => "ungated",
        }
    }
}

impl std::fmt::Display for RecordVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Verdict> for RecordVerdict {
    fn from(v: Verdict) -> RecordVerdict {
        match v {
            Verdict::Allow => RecordVerdict::Allow,
            Verdict::Review => RecordVerdict::Review,
            Verdict::Deny => RecordVerdict::Deny,
        }
    }
}

/// A record's content before it joins a chain: everything but its place (`seq`,
/// `prev_hash`), its key (`kid`, `log_key`), the state it leaves and its seal, which
/// [`Record::seal`] adds all at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub ts: String,
    pub decision_id: String,
    pub agent_id: Option<String>,
    pub on_behalf_of: Option<String>,
    pub host: String,
    pub session_id: Option<String>,
    pub tool_use_id: Option<String>,
    pub tool: String,
    pub policy_id: String,
    pub passport_id: Option<String>,
    pub passport_version: Option<String>,
    pub passport_digest: Option<String>,
    pub passport_updated_at: Option<String>,
    pub input_digest: String,
    pub input: Option<Value>,
    pub verdict: RecordVerdict,
    pub reasons: Vec<Reason>,
    pub deciding_check: Option<String>,
    pub enforced: Option<bool>,
    pub mode: Option<String>,
    pub would_verdict: Option<RecordVerdict>,
    pub would_reasons: Vec<Reason>,
    pub grant_id: Option<String>,
    pub event: Option<String>,
    pub state_changes: Vec<StateChange>,
    pub next_key: Option<String>,
    pub lost: Option<Lost>,
    pub status_source: Option<String>,
    pub status_age_s: Option<u64>,
    pub status_sequence: Option<u64>,
    pub deciding_layer: Option<String>,
    pub org_policy_digest: Option<String>,
    pub on_behalf_of_chain: Vec<String>,
    pub policy_sources: std::collections::BTreeMap<String, String>,
    pub notes: Vec<String>,
    pub process: Option<HookProcess>,
}

/// The process that ran a hook, looked up when the call arrived: what a SIEM calls the
/// actor's process. Facts for the evidence only; no check reads them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookProcess {
    /// Its process id.
    pub pid: u32,
    /// Its name as the OS gives it (Linux `comm`, at most 15 bytes), when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The working directory the host gave the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
}

/// Where a record joins the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub seq: u64,
    pub prev_hash: String,
    /// The signer's public key, on a chain's (or segment's) first record and after a rotation.
    pub log_key: Option<String>,
    pub state_digest: Option<String>,
}

impl Draft {
    /// A record's content with what every record has, and nothing else yet: callers
    /// add the rest with struct update syntax (`Draft { agent_id, ..Draft::new(..) }`).
    pub fn new(
        ts: String,
        decision_id: String,
        host: String,
        tool: String,
        policy_id: String,
        input_digest: String,
        verdict: RecordVerdict,
    ) -> Draft {
        Draft {
            ts,
            decision_id,
            agent_id: None,
            on_behalf_of: None,
            host,
            session_id: None,
            tool_use_id: None,
            tool,
            policy_id,
            passport_id: None,
            passport_version: None,
            passport_digest: None,
            passport_updated_at: None,
            input_digest,
            input: None,
            verdict,
            reasons: vec![],
            deciding_check: None,
            enforced: None,
            mode: None,
            would_verdict: None,
            would_reasons: vec![],
            grant_id: None,
            event: None,
            state_changes: vec![],
            next_key: None,
            lost: None,
            status_source: None,
            status_age_s: None,
            status_sequence: None,
            deciding_layer: None,
            org_policy_digest: None,
            on_behalf_of_chain: vec![],
            policy_sources: Default::default(),
            notes: vec![],
            process: None,
        }
    }

    /// A record about the log itself (repair, key rotation), not a tool call.
    pub fn event(event: &str, ts: &str, notes: Vec<String>) -> Draft {
        Draft {
            event: Some(event.into()),
            notes,
            ..Draft::new(
                ts.into(),
                uuid::Uuid::new_v4().to_string(),
                "toolgate".into(),
                event.into(),
                crate::decision::PolicyRef::NoPack.as_str().into(),
                crate::canonical::digest(&Value::Null),
                RecordVerdict::Allow,
            )
        }
    }

    /// Unix seconds of `ts` (0 when unparseable).
    pub fn unix_ts(&self) -> i64 {
        unix_of(&self.ts)
    }

    /// This draft as the state file will fold it in once recorded.
    pub fn decided(&self) -> Decided<'_> {
        decided(
            self.agent_id.as_deref(),
            self.event.as_deref(),
            self.verdict,
            &self.reasons,
            &self.state_changes,
            self.unix_ts(),
            self.passport_version
                .as_deref()
                .zip(self.passport_updated_at.as_deref()),
        )
    }
}

fn unix_of(ts: &str) -> i64 {
    time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .unwrap_or(0)
}

fn decided<'a>(
    agent_id: Option<&'a str>,
    event: Option<&str>,
    verdict: RecordVerdict,
    reasons: &[Reason],
    changes: &'a [StateChange],
    now_unix: i64,
    passport: Option<(&'a str, &'a str)>,
) -> Decided<'a> {
    let tripwire = reasons
        .first()
        .is_some_and(|r| r.code == ReasonCode::TripwireTripped);
    Decided {
        agent_id: agent_id.filter(|_| event.is_none()),
        allow: verdict == RecordVerdict::Allow,
        counts_as_deny: verdict == RecordVerdict::Deny && !tripwire,
        changes,
        now_unix,
        passport,
    }
}

/// What an explicit repair found missing: the evidence of a loss, signed into the chain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Lost {
    /// What was wrong: `head_missing`, `head_behind`, `records_missing`, `log_missing`,
    /// `head_format`.
    pub found: String,
    /// Records known to be gone (0 when none are, or nothing says how many).
    pub records: u64,
    /// The last record the head knew of, when there was a head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_hash: Option<String>,
    /// The log the lost records belonged to (its genesis hash), when it was another chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_id: Option<String>,
}

impl Record {
    /// SHA-256 over the JCS of the record without `hash` and `signature`.
    pub fn compute_hash(&self) -> String {
        let mut bytes = Vec::with_capacity(1024);
        if !self.write_jcs_unsigned(&mut bytes) {
            bytes = self.jcs_via_value();
        }
        format!("sha256:{}", hex(&Sha256::digest(&bytes)))
    }

    /// The general path: the record as a `Value`, canonicalised.
    fn jcs_via_value(&self) -> Vec<u8> {
        let mut v = crate::canonical::to_value(self);
        if let Value::Object(m) = &mut v {
            m.remove("hash");
            m.remove("signature");
        }
        let mut bytes = Vec::with_capacity(1024);
        if !write_jcs(&v, &mut bytes) {
            bytes = jcs(&v);
        }
        bytes
    }

    /// JCS of the record without `hash` and `signature`, written field by field in
    /// sorted key order with no intermediate `Value` (verify-log's hot path). Must give
    /// the bytes `jcs_via_value` gives; false sends the caller there (an unsafe integer).
    /// The destructuring has no `..`: a new field does not compile until it is hashed.
    fn write_jcs_unsigned(&self, out: &mut Vec<u8>) -> bool {
        let Record {
            seq,
            ts,
            decision_id,
            agent_id,
            on_behalf_of,
            host,
            session_id,
            tool_use_id,
            tool,
            policy_id,
            passport_id,
            passport_version,
            passport_digest,
            passport_updated_at,
            input_digest,
            input,
            allow,
            verdict,
            reasons,
            deciding_check,
            enforced,
            mode,
            would_verdict,
            would_reasons,
            grant_id,
            kid,
            log_key,
            event,
            state_changes,
            next_key,
            state_digest,
            lost,
            status_source,
            status_age_s,
            status_sequence,
            deciding_layer,
            org_policy_digest,
            on_behalf_of_chain,
            policy_sources,
            notes,
            process,
            prev_hash,
            hash: _,
            signature: _,
        } = self;
        let unsafe_int =
            |n: &Option<u64>| n.is_some_and(|n| n > crate::canonical::MAX_SAFE_INTEGER);
        if *seq > crate::canonical::MAX_SAFE_INTEGER
            || unsafe_int(status_age_s)
            || unsafe_int(status_sequence)
        {
            return false;
        }
        let mut w = Fields::new(out);
        // Keys in JCS order (all ASCII, so byte order). Options without
        // `skip_serializing_if` are written as null, as serde writes them.
        w.nullable("agent_id", agent_id.as_deref());
        w.raw("allow", if *allow { "true" } else { "false" });
        w.opt("deciding_check", deciding_check.as_deref());
        w.opt("deciding_layer", deciding_layer.as_deref());
        w.str("decision_id", decision_id);
        if let Some(e) = enforced {
            w.raw("enforced", if *e { "true" } else { "false" });
        }
        w.opt("event", event.as_deref());
        w.opt("grant_id", grant_id.as_deref());
        w.str("host", host);
        if let Some(v) = input {
            if !w.value("input", v) {
                return false;
            }
        }
        w.str("input_digest", input_digest);
        w.str("kid", kid);
        w.opt("log_key", log_key.as_deref());
        if let Some(l) = lost {
            if !w.value("lost", &crate::canonical::to_value(l)) {
                return false;
            }
        }
        w.opt("mode", mode.as_deref());
        w.opt("next_key", next_key.as_deref());
        w.strings("notes", notes);
        w.nullable("on_behalf_of", on_behalf_of.as_deref());
        w.strings("on_behalf_of_chain", on_behalf_of_chain);
        w.opt("org_policy_digest", org_policy_digest.as_deref());
        w.nullable("passport_digest", passport_digest.as_deref());
        w.nullable("passport_id", passport_id.as_deref());
        w.opt("passport_updated_at", passport_updated_at.as_deref());
        w.nullable("passport_version", passport_version.as_deref());
        w.str("policy_id", policy_id);
        if !policy_sources.is_empty() {
            let v = crate::canonical::to_value(policy_sources);
            if !w.value("policy_sources", &v) {
                return false;
            }
        }
        w.str("prev_hash", prev_hash);
        if let Some(p) = process {
            match serde_json::to_value(p) {
                Ok(v) if w.value("process", &v) => {}
                _ => return false,
            }
        }
        w.reasons("reasons", reasons);
        w.raw("seq", &seq.to_string());
        w.nullable("session_id", session_id.as_deref());
        if !state_changes.is_empty() {
            let v = crate::canonical::to_value(state_changes);
            if !w.value("state_changes", &v) {
                return false;
            }
        }
        w.opt("state_digest", state_digest.as_deref());
        if let Some(n) = status_age_s {
            w.raw("status_age_s", &n.to_string());
        }
        if let Some(n) = status_sequence {
            w.raw("status_sequence", &n.to_string());
        }
        w.opt("status_source", status_source.as_deref());
        w.str("tool", tool);
        w.nullable("tool_use_id", tool_use_id.as_deref());
        w.str("ts", ts);
        w.str("verdict", verdict.as_str());
        if !would_reasons.is_empty() {
            w.reasons("would_reasons", would_reasons);
        }
        w.opt("would_verdict", would_verdict.map(RecordVerdict::as_str));
        w.out.push(b'}');
        true
    }

    /// Unix seconds of `ts` (0 when unparseable, which verify-log never lets through).
    pub fn unix_ts(&self) -> i64 {
        unix_of(&self.ts)
    }

    /// Whether the record allowed its call.
    pub fn allow(&self) -> bool {
        self.allow
    }

    /// This record as the state file folds it in.
    pub fn decided(&self) -> Decided<'_> {
        decided(
            self.agent_id.as_deref(),
            self.event.as_deref(),
            self.verdict,
            &self.reasons,
            &self.state_changes,
            self.unix_ts(),
            self.passport_version
                .as_deref()
                .zip(self.passport_updated_at.as_deref()),
        )
    }

    /// The one way a record comes to be: a draft at its place in the chain, hashed and
    /// signed (Ed25519 over the hash string's bytes) by `key`, whose id it carries.
    pub fn seal(draft: Draft, link: Link, key: &KeyPair) -> Record {
        let Draft {
            ts,
            decision_id,
            agent_id,
            on_behalf_of,
            host,
            session_id,
            tool_use_id,
            tool,
            policy_id,
            passport_id,
            passport_version,
            passport_digest,
            passport_updated_at,
            input_digest,
            input,
            verdict,
            reasons,
            deciding_check,
            enforced,
            mode,
            would_verdict,
            would_reasons,
            grant_id,
            event,
            state_changes,
            next_key,
            lost,
            status_source,
            status_age_s,
            status_sequence,
            deciding_layer,
            org_policy_digest,
            on_behalf_of_chain,
            policy_sources,
            notes,
            process,
        } = draft;
        let mut r = Record {
            seq: link.seq,
            ts,
            decision_id,
            agent_id,
            on_behalf_of,
            host,
            session_id,
            tool_use_id,
            tool,
            policy_id,
            passport_id,
            passport_version,
            passport_digest,
            passport_updated_at,
            input_digest,
            input,
            allow: verdict == RecordVerdict::Allow,
            verdict,
            reasons,
            deciding_check,
            enforced,
            mode,
            would_verdict,
            would_reasons,
            grant_id,
            kid: key.kid().into(),
            log_key: link.log_key,
            event,
            state_changes,
            next_key,
            state_digest: link.state_digest,
            lost,
            status_source,
            status_age_s,
            status_sequence,
            deciding_layer,
            org_policy_digest,
            on_behalf_of_chain,
            policy_sources,
            notes,
            process,
            prev_hash: link.prev_hash,
            hash: String::new(),
            signature: String::new(),
        };
        // Filled before the record leaves this function: no caller sees it unsealed.
        r.hash = r.compute_hash();
        r.signature = key.sign_oap(r.hash.as_bytes());
        r
    }

    /// The record taken apart into its content and its place, to seal again (a
    /// re-chaining tool; the tamper tests use it to play a forger).
    pub fn into_parts(self) -> (Draft, Link) {
        let Record {
            seq,
            ts,
            decision_id,
            agent_id,
            on_behalf_of,
            host,
            session_id,
            tool_use_id,
            tool,
            policy_id,
            passport_id,
            passport_version,
            passport_digest,
            passport_updated_at,
            input_digest,
            input,
            allow: _,
            verdict,
            reasons,
            deciding_check,
            enforced,
            mode,
            would_verdict,
            would_reasons,
            grant_id,
            kid: _,
            log_key,
            event,
            state_changes,
            next_key,
            state_digest,
            lost,
            status_source,
            status_age_s,
            status_sequence,
            deciding_layer,
            org_policy_digest,
            on_behalf_of_chain,
            policy_sources,
            notes,
            process,
            prev_hash,
            hash: _,
            signature: _,
        } = self;
        let draft = Draft {
            ts,
            decision_id,
            agent_id,
            on_behalf_of,
            host,
            session_id,
            tool_use_id,
            tool,
            policy_id,
            passport_id,
            passport_version,
            passport_digest,
            passport_updated_at,
            input_digest,
            input,
            verdict,
            reasons,
            deciding_check,
            enforced,
            mode,
            would_verdict,
            would_reasons,
            grant_id,
            event,
            state_changes,
            next_key,
            lost,
            status_source,
            status_age_s,
            status_sequence,
            deciding_layer,
            org_policy_digest,
            on_behalf_of_chain,
            policy_sources,
            notes,
            process,
        };
        let link = Link {
            seq,
            prev_hash,
            log_key,
            state_digest,
        };
        (draft, link)
    }

    /// Whether hash and signature are right for this record and key.
    pub fn check(&self, key: &PublicKey) -> Result<(), RecordFault> {
        let computed = self.compute_hash();
        if self.hash != computed {
            return Err(RecordFault::Hash {
                claimed: self.hash.clone(),
                computed,
            });
        }
        if self.kid != key.kid {
            return Err(RecordFault::Signer {
                signed_by: self.kid.clone(),
                log_key: key.kid.clone(),
            });
        }
        if self.allow != (self.verdict == RecordVerdict::Allow) {
            return Err(RecordFault::AllowContradicts {
                allow: self.allow,
                verdict: self.verdict,
            });
        }
        if !key.verify_oap(self.hash.as_bytes(), &self.signature) {
            return Err(RecordFault::Signature);
        }
        Ok(())
    }
}

/// What [`Record::check`] found wrong with a record (a finding, not a failed operation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordFault {
    #[error("hash is {claimed} but the record hashes to {computed}")]
    Hash { claimed: String, computed: String },
    #[error("signed by {signed_by} but the log key is {log_key}")]
    Signer { signed_by: String, log_key: String },
    #[error("allow is {allow} but the verdict is {verdict}")]
    AllowContradicts { allow: bool, verdict: RecordVerdict },
    #[error("signature does not verify")]
    Signature,
}

/// Writes `"key":value` members of one JSON object in the order given.
struct Fields<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Fields<'a> {
    fn new(out: &'a mut Vec<u8>) -> Fields<'a> {
        out.push(b'{');
        Fields { out, first: true }
    }

    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn string(&mut self, s: &str) {
        crate::canonical::write_json(self.out, s);
    }

    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        self.string(v);
    }

    /// A non-empty array of strings (empty ones are skipped, as serde skips them).
    fn strings(&mut self, k: &str, items: &[String]) {
        if items.is_empty() {
            return;
        }
        self.key(k);
        self.out.push(b'[');
        for (i, n) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.string(n);
        }
        self.out.push(b']');
    }

    fn reasons(&mut self, k: &str, reasons: &[Reason]) {
        self.key(k);
        self.out.push(b'[');
        for (i, r) in reasons.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.out.extend_from_slice(b"{\"code\":");
            self.string(r.code.as_str());
            self.out.extend_from_slice(b",\"message\":");
            self.string(&r.message);
            self.out.push(b'}');
        }
        self.out.push(b']');
    }

    fn raw(&mut self, k: &str, v: &str) {
        self.key(k);
        self.out.extend_from_slice(v.as_bytes());
    }

    /// A field serde skips when absent.
    fn opt(&mut self, k: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.str(k, v);
        }
    }

    /// A field serde writes as null when absent.
    fn nullable(&mut self, k: &str, v: Option<&str>) {
        match v {
            Some(v) => self.str(k, v),
            None => self.raw(k, "null"),
        }
    }

    fn value(&mut self, k: &str, v: &Value) -> bool {
        self.key(k);
        write_jcs(v, self.out)
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
            crate::canonical::write_json(out, v);
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
                crate::canonical::write_json(out, k);
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

    fn full_record(text: &str, n: u64) -> Record {
        let mut r = Draft::event(
            "audit.repair",
            "2026-01-01T00:00:00Z",
            vec![text.into(), "é\u{2028}".into()],
        );
        r.agent_id = Some(format!("a{text}"));
        r.on_behalf_of = Some(text.into());
        r.session_id = Some("s".into());
        r.tool_use_id = Some(text.into());
        r.passport_id = Some("p".into());
        r.passport_version = Some("1".into());
        r.passport_digest = Some("sha256:x".into());
        r.input = Some(serde_json::json!({"command": text, "n": n, "z": [1, true, null]}));
        r.reasons = vec![
            Reason::new(ReasonCode::Allowed, text),
            Reason::new(ReasonCode::LimitExceeded, "\"q\""),
        ];
        r.deciding_check = Some("c".into());
        r.state_changes = vec![StateChange::Spend {
            capability: "c".into(),
            currency: "USD".into(),
            amount: n,
        }];
        r.next_key = Some("nk".into());
        r.lost = Some(Lost {
            found: "records_missing".into(),
            records: 3,
            last_seq: Some(n),
            last_hash: Some("h".into()),
            log_id: None,
        });
        r.status_source = Some(format!("https://s/{text}"));
        r.status_age_s = Some(n);
        r.status_sequence = Some(n + 1);
        r.deciding_layer = Some("delegation:x".into());
        r.org_policy_digest = Some("sha256:o".into());
        r.on_behalf_of_chain = vec![format!("user:{text}"), "passport:p".into()];
        let link = Link {
            seq: n,
            prev_hash: GENESIS.into(),
            log_key: Some("lk".into()),
            state_digest: Some("sha256:s".into()),
        };
        Record::seal(r, link, key())
    }

    fn key() -> &'static KeyPair {
        static KEY: std::sync::OnceLock<KeyPair> = std::sync::OnceLock::new();
        KEY.get_or_init(KeyPair::generate)
    }

    #[test]
    fn a_record_taken_apart_and_sealed_again_is_the_same_record() {
        let r = full_record("x", 3);
        let (d, l) = r.clone().into_parts();
        assert_eq!(Record::seal(d, l, key()), r);
        assert!(r.check(&key().public()).is_ok());
        // A record whose allow flag contradicts its verdict is refused, however it was signed.
        let mut v = serde_json::to_value(&r).unwrap();
        v["allow"] = serde_json::json!(false);
        let mut forged: Record = serde_json::from_value(v).unwrap();
        forged.hash = forged.compute_hash();
        forged.signature = key().sign_oap(forged.hash.as_bytes());
        assert!(matches!(
            forged.check(&key().public()),
            Err(RecordFault::AllowContradicts { allow: false, .. })
        ));
    }

    #[test]
    fn the_direct_record_hash_is_the_canonical_one() {
        let full = full_record("x\u{1}\u{7f}\u{1F600}", 7);
        let mut bare = Draft::event("e", "t", vec![]);
        bare.event = None;
        bare.agent_id = None;
        let bare = Record::seal(
            bare,
            Link {
                seq: 0,
                prev_hash: GENESIS.into(),
                log_key: None,
                state_digest: None,
            },
            key(),
        );
        for r in [full, bare] {
            let mut direct = Vec::new();
            assert!(r.write_jcs_unsigned(&mut direct));
            assert_eq!(
                String::from_utf8(direct).unwrap(),
                String::from_utf8(r.jcs_via_value()).unwrap()
            );
        }
        // An unsafe integer goes the general way and still hashes canonically.
        let mut big = full_record("b", 1);
        big.seq = u64::MAX;
        assert!(!big.write_jcs_unsigned(&mut Vec::new()));
        assert!(big.compute_hash().starts_with("sha256:"));
        let mut big = full_record("b", 1);
        big.status_sequence = Some(u64::MAX);
        assert!(!big.write_jcs_unsigned(&mut Vec::new()));
    }

    proptest! {
        #[test]
        fn the_direct_record_hash_agrees_for_any_text(text in ".*", n in 0u64..(1 << 53)) {
            let r = full_record(&text, n);
            let mut direct = Vec::new();
            prop_assert!(r.write_jcs_unsigned(&mut direct));
            prop_assert_eq!(direct, r.jcs_via_value());
        }

        #[test]
        fn the_fast_writer_agrees_with_the_canonicaliser(v in json()) {
            let mut fast = Vec::new();
            if write_jcs(&v, &mut fast) {
                prop_assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(jcs(&v)).unwrap());
            }
        }
    }
}
