//! The shape of a host descriptor: one static value per host (in that host's
//! file) holding its configuration files, hook layout, the hook entries
//! toolgate installs, the paths to protect, its off switches, its canary
//! calls and the versions verified with the real CLI. Installers, doctor and
//! the protected-path set read hosts only through this.

use crate::call::HostKind;
use serde_json::Value;
use std::path::{Path, PathBuf};

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
}

/// Where a configuration path starts.
#[derive(Debug, Clone, Copy)]
pub enum Base {
    Home,
    Project,
    /// An environment variable that relocates a directory, else this path under the home.
    EnvOrHome(&'static str, &'static str),
    /// An environment variable that stands in for the home directory for this
    /// host alone (Gemini's `GEMINI_CLI_HOME`), else the home.
    EnvHome(&'static str),
}

/// A machine-wide file or directory a host reads its policy or hooks from
/// (managed settings, system settings), optionally moved by an environment variable.
#[derive(Debug, Clone, Copy)]
pub struct SystemPath {
    pub env: Option<&'static str>,
    pub path: &'static str,
}

/// One configuration file a host reads hooks from.
#[derive(Debug, Clone, Copy)]
pub struct ConfigFile {
    pub scope: Scope,
    pub base: Base,
    pub rel: &'static str,
}

/// How a host lays out its hooks.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// The pre-execution events toolgate's gate is added to.
    pub events: &'static [&'static str],
    /// The post-execution events toolgate's ungated-call alarm is added to.
    pub post_events: &'static [&'static str],
    /// Handlers sit in `{"matcher", "hooks": [...]}` groups.
    pub grouped: bool,
    /// The handler key that holds the shell command.
    pub command_key: &'static str,
    /// The file carries `"version": 1`.
    pub versioned: bool,
}

/// Everything about one host.
pub struct Descriptor {
    pub kind: HostKind,
    /// For people: "Claude Code".
    pub name: &'static str,
    /// The CLI's program name, for `--version` (doctor) and messages.
    pub program: &'static str,
    pub files: &'static [ConfigFile],
    pub layout: Layout,
    /// toolgate's handler object for a command (the timeout in the host's unit is added here).
    pub handler: fn(command: &str, timeout_secs: u64) -> Value,
    /// The host runs hook commands through a POSIX shell, so a fallback after
    /// toolgate's command turns a missing or crashing binary into a block.
    pub shell: bool,
    /// What still fails open with the best wiring, for doctor and the docs.
    pub fails_open: &'static str,
    /// Files and directories under the project and the home an agent must not write
    /// (the host's hook configuration and its trust state).
    pub protect: &'static [&'static str],
    /// Machine-wide configuration the host reads on top of the user's (managed
    /// or system settings that can add hooks or turn them off), protected whole.
    pub system: &'static [SystemPath],
    /// Settings in a configuration document that switch toolgate's hook off silently.
    pub off_switches: fn(doc: &Value) -> Vec<String>,
    /// A host-format hook input for the doctor: forbidden (a write to `target`)
    /// or allowed (a harmless tool the given host version has).
    pub canary: fn(forbidden: bool, cwd: &str, target: &str, version: Option<&str>) -> Value,
    /// Host versions driven for real by tests/hosts (and what was found there).
    pub verified: &'static [&'static str],
    /// One line `toolgate install` prints after writing the file.
    pub install_note: Option<&'static str>,
}

impl Descriptor {
    /// The scopes this host has.
    pub fn scopes(&self) -> impl Iterator<Item = Scope> + '_ {
        self.files.iter().map(|f| f.scope)
    }

    /// The configuration file for a scope, with `env` relocations applied.
    pub fn config_path(
        &self,
        scope: Scope,
        home: &Path,
        project: &Path,
        env: &dyn Fn(&str) -> Option<PathBuf>,
    ) -> Option<PathBuf> {
        let f = self.files.iter().find(|f| f.scope == scope)?;
        let base = match f.base {
            Base::Home => home.to_path_buf(),
            Base::Project => project.to_path_buf(),
            Base::EnvOrHome(var, rel) => env(var).unwrap_or_else(|| home.join(rel)),
            Base::EnvHome(var) => env(var).unwrap_or_else(|| home.to_path_buf()),
        };
        Some(base.join(f.rel))
    }

    /// Every path to protect under the given roots, relocations included.
    pub fn protected(
        &self,
        roots: &[&Path],
        home: Option<&Path>,
        env: &dyn Fn(&str) -> Option<PathBuf>,
    ) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = roots
            .iter()
            .flat_map(|r| self.protect.iter().map(move |rel| r.join(rel)))
            .collect();
        for sys in self.system {
            out.push(PathBuf::from(sys.path));
            if let Some(moved) = sys.env.and_then(env) {
                out.push(moved);
            }
        }
        for f in self.files {
            if let Base::EnvHome(var) = f.base {
                // The relocated home holds what the real one does: protect it the same way.
                if let Some(h) = env(var) {
                    out.extend(self.protect.iter().map(|rel| h.join(rel)));
                    out.push(h.join(f.rel));
                }
            }
            if let Base::EnvOrHome(var, rel) = f.base {
                let Some(dir) = env(var).or_else(|| home.map(|h| h.join(rel))) else {
                    continue;
                };
                // A relocated directory is protected whole where the home one is
                // (Codex keeps its trust state beside the hooks), else just the file.
                if self.protect.contains(&rel) {
                    out.push(dir.clone());
                }
                out.push(dir.join(f.rel));
            }
        }
        out
    }
}

/// The off switches common to hosts whose files may say `disableAllHooks`.
pub fn disable_all_hooks(doc: &Value) -> Vec<String> {
    if doc.get("disableAllHooks") == Some(&Value::Bool(true)) {
        vec!["\"disableAllHooks\": true turns every hook off".into()]
    } else {
        vec![]
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    #[test]
    fn relocated_host_directories_are_protected() {
        let env = |k: &str| match k {
            "CODEX_HOME" => Some(PathBuf::from("/srv/codex")),
            "CLAUDE_CONFIG_DIR" => Some(PathBuf::from("/srv/claude")),
            _ => None,
        };
        let home = Path::new("/home/u");
        let codex = crate::hosts::codex::HOST.protected(&[home], Some(home), &env);
        assert!(codex.contains(&PathBuf::from("/srv/codex")), "{codex:?}");
        assert!(codex.contains(&PathBuf::from("/home/u/.codex")));
        let claude = crate::hosts::claude_code::HOST.protected(&[home], Some(home), &env);
        assert!(
            claude.contains(&PathBuf::from("/srv/claude/settings.json")),
            "{claude:?}"
        );
        assert!(claude.contains(&PathBuf::from("/home/u/.claude/settings.json")));
        // Claude Code's own directory (memory, agents) stays writable; its settings do not.
        assert!(!claude.contains(&PathBuf::from("/srv/claude")));
    }
}
