//! The command line toolgate installs into a host, and how toolgate recognises its
//! own entry among the user's hooks: the absolute binary, `evaluate` or `observe`,
//! an explicit `--host`, the pinned path flags and, for hosts that run hooks
//! through a shell, the exact fail-closed fallback. Anything more (a second
//! command, a pipe, a variable) is not toolgate's, so it is never rewritten or removed.

use crate::call::HostKind;
use std::path::{Path, PathBuf};

/// The toolgate files a hook uses, pinned on its command line so that a host
/// that strips the environment (Gemini in CI, redaction of `*KEY*`) still
/// runs an enforcing hook against the same passport, key and log.
#[derive(Debug, Clone, Default)]
pub struct HookPaths {
    pub passport: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub trust_dir: Option<PathBuf>,
    pub audit_log: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub packs_dir: Option<PathBuf>,
}

impl HookPaths {
    fn flags(&self, with_passport: bool) -> Vec<(&'static str, &Path)> {
        let passport = if with_passport { &self.passport } else { &None };
        [
            ("--passport", passport),
            ("--key", &self.key),
            ("--trust-dir", &self.trust_dir),
            ("--audit-log", &self.audit_log),
            ("--config", &self.config),
            ("--packs-dir", &self.packs_dir),
        ]
        .into_iter()
        .filter_map(|(flag, p)| p.as_deref().map(|p| (flag, p)))
        .collect()
    }
}

/// What follows toolgate's command for hosts that run hooks through a shell:
/// any status but toolgate's own 0 and 2 (a missing binary's 127, a crash's
/// 128+n) becomes a deny with a reason on stderr (Codex ignores an exit 2
/// with empty stderr).
pub const SHELL_FALLBACK: &str = "; s=$?; [ $s -eq 0 ] || [ $s -eq 2 ] || { echo \"toolgate: the hook could not run (exit $s: binary missing or crashed); denying (oap.internal_error)\" >&2; exit 2; }; exit $s";

/// The two subcommands toolgate installs: the gate and the ungated-call alarm.
const SUBCOMMANDS: [&str; 2] = ["evaluate", "observe"];

/// The shell command a host runs before a tool: the absolute binary, an
/// explicit host, the pinned paths, and the shell fallback where the host has a shell.
pub fn hook_command(binary: &Path, host: HostKind, paths: &HookPaths) -> String {
    let mut cmd = command_line(binary, "evaluate", host, &paths.flags(true));
    if crate::hosts::descriptor(host).is_some_and(|d| d.shell) {
        cmd.push_str(SHELL_FALLBACK);
    }
    cmd
}

/// The command a host runs after a tool ran: `toolgate observe`, which raises
/// the ungated-call alarm when no allow record exists for the call.
pub fn post_command(binary: &Path, host: HostKind, paths: &HookPaths) -> String {
    command_line(binary, "observe", host, &paths.flags(false))
}

fn command_line(binary: &Path, sub: &str, host: HostKind, flags: &[(&str, &Path)]) -> String {
    let mut cmd = format!(
        "{} {sub} --host {}",
        shell_quote(&binary.to_string_lossy()),
        host.as_str()
    );
    for (flag, p) in flags {
        cmd.push_str(&format!(" {flag} {}", shell_quote(&p.to_string_lossy())));
    }
    cmd
}

/// Quotes a word for `sh` only where it needs it.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:@%,".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Splits a command into words as `sh` would for plain words and quotes;
/// `None` when it holds anything else the shell would act on (`;`, `|`, `$`, ...).
pub fn shell_words(cmd: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(cur.take()),
            '\'' => {
                let w = cur.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => w.push(c),
                    }
                }
            }
            '"' => {
                let w = cur.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '$' | '`' | '\\' => return None,
                        c => w.push(c),
                    }
                }
            }
            '\\' => cur.get_or_insert_with(String::new).push(chars.next()?),
            c if ";&|<>()$`*?[#~{}".contains(c) => return None,
            c => cur.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(cur);
    Some(words)
}

/// The program of a hook command (its first shell word, unquoted).
pub fn command_program(cmd: &str) -> String {
    shell_words(strip_fallback(cmd))
        .and_then(|w| w.into_iter().next())
        .unwrap_or_default()
}

fn strip_fallback(cmd: &str) -> &str {
    cmd.trim_end()
        .strip_suffix(SHELL_FALLBACK)
        .unwrap_or(cmd)
        .trim()
}

/// Which host a toolgate hook command is for: its program is `toolgate*`, its
/// subcommand `evaluate` or `observe`, and nothing else follows but path
/// flags (and the exact shell fallback), so a command that also runs
/// something else is never taken for toolgate's.
pub fn toolgate_host(cmd: &str) -> Option<HostKind> {
    let words = shell_words(strip_fallback(cmd))?;
    let [program, sub, flag, host, rest @ ..] = words.as_slice() else {
        return None;
    };
    let named = Path::new(program)
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("toolgate"));
    let flags_ok = rest.chunks(2).all(|pair| {
        matches!(pair, [flag, _] if [
                "--passport",
                "--key",
                "--trust-dir",
                "--audit-log",
                "--config",
                "--packs-dir",
            ]
            .contains(&flag.as_str()))
    });
    (named && SUBCOMMANDS.contains(&sub.as_str()) && flag == "--host" && flags_ok)
        .then(|| HostKind::parse(host))
        .flatten()
}

/// Whether a hook command is toolgate's own for this host.
pub fn is_toolgate_command(cmd: &str, host: HostKind) -> bool {
    toolgate_host(cmd) == Some(host)
}

/// Whether a hook command is toolgate's for any host.
pub fn is_toolgate_any(cmd: &str) -> bool {
    toolgate_host(cmd).is_some()
}

/// Whether a toolgate command is the gate (`evaluate`) rather than the alarm.
pub fn is_gate_command(cmd: &str) -> bool {
    shell_words(strip_fallback(cmd)).is_some_and(|w| w.get(1).is_some_and(|s| s == "evaluate"))
}
