//! Gemini CLI `BeforeTool` hooks (`settings.json`).
//!
//! Input: `session_id`, `cwd`, `hook_event_name: "BeforeTool"`, `timestamp`,
//! `tool_name` (`run_shell_command`, `write_file`, `replace`, `read_file`,
//! `web_fetch`, `mcp__<server>__<tool>`, ...), `tool_input`, and for MCP tools
//! `mcp_context`.
//!
//! Answer: exit 0 with JSON on stdout (`{}` lets the tool run); deny is
//! `{"decision": "deny", "reason": ...}` with exit 2 and the reason on
//! stderr, which Gemini CLI also reads as a block. The reference documents
//! only `deny`/`block` as effective for `BeforeTool`, so a review verdict is
//! a deny.

use super::{review_as_deny, str_field, tool_call, Answer, EXIT_ALLOW, EXIT_DENY};
use crate::call::{Call, HostKind};
use crate::decision::Verdict;
use crate::reason::{Reason, ReasonCode};
use serde_json::{json, Value};
use std::path::Path;

pub const EVENT: &str = "BeforeTool";

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
        _ => {}
    }
    Ok(call)
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

#[cfg(test)]
mod tests {
    use super::*;

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
