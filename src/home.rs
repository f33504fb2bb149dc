//! Where toolgate's files live, and where each setting came from.
//!
//! Each item resolves on its own: a flag, then its `TOOLGATE_*` variable,
//! then `TOOLGATE_HOME` (which, when set, replaces both the project and the
//! user layers so tests and CI are isolated), then the project's
//! `.toolgate/` (nearest ancestor of the working directory, used only where
//! the file exists), then the user's config and data directories.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env(&'static str),
    ToolgateHome,
    Project(PathBuf),
    User,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("flag"),
            Source::Env(v) => write!(f, "env {v}"),
            Source::ToolgateHome => f.write_str("env TOOLGATE_HOME"),
            Source::Project(p) => write!(f, "project {}", p.display()),
            Source::User => f.write_str("user directory"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub path: PathBuf,
    pub source: Source,
}

/// Values given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub passport: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub trust_dir: Option<PathBuf>,
    pub audit_log: Option<PathBuf>,
    pub packs_dir: Option<PathBuf>,
    pub config: Option<PathBuf>,
}

/// The resolved file locations.
#[derive(Debug, Clone)]
pub struct Locations {
    pub config: Resolved,
    pub passport: Resolved,
    pub key: Resolved,
    pub trust_dir: Resolved,
    pub audit_log: Resolved,
    pub packs_dir: Option<Resolved>,
    /// The directory `init` and `keygen` write to by default.
    pub config_root: PathBuf,
}

/// Relative locations inside a toolgate root.
pub const CONFIG_FILE: &str = "config.json";
pub const PASSPORT_FILE: &str = "passport.json";
pub const KEY_FILE: &str = "keys/toolgate.key.jwk";
pub const PUBLIC_KEY_FILE: &str = "keys/toolgate.pub.jwk";
pub const TRUST_DIR: &str = "trust";
pub const AUDIT_LOG_FILE: &str = "audit/audit.jsonl";
pub const PACKS_DIR: &str = "policy-packs";

/// Resolves every location. `env` is injected so resolution is testable.
pub fn resolve(o: &Overrides, env: &dyn Fn(&str) -> Option<String>, cwd: &Path) -> Locations {
    let home = env("TOOLGATE_HOME")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from);
    let project = if home.is_none() {
        find_project(cwd)
    } else {
        None
    };
    let dirs = directories::ProjectDirs::from("dev", "toolgate", "toolgate");
    let (user_config, user_data) = match (&home, &dirs) {
        (Some(h), _) => (h.clone(), h.clone()),
        (None, Some(d)) => (d.config_dir().to_path_buf(), d.data_dir().to_path_buf()),
        (None, None) => (PathBuf::from(".toolgate"), PathBuf::from(".toolgate")),
    };
    let base_source = if home.is_some() {
        Source::ToolgateHome
    } else {
        Source::User
    };
    let pick =
        |flag: &Option<PathBuf>, var: &'static str, rel: &str, user_root: &Path| -> Resolved {
            if let Some(p) = flag {
                return Resolved {
                    path: p.clone(),
                    source: Source::Flag,
                };
            }
            if let Some(v) = env(var).filter(|s| !s.is_empty()) {
                return Resolved {
                    path: v.into(),
                    source: Source::Env(var),
                };
            }
            if let Some(proj) = &project {
                let p = proj.join(rel);
                if p.exists() {
                    return Resolved {
                        path: p,
                        source: Source::Project(proj.clone()),
                    };
                }
            }
            Resolved {
                path: user_root.join(rel),
                source: base_source.clone(),
            }
        };
    let packs_dir = {
        let r = pick(&o.packs_dir, "TOOLGATE_PACKS_DIR", PACKS_DIR, &user_config);
        (r.source != base_source || r.path.exists()).then_some(r)
    };
    Locations {
        config: pick(&o.config, "TOOLGATE_CONFIG", CONFIG_FILE, &user_config),
        passport: pick(
            &o.passport,
            "TOOLGATE_PASSPORT",
            PASSPORT_FILE,
            &user_config,
        ),
        key: pick(&o.key, "TOOLGATE_KEY", KEY_FILE, &user_config),
        trust_dir: pick(&o.trust_dir, "TOOLGATE_TRUST_DIR", TRUST_DIR, &user_config),
        audit_log: pick(
            &o.audit_log,
            "TOOLGATE_AUDIT_LOG",
            AUDIT_LOG_FILE,
            &user_data,
        ),
        packs_dir,
        config_root: user_config,
    }
}

/// The nearest `.toolgate/` directory at or above `cwd`.
fn find_project(cwd: &Path) -> Option<PathBuf> {
    cwd.ancestors()
        .map(|a| a.join(".toolgate"))
        .find(|p| p.is_dir())
}

/// Optional settings in `config.json`. Unknown keys are refused so a typo is an error, not a silent default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Recorded as `on_behalf_of` when the host does not say.
    pub on_behalf_of: Option<String>,
    /// Extra tool names that pass without a pack (e.g. a host's new planning tool).
    pub harmless_tools: Vec<String>,
    pub audit: AuditConfig,
    /// OpenTelemetry export of each decision (docs/telemetry.md).
    pub telemetry: crate::telemetry::TelemetryConfig,
    /// Hybrid mode: signed fleet status (and optionally the passport) from a static HTTPS host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<crate::remote::RemoteConfig>,
    /// The organisation's policy: a ceiling over every passport on this machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org: Option<crate::remote::OrgConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// `sync_data` after each record (default true).
    pub sync: bool,
    /// Store the (redacted) tool input in each record, not only its digest.
    pub store_input: bool,
    /// Start a new log file once the active one reaches this many bytes.
    pub rotate_max_bytes: Option<u64>,
    /// Start a new log file on the first record of each UTC day.
    pub rotate_daily: bool,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            sync: true,
            store_input: false,
            rotate_max_bytes: None,
            rotate_daily: false,
        }
    }
}

/// Errors reading `config.json`.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {why}")]
pub struct ConfigError {
    pub path: PathBuf,
    pub why: String,
}

impl Config {
    /// Reads the config; a missing file is the default config.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ConfigError {
                path: path.into(),
                why: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(ConfigError {
                path: path.into(),
                why: e.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_env_beat_home() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_string_lossy().into_owned();
        let env = |k: &str| match k {
            "TOOLGATE_HOME" => Some(home.clone()),
            "TOOLGATE_PASSPORT" => Some("/env/passport.json".into()),
            _ => None,
        };
        let o = Overrides {
            key: Some("/flag/key.jwk".into()),
            ..Default::default()
        };
        let l = resolve(&o, &env, dir.path());
        assert_eq!(l.key.source, Source::Flag);
        assert_eq!(l.passport.source, Source::Env("TOOLGATE_PASSPORT"));
        assert_eq!(l.audit_log.source, Source::ToolgateHome);
        assert_eq!(l.audit_log.path, dir.path().join(AUDIT_LOG_FILE));
    }

    #[test]
    fn project_files_are_used_only_where_they_exist() {
        let dir = tempfile::tempdir().unwrap();
        let proj = dir.path().join(".toolgate");
        std::fs::create_dir_all(&proj).unwrap();
        std::fs::write(proj.join(PASSPORT_FILE), "{}").unwrap();
        let sub = dir.path().join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        let l = resolve(&Overrides::default(), &|_| None, &sub);
        assert_eq!(l.passport.path, proj.join(PASSPORT_FILE));
        assert!(matches!(l.key.source, Source::User));
    }
}
