//! The verified on-disk cache of remote documents, and the bounded refresh that updates it.
//!
//! The cache lives under toolgate's config root (a protected path: an agent cannot
//! plant or roll back a document there). It only ever holds documents that verified.
//! A refresh that verified the status document writes its index ([`super::index`],
//! authenticated under the machine's cache key), and a decision reads only that: an
//! index that does not authenticate, names another source or an issuer no longer
//! trusted is refetched, and until a good fetch the call denies. One lock serialises
//! refreshes, so two hooks never write an older sequence over a newer one.

use super::fetch::{Fetched, Fetcher, Validators};
use super::index::{self, StatusIndex};
use super::status::{self, StatusView, VerifiedStatus, MAX_STATUS_BYTES};
use super::{OrgConfig, RemoteConfig};
use crate::passport::{self, PublicKey, TrustStore, VerifiedPassport};
use crate::reason::{Reason, ReasonCode};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Largest passport or org policy file fetched.
const MAX_PASSPORT_BYTES: usize = 1024 * 1024;
/// The cache's state file inside the cache directory.
const STATE_FILE: &str = "state.json";
/// The authenticated index of the cached status document.
const INDEX_FILE: &str = "status.idx";
/// The machine-local key the index is authenticated under.
const KEY_FILE: &str = "cache.key";

/// What the cache knows about one remote document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocState {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// Unix time of the last fetch that confirmed the cached copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<i64>,
    /// Unix time of the last attempt, good or bad (failures are retried once per TTL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempted_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<Reason>,
    /// The cached file's name in the cache directory (the document as received).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// The cache state file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DocState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passport: Option<DocState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<DocState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Doc {
    Status,
    Passport,
    Org,
}

impl Doc {
    fn name(self) -> &'static str {
        match self {
            Doc::Status => "status",
            Doc::Passport => "passport",
            Doc::Org => "org",
        }
    }

    fn slot(self, s: &mut CacheState) -> &mut Option<DocState> {
        match self {
            Doc::Status => &mut s.status,
            Doc::Passport => &mut s.passport,
            Doc::Org => &mut s.org,
        }
    }

    fn unavailable(self) -> ReasonCode {
        match self {
            Doc::Status => ReasonCode::StatusUnavailable,
            Doc::Passport => ReasonCode::PassportNotFound,
            Doc::Org => ReasonCode::OrgPolicyUnavailable,
        }
    }
}

/// What one refresh did, per document (for `status refresh` and the record's notes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RefreshReport {
    pub lines: Vec<(String, Result<String, Reason>)>,
}

impl RefreshReport {
    pub fn ok(&self) -> bool {
        self.lines.iter().all(|(_, r)| r.is_ok())
    }
}

/// The fleet sources configured on this machine and their cache.
pub struct Fleet {
    pub remote: Option<RemoteConfig>,
    pub org: Option<OrgConfig>,
    pub dir: PathBuf,
}

/// What the gate hands on: the status to judge, the passport file to load, the org policy.
#[derive(Debug)]
pub struct FleetInputs {
    pub status: Option<CachedStatus>,
    /// Set when the passport comes from `passport_url`.
    pub passport_path: Option<Result<PathBuf, Reason>>,
    pub org: Option<Result<VerifiedPassport, Reason>>,
    /// Refresh failures, for the record.
    pub notes: Vec<String>,
}

impl Fleet {
    pub fn new(
        remote: Option<RemoteConfig>,
        org: Option<OrgConfig>,
        config_root: &Path,
    ) -> Option<Fleet> {
        if remote.is_none() && org.is_none() {
            return None;
        }
        Some(Fleet {
            remote,
            org,
            dir: config_root.join("remote"),
        })
    }

    fn ttl(&self) -> i64 {
        self.remote.as_ref().map_or(30, |r| r.ttl_s) as i64
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.remote.as_ref().map_or(1500, |r| r.timeout_ms))
    }

    /// The remote documents configured, with their URLs.
    fn docs(&self) -> Vec<(Doc, String)> {
        let mut out = vec![];
        if let Some(r) = &self.remote {
            out.push((Doc::Status, r.status_url.clone()));
            if let Some(p) = &r.passport_url {
                out.push((Doc::Passport, p.clone()));
            }
        }
        if let Some(o) = self.org.as_ref().filter(|o| o.is_remote()) {
            out.push((Doc::Org, o.policy.clone()));
        }
        out
    }

    pub fn read_state(&self) -> CacheState {
        std::fs::read(self.dir.join(STATE_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn due(&self, state: &CacheState, now: i64) -> bool {
        let mut s = state.clone();
        self.docs()
            .into_iter()
            .any(|(doc, url)| match doc.slot(&mut s) {
                Some(d) if d.url == url => {
                    let last = d.verified_at.max(d.attempted_at).unwrap_or(i64::MIN);
                    now.saturating_sub(last) >= self.ttl()
                }
                _ => true,
            })
    }

    /// The status index, if a status is configured: `Err` says why it cannot be used.
    fn read_index(&self, trust: &TrustStore) -> Option<Result<StatusIndex, String>> {
        let r = self.remote.as_ref()?;
        Some(
            crate::seal::MacKey::load(&self.dir.join(KEY_FILE))
                .map_err(|e| e.to_string())
                .and_then(|key| index::read(&self.dir.join(INDEX_FILE), key, &r.status_url, trust)),
        )
    }

    /// Whether a refresh is needed now: a document is older than the TTL, or the status
    /// index cannot be used and no refresh failed within the TTL (so a server that is
    /// down costs one bounded attempt per TTL, not one per call).
    fn needs_refresh(
        &self,
        state: &CacheState,
        index: Option<&Result<StatusIndex, String>>,
        now: i64,
    ) -> bool {
        let failed_recently = state.status.as_ref().is_some_and(|d| {
            d.last_error.is_some()
                && d.attempted_at
                    .is_some_and(|t| now.saturating_sub(t) < self.ttl())
        });
        self.due(state, now) || (matches!(index, Some(Err(_))) && !failed_recently)
    }

    /// Everything the decision needs, refreshing first if the cache is older than the TTL
    /// or the status index cannot be used. A hit reads the state and the index, no more.
    pub fn inputs(&self, trust: &TrustStore, now: i64) -> FleetInputs {
        let mut notes = vec![];
        let mut state = self.read_state();
        let mut index = self.read_index(trust);
        if self.needs_refresh(&state, index.as_ref(), now) {
            let report = self.refresh(trust, now, false);
            for (doc, r) in &report.lines {
                if let Err(e) = r {
                    notes.push(format!("{doc} refresh failed: {e}"));
                }
            }
            state = self.read_state();
            index = self.read_index(trust);
        }
        FleetInputs {
            status: self
                .remote
                .as_ref()
                .zip(index)
                .map(|(r, index)| CachedStatus {
                    source: r.status_url.clone(),
                    max_stale_s: r.max_stale_s,
                    problem: state
                        .status
                        .as_ref()
                        .filter(|d| d.url == r.status_url)
                        .and_then(|d| d.last_error.as_ref())
                        .map(|e| e.to_string()),
                    index,
                    path: self.dir.join(INDEX_FILE),
                }),
            passport_path: self
                .remote
                .as_ref()
                .and_then(|r| r.passport_url.as_ref())
                .map(|url| self.cached_file(state.passport.as_ref(), url, Doc::Passport)),
            org: self.org.as_ref().map(|o| self.org_policy(o, &state)),
            notes,
        }
    }

    /// The cached status document, verified in full (for `toolgate status` and refresh).
    pub fn cached_status(&self, state: &CacheState, trust: &TrustStore) -> Option<VerifiedStatus> {
        let r = self.remote.as_ref()?;
        let name = state
            .status
            .as_ref()
            .filter(|d| d.url == r.status_url)?
            .body
            .as_ref()
            .filter(|n| is_cache_name(n, Doc::Status))?;
        let bytes = crate::regular::read(&self.dir.join(name), MAX_STATUS_BYTES as u64).ok()?;
        status::verify(&bytes, trust).ok()
    }

    fn cached_file(&self, d: Option<&DocState>, url: &str, doc: Doc) -> Result<PathBuf, Reason> {
        let d = d.filter(|d| d.url == url);
        match d.and_then(|d| d.body.as_ref()) {
            Some(name) => Ok(self.dir.join(name)),
            None => Err(d.and_then(|d| d.last_error.clone()).unwrap_or_else(|| {
                Reason::new(
                    doc.unavailable(),
                    format!("the {} at {url} has not been fetched yet", doc.name()),
                )
            })),
        }
    }

    fn org_policy(&self, o: &OrgConfig, state: &CacheState) -> Result<VerifiedPassport, Reason> {
        let path = if o.is_remote() {
            self.cached_file(state.org.as_ref(), &o.policy, Doc::Org)?
        } else {
            PathBuf::from(&o.policy)
        };
        verify_org(o, &path)
    }

    /// Fetches every configured document now (or only those due, unless `force`).
    pub fn refresh(&self, trust: &TrustStore, now: i64, force: bool) -> RefreshReport {
        let mut report = RefreshReport::default();
        let fail = |report: &mut RefreshReport, why: String| {
            report.lines.push((
                "cache".into(),
                Err(Reason::new(ReasonCode::StatusUnavailable, why)),
            ));
        };
        if let Err(e) = std::fs::create_dir_all(&self.dir) {
            fail(&mut report, format!("{}: {e}", self.dir.display()));
            return report;
        }
        let lock = match File::create(self.dir.join("lock")) {
            Ok(f) => f,
            Err(e) => {
                fail(&mut report, format!("{}: {e}", self.dir.display()));
                return report;
            }
        };
        if !lock_within(&lock, self.timeout()) {
            fail(&mut report, "another refresh holds the cache lock".into());
            return report;
        }
        // Another hook may have refreshed while this one waited.
        let mut state = self.read_state();
        if !force && !self.needs_refresh(&state, self.read_index(trust).as_ref(), now) {
            return report;
        }
        let fetcher = match Fetcher::new(
            self.remote.as_ref().and_then(|r| r.ca_file.as_deref()),
            self.timeout(),
        ) {
            Ok(f) => f,
            Err(e) => {
                fail(&mut report, e.to_string());
                return report;
            }
        };
        let org_trust = self.org.as_ref().map(|o| pinned(&o.key));
        for (doc, url) in self.docs() {
            let slot = doc.slot(&mut state);
            if slot.as_ref().is_some_and(|d| d.url != url) {
                *slot = None;
            }
            let d = slot.get_or_insert_with(|| DocState {
                url: url.clone(),
                ..Default::default()
            });
            let trust = match (doc, &org_trust) {
                (Doc::Org, Some(Ok(t))) => t,
                (Doc::Org, Some(Err(e))) => {
                    report.lines.push((doc.name().into(), Err(e.clone())));
                    continue;
                }
                _ => trust,
            };
            let r = self.refresh_doc(&fetcher, doc, d, trust, now);
            if let Err(e) = &r {
                d.last_error = Some(e.clone());
            }
            report.lines.push((doc.name().into(), r));
        }
        if let Err(e) = write_state(&self.dir.join(STATE_FILE), &state) {
            fail(&mut report, format!("cannot write the cache: {e}"));
        }
        self.prune(&state);
        report
    }

    fn refresh_doc(
        &self,
        fetcher: &Fetcher,
        doc: Doc,
        d: &mut DocState,
        trust: &TrustStore,
        now: i64,
    ) -> Result<String, Reason> {
        d.attempted_at = Some(now);
        let unavailable = |why: String| Reason::new(doc.unavailable(), why);
        let validators = Validators {
            etag: d.body.as_ref().and(d.etag.as_deref()),
            last_modified: d.body.as_ref().and(d.last_modified.as_deref()),
        };
        let max = match doc {
            Doc::Status => MAX_STATUS_BYTES,
            _ => MAX_PASSPORT_BYTES,
        };
        // The status refresh starts from the cached document as it verifies now; without
        // one it fetches unconditionally (a 304 must have something to confirm).
        let seen = match doc {
            Doc::Status => self.cached_status(
                &CacheState {
                    status: Some(d.clone()),
                    ..Default::default()
                },
                trust,
            ),
            _ => None,
        };
        let validators = match (doc, &seen) {
            (Doc::Status, None) => Validators::default(),
            _ => validators,
        };
        let fetched = fetcher
            .get(&d.url, &validators, max)
            .map_err(|e| unavailable(e.to_string()))?;
        let (bytes, etag, last_modified) = match fetched {
            Fetched::NotModified if doc == Doc::Status => {
                let Some(v) = seen else {
                    return Err(unavailable(format!(
                        "{}: 304 Not Modified, but nothing is cached",
                        d.url
                    )));
                };
                self.write_index(&d.url, &v, trust, now)?;
                d.verified_at = Some(now);
                d.last_error = None;
                return Ok("not modified".into());
            }
            Fetched::NotModified if d.body.is_some() => {
                d.verified_at = Some(now);
                d.last_error = None;
                return Ok("not modified".into());
            }
            Fetched::NotModified => {
                return Err(unavailable(format!(
                    "{}: 304 Not Modified, but nothing is cached",
                    d.url
                )))
            }
            Fetched::Missing => return Err(unavailable(format!("{}: not found", d.url))),
            Fetched::Body {
                bytes,
                etag,
                last_modified,
            } => (bytes, etag, last_modified),
        };
        let (body, said) = match doc {
            Doc::Status => {
                let v = status::verify(&bytes, trust)
                    .and_then(|v| v.supersedes(seen.as_ref()).map(|()| v))
                    .map_err(|e| Reason::new(status_code(&e), e.to_string()))?;
                let short = v.digest.get(7..23).unwrap_or_default();
                let name = format!("status-{short}.json");
                let path = self.dir.join(&name);
                crate::audit::head::write_atomic(&path, &bytes)
                    .map_err(|e| unavailable(format!("{}: {e}", path.display())))?;
                self.write_index(&d.url, &v, trust, now)?;
                (name, describe(&v))
            }
            Doc::Passport | Doc::Org => {
                let sig_url = format!("{}.sig", d.url);
                let sig = match fetcher
                    .get(&sig_url, &Validators::default(), 64 * 1024)
                    .map_err(|e| unavailable(e.to_string()))?
                {
                    Fetched::Body { bytes, .. } => bytes,
                    _ => {
                        return Err(Reason::new(
                            ReasonCode::PassportUnsigned,
                            format!("{} has no signature at {sig_url}; refusing it", d.url),
                        ))
                    }
                };
                self.store_signed(doc, &bytes, &sig, trust)?
            }
        };
        d.body = Some(body);
        d.etag = etag;
        d.last_modified = last_modified;
        d.verified_at = Some(now);
        d.last_error = None;
        Ok(said)
    }

    /// Writes the authenticated index of a status document that verified just now.
    fn write_index(
        &self,
        url: &str,
        v: &VerifiedStatus,
        trust: &TrustStore,
        now: i64,
    ) -> Result<(), Reason> {
        let fail = |why: String| {
            Reason::new(
                ReasonCode::StatusUnavailable,
                format!("cannot write the status index: {why}"),
            )
        };
        let issuer = trust
            .get(&v.signed.kid)
            .ok_or_else(|| fail(format!("{} is not trusted", v.signed.kid)))?;
        let key = crate::seal::MacKey::load_or_create(&self.dir.join(KEY_FILE))
            .map_err(|e| fail(e.to_string()))?;
        let bytes = index::render(&key, url, v, issuer, now);
        crate::audit::head::write_atomic(&self.dir.join(INDEX_FILE), &bytes)
            .map_err(|e| fail(e.to_string()))
    }

    /// Writes a fetched passport and signature under a name of their own, verifies them
    /// where they lie, and keeps them only if they verify.
    fn store_signed(
        &self,
        doc: Doc,
        bytes: &[u8],
        sig: &[u8],
        trust: &TrustStore,
    ) -> Result<(String, String), Reason> {
        let name = format!(
            "{}-{}.json",
            doc.name(),
            &crate::canonical::digest_bytes(&[bytes, b"\n", sig].concat())[7..23]
        );
        let path = self.dir.join(&name);
        let io =
            |e: std::io::Error| Reason::new(doc.unavailable(), format!("{}: {e}", path.display()));
        crate::audit::head::write_atomic(&path, bytes).map_err(io)?;
        crate::audit::head::write_atomic(&passport::signature_path(&path), sig).map_err(io)?;
        match passport::load_verified(&path, trust) {
            Ok(v) => Ok((
                name,
                format!(
                    "{} {} version {} signed by {}",
                    doc.name(),
                    v.passport().passport_id,
                    v.passport().version,
                    v.signer_kid()
                ),
            )),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                let _ = std::fs::remove_file(passport::signature_path(&path));
                Err(Reason::new(
                    e.code(),
                    format!("refused the fetched {}: {e}", doc.name()),
                ))
            }
        }
    }

    /// Removes cached passport files no document points at any more, keeping the newest
    /// few so a hook that read the old state a moment ago still finds its file.
    fn prune(&self, state: &CacheState) {
        let keep: Vec<&String> = [&state.status, &state.passport, &state.org]
            .into_iter()
            .flatten()
            .filter_map(|d| d.body.as_ref())
            .collect();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut old: Vec<(std::time::SystemTime, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let base = name.strip_suffix(".sig").unwrap_or(&name).to_string();
                let ours = [Doc::Status, Doc::Passport, Doc::Org]
                    .into_iter()
                    .any(|d| is_cache_name(&base, d));
                (ours && !keep.iter().any(|k| **k == base)).then(|| {
                    let t = e.metadata().and_then(|m| m.modified()).ok()?;
                    Some((t, e.path()))
                })?
            })
            .collect();
        old.sort();
        let n = old.len().saturating_sub(4);
        for (_, p) in old.into_iter().take(n) {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The cache key's path under a config root (a secret: no agent may read it).
pub fn key_path(config_root: &Path) -> PathBuf {
    config_root.join("remote").join(KEY_FILE)
}

/// Whether `name` is a file name the cache gives a document of this kind.
fn is_cache_name(name: &str, doc: Doc) -> bool {
    name.strip_prefix(doc.name())
        .and_then(|r| r.strip_prefix('-'))
        .and_then(|r| r.strip_suffix(".json"))
        .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The status as the decision reads it: the authenticated index, or why there is none.
#[derive(Debug)]
pub struct CachedStatus {
    source: String,
    max_stale_s: u64,
    /// The last refresh's failure.
    problem: Option<String>,
    index: Result<StatusIndex, String>,
    path: PathBuf,
}

impl CachedStatus {
    /// The view for deciding calls of these passports. An entry that does not authenticate
    /// leaves no verified status (the call denies) and removes the index, so the next
    /// call refetches.
    pub fn view(&self, passport_ids: &[&str]) -> StatusView {
        let found = self.index.as_ref().map_err(String::clone).and_then(|i| {
            i.summary(passport_ids)
                .map(|s| (s, i.verified_at()))
                .inspect_err(|_| {
                    let _ = std::fs::remove_file(&self.path);
                })
        });
        let (current, verified_at, problem) = match found {
            Ok((s, at)) => (Some(s), Some(at), self.problem.clone()),
            Err(e) => (
                None,
                None,
                Some(match &self.problem {
                    Some(p) => format!("{p}; {e}"),
                    None => e,
                }),
            ),
        };
        StatusView {
            source: self.source.clone(),
            current,
            verified_at,
            max_stale_s: self.max_stale_s,
            problem,
        }
    }
}

/// The trust store for the org policy: its pinned key alone.
fn pinned(key: &Path) -> Result<TrustStore, Reason> {
    let k = PublicKey::load(key).map_err(|e| {
        Reason::new(
            ReasonCode::OrgPolicyUnavailable,
            format!("the pinned org key: {e}"),
        )
    })?;
    let mut t = TrustStore::default();
    t.insert(k);
    Ok(t)
}

/// Loads the org policy, accepting only the pinned org key's signature.
pub fn verify_org(o: &OrgConfig, path: &Path) -> Result<VerifiedPassport, Reason> {
    let trust = pinned(&o.key)?;
    passport::load_verified(path, &trust).map_err(|e| {
        Reason::new(
            ReasonCode::OrgPolicyUnavailable,
            format!("the org policy cannot be used ({}): {e}", e.code()),
        )
    })
}

fn status_code(e: &status::StatusError) -> ReasonCode {
    match e {
        status::StatusError::Untrusted(_) => ReasonCode::PassportUntrusted,
        status::StatusError::BadSignature(_) => ReasonCode::SignatureInvalid,
        status::StatusError::Replayed { .. } | status::StatusError::Equivocation(_) => {
            ReasonCode::StatusReplayed
        }
        _ => ReasonCode::StatusUnavailable,
    }
}

fn describe(v: &VerifiedStatus) -> String {
    let d = &v.signed.document;
    format!(
        "status sequence {} issued {} by {} ({} passports)",
        d.sequence,
        d.issued_at,
        v.signed.kid,
        d.passports.len()
    )
}

fn write_state(path: &Path, state: &CacheState) -> std::io::Result<()> {
    let mut bytes = crate::canonical::to_string_pretty(state).into_bytes();
    bytes.push(b'\n');
    crate::audit::head::write_atomic(path, &bytes)
}

fn lock_within(file: &File, wait: Duration) -> bool {
    let start = Instant::now();
    loop {
        if file.try_lock().is_ok() {
            return true;
        }
        if start.elapsed() >= wait {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
