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
use crate::passport::{KeyPair, PublicKey};
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

/// The first unexpired grant, signed by `key`, that matches this call.
pub fn find(
    config_root: &Path,
    key: &PublicKey,
    passport_id: &str,
    tool: &str,
    input_digest: &str,
    now_unix: i64,
) -> Option<(Grant, PathBuf)> {
    let entries = std::fs::read_dir(dir(config_root)).ok()?;
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
        let fits = g.passport_id == passport_id
            && g.tool == tool
            && g.input_digest == input_digest
            && now_unix < g.expires_at;
        if !fits {
            continue;
        }
        let Ok(value) = serde_json::to_value(g) else {
            continue;
        };
        if signed.kid == key.kid && key.verify_oap(&jcs(&value), &signed.signature) {
            return Some((signed.grant, path));
        }
    }
    None
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
