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
pub mod ledger;

// The hook command grammar lives with the hosts (they recognise toolgate's own entries);
// installing is where it is mostly used, so its names are here too.
pub use crate::hosts::hook_command::*;

use crate::call::HostKind;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Seconds a host waits for toolgate before giving up (every host then runs the tool).
pub const TIMEOUT_SECS: u64 = 30;

pub use crate::hosts::Scope;

/// The scopes a host has.
pub fn scopes(host: HostKind) -> Vec<Scope> {
    crate::hosts::descriptor(host)
        .map(|d| d.scopes().collect())
        .unwrap_or_default()
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
    #[error("{path}: {problem}; toolgate will not rewrite it (fix it, or add the fragment from `toolgate install {host} --print` by hand)")]
    Unusable {
        path: PathBuf,
        host: &'static str,
        /// What about the file stops the rewrite (it is not JSON of the expected shape, ...).
        problem: String,
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
    /// The variables that relocate host directories (`CODEX_HOME`, `COPILOT_HOME`,
    /// `CLAUDE_CONFIG_DIR`), as set.
    pub env: Vec<(String, PathBuf)>,
}

impl Dirs {
    /// From the environment: `HOME`, the working directory, and each host's relocation variable.
    pub fn from_env(project: Option<PathBuf>) -> Dirs {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let home = var("HOME")
            .or_else(|| directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf()))
            .unwrap_or_else(|| PathBuf::from("/"));
        let env = relocation_vars()
            .filter_map(|k| var(k).map(|v| (k.to_string(), v)))
            .collect();
        Dirs {
            home,
            project: project
                .or_else(|| std::env::current_dir().ok())
                .unwrap_or_else(|| PathBuf::from(".")),
            env,
        }
    }

    /// Looks up a relocation variable.
    pub fn var(&self, k: &str) -> Option<PathBuf> {
        self.env
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    }
}

/// Every environment variable some host uses to move its configuration directory.
pub fn relocation_vars() -> impl Iterator<Item = &'static str> {
    crate::hosts::descriptors().flat_map(|d| {
        d.files.iter().filter_map(|f| match f.base {
            crate::hosts::Base::EnvOrHome(var, _) | crate::hosts::Base::EnvHome(var) => Some(var),
            _ => None,
        })
    })
}

/// The configuration file toolgate writes for a host and scope.
pub fn config_path(host: HostKind, scope: Scope, dirs: &Dirs) -> Result<PathBuf, InstallError> {
    let d = crate::hosts::descriptor(host).ok_or(InstallError::NotAHookHost(host.as_str()))?;
    d.config_path(scope, &dirs.home, &dirs.project, &|k| dirs.var(k))
        .ok_or_else(|| InstallError::BadScope {
            host: host.as_str(),
            scope: scope.as_str(),
            valid: d
                .scopes()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

pub use crate::hosts::Layout;

/// A host's hook layout (Oap, which has no hooks, gets Claude Code's, for fragments in tests).
pub fn layout(host: HostKind) -> Layout {
    crate::hosts::descriptor(host)
        .unwrap_or(&crate::hosts::claude_code::HOST)
        .layout
}

/// toolgate's handler object for a host.
pub fn handler(host: HostKind, command: &str) -> Value {
    let d = crate::hosts::descriptor(host).unwrap_or(&crate::hosts::claude_code::HOST);
    (d.handler)(command, TIMEOUT_SECS)
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

/// The commands toolgate installs for a host: the gate, and the alarm for hosts with post events.
#[derive(Debug, Clone)]
pub struct Commands {
    pub gate: String,
    pub alarm: String,
}

impl Commands {
    pub fn new(binary: &Path, host: HostKind, paths: &HookPaths) -> Commands {
        Commands {
            gate: hook_command(binary, host, paths),
            alarm: post_command(binary, host, paths),
        }
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

fn unusable(path: &Path, host: HostKind, problem: impl Into<String>) -> InstallError {
    InstallError::Unusable {
        path: path.to_path_buf(),
        host: host.as_str(),
        problem: problem.into(),
    }
}

/// Adds toolgate's entry to a configuration document. Returns whether it changed.
pub fn install_into(
    doc: &mut Value,
    host: HostKind,
    commands: &Commands,
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
    let gates = l.events.iter().map(|e| (*e, &commands.gate));
    let alarms = l.post_events.iter().map(|e| (*e, &commands.alarm));
    for (event, command) in gates.chain(alarms) {
        let want = entry(host, command);
        let arr = hooks
            .entry(event)
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
        arr.push(want);
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
pub fn fragment(host: HostKind, commands: &Commands) -> Result<Value, InstallError> {
    let mut doc = json!({});
    install_into(&mut doc, host, commands, Path::new("-"))?;
    Ok(doc)
}

/// Pretty JSON with the given indent and a final newline.
pub fn to_pretty(doc: &Value, indent: &[u8]) -> String {
    use serde::Serialize;
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(indent);
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    // A Value always serialises into a Vec, as valid UTF-8; were either ever not
    // so, the compact form is still the same document.
    if doc.serialize(&mut ser).is_err() {
        buf = crate::canonical::to_vec(doc);
    }
    String::from_utf8_lossy(&buf).into_owned() + "\n"
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Created,
    Updated,
    Unchanged,
    /// toolgate's entries were taken out; the rest of the file (changed by someone
    /// else since the install) is kept.
    Removed,
    /// The file is back to its bytes before the install.
    Restored,
    /// toolgate created the file (or it held nothing but toolgate's entry) and it is gone.
    Deleted,
    NotInstalled,
}

impl Action {
    /// The word for `--json` and the docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Updated => "updated",
            Action::Unchanged => "unchanged",
            Action::Removed => "removed",
            Action::Restored => "restored",
            Action::Deleted => "deleted",
            Action::NotInstalled => "not_installed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Change {
    pub path: PathBuf,
    pub action: Action,
    /// Directories toolgate created for the file and took away again (uninstall).
    pub removed_dirs: Vec<PathBuf>,
    /// Where the file's content before the install is kept (install, when there was one).
    pub kept_original: Option<PathBuf>,
}

impl Change {
    fn new(path: &Path, action: Action) -> Change {
        Change {
            path: path.into(),
            action,
            removed_dirs: vec![],
            kept_original: None,
        }
    }
}

/// Merges toolgate's hook into a host's configuration file, first recording in the
/// ledger what the file was (its bytes, or that it did not exist), so that uninstall
/// can put it back exactly.
pub fn install_file(
    path: &Path,
    host: HostKind,
    commands: &Commands,
    ledger_dir: &Path,
) -> Result<Change, InstallError> {
    let existing = read_config(path, host)?;
    let (mut doc, raw) = existing
        .clone()
        .unwrap_or_else(|| (json!({}), String::new()));
    let had_ours = !installed_commands(&doc, host).is_empty();
    let changed = install_into(&mut doc, host, commands, path)?;
    if !changed {
        return Ok(Change::new(path, Action::Unchanged));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let prior = ledger::load(ledger_dir, path);
    let (before, created_dirs) = match (prior, &existing) {
        // Still exactly what toolgate last wrote: what it replaced is still the original.
        (Some(e), Some(_)) if e.written == ledger::digest(raw.as_bytes()) => {
            (e.before, e.created_dirs)
        }
        (Some(e), Some(_)) => (ledger::Before::Unknown, e.created_dirs),
        (_, None) => (ledger::Before::Absent, ledger::missing_dirs(dir)),
        // A toolgate hook from before the ledger: restoring these bytes would keep it.
        (None, Some(_)) if had_ours => (ledger::Before::Unknown, vec![]),
        (None, Some(_)) => (ledger::Before::Text { text: raw.clone() }, vec![]),
    };
    let text = to_pretty(
        &doc,
        &existing
            .as_ref()
            .map_or_else(|| b"  ".to_vec(), |_| detect_indent(&raw)),
    );
    let entry = ledger::Entry {
        host: host.as_str().into(),
        path: path.into(),
        before,
        created_dirs,
        written: ledger::digest(text.as_bytes()),
    };
    // The ledger first: the old content is safe before the file changes.
    ledger::save(ledger_dir, &entry)?;
    write_atomic(path, text.as_bytes())?;
    let mut change = Change::new(
        path,
        if existing.is_some() {
            Action::Updated
        } else {
            Action::Created
        },
    );
    if matches!(entry.before, ledger::Before::Text { .. }) {
        change.kept_original = Some(ledger::entry_path(ledger_dir, path));
    }
    Ok(change)
}

/// Takes toolgate's hooks out of a host's configuration file: the bytes from before the
/// install when the file is still exactly what toolgate wrote, otherwise the file minus
/// toolgate's entries; a file toolgate created goes, with the directories made for it.
pub fn uninstall_file(
    path: &Path,
    host: HostKind,
    ledger_dir: &Path,
) -> Result<Change, InstallError> {
    let entry = ledger::load(ledger_dir, path);
    let raw = match std::fs::read(path) {
        Ok(r) => Some(r),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(path)(e)),
    };
    let created_dirs = entry
        .as_ref()
        .map(|e| e.created_dirs.clone())
        .unwrap_or_default();
    let Some(raw) = raw else {
        ledger::forget(ledger_dir, path)?;
        let mut c = Change::new(path, Action::NotInstalled);
        c.removed_dirs = ledger::remove_empty_dirs(&created_dirs);
        return Ok(c);
    };
    let untouched = entry
        .as_ref()
        .filter(|e| e.written == ledger::digest(&raw))
        .map(|e| e.before.clone());
    let action = match untouched {
        Some(ledger::Before::Absent) => {
            std::fs::remove_file(path).map_err(io(path))?;
            Action::Deleted
        }
        Some(ledger::Before::Text { text }) => {
            write_atomic(path, text.as_bytes())?;
            Action::Restored
        }
        Some(ledger::Before::Unknown) | None => {
            // Only a file that existed before the install is kept when nothing else is left.
            let existed = entry
                .as_ref()
                .is_some_and(|e| matches!(e.before, ledger::Before::Text { .. }));
            match strip_file(path, host, !existed)? {
                Some(a) => a,
                None => {
                    ledger::forget(ledger_dir, path)?;
                    return Ok(Change::new(path, Action::NotInstalled));
                }
            }
        }
    };
    ledger::forget(ledger_dir, path)?;
    let mut c = Change::new(path, action);
    if action == Action::Deleted {
        c.removed_dirs = ledger::remove_empty_dirs(&created_dirs);
    }
    Ok(c)
}

/// Removes toolgate's entries from a file someone else changed too; `None` when there
/// were none. The file is deleted when nothing else is left and `may_delete`.
fn strip_file(
    path: &Path,
    host: HostKind,
    may_delete: bool,
) -> Result<Option<Action>, InstallError> {
    let Some((mut doc, raw)) = read_config(path, host)? else {
        return Ok(None);
    };
    if remove_from(&mut doc, host) == 0 {
        return Ok(None);
    }
    let empty = doc == json!({}) || (layout(host).versioned && doc == json!({"version": 1}));
    if empty && may_delete {
        std::fs::remove_file(path).map_err(io(path))?;
        return Ok(Some(Action::Deleted));
    }
    write_atomic(path, to_pretty(&doc, &detect_indent(&raw)).as_bytes())?;
    Ok(Some(Action::Removed))
}

/// Writes a file atomically (temporary file, then rename), keeping the old file's
/// permissions.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), InstallError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = dir.join(format!(
        ".{}.toolgate-tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_recognised_only_when_ours() {
        let host = HostKind::ClaudeCode;
        let paths = HookPaths {
            passport: Some("/h/passport.json".into()),
            key: Some("/h/keys/my key.jwk".into()),
            ..HookPaths::default()
        };
        let cmd = hook_command(Path::new("/opt/my tools/toolgate"), host, &paths);
        assert!(cmd.starts_with("'/opt/my tools/toolgate' evaluate --host claude-code --passport /h/passport.json --key '/h/keys/my key.jwk'"));
        assert!(cmd.ends_with(SHELL_FALLBACK));
        assert!(is_toolgate_command(&cmd, host));
        assert!(is_gate_command(&cmd));
        let post = post_command(Path::new("/opt/toolgate"), host, &paths);
        assert!(is_toolgate_command(&post, host) && !is_gate_command(&post));
        assert!(!is_toolgate_command(&cmd, HostKind::Cursor));
        // Copilot's and Cursor's commands carry no fallback when the host has no shell.
        assert!(!hook_command(Path::new("/t/toolgate"), HostKind::Cursor, &paths).contains("exit"));
        for other in [
            "/usr/bin/other evaluate --host claude-code",
            "/usr/bin/toolgate evaluate --host claude-code; rm x",
            "/usr/bin/toolgate evaluate --host claude-code --key /k && curl x",
            "/usr/bin/toolgate evaluate --host claude-code --explain",
            "/usr/bin/toolgate evaluate --host claude-code --key $(cat /x)",
            "/usr/bin/toolgate evaluate --host claude-code --key",
        ] {
            assert!(!is_toolgate_command(other, host), "{other}");
        }
        assert!(is_toolgate_command(
            "/usr/bin/toolgate evaluate --host claude-code",
            host
        ));
        assert_eq!(command_program("'/a b/toolgate' x"), "/a b/toolgate");
        assert_eq!(command_program("/a\\ b/toolgate x"), "/a b/toolgate");
    }

    #[test]
    fn install_is_idempotent_and_uninstall_exact() {
        for host in crate::hosts::HOOK_HOSTS {
            let cmds = Commands::new(
                Path::new("/usr/local/bin/toolgate"),
                host,
                &HookPaths::default(),
            );
            let l = layout(host);
            let n = l.events.len() + l.post_events.len();
            let mut doc = json!({"hooks": {l.events[0]: [{"keep": "user entry"}]}, "other": 1});
            let orig = doc.clone();
            assert!(install_into(&mut doc, host, &cmds, Path::new("x")).unwrap());
            assert!(!install_into(&mut doc, host, &cmds, Path::new("x")).unwrap());
            assert_eq!(installed_commands(&doc, host).len(), n);
            // A moved binary replaces the old entry rather than adding a second.
            let moved = Commands::new(Path::new("/opt/toolgate"), host, &HookPaths::default());
            assert!(install_into(&mut doc, host, &moved, Path::new("x")).unwrap());
            assert_eq!(installed_commands(&doc, host).len(), n);
            assert_eq!(remove_from(&mut doc, host), n);
            if l.versioned {
                doc.as_object_mut().unwrap().remove("version");
            }
            assert_eq!(doc, orig, "{host:?}");
        }
    }
}
