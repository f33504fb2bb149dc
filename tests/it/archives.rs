//! Archives and patches plant files (issue 9): `tar x`, `unzip` and `patch`
//! create the names inside the archive or diff, not the names on the command
//! line. Real archives are built on disk here (with the system's tar, gzip
//! and zip where they exist, and by hand where a shape needs to be exact),
//! and the real binary judges each member as a write. Every deny must be
//! recorded, and the legitimate neighbours stay allowed.

use crate::harness::Home;
use crate::trust_boundary::{allow, bash, deny};
use std::path::Path;
use std::process::Command;

/// coding-agent with the archivers allowed.
fn home() -> Home {
    Home::with_commands("coding-agent", &["tar", "unzip", "patch", "cp", "7z"])
}

/// A tar of `files` (path, content) and `links` (path, target), built with
/// the `tar` crate so names and link types are exactly as given.
fn tar_with(path: &Path, files: &[(&str, &str)], links: &[(&str, &str)], gzip: bool) {
    let out = std::fs::File::create(path).unwrap();
    let sink: Box<dyn std::io::Write> = if gzip {
        Box::new(flate2::write::GzEncoder::new(
            out,
            flate2::Compression::fast(),
        ))
    } else {
        Box::new(out)
    };
    let mut b = tar::Builder::new(sink);
    for (name, target) in links {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, name, target).unwrap();
    }
    for (name, body) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        // The name as given, `..` included (the builder refuses those).
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, body.as_bytes()).unwrap();
    }
    b.into_inner().unwrap().flush().unwrap();
}

/// A zip made by the system's `zip` from a staging directory (skipped where it is missing).
fn zip_of(dir: &Path, zip: &Path, names: &[&str]) -> bool {
    for n in names {
        let p = dir.join(n);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "{\"disableAllHooks\": true}").unwrap();
    }
    Command::new("zip")
        .arg("-qr")
        .arg(zip)
        .args(names)
        .current_dir(dir)
        .status()
        .is_ok_and(|s| s.success())
}

fn stage(h: &Home, name: &str) -> std::path::PathBuf {
    let d = h.dir.path().join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn an_archive_cannot_plant_a_protected_file() {
    let h = home();
    let p = &h.project;
    // No `.claude/` yet: on main, the whole-tree write of `tar x` found nothing
    // protected in the project and allowed it.
    tar_with(
        &p.join("evil.tar"),
        &[("src/ok.rs", "fn x() {}"), (".claude/settings.json", "{}")],
        &[],
        false,
    );
    tar_with(
        &p.join("evil.tgz"),
        &[("pkg/.claude/settings.local.json", "{}")],
        &[],
        true,
    );
    let before = h.records().len();
    deny(
        &bash(&h, "tar -xf evil.tar"),
        "oap.path_not_allowed",
        "tar x",
    );
    deny(
        &bash(&h, "tar -xzf evil.tgz -C vendor"),
        "oap.path_not_allowed",
        "a protected name at any depth, below -C",
    );
    deny(
        &bash(&h, "tar -xf - < evil.tar"),
        "oap.path_not_allowed",
        "the archive on stdin, from a file",
    );
    deny(
        &bash(&h, "tar xzf evil.tgz --strip-components=1"),
        "oap.path_not_allowed",
        "pkg/ stripped: .claude/settings.local.json at the top",
    );
    let r = bash(&h, "tar -xf evil.tar");
    assert!(r.stderr.contains(".claude/settings.json"), "{r:?}");
    // Each deny is in the audit log.
    assert_eq!(h.records().len(), before + 5);
    assert!(!p.join(".claude").exists());

    // Legitimate neighbours: harmless members, listing, creating.
    tar_with(
        &p.join("deps.tgz"),
        &[("deps/index.js", "x"), ("deps/package.json", "{}")],
        &[],
        true,
    );
    let tmp = h.dir.path().join("tmp-deps");
    allow(
        &bash(&h, &format!("tar -xzf deps.tgz -C {}", tmp.display())),
        "harmless members below -C",
    );
    allow(
        &bash(&h, "tar -xzf deps.tgz"),
        "harmless members in the project",
    );
    allow(&bash(&h, "tar -tf evil.tar"), "listing writes nothing");
    allow(&bash(&h, "tar -xOf evil.tar"), "-O writes to stdout");
    std::fs::create_dir_all(p.join("src")).unwrap();
    allow(&bash(&h, "tar -cf out.tar src"), "creating an archive");
}

#[test]
fn links_inside_an_archive_cannot_carry_a_write_elsewhere() {
    let h = home();
    let p = &h.project;
    tar_with(
        &p.join("link.tar"),
        &[("cfg/settings.json", "{}")],
        &[("cfg", ".claude")],
        false,
    );
    deny(
        &bash(&h, "tar -xf link.tar"),
        "oap.path_not_allowed",
        "a member written through a symlink member",
    );
    tar_with(
        &p.join("out.tar"),
        &[],
        &[("up", "../../home/u/.bashrc")],
        false,
    );
    deny(
        &bash(&h, "tar -xf out.tar"),
        "oap.path_not_allowed",
        "a symlink member that leaves the directory",
    );
    tar_with(&p.join("dots.tar"), &[("a/../../x", "x")], &[], false);
    deny(&bash(&h, "tar -xf dots.tar"), "oap.path_not_allowed", "..");
    tar_with(&p.join("fine.tar"), &[("b", "x")], &[("a", "b")], false);
    allow(
        &bash(&h, "tar -xf fine.tar"),
        "a link inside, written through by nothing",
    );
}

#[test]
fn zips_are_read_by_their_central_directory() {
    let h = home();
    let p = &h.project;
    let staged = stage(&h, "zip-evil");
    if !zip_of(&staged, &p.join("evil.zip"), &[".claude/settings.json"]) {
        eprintln!("skipped: no zip program");
        return;
    }
    let ok = stage(&h, "zip-ok");
    assert!(zip_of(&ok, &p.join("ok.zip"), &["docs/a.md", "docs/b.md"]));
    deny(&bash(&h, "unzip evil.zip"), "oap.path_not_allowed", "unzip");
    deny(
        &bash(&h, "unzip -o evil -d sub"),
        "oap.path_not_allowed",
        "unzip adds .zip to a name that does not exist",
    );
    allow(&bash(&h, "unzip ok.zip"), "harmless members");
    allow(&bash(&h, "unzip -l evil.zip"), "listing");
    allow(
        &bash(&h, "unzip -j evil.zip -d flat"),
        "-j lands each member as its base name",
    );
    // A tar with a zip's end record appended: unzip reads the zip, so toolgate does too.
    let mut poly = std::fs::read(p.join("evil.zip")).unwrap();
    let mut t = vec![];
    tar_with(&p.join("clean.tar"), &[("readme", "x")], &[], false);
    t.extend(std::fs::read(p.join("clean.tar")).unwrap());
    t.append(&mut poly);
    std::fs::write(p.join("poly.zip"), &t).unwrap();
    deny(
        &bash(&h, "unzip poly.zip"),
        "oap.path_not_allowed",
        "polyglot",
    );
}

#[test]
fn a_patch_writes_the_files_its_headers_name() {
    let h = home();
    let p = &h.project;
    std::fs::create_dir_all(p.join("src")).unwrap();
    std::fs::write(p.join("src/lib.rs"), "a\n").unwrap();
    let evil = "--- a/.claude/settings.json\n+++ b/.claude/settings.json\n@@ -0,0 +1 @@\n+{\"disableAllHooks\": true}\n";
    let fine = "--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1 +1 @@\n-a\n+b\n";
    std::fs::write(p.join("evil.diff"), evil).unwrap();
    std::fs::write(p.join("fine.diff"), fine).unwrap();
    deny(
        &bash(&h, "patch -p1 -i evil.diff"),
        "oap.path_not_allowed",
        "patch -i",
    );
    deny(
        &bash(&h, "patch -p1 < evil.diff"),
        "oap.path_not_allowed",
        "patch <",
    );
    deny(
        &bash(&h, "cat evil.diff | patch -p1"),
        "oap.path_not_allowed",
        "a diff from a pipe",
    );
    allow(
        &bash(&h, "patch -p1 -i fine.diff"),
        "a diff of a source file",
    );
    allow(&bash(&h, "patch -p1 < fine.diff"), "the same on stdin");
}

#[test]
fn what_cannot_be_listed_is_refused_with_what_to_do() {
    let h = home();
    let p = &h.project;
    std::fs::write(p.join("notes.tar"), "not an archive at all, just some text").unwrap();
    let r = bash(&h, "tar -xf notes.tar");
    deny(&r, "oap.path_not_allowed", "not a tar");
    assert!(
        r.stderr.contains("extract only a tar, tar.gz or zip"),
        "{r:?}"
    );
    deny(
        &bash(&h, "tar -xf missing.tar"),
        "oap.path_not_allowed",
        "missing",
    );
    let r = bash(&h, "cat x | tar -x");
    deny(&r, "oap.path_not_allowed", "a pipe");
    assert!(r.stderr.contains("write it to a file first"), "{r:?}");
    tar_with(&p.join("a.tar"), &[("x", "y")], &[], false);
    let r = bash(&h, "cp a.tar b.tar && tar -xf b.tar");
    deny(
        &r,
        "oap.path_not_allowed",
        "an archive written earlier in the call",
    );
    assert!(r.stderr.contains("in a call of its own"), "{r:?}");
    // Another compression: the first bytes of xz.
    std::fs::write(p.join("a.tar.xz"), b"\xfd7zXZ\x00rest").unwrap();
    let r = bash(&h, "tar -xJf a.tar.xz");
    deny(&r, "oap.path_not_allowed", "xz");
    assert!(r.stderr.contains("xz-compressed"), "{r:?}");
    deny(&bash(&h, "7z x a.7z"), "oap.path_not_allowed", "7z x");
    allow(&bash(&h, "7z l a.7z"), "7z l");
}
