//! Shell commands (system.command.execute): the policy over the analysis in
//! [`super::shell`]. A command string is allowed only when every simple command
//! it can run is allowed on its own, every construct beyond plain pipelines
//! is opted in by the passport, and its file effects pass the file packs.
//! `docs/checks.md` states exactly what this guarantees and what it does not.

use super::models::{self, Touch};
use super::programs::{self as prog, base_name, option_matches};
use super::readers;
use super::shell::{self, Redirect, ShellError, SimpleCommand, Word};
use super::values::bool_limit;
use super::walk::{self, Copy, Walk};
use super::{string_field, string_list, CheckInput, CheckResult, Effect};
use crate::reason::ReasonCode;
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

/// The most file effects one command may have; more is refused, not checked slowly.
pub const MAX_FILE_EFFECTS: usize = 1024;
/// The most working directories a sequence of `cd`s may leave in doubt; past
/// it, later relative paths are refused (each `cd` may double the set).
pub const MAX_DIRS: usize = 16;

pub const READ_POLICY: &str = "data.file.read.v1";
pub const WRITE_POLICY: &str = "data.file.write.v1";

/// The passport opt-ins, read from `limits.system.command.execute`.
struct OptIns<'a> {
    flags: Vec<(&'static str, bool)>,
    env: Vec<&'a str>,
    /// The pack's names for the allow and block lists (for [`super::Hits`]).
    lists: (&'a str, &'a str),
    /// Only work out what the command touches (see [`super::Hits::effects_only`]).
    effects_only: bool,
}

/// Boolean opt-ins; each defaults to false.
pub const OPT_IN_FLAGS: &[&str] = &[
    "allow_expansion",
    "allow_substitution",
    "allow_compound",
    "allow_background",
    "allow_functions",
    "allow_interpreter_stdin",
];

/// The list of variable names that may be assigned in front of a command.
pub const ENV_LIMIT: &str = "allowed_env_assignments";

impl<'a> OptIns<'a> {
    fn read(input: &'a CheckInput) -> Result<OptIns<'a>, CheckResult> {
        let mut flags = Vec::new();
        for name in OPT_IN_FLAGS {
            flags.push((*name, bool_limit(input, name)?.unwrap_or(false)));
        }
        let env = string_list(input, ENV_LIMIT)?.unwrap_or_default();
        Ok(OptIns {
            flags,
            env,
            lists: ("", ""),
            effects_only: input.hits.effects_only(),
        })
    }

    fn on(&self, name: &str) -> bool {
        self.flags.iter().any(|(n, v)| *n == name && *v)
    }
}

fn deny(code: ReasonCode, message: impl Into<String>) -> CheckResult {
    CheckResult::deny(code, message)
}

pub fn check(input: &CheckInput, field: &str, allowed: &str, blocked: Option<&str>) -> CheckResult {
    match judge(input, field, allowed, blocked) {
        Ok(r) | Err(r) => r,
    }
}

fn judge(
    input: &CheckInput,
    field: &str,
    allowed: &str,
    blocked: Option<&str>,
) -> Result<CheckResult, CheckResult> {
    let Some(cmd) = string_field(input, field)? else {
        return Err(deny(
            ReasonCode::InvalidContext,
            format!("the call has no `{field}`"),
        ));
    };
    // The analysis is bash grammar; a command for another shell would be misread.
    if let Some(other) = string_field(input, "shell")?.filter(|s| !matches!(*s, "bash" | "sh")) {
        return Err(deny(
            ReasonCode::CommandUnparsable,
            format!("toolgate evaluates bash syntax, not {other}; this command is not evaluated"),
        ));
    }
    let script = shell::analyze(cmd).map_err(|e| {
        let code = match e {
            ShellError::TooLong | ShellError::TooDeep | ShellError::TooComplex(_) => {
                ReasonCode::CommandTooComplex
            }
            ShellError::Unparsable(_) => ReasonCode::CommandUnparsable,
            ShellError::Unsupported(_) => ReasonCode::CommandChainUnsupported,
        };
        deny(code, e.to_string())
    })?;
    if script.commands.is_empty() {
        return Err(deny(ReasonCode::InvalidContext, "the command is empty"));
    }
    let mut opts = OptIns::read(input)?;
    opts.lists = (allowed, blocked.unwrap_or(""));
    for c in &script.constructs {
        if !opts.on(c.opt_in()) && !opts.effects_only {
            return Err(deny(
                ReasonCode::CommandChainUnsupported,
                format!(
                    "the command contains {}, which needs limits.{}.{}",
                    c.describe(),
                    input.capability,
                    c.opt_in()
                ),
            ));
        }
    }
    let Some(entries) = string_list(input, allowed)? else {
        return Err(deny(
            ReasonCode::PolicyError,
            format!(
                "limits.{}.{allowed} is not set, so no command is allowed",
                input.capability
            ),
        ));
    };
    let patterns = match blocked {
        Some(name) => string_list(input, name)?.unwrap_or_default(),
        None => vec![],
    };
    let cwd = string_field(input, "cwd")?;
    let mut fx = Effects::new(cwd);
    fx.session = string_field(input, "session")?;
    let mut details = Vec::new();
    for c in &script.commands {
        details.push(simple(
            input,
            c,
            &opts,
            &entries,
            &patterns,
            &script.functions,
            &mut fx,
        )?);
        if let Some(p) = c.program().map(base_name).filter(|p| writes_unknown(p)) {
            fx.opaque.get_or_insert_with(|| format!("`{p}`"));
        }
    }
    details.retain(|d| !d.is_empty());
    Ok(CheckResult::Pass {
        detail: details.join("; "),
        effects: fx.effects,
        changes: vec![],
    })
}

/// Judges one simple command; returns what it matched.
fn simple(
    input: &CheckInput,
    c: &SimpleCommand,
    opts: &OptIns,
    entries: &[&str],
    patterns: &[&str],
    functions: &BTreeSet<String>,
    fx: &mut Effects,
) -> Result<String, CheckResult> {
    if let Some(name) = c
        .assignments
        .iter()
        .find(|n| !opts.env.contains(&n.as_str()) && !opts.effects_only)
    {
        return Err(deny(
            ReasonCode::CommandNotAllowed,
            format!(
                "assigning `{name}=` for the command is not allowed (limits.{}.{ENV_LIMIT})",
                input.capability
            ),
        ));
    }
    let expansion = |what: &str| {
        deny(
            ReasonCode::CommandExpansionNotAllowed,
            format!(
                "{what}; the shell would compute it, which needs limits.{}.allow_expansion",
                input.capability
            ),
        )
    };
    if let Some(e) = c.other_expansions.first() {
        if !opts.on("allow_expansion") && !opts.effects_only {
            return Err(expansion(&format!("`{e}` expands")));
        }
    }
    for r in &c.redirects {
        match r {
            Redirect::Dynamic(t) => {
                return Err(deny(
                    ReasonCode::CommandExpansionNotAllowed,
                    format!("the redirection target `{t}` is computed by the shell, so the file it touches is unknown"),
                ))
            }
            Redirect::Read(p) => fx.file(READ_POLICY, p)?,
            Redirect::Write(p) => fx.file(WRITE_POLICY, p)?,
        }
    }
    let Some(first) = c.argv.first() else {
        return Ok(String::new());
    };
    if !first.is_literal() {
        return Err(deny(
            ReasonCode::CommandExpansionNotAllowed,
            format!("the command name `{}` is computed by the shell", first.text),
        ));
    }
    // With allow_expansion, a plain glob is expanded as bash would, against the file system.
    let expanded = match opts.on("allow_expansion") {
        true => expand_globs(input, &c.argv, fx)?,
        false => None,
    };
    let argv: &[Word] = expanded.as_deref().unwrap_or(&c.argv);
    let shown = show(argv);
    if let Some(p) = patterns
        .iter()
        .find(|p| !opts.effects_only && pattern_matches(p, argv))
    {
        input.hits.entry(opts.lists.1, p);
        return Err(deny(
            ReasonCode::BlockedPattern,
            format!("`{shown}` matches blocked pattern `{p}`"),
        ));
    }
    if let Some(w) = argv.iter().find(|w| w.expands && !opts.effects_only) {
        if !opts.on("allow_expansion") {
            return Err(expansion(&format!("`{}` expands", w.text)));
        }
        // `rm $FLAGS /` could hide `-rf` from the pattern: a program a pattern names takes literal arguments only.
        let name = base_name(&first.text);
        if let Some(p) = patterns
            .iter()
            .find(|p| p.split_whitespace().next().map(base_name) == Some(name))
        {
            return Err(deny(
                ReasonCode::CommandExpansionNotAllowed,
                format!(
                    "`{}` expands, so blocked pattern `{p}` could not be checked against `{shown}`",
                    w.text
                ),
            ));
        }
    }
    if functions.contains(&first.text) {
        // The body was checked command by command where it was defined.
        return Ok(format!("`{shown}` calls a function defined in the command"));
    }
    let matched = entries
        .iter()
        .filter_map(|e| entry_len(e, argv).map(|n| (*e, n)))
        .max_by_key(|(_, n)| *n);
    // Working out effects only: every program is taken as allowed by its name alone.
    let matched = matched.or(opts.effects_only.then_some(("", 1)));
    let Some((entry, len)) = matched else {
        return Err(deny(ReasonCode::CommandNotAllowed, not_allowed(&shown)));
    };
    let name = base_name(&first.text);
    if !opts.effects_only {
        input.hits.entry(opts.lists.0, entry);
        option_rules(name, argv, len)?;
        interpreter_input(input, c, opts)?;
    }
    let fed = c.stdin.pipe || c.stdin.inline || c.stdin.file;
    let planned = match readers::plan(name, argv, fed) {
        Some(Ok(plan)) => {
            for (path, walk) in &plan.reads {
                fx.read(path, walk.as_ref())?;
            }
            for (dest, copy) in &plan.copies {
                fx.copy(dest, copy)?;
            }
            for path in &plan.writes {
                fx.file(WRITE_POLICY, path)?;
            }
            true
        }
        Some(Err(word)) => {
            return Err(deny(
                ReasonCode::CommandExpansionNotAllowed,
                format!("the file argument `{word}` is computed by the shell, so the files it reads are unknown"),
            ))
        }
        None => {
            file_effects(name, argv, fx)?;
            false
        }
    };
    model_effects(input, c, name, argv, planned, fx)?;
    if !modelled(name) {
        return Ok(format!(
            "`{shown}` matches allowed `{entry}`; `{name}` is not modelled (toolgate knows none of its options or files, so only the allowlist judged it)"
        ));
    }
    Ok(format!("`{shown}` matches allowed `{entry}`"))
}

/// Runner and execution-option rules for an allowlisted command.
fn option_rules(name: &str, argv: &[Word], entry_len: usize) -> Result<(), CheckResult> {
    let refuse = |why: String| Err(deny(ReasonCode::CommandOptionNotAllowed, why));
    if prog::RUNNERS.contains(&name) && argv.len() > entry_len {
        return refuse(format!(
            "`{name}` runs its arguments as a command; only the exact allowlisted form may run"
        ));
    }
    for rule in prog::EXEC_OPTIONS
        .iter()
        .filter(|r| r.programs.contains(&name))
    {
        let mut leading = true;
        let mut after_option = false;
        for (i, w) in argv.iter().enumerate().skip(1) {
            let t = w.text.as_str();
            if t == "--" {
                leading = false;
            }
            let is_option = t.starts_with('-') && t.len() > 1 && t != "--";
            if i >= entry_len {
                let hit = rule
                    .anywhere
                    .iter()
                    .chain(rule.leading.iter().filter(|_| leading))
                    .find(|o| option_matches(t, o) || (t == "-" && **o == "-"));
                if let Some(o) = hit {
                    return refuse(format!(
                        "`{o}` makes `{name}` run code or commands of the caller's choosing; allowlist an entry that names it to allow it"
                    ));
                }
            }
            if rule.ends_options.iter().any(|o| option_matches(t, o)) {
                leading = false;
            }
            // A word right after an option is presumed to be its value, so
            // `python3 -W x -c ...` is still read as interpreter options.
            if !is_option && !after_option && t != "-" {
                leading = false;
            }
            after_option = is_option;
        }
    }
    Ok(())
}

/// An interpreter fed on standard input runs whatever it is fed.
fn interpreter_input(
    input: &CheckInput,
    c: &SimpleCommand,
    opts: &OptIns,
) -> Result<(), CheckResult> {
    let Some(name) = c.program().map(base_name) else {
        return Ok(());
    };
    let fed = c.stdin.pipe || c.stdin.inline || c.stdin.file;
    if fed && prog::INTERPRETERS.contains(&name) && !opts.on("allow_interpreter_stdin") {
        return Err(deny(
            ReasonCode::CommandOptionNotAllowed,
            format!(
                "`{name}` would run code fed on its standard input, which needs limits.{}.allow_interpreter_stdin",
                input.capability
            ),
        ));
    }
    Ok(())
}

/// The allowlist entry that admits any program (APort's `allowed_commands: ["*"]`). It widens
/// the allowlist only: the program must still be a literal word, and blocked patterns, the
/// construct opt-ins, option rules, file effects, redirections and toolgate's protected files
/// are judged as for any other entry.
pub const ANY_COMMAND: &str = "*";

/// How many words of `argv` an entry covers: [`ANY_COMMAND`] the program's name alone.
fn entry_len(entry: &str, argv: &[Word]) -> Option<usize> {
    if entry.trim() == ANY_COMMAND {
        return argv.first().filter(|w| w.is_literal()).map(|_| 1);
    }
    prefix_len(entry, argv)
}

const NOT_ALLOWED: &str = "` is not an allowed command";

/// The deny of a simple command no allow entry covers.
fn not_allowed(shown: &str) -> String {
    format!("`{shown}{NOT_ALLOWED}")
}

/// The denied simple command named by a [`not_allowed`] message (from a signed record):
/// what `toolgate approve --pattern` checks a pattern against.
pub fn not_allowed_subject(message: &str) -> Option<&str> {
    message.strip_prefix('`')?.strip_suffix(NOT_ALLOWED)
}

/// How many words of `argv` the entry covers, if it is a prefix on word boundaries.
/// Only literal words match: an expanding word never equals an entry word.
/// Read word by word without collecting: an allowlist may hold a thousand entries and
/// most differ from the command in their first word.
pub fn prefix_len(entry: &str, argv: &[Word]) -> Option<usize> {
    let mut words = argv.iter();
    let mut len = 0;
    for e in entry.split_whitespace() {
        let w = words.next()?;
        if !(w.is_literal() && e == w.text) {
            return None;
        }
        len += 1;
    }
    (len > 0).then_some(len)
}

fn show(argv: &[Word]) -> String {
    argv.iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Tokens as blocked patterns see them: short-flag bundles split (`-rf` is
/// `-r -f`), long spellings mapped to short ones, `git push +ref` as `-f`.
pub fn normalize_tokens(program: &str, args: &[&str]) -> (Vec<String>, Vec<String>) {
    let mut options = Vec::new();
    let mut operands = Vec::new();
    let mut end = false;
    for &t in args {
        if end || t == "-" || !t.starts_with('-') {
            if program == "git" && t.starts_with('+') && t.len() > 1 {
                options.push("-f".to_string());
            }
            operands.push(t.to_string());
            continue;
        }
        if t == "--" {
            end = true;
            continue;
        }
        let alias = |t: String| {
            prog::FLAG_ALIASES
                .iter()
                .find(|(p, long, _)| (*p == program || *p == "*") && *long == t)
                .map_or(t, |(_, _, short)| short.to_string())
        };
        let t = alias(t.to_string());
        match t.strip_prefix('-') {
            Some(bundle) if !bundle.starts_with('-') => {
                options.extend(bundle.chars().map(|c| alias(format!("-{c}"))));
            }
            _ => options.push(t),
        }
    }
    (options, operands)
}

/// A blocked pattern matches a simple command when its first word names the
/// same program (by base name), each of its options appears among the
/// command's options, and its other words appear among the command's operands
/// in the same order. Both sides are normalised by [`normalize_tokens`].
pub fn pattern_matches(pattern: &str, argv: &[Word]) -> bool {
    let words: Vec<&str> = pattern.split_whitespace().collect();
    let (Some(first), Some(prog_word)) = (words.first(), argv.first()) else {
        return false;
    };
    let program = base_name(&prog_word.text);
    if base_name(first) != program {
        return false;
    }
    let (want_opts, want_ops) = normalize_tokens(program, words.get(1..).unwrap_or_default());
    let args: Vec<&str> = argv
        .get(1..)
        .unwrap_or_default()
        .iter()
        .map(|w| w.text.as_str())
        .collect();
    let (have_opts, have_ops) = normalize_tokens(program, &args);
    let mut ops = have_ops.iter();
    want_opts.iter().all(|o| have_opts.contains(o)) && want_ops.iter().all(|w| ops.any(|h| h == w))
}

/// The file effects a command implies, resolved against the working directories it may run in.
struct Effects<'a> {
    /// The host session, so writes are remembered for it.
    session: Option<&'a str>,
    cwd: Option<&'a str>,
    /// Directories a preceding `cd` may have moved to (absolute, normalised).
    dirs: Vec<PathBuf>,
    /// A preceding directory change could not be followed.
    lost: bool,
    effects: Vec<Effect>,
    /// The first command so far whose writes are not all known (an
    /// interpreter, a build tool, a program toolgate does not model), which
    /// may have written any file a later extraction reads.
    opaque: Option<String>,
    /// (policy, path) of every effect, so a repeated file is one check.
    seen: HashSet<(String, String)>,
}

impl<'a> Effects<'a> {
    fn new(cwd: Option<&'a str>) -> Effects<'a> {
        Effects {
            cwd,
            session: None,
            dirs: cwd.map(PathBuf::from).into_iter().collect(),
            lost: false,
            effects: vec![],
            opaque: None,
            seen: HashSet::new(),
        }
    }

    /// Adds a file effect for `raw` from every directory the command may run in.
    fn file(&mut self, policy: &str, raw: &str) -> Result<(), CheckResult> {
        self.file_with(policy, raw, None)
    }

    /// A read, walked as `walk` says when the reader recurses into directories.
    fn read(&mut self, raw: &str, walk: Option<&Walk>) -> Result<(), CheckResult> {
        let spec = walk
            .map(|w| {
                serde_json::to_value(w).map_err(|e| deny(ReasonCode::InternalError, e.to_string()))
            })
            .transpose()?;
        self.file_with(READ_POLICY, raw, spec)
    }

    /// What a copy, move or link creates at `dest`: judged at the names it
    /// creates, its source read from the same directory as the destination.
    fn copy(&mut self, dest: &str, copy: &Copy) -> Result<(), CheckResult> {
        let dirs: Vec<Option<PathBuf>> =
            if Path::new(&copy.from).is_absolute() || self.dirs.is_empty() {
                vec![None]
            } else {
                self.dirs.iter().cloned().map(Some).collect()
            };
        for d in dirs {
            let mut c = copy.clone();
            if let Some(d) = d {
                c.from = super::path::normalize(&d.join(&copy.from))
                    .display()
                    .to_string();
            }
            if c.tree {
                self.tree_is_on_disk(&c.from)?;
            }
            let walk = Walk {
                copy: Some(c),
                ..Walk::default()
            };
            let spec = serde_json::to_value(&walk)
                .map_err(|e| deny(ReasonCode::InternalError, e.to_string()))?;
            self.file_with(WRITE_POLICY, dest, Some(spec))?;
        }
        Ok(())
    }

    /// A tree copy reads its source's names from disk when the call is judged, so
    /// nothing earlier in the same call may change them: a program whose writes
    /// are unknown, or a write at or below the source.
    fn tree_is_on_disk(&self, from: &str) -> Result<(), CheckResult> {
        let below = Path::new(from);
        let written = self.effects.iter().any(|e| {
            e.policy_id == WRITE_POLICY
                && e.context
                    .get("path")
                    .and_then(Value::as_str)
                    .is_some_and(|p| Path::new(p).starts_with(below))
        });
        let by = match (&self.opaque, written) {
            (_, true) => "an earlier command".to_string(),
            (Some(p), false) => p.clone(),
            (None, false) => return Ok(()),
        };
        Err(deny(
            ReasonCode::PathNotAllowed,
            format!("the copy of `{from}` creates what is below it, and {by} in the same call may change that first, so what is on disk now is not what it will copy; copy in a call of its own"),
        ))
    }

    /// The single working directory relative words resolve against, if it is certain.
    fn only_dir(&self) -> Option<&Path> {
        match (self.lost, self.dirs.as_slice()) {
            (false, [d]) => Some(d),
            _ => None,
        }
    }

    fn file_with(
        &mut self,
        policy: &str,
        raw: &str,
        walk: Option<Value>,
    ) -> Result<(), CheckResult> {
        if matches!(
            raw,
            "/dev/null" | "/dev/stdin" | "/dev/stdout" | "/dev/stderr"
        ) {
            return Ok(());
        }
        if raw.starts_with("/dev/tcp/") || raw.starts_with("/dev/udp/") {
            return Err(deny(
                ReasonCode::CommandNotAllowed,
                format!("`{raw}` opens a network connection"),
            ));
        }
        let targets: Vec<String> = if Path::new(raw).is_absolute() || raw.is_empty() {
            vec![raw.to_string()]
        } else if self.lost {
            return Err(deny(
                ReasonCode::CommandNotAllowed,
                format!("`{raw}` is relative to a directory change toolgate cannot follow (`cd -`, `cd $X`, `popd`, or more than {MAX_DIRS} possible directories); use an absolute path"),
            ));
        } else if self.dirs.is_empty() {
            // No working directory: the file pack refuses the relative path.
            vec![raw.to_string()]
        } else {
            self.dirs
                .iter()
                .map(|d| super::path::normalize(&d.join(raw)).display().to_string())
                .collect()
        };
        for t in targets {
            // A walked read and a plain read of one path are different effects.
            let key = match &walk {
                Some(w) => format!("{policy}|{w}"),
                None => policy.to_string(),
            };
            if !self.seen.insert((key, t.clone())) {
                continue;
            }
            if self.effects.len() >= MAX_FILE_EFFECTS {
                return Err(deny(
                    ReasonCode::CommandTooComplex,
                    format!("the command touches more than {MAX_FILE_EFFECTS} files; split it into smaller commands"),
                ));
            }
            let mut context = Map::new();
            context.insert("path".into(), Value::String(t));
            if let Some(c) = self.cwd {
                context.insert("cwd".into(), Value::String(c.into()));
            }
            if let Some(sid) = self.session {
                // A write the command makes is remembered for the session (write, then run).
                context.insert("session".into(), Value::String(sid.into()));
            }
            if let Some(w) = &walk {
                context.insert("walk".into(), w.clone());
            }
            self.effects.push(Effect {
                policy_id: policy.into(),
                context,
            });
        }
        Ok(())
    }

    /// `cd DIR` may or may not have happened by the time later commands run: keep both.
    fn change_dir(&mut self, target: Option<&Word>) {
        if self.lost {
            return;
        }
        match target {
            Some(w) if w.is_literal() && !w.text.is_empty() && w.text != "-" => {
                let next: Vec<PathBuf> = if Path::new(&w.text).is_absolute() {
                    vec![super::path::normalize(Path::new(&w.text))]
                } else {
                    self.dirs
                        .iter()
                        .map(|d| super::path::normalize(&d.join(&w.text)))
                        .collect()
                };
                for n in next {
                    if !self.dirs.contains(&n) {
                        self.dirs.push(n);
                    }
                }
                if self.dirs.len() > MAX_DIRS {
                    self.lost = true;
                }
            }
            _ => self.lost = true,
        }
    }
}

/// Words whose only expansion is a pathname glob, replaced by what bash would
/// expand them to on this file system (sorted; an unmatched glob stays as
/// written, quotes removed). `None` when no word is such a glob.
fn expand_globs(
    input: &CheckInput,
    argv: &[Word],
    fx: &Effects,
) -> Result<Option<Vec<Word>>, CheckResult> {
    let globs: Vec<Option<String>> = argv
        .iter()
        .map(|w| {
            (w.expands && !w.substitutes)
                .then(|| walk::glob_pattern(&w.text))
                .flatten()
        })
        .collect();
    if globs.iter().all(Option::is_none) {
        return Ok(None);
    }
    let Some(dir) = fx.only_dir().map(Path::to_path_buf) else {
        return Ok(None);
    };
    let mut budget = walk::MAX_WALK_ENTRIES;
    let mut out = Vec::new();
    for (w, g) in argv.iter().zip(globs) {
        let Some(pattern) = g else {
            out.push(w.clone());
            continue;
        };
        let literal = |text: String| Word {
            text,
            expands: false,
            substitutes: false,
        };
        match walk::expand_glob(input.env.fs, Some(&dir), &pattern, &mut budget) {
            Ok(Some(names)) => out.extend(names.into_iter().map(literal)),
            Ok(None) => out.push(literal(walk::unescape(&pattern))),
            Err(why) => return Err(deny(ReasonCode::LimitExceeded, why)),
        }
    }
    Ok(Some(out))
}

/// Files a known program reads or writes, from its literal arguments.
fn file_effects(name: &str, argv: &[Word], fx: &mut Effects) -> Result<(), CheckResult> {
    if prog::DIRECTORY_CHANGERS.contains(&name) {
        let operands: Vec<&Word> = argv
            .get(1..)
            .unwrap_or_default()
            .iter()
            .filter(|w| !w.text.starts_with('-'))
            .collect();
        fx.change_dir(match operands.as_slice() {
            [only] if name != "popd" => Some(only),
            _ => None,
        });
        return Ok(());
    }
    let args = argv.get(1..).unwrap_or_default();
    let mut operands: Vec<&Word> = Vec::new();
    let mut end = false;
    let mut pattern_given = false;
    let pattern_opts = prog::PATTERN_FIRST
        .iter()
        .find(|(p, _)| *p == name)
        .map(|(_, o)| *o);
    let outputs: Vec<&str> = prog::OUTPUT_OPTIONS
        .iter()
        .filter(|(p, _)| *p == "*" || *p == name)
        .flat_map(|(_, o)| o.iter().copied())
        .collect();
    let in_place = prog::IN_PLACE
        .iter()
        .find(|(p, _)| *p == name)
        .is_some_and(|(_, o)| {
            args.iter()
                .any(|w| o.iter().any(|x| option_matches(&w.text, x)))
        });
    let mut i = 0;
    while let Some(w) = args.get(i) {
        let t = w.text.as_str();
        i += 1;
        if end || t == "-" || !t.starts_with('-') {
            operands.push(w);
            continue;
        }
        if t == "--" {
            end = true;
            continue;
        }
        if let Some(x) = pattern_opts.and_then(|o| o.iter().find(|x| option_matches(t, x))) {
            pattern_given = true;
            // `-e PATTERN` / `-f FILE`: the next word is the option's value, not an operand.
            if t == *x {
                if let Some(v) = args.get(i) {
                    if matches!(*x, "-f" | "--file" | "--from-file") {
                        fx.file(READ_POLICY, &literal(v)?)?;
                    }
                    i += 1;
                }
                continue;
            }
        }
        // `--file=.env`: a reader's option value may well be a file it reads.
        if let (true, Some((_, v))) = (prog::READERS.contains(&name), t.split_once('=')) {
            if !v.is_empty() {
                fx.file(READ_POLICY, v)?;
            }
        }
        if let Some(o) = outputs.iter().find(|o| option_matches(t, o)) {
            let value = match t.split_once('=') {
                Some((_, v)) => Some(v.to_string()),
                None if t == *o => {
                    i += 1;
                    args.get(i - 1).map(literal).transpose()?
                }
                // `-ofile`: the value is attached.
                None => t.strip_prefix(*o).map(str::to_string),
            };
            if let Some(v) = value {
                fx.file(WRITE_POLICY, &v)?;
            }
        }
    }
    if name == "dd" {
        for w in args {
            if let Some(p) = w.text.strip_prefix("of=") {
                fx.file(WRITE_POLICY, p)?;
            } else if let Some(p) = w.text.strip_prefix("if=") {
                fx.file(READ_POLICY, p)?;
            }
        }
        return Ok(());
    }
    let reads = prog::READERS.contains(&name);
    let writes_all = prog::WRITERS.contains(&name)
        || prog::ALL_OPERANDS_WRITTEN
            .iter()
            .filter(|(p, _)| *p == name)
            .any(|(_, opts)| {
                args.iter()
                    .any(|w| opts.iter().any(|o| option_matches(&w.text, o)))
            });
    let writes_all = writes_all
        || prog::HARD_LINKERS
            .iter()
            .filter(|(p, _)| *p == name)
            .any(|(_, opts)| {
                !args
                    .iter()
                    .any(|w| opts.iter().any(|o| option_matches(&w.text, o)))
            });
    let copies = prog::COPIERS.contains(&name);
    if !(reads || writes_all || copies || in_place) {
        return Ok(());
    }
    let files: &[&Word] = if pattern_opts.is_some() && !pattern_given && !operands.is_empty() {
        operands.get(1..).unwrap_or_default()
    } else {
        &operands
    };
    if files.is_empty() && prog::LISTERS.contains(&name) {
        fx.file(READ_POLICY, ".")?;
    }
    let target_dir = args
        .iter()
        .any(|w| option_matches(&w.text, "-t") || option_matches(&w.text, "--target-directory"));
    // A destination a copy, move or link creates names in: judged at those names.
    let creates = (copies || name == "mv")
        && !target_dir
        && files.len() >= 2
        && !(name == "install" && has_any(args, &["-d", "--directory"]));
    // First, so a tree copy sees only what earlier commands wrote (a move also
    // writes its sources).
    if let (true, Some(dest)) = (creates, files.last()) {
        destination(name, args, files, &literal(dest)?, fx)?;
    }
    for (k, w) in files.iter().enumerate() {
        if w.is_process_substitution() {
            continue;
        }
        let p = literal(w)?;
        if p == "-" {
            continue;
        }
        let last = k + 1 == files.len();
        if creates && last {
            continue;
        }
        if reads || (copies && (!last || target_dir)) {
            fx.file(READ_POLICY, &p)?;
        }
        if writes_all || in_place || (copies && (last || target_dir)) {
            fx.file(WRITE_POLICY, &p)?;
        }
    }
    Ok(())
}

fn has_any(args: &[Word], options: &[&str]) -> bool {
    args.iter()
        .any(|w| options.iter().any(|o| option_matches(&w.text, o)))
}

/// The names a copy, move or link creates at its last operand `dest`, one
/// source at a time: a move and a recursive copy create the source's tree.
fn destination(
    name: &str,
    args: &[Word],
    files: &[&Word],
    dest: &str,
    fx: &mut Effects,
) -> Result<(), CheckResult> {
    let sources = files
        .get(..files.len().saturating_sub(1))
        .unwrap_or_default();
    let tree = name == "mv"
        || (matches!(name, "cp" | "rsync" | "scp")
            && has_any(args, &["-r", "-R", "-a", "--recursive", "--archive"]));
    let into = if has_any(args, &["-T", "--no-target-directory"]) {
        Some(false)
    } else {
        readers::copy_into(dest, sources.len())
    };
    for s in sources {
        let from = literal(s)?;
        let copy = Copy {
            name: readers::copied_name(&from, name == "rsync"),
            from,
            into,
            tree,
        };
        fx.copy(dest, &copy)?;
    }
    Ok(())
}

/// Whether a program may write files its command line does not name: one
/// toolgate does not model, an interpreter, a runner, a build tool.
fn writes_unknown(name: &str) -> bool {
    !modelled(name)
        || prog::INTERPRETERS.contains(&name)
        || prog::RUNNERS.contains(&name)
        || models::build::MODELLED.contains(&name)
}

/// Whether toolgate knows anything about a program beyond its name: a model,
/// or an entry in the generic tables of [`prog`].
pub fn modelled(name: &str) -> bool {
    models::is_modelled(name)
        || readers::READERS.iter().any(|r| r.programs.contains(&name))
        || prog::RUNNERS.contains(&name)
        || prog::READERS.contains(&name)
        || prog::WRITERS.contains(&name)
        || prog::COPIERS.contains(&name)
        || prog::INTERPRETERS.contains(&name)
        || prog::DIRECTORY_CHANGERS.contains(&name)
        || prog::EXEC_OPTIONS
            .iter()
            .any(|r| r.programs.contains(&name))
        || prog::OUTPUT_OPTIONS.iter().any(|(p, _)| *p == name)
        || prog::IN_PLACE.iter().any(|(p, _)| *p == name)
        || matches!(
            name,
            "dd" | "echo" | "printf" | "pwd" | "true" | "false" | "test" | "[" | "which" | "date"
        )
}

/// What the program's model says it reads, writes or runs (git subcommands,
/// awk and sed programs, tar modes, build-tool options).
/// `walked`: a recursive-reader plan already judged what the command reads
/// (file by file), so the model's reads of whole directories are not repeated.
fn model_effects(
    input: &CheckInput,
    c: &SimpleCommand,
    name: &str,
    argv: &[Word],
    walked: bool,
    fx: &mut Effects,
) -> Result<(), CheckResult> {
    let Some(touches) = models::touches(name, argv) else {
        return Ok(());
    };
    for t in touches.map_err(|r| deny(r.code, r.message))? {
        match t {
            Touch::Read(_) if walked => {}
            Touch::Read(p) => fx.file(READ_POLICY, &p)?,
            // The walk judged each file the pattern reaches.
            Touch::ReadPattern(_) if walked => {}
            Touch::ReadPattern(p) => {
                pattern_read(input, &p)?;
                fx.file(READ_POLICY, &p)?
            }
            Touch::Write(p) => fx.file(WRITE_POLICY, &p)?,
            // The working tree: the command's directory stands for it.
            Touch::Tree => fx.file(WRITE_POLICY, ".")?,
            // The files git lists, each judged as a write; the whole tree when it cannot list them.
            Touch::GitTree(spec) => {
                let listed = fx.only_dir().and_then(|d| {
                    let dir = match &spec.dir {
                        Some(sub) => d.join(sub),
                        None => d.to_path_buf(),
                    };
                    input.env.fs.git_tree(&dir, &spec)
                });
                match listed {
                    Some(paths) => {
                        for p in paths {
                            fx.file(WRITE_POLICY, &p.to_string_lossy())?;
                        }
                    }
                    // `restore PATH`, `checkout -- PATH`: a named file is that file;
                    // a directory or a pattern may hold names git would create.
                    None if spec.restore_from.is_some() && !spec.paths.is_empty() => {
                        let base = spec.dir.as_deref().unwrap_or(".");
                        for p in &spec.paths {
                            let raw = if p.starts_with('/') {
                                p.clone()
                            } else {
                                format!("{base}/{p}")
                            };
                            let is_dir = fx.only_dir().is_none_or(|d| {
                                let abs = super::path::normalize(&d.join(&raw));
                                input.env.fs.read_dir(&abs).is_some()
                            });
                            if is_dir || p.starts_with(':') || p.contains(['*', '?', '[']) {
                                unlisted(fx, &raw, &spec.unlisted)?;
                            } else {
                                fx.file(WRITE_POLICY, &raw)?;
                            }
                        }
                    }
                    None => {
                        let base = spec.dir.as_deref().unwrap_or(".");
                        let dir = match &spec.populate {
                            Some((d, _)) if d.starts_with('/') => d.clone(),
                            Some((d, _)) => format!("{base}/{d}"),
                            None => base.to_string(),
                        };
                        unlisted(fx, &dir, &spec.unlisted)?
                    }
                }
            }
            Touch::Unlisted { dir, why } => unlisted(fx, &dir, &why)?,
            Touch::Extract(spec) => extraction(input, c, &spec, fx)?,
            Touch::Environment(what) => {
                if !input.hits.effects_only()
                    && !bool_limit(input, "allow_expansion")?.unwrap_or(false)
                {
                    return Err(deny(
                        ReasonCode::CommandExpansionNotAllowed,
                        format!("{what}, which needs limits.{}.allow_expansion, as `$VAR` in the shell does", input.capability),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// An extraction writes what the archive or patch names: the edge lists the
/// names, each is judged as a write. What cannot be listed is refused: a
/// source on standard input, one an earlier command of the same call may
/// write, one that does not exist yet, or one the reader refuses.
fn extraction(
    input: &CheckInput,
    c: &SimpleCommand,
    spec: &super::extract::Extract,
    fx: &mut Effects,
) -> Result<(), CheckResult> {
    let refuse = |why: String| Err(deny(ReasonCode::PathNotAllowed, why));
    let what = format!(
        "`{}` creates the files the {} names",
        spec.program, spec.format
    );
    let source = match (&spec.source, c.redirects.as_slice()) {
        (Some(s), _) => s.clone(),
        // `tar x < a.tar`, `patch -p1 < x.diff`: a file on standard input is still a file.
        (None, [.., Redirect::Read(f)]) if !c.stdin.pipe && !c.stdin.inline => f.clone(),
        (None, _) => {
            return refuse(format!(
                "{what}, and reads the {} from standard input (a pipe, `-f -`, or no file named), so they cannot be listed in advance; write it to a file first and name it (`tar -xf FILE`, `patch -i FILE`)",
                spec.format
            ))
        }
    };
    let Some(dir) = fx.only_dir() else {
        return refuse(format!(
            "{what}, and the directory `{source}` is relative to is not certain (no working directory, or a `cd` toolgate cannot follow); use an absolute path"
        ));
    };
    let abs = super::path::normalize(&dir.join(&source));
    let written = fx.effects.iter().any(|e| {
        e.policy_id == WRITE_POLICY
            && e.context.get("path").and_then(Value::as_str) == Some(&abs.to_string_lossy())
    });
    if let Some(w) = fx
        .opaque
        .as_deref()
        .filter(|_| !written)
        .map(str::to_string)
        .or(written.then(|| "an earlier command".to_string()))
    {
        return refuse(format!(
            "{what}, and {w} in the same call may write `{source}` first, so what is on disk now is not what it will read; extract in a call of its own once the file is written"
        ));
    }
    let members = input
        .env
        .fs
        .archive_members(&abs, spec.format)
        .map_err(|e| {
            deny(
                ReasonCode::PathNotAllowed,
                format!("{what}, which toolgate could not list: {e}; extract only a tar, tar.gz or zip file that exists, or ask the user to extract it"),
            )
        })?;
    let paths = super::extract::destinations(spec, &members)
        .map_err(|e| deny(ReasonCode::PathNotAllowed, format!("{what}: {e}")))?;
    for p in paths {
        fx.file(WRITE_POLICY, &p)?;
    }
    Ok(())
}

/// Files below `raw` that nothing can name before the command runs (a clone,
/// a pull from the network): any of them could be a protected name
/// (`.claude/settings.json`, `.toolgate/`, which are protected wherever they
/// are), so the command is refused, saying why and what to run instead.
fn unlisted(fx: &Effects, raw: &str, why: &str) -> Result<(), CheckResult> {
    let dir = if Path::new(raw).is_absolute() {
        Some(super::path::normalize(Path::new(raw)))
    } else {
        fx.only_dir().map(|d| super::path::normalize(&d.join(raw)))
    };
    let place = dir.map_or("the directory it runs in".to_string(), |d| {
        d.display().to_string()
    });
    Err(deny(
        ReasonCode::PathNotAllowed,
        format!("{why}. Any file below {place} may be created or changed by it, a protected one (`.claude/`, `.toolgate/`, a hook config) included"),
    ))
}

/// A pattern the program matches itself (`git log -- '*.env'`) reads files no
/// one named: refused when its last component and the last component of a
/// blocked read glob could name the same file (either matches the other's text).
fn pattern_read(input: &CheckInput, pattern: &str) -> Result<(), CheckResult> {
    let blocked = input
        .passport
        .limits_for("data.file.read")
        .and_then(|l| l.get("blocked_paths"))
        .and_then(Value::as_array);
    let last = |g: &str| g.rsplit('/').next().unwrap_or(g).to_string();
    let mine = last(pattern);
    let matcher = |g: &str| {
        globset::GlobBuilder::new(g)
            .case_insensitive(true)
            .literal_separator(true)
            .build()
            .ok()
            .map(|g| g.compile_matcher())
    };
    let my_glob = matcher(&mine);
    // A pathspec cannot leave the repository (nor match inside `.git/`), so
    // only relative globs of the project matter.
    let in_tree = |b: &&str| !b.starts_with(['/', '~']) && !b.starts_with(".git/");
    for b in blocked
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(in_tree)
    {
        let theirs = last(b);
        let hit = my_glob.as_ref().is_some_and(|m| m.is_match(&theirs))
            || matcher(&theirs).is_some_and(|m| m.is_match(&mine))
            || theirs == "**";
        if hit {
            return Err(deny(
                ReasonCode::PathNotAllowed,
                format!("the pattern `{pattern}` may match files under blocked `{b}`; name the files instead"),
            ));
        }
    }
    Ok(())
}

/// A file argument must be literal for its effect to be checked.
fn literal(w: &Word) -> Result<String, CheckResult> {
    if w.is_literal() {
        Ok(w.text.clone())
    } else {
        Err(deny(
            ReasonCode::CommandExpansionNotAllowed,
            format!("the file argument `{}` is computed by the shell, so the file it touches is unknown", w.text),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<Word> {
        shell::analyze(s).unwrap().commands.remove(0).argv
    }

    #[test]
    fn prefixes_match_on_word_boundaries() {
        assert_eq!(prefix_len("git status", &argv("git status -s")), Some(2));
        assert_eq!(prefix_len("git status", &argv("git push")), None);
        assert_eq!(prefix_len("git status", &argv("git -c x status")), None);
        assert_eq!(prefix_len("ls", &argv("lsblk")), None);
        assert_eq!(prefix_len("echo $HOME", &argv("echo $HOME")), None);
        assert_eq!(prefix_len("git status -s -v", &argv("git status -s")), None);
        assert_eq!(prefix_len("  ", &argv("git status")), None);
        assert_eq!(prefix_len(" git\tstatus ", &argv("git status")), Some(2));
    }

    proptest::proptest! {
        /// The word-by-word reading answers what comparing the collected entry words
        /// with the command's words answers (how it was read before).
        #[test]
        fn prefix_len_is_the_collected_comparison(
            entry in "[ab\t ]{0,8}",
            cmd in "[ab$ ]{1,8}",
        ) {
            proptest::prop_assume!(shell::analyze(&cmd).is_ok_and(|s| !s.commands.is_empty()));
            let argv = argv(&cmd);
            let want: Vec<&str> = entry.split_whitespace().collect();
            let ok = !want.is_empty()
                && want.len() <= argv.len()
                && want.iter().zip(&argv).all(|(e, w)| w.is_literal() && *e == w.text);
            proptest::prop_assert_eq!(prefix_len(&entry, &argv), ok.then_some(want.len()));
        }
    }

    #[test]
    fn patterns_match_normalized_argv() {
        for cmd in [
            "rm -rf /",
            "rm -r -f /",
            "rm -fr x",
            "rm --recursive --force x",
            "/bin/rm -Rf x",
            "rm x -rf",
        ] {
            assert!(pattern_matches("rm -rf", &argv(cmd)), "{cmd}");
        }
        assert!(!pattern_matches("rm -rf", &argv("rm -r x")));
        assert!(pattern_matches(
            "git push --force",
            &argv("git push -f origin main")
        ));
        assert!(pattern_matches(
            "git push --force",
            &argv("git push origin +main")
        ));
        assert!(!pattern_matches(
            "git push --force",
            &argv("git pull --force")
        ));
        assert!(!pattern_matches("sudo", &argv("echo sudo")));
    }
}
