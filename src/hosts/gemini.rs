//! Gemini CLI `BeforeTool` hooks (`settings.json`).
//!
//! Input: `session_id`, `cwd`, `hook_event_name: "BeforeTool"`, `timestamp`,
//! `tool_name` (`run_shell_command`, `write_file`, `replace`, `read_file`,
//! `web_fetch`, `mcp_<server>_<tool>`, ...), `tool_input`, and for MCP tools
//! `mcp_context {server_name, tool_name, command, args}` (seen with 0.61.0).
//! No call id: Gemini sends none, so records and ungated-call matching use
//! the session and the input digest.
//!
//! Answer: exit 0 with JSON on stdout (`{}` lets the tool run); deny is
//! `{"decision": "deny", "reason": ...}` with exit 2 and the reason on
//! stderr, which Gemini CLI also reads as a block. The reference documents
//! only `deny`/`block` as effective for `BeforeTool`, so a review verdict is
//! a deny.

use super::descriptor::{Base, ConfigFile, Descriptor, Layout, Scope, SystemPath};
use super::{review_as_deny, str_field, tool_call, Answer, EXIT_ALLOW, EXIT_DENY};
use crate::call::{Call, HostKind};
use crate::decision::Verdict;
use crate::reason::{Reason, ReasonCode};
use serde_json::{json, Value};
use std::path::Path;

/// Where the ids of a call are.
pub const IDS: super::IdKeys = super::SNAKE_IDS;

pub const EVENT: &str = "BeforeTool";

/// Gemini CLI, as driven for real: exit 2 and a missing binary block; a
/// crash, exit 1 or a timeout (milliseconds in its settings) run the tool;
/// `hooksConfig.disabled`/`enabled` switch hooks off; in CI it passes hooks
/// only an allowlist of variables, so the command line carries every path.
pub static HOST: Descriptor = Descriptor {
    kind: HostKind::Gemini,
    name: "Gemini CLI",
    program: "gemini",
    files: &[
        ConfigFile {
            scope: Scope::User,
            base: Base::EnvHome("GEMINI_CLI_HOME"),
            rel: ".gemini/settings.json",
        },
        ConfigFile {
            scope: Scope::Project,
            base: Base::Project,
            rel: ".gemini/settings.json",
        },
    ],
    layout: Layout {
        events: &[EVENT],
        post_events: &["AfterTool"],
        grouped: true,
        command_key: "command",
        versioned: false,
    },
    handler: |command, timeout| {
        json!({"name": HOOK_NAME, "type": "command", "command": command, "timeout": timeout * 1000,
               "description": "toolgate: authorize each tool call against the signed passport"})
    },
    shell: true,
    fails_open: "a host-side timeout; a crash is blocked only through the shell fallback",
    // System defaults and system settings (the latter override every other
    // file), each movable by its own variable.
    system: &[
        SystemPath {
            env: None,
            path: "/etc/gemini-cli",
        },
        SystemPath {
            env: None,
            path: "/Library/Application Support/GeminiCli",
        },
        SystemPath {
            env: Some("GEMINI_CLI_SYSTEM_SETTINGS_PATH"),
            path: "/etc/gemini-cli/settings.json",
        },
        SystemPath {
            env: Some("GEMINI_CLI_SYSTEM_DEFAULTS_PATH"),
            path: "/etc/gemini-cli/system-defaults.json",
        },
    ],
    protect: &[".gemini"],
    off_switches,
    canary,
    verified: &["0.61.0"],
    install_note: Some("Gemini CLI: `/hooks panel` should list toolgate as enabled"),
};

/// The name toolgate's handlers carry, which `hooksConfig.disabled` lists to turn them off.
pub const HOOK_NAME: &str = "toolgate";

fn off_switches(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for ptr in [
        "/hooksConfig/enabled",
        "/hooks/enabled",
        "/tools/enableHooks",
    ] {
        if doc.pointer(ptr) == Some(&Value::Bool(false)) {
            out.push(format!(
                "`{}` is false: the hooks system is off",
                &ptr[1..].replace('/', ".")
            ));
        }
    }
    for ptr in ["/hooksConfig/disabled", "/hooks/disabled"] {
        let listed = doc
            .pointer(ptr)
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|n| n == HOOK_NAME));
        if listed {
            out.push(format!(
                "\"{HOOK_NAME}\" is listed in `{}`",
                &ptr[1..].replace('/', ".")
            ));
        }
    }
    out
}

fn canary(forbidden: bool, cwd: &str, target: &str, _version: Option<&str>) -> Value {
    let (tool, input) = if forbidden {
        (
            "write_file",
            json!({"file_path": target, "content": "canary"}),
        )
    } else {
        ("write_todos", json!({"todos": []}))
    };
    json!({"session_id": super::CANARY_SESSION, "transcript_path": "", "cwd": cwd,
           "hook_event_name": EVENT, "timestamp": "1970-01-01T00:00:00Z",
           "tool_name": tool, "tool_input": input})
}

pub fn parse(v: &Value) -> Result<Call, Reason> {
    let mut call = tool_call(HostKind::Gemini, v, "Gemini CLI", false)?;
    match call.tool.as_str() {
        "run_shell_command" => {
            // The command runs in `dir_path` (relative to the project) when given.
            if let Some(dir) = str_field(&call.input, "dir_path").filter(|d| !d.is_empty()) {
                call.cwd = Some(match &call.cwd {
                    Some(base) if !Path::new(&dir).is_absolute() => {
                        Path::new(base).join(&dir).to_string_lossy().into_owned()
                    }
                    _ => dir,
                });
            }
        }
        "web_fetch" => {
            let prompt = str_field(&call.input, "prompt")
                .ok_or_else(|| super::missing("tool_input.prompt", "Gemini CLI"))?;
            call.input = json!({"url": single_url(&prompt)?, "prompt": prompt});
        }
        t if t.starts_with(MCP_PREFIX) => call.tool = mcp_tool(v, t)?,
        _ => {}
    }
    Ok(call)
}

/// Gemini 0.61 names MCP tools `mcp_<server>_<tool>`.
const MCP_PREFIX: &str = "mcp_";

/// The MCP call as `mcp__<server>__<tool>`, from `mcp_context`.
///
/// `mcp_<server>_<tool>` alone is ambiguous (`mcp_a_b_c`), so the server and
/// tool come from `mcp_context`, and the name Gemini sent must be exactly the
/// one they spell: a context that disagrees with the name is refused rather
/// than letting either one pick the server rules.
fn mcp_tool(v: &Value, name: &str) -> Result<String, Reason> {
    let ctx = v.get("mcp_context");
    let part = |k: &str| ctx.and_then(|c| c.get(k)).and_then(Value::as_str);
    let (Some(server), Some(tool)) = (part("server_name"), part("tool_name")) else {
        if name.starts_with("mcp__") {
            // Earlier Gemini releases spelt MCP tools like Claude Code, without a context.
            return Ok(name.to_string());
        }
        return Err(Reason::new(
            ReasonCode::InvalidInput,
            format!(
                "the Gemini CLI MCP call `{name}` has no mcp_context {{server_name, tool_name}}"
            ),
        ));
    };
    if name != format!("{MCP_PREFIX}{server}_{tool}") && name != format!("mcp__{server}__{tool}") {
        return Err(Reason::new(
            ReasonCode::InvalidInput,
            format!("the Gemini CLI tool `{name}` does not match its mcp_context (server `{server}`, tool `{tool}`)"),
        ));
    }
    Ok(format!("mcp__{server}__{tool}"))
}

/// `web_fetch` takes URLs inside its prompt; toolgate judges exactly one.
///
/// URLs are counted by their scheme markers anywhere in the prompt, so two
/// URLs glued together cannot pass as one.
fn single_url(prompt: &str) -> Result<String, Reason> {
    let lower = prompt.to_ascii_lowercase();
    let count = lower.matches("http://").count() + lower.matches("https://").count();
    let token = prompt
        .split(|c: char| c.is_whitespace() || "\"'<>()[]`".contains(c))
        .find(|t| t.to_ascii_lowercase().starts_with("http"))
        .map(|t| t.trim_end_matches(['.', ',', ';', ':', '!', '?']));
    match (count, token) {
        (1, Some(url)) if url.contains("://") => Ok(url.to_string()),
        _ => Err(Reason::new(
            ReasonCode::InvalidInput,
            format!("the web_fetch prompt names {count} URLs; toolgate judges one URL per call"),
        )),
    }
}

pub fn answer(verdict: Verdict, text: &str) -> Answer {
    let deny = |t: &str| Answer::json(json!({"decision": "deny", "reason": t}), Some(t), EXIT_DENY);
    match verdict {
        Verdict::Allow => Answer::json(json!({}), None, EXIT_ALLOW),
        Verdict::Review => deny(&review_as_deny(text, "Gemini CLI")),
        Verdict::Deny => deny(text),
    }
}

/// Warn mode: allowed, with a `systemMessage` for the user.
pub fn warn(text: &str) -> Answer {
    Answer::json(json!({"systemMessage": text}), Some(text), EXIT_ALLOW)
}

/// Where [`trusted_roots`] come from, for records and doctor.
pub const ROOTS_FROM: &str = "GEMINI_PROJECT_DIR in the hook's environment";

/// The project directory Gemini CLI sets in the hook's environment
/// (`GEMINI_PROJECT_DIR`, and `CLAUDE_PROJECT_DIR` for compatibility);
/// `dir_path` is the model's choice and never a root.
pub fn trusted_roots(env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    env("GEMINI_PROJECT_DIR")
        .or_else(|| env("CLAUDE_PROJECT_DIR"))
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_tools_take_server_and_tool_from_the_context() {
        let call = |name: &str, ctx: Value| {
            parse(
                &json!({"hook_event_name": "BeforeTool", "session_id": "s", "cwd": "/p",
                "tool_name": name, "tool_input": {"q": 1}, "mcp_context": ctx}),
            )
        };
        let ctx = json!({"server_name": "git_hub", "tool_name": "create_issue", "command": "x"});
        assert_eq!(
            call("mcp_git_hub_create_issue", ctx.clone()).unwrap().tool,
            "mcp__git_hub__create_issue"
        );
        let other = json!({"server_name": "github", "tool_name": "hub_create_issue"});
        assert_eq!(
            call("mcp_github_hub_create_issue", other.clone())
                .unwrap()
                .tool,
            "mcp__github__hub_create_issue"
        );
        // A context that splits the name differently from what it says is refused.
        assert_eq!(
            call("mcp_git_hub_create_issue", other).unwrap_err().code,
            ReasonCode::InvalidInput
        );
        let liar = json!({"server_name": "trusted", "tool_name": "x"});
        assert_eq!(
            call("mcp_evil_x", liar).unwrap_err().code,
            ReasonCode::InvalidInput
        );
        assert_eq!(
            call("mcp_evil_x", Value::Null).unwrap_err().code,
            ReasonCode::InvalidInput
        );
        assert_eq!(
            call("mcp__github__x", Value::Null).unwrap().tool,
            "mcp__github__x"
        );
    }

    #[test]
    fn exactly_one_url_is_judged() {
        assert_eq!(
            single_url("Summarise https://docs.rs/serde.").unwrap(),
            "https://docs.rs/serde"
        );
        assert!(single_url("compare https://a.example and https://b.example").is_err());
        assert!(single_url("no url here").is_err());
        // URLs glued together still count twice.
        assert!(single_url("see https://a.example,https://b.example").is_err());
        assert!(single_url("x:https://evil.example https://docs.rs").is_err());
    }
}
