//! The normalized tool call every host adapter produces.

use serde::Serialize;
use serde_json::{Map, Value};

/// Which host sent the call, and so how to answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKind {
    ClaudeCode,
    Cursor,
    /// OpenAI Codex CLI (`hooks.json`, `PreToolUse`).
    Codex,
    /// Gemini CLI (`settings.json`, `BeforeTool`).
    Gemini,
    /// GitHub Copilot CLI (`.github/hooks/*.json`, `preToolUse`).
    Copilot,
    /// A generic OAP request (`{"policy": ..., "context": ...}`) from a script or CI.
    Oap,
}

impl HostKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HostKind::ClaudeCode => "claude-code",
            HostKind::Cursor => "cursor",
            HostKind::Codex => "codex",
            HostKind::Gemini => "gemini",
            HostKind::Copilot => "copilot",
            HostKind::Oap => "oap",
        }
    }

    pub fn parse(s: &str) -> Option<HostKind> {
        match s {
            "claude-code" | "claude" => Some(HostKind::ClaudeCode),
            "cursor" => Some(HostKind::Cursor),
            "codex" => Some(HostKind::Codex),
            "gemini" | "gemini-cli" => Some(HostKind::Gemini),
            "copilot" | "copilot-cli" => Some(HostKind::Copilot),
            "oap" => Some(HostKind::Oap),
            _ => None,
        }
    }
}

/// One proposed tool call, as the host described it.
#[derive(Debug, Clone, Serialize)]
pub struct Call {
    pub host: HostKind,
    /// The host's event name (`PreToolUse`, `beforeShellExecution`, ...).
    pub event: Option<String>,
    /// The tool as the host names it (`Bash`, `Shell`, `mcp__github__create_issue`).
    pub tool: String,
    /// The tool's input, as sent.
    pub input: Value,
    pub cwd: Option<String>,
    pub session_id: Option<String>,
    pub tool_use_id: Option<String>,
    /// Who the agent acts for, when the host says.
    pub on_behalf_of: Option<String>,
    /// For generic OAP requests: the policy named by the caller.
    pub policy: Option<String>,
    /// Set when the call comes from inside a subagent (Claude Code `agent_id`, `agent_type`).
    pub subagent: Option<Subagent>,
}

/// The subagent a call was made in, as the host names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subagent {
    /// The host's id for this subagent instance.
    pub id: Option<String>,
    /// The subagent's type (its definition's name, e.g. `code-reviewer`): what delegations match.
    pub agent_type: Option<String>,
}

/// A policy id with the context its checks read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    pub policy_id: String,
    pub context: Map<String, Value>,
}
