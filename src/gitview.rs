//! What git itself says about a work tree, asked at the edge: the files a
//! whole-tree command (`git switch BRANCH`, `git stash`) would write.
//!
//! Only listing commands run (`diff-tree`, `diff-index`, `ls-files`,
//! `ls-tree`), never one that changes the repository, and each with the
//! repository's own programs switched off (`core.fsmonitor`, hooks, external
//! diff), since its configuration is something an agent may have written.
//! Every failure, a timeout included, answers "cannot say", and the caller
//! then treats the whole tree as written.

use crate::checks::models::GitTree;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Most files listed for one command; beyond, the whole tree counts as written.
pub const MAX_LISTED: usize = 2_000;
/// Wall-clock budget for all the git processes of one command.
pub const BUDGET: Duration = Duration::from_millis(500);
/// Largest listing read from one git process.
const MAX_OUTPUT: u64 = 1024 * 1024;

/// The files (absolute) `spec` says the command in `dir` writes, or `None`.
pub fn tree_changes(dir: &Path, spec: &GitTree) -> Option<Vec<PathBuf>> {
    let top = toplevel(dir)?;
    let started = Instant::now();
    let mut names: Vec<String> = Vec::new();
    for (a, b) in &spec.diffs {
        names.extend(git(
            &top,
            &["diff-tree", "-r", "-z", "--name-only", "--no-renames", a, b],
            started,
        )?);
    }
    if spec.local {
        names.extend(git(
            &top,
            &["diff-index", "-z", "--name-only", "--no-renames", "HEAD"],
            started,
        )?);
    }
    if spec.untracked {
        let mut args = vec!["ls-files", "-z", "--others"];
        if !spec.ignored {
            args.push("--exclude-standard");
        }
        names.extend(git(&top, &args, started)?);
    }
    if let Some(s) = &spec.stash_untracked {
        // A stash made without -u has no third parent: nothing more is restored.
        let third = format!("{s}^3");
        if git(&top, &["rev-parse", "-q", "--verify", &third], started).is_some() {
            names.extend(git(
                &top,
                &["ls-tree", "-r", "-z", "--name-only", &third],
                started,
            )?);
        }
    }
    names.sort();
    names.dedup();
    if names.len() > MAX_LISTED {
        return None;
    }
    Some(names.into_iter().map(|n| top.join(n)).collect())
}

/// The work tree's top directory: the nearest ancestor holding `.git`.
fn toplevel(dir: &Path) -> Option<PathBuf> {
    let mut d = crate::checks::path::normalize(dir);
    loop {
        if std::fs::symlink_metadata(d.join(".git")).is_ok() {
            return Some(d);
        }
        if !d.pop() {
            return None;
        }
    }
}

/// Runs one listing command and splits its NUL-separated output; `None` on
/// any failure or once the budget is spent.
fn git(top: &Path, args: &[&str], started: Instant) -> Option<Vec<String>> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(top)
        .args([
            "--no-pager",
            "--no-optional-locks",
            "-c",
            "core.fsmonitor=false",
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "diff.external=",
            "-c",
            "core.untrackedCache=false",
        ])
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_EXTERNAL_DIFF")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut out = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let read = (&mut out).take(MAX_OUTPUT).read_to_end(&mut buf);
        read.map(|_| buf)
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() < BUDGET => std::thread::sleep(Duration::from_millis(1)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let bytes = reader.join().ok()?.ok()?;
    if !status?.success() {
        return None;
    }
    let text = String::from_utf8(bytes).ok()?;
    Some(
        text.split('\0')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

/// Largest index file read.
const MAX_INDEX: u64 = 64 * 1024 * 1024;

/// The paths git tracks in the work tree at `top`, read from its index file
/// (formats 2 to 4, SHA-1 or SHA-256 object names); `None` when there is no
/// index or it is not one toolgate can read (a sparse index, another format).
pub fn tracked(top: &Path) -> Option<Vec<String>> {
    let git = top.join(".git");
    let dir = if git.is_file() {
        // A worktree or submodule: `gitdir: PATH`.
        let text = crate::regular::read(&git, 4096).ok()?;
        let text = String::from_utf8(text).ok()?;
        let p = PathBuf::from(text.strip_prefix("gitdir:")?.trim());
        if p.is_absolute() {
            p
        } else {
            top.join(p)
        }
    } else {
        git
    };
    let bytes = crate::regular::read(&dir.join("index"), MAX_INDEX).ok()?;
    let sha256 = std::fs::read_to_string(dir.join("config"))
        .map(|c| {
            c.lines().any(|l| {
                l.trim()
                    .replace(' ', "")
                    .eq_ignore_ascii_case("objectformat=sha256")
            })
        })
        .unwrap_or(false);
    parse_index(&bytes, if sha256 { 32 } else { 20 })
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The path names of an index file's entries.
pub fn parse_index(b: &[u8], hash_len: usize) -> Option<Vec<String>> {
    if b.get(..4)? != b"DIRC" {
        return None;
    }
    let version = be32(b, 4)?;
    if !(2..=4).contains(&version) {
        return None;
    }
    let count = be32(b, 8)? as usize;
    let mut names = Vec::with_capacity(count.min(1 << 20));
    let mut at = 12usize;
    let mut prev: Vec<u8> = Vec::new();
    // ctime, mtime (8 each), dev, ino, mode, uid, gid, size (4 each), the object name, flags.
    let fixed = 40 + hash_len;
    for _ in 0..count {
        let start = at;
        let mode = be32(b, at + 24)?;
        let flags = u16::from_be_bytes(b.get(at + fixed..at + fixed + 2)?.try_into().ok()?);
        at += fixed + 2;
        if version >= 3 && flags & 0x4000 != 0 {
            let ext = u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?);
            at += 2;
            // skip-worktree (0x4000): not in the work tree, so not read from it.
            if ext & 0x4000 != 0 && mode & 0o170000 == 0o040000 {
                return None; // a sparse-index directory entry
            }
        }
        let name = if version == 4 {
            let (strip, n) = varint(b, at)?;
            at += n;
            let end = at + b.get(at..)?.iter().position(|&c| c == 0)?;
            let keep = prev.len().checked_sub(strip)?;
            let mut name = prev.get(..keep)?.to_vec();
            name.extend_from_slice(b.get(at..end)?);
            at = end + 1;
            name
        } else {
            let end = at + b.get(at..)?.iter().position(|&c| c == 0)?;
            let name = b.get(at..end)?.to_vec();
            // NUL padding to a multiple of eight bytes (at least one).
            let len = end - start;
            at = start + (len + 8) / 8 * 8;
            name
        };
        if name.is_empty() || name.first() == Some(&b'/') {
            return None;
        }
        names.push(String::from_utf8(name.clone()).ok()?);
        prev = name;
    }
    Some(names)
}

/// Git's offset varint (index v4 name prefixes).
fn varint(b: &[u8], at: usize) -> Option<(usize, usize)> {
    let mut i = at;
    let mut c = *b.get(i)?;
    let mut v = (c & 0x7f) as usize;
    while c & 0x80 != 0 {
        i += 1;
        c = *b.get(i)?;
        v = v
            .checked_add(1)?
            .checked_mul(128)?
            .checked_add((c & 0x7f) as usize)?;
    }
    Some((v, i + 1 - at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(version: &str) -> (tempfile::TempDir, Vec<String>) {
        let d = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let ok = Command::new("git")
                .args(args)
                .current_dir(d.path())
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("HOME", d.path())
                .output()
                .unwrap()
                .status
                .success();
            assert!(ok, "{args:?}");
        };
        run(&["init", "-q"]);
        run(&["config", "index.version", version]);
        let names = vec![
            ".env".to_string(),
            "a/b/c.rs".into(),
            "a/b/d.rs".into(),
            "a/long-name-that-needs-more-padding.txt".into(),
            "z".into(),
        ];
        for n in &names {
            let p = d.path().join(n);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        run(&["add", "-f", "."]);
        (d, names)
    }

    #[test]
    fn every_index_version_lists_what_git_tracks() {
        for v in ["2", "3", "4"] {
            let (d, names) = repo(v);
            assert_eq!(tracked(d.path()).unwrap(), names, "index v{v}");
        }
        assert_eq!(parse_index(b"DIRC\0\0\0\x09\0\0\0\0", 20), None);
        assert_eq!(parse_index(b"XXXX", 20), None);
    }
}
