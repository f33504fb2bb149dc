//! `toolgate doctor`: proves the whole chain for every installed host, up to
//! running the exact installed command the way the host would.

use super::{canary, config_path, installed_commands, layout, read_config, Dirs, Scope};
use crate::call::HostKind;
use crate::home::Locations;
use crate::hosts::{self, Answer, HOOK_HOSTS};
use crate::passport::{self, PassportError, Status, TrustStore};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a canary run may take before it counts as a failure (hosts time out too).
pub const CANARY_TIMEOUT: Duration = Duration::from_secs(15);

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Row {
    /// `toolgate` for the shared checks, else `<host> (<scope>)`.
    pub subject: String,
    pub check: &'static str,
    pub ok: bool,
    pub detail: String,
    /// What to run or change when the check failed.
    pub fix: Option<String>,
}

fn row(subject: &str, check: &'static str, result: Result<String, (String, String)>) -> Row {
    match result {
        Ok(detail) => Row {
            subject: subject.into(),
            check,
            ok: true,
            detail,
            fix: None,
        },
        Err((detail, fix)) => Row {
            subject: subject.into(),
            check,
            ok: false,
            detail,
            fix: Some(fix),
        },
    }
}

/// Runs every check. `cwd` is where canary calls pretend to run.
pub fn run(loc: &Locations, dirs: &Dirs, cwd: &Path) -> Vec<Row> {
    let mut rows = shared_checks(loc);
    let mut any = false;
    for host in HOOK_HOSTS {
        for scope in Scope::for_host(host) {
            let Ok(path) = config_path(host, *scope, dirs) else {
                continue;
            };
            let subject = format!("{} ({})", host.as_str(), scope.as_str());
            match read_config(&path, host) {
                Ok(Some((doc, _))) if !installed_commands(&doc, host).is_empty() => {
                    any = true;
                    rows.extend(host_checks(host, &subject, &path, &doc, loc, cwd));
                }
                Ok(_) => {}
                Err(e) => {
                    // A file toolgate cannot read may still hold its hook: say so.
                    rows.push(row(
                        &subject,
                        "config valid",
                        Err((e.to_string(), format!("repair {}", path.display()))),
                    ));
                }
            }
        }
    }
    if !any {
        rows.push(row(
            "toolgate",
            "hook installed",
            Err((
                "no host configuration calls toolgate".into(),
                "toolgate install claude-code (or cursor, codex, gemini, copilot)".into(),
            )),
        ));
    }
    rows
}

fn shared_checks(loc: &Locations) -> Vec<Row> {
    let me = "toolgate";
    let mut rows = Vec::new();
    let trust = TrustStore::load_dir(&loc.trust_dir.path);
    let verified = match &trust {
        Ok(t) => passport::load_verified(&loc.passport.path, t),
        Err(e) => Err(PassportError::Unreadable {
            path: loc.trust_dir.path.clone(),
            why: e.to_string(),
        }),
    };
    let found = !matches!(verified, Err(PassportError::NotFound(_)));
    rows.push(row(
        me,
        "passport found",
        if found {
            Ok(loc.passport.path.display().to_string())
        } else {
            Err((
                format!("no passport at {}", loc.passport.path.display()),
                "toolgate init --template coding-agent".into(),
            ))
        },
    ));
    if found {
        rows.push(row(
            me,
            "signed by trusted key",
            match &verified {
                Ok(v) => Ok(format!("{} (signed {})", v.signer_kid, v.signed_at)),
                Err(e) => Err((
                    format!("{e} ({})", e.code()),
                    "toolgate passport sign, and toolgate trust add <issuer public key>".into(),
                )),
            },
        ));
    }
    if let Ok(v) = &verified {
        let p = &v.passport;
        let expired = p
            .expires()
            .is_some_and(|e| e <= time::OffsetDateTime::now_utc());
        rows.push(row(
            me,
            "active and unexpired",
            if p.status != Status::Active {
                Err((
                    format!("status is {}", p.status.as_str()),
                    "issue a new passport: toolgate passport new --sign --force".into(),
                ))
            } else if expired {
                Err((
                    format!("expired at {}", p.expires_at.as_deref().unwrap_or("?")),
                    "issue a new passport: toolgate passport new --sign --force".into(),
                ))
            } else {
                Ok(format!(
                    "active, {}",
                    p.expires_at
                        .as_deref()
                        .map_or("no expiry".to_string(), |e| format!("expires {e}"))
                ))
            },
        ));
    }
    rows.push(row(
        me,
        "evaluator key",
        passport::KeyPair::load(&loc.key.path)
            .map(|k| format!("{} ({})", k.kid(), loc.key.path.display()))
            .map_err(|e| {
                (
                    e.to_string(),
                    "toolgate init (or toolgate keygen --trust)".into(),
                )
            }),
    ));
    rows.push(row(
        me,
        "audit log writable",
        audit_writable(&loc.audit_log.path),
    ));
    rows
}

fn audit_writable(path: &Path) -> Result<String, (String, String)> {
    let fix = format!(
        "make {} writable (or set TOOLGATE_AUDIT_LOG)",
        path.parent().unwrap_or(path).display()
    );
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| (format!("{}: {e}", dir.display()), fix.clone()))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(|_| path.display().to_string())
        .map_err(|e| (format!("{}: {e}", path.display()), fix))
}

fn host_checks(
    host: HostKind,
    subject: &str,
    path: &Path,
    doc: &Value,
    loc: &Locations,
    cwd: &Path,
) -> Vec<Row> {
    let mut rows = vec![row(subject, "config valid", validate(host, doc, path))];
    let installed = installed_commands(doc, host);
    let l = layout(host);
    let missing: Vec<&str> = l
        .events
        .iter()
        .filter(|e| !installed.iter().any(|(ev, _)| ev == *e))
        .copied()
        .collect();
    rows.push(row(
        subject,
        "hook on every event",
        if missing.is_empty() {
            Ok(l.events.join(", "))
        } else {
            Err((
                format!("no toolgate hook for {}", missing.join(", ")),
                format!("toolgate install {}", host.as_str()),
            ))
        },
    ));
    let command = installed[0].1.clone();
    let program = PathBuf::from(super::command_program(&command));
    let exec = executable(&program);
    rows.push(row(
        subject,
        "binary executable",
        if exec {
            Ok(program.display().to_string())
        } else {
            Err((
                format!(
                    "{} is missing or not executable (the host would fail open)",
                    program.display()
                ),
                format!(
                    "toolgate install {} (from the toolgate you want it to run)",
                    host.as_str()
                ),
            ))
        },
    ));
    if !exec {
        return rows;
    }
    let cwd_s = cwd.to_string_lossy();
    let target = loc.passport.path.to_string_lossy();
    for (forbidden, check) in [(true, "canary deny"), (false, "canary allow")] {
        let input = canary::call(host, forbidden, &cwd_s, &target).to_string();
        let result = run_hook(&command, &input, cwd, &[]).and_then(|a| {
            let denied = hosts::is_deny(host, &a);
            let summary = format!(
                "exit {}, {}{}",
                a.exit_code,
                if denied { "denied" } else { "allowed" },
                reason_code(&a)
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            );
            match (forbidden, denied) {
                (true, true) => Ok(summary),
                (false, false) if a.exit_code == 0 => Ok(summary),
                _ => Err(format!(
                    "{summary} {}; expected {}",
                    a.stderr.trim(),
                    if forbidden { "a deny" } else { "an allow" }
                )),
            }
        });
        rows.push(row(
            subject,
            check,
            result.map_err(|d| {
                (
                    d,
                    "fix the rows above; run the command by hand with `--explain`".into(),
                )
            }),
        ));
    }
    rows
}

/// The `oap.*` code an answer names, for a short report line.
fn reason_code(a: &Answer) -> Option<String> {
    let text = format!("{} {}", a.stdout, a.stderr);
    let start = text.rfind("(oap.")? + 1;
    let end = text[start..].find(')')? + start;
    Some(text[start..end].to_string())
}

/// The installed hook command run as the host runs it: `sh -c`, JSON on
/// stdin, this process's environment plus `env`.
pub fn run_hook(
    command: &str,
    input: &str,
    cwd: &Path,
    env: &[(&str, &Path)],
) -> Result<Answer, String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .envs(env.iter().copied())
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run sh: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > CANARY_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer within {}s", CANARY_TIMEOUT.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(e.to_string()),
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    Ok(Answer {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        exit_code: out.status.code().unwrap_or(-1),
    })
}

fn executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.is_absolute()
            && std::fs::metadata(p)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// Structural checks of a host's hook section, the parts that make a host
/// ignore hooks silently (one invalid matcher group disables every hook in
/// a Claude Code settings file).
pub fn validate(host: HostKind, doc: &Value, path: &Path) -> Result<String, (String, String)> {
    let fail = |why: String| Err((why, format!("repair {}", path.display())));
    let l = layout(host);
    let Some(hooks) = doc.get("hooks").and_then(Value::as_object) else {
        return fail("no \"hooks\" object".into());
    };
    if doc.get("disableAllHooks") == Some(&Value::Bool(true)) {
        return fail("\"disableAllHooks\": true turns every hook off".into());
    }
    if l.versioned && doc.get("version").and_then(Value::as_u64) != Some(1) {
        return fail("\"version\" must be 1".into());
    }
    for (event, arr) in hooks {
        if host == HostKind::Gemini
            && ["enabled", "disabled", "notifications"].contains(&event.as_str())
        {
            continue;
        }
        let Some(items) = arr.as_array() else {
            return fail(format!("hooks.{event} is not an array"));
        };
        for (i, item) in items.iter().enumerate() {
            let at = format!("hooks.{event}[{i}]");
            let Some(obj) = item.as_object() else {
                return fail(format!("{at} is not an object"));
            };
            let handlers: Vec<&Value> = if l.grouped {
                if let Some(k) = obj
                    .keys()
                    .find(|k| !["matcher", "hooks", "sequential"].contains(&k.as_str()))
                {
                    return fail(format!("{at} has an unknown key `{k}`"));
                }
                if obj.get("matcher").is_some_and(|m| !m.is_string()) {
                    return fail(format!("{at}.matcher is not a string"));
                }
                match obj.get("hooks").and_then(Value::as_array) {
                    Some(hs) => hs.iter().collect(),
                    None => return fail(format!("{at}.hooks is not an array")),
                }
            } else {
                vec![item]
            };
            for h in handlers {
                let cmd = h.get(l.command_key).or_else(|| h.get("command"));
                let prompt_like = h
                    .get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t != "command");
                let has_command = cmd.and_then(Value::as_str).is_some_and(|c| !c.is_empty());
                if !prompt_like && !has_command {
                    return fail(format!("{at} has a hook without a command"));
                }
                if let Some(t) = h.get("timeout").or_else(|| h.get("timeoutSec")) {
                    if !t.as_f64().is_some_and(|t| t > 0.0) {
                        return fail(format!("{at} has a timeout that is not a positive number"));
                    }
                }
            }
        }
    }
    if host == HostKind::Cursor {
        for item in hooks.values().filter_map(Value::as_array).flatten() {
            let ours = item
                .get("command")
                .and_then(Value::as_str)
                .is_some_and(|c| super::is_toolgate_command(c, host));
            if ours && item.get("failClosed") != Some(&Value::Bool(true)) {
                return fail(
                    "toolgate's entry lacks \"failClosed\": true (Cursor would fail open)".into(),
                );
            }
        }
    }
    if host == HostKind::Gemini {
        let off = |ptr: &str| doc.pointer(ptr) == Some(&Value::Bool(false));
        if off("/hooks/enabled") || off("/tools/enableHooks") || off("/hooksConfig/enabled") {
            return fail("the hooks system is switched off in this file".into());
        }
        let disabled = doc
            .pointer("/hooks/disabled")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|n| n == "toolgate"));
        if disabled {
            return fail("\"toolgate\" is listed in hooks.disabled".into());
        }
    }
    Ok(path.display().to_string())
}
