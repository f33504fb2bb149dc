//! `toolgate doctor`: proves the whole chain for every installed host, up to
//! running the exact installed command the way the host would.

use super::{canary, config_path, installed_commands, layout, read_config, Dirs};
use crate::call::HostKind;
use crate::home::Locations;
use crate::hosts::{self, Answer};
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
    for d in hosts::descriptors() {
        let host = d.kind;
        let mut files = Vec::new();
        for scope in d.scopes() {
            let Ok(path) = config_path(host, scope, dirs) else {
                continue;
            };
            let subject = format!("{} ({})", host.as_str(), scope.as_str());
            match read_config(&path, host) {
                Ok(Some((doc, _))) => files.push((subject, path, doc)),
                Ok(None) => {}
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
        let installed: Vec<_> = files
            .iter()
            .filter(|(_, _, doc)| !installed_commands(doc, host).is_empty())
            .collect();
        if installed.is_empty() {
            continue;
        }
        any = true;
        let version = host_version(d.program);
        rows.push(row(
            host.as_str(),
            "host version",
            Ok(match &version {
                Some(v) if d.verified.iter().any(|ok| v.contains(ok)) => {
                    format!("{v} (verified with the real CLI)")
                }
                Some(v) => format!("{v} (not one of the versions verified: {})", verified(d)),
                None => format!(
                    "`{} --version` did not answer; canaries use the newest tool names",
                    d.program
                ),
            }),
        ));
        // An off switch in any of the host's files silences toolgate's hook, wherever that is.
        for (subject, path, doc) in &files {
            let off = (d.off_switches)(doc);
            if !off.is_empty() {
                rows.push(row(
                    subject,
                    "no off switch",
                    Err((off.join("; "), format!("remove it from {}", path.display()))),
                ));
            }
        }
        for (subject, path, doc) in installed {
            rows.extend(host_checks(
                host,
                subject,
                path,
                doc,
                loc,
                cwd,
                version.as_deref(),
                dirs,
            ));
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

fn verified(d: &hosts::Descriptor) -> String {
    if d.verified.is_empty() {
        "none".into()
    } else {
        d.verified.join(", ")
    }
}

/// The first line `<program> --version` prints, when it answers within a few seconds.
pub fn host_version(program: &str) -> Option<String> {
    let mut child = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let started = Instant::now();
    while child.try_wait().ok()?.is_none() {
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.chars().any(|c| c.is_ascii_digit()))?;
    out.status.success().then(|| line.trim().to_string())
}

fn shared_checks(loc: &Locations) -> Vec<Row> {
    let me = "toolgate";
    let mut rows = Vec::new();
    // Where each policy source comes from, so a planted or unexpected one shows.
    let show = |r: &crate::home::Resolved| Ok(format!("{} [{}]", r.path.display(), r.source));
    rows.push(row(me, "passport from", show(&loc.passport)));
    rows.push(row(me, "trust store from", show(&loc.trust_dir)));
    rows.push(row(me, "config from", show(&loc.config)));
    rows.push(row(
        me,
        "packs from",
        Ok(match &loc.packs_dir {
            Some(r) => format!(
                "built in, overridden from {} [{}]",
                r.path.display(),
                r.source
            ),
            None => "built in".into(),
        }),
    ));
    let trust = TrustStore::load_dir(&loc.trust_dir.path);
    let verified = match &trust {
        Ok(t) => passport::load_verified(&loc.passport.path, t),
        Err(e) => Err(PassportError::Unreadable {
            path: loc.trust_dir.path.clone(),
            source: e.to_string().into(),
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
                Ok(v) => Ok(format!("{} (signed {})", v.signer_kid(), v.signed_at())),
                Err(e) => Err((
                    format!("{e} ({})", e.code()),
                    "toolgate passport sign, and toolgate trust add <issuer public key>".into(),
                )),
            },
        ));
    }
    if let Ok(v) = &verified {
        let p = v.passport();
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
                    format!("expired at {}", p.expiry_text().unwrap_or("?")),
                    "issue a new passport: toolgate passport new --sign --force".into(),
                ))
            } else {
                Ok(format!(
                    "active, {}",
                    p.expiry_text()
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
    rows.push(row(
        me,
        "no ungated calls",
        ungated_alarms(&loc.audit_log.path),
    ));
    rows
}

/// How long an ungated-call alarm keeps doctor failing.
const ALARM_WINDOW_SECS: i64 = 7 * 86_400;

/// Alarms near the end of the log from the last week: a tool ran that no allow record covers.
fn ungated_alarms(log: &Path) -> Result<String, (String, String)> {
    let since = time::OffsetDateTime::now_utc().unix_timestamp() - ALARM_WINDOW_SECS;
    let alarms: Vec<_> = crate::ungated::recent_records(log)
        .into_iter()
        .filter(|r| crate::ungated::is_alarm(r) && r.unix_ts() >= since)
        .collect();
    match alarms.last() {
        None => Ok("no tool ran without an allow record in the last 7 days".into()),
        Some(last) => Err((
            format!(
                "{} tool call(s) ran without an allow record (latest: `{}` on {} at {}, seq {})",
                alarms.len(),
                last.tool,
                last.host,
                last.ts,
                last.seq
            ),
            "see `toolgate log --ungated`; find why the pre-tool hook did not run (removed, switched off, untrusted, timed out); doctor reports alarms of the last 7 days".into(),
        )),
    }
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

#[allow(clippy::too_many_arguments)]
fn host_checks(
    host: HostKind,
    subject: &str,
    path: &Path,
    doc: &Value,
    loc: &Locations,
    cwd: &Path,
    version: Option<&str>,
    dirs: &Dirs,
) -> Vec<Row> {
    let mut rows = vec![row(subject, "config valid", validate(host, doc, path))];
    let installed = installed_commands(doc, host);
    let l = layout(host);
    let missing: Vec<&str> = l
        .events
        .iter()
        .chain(l.post_events)
        .filter(|e| !installed.iter().any(|(ev, _)| ev == *e))
        .copied()
        .collect();
    rows.push(row(
        subject,
        "hook on every event",
        if missing.is_empty() {
            Ok(l.events
                .iter()
                .chain(l.post_events)
                .copied()
                .collect::<Vec<_>>()
                .join(", "))
        } else {
            Err((
                format!("no toolgate hook for {}", missing.join(", ")),
                format!("toolgate install {}", host.as_str()),
            ))
        },
    ));
    let Some(command) = installed
        .iter()
        .find(|(_, c)| super::is_gate_command(c))
        .map(|(_, c)| c.clone())
    else {
        return rows;
    };
    if host == HostKind::Codex {
        rows.push(row(subject, "trusted by Codex", codex_trust(path, dirs)));
    }
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
                    "{} is missing or not executable ({})",
                    program.display(),
                    if hosts::descriptor(host).is_some_and(|d| d.shell) {
                        "the shell fallback blocks every call"
                    } else {
                        "the host may fail open"
                    }
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
        let input = canary::call(host, forbidden, &cwd_s, &target, version).to_string();
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
    Ok(path.display().to_string())
}

/// Whether Codex will run toolgate's hooks: asks `codex app-server` (what its
/// `/hooks` screen shows); a hook that is untrusted or `modified` (changed
/// since it was trusted) is skipped by Codex without a word.
fn codex_trust(hooks_file: &Path, dirs: &Dirs) -> Result<String, (String, String)> {
    let fix = "toolgate install codex --trust (or trust it in Codex under /hooks)".to_string();
    match hosts::codex::trust::hook_states(Path::new("codex"), hooks_file, &dirs.project) {
        Ok(states) if states.is_empty() => Err((
            "Codex does not list toolgate's hooks from this file".into(),
            fix,
        )),
        Ok(states) => match states
            .iter()
            .find(|s| s.status != "trusted" && s.status != "managed")
        {
            Some(s) => Err((format!("{} is {} (Codex skips it)", s.key, s.status), fix)),
            None => Ok(format!(
                "{} hook(s) trusted at their current hash",
                states.len()
            )),
        },
        Err(e) => Err((
            format!("cannot ask Codex whether the hooks are trusted: {e}"),
            format!("put codex on PATH and run doctor again; {fix}"),
        )),
    }
}
