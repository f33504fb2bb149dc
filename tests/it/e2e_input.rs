//! Hook input at and past the size cap, and a stalled stdin, through the real
//! binary: each deny says what happened ("exceeds N bytes", "timed out"),
//! never "not valid JSON", and a write the passport allows is decidable.

use crate::harness::{Home, Run};
use serde_json::{json, Value};

fn stderr_has(r: &Run, want: &str) {
    assert!(
        r.stderr.contains(want),
        "expected `{want}` in stderr: {r:?}"
    );
}

fn write(h: &Home, content: &str) -> Run {
    let path = h.project.join("big.txt");
    let input = h.claude("Write", json!({"file_path": path, "content": content}));
    h.run(&["evaluate", "--host", "claude-code"], &input)
}

#[test]
fn a_write_of_exactly_max_file_size_bytes_is_decided() {
    // coding-agent: max_file_size_bytes 1048576.
    let h = Home::new("coding-agent");
    let exact = "a".repeat(1024 * 1024);
    let r = write(&h, &exact);
    assert_eq!(r.code, 0, "{r:?}");
    // Escaping (every other byte a newline) makes the JSON ~1.5 MiB; still decidable.
    let lines = "a\n".repeat(512 * 1024);
    assert_eq!(lines.len(), 1024 * 1024);
    assert_eq!(write(&h, &lines).code, 0);
    // One byte more is a size deny from the pack, not an input error.
    let r = write(&h, &format!("{exact}b"));
    assert_eq!(r.code, 2);
    stderr_has(&r, "oap.limit_exceeded");
    let last = h.records().pop().unwrap();
    assert_eq!(last["reasons"][0]["code"], "oap.limit_exceeded");
}

#[test]
fn input_past_the_cap_is_reported_as_too_large() {
    let h = Home::new("coding-agent");
    for size in [1024 * 1024 + 1, 3 * 1024 * 1024, 80 * 1024 * 1024] {
        let junk = vec![b'x'; size];
        let r = h.run(&["evaluate", "--host", "claude-code"], &junk);
        assert_eq!(r.code, 2, "{size}");
        stderr_has(&r, "exceeds");
        stderr_has(&r, "oap.invalid_input");
        assert!(!r.stderr.contains("not valid JSON"), "{size}: {r:?}");
    }
    // Valid JSON past 1 MiB that is not a measured write is too large as well.
    let bash = h.claude(
        "Bash",
        json!({"command": "echo hi", "pad": "p".repeat(1100 * 1024)}),
    );
    let r = h.run(&["evaluate", "--host", "claude-code"], &bash);
    assert_eq!(r.code, 2);
    stderr_has(&r, "exceeds 1048576 bytes");
    let last = h.records().pop().unwrap();
    assert!(last["reasons"][0]["message"]
        .as_str()
        .unwrap()
        .contains("exceeds"));
}

#[test]
fn a_stalled_stdin_is_reported_as_timed_out() {
    let h = Home::new("coding-agent");
    // Half a call, then silence.
    let out = h.stdin_held_open(b"{\"hook_event_name\": \"PreToolUse\",");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("timed out"), "{err}");
    assert!(!err.contains("not valid JSON"), "{err}");
    let last = h.records().pop().expect("the timeout is recorded");
    assert!(last["reasons"][0]["message"]
        .as_str()
        .unwrap()
        .contains("timed out"));
}

/// Runs the hook with stdin held open after `sent` (a pipe the host never closes).
fn held_open(h: &Home, sent: &[u8]) -> (std::process::Output, Value) {
    let out = h.stdin_held_open(sent);
    let last = h.records().pop().expect("the timeout is recorded");
    (out, last)
}

#[test]
fn a_stdin_never_closed_says_how_long_it_waited_what_arrived_and_how_to_fix_it() {
    let h = Home::new("coding-agent");
    for (sent, arrived) in [
        (
            &b""[..],
            "nothing arrived, and stdin was never closed".to_string(),
        ),
        (
            &b"{\"tool_name\": \"Bash\""[..],
            "20 bytes arrived, but stdin was never closed, so the call may be incomplete"
                .to_string(),
        ),
    ] {
        let (out, last) = held_open(&h, sent);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        for want in [
            "timed out after 1s waiting for the hook input on stdin",
            arrived.as_str(),
            "must close stdin after it",
            "Ctrl-D",
            "--read-timeout SECS",
            "(oap.invalid_input)",
        ] {
            assert!(err.contains(want), "`{want}` missing from: {err}");
        }
        // The host reads the same sentence in its own format, and the record keeps it.
        let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
        let said = answer["hookSpecificOutput"]["permissionDecisionReason"]
            .as_str()
            .unwrap();
        assert!(
            said.contains(&arrived) && said.contains("oap.invalid_input"),
            "{said}"
        );
        assert_eq!(last["reasons"][0]["code"], "oap.invalid_input");
        assert!(last["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&arrived));
    }
}
