//! What a copy, move or link creates at its destination. The destination
//! operand is either a directory the source goes into or the new name itself,
//! and a recursive copy or a move creates every name below the source there
//! too. Each is judged as the write it is: `cp -r /tmp/x/. sub` cannot create
//! `sub/.claude/` unseen, and `cp notes.txt .` writes `./notes.txt`, not the
//! project directory.

use super::{judge as judge_path, resolve};
use crate::checks::walk::{self, Copy, Stop, Walk};
use crate::checks::{CheckInput, CheckResult};
use crate::packs::Access;
use crate::reason::ReasonCode;
use crate::state::StateChange;
use std::path::{Path, PathBuf};

/// The most names one copy may create; past it the copy is refused rather
/// than judged in part.
pub const MAX_COPIED: usize = 4096;

/// `(allowed, blocked, walk)`: the names of the write check's limits and of
/// the context field that carries the copy.
pub(super) type Fields<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);

/// Judges the names `copy` creates at the destination operand `raw`.
pub(super) fn judge(
    input: &CheckInput,
    field: &str,
    raw: &str,
    cwd: Option<&str>,
    copy: &Copy,
    (allowed, blocked, walk_field): Fields,
) -> Result<CheckResult, CheckResult> {
    let refuse = |why: String| CheckResult::deny(ReasonCode::PathNotAllowed, why);
    let dest = resolve(raw, cwd).map_err(refuse)?;
    let from = resolve(&copy.from, cwd).map_err(refuse)?;
    let into = copy.into.unwrap_or_else(|| is_dir(input, &dest));
    let target = match (&copy.name, into) {
        (Some(name), true) => dest.join(name),
        _ => dest,
    };
    let mut context = input.context.clone();
    if let Some(w) = walk_field {
        context.remove(w);
    }
    let mut one = Created {
        input,
        field,
        allowed,
        blocked,
        context,
    };
    let tree = copy.tree && is_dir(input, &from);
    // A directory a tree is copied into is merged with, not replaced: only the
    // names created in it are written.
    let mut changes = if tree && is_dir(input, &target) {
        vec![]
    } else {
        one.judge(&target)?
    };
    if !tree {
        return Ok(pass(format!("{} is allowed", target.display()), changes));
    }
    let created = one.tree(copy, &from, &target, &mut changes)?;
    Ok(pass(
        format!(
            "{} is allowed, and the {created} names copied below it",
            target.display()
        ),
        changes,
    ))
}

/// One name a copy creates, judged as a plain write of the check.
struct Created<'a> {
    input: &'a CheckInput<'a>,
    field: &'a str,
    allowed: Option<&'a str>,
    blocked: Option<&'a str>,
    context: serde_json::Map<String, serde_json::Value>,
}

impl Created<'_> {
    fn judge(&mut self, path: &Path) -> Result<Vec<StateChange>, CheckResult> {
        self.context
            .insert(self.field.into(), path.display().to_string().into());
        let plain = CheckInput {
            context: &self.context,
            ..*self.input
        };
        match judge_path(
            &plain,
            self.field,
            Access::Write,
            self.allowed,
            self.blocked,
            None,
        ) {
            Ok(CheckResult::Pass { changes, .. }) => Ok(changes),
            Ok(other) | Err(other) => Err(other),
        }
    }

    /// Every name below `from`, created below `target`; returns how many.
    fn tree(
        &mut self,
        copy: &Copy,
        from: &Path,
        target: &Path,
        changes: &mut Vec<StateChange>,
    ) -> Result<usize, CheckResult> {
        let w = Walk {
            reader: "the copy".into(),
            copy: Some(copy.clone()),
            ..Walk::default()
        };
        let mut created = 0usize;
        let walked = walk::walk(self.input.env.fs, from, None, &w, |v| {
            created += 1;
            let made = target.join(v.path.strip_prefix(from).unwrap_or(v.path));
            if created > MAX_COPIED {
                return Err(CheckResult::deny(
                    ReasonCode::LimitExceeded,
                    format!(
                        "the copy of {} creates more than {MAX_COPIED} names below {}, more than toolgate judges one by one; copy narrower directories",
                        from.display(),
                        target.display()
                    ),
                ));
            }
            match self.judge(&made) {
                Ok(c) => {
                    changes.extend(c);
                    Ok(())
                }
                Err(CheckResult::Deny(mut r)) => {
                    r.message = format!(
                        "copying {} creates {}: {}",
                        v.path.display(),
                        made.display(),
                        r.message
                    );
                    Err(CheckResult::Deny(r))
                }
                Err(other) => Err(other),
            }
        });
        match walked {
            Ok(_) => Ok(created),
            Err(Stop::Refused(r)) => Err(r),
            Err(Stop::Budget(why)) => Err(CheckResult::deny(
                ReasonCode::LimitExceeded,
                format!("{why}; copy narrower directories"),
            )),
        }
    }
}

fn pass(detail: String, changes: Vec<StateChange>) -> CheckResult {
    CheckResult::Pass {
        detail,
        effects: vec![],
        changes,
    }
}

/// Whether `path` is an existing directory (through links, as the copy sees it).
fn is_dir(input: &CheckInput, path: &Path) -> bool {
    let fs = input.env.fs;
    let real: PathBuf = fs.canonicalize(path).unwrap_or_else(|| path.to_path_buf());
    fs.read_dir(&real).is_some()
}
