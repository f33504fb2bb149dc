//! Self-protection: the one closed set of paths no agent may change, and the
//! private keys no agent may read.
//!
//! The set is computed once per decision at the edge, from what toolgate
//! knows about the hosts (their configuration for every scope, with the
//! environment relocations the installer honours) and about itself (config,
//! keys, trust store, passport and signature, state, head, log, its binary),
//! plus the shell start-up files a hook runs under. On top of those absolute
//! paths, every host's project configuration directory (`.claude/`,
//! `.cursor/`, ...) is protected wherever it appears, at any depth.
//!
//! A write is refused when it lands on a protected path, inside one, or on
//! any ancestor of one: renaming, deleting, `chmod`-ing or replacing a
//! directory changes everything under it. Names compare ignoring case, which
//! is what case-folding file systems do and costs nothing where they don't.

use std::path::{Component, Path, PathBuf};

/// What every refusal of a protected path says last: `approve` reads it off the audit
/// record to tell a deny no person may lift.
pub const PROTECTED_WHY: &str = "toolgate protects it from agents";

/// Names protected at any depth, each with why: the project configuration of the
/// hosts and of toolgate, and every file that some tool runs as code, or turns into
/// a command, outside the agent's gate and without a person reading it first (an
/// editor opening the folder, the user's next `git commit`, a shell entering the
/// directory). Left out on purpose: `.env` (dotenv loaders read values, they run
/// nothing), `.gitattributes` and `.gitmodules` (a filter or an update command must
/// be defined in git's config, which is here), `.vscode/extensions.json` (a
/// recommendation a person installs).
pub const PROTECTED_NAMES: &[(&str, &str)] = &[
    (".claude", "Claude Code's project settings, hooks and MCP servers"),
    (".cursor", "Cursor's project rules, hooks and MCP servers"),
    (".codex", "Codex's project configuration"),
    (".gemini", "Gemini CLI's project settings and hooks"),
    (".github/hooks", "Copilot CLI's project hooks"),
    (".toolgate", "toolgate's own project policy"),
    (".mcp.json", "Claude Code's project MCP servers, each a command it starts"),
    (".vscode/settings.json", "VS Code runs what it names (interpreters, formatters, terminal environment) on opening the folder"),
    (".vscode/tasks.json", "VS Code tasks, which may run when the folder opens"),
    (".vscode/launch.json", "VS Code launch commands: a person picks the name, not the command"),
    (".vscode/mcp.json", "VS Code's MCP servers, each a command it starts"),
    (".idea/runConfigurations", "JetBrains run configurations: a person picks the name, not the command"),
    (".idea/workspace.xml", "JetBrains keeps run configurations here too"),
    (".envrc", "direnv runs it on entering the directory (auto-allowed for whitelisted prefixes)"),
    (".git/hooks", "git runs these on the user's next commit, merge or checkout"),
    (".git/config", "core.hooksPath, core.fsmonitor, core.sshCommand and filter drivers are commands git runs"),
    (".husky", "husky points git's hooks here"),
    (".pre-commit-config.yaml", "pre-commit runs the hooks it lists on the user's next commit"),
    ("lefthook.yml", "lefthook runs the commands it lists from git's hooks"),
    (".lefthook.yml", "lefthook runs the commands it lists from git's hooks"),
];

/// Shell start-up files (relative to the home directory): hooks run under `sh -c`,
/// and an agent that edits these changes what every later hook and shell does.
pub const SHELL_STARTUP: &[&str] = &[
    ".profile",
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".bash_aliases",
    ".zshenv",
    ".zshrc",
    ".zprofile",
    ".zlogin",
    ".zlogout",
    ".cshrc",
    ".tcshrc",
    ".kshrc",
    ".config/fish",
    ".config/environment.d",
    ".pam_environment",
];

/// System-wide shell start-up files.
pub const SYSTEM_STARTUP: &[&str] = &[
    "/etc/profile",
    "/etc/profile.d",
    "/etc/bash.bashrc",
    "/etc/bashrc",
    "/etc/zsh",
    "/etc/zshenv",
    "/etc/zshrc",
    "/etc/environment",
];

/// Why a path is protected, for the deny message and `doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    pub why: String,
}

/// The closed set for one decision.
#[derive(Debug, Clone, Default)]
pub struct Protected {
    /// Absolute paths: no write at, inside, or above them.
    pub paths: Vec<Entry>,
    /// Relative directory names (one or more components) protected wherever they occur.
    pub names: Vec<PathBuf>,
    /// Files no agent may read (toolgate's private keys), with the directories that hold them.
    pub secrets: Vec<Entry>,
}

/// What the walk below an existing directory found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contains {
    Nothing,
    Found(PathBuf),
    /// More entries than the bound: toolgate cannot say, so it refuses.
    TooLarge(usize),
}

/// Most directory entries looked at below one write target.
pub const WALK_LIMIT: usize = 100_000;

fn fold(p: &Path) -> Vec<String> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().to_lowercase()),
            _ => None,
        })
        .collect()
}

/// Why a protected name is protected.
fn name_why(name: &Path) -> &'static str {
    let want = fold(name);
    PROTECTED_NAMES
        .iter()
        .find(|(n, _)| fold(Path::new(n)) == want)
        .map_or(PROTECTED_WHY, |(_, why)| why)
}

/// `inner` is `outer` or below it, ignoring case.
fn within(inner: &[String], outer: &[String]) -> bool {
    inner.starts_with(outer)
}

impl Protected {
    /// Absolute paths only (tests and embedders); the project names are added too.
    pub fn from_paths<I: IntoIterator<Item = PathBuf>>(paths: I) -> Protected {
        let mut p = Protected::with_names();
        for path in paths {
            p.add(path, PROTECTED_WHY);
        }
        p
    }

    /// An empty set with the project-level names.
    pub fn with_names() -> Protected {
        Protected {
            names: PROTECTED_NAMES
                .iter()
                .map(|(n, _)| PathBuf::from(n))
                .collect(),
            ..Protected::default()
        }
    }

    /// Adds an absolute path (normalised); relative or empty ones are ignored.
    pub fn add(&mut self, path: PathBuf, why: impl Into<String>) {
        if path.as_os_str().is_empty() || !path.is_absolute() {
            return;
        }
        let path = super::path::normalize(&path);
        // Normalised paths are equal exactly when their bytes are: no component walk.
        if !self
            .paths
            .iter()
            .any(|e| e.path.as_os_str() == path.as_os_str())
        {
            self.paths.push(Entry {
                path,
                why: why.into(),
            });
        }
    }

    /// Adds a private key no agent may read (and so no agent may write either).
    pub fn add_secret(&mut self, path: PathBuf, why: impl Into<String>) {
        if path.as_os_str().is_empty() || !path.is_absolute() {
            return;
        }
        let why = why.into();
        let path = super::path::normalize(&path);
        self.add(path.clone(), why.clone());
        self.secrets.push(Entry { path, why });
    }

    /// The protected name a path passes through, if any (`/x/.claude/s.json` -> `.claude`).
    pub fn name_in(&self, path: &Path) -> Option<&Path> {
        let comps = fold(path);
        self.names.iter().map(PathBuf::as_path).find(|n| {
            let want = fold(n);
            !want.is_empty() && comps.windows(want.len()).any(|w| w == want.as_slice())
        })
    }

    /// Why a write to `path` is refused, if it is. `walk` looks below an
    /// existing directory for protected names (the edge passes the real file
    /// system; `None` when the path is not an existing directory).
    pub fn write_refusal(
        &self,
        path: &Path,
        walk: &dyn Fn(&Path) -> Option<Contains>,
    ) -> Option<String> {
        let c = fold(path);
        for e in &self.paths {
            let p = fold(&e.path);
            if within(&c, &p) {
                return Some(format!(
                    "{} is inside {} ({})",
                    path.display(),
                    e.path.display(),
                    e.why
                ));
            }
            if within(&p, &c) {
                return Some(format!(
                    "{} contains {} ({}); renaming, deleting or changing it would change that too",
                    path.display(),
                    e.path.display(),
                    e.why
                ));
            }
        }
        if let Some(n) = self.name_in(path) {
            return Some(format!(
                "{} is inside `{}` ({}), where hosts, editors and toolgate keep configuration that runs",
                path.display(),
                n.display(),
                name_why(n)
            ));
        }
        match walk(path) {
            Some(Contains::Found(p)) => Some(format!(
                "{} contains {}, where hosts and toolgate keep their configuration",
                path.display(),
                p.display()
            )),
            Some(Contains::TooLarge(n)) => Some(format!(
                "{} holds more than {n} entries, too many to check that it contains no host or toolgate configuration; change it in smaller parts",
                path.display()
            )),
            _ => None,
        }
    }

    /// Why a read of `path` is refused, if it is: a private key, the directory
    /// holding one, or the directory above that (toolgate's config root, which
    /// a recursive read would walk into). Higher ancestors stay readable: see README.
    pub fn read_refusal(&self, path: &Path) -> Option<String> {
        let c = fold(path);
        for e in &self.secrets {
            let key = fold(&e.path);
            let dir = key.split_last().map_or(&[][..], |(_, d)| d);
            if within(&c, dir) || (within(dir, &c) && c.len() + 1 >= dir.len()) {
                return Some(format!(
                    "{} is or holds {} ({}); agents may not read it",
                    path.display(),
                    e.path.display(),
                    e.why
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &Path) -> Option<Contains> {
        None
    }

    #[test]
    fn writes_at_inside_and_above_protected_paths_are_refused() {
        let mut p = Protected::with_names();
        p.add("/home/u/.config/toolgate".into(), "toolgate's config");
        for bad in [
            "/home/u/.config/toolgate",
            "/home/u/.config/toolgate/passport.json",
            "/home/u/.config",
            "/home/u",
            "/",
            "/HOME/U/.Config/Toolgate/x",
            "/w/p/.claude",
            "/w/p/sub/deep/.CLAUDE/settings.json",
            "/w/p/.github/hooks/toolgate.json",
            "/w/p/.toolgate",
        ] {
            assert!(p.write_refusal(Path::new(bad), &none).is_some(), "{bad}");
        }
        for ok in [
            "/home/u/.config/other",
            "/w/p/src/main.rs",
            "/w/p/.github/workflows/ci.yml",
            "/w/p/.claudex/x",
            "/w/p/claude",
        ] {
            assert_eq!(p.write_refusal(Path::new(ok), &none), None, "{ok}");
        }
        let found = |_: &Path| Some(Contains::Found("/w/p/sub/.claude".into()));
        assert!(p.write_refusal(Path::new("/w/p/sub"), &found).is_some());
        let big = |_: &Path| Some(Contains::TooLarge(3));
        assert!(p.write_refusal(Path::new("/w/p/sub"), &big).is_some());
    }

    #[test]
    fn private_keys_and_what_holds_them_are_not_readable() {
        let mut p = Protected::with_names();
        p.add_secret(
            "/h/.config/toolgate/keys/toolgate.key.jwk".into(),
            "the evaluator key",
        );
        for bad in [
            "/h/.config/toolgate/keys/toolgate.key.jwk",
            "/h/.config/toolgate/keys",
            "/h/.config/toolgate/keys/other",
            "/h/.config/toolgate",
        ] {
            assert!(p.read_refusal(Path::new(bad)).is_some(), "{bad}");
        }
        for ok in ["/h/.config", "/h/project/src/x.rs", "/h/.config/toolgate2"] {
            assert_eq!(p.read_refusal(Path::new(ok)), None, "{ok}");
        }
    }
}
