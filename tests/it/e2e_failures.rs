//! Every way the gate can fail denies with exit 2, its own reason code, and (where a key exists) a record.

use crate::harness;
use crate::harness::{Home, Run};
use serde_json::json;

fn bash(h: &Home) -> Vec<u8> {
    h.claude("Bash", json!({"command": "git status"}))
}

fn assert_denied(r: &Run, code: &str) {
    assert_eq!(r.code, 2, "expected a deny with {code}: {r:?}");
    assert!(r.stderr.contains(code), "expected {code} in stderr: {r:?}");
}

/// The last audit record carries the same code: the deny happened on the record.
fn assert_recorded(h: &Home, code: &str) {
    let recs = h.records();
    let last = recs.last().expect("a record");
    assert_eq!(last["verdict"], "deny");
    assert_eq!(last["reasons"][0]["code"], code, "{last}");
}

#[test]
fn the_baseline_call_is_allowed() {
    let h = Home::new("coding-agent");
    assert_eq!(h.run(&["evaluate"], &bash(&h)).code, 0);
}

#[test]
fn a_one_byte_tamper_breaks_the_signature() {
    let h = Home::new("coding-agent");
    let text = std::fs::read_to_string(h.passport()).unwrap();
    std::fs::write(h.passport(), text.replacen("user_local", "user_locaL", 1)).unwrap();
    let r = h.run(&["evaluate"], &bash(&h));
    assert_denied(&r, "oap.signature_invalid");
    assert_recorded(&h, "oap.signature_invalid");
    // A tamper that breaks the syntax is refused before any signature check.
    std::fs::write(h.passport(), text.replacen('{', "[", 1)).unwrap();
    assert_denied(&h.run(&["evaluate"], &bash(&h)), "oap.passport_invalid");
}

#[test]
fn duplicate_keys_in_a_signed_passport_are_refused() {
    let h = Home::new("coding-agent");
    let text = std::fs::read_to_string(h.passport()).unwrap();
    std::fs::write(
        h.passport(),
        text.replacen(
            "\"status\": \"active\"",
            "\"status\": \"active\", \"status\": \"active\"",
            1,
        ),
    )
    .unwrap();
    assert_denied(&h.run(&["evaluate"], &bash(&h)), "oap.passport_invalid");
}

#[test]
fn untrusted_and_wrong_keys_are_refused() {
    let h = Home::new("coding-agent");
    let other = h.dir.path().join("other");
    h.ok(&["keygen", "--out", other.to_str().unwrap()]);
    let other_key = other.join("toolgate.key.jwk");
    h.ok(&["passport", "sign", "--key", other_key.to_str().unwrap()]);
    assert_denied(&h.run(&["evaluate"], &bash(&h)), "oap.passport_untrusted");

    // Claim the trusted key's id on another key's signature.
    let trusted_kid = h
        .ok(&["trust", "list"])
        .stdout
        .lines()
        .next()
        .unwrap()
        .to_string();
    let sig_path = h.home.join("passport.json.sig");
    let mut sig: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&sig_path).unwrap()).unwrap();
    sig["kid"] = json!(trusted_kid);
    std::fs::write(&sig_path, sig.to_string()).unwrap();
    assert_denied(&h.run(&["evaluate"], &bash(&h)), "oap.signature_invalid");

    std::fs::remove_file(&sig_path).unwrap();
    assert_denied(&h.run(&["evaluate"], &bash(&h)), "oap.passport_unsigned");
    std::fs::remove_file(h.passport()).unwrap();
    assert_denied(&h.run(&["evaluate"], &bash(&h)), "oap.passport_not_found");
    assert_recorded(&h, "oap.passport_not_found");
}

#[test]
fn suspended_revoked_draft_and_expired_passports_deny() {
    let h = Home::new("coding-agent");
    for status in ["suspended", "revoked", "draft"] {
        h.edit_passport(|p| p["status"] = json!(status));
        assert_denied(&h.run(&["evaluate"], &bash(&h)), "oap.passport_suspended");
    }
    // Harmless tools are no way around a suspension.
    assert_denied(
        &h.run(&["evaluate"], &h.claude("TodoWrite", json!({"todos": []}))),
        "oap.passport_suspended",
    );
    h.edit_passport(|p| {
        p["status"] = json!("active");
        p["expires_at"] = json!("2020-01-01T00:00:00Z");
    });
    assert_denied(&h.run(&["evaluate"], &bash(&h)), "oap.passport_expired");
    h.edit_passport(|p| p["expires_at"] = json!("2999-01-01T00:00:00Z"));
    assert_eq!(h.run(&["evaluate"], &bash(&h)).code, 0);
}

#[test]
fn bad_input_of_every_kind_denies() {
    let h = Home::new("coding-agent");
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("oap.unknown_tool", h.claude("Teleport", json!({})), &[]),
        (
            "oap.invalid_input",
            b"{not json".to_vec(),
            &["--host", "claude-code"],
        ),
        (
            "oap.invalid_input",
            b"{\"tool_name\": \"Bash\", \"tool_name\": \"Read\"}".to_vec(),
            &["--host", "claude-code"],
        ),
        (
            "oap.invalid_input",
            vec![b'{', 0xff, 0xfe, b'}'],
            &["--host", "claude-code"],
        ),
        (
            "oap.invalid_input",
            br#"{"hook_event_name":"PreToolUse","tool_input":{}}"#.to_vec(),
            &["--host", "claude-code"],
        ),
        (
            "oap.unrecognized_input",
            br#"{"something":"else"}"#.to_vec(),
            &[],
        ),
        (
            "oap.invalid_context",
            h.claude("Bash", json!({"cmd": "ls"})),
            &[],
        ),
        ("oap.invalid_input", b"".to_vec(), &["--host", "cursor"]),
    ];
    for (code, input, extra) in cases {
        let mut args = vec!["evaluate"];
        args.extend_from_slice(extra);
        let r = h.run(&args, &input);
        assert_denied(&r, code);
        if extra.contains(&"claude-code") {
            assert_eq!(
                r.json()["hookSpecificOutput"]["permissionDecision"],
                "deny",
                "Claude Code gets its deny JSON even for bad input"
            );
        }
    }
}

#[test]
fn oversized_input_is_refused() {
    let h = Home::new("coding-agent");
    let big = format!("{{\"pad\":\"{}\"}}", "a".repeat(1024 * 1024 + 10));
    assert_denied(
        &h.run(&["evaluate", "--host", "claude-code"], big.as_bytes()),
        "oap.invalid_input",
    );
}

#[test]
fn a_utf8_bom_is_accepted() {
    let h = Home::new("coding-agent");
    let mut input = b"\xEF\xBB\xBF".to_vec();
    input.extend(bash(&h));
    assert_eq!(h.run(&["evaluate"], &input).code, 0);
}

#[test]
fn an_unwritable_audit_log_denies() {
    let h = Home::new("coding-agent");
    // Root ignores permission bits, so make the log's directory a file instead.
    std::fs::create_dir_all(&h.home).unwrap();
    std::fs::write(h.home.join("audit"), "not a directory").unwrap();
    assert_denied(&h.run(&["evaluate"], &bash(&h)), "oap.audit_unavailable");
}

#[test]
fn a_missing_evaluator_key_denies() {
    let h = Home::new("coding-agent");
    std::fs::remove_file(h.home.join("keys/toolgate.key.jwk")).unwrap();
    assert_denied(&h.run(&["evaluate"], &bash(&h)), "oap.audit_unavailable");
    assert!(h.records().is_empty());
}

#[test]
fn bad_flags_in_hook_mode_exit_2_not_1() {
    let h = Home::new("coding-agent");
    let r = h.run(&["evaluate", "--no-such-flag"], &bash(&h));
    assert_eq!(r.code, 2, "{r:?}");
    let r = h.run(&["evaluate", "--host", "vscode"], &bash(&h));
    assert_eq!(r.code, 2, "{r:?}");
}

/// A typo in a hook config is bad input, as the record says, not a failure of the gate:
/// the host is told the same code the record keeps.
#[test]
fn a_bad_hook_flag_is_invalid_input_to_the_host_and_on_the_record() {
    let h = Home::new("coding-agent");
    for bad in [
        &["evaluate", "--host", "claude-code", "--no-such-flag"][..],
        &["evaluate", "--host", "claude-code", "--passport"][..],
    ] {
        let r = h.run(bad, &bash(&h));
        assert_eq!(r.code, 2, "{r:?}");
        let said = r.claude_reason();
        assert!(said.contains("(oap.invalid_input)"), "{bad:?}: {said}");
        assert!(!said.contains("internal_error"), "{bad:?}: {said}");
        assert_recorded(&h, "oap.invalid_input");
    }
}

#[test]
fn an_invalid_config_denies_instead_of_falling_back() {
    let h = Home::new("coding-agent");
    std::fs::write(h.home.join("config.json"), r#"{"harmles_tools": ["Bash"]}"#).unwrap();
    assert_denied(&h.run(&["evaluate"], &bash(&h)), "oap.policy_error");
}

#[test]
fn a_panic_denies_with_exit_2() {
    let h = Home::new("coding-agent");
    let mut c = h.cmd(&["evaluate", "--host", "claude-code"]);
    c.env("TOOLGATE_DEBUG_PANIC", "1");
    let r = harness::run_command(c, &bash(&h));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("oap.internal_error"), "{r:?}");
}

#[test]
fn a_stalled_stdin_is_denied_after_the_read_timeout() {
    let h = Home::new("coding-agent");
    let out = h.stdin_held_open(b""); // held open, never written
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("oap.invalid_input"));
}
