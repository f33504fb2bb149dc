//! GitHub Copilot CLI `preToolUse` hooks (`.github/hooks/*.json`,
//! `~/.copilot/hooks/*.json`).
//!
//! Two documented payloads: camelCase for a `preToolUse` entry (`sessionId`,
//! `timestamp` in ms, `cwd`, `toolName`, `toolArgs`, where `toolArgs` is
//! often a JSON string), and the VS Code-compatible snake_case one for a
//! `PreToolUse` entry (`hook_event_name`, `session_id`, `timestamp`, `cwd`,
//! `tool_name`, `tool_input`), which is also what a hook in a repository's
//! `.claude/settings.json` receives when Copilot CLI runs it.
//!
//! Answer: `{"permissionDecision": "allow" | "deny" | "ask",
//! "permissionDecisionReason"}` on stdout with exit 0. Copilot treats exit 2
//! of a `preToolUse` hook as a warning and any other failure as fail-open,
//! so the deny must be the JSON, and the exit code stays 0.

use super::descriptor::{Base, ConfigFile, Descriptor, Layout, Scope};
use super::{missing, object_or_json_string, str_field, Answer, EXIT_ALLOW};
use crate::call::{Call, HostKind};
use crate::decision::Verdict;
use crate::reason::Reason;
use serde_json::{json, Value};

/// Where the ids of a call are (camelCase payload first; Copilot sends no call id).
pub const IDS: super::IdKeys = super::IdKeys {
    tool: &["toolName", "tool_name"],
    session: &["sessionId", "session_id"],
    call: &[],
};

pub const EVENT: &str = "preToolUse";

/// Copilot CLI, as driven for real: exit 2, a crash and a missing binary all
/// block; only a timeout runs the tool. `toolArgs` arrives as an object.
pub static HOST: Descriptor = Descriptor {
    kind: HostKind::Copilot,
    name: "Copilot CLI",
    program: "copilot",
    files: &[
        ConfigFile {
            scope: Scope::User,
            base: Base::EnvOrHome("COPILOT_HOME", ".copilot"),
            rel: "hooks/toolgate.json",
        },
        ConfigFile {
            scope: Scope::Project,
            base: Base::Project,
            rel: ".github/hooks/toolgate.json",
        },
    ],
    layout: Layout {
        events: &[EVENT],
        post_events: &["postToolUse"],
        grouped: false,
        command_key: "bash",
        versioned: true,
    },
    handler: |command, timeout| json!({"type": "command", "bash": command, "timeoutSec": timeout}),
    shell: true,
    fails_open: "a host-side timeout",
    system: &[],
    protect: &[".github/hooks", ".github/copilot", ".copilot"],
    off_switches: super::descriptor::disable_all_hooks,
    canary,
    verified: &["1.0.102"],
    install_note: None,
};

fn canary(forbidden: bool, cwd: &str, target: &str, _version: Option<&str>) -> Value {
    let (tool, args) = if forbidden {
        ("create", json!({"path": target, "file_text": "canary"}))
    } else {
        ("ask_user", json!({"question": "canary"}))
    };
    json!({"sessionId": super::CANARY_SESSION, "timestamp": 0, "cwd": cwd,
           "toolName": tool, "toolArgs": args})
}

pub fn parse(v: &Value) -> Result<Call, Reason> {
    let (tool_key, input_key, session_key) = if v.get("toolName").is_some() {
        ("toolName", "toolArgs", "sessionId")
    } else {
        ("tool_name", "tool_input", "session_id")
    };
    let tool = str_field(v, tool_key).ok_or_else(|| missing(tool_key, "Copilot CLI"))?;
    let input = object_or_json_string(v.get(input_key), input_key, "Copilot CLI")?;
    Ok(Call {
        host: HostKind::Copilot,
        event: Some(str_field(v, "hook_event_name").unwrap_or_else(|| EVENT.into())),
        tool,
        input,
        cwd: str_field(v, "cwd"),
        session_id: str_field(v, session_key),
        tool_use_id: None,
        on_behalf_of: None,
        policy: None,
        subagent: None,
    })
}

pub fn answer(verdict: Verdict, text: &str) -> Answer {
    let decision = |d: &str| json!({"permissionDecision": d, "permissionDecisionReason": text});
    match verdict {
        Verdict::Allow => Answer::silent_allow(),
        Verdict::Review => Answer::json(decision("ask"), None, EXIT_ALLOW),
        Verdict::Deny => Answer::json(decision("deny"), Some(text), EXIT_ALLOW),
    }
}
