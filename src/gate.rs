//! The edge around the pure decision: read the input, load the passport and
//! packs, decide, sign, record, answer. Every failure on the way becomes a
//! deny with its reason code; the only allow is a decided and recorded one.

use crate::audit::log::Rotation;
use crate::audit::record::HookProcess;
use crate::audit::{AuditLog, Draft};
use crate::call::{Call, HostKind};
use crate::canonical::{self, parse_strict, strip_bom, timestamp};
use crate::checks::protect::{Contains, Protected};
use crate::decision::{
    DirEntry, EntryKind, Environment, Evaluation, FsView, PolicyRef, Request, Verdict,
};
use crate::home::{Config, Locations};
use crate::hosts::tool_map::Resolution;
use crate::hosts::{self, Answer};
use crate::packs::Catalog;
use crate::passport::{self, KeyPair, TrustStore, VerifiedPassport};
use crate::reason::{Reason, ReasonCode};
use crate::receipt::{Receipt, Subject};
use crate::state::{utc_day, StateSnapshot};
use serde_json::Value;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

mod input_cap;

/// Largest hook input accepted before the passport's own sizes are known.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;
/// Room for the JSON around a file's content and for escaping it: content of
/// the passport's `max_file_size_bytes` may take up to twice its size as JSON
/// (`\n`, `\"`), plus the rest of the hook input.
const FRAMING_BYTES: usize = 64 * 1024;
/// Never read more than this, whatever a passport says.
pub const HARD_MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;

/// The input cap for a passport whose largest `max_file_size_bytes` is
/// `max_content`: a Write of exactly that size must be decidable, so the cap
/// is never below twice the size plus framing (and never below 1 MiB).
pub fn input_cap(max_content: Option<u64>) -> usize {
    let m = max_content.unwrap_or(0).min(HARD_MAX_INPUT_BYTES as u64) as usize;
    m.saturating_mul(2)
        .saturating_add(FRAMING_BYTES)
        .clamp(MAX_INPUT_BYTES, HARD_MAX_INPUT_BYTES)
}

/// The input cap for the passport at `loc`, read without verifying it: the
/// value only bounds memory (at most [`HARD_MAX_INPUT_BYTES`]); the decision
/// itself still uses the verified passport.
pub fn input_cap_for(loc: &Locations) -> usize {
    // A FIFO or device in the passport's place must not stall this read either.
    let sizes = crate::regular::read(&loc.passport.path, MAX_INPUT_BYTES as u64)
        .ok()
        .and_then(|b| input_cap::largest_file_size(strip_bom(&b)));
    input_cap(sizes)
}

/// Why the hook input could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("the hook input exceeds {0} bytes")]
    TooLarge(usize),
    #[error("timed out after {secs}s waiting for the hook input on stdin: {}", timed_out_detail(*.received))]
    TimedOut {
        /// How long toolgate waited (`--read-timeout`).
        secs: u64,
        /// Bytes that did arrive before the wait ran out.
        received: usize,
    },
    #[error("cannot read the hook input: {0}")]
    Unreadable(String),
}

/// What had arrived when the stdin wait ran out.
fn timed_out_detail(received: usize) -> String {
    match received {
        0 => "nothing arrived, and stdin was never closed".into(),
        n => {
            format!("{n} bytes arrived, but stdin was never closed, so the call may be incomplete")
        }
    }
}

impl InputError {
    pub fn reason(&self) -> Reason {
        let hint = match self {
            InputError::TooLarge(_) => {
                "; the passport's max_file_size_bytes sets how large a write may be"
            }
            InputError::TimedOut { .. } => {
                ". toolgate decides only a complete call, so whatever writes the call must close \
                 stdin after it (a person typing ends it with Ctrl-D); `--read-timeout SECS` \
                 waits longer"
            }
            InputError::Unreadable(_) => "",
        };
        Reason::new(ReasonCode::InvalidInput, format!("{self}{hint}"))
    }
}

/// How the call should be read.
#[derive(Debug, Clone, Default)]
pub struct EvaluateOptions {
    /// The host named on the command line; otherwise detected from the input.
    pub host: Option<HostKind>,
    /// Trusted project roots from the hook command line (`--project-root`);
    /// they replace the host's and the config's.
    pub project_roots: Vec<PathBuf>,
}

/// Everything that happened for one call.
#[derive(Debug)]
pub struct Outcome {
    pub host: HostKind,
    pub call: Option<Call>,
    pub evaluation: Evaluation,
    /// What the signed OAP decision object is made of, when the decision was recorded.
    pub receipt: Option<UnsignedReceipt>,
    pub record: Option<crate::audit::log::Appended>,
    pub answer: Answer,
    /// The policy layer that decided a deny or review, when more than one applied.
    pub deciding_layer: Option<String>,
}

/// A recorded decision's OAP receipt before it is signed: a hook answers its host in
/// the host's format and nobody receives the receipt, so it is signed only when it is
/// printed (`--json`), one Ed25519 signature less per hook call.
#[derive(Debug)]
pub struct UnsignedReceipt {
    decision_id: String,
    issued_at: OffsetDateTime,
    /// agent_id, owner_id, assurance level, passport digest.
    subject: Option<[String; 4]>,
    key: KeyPair,
}

impl UnsignedReceipt {
    /// The decision id the receipt and the record share.
    pub fn decision_id(&self) -> &str {
        &self.decision_id
    }
}

impl Outcome {
    /// The signed receipt of a recorded decision (`None` when it was not recorded).
    pub fn receipt(&self) -> Option<Receipt> {
        let r = self.receipt.as_ref()?;
        let subject = r.subject.as_ref().map(|[a, o, l, d]| Subject {
            agent_id: a,
            owner_id: o,
            assurance_level: l,
            passport_digest: d,
        });
        Some(Receipt::seal(
            &self.evaluation,
            subject.as_ref(),
            r.decision_id.clone(),
            r.issued_at,
            &r.key,
        ))
    }
}

/// Wall-clock budget for the directory walks of one decision (see docs/checks.md).
pub const WALK_TIME_BUDGET: std::time::Duration = std::time::Duration::from_millis(250);

/// The file-system view used in production: real symlink resolution and
/// listings, with the walk's time budget counted from its creation.
pub struct RealFs {
    started: std::time::Instant,
    budget: std::time::Duration,
}

impl RealFs {
    pub fn new() -> RealFs {
        RealFs::with_budget(WALK_TIME_BUDGET)
    }

    pub fn with_budget(budget: std::time::Duration) -> RealFs {
        RealFs {
            started: std::time::Instant::now(),
            budget,
        }
    }
}

impl Default for RealFs {
    fn default() -> RealFs {
        RealFs::new()
    }
}

impl FsView for RealFs {
    fn canonicalize(&self, path: &Path) -> Option<PathBuf> {
        std::fs::canonicalize(path).ok()
    }

    fn resolve(&self, path: &Path) -> Option<PathBuf> {
        resolve_lenient(path)
    }

    fn contains_protected(&self, path: &Path, set: &Protected) -> Option<Contains> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        meta.is_dir()
            .then(|| walk_for_names(path, set, crate::checks::protect::WALK_LIMIT))
    }

    fn git_tracked(&self, top: &Path) -> Option<Vec<String>> {
        crate::gitview::tracked(top)
    }

    fn git_tree(&self, dir: &Path, spec: &crate::checks::models::GitTree) -> Option<Vec<PathBuf>> {
        crate::gitview::tree_changes(dir, spec)
    }

    fn archive_members(
        &self,
        path: &Path,
        format: crate::checks::extract::Format,
    ) -> Result<Vec<crate::checks::extract::Member>, crate::checks::extract::Unlisted> {
        crate::archive::members(path, format)
    }

    fn hard_link_to_protected(
        &self,
        path: &Path,
        set: &Protected,
        roots: &[PathBuf],
        secrets_only: bool,
    ) -> Option<Contains> {
        hard_link_to_protected(path, set, roots, secrets_only)
    }

    fn read_dir(&self, path: &Path) -> Option<Vec<DirEntry>> {
        let entries = std::fs::read_dir(path).ok()?;
        let mut out = Vec::new();
        for e in entries {
            let Ok(e) = e else { continue };
            // d_type from readdir where the file system gives it: no stat per entry.
            let kind = match e.file_type() {
                Ok(t) if t.is_symlink() => EntryKind::Symlink,
                Ok(t) if t.is_dir() => EntryKind::Dir,
                Ok(t) if t.is_file() => EntryKind::File,
                _ => EntryKind::Other,
            };
            out.push(DirEntry {
                name: e.file_name().to_string_lossy().into_owned(),
                kind,
            });
        }
        Some(out)
    }

    fn read_small(&self, path: &Path, max: usize) -> Option<String> {
        use std::io::Read;
        let mut buf = Vec::new();
        std::fs::File::open(path)
            .ok()?
            .take(max as u64)
            .read_to_end(&mut buf)
            .ok()?;
        Some(String::from_utf8_lossy(&buf).into_owned())
    }

    fn out_of_time(&self) -> bool {
        self.started.elapsed() > self.budget
    }
}

/// Most symlinks followed while resolving one path (Linux's own limit).
const MAX_SYMLINKS: usize = 40;

/// Resolves every symlink on the way to `path` the way the kernel will when
/// a file is created there: a dangling link resolves to its target, the
/// part that does not exist yet is kept as written. `None` on a link loop.
pub fn resolve_lenient(path: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let mut pending: Vec<std::ffi::OsString> = path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut out = PathBuf::from("/");
    let mut links = 0;
    let mut exists = true;
    while let Some(c) = pending.pop() {
        if c == ".." {
            out.pop();
            continue;
        }
        let next = out.join(&c);
        if exists {
            match std::fs::symlink_metadata(&next) {
                Ok(m) if m.file_type().is_symlink() => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return None;
                    }
                    let target = std::fs::read_link(&next).ok()?;
                    if target.is_absolute() {
                        out = PathBuf::from("/");
                    }
                    for t in target.components().rev() {
                        match t {
                            Component::Normal(s) => pending.push(s.to_owned()),
                            Component::ParentDir => pending.push("..".into()),
                            _ => {}
                        }
                    }
                    continue;
                }
                Ok(_) => {}
                Err(_) => exists = false,
            }
        }
        out = next;
    }
    Some(out)
}

/// Walks below `dir` looking for a protected name, looking at no more than `limit` entries.
/// Symlinks are not followed (a link inside is judged where it is written through).
pub fn walk_for_names(dir: &Path, set: &Protected, limit: usize) -> Contains {
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0usize;
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > limit {
                return Contains::TooLarge(limit);
            }
            let p = entry.path();
            if set.name_in(&p).is_some() {
                return Contains::Found(p);
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            }
        }
    }
    Contains::Nothing
}

/// Most entries looked at while searching for the other names of a hard-linked file.
pub const LINK_SEARCH_LIMIT: usize = 20_000;

/// Whether the existing regular file `path`, when it has more than one name,
/// is the same file (device and inode) as a protected one: a protected file,
/// a file in a protected directory, or a file under a protected name (`.claude/`)
/// in a trusted root. Only files with a link count above one are searched, so
/// an ordinary write costs one `lstat`.
#[cfg(unix)]
pub fn hard_link_to_protected(
    path: &Path,
    set: &Protected,
    roots: &[PathBuf],
    secrets_only: bool,
) -> Option<Contains> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.nlink() < 2 {
        return None;
    }
    let id = (meta.dev(), meta.ino());
    let mut seen = 0usize;
    let mut starts: Vec<PathBuf> = if secrets_only {
        set.secrets.iter().map(|e| e.path.clone()).collect()
    } else {
        set.paths.iter().map(|e| e.path.clone()).collect()
    };
    if !secrets_only {
        for root in roots {
            match walk_for_all_names(root, set, LINK_SEARCH_LIMIT, &mut seen) {
                Ok(found) => starts.extend(found),
                Err(n) => return Some(Contains::TooLarge(n)),
            }
        }
    }
    let mut stack = starts;
    while let Some(p) = stack.pop() {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_file() && (m.dev(), m.ino()) == id {
            return Some(Contains::Found(p));
        }
        if !m.is_dir() {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&p) else {
            continue;
        };
        for e in entries.flatten() {
            seen += 1;
            if seen > LINK_SEARCH_LIMIT {
                return Some(Contains::TooLarge(LINK_SEARCH_LIMIT));
            }
            stack.push(e.path());
        }
    }
    Some(Contains::Nothing)
}

#[cfg(not(unix))]
pub fn hard_link_to_protected(
    _path: &Path,
    _set: &Protected,
    _roots: &[PathBuf],
    _secrets_only: bool,
) -> Option<Contains> {
    None
}

/// Every directory below `dir` whose path ends in a protected name, counting
/// entries into `seen`; `Err(limit)` when more than `limit` were looked at.
fn walk_for_all_names(
    dir: &Path,
    set: &Protected,
    limit: usize,
    seen: &mut usize,
) -> Result<Vec<PathBuf>, usize> {
    let mut stack = vec![dir.to_path_buf()];
    let mut found = Vec::new();
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            *seen += 1;
            if *seen > limit {
                return Err(limit);
            }
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let p = entry.path();
            if set.name_in(&p).is_some() {
                found.push(p);
            } else {
                stack.push(p);
            }
        }
    }
    Ok(found)
}

/// Parses raw hook input into a call. Duplicate keys are refused: a host and
/// toolgate must not read two different calls from one document.
pub fn read_call(bytes: &[u8], host: Option<HostKind>) -> Result<Call, (HostKind, Reason)> {
    read_call_value(bytes, host).map(|(c, _)| c)
}

/// [`read_call`], also returning the parsed input (for what the host sets beside the call).
fn read_call_value(
    bytes: &[u8],
    host: Option<HostKind>,
) -> Result<(Call, Value), (HostKind, Reason)> {
    let read = read_call_unbounded(bytes, host);
    // Past the base cap only a complete call (a large write) is accepted.
    if bytes.len() > MAX_INPUT_BYTES {
        return read.map_err(|(h, _)| (h, InputError::TooLarge(MAX_INPUT_BYTES).reason()));
    }
    read
}

fn read_call_unbounded(
    bytes: &[u8],
    host: Option<HostKind>,
) -> Result<(Call, Value), (HostKind, Reason)> {
    let fallback = host.unwrap_or(HostKind::Oap);
    if strip_bom(bytes).iter().all(u8::is_ascii_whitespace) {
        return Err((
            fallback,
            Reason::new(
                ReasonCode::InvalidInput,
                "the hook input is empty: nothing arrived on stdin (a host sends one tool call as JSON; by hand, pipe one in or use --policy with --context)",
            ),
        ));
    }
    let value = parse_strict(strip_bom(bytes)).map_err(|e| {
        (
            fallback,
            Reason::new(
                ReasonCode::InvalidInput,
                format!("the hook input is not valid JSON: {e}"),
            ),
        )
    })?;
    let detected = hosts::detect(&value);
    let host = match (host, detected) {
        (Some(h), _) => h,
        (None, Some(h)) => h,
        (None, None) => {
            return Err((
                HostKind::Oap,
                Reason::new(
                    ReasonCode::UnrecognizedInput,
                    "the input matches no known host's hook format; pass --host",
                ),
            ))
        }
    };
    hosts::parse(host, &value)
        .map(|c| (c, value))
        .map_err(|r| (host, r))
}

/// The closed set of self-protection for one decision: toolgate's own
/// files, its binary, the shell start-up files, and every host's
/// configuration (from the installer's host knowledge), plus the project
/// configuration names at any depth. Reads of the evaluator's private key are refused too.
pub fn protected_set(
    loc: &Locations,
    roots: &[PathBuf],
    home: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Protected {
    let mut p = Protected::with_names();
    let parent = |f: &Path| f.parent().map(Path::to_path_buf).unwrap_or_default();
    p.add(
        loc.config_root.clone(),
        "toolgate's configuration directory",
    );
    p.add(loc.config.path.clone(), "toolgate's config");
    p.add(loc.passport.path.clone(), "the passport");
    p.add(
        passport::signature_path(&loc.passport.path),
        "the passport's signature",
    );
    p.add(
        passport::pair_lock_path(&loc.passport.path),
        "the passport's write lock",
    );
    p.add(loc.trust_dir.path.clone(), "toolgate's trust store");
    p.add(parent(&loc.key.path), "toolgate's keys");
    p.add_secret(loc.key.path.clone(), "the evaluator's private key");
    p.add_secret(
        crate::grant::dir(&loc.config_root),
        "the approvals people granted",
    );
    p.add_secret(
        crate::remote::cache::key_path(&loc.config_root),
        "the key that authenticates toolgate's caches (fleet status, audit head seal)",
    );
    p.add(
        parent(&loc.audit_log.path),
        "the audit log, its state and head",
    );
    if let Some(packs) = &loc.packs_dir {
        p.add(packs.path.clone(), "toolgate's policy packs");
    }
    if let Ok(exe) = std::env::current_exe() {
        // On Linux this is the kernel's own resolution of /proc/self/exe: already the
        // path with every link followed, so resolving it again (one readlink per
        // component) would find the same path.
        if !cfg!(target_os = "linux") {
            if let Ok(real) = exe.canonicalize() {
                p.add(real, "toolgate's own binary");
            }
        }
        p.add(exe, "toolgate's own binary");
    }
    for f in crate::checks::protect::SYSTEM_STARTUP {
        p.add(PathBuf::from(f), "a shell start-up file");
    }
    if let Some(h) = home {
        for f in crate::checks::protect::SHELL_STARTUP {
            p.add(h.join(f), "a shell start-up file");
        }
    }
    // Each host's hook configuration and trust state, from its descriptor,
    // under the home and under every trusted root.
    let bases: Vec<&Path> = roots.iter().map(PathBuf::as_path).chain(home).collect();
    let env_path = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    for d in hosts::descriptors() {
        for path in d.protected(&bases, home, &env_path) {
            p.add(path, "a host's hook configuration");
        }
    }
    p
}

/// The trusted project roots: the hook command line's, else the config's,
/// else what the host sets. Each is kept as given and as the file system
/// resolves it, so both spellings of a path match.
pub fn trusted_roots(flag: &[PathBuf], config: &Config, host_roots: Vec<String>) -> Vec<PathBuf> {
    let chosen: Vec<PathBuf> = if !flag.is_empty() {
        flag.to_vec()
    } else if !config.project_roots.is_empty() {
        config.project_roots.clone()
    } else {
        host_roots.into_iter().map(PathBuf::from).collect()
    };
    let mut out = Vec::new();
    for r in chosen.iter().filter(|r| r.is_absolute()) {
        let n = crate::checks::path::normalize(r);
        let real = std::fs::canonicalize(&n).ok();
        for c in std::iter::once(n).chain(real) {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

/// Where each policy source of a decision comes from: the path and how it
/// was chosen (flag, environment, TOOLGATE_HOME, the user's directory; the
/// trusted roots from the flag, the config or the host). Nothing comes from
/// the project unless the user pointed there.
pub fn policy_sources(
    loc: &Locations,
    req: &EvaluateOptions,
    config: &Config,
    host: HostKind,
    roots: &[PathBuf],
) -> std::collections::BTreeMap<String, String> {
    let show = |r: &crate::home::Resolved| format!("{} [{}]", r.path.display(), r.source);
    let mut m = std::collections::BTreeMap::new();
    m.insert("config".to_string(), show(&loc.config));
    m.insert("passport".to_string(), show(&loc.passport));
    m.insert("trust".to_string(), show(&loc.trust_dir));
    m.insert(
        "packs".to_string(),
        match &loc.packs_dir {
            Some(r) => format!("built in, overridden from {}", show(r)),
            None => "built in".to_string(),
        },
    );
    let how = if !req.project_roots.is_empty() {
        "--project-root on the hook command line"
    } else if !config.project_roots.is_empty() {
        "project_roots in the config"
    } else {
        hosts::roots_from(host)
    };
    let list: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    m.insert(
        "project_roots".to_string(),
        if list.is_empty() {
            format!("none ({how} gave none)")
        } else {
            format!("{} [{how}]", list.join(", "))
        },
    );
    m
}

fn os_user() -> Option<String> {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(passwd_name)
}

/// The account name of this process's real user from `/etc/passwd`, else `uid:N`.
/// Accounts only a directory service knows (LDAP through NSS) get the `uid:N` form.
#[cfg(unix)]
fn passwd_name() -> Option<String> {
    let uid = rustix::process::getuid().as_raw();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?;
        (id.parse::<u32>().ok()? == uid && !name.is_empty()).then(|| name.to_string())
    });
    Some(name.unwrap_or_else(|| format!("uid:{uid}")))
}

#[cfg(not(unix))]
fn passwd_name() -> Option<String> {
    None
}

fn home_dir() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf())
}

/// Evaluates one hook input end to end: load what the decision needs, then
/// under the audit lock read the state, decide, record, and fold the record
/// into the state, so concurrent hooks see each other's effects in order.
pub fn evaluate(
    loc: &Locations,
    bytes: &[u8],
    req: &EvaluateOptions,
    now: OffsetDateTime,
) -> Outcome {
    let read = read_call_value(bytes, req.host);
    settled(
        evaluate_read(loc, read, bytes, req, now, &|| true, false),
        req,
    )
}

/// [`evaluate`] with a hand-off point for a caller that keeps a deadline on the
/// stateless part (input parse, passport, analysis): `commit` is asked once, just
/// before the audit lock. When it answers no, the caller has taken the decision
/// over and records its own deny; nothing is written here and `None` comes back.
/// The caller ends the process after the answer: what the decision read is left for
/// the exit to reclaim instead of being freed entry by entry.
pub fn evaluate_handing_off(
    loc: &Locations,
    bytes: &[u8],
    req: &EvaluateOptions,
    now: OffsetDateTime,
    commit: &dyn Fn() -> bool,
) -> Option<Outcome> {
    #[cfg(debug_assertions)]
    debug_stall("parse");
    let read = read_call_value(bytes, req.host);
    evaluate_read(loc, read, bytes, req, now, commit, true)
}

/// Records and answers a deny for input that could not be read (too large,
/// stalled): the reason says which, never "not valid JSON".
pub fn evaluate_unread(
    loc: &Locations,
    error: &InputError,
    req: &EvaluateOptions,
    now: OffsetDateTime,
) -> Outcome {
    let host = req.host.unwrap_or(HostKind::Oap);
    let read = Err((host, error.reason()));
    settled(
        evaluate_read(loc, read, &[], req, now, &|| true, false),
        req,
    )
}

/// Records a deny reached before a call could be read (a bad hook command
/// line), so even that is not silent: the record says why every call failed.
pub fn record_early_deny(
    loc: &Locations,
    host: HostKind,
    reason: Reason,
    now: OffsetDateTime,
) -> Outcome {
    record_deny_for(loc, host, reason, &[], now)
}

/// Records a deny for a call whose decision was taken over (its stateless part ran
/// past the caller's budget, or failed): through the same lock, state and append as
/// every decision, with the ids the host sent. `host`, when not given, is read from
/// the input the way the gate reads it.
pub fn record_taken_over(
    loc: &Locations,
    host: Option<HostKind>,
    bytes: &[u8],
    reason: Reason,
    now: OffsetDateTime,
) -> Outcome {
    let host = host
        .or_else(|| {
            parse_strict(strip_bom(bytes))
                .ok()
                .and_then(|v| hosts::detect(&v))
        })
        .unwrap_or(HostKind::Oap);
    record_deny_for(loc, host, reason, bytes, now)
}

fn record_deny_for(
    loc: &Locations,
    host: HostKind,
    reason: Reason,
    bytes: &[u8],
    now: OffsetDateTime,
) -> Outcome {
    let req = EvaluateOptions::default();
    settled(
        evaluate_read(loc, Err((host, reason)), bytes, &req, now, &|| true, false),
        &req,
    )
}

/// The outcome of a decision whose commit cannot be refused (`commit` always yes);
/// the unrecorded deny is only there so that no path is left without an answer.
fn settled(outcome: Option<Outcome>, req: &EvaluateOptions) -> Outcome {
    outcome.unwrap_or_else(|| {
        let ev = unrecorded(
            &PolicyRef::NoPack,
            "the decision was handed off and not recorded".into(),
        );
        finish(req.host.unwrap_or(HostKind::Oap), None, ev, None, None)
    })
}

/// A deny that could not be written to the audit log.
fn unrecorded(policy_id: &PolicyRef, why: String) -> Evaluation {
    Evaluation::early_deny(
        policy_id.clone(),
        Reason::new(ReasonCode::AuditUnavailable, why),
    )
}

/// Makes the stateless part slow or panic where `TOOLGATE_DEBUG_PREPARE` says
/// (`sleep:PHASE` or `panic:PHASE`, PHASE `parse` or `analysis`), so the tests can
/// prove the budget's recorded deny and the panic path. Debug builds only: a
/// release binary has no such knob.
#[cfg(debug_assertions)]
#[allow(clippy::panic, reason = "the panic path itself is what this proves")]
fn debug_stall(phase: &str) {
    let Ok(v) = std::env::var("TOOLGATE_DEBUG_PREPARE") else {
        return;
    };
    match v.split_once(':') {
        Some(("sleep", p)) if p == phase => std::thread::sleep(std::time::Duration::from_secs(60)),
        Some(("panic", p)) if p == phase => panic!("TOOLGATE_DEBUG_PREPARE={v}"),
        _ => {}
    }
}

/// What the stateless phase read that the record needs, besides the passport.
struct Before {
    host: HostKind,
    call: Result<Call, Reason>,
    /// The ids the host sent, when the call itself could not be read.
    sent: Option<Call>,
    config: Config,
    sources: std::collections::BTreeMap<String, String>,
    /// The OS account, when neither the call nor the config names the user.
    os_account: Option<String>,
    process: Option<HookProcess>,
}

impl Before {
    /// The call as read, or else what the host sent of it.
    fn call_ref(&self) -> Option<&Call> {
        self.call.as_ref().ok().or(self.sent.as_ref())
    }
}

/// The passport side of a call as the locked phase reads it.
struct Decider<'a> {
    verified: Option<&'a VerifiedPassport>,
    fleet: &'a FleetContext,
    layers: &'a [crate::policy::Layer<'a>],
    /// The process exits after this decision (see [`evaluate_read`]).
    process_ends: bool,
}

/// `bytes` is the raw input (empty when it could not be read), for its size
/// and for the ids the host sent when the call itself could not be read.
/// The phases: read and prepare (no lock), the hand-off, then lock, decide with
/// the state, apply a person's grants, record and append.
/// With `process_ends`, the passport, packs and layers are not freed: the process exits
/// after the answer, and freeing a passport of thousands of entries one by one costs
/// more than deciding with it.
#[allow(clippy::too_many_arguments)]
fn evaluate_read(
    loc: &Locations,
    read: Result<(Call, Value), (HostKind, Reason)>,
    bytes: &[u8],
    req: &EvaluateOptions,
    now: OffsetDateTime,
    commit: &dyn Fn() -> bool,
    process_ends: bool,
) -> Option<Outcome> {
    let (key, before, prepared) = read_and_prepare(loc, read, bytes, req, now);
    // The stateless part of the decision runs before the lock: parsing and walks
    // never make another hook wait.
    let Prepared {
        verified,
        fleet,
        step,
    } = prepared;
    let layers = layers_of(verified.as_ref(), &fleet);
    let fs = RealFs::new();
    let step = match step {
        Step::Decided(ev) => Decide::Done(ev),
        Step::Ready(r) => Decide::Pending(Box::new(Pending::start(*r, &layers, &fleet, now, &fs))),
    };
    // (Only for a call that was read: the deny recorded for a stalled one reads none.)
    #[cfg(debug_assertions)]
    if before.call.is_ok() {
        debug_stall("analysis");
    }
    if !commit() {
        return None;
    }
    let decider = Decider {
        verified: verified.as_ref(),
        fleet: &fleet,
        layers: &layers,
        process_ends,
    };
    let outcome = decide_and_record(loc, key, before, &decider, step, now);
    if process_ends {
        std::mem::forget(layers);
        std::mem::forget(verified);
        std::mem::forget(fleet);
    }
    Some(outcome)
}

/// The phase before the lock: key, config, the call's roots and policy sources,
/// the passport and packs, and the lookups the record needs (NSS, /proc).
fn read_and_prepare(
    loc: &Locations,
    read: Result<(Call, Value), (HostKind, Reason)>,
    bytes: &[u8],
    req: &EvaluateOptions,
    now: OffsetDateTime,
) -> (Result<KeyPair, passport::keys::KeyError>, Before, Prepared) {
    let input_len = bytes.len();
    let key = evaluator_key(loc);
    let config = Config::load(&loc.config.path);

    let env = |k: &str| std::env::var(k).ok();
    let (host, call, host_roots) = match read {
        Ok((c, v)) => {
            let cwd = std::env::current_dir().ok();
            let roots = hosts::trusted_roots(c.host, &v, &env, cwd.as_deref());
            (c.host, Ok(c), roots)
        }
        Err((h, reason)) => (h, Err(reason), vec![]),
    };
    // A call toolgate could not read still carries the ids the host sent.
    let sent = call
        .as_ref()
        .err()
        .and_then(|_| hosts::sent_ids(host, bytes));

    let mut sources = std::collections::BTreeMap::new();
    let prepared = match (&call, &config) {
        (Err(r), _) => Prepared::decided(Evaluation::early_deny(PolicyRef::NoPack, r.clone())),
        (_, Err(e)) => Prepared::decided(Evaluation::early_deny(
            PolicyRef::NoPack,
            Reason::new(ReasonCode::PolicyError, format!("config: {e}")),
        )),
        (Ok(call), Ok(config)) => {
            let roots = trusted_roots(&req.project_roots, config, host_roots);
            sources = policy_sources(loc, req, config, call.host, &roots);
            prepare(loc, config, call, input_len, roots, &env, now)
        }
    };
    let mut before = Before {
        host,
        call,
        sent,
        config: config.unwrap_or_default(),
        sources,
        os_account: None,
        process: None,
    };
    // Looked up before the lock: an account lookup may read files (NSS).
    before.os_account = before
        .call_ref()
        .and_then(|c| c.on_behalf_of.as_ref())
        .or(before.config.on_behalf_of.as_ref())
        .is_none()
        .then(os_user)
        .flatten();
    // So is the process that ran the hook (a few /proc reads), for the record's evidence.
    before.process = before.call_ref().and_then(hook_process);
    (key, before, prepared)
}

/// The evaluator key, its public half proven by the binding tag kept with the other
/// machine-local caches when that tag verifies (src/passport/keys.rs).
fn evaluator_key(loc: &Locations) -> Result<KeyPair, passport::keys::KeyError> {
    let bound = loc.config_root.join("cache").join("evaluator-key.bound");
    KeyPair::load_bound(&loc.key.path, Some(&bound))
}

/// The policy layers of one call: org, passport, delegation, approved project policies.
fn layers_of<'a>(
    verified: Option<&'a VerifiedPassport>,
    fleet: &'a FleetContext,
) -> Vec<crate::policy::Layer<'a>> {
    let Some(v) = verified else {
        return vec![];
    };
    let mut layers = crate::policy::layers(
        fleet.org.as_ref().map(VerifiedPassport::passport),
        v.passport(),
        fleet.delegation.as_ref(),
    );
    for p in &fleet.project {
        layers.push(crate::policy::Layer {
            name: format!("project:{}", p.dir.display()),
            passport: std::borrow::Cow::Borrowed(&p.passport),
        });
    }
    layers
}

/// The phase under the lock: the state, the rest of the decision, a person's
/// grants, the record and its append.
fn decide_and_record(
    loc: &Locations,
    key: Result<KeyPair, passport::keys::KeyError>,
    mut before: Before,
    s: &Decider,
    step: Decide,
    now: OffsetDateTime,
) -> Outcome {
    let mut log = audit_log(&loc.audit_log.path, &before.config);
    log.seal = cache_key(&loc.config_root);
    let (key, mut locked) = match key_and_lock(key, &log) {
        Ok(r) => r,
        Err(why) => {
            let ev = unrecorded(step.policy_id(), why);
            return finish(before.host, before.call.ok(), ev, None, None);
        }
    };
    // Never before the last record: a clock set back cannot reopen caps or rate windows.
    let (now, clock_note) = locked.monotonic_now(now);
    let state = s.verified.map_or_else(StateSnapshot::default, |v| {
        locked
            .state
            .snapshot(&v.passport().passport_id, &utc_day(now.unix_timestamp()))
    });
    let (evaluation, deciding_layer, again) = complete(step, s, &state, now);
    let grants = Grants {
        loc,
        key: &key,
        subject: s,
        call: before.call.as_ref().ok(),
        state: &state,
        now,
    };
    let evaluation = grants.for_this_call(evaluation);
    let (evaluation, deciding_layer) =
        grants.for_a_pattern(evaluation, deciding_layer, again.as_ref());
    let receipt = UnsignedReceipt::new(now, s.verified, key);
    let noted = Noted {
        deciding_layer: deciding_layer.clone(),
        clock_note,
    };
    let mut record = draft(loc, &mut before, s, &evaluation, &receipt, noted);
    // Local files only (trace parent, queued telemetry notes): fine under the lock.
    let telemetry = crate::telemetry::Hook::start(
        &loc.audit_log.path,
        &before.config.telemetry,
        now,
        &mut record,
        before.call_ref().map(|c| &c.input),
    );
    locked.sync_after_unlock();
    match locked.append(record, &receipt.key).and_then(|a| {
        // The export may touch the network: never while other hooks wait on the lock.
        locked.release().map(|()| a)
    }) {
        Ok(appended) => {
            telemetry.emit(&appended, &evaluation);
            let call = before.call.ok();
            let mut out = finish(before.host, call, evaluation, Some(receipt), Some(appended));
            out.deciding_layer = deciding_layer;
            if s.process_ends {
                std::mem::forget(again);
            }
            out
        }
        Err(e) => {
            let ev = unrecorded(
                &evaluation.policy_id,
                format!("the decision could not be recorded: {e}"),
            );
            finish(before.host, before.call.ok(), ev, None, None)
        }
    }
}

/// The signing key and the locked log, or why the decision cannot be recorded.
fn key_and_lock(
    key: Result<KeyPair, passport::keys::KeyError>,
    log: &AuditLog,
) -> Result<(KeyPair, crate::audit::log::Locked<'_>), String> {
    let key = key.map_err(|e| format!("the evaluator key cannot sign the audit record: {e}"))?;
    let locked = log
        .lock()
        .map_err(|e| format!("the decision could not be recorded: {e}"))?;
    Ok((key, locked))
}

impl UnsignedReceipt {
    /// A fresh decision id at `now`, for the passport that was verified (if any).
    fn new(now: OffsetDateTime, verified: Option<&VerifiedPassport>, key: KeyPair) -> Self {
        UnsignedReceipt {
            decision_id: uuid::Uuid::new_v4().to_string(),
            issued_at: now,
            subject: verified.map(|v| {
                let p = v.passport();
                [
                    p.passport_id.clone(),
                    p.owner_id.clone(),
                    p.assurance_level.as_str().to_owned(),
                    v.digest().to_owned(),
                ]
            }),
            key,
        }
    }
}

/// What a pattern grant needs to decide the call again.
struct Again<'f> {
    catalog: Catalog,
    asked: Asked,
    env: Environment<'f>,
}

/// Finishes the decision with the state (running the stateless part again if the
/// clock moved under the lock).
fn complete<'f>(
    step: Decide<'f>,
    s: &Decider,
    state: &StateSnapshot,
    now: OffsetDateTime,
) -> (Evaluation, Option<String>, Option<Again<'f>>) {
    match step {
        Decide::Done(ev) => (ev, s.fleet.decided_by.clone(), None),
        Decide::Pending(mut p) => {
            // Time moved under the lock (the clock was set back): what ran before saw another time.
            if now != p.env.now {
                p.redo(s.layers, s.fleet, now);
            }
            let Pending {
                catalog,
                asked,
                env,
                pre,
            } = *p;
            let l = pre.complete(s.layers, &catalog, state, &env);
            let again = Again {
                catalog,
                asked,
                env,
            };
            (l.evaluation, l.deciding_layer, Some(again))
        }
    }
}

/// A person's approvals, looked up under the lock so two calls cannot share one.
struct Grants<'a> {
    loc: &'a Locations,
    key: &'a KeyPair,
    subject: &'a Decider<'a>,
    call: Option<&'a Call>,
    state: &'a StateSnapshot,
    now: OffsetDateTime,
}

impl Grants<'_> {
    /// A person's approval of exactly this call, consumed (when one-time) before the
    /// record that cites it is written.
    fn for_this_call(&self, evaluation: Evaluation) -> Evaluation {
        let (Some(v), Some(c)) = (self.subject.verified, self.call) else {
            return evaluation;
        };
        if evaluation.verdict == Verdict::Allow || evaluation.hard {
            return evaluation;
        }
        let digest = canonical::digest(&c.input);
        let found = crate::grant::find(
            &self.loc.config_root,
            &self.key.public(),
            &v.passport().passport_id,
            &c.tool,
            &digest,
            self.now.unix_timestamp(),
        );
        match found {
            Some((g, path)) if !g.once || crate::grant::consume(&path).is_ok() => {
                crate::decision::apply_grant(evaluation, &g.grant_id)
            }
            _ => evaluation,
        }
    }

    /// A person's approval of a pattern: the call decided again as if the passport held
    /// that one more allow entry, every other rule unchanged; used only if that allows.
    fn for_a_pattern(
        &self,
        evaluation: Evaluation,
        deciding_layer: Option<String>,
        again: Option<&Again>,
    ) -> (Evaluation, Option<String>) {
        let (Some(v), Some(c), Some(again)) = (self.subject.verified, self.call, again) else {
            return (evaluation, deciding_layer);
        };
        if evaluation.verdict == Verdict::Allow || evaluation.hard {
            return (evaluation, deciding_layer);
        }
        let grants = crate::grant::find_patterns(
            &self.loc.config_root,
            &self.key.public(),
            &v.passport().passport_id,
            &c.tool,
            evaluation.policy_id.as_str(),
            self.now.unix_timestamp(),
        );
        let approved = grants.into_iter().find_map(|(g, path)| {
            let pattern = g.pattern.as_ref()?;
            let amended_passport = pattern.amend(v.passport())?;
            let amended: Vec<crate::policy::Layer> = self
                .subject
                .layers
                .iter()
                .map(|l| crate::policy::Layer {
                    name: l.name.clone(),
                    passport: if l.name == crate::policy::PASSPORT {
                        std::borrow::Cow::Owned(amended_passport.clone())
                    } else {
                        std::borrow::Cow::Borrowed(l.passport.as_ref())
                    },
                })
                .collect();
            let Again {
                catalog,
                asked,
                env,
            } = again;
            let pre = Pending::prepare(catalog, asked, env, &amended, self.subject.fleet);
            let l = pre.complete(&amended, catalog, self.state, env);
            let allows = l.evaluation.verdict == Verdict::Allow;
            (allows && (!g.once || crate::grant::consume(&path).is_ok())).then_some((l, g))
        });
        let Some((l, g)) = approved else {
            return (evaluation, deciding_layer);
        };
        let what = g.pattern.as_ref().map_or(String::new(), |p| {
            format!("`{}` in limits.{}.{}", p.entry, p.capability, p.list)
        });
        (
            crate::decision::apply_pattern_grant(l.evaluation, &evaluation, &g.grant_id, &what),
            l.deciding_layer,
        )
    }
}

/// What the locked phase adds to a record: the deciding layer and a clock note.
struct Noted {
    deciding_layer: Option<String>,
    clock_note: Option<String>,
}

/// The record of one decision, before the chain fields the append fills in.
fn draft(
    loc: &Locations,
    before: &mut Before,
    s: &Decider,
    evaluation: &Evaluation,
    receipt: &UnsignedReceipt,
    noted: Noted,
) -> Draft {
    let mut record = build_record(
        before.call_ref(),
        evaluation,
        receipt,
        s.verified,
        &before.config,
        before.host,
        timestamp(receipt.issued_at),
    );
    record.notes.extend(noted.clock_note);
    record.process = before.process.take();
    if record.on_behalf_of.is_none() {
        record.on_behalf_of = before.os_account.take();
    }
    let mut sources = std::mem::take(&mut before.sources);
    if let Some(v) = s.verified.filter(|v| v.path() != loc.passport.path) {
        sources.insert(
            "passport".into(),
            format!(
                "{} (the fleet's passport_url, verified copy)",
                v.path().display()
            ),
        );
    }
    record.policy_sources = sources;
    let now_unix = receipt.issued_at.unix_timestamp();
    s.fleet
        .annotate(&mut record, noted.deciding_layer, now_unix);
    record
}

/// The audit log as `config.json` configures it.
pub fn audit_log(path: &Path, config: &Config) -> AuditLog {
    let mut log = AuditLog::new(path);
    log.sync = config.audit.sync;
    log.rotation = Rotation {
        max_bytes: config.audit.rotate_max_bytes,
        daily: config.audit.rotate_daily,
    };
    log
}

fn finish(
    host: HostKind,
    call: Option<Call>,
    evaluation: Evaluation,
    receipt: Option<UnsignedReceipt>,
    record: Option<crate::audit::log::Appended>,
) -> Outcome {
    let warned = evaluation
        .would_be
        .as_ref()
        .filter(|w| w.mode == crate::passport::rollout::Mode::Warn);
    // A deny a person may lift names its decision, so an agent that cannot ask can tell
    // its user exactly what to approve.
    let mut reasons = evaluation.reasons.clone();
    if let (Some(r), Some(first)) = (&receipt, reasons.first_mut()) {
        if evaluation.verdict != Verdict::Allow && !evaluation.hard {
            let short: String = r.decision_id.chars().take(8).collect();
            first.message.push_str(&format!(
                "; decision {short}: a person can allow this one call with `toolgate approve {short}`"
            ));
        }
    }
    let answer = match warned {
        Some(w) => hosts::warn(host, &w.verdict, &w.reasons),
        None => hosts::answer(
            host,
            call.as_ref().and_then(|c| c.event.as_deref()),
            evaluation.verdict,
            &reasons,
        ),
    };
    Outcome {
        host,
        call,
        evaluation,
        receipt,
        record,
        answer,
        deciding_layer: None,
    }
}

/// What could be loaded before taking the lock: the passport, and either a
/// verdict already reached or everything the pure decision needs but the state.
struct Prepared {
    verified: Option<VerifiedPassport>,
    fleet: FleetContext,
    step: Step,
}

/// The fleet side of one call: the status and org layer it is decided under, the
/// delegation it runs in, and what the record must say about them.
#[derive(Default)]
struct FleetContext {
    status: Option<crate::remote::status::StatusView>,
    org: Option<VerifiedPassport>,
    delegation: Option<crate::policy::Delegation>,
    subagent: Option<crate::call::Subagent>,
    /// Set when the fleet context itself decided (a status or org policy deny).
    decided_by: Option<String>,
    notes: Vec<String>,
    /// Approved project policies of the trusted roots, each a narrowing layer.
    project: Vec<crate::policy::project::ProjectLayer>,
}

impl FleetContext {
    /// Adds the status source, deciding layer, delegation chain and refresh notes to a record.
    fn annotate(&self, record: &mut Draft, deciding_layer: Option<String>, now_unix: i64) {
        match &self.status {
            Some(view) => {
                record.status_source = Some(view.source.clone());
                record.status_age_s = view.age_s(now_unix);
                record.status_sequence = view.current.as_ref().map(|c| c.sequence());
            }
            None => record.status_source = Some("local".into()),
        }
        record.deciding_layer = deciding_layer;
        record.org_policy_digest = self.org.as_ref().map(|o| o.digest().to_owned());
        let mut chain: Vec<String> = record
            .on_behalf_of
            .iter()
            .map(|u| format!("user:{u}"))
            .collect();
        if let Some(id) = &record.passport_id {
            chain.push(format!("passport:{id}"));
        }
        if let Some(s) = &self.subagent {
            let t = s.agent_type.as_deref().unwrap_or("unknown");
            chain.push(match &s.id {
                Some(id) => format!("subagent:{t}#{id}"),
                None => format!("subagent:{t}"),
            });
        }
        record.on_behalf_of_chain = chain;
        record.notes.extend(self.notes.iter().cloned());
        for p in &self.project {
            record.policy_sources.insert(
                format!("project:{}", p.dir.display()),
                format!(
                    "{} {} [approved with toolgate trust project]",
                    p.dir.join(crate::policy::project::FILE).display(),
                    p.digest
                ),
            );
        }
    }
}

enum Step {
    Decided(Evaluation),
    Ready(Box<Ready>),
}

/// What the call asks the policy: a pack's request, or a harmless tool.
enum Asked {
    Pack(Request),
    Harmless(String),
}

struct Ready {
    catalog: Catalog,
    asked: Asked,
    rollout: crate::passport::rollout::Rollout,
    protected: Protected,
    roots: Vec<PathBuf>,
    home: Option<PathBuf>,
}

impl Prepared {
    fn decided(ev: Evaluation) -> Prepared {
        Prepared {
            verified: None,
            fleet: FleetContext::default(),
            step: Step::Decided(ev),
        }
    }
}

/// The decision on its way through the lock.
enum Decide<'f> {
    Done(Evaluation),
    Pending(Box<Pending<'f>>),
}

impl Decide<'_> {
    fn policy_id(&self) -> &PolicyRef {
        match self {
            Decide::Done(ev) => &ev.policy_id,
            Decide::Pending(p) => p.pre.policy_id(),
        }
    }
}

/// A decision made up to the state (see `policy::Prepared`), with what it needs to finish.
struct Pending<'f> {
    catalog: Catalog,
    asked: Asked,
    env: Environment<'f>,
    pre: crate::policy::Prepared,
}

impl<'f> Pending<'f> {
    fn start(
        r: Ready,
        layers: &[crate::policy::Layer],
        fleet: &FleetContext,
        now: OffsetDateTime,
        fs: &'f RealFs,
    ) -> Pending<'f> {
        let Ready {
            catalog,
            asked,
            protected,
            roots,
            home,
            rollout,
        } = r;
        let env = Environment {
            now,
            protected,
            roots,
            home,
            rollout,
            fs,
        };
        let pre = Self::prepare(&catalog, &asked, &env, layers, fleet);
        Pending {
            catalog,
            asked,
            env,
            pre,
        }
    }

    fn prepare(
        catalog: &Catalog,
        asked: &Asked,
        env: &Environment,
        layers: &[crate::policy::Layer],
        fleet: &FleetContext,
    ) -> crate::policy::Prepared {
        let status = fleet.status.as_ref();
        match asked {
            Asked::Pack(request) => crate::policy::prepare(layers, status, catalog, request, env),
            Asked::Harmless(tool) => crate::policy::prepare_harmless(layers, status, tool, env.now),
        }
    }

    /// Runs the stateless part again at another time.
    fn redo(&mut self, layers: &[crate::policy::Layer], fleet: &FleetContext, now: OffsetDateTime) {
        self.env.now = now;
        self.pre = Self::prepare(&self.catalog, &self.asked, &self.env, layers, fleet);
    }
}

/// Loads what the decision needs; each failure is its own deny.
fn prepare(
    loc: &Locations,
    config: &Config,
    call: &Call,
    input_len: usize,
    roots: Vec<PathBuf>,
    env: &dyn Fn(&str) -> Option<String>,
    now: OffsetDateTime,
) -> Prepared {
    let label = call
        .policy
        .clone()
        .map_or(PolicyRef::NoPack, PolicyRef::Pack);
    let memo = PassportMemo::open(&loc.config_root);
    let catalog = match Catalog::with_overrides(loc.packs_dir.as_ref().map(|r| r.path.as_path())) {
        Ok(c) => c,
        Err(e) => {
            return Prepared::decided(Evaluation::early_deny(
                label.clone(),
                Reason::new(ReasonCode::PolicyError, e.to_string()),
            ))
        }
    };
    let request = match &call.policy {
        Some(policy) => Request {
            policy_id: policy.clone(),
            context: call.input.as_object().cloned().unwrap_or_default(),
        },
        None => {
            let Some(map) = catalog.tool_map(call.host.as_str()) else {
                return Prepared::decided(Evaluation::early_deny(
                    label,
                    Reason::new(
                        ReasonCode::PolicyError,
                        format!("no tool map for host {}", call.host.as_str()),
                    ),
                ));
            };
            match map.resolve(call, &config.harmless_tools) {
                Ok(Resolution::Request(r)) => r,
                Ok(Resolution::Harmless) => {
                    // Harmless tools still need a valid passport: a suspended agent does nothing.
                    return match load_subject(
                        loc,
                        config,
                        call,
                        &catalog,
                        &roots,
                        memo.as_ref(),
                        now,
                    ) {
                        Ok((v, fleet)) => Prepared {
                            step: Step::Ready(Box::new(Ready {
                                catalog,
                                asked: Asked::Harmless(call.tool.clone()),
                                protected: Protected::default(),
                                roots: vec![],
                                home: None,
                                rollout: config.rollout.clone(),
                            })),
                            verified: Some(v),
                            fleet,
                        },
                        Err(denied) => *denied,
                    };
                }
                Err(r) => return Prepared::decided(Evaluation::early_deny(PolicyRef::NoPack, r)),
            }
        }
    };
    if input_len > MAX_INPUT_BYTES && !measures_content(&catalog, &request) {
        return Prepared::decided(Evaluation::early_deny(
            PolicyRef::Pack(request.policy_id.clone()),
            InputError::TooLarge(MAX_INPUT_BYTES).reason(),
        ));
    }
    let (v, fleet) = match load_subject(loc, config, call, &catalog, &roots, memo.as_ref(), now) {
        Ok(s) => s,
        Err(mut denied) => {
            if let Step::Decided(ev) = &mut denied.step {
                ev.policy_id = PolicyRef::Pack(request.policy_id.clone());
                for t in &mut ev.trace {
                    t.policy_id = ev.policy_id.clone();
                }
            }
            return *denied;
        }
    };
    if let Some(why) = unknown_rollout_pack(&catalog, v.passport(), config) {
        return Prepared::decided(Evaluation::early_deny(
            PolicyRef::Pack(request.policy_id.clone()),
            Reason::new(
                ReasonCode::PassportInvalid,
                format!("{}: {why}", v.path().display()),
            ),
        ));
    }
    if let Some(u) = unknown_limit(&catalog, &v, memo.as_ref()) {
        return Prepared::decided(Evaluation::early_deny(
            PolicyRef::Pack(request.policy_id.clone()),
            Reason::new(
                ReasonCode::PassportInvalid,
                format!("{}: {u}", v.path().display()),
            ),
        ));
    }
    let home = home_dir();
    Prepared {
        step: Step::Ready(Box::new(Ready {
            protected: protected_set(loc, &roots, home.as_deref(), env),
            roots,
            home,
            rollout: config.rollout.clone(),
            catalog,
            asked: Asked::Pack(request),
        })),
        verified: Some(v),
        fleet,
    }
}

/// [`Catalog::unknown_limit`] for the verified passport, remembered in the passport memo
/// (keyed by the passport's digest and the catalog's) once it found none.
fn unknown_limit(
    catalog: &Catalog,
    v: &VerifiedPassport,
    memo: Option<&PassportMemo>,
) -> Option<crate::packs::UnknownLimit> {
    let cat = catalog.digest();
    if memo.is_some_and(|m| m.limits_known(v.digest(), &cat)) {
        return None;
    }
    let unknown = catalog.unknown_limit(v.passport());
    if let (None, Some(m)) = (&unknown, memo) {
        m.remember_limits(v.digest(), &cat);
    }
    unknown
}

/// A rollout mode set for a pack id that does not exist is a typo that would leave the
/// pack enforcing (or observing) against its author's intent: refused, with the nearest id.
fn unknown_rollout_pack(
    catalog: &Catalog,
    p: &crate::passport::Passport,
    config: &Config,
) -> Option<String> {
    let own = crate::passport::rollout::Rollout::of(p).unwrap_or_default();
    let sources = [
        ("metadata.toolgate.pack_modes", &own),
        ("config.json rollout.pack_modes", &config.rollout),
    ];
    for (label, r) in sources {
        for id in r.pack_modes.keys() {
            if catalog.pack(id).is_none() {
                let nearest = catalog
                    .packs()
                    .map(|k| k.id.as_str())
                    .min_by_key(|k| crate::packs::edit_distance(id, k))
                    .unwrap_or("");
                return Some(format!(
                    "{label} names `{id}`, which is no policy pack (did you mean `{nearest}`?)"
                ));
            }
        }
    }
    None
}

/// Whether the request's pack measures a field the call carries with a size
/// check: only such a call (a large write) may exceed the base input cap.
fn measures_content(catalog: &Catalog, request: &Request) -> bool {
    catalog.pack(&request.policy_id).is_some_and(|p| {
        p.checks.iter().any(|c| match c {
            crate::packs::CheckSpec::MaxBytes { field, .. } => request.context.contains_key(field),
            _ => false,
        })
    })
}

/// Loads who the call is decided for: the fleet inputs (refreshed if due, within the
/// refresh bound), the passport (local, or the verified copy of `passport_url`), its
/// proven delegations and the one this call's subagent runs under, and the org policy.
fn load_subject(
    loc: &Locations,
    config: &Config,
    call: &Call,
    catalog: &Catalog,
    roots: &[PathBuf],
    memo: Option<&PassportMemo>,
    now: OffsetDateTime,
) -> Result<(VerifiedPassport, FleetContext), Box<Prepared>> {
    let deny = |r: Reason, layer: Option<&str>, fleet: FleetContext| {
        let mut p = Prepared::decided(Evaluation::early_deny(PolicyRef::NoPack, r));
        p.fleet = FleetContext {
            decided_by: layer.map(str::to_owned),
            ..fleet
        };
        Box::new(p)
    };
    let trust = TrustStore::load_dir(&loc.trust_dir.path).map_err(|e| {
        deny(
            Reason::new(ReasonCode::PassportUntrusted, format!("trust store: {e}")),
            None,
            FleetContext::default(),
        )
    })?;
    let mut fleet = FleetContext {
        subagent: call.subagent.clone(),
        ..Default::default()
    };
    let mut passport_path = loc.passport.path.clone();
    let mut org = None;
    let mut status = None;
    if let Some(f) =
        crate::remote::Fleet::new(config.remote.clone(), config.org.clone(), &loc.config_root)
    {
        let inputs = f.inputs(&trust, now.unix_timestamp());
        // Until the passport is known the record names the status without an entry.
        fleet.status = inputs.status.as_ref().map(|s| s.view(&[]));
        status = inputs.status;
        fleet.notes = inputs.notes;
        org = inputs.org;
        match inputs.passport_path {
            Some(Ok(p)) => passport_path = p,
            Some(Err(r)) => return Err(deny(r, None, fleet)),
            None => {}
        }
    }
    let memo = memo.map(|m| m as &dyn passport::VerifiedMemo);
    let v = passport::load_verified_memo(&passport_path, &trust, memo)
        .map_err(|e| Reason::new(e.code(), e.to_string()));
    let v = match v {
        Ok(v) => v,
        Err(r) => return Err(deny(r, None, fleet)),
    };
    if let Some(s) = &status {
        fleet.status = Some(s.view(&[&v.passport().passport_id]));
    }
    match org {
        Some(Ok(o)) => fleet.org = Some(o),
        Some(Err(r)) => return Err(deny(r, Some(crate::policy::ORG), fleet)),
        None => {}
    }
    let delegations = match crate::policy::delegation::delegations(v.passport(), catalog) {
        Ok(d) => d,
        Err(r) => return Err(deny(r, Some(crate::policy::PASSPORT), fleet)),
    };
    let wanted = call.subagent.as_ref().and_then(|s| s.agent_type.as_deref());
    fleet.delegation = wanted.and_then(|t| delegations.into_iter().find(|d| d.agent_type == t));
    // Project policy only for approved roots, and only as it was approved.
    let store_path = loc.config_root.join(crate::policy::project::STORE);
    let project = crate::policy::project::Store::load(&store_path)
        .map_err(|e| Reason::new(ReasonCode::PolicyError, e.to_string()))
        .and_then(|store| crate::policy::project::layers(&store, roots, v.passport(), catalog));
    match project {
        Ok(p) => fleet.project = p,
        Err(r) => return Err(deny(r, Some("project"), fleet)),
    }
    Ok((v, fleet))
}

/// The machine-local cache key (src/seal.rs), created with its directory on first use;
/// `None` when it cannot be had, and then nothing is remembered or sealed.
fn cache_key(config_root: &Path) -> Option<crate::seal::MacKey> {
    let path = crate::remote::cache::key_path(config_root);
    if let Ok(key) = crate::seal::MacKey::load(&path) {
        return Some(key);
    }
    std::fs::create_dir_all(path.parent()?).ok()?;
    crate::seal::MacKey::load_or_create(&path).ok()
}

/// Domain of the verified-passport memo's HMAC tags.
const PASSPORT_MEMO_DOMAIN: &str = "toolgate-passport-verified-v1";

/// Domain of the memo line that says a passport's limit keys were checked.
const LIMITS_MEMO_DOMAIN: &str = "toolgate-passport-limits-known-v1";

/// The verified-passport memo (docs/passports.md): a first line `KEY DIGEST TAG`, the tag an
/// HMAC under the machine-local cache key, in the protected config root, and a second line
/// `limits PASSPORT_DIGEST CATALOG_DIGEST TAG` once that passport's limit keys were all found
/// known to that catalog. The last pair verified is remembered; another passport replaces it.
/// The file is read once per process.
struct PassportMemo {
    key: crate::seal::MacKey,
    path: PathBuf,
    /// The file's text as read, or as this process last wrote it.
    text: std::cell::RefCell<Option<String>>,
}

impl PassportMemo {
    fn open(config_root: &Path) -> Option<PassportMemo> {
        let key = cache_key(config_root)?;
        Some(PassportMemo {
            key,
            path: config_root.join("cache").join("passport.verified"),
            text: std::cell::RefCell::new(None),
        })
    }

    fn text(&self) -> String {
        self.text
            .borrow_mut()
            .get_or_insert_with(|| {
                crate::regular::read(&self.path, 4096)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .unwrap_or_default()
            })
            .clone()
    }

    /// Whether this memo says `passport` (a verified digest) names no limit key `catalog`
    /// (a [`Catalog::digest`]) does not know: the result of [`Catalog::unknown_limit`]
    /// depends on nothing else.
    fn limits_known(&self, passport: &str, catalog: &str) -> bool {
        self.text().lines().any(|l| {
            let mut f = l.split_whitespace();
            f.next() == Some("limits")
                && f.next() == Some(passport)
                && f.next() == Some(catalog)
                && f.next().is_some_and(|tag| {
                    let parts: [&[u8]; 2] = [passport.as_bytes(), catalog.as_bytes()];
                    self.key.verify(LIMITS_MEMO_DOMAIN, &parts, tag)
                })
        })
    }

    /// Remembers [`PassportMemo::limits_known`], keeping the verified pair's line.
    fn remember_limits(&self, passport: &str, catalog: &str) {
        let tag = self.key.tag(
            LIMITS_MEMO_DOMAIN,
            &[passport.as_bytes(), catalog.as_bytes()],
        );
        let pair = self.text().lines().next().unwrap_or_default().to_owned();
        self.write(&format!("{pair}\nlimits {passport} {catalog} {tag}\n"));
    }

    /// Whole or not at all: written beside it, then renamed over the old file.
    fn write(&self, text: &str) {
        let Some(dir) = self.path.parent() else {
            return;
        };
        let tmp = self
            .path
            .with_extension(format!("tmp-{}", std::process::id()));
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&tmp, text))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        *self.text.borrow_mut() = Some(text.to_owned());
    }
}

impl passport::VerifiedMemo for PassportMemo {
    fn recall(&self, key: &str) -> Option<String> {
        let text = self.text();
        let mut fields = text.lines().next()?.split_whitespace();
        let (k, digest, tag) = (fields.next()?, fields.next()?, fields.next()?);
        let parts: [&[u8]; 2] = [k.as_bytes(), digest.as_bytes()];
        (k == key && self.key.verify(PASSPORT_MEMO_DOMAIN, &parts, tag)).then(|| digest.to_owned())
    }

    fn remember(&self, key: &str, digest: &str) {
        let tag = self
            .key
            .tag(PASSPORT_MEMO_DOMAIN, &[key.as_bytes(), digest.as_bytes()]);
        self.write(&format!("{key} {digest} {tag}\n"));
    }
}

/// Shells and wrappers a host may run a hook command through: the actor is above them.
const HOOK_WRAPPERS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "fish", "env", "timeout", "nice",
];

/// The process that ran this hook: toolgate's parent, or, past the shells that wrap hook
/// commands, the host application. Names and parents come from Linux `/proc`; elsewhere
/// only the parent's pid is known.
fn hook_process(call: &Call) -> Option<HookProcess> {
    let mut pid = parent_pid()?;
    let mut name = proc_name(pid);
    // A few levels at most: a wrapper chain longer than that is reported as it is.
    for _ in 0..4 {
        if !name.as_deref().is_some_and(|n| HOOK_WRAPPERS.contains(&n)) {
            break;
        }
        match proc_parent(pid) {
            Some(up) if up > 1 => {
                pid = up;
                name = proc_name(pid);
            }
            _ => break,
        }
    }
    Some(HookProcess {
        pid,
        name,
        cwd: call.cwd.clone(),
    })
}

fn parent_pid() -> Option<u32> {
    #[cfg(unix)]
    return Some(std::os::unix::process::parent_id());
    #[cfg(not(unix))]
    return None;
}

fn proc_name(pid: u32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let name = text.trim().to_string();
    (!name.is_empty()).then_some(name)
}

/// The parent pid from `/proc/PID/stat` (the field after the parenthesised name).
fn proc_parent(pid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = text.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn build_record(
    call: Option<&Call>,
    ev: &Evaluation,
    receipt: &UnsignedReceipt,
    v: Option<&VerifiedPassport>,
    config: &Config,
    host: HostKind,
    ts: String,
) -> Draft {
    let input = call.map(|c| c.input.clone()).unwrap_or(Value::Null);
    Draft {
        agent_id: v.map(|v| v.passport().passport_id.clone()),
        // The OS account fallback is filled in by the caller, looked up before the lock.
        on_behalf_of: call
            .and_then(|c| c.on_behalf_of.clone())
            .or_else(|| config.on_behalf_of.clone()),
        session_id: call.and_then(|c| c.session_id.clone()),
        tool_use_id: call.and_then(|c| c.tool_use_id.clone()),
        passport_id: v.map(|v| v.passport().passport_id.clone()),
        passport_version: v.map(|v| v.passport().version.clone()),
        passport_digest: v.map(|v| v.digest().to_owned()),
        passport_updated_at: v.map(|v| v.passport().updated_at.clone()),
        input: config
            .audit
            .store_input
            .then(|| crate::redact::redact(&input)),
        reasons: ev.reasons.clone(),
        deciding_check: ev
            .deciding_check()
            .map(|t| format!("{}/{}", t.policy_id, t.check)),
        enforced: ev.would_be.as_ref().map(|_| false),
        grant_id: ev.grant_id.clone(),
        mode: ev.would_be.as_ref().map(|w| w.mode.as_str().into()),
        would_verdict: ev.would_be.as_ref().map(|w| w.verdict.into()),
        would_reasons: ev
            .would_be
            .as_ref()
            .map(|w| w.reasons.clone())
            .unwrap_or_default(),
        state_changes: if ev.verdict == Verdict::Allow {
            ev.state_changes.clone()
        } else {
            vec![]
        },
        ..Draft::new(
            ts,
            receipt.decision_id.clone(),
            host.as_str().into(),
            call.map(|c| c.tool.clone()).unwrap_or_default(),
            ev.policy_id.as_str().into(),
            canonical::digest(&input),
            ev.verdict.into(),
        )
    }
}
