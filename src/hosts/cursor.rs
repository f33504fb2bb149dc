//! Cursor hooks (`hooks.json` version 1).
//!
//! Events: `preToolUse` (`tool_name`, `tool_input`), `beforeShellExecution`
//! (`command`, `cwd`), `beforeMCPExecution` (`tool_name`, `tool_input`, which
//! may be a JSON string), `beforeReadFile` (`file_path`). Answer:
//! `{"permission": "allow" | "deny" | "ask", "user_message", "agent_message"}`,
//! exit 2 on deny.

use super::{missing, str_field, Answer, EXIT_ALLOW, EXIT_DENY};
use crate::call::{Call, HostKind};
use crate::decision::Verdict;
use crate::reason::{Reason, ReasonCode};
use serde_json::{json, Map, Value};

pub const EVENTS: &[&str] = &[
    "preToolUse",
    "beforeShellExecution",
    "beforeMCPExecution",
    "beforeReadFile",
];

/// The synthetic tool names the event-specific hooks map to in the tool map.
const SHELL_TOOL: &str = "Shell";
const READ_TOOL: &str = "Read";

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
        "beforeMCPExecution" | "preToolUse" | "PreToolUse" => {
            let tool = str_field(v, "tool_name").ok_or_else(|| missing("tool_name", "Cursor"))?;
            (tool, tool_input(v)?)
        }
        other => {
            return Err(Reason::new(
                ReasonCode::UnrecognizedInput,
                format!("Cursor event `{other}` is not one toolgate gates"),
            ))
        }
    };
    let tool = if event == "beforeMCPExecution" && !tool.starts_with("MCP:") {
        let server = str_field(v, "server")
            .or_else(|| str_field(v, "url"))
            .unwrap_or_default();
        format!("MCP:{server}:{tool}")
    } else {
        tool
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
    })
}

/// `tool_input` is an object, or (for MCP) a string holding a JSON object.
fn tool_input(v: &Value) -> Result<Value, Reason> {
    match v.get("tool_input") {
        None | Some(Value::Null) => Ok(Value::Object(Map::new())),
        Some(Value::Object(o)) => Ok(Value::Object(o.clone())),
        Some(Value::String(s)) => match crate::canonical::parse_strict(s.as_bytes()) {
            Ok(obj @ Value::Object(_)) => Ok(obj),
            _ => Err(Reason::new(
                ReasonCode::InvalidInput,
                "Cursor `tool_input` is a string that does not hold a JSON object",
            )),
        },
        Some(_) => Err(missing("tool_input (object)", "Cursor")),
    }
}

pub fn answer(_event: Option<&str>, verdict: Verdict, reasons: &[Reason]) -> Answer {
    let text = super::summary(reasons);
    let (permission, exit_code) = match verdict {
        Verdict::Allow => ("allow", EXIT_ALLOW),
        Verdict::Review => ("ask", EXIT_ALLOW),
        Verdict::Deny => ("deny", EXIT_DENY),
    };
    let body = if verdict == Verdict::Allow {
        json!({"permission": permission})
    } else {
        json!({"permission": permission, "user_message": text, "agent_message": text})
    };
    Answer {
        stdout: body.to_string() + "\n",
        stderr: if verdict == Verdict::Deny {
            text + "\n"
        } else {
            String::new()
        },
        exit_code,
    }
}
