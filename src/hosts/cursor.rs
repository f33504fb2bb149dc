//! Cursor hooks (`hooks.json` version 1).
//!
//! Events: `preToolUse` (`tool_name`, `tool_input`, `tool_use_id`, `cwd`),
//! `beforeShellExecution` (`command`, `cwd`), `beforeMCPExecution`
//! (`tool_name`, `tool_input` as a JSON string, `mcp_server_name`, and `url`
//! or `command`), `beforeReadFile` (`file_path`). Every payload carries
//! `conversation_id`, `generation_id`, `cursor_version`, `workspace_roots`.
//!
//! Answer: `{"permission": "allow" | "deny", "user_message", "agent_message"}`,
//! exit 2 on deny. Cursor documents `ask` as not enforced for `preToolUse`
//! and `beforeReadFile` has no `ask` at all, so a review verdict is a deny.
//!
//! One action can fire two events (`preToolUse` and `beforeShellExecution`
//! for a shell command). Both map to the same pack with the same fields, so
//! the two evaluations reach the same verdict; both are recorded, each with
//! its event.

use super::descriptor::{Base, ConfigFile, Descriptor, Layout, Scope, SystemPath};
use super::{missing, object_or_json_string, review_as_deny, str_field, Answer, EXIT_DENY};
use crate::call::{Call, HostKind};
use crate::decision::Verdict;
use crate::reason::{Reason, ReasonCode};
use serde_json::{json, Value};

/// Where the ids of a call are.
pub const IDS: super::IdKeys = super::IdKeys {
    tool: &["tool_name"],
    session: &["conversation_id", "session_id"],
    call: &["tool_use_id", "generation_id"],
};

pub const EVENTS: &[&str] = &[
    "preToolUse",
    "beforeShellExecution",
    "beforeMCPExecution",
    "beforeReadFile",
];

/// Cursor (adapter-only: no CLI to drive here). `failClosed: true` makes a
/// hook that cannot answer block; a handler without it fails open.
pub static HOST: Descriptor = Descriptor {
    kind: HostKind::Cursor,
    name: "Cursor",
    program: "cursor-agent",
    files: &[
        ConfigFile {
            scope: Scope::User,
            base: Base::Home,
            rel: ".cursor/hooks.json",
        },
        ConfigFile {
            scope: Scope::Project,
            base: Base::Project,
            rel: ".cursor/hooks.json",
        },
    ],
    layout: Layout {
        events: EVENTS,
        post_events: &["postToolUse"],
        grouped: false,
        command_key: "command",
        versioned: true,
    },
    handler: |command, timeout| json!({"command": command, "timeout": timeout, "failClosed": true}),
    shell: false,
    fails_open: "not verified with the real host; per its documentation, a handler without `failClosed: true` (doctor checks it)",
    // Enterprise hooks, which outrank every other level and run from their own
    // directory (cursor.com/docs/hooks, "Configuration" and "MDM Distribution"):
    // `/etc/cursor/hooks.json` on Linux and WSL, with its scripts beside it, and
    // `/Library/Application Support/Cursor/hooks.json` on macOS.
    system: &[
        SystemPath { env: None, path: "/etc/cursor" },
        SystemPath { env: None, path: "/Library/Application Support/Cursor/hooks.json" },
    ],
    protect: &[".cursor"],
    off_switches,
    canary,
    verified: &[],
    install_note: None,
};

fn off_switches(doc: &Value) -> Vec<String> {
    let ours = |h: &Value| {
        h.get("command")
            .and_then(Value::as_str)
            .is_some_and(crate::hosts::hook_command::is_toolgate_any)
    };
    let open = doc
        .get("hooks")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|h| h.values())
        .filter_map(Value::as_array)
        .flatten()
        .any(|h| ours(h) && h.get("failClosed") != Some(&Value::Bool(true)));
    if open {
        vec!["toolgate's entry lacks \"failClosed\": true (Cursor would fail open)".into()]
    } else {
        vec![]
    }
}

fn canary(forbidden: bool, cwd: &str, target: &str, _version: Option<&str>) -> Value {
    let (tool, input) = if forbidden {
        ("Write", json!({"file_path": target, "contents": "canary"}))
    } else {
        ("TodoWrite", json!({"todos": []}))
    };
    json!({"conversation_id": super::CANARY_SESSION, "generation_id": super::CANARY_SESSION, "model": "doctor",
           "hook_event_name": "preToolUse", "cursor_version": "doctor",
           "workspace_roots": [cwd], "user_email": null, "transcript_path": null,
           "tool_name": tool, "tool_input": input, "tool_use_id": "toolgate-doctor", "cwd": cwd})
}

/// The tool names the event-specific hooks map to in the tool map.
const SHELL_TOOL: &str = "Shell";
const READ_TOOL: &str = "Read";
/// Cursor names MCP tools `MCP:<tool>` in `preToolUse`; toolgate adds the server.
const MCP_PREFIX: &str = "MCP:";

pub fn parse(v: &Value) -> Result<Call, Reason> {
    let event =
        str_field(v, "hook_event_name").ok_or_else(|| missing("hook_event_name", "Cursor"))?;
    let cwd = str_field(v, "cwd").or_else(|| {
        v.get("workspace_roots")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let (tool, input) = match event.as_str() {
        "beforeShellExecution" => {
            let command = str_field(v, "command").ok_or_else(|| missing("command", "Cursor"))?;
            (SHELL_TOOL.to_string(), json!({"command": command}))
        }
        "beforeReadFile" => {
            let path = str_field(v, "file_path").ok_or_else(|| missing("file_path", "Cursor"))?;
            (READ_TOOL.to_string(), json!({"file_path": path}))
        }
        // `postToolUse` is read the same way, for the ungated-call alarm.
        "beforeMCPExecution" | "preToolUse" | "PreToolUse" | "postToolUse" => {
            let tool = str_field(v, "tool_name").ok_or_else(|| missing("tool_name", "Cursor"))?;
            let input = object_or_json_string(v.get("tool_input"), "tool_input", "Cursor")?;
            (mcp_name(v, &event, tool)?, input)
        }
        other => {
            return Err(Reason::new(
                ReasonCode::UnrecognizedInput,
                format!("Cursor event `{other}` is not one toolgate gates"),
            ))
        }
    };
    Ok(Call {
        host: HostKind::Cursor,
        event: Some(event),
        tool,
        input,
        cwd,
        session_id: str_field(v, "conversation_id").or_else(|| str_field(v, "session_id")),
        tool_use_id: str_field(v, "tool_use_id").or_else(|| str_field(v, "generation_id")),
        on_behalf_of: str_field(v, "user_email"),
        policy: None,
        subagent: None,
    })
}

/// `MCP:<server>:<tool>` for MCP calls, so the tool map can check the server.
///
/// The server's name is `mcp_server_name`; without it the call keeps a name
/// the tool map cannot split, and is denied as an unknown tool.
fn mcp_name(v: &Value, event: &str, tool: String) -> Result<String, Reason> {
    let bare = if event == "beforeMCPExecution" {
        tool.as_str()
    } else {
        match tool.strip_prefix(MCP_PREFIX) {
            Some(rest) if !rest.contains(':') => rest,
            _ => return Ok(tool),
        }
    };
    Ok(match str_field(v, "mcp_server_name") {
        Some(server) => format!("{MCP_PREFIX}{server}:{bare}"),
        None => format!("{MCP_PREFIX}{bare}"),
    })
}

pub fn answer(_event: Option<&str>, verdict: Verdict, text: &str) -> Answer {
    match verdict {
        Verdict::Allow => Answer::json(json!({"permission": "allow"}), None, super::EXIT_ALLOW),
        Verdict::Review => deny(&review_as_deny(text, "Cursor")),
        Verdict::Deny => deny(text),
    }
}

/// Warn mode: allowed, with the words for the user and for the agent.
pub fn warn(text: &str) -> Answer {
    Answer::json(
        json!({"permission": "allow", "user_message": text, "agent_message": text}),
        Some(text),
        super::EXIT_ALLOW,
    )
}

fn deny(text: &str) -> Answer {
    Answer::json(
        json!({"permission": "deny", "user_message": text, "agent_message": text}),
        Some(text),
        EXIT_DENY,
    )
}

/// Where [`trusted_roots`] come from, for records and doctor.
pub const ROOTS_FROM: &str = "workspace_roots in the hook input";

/// The workspace folders Cursor puts in every payload (set by the editor, not the model);
/// `cwd` and a shell tool's `working_directory` are the model's choice and never roots.
pub fn trusted_roots(v: &Value) -> Vec<String> {
    v.get("workspace_roots")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
