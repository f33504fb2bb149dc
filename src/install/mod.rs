//! Writing toolgate's hook into each host's configuration, and taking it out.
//!
//! Every host keeps hooks as `hooks.<event>` arrays in a JSON file. Claude
//! Code, Codex and Gemini CLI nest handlers in matcher groups; Cursor and
//! Copilot CLI list flat entries beside a `"version": 1`. toolgate's entry is
//! recognised by its command (`<path>/toolgate... evaluate --host <host>`), so
//! re-running install is a no-op, a moved binary is updated in place, and
//! uninstall removes exactly toolgate's entries and nothing of the user's.

pub mod canary;
pub mod doctor;

use crate::call::HostKind;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Seconds a host waits for toolgate before giving up (many hosts then fail open).
pub const TIMEOUT_SECS: u64 = 30;

/// Which configuration file of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The user's home configuration (every project).
    User,
    /// The project's shared configuration (checked in).
    Project,
    /// Claude Code's `.claude/settings.local.json` (this checkout only).
    Local,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Project => "project",
            Scope::Local => "local",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "user" => Some(Scope::User),
            "project" => Some(Scope::Project),
            "local" => Some(Scope::Local),
            _ => None,
        }
    }

    /// The scopes a host has.
    pub fn for_host(host: HostKind) -> &'static [Scope] {
        match host {
            HostKind::ClaudeCode => &[Scope::User, Scope::Project, Scope::Local],
            _ => &[Scope::User, Scope::Project],
        }
    }
}

/// Installer failures; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{host} has no {scope} scope (use one of: {valid})")]
    BadScope {
        host: &'static str,
        scope: &'static str,
        valid: String,
    },
    #[error("toolgate has no hook installer for `{0}`")]
    NotAHookHost(&'static str),
    #[error("{path}: {why}; toolgate will not rewrite it (fix it, or add the fragment from `toolgate install {host} --print` by hand)")]
    Unusable {
        path: PathBuf,
        host: &'static str,
        why: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where configuration files are, injected so tests use a temporary HOME.
#[derive(Debug, Clone)]
pub struct Dirs {
    pub home: PathBuf,
    pub project: PathBuf,
    /// `CODEX_HOME`, when set (default `~/.codex`).
    pub codex_home: Option<PathBuf>,
    /// `COPILOT_HOME`, when set (default `~/.copilot`).
    pub copilot_home: Option<PathBuf>,
}

impl Dirs {
    /// From the environment: `HOME`, the working directory, `CODEX_HOME`, `COPILOT_HOME`.
    pub fn from_env(project: Option<PathBuf>) -> Dirs {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let home = var("HOME")
            .or_else(|| directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf()))
            .unwrap_or_else(|| PathBuf::from("/"));
        Dirs {
            home,
            project: project
                .or_else(|| std::env::current_dir().ok())
                .unwrap_or_else(|| PathBuf::from(".")),
            codex_home: var("CODEX_HOME"),
            copilot_home: var("COPILOT_HOME"),
        }
    }
}

/// The configuration file toolgate writes for a host and scope.
pub fn config_path(host: HostKind, scope: Scope, dirs: &Dirs) -> Result<PathBuf, InstallError> {
    if !Scope::for_host(host).contains(&scope) {
        return Err(InstallError::BadScope {
            host: host.as_str(),
            scope: scope.as_str(),
            valid: Scope::for_host(host)
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let (home, proj) = (&dirs.home, &dirs.project);
    Ok(match (host, scope) {
        (HostKind::ClaudeCode, Scope::User) => home.join(".claude/settings.json"),
        (HostKind::ClaudeCode, Scope::Project) => proj.join(".claude/settings.json"),
        (HostKind::ClaudeCode, Scope::Local) => proj.join(".claude/settings.local.json"),
        (HostKind::Cursor, Scope::User) => home.join(".cursor/hooks.json"),
        (HostKind::Cursor, _) => proj.join(".cursor/hooks.json"),
        (HostKind::Codex, Scope::User) => dirs
            .codex_home
            .clone()
            .unwrap_or_else(|| home.join(".codex"))
            .join("hooks.json"),
        (HostKind::Codex, _) => proj.join(".codex/hooks.json"),
        (HostKind::Gemini, Scope::User) => home.join(".gemini/settings.json"),
        (HostKind::Gemini, _) => proj.join(".gemini/settings.json"),
        (HostKind::Copilot, Scope::User) => dirs
            .copilot_home
            .clone()
            .unwrap_or_else(|| home.join(".copilot"))
            .join("hooks/toolgate.json"),
        (HostKind::Copilot, _) => proj.join(".github/hooks/toolgate.json"),
        (HostKind::Oap, _) => return Err(InstallError::NotAHookHost("oap")),
    })
}

/// How a host lays out its hooks.
pub struct Layout {
    /// The events toolgate's entry is added to.
    pub events: &'static [&'static str],
    /// Handlers sit in `{"matcher", "hooks": [...]}` groups.
    pub grouped: bool,
    /// The handler key that holds the shell command.
    pub command_key: &'static str,
    /// The file carries `"version": 1`.
    pub versioned: bool,
}

pub fn layout(host: HostKind) -> Layout {
    let (events, grouped, command_key, versioned): (&'static [&'static str], _, _, _) = match host {
        HostKind::ClaudeCode | HostKind::Codex | HostKind::Oap => {
            (&["PreToolUse"], true, "command", false)
        }
        HostKind::Gemini => (&["BeforeTool"], true, "command", false),
        HostKind::Cursor => (crate::hosts::cursor::EVENTS, false, "command", true),
        HostKind::Copilot => (&["preToolUse"], false, "bash", true),
    };
    Layout {
        events,
        grouped,
        command_key,
        versioned,
    }
}

/// The shell command a host runs: the absolute binary and an explicit host.
pub fn hook_command(binary: &Path, host: HostKind) -> String {
    format!(
        "{} evaluate --host {}",
        shell_quote(&binary.to_string_lossy()),
        host.as_str()
    )
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

/// The program of a hook command (its first shell word, unquoted).
pub fn command_program(cmd: &str) -> String {
    let cmd = cmd.trim_start();
    let mut out = String::new();
    let mut chars = cmd.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => break,
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '\\') => out.extend(chars.next()),
            (_, c) => out.push(c),
        }
    }
    out
}

/// Whether a hook command is toolgate's own for this host.
pub fn is_toolgate_command(cmd: &str, host: HostKind) -> bool {
    let tail = format!(" evaluate --host {}", host.as_str());
    cmd.trim_end().ends_with(&tail)
        && Path::new(&command_program(cmd))
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("toolgate"))
}

/// toolgate's handler object for a host.
pub fn handler(host: HostKind, command: &str) -> Value {
    match host {
        HostKind::Cursor => {
            json!({"command": command, "timeout": TIMEOUT_SECS, "failClosed": true})
        }
        HostKind::Copilot => {
            json!({"type": "command", "bash": command, "timeoutSec": TIMEOUT_SECS})
        }
        HostKind::Gemini => json!({
            "name": "toolgate",
            "type": "command",
            "command": command,
            "timeout": TIMEOUT_SECS * 1000,
            "description": "toolgate: authorize each tool call against the signed passport",
        }),
        HostKind::Codex => json!({
            "type": "command",
            "command": command,
            "timeout": TIMEOUT_SECS,
            "statusMessage": "toolgate: checking the tool call",
        }),
        HostKind::ClaudeCode | HostKind::Oap => {
            json!({"type": "command", "command": command, "timeout": TIMEOUT_SECS})
        }
    }
}

/// What toolgate adds to one event's array.
fn entry(host: HostKind, command: &str) -> Value {
    let h = handler(host, command);
    if layout(host).grouped {
        json!({"matcher": "*", "hooks": [h]})
    } else {
        h
    }
}

fn handler_command<'a>(h: &'a Value, layout: &Layout) -> Option<&'a str> {
    h.get(layout.command_key)
        .or_else(|| h.get("command"))
        .and_then(Value::as_str)
}

/// toolgate's hook commands in a configuration document, per event.
pub fn installed_commands(doc: &Value, host: HostKind) -> Vec<(String, String)> {
    let l = layout(host);
    let mut out = Vec::new();
    let Some(hooks) = doc.get("hooks").and_then(Value::as_object) else {
        return out;
    };
    for (event, arr) in hooks {
        for item in arr.as_array().into_iter().flatten() {
            let handlers: Vec<&Value> = match item.get("hooks").and_then(Value::as_array) {
                Some(hs) if l.grouped => hs.iter().collect(),
                _ => vec![item],
            };
            for h in handlers {
                if let Some(cmd) = handler_command(h, &l).filter(|c| is_toolgate_command(c, host)) {
                    out.push((event.clone(), cmd.to_string()));
                }
            }
        }
    }
    out
}

/// Removes toolgate's handlers for `host` from one event array; returns how many.
fn strip(arr: &mut Vec<Value>, host: HostKind, l: &Layout) -> usize {
    let ours = |h: &Value| handler_command(h, l).is_some_and(|c| is_toolgate_command(c, host));
    let before = arr.len();
    let mut removed = 0;
    if l.grouped {
        for group in arr.iter_mut() {
            if let Some(hs) = group.get_mut("hooks").and_then(Value::as_array_mut) {
                let n = hs.len();
                hs.retain(|h| !ours(h));
                removed += n - hs.len();
            }
        }
        // Only groups toolgate emptied go; a group the user left empty stays.
        if removed > 0 {
            arr.retain(|g| {
                g.get("hooks")
                    .and_then(Value::as_array)
                    .is_none_or(|hs| !hs.is_empty())
            });
        }
    } else {
        arr.retain(|h| !ours(h));
        removed = before - arr.len();
    }
    removed
}

fn unusable(path: &Path, host: HostKind, why: impl Into<String>) -> InstallError {
    InstallError::Unusable {
        path: path.to_path_buf(),
        host: host.as_str(),
        why: why.into(),
    }
}

/// Adds toolgate's entry to a configuration document. Returns whether it changed.
pub fn install_into(
    doc: &mut Value,
    host: HostKind,
    command: &str,
    path: &Path,
) -> Result<bool, InstallError> {
    let before = doc.clone();
    let l = layout(host);
    let obj = doc
        .as_object_mut()
        .ok_or_else(|| unusable(path, host, "the file is not a JSON object"))?;
    if l.versioned {
        match obj.get("version") {
            None => {
                // A new key goes first, as every example of these files has it.
                let mut fresh = Map::new();
                fresh.insert("version".into(), json!(1));
                fresh.extend(std::mem::take(obj));
                *obj = fresh;
            }
            Some(v) if v.as_u64() == Some(1) => {}
            Some(v) => return Err(unusable(path, host, format!("\"version\" is {v}, not 1"))),
        }
    }
    let hooks = obj
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| unusable(path, host, "\"hooks\" is not an object"))?;
    let want = entry(host, command);
    for event in l.events {
        let arr = hooks
            .entry(*event)
            .or_insert_with(|| Value::Array(vec![]))
            .as_array_mut()
            .ok_or_else(|| unusable(path, host, format!("\"hooks.{event}\" is not an array")))?;
        let ours = arr
            .iter()
            .filter(|item| installed_commands(&json!({"hooks": {"e": [*item]}}), host).len() == 1)
            .count();
        if ours == 1 && arr.contains(&want) {
            continue;
        }
        strip(arr, host, &l);
        arr.push(want.clone());
    }
    Ok(*doc != before)
}

/// Removes every toolgate entry for `host`; empties it leaves behind go too.
pub fn remove_from(doc: &mut Value, host: HostKind) -> usize {
    let l = layout(host);
    let Some(hooks) = doc.get_mut("hooks").and_then(Value::as_object_mut) else {
        return 0;
    };
    let mut removed = 0;
    let mut emptied = Vec::new();
    for (event, arr) in hooks.iter_mut() {
        if let Some(a) = arr.as_array_mut() {
            let n = strip(a, host, &l);
            if n > 0 && a.is_empty() {
                emptied.push(event.clone());
            }
            removed += n;
        }
    }
    for e in emptied {
        hooks.remove(&e);
    }
    if removed > 0 && hooks.is_empty() {
        if let Some(obj) = doc.as_object_mut() {
            obj.remove("hooks");
        }
    }
    removed
}

/// The fragment toolgate merges into an empty configuration (the `hooks/` reference files).
pub fn fragment(host: HostKind, command: &str) -> Value {
    let mut doc = json!({});
    install_into(&mut doc, host, command, Path::new("-"))
        .expect("an empty object always takes the fragment");
    doc
}

/// Pretty JSON with the given indent and a final newline.
pub fn to_pretty(doc: &Value, indent: &[u8]) -> String {
    use serde::Serialize;
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(indent);
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    doc.serialize(&mut ser).expect("a JSON value serializes");
    String::from_utf8(buf).expect("serde_json writes UTF-8") + "\n"
}

/// The indent the file already uses, so a rewrite keeps its look.
fn detect_indent(raw: &str) -> Vec<u8> {
    raw.lines()
        .skip(1)
        .find_map(|l| {
            let ws: String = l.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
            (!ws.is_empty()).then_some(ws)
        })
        .unwrap_or_else(|| "  ".into())
        .into_bytes()
}

/// Reads a configuration file; `None` when it does not exist.
pub fn read_config(path: &Path, host: HostKind) -> Result<Option<(Value, String)>, InstallError> {
    let raw = match std::fs::read_to_string(path) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    if raw.trim().is_empty() {
        return Ok(Some((json!({}), raw)));
    }
    let value = crate::canonical::parse_strict(raw.as_bytes()).map_err(|e| {
        unusable(
            path,
            host,
            format!("not strict JSON ({e}); comments and duplicate keys are not rewritten"),
        )
    })?;
    Ok(Some((value, raw)))
}

/// What an install or uninstall did to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Created,
    Updated,
    Unchanged,
    Removed,
    /// The file held nothing but toolgate's entry and is gone.
    Deleted,
    NotInstalled,
}

#[derive(Debug, Clone)]
pub struct Change {
    pub path: PathBuf,
    pub action: Action,
    pub backup: Option<PathBuf>,
}

/// Merges toolgate's hook into a host's configuration file.
pub fn install_file(path: &Path, host: HostKind, command: &str) -> Result<Change, InstallError> {
    let existing = read_config(path, host)?;
    let (mut doc, raw) = existing
        .clone()
        .unwrap_or_else(|| (json!({}), String::new()));
    let changed = install_into(&mut doc, host, command, path)?;
    if !changed {
        return Ok(Change {
            path: path.into(),
            action: Action::Unchanged,
            backup: None,
        });
    }
    let backup = write_config(path, &doc, existing.is_some().then_some(raw.as_str()))?;
    Ok(Change {
        path: path.into(),
        action: if existing.is_some() {
            Action::Updated
        } else {
            Action::Created
        },
        backup,
    })
}

/// Removes toolgate's hooks from a host's configuration file.
pub fn uninstall_file(path: &Path, host: HostKind) -> Result<Change, InstallError> {
    let Some((mut doc, raw)) = read_config(path, host)? else {
        return Ok(Change {
            path: path.into(),
            action: Action::NotInstalled,
            backup: None,
        });
    };
    if remove_from(&mut doc, host) == 0 {
        return Ok(Change {
            path: path.into(),
            action: Action::NotInstalled,
            backup: None,
        });
    }
    let empty = doc == json!({}) || (layout(host).versioned && doc == json!({"version": 1}));
    if empty {
        let backup = backup_file(path, &raw)?;
        std::fs::remove_file(path).map_err(io(path))?;
        return Ok(Change {
            path: path.into(),
            action: Action::Deleted,
            backup: Some(backup),
        });
    }
    let backup = write_config(path, &doc, Some(&raw))?;
    Ok(Change {
        path: path.into(),
        action: Action::Removed,
        backup,
    })
}

/// Copies the current file aside as `<name>.toolgate-<UTC time>.bak`.
fn backup_file(path: &Path, raw: &str) -> Result<PathBuf, InstallError> {
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]"
        ))
        .unwrap_or_else(|_| "backup".into());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut n = 0;
    let dest = loop {
        let suffix = if n == 0 {
            String::new()
        } else {
            format!("-{n}")
        };
        let p = path.with_file_name(format!("{name}.toolgate-{stamp}{suffix}.bak"));
        if !p.exists() {
            break p;
        }
        n += 1;
    };
    std::fs::write(&dest, raw).map_err(io(&dest))?;
    Ok(dest)
}

/// Writes a document atomically (temporary file, then rename), keeping the
/// old file's indent and permissions; backs the old content up first.
fn write_config(
    path: &Path,
    doc: &Value,
    old: Option<&str>,
) -> Result<Option<PathBuf>, InstallError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let backup = old.map(|raw| backup_file(path, raw)).transpose()?;
    let indent = old.map(detect_indent).unwrap_or_else(|| b"  ".to_vec());
    let tmp = dir.join(format!(
        ".{}.toolgate-tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    std::fs::write(&tmp, to_pretty(doc, &indent)).map_err(io(&tmp))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path).map_err(io(path))?;
    Ok(backup)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_recognised_only_when_ours() {
        let host = HostKind::ClaudeCode;
        let cmd = hook_command(Path::new("/opt/my tools/toolgate"), host);
        assert_eq!(cmd, "'/opt/my tools/toolgate' evaluate --host claude-code");
        assert!(is_toolgate_command(&cmd, host));
        assert!(!is_toolgate_command(&cmd, HostKind::Cursor));
        assert!(!is_toolgate_command(
            "/usr/bin/other evaluate --host claude-code",
            host
        ));
        assert!(!is_toolgate_command(
            "/usr/bin/toolgate evaluate --host claude-code; rm x",
            host
        ));
        assert_eq!(command_program("'/a b/toolgate' x"), "/a b/toolgate");
        assert_eq!(command_program("/a\\ b/toolgate x"), "/a b/toolgate");
    }

    #[test]
    fn install_is_idempotent_and_uninstall_exact() {
        for host in crate::hosts::HOOK_HOSTS {
            let cmd = hook_command(Path::new("/usr/local/bin/toolgate"), host);
            let l = layout(host);
            let mut doc = json!({"hooks": {l.events[0]: [{"keep": "user entry"}]}, "other": 1});
            let orig = doc.clone();
            assert!(install_into(&mut doc, host, &cmd, Path::new("x")).unwrap());
            assert!(!install_into(&mut doc, host, &cmd, Path::new("x")).unwrap());
            assert_eq!(installed_commands(&doc, host).len(), l.events.len());
            // A moved binary replaces the old entry rather than adding a second.
            let moved = hook_command(Path::new("/opt/toolgate"), host);
            assert!(install_into(&mut doc, host, &moved, Path::new("x")).unwrap());
            assert_eq!(installed_commands(&doc, host).len(), l.events.len());
            assert_eq!(remove_from(&mut doc, host), l.events.len());
            if l.versioned {
                doc.as_object_mut().unwrap().remove("version");
            }
            assert_eq!(doc, orig, "{host:?}");
        }
    }
}
