//! Host detection and payload shapes, including the payloads other hosts send
//! to a hook installed in a Claude Code settings file.

use serde_json::{json, Value};
use toolgate::call::HostKind;
use toolgate::decision::Verdict;
use toolgate::gate::read_call;
use toolgate::hosts::{self, detect};
use toolgate::reason::{Reason, ReasonCode};

fn call(host: Option<HostKind>, v: Value) -> Result<toolgate::call::Call, (HostKind, Reason)> {
    read_call(v.to_string().as_bytes(), host)
}

#[test]
fn each_host_is_detected_by_its_documented_fields() {
    let cases = [
        (
            json!({"hook_event_name": "PreToolUse", "session_id": "s", "transcript_path": "/t", "cwd": "/r",
                "permission_mode": "default", "tool_name": "Bash", "tool_input": {"command": "ls"}, "tool_use_id": "t"}),
            HostKind::ClaudeCode,
        ),
        (
            json!({"hook_event_name": "preToolUse", "conversation_id": "c", "cursor_version": "2.0",
                "workspace_roots": ["/r"], "tool_name": "Shell", "tool_input": {"command": "ls"}}),
            HostKind::Cursor,
        ),
        (
            json!({"hook_event_name": "PreToolUse", "session_id": "s", "turn_id": "t", "model": "gpt-5-codex",
                "cwd": "/r", "permission_mode": "default", "tool_name": "Bash", "tool_input": {"command": "ls"},
                "tool_use_id": "c", "transcript_path": null}),
            HostKind::Codex,
        ),
        (
            json!({"hook_event_name": "BeforeTool", "session_id": "s", "cwd": "/r", "timestamp": "2026-01-01T00:00:00Z",
                "tool_name": "run_shell_command", "tool_input": {"command": "ls"}}),
            HostKind::Gemini,
        ),
        (
            json!({"sessionId": "s", "timestamp": 1, "cwd": "/r", "toolName": "bash", "toolArgs": "{\"command\":\"ls\"}"}),
            HostKind::Copilot,
        ),
        (
            json!({"hook_event_name": "PreToolUse", "session_id": "s", "timestamp": "2026-01-01T00:00:00Z",
                "cwd": "/r", "tool_name": "bash", "tool_input": {"command": "ls"}}),
            HostKind::Copilot,
        ),
        (
            json!({"policy": "web.fetch.v1", "context": {}}),
            HostKind::Oap,
        ),
    ];
    for (input, want) in cases {
        assert_eq!(detect(&input), Some(want), "{input}");
        assert_eq!(call(None, input).unwrap().host, want);
    }
}

#[test]
fn unknown_shapes_deny_as_unrecognized() {
    for input in [
        json!({"tool": "Bash", "input": {"command": "ls"}}),
        json!({"hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_input": {}}),
        // VS Code's own agent hooks: both timestamp and tool_use_id, VS Code tool names.
        json!({"hook_event_name": "PreToolUse", "session_id": "s", "timestamp": "x", "cwd": "/r",
               "tool_name": "run_in_terminal", "tool_input": {"command": "ls"}, "tool_use_id": "t"}),
        json!([1, 2]),
    ] {
        let (_, r) = call(None, input.clone()).unwrap_err();
        assert_eq!(r.code, ReasonCode::UnrecognizedInput, "{input}");
    }
}

#[test]
fn cursor_payloads_for_claude_style_hooks_are_read_as_cursor() {
    // What Cursor sends to a hook configured in .claude/settings.json (third-party hooks).
    for event in ["PreToolUse", "preToolUse"] {
        let v = json!({"hook_event_name": event, "conversation_id": "c1", "generation_id": "g1",
                       "cursor_version": "2.4.0", "workspace_roots": ["/repo"], "model": "x",
                       "tool_name": "Shell", "tool_input": {"command": "git status", "working_directory": "/repo"},
                       "tool_use_id": "tu1", "cwd": "/repo"});
        let c = call(Some(HostKind::ClaudeCode), v).unwrap();
        assert_eq!(c.host, HostKind::Cursor, "{event}");
        assert_eq!(c.tool, "Shell");
        assert_eq!(c.session_id.as_deref(), Some("c1"));
    }
    // Copilot CLI reads a repository's .claude/settings.json too, with its VS Code-compatible payload.
    let v = json!({"hook_event_name": "PreToolUse", "session_id": "s", "timestamp": "2026-01-01T00:00:00Z",
                   "cwd": "/repo", "tool_name": "bash", "tool_input": {"command": "ls"}});
    assert_eq!(
        call(Some(HostKind::ClaudeCode), v).unwrap().host,
        HostKind::Copilot
    );
    // An explicit host that is not Claude Code's settings family is never second-guessed.
    let v = json!({"hook_event_name": "beforeShellExecution", "command": "ls", "cwd": "/r"});
    assert_eq!(
        call(Some(HostKind::Codex), v).unwrap_err().1.code,
        ReasonCode::InvalidInput
    );
}

#[test]
fn cursor_events_normalize_to_one_tool_vocabulary() {
    let shell = json!({"hook_event_name": "beforeShellExecution", "command": "ls -la", "cwd": "/r",
                       "conversation_id": "c", "workspace_roots": ["/r"]});
    let c = call(Some(HostKind::Cursor), shell).unwrap();
    assert_eq!(
        (c.tool.as_str(), &c.input),
        ("Shell", &json!({"command": "ls -la"}))
    );
    let mcp = json!({"hook_event_name": "beforeMCPExecution", "tool_name": "create_issue",
                     "tool_input": "{\"title\":\"x\"}", "mcp_server_name": "github", "url": "https://x",
                     "conversation_id": "c", "workspace_roots": ["/r"]});
    let c = call(Some(HostKind::Cursor), mcp).unwrap();
    assert_eq!(c.tool, "MCP:github:create_issue");
    assert_eq!(c.input, json!({"title": "x"}));
    let pre = json!({"hook_event_name": "preToolUse", "tool_name": "MCP:create_issue", "tool_input": {},
                     "mcp_server_name": "github", "conversation_id": "c", "workspace_roots": ["/r"]});
    assert_eq!(
        call(Some(HostKind::Cursor), pre).unwrap().tool,
        "MCP:github:create_issue"
    );
    // Without a server name the call keeps a name no tool map can split: unknown tool, denied later.
    let anon = json!({"hook_event_name": "beforeMCPExecution", "tool_name": "t", "tool_input": "{}",
                      "url": "https://mcp.example/sse", "conversation_id": "c"});
    assert_eq!(call(Some(HostKind::Cursor), anon).unwrap().tool, "MCP:t");
    let bad = json!({"hook_event_name": "beforeMCPExecution", "tool_name": "t", "tool_input": "[1]",
                     "mcp_server_name": "github", "conversation_id": "c"});
    assert_eq!(
        call(Some(HostKind::Cursor), bad).unwrap_err().1.code,
        ReasonCode::InvalidInput
    );
}

#[test]
fn copilot_tool_args_may_be_a_json_string_but_must_hold_an_object() {
    let ok = json!({"toolName": "bash", "toolArgs": "{\"command\":\"git status\"}", "cwd": "/r", "sessionId": "s"});
    let c = call(None, ok).unwrap();
    assert_eq!(c.input, json!({"command": "git status"}));
    assert_eq!(c.session_id.as_deref(), Some("s"));
    for bad in ["not json", "\"str\"", "[]", "{\"a\":1,\"a\":2}"] {
        let v = json!({"toolName": "bash", "toolArgs": bad, "cwd": "/r"});
        assert_eq!(
            call(None, v).unwrap_err().1.code,
            ReasonCode::InvalidInput,
            "{bad}"
        );
    }
}

#[test]
fn codex_patches_touching_several_files_are_refused() {
    let patch = |p: &str| {
        json!({"hook_event_name": "PreToolUse", "turn_id": "t", "model": "m", "cwd": "/r",
        "session_id": "s", "tool_name": "apply_patch", "tool_use_id": "c", "tool_input": {"command": p}})
    };
    let one = call(
        None,
        patch("*** Begin Patch\n*** Add File: a.txt\n+hello\n*** End Patch"),
    )
    .unwrap();
    assert_eq!(
        one.input,
        json!({"file_path": "a.txt", "content": "hello\n", "operation": "add"})
    );
    let two = "*** Begin Patch\n*** Update File: a.txt\n+x\n*** Add File: .github/workflows/ci.yml\n+y\n*** End Patch";
    assert_eq!(
        call(None, patch(two)).unwrap_err().1.code,
        ReasonCode::InvalidInput
    );
}

#[test]
fn answers_follow_each_hosts_protocol() {
    let reasons = [Reason::new(ReasonCode::BlockedPattern, "no")];
    let allow = [Reason::new(ReasonCode::Allowed, "ok")];
    for host in hosts::HOOK_HOSTS {
        let deny = hosts::answer(host, None, Verdict::Deny, &reasons);
        assert!(hosts::is_deny(host, &deny), "{host:?} {deny:?}");
        let ok = hosts::answer(host, None, Verdict::Allow, &allow);
        assert_eq!(ok.exit_code, 0, "{host:?}");
        assert!(!hosts::is_deny(host, &ok), "{host:?}");
        // Hosts that cannot ask get a deny for review: never a silent allow.
        let review = hosts::answer(host, None, Verdict::Review, &reasons);
        match host {
            HostKind::ClaudeCode => assert!(review.stdout.contains("\"ask\"")),
            HostKind::Copilot => assert!(review.stdout.contains("\"ask\"")),
            _ => assert!(hosts::is_deny(host, &review), "{host:?} {review:?}"),
        }
    }
    // Codex rejects unknown keys: the deny holds hookSpecificOutput and nothing else.
    let codex = hosts::answer(HostKind::Codex, None, Verdict::Deny, &reasons);
    let v: Value = serde_json::from_str(&codex.stdout).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["hookSpecificOutput"]);
    let inner: Vec<&String> = v["hookSpecificOutput"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(
        inner,
        [
            "hookEventName",
            "permissionDecision",
            "permissionDecisionReason"
        ]
    );
    assert!(
        !codex.stderr.trim().is_empty(),
        "Codex needs the reason on stderr with exit 2"
    );
    // Copilot only blocks on JSON: its deny exits 0.
    let copilot = hosts::answer(HostKind::Copilot, None, Verdict::Deny, &reasons);
    assert_eq!(copilot.exit_code, 0);
}
