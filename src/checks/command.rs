//! Shell commands. A command is allowed only when it is a single simple
//! command whose words, after de-quoting, begin with an allowlisted argv
//! prefix. Anything the splitter does not fully understand (operators,
//! substitutions, redirections, expansions) is denied, never matched by prefix.

use super::{string_field, string_list, CheckInput, CheckResult};
use crate::reason::ReasonCode;

/// Why a command could not be reduced to plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

/// Splits a command into words as a POSIX shell would for the subset it
/// accepts: plain words, single quotes, and double quotes without `$`, `` ` `` or `\`.
pub fn split_words(cmd: &str) -> Result<Vec<String>, Unsupported> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => return Err(Unsupported("unterminated single quote".into())),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(ch @ ('$' | '`' | '\\')) => {
                            return Err(Unsupported(format!("`{ch}` inside double quotes")))
                        }
                        Some(ch) => cur.push(ch),
                        None => return Err(Unsupported("unterminated double quote".into())),
                    }
                }
            }
            c if c.is_ascii_alphanumeric() || "-_./=:,@%+^".contains(c) => {
                in_word = true;
                cur.push(c);
            }
            c if !c.is_ascii() && !c.is_whitespace() && !c.is_control() => {
                in_word = true;
                cur.push(c);
            }
            other => {
                return Err(Unsupported(format!(
                    "shell syntax `{}` is not evaluated",
                    other.escape_default()
                )))
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Whether `argv` starts with the words of `entry`, on word boundaries.
pub fn prefix_matches(entry: &str, argv: &[String]) -> bool {
    let want: Vec<&str> = entry.split_whitespace().collect();
    !want.is_empty() && want.len() <= argv.len() && want.iter().zip(argv).all(|(w, a)| *w == a)
}

pub fn check(input: &CheckInput, field: &str, allowed: &str, blocked: Option<&str>) -> CheckResult {
    let cmd = match string_field(input, field) {
        Ok(Some(c)) => c,
        Ok(None) => {
            return CheckResult::deny(
                ReasonCode::InvalidContext,
                format!("the call has no `{field}`"),
            )
        }
        Err(e) => return e,
    };
    let argv = match split_words(cmd) {
        Ok(w) if w.is_empty() => {
            return CheckResult::deny(ReasonCode::InvalidContext, "the command is empty")
        }
        Ok(w) => w,
        Err(Unsupported(why)) => {
            return CheckResult::deny(ReasonCode::CommandChainUnsupported, why)
        }
    };
    if argv[0].contains('=') {
        return CheckResult::deny(
            ReasonCode::CommandNotAllowed,
            format!("environment assignment `{}` before the command", argv[0]),
        );
    }
    let normalized = argv.join(" ");
    if let Some(name) = blocked {
        match string_list(input, name) {
            Ok(Some(patterns)) => {
                if let Some(p) = patterns
                    .iter()
                    .find(|p| !p.is_empty() && normalized.contains(*p))
                {
                    return CheckResult::deny(
                        ReasonCode::BlockedPattern,
                        format!("the command matches blocked pattern `{p}`"),
                    );
                }
            }
            Ok(None) => {}
            Err(e) => return e,
        }
    }
    let entries = match string_list(input, allowed) {
        Ok(Some(l)) => l,
        Ok(None) => {
            return CheckResult::deny(
                ReasonCode::PolicyError,
                format!(
                    "limits.{}.{allowed} is not set, so no command is allowed",
                    input.capability
                ),
            )
        }
        Err(e) => return e,
    };
    match entries.iter().find(|e| prefix_matches(e, &argv)) {
        Some(e) => CheckResult::pass(format!("`{normalized}` matches allowed `{e}`")),
        None => CheckResult::deny(
            ReasonCode::CommandNotAllowed,
            format!("`{normalized}` is not an allowed command"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dequotes_and_refuses_syntax() {
        assert_eq!(
            split_words("'r'm -rf \"x y\"").unwrap(),
            vec!["rm", "-rf", "x y"]
        );
        for bad in [
            "ls; rm -rf /",
            "ls && x",
            "ls | sh",
            "echo $(id)",
            "echo `id`",
            "cat < x",
            "ls > f",
            "a\nb",
            "\\rm",
            "ls *",
            "echo \"$HOME\"",
            "(ls)",
            "ls &",
        ] {
            assert!(split_words(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes_match_on_word_boundaries() {
        let argv = |s: &str| split_words(s).unwrap();
        assert!(prefix_matches("git status", &argv("git status -s")));
        assert!(!prefix_matches("git status", &argv("git push")));
        assert!(!prefix_matches("git status", &argv("git -c x status")));
        assert!(!prefix_matches("ls", &argv("lsblk")));
    }
}
