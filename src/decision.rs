//! The decision: a pure function of (passport, packs, request, state, environment).
//!
//! Nothing here reads a file, the clock, a lock or the network: time, state
//! and the file-system view arrive as values, so every rule is testable and
//! fuzzable without a disk. The edges (`gate`) do the I/O around it.

use crate::checks::{self, CheckInput, CheckResult, Effect};
use crate::packs::{Catalog, CheckSpec, LookupError, Pack};
use crate::passport::rollout::{self, Mode, Rollout};
use crate::passport::{Passport, Status};
use crate::reason::{Reason, ReasonCode};
use crate::state::{StateChange, StateSnapshot};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
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

/// A verdict as written in policy-test fixtures and reports (`allow`, `review`, `deny`).
impl<'de> Deserialize<'de> for Verdict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "allow" => Ok(Verdict::Allow),
            "review" => Ok(Verdict::Review),
            "deny" => Ok(Verdict::Deny),
            other => Err(serde::de::Error::custom(format!(
                "unknown verdict `{other}` (expected allow, review or deny)"
            ))),
        }
    }
}

// The inputs a decision reads, defined below it so the checks can read them too.
pub use crate::call::Request;
pub use crate::checks::environment::{DirEntry, EntryKind, Environment, FsView, NoFs};

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Review,
    Deny,
    Skip,
}

/// The pack a decision or a trace line is about: one by id, or none at all (a harmless
/// tool, a call refused before a pack was chosen). Records, spans and `--explain` spell
/// the second `none`, as they always have; nothing can name a pack that way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyRef {
    Pack(String),
    NoPack,
}

impl PolicyRef {
    /// The wire spelling: the pack id, or `none`.
    pub fn as_str(&self) -> &str {
        match self {
            PolicyRef::Pack(id) => id,
            PolicyRef::NoPack => "none",
        }
    }

    /// The pack id, when a pack was chosen.
    pub fn pack(&self) -> Option<&str> {
        match self {
            PolicyRef::Pack(id) => Some(id),
            PolicyRef::NoPack => None,
        }
    }
}

impl From<&str> for PolicyRef {
    fn from(id: &str) -> PolicyRef {
        PolicyRef::Pack(id.into())
    }
}

impl std::fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for PolicyRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One line of `--explain` and one child span: which check ran and what it said.
#[derive(Debug, Clone, Serialize)]
pub struct CheckTrace {
    pub policy_id: PolicyRef,
    /// The policy layer the check ran under (`org`, `passport`, `delegation:TYPE`, `status`),
    /// set when a call is decided under more than one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    pub check: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<ReasonCode>,
    pub detail: String,
    /// The passport list entries that decided the check (`allowed_paths: src/**`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matched: Vec<String>,
    /// Set when the check denied or asked for review but its pack's rollout mode
    /// (observe, warn) let the call through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Measured for telemetry only; never influences the outcome.
    #[serde(skip)]
    pub elapsed: Duration,
}

/// The result of `decide`: the verdict, why, and how it was reached.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub policy_id: PolicyRef,
    pub verdict: Verdict,
    pub reasons: Vec<Reason>,
    pub trace: Vec<CheckTrace>,
    /// State the edge must record if (and only if) the call is allowed.
    #[serde(skip)]
    pub state_changes: Vec<StateChange>,
    /// What an enforcing policy would have answered, when a rollout mode let the call
    /// through: the verdict above says what happened, this says what was held back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would_be: Option<WouldBe>,
    /// A deny or review no approval may lift (see [`always_enforced`]), or one reached
    /// before any pack was evaluated.
    #[serde(skip)]
    pub hard: bool,
    /// The approval that let this call through ([`apply_grant`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
}

/// The verdict a call would have had if every pack enforced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WouldBe {
    pub verdict: Verdict,
    /// The mode that let it through (`warn` when any pack involved warns).
    pub mode: Mode,
    pub reasons: Vec<Reason>,
}

/// Denies no rollout mode softens: a suspended or expired passport, a passport the
/// pack cannot read, failures of the gate itself, and (see [`checks::Hits::protected`])
/// toolgate's own protected set, so an observed agent still cannot unhook the gate.
pub fn always_enforced(code: ReasonCode) -> bool {
    matches!(
        code,
        ReasonCode::PassportSuspended
            | ReasonCode::PassportExpired
            | ReasonCode::PolicyError
            | ReasonCode::UnknownPolicy
            | ReasonCode::InternalError
            | ReasonCode::AuditUnavailable
    )
}

/// The check name of a deny reached before any pack was evaluated ([`Evaluation::early_deny`]).
pub const EARLY_DENY_CHECK: &str = "gate";

/// Whether no approval may lift a decision, told from what its audit record keeps (the
/// deciding check as `policy/check`, and the reasons): a deny reached before any pack
/// ran, a reason [`always_enforced`] keeps, or one about toolgate's own files. It is the
/// set [`Evaluation::hard`] marks, which the gate never lets a grant lift; `approve` asks
/// here so that it refuses up front what the gate would refuse later.
pub fn no_approval_lifts(deciding_check: Option<&str>, reasons: &[Reason]) -> bool {
    // Pack ids have no `/`; check names may (`max_sum((a + b) / 10)`).
    let check = deciding_check
        .and_then(|d| d.split_once('/'))
        .map(|(_, c)| c);
    check == Some(EARLY_DENY_CHECK)
        || reasons
            .iter()
            .any(|r| always_enforced(r.code) || r.message.contains(checks::protect::PROTECTED_WHY))
}

impl Evaluation {
    /// A deny that happened before any pack could be evaluated (input, passport, tool).
    pub fn early_deny(policy_id: PolicyRef, reason: Reason) -> Evaluation {
        Evaluation {
            policy_id: policy_id.clone(),
            verdict: Verdict::Deny,
            trace: vec![CheckTrace {
                policy_id,
                layer: None,
                check: EARLY_DENY_CHECK.into(),
                outcome: Outcome::Deny,
                code: Some(reason.code),
                detail: reason.message.clone(),
                matched: vec![],
                mode: None,
                elapsed: Duration::ZERO,
            }],
            reasons: vec![reason],
            state_changes: vec![],
            would_be: None,
            hard: true,
            grant_id: None,
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
    prepare(passport, catalog, request, env).complete(passport, catalog, state, env)
}

/// A decision made up to the state: every check that does not read earlier
/// decisions has run (the expensive ones: shell parsing, path walks), and the ones
/// that do (daily caps, idempotency, rates, write-then-run) wait in their places
/// for [`Partial::complete`]. The gate prepares before it takes the audit lock
/// and completes under it, so no hook waits on another's parsing.
pub struct Partial {
    policy_id: String,
    acc: Acc,
    deferred: Vec<Deferred>,
}

/// A stateful check held back: where its trace line goes and what it reads.
struct Deferred {
    slot: usize,
    policy_id: String,
    /// The context and limits as the check reads them (aliases resolved). `None`
    /// limits: the passport's own block, read again from it when the check runs (a
    /// copy of a block with 1,000 allowed entries costs more than the check).
    context: Map<String, Value>,
    limits: Option<Map<String, Value>>,
    spec: usize,
    depth: usize,
}

/// Runs the stateless part of a decision (see [`Partial`]).
pub fn prepare(
    passport: &Passport,
    catalog: &Catalog,
    request: &Request,
    env: &Environment,
) -> Partial {
    let mut acc = Acc::under(passport, env);
    let mut deferred = Vec::new();
    let mut run = Run {
        passport,
        catalog,
        state: None,
        env,
        acc: &mut acc,
        deferred: &mut deferred,
    };
    run.evaluate(request, 0);
    Partial {
        policy_id: request.policy_id.clone(),
        acc,
        deferred,
    }
}

impl Partial {
    /// Whether a check still waits for the state.
    pub fn needs_state(&self) -> bool {
        !self.deferred.is_empty()
    }

    /// Runs the held-back checks against `state` and gives the verdict. The inputs
    /// must be the ones [`prepare`] saw.
    pub fn complete(
        self,
        passport: &Passport,
        catalog: &Catalog,
        state: &StateSnapshot,
        env: &Environment,
    ) -> Evaluation {
        let Partial {
            policy_id,
            mut acc,
            deferred,
        } = self;
        for d in deferred {
            let mut run = Run {
                passport,
                catalog,
                state: Some(state),
                env,
                acc: &mut acc,
                deferred: &mut Vec::new(),
            };
            let pref = PolicyRef::Pack(d.policy_id.clone());
            let hits = checks::Hits::default();
            let (pack, spec, limits) = match d.resolve(catalog, passport) {
                Ok(found) => found,
                Err(gone) => {
                    run.acc.record_at(
                        d.slot,
                        &pref,
                        "policy".into(),
                        CheckResult::Deny(Reason::new(ReasonCode::InternalError, gone)),
                        Duration::ZERO,
                        &hits,
                    );
                    continue;
                }
            };
            let input = check_input(pack, &d.context, limits, passport, state, env, &hits);
            let started = Instant::now();
            let result = checks::run(spec, &input);
            let effects =
                run.acc
                    .record_at(d.slot, &pref, spec.name(), result, started.elapsed(), &hits);
            run.effects(&pref, effects, d.depth);
        }
        acc.finish(&PolicyRef::Pack(policy_id))
    }
}

impl Deferred {
    /// The pack, check and limits a held-back check runs with, or what is gone (the
    /// catalog and passport must be the ones [`prepare`] saw).
    fn resolve<'a>(
        &'a self,
        catalog: &'a Catalog,
        passport: &'a Passport,
    ) -> Result<(&'a Pack, &'a CheckSpec, &'a Map<String, Value>), &'static str> {
        const GONE: &str = "a held-back check is no longer in its pack";
        let pack = catalog.pack_checked(&self.policy_id).map_err(|_| GONE)?;
        let spec = pack.checks.get(self.spec).ok_or(GONE)?;
        let limits = match &self.limits {
            Some(copy) => Some(copy),
            None => passport.limits_for(pack.limits_key()),
        };
        let limits = limits.ok_or("a held-back check's limits are no longer in the passport")?;
        Ok((pack, spec, limits))
    }
}

/// A person's approval of this exact call (a grant the edge matched by input digest)
/// lets through a deny or review that no hard rule decided. The state changes of the
/// checks that passed are kept; the record cites the grant.
pub fn apply_grant(ev: Evaluation, grant_id: &str) -> Evaluation {
    if ev.verdict == Verdict::Allow || ev.hard {
        return ev;
    }
    let first = ev.reasons.first().map_or("", |r| r.message.as_str());
    Evaluation {
        verdict: Verdict::Allow,
        reasons: vec![Reason::new(
            ReasonCode::Allowed,
            format!("allowed by approval {grant_id}; without it: {first}"),
        )],
        grant_id: Some(grant_id.into()),
        ..ev
    }
}

/// A person's approval of a pattern: `amended` is the call decided with the grant's one
/// extra allow entry (an allow, or the grant is not used); the record cites the grant and
/// says what the call was without it.
/// `what` names the entry (`` `cargo bench` in limits.system.command.execute.allowed_commands``).
pub fn apply_pattern_grant(
    amended: Evaluation,
    without: &Evaluation,
    grant_id: &str,
    what: &str,
) -> Evaluation {
    if amended.verdict != Verdict::Allow {
        return without.clone();
    }
    let first = without.reasons.first().map_or("", |r| r.message.as_str());
    Evaluation {
        reasons: vec![Reason::new(
            ReasonCode::Allowed,
            format!("allowed by approval {grant_id} ({what}); without it: {first}"),
        )],
        grant_id: Some(grant_id.into()),
        ..amended
    }
}

/// The verdict held back by rollout modes, when it is stricter than the one given.
pub fn would_be(given: Verdict, held: &[(Mode, Verdict, Reason)]) -> Option<WouldBe> {
    let worst = held.iter().map(|(_, v, _)| *v).max()?;
    if worst <= given {
        return None;
    }
    let of_worst = held.iter().filter(|(_, v, _)| *v == worst);
    Some(WouldBe {
        verdict: worst,
        mode: of_worst
            .clone()
            .map(|(m, _, _)| *m)
            .max()
            .unwrap_or(Mode::Observe),
        reasons: of_worst.map(|(_, _, r)| r.clone()).collect(),
    })
}

#[derive(Default)]
struct Acc {
    /// Each reason and change with the trace line it came from: a held-back check
    /// fills its line later, and the order stays the pack's.
    denies: Vec<(usize, Reason)>,
    reviews: Vec<(usize, Reason)>,
    trace: Vec<CheckTrace>,
    changes: Vec<(usize, StateChange)>,
    /// The passport's rollout and the config's floor.
    rollout: Rollout,
    floor: Rollout,
    /// Denies and reviews a rollout mode let through.
    held: Vec<(usize, Mode, Verdict, Reason)>,
    /// An enforced deny or review that neither a mode nor an approval may lift.
    hard: bool,
}

impl Acc {
    /// An empty accumulator under the passport's rollout and the config's floor.
    fn under(passport: &Passport, env: &Environment) -> Acc {
        Acc {
            rollout: Rollout::of(passport).unwrap_or_default(),
            floor: env.rollout.clone(),
            ..Acc::default()
        }
    }

    /// The mode a deny or review of `policy_id` takes effect in.
    fn mode(&self, policy_id: &PolicyRef, code: ReasonCode, hits: &checks::Hits) -> Mode {
        if always_enforced(code) || hits.is_protected() {
            return Mode::Enforce;
        }
        rollout::effective(&self.rollout, &self.floor, policy_id.as_str())
    }

    fn record(
        &mut self,
        policy_id: &PolicyRef,
        check: String,
        result: CheckResult,
        elapsed: Duration,
        hits: &checks::Hits,
    ) -> Vec<Effect> {
        let slot = self.hold(policy_id, String::new(), "");
        self.record_at(slot, policy_id, check, result, elapsed, hits)
    }

    /// Fills trace line `slot` with a check's result.
    fn record_at(
        &mut self,
        slot: usize,
        policy_id: &PolicyRef,
        check: String,
        result: CheckResult,
        elapsed: Duration,
        hits: &checks::Hits,
    ) -> Vec<Effect> {
        let mut held = None;
        let (outcome, code, detail, effects) = match result {
            CheckResult::Pass {
                detail,
                effects,
                changes,
            } => {
                self.changes.extend(changes.into_iter().map(|c| (slot, c)));
                (Outcome::Pass, None, detail, effects)
            }
            CheckResult::Skip(detail) => (Outcome::Skip, None, detail, vec![]),
            CheckResult::Deny(r) => {
                held = self.hold_back(slot, policy_id, Verdict::Deny, &r, hits);
                let t = (Outcome::Deny, Some(r.code), r.message.clone(), vec![]);
                if held.is_none() {
                    self.denies.push((slot, r));
                }
                t
            }
            CheckResult::Review(r) => {
                held = self.hold_back(slot, policy_id, Verdict::Review, &r, hits);
                let t = (Outcome::Review, Some(r.code), r.message.clone(), vec![]);
                if held.is_none() {
                    self.reviews.push((slot, r));
                }
                t
            }
        };
        if let Some(line) = self.trace.get_mut(slot) {
            *line = CheckTrace {
                policy_id: policy_id.clone(),
                layer: None,
                check,
                outcome,
                code,
                detail,
                matched: hits.take(),
                mode: held,
                elapsed,
            };
        }
        effects
    }

    /// Notes a deny or review that cannot be lifted, and keeps aside one that a
    /// rollout mode lets through (returning that mode).
    fn hold_back(
        &mut self,
        slot: usize,
        policy_id: &PolicyRef,
        verdict: Verdict,
        r: &Reason,
        hits: &checks::Hits,
    ) -> Option<Mode> {
        if always_enforced(r.code) || hits.is_protected() {
            self.hard = true;
        }
        match self.mode(policy_id, r.code, hits) {
            Mode::Enforce => None,
            m => {
                self.held.push((slot, m, verdict, r.clone()));
                Some(m)
            }
        }
    }

    /// Holds a trace line for a check that runs later (once the state is known).
    fn hold(&mut self, policy_id: &PolicyRef, check: String, detail: &str) -> usize {
        self.trace.push(CheckTrace {
            policy_id: policy_id.clone(),
            layer: None,
            check,
            outcome: Outcome::Skip,
            code: None,
            detail: detail.into(),
            matched: vec![],
            mode: None,
            elapsed: Duration::ZERO,
        });
        self.trace.len() - 1
    }

    fn gate(&mut self, policy_id: &PolicyRef, check: &str, result: Result<String, Reason>) -> bool {
        let ok = result.is_ok();
        let r = match result {
            Ok(detail) => CheckResult::pass(detail),
            Err(reason) => CheckResult::Deny(reason),
        };
        self.record(
            policy_id,
            check.into(),
            r,
            Duration::ZERO,
            &checks::Hits::default(),
        );
        ok
    }

    fn finish(self, policy_id: &PolicyRef) -> Evaluation {
        let in_order = |mut v: Vec<(usize, Reason)>| {
            v.sort_by_key(|(slot, _)| *slot);
            v.into_iter().map(|(_, r)| r).collect::<Vec<_>>()
        };
        let verdict = if !self.denies.is_empty() {
            Verdict::Deny
        } else if !self.reviews.is_empty() {
            Verdict::Review
        } else {
            Verdict::Allow
        };
        let mut held = self.held;
        held.sort_by_key(|(slot, ..)| *slot);
        let held: Vec<(Mode, Verdict, Reason)> =
            held.into_iter().map(|(_, m, v, r)| (m, v, r)).collect();
        let would_be = would_be(verdict, &held);
        let reasons = match (verdict, &would_be) {
            (Verdict::Deny, _) => in_order(self.denies),
            (Verdict::Review, _) => in_order(self.reviews),
            (Verdict::Allow, Some(w)) => vec![Reason::new(
                ReasonCode::Allowed,
                format!(
                    "allowed in {} mode; enforced, {policy_id} would {}: {}",
                    w.mode.as_str(),
                    w.verdict.as_str(),
                    w.reasons.first().map_or("", |r| r.message.as_str())
                ),
            )],
            (Verdict::Allow, None) => vec![Reason::new(
                ReasonCode::Allowed,
                format!("every check of {policy_id} passed"),
            )],
        };
        let mut changes = self.changes;
        changes.sort_by_key(|(slot, _)| *slot);
        Evaluation {
            policy_id: policy_id.clone(),
            verdict,
            reasons,
            trace: self.trace,
            state_changes: if verdict == Verdict::Allow {
                changes.into_iter().map(|(_, c)| c).collect()
            } else {
                vec![]
            },
            would_be,
            hard: self.hard,
            grant_id: None,
        }
    }
}

/// One walk over a request and the requests its effects imply.
struct Run<'r, 'e> {
    passport: &'r Passport,
    catalog: &'r Catalog,
    /// `None` while preparing: stateful checks are held back.
    state: Option<&'r StateSnapshot>,
    env: &'r Environment<'e>,
    acc: &'r mut Acc,
    deferred: &'r mut Vec<Deferred>,
}

impl Run<'_, '_> {
    fn evaluate(&mut self, request: &Request, depth: usize) {
        let (passport, catalog, env) = (self.passport, self.catalog, self.env);
        let pid = &PolicyRef::Pack(request.policy_id.clone());
        let pack = match catalog.pack_checked(&request.policy_id) {
            Ok(p) => p,
            Err(e) => {
                let code = match e {
                    LookupError::Unknown(_) => ReasonCode::UnknownPolicy,
                    LookupError::Invalid(_) => ReasonCode::PolicyError,
                };
                self.acc
                    .gate(pid, "policy", Err(Reason::new(code, e.to_string())));
                return;
            }
        };
        // Other packs' names for the same field or limit (APort's `amount_minor`,
        // `refund_reason_codes`) are read as the names the checks use.
        let raw_limits = match pack.limits_in(passport) {
            Ok(l) => l,
            Err(why) => {
                let r = Reason::new(ReasonCode::PolicyError, why);
                self.acc.gate(pid, "limits", Err(r));
                return;
            }
        };
        let (resolved, limits) = match (
            resolve_aliases(&request.context, &pack.field_aliases),
            resolve_aliases(&raw_limits, &pack.limit_aliases),
        ) {
            (Ok(c), Ok(l)) => (c, l),
            (Err((alias, name)), _) => {
                let why = format!(
                    "the call gives `{name}` twice, as `{alias}` and `{name}`, differently"
                );
                self.acc.gate(
                    pid,
                    "aliases",
                    Err(Reason::new(ReasonCode::InvalidContext, why)),
                );
                return;
            }
            (_, Err((alias, name))) => {
                let why = format!(
                    "limits.{} sets `{name}` twice, as `{alias}` and `{name}`, differently",
                    pack.limits_key()
                );
                self.acc.gate(
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
        // The passport's own block, untouched by flat or integration limits or aliases.
        let own = matches!(
            (&raw_limits, &limits),
            (std::borrow::Cow::Borrowed(_), std::borrow::Cow::Borrowed(_))
        );
        let limits: &Map<String, Value> = &limits;
        if depth == 0 && !gates_pass(passport, pack, request, limits, env, self.acc) {
            return;
        }
        if depth > 0 && !capability_gates(passport, pack, request, limits, self.acc) {
            return;
        }
        let mut effects = Vec::new();
        for (i, spec) in pack.checks.iter().enumerate() {
            let state = match self.state {
                Some(s) => s,
                None if spec.reads_state() => {
                    let slot = self.acc.hold(pid, spec.name(), "waits for the state");
                    self.deferred.push(Deferred {
                        slot,
                        policy_id: request.policy_id.clone(),
                        context: request.context.clone(),
                        limits: (!own).then(|| limits.clone()),
                        spec: i,
                        depth,
                    });
                    continue;
                }
                None => &NO_STATE,
            };
            let hits = checks::Hits::default();
            let input = check_input(pack, &request.context, limits, passport, state, env, &hits);
            let started = Instant::now();
            let result = checks::run(spec, &input);
            let elapsed = started.elapsed();
            let held = self.acc.held.len();
            effects.extend(self.acc.record(pid, spec.name(), result, elapsed, &hits));
            if self.acc.held.len() > held && matches!(spec, crate::packs::CheckSpec::Command { .. })
            {
                // A rollout mode let a denied command through: what it touches is still judged.
                effects.extend(held_command_effects(spec, &input, self.acc, pid));
            }
        }
        self.effects(pid, effects, depth);
    }

    /// Checks the requests a call implies, each under its own pack.
    fn effects(&mut self, pid: &PolicyRef, effects: Vec<Effect>, depth: usize) {
        for effect in effects {
            if depth >= MAX_EFFECT_DEPTH {
                self.acc.gate(
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
            self.evaluate(&sub, depth + 1);
        }
    }
}

/// What a check of `pack` reads: the one place a decision builds a [`CheckInput`].
fn check_input<'a>(
    pack: &'a Pack,
    context: &'a Map<String, Value>,
    limits: &'a Map<String, Value>,
    passport: &'a Passport,
    state: &'a StateSnapshot,
    env: &'a Environment<'a>,
    hits: &'a checks::Hits,
) -> CheckInput<'a> {
    CheckInput {
        context,
        limits,
        passport,
        capability: pack.limits_key(),
        state,
        env,
        hits,
    }
}

/// What a stateless check sees as the state (it never reads it; see `CheckSpec::reads_state`).
static NO_STATE: std::sync::LazyLock<StateSnapshot> =
    std::sync::LazyLock::new(StateSnapshot::default);

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

/// The file effects of a command whose denial a rollout mode held back, so they are
/// judged under their own packs (and toolgate's protected set holds). A command whose
/// effects cannot be worked out is denied in every mode.
fn held_command_effects(
    spec: &crate::packs::CheckSpec,
    input: &CheckInput,
    acc: &mut Acc,
    pid: &PolicyRef,
) -> Vec<Effect> {
    let hits = checks::Hits::for_effects();
    let probe = CheckInput {
        hits: &hits,
        ..*input
    };
    match checks::run(spec, &probe) {
        CheckResult::Pass { effects, .. } => effects,
        CheckResult::Deny(r) | CheckResult::Review(r) => {
            acc.hard = true;
            let reason = Reason::new(
                r.code,
                format!(
                    "{}; what the command touches cannot be worked out, so it is denied in every rollout mode",
                    r.message
                ),
            );
            // Noted as protected so no mode holds it back.
            let enforced = checks::Hits::default();
            enforced.protected();
            acc.record(
                pid,
                "effects".into(),
                CheckResult::Deny(reason),
                Duration::ZERO,
                &enforced,
            );
            vec![]
        }
        CheckResult::Skip(_) => vec![],
    }
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
    let pid = &PolicyRef::Pack(pack.id.clone());
    if !acc.gate(pid, "passport.status", status_gate(passport)) {
        return false;
    }
    if !acc.gate(pid, "passport.expiry", expiry_gate(passport, env.now)) {
        return false;
    }
    capability_gates(passport, pack, request, limits, acc)
}

/// Whether the passport is active: the same sentence for every call, tool or not.
fn status_gate(passport: &Passport) -> Result<String, Reason> {
    if passport.status == Status::Active {
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
    }
}

fn expiry_gate(passport: &Passport, now: OffsetDateTime) -> Result<String, Reason> {
    match (passport.expires(), passport.expiry_text()) {
        (Some(exp), Some(text)) if exp <= now => Err(Reason::new(
            ReasonCode::PassportExpired,
            format!("passport {} expired at {text}", passport.passport_id),
        )),
        (_, Some(text)) => Ok(format!("valid until {text}")),
        _ => Ok("no expiry set".into()),
    }
}

/// Decides a harmless tool (one the tool map sends to no pack): allowed when the
/// passport is active and unexpired, by the same gates every pack call passes first.
pub fn decide_harmless(passport: &Passport, tool: &str, now: OffsetDateTime) -> Evaluation {
    let mut acc = Acc::default();
    let pid = &PolicyRef::NoPack;
    if acc.gate(pid, "passport.status", status_gate(passport))
        && acc.gate(pid, "passport.expiry", expiry_gate(passport, now))
    {
        let mut ev = acc.finish(pid);
        ev.reasons = vec![Reason::new(
            ReasonCode::Allowed,
            format!("`{tool}` is a harmless tool"),
        )];
        return ev;
    }
    acc.finish(pid)
}

/// Pack-level gates: capability, assurance, required limits and fields.
fn capability_gates(
    passport: &Passport,
    pack: &Pack,
    request: &Request,
    limits: &Map<String, Value>,
    acc: &mut Acc,
) -> bool {
    let pid = &PolicyRef::Pack(pack.id.clone());
    let cap = match pack.capabilities_for(&request.context) {
        Err(why) => Err(Reason::new(ReasonCode::InvalidContext, why)),
        Ok(needed) => match needed.iter().find(|c| !passport.grants(c)) {
            None => Ok(format!("granted {}", needed.join(", "))),
            Some(c) => Err(Reason::new(
                ReasonCode::UnknownCapability,
                format!(
                    "the passport does not grant capability `{c}` required by {pid}{}",
                    match pack.capability_mode {
                        crate::packs::CapabilityMode::All => String::new(),
                        crate::packs::CapabilityMode::ActionDependent =>
                            format!(" for this `{}`", crate::packs::ACTION_FIELD),
                    }
                ),
            )),
        },
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
                "the passport sets no {} under limits.{}{}, which {pid} requires",
                missing.join(", "),
                pack.limits_key(),
                if pack.flat_limits {
                    " (nor, without that block, at the top of limits)"
                } else {
                    ""
                }
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
