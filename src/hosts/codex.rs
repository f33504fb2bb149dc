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

use super::descriptor::{Base, ConfigFile, Descriptor, Layout, Scope, SystemPath};
use super::{review_as_deny, tool_call, Answer, EXIT_DENY};
use crate::call::{Call, HostKind};
use crate::decision::Verdict;
use crate::reason::{Reason, ReasonCode};
use serde_json::{json, Value};

/// Where the ids of a call are.
pub const IDS: super::IdKeys = super::SNAKE_IDS;

pub const EVENT: &str = "PreToolUse";
const APPLY_PATCH: &str = "apply_patch";

/// Codex CLI, as driven for real: exit 2 blocks only with a reason on
/// stderr (the shell fallback prints one); a missing binary, a crash, exit 1
/// or a timeout run the tool; a hook not trusted in `/hooks` (or changed
/// since) is skipped without a word, which doctor checks.
pub static HOST: Descriptor = Descriptor {
    kind: HostKind::Codex,
    name: "Codex CLI",
    program: "codex",
    files: &[
        ConfigFile {
            scope: Scope::User,
            base: Base::EnvOrHome("CODEX_HOME", ".codex"),
            rel: "hooks.json",
        },
        ConfigFile {
            scope: Scope::Project,
            base: Base::Project,
            rel: ".codex/hooks.json",
        },
    ],
    layout: Layout {
        events: &[EVENT],
        post_events: &["PostToolUse"],
        grouped: true,
        command_key: "command",
        versioned: false,
    },
    handler: |command, timeout| {
        json!({"type": "command", "command": command, "timeout": timeout,
               "statusMessage": "toolgate: checking the tool call"})
    },
    shell: true,
    fails_open: "a hook Codex does not trust (new or changed: see `toolgate install codex --trust` and doctor); a host-side timeout",
    // Machine-wide layers, Linux and macOS alike: `/etc/codex/requirements.toml`
    // (enforced), `managed_config.toml` (managed defaults), `config.toml`, and the
    // Team Config `rules/` and `skills/` beside them (developers.openai.com/codex
    // managed-configuration, config-basic, team-config; the 0.171.0 binary names
    // all three files). On macOS an MDM profile in the `com.openai.codex` domain
    // carries the same requirements and defaults.
    system: &[
        SystemPath { env: None, path: "/etc/codex" },
        SystemPath { env: None, path: "/Library/Managed Preferences/com.openai.codex.plist" },
    ],
    protect: &[".codex"],
    off_switches: |_| vec![],
    canary,
    verified: &["0.171.0"],
    install_note: Some("Codex runs a new or changed hook only once it is trusted: run `toolgate install codex --trust`, or review it in Codex under /hooks"),
};

fn canary(forbidden: bool, cwd: &str, target: &str, _version: Option<&str>) -> Value {
    let (tool, input) = if forbidden {
        (
            APPLY_PATCH,
            json!({"command": format!("*** Begin Patch\n*** Add File: {target}\n+canary\n*** End Patch\n")}),
        )
    } else {
        ("update_plan", json!({"plan": []}))
    };
    json!({"session_id": super::CANARY_SESSION, "turn_id": super::CANARY_SESSION, "transcript_path": null,
           "cwd": cwd, "hook_event_name": EVENT, "model": "doctor", "permission_mode": "default",
           "tool_name": tool, "tool_input": input, "tool_use_id": "toolgate-doctor"})
}

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

/// Talking to `codex app-server`, the JSON-RPC interface Codex's own `/hooks`
/// screen uses: `hooks/list` tells each hook's current hash and trust status,
/// `config/batchWrite` records `hooks.state."<key>".trusted_hash`. toolgate
/// never computes Codex's hash itself, so a new Codex that hashes differently
/// still gets exactly what its screen would write.
pub mod trust {
    use serde_json::{json, Value};
    use std::io::{BufRead, BufReader, Write};
    use std::path::Path;
    use std::process::{Command, Stdio};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    /// How long Codex may take to start and answer.
    const DEADLINE: Duration = Duration::from_secs(30);

    #[derive(Debug, thiserror::Error)]
    pub enum TrustError {
        #[error("cannot run {program} app-server: {source} (install Codex, or pass --codex FILE)")]
        Spawn {
            program: String,
            #[source]
            source: std::io::Error,
        },
        #[error("codex app-server: {0}")]
        Protocol(String),
        #[error("codex app-server gave no answer within {}s", DEADLINE.as_secs())]
        Timeout,
        #[error("Codex lists no toolgate hook from {0}; run `toolgate install codex` first")]
        NoHook(String),
    }

    /// One of toolgate's hooks as Codex sees it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct HookState {
        pub key: String,
        pub current_hash: String,
        /// `trusted`, `untrusted`, `modified` or `managed`.
        pub status: String,
    }

    struct Session {
        child: std::process::Child,
        lines: mpsc::Receiver<String>,
        started: Instant,
    }

    impl Session {
        fn start(program: &Path) -> Result<Session, TrustError> {
            let mut child = Command::new(program)
                .arg("app-server")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|source| TrustError::Spawn {
                    program: program.display().to_string(),
                    source,
                })?;
            let out = child
                .stdout
                .take()
                .ok_or_else(|| TrustError::Protocol("its stdout could not be read".into()))?;
            let (tx, lines) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            let mut s = Session {
                child,
                lines,
                started: Instant::now(),
            };
            s.call(
                1,
                "initialize",
                json!({"clientInfo": {"name": "toolgate", "version": env!("CARGO_PKG_VERSION")}}),
            )?;
            s.send(&json!({"jsonrpc": "2.0", "method": "initialized"}))?;
            Ok(s)
        }

        fn send(&mut self, msg: &Value) -> Result<(), TrustError> {
            let stdin = self
                .child
                .stdin
                .as_mut()
                .ok_or_else(|| TrustError::Protocol("its stdin could not be written".into()))?;
            writeln!(stdin, "{msg}").map_err(|e| TrustError::Protocol(e.to_string()))
        }

        fn call(&mut self, id: u64, method: &str, params: Value) -> Result<Value, TrustError> {
            self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
            loop {
                let left = DEADLINE.saturating_sub(self.started.elapsed());
                let line = self
                    .lines
                    .recv_timeout(left)
                    .map_err(|_| TrustError::Timeout)?;
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if v.get("id") != Some(&json!(id)) {
                    continue;
                }
                if let Some(e) = v.get("error") {
                    return Err(TrustError::Protocol(format!("{method}: {e}")));
                }
                return Ok(v.get("result").cloned().unwrap_or(Value::Null));
            }
        }

        /// toolgate's hooks from one hooks file.
        fn toolgate_hooks(
            &mut self,
            id: u64,
            hooks_file: &Path,
            cwd: &Path,
        ) -> Result<Vec<HookState>, TrustError> {
            let listed = self.call(id, "hooks/list", json!({"cwds": [cwd]}))?;
            let file = hooks_file.to_string_lossy();
            let hooks = listed
                .pointer("/data")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|d| d.get("hooks").and_then(Value::as_array))
                .flatten();
            let mut out: Vec<HookState> = Vec::new();
            for h in hooks {
                let field = |k: &str| {
                    h.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                let ours = crate::hosts::hook_command::is_toolgate_command(
                    &field("command"),
                    crate::call::HostKind::Codex,
                );
                if ours && field("sourcePath") == file && !out.iter().any(|o| o.key == field("key"))
                {
                    out.push(HookState {
                        key: field("key"),
                        current_hash: field("currentHash"),
                        status: field("trustStatus"),
                    });
                }
            }
            Ok(out)
        }
    }

    impl Drop for Session {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// How Codex sees toolgate's hooks in `hooks_file` (for doctor).
    pub fn hook_states(
        program: &Path,
        hooks_file: &Path,
        cwd: &Path,
    ) -> Result<Vec<HookState>, TrustError> {
        Session::start(program)?.toolgate_hooks(2, hooks_file, cwd)
    }

    /// Records toolgate's hooks in `hooks_file` as trusted at their current
    /// hash; returns their keys.
    pub fn trust_hooks(
        program: &Path,
        hooks_file: &Path,
        cwd: &Path,
    ) -> Result<Vec<String>, TrustError> {
        let mut s = Session::start(program)?;
        let hooks = s.toolgate_hooks(2, hooks_file, cwd)?;
        if hooks.is_empty() {
            return Err(TrustError::NoHook(hooks_file.display().to_string()));
        }
        let state: serde_json::Map<String, Value> = hooks
            .iter()
            .map(|h| (h.key.clone(), json!({"trusted_hash": h.current_hash})))
            .collect();
        s.call(
            3,
            "config/batchWrite",
            json!({"edits": [{"keyPath": "hooks.state", "value": state, "mergeStrategy": "upsert"}]}),
        )?;
        let after = s.toolgate_hooks(4, hooks_file, cwd)?;
        match after.iter().find(|h| h.status != "trusted") {
            Some(h) => Err(TrustError::Protocol(format!(
                "{} is still {} after the write",
                h.key, h.status
            ))),
            None => Ok(after.into_iter().map(|h| h.key).collect()),
        }
    }
}

pub use trust::trust_hooks;
