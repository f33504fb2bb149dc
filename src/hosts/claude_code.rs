//! Claude Code `PreToolUse` hooks.
//!
//! Input: `tool_name`, `tool_input`, `cwd`, `session_id`, `tool_use_id`.
//! Deny: exit 2 with the reason on stderr (what Claude Code shows the model)
//! and the `hookSpecificOutput` deny object on stdout. Allow: exit 0, no
//! output, so Claude Code's own permission rules still apply. Review: exit 0
//! with `permissionDecision: "ask"`.

use super::{missing, str_field, Answer, EXIT_ALLOW, EXIT_DENY};
use crate::call::{Call, HostKind};
use crate::decision::Verdict;
use crate::reason::Reason;
use serde_json::{json, Value};

pub const EVENT: &str = "PreToolUse";

pub fn parse(v: &Value) -> Result<Call, Reason> {
    let tool = str_field(v, "tool_name").ok_or_else(|| missing("tool_name", "Claude Code"))?;
    let input = v.get("tool_input").cloned().unwrap_or(Value::Null);
    if !input.is_object() {
        return Err(missing("tool_input (object)", "Claude Code"));
    }
    Ok(Call {
        host: HostKind::ClaudeCode,
        event: str_field(v, "hook_event_name"),
        tool,
        input,
        cwd: str_field(v, "cwd"),
        session_id: str_field(v, "session_id"),
        tool_use_id: str_field(v, "tool_use_id"),
        on_behalf_of: None,
        policy: None,
    })
}

pub fn answer(verdict: Verdict, reasons: &[Reason]) -> Answer {
    let text = super::summary(reasons);
    let decision = |d: &str| {
        json!({"hookSpecificOutput": {
            "hookEventName": EVENT,
            "permissionDecision": d,
            "permissionDecisionReason": text,
        }})
        .to_string()
            + "\n"
    };
    match verdict {
        Verdict::Allow => Answer {
            stdout: String::new(),
            stderr: String::new(),
            exit_code: EXIT_ALLOW,
        },
        Verdict::Review => Answer {
            stdout: decision("ask"),
            stderr: String::new(),
            exit_code: EXIT_ALLOW,
        },
        Verdict::Deny => Answer {
            stdout: decision("deny"),
            stderr: text + "\n",
            exit_code: EXIT_DENY,
        },
    }
}
