//! Recursive readers through the real binary on a real tree: what grep -r,
//! rg, the Grep/Glob/LS tools would read is walked on disk, a blocked file
//! denies with its name and how to leave it out, and the walk has a budget.

use crate::harness::{Home, Run};
use serde_json::json;
use std::fs;

fn tree(h: &Home) {
    let p = &h.project;
    fs::create_dir_all(p.join(".git")).unwrap();
    fs::create_dir_all(p.join("src")).unwrap();
    fs::create_dir_all(p.join("docs")).unwrap();
    fs::create_dir_all(p.join("bare/src")).unwrap();
    fs::write(p.join(".gitignore"), "target/\n.env\n.env.*\n").unwrap();
    fs::write(p.join(".env"), "TOKEN=secret\n").unwrap();
    fs::write(p.join("src/lib.rs"), "// TODO\n").unwrap();
    fs::write(p.join("docs/guide.md"), "guide\n").unwrap();
    std::os::unix::fs::symlink(p.join(".env"), p.join("docs/notes")).unwrap();
    fs::write(p.join("bare/src/a.rs"), "// TODO\n").unwrap();
    fs::write(p.join("bare/.env.local"), "K=v\n").unwrap();
    let ssh = h.dir.path().join(".ssh");
    fs::create_dir_all(&ssh).unwrap();
    fs::write(ssh.join("id_rsa"), "key\n").unwrap();
}

fn bash(h: &Home, cmd: &str) -> Run {
    h.run(&["evaluate"], &h.claude("Bash", json!({"command": cmd})))
}

fn tool(h: &Home, name: &str, input: serde_json::Value) -> Run {
    h.run(&["evaluate"], &h.claude(name, input))
}

fn denied(r: &Run, words: &[&str]) {
    assert_eq!(r.code, 2, "expected a deny: {r:?}");
    for w in words {
        assert!(r.stderr.contains(w), "expected `{w}` in: {}", r.stderr);
    }
}

#[test]
fn shell_readers_walk_the_real_tree() {
    let h = Home::new("coding-agent");
    tree(&h);
    assert_eq!(bash(&h, "grep -r TODO src").code, 0);
    assert_eq!(bash(&h, "grep -rn TODO src docs").code, 0);
    denied(
        &bash(&h, "grep -r TOKEN ."),
        &["oap.path_not_allowed", ".env", "--exclude=.env"],
    );
    denied(&bash(&h, "grep -r TOKEN"), &[".env"]);
    assert_eq!(
        bash(&h, "grep -r --exclude=.env --exclude='.env.*' TOKEN .").code,
        0
    );
    // -r skips the symlink docs/notes -> .env; -R follows it.
    assert_eq!(bash(&h, "grep -r TOKEN docs").code, 0);
    denied(&bash(&h, "grep -R TOKEN docs"), &["docs/notes"]);
    // ripgrep: .env is hidden and .gitignore'd; -uu reads it.
    assert_eq!(bash(&h, "rg TOKEN").code, 0);
    assert_eq!(bash(&h, "rg --hidden TOKEN").code, 0);
    denied(&bash(&h, "rg -uu TOKEN"), &[".env", "-g '!"]);
    let r = bash(&h, "rg -uu -g '!.env' -g '!.env.*' -g '!.git' TOKEN");
    assert_eq!(r.code, 0, "{r:?}");
    denied(&bash(&h, "rg -L --hidden TOKEN docs"), &["docs/notes"]);
    let last = h.records().pop().unwrap();
    assert_eq!(last["reasons"][0]["code"], "oap.path_not_allowed");
}

#[test]
fn search_and_list_tools_walk_too() {
    let h = Home::new("coding-agent");
    tree(&h);
    assert_eq!(tool(&h, "Grep", json!({"pattern": "TODO"})).code, 0);
    assert_eq!(
        tool(&h, "Grep", json!({"pattern": "K", "path": "bare"})).code,
        0
    );
    // A glob overrides .gitignore, as ripgrep's -g does.
    denied(
        &tool(&h, "Grep", json!({"pattern": "K", "glob": ".env*"})),
        &[".env", "glob"],
    );
    assert_eq!(
        tool(
            &h,
            "Grep",
            json!({"pattern": "K", "path": "bare", "glob": "*.rs"})
        )
        .code,
        0
    );
    assert_eq!(tool(&h, "Glob", json!({"pattern": "**/*.rs"})).code, 0);
    let ssh = format!("{}/.ssh/*", h.dir.path().display());
    denied(&tool(&h, "Glob", json!({"pattern": ssh})), &[".ssh"]);
    assert_eq!(tool(&h, "LS", json!({"path": h.project})).code, 0);
    denied(
        // `~/.ssh/**` blocks the directory itself too (a glob ending in `**` matches its root).
        &tool(&h, "LS", json!({"path": h.dir.path().join(".ssh")})),
        &[".ssh", "blocked"],
    );
}

#[test]
fn a_huge_tree_is_refused_with_the_budget_named() {
    let h = Home::new("coding-agent");
    let big = h.project.join("big");
    for d in 0..25 {
        let dir = big.join(format!("d{d}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..1000 {
            fs::write(dir.join(format!("f{f}")), "").unwrap();
        }
    }
    // Either budget may be the one that runs out first (the entry count on an idle
    // machine, the walk's time on a loaded one): the deny names the one that did.
    let r = bash(&h, "grep -r x big");
    denied(&r, &["oap.limit_exceeded"]);
    assert!(
        r.stderr.contains("20000") && r.stderr.contains("walk budget")
            || r.stderr.contains("time budget"),
        "{}",
        r.stderr
    );
    assert_eq!(bash(&h, "grep -r x big/d1").code, 0);
}
