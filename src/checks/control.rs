//! Write, then run: the agent writes a file that a later allowed command
//! loads as code or configuration (`Makefile` for `make`, `conftest.py` for
//! `pytest`, a script it then runs). The session's writes come from the state
//! (folded from the audit log); which files control which programs is data in
//! the pack. A hit is a review naming the file, never a silent allow.

use super::programs::base_name;
use super::shell;
use super::{string_field, CheckInput, CheckResult};
use crate::packs::ControlRule;
use crate::reason::{Reason, ReasonCode};
use crate::state::WROTE_TOO_MANY;
use globset::GlobBuilder;
use std::path::Path;

pub fn check(input: &CheckInput, field: &str, rules: &[ControlRule]) -> CheckResult {
    let (cmd, session, cwd) = match (
        string_field(input, field),
        string_field(input, "session"),
        string_field(input, "cwd"),
    ) {
        (Ok(Some(c)), Ok(Some(s)), Ok(cwd)) => (c, s, cwd),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return e,
        _ => return CheckResult::Skip("no session to remember writes in".into()),
    };
    let Some(written) = input.state.written_in(session) else {
        return CheckResult::pass("the agent changed no file in this session");
    };
    // The command check has already refused what does not parse.
    let Ok(script) = shell::analyze(cmd) else {
        return CheckResult::Skip("the command does not parse".into());
    };
    let abs = |raw: &str| -> Option<String> {
        super::path::resolve(raw, cwd)
            .ok()
            .map(|p| p.display().to_string())
    };
    let review = |program: &str, file: &str, how: &str| {
        CheckResult::Review(Reason::new(
            ReasonCode::ControlFileChanged,
            format!(
                "`{program}` {how} {file}, which the agent changed earlier in this session; a person should look at the change before it runs"
            ),
        ))
    };
    for c in &script.commands {
        let Some(program) = c.program() else { continue };
        let name = base_name(program);
        if program.contains('/') {
            if let Some(p) = abs(program).filter(|p| written.contains(p)) {
                return review(name, &p, "is");
            }
        }
        for rule in rules
            .iter()
            .filter(|r| r.programs.iter().any(|p| p == name))
        {
            if written.contains(WROTE_TOO_MANY) && !rule.files.is_empty() {
                return review(
                    name,
                    "its configuration (more writes than toolgate remembers)",
                    "loads",
                );
            }
            if rule.script_operand {
                let script = c
                    .argv
                    .get(1..)
                    .unwrap_or_default()
                    .iter()
                    .find(|w| !w.text.starts_with('-'))
                    .filter(|w| w.is_literal());
                if let Some(p) = script
                    .and_then(|w| abs(&w.text))
                    .filter(|p| written.contains(p))
                {
                    return review(name, &p, "runs");
                }
            }
            // Where the program really loads from: the working directory and its `-C DIR`
            // (each relative to the last; both kept, since an option of that name may not
            // change directory in every program of the rule), manifest and operand directories.
            let run_dir = config_values(&c.argv, &rule.dir_options)
                .into_iter()
                .try_fold(cwd.map(str::to_owned), |dir, d| {
                    super::path::resolve(d, dir.as_deref())
                        .ok()
                        .map(|p| Some(p.display().to_string()))
                })
                .flatten();
            let mut bases: Vec<String> = cwd.map(str::to_owned).into_iter().collect();
            bases.extend(run_dir.filter(|d| Some(d.as_str()) != cwd));
            let in_bases = |raw: &str| -> Vec<String> {
                bases
                    .iter()
                    .filter_map(|b| super::path::resolve(raw, Some(b)).ok())
                    .map(|p| p.display().to_string())
                    .collect()
            };
            let manifests: Vec<String> = config_values(&c.argv, &rule.manifest_options)
                .into_iter()
                .flat_map(&in_bases)
                .collect();
            for p in config_values(&c.argv, &rule.config_options)
                .into_iter()
                .flat_map(&in_bases)
                .chain(manifests.iter().cloned())
            {
                if written.contains(&p) {
                    return review(name, &p, "loads");
                }
            }
            let mut dirs = bases.clone();
            dirs.extend(
                manifests
                    .iter()
                    .filter_map(|m| Path::new(m).parent().map(|d| d.display().to_string())),
            );
            // `pytest /x/a/test_b.py` loads the conftest.py files below /x/a/test_b.py and
            // those of its parents (a parent's own files, not its whole tree).
            let mut parents = vec![];
            if rule.operand_dirs {
                for o in operands(&c.argv).flat_map(&in_bases) {
                    let o = Path::new(&o);
                    parents.extend(o.ancestors().skip(1).map(Path::to_path_buf));
                    dirs.push(o.display().to_string());
                }
            }
            dirs.sort();
            dirs.dedup();
            for g in &rule.files {
                let Ok(m) = GlobBuilder::new(g).literal_separator(true).build() else {
                    continue;
                };
                let m = m.compile_matcher();
                let plain_name = !g.contains('/');
                let hit = written.iter().find(|p| {
                    if Path::new(g).is_absolute() {
                        return m.is_match(p);
                    }
                    let under =
                        |d: &Path| Path::new(p).strip_prefix(d).is_ok_and(|r| m.is_match(r));
                    dirs.iter().any(|d| under(Path::new(d)))
                        || (plain_name && parents.iter().any(|d| under(d)))
                });
                if let Some(p) = hit {
                    return review(name, p, "loads");
                }
            }
        }
    }
    CheckResult::pass(format!(
        "no program here loads any of the {} files changed in this session",
        written.len()
    ))
}

/// The literal words after the program that are not options.
fn operands(argv: &[shell::Word]) -> impl Iterator<Item = &str> {
    argv.iter()
        .skip(1)
        .filter(|w| w.is_literal() && !w.text.starts_with('-'))
        .map(|w| w.text.as_str())
}

/// The values of `options` in a command line: `--opt FILE`, `--opt=FILE`,
/// and a one-letter option's attached value (`-cFILE`).
fn config_values<'a>(argv: &'a [shell::Word], options: &[String]) -> Vec<&'a str> {
    let mut out = vec![];
    for (i, w) in argv.iter().enumerate().skip(1) {
        let t = w.text.as_str();
        for o in options {
            if t == o {
                if let Some(v) = argv.get(i + 1) {
                    out.push(v.text.as_str());
                }
            } else if let Some(v) = t.strip_prefix(o.as_str()) {
                match v.strip_prefix('=') {
                    Some(v) => out.push(v),
                    None if o.len() == 2 && !v.is_empty() => out.push(v),
                    None => {}
                }
            }
        }
    }
    out
}
