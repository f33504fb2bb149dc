//! The decision: a pure function of (passport, packs, request, state, environment).
//!
//! Nothing here reads a file, the clock, a lock or the network: time, state
//! and the file-system view arrive as values, so every rule is testable and
//! fuzzable without a disk. The edges (`gate`) do the I/O around it.

use crate::checks::protect::{Contains, Protected};
use crate::checks::{self, CheckInput, CheckResult, Effect};
use crate::packs::{Catalog, LookupError, Pack};
use crate::passport::{Passport, Status};
use crate::reason::{Reason, ReasonCode};
use crate::state::{StateChange, StateSnapshot};
use serde::Serialize;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// What the gate answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allow,
    Review,
    Deny,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Review => "review",
            Verdict::Deny => "deny",
        }
    }
}

/// A policy id with the context its checks read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    pub policy_id: String,
    pub context: Map<String, Value>,
}

/// Read-only view of the file system (symlinks, directory listings, small
/// ignore files), injected so the core stays pure. The edge passes the real
/// one; tests pass a map. Every method but `canonicalize` defaults to "nothing
/// there", so a view that cannot list makes readers read nothing beyond their operands.
pub trait FsView: Sync {
    /// The canonical (symlink-free) path of an existing path, if it exists.
    fn canonicalize(&self, path: &Path) -> Option<PathBuf>;

    /// Where a write to `path` really lands: every symlink on the way followed,
    /// dangling ones included (a link to a file that does not exist yet is
    /// where that file will be created). The default knows only existing paths.
    fn resolve(&self, path: &Path) -> Option<PathBuf> {
        self.canonicalize(path).or_else(|| {
            let parent = path.parent()?;
            Some(self.canonicalize(parent)?.join(path.file_name()?))
        })
    }

    /// For an existing directory (not a symlink), whether a protected name
    /// lies anywhere below it; `None` when `path` is not such a directory.
    fn contains_protected(&self, _path: &Path, _set: &Protected) -> Option<Contains> {
        None
    }

    /// The entries of a directory (symlinks not followed), or `None` when
    /// `path` is not a directory that can be listed (following a final symlink).
    fn read_dir(&self, _path: &Path) -> Option<Vec<DirEntry>> {
        None
    }
    /// The text of a small file (an ignore file), at most `max` bytes, or `None`.
    fn read_small(&self, _path: &Path, _max: usize) -> Option<String> {
        None
    }
    /// Whether the edge's time budget for walking is spent. The decision reads
    /// no clock: the view that does the I/O keeps time.
    fn out_of_time(&self) -> bool {
        false
    }
}

/// What a directory entry is, as listed (a symlink is not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub kind: EntryKind,
}

/// A view in which nothing exists (pure evaluation).
pub struct NoFs;

impl FsView for NoFs {
    fn canonicalize(&self, _: &Path) -> Option<PathBuf> {
        None
    }
}

/// Everything about the world a decision may depend on, passed in as values.
pub struct Environment<'a> {
    pub now: OffsetDateTime,
    /// The user's home directory, for `~/` in passport globs.
    pub home: Option<PathBuf>,
    /// The trusted project roots (from the host or config, never from the
    /// call): relative passport globs are anchored here.
    pub roots: Vec<PathBuf>,
    /// What the gate never lets an agent write (or, for private keys, read).
    pub protected: Protected,
    pub fs: &'a dyn FsView,
}

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Review,
    Deny,
    Skip,
}

/// One line of `--explain` and one child span: which check ran and what it said.
#[derive(Debug, Clone, Serialize)]
pub struct CheckTrace {
    pub policy_id: String,
    /// The policy layer the check ran under (`org`, `passport`, `delegation:TYPE`, `status`),
    /// set when a call is decided under more than one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    pub check: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<ReasonCode>,
    pub detail: String,
    /// Measured for telemetry only; never influences the outcome.
    #[serde(skip)]
    pub elapsed: Duration,
}

/// The result of `decide`: the verdict, why, and how it was reached.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub policy_id: String,
    pub verdict: Verdict,
    pub reasons: Vec<Reason>,
    pub trace: Vec<CheckTrace>,
    /// State the edge must record if (and only if) the call is allowed.
    #[serde(skip)]
    pub state_changes: Vec<StateChange>,
}

impl Evaluation {
    /// A deny that happened before any pack could be evaluated (input, passport, tool).
    pub fn early_deny(policy_id: &str, reason: Reason) -> Evaluation {
        Evaluation {
            policy_id: policy_id.into(),
            verdict: Verdict::Deny,
            trace: vec![CheckTrace {
                policy_id: policy_id.into(),
                layer: None,
                check: "gate".into(),
                outcome: Outcome::Deny,
                code: Some(reason.code),
                detail: reason.message.clone(),
                elapsed: Duration::ZERO,
            }],
            reasons: vec![reason],
            state_changes: vec![],
        }
    }

    /// The check that decided a deny or review, if any.
    pub fn deciding_check(&self) -> Option<&CheckTrace> {
        self.trace
            .iter()
            .find(|t| t.outcome == Outcome::Deny)
            .or_else(|| self.trace.iter().find(|t| t.outcome == Outcome::Review))
    }
}

/// How deep effects may nest (a command's redirection is checked as a file write; that write has no effects of its own).
const MAX_EFFECT_DEPTH: usize = 1;

/// Decides one request. Deterministic: the same inputs give the same verdict.
pub fn decide(
    passport: &Passport,
    catalog: &Catalog,
    request: &Request,
    state: &StateSnapshot,
    env: &Environment,
) -> Evaluation {
    let mut acc = Acc::default();
    evaluate(passport, catalog, request, state, env, 0, &mut acc);
    let verdict = if acc.denies.is_empty() {
        if acc.reviews.is_empty() {
            Verdict::Allow
        } else {
            Verdict::Review
        }
    } else {
        Verdict::Deny
    };
    let reasons = match verdict {
        Verdict::Deny => acc.denies,
        Verdict::Review => acc.reviews,
        Verdict::Allow => vec![Reason::new(
            ReasonCode::Allowed,
            format!("every check of {} passed", request.policy_id),
        )],
    };
    Evaluation {
        policy_id: request.policy_id.clone(),
        verdict,
        reasons,
        trace: acc.trace,
        state_changes: if verdict == Verdict::Allow {
            acc.changes
        } else {
            vec![]
        },
    }
}

#[derive(Default)]
struct Acc {
    denies: Vec<Reason>,
    reviews: Vec<Reason>,
    trace: Vec<CheckTrace>,
    changes: Vec<StateChange>,
}

impl Acc {
    fn record(
        &mut self,
        policy_id: &str,
        check: String,
        result: CheckResult,
        elapsed: Duration,
    ) -> Vec<Effect> {
        let (outcome, code, detail, effects) = match result {
            CheckResult::Pass {
                detail,
                effects,
                changes,
            } => {
                self.changes.extend(changes);
                (Outcome::Pass, None, detail, effects)
            }
            CheckResult::Skip(detail) => (Outcome::Skip, None, detail, vec![]),
            CheckResult::Deny(r) => {
                let t = (Outcome::Deny, Some(r.code), r.message.clone(), vec![]);
                self.denies.push(r);
                t
            }
            CheckResult::Review(r) => {
                let t = (Outcome::Review, Some(r.code), r.message.clone(), vec![]);
                self.reviews.push(r);
                t
            }
        };
        self.trace.push(CheckTrace {
            policy_id: policy_id.into(),
            layer: None,
            check,
            outcome,
            code,
            detail,
            elapsed,
        });
        effects
    }

    fn gate(&mut self, policy_id: &str, check: &str, result: Result<String, Reason>) -> bool {
        let ok = result.is_ok();
        let r = match result {
            Ok(detail) => CheckResult::pass(detail),
            Err(reason) => CheckResult::Deny(reason),
        };
        self.record(policy_id, check.into(), r, Duration::ZERO);
        ok
    }
}

fn evaluate(
    passport: &Passport,
    catalog: &Catalog,
    request: &Request,
    state: &StateSnapshot,
    env: &Environment,
    depth: usize,
    acc: &mut Acc,
) {
    let pid = request.policy_id.as_str();
    let pack = match catalog.pack_checked(pid) {
        Ok(p) => p,
        Err(e) => {
            let code = match e {
                LookupError::Unknown(_) => ReasonCode::UnknownPolicy,
                LookupError::Invalid(_) => ReasonCode::PolicyError,
            };
            acc.gate(pid, "policy", Err(Reason::new(code, e.to_string())));
            return;
        }
    };
    // Other packs' names for the same field or limit (APort's `amount_minor`,
    // `refund_reason_codes`) are read as the names the checks use.
    let empty = Map::new();
    let raw_limits = passport.limits_for(pack.capability()).unwrap_or(&empty);
    let (resolved, limits) = match (
        resolve_aliases(&request.context, &pack.field_aliases),
        resolve_aliases(raw_limits, &pack.limit_aliases),
    ) {
        (Ok(c), Ok(l)) => (c, l),
        (Err((alias, name)), _) => {
            let why =
                format!("the call gives `{name}` twice, as `{alias}` and `{name}`, differently");
            acc.gate(
                pid,
                "aliases",
                Err(Reason::new(ReasonCode::InvalidContext, why)),
            );
            return;
        }
        (_, Err((alias, name))) => {
            let why = format!(
                "limits.{} sets `{name}` twice, as `{alias}` and `{name}`, differently",
                pack.capability()
            );
            acc.gate(
                pid,
                "aliases",
                Err(Reason::new(ReasonCode::PolicyError, why)),
            );
            return;
        }
    };
    let aliased;
    let request = match resolved {
        std::borrow::Cow::Borrowed(_) => request,
        std::borrow::Cow::Owned(context) => {
            aliased = Request {
                policy_id: request.policy_id.clone(),
                context,
            };
            &aliased
        }
    };
    let limits: &Map<String, Value> = &limits;
    if depth == 0 && !gates_pass(passport, pack, request, limits, env, acc) {
        return;
    }
    if depth > 0 && !capability_gates(passport, pack, request, limits, acc) {
        return;
    }
    let input = CheckInput {
        context: &request.context,
        limits,
        passport,
        capability: pack.capability(),
        state,
        env,
    };
    let mut effects = Vec::new();
    for spec in &pack.checks {
        let started = Instant::now();
        let result = checks::run(spec, &input);
        effects.extend(acc.record(pid, spec.name(), result, started.elapsed()));
    }
    for effect in effects {
        if depth >= MAX_EFFECT_DEPTH {
            acc.gate(
                pid,
                "effect",
                Err(Reason::new(
                    ReasonCode::PolicyError,
                    format!("effect {} nests too deeply to evaluate", effect.policy_id),
                )),
            );
            continue;
        }
        let sub = Request {
            policy_id: effect.policy_id,
            context: effect.context,
        };
        evaluate(passport, catalog, &sub, state, env, depth + 1, acc);
    }
}

/// `map` with every alias key renamed to the name it stands for. A name given both
/// ways with different values is refused (alias, name): judging one while the tool,
/// or another policy layer, uses the other would be a bypass.
fn resolve_aliases<'m>(
    map: &'m Map<String, Value>,
    aliases: &std::collections::BTreeMap<String, String>,
) -> Result<std::borrow::Cow<'m, Map<String, Value>>, (String, String)> {
    if !aliases.keys().any(|a| map.contains_key(a)) {
        return Ok(std::borrow::Cow::Borrowed(map));
    }
    let mut out = map.clone();
    for (alias, name) in aliases {
        let Some(v) = out.remove(alias) else { continue };
        match out.get(name) {
            Some(existing) if *existing != v => return Err((alias.clone(), name.clone())),
            Some(_) => {}
            None => {
                out.insert(name.clone(), v);
            }
        }
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// Passport-level gates: status, expiry, then the pack's own gates.
fn gates_pass(
    passport: &Passport,
    pack: &Pack,
    request: &Request,
    limits: &Map<String, Value>,
    env: &Environment,
    acc: &mut Acc,
) -> bool {
    let pid = pack.id.as_str();
    let status = if passport.status == Status::Active {
        Ok(format!("passport {} is active", passport.passport_id))
    } else {
        Err(Reason::new(
            ReasonCode::PassportSuspended,
            format!(
                "passport {} is {}, not active",
                passport.passport_id,
                passport.status.as_str()
            ),
        ))
    };
    if !acc.gate(pid, "passport.status", status) {
        return false;
    }
    let expiry = match (passport.expires(), passport.expiry_text()) {
        (Some(exp), Some(text)) if exp <= env.now => Err(Reason::new(
            ReasonCode::PassportExpired,
            format!("passport {} expired at {text}", passport.passport_id),
        )),
        (_, Some(text)) => Ok(format!("valid until {text}")),
        _ => Ok("no expiry set".into()),
    };
    if !acc.gate(pid, "passport.expiry", expiry) {
        return false;
    }
    capability_gates(passport, pack, request, limits, acc)
}

/// Pack-level gates: capability, assurance, required limits and fields.
fn capability_gates(
    passport: &Passport,
    pack: &Pack,
    request: &Request,
    limits: &Map<String, Value>,
    acc: &mut Acc,
) -> bool {
    let pid = pack.id.as_str();
    let missing_cap = pack
        .requires_capabilities
        .iter()
        .find(|c| !passport.grants(c));
    let cap = match missing_cap {
        None => Ok(format!("granted {}", pack.requires_capabilities.join(", "))),
        Some(c) => Err(Reason::new(
            ReasonCode::UnknownCapability,
            format!("the passport does not grant capability `{c}` required by {pid}"),
        )),
    };
    if !acc.gate(pid, "capability", cap) {
        return false;
    }
    let assurance = if passport.assurance_level >= pack.min_assurance {
        Ok(format!(
            "{} meets {}",
            passport.assurance_level.as_str(),
            pack.min_assurance.as_str()
        ))
    } else {
        Err(Reason::new(
            ReasonCode::AssuranceInsufficient,
            format!(
                "{pid} needs assurance {} but the passport has {}",
                pack.min_assurance.as_str(),
                passport.assurance_level.as_str()
            ),
        ))
    };
    if !acc.gate(pid, "assurance", assurance) {
        return false;
    }
    let missing: Vec<&str> = pack
        .limits_required
        .iter()
        .filter(|l| !limits.contains_key(l.as_str()))
        .map(String::as_str)
        .collect();
    let lim = if missing.is_empty() {
        Ok("required limits present".into())
    } else {
        Err(Reason::new(
            ReasonCode::PolicyError,
            format!(
                "the passport sets no {} under limits.{}, which {pid} requires",
                missing.join(", "),
                pack.capability()
            ),
        ))
    };
    if !acc.gate(pid, "limits_required", lim) {
        return false;
    }
    let absent: Vec<&str> = pack
        .required_fields
        .iter()
        .filter(|f| request.context.get(f.as_str()).is_none_or(Value::is_null))
        .map(String::as_str)
        .collect();
    let fields = if absent.is_empty() {
        Ok("required fields present".into())
    } else {
        Err(Reason::new(
            ReasonCode::InvalidContext,
            format!("the call lacks {} required by {pid}", absent.join(", ")),
        ))
    };
    if !acc.gate(pid, "required_fields", fields) {
        return false;
    }
    match &pack.required_context {
        None => true,
        Some(schema) => {
            let shaped = schema
                .check(&request.context)
                .map(|()| "the context satisfies required_context".to_string())
                .map_err(|why| {
                    Reason::new(
                        ReasonCode::InvalidContext,
                        format!(
                            "the call's context does not satisfy {pid}'s required_context: {why}"
                        ),
                    )
                });
            acc.gate(pid, "required_context", shaped)
        }
    }
}
