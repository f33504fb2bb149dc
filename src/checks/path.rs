//! File paths: resolved against the call's working directory, normalised
//! lexically, then matched with globs whose `*` never crosses a `/`.
//! Where the file (or its parent) exists, the symlink-resolved path is
//! checked too, and a deny on either wins.

use super::protect::Contains;
use super::walk::{self, Stop, Walk};
use super::{string_field, string_list, CheckInput, CheckResult};
use crate::packs::Access;
use crate::reason::ReasonCode;
use crate::state::StateChange;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use std::path::{Component, Path, PathBuf};

mod copy;

/// Longest path accepted (Linux PATH_MAX).
pub const MAX_PATH_BYTES: usize = 4096;

/// Lexically normalises an absolute path: drops `.`, resolves `..` (never above `/`),
/// collapses repeated and trailing slashes. Idempotent.
pub fn normalize(path: &Path) -> PathBuf {
    if is_normal(path) {
        return path.to_path_buf();
    }
    by_components(path)
}

fn by_components(path: &Path) -> PathBuf {
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

/// Whether `path` is already what [`normalize`] makes of it: absolute, and no empty, `.`
/// or `..` component (no `//`, no trailing `/`). Most paths a hook sees are; checking
/// the bytes is a tenth of rebuilding them component by component.
fn is_normal(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let b = path.as_os_str().as_bytes();
    match b {
        [b'/'] => true,
        [b'/', rest @ ..] => rest
            .split(|&c| c == b'/')
            .all(|seg| !matches!(seg, b"" | b"." | b"..")),
        _ => false,
    }
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

/// The directories passport globs are anchored at, as glob text: each trusted
/// project root and the home directory, escaped once per check rather than once
/// per glob (a passport may list a thousand).
struct Anchors {
    roots: Vec<String>,
    home: Option<String>,
}

impl Anchors {
    fn new(roots: &[PathBuf], home: Option<&Path>) -> Anchors {
        let anchor = |dir: &Path| globset::escape(dir.display().to_string().trim_end_matches('/'));
        Anchors {
            roots: roots.iter().map(|r| anchor(r)).collect(),
            home: home.map(anchor),
        }
    }
}

/// Expands a passport glob: `~/` is the home directory, a relative glob is
/// anchored at each trusted project root (never at the call's directory,
/// which the model chooses). A glob ending in `**` also matches the
/// directory itself, so the root matches `**` (LS, Grep, Glob on the root).
/// The home and root directories are literal text: a `*`, `?`, `[` or `{` in
/// a directory name is escaped, never read as glob syntax.
fn expand(pattern: &str, anchors: &Anchors, out: &mut Vec<String>) {
    let mut push = |b: String| {
        if let Some(dir) = b.strip_suffix("/**") {
            out.push(if dir.is_empty() {
                "/".into()
            } else {
                dir.to_string()
            });
        }
        out.push(b);
    };
    let joined = |dir: &str, rest: &str| {
        let mut s = String::with_capacity(dir.len() + 1 + rest.len());
        s.push_str(dir);
        s.push('/');
        s.push_str(rest);
        s
    };
    if let Some(rest) = pattern.strip_prefix("~/") {
        if let Some(h) = &anchors.home {
            push(joined(h, rest));
        }
    } else if pattern.starts_with('/') {
        push(pattern.to_string());
    } else {
        for r in &anchors.roots {
            push(joined(r, pattern));
        }
    }
}

/// Whether a passport glob is anchored at the project root.
fn is_relative(pattern: &str) -> bool {
    !pattern.starts_with('/') && !pattern.starts_with("~/")
}

/// Blocked globs ignore case and allowed globs respect it, on every platform:
/// `.ENV` is the same file as `.env` on macOS and Windows volumes, and a deny
/// that is too wide costs a prompt while an allow that is too wide leaks.
fn globset(
    patterns: &[&str],
    roots: &[PathBuf],
    home: Option<&Path>,
    case_insensitive: bool,
) -> Result<Globs, String> {
    let anchors = Anchors::new(roots, home);
    let mut globs = Globs::default();
    let mut full: Vec<String> = Vec::with_capacity(patterns.len());
    for (entry, p) in patterns.iter().enumerate() {
        expand(p, &anchors, &mut full);
        globs.entry.resize(full.len(), entry);
    }
    let mut rest: Vec<(&str, String)> = vec![];
    for (i, (p, f)) in globs
        .entry
        .iter()
        .map(|&e| patterns.get(e).copied().unwrap_or_default())
        .zip(full)
        .enumerate()
    {
        // Case-insensitive matching stays with globset: its Unicode case folding is the
        // reference, and blocked lists are short.
        let shape = match case_insensitive {
            true => Err(f),
            false => Shape::take(f),
        };
        match shape {
            Ok(shape) => globs.shapes.push((i, shape)),
            Err(f) => {
                rest.push((p, f));
                globs.rest_index.push(i);
            }
        }
    }
    if !rest.is_empty() {
        globs.rest = Some(compiled(&rest, case_insensitive)?);
    }
    Ok(globs)
}

/// The globset of the globs no direct shape covers, `(passport entry, expanded glob)`.
fn compiled(rest: &[(&str, String)], case_insensitive: bool) -> Result<GlobSet, String> {
    // Compiling a set costs hundreds of microseconds; a command's file effects
    // ask for the same set once per effect, so sets are memoised per thread.
    let key = (
        rest.iter().map(|(_, f)| f.to_string()).collect::<Vec<_>>(),
        case_insensitive,
    );
    if let Some(set) = GLOBSETS.with(|c| c.borrow().get(&key).cloned()) {
        return Ok(set);
    }
    let mut b = GlobSetBuilder::new();
    for (p, f) in rest {
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

/// Passport globs as matched: the shapes nearly every passport uses (a literal path,
/// everything below a directory, a file name or extension anywhere below one) are
/// compared directly, with no regex compiled per process; the rest goes to globset.
/// Each shape matches exactly what globset matches for it, never more (see the test).
#[derive(Debug, Clone, Default)]
struct Globs {
    /// The passport entry (its index in the list) behind each glob of the expanded list.
    entry: Vec<usize>,
    /// Each with its index in the expanded list.
    shapes: Vec<(usize, Shape)>,
    rest: Option<GlobSet>,
    /// The expanded-list index of each glob in `rest`.
    rest_index: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq)]
enum Shape {
    /// `L`: the path itself.
    Exact(Vec<u8>),
    /// `L/**`: anything below `L`, and `L/` (the expansion adds `L` itself as an `Exact`).
    Below(Vec<u8>),
    /// `L/**/*S`: a file whose name ends in `S`, at any depth below `L`.
    NameEndsBelow(Vec<u8>, Vec<u8>),
    /// `L/**/N`: a file named `N` at any depth below `L`.
    NameBelow(Vec<u8>, Vec<u8>),
}

/// No glob syntax at all (with backslash escapes on, a `\` is syntax too).
fn literal(s: &str) -> bool {
    !s.bytes()
        .any(|b| matches!(b, b'*' | b'?' | b'[' | b']' | b'{' | b'}' | b'\\'))
}

impl Shape {
    fn of(glob: &str) -> Option<Shape> {
        if literal(glob) {
            return Some(Shape::Exact(glob.as_bytes().to_vec()));
        }
        if let Some(dir) = glob.strip_suffix("/**") {
            return literal(dir).then(|| Shape::Below(format!("{dir}/").into_bytes()));
        }
        let (dir, last) = glob.split_once("/**/")?;
        if !literal(dir) || last.contains('/') {
            return None;
        }
        let base = format!("{dir}/").into_bytes();
        match last.strip_prefix('*') {
            Some(end) if literal(end) => Some(Shape::NameEndsBelow(base, end.as_bytes().to_vec())),
            Some(_) => None,
            None if literal(last) && !last.is_empty() => {
                Some(Shape::NameBelow(base, last.as_bytes().to_vec()))
            }
            None => None,
        }
    }

    /// [`Shape::of`] for an expanded glob the caller gives up: the two shapes nearly
    /// every passport uses (a literal path, everything below a directory) keep its bytes
    /// rather than copy them (a passport may list a thousand globs). The glob comes back
    /// when it has no direct shape.
    fn take(glob: String) -> Result<Shape, String> {
        if literal(&glob) {
            return Ok(Shape::Exact(glob.into_bytes()));
        }
        if glob.strip_suffix("/**").is_some_and(literal) {
            let mut base = glob.into_bytes();
            base.truncate(base.len().saturating_sub(2));
            return Ok(Shape::Below(base));
        }
        Shape::of(&glob).ok_or(glob)
    }

    fn is_match(&self, path: &[u8]) -> bool {
        fn name(below: &[u8]) -> &[u8] {
            below.rsplit(|&b| b == b'/').next().unwrap_or(below)
        }
        match self {
            Shape::Exact(l) => path == l.as_slice(),
            Shape::Below(base) => path.starts_with(base),
            Shape::NameEndsBelow(base, end) => path
                .strip_prefix(base.as_slice())
                .is_some_and(|below| name(below).ends_with(end)),
            Shape::NameBelow(base, n) => path
                .strip_prefix(base.as_slice())
                .is_some_and(|below| name(below) == n.as_slice()),
        }
    }
}

impl Globs {
    fn is_match(&self, path: &Path) -> bool {
        let bytes = path.as_os_str().as_encoded_bytes();
        self.shapes.iter().any(|(_, s)| s.is_match(bytes))
            || self.rest.as_ref().is_some_and(|r| r.is_match(path))
    }

    /// The expanded-list index of the first glob that matches `path`.
    fn first_index(&self, path: &Path) -> Option<usize> {
        let bytes = path.as_os_str().as_encoded_bytes();
        let direct = self
            .shapes
            .iter()
            .filter(|(_, s)| s.is_match(bytes))
            .map(|(i, _)| *i);
        let rest = self
            .rest
            .iter()
            .flat_map(|r| r.matches(path))
            .filter_map(|j| self.rest_index.get(j).copied());
        direct.chain(rest).min()
    }
}

/// The passport entry behind the first glob of `set` (built by [`globset`] from
/// `patterns`) that matches `c`, for `--explain` and test coverage.
fn first_match(set: &Globs, c: &Path, patterns: &[&str]) -> Option<String> {
    let i = set.first_index(c)?;
    let entry = *set.entry.get(i)?;
    patterns.get(entry).map(|p| (*p).to_owned())
}

/// Bound on memoised glob sets (a long-lived embedder must not grow without limit).
const GLOBSET_CACHE_ENTRIES: usize = 64;

type GlobKey = (Vec<String>, bool);

thread_local! {
    static GLOBSETS: std::cell::RefCell<std::collections::HashMap<GlobKey, GlobSet>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The paths to judge: the lexical one, and the symlink-resolved ones where
/// they differ (dangling links included: a write through one creates its
/// target). The raw path is resolved too, because the kernel applies `..`
/// after following a symlink (`link/../x`) while lexical normalisation applies it before.
fn candidates(path: &Path, raw: &Path, input: &CheckInput) -> Vec<PathBuf> {
    let mut out = vec![path.to_path_buf()];
    let fs = input.env.fs;
    for r in [fs.resolve(path), fs.resolve(raw)].into_iter().flatten() {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// Why writing (or reading) `c` reaches a protected file under another name:
/// a hard link is the same file, so the protected set is compared by identity.
fn hard_link_refusal(input: &CheckInput, c: &Path, access: Access) -> Option<String> {
    let env = input.env;
    let secrets_only = access == Access::Read;
    match env
        .fs
        .hard_link_to_protected(c, &env.protected, &env.roots, secrets_only)?
    {
        Contains::Nothing => None,
        Contains::Found(p) => Some(format!(
            "{} is a hard link to {} (the same file under another name)",
            c.display(),
            p.display()
        )),
        Contains::TooLarge(n) => Some(format!(
            "{} has more than one name (a hard link) and toolgate looked at {n} entries without finding where the others are, so it cannot tell that none is protected",
            c.display()
        )),
    }
}

pub fn check(
    input: &CheckInput,
    field: &str,
    access: Access,
    allowed: Option<&str>,
    blocked: Option<&str>,
    walk: Option<&str>,
) -> CheckResult {
    match judge(input, field, access, allowed, blocked, walk) {
        Ok(r) | Err(r) => r,
    }
}

/// The compiled allow and block sets of one check.
struct Sets {
    block: Globs,
    allow: Option<Globs>,
}

impl Sets {
    /// A deny reason when `c` is blocked or outside the allowed paths.
    fn refuse(&self, c: &Path) -> Option<String> {
        if self.block.is_match(c) {
            return Some(format!("{} matches a blocked path", c.display()));
        }
        match &self.allow {
            Some(a) if !a.is_match(c) => {
                Some(format!("{} is outside the allowed paths", c.display()))
            }
            _ => None,
        }
    }

    /// A deny reason for a directory a reader lists or walks: it is blocked,
    /// every entry it could hold is blocked, or nothing in it is allowed.
    fn refuse_dir(&self, d: &Path) -> Option<String> {
        let inner = d.join(walk::PROBE);
        if self.block.is_match(d) {
            Some(format!("{} matches a blocked path", d.display()))
        } else if self.block.is_match(&inner) {
            Some(format!(
                "every entry of {} matches a blocked path",
                d.display()
            ))
        } else if self
            .allow
            .as_ref()
            .is_some_and(|a| !a.is_match(d) && !a.is_match(&inner))
        {
            Some(format!("{} is outside the allowed paths", d.display()))
        } else {
            None
        }
    }
}

fn judge(
    input: &CheckInput,
    field: &str,
    access: Access,
    allowed: Option<&str>,
    blocked: Option<&str>,
    walk: Option<&str>,
) -> Result<CheckResult, CheckResult> {
    let Some(raw) = string_field(input, field)? else {
        return Ok(CheckResult::Skip(format!("no `{field}` in the call")));
    };
    let cwd = string_field(input, "cwd")?;
    if let (Access::Write, Some(copy)) = (access, copy_of(input, walk)?) {
        return copy::judge(input, field, raw, cwd, &copy, (allowed, blocked, walk));
    }
    let path =
        resolve(raw, cwd).map_err(|why| CheckResult::deny(ReasonCode::PathNotAllowed, why))?;
    let joined = match cwd {
        Some(c) if !Path::new(raw).is_absolute() => Path::new(c).join(raw),
        _ => PathBuf::from(raw),
    };
    let cands = candidates(&path, &joined, input);
    let env = input.env;
    for c in &cands {
        let refusal = match access {
            Access::Write => env
                .protected
                .write_refusal(c, &|p: &Path| env.fs.contains_protected(p, &env.protected)),
            Access::Read => env.protected.read_refusal(c),
        }
        .or_else(|| hard_link_refusal(input, c, access));
        if let Some(why) = refusal {
            input.hits.protected();
            return Err(CheckResult::deny(
                ReasonCode::PathNotAllowed,
                format!("{why}; {}", super::protect::PROTECTED_WHY),
            ));
        }
    }
    let roots = env.roots.as_slice();
    let home = env.home.as_deref();
    let allow = match allowed {
        Some(n) => string_list(input, n)?,
        None => None,
    };
    let block = match blocked {
        Some(n) => string_list(input, n)?.unwrap_or_default(),
        None => vec![],
    };
    let relative = block
        .iter()
        .chain(allow.iter().flatten())
        .any(|p| is_relative(p));
    if relative {
        inside_a_root(cwd, roots)
            .map_err(|why| CheckResult::deny(ReasonCode::PathNotAllowed, why))?;
    }
    let policy = |e: String| CheckResult::deny(ReasonCode::PolicyError, e);
    let sets = Sets {
        block: globset(&block, roots, home, true).map_err(policy)?,
        allow: match &allow {
            Some(a) => Some(globset(a, roots, home, false).map_err(policy)?),
            None => None,
        },
    };
    for c in &cands {
        if sets.block.is_match(c) {
            if let (Some(n), Some(e)) = (blocked, first_match(&sets.block, c, &block)) {
                input.hits.entry(n, &e);
            }
            return Err(CheckResult::deny(
                ReasonCode::PathNotAllowed,
                format!("{} matches a blocked path", c.display()),
            ));
        }
    }
    let spec = walk
        .and_then(|w| input.context.get(w))
        .filter(|v| !v.is_null());
    for c in &cands {
        // A walked directory is not read itself: its files are, each judged below.
        let why = match spec {
            Some(_) => sets.refuse_dir(c),
            None => sets.refuse(c),
        };
        if let Some(why) = why {
            return Err(CheckResult::deny(ReasonCode::PathNotAllowed, why));
        }
    }
    let walked = match spec {
        Some(spec) => Some(tree(input, &path, &cands, spec, &sets)?),
        None => None,
    };
    if let (Some(n), Some(set), Some(a)) = (allowed, &sets.allow, &allow) {
        if let Some(e) = cands.iter().find_map(|c| first_match(set, c, a)) {
            input.hits.entry(n, &e);
        }
    }
    let shown = path.display();
    let detail = match (walked, allow.is_some()) {
        (Some(w), _) => format!("{shown} is allowed; {w}"),
        (None, true) => format!("{shown} is allowed"),
        (None, false) => format!("{shown} is not blocked (no allowed_paths set)"),
    };
    // An allowed write is remembered for the session: a program that later loads it needs review.
    let changes = match (access, string_field(input, "session")?) {
        (Access::Write, Some(session)) => vec![StateChange::Wrote {
            session: session.into(),
            path: path.display().to_string(),
        }],
        _ => vec![],
    };
    Ok(CheckResult::Pass {
        detail,
        effects: vec![],
        changes,
    })
}

/// The copy a write effect describes (`walk.copy`), if any.
fn copy_of(input: &CheckInput, walk: Option<&str>) -> Result<Option<walk::Copy>, CheckResult> {
    let Some(spec) = walk.and_then(|w| input.context.get(w)) else {
        return Ok(None);
    };
    match spec.get("copy") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(c) => serde_json::from_value(c.clone()).map(Some).map_err(|e| {
            CheckResult::deny(
                ReasonCode::InvalidContext,
                format!("`walk.copy` is malformed: {e}"),
            )
        }),
    }
}

/// Judges what a recursive reader reads below `path` (or, for a listing, the
/// directory it lists). Returns what was walked, for the trace.
fn tree(
    input: &CheckInput,
    path: &Path,
    cands: &[PathBuf],
    spec: &serde_json::Value,
    sets: &Sets,
) -> Result<String, CheckResult> {
    let mut w: Walk = serde_json::from_value(spec.clone()).map_err(|e| {
        CheckResult::deny(
            ReasonCode::InvalidContext,
            format!("`walk` is malformed: {e}"),
        )
    })?;
    let glob = string_field(input, "glob")?;
    let cwd = string_field(input, "cwd")?.map(Path::new);
    let fs = input.env.fs;
    if w.list_only {
        // Listing names: the directory listed must not be one whose every entry is blocked.
        let base = match glob {
            Some(g) => walk::glob_base(path, g),
            None => path.to_path_buf(),
        };
        let mut dirs = vec![base.clone()];
        dirs.extend(fs.canonicalize(&base));
        dirs.extend(cands.iter().cloned());
        for d in dirs {
            if let Some(why) = sets.refuse_dir(&d) {
                return Err(CheckResult::deny(
                    ReasonCode::PathNotAllowed,
                    format!("{} would list {}: {why}", w.reader, d.display()),
                ));
            }
        }
        return Ok(format!("{} lists {}", w.reader, base.display()));
    }
    if let Some(g) = glob {
        w.globs.push(g.to_string());
    }
    let hint_base = w
        .glob_base
        .as_deref()
        .map(PathBuf::from)
        .or_else(|| cwd.map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf());
    let mut files = 0usize;
    let result = walk::walk(fs, path, cwd, &w, |v| {
        files += 1;
        for c in std::iter::once(v.path.to_path_buf()).chain(v.real.clone()) {
            if let Some(why) = sets.refuse(&c) {
                return Err((v.path.to_path_buf(), why));
            }
        }
        Ok(())
    });
    match result {
        Ok(entries) => Ok(format!(
            "{} reads {files} files below it ({entries} entries listed)",
            w.reader
        )),
        Err(Stop::Budget(why)) => Err(CheckResult::deny(
            ReasonCode::LimitExceeded,
            format!("{why}; name narrower paths or exclude large directories"),
        )),
        Err(Stop::Refused((file, why))) => {
            let rel = file
                .strip_prefix(&hint_base)
                .unwrap_or(&file)
                .display()
                .to_string();
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let hint = w
                .exclude_hint
                .replace("{path}", &rel)
                .replace("{name}", &name);
            let how = if hint.is_empty() {
                String::new()
            } else {
                format!("; leave it out with {hint}")
            };
            Err(CheckResult::deny(
                ReasonCode::PathNotAllowed,
                format!("{} would read {}: {why}{how}", w.reader, file.display()),
            ))
        }
    }
}

/// Relative rules need a trusted root, and a call whose directory lies
/// outside every root: anchoring them anywhere else would let the model pick
/// what `**` means.
fn inside_a_root(cwd: Option<&str>, roots: &[PathBuf]) -> Result<(), String> {
    if roots.is_empty() {
        return Err(
            "the passport has relative path rules but no trusted project root is known; \
             the host did not say (for Claude Code, CLAUDE_PROJECT_DIR) and none is configured \
             (`project_roots` in config.json or --project-root)"
                .into(),
        );
    }
    match cwd {
        Some(c) if !roots.iter().any(|r| normalize(Path::new(c)).starts_with(r)) => Err(format!(
            "the call runs in {c}, outside every trusted project root ({}), so the passport's relative path rules cannot apply",
            roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_byte_shortcut_of_normalize_agrees_with_the_component_walk_on_every_short_path() {
        // Every string of `/`, `.` and `a` up to 9 bytes: all the shapes of empty, `.`,
        // `..`, dotted and plain components, leading, repeated and trailing slashes.
        let mut paths = vec![String::new()];
        let mut all = vec![];
        for _ in 0..9 {
            paths = paths
                .iter()
                .flat_map(|p| ['/', '.', 'a'].map(|c| format!("{p}{c}")))
                .collect();
            all.extend(paths.iter().filter(|p| p.starts_with('/')).cloned());
        }
        let mut shortcut = 0;
        for p in &all {
            let path = Path::new(p);
            assert_eq!(normalize(path), by_components(path), "{p}");
            if is_normal(path) {
                shortcut += 1;
                assert_eq!(by_components(path).as_os_str(), path.as_os_str(), "{p}");
            }
        }
        assert!(
            shortcut > 100,
            "the shortcut is taken ({shortcut} of {})",
            all.len()
        );
        assert!(!is_normal(Path::new("a/b")) && is_normal(Path::new("/")));
    }

    fn reference(glob: &str, path: &str) -> bool {
        GlobBuilder::new(glob)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .unwrap()
            .compile_matcher()
            .is_match(path)
    }

    #[test]
    fn the_direct_shapes_match_exactly_what_globset_matches() {
        let globs = [
            "/r/src",
            "/r/src/**",
            "/r/**",
            "/**",
            "/r/**/*.rs",
            "/r/**/.env",
            "/r/**/*",
            "/r/a b/**",
            "/r/é/**/*.py",
            "/r/**/Makefile",
        ];
        let paths = [
            "/r",
            "/r/src",
            "/r/src/a.rs",
            "/r/src/a/b.rs",
            "/r/srcx",
            "/r/src.rs",
            "/r/.env",
            "/r/a/.env",
            "/r/a/.env.bak",
            "/r/.rs",
            "/r/a b/c",
            "/r/é/x/y.py",
            "/r/Makefile",
            "/r/x/Makefile",
            "/r/xMakefile",
            "/",
            "/x",
            "/r/src/",
            "/rr/src/a.rs",
            "/R/src/a.rs",
        ];
        for g in globs {
            let shape = Shape::of(g).unwrap_or_else(|| panic!("{g} has a direct shape"));
            for p in paths {
                assert_eq!(
                    shape.is_match(p.as_bytes()),
                    reference(g, p),
                    "{g} against {p}"
                );
            }
        }
        // Anything with more syntax goes to globset.
        for g in [
            "/r/*.rs",
            "/r/src/?",
            "/r/{a,b}/**",
            "/r/[ab]/**",
            "/r/**/x/*.rs",
            "/r/a\\*b",
        ] {
            assert_eq!(Shape::of(g), None, "{g}");
        }
    }

    proptest! {
        #[test]
        fn shapes_agree_with_globset_on_any_path(
            dir in "(/[a-c.]{1,2}){0,3}",
            kind in 0usize..4,
            end in "[a-c.]{0,3}",
            path in "(/[a-c.]{0,3}){0,5}",
        ) {
            let g = match kind {
                0 => dir.clone(),
                1 => format!("{dir}/**"),
                2 => format!("{dir}/**/*{end}"),
                _ => format!("{dir}/**/{end}"),
            };
            prop_assert_eq!(Shape::take(g.clone()).ok(), Shape::of(&g), "{}", g);
            if let Some(shape) = Shape::of(&g).filter(|_| !g.is_empty()) {
                prop_assert_eq!(shape.is_match(path.as_bytes()), reference(&g, &path), "{} against {}", g, path);
            }
        }
    }

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
