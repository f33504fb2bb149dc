//! Recursive readers, as data: for each program that reads whole trees
//! (grep -r, rg, git grep, tar c, cp -r, zip -r, diff -r), which options
//! take a value, which make it recurse or follow links, which exclude
//! files, and how to tell the user to leave a file out. The plan they give is
//! a set of read effects whose `walk` field the read pack walks (see
//! [`super::walk`]).

use super::shell::Word;
use super::walk::{Copy, Filter, FilterKind, TypeGlob, Walk};
use std::path::Path;

/// How one recursive reader's command line is read.
pub struct Reader {
    pub programs: &'static [&'static str],
    /// Short options that take a value (the rest of the bundle or the next word).
    pub short_values: &'static str,
    /// Long options that take a value (`--x=v` or `--x v`).
    pub long_values: &'static [&'static str],
    /// Options that make it read directories recursively; empty = always.
    pub recursive: &'static [&'static str],
    /// Options after which symlinks inside the tree are followed.
    pub follow: &'static [&'static str],
    /// Options after which they are not (the default unless `follows_by_default`).
    pub no_follow: &'static [&'static str],
    pub follows_by_default: bool,
    /// The first operand is a pattern unless one of these gave it.
    pub pattern_options: Option<&'static [&'static str]>,
    /// Options whose value is a file the program reads (pattern and exclude lists).
    pub file_values: &'static [&'static str],
    /// Options whose value is an exclude or include rule.
    pub filters: &'static [(&'static str, FilterKind)],
    /// With no path operand it reads the working directory.
    pub default_dot: bool,
    /// ripgrep-style hidden files and ignore files.
    pub ripgrep: bool,
    /// How to leave a file out.
    pub hint: &'static str,
}

/// The modelled recursive readers.
pub const READERS: &[Reader] = &[
    Reader {
        programs: &["grep", "egrep", "fgrep"],
        short_values: "ABCDdefm",
        long_values: &[
            "--after-context",
            "--before-context",
            "--context",
            "--devices",
            "--directories",
            "--regexp",
            "--file",
            "--max-count",
            "--include",
            "--exclude",
            "--exclude-dir",
            "--exclude-from",
            "--label",
            "--group-separator",
            "--binary-files",
        ],
        recursive: &[
            "-r",
            "-R",
            "--recursive",
            "--dereference-recursive",
            "--directories=recurse",
            "-drecurse",
        ],
        follow: &["-R", "--dereference-recursive"],
        no_follow: &[],
        follows_by_default: false,
        pattern_options: Some(&["-e", "-f", "--regexp", "--file"]),
        file_values: &["-f", "--file", "--exclude-from"],
        filters: &[
            ("--include", FilterKind::Include),
            ("--exclude", FilterKind::Exclude),
            ("--exclude-dir", FilterKind::ExcludeDir),
        ],
        default_dot: true,
        ripgrep: false,
        hint: "--exclude={name} (or --exclude-dir=DIR)",
    },
    Reader {
        programs: &["rg"],
        short_values: "ABCEMdefgjmrtT",
        long_values: &[
            "--after-context",
            "--before-context",
            "--context",
            "--encoding",
            "--max-columns",
            "--max-depth",
            "--regexp",
            "--file",
            "--glob",
            "--iglob",
            "--threads",
            "--max-count",
            "--replace",
            "--type",
            "--type-not",
            "--type-add",
            "--type-clear",
            "--color",
            "--colors",
            "--context-separator",
            "--field-context-separator",
            "--field-match-separator",
            "--path-separator",
            "--sort",
            "--sortr",
            "--pre",
            "--pre-glob",
            "--dfa-size-limit",
            "--regex-size-limit",
            "--engine",
            "--ignore-file",
            "--max-filesize",
            "--hostname-bin",
            "--hyperlink-format",
        ],
        recursive: &[],
        follow: &["-L", "--follow"],
        no_follow: &["--no-follow"],
        follows_by_default: false,
        pattern_options: Some(&["-e", "-f", "--regexp", "--file"]),
        file_values: &["-f", "--file", "--ignore-file"],
        filters: &[],
        default_dot: true,
        ripgrep: true,
        hint: "-g '!{path}'",
    },
    Reader {
        programs: &["tar", "bsdtar", "gtar"],
        short_values: "bCfFgIKLNTVX",
        long_values: &[
            "--file",
            "--directory",
            "--exclude",
            "--exclude-from",
            "--files-from",
            "--label",
            "--newer",
            "--after-date",
            "--transform",
            "--xform",
            "--owner",
            "--group",
            "--mode",
            "--mtime",
            "--format",
            "--blocking-factor",
            "--record-size",
            "--listed-incremental",
            "--use-compress-program",
            "--to-command",
            "--checkpoint-action",
            "--volno-file",
            "--tape-length",
            "--suffix",
            "--strip-components",
            "--sort",
            "--level",
        ],
        recursive: &[],
        follow: &["-h", "--dereference"],
        no_follow: &[],
        follows_by_default: false,
        pattern_options: None,
        file_values: &["-X", "--exclude-from"],
        filters: &[("--exclude", FilterKind::ExcludePath)],
        default_dot: false,
        ripgrep: false,
        hint: "--exclude={path}",
    },
    Reader {
        programs: &["cp"],
        short_values: "St",
        long_values: &[
            "--target-directory",
            "--suffix",
            "--backup",
            "--sparse",
            "--reflink",
            "--preserve",
            "--no-preserve",
        ],
        recursive: &["-r", "-R", "-a", "--recursive", "--archive"],
        follow: &["-L", "--dereference"],
        no_follow: &["-P", "--no-dereference", "-d", "-a", "--archive"],
        follows_by_default: false,
        pattern_options: None,
        file_values: &[],
        filters: &[],
        default_dot: false,
        ripgrep: false,
        hint: "",
    },
    Reader {
        programs: &["zip"],
        short_values: "bInOPtTx",
        long_values: &[
            "--exclude",
            "--include",
            "--password",
            "--temp-path",
            "--output-file",
            "--suffixes",
            "--unzip-command",
        ],
        recursive: &["-r", "--recurse-paths"],
        follow: &[],
        no_follow: &["-y", "--symlinks"],
        follows_by_default: true,
        pattern_options: None,
        file_values: &[],
        filters: &[
            ("-x", FilterKind::ExcludeRelative),
            ("--exclude", FilterKind::ExcludeRelative),
            ("-i", FilterKind::IncludeRelative),
            ("--include", FilterKind::IncludeRelative),
        ],
        default_dot: false,
        ripgrep: false,
        hint: "-x '{path}'",
    },
    Reader {
        programs: &["diff"],
        short_values: "xXCDFIlLSUW",
        long_values: &[
            "--exclude",
            "--exclude-from",
            "--ignore-matching-lines",
            "--label",
            "--starting-file",
            "--from-file",
            "--to-file",
            "--width",
            "--tabsize",
        ],
        recursive: &["-r", "--recursive"],
        follow: &[],
        no_follow: &[],
        follows_by_default: true,
        pattern_options: None,
        file_values: &["-X", "--exclude-from", "--from-file", "--to-file"],
        filters: &[
            ("-x", FilterKind::Exclude),
            ("--exclude", FilterKind::Exclude),
        ],
        default_dot: false,
        ripgrep: false,
        hint: "-x {name}",
    },
];

/// git grep's value options (after `git grep`).
const GIT_GREP_VALUES: &str = "ABCefm";
const GIT_GREP_LONG_VALUES: &[&str] = &[
    "--after-context",
    "--before-context",
    "--context",
    "--max-count",
    "--max-depth",
    "--threads",
    "--regexp",
    "--file",
    "--color",
];

/// What a recursive reader reads and writes.
#[derive(Debug, Default)]
pub struct Plan {
    /// (path, how it is walked; `None` for a plain file read).
    pub reads: Vec<(String, Option<Walk>)>,
    pub writes: Vec<String>,
    /// (destination operand, what a copy of one source creates there).
    pub copies: Vec<(String, Copy)>,
}

/// A non-option word, and whether its value is known.
struct Operand {
    text: String,
    literal: bool,
}

/// One option as given: its name and value, if it takes one.
struct Opt {
    name: String,
    value: Option<String>,
}

/// Splits arguments into options (bundles expanded, values attached) and operands.
fn parse(
    args: &[Word],
    short_values: &str,
    long_values: &[&str],
    old_style_tar: bool,
) -> (Vec<Opt>, Vec<Operand>) {
    let mut opts = Vec::new();
    let mut operands = Vec::new();
    let mut i = 0;
    let mut end = false;
    // `tar cf out.tar .`: the first word is a bundle without `-`, its value letters take the next words.
    let mut pending: Vec<String> = Vec::new();
    if old_style_tar {
        if let Some(first) = args.first().filter(|w| !w.text.starts_with('-')) {
            for c in first.text.chars() {
                opts.push(Opt {
                    name: format!("-{c}"),
                    value: None,
                });
                if short_values.contains(c) {
                    pending.push(format!("-{c}"));
                }
            }
            i = 1;
        }
    }
    for p in pending {
        let v = args.get(i).map(|w| w.text.clone());
        i += 1;
        if let Some(o) = opts.iter_mut().find(|o| o.name == p && o.value.is_none()) {
            o.value = v;
        }
    }
    while let Some(arg) = args.get(i) {
        let t = arg.text.clone();
        i += 1;
        if end || t == "-" || !t.starts_with('-') {
            operands.push(Operand {
                text: t,
                literal: arg.is_literal() || arg.is_process_substitution(),
            });
            continue;
        }
        if t == "--" {
            end = true;
            continue;
        }
        if t.starts_with("--") {
            match t.split_once('=') {
                Some((n, v)) => opts.push(Opt {
                    name: n.into(),
                    value: Some(v.into()),
                }),
                None if long_values.contains(&t.as_str()) => {
                    let v = args.get(i).map(|w| w.text.clone());
                    i += 1;
                    opts.push(Opt { name: t, value: v });
                }
                None => opts.push(Opt {
                    name: t,
                    value: None,
                }),
            }
            continue;
        }
        let bundle: Vec<char> = t[1..].chars().collect();
        for (k, c) in bundle.iter().enumerate() {
            if short_values.contains(*c) {
                let rest: String = bundle.iter().skip(k + 1).collect();
                let v = if rest.is_empty() {
                    i += 1;
                    args.get(i - 1).map(|w| w.text.clone())
                } else {
                    Some(rest)
                };
                opts.push(Opt {
                    name: format!("-{c}"),
                    value: v,
                });
                break;
            }
            opts.push(Opt {
                name: format!("-{c}"),
                value: None,
            });
        }
    }
    (opts, operands)
}

fn has(opts: &[Opt], names: &[&str]) -> bool {
    opts.iter().any(|o| {
        names.iter().any(|n| match n.split_once('=') {
            Some((k, v)) => o.name == k && o.value.as_deref() == Some(v),
            None => {
                o.name == *n
                    || (n.len() > 2
                        && !n.starts_with("--")
                        && format!("{}{}", o.name, o.value.as_deref().unwrap_or("")) == *n)
            }
        })
    })
}

/// The plan of a modelled recursive reader, or `None` when `argv` is not
/// one; `Some(Err(word))` when a file operand's value is computed by the shell.
pub fn plan(name: &str, argv: &[Word], stdin_fed: bool) -> Option<Result<Plan, String>> {
    if name == "git" {
        return git_grep(argv).map(Ok);
    }
    let r = READERS.iter().find(|r| r.programs.contains(&name))?;
    let tar = r.programs.contains(&"tar");
    let (opts, operands) = parse(
        argv.get(1..).unwrap_or_default(),
        r.short_values,
        r.long_values,
        tar,
    );
    let mut operands = operands;
    if r.pattern_options
        .is_some_and(|p| !opts.iter().any(|o| p.contains(&o.name.as_str())))
        && !(r.ripgrep && has(&opts, &["--files", "--type-list"]))
        && !operands.is_empty()
    {
        // The pattern may well be computed; it is not a file.
        operands.remove(0);
    }
    if let Some(bad) = operands.iter().find(|o| !o.literal) {
        return Some(Err(bad.text.clone()));
    }
    let operands: Vec<String> = operands
        .into_iter()
        .filter(|o| o.text != "<(...)" && o.text != ">(...)")
        .map(|o| o.text)
        .collect();
    plan_literal(name, r, &opts, operands, stdin_fed).map(Ok)
}

fn plan_literal(
    name: &str,
    r: &Reader,
    opts: &[Opt],
    operands: Vec<String>,
    stdin_fed: bool,
) -> Option<Plan> {
    let tar = r.programs.contains(&"tar");
    let mut plan = Plan::default();
    for o in opts {
        if r.file_values.contains(&o.name.as_str()) {
            plan.reads.extend(o.value.clone().map(|v| (v, None)));
        }
    }
    let recursive = r.recursive.is_empty() || has(opts, r.recursive);
    let mut paths: Vec<String> = operands;
    if tar {
        let creating = has(
            opts,
            &["-c", "--create", "-r", "--append", "-u", "--update"],
        );
        if !creating {
            return None;
        }
        if let Some(dir) = opts
            .iter()
            .rev()
            .find(|o| o.name == "-C" || o.name == "--directory")
            .and_then(|o| o.value.clone())
        {
            // Members are read relative to `-C DIR`.
            for p in &mut paths {
                if !p.starts_with('/') {
                    *p = format!("{}/{p}", dir.trim_end_matches('/'));
                }
            }
        }
        if let Some(f) = opts
            .iter()
            .rev()
            .find(|o| o.name == "-f" || o.name == "--file")
            .and_then(|o| o.value.clone())
        {
            if f != "-" {
                plan.writes.push(f);
            }
        }
    }
    if r.programs.contains(&"zip") {
        if paths.is_empty() {
            return None;
        }
        if has(opts, &["-m", "--move"]) {
            // `-m` deletes each file once it is archived.
            plan.writes.extend(paths.iter().skip(1).cloned());
        }
        plan.writes.push(paths.remove(0));
    }
    if r.programs.contains(&"cp") {
        if has(opts, &["-l", "--link"]) {
            // Hard links: each source is the new name's file, so each is written too.
            plan.writes.extend(paths.iter().cloned());
        }
        let target = opts
            .iter()
            .find(|o| o.name == "-t" || o.name == "--target-directory");
        let (dest, into) = match target {
            Some(t) => (t.value.clone()?, Some(true)),
            None => {
                let dest = paths.pop()?;
                let into = if has(opts, &["-T", "--no-target-directory"]) {
                    Some(false)
                } else {
                    copy_into(&dest, paths.len())
                };
                (dest, into)
            }
        };
        for from in &paths {
            plan.copies.push((
                dest.clone(),
                Copy {
                    from: from.clone(),
                    name: copied_name(from, false),
                    into,
                    tree: recursive,
                },
            ));
        }
    }
    if r.ripgrep && has(opts, &["--files", "--type-list"]) {
        // Names only: no file's content is read.
        return Some(plan);
    }
    if paths.is_empty() && recursive && r.default_dot && !stdin_fed {
        paths.push(".".into());
    }
    if !recursive {
        plan.reads.extend(paths.into_iter().map(|p| (p, None)));
        return Some(plan);
    }
    let mut walk = Walk {
        reader: if r.recursive.is_empty() {
            name.to_string()
        } else {
            format!("{name} -r")
        },
        exclude_hint: r.hint.into(),
        ..Walk::default()
    };
    let mut follow = r.follows_by_default;
    for o in opts {
        if r.follow.contains(&o.name.as_str()) {
            follow = true;
        }
        if r.no_follow.contains(&o.name.as_str()) {
            follow = false;
        }
        if let Some((_, kind)) = r.filters.iter().find(|(n, _)| *n == o.name) {
            walk.filters
                .extend(o.value.clone().map(|glob| Filter { kind: *kind, glob }));
        }
    }
    walk.follow = follow;
    if r.ripgrep {
        ripgrep(opts, &mut walk);
    }
    plan.reads
        .extend(paths.into_iter().map(|p| (p, Some(walk.clone()))));
    Some(plan)
}

/// Whether a copy's destination is a directory the sources go into, as its
/// spelling says (`dir/`, `.`, `..`, or several sources); `None`: the file
/// system decides.
pub fn copy_into(dest: &str, sources: usize) -> Option<bool> {
    let dir = dest.ends_with('/')
        || dest.ends_with("/.")
        || dest.ends_with("/..")
        || matches!(dest, "." | "..")
        || sources > 1;
    dir.then_some(true)
}

/// The name a source gets inside a destination directory: its last component,
/// or `None` when its contents are copied (`src/.`, and for rsync `src/`).
pub fn copied_name(from: &str, slash_is_contents: bool) -> Option<String> {
    let trimmed = from.trim_end_matches('/');
    if (slash_is_contents && from.ends_with('/')) || trimmed.ends_with("/.") || trimmed == "." {
        return None;
    }
    Path::new(trimmed)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
}

/// ripgrep's filtering: hidden files and ignore files unless `-u`, `--hidden`, `--no-ignore`.
fn ripgrep(opts: &[Opt], w: &mut Walk) {
    let (mut hidden, mut vcs, mut dot) = (false, true, true);
    for o in opts {
        match o.name.as_str() {
            "-u" | "--unrestricted" => {
                if !vcs || !dot {
                    hidden = true;
                }
                vcs = false;
                dot = false;
            }
            "--hidden" | "-." => hidden = true,
            "--no-hidden" => hidden = false,
            "--no-ignore" => {
                vcs = false;
                dot = false;
            }
            "--ignore" => {
                vcs = true;
                dot = true;
            }
            "--no-ignore-vcs" => vcs = false,
            "--ignore-vcs" => vcs = true,
            "--no-ignore-dot" => dot = false,
            "--ignore-dot" => dot = true,
            "-g" | "--glob" => w.globs.extend(o.value.clone()),
            "--iglob" => w.iglobs.extend(o.value.clone()),
            "-d" | "--max-depth" => {
                w.max_depth = o.value.as_deref().and_then(|v| v.parse().ok());
            }
            _ => {}
        }
    }
    file_types(opts, w);
    w.skip_hidden = !hidden;
    if dot {
        w.ignore_files
            .extend([".rgignore".to_string(), ".ignore".to_string()]);
    }
    if vcs {
        w.ignore_files.push(".gitignore".into());
    }
}

/// ripgrep's built-in file types that toolgate knows (name, globs on the file
/// name). A type not listed here counts as matching every file, so selecting it
/// reads at least what ripgrep would.
const RG_TYPES: &[(&str, &[&str])] = &[
    ("c", &["*.[chH]", "*.[chH].in", "*.cats"]),
    (
        "cpp",
        &[
            "*.[ChH]",
            "*.cc",
            "*.[ch]pp",
            "*.[ch]xx",
            "*.hh",
            "*.inl",
            "*.[ChH].in",
            "*.cc.in",
            "*.[ch]pp.in",
            "*.[ch]xx.in",
            "*.hh.in",
        ],
    ),
    ("css", &["*.css", "*.scss"]),
    ("go", &["*.go"]),
    ("html", &["*.htm", "*.html", "*.ejs"]),
    ("java", &["*.java", "*.jsp", "*.jspx", "*.properties"]),
    ("js", &["*.js", "*.jsx", "*.vue", "*.cjs", "*.mjs"]),
    ("json", &["*.json", "composer.lock", "*.sarif"]),
    (
        "markdown",
        &[
            "*.markdown",
            "*.md",
            "*.mdown",
            "*.mdwn",
            "*.mkd",
            "*.mkdn",
            "*.mdx",
        ],
    ),
    (
        "md",
        &[
            "*.markdown",
            "*.md",
            "*.mdown",
            "*.mdwn",
            "*.mkd",
            "*.mkdn",
            "*.mdx",
        ],
    ),
    ("py", &["*.py", "*.pyi"]),
    (
        "ruby",
        &["Gemfile", "*.gemspec", ".irbrc", "Rakefile", "*.rb"],
    ),
    ("rust", &["*.rs"]),
    (
        "sh",
        &[
            "*.bash",
            ".bashrc",
            ".bash_profile",
            ".bash_login",
            ".bash_logout",
            "*.sh",
            ".zshrc",
            "*.zsh",
            ".zprofile",
            ".zshenv",
        ],
    ),
    ("toml", &["*.toml", "Cargo.lock"]),
    ("ts", &["*.ts", "*.tsx", "*.cts", "*.mts"]),
    ("txt", &["*.txt"]),
    ("yaml", &["*.yaml", "*.yml"]),
];

/// ripgrep's `--type-add NAME:GLOB` (or `NAME:include:A,B`), `--type-clear`,
/// `-t`/`--type` and `-T`/`--type-not`: definitions first (in order), then the
/// selections in order, each type's globs added to the walk.
fn file_types(opts: &[Opt], w: &mut Walk) {
    let mut defs: Vec<(String, Vec<String>)> = RG_TYPES
        .iter()
        .map(|(n, g)| (n.to_string(), g.iter().map(|g| g.to_string()).collect()))
        .collect();
    let mut unknown: Vec<String> = vec![];
    for o in opts {
        let Some(v) = o.value.as_deref() else {
            continue;
        };
        match o.name.as_str() {
            "--type-add" => {
                let Some((name, rest)) = v.split_once(':') else {
                    continue;
                };
                let globs: Vec<String> = match rest.strip_prefix("include:") {
                    Some(others) => others
                        .split(',')
                        .flat_map(|t| {
                            defs.iter()
                                .find(|(n, _)| n == t)
                                .map(|(_, g)| g.clone())
                                .unwrap_or_else(|| vec!["*".into()])
                        })
                        .collect(),
                    None => vec![rest.to_string()],
                };
                match defs.iter_mut().find(|(n, _)| n == name) {
                    Some((_, g)) => g.extend(globs),
                    None => defs.push((name.to_string(), globs)),
                }
            }
            "--type-clear" => {
                if let Some((_, g)) = defs.iter_mut().find(|(n, _)| n == v) {
                    g.clear();
                } else {
                    unknown.push(v.to_string());
                }
            }
            _ => {}
        }
    }
    for o in opts {
        let select = match o.name.as_str() {
            "-t" | "--type" => true,
            "-T" | "--type-not" => false,
            _ => continue,
        };
        let Some(v) = o.value.as_deref() else {
            continue;
        };
        if select {
            w.types_selected = true;
        }
        let globs = match defs.iter().find(|(n, _)| n == v) {
            Some((_, g)) if !unknown.iter().any(|u| u == v) => g.clone(),
            // A type toolgate does not know: selected, it may match anything;
            // negated, it is taken to leave nothing out.
            _ if select => vec!["*".to_string()],
            _ => vec![],
        };
        w.types
            .extend(globs.into_iter().map(|glob| TypeGlob { glob, select }));
    }
}

/// `git grep`: the tracked files of the work tree under the pathspecs, as the
/// index lists them (`.gitignore` stands in where there is no readable index);
/// revisions are judged by today's tree.
fn git_grep(argv: &[Word]) -> Option<Plan> {
    let sub = argv.iter().skip(1).position(|w| !w.text.starts_with('-'))? + 1;
    if argv.get(sub)?.text != "grep" {
        return None;
    }
    let (opts, operands) = parse(
        argv.get(sub + 1..).unwrap_or_default(),
        GIT_GREP_VALUES,
        GIT_GREP_LONG_VALUES,
        false,
    );
    let mut operands: Vec<String> = operands
        .into_iter()
        // A computed pathspec could name anything: the whole tree.
        .map(|o| if o.literal { o.text } else { ".".into() })
        .collect();
    let mut plan = Plan::default();
    for o in &opts {
        if o.name == "-f" || o.name == "--file" {
            plan.reads.extend(o.value.clone().map(|v| (v, None)));
        }
    }
    if !opts
        .iter()
        .any(|o| ["-e", "-f", "--regexp", "--file"].contains(&o.name.as_str()))
        && !operands.is_empty()
    {
        operands.remove(0);
    }
    let no_index = has(&opts, &["--no-index"]);
    let standard = if no_index {
        has(&opts, &["--exclude-standard"])
    } else {
        !has(&opts, &["--no-exclude-standard"])
    };
    let mut walk = Walk {
        reader: "git grep".into(),
        skip_git_dir: true,
        exclude_hint: "the pathspec ':!{path}'".into(),
        git_index: !no_index,
        tracked_only: !no_index && !has(&opts, &["--untracked"]),
        ..Walk::default()
    };
    if standard {
        walk.ignore_files.push(".gitignore".into());
    }
    if let Some(d) = opts
        .iter()
        .find(|o| o.name == "--max-depth")
        .and_then(|o| o.value.as_deref())
    {
        walk.max_depth = d.parse().ok().filter(|d: &usize| *d < usize::MAX);
    }
    let mut roots = Vec::new();
    for op in operands {
        let magic = op
            .strip_prefix(":!")
            .or_else(|| op.strip_prefix(":^"))
            .or_else(|| op.strip_prefix(":(exclude)"));
        if let Some(ex) = magic {
            walk.filters.push(Filter {
                kind: FilterKind::ExcludeRelative,
                glob: ex.to_string(),
            });
        } else if op.starts_with(':') || op.contains(['*', '?', '[']) || !looks_like_path(&op) {
            // A glob, other magic or a revision: the whole tree may be read.
            roots.push(".".to_string());
        } else {
            roots.push(op);
        }
    }
    if roots.is_empty() {
        roots.push(".".into());
    }
    roots.dedup();
    plan.reads
        .extend(roots.into_iter().map(|p| (p, Some(walk.clone()))));
    Some(plan)
}

/// A word that names a path rather than a revision (`HEAD`, `main~2`, a hash).
fn looks_like_path(op: &str) -> bool {
    !(op.contains(['~', '^', '@'])
        || op == "HEAD"
        || op.bytes().all(|b| b.is_ascii_hexdigit()) && op.len() >= 7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::shell;

    fn plan_of(cmd: &str) -> Option<Plan> {
        let c = shell::analyze(cmd).unwrap().commands.pop().unwrap();
        plan(c.program().unwrap(), &c.argv, c.stdin.pipe).map(|p| p.unwrap())
    }

    #[test]
    fn grep_recurses_only_with_r() {
        let p = plan_of("grep -rn TODO src").unwrap();
        assert_eq!(p.reads.len(), 1);
        assert_eq!(p.reads[0].0, "src");
        assert!(p.reads[0].1.as_ref().is_some_and(|w| !w.follow));
        let p = plan_of("grep -R --exclude=.env x").unwrap();
        let w = p.reads[0].1.as_ref().unwrap();
        assert_eq!(p.reads[0].0, ".");
        assert!(w.follow);
        assert_eq!(w.filters[0].glob, ".env");
        let p = plan_of("grep -n fn src/lib.rs").unwrap();
        assert!(p.reads[0].1.is_none());
        let p = plan_of("grep -A 3 -e x -f pats.txt a").unwrap();
        let paths: Vec<&str> = p.reads.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["pats.txt", "a"]);
    }

    #[test]
    fn ripgrep_levels() {
        let w = |c: &str| plan_of(c).unwrap().reads[0].1.clone().unwrap();
        assert!(w("rg x").skip_hidden);
        assert_eq!(w("rg x").ignore_files.len(), 3);
        assert!(w("rg -u x").skip_hidden && w("rg -u x").ignore_files.is_empty());
        assert!(!w("rg -uu x").skip_hidden);
        assert!(!w("rg -u -u x").skip_hidden);
        assert!(!w("rg --hidden x").skip_hidden);
        assert!(w("rg -L x").follow);
        assert_eq!(w("rg -g '!.env' x").globs, ["!.env"]);
        assert!(plan_of("rg --files").unwrap().reads.is_empty());
        assert!(plan_of("cat f | rg x").unwrap().reads.is_empty());
    }

    #[test]
    fn tar_cp_zip_git() {
        let p = plan_of("tar czf out.tgz --exclude=.env .").unwrap();
        assert_eq!(p.writes, ["out.tgz"]);
        assert_eq!(p.reads[0].0, ".");
        assert!(plan_of("tar xf a.tar").is_none());
        let p = plan_of("cp -r src /tmp/x").unwrap();
        assert_eq!(p.reads[0].0, "src");
        assert!(p.writes.is_empty());
        let (dest, copy) = &p.copies[0];
        assert_eq!((dest.as_str(), copy.from.as_str()), ("/tmp/x", "src"));
        assert_eq!(
            (copy.name.as_deref(), copy.into, copy.tree),
            (Some("src"), None, true)
        );
        let p = plan_of("cp -T a b/").unwrap();
        assert_eq!(p.copies[0].1.into, Some(false));
        let p = plan_of("cp a b c").unwrap();
        assert_eq!(p.copies.len(), 2);
        assert_eq!(p.copies[1].1.into, Some(true));
        let p = plan_of("cp -r src/. dir").unwrap();
        assert_eq!(p.copies[0].1.name, None);
        assert_eq!(copied_name("src/", true), None);
        assert_eq!(copied_name("src/", false).as_deref(), Some("src"));
        assert_eq!(copy_into("dir/", 1), Some(true));
        assert_eq!(copy_into("dir", 1), None);
        let p = plan_of("zip -r a.zip . -x '.env'").unwrap();
        assert_eq!(p.writes, ["a.zip"]);
        assert!(p.reads[0].1.as_ref().unwrap().follow);
        let p = plan_of("git grep -n TODO -- src ':!src/.env'").unwrap();
        assert_eq!(p.reads[0].0, "src");
        assert!(plan_of("git status").is_none());
        let p = plan_of("git grep x HEAD~1").unwrap();
        assert_eq!(p.reads[0].0, ".");
    }
}
