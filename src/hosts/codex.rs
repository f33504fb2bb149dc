//! OpenAI Codex CLI `PreToolUse` hooks (`~/.codex/hooks.json`, `.codex/hooks.json`).
//!
//! Input: `session_id`, `turn_id`, `cwd`, `model`, `permission_mode`,
//! `tool_name` (`Bash`, `apply_patch`, `mcp__<server>__<tool>`), `tool_use_id`,
//! `tool_input` (`{"command": ...}` for `Bash` and `apply_patch`, the
//! arguments for MCP tools).
//!
//! Codex parses the answer against a strict schema (unknown keys fail the
//! hook, and a failed hook does not block). Deny: exit 2 with the reason on
//! stderr, and the schema-valid `hookSpecificOutput` deny on stdout. Allow:
//! exit 0 and no output (`permissionDecision: "allow"` without
//! `updatedInput` is rejected as invalid). `ask` is unsupported and would fail
//! open, so a review verdict is a deny.

use super::{review_as_deny, tool_call, Answer, EXIT_DENY};
use crate::call::{Call, HostKind};
use crate::decision::Verdict;
use crate::reason::{Reason, ReasonCode};
use serde_json::{json, Value};

pub const EVENT: &str = "PreToolUse";
const APPLY_PATCH: &str = "apply_patch";

pub fn parse(v: &Value) -> Result<Call, Reason> {
    let mut call = tool_call(HostKind::Codex, v, "Codex", false)?;
    if call.tool == APPLY_PATCH {
        call.input = patch_target(&call.input)?;
    }
    Ok(call)
}

/// One file operation of an `apply_patch` envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchOp {
    pub op: &'static str,
    pub path: String,
    /// The lines the patch adds (without their `+`).
    pub added: String,
}

/// Reads the file operations of a Codex patch (`*** Add File:`, `*** Update
/// File:`, `*** Delete File:`, `*** Move to:`); a move is a second target.
pub fn patch_ops(patch: &str) -> Vec<PatchOp> {
    let mut ops: Vec<PatchOp> = Vec::new();
    for line in patch.lines() {
        let line = line.trim_end_matches('\r');
        // Leading blanks and spacing are forgiven, so a header toolgate misses is not one Codex obeys.
        let header = line.trim_start().strip_prefix("***").and_then(|h| {
            let h = h.trim_start();
            [
                ("Add File:", "add"),
                ("Update File:", "update"),
                ("Delete File:", "delete"),
                ("Move to:", "move"),
            ]
            .iter()
            .find_map(|(p, op)| h.strip_prefix(p).map(|rest| (*op, rest.trim())))
        });
        if let Some((op, path)) = header {
            ops.push(PatchOp {
                op,
                path: path.to_string(),
                added: String::new(),
            });
        } else if let (Some(added), Some(last)) = (line.strip_prefix('+'), ops.last_mut()) {
            last.added.push_str(added);
            last.added.push('\n');
        }
    }
    ops
}

/// The single file a patch writes, as `{file_path, content, operation}`.
///
/// A patch that touches several files (or moves one) is denied: the file
/// pack judges one path per call, and judging only one of them would let the
/// others through unchecked.
fn patch_target(input: &Value) -> Result<Value, Reason> {
    let patch = input
        .get("command")
        .and_then(Value::as_str)
        .ok_or_else(|| super::missing("tool_input.command (the patch)", "Codex"))?;
    let ops = patch_ops(patch);
    match ops.as_slice() {
        [one] => Ok(json!({"file_path": one.path, "content": one.added, "operation": one.op})),
        [] => Err(Reason::new(
            ReasonCode::InvalidInput,
            "the apply_patch input names no file (`*** Add/Update/Delete File:`)",
        )),
        many => Err(Reason::new(
            ReasonCode::InvalidInput,
            format!(
                "the patch touches {} paths ({}); toolgate judges one file per apply_patch call",
                many.len(),
                many.iter()
                    .map(|o| o.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

pub fn answer(verdict: Verdict, text: &str) -> Answer {
    let deny = |t: &str| Answer::json(super::claude_code::decision("deny", t), Some(t), EXIT_DENY);
    match verdict {
        Verdict::Allow => Answer::silent_allow(),
        Verdict::Review => deny(&review_as_deny(text, "Codex")),
        Verdict::Deny => deny(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_headers_become_targets() {
        let p = "*** Begin Patch\n*** Update File: src/a.rs\n@@\n-old\n+new line\n*** End Patch\n";
        let ops = patch_ops(p);
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].path, "src/a.rs");
        assert_eq!(ops[0].op, "update");
        assert_eq!(ops[0].added, "new line\n");
        let sneaky =
            "*** Begin Patch\n*** Update File: a\n+x\n   ***  Delete File: b\n*** End Patch";
        assert_eq!(patch_ops(sneaky).len(), 2);
        let moved = "*** Begin Patch\n*** Update File: a\n*** Move to: .git/hooks/pre-commit\n+x\n*** End Patch";
        assert_eq!(patch_ops(moved).len(), 2);
    }
}
