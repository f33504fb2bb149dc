//! Where toolgate's files live, and where each setting came from.
//!
//! Each item resolves on its own: a flag, then its `TOOLGATE_*` variable,
//! then `TOOLGATE_HOME` (which, when set, replaces the user directories so
//! tests and CI are isolated), then the user's config and data directories
//! (XDG on Linux).
//!
//! Nothing is discovered from the project or the working directory: both are
//! the agent's to write, and a policy the agent can write is no policy. A
//! project's own policy is used only after `toolgate trust project DIR`, and
//! can only narrow the user's.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env(&'static str),
    ToolgateHome,
    User,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("flag"),
            Source::Env(v) => write!(f, "env {v}"),
            Source::ToolgateHome => f.write_str("env TOOLGATE_HOME"),
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
/// `_cwd` is deliberately unused: no location depends on the working directory.
pub fn resolve(o: &Overrides, env: &dyn Fn(&str) -> Option<String>, _cwd: &Path) -> Locations {
    let home = env("TOOLGATE_HOME")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from);
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

/// Optional settings in `config.json`. Unknown keys are refused so a typo is an error, not a silent default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Recorded as `on_behalf_of` when the host does not say.
    pub on_behalf_of: Option<String>,
    /// Extra tool names that pass without a pack (e.g. a host's new planning tool).
    pub harmless_tools: Vec<String>,
    /// Trusted project roots, replacing what the host says (relative passport
    /// globs anchor here). Absolute paths.
    pub project_roots: Vec<PathBuf>,
    /// Rollout modes (`mode`, `pack_modes`) that may only make the passport's stricter.
    #[serde(skip_serializing_if = "crate::passport::rollout::Rollout::is_empty")]
    pub rollout: crate::passport::rollout::Rollout,
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
pub type ConfigError = crate::regular::DocError;

impl Config {
    /// Reads the config; a missing file is the default config.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match crate::regular::read_optional(path, crate::regular::DOC_CAP) {
            Ok(Some(bytes)) => crate::regular::parse_doc(path, &bytes),
            Ok(None) => Ok(Config::default()),
            Err(source) => Err(ConfigError::Read {
                path: path.into(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_that_is_not_json_keeps_the_parse_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        std::fs::write(&p, b"{\"harmless_tools\": [1,").unwrap();
        let err = Config::load(&p).unwrap_err();
        let cause = std::error::Error::source(&err).expect("the serde_json error");
        assert!(cause.downcast_ref::<serde_json::Error>().is_some(), "{err}");
    }

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
    fn a_project_toolgate_directory_is_never_discovered() {
        let dir = tempfile::tempdir().unwrap();
        let proj = dir.path().join(".toolgate");
        std::fs::create_dir_all(proj.join(PACKS_DIR)).unwrap();
        std::fs::write(proj.join(PASSPORT_FILE), "{}").unwrap();
        let sub = dir.path().join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        for cwd in [dir.path(), sub.as_path()] {
            let l = resolve(&Overrides::default(), &|_| None, cwd);
            for r in [&l.passport, &l.key, &l.trust_dir, &l.config] {
                assert!(!r.path.starts_with(dir.path()), "{r:?}");
                assert_eq!(r.source, Source::User);
            }
            assert!(l
                .packs_dir
                .as_ref()
                .is_none_or(|p| !p.path.starts_with(dir.path())));
        }
    }
}
