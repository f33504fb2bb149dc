//! Host adapters: each host's hook input becomes a [`Call`], and a verdict
//! becomes that host's documented answer (stdout JSON, stderr, exit code).
//!
//! In hook mode the only exit codes are 0 and 2: anything else lets most
//! hosts fail open. Which of the two blocks is the host's choice: Copilot CLI
//! treats exit 2 of a `preToolUse` hook as a warning, so its deny is exit 0
//! with a JSON deny (see [`copilot`]).

pub mod claude_code;
pub mod codex;
pub mod copilot;
pub mod cursor;
pub mod descriptor;
pub mod gemini;
pub mod hook_command;
pub mod oap;
// Tool maps are policy data (`policy-packs/hosts/`), loaded with the packs.
pub use crate::packs::tool_map;

pub use descriptor::{Base, ConfigFile, Descriptor, Layout, Scope, SystemPath};

use crate::call::{Call, HostKind};
use crate::decision::Verdict;
use crate::reason::{Reason, ReasonCode};
use serde_json::{Map, Value};

/// Exit code that lets the tool run.
pub const EXIT_ALLOW: i32 = 0;
/// Exit code that blocks the tool.
pub const EXIT_DENY: i32 = 2;

/// The hosts whose hook configuration toolgate can install.
pub const HOOK_HOSTS: [HostKind; 5] = [
    HostKind::ClaudeCode,
    HostKind::Cursor,
    HostKind::Codex,
    HostKind::Gemini,
    HostKind::Copilot,
];

/// What the process prints and how it exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
}

impl Answer {
    /// Nothing on stdout, exit 0: the host's own permission rules still apply.
    pub fn silent_allow() -> Answer {
        Answer {
            stdout: String::new(),
            stderr: String::new(),
            exit_code: EXIT_ALLOW,
        }
    }

    /// A JSON body on stdout, the sentence on stderr for hosts that read it there.
    fn json(body: Value, stderr: Option<&str>, exit_code: i32) -> Answer {
        Answer {
            stdout: body.to_string() + "\n",
            stderr: stderr.map(|s| format!("{s}\n")).unwrap_or_default(),
            exit_code,
        }
    }
}

/// Everything toolgate knows about a host that installs hooks.
pub fn descriptor(host: HostKind) -> Option<&'static Descriptor> {
    match host {
        HostKind::ClaudeCode => Some(&claude_code::HOST),
        HostKind::Cursor => Some(&cursor::HOST),
        HostKind::Codex => Some(&codex::HOST),
        HostKind::Gemini => Some(&gemini::HOST),
        HostKind::Copilot => Some(&copilot::HOST),
        HostKind::Oap => None,
    }
}

/// Every hook host's descriptor, in [`HOOK_HOSTS`] order.
pub fn descriptors() -> impl Iterator<Item = &'static Descriptor> {
    HOOK_HOSTS.iter().filter_map(|h| descriptor(*h))
}

/// The session id every doctor canary call carries, so its records are easy to tell apart.
pub const CANARY_SESSION: &str = "toolgate-doctor";

/// Whether a `--version` line names at least `min` (`2.1.197 (Claude Code)` >= [2, 1]).
pub fn version_at_least(version: &str, min: &[u64]) -> bool {
    let nums: Vec<u64> = version
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        .find(|w| w.contains('.'))
        .unwrap_or("")
        .split('.')
        .map_while(|p| p.parse().ok())
        .collect();
    !nums.is_empty() && nums.as_slice() >= min
}

/// Guesses the host from the input's documented distinguishing fields.
///
/// `None` for shapes no supported host sends (for example VS Code's own agent
/// hooks, which carry both `timestamp` and `tool_use_id`): those are denied
/// with `oap.unrecognized_input` rather than read with the wrong tool names.
pub fn detect(v: &Value) -> Option<HostKind> {
    let obj = v.as_object()?;
    if obj.contains_key("policy") && obj.contains_key("context") {
        return Some(HostKind::Oap);
    }
    let Some(event) = obj.get("hook_event_name").and_then(Value::as_str) else {
        // Copilot CLI's camelCase payload names no event.
        return obj.contains_key("toolName").then_some(HostKind::Copilot);
    };
    let has = |k: &str| obj.contains_key(k);
    match event {
        gemini::EVENT => Some(HostKind::Gemini),
        e if cursor::EVENTS.contains(&e) => Some(HostKind::Cursor),
        claude_code::EVENT => {
            if has("cursor_version") || has("conversation_id") || has("workspace_roots") {
                // Cursor running a hook from a Claude Code settings file.
                Some(HostKind::Cursor)
            } else if has("turn_id") || has("model") {
                Some(HostKind::Codex)
            } else if has("timestamp") {
                // Copilot CLI's VS Code-compatible payload has no tool_use_id; VS Code's has one.
                (!has("tool_use_id")).then_some(HostKind::Copilot)
            } else {
                Some(HostKind::ClaudeCode)
            }
        }
        _ => None,
    }
}

/// Parses the input for a host.
///
/// A hook in a Claude Code settings file is also run by Cursor and Copilot
/// CLI with their own payloads, so `claude-code` yields to a detected host of
/// that family: its tool names and answer format are the ones that fit.
pub fn parse(host: HostKind, v: &Value) -> Result<Call, Reason> {
    let host = match (host, detect(v)) {
        (HostKind::ClaudeCode, Some(d @ (HostKind::Cursor | HostKind::Copilot))) => d,
        (h, _) => h,
    };
    match host {
        HostKind::ClaudeCode => claude_code::parse(v),
        HostKind::Cursor => cursor::parse(v),
        HostKind::Codex => codex::parse(v),
        HostKind::Gemini => gemini::parse(v),
        HostKind::Copilot => copilot::parse(v),
        HostKind::Oap => oap::parse(v),
    }
}

/// Where a host puts the ids of a call, most specific key first.
pub struct IdKeys {
    pub tool: &'static [&'static str],
    pub session: &'static [&'static str],
    pub call: &'static [&'static str],
}

/// The ids the host sent (tool, session, call id, event), read from any JSON
/// object, so that a deny for input toolgate cannot otherwise use still names
/// the call it refused.
pub fn sent_ids(host: HostKind, bytes: &[u8]) -> Option<Call> {
    let v = crate::canonical::parse_strict(crate::canonical::strip_bom(bytes)).ok()?;
    let keys = match host {
        HostKind::ClaudeCode => &claude_code::IDS,
        HostKind::Cursor => &cursor::IDS,
        HostKind::Codex => &codex::IDS,
        HostKind::Gemini => &gemini::IDS,
        HostKind::Copilot => &copilot::IDS,
        HostKind::Oap => &oap::IDS,
    };
    let first = |ks: &[&str]| ks.iter().find_map(|k| str_field(&v, k));
    Some(Call {
        host,
        event: str_field(&v, "hook_event_name"),
        tool: first(keys.tool).unwrap_or_default(),
        input: Value::Null,
        cwd: str_field(&v, "cwd"),
        session_id: first(keys.session),
        tool_use_id: first(keys.call),
        on_behalf_of: None,
        policy: None,
        subagent: None,
    })
}

/// The common `tool_name` / `session_id` / `tool_use_id` keys.
pub(crate) const SNAKE_IDS: IdKeys = IdKeys {
    tool: &["tool_name"],
    session: &["session_id"],
    call: &["tool_use_id"],
};

/// The project roots the host sets for its hook, which the model cannot
/// choose: Claude Code's and Gemini CLI's environment, Cursor's
/// `workspace_roots`. Codex and Copilot CLI start the hook in the session's
/// directory (the model's `workdir` only reaches the payload), so for them,
/// and for a generic request, the root is the hook process's own directory.
/// Never the payload's `cwd`, `dir_path` or `working_directory`.
pub fn trusted_roots(
    host: HostKind,
    input: &Value,
    env: &dyn Fn(&str) -> Option<String>,
    process_cwd: Option<&std::path::Path>,
) -> Vec<String> {
    let process = || {
        process_cwd
            .map(|p| p.to_string_lossy().into_owned())
            .into_iter()
            .collect()
    };
    let roots = match host {
        HostKind::ClaudeCode => claude_code::trusted_roots(env),
        HostKind::Cursor => cursor::trusted_roots(input),
        HostKind::Gemini => gemini::trusted_roots(env),
        HostKind::Codex | HostKind::Copilot | HostKind::Oap => process(),
    };
    roots
        .into_iter()
        .filter(|r| !r.is_empty() && std::path::Path::new(r).is_absolute())
        .collect()
}

/// Where a host's trusted project roots come from (for records and doctor).
pub fn roots_from(host: HostKind) -> &'static str {
    match host {
        HostKind::ClaudeCode => claude_code::ROOTS_FROM,
        HostKind::Cursor => cursor::ROOTS_FROM,
        HostKind::Gemini => gemini::ROOTS_FROM,
        HostKind::Codex | HostKind::Copilot | HostKind::Oap => {
            "the hook process's working directory"
        }
    }
}

/// Renders a verdict as the host expects it.
pub fn answer(host: HostKind, event: Option<&str>, verdict: Verdict, reasons: &[Reason]) -> Answer {
    let text = summary(reasons);
    match host {
        HostKind::ClaudeCode => claude_code::answer(verdict, &text),
        HostKind::Cursor => cursor::answer(event, verdict, &text),
        HostKind::Codex => codex::answer(verdict, &text),
        HostKind::Gemini => gemini::answer(verdict, &text),
        HostKind::Copilot => copilot::answer(verdict, &text),
        HostKind::Oap => oap::answer(verdict, &text),
    }
}

/// The answer in warn mode: the call goes ahead (exit 0, the host's own permission
/// rules still apply), and the agent and the user are told what an enforcing policy
/// would have done, wherever the host shows a hook's words on an allow.
pub fn warn(host: HostKind, would: &Verdict, reasons: &[Reason]) -> Answer {
    let text = format!(
        "{} [warn mode: toolgate would {} this call; it was allowed]",
        summary(reasons),
        would.as_str()
    );
    match host {
        HostKind::ClaudeCode => claude_code::warn(&text),
        HostKind::Cursor => cursor::warn(&text),
        HostKind::Gemini => gemini::warn(&text),
        // These hosts show nothing of an allowing hook's stdout: the words go to stderr.
        HostKind::Codex | HostKind::Copilot | HostKind::Oap => Answer {
            stdout: String::new(),
            stderr: format!("{text}\n"),
            exit_code: EXIT_ALLOW,
        },
    }
}

/// Whether a host's stdout and exit code mean "blocked" (for the doctor's canary).
pub fn is_deny(host: HostKind, answer: &Answer) -> bool {
    let body: Value = serde_json::from_str(answer.stdout.trim()).unwrap_or(Value::Null);
    let field = |ptr: &str| body.pointer(ptr).and_then(Value::as_str);
    match host {
        HostKind::ClaudeCode | HostKind::Codex => {
            answer.exit_code == EXIT_DENY
                && field("/hookSpecificOutput/permissionDecision") == Some("deny")
        }
        HostKind::Cursor => answer.exit_code == EXIT_DENY && field("/permission") == Some("deny"),
        HostKind::Gemini => answer.exit_code == EXIT_DENY && field("/decision") == Some("deny"),
        HostKind::Copilot => {
            answer.exit_code == EXIT_ALLOW && field("/permissionDecision") == Some("deny")
        }
        HostKind::Oap => answer.exit_code == EXIT_DENY,
    }
}

/// One sentence for people: the first reason's code and message.
pub fn summary(reasons: &[Reason]) -> String {
    match reasons.first() {
        Some(r) => format!("toolgate: {} ({})", r.message, r.code),
        None => "toolgate: denied (no reason recorded)".into(),
    }
}

/// The sentence for a review verdict on a host that cannot ask a person.
pub(crate) fn review_as_deny(text: &str, host: &str) -> String {
    format!("{text}; {host} hooks cannot ask for approval, so toolgate denies")
}

pub(crate) fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

pub(crate) fn missing(field: &str, host: &str) -> Reason {
    missing_kind(field, "string", host)
}

/// `missing` for a field that must hold a JSON object.
pub(crate) fn missing_object(field: &str, host: &str) -> Reason {
    missing_kind(field, "object", host)
}

fn missing_kind(field: &str, kind: &str, host: &str) -> Reason {
    Reason::new(
        ReasonCode::InvalidInput,
        format!("the {host} hook input has no {kind} field `{field}`"),
    )
}

/// A tool input that is an object, or a string holding one (Cursor MCP, Copilot).
pub(crate) fn object_or_json_string(
    value: Option<&Value>,
    field: &str,
    host: &str,
) -> Result<Value, Reason> {
    match value {
        None | Some(Value::Null) => Ok(Value::Object(Map::new())),
        Some(Value::Object(o)) => Ok(Value::Object(o.clone())),
        Some(Value::String(s)) => match crate::canonical::parse_strict(s.as_bytes()) {
            Ok(obj @ Value::Object(_)) => Ok(obj),
            _ => Err(Reason::new(
                ReasonCode::InvalidInput,
                format!("the {host} `{field}` is a string that does not hold a JSON object"),
            )),
        },
        Some(_) => Err(missing_object(field, host)),
    }
}

/// The `tool_name` + `tool_input` pair most hosts send, as a call skeleton.
pub(crate) fn tool_call(
    host: HostKind,
    v: &Value,
    label: &str,
    input_may_be_string: bool,
) -> Result<Call, Reason> {
    let tool = str_field(v, "tool_name").ok_or_else(|| missing("tool_name", label))?;
    let input = if input_may_be_string {
        object_or_json_string(v.get("tool_input"), "tool_input", label)?
    } else {
        match v.get("tool_input") {
            Some(Value::Object(o)) => Value::Object(o.clone()),
            _ => return Err(missing_object("tool_input", label)),
        }
    };
    Ok(Call {
        host,
        event: str_field(v, "hook_event_name"),
        tool,
        input,
        cwd: str_field(v, "cwd"),
        session_id: str_field(v, "session_id"),
        tool_use_id: str_field(v, "tool_use_id"),
        on_behalf_of: None,
        policy: None,
        subagent: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A field of the wrong kind is named with the kind it must have.
    #[test]
    fn a_tool_input_that_is_no_object_is_named_as_an_object_field() {
        let no_object = json!({"tool_name": "Bash", "tool_input": "ls"});
        let r = tool_call(HostKind::ClaudeCode, &no_object, "Claude Code", false)
            .err()
            .map(|r| (r.code, r.message));
        assert_eq!(
            r,
            Some((
                ReasonCode::InvalidInput,
                "the Claude Code hook input has no object field `tool_input`".to_owned()
            ))
        );
        let r = object_or_json_string(Some(&json!(7)), "tool_input", "Cursor").err();
        assert_eq!(
            r.map(|r| r.message),
            Some("the Cursor hook input has no object field `tool_input`".to_owned())
        );
        let r = tool_call(HostKind::ClaudeCode, &json!({}), "Claude Code", false).err();
        assert_eq!(
            r.map(|r| r.message),
            Some("the Claude Code hook input has no string field `tool_name`".to_owned())
        );
    }
}
