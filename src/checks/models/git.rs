//! git: which subcommands read files, which rewrite the working tree, and
//! which run code. An unknown subcommand (an alias, a `git-foo` extension on
//! PATH) is refused: it runs code toolgate cannot see.
//!
//! Revisions and paths are not told apart (that needs the repository): every
//! operand of a reading subcommand is a possible path read, of a writing one a
//! possible path written. A name that is really a branch reads or writes a
//! harmless non-file; what matters is that a path is never missed.

use super::{lit, option_value, GitTree, Refusal, Touch, Touches};
use crate::checks::shell::Word;

/// What a subcommand does with its operands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Touches no file the command line names (`status`, `branch`, `fetch`).
    Inert,
    /// Reads every pathspec (`REV:PATH` reads PATH); with none, nothing.
    Reads,
    /// Like `Reads`, but with no pathspec it reads the whole tree (`grep`, `archive`).
    ReadsTree,
    /// Writes every pathspec; with none, the whole tree (`restore`, `rm`, `mv`, `clean`).
    Writes,
    /// Writes the whole tree, and every pathspec (`checkout`, `merge`, `pull`, `stash`).
    WritesTree,
    /// Runs programs or hooks of the caller's choosing.
    Runs(&'static str),
}

/// Subcommands and what they do. Aliases and unknown names are refused.
const SUBCOMMANDS: &[(&[&str], Rule)] = &[
    (
        &[
            "status",
            "branch",
            "fetch",
            "push",
            "remote",
            "tag",
            "describe",
            "reflog",
            "ls-files",
            "ls-tree",
            "ls-remote",
            "rev-list",
            "rev-parse",
            "init",
            "help",
            "version",
            "var",
            "count-objects",
            "fsck",
            "gc",
            "prune",
            "repack",
            "merge-base",
            "name-rev",
            "show-ref",
            "symbolic-ref",
            "update-ref",
            "verify-commit",
            "verify-tag",
            "check-ignore",
            "check-attr",
            "check-ref-format",
            "notes",
            "stage",
            "for-each-ref",
            "show-branch",
            "cherry",
            "maintenance",
            "pack-refs",
            "write-tree",
            "commit-tree",
            "mktree",
            "update-index",
            "bundle",
            "replace",
        ],
        Rule::Inert,
    ),
    (
        &[
            "diff",
            "show",
            "log",
            "blame",
            "annotate",
            "cat-file",
            "add",
            "commit",
            "shortlog",
            "whatchanged",
            "diff-files",
            "diff-index",
            "diff-tree",
            "range-diff",
            "hash-object",
            "format-patch",
            "mailinfo",
        ],
        Rule::Reads,
    ),
    (&["grep", "archive"], Rule::ReadsTree),
    (
        &[
            "restore",
            "rm",
            "mv",
            "clean",
            "checkout-index",
            "clone",
            "worktree",
        ],
        Rule::Writes,
    ),
    (
        &[
            "checkout",
            "switch",
            "merge",
            "pull",
            "rebase",
            "cherry-pick",
            "revert",
            "stash",
            "am",
            "apply",
            "read-tree",
            "submodule",
            "bisect",
            "reset",
            "merge-file",
            "sparse-checkout",
            "rerere",
        ],
        Rule::WritesTree,
    ),
    (
        &[
            "difftool",
            "mergetool",
            "filter-branch",
            "filter-repo",
            "send-email",
            "instaweb",
            "daemon",
            "shell",
            "upload-pack",
            "receive-pack",
            "upload-archive",
            "credential",
            "credential-cache",
            "credential-store",
            "p4",
            "svn",
            "cvsimport",
            "cvsserver",
            "cvsexportcommit",
            "archimport",
            "quiltimport",
            "fast-import",
            "fast-export",
            "hook",
            "web--browse",
            "imap-send",
            "request-pull",
            "gui",
            "citool",
            "gitk",
            "column",
            "remote-ext",
            "remote-fd",
            "http-backend",
            "sh-setup",
            "run-command",
        ],
        Rule::Runs("starts other programs (tools, hooks, editors, servers or remote helpers)"),
    ),
];

/// Options whose value is a file or directory the subcommand writes
/// (`--output` of the diff family is in the generic output options).
const WRITES_TO: &[(&str, &[&str])] = &[
    ("format-patch", &["-o", "--output-directory"]),
    ("archive", &["-o", "--output"]),
];

/// Subcommands that take a merge strategy, and git's own strategies; any
/// other name runs `git-merge-NAME` from PATH.
const STRATEGY_USERS: &[&str] = &["merge", "pull", "rebase", "cherry-pick", "revert"];
const BUILTIN_STRATEGIES: &[&str] = &["ort", "recursive", "resolve", "octopus", "ours", "subtree"];

/// Options that make a writing subcommand leave the working tree alone.
const TREE_UNTOUCHED: &[(&str, &[&str])] = &[
    ("restore", &["--staged", "-S"]),
    ("rm", &["--cached"]),
    ("clean", &["-n", "--dry-run"]),
    (
        "apply",
        &["--check", "--stat", "--numstat", "--summary", "--cached"],
    ),
    ("checkout", &["-b", "-B", "--orphan"]),
    (
        "switch",
        &["-c", "-C", "--create", "--force-create", "--orphan"],
    ),
    ("submodule", &[]),
];

/// `restore --staged --worktree` does write the tree.
const TREE_AGAIN: &[(&str, &[&str])] = &[("restore", &["--worktree", "-W"])];

/// `reset` rewrites the working tree only in these modes (the default touches the index).
const RESET_TREE: &[&str] = &["--hard", "--merge", "--keep"];

/// Second words after which a subcommand only reports.
const REPORTING: &[(&str, &[&str])] = &[
    ("stash", &["list", "show"]),
    ("submodule", &["status", "summary"]),
    ("bisect", &["log", "terms", "visualize", "view"]),
    ("worktree", &["list", "lock", "unlock", "prune", "repair"]),
];

/// Second words (or options) that run code: (subcommand, word, what it runs).
const RUNS_CODE: &[(&str, &str)] = &[
    ("submodule", "foreach"),
    ("bisect", "run"),
    ("rebase", "-x"),
    ("rebase", "--exec"),
    ("clone", "--template"),
    ("clone", "-c"),
    ("clone", "--config"),
    ("init", "--template"),
    ("commit", "--template"),
    ("-", "--upload-pack"),
    ("-", "--receive-pack"),
    ("-", "--exec"),
    ("clone", "-u"),
    ("grep", "-O"),
    ("grep", "--open-files-in-pager"),
];

/// Options whose next word is a value, never a pathspec (per subcommand; `*` = any).
const VALUE_OPTIONS: &[(&str, &[&str])] = &[
    (
        "*",
        &[
            "-m",
            "--message",
            "--author",
            "--committer",
            "--date",
            "--since",
            "--until",
            "--after",
            "--before",
            "--grep",
            "--format",
            "--pretty",
            "--max-count",
            "--skip",
            "-U",
            "--unified",
            "--onto",
            "--strategy",
            "--strategy-option",
            "-X",
            "--depth",
            "--branch",
            "--origin",
            "--reuse-message",
            "--reedit-message",
            "--fixup",
            "--squash",
            "--trailer",
            "--cleanup",
            "--abbrev",
            "--encoding",
            "--diff-filter",
            "--source",
            "--prefix",
            "--remote",
            "--track",
            "--orphan",
            "--conflict",
            "--inter-hunk-context",
        ],
    ),
    ("log", &["-n", "-S", "-G"]),
    ("show", &["-n", "-S", "-G"]),
    ("shortlog", &["-n"]),
    ("whatchanged", &["-n", "-S", "-G"]),
    ("restore", &["-s"]),
    ("checkout", &["-b", "-B"]),
    ("switch", &["-c", "-C", "--create", "--force-create"]),
    ("commit", &["-c", "-C"]),
    ("clone", &["-b", "-o"]),
    ("merge", &["-s"]),
    ("pull", &["-s"]),
    ("rebase", &["-s"]),
    ("cherry-pick", &["-m", "-s"]),
    ("revert", &["-m", "-s"]),
    ("stash", &["-m"]),
    ("worktree", &["-b", "-B", "--reason"]),
    ("blame", &["-L", "-S"]),
];

/// Global options (before the subcommand) that take a value.
const GLOBAL_WITH_VALUE: &[&str] = &[
    "-C",
    "-c",
    "--git-dir",
    "--work-tree",
    "--namespace",
    "--config-env",
    "--exec-path",
    "--super-prefix",
    "--attr-source",
];

/// Configuration keys whose value is a program, a script or a file git loads:
/// setting one is code execution (`core.pager=sh`, `alias.x=!cmd`).
const EXEC_CONFIG: &[&str] = &[
    "alias.",
    "core.pager",
    "core.editor",
    "core.fsmonitor",
    "core.hookspath",
    "core.sshcommand",
    "core.askpass",
    "core.gitproxy",
    "core.worktree",
    "core.attributesfile",
    "core.excludesfile",
    "diff.external",
    "diff.",
    "merge.",
    "filter.",
    "credential.",
    "gpg.",
    "sequence.editor",
    "pager.",
    "include.",
    "includeif.",
    "uploadpack.",
    "remote.",
    "web.browser",
    "browser.",
    "man.",
    "difftool.",
    "mergetool.",
    "protocol.",
    "ssh.",
    "init.templatedir",
    "submodule.",
    "instaweb.",
    "sendemail.",
    "http.",
    "url.",
    "interactive.difffilter",
    "receive.",
    "hook.",
];

/// The touches of `git ARGS`.
pub fn touches(args: &[Word]) -> Touches {
    let (i, Location { dir, work_tree }) = global_options(args)?;
    let Some(sub) = args.get(i) else {
        return Ok(vec![]);
    };
    let sub_name = lit(sub)?;
    let rest = args.get(i + 1..).unwrap_or_default();
    if rest
        .iter()
        .any(|w| w.text.starts_with("ext::") || w.text.starts_with("fd::"))
    {
        return Err(Refusal::option(
            "an `ext::` or `fd::` remote makes git run a command of the caller's choosing",
        ));
    }
    if sub_name == "config" {
        return config(rest);
    }
    let Some(rule) = SUBCOMMANDS
        .iter()
        .find(|(names, _)| names.contains(&sub_name))
        .map(|(_, r)| *r)
    else {
        return Err(Refusal::not_allowed(format!(
            "`git {sub_name}` is not a git subcommand toolgate models; an alias or a `git-{sub_name}` program runs code it cannot see"
        )));
    };
    if let Rule::Runs(what) = rule {
        return Err(Refusal::option(format!("`git {sub_name}` {what}")));
    }
    refuse_code_runners(sub_name, rest)?;
    let written = option_writes(sub_name, rest)?;
    let second = rest
        .iter()
        .find(|w| !w.text.starts_with('-'))
        .map(|w| w.text.as_str());
    if REPORTING
        .iter()
        .any(|(s, words)| *s == sub_name && second.is_some_and(|w| words.contains(&w)))
    {
        return Ok(vec![]);
    }
    let has = |opts: &[&str]| {
        rest.iter().any(|w| {
            opts.iter()
                .any(|o| w.text == *o || w.text.starts_with(&format!("{o}=")))
        })
    };
    let table = |t: &[(&str, &'static [&'static str])]| {
        t.iter()
            .find(|(s, _)| *s == sub_name)
            .map_or(&[][..], |(_, o)| *o)
    };
    let untouched = has(table(TREE_UNTOUCHED)) && !has(table(TREE_AGAIN));
    let (paths, reads) = pathspecs(sub_name, rest)?;
    let mut out: Vec<Touch> = reads.into_iter().map(Touch::Read).collect();
    out.extend(written);
    match rule {
        Rule::Inert | Rule::Runs(_) => {}
        Rule::Reads | Rule::ReadsTree => {
            let empty = paths.is_empty();
            for p in paths {
                match p {
                    Spec::Path(p) => out.push(Touch::Read(p)),
                    Spec::Pattern(p) => out.push(Touch::ReadPattern(p)),
                }
            }
            // `archive REV` reads the whole tree unless `--` names the paths.
            if rule == Rule::ReadsTree && (empty || (sub_name == "archive" && !dashdash(rest))) {
                out.push(Touch::Read(".".into()));
            }
        }
        Rule::Writes | Rule::WritesTree => {
            let tree = TreeWrite {
                sub_name,
                rest,
                rule,
                untouched,
                reset_tree: has(RESET_TREE),
            };
            return tree_writes(&tree, Location { dir, work_tree }, paths, out);
        }
    }
    Ok(out)
}

/// Where `git` was pointed by its global options: `-C DIR` (repeatable, each relative to
/// the last; `None` once git is pointed elsewhere in a way the tree listing does not
/// follow), and `--work-tree DIR`, where the files land whatever `-C` says.
struct Location {
    dir: Option<Option<String>>,
    work_tree: Option<String>,
}

/// Reads git's global options: the index of the subcommand and where git was pointed.
fn global_options(args: &[Word]) -> Result<(usize, Location), Refusal> {
    let mut i = 0;
    let mut dir: Option<Option<String>> = Some(None);
    let mut work_tree: Option<String> = None;
    while let Some(arg) = args.get(i).filter(|a| a.text.starts_with('-')) {
        let t = arg.text.as_str();
        match (t, args.get(i + 1)) {
            ("-C", Some(d)) if d.is_literal() && !d.text.is_empty() => {
                dir = dir.map(|prev| {
                    Some(match prev {
                        Some(p) if !d.text.starts_with('/') => format!("{p}/{}", d.text),
                        _ => d.text.clone(),
                    })
                });
            }
            ("--work-tree", Some(d)) => {
                work_tree = Some(lit(d)?.to_string());
                dir = None;
            }
            ("-C", _) | ("--git-dir", _) | ("--work-tree", _) => dir = None,
            _ if t.starts_with("--work-tree=") => {
                work_tree = t.strip_prefix("--work-tree=").map(str::to_string);
                dir = None;
            }
            _ if t.starts_with("--git-dir=") => dir = None,
            _ => {}
        }
        i += if GLOBAL_WITH_VALUE.contains(&t) { 2 } else { 1 };
    }
    Ok((i, Location { dir, work_tree }))
}

/// Refuses the options that make a subcommand run a command or load files of the
/// caller's choosing (`RUNS_CODE`).
fn refuse_code_runners(sub_name: &str, rest: &[Word]) -> Result<(), Refusal> {
    for (s, o) in RUNS_CODE {
        if (*s == sub_name || *s == "-")
            && rest
                .iter()
                .take_while(|w| w.text != "--")
                .any(|w| crate::checks::programs::option_matches(&w.text, o))
        {
            return Err(Refusal::option(format!(
                "`git {sub_name} {o}` runs a command or loads files of the caller's choosing"
            )));
        }
    }
    Ok(())
}

/// The files a subcommand's options write (`WRITES_TO`) and the bundle `git bundle
/// create FILE` writes; a merge strategy that is not git's own is refused (`-s x` runs
/// `git-merge-x` from PATH).
fn option_writes(sub_name: &str, rest: &[Word]) -> Touches {
    let mut written = vec![];
    for (i, _) in rest.iter().enumerate().take_while(|(_, w)| w.text != "--") {
        for (s, opts) in WRITES_TO {
            if *s != sub_name {
                continue;
            }
            for o in *opts {
                if let Some((v, _)) = option_value(rest, i, o) {
                    written.push(Touch::Write(v?.to_string()));
                }
            }
        }
        if STRATEGY_USERS.contains(&sub_name) {
            // `cherry-pick -s`/`revert -s` is `--signoff`.
            let short = !matches!(sub_name, "cherry-pick" | "revert");
            for o in ["-s", "--strategy"]
                .into_iter()
                .filter(|o| short || *o != "-s")
            {
                if let Some((v, _)) = option_value(rest, i, o) {
                    let v = v?;
                    if !BUILTIN_STRATEGIES.contains(&v) {
                        return Err(Refusal::option(format!(
                            "`git {sub_name} {o} {v}` runs the program `git-merge-{v}` from PATH; only git's own strategies ({}) are allowed",
                            BUILTIN_STRATEGIES.join(", ")
                        )));
                    }
                }
            }
        }
    }
    let second = rest
        .iter()
        .find(|w| !w.text.starts_with('-'))
        .map(|w| w.text.as_str());
    // `git bundle create FILE`: the bundle is written.
    if sub_name == "bundle" && second == Some("create") {
        if let Some(f) = rest.iter().filter(|w| !w.text.starts_with('-')).nth(1) {
            written.push(Touch::Write(lit(f)?.to_string()));
        }
    }
    Ok(written)
}

/// What [`tree_writes`] judges: a subcommand that writes files, and how it was called.
struct TreeWrite<'a> {
    sub_name: &'a str,
    rest: &'a [Word],
    rule: Rule,
    /// An option that leaves the tree alone was given (`checkout -b`), and none that
    /// touches it again.
    untouched: bool,
    /// `reset` was told to write the tree (`--hard`, `--merge`, `--keep`).
    reset_tree: bool,
}

/// The touches of a subcommand that writes the work tree, added to `out`: the paths it
/// names, the tree git lists in advance, or files below a directory that no listing
/// can name.
fn tree_writes(w: &TreeWrite, at: Location, paths: Vec<Spec>, mut out: Vec<Touch>) -> Touches {
    let TreeWrite {
        sub_name,
        rest,
        rule,
        untouched,
        reset_tree,
    } = *w;
    let Location { dir, work_tree } = at;
    if sub_name == "reset" && !reset_tree {
        return Ok(out);
    }
    if untouched {
        // `checkout -b new` with no start point and no paths changes no file.
        let switches_branch = matches!(sub_name, "checkout" | "switch");
        if !switches_branch || paths.is_empty() {
            return Ok(out);
        }
    }
    // Content from a commit, the index, a patch or a remote: judged on
    // the files git lists, or refused under a project root when it cannot.
    // Where the files land: `--work-tree`, else `-C`, else the command's directory.
    let here = work_tree.clone().or_else(|| dir.clone().flatten());
    let at = |d: &str| match &here {
        Some(h) if !d.starts_with('/') => format!("{h}/{d}"),
        _ => d.to_string(),
    };
    if let Some(listing) = content_writer(sub_name, rest)? {
        if listing.as_ref().is_ok_and(writes_nothing) {
            return Ok(out);
        }
        out.push(match (listing, dir) {
            (Ok(mut spec), Some(d)) if work_tree.is_none() => {
                spec.dir = d;
                Touch::GitTree(Box::new(spec))
            }
            (Ok(spec), _) => Touch::Unlisted {
                dir: at(spec.populate.as_ref().map_or(".", |(d, _)| d.as_str())),
                why: format!("`git {sub_name}` runs with `--git-dir` or `--work-tree`, which toolgate does not list"),
            },
            (Err((d, why)), _) => Touch::Unlisted { dir: at(&d), why },
        });
        return Ok(out);
    }
    let empty = paths.is_empty();
    // `checkout REV -- PATHS` writes only the paths.
    let only_paths = matches!(sub_name, "checkout" | "stash") && dashdash(rest);
    for p in paths {
        match p {
            Spec::Path(p) => out.push(Touch::Write(p)),
            Spec::Pattern(_) => out.push(Touch::Tree),
        }
    }
    if rule == Rule::WritesTree && !only_paths {
        // Content from commits git could not be asked about: unknown files.
        out.retain(|t| !matches!(t, Touch::Write(_) | Touch::Tree));
        out.push(match dir.and_then(|d| whole_tree(sub_name, rest, d)) {
            Some(spec) => Touch::GitTree(Box::new(spec)),
            None => Touch::Unlisted {
                dir: at("."),
                why: format!("git cannot list in advance which files `git {sub_name}` writes here (a form toolgate does not list, such as several operands, `--abort`/`--continue`, or `--git-dir`); {RUN_IT_YOURSELF}"),
            },
        });
    } else if empty {
        out.push(Touch::Tree);
    }
    Ok(out)
}

/// How a content-writing subcommand is judged: `Ok` a listing for git to
/// answer, `Err((dir, why))` files below `dir` that no local listing can name.
type Listing = Result<GitTree, (String, String)>;

/// A listing that names nothing to list: the form writes no file
/// (`git restore` with no pathspec, `sparse-checkout list`).
fn writes_nothing(t: &GitTree) -> bool {
    t.diffs.is_empty()
        && !t.local
        && !t.untracked
        && t.stash_untracked.is_none()
        && t.restore_from.is_none()
        && t.fetch.is_none()
        && t.patches.is_none()
        && t.populate.is_none()
}

/// Advice for a whole-tree write git cannot list in advance.
const RUN_IT_YOURSELF: &str = "run it yourself, or in a checkout outside the project";

/// The listing of a subcommand that writes content into the work tree, or
/// `None` for those that only delete or move what is there (`rm`, `mv`, `clean`).
fn content_writer(sub: &str, rest: &[Word]) -> Result<Option<Listing>, Refusal> {
    let unlisted = |d: &str, why: String| Ok(Some(Err((d.to_string(), why))));
    let (opts, ops, after) = operands(rest)?;
    let flag = |names: &[&str]| {
        opts.iter().any(|o| {
            names
                .iter()
                .any(|n| o == n || o.starts_with(&format!("{n}=")))
        })
    };
    let value = |names: &[&str]| {
        rest.iter().enumerate().find_map(|(i, _)| {
            names
                .iter()
                .find_map(|n| option_value(rest, i, n).map(|(v, _)| v))
        })
    };
    let spec = |unlisted: String| GitTree {
        unlisted,
        ..GitTree::default()
    };
    match sub {
        "pull" => {
            // `git pull [REMOTE [REFSPEC...]]`: the fetch decides what is merged.
            let mut refs = vec![];
            for r in ops.iter().skip(1) {
                let src = r.trim_start_matches('+');
                let src = src.split_once(':').map_or(src, |(a, _)| a);
                match revision(src) {
                    Some(r) if r != "tag" => refs.push(r),
                    _ => {
                        return unlisted(
                            ".",
                            format!("`git pull` with the refspec `{r}` fetches what toolgate does not list"),
                        )
                    }
                }
            }
            let mut t = spec(format!(
                "`git pull` merges commits fetched from {}, which is not a repository on this machine (or git could not list them), so the files it writes cannot be known before it runs; run `git fetch` first, then `git merge FETCH_HEAD` or `git rebase @{{upstream}}`, which toolgate judges on the files they really write",
                ops.first().map_or("the branch's remote".to_string(), |r| format!("`{r}`"))
            ));
            t.fetch = Some(super::Fetch {
                remote: ops.first().map(|r| r.to_string()),
                refs,
            });
            t.local = !flag(&["--no-autostash"]);
            Ok(Some(Ok(t)))
        }
        "restore" | "checkout-index" | "checkout" => {
            let source = value(&["--source", "-s"]).transpose()?;
            let staged = flag(&["--staged", "-S"]);
            let (from, paths): (super::Source, Vec<String>) = match sub {
                "restore" => (
                    match source {
                        Some(s) => super::Source::Tree(s.to_string()),
                        // `--staged --worktree` restores both from HEAD.
                        None if staged => super::Source::Tree("HEAD".into()),
                        None => super::Source::Index,
                    },
                    ops.iter().chain(after.iter()).map(|s| s.to_string()).collect(),
                ),
                "checkout-index" => {
                    if flag(&["--prefix"]) {
                        return unlisted(
                            ".",
                            format!("`git checkout-index --prefix` writes copies of the index's files under a prefix toolgate does not list; {RUN_IT_YOURSELF}"),
                        );
                    }
                    if !flag(&["-a", "--all"]) && ops.is_empty() && after.is_empty() {
                        return Ok(Some(Ok(spec(String::new()))));
                    }
                    let all = flag(&["-a", "--all"]);
                    (
                        super::Source::Index,
                        if all { vec![] } else { ops.iter().chain(after.iter()).map(|s| s.to_string()).collect() },
                    )
                }
                // `checkout [REV] -- PATHS`; without `--` it is a branch switch, handled below.
                _ => {
                    if !dashdash(rest) {
                        return Ok(None);
                    }
                    let from = match ops.as_slice() {
                        [] => super::Source::Index,
                        [r] => match revision(r) {
                            Some(r) => super::Source::Tree(r),
                            None => return unlisted(".", format!("`git checkout {r} --` names a revision toolgate does not pass to git; {RUN_IT_YOURSELF}")),
                        },
                        _ => return unlisted(".", format!("`git checkout` with more than one revision; {RUN_IT_YOURSELF}")),
                    };
                    (from, after.iter().map(|s| s.to_string()).collect())
                }
            };
            if sub != "checkout-index" && paths.is_empty() {
                // git refuses a restore with no pathspec.
                return Ok(Some(Ok(spec(String::new()))));
            }
            let mut t = spec(format!("git could not list which files `git {sub}` would write back; {RUN_IT_YOURSELF}"));
            if let super::Source::Tree(r) = &from {
                if revision(r).is_none() {
                    return unlisted(".", format!("`git {sub}` takes its content from `{r}`, which toolgate does not pass to git; {RUN_IT_YOURSELF}"));
                }
            }
            t.restore_from = Some(from);
            t.paths = paths;
            Ok(Some(Ok(t)))
        }
        "apply" | "am" => {
            if sub == "am" && flag(&["--abort", "--quit", "--continue", "--skip", "--resolved", "-r"]) {
                return unlisted(".", format!("`git am` continuing or aborting writes the state of a patch series toolgate does not list; {RUN_IT_YOURSELF}"));
            }
            if sub == "am" && flag(&["--show-current-patch"]) {
                return Ok(Some(Ok(spec(String::new()))));
            }
            let files: Vec<String> = ops.iter().chain(after.iter()).map(|s| s.to_string()).collect();
            if files.is_empty() || files.iter().any(|f| f == "-") {
                return unlisted(".", format!("`git {sub}` reads its patch from standard input, so the files it writes cannot be read in advance; give the patch as a file"));
            }
            let mut strip = 1;
            for o in &opts {
                if let Some(n) = o.strip_prefix("-p").filter(|n| !n.is_empty()) {
                    strip = n.parse().map_err(|_| Refusal::option(format!("`git {sub} {o}`: not a number of components")))?;
                }
            }
            let directory = value(&["--directory"]).transpose()?.map(str::to_string);
            let mut t = spec(format!("toolgate could not read the names in the patch (not a regular file, too large, or in a form it does not parse), so the files `git {sub}` writes are unknown; give it a plain `git diff`/`format-patch` file"));
            t.patches = Some(super::Patches { files, strip, directory });
            // `am -3` and a failed apply leave conflicts in the same files; `am` may autostash nothing.
            Ok(Some(Ok(t)))
        }
        "worktree" => match ops.first().copied() {
            Some("add") => {
                let Some(target) = ops.get(1) else {
                    return Ok(Some(Ok(spec(String::new()))));
                };
                if flag(&["--no-checkout"]) {
                    return Ok(None);
                }
                let commit = match ops.get(2) {
                    Some(c) => revision(c),
                    None => Some("HEAD".into()),
                };
                let Some(commit) = commit else {
                    return unlisted(target, format!("`git worktree add` checks out a revision toolgate does not pass to git; {RUN_IT_YOURSELF}"));
                };
                let mut t = spec(format!("git could not list the files of `{commit}` that `git worktree add` would create in `{target}` (an unknown or remote-only branch, or too many files); add the worktree outside the project"));
                t.populate = Some((target.to_string(), commit));
                Ok(Some(Ok(t)))
            }
            _ => Ok(None),
        },
        "clone" => {
            let target = match (ops.first(), ops.get(1)) {
                (_, Some(d)) => d.to_string(),
                (Some(src), None) => {
                    let last = src.trim_end_matches('/').rsplit(['/', ':']).next().unwrap_or("");
                    let name = last.strip_suffix(".git").unwrap_or(last);
                    if name.is_empty() { ".".into() } else { name.to_string() }
                }
                (None, None) => return Ok(Some(Ok(spec(String::new())))),
            };
            if flag(&["--no-checkout", "-n", "--bare", "--mirror"]) {
                return Ok(None);
            }
            unlisted(&target, "`git clone` creates the files of another repository, which toolgate cannot list before they are fetched; clone outside the project".to_string())
        }
        "submodule" => match ops.first().copied() {
            Some("update") | None => unlisted(".", "`git submodule update` checks out the commits the superproject records, fetching them when they are missing, so the files it writes are unknown in advance; run it yourself".into()),
            Some("add") => unlisted(ops.get(3).or(ops.get(2)).copied().unwrap_or("."), "`git submodule add` clones another repository into the tree; run it yourself".into()),
            _ => Ok(None),
        },
        "merge-file" => Ok(None),
        "read-tree" if !flag(&["-u"]) => Ok(Some(Ok(spec(String::new())))),
        "read-tree" | "bisect" | "sparse-checkout" | "rerere" => {
            if sub == "sparse-checkout" && matches!(ops.first().copied(), Some("list" | "check-rules")) {
                return Ok(Some(Ok(spec(String::new()))));
            }
            unlisted(".", format!("`git {sub}` writes files of the tree chosen by git's own state, which toolgate does not list; {RUN_IT_YOURSELF}"))
        }
        _ => Ok(None),
    }
}

/// A subcommand's options, its operands before `--`, and the words after it.
type Operands<'a> = (Vec<&'a str>, Vec<&'a str>, Vec<&'a str>);

fn operands(rest: &[Word]) -> Result<Operands<'_>, Refusal> {
    let (mut opts, mut ops, mut after) = (vec![], vec![], vec![]);
    let mut i = 0;
    let mut end = false;
    while let Some(w) = rest.get(i) {
        let t = lit(w)?;
        i += 1;
        if end {
            after.push(t);
        } else if t == "--" {
            end = true;
        } else if t.starts_with('-') && t != "-" {
            opts.push(t);
            if TREE_VALUE_OPTIONS.contains(&t)
                || matches!(t, "--source" | "--directory" | "--reason")
            {
                i += 1;
            }
        } else {
            ops.push(t);
        }
    }
    Ok((opts, ops, after))
}

/// Options of the whole-tree subcommands that take a value (the next word).
const TREE_VALUE_OPTIONS: &[&str] = &[
    "-c",
    "-C",
    "-b",
    "-B",
    "--create",
    "--force-create",
    "--orphan",
    "-m",
    "--message",
    "-s",
    "--strategy",
    "-X",
    "--strategy-option",
    "--onto",
    "-S",
    "--gpg-sign",
    "--cleanup",
    "--into-name",
];

/// A revision toolgate passes to git: literal, and never read as an option.
fn revision(w: &str) -> Option<String> {
    if w == "-" {
        return Some("@{-1}".into());
    }
    let ok = !w.is_empty() && !w.starts_with('-') && !w.contains(['\0', '\n']);
    ok.then(|| w.to_string())
}

/// The files a whole-tree subcommand writes, as git can list them; `None`
/// when the command line names paths or does something toolgate does not
/// list (pull fetches first; an aborted rebase restores an older state).
fn whole_tree(sub: &str, rest: &[Word], dir: Option<String>) -> Option<GitTree> {
    if dashdash(rest) {
        return None;
    }
    let mut opts: Vec<&str> = vec![];
    let mut ops: Vec<&str> = vec![];
    let mut onto = None;
    let mut i = 0;
    while let Some(w) = rest.get(i) {
        if !w.is_literal() {
            return None;
        }
        let t = w.text.as_str();
        i += 1;
        if t.starts_with('-') && t != "-" {
            opts.push(t);
            if TREE_VALUE_OPTIONS.contains(&t) {
                let v = rest.get(i)?;
                if t == "--onto" {
                    onto = Some(v.text.as_str());
                }
                // `switch -c NAME START`, `checkout -b NAME START`: the name is no revision.
                i += 1;
            } else if let Some(v) = t.strip_prefix("--onto=") {
                onto = Some(v);
            }
            continue;
        }
        ops.push(t);
    }
    let flag = |names: &[&str]| {
        opts.iter().any(|o| {
            names
                .iter()
                .any(|n| o == n || o.starts_with(&format!("{n}=")))
        })
    };
    let head = || "HEAD".to_string();
    let mut t = GitTree {
        dir,
        unlisted: format!("git could not list the files `git {sub}` would write (an unknown revision, a state toolgate does not list, or too many files); {RUN_IT_YOURSELF}"),
        ..GitTree::default()
    };
    // `--autostash` (or `merge.autoStash`/`rebase.autoStash` in a config toolgate
    // does not read) puts local changes aside and back: a conflict leaves them at HEAD.
    let autostash = !flag(&["--no-autostash"]);
    match sub {
        "switch" | "checkout" => {
            if ops.len() > 1 {
                return None;
            }
            let to = match ops.first() {
                Some(r) => revision(r)?,
                None => head(),
            };
            t.diffs.push((head(), to));
            t.local = flag(&["-f", "--force", "--discard-changes", "-m", "--merge"]);
        }
        "stash" => {
            let (verb, args) = match ops.split_first() {
                Some((v, a)) => (*v, a),
                None => ("push", &[][..]),
            };
            match verb {
                "push" | "save" => {
                    if verb == "push" && !args.is_empty() {
                        return None;
                    }
                    t.local = true;
                    t.untracked = flag(&["-u", "--include-untracked", "-a", "--all"]);
                    t.ignored = flag(&["-a", "--all"]);
                }
                "pop" | "apply" => {
                    let s = match args.first() {
                        Some(s) => revision(s)?,
                        None => "stash@{0}".into(),
                    };
                    t.diffs.push((format!("{s}^1"), s.clone()));
                    t.stash_untracked = Some(s);
                }
                "drop" | "clear" | "create" | "store" => {}
                _ => return None,
            }
        }
        "merge" => {
            if flag(&["--abort", "--quit"]) {
                t.local = true;
            } else if !flag(&["--continue"]) {
                t.local = autostash;
                if ops.is_empty() {
                    t.diffs.push((head(), "@{upstream}".into()));
                }
                for r in &ops {
                    t.diffs.push((head(), revision(r)?));
                }
            }
        }
        "rebase" => {
            if flag(&[
                "--abort",
                "--continue",
                "--skip",
                "--quit",
                "--edit-todo",
                "--root",
            ]) || ops.len() > 2
            {
                return None;
            }
            let upstream = match ops.first() {
                Some(r) => revision(r)?,
                None => "@{upstream}".into(),
            };
            t.diffs.push((head(), upstream));
            t.local = autostash;
            if let Some(o) = onto {
                t.diffs.push((head(), revision(o)?));
            }
            if let Some(b) = ops.get(1) {
                t.diffs.push((head(), revision(b)?));
            }
        }
        "reset" => {
            if ops.len() > 1 {
                return None;
            }
            let to = match ops.first() {
                Some(r) => revision(r)?,
                None => head(),
            };
            t.diffs.push((head(), to));
            t.local = true;
        }
        "cherry-pick" | "revert" => {
            if flag(&["--abort", "--quit", "--skip"]) {
                t.local = true;
            } else if !flag(&["--continue"]) {
                if ops.is_empty() {
                    return None;
                }
                for r in &ops {
                    match r.split_once("..") {
                        Some((a, b)) => {
                            let a = if a.is_empty() { head() } else { revision(a)? };
                            let b = if b.is_empty() { head() } else { revision(b)? };
                            t.diffs.push((a, b));
                        }
                        None => {
                            let r = revision(r)?;
                            t.diffs.push((format!("{r}^"), r));
                        }
                    }
                }
            }
        }
        _ => return None,
    }
    Some(t)
}

fn dashdash(rest: &[Word]) -> bool {
    rest.iter().any(|w| w.text == "--")
}

/// A pathspec operand: a path, or one git matches itself (magic, wildcards).
enum Spec {
    Path(String),
    Pattern(String),
}

/// The operands of a subcommand as pathspecs, plus files that options read
/// (`-F msg`, `-L 1,2:file`, `--file=...`).
fn pathspecs(sub: &str, rest: &[Word]) -> Result<(Vec<Spec>, Vec<String>), Refusal> {
    let mut specs = Vec::new();
    let mut reads = Vec::new();
    let mut end = false;
    let mut pattern_pending = sub == "grep";
    let mut i = 0;
    while let Some(w) = rest.get(i) {
        let t = w.text.as_str();
        if !end && t == "--" {
            end = true;
            i += 1;
            continue;
        }
        if !end && t.starts_with('-') && t.len() > 1 {
            for opt in [
                "-F",
                "--file",
                "-f",
                "--template",
                "--pathspec-from-file",
                "--contents",
            ] {
                if let Some((v, n)) = option_value(rest, i, opt) {
                    let v = v?;
                    if !v.is_empty() && v != "-" {
                        reads.push(v.to_string());
                    }
                    if opt == "-f" && sub == "grep" {
                        pattern_pending = false;
                    }
                    i += n - 1;
                    break;
                }
            }
            if let Some((v, n)) = option_value(rest, i, "-L") {
                let v = v?;
                if let Some((_, file)) = v.rsplit_once(':') {
                    reads.push(file.to_string());
                }
                i += n - 1;
            }
            if sub == "grep" && (t == "-e" || t.starts_with("--regexp")) {
                pattern_pending = false;
                if t == "-e" {
                    i += 1;
                }
            }
            let takes_value = VALUE_OPTIONS
                .iter()
                .filter(|(s, _)| *s == "*" || *s == sub)
                .any(|(_, opts)| opts.contains(&t));
            if takes_value {
                i += 1;
            }
            i += 1;
            continue;
        }
        i += 1;
        if pattern_pending {
            pattern_pending = false;
            continue;
        }
        let t = lit(w)?;
        // `REV:PATH` (show, cat-file, restore --source) names PATH; a URL or
        // `host:path` remote names no local file.
        let path = match t.split_once(':') {
            Some((_, p)) if t.contains("://") || p.is_empty() => continue,
            Some(("", p)) if p.starts_with(['(', '/', '!', '^']) => {
                // Pathspec magic (`:(glob)`, `:/`, `:!`): matched by git anywhere in the tree.
                specs.push(Spec::Pattern("*".into()));
                continue;
            }
            Some((_, p)) => p.trim_start_matches(|c: char| c.is_ascii_digit() || c == ':'),
            None => t,
        };
        if path.is_empty() {
            continue;
        }
        if path.contains(['*', '?', '[']) {
            specs.push(Spec::Pattern(path.to_string()));
        } else {
            specs.push(Spec::Path(path.to_string()));
        }
    }
    Ok((specs, reads))
}

/// `git config`: reading is inert; setting a key that names a program or a
/// loaded file is code execution, and `--file`/`-f` writes that file.
fn config(rest: &[Word]) -> Touches {
    let mut out = vec![];
    let mut operands = vec![];
    let mut i = 0;
    let mut reading = false;
    let mut file_given = false;
    while let Some(arg) = rest.get(i) {
        let t = arg.text.as_str();
        if let Some((v, n)) =
            option_value(rest, i, "--file").or_else(|| option_value(rest, i, "-f"))
        {
            out.push(Touch::Write(v?.to_string()));
            file_given = true;
            i += n;
            continue;
        }
        if matches!(
            t,
            "--get"
                | "--get-all"
                | "--get-regexp"
                | "--list"
                | "-l"
                | "--get-urlmatch"
                | "get"
                | "list"
        ) {
            reading = true;
        }
        if !t.starts_with('-') {
            operands.push(lit(arg)?);
        }
        i += 1;
    }
    let operands: Vec<&str> = operands
        .into_iter()
        .filter(|o| !matches!(*o, "set" | "get" | "list" | "unset"))
        .collect();
    let writes = !reading && operands.len() >= 2
        || rest.iter().any(|w| {
            matches!(
                w.text.as_str(),
                "--add"
                    | "--replace-all"
                    | "--unset"
                    | "--unset-all"
                    | "--rename-section"
                    | "--remove-section"
                    | "--edit"
                    | "-e"
                    | "set"
            )
        });
    if rest
        .iter()
        .any(|w| matches!(w.text.as_str(), "--edit" | "-e"))
    {
        return Err(Refusal::option("`git config --edit` starts an editor"));
    }
    if writes {
        let key = operands.first().copied().unwrap_or("").to_ascii_lowercase();
        if let Some(k) = EXEC_CONFIG.iter().find(|k| {
            if k.ends_with('.') {
                key.starts_with(*k)
            } else {
                key == **k
            }
        }) {
            return Err(Refusal::option(format!(
                "setting git config `{key}` ({k}) names a program or a file git loads, which runs code of the caller's choosing"
            )));
        }
        if !file_given {
            // `--global`/`--system` change git for every repository of the user or machine.
            if rest
                .iter()
                .any(|w| matches!(w.text.as_str(), "--global" | "--system"))
            {
                return Err(Refusal {
                    code: crate::reason::ReasonCode::PathNotAllowed,
                    message: "`git config --global`/`--system` writes git's configuration outside the project".into(),
                });
            }
            out.push(Touch::Write(".git/config".into()));
        }
    }
    Ok(out)
}
