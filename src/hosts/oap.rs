//! Generic OAP requests for scripts and CI: `{"policy": ID, "context": {...}}`.

use super::{missing, Answer, EXIT_DENY};
use crate::call::{Call, HostKind};
use crate::decision::Verdict;
use crate::reason::{Reason, ReasonCode};
use serde_json::Value;

/// Where the ids of a request are.
pub const IDS: super::IdKeys = super::IdKeys {
    tool: &["policy"],
    session: &["session_id"],
    call: &[],
};

pub fn parse(v: &Value) -> Result<Call, Reason> {
    let policy = super::str_field(v, "policy").ok_or_else(|| missing("policy", "OAP"))?;
    let context = v.get("context").cloned().unwrap_or(Value::Null);
    if !context.is_object() {
        return Err(Reason::new(
            ReasonCode::InvalidContext,
            "`context` must be a JSON object",
        ));
    }
    Ok(Call {
        host: HostKind::Oap,
        event: None,
        tool: policy.clone(),
        input: context,
        cwd: super::str_field(v, "cwd"),
        session_id: super::str_field(v, "session_id"),
        tool_use_id: None,
        on_behalf_of: super::str_field(v, "on_behalf_of"),
        policy: Some(policy),
        subagent: None,
    })
}

/// Only `allow` exits 0: a script that cannot ask a person treats review as no.
pub fn answer(verdict: Verdict, text: &str) -> Answer {
    if verdict == Verdict::Allow {
        return Answer::silent_allow();
    }
    Answer {
        stdout: String::new(),
        stderr: format!("{text}\n"),
        exit_code: EXIT_DENY,
    }
}
