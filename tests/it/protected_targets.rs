//! Files that some tool runs as code outside the agent's gate (an editor opening the
//! folder, the user's next `git commit`, a shell entering the directory) are protected
//! like the hosts' own configuration: by name, at any depth, against every way of
//! writing them. Their neighbours, and reading them, stay allowed.

use crate::harness::{Home, Run};
use crate::trust_boundary::{allow, bash, deny, write};
use serde_json::json;

const TARGETS: &[&str] = &[
    ".vscode/settings.json",
    ".vscode/tasks.json",
    ".vscode/launch.json",
    ".vscode/mcp.json",
    "sub/pkg/.vscode/settings.json",
    ".VSCode/Settings.json",
    ".idea/runConfigurations/run.xml",
    ".idea/workspace.xml",
    ".mcp.json",
    ".envrc",
    "sub/.envrc",
    ".git/hooks/pre-commit",
    ".git/config",
    "vendor/lib/.git/hooks/post-checkout",
    ".husky/pre-commit",
    ".pre-commit-config.yaml",
    "lefthook.yml",
];

fn home() -> Home {
    let h = Home::with_commands("coding-agent", &["cp", "mv", "tee", "touch", "ln"]);
    std::fs::write(h.project.join("a.txt"), "a").unwrap();
    h
}

fn edit(h: &Home, rel: &str) -> Run {
    h.run(
        &["evaluate"],
        &h.claude(
            "Edit",
            json!({"file_path": h.project.join(rel), "old_string": "a", "new_string": "b"}),
        ),
    )
}

#[test]
fn files_that_run_code_outside_the_gate_cannot_be_written() {
    let h = home();
    for rel in TARGETS {
        deny(
            &write(&h, &h.project.join(rel)),
            "oap.path_not_allowed",
            rel,
        );
        deny(&edit(&h, rel), "oap.path_not_allowed", rel);
        for cmd in [
            format!("echo x > {rel}"),
            format!("echo x >> {rel}"),
            format!("cp a.txt {rel}"),
            format!("mv a.txt {rel}"),
            format!("tee {rel} < a.txt"),
            format!("touch {rel}"),
            format!("git restore --source=HEAD~1 {rel}"),
        ] {
            deny(&bash(&h, &cmd), "oap.path_not_allowed", &cmd);
        }
    }
    // The deny says why the name is protected.
    let r = write(&h, &h.project.join(".vscode/tasks.json"));
    assert!(r.stderr.contains("VS Code tasks"), "{r:?}");
}

#[test]
fn their_neighbours_and_reading_them_stay_allowed() {
    let h = home();
    for rel in [
        "src/settings.json",
        "docs/.vscode.md",
        ".vscode/extensions.json",
        "envrc.md",
        ".envrc.example",
        "git/config",
        "docs/hooks/pre-commit.md",
        "lefthook.yml.md",
    ] {
        allow(&write(&h, &h.project.join(rel)), rel);
        allow(&bash(&h, &format!("cp a.txt {rel}")), rel);
    }
    for rel in [".vscode/settings.json", ".git/config", ".envrc"] {
        let p = h.project.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "x").unwrap();
        allow(&bash(&h, &format!("cat {rel}")), rel);
        allow(
            &h.run(&["evaluate"], &h.claude("Read", json!({ "file_path": p }))),
            rel,
        );
    }
}
