//! Trust boundary, round three (issue 9 d, c, e): hard links to protected
//! files, a passport copied back over a newer one, machine-wide host settings
//! and relocated host homes. The real binary on a real file system, each
//! with the ordinary neighbours that stay allowed.

use crate::harness;
use crate::harness::Home;
// The same deny/allow/bash/write helpers as the first trust-boundary round.
use crate::trust_boundary::{allow, bash, deny, write};
use serde_json::{json, Value};
use std::path::Path;

fn with_commands(h: &Home, extra: &[&str]) {
    h.edit_passport(|p| {
        let cmds = p["limits"]["system.command.execute"]["allowed_commands"]
            .as_array_mut()
            .unwrap();
        for c in extra {
            cmds.push(json!(c));
        }
    });
}

#[test]
fn a_hard_link_to_a_protected_file_is_not_a_way_to_write_it() {
    let h = Home::new("coding-agent");
    with_commands(&h, &["ln", "cp"]);
    // The user's Claude Code settings (HOME is the temp dir) and the project's.
    let user = h.dir.path().join(".claude/settings.json");
    std::fs::create_dir_all(user.parent().unwrap()).unwrap();
    std::fs::write(&user, "{}").unwrap();
    let project = h.project.join(".claude/settings.local.json");
    std::fs::create_dir_all(project.parent().unwrap()).unwrap();
    std::fs::write(&project, "{}").unwrap();
    std::fs::create_dir_all(h.project.join("docs")).unwrap();

    // Making the link is refused: a hard link is the protected file under another name.
    for cmd in [
        format!("ln {} notes.json", user.display()),
        "ln .claude/settings.local.json notes.json".to_string(),
        "ln -f .claude/settings.local.json docs/".to_string(),
        "cp -l .claude/settings.local.json notes.json".to_string(),
        "cp -al .claude backup".to_string(),
    ] {
        deny(&bash(&h, &cmd), "oap.path_not_allowed", &cmd);
    }
    // A link made some other way (before toolgate, by a tool it does not see) is
    // found when written through, wherever the other name is.
    for (name, target) in [("notes.json", &user), ("docs/local.json", &project)] {
        let link = h.project.join(name);
        std::fs::hard_link(target, &link).unwrap();
        let r = write(&h, &link);
        deny(&r, "oap.path_not_allowed", name);
        assert!(r.stderr.contains("hard link"), "{r:?}");
    }
    // Neighbours: symbolic links of ordinary files, hard links between ordinary files.
    std::fs::write(h.project.join("a.txt"), "a").unwrap();
    allow(&bash(&h, "ln -s a.txt b.txt"), "ln -s of a project file");
    allow(&bash(&h, "ln a.txt c.txt"), "ln of a project file");
    allow(&bash(&h, "cp a.txt d.txt"), "cp");
    std::fs::hard_link(h.project.join("a.txt"), h.project.join("e.txt")).unwrap();
    allow(
        &write(&h, &h.project.join("e.txt")),
        "a hard link between ordinary files",
    );
    allow(&write(&h, &h.project.join("src/new.rs")), "a new file");
}

fn passport(h: &Home) -> Value {
    serde_json::from_slice(&std::fs::read(h.passport()).unwrap()).unwrap()
}

#[test]
fn an_older_passport_copied_back_is_refused() {
    let h = Home::new("coding-agent");
    let ls = || bash(&h, "ls");
    allow(&ls(), "the first passport");
    let sig = h.home.join("passport.json.sig");
    let old = (
        std::fs::read(h.passport()).unwrap(),
        std::fs::read(&sig).unwrap(),
    );
    // The owner suspends the agent with a newer passport: every call is denied.
    h.edit_passport(|p| {
        p["status"] = json!("suspended");
        p["version"] = json!("1.0.1");
        p["updated_at"] = json!("2030-02-01T00:00:00Z");
    });
    deny(&ls(), "oap.passport_suspended", "the suspended passport");
    // The agent (or anyone) puts the signed active copy back.
    std::fs::write(h.passport(), &old.0).unwrap();
    std::fs::write(&sig, &old.1).unwrap();
    let r = ls();
    deny(&r, "oap.passport_replayed", "the older copy put back");
    assert!(r.stderr.contains("1.0.0"), "{r:?}");
    // Same version, earlier updated_at: older too.
    h.edit_passport(|p| {
        p["status"] = json!("active");
        p["version"] = json!("1.0.1");
        p["updated_at"] = json!("2030-01-15T00:00:00Z");
    });
    deny(&ls(), "oap.passport_replayed", "an earlier updated_at");
    // A newer passport is accepted, and so is the same one again.
    h.edit_passport(|p| {
        p["version"] = json!("1.1.0");
        p["updated_at"] = json!("2030-03-01T00:00:00Z");
    });
    allow(&ls(), "a newer passport");
    allow(&ls(), "the same passport again");
    assert_eq!(passport(&h)["version"], "1.1.0");
    // The mark survives a state rebuilt from the log.
    h.ok(&["audit", "rebuild-state"]);
    std::fs::write(h.passport(), &old.0).unwrap();
    std::fs::write(&sig, &old.1).unwrap();
    deny(&ls(), "oap.passport_replayed", "after rebuild-state");
}

#[test]
fn machine_wide_host_settings_and_relocated_homes_are_protected() {
    let h = Home::new("coding-agent");
    // A passport that would let the agent write there: the protection must hold anyway.
    h.edit_passport(|p| {
        let w = p["limits"]["data.file.write"]["allowed_paths"]
            .as_array_mut()
            .unwrap();
        for g in [
            "/etc/claude-code/**",
            "/etc/gemini-cli/**",
            "/etc/codex/**",
            "/etc/cursor/**",
        ] {
            w.push(json!(g));
        }
    });
    for p in [
        "/etc/claude-code/managed-settings.json",
        "/etc/claude-code/managed-settings.d/10-off.json",
        "/etc/claude-code/managed-mcp.json",
        "/etc/gemini-cli/settings.json",
        "/etc/gemini-cli/system-defaults.json",
        "/etc/codex/requirements.toml",
        "/etc/codex/managed_config.toml",
        "/etc/codex/config.toml",
        "/etc/codex/rules/default.rules",
        "/etc/cursor/hooks.json",
        "/etc/cursor/hooks/audit.sh",
    ] {
        deny(&write(&h, Path::new(p)), "oap.path_not_allowed", p);
    }
    // Gemini reads `$GEMINI_CLI_HOME/.gemini/settings.json` and a system settings file
    // moved by its own variable; both are under /tmp, which the passport lets it write.
    let gh = h.dir.path().join("gemini-home");
    let moved = h.dir.path().join("sys/gemini-system.json");
    let with_env = |path: &Path| {
        let mut c = h.cmd(&["evaluate"]);
        c.env("GEMINI_CLI_HOME", &gh)
            .env("GEMINI_CLI_SYSTEM_SETTINGS_PATH", &moved);
        harness::run_command(
            c,
            &h.claude(
                "Write",
                json!({"file_path": path, "content": "{\"hooksConfig\": {\"enabled\": false}}"}),
            ),
        )
    };
    for p in [
        gh.join(".gemini/settings.json"),
        gh.join(".gemini/extensions/x/gemini-extension.json"),
        moved.clone(),
    ] {
        deny(
            &with_env(&p),
            "oap.path_not_allowed",
            &p.display().to_string(),
        );
    }
    allow(&with_env(&gh.join("notes.txt")), "a neighbour in that home");
    allow(
        &with_env(&h.dir.path().join("sys/other.json")),
        "a neighbour of the moved file",
    );
}

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

/// Writes `text` to `rel` below `dir`, making the directories on the way.
fn write_under(dir: &std::path::Path, rel: &str, text: &str) {
    let f = dir.join(rel);
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::write(f, text).unwrap();
}

#[test]
fn whole_tree_git_commands_are_decided_on_the_files_they_would_write() {
    let h = Home::new("coding-agent");
    with_commands(&h, &["git"]);
    let p = &h.project;
    let put = |rel: &str, text: &str| write_under(p, rel, text);
    git(p, &["init", "-q", "-b", "main"]);
    put(".claude/settings.json", "{\"hooks\": {}}");
    put("src/a.rs", "fn a() {}\n");
    git(p, &["add", "."]);
    git(p, &["commit", "-qm", "init"]);
    // A branch that changes only source, and one that changes the host's settings.
    git(p, &["switch", "-qc", "feature"]);
    put("src/a.rs", "fn a() { 1; }\n");
    git(p, &["commit", "-qam", "feature"]);
    git(p, &["switch", "-q", "main"]);
    git(p, &["switch", "-qc", "evil"]);
    put(".claude/settings.json", "{\"disableAllHooks\": true}");
    git(p, &["commit", "-qam", "evil"]);
    git(p, &["switch", "-q", "main"]);

    // Ordinary calls in a project with a `.claude/`: allowed on what they write.
    for cmd in [
        "git switch feature",
        "git checkout feature",
        "git merge feature",
        "git cherry-pick feature",
        "git reset --hard",
        "git stash",
    ] {
        allow(&bash(&h, cmd), cmd);
    }
    // The same commands, when what they write is protected.
    for cmd in [
        "git switch evil",
        "git checkout evil",
        "git merge evil",
        "git cherry-pick evil",
        "git rebase evil",
        "git reset --hard evil",
        "git checkout -f evil",
    ] {
        let r = bash(&h, cmd);
        deny(&r, "oap.path_not_allowed", cmd);
        assert!(r.stderr.contains(".claude"), "{cmd}: {r:?}");
    }
    // A stash that would revert a local change of a protected file.
    put(".claude/settings.json", "{\"hooks\": {\"x\": 1}}");
    deny(
        &bash(&h, "git stash"),
        "oap.path_not_allowed",
        "stash of .claude",
    );
    git(p, &["checkout", "--", ".claude/settings.json"]);
    // A stash whose pop writes source only, and one whose pop writes .claude.
    put("src/a.rs", "fn a() { 2; }\n");
    git(p, &["stash", "-q"]);
    allow(&bash(&h, "git stash pop"), "stash pop of source");
    // What git cannot list in advance still counts as the whole tree.
    deny(
        &bash(&h, "git switch no-such-branch"),
        "oap.path_not_allowed",
        "unknown revision",
    );
}

#[test]
fn every_record_and_doctor_say_where_the_policy_came_from() {
    let h = Home::new("coding-agent");
    allow(&bash(&h, "ls"), "ls");
    let rec = h.records().last().cloned().unwrap();
    let src = &rec["policy_sources"];
    let home = h.home.display().to_string();
    for k in ["passport", "trust", "config"] {
        let v = src[k].as_str().unwrap_or_default();
        assert!(
            v.contains(&home) && v.contains("TOOLGATE_HOME"),
            "{k}: {rec}"
        );
    }
    assert_eq!(src["packs"], "built in", "{rec}");
    let roots = src["project_roots"].as_str().unwrap();
    assert!(
        roots.contains(h.project.to_str().unwrap()) && roots.contains("CLAUDE_PROJECT_DIR"),
        "{rec}"
    );
    // The hook's own flag wins and says so; the record still verifies.
    let r = h.run(
        &["evaluate", "--project-root", h.project.to_str().unwrap()],
        &h.claude("Bash", json!({"command": "ls"})),
    );
    allow(&r, "with --project-root");
    let rec = h.records().last().cloned().unwrap();
    assert!(
        rec["policy_sources"]["project_roots"]
            .as_str()
            .unwrap()
            .contains("--project-root"),
        "{rec}"
    );
    h.ok(&["verify-log"]);
    let doc = h.run(&["doctor"], b"").stdout;
    for line in [
        "passport from",
        "trust store from",
        "packs from",
        "config from",
    ] {
        assert!(doc.contains(line), "{line}: {doc}");
    }
    assert!(doc.contains("TOOLGATE_HOME"), "{doc}");
}

#[test]
fn git_grep_reads_what_the_index_tracks() {
    let h = Home::new("coding-agent");
    with_commands(&h, &["git grep"]);
    let p = &h.project;
    let put = |rel: &str, text: &str| write_under(p, rel, text);
    git(p, &["init", "-q", "-b", "main"]);
    put(".gitignore", "*.pem\n");
    put("src/a.rs", "// TOKEN\n");
    put("certs/dev.pem", "TOKEN\n");
    git(p, &["add", ".gitignore", "src/a.rs"]);
    // Tracked although ignored: git grep reads it.
    git(p, &["add", "-f", "certs/dev.pem"]);
    git(p, &["commit", "-qm", "init"]);
    // Untracked, not ignored, blocked: git grep does not read it.
    put("notes/.env", "TOKEN=1\n");
    let r = bash(&h, "git grep TOKEN");
    deny(&r, "oap.path_not_allowed", "a tracked blocked file");
    assert!(r.stderr.contains("dev.pem"), "{r:?}");
    allow(&bash(&h, "git grep TOKEN -- src"), "tracked source only");
    allow(
        &bash(&h, "git grep TOKEN -- ':!certs'"),
        "the blocked file excluded",
    );
    deny(
        &bash(&h, "git grep --untracked TOKEN -- ':!certs'"),
        "oap.path_not_allowed",
        "--untracked reads notes/.env",
    );
    std::fs::remove_file(p.join("certs/dev.pem")).unwrap();
    git(p, &["rm", "-q", "--cached", "certs/dev.pem"]);
    allow(
        &bash(&h, "git grep TOKEN"),
        "only tracked files, none blocked",
    );
}

#[test]
fn a_project_policy_is_used_only_as_approved_and_only_to_narrow() {
    let h = Home::new("coding-agent");
    let p = &h.project;
    let file = p.join(".toolgate/project-policy.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let user = passport(&h);
    let blocked = user["limits"]["system.command.execute"]["blocked_patterns"].clone();
    let mut narrow = blocked.as_array().unwrap().clone();
    narrow.push(json!("wc"));
    let doc = json!({"limits": {"system.command.execute": {"blocked_patterns": narrow}}});
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    // Not approved: never read.
    allow(&bash(&h, "wc -l README.md"), "an unapproved project policy");
    let dir = p.to_str().unwrap();
    let out = h.ok(&["trust", "project", dir]).stdout;
    assert!(out.contains("approved"), "{out}");
    deny(
        &bash(&h, "wc -l README.md"),
        "oap.blocked_pattern",
        "narrowed by the project",
    );
    allow(&bash(&h, "ls"), "what the project leaves alone");
    let rec = h.records().last().cloned().unwrap();
    let key = format!("project:{dir}");
    assert!(
        rec["policy_sources"][&key]
            .as_str()
            .unwrap()
            .contains("sha256:"),
        "{rec}"
    );
    // Any change needs approval again: every call there is denied until then.
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let r = bash(&h, "ls");
    deny(&r, "oap.policy_error", "a changed project policy");
    assert!(r.stderr.contains("changed since it was approved"), "{r:?}");
    h.ok(&["trust", "project", dir]);
    allow(&bash(&h, "ls"), "approved again");
    let store = h.home.join("trusted-projects.json");
    // The agent cannot write the policy, the store, or approve anything itself.
    deny(
        &write(&h, &file),
        "oap.path_not_allowed",
        "the project policy",
    );
    deny(&write(&h, &store), "oap.path_not_allowed", "the store");
    // A planted widening is refused at approval, and at decision time if pinned anyway.
    let mut wide = user["limits"]["system.command.execute"]["allowed_commands"]
        .as_array()
        .unwrap()
        .clone();
    wide.push(json!("curl"));
    let widening = json!({"limits": {"system.command.execute": {"allowed_commands": wide}}});
    let bytes = serde_json::to_vec(&widening).unwrap();
    std::fs::write(&file, &bytes).unwrap();
    let r = h.run(&["trust", "project", dir], b"");
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("oap.delegation_widening"), "{r:?}");
    let mut s: Value = serde_json::from_slice(&std::fs::read(&store).unwrap()).unwrap();
    s["projects"][0]["digest"] = json!(format!("sha256:{}", sha256_hex(&bytes)));
    std::fs::write(&store, serde_json::to_vec(&s).unwrap()).unwrap();
    deny(
        &bash(&h, "curl https://docs.rs"),
        "oap.delegation_widening",
        "a widening pinned by hand",
    );
    h.ok(&["trust", "project", dir, "--forget"]);
    allow(&bash(&h, "wc -l README.md"), "forgotten");
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

#[test]
fn glob_characters_in_the_project_root_or_home_are_literal() {
    let mut h = Home::new("coding-agent");
    // Without `/tmp/**`, the project root's `**` is all the passport allows writing.
    h.edit_passport(|p| {
        p["limits"]["data.file.write"]["allowed_paths"] = json!(["**"]);
    });
    let tmp = h.dir.path().canonicalize().unwrap();
    // `*` would reach `wx`, `[r]` would match only `r`, `{a,b}` would match `a` or `b`.
    h.project = tmp.join("w*[r]{a,b}?");
    std::fs::create_dir_all(h.project.join("src")).unwrap();
    std::fs::write(h.project.join(".env"), "TOKEN=1").unwrap();
    let home = tmp.join("h[o]me");
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(home.join(".aws/credentials"), "k").unwrap();
    let call = |tool: &str, input: Value| {
        let mut c = h.cmd(&["evaluate"]);
        c.env("HOME", &home);
        harness::run_command(c, &h.claude(tool, input))
    };
    let read = |p: &Path| call("Read", json!({ "file_path": p }));
    let write = |p: &Path| call("Write", json!({"file_path": p, "content": "x"}));

    // Blocked globs anchored at the root and at home still name the real files.
    deny(
        &read(&h.project.join(".env")),
        "oap.path_not_allowed",
        ".env in the root",
    );
    deny(
        &write(&h.project.join(".github/workflows/ci.yml")),
        "oap.path_not_allowed",
        "a workflow in the root",
    );
    deny(
        &read(&home.join(".aws/credentials")),
        "oap.path_not_allowed",
        "~/.aws in a home with brackets",
    );
    // A sibling that the root, read as a pattern, would match is outside the project.
    for sib in ["wxra1/a.txt", "w-rbz/a.txt"] {
        std::fs::create_dir_all(tmp.join(sib).parent().unwrap()).unwrap();
        deny(&write(&tmp.join(sib)), "oap.path_not_allowed", sib);
    }
    // The root itself works as a root.
    allow(&write(&h.project.join("src/lib.rs")), "a file in the root");
    allow(&read(&h.project.join("src/lib.rs")), "reading it back");
}

#[test]
fn git_pull_apply_restore_and_worktree_are_judged_on_the_files_they_write() {
    let h = Home::new("coding-agent");
    with_commands(&h, &["git"]);
    let up = h.dir.path().join("upstream");
    let p = &h.project;
    let put = |dir: &Path, rel: &str, text: &str| {
        let f = dir.join(rel);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    };
    std::fs::create_dir_all(&up).unwrap();
    git(&up, &["init", "-q", "-b", "main"]);
    put(&up, ".claude/settings.json", "{\"hooks\": {}}");
    put(&up, "src/a.rs", "fn a() {}\n");
    git(&up, &["add", "."]);
    git(&up, &["commit", "-qm", "init"]);
    git(p, &["clone", "-q", up.to_str().unwrap(), "."]);

    // Upstream changes only source: a pull from a repository on this machine is listed.
    put(&up, "src/a.rs", "fn a() { 1; }\n");
    git(&up, &["commit", "-qam", "source"]);
    for cmd in [
        "git pull",
        "git pull origin main",
        "git pull --rebase",
        "git pull --ff-only origin main",
    ] {
        allow(&bash(&h, cmd), cmd);
    }
    git(p, &["fetch", "-q", "origin"]);
    allow(
        &bash(&h, "git merge FETCH_HEAD"),
        "merge of what was fetched",
    );

    // Upstream changes the host's settings: the same calls write a protected file.
    put(&up, ".claude/settings.json", "{\"disableAllHooks\": true}");
    git(&up, &["commit", "-qam", "evil"]);
    for cmd in [
        "git pull",
        "git pull origin main",
        "git pull --rebase origin main",
    ] {
        let r = bash(&h, cmd);
        deny(&r, "oap.path_not_allowed", cmd);
        assert!(r.stderr.contains(".claude"), "{cmd}: {r:?}");
    }
    git(p, &["fetch", "-q", "origin"]);
    for cmd in [
        "git merge FETCH_HEAD",
        "git rebase FETCH_HEAD",
        "git merge origin/main",
    ] {
        deny(&bash(&h, cmd), "oap.path_not_allowed", cmd);
    }
    // One that creates toolgate's own policy where there was none.
    git(&up, &["revert", "--no-edit", "HEAD"]);
    put(&up, "lib/.toolgate/passport.json", "{}");
    git(&up, &["add", "."]);
    git(&up, &["commit", "-qm", "plant"]);
    deny(
        &bash(&h, "git pull"),
        "oap.path_not_allowed",
        "a pull that plants .toolgate",
    );

    // A network remote: what it brings cannot be known, so the pull is refused and says what to do.
    git(p, &["remote", "add", "net", "https://example.org/r.git"]);
    let r = bash(&h, "git pull net main");
    deny(&r, "oap.path_not_allowed", "a pull from the network");
    assert!(r.stderr.contains("git fetch"), "{r:?}");

    // Patches: judged on the names in their headers.
    git(p, &["reset", "-q", "--hard", "origin/main~2"]);
    git(p, &["switch", "-qc", "work"]);
    put(p, "src/a.rs", "fn a() { 2; }\n");
    git(p, &["commit", "-qam", "two"]);
    git(p, &["format-patch", "-q", "-1", "-o", "../patches"]);
    put(p, ".claude/settings.json", "{\"hooks\": {\"x\": 1}}");
    git(p, &["commit", "-qam", "hooks"]);
    git(
        p,
        &[
            "format-patch",
            "-q",
            "-1",
            "--start-number",
            "2",
            "-o",
            "../patches",
        ],
    );
    git(p, &["reset", "-q", "--hard", "HEAD~2"]);
    let patches = h.dir.path().join("patches");
    let (src, hooks) = (
        patches.join("0001-two.patch"),
        patches.join("0002-hooks.patch"),
    );
    assert!(src.exists() && hooks.exists());
    for cmd in [
        format!("git apply {}", src.display()),
        format!("git am {}", src.display()),
    ] {
        allow(&bash(&h, &cmd), &cmd);
    }
    for cmd in [
        format!("git apply {}", hooks.display()),
        format!("git am -3 {}", hooks.display()),
    ] {
        deny(&bash(&h, &cmd), "oap.path_not_allowed", &cmd);
    }
    deny(
        &bash(&h, "git am < ../patches/0001-two.patch"),
        "oap.path_not_allowed",
        "a patch on stdin",
    );

    // restore and checkout of paths: what differs from their source is written.
    put(p, "src/a.rs", "changed\n");
    for cmd in [
        "git restore .",
        "git checkout -- .",
        "git restore src",
        "git restore --source=origin/main~2 .",
    ] {
        allow(&bash(&h, cmd), cmd);
    }
    git(p, &["branch", "evil", "origin/main"]);
    for cmd in [
        "git restore --source=evil .",
        "git checkout evil -- .",
        "git restore --source=evil .claude",
    ] {
        deny(&bash(&h, cmd), "oap.path_not_allowed", cmd);
    }

    // A worktree creates the files of its commit: a second `.claude/` is refused
    // wherever it would land; a branch without one may be checked out anywhere.
    git(&up, &["switch", "-q", "--orphan", "docs"]);
    put(&up, "docs/readme.md", "docs\n");
    git(&up, &["add", "docs"]);
    git(&up, &["commit", "-qm", "docs"]);
    git(p, &["fetch", "-q", "origin"]);
    let outside = h.dir.path().join("outside-wt");
    for cmd in [
        format!("git worktree add {} origin/docs", outside.display()),
        "git worktree add wt origin/docs".into(),
    ] {
        allow(&bash(&h, &cmd), &cmd);
    }
    for cmd in [
        format!("git worktree add {} work", outside.display()),
        "git worktree add wt work".into(),
        "git worktree add -b new wt".into(),
    ] {
        deny(&bash(&h, &cmd), "oap.path_not_allowed", &cmd);
    }
    // A clone's files cannot be known before they are fetched.
    let r = bash(&h, &format!("git clone {} sub", up.display()));
    deny(&r, "oap.path_not_allowed", "a clone");
    assert!(r.stderr.contains("clone"), "{r:?}");
    let r = bash(&h, "git submodule update --init");
    deny(&r, "oap.path_not_allowed", "submodule update");
}

#[test]
fn project_mcp_servers_are_host_configuration() {
    let h = Home::new("coding-agent");
    deny(
        &write(&h, &h.project.join(".mcp.json")),
        "oap.path_not_allowed",
        "Claude Code's project MCP servers",
    );
    with_commands(&h, &["cp"]);
    std::fs::write(h.project.join("servers.json"), "{}").unwrap();
    deny(
        &bash(&h, "cp servers.json .mcp.json"),
        "oap.path_not_allowed",
        "copied over",
    );
    allow(&write(&h, &h.project.join("docs/mcp.json")), "a neighbour");
    allow(&write(&h, &h.project.join("mcp.json")), "another name");
}
