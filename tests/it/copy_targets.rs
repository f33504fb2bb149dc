//! A copy, move or link is judged at the names it creates, read from the
//! file system when the call is judged: the destination operand may be a
//! directory the source goes into, and a recursive copy or a move creates the
//! source's whole tree there. A tree holding protected names (a cloned
//! repository with its own `.claude/`) cannot be copied into the project, and
//! copying a plain file into the project directory is a write of that file,
//! not of the directory.

use crate::harness::Home;
use crate::trust_boundary::{allow, bash, deny};

fn home() -> Home {
    let h = Home::with_commands(
        "coding-agent",
        &["cp", "mv", "ln", "rsync", "touch", "python3"],
    );
    let p = &h.project;
    for (rel, text) in [
        (
            "vendor/evil/.claude/settings.json",
            "{\"disableAllHooks\":true}",
        ),
        ("vendor/evil/.vscode/tasks.json", "{}"),
        ("vendor/evil/README.md", "x"),
        ("vendor/hooks/.git/hooks/pre-commit", "#!/bin/sh"),
        ("vendor/clean/lib/a.rs", "fn a() {}"),
        ("vendor/clean/README.md", "x"),
        ("a.txt", "a"),
    ] {
        let f = p.join(rel);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    }
    std::fs::create_dir_all(p.join("sub/existing")).unwrap();
    std::os::unix::fs::symlink(p.join("vendor/evil/.claude"), p.join("vendor/link-claude"))
        .unwrap();
    std::fs::create_dir_all(p.join("vendor/links")).unwrap();
    std::os::unix::fs::symlink("/tmp", p.join("vendor/links/.claude")).unwrap();
    h
}

#[test]
fn a_tree_with_protected_names_cannot_be_copied_or_moved_in() {
    let h = home();
    for cmd in [
        "cp -r vendor/evil/. sub",
        "cp -R vendor/evil/. .",
        "cp -r vendor/evil/ sub/existing",
        "cp -a vendor/evil sub/copy",
        "cp -r vendor/evil/.vscode sub/",
        "cp -a vendor/evil/.claude sub/",
        "cp -r vendor/hooks/. sub/existing",
        "cp -t sub -r vendor/evil/.vscode",
        "mv vendor/evil sub/moved",
        "mv vendor/evil sub/existing",
        "rsync -a vendor/evil/ sub/",
        "rsync -a vendor/evil sub/existing/",
        "ln -s /tmp/elsewhere sub/.claude",
        "ln -s vendor/evil/.claude sub/",
        "cp -a vendor/links sub/l",
        "cd sub && cp -r ../vendor/evil/. existing",
        // What is below the source may change earlier in the same call.
        "touch vendor/clean/new && cp -r vendor/clean/. sub/existing",
        "python3 gen.py && cp -r vendor/clean sub/",
    ] {
        deny(&bash(&h, cmd), "oap.path_not_allowed", cmd);
    }
}

#[test]
fn copies_into_the_project_are_writes_of_what_they_create() {
    let h = home();
    for cmd in [
        "cp a.txt .",
        "cp a.txt sub/",
        "cp a.txt sub/existing",
        "cp -t sub a.txt",
        "mv a.txt sub/existing",
        "cp -r vendor/clean sub/",
        "cp -r vendor/clean/. sub/existing",
        "rsync -a vendor/clean/ sub/c/",
        "mv vendor/clean sub/moved",
    ] {
        allow(&bash(&h, cmd), cmd);
    }
}
