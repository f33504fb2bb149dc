//! File paths: resolved against the call's working directory, normalised
//! lexically, then matched with globs whose `*` never crosses a `/`.
//! Where the file (or its parent) exists, the symlink-resolved path is
//! checked too, and a deny on either wins.

use super::{string_field, string_list, CheckInput, CheckResult};
use crate::packs::Access;
use crate::reason::ReasonCode;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use std::path::{Component, Path, PathBuf};

/// Longest path accepted (Linux PATH_MAX).
pub const MAX_PATH_BYTES: usize = 4096;

/// Lexically normalises an absolute path: drops `.`, resolves `..` (never above `/`),
/// collapses repeated and trailing slashes. Idempotent.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(p) => out.push(p),
        }
    }
    out
}

/// Resolves a raw path from a call against `cwd` and normalises it, refusing
/// forms a tool would not take literally.
pub fn resolve(raw: &str, cwd: Option<&str>) -> Result<PathBuf, String> {
    if raw.is_empty() {
        return Err("the path is empty".into());
    }
    if raw.contains('\0') {
        return Err("the path contains a NUL byte".into());
    }
    if raw.len() > MAX_PATH_BYTES {
        return Err(format!("the path is longer than {MAX_PATH_BYTES} bytes"));
    }
    if raw.starts_with('~') {
        return Err(format!("`{raw}` starts with an unexpanded `~`"));
    }
    let p = Path::new(raw);
    if p.is_absolute() {
        return Ok(normalize(p));
    }
    match cwd {
        Some(c) if Path::new(c).is_absolute() => Ok(normalize(&Path::new(c).join(p))),
        Some(c) => Err(format!("the working directory `{c}` is not absolute")),
        None => Err(format!(
            "`{raw}` is relative and the call has no working directory"
        )),
    }
}

/// Expands a passport glob: `~/` is the home directory, a relative glob is
/// anchored at the project root (the call's working directory).
fn expand(pattern: &str, root: Option<&Path>, home: Option<&Path>) -> Option<String> {
    if let Some(rest) = pattern.strip_prefix("~/") {
        return home.map(|h| format!("{}/{rest}", h.display().to_string().trim_end_matches('/')));
    }
    if pattern.starts_with('/') {
        return Some(pattern.to_string());
    }
    root.map(|r| {
        format!(
            "{}/{pattern}",
            r.display().to_string().trim_end_matches('/')
        )
    })
}

/// Blocked globs ignore case and allowed globs respect it, on every platform:
/// `.ENV` is the same file as `.env` on macOS and Windows volumes, and a deny
/// that is too wide costs a prompt while an allow that is too wide leaks.
fn globset(
    patterns: &[&str],
    root: Option<&Path>,
    home: Option<&Path>,
    case_insensitive: bool,
) -> Result<GlobSet, String> {
    let full: Vec<(&str, String)> = patterns
        .iter()
        .filter_map(|p| expand(p, root, home).map(|f| (*p, f)))
        .collect();
    // Compiling a set costs hundreds of microseconds; a command's file effects
    // ask for the same set once per effect, so sets are memoised per thread.
    let key = (
        full.iter().map(|(_, f)| f.clone()).collect::<Vec<_>>(),
        case_insensitive,
    );
    if let Some(set) = GLOBSETS.with(|c| c.borrow().get(&key).cloned()) {
        return Ok(set);
    }
    let mut b = GlobSetBuilder::new();
    for (p, f) in &full {
        let glob = GlobBuilder::new(f)
            .literal_separator(true)
            .backslash_escape(true)
            .case_insensitive(case_insensitive)
            .build()
            .map_err(|e| format!("glob `{p}`: {e}"))?;
        b.add(glob);
    }
    let set = b.build().map_err(|e| e.to_string())?;
    GLOBSETS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= GLOBSET_CACHE_ENTRIES {
            c.clear();
        }
        c.insert(key, set.clone());
    });
    Ok(set)
}

/// Bound on memoised glob sets (a long-lived embedder must not grow without limit).
const GLOBSET_CACHE_ENTRIES: usize = 64;

type GlobKey = (Vec<String>, bool);

thread_local! {
    static GLOBSETS: std::cell::RefCell<std::collections::HashMap<GlobKey, GlobSet>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The paths to judge: the lexical one, and the symlink-resolved ones where
/// they differ. The raw path is resolved too, because the kernel applies `..`
/// after following a symlink (`link/../x`) while lexical normalisation applies it before.
fn candidates(path: &Path, raw: &Path, input: &CheckInput) -> Vec<PathBuf> {
    let mut out = vec![path.to_path_buf()];
    let fs = input.env.fs;
    let resolve = |p: &Path| {
        fs.canonicalize(p).or_else(|| {
            let parent = p.parent()?;
            Some(fs.canonicalize(parent)?.join(p.file_name()?))
        })
    };
    for r in [resolve(path), resolve(raw)].into_iter().flatten() {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

pub fn check(
    input: &CheckInput,
    field: &str,
    access: Access,
    allowed: Option<&str>,
    blocked: Option<&str>,
) -> CheckResult {
    let raw = match string_field(input, field) {
        Ok(Some(r)) => r,
        Ok(None) => return CheckResult::Skip(format!("no `{field}` in the call")),
        Err(e) => return e,
    };
    let cwd = match string_field(input, "cwd") {
        Ok(c) => c,
        Err(e) => return e,
    };
    let path = match resolve(raw, cwd) {
        Ok(p) => p,
        Err(why) => return CheckResult::deny(ReasonCode::PathNotAllowed, why),
    };
    let joined = match cwd {
        Some(c) if !Path::new(raw).is_absolute() => Path::new(c).join(raw),
        _ => PathBuf::from(raw),
    };
    let cands = candidates(&path, &joined, input);
    if access == Access::Write {
        for c in &cands {
            if let Some(p) = input.env.protected_paths.iter().find(|p| c.starts_with(p)) {
                return CheckResult::deny(
                    ReasonCode::PathNotAllowed,
                    format!(
                        "{} is inside {}, which toolgate protects from agents",
                        c.display(),
                        p.display()
                    ),
                );
            }
        }
    }
    let root = cwd.map(Path::new);
    let home = input.env.home.as_deref();
    let lists = (
        allowed.map(|n| string_list(input, n)),
        blocked.map(|n| string_list(input, n)),
    );
    let allow = match lists.0 {
        Some(Ok(Some(l))) => Some(l),
        Some(Err(e)) => return e,
        _ => None,
    };
    let block = match lists.1 {
        Some(Ok(Some(l))) => l,
        Some(Err(e)) => return e,
        _ => vec![],
    };
    let block_set = match globset(&block, root, home, true) {
        Ok(s) => s,
        Err(e) => return CheckResult::deny(ReasonCode::PolicyError, e),
    };
    for c in &cands {
        if block_set.is_match(c) {
            return CheckResult::deny(
                ReasonCode::PathNotAllowed,
                format!("{} matches a blocked path", c.display()),
            );
        }
    }
    let Some(allow) = allow else {
        return CheckResult::pass(format!(
            "{} is not blocked (no allowed_paths set)",
            path.display()
        ));
    };
    let allow_set = match globset(&allow, root, home, false) {
        Ok(s) => s,
        Err(e) => return CheckResult::deny(ReasonCode::PolicyError, e),
    };
    for c in &cands {
        if !allow_set.is_match(c) {
            return CheckResult::deny(
                ReasonCode::PathNotAllowed,
                format!("{} is outside the allowed paths", c.display()),
            );
        }
    }
    CheckResult::pass(format!("{} is allowed", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_resolves_dots_and_is_idempotent() {
        for (raw, want) in [
            ("/a/b/../c", "/a/c"),
            ("/a//b/./c/", "/a/b/c"),
            ("/../../etc/passwd", "/etc/passwd"),
            ("/", "/"),
        ] {
            let n = normalize(Path::new(raw));
            assert_eq!(n, PathBuf::from(want));
            assert_eq!(normalize(&n), n);
        }
    }

    #[test]
    fn resolve_refuses_odd_forms() {
        assert!(resolve("", Some("/p")).is_err());
        assert!(resolve("a\0b", Some("/p")).is_err());
        assert!(resolve("~/x", Some("/p")).is_err());
        assert!(resolve("x", None).is_err());
        assert!(resolve("x", Some("rel")).is_err());
        assert_eq!(
            resolve("../p2/x", Some("/p")).unwrap(),
            PathBuf::from("/p2/x")
        );
    }
}
