//! Known calls in each host's own hook format, for the doctor's canary.
//!
//! The forbidden call writes toolgate's own passport file, which every
//! passport and pack refuses (it is a protected path). The allowed call uses
//! a tool the host's map lists as harmless, which passes whenever the
//! passport is valid, active and unexpired. Both carry the session id
//! [`SESSION`], so their audit records are easy to tell apart: they are real
//! evaluations and stay in the log as evidence that the hook was enforcing.

use crate::call::HostKind;
use serde_json::{json, Value};

/// The session id every canary call carries.
pub const SESSION: &str = "toolgate-doctor";

/// A host-format hook input: forbidden (a write to `target`) or allowed (a harmless tool).
pub fn call(host: HostKind, forbidden: bool, cwd: &str, target: &str) -> Value {
    match host {
        HostKind::ClaudeCode | HostKind::Oap => {
            let (tool, input) = if forbidden {
                ("Write", json!({"file_path": target, "content": "canary"}))
            } else {
                ("TodoWrite", json!({"todos": []}))
            };
            json!({"session_id": SESSION, "transcript_path": null, "cwd": cwd,
                   "permission_mode": "default", "hook_event_name": "PreToolUse",
                   "tool_name": tool, "tool_input": input, "tool_use_id": "toolu_toolgate_doctor"})
        }
        HostKind::Cursor => {
            let (tool, input) = if forbidden {
                ("Write", json!({"file_path": target, "contents": "canary"}))
            } else {
                ("TodoWrite", json!({"todos": []}))
            };
            json!({"conversation_id": SESSION, "generation_id": SESSION, "model": "doctor",
                   "hook_event_name": "preToolUse", "cursor_version": "doctor",
                   "workspace_roots": [cwd], "user_email": null, "transcript_path": null,
                   "tool_name": tool, "tool_input": input, "tool_use_id": "toolgate-doctor", "cwd": cwd})
        }
        HostKind::Codex => {
            let (tool, input) = if forbidden {
                (
                    "apply_patch",
                    json!({"command": format!("*** Begin Patch\n*** Add File: {target}\n+canary\n*** End Patch\n")}),
                )
            } else {
                ("update_plan", json!({"plan": []}))
            };
            json!({"session_id": SESSION, "turn_id": SESSION, "transcript_path": null, "cwd": cwd,
                   "hook_event_name": "PreToolUse", "model": "doctor", "permission_mode": "default",
                   "tool_name": tool, "tool_input": input, "tool_use_id": "toolgate-doctor"})
        }
        HostKind::Gemini => {
            let (tool, input) = if forbidden {
                (
                    "write_file",
                    json!({"file_path": target, "content": "canary"}),
                )
            } else {
                ("write_todos", json!({"todos": []}))
            };
            json!({"session_id": SESSION, "transcript_path": "", "cwd": cwd,
                   "hook_event_name": "BeforeTool", "timestamp": "1970-01-01T00:00:00Z",
                   "tool_name": tool, "tool_input": input})
        }
        HostKind::Copilot => {
            let (tool, args) = if forbidden {
                ("create", json!({"path": target, "file_text": "canary"}))
            } else {
                ("ask_user", json!({"question": "canary"}))
            };
            json!({"sessionId": SESSION, "timestamp": 0, "cwd": cwd,
                   "toolName": tool, "toolArgs": args.to_string()})
        }
    }
}
