//! `toolgate uninstall` through the real binary: every host's file back byte for byte
//! (or gone, with the directories toolgate made), no `.bak` clutter, other people's
//! later changes kept, and `--all --purge` deleting toolgate's own files only after a
//! confirmation, keeping the audit log (evidence) unless `--delete-log`.

use crate::harness::{text, Home};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const HOSTS: [&str; 5] = ["claude-code", "cursor", "codex", "gemini", "copilot"];

/// The user-scope file of each host under HOME (the harness sets HOME to the temp root).
fn user_file(h: &Home, host: &str) -> PathBuf {
    let rel = match host {
        "claude-code" => ".claude/settings.json",
        "cursor" => ".cursor/hooks.json",
        "codex" => ".codex/hooks.json",
        "gemini" => ".gemini/settings.json",
        _ => ".copilot/hooks/toolgate.json",
    };
    h.dir.path().canonicalize().unwrap().join(rel)
}

/// Every path and file content under HOME and the project, except toolgate's own home.
fn tree(h: &Home) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    fn walk(d: &Path, skip: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p == skip {
                continue;
            }
            if p.is_dir() {
                out.insert(p.clone(), None);
                walk(&p, skip, out);
            } else {
                out.insert(p.clone(), Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&h.dir.path().canonicalize().unwrap(), &h.home, &mut out);
    out
}

fn init() -> Home {
    let h = Home::empty();
    h.ok(&["init"]);
    h
}

/// Odd formatting a rewrite would change: four-space indent, no final newline, a tab.
fn hand_written(host: &str) -> String {
    let doc = match host {
        "cursor" | "copilot" => json!({"version": 1, "hooks": {"stop": [{"command": "./a.sh"}]}}),
        _ => {
            json!({"theme": "dark", "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "./s.sh"}]}]}})
        }
    };
    let mut s = serde_json::to_string_pretty(&doc)
        .unwrap()
        .replace("  ", "    ");
    s.insert(1, '\t');
    s
}

#[test]
fn uninstall_restores_each_hosts_file_byte_for_byte_and_leaves_nothing_behind() {
    for host in HOSTS {
        for existed in [true, false] {
            let h = init();
            let file = user_file(&h, host);
            if existed {
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(&file, hand_written(host)).unwrap();
            }
            let before = tree(&h);
            h.ok(&["install", host]);
            assert_ne!(tree(&h), before, "{host}: install changed nothing");
            // A moved binary: a second change on top of the first.
            let copy = h.dir.path().join("toolgate-copy");
            std::fs::copy(env!("CARGO_BIN_EXE_toolgate"), &copy).unwrap();
            let out = h.ok_text(&["install", host, "--binary", copy.to_str().unwrap()]);
            assert!(out.starts_with("updated"), "{out}");
            std::fs::remove_file(&copy).unwrap();
            let out = h.ok_text(&["uninstall", host]);
            let after = tree(&h);
            assert_eq!(
                after.keys().collect::<Vec<_>>(),
                before.keys().collect::<Vec<_>>(),
                "{host} (file existed: {existed}): the same files and directories as before\n{out}"
            );
            assert_eq!(after, before, "{host}: every byte as before\n{out}");
            let word = if existed { "restored" } else { "removed" };
            assert!(out.starts_with(word), "{host}: {out}");
            assert!(
                !h.path("installs").exists(),
                "{host}: the ledger is empty and gone"
            );
        }
    }
}

#[test]
fn a_file_changed_after_install_keeps_those_changes_and_loses_only_toolgates_hook() {
    let h = init();
    let file = user_file(&h, "claude-code");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "{\"model\": \"opus\"}\n").unwrap();
    h.ok(&["install", "claude-code"]);
    // The user (or another tool) edits the file after toolgate wrote it.
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    doc["env"] = json!({"FOO": "bar"});
    std::fs::write(&file, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    let out = h.ok_text(&["uninstall", "claude-code", "--json"]);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["hosts"][0]["action"], "removed", "{report}");
    let now: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(now, json!({"model": "opus", "env": {"FOO": "bar"}}));
    let names: Vec<String> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["settings.json"], "no backup or temporary file");
}

#[test]
fn a_hook_installed_without_a_ledger_entry_is_still_taken_out() {
    let h = init();
    let file = user_file(&h, "gemini");
    h.ok(&["install", "gemini"]);
    // As an older toolgate left it: the hook, but no record of the file before.
    std::fs::remove_dir_all(h.path("installs")).unwrap();
    let out = h.ok_text(&["uninstall", "gemini"]);
    assert!(out.starts_with("removed"), "{out}");
    assert!(
        !file.exists(),
        "a file with only toolgate's hook goes: {out}"
    );
    // Installing over that older hook must not record it as the state to go back to.
    h.ok(&["install", "gemini"]);
    std::fs::remove_dir_all(h.path("installs")).unwrap();
    let moved = h.dir.path().join("moved/toolgate");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_toolgate"), &moved).unwrap();
    h.ok(&["install", "gemini", "--binary", moved.to_str().unwrap()]);
    h.ok(&["uninstall", "gemini"]);
    assert!(!file.exists(), "uninstall never restores a toolgate hook");
}

fn hooked(h: &Home) -> Vec<String> {
    HOSTS
        .iter()
        .filter(|host| {
            std::fs::read_to_string(user_file(h, host)).is_ok_and(|t| t.contains("evaluate --host"))
        })
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn purge_asks_first_keeps_the_audit_log_and_says_where_it_is() {
    let h = init();
    let gemini = user_file(&h, "gemini");
    std::fs::create_dir_all(gemini.parent().unwrap()).unwrap();
    std::fs::write(&gemini, hand_written("gemini")).unwrap();
    h.ok(&["install", "claude-code"]);
    h.ok(&["install", "gemini"]);
    // A project-scope install elsewhere is in the ledger, so --all finds it from anywhere.
    let other = h.dir.path().join("other-project");
    std::fs::create_dir_all(&other).unwrap();
    h.ok(&[
        "install",
        "cursor",
        "--scope",
        "project",
        "--project-dir",
        other.to_str().unwrap(),
    ]);
    let r = h.run(
        &["evaluate", "--host", "claude-code"],
        &h.claude("Bash", json!({"command": "git status"})),
    );
    assert_eq!(r.code, 0, "{r:?}");

    // No terminal, no --yes: the plan is shown and nothing happens.
    let o = h.output(&["uninstall", "--all", "--purge"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--yes") && err.contains("nothing was changed"),
        "{err}"
    );
    assert!(
        err.contains(&h.log().display().to_string()) && err.contains("evidence"),
        "{err}"
    );
    assert!(
        err.contains("passport.json"),
        "the plan names what it deletes: {err}"
    );
    assert!(h.passport().exists() && h.path("keys/toolgate.key.jwk").exists());
    assert_eq!(hooked(&h), ["claude-code", "gemini"]);

    let o = h.output(&["uninstall", "--all", "--purge", "--yes", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let acted: Vec<(&str, &str)> = report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["action"] != "not_installed")
        .map(|x| (x["host"].as_str().unwrap(), x["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        acted,
        [
            ("claude-code", "deleted"),
            ("gemini", "restored"),
            ("cursor", "deleted")
        ],
        "{report:#}"
    );
    assert!(hooked(&h).is_empty());
    assert_eq!(
        std::fs::read_to_string(&gemini).unwrap(),
        hand_written("gemini")
    );
    assert!(
        !other.join(".cursor").exists(),
        "the project's .cursor went too"
    );
    let removed: Vec<&str> = report["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for gone in [
        "passport.json",
        "passport.json.sig",
        "keys/toolgate.key.jwk",
        "trust",
        "config.json",
    ] {
        let p = h.path(gone);
        if gone != "config.json" {
            assert!(
                removed.contains(&p.to_str().unwrap()),
                "{gone} not reported: {removed:?}"
            );
        }
        assert!(!p.exists(), "{gone} is still there");
    }
    let kept: Vec<&str> = report["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["path"].as_str().unwrap())
        .collect();
    assert!(kept.contains(&h.log().to_str().unwrap()), "{report:#}");
    assert!(h.log().exists() && h.pubkey().exists());
    // The kept log still proves itself against the kept public key, as the report says.
    let (code, v) = h.verify(&[]);
    assert_eq!(code, 0, "{v}");
}

#[test]
fn purge_with_delete_log_deletes_the_log_and_says_so() {
    let h = init();
    h.ok(&["install", "codex"]);
    let r = h.run(
        &["evaluate", "--host", "claude-code"],
        &h.claude("Bash", json!({"command": "git status"})),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let out = h.ok_text(&["uninstall", "--all", "--purge", "--delete-log", "--yes"]);
    assert!(
        out.contains(&format!("deleted {}", h.log().display())),
        "{out}"
    );
    assert!(!out.contains("kept"), "{out}");
    assert!(!h.home.exists(), "toolgate's home is empty and gone: {out}");
    assert!(!user_file(&h, "codex").exists());
}

#[test]
fn purge_and_delete_log_need_their_wider_flags() {
    let h = init();
    for args in [
        &["uninstall", "claude-code", "--purge"][..],
        &["uninstall", "--purge", "--yes"],
        &["uninstall", "--all", "--delete-log", "--yes"],
        &["uninstall"],
        &["uninstall", "claude-code", "--all"],
    ] {
        let o = h.output(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
    }
    assert!(h.passport().exists());
    // --all without --purge touches host files only.
    h.ok(&["install", "copilot"]);
    let out = h.ok_text(&["uninstall", "--all"]);
    assert!(out.contains("1 host configuration file changed"), "{out}");
    assert!(h.passport().exists() && h.path("keys/toolgate.key.jwk").exists());
}

#[test]
fn install_json_reports_the_documented_fields() {
    let h = Home::empty();
    // Before init: the warning is in the report as well as on stderr.
    let o = h.output(&["install", "cursor", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "host",
            "scope",
            "path",
            "action",
            "hook_command",
            "alarm_command",
            "original_kept_in",
            "warnings",
            "codex_trusted",
            "note",
            "next"
        ]
    );
    assert_eq!(
        (v["host"].as_str(), v["action"].as_str()),
        (Some("cursor"), Some("created"))
    );
    assert!(v["original_kept_in"].is_null(), "no file before: {v}");
    assert!(
        v["warnings"][0].as_str().unwrap().contains("toolgate init"),
        "{v}"
    );
    assert!(text(&o.stderr).contains("toolgate init"));
    assert!(v["hook_command"]
        .as_str()
        .unwrap()
        .contains("evaluate --host cursor"));
    let again: Value =
        serde_json::from_slice(&h.output(&["install", "cursor", "--json"]).stdout).unwrap();
    assert_eq!(again["action"], "unchanged");
    // An existing file: the report says where its old bytes are kept.
    let gemini = user_file(&h, "gemini");
    std::fs::create_dir_all(gemini.parent().unwrap()).unwrap();
    std::fs::write(&gemini, "{}").unwrap();
    let v: Value =
        serde_json::from_slice(&h.output(&["install", "gemini", "--json"]).stdout).unwrap();
    assert_eq!(v["action"], "updated");
    let kept = PathBuf::from(v["original_kept_in"].as_str().unwrap());
    assert!(
        kept.starts_with(&h.home)
            && std::fs::read_to_string(kept)
                .unwrap()
                .contains("\"text\": \"{}\"")
    );
}
