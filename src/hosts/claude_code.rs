//! Claude Code `PreToolUse` hooks.
//!
//! Input: `tool_name`, `tool_input`, `cwd`, `session_id`, `tool_use_id`.
//! Deny: exit 2 with the reason on stderr (what Claude Code shows the model)
//! and the `hookSpecificOutput` deny object on stdout. Allow: exit 0, no
//! output, so Claude Code's own permission rules still apply. Review: exit 0
//! with `permissionDecision: "ask"`.

use super::{tool_call, Answer, EXIT_ALLOW, EXIT_DENY};
use crate::call::{Call, HostKind};
use crate::decision::Verdict;
use crate::reason::Reason;
use serde_json::{json, Value};

pub const EVENT: &str = "PreToolUse";

pub fn parse(v: &Value) -> Result<Call, Reason> {
    tool_call(HostKind::ClaudeCode, v, "Claude Code", false)
}

/// The `hookSpecificOutput` decision Claude Code and Codex both read.
pub(crate) fn decision(decision: &str, text: &str) -> Value {
    json!({"hookSpecificOutput": {
        "hookEventName": EVENT,
        "permissionDecision": decision,
        "permissionDecisionReason": text,
    }})
}

pub fn answer(verdict: Verdict, text: &str) -> Answer {
    match verdict {
        Verdict::Allow => Answer::silent_allow(),
        Verdict::Review => Answer::json(decision("ask", text), None, EXIT_ALLOW),
        Verdict::Deny => Answer::json(decision("deny", text), Some(text), EXIT_DENY),
    }
}
