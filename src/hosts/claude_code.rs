//! Claude Code `PreToolUse` hooks.
//!
//! Input: `tool_name`, `tool_input`, `cwd`, `session_id`, `tool_use_id`, and inside a
//! subagent `agent_id` and `agent_type`.
//! Deny: exit 2 with the reason on stderr (what Claude Code shows the model)
//! and the `hookSpecificOutput` deny object on stdout. Allow: exit 0, no
//! output, so Claude Code's own permission rules still apply. Review: exit 0
//! with `permissionDecision: "ask"`.

use super::descriptor::{self, Base, ConfigFile, Descriptor, Layout, Scope, SystemPath};
use super::{str_field, tool_call, Answer, EXIT_ALLOW, EXIT_DENY};
use crate::call::{Call, HostKind, Subagent};
use crate::decision::Verdict;
use crate::reason::Reason;
use serde_json::{json, Value};

/// Where the ids of a call are.
pub const IDS: super::IdKeys = super::SNAKE_IDS;

pub const EVENT: &str = "PreToolUse";

/// Claude Code, as driven for real (tests/hosts): hooks run through
/// `/bin/sh -c`; exit 1, a crash or a missing binary let the tool run, so the
/// installed command ends in toolgate's shell fallback; a timeout runs the
/// tool too, which toolgate's watchdog keeps from happening.
pub static HOST: Descriptor = Descriptor {
    kind: HostKind::ClaudeCode,
    name: "Claude Code",
    program: "claude",
    files: &[
        ConfigFile {
            scope: Scope::User,
            base: Base::EnvOrHome("CLAUDE_CONFIG_DIR", ".claude"),
            rel: "settings.json",
        },
        ConfigFile {
            scope: Scope::Project,
            base: Base::Project,
            rel: ".claude/settings.json",
        },
        ConfigFile {
            scope: Scope::Local,
            base: Base::Project,
            rel: ".claude/settings.local.json",
        },
    ],
    layout: Layout {
        events: &[EVENT],
        post_events: &["PostToolUse"],
        grouped: true,
        command_key: "command",
        versioned: false,
    },
    handler: |command, timeout| json!({"type": "command", "command": command, "timeout": timeout}),
    shell: true,
    fails_open: "nothing known with toolgate's wiring: a missing or crashing binary is blocked by the shell fallback, a stall by the watchdog; only a host-side timeout shorter than toolgate's deadline would run the tool",
    // Managed settings outrank every other scope and can carry hooks or
    // `disableAllHooks` (Linux and WSL, then macOS: the directory and the MDM profile).
    system: &[
        SystemPath { env: None, path: "/etc/claude-code" },
        SystemPath { env: None, path: "/Library/Application Support/ClaudeCode" },
        SystemPath { env: None, path: "/Library/Managed Preferences/com.anthropic.claudecode.plist" },
    ],
    // `.mcp.json` is the project scope's MCP servers: commands Claude Code starts
    // once approved, or at once under `enableAllProjectMcpServers` (named in the
    // 2.1.197 binary's "awaiting approval" and "server approval" messages).
    protect: &[".claude/settings.json", ".claude/settings.local.json", ".claude.json", ".mcp.json"],
    off_switches: descriptor::disable_all_hooks,
    canary,
    verified: &["2.1.197"],
    install_note: None,
};

/// The doctor's canary: a write to `target`, or a to-do call the version has
/// (`TodoWrite` was replaced by the `Task*` tools in the 2.1 line).
fn canary(forbidden: bool, cwd: &str, target: &str, version: Option<&str>) -> Value {
    let (tool, input) = if forbidden {
        ("Write", json!({"file_path": target, "content": "canary"}))
    } else if version.is_some_and(|v| super::version_at_least(v, &[2, 1])) {
        ("TaskList", json!({}))
    } else {
        ("TodoWrite", json!({"todos": []}))
    };
    json!({"session_id": super::CANARY_SESSION, "transcript_path": null, "cwd": cwd,
           "permission_mode": "default", "hook_event_name": EVENT,
           "tool_name": tool, "tool_input": input, "tool_use_id": "toolu_toolgate_doctor"})
}

pub fn parse(v: &Value) -> Result<Call, Reason> {
    let mut call = tool_call(HostKind::ClaudeCode, v, "Claude Code", false)?;
    // Present only for calls made inside a subagent.
    let (id, agent_type) = (str_field(v, "agent_id"), str_field(v, "agent_type"));
    if id.is_some() || agent_type.is_some() {
        call.subagent = Some(Subagent { id, agent_type });
    }
    Ok(call)
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

/// Warn mode: `systemMessage` is shown to the user, `additionalContext` reaches the
/// model; no `permissionDecision`, so Claude Code's own permission rules still decide.
pub fn warn(text: &str) -> Answer {
    Answer::json(
        json!({
            "systemMessage": text,
            "hookSpecificOutput": {"hookEventName": EVENT, "additionalContext": text},
        }),
        Some(text),
        EXIT_ALLOW,
    )
}

/// Where [`trusted_roots`] come from, for records and doctor.
pub const ROOTS_FROM: &str = "CLAUDE_PROJECT_DIR in the hook's environment";

/// The project root Claude Code sets in the hook's environment; the payload's
/// `cwd` follows the model's `cd`s and is never a root.
pub fn trusted_roots(env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    env("CLAUDE_PROJECT_DIR").into_iter().collect()
}
