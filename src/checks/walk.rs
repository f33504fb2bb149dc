//! What a recursive reader really reads: a bounded walk of the directory tree
//! through the injected [`FsView`], applying the reader's own fixed rules
//! (hidden files, `.gitignore`/`.ignore`/`.rgignore`, `--exclude`, `-g`,
//! symlink following) so that every file it would open is judged by the
//! read pack. Pure: all I/O goes through the view, and the budget is counted
//! in entries (and in the view's own clock).

use crate::checks::environment::{EntryKind, FsView};
use globset::{Glob, GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Most directory entries one walk may list before it is refused.
pub const MAX_WALK_ENTRIES: usize = 20_000;
/// Deepest directory nesting a walk follows.
pub const MAX_WALK_DEPTH: usize = 128;
/// Largest ignore file read.
const MAX_IGNORE_FILE: usize = 64 * 1024;
/// A name that only a pattern for "everything in this directory" matches.
pub const PROBE: &str = "\u{1}toolgate-probe";

/// How a reader walks a tree, carried in the read effect's `walk` field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Walk {
    /// Who reads, as messages name it (`grep -r`, `rg`, `the Grep tool`).
    pub reader: String,
    /// Follow symlinks met inside the tree (grep -R, rg -L, zip).
    pub follow: bool,
    /// Skip names starting with `.` (ripgrep without --hidden).
    pub skip_hidden: bool,
    /// Ignore files honoured in each directory, highest priority first
    /// (`.rgignore`, `.ignore`, `.gitignore`); `.gitignore` only inside a git work tree.
    pub ignore_files: Vec<String>,
    /// Never enter `.git` (git grep reads the work tree, not the repository).
    pub skip_git_dir: bool,
    /// ripgrep `-g`: gitignore-syntax globs relative to `glob_base`; `!` excludes;
    /// the last match wins; any positive glob limits the files read to its matches.
    pub globs: Vec<String>,
    /// ripgrep `--iglob`: the same, case-insensitive.
    pub iglobs: Vec<String>,
    /// Directory the globs are relative to (ripgrep: the working directory).
    pub glob_base: Option<String>,
    /// grep-style include/exclude rules, in command-line order.
    pub filters: Vec<Filter>,
    /// Deepest level read below the root (`--max-depth`); the root is level 0.
    pub max_depth: Option<usize>,
    /// Names only (Glob, LS): the directory is judged, no file is read.
    pub list_only: bool,
    /// How to leave a file out, `{path}` standing for its path as the reader sees it.
    pub exclude_hint: String,
    /// ripgrep file types (`-t`, `-T`, `--type-add`): globs on the file name, in
    /// order; the last one matching decides. A selected type's match is read even
    /// when hidden, as ripgrep does; with any type selected, a file matching none is skipped.
    pub types: Vec<TypeGlob>,
    pub types_selected: bool,
    /// git grep: the repository's index says which files are tracked, and a
    /// tracked file is read whatever the ignore files say; with `tracked_only`
    /// (no `--untracked`) nothing else is. Without a readable index the ignore
    /// files stand in for it.
    pub git_index: bool,
    pub tracked_only: bool,
    /// A copy, move or link: the path judged is the destination operand, and
    /// what the program creates there is judged instead of the operand itself.
    pub copy: Option<Copy>,
}

/// What `cp`, `mv`, `rsync` or `ln` creates at its destination operand.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Copy {
    /// The source operand (absolute once the command's directory is known).
    pub from: String,
    /// The name the source gets inside a destination directory; `None` when its
    /// contents go there (`cp -r src/. dir`, `rsync -a src/ dir`).
    pub name: Option<String>,
    /// `Some(true)`: the destination is a directory the source goes into (`-t`,
    /// several sources, a trailing `/`, `.`); `Some(false)`: it is the new name
    /// itself (`-T`); `None`: as the file system says when the call is judged.
    pub into: Option<bool>,
    /// The whole tree below the source is created too (`cp -r`, `mv`, `rsync -r`).
    pub tree: bool,
}

/// One glob of a ripgrep file type, and whether its type is selected or negated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeGlob {
    pub glob: String,
    pub select: bool,
}

/// The file types of one walk, compiled.
struct Types {
    globs: Vec<(GlobMatcher, bool)>,
    selected: bool,
}

impl Types {
    fn new(w: &Walk) -> Types {
        Types {
            globs: w
                .types
                .iter()
                .filter_map(|t| Some((glob(&t.glob, false, false)?, t.select)))
                .collect(),
            selected: w.types_selected,
        }
    }

    /// `Some(true)` skipped, `Some(false)` read (even if hidden), `None` types say nothing.
    fn decide(&self, name: &str) -> Option<bool> {
        match self.globs.iter().rev().find(|(m, _)| m.is_match(name)) {
            Some((_, select)) => Some(!select),
            None => self.selected.then_some(true),
        }
    }
}

/// One include or exclude rule of a grep-like reader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    pub kind: FilterKind,
    pub glob: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterKind {
    /// grep `--include`: base names; if the first rule is an include, unmatched files are skipped.
    Include,
    /// grep `--exclude`, diff `-x`: base names.
    Exclude,
    /// grep `--exclude-dir`: directory base names.
    ExcludeDir,
    /// tar `--exclude`: the relative path or any trailing part of it; `*` crosses `/`.
    ExcludePath,
    /// zip `-x`, git `:!pathspec`: the path relative to the base; `*` crosses `/`.
    ExcludeRelative,
    /// zip `-i`: only matching relative paths are read.
    IncludeRelative,
}

/// Why a walk stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop<E> {
    /// The entry budget or the view's time budget ran out.
    Budget(String),
    /// The visitor refused a file.
    Refused(E),
}

fn glob(pattern: &str, literal_separator: bool, case_insensitive: bool) -> Option<GlobMatcher> {
    GlobBuilder::new(pattern)
        .literal_separator(literal_separator)
        .backslash_escape(true)
        .case_insensitive(case_insensitive)
        .build()
        .ok()
        .map(|g: Glob| g.compile_matcher())
}

/// One gitignore-syntax rule, compiled against the directory it is relative to.
struct Rule {
    matcher: GlobMatcher,
    negated: bool,
    dir_only: bool,
}

/// Gitignore-syntax rules; the last matching rule decides.
#[derive(Default)]
struct Rules(Vec<Rule>);

impl Rules {
    fn parse(text: &str, base: &Path, case_insensitive: bool) -> Rules {
        Rules(
            text.lines()
                .filter_map(|l| rule(l, base, case_insensitive))
                .collect(),
        )
    }

    /// `Some(true)` ignored, `Some(false)` re-included, `None` no rule matched.
    fn decide(&self, path: &Path, is_dir: bool) -> Option<bool> {
        self.0
            .iter()
            .rev()
            .find(|r| (!r.dir_only || is_dir) && r.matcher.is_match(path))
            .map(|r| !r.negated)
    }
}

fn rule(line: &str, base: &Path, case_insensitive: bool) -> Option<Rule> {
    let line = line.trim_end_matches([' ', '\t', '\r']);
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (negated, line) = match line.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, line.strip_prefix('\\').unwrap_or(line)),
    };
    let (dir_only, line) = match line.strip_suffix('/') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    if line.is_empty() {
        return None;
    }
    let base = globset::escape(&base.display().to_string());
    let base = base.trim_end_matches('/');
    let full = match line.strip_prefix('/') {
        Some(anchored) => format!("{base}/{anchored}"),
        None if line.contains('/') => format!("{base}/{line}"),
        None => format!("{base}/**/{line}"),
    };
    Some(Rule {
        matcher: glob(&full, true, case_insensitive)?,
        negated,
        dir_only,
    })
}

/// ripgrep's override globs: `Some(true)` excluded, `Some(false)` whitelisted.
struct Overrides {
    rules: Rules,
    any_positive: bool,
}

impl Overrides {
    fn new(w: &Walk, base: &Path) -> Overrides {
        // A positive `-g` glob whitelists; in gitignore terms it is a negated rule.
        let flip = |g: &String| match g.strip_prefix('!') {
            Some(rest) => rest.to_string(),
            None => format!("!{g}"),
        };
        let mut rules = Rules::default();
        for (list, ci) in [(&w.globs, false), (&w.iglobs, true)] {
            for g in list {
                rules.0.extend(rule(&flip(g), base, ci));
            }
        }
        let any_positive = w.globs.iter().chain(&w.iglobs).any(|g| !g.starts_with('!'));
        Overrides {
            rules,
            any_positive,
        }
    }

    fn decide(&self, path: &Path, is_dir: bool) -> Option<bool> {
        match self.rules.decide(path, is_dir) {
            Some(d) => Some(d),
            None if self.any_positive && !is_dir => Some(true),
            None => None,
        }
    }
}

/// Filters compiled once per walk (`*` crosses `/` in each of these syntaxes).
struct Filters(Vec<(FilterKind, String, GlobMatcher)>);

impl Filters {
    fn new(filters: &[Filter]) -> Filters {
        Filters(
            filters
                .iter()
                .filter_map(|f| Some((f.kind, f.glob.clone(), glob(&f.glob, false, false)?)))
                .collect(),
        )
    }

    /// grep's rule for its include/exclude: the last matching one wins; with
    /// none matching, a file is read unless the first such rule is an include.
    fn skips(&self, name: &str, rel: &str, is_dir: bool) -> bool {
        let rel = rel.trim_start_matches("./");
        let hit = |kind: FilterKind, raw: &str, m: &GlobMatcher| match kind {
            FilterKind::Include | FilterKind::Exclude | FilterKind::ExcludeDir => m.is_match(name),
            FilterKind::ExcludePath => {
                m.is_match(rel)
                    || rel
                        .match_indices('/')
                        .any(|(i, _)| m.is_match(&rel[i + 1..]))
            }
            FilterKind::ExcludeRelative | FilterKind::IncludeRelative => {
                m.is_match(rel) || rel.starts_with(&format!("{}/", raw.trim_end_matches('/')))
            }
        };
        let excluded = self.0.iter().any(|(k, raw, m)| {
            let applies = match k {
                FilterKind::ExcludeDir => is_dir,
                FilterKind::ExcludePath | FilterKind::ExcludeRelative => true,
                _ => false,
            };
            applies && hit(*k, raw, m)
        });
        if excluded || is_dir {
            return excluded;
        }
        let includes: Vec<_> = self
            .0
            .iter()
            .filter(|(k, _, _)| *k == FilterKind::IncludeRelative)
            .collect();
        if !includes.is_empty() && !includes.iter().any(|(k, raw, m)| hit(*k, raw, m)) {
            return true;
        }
        let grep: Vec<_> = self
            .0
            .iter()
            .filter(|(k, _, _)| matches!(k, FilterKind::Include | FilterKind::Exclude))
            .collect();
        match grep.iter().rev().find(|(k, raw, m)| hit(*k, raw, m)) {
            Some((k, _, _)) => *k == FilterKind::Exclude,
            None => grep
                .first()
                .is_some_and(|(k, _, _)| *k == FilterKind::Include),
        }
    }
}

/// One file the reader opens: its path as reached, and where a followed link really points.
pub struct Visit<'p> {
    pub path: &'p Path,
    pub real: Option<PathBuf>,
}

struct Walker<'a, F> {
    fs: &'a dyn FsView,
    w: &'a Walk,
    root: &'a Path,
    /// What relative rules (globs, pathspecs, zip patterns) are relative to.
    base: PathBuf,
    overrides: Overrides,
    types: Types,
    filters: Filters,
    in_repo: bool,
    /// Ignore rules in force, outermost first: (directory depth, rules by priority).
    ignores: Vec<Vec<Rules>>,
    entries: usize,
    seen_dirs: Vec<PathBuf>,
    /// Tracked files and the directories holding them (absolute), from the index.
    tracked: Option<(HashSet<PathBuf>, HashSet<PathBuf>)>,
    visit: F,
}

/// The tracked files of the repository holding `root`, and their directories.
fn tracked_set(fs: &dyn FsView, root: &Path) -> Option<(HashSet<PathBuf>, HashSet<PathBuf>)> {
    let mut top = root.to_path_buf();
    while fs.canonicalize(&top.join(".git")).is_none() {
        if !top.pop() {
            return None;
        }
    }
    let mut files = HashSet::new();
    let mut dirs = HashSet::new();
    for name in fs.git_tracked(&top)? {
        let f = top.join(&name);
        let mut d = f.clone();
        while d.pop() && d.starts_with(&top) && dirs.insert(d.clone()) {}
        files.insert(f);
    }
    Some((files, dirs))
}

/// Walks `root` as the reader would and calls `visit` for every file it reads.
pub fn walk<E>(
    fs: &dyn FsView,
    root: &Path,
    cwd: Option<&Path>,
    w: &Walk,
    visit: impl FnMut(Visit) -> Result<(), E>,
) -> Result<usize, Stop<E>> {
    let base = w
        .glob_base
        .as_deref()
        .map(PathBuf::from)
        .or_else(|| cwd.map(Path::to_path_buf))
        .unwrap_or_else(|| root.to_path_buf());
    let mut walker = Walker {
        fs,
        w,
        root,
        overrides: Overrides::new(w, &base),
        types: Types::new(w),
        base: base.clone(),
        filters: Filters::new(&w.filters),
        in_repo: false,
        ignores: vec![],
        entries: 0,
        seen_dirs: vec![],
        tracked: if w.git_index {
            tracked_set(fs, root)
        } else {
            None
        },
        visit,
    };
    if !w.ignore_files.is_empty() {
        walker.parent_ignores();
    }
    let real = fs.canonicalize(root).filter(|r| r != root);
    if let Some(r) = &real {
        walker.seen_dirs.push(r.clone());
    }
    walker.dir(root, real.as_deref(), 0)?;
    Ok(walker.entries)
}

impl<F, E> Walker<'_, F>
where
    F: FnMut(Visit) -> Result<(), E>,
{
    /// Ignore files of the root's ancestors (ripgrep reads parents' too); `.gitignore` up to the work tree's top.
    fn parent_ignores(&mut self) {
        let ancestors: Vec<&Path> = self.root.ancestors().skip(1).collect();
        let top = ancestors
            .iter()
            .position(|a| self.fs.canonicalize(&a.join(".git")).is_some());
        self.in_repo = self.fs.canonicalize(&self.root.join(".git")).is_some() || top.is_some();
        for (i, a) in ancestors.iter().enumerate().rev() {
            let git = top.is_some_and(|t| i <= t);
            let rules = self.ignore_rules(a, git);
            self.ignores.push(rules);
        }
    }

    fn ignore_rules(&self, dir: &Path, git: bool) -> Vec<Rules> {
        self.w
            .ignore_files
            .iter()
            .filter(|n| git || n.as_str() != ".gitignore")
            .filter_map(|n| self.fs.read_small(&dir.join(n), MAX_IGNORE_FILE))
            .map(|text| Rules::parse(&text, dir, false))
            .collect()
    }

    fn spend(&mut self, n: usize) -> Result<(), Stop<E>> {
        self.entries += n;
        if self.entries > MAX_WALK_ENTRIES {
            return Err(Stop::Budget(format!(
                "{} would list more than {MAX_WALK_ENTRIES} directory entries under {} (the walk budget)",
                self.w.reader,
                self.root.display()
            )));
        }
        if self.fs.out_of_time() {
            return Err(Stop::Budget(format!(
                "{} would take longer than the walk's time budget to list {}",
                self.w.reader,
                self.root.display()
            )));
        }
        Ok(())
    }

    /// `true` when the reader leaves the entry out.
    fn skipped(&self, path: &Path, name: &str, is_dir: bool) -> bool {
        if is_dir && self.w.skip_git_dir && name == ".git" {
            return true;
        }
        let rel = path
            .strip_prefix(&self.base)
            .unwrap_or(path)
            .display()
            .to_string();
        if self.filters.skips(name, &rel, is_dir) {
            return true;
        }
        if let Some((files, dirs)) = &self.tracked {
            // Tracked is read (and a directory holding tracked files entered)
            // whatever .gitignore says; the rest only with `--untracked`.
            let tracked = if is_dir {
                dirs.contains(path)
            } else {
                files.contains(path)
            };
            if tracked {
                return false;
            }
            if self.w.tracked_only {
                return true;
            }
        }
        if let Some(excluded) = self.overrides.decide(path, is_dir) {
            return excluded;
        }
        // ripgrep's order: ignore files, then file types, then hidden names; a
        // whitelist from either of the first two lets a hidden file be read.
        let mut whitelisted = false;
        'ignores: for rules in self.ignores.iter().rev() {
            for r in rules {
                if let Some(ignored) = r.decide(path, is_dir) {
                    if ignored {
                        return true;
                    }
                    whitelisted = true;
                    break 'ignores;
                }
            }
        }
        if !is_dir {
            match self.types.decide(name) {
                Some(true) => return true,
                Some(false) => whitelisted = true,
                None => {}
            }
        }
        !whitelisted && self.w.skip_hidden && name.starts_with('.')
    }

    fn dir(&mut self, dir: &Path, real: Option<&Path>, depth: usize) -> Result<(), Stop<E>> {
        if self.w.max_depth.is_some_and(|m| depth >= m) {
            return Ok(());
        }
        if depth >= MAX_WALK_DEPTH {
            return Err(Stop::Budget(format!(
                "{} would descend more than {MAX_WALK_DEPTH} directories below {}",
                self.w.reader,
                self.root.display()
            )));
        }
        let Some(mut entries) = self.fs.read_dir(dir) else {
            return Ok(());
        };
        self.spend(entries.len())?;
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let pushed = !self.w.ignore_files.is_empty();
        if pushed {
            let git = self.in_repo || entries.iter().any(|e| e.name == ".git");
            let rules = self.ignore_rules(dir, git);
            self.ignores.push(rules);
        }
        let result = self.entries_of(dir, real, depth, &entries);
        if pushed {
            self.ignores.pop();
        }
        result
    }

    fn entries_of(
        &mut self,
        dir: &Path,
        real: Option<&Path>,
        depth: usize,
        entries: &[crate::checks::environment::DirEntry],
    ) -> Result<(), Stop<E>> {
        for e in entries {
            let path = dir.join(&e.name);
            let real_path = real.map(|r| r.join(&e.name));
            let (is_dir, real_path) = match e.kind {
                EntryKind::Dir => (true, real_path),
                EntryKind::File | EntryKind::Other => (false, real_path),
                // A copy makes the link itself at the destination: its name counts.
                EntryKind::Symlink if !self.w.follow && self.w.copy.is_some() => (false, None),
                EntryKind::Symlink if !self.w.follow => continue,
                EntryKind::Symlink => {
                    let Some(target) = self.fs.canonicalize(&path) else {
                        continue;
                    };
                    (self.fs.read_dir(&target).is_some(), Some(target))
                }
            };
            if self.skipped(&path, &e.name, is_dir) {
                continue;
            }
            if is_dir {
                if let Some(t) = &real_path {
                    // A link back up the tree would loop; the reader stops there too.
                    if self.seen_dirs.iter().any(|s| s == t) {
                        continue;
                    }
                    self.seen_dirs.push(t.clone());
                }
                self.dir(&path, real_path.as_deref(), depth + 1)?;
            } else if e.kind != EntryKind::Other {
                (self.visit)(Visit {
                    path: &path,
                    real: real_path,
                })
                .map_err(Stop::Refused)?;
            }
        }
        Ok(())
    }
}

/// The directory a Glob pattern lists: its literal leading components, joined to `dir`.
pub fn glob_base(dir: &Path, pattern: &str) -> PathBuf {
    let mut base = if pattern.starts_with('/') {
        PathBuf::from("/")
    } else {
        dir.to_path_buf()
    };
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    let literal = parts.len().saturating_sub(1);
    for p in parts.iter().take(literal) {
        if p.contains(['*', '?', '[', '{']) {
            break;
        }
        base.push(p);
    }
    super::path::normalize(&base)
}

/// Bash pathname expansion of one word (no `dotglob`, `globskipdots`, no
/// `globstar`): each component matched against the listed entries. `pattern`
/// has quoted metacharacters backslash-escaped. An unmatched pattern is
/// `None` (bash then passes the word as written).
pub fn expand_glob(
    fs: &dyn FsView,
    cwd: Option<&Path>,
    pattern: &str,
    budget: &mut usize,
) -> Result<Option<Vec<String>>, String> {
    let absolute = pattern.starts_with('/');
    let mut found: Vec<(PathBuf, String)> = vec![(
        if absolute {
            PathBuf::from("/")
        } else {
            match cwd {
                Some(c) => c.to_path_buf(),
                None => return Ok(None),
            }
        },
        if absolute { "/".into() } else { String::new() },
    )];
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let mut next = Vec::new();
        let meta = part.contains(['*', '?', '[']);
        for (dir, shown) in &found {
            let join = |name: &str| {
                let s = if shown.is_empty() || shown.ends_with('/') {
                    format!("{shown}{name}")
                } else {
                    format!("{shown}/{name}")
                };
                (dir.join(name), s)
            };
            if !meta {
                let name = unescape(part);
                if last
                    || fs.read_dir(&dir.join(&name)).is_some()
                    || fs.canonicalize(&dir.join(&name)).is_some()
                {
                    next.push(join(&name));
                }
                continue;
            }
            let Some(m) = glob(part, true, false) else {
                return Ok(None);
            };
            let Some(mut entries) = fs.read_dir(dir) else {
                continue;
            };
            *budget = budget.saturating_sub(entries.len());
            if *budget == 0 {
                return Err(format!(
                    "expanding `{pattern}` would list more than {MAX_WALK_ENTRIES} directory entries (the walk budget)"
                ));
            }
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            for e in entries {
                if e.name.starts_with('.') && !part.starts_with('.') {
                    continue;
                }
                if e.name == "." || e.name == ".." || !m.is_match(&e.name) {
                    continue;
                }
                if !last && e.kind == EntryKind::File {
                    continue;
                }
                next.push(join(&e.name));
            }
        }
        found = next;
        if found.is_empty() {
            return Ok(None);
        }
    }
    Ok(Some(found.into_iter().map(|(_, s)| s).collect()))
}

/// A glob pattern's text with its escapes removed (what bash passes when nothing matches).
pub fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The glob pattern of a shell word whose only expansion is pathname
/// globbing, with quoted metacharacters escaped; `None` for any other word
/// (parameters, substitutions, braces, tilde, extended globs, `$'..'`).
pub fn glob_pattern(raw: &str) -> Option<String> {
    let mut out = String::new();
    let mut meta = false;
    let mut chars = raw.chars().peekable();
    let quoted = |c: char, out: &mut String| {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => loop {
                match chars.next()? {
                    '\'' => break,
                    q => quoted(q, &mut out),
                }
            },
            '"' => loop {
                match chars.next()? {
                    '"' => break,
                    '$' | '`' => return None,
                    '\\' => {
                        let n = chars.next()?;
                        if !matches!(n, '$' | '`' | '"' | '\\') {
                            quoted('\\', &mut out);
                        }
                        quoted(n, &mut out);
                    }
                    q => quoted(q, &mut out),
                }
            },
            '\\' => quoted(chars.next()?, &mut out),
            '$' | '`' | '{' | '}' | '(' | ')' | '~' | '@' | '!' | '+' | '=' | '|' | '&' | ';'
            | '<' | '>' | ' ' => return None,
            '*' | '?' | '[' => {
                meta = true;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    meta.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_patterns_only_for_plain_globs() {
        assert_eq!(glob_pattern("src/*").as_deref(), Some("src/*"));
        assert_eq!(glob_pattern("'a*'*").as_deref(), Some("a\\**"));
        assert_eq!(glob_pattern("\"x\"?.rs").as_deref(), Some("x?.rs"));
        for no in ["$X*", "{a,b}*", "~/x*", "plain", "'*'", "@(a)*", "$(ls)*"] {
            assert_eq!(glob_pattern(no), None, "{no}");
        }
    }

    #[test]
    fn gitignore_rules_anchor_and_negate() {
        let r = Rules::parse(
            "*.pem\n!keep.pem\n/build\nsecret/\n",
            Path::new("/p"),
            false,
        );
        assert_eq!(r.decide(Path::new("/p/a/x.pem"), false), Some(true));
        assert_eq!(r.decide(Path::new("/p/a/keep.pem"), false), Some(false));
        assert_eq!(r.decide(Path::new("/p/build"), true), Some(true));
        assert_eq!(r.decide(Path::new("/p/a/build"), true), None);
        assert_eq!(r.decide(Path::new("/p/a/secret"), true), Some(true));
        assert_eq!(r.decide(Path::new("/p/a/secret"), false), None);
    }

    #[test]
    fn grep_filters_follow_gnu_order() {
        let f = |k, g: &str| Filter {
            kind: k,
            glob: g.into(),
        };
        let ex = Filters::new(&[f(FilterKind::Exclude, ".env")]);
        assert!(ex.skips(".env", "a/.env", false));
        assert!(!ex.skips("x.rs", "a/x.rs", false));
        let inc = Filters::new(&[f(FilterKind::Include, "*.rs")]);
        assert!(inc.skips(".env", ".env", false));
        assert!(!inc.skips("x.rs", "x.rs", false));
        let dir = Filters::new(&[f(FilterKind::ExcludeDir, "secrets")]);
        assert!(dir.skips("secrets", "a/secrets", true));
        let tar = Filters::new(&[f(FilterKind::ExcludePath, ".env")]);
        assert!(tar.skips(".env", "./sub/.env", false));
        assert_eq!(
            glob_base(Path::new("/p"), "/home/u/.ssh/*"),
            PathBuf::from("/home/u/.ssh")
        );
        assert_eq!(glob_base(Path::new("/p"), "**/*.rs"), PathBuf::from("/p"));
        assert_eq!(glob_base(Path::new("/p"), "../x/*.rs"), PathBuf::from("/x"));
    }
}
