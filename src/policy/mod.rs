//! The effective policy of one call: fleet status, the org ceiling, the agent's passport
//! and, inside a subagent, its delegation. Pure: every input arrives as a value.
//!
//! Layers are not merged into one document for the decision. Each layer's passport is
//! decided on its own and the most restrictive verdict wins, which is exactly
//! "capabilities intersect, allowlists intersect, blocklists unite, numbers take the
//! minimum, approvals add up" for every check a pack can express, including glob and
//! prefix lists whose intersection has no finite spelling. [`effective`] shows the
//! combination for people (`passport show --effective`).

pub mod delegation;
pub mod project;
pub mod roles;

use crate::decision::{
    self, CheckTrace, Environment, Evaluation, Outcome, PolicyRef, Request, Verdict,
};
use crate::packs::Catalog;
use crate::passport::Passport;
use crate::reason::{Reason, ReasonCode};
use crate::remote::status::{FleetStatus, StatusView};
use crate::state::{StateSnapshot, TripAction, Tripwire};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::time::Duration;

pub use delegation::Delegation;

/// The name of the org layer in traces and records.
pub const ORG: &str = "org";
/// The name of the agent passport's layer.
pub const PASSPORT: &str = "passport";
/// The name of the fleet status gate.
pub const STATUS: &str = "status";

/// One passport the call must satisfy, with the name records give it.
#[derive(Debug, Clone)]
pub struct Layer<'a> {
    pub name: String,
    pub passport: Cow<'a, Passport>,
}

/// The layers of one call, outermost (the ceiling) first.
pub fn layers<'a>(
    org: Option<&'a Passport>,
    agent: &'a Passport,
    delegated: Option<&'a Delegation>,
) -> Vec<Layer<'a>> {
    let mut out = vec![];
    if let Some(o) = org {
        out.push(Layer {
            name: ORG.into(),
            passport: Cow::Owned(ceiling_view(o, agent)),
        });
    }
    out.push(Layer {
        name: PASSPORT.into(),
        passport: Cow::Borrowed(agent),
    });
    if let Some(d) = delegated {
        out.push(Layer {
            name: format!("delegation:{}", d.agent_type),
            passport: Cow::Borrowed(&d.passport),
        });
    }
    out
}

/// The org policy as a layer over one agent passport: the org's capabilities, status
/// and expiry, and for each capability the agent's limits with the org's keys in their
/// place. Decided beside the agent's own layer, a key both set is bounded by both, a
/// key only the agent sets stays the agent's, and a capability the org does not grant
/// is denied by the org layer.
pub fn ceiling_view(org: &Passport, agent: &Passport) -> Passport {
    let mut v = org.clone();
    // Assurance is a property of the agent's identity, not something an org template caps.
    v.assurance_level = agent.assurance_level;
    if v.regions.is_empty() {
        v.regions = agent.regions.clone();
    }
    let overlay = |key: &str| {
        let mut block = agent.limits_for(key).cloned().unwrap_or_default();
        if let Some(o) = org.limits_for(key) {
            for (k, val) in o {
                block.insert(k.clone(), val.clone());
            }
        }
        Value::Object(block)
    };
    let mut limits = Map::new();
    for cap in &org.capabilities {
        limits.insert(cap.id.clone(), overlay(&cap.id));
    }
    // A block filed under a pack's own key rather than a capability (APort's
    // `limits["code.repository.merge"]`) is layered the same way.
    let is_cap = |k: &str| {
        org.capabilities
            .iter()
            .chain(&agent.capabilities)
            .any(|c| c.id == k)
    };
    // A limit written flat at the top of `limits` (a pack's `flat_limits`) stays a value,
    // the org's in place of the agent's.
    let flat = |key: &str| {
        let plain = |v: &&Value| !v.is_object();
        let org_value = org.limits.get(key).filter(plain);
        org_value.or(agent.limits.get(key).filter(plain)).cloned()
    };
    for key in agent.limits.keys().chain(org.limits.keys()) {
        if !is_cap(key) && !limits.contains_key(key) {
            limits.insert(key.clone(), flat(key).unwrap_or_else(|| overlay(key)));
        }
    }
    v.limits = limits;
    v
}

/// A layered decision: the combined evaluation and the layer that decided it.
#[derive(Debug, Clone)]
pub struct Layered {
    pub evaluation: Evaluation,
    /// The innermost layer that denied, or else that asked for review.
    pub deciding_layer: Option<String>,
    /// How many approvals the call needs (one per layer that requires one).
    pub approvals: usize,
}

/// Judges the fleet status for one passport: the gate every call passes first.
pub fn status_gate(view: &StatusView, passport_id: &str, now_unix: i64) -> Result<String, Reason> {
    let src = &view.source;
    let why = view
        .problem
        .as_deref()
        .map(|p| format!(" (last refresh: {p})"))
        .unwrap_or_default();
    let (Some(doc), Some(age)) = (&view.current, view.age_s(now_unix)) else {
        return Err(Reason::new(
            ReasonCode::StatusUnavailable,
            format!("no verified status from {src}{why}; run `toolgate status refresh`"),
        ));
    };
    if age > view.max_stale_s {
        return Err(Reason::new(
            ReasonCode::StatusStale,
            format!(
                "the status from {src} was last confirmed {age}s ago, past max_stale_s {}{why}",
                view.max_stale_s
            ),
        ));
    }
    let seq = doc.sequence();
    if now_unix > doc.expires_at {
        return Err(Reason::new(
            ReasonCode::StatusExpired,
            format!(
                "status sequence {seq} from {src} expired at {}; the issuer must publish a new one",
                doc.expires_text
            ),
        ));
    }
    let Some(entry) = doc.entry(passport_id) else {
        return Err(Reason::new(
            ReasonCode::StatusUnknownPassport,
            format!("status sequence {seq} from {src} does not list passport {passport_id}"),
        ));
    };
    let note = entry
        .reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    match entry.status {
        FleetStatus::Active => Ok(format!(
            "passport {passport_id} is active in status sequence {seq} from {src} ({age}s old)"
        )),
        s => Err(Reason::new(
            ReasonCode::PassportSuspended,
            format!(
                "passport {passport_id} is {} since {} by status sequence {seq} from {src}{note}",
                s.as_str(),
                entry.updated_at
            ),
        )),
    }
}

fn gate_trace(
    policy_id: &PolicyRef,
    check: &str,
    layer: &str,
    r: &Result<String, Reason>,
) -> CheckTrace {
    CheckTrace {
        policy_id: policy_id.clone(),
        layer: Some(layer.into()),
        check: check.into(),
        outcome: if r.is_ok() {
            Outcome::Pass
        } else {
            Outcome::Deny
        },
        code: r.as_ref().err().map(|e| e.code),
        detail: match r {
            Ok(d) => d.clone(),
            Err(e) => e.message.clone(),
        },
        matched: vec![],
        mode: None,
        elapsed: Duration::ZERO,
    }
}

/// The status gate as an evaluation step: `Err` is the finished deny.
pub fn check_status(
    status: Option<&StatusView>,
    policy_id: &PolicyRef,
    passport_id: &str,
    now_unix: i64,
) -> Result<Option<CheckTrace>, Box<Layered>> {
    let Some(view) = status else { return Ok(None) };
    let r = status_gate(view, passport_id, now_unix);
    let t = gate_trace(policy_id, STATUS, STATUS, &r);
    match r {
        Ok(_) => Ok(Some(t)),
        Err(reason) => Err(Box::new(Layered {
            evaluation: Evaluation {
                policy_id: policy_id.clone(),
                verdict: Verdict::Deny,
                reasons: vec![reason],
                trace: vec![t],
                state_changes: vec![],
                would_be: None,
                hard: true,
                grant_id: None,
            },
            deciding_layer: Some(STATUS.into()),
            approvals: 0,
        })),
    }
}

/// Decides a request under every layer; the most restrictive verdict wins.
pub fn decide(
    layers: &[Layer],
    status: Option<&StatusView>,
    catalog: &Catalog,
    request: &Request,
    state: &StateSnapshot,
    env: &Environment,
) -> Layered {
    prepare(layers, status, catalog, request, env).complete(layers, catalog, state, env)
}

/// A layered decision up to the state: the status gate and every layer's stateless
/// checks (see [`decision::Partial`]). Made before the audit lock, completed under it.
pub struct Prepared {
    policy_id: PolicyRef,
    step: PreparedStep,
}

enum PreparedStep {
    /// The status gate denied: nothing else runs.
    Denied(Box<Layered>),
    Layers {
        status_trace: Option<CheckTrace>,
        partials: Vec<decision::Partial>,
    },
    /// A harmless tool: only the passports' own status and expiry.
    Harmless(Vec<Evaluation>),
}

/// Runs the stateless part of a layered decision.
pub fn prepare(
    layers: &[Layer],
    status: Option<&StatusView>,
    catalog: &Catalog,
    request: &Request,
    env: &Environment,
) -> Prepared {
    let step = match check_status(
        status,
        &PolicyRef::Pack(request.policy_id.clone()),
        agent_id(layers),
        env.now.unix_timestamp(),
    ) {
        Err(denied) => PreparedStep::Denied(denied),
        Ok(status_trace) => PreparedStep::Layers {
            status_trace,
            partials: layers
                .iter()
                .map(|l| decision::prepare(&l.passport, catalog, request, env))
                .collect(),
        },
    };
    Prepared {
        policy_id: PolicyRef::Pack(request.policy_id.clone()),
        step,
    }
}

/// Decides a harmless tool under every layer: the status gate, then each layer's own
/// status and expiry (a suspended org or agent does nothing at all).
pub fn prepare_harmless(
    layers: &[Layer],
    status: Option<&StatusView>,
    tool: &str,
    now: time::OffsetDateTime,
) -> Prepared {
    let pid = &PolicyRef::NoPack;
    let step = match check_status(status, pid, agent_id(layers), now.unix_timestamp()) {
        Err(denied) => PreparedStep::Denied(denied),
        Ok(_) => PreparedStep::Harmless(
            layers
                .iter()
                .map(|l| decision::decide_harmless(&l.passport, tool, now))
                .collect(),
        ),
    };
    Prepared {
        policy_id: pid.clone(),
        step,
    }
}

fn agent_id<'a>(layers: &'a [Layer]) -> &'a str {
    layers
        .iter()
        .find(|l| l.name == PASSPORT)
        .map_or("", |l| l.passport.passport_id.as_str())
}

impl Prepared {
    /// Whether the state can still change the verdict (a stateful check or a tripwire).
    pub fn needs_state(&self, layers: &[Layer]) -> bool {
        let partial = match &self.step {
            PreparedStep::Denied(_) => return false,
            PreparedStep::Layers { partials, .. } => partials.iter().any(|p| p.needs_state()),
            PreparedStep::Harmless(_) => false,
        };
        // The replay mark is in the state too.
        partial || tripwire_of(layers).is_some() || layers.iter().any(|l| l.name == PASSPORT)
    }

    pub fn policy_id(&self) -> &PolicyRef {
        &self.policy_id
    }

    /// Finishes the decision with the state: the held-back checks of every layer, the
    /// combination, then the agent passport's tripwire. `layers`, `catalog` and `env`
    /// must be the ones [`prepare`] saw.
    pub fn complete(
        self,
        layers: &[Layer],
        catalog: &Catalog,
        state: &StateSnapshot,
        env: &Environment,
    ) -> Layered {
        let named = layers.len() > 1;
        let layered = match self.step {
            PreparedStep::Denied(d) => return *d,
            PreparedStep::Layers {
                status_trace,
                partials,
            } => {
                let evals: Vec<(&str, Evaluation)> = layers
                    .iter()
                    .zip(partials)
                    .map(|(l, p)| {
                        let mut ev = p.complete(&l.passport, catalog, state, env);
                        if named {
                            for t in &mut ev.trace {
                                t.layer = Some(l.name.clone());
                            }
                        }
                        (l.name.as_str(), ev)
                    })
                    .collect();
                combine(&self.policy_id, status_trace, evals)
            }
            PreparedStep::Harmless(evals) => {
                let evals = layers.iter().map(|l| l.name.as_str()).zip(evals).collect();
                combine(&self.policy_id, None, evals)
            }
        };
        if let Some(denied) = replayed(layers, &self.policy_id, state) {
            return denied;
        }
        match tripwire_of(layers) {
            Some(wire) => trip(layered, wire, state, env.now.unix_timestamp()),
            None => layered,
        }
    }
}

/// A deny when the agent passport is older than the newest one this agent was
/// decided under (the state's mark): a copy put back to regain what a later
/// version took away, or to undo a suspension.
fn replayed(layers: &[Layer], policy_id: &PolicyRef, state: &StateSnapshot) -> Option<Layered> {
    let high = state.passport.as_ref()?;
    let p = &layers.iter().find(|l| l.name == PASSPORT)?.passport;
    let mark = crate::state::PassportMark {
        version: p.version.clone(),
        updated_at: p.updated_at.clone(),
    };
    let why = mark.older_than(high)?;
    Some(Layered {
        evaluation: Evaluation::early_deny(
            policy_id.clone(),
            Reason::new(
                ReasonCode::PassportReplayed,
                format!(
                    "passport {}: {why}, which decisions were already made under; an older copy is never accepted again (issue a new one with a higher version and a later updated_at)",
                    p.passport_id
                ),
            ),
        ),
        deciding_layer: Some(PASSPORT.into()),
        approvals: 0,
    })
}

/// The agent passport's tripwire (the org ceiling's and a delegation's do not count).
fn tripwire_of<'a>(layers: &'a [Layer]) -> Option<&'a Tripwire> {
    layers
        .iter()
        .find(|l| l.name == PASSPORT)
        .and_then(|l| l.passport.tripwire.as_ref())
}

/// Applies the behavioural tripwire: once tripped, a call that would have been
/// allowed or reviewed goes to the wire's action instead, and the record says why.
fn trip(mut layered: Layered, wire: &Tripwire, state: &StateSnapshot, now_unix: i64) -> Layered {
    let ev = &mut layered.evaluation;
    if ev.verdict == Verdict::Deny {
        return layered;
    }
    let Some(reason) = wire.check(state, now_unix) else {
        return layered;
    };
    let verdict = match wire.action {
        TripAction::Review => Verdict::Review,
        TripAction::Deny => Verdict::Deny,
    };
    ev.trace.push(CheckTrace {
        policy_id: ev.policy_id.clone(),
        layer: None,
        check: "tripwire".into(),
        outcome: match verdict {
            Verdict::Review => Outcome::Review,
            _ => Outcome::Deny,
        },
        code: Some(reason.code),
        detail: reason.message.clone(),
        matched: vec![],
        mode: None,
        elapsed: Duration::ZERO,
    });
    ev.verdict = verdict;
    ev.reasons = vec![reason];
    ev.state_changes.clear();
    // The tripwire is the passport's own brake: no approval or rollout mode lifts it.
    ev.hard = true;
    ev.would_be = None;
    layered
}

fn combine(
    policy_id: &PolicyRef,
    status_trace: Option<CheckTrace>,
    evals: Vec<(&str, Evaluation)>,
) -> Layered {
    let verdict = evals
        .iter()
        .map(|(_, e)| e.verdict)
        .max()
        .unwrap_or(Verdict::Deny);
    let deciding: Vec<&(&str, Evaluation)> =
        evals.iter().filter(|(_, e)| e.verdict == verdict).collect();
    // The innermost layer with the verdict decided it: an outer layer inherits the keys it
    // does not set, so when both deny, the inner one's own limit is the cause.
    let deciding_layer = (verdict != Verdict::Allow && evals.len() > 1)
        .then(|| deciding.last().map(|(n, _)| n.to_string()))
        .flatten();
    let approvals = evals
        .iter()
        .filter(|(_, e)| {
            e.reasons
                .iter()
                .any(|r| r.code == ReasonCode::ApprovalRequired)
        })
        .count();
    let reasons = match verdict {
        Verdict::Allow => evals
            .last()
            .map(|(_, e)| e.reasons.clone())
            .unwrap_or_default(),
        _ => {
            let mut out: Vec<Reason> = vec![];
            for (name, e) in deciding.iter().rev() {
                for r in &e.reasons {
                    let r = if evals.len() > 1 && *name == ORG {
                        Reason::new(r.code, format!("org policy: {}", r.message))
                    } else {
                        r.clone()
                    };
                    if !out.contains(&r) {
                        out.push(r);
                    }
                }
            }
            out
        }
    };
    let state_changes = match (verdict, evals.last()) {
        (Verdict::Allow, Some((_, e))) => e.state_changes.clone(),
        _ => vec![],
    };
    // Each layer's held-back verdict (its own rollout); the strictest one is kept
    // when it is stricter than what was answered.
    let would_be = evals
        .iter()
        .filter_map(|(_, e)| e.would_be.clone())
        .filter(|w| w.verdict > verdict)
        .max_by_key(|w| (w.verdict, w.mode));
    let reasons = match (&would_be, verdict) {
        (Some(_), Verdict::Allow) => evals
            .iter()
            .find(|(_, e)| e.would_be.is_some())
            .map(|(_, e)| e.reasons.clone())
            .unwrap_or(reasons),
        _ => reasons,
    };
    let hard = evals.iter().any(|(_, e)| e.hard);
    let mut trace: Vec<CheckTrace> = status_trace.into_iter().collect();
    for (_, e) in evals {
        trace.extend(e.trace);
    }
    Layered {
        evaluation: Evaluation {
            policy_id: policy_id.clone(),
            verdict,
            reasons,
            trace,
            state_changes,
            would_be,
            hard,
            grant_id: None,
        },
        deciding_layer,
        approvals,
    }
}

/// The combined policy of the layers, for people: capabilities every layer grants, and
/// for each of them every limit key combined by its role.
pub fn effective(layers: &[Layer], catalog: &Catalog) -> Value {
    let Some(first) = layers.first() else {
        return Value::Null;
    };
    let caps: Vec<&str> = first
        .passport
        .capabilities
        .iter()
        .map(|c| c.id.as_str())
        .filter(|id| layers.iter().all(|l| l.passport.grants(id)))
        .collect();
    let mut limits = Map::new();
    for cap in &caps {
        let mut block = Map::new();
        let mut approvals = 0;
        for l in layers {
            let Some(m) = l.passport.limits_for(cap) else {
                continue;
            };
            for (k, v) in m {
                let role = roles::role(catalog, cap, k);
                if role == roles::Role::Require
                    && k == "approval_required"
                    && v == &Value::Bool(true)
                {
                    approvals += 1;
                }
                let merged = match block.get(k) {
                    Some(prev) => roles::meet(role, prev, v),
                    None => v.clone(),
                };
                block.insert(k.clone(), merged);
            }
        }
        if approvals > 1 {
            block.insert("approvals_required".into(), approvals.into());
        }
        limits.insert(cap.to_string(), Value::Object(block));
    }
    let Some(last) = layers.last().map(|l| &l.passport) else {
        return Value::Null;
    };
    serde_json::json!({
        "layers": layers.iter().map(|l| serde_json::json!({
            "layer": l.name,
            "passport_id": l.passport.passport_id,
            "status": l.passport.status.as_str(),
            "expires_at": l.passport.expiry_text(),
        })).collect::<Vec<_>>(),
        "passport_id": last.passport_id,
        "capabilities": caps,
        "limits": limits,
        "regions": last.regions,
    })
}

#[cfg(test)]
mod tests;
