//! Hybrid mode: a remote source of truth (signed files on any static HTTPS host) and a
//! verified local cache, so a suspension reaches every machine within the cache TTL
//! while no decision ever waits on the network for longer than one bounded refresh.
//!
//! This module is the edge: it reads and writes the cache and talks HTTPS. What the
//! verified status means for a call is decided by the pure [`crate::policy`] layer.

pub mod cache;
pub mod fetch;
pub mod index;
pub mod status;

pub use cache::{Fleet, RefreshReport};
pub use status::{
    FleetStatus, SignedStatus, StatusDocument, StatusError, StatusSummary, VerifiedStatus,
};

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `config.json` `remote`: where the fleet's status (and optionally the passport) is published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    /// https URL of the signed status document.
    pub status_url: String,
    /// https URL of this machine's passport (its signature at the same URL + `.sig`);
    /// when set, it replaces the local passport file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passport_url: Option<String>,
    /// Refresh when the cached copy is older than this (the propagation bound).
    #[serde(default = "default_ttl")]
    pub ttl_s: u64,
    /// Past this without a good fetch, every call denies (`oap.status_stale`).
    #[serde(default = "default_max_stale")]
    pub max_stale_s: u64,
    /// PEM CA file that alone is trusted for the status host (otherwise the public roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// The most one refresh may take, whole (connect, TLS, answer, body).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_ttl() -> u64 {
    30
}
fn default_max_stale() -> u64 {
    3600
}
fn default_timeout_ms() -> u64 {
    1500
}

/// `config.json` `org`: the organisation's policy, a ceiling for every passport here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgConfig {
    /// A local file or an https URL of an OAP passport or template (signature beside it, `.sig`).
    pub policy: String,
    /// The org's public key (JWK): the only key whose signature on the org policy counts.
    pub key: PathBuf,
}

impl OrgConfig {
    pub fn is_remote(&self) -> bool {
        self.policy.starts_with("https://") || self.policy.starts_with("http://")
    }
}
