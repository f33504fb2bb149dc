//! `--json` on the commands that report something, through the real binary: each
//! prints one object with the fields docs/audit.md and each --help name.

use crate::harness::{text, Home};
use serde_json::Value;

fn json(h: &Home, args: &[&str]) -> Value {
    let o = h.output(args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o.stderr));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&o.stdout)))
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[test]
fn every_reporting_command_offers_json() {
    let h = Home::empty();
    for cmd in [
        "init",
        "install",
        "uninstall",
        "doctor",
        "approve",
        "log",
        "log show",
        "verify-log",
        "passport verify",
        "passport show",
        "passport allow",
        "passport deny",
        "passport set",
        "passport unset",
        "passport sign",
        "passport diff",
        "passport suggest",
        "trust list",
        "trust add",
        "trust remove",
        "keygen",
        "audit repair",
        "audit rebuild-state",
        "audit rotate-key",
        "audit checkpoint",
        "status",
        "telemetry status",
        "config",
    ] {
        let mut args: Vec<&str> = cmd.split(' ').collect();
        args.push("--help");
        let help = text(&h.output(&args).stdout);
        assert!(
            help.contains("--json"),
            "`toolgate {cmd}` has no --json:\n{help}"
        );
    }
}

#[test]
fn audit_subcommands_report_as_json() {
    let h = Home::new("coding-agent");
    let r = h.run(
        &["evaluate"],
        &h.claude("Bash", serde_json::json!({"command": "git status"})),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let log = h.log().display().to_string();

    let v = json(&h, &["audit", "repair", "--json"]);
    assert_eq!(keys(&v), ["action", "log"]);
    assert_eq!(v["action"], "nothing");
    // A torn tail is moved aside and said so, with its size.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(h.log())
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"seq\": 9").unwrap();
    let v = json(&h, &["audit", "repair", "--json"]);
    assert_eq!(keys(&v), ["action", "log", "aside", "bytes"]);
    assert_eq!(
        (v["action"].as_str(), v["bytes"].as_u64()),
        (Some("torn_tail_moved"), Some(9))
    );
    assert_eq!(v["log"], log.as_str());

    let v = json(&h, &["audit", "rebuild-state", "--json"]);
    assert_eq!(keys(&v), ["state", "agents", "seq", "log"]);
    assert_eq!(v["agents"], 1);
    let seq = v["seq"].as_u64().unwrap();

    let out = h.dir.path().join("cp.json");
    let v = json(
        &h,
        &[
            "audit",
            "checkpoint",
            "--json",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(keys(&v), ["checkpoint", "out"]);
    assert_eq!(v["checkpoint"]["seq"].as_u64(), Some(seq));
    let written: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        written, v["checkpoint"],
        "the file holds the reported checkpoint"
    );

    let dir = h.dir.path().join("new-key");
    h.ok(&["keygen", "--out", dir.to_str().unwrap()]);
    let new_key = dir.join("toolgate.key.jwk");
    let v = json(
        &h,
        &[
            "audit",
            "rotate-key",
            "--json",
            "--new-key",
            new_key.to_str().unwrap(),
        ],
    );
    assert_eq!(
        keys(&v),
        [
            "seq",
            "old_kid",
            "new_kid",
            "key",
            "public_key",
            "trusted",
            "log"
        ]
    );
    assert_eq!(v["seq"].as_u64(), Some(seq + 1));
    assert_ne!(v["old_kid"], v["new_kid"]);
    // Against the trust store, which now holds both keys.
    let o = h.output(&["verify-log"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
}

#[test]
fn passport_edits_sign_and_trust_report_as_json() {
    let h = Home::new("coding-agent");
    let v = json(
        &h,
        &[
            "passport",
            "allow",
            "command",
            "cargo bench",
            "--dry-run",
            "--json",
        ],
    );
    assert_eq!(
        keys(&v),
        ["passport", "changes", "notes", "dry_run", "written"]
    );
    assert_eq!(
        (v["dry_run"].as_bool(), v["written"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(
        v["changes"][0].as_str().unwrap().contains("cargo bench"),
        "{v}"
    );
    let before = std::fs::read(h.passport()).unwrap();
    assert_eq!(
        std::fs::read(h.passport()).unwrap(),
        before,
        "a dry run writes nothing"
    );
    let v = json(
        &h,
        &["passport", "allow", "command", "cargo bench", "--json"],
    );
    assert_eq!(v["written"], true);
    assert!(v["passport_digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(
        json(&h, &["passport", "verify", "--json"])["digest"],
        v["passport_digest"]
    );
    let again = json(
        &h,
        &["passport", "allow", "command", "cargo bench", "--json"],
    );
    assert_eq!(
        (
            again["written"].as_bool(),
            again["changes"].as_array().map(Vec::len)
        ),
        (Some(false), Some(0))
    );

    let v = json(&h, &["passport", "sign", "--json"]);
    assert_eq!(
        keys(&v),
        ["passport", "signature", "kid", "passport_digest"]
    );
    assert!(std::path::Path::new(v["signature"].as_str().unwrap()).exists());

    let dir = h.dir.path().join("issuer");
    h.ok(&["keygen", "--out", dir.to_str().unwrap()]);
    let pubkey = dir.join("toolgate.pub.jwk");
    let v = json(
        &h,
        &[
            "trust",
            "add",
            pubkey.to_str().unwrap(),
            "--owner",
            "org_acme",
            "--json",
        ],
    );
    assert_eq!(keys(&v), ["kid", "file", "owners"]);
    let kid = v["kid"].as_str().unwrap().to_string();
    let listed = json(&h, &["trust", "list", "--json"]);
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["kid"] == kid.as_str()));
    let v = json(&h, &["trust", "remove", &kid, "--json"]);
    assert_eq!(keys(&v), ["kid", "removed"]);
    assert!(!std::path::Path::new(v["removed"].as_str().unwrap()).exists());
}
