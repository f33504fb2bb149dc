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
            for w in config_values(&c.argv, &rule.config_options) {
                if let Some(p) = abs(w).filter(|p| written.contains(p)) {
                    return review(name, &p, "loads");
                }
            }
            for g in &rule.files {
                let full = match (Path::new(g).is_absolute(), cwd) {
                    (true, _) => g.clone(),
                    (false, Some(c)) => format!("{}/{g}", globset::escape(c.trim_end_matches('/'))),
                    (false, None) => continue,
                };
                let Ok(m) = GlobBuilder::new(&full).literal_separator(true).build() else {
                    continue;
                };
                let m = m.compile_matcher();
                if let Some(p) = written.iter().find(|p| m.is_match(p)) {
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
