//! Scoped approvals: a person turns one denied (or review) decision into a signed grant
//! bound to that exact call (its input digest, tool, policy and passport), for the next
//! matching call (`--once`) or for a while (`--for 1h`).
//!
//! Grants live in toolgate's configuration directory, which is in the protected set for
//! writes and, for `grants/`, for reads too: the agent can neither forge nor see one. A
//! grant is signed by the evaluator key and checked against it, so a file copied in by
//! other means is refused. What a grant may let through is decided by the pure
//! [`crate::decision::apply_grant`]; the edge only finds a matching grant, and consumes a
//! one-time grant under the audit lock before the record that cites it is written.

use crate::canonical::jcs;
use crate::passport::{KeyPair, Passport, PublicKey};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a person approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub grant_id: String,
    /// The decision the person looked at.
    pub decision_id: String,
    pub passport_id: String,
    pub tool: String,
    pub policy_id: String,
    /// `sha256:` of the call's tool input: the grant covers this exact call only.
    pub input_digest: String,
    /// Consumed by the first matching call.
    pub once: bool,
    /// Unix seconds after which the grant is void.
    pub expires_at: i64,
    pub approved_by: String,
    pub created_at: String,
    /// A narrow pattern instead of the exact call: the next calls are decided as if the
    /// passport held this one more allow entry, every other rule unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<Pattern>,
}

/// One allow entry a person approved for a while: `limits.<capability>.<list>` gains `entry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pattern {
    pub capability: String,
    pub list: String,
    pub entry: String,
}

impl Pattern {
    /// The passport with the entry added (the grant's only widening). `None` when the
    /// passport has no such list: a grant never creates a limit the passport lacks.
    pub fn amend(&self, p: &Passport) -> Option<Passport> {
        let mut out = p.clone();
        let list = out
            .limits
            .get_mut(&self.capability)?
            .get_mut(&self.list)?
            .as_array_mut()?;
        list.push(serde_json::Value::String(self.entry.clone()));
        Some(out)
    }
}

/// Why a command pattern is refused: the rule of docs/passports.md ("Approving a pattern").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error(
        "`{0}` holds `{1}`, which the shell would expand or combine; a pattern is plain words"
    )]
    NotPlain(String, char),
    #[error("`{0}` names only a program, so it would allow it with any arguments; give at least its first argument too (e.g. `{0} {1}`)")]
    BareProgram(String, String),
    #[error("`{pattern}` does not cover the denied command `{denied}`: a pattern is the denied command's first words")]
    NotAPrefix { pattern: String, denied: String },
    #[error("the pattern is empty")]
    Empty,
}

/// Checks that a command pattern is no wider than the denied command needs: plain words
/// (nothing the shell expands, quotes or chains), the denied command's first words on word
/// boundaries, and more than the program name alone.
pub fn check_command_pattern(pattern: &str, denied: &str) -> Result<(), PatternError> {
    if let Some(c) = pattern
        .chars()
        .find(|c| !(c.is_alphanumeric() || c.is_whitespace() || "-_./=:,+@%".contains(*c)))
    {
        return Err(PatternError::NotPlain(pattern.into(), c));
    }
    let want: Vec<&str> = pattern.split_whitespace().collect();
    let have: Vec<&str> = denied.split_whitespace().collect();
    let Some(program) = want.first() else {
        return Err(PatternError::Empty);
    };
    if want.len() > have.len() || want.iter().zip(&have).any(|(a, b)| a != b) {
        return Err(PatternError::NotAPrefix {
            pattern: pattern.into(),
            denied: denied.into(),
        });
    }
    if want.len() < 2 {
        let next = have.get(1).copied().unwrap_or("ARG");
        return Err(PatternError::BareProgram((*program).into(), next.into()));
    }
    Ok(())
}

/// A grant as stored: the grant and the evaluator key's signature over its JCS bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signed {
    pub grant: Grant,
    pub kid: String,
    pub signature: String,
}

/// Why a grant could not be stored or used.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("cannot write the grant {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot consume the grant {path}: {source}")]
    Consume {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where grants are kept, under toolgate's configuration directory.
pub fn dir(config_root: &Path) -> PathBuf {
    config_root.join("grants")
}

/// Signs and stores a grant; returns its file.
pub fn store(config_root: &Path, grant: Grant, key: &KeyPair) -> Result<PathBuf, GrantError> {
    let d = dir(config_root);
    let path = d.join(format!("{}.json", grant.grant_id));
    let werr = |source| GrantError::Write {
        path: path.clone(),
        source,
    };
    let value = serde_json::to_value(&grant).map_err(|e| werr(std::io::Error::other(e)))?;
    let signed = Signed {
        signature: key.sign_oap(&jcs(&value)),
        kid: key.kid().into(),
        grant,
    };
    std::fs::create_dir_all(&d).map_err(werr)?;
    let text = serde_json::to_vec_pretty(&signed).map_err(|e| werr(std::io::Error::other(e)))?;
    let tmp = d.join(format!(".{}.tmp", signed.grant.grant_id));
    std::fs::write(&tmp, text).map_err(werr)?;
    std::fs::rename(&tmp, &path).map_err(werr)?;
    Ok(path)
}

/// Every unexpired grant signed by `key` for this passport and tool.
fn valid(
    config_root: &Path,
    key: &PublicKey,
    passport_id: &str,
    tool: &str,
    now_unix: i64,
) -> Vec<(Grant, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir(config_root)) else {
        return vec![];
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let Ok(bytes) = crate::regular::read(&path, 64 * 1024) else {
            continue;
        };
        let Ok(signed) = serde_json::from_slice::<Signed>(&bytes) else {
            continue;
        };
        let g = &signed.grant;
        if g.passport_id != passport_id || g.tool != tool || now_unix >= g.expires_at {
            continue;
        }
        let Ok(value) = serde_json::to_value(g) else {
            continue;
        };
        if signed.kid == key.kid && key.verify_oap(&jcs(&value), &signed.signature) {
            out.push((signed.grant, path));
        }
    }
    // The same order on every call, so which of two fitting grants is used is stable.
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

/// The first unexpired grant, signed by `key`, for exactly this call (its input digest).
pub fn find(
    config_root: &Path,
    key: &PublicKey,
    passport_id: &str,
    tool: &str,
    input_digest: &str,
    now_unix: i64,
) -> Option<(Grant, PathBuf)> {
    valid(config_root, key, passport_id, tool, now_unix)
        .into_iter()
        .find(|(g, _)| g.pattern.is_none() && g.input_digest == input_digest)
}

/// The unexpired pattern grants, signed by `key`, for this passport, tool and policy.
pub fn find_patterns(
    config_root: &Path,
    key: &PublicKey,
    passport_id: &str,
    tool: &str,
    policy_id: &str,
    now_unix: i64,
) -> Vec<(Grant, PathBuf)> {
    valid(config_root, key, passport_id, tool, now_unix)
        .into_iter()
        .filter(|(g, _)| g.pattern.is_some() && g.policy_id == policy_id)
        .collect()
}

/// Consumes a one-time grant: renamed aside before the record citing it is written,
/// so two calls racing for it cannot both use it (the second finds nothing).
pub fn consume(path: &Path) -> Result<(), GrantError> {
    let mut used = path.as_os_str().to_owned();
    used.push(".used");
    std::fs::rename(path, PathBuf::from(used)).map_err(|source| GrantError::Consume {
        path: path.into(),
        source,
    })
}
