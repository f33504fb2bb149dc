//! Project policy: an explicit, pinned opt-in, never discovered.
//!
//! A project may ship `.toolgate/project-policy.json`: the capabilities it
//! keeps and the limits it tightens, in the shape of a delegation. toolgate
//! reads it only for a trusted project root the user approved with `toolgate
//! trust project DIR`, which proves it narrows the user's passport and pins
//! the SHA-256 of its bytes in the user's config directory (which no agent may
//! write). Any later change, or its removal, denies every call in that root
//! until the user approves it again. It is decided as a layer beside the
//! passport, so it can only ever narrow; a document that widens is refused.

use super::delegation;
use crate::packs::Catalog;
use crate::passport::Passport;
use crate::reason::{Reason, ReasonCode};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The project's policy file, relative to its root.
pub const FILE: &str = ".toolgate/project-policy.json";
/// The store of approved projects, in toolgate's config directory.
pub const STORE: &str = "trusted-projects.json";
/// Largest policy file or store read.
const MAX_BYTES: u64 = 1024 * 1024;

/// Why the store or a project policy cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error(transparent)]
    Doc(#[from] crate::regular::DocError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The approved projects.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Store {
    #[serde(default)]
    pub projects: Vec<Pinned>,
}

/// One approval: the project root, the digest of the policy approved, when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Pinned {
    pub dir: PathBuf,
    pub digest: String,
    pub approved_at: String,
}

impl Store {
    /// The store at `path`; none there is an empty store.
    pub fn load(path: &Path) -> Result<Store, ProjectError> {
        if std::fs::symlink_metadata(path).is_err() {
            return Ok(Store::default());
        }
        let bytes = crate::regular::read_doc(path, MAX_BYTES)?;
        Ok(crate::regular::parse_doc(path, &bytes)?)
    }

    pub fn save(&self, path: &Path) -> Result<(), ProjectError> {
        let write = |source| ProjectError::Write {
            path: path.into(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(write)?;
        }
        let text = serde_json::to_string_pretty(self).unwrap_or_default() + "\n";
        std::fs::write(path, text).map_err(write)
    }

    /// Approves (or re-approves) `dir` at `digest`.
    pub fn pin(&mut self, dir: PathBuf, digest: String, approved_at: String) {
        self.projects.retain(|p| p.dir != dir);
        self.projects.push(Pinned {
            dir,
            digest,
            approved_at,
        });
    }
}

/// The policy file of a project root: its bytes and their digest, `None` when absent.
pub fn read(dir: &Path) -> Result<Option<(Vec<u8>, String)>, ProjectError> {
    let path = dir.join(FILE);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    let bytes = crate::regular::read_doc(&path, MAX_BYTES)?;
    let digest = crate::canonical::digest_bytes(&bytes);
    Ok(Some((bytes, digest)))
}

/// Proves the policy narrows `parent`: the passport a call in that project is also decided under.
pub fn narrowed(
    dir: &Path,
    bytes: &[u8],
    parent: &Passport,
    catalog: &Catalog,
) -> Result<Passport, Reason> {
    let invalid = |why: String| {
        Reason::new(
            ReasonCode::PolicyError,
            format!("{}: {why}", dir.join(FILE).display()),
        )
    };
    let value: serde_json::Value =
        crate::canonical::parse_strict(bytes).map_err(|e| invalid(e.to_string()))?;
    delegation::narrowed(
        parent,
        catalog,
        &format!("the project policy of {}", dir.display()),
        &value,
    )
}

/// One project layer: its name for records, the pinned digest, the narrowed passport.
#[derive(Debug, Clone)]
pub struct ProjectLayer {
    pub dir: PathBuf,
    pub digest: String,
    pub passport: Passport,
}

/// The project layers for the trusted `roots`: every approved root among them
/// whose policy is still the one approved. A changed or removed policy of an
/// approved root is a deny; a policy no one approved is not read.
pub fn layers(
    store: &Store,
    roots: &[PathBuf],
    parent: &Passport,
    catalog: &Catalog,
) -> Result<Vec<ProjectLayer>, Reason> {
    let mut out = vec![];
    for pinned in store.projects.iter().filter(|p| roots.contains(&p.dir)) {
        let again = format!(
            "review it, then run `toolgate trust project {}` again (or `--forget`)",
            pinned.dir.display()
        );
        let file = read(&pinned.dir)
            .map_err(|e| Reason::new(ReasonCode::PolicyError, format!("{e}; {again}")))?;
        let Some((bytes, digest)) = file else {
            return Err(Reason::new(
                ReasonCode::PolicyError,
                format!(
                    "the approved project policy {} is gone; {again}",
                    pinned.dir.join(FILE).display()
                ),
            ));
        };
        if digest != pinned.digest {
            return Err(Reason::new(
                ReasonCode::PolicyError,
                format!(
                    "{} changed since it was approved ({} then, {digest} now); {again}",
                    pinned.dir.join(FILE).display(),
                    pinned.digest
                ),
            ));
        }
        let passport = narrowed(&pinned.dir, &bytes, parent, catalog)?;
        out.push(ProjectLayer {
            dir: pinned.dir.clone(),
            digest,
            passport,
        });
    }
    Ok(out)
}
