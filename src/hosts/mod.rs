//! Host adapters: each host's hook input becomes a [`Call`], and a verdict
//! becomes that host's documented answer (stdout JSON, stderr, exit code).
//!
//! In hook mode the only exit codes are 0 (the host may run the tool) and 2
//! (it must not): anything else would let most hosts fail open.

pub mod claude_code;
pub mod cursor;
pub mod oap;
pub mod tool_map;

use crate::call::{Call, HostKind};
use crate::decision::Verdict;
use crate::reason::{Reason, ReasonCode};
use serde_json::Value;

/// Exit code that lets the tool run.
pub const EXIT_ALLOW: i32 = 0;
/// Exit code that blocks the tool.
pub const EXIT_DENY: i32 = 2;

/// What the process prints and how it exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
}

/// Guesses the host from the input's distinguishing fields.
pub fn detect(v: &Value) -> Option<HostKind> {
    let obj = v.as_object()?;
    if obj.contains_key("policy") && obj.contains_key("context") {
        return Some(HostKind::Oap);
    }
    let event = obj.get("hook_event_name").and_then(Value::as_str);
    if let Some(e) = event {
        if cursor::EVENTS.contains(&e) {
            return Some(HostKind::Cursor);
        }
        if e == claude_code::EVENT {
            // Cursor's compatibility layer sends Claude-named events with its own fields.
            if obj.contains_key("cursor_version") || obj.contains_key("conversation_id") {
                return Some(HostKind::Cursor);
            }
            return Some(HostKind::ClaudeCode);
        }
        return None;
    }
    None
}

/// Parses the input for a host.
pub fn parse(host: HostKind, v: &Value) -> Result<Call, Reason> {
    match host {
        HostKind::ClaudeCode => claude_code::parse(v),
        HostKind::Cursor => cursor::parse(v),
        HostKind::Oap => oap::parse(v),
    }
}

/// Renders a verdict as the host expects it.
pub fn answer(host: HostKind, event: Option<&str>, verdict: Verdict, reasons: &[Reason]) -> Answer {
    match host {
        HostKind::ClaudeCode => claude_code::answer(verdict, reasons),
        HostKind::Cursor => cursor::answer(event, verdict, reasons),
        HostKind::Oap => oap::answer(verdict, reasons),
    }
}

/// One sentence for people: the first reason's code and message.
pub fn summary(reasons: &[Reason]) -> String {
    match reasons.first() {
        Some(r) => format!("toolgate: {} ({})", r.message, r.code),
        None => "toolgate: denied (no reason recorded)".into(),
    }
}

pub(crate) fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

pub(crate) fn missing(field: &str, host: &str) -> Reason {
    Reason::new(
        ReasonCode::InvalidInput,
        format!("the {host} hook input has no string field `{field}`"),
    )
}
