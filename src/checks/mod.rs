//! The check primitives. Each takes the call's context and the passport's
//! limits and says pass, deny, review or skip; none does I/O.
//!
//! Fail closed: a limit of the wrong type, a field of the wrong type, or a
//! value the check does not understand is a deny, never a pass.

pub mod command;
pub mod control;
pub mod environment;
pub mod extract;
pub mod glob;
pub mod mcp;
pub mod models;
pub mod path;
pub mod programs;
pub mod protect;
pub mod readers;
pub mod shell;
pub mod url;
mod values;
pub mod walk;

use crate::packs::CheckSpec;
use crate::passport::Passport;
use crate::reason::{Reason, ReasonCode};
use crate::state::{StateChange, StateSnapshot};
use environment::Environment;
use serde_json::{Map, Value};

/// What a check reads.
pub struct CheckInput<'a> {
    pub context: &'a Map<String, Value>,
    /// `passport.limits[capability]`, or empty.
    pub limits: &'a Map<String, Value>,
    pub passport: &'a Passport,
    pub capability: &'a str,
    pub state: &'a StateSnapshot,
    pub env: &'a Environment<'a>,
    /// Where the check notes which list entries decided it.
    pub hits: &'a Hits,
}

/// The passport list entries one check matched (`allowed_commands: git status`), so
/// `--explain` can name the entry and `toolgate test` can tell which were never exercised.
/// Notes only: never read by any check, never part of a verdict.
#[derive(Debug, Default)]
pub struct Hits(
    std::cell::RefCell<Vec<String>>,
    std::cell::Cell<bool>,
    std::cell::Cell<bool>,
);

impl Hits {
    /// Notes that `entry` of the list limit `limit` decided this check (allow or deny).
    pub fn entry(&self, limit: &str, entry: &str) {
        let hit = format!("{limit}: {entry}");
        let mut v = self.0.borrow_mut();
        if !v.contains(&hit) {
            v.push(hit);
        }
    }

    /// Notes that the check refused a write to (or read of) toolgate's protected set:
    /// such a deny holds in every rollout mode, or an observed agent could unhook the gate.
    pub fn protected(&self) {
        self.1.set(true);
    }

    /// Whether [`Hits::protected`] was noted.
    pub fn is_protected(&self) -> bool {
        self.1.get()
    }

    /// A collector for a check run only to learn what a call touches: a command check
    /// then skips its allowlist and opt-in rules and reports the file effects, so that
    /// when a rollout mode lets a denied command through, what it writes is still judged
    /// (and toolgate's own files stay protected).
    pub fn for_effects() -> Hits {
        let h = Hits::default();
        h.2.set(true);
        h
    }

    /// Whether this run only works out effects ([`Hits::for_effects`]).
    pub fn effects_only(&self) -> bool {
        self.2.get()
    }

    /// The entries noted so far, in order.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

/// A further request a call implies (a redirection is a file write), checked under its own pack.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    pub policy_id: String,
    pub context: Map<String, Value>,
}

/// What one check concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckResult {
    Pass {
        detail: String,
        effects: Vec<Effect>,
        changes: Vec<StateChange>,
    },
    Deny(Reason),
    Review(Reason),
    /// The optional limit or field is absent; the check has nothing to say.
    Skip(String),
}

impl CheckResult {
    pub fn pass(detail: impl Into<String>) -> CheckResult {
        CheckResult::Pass {
            detail: detail.into(),
            effects: vec![],
            changes: vec![],
        }
    }

    pub fn deny(code: ReasonCode, message: impl Into<String>) -> CheckResult {
        CheckResult::Deny(Reason::new(code, message))
    }
}

/// Runs one check.
pub fn run(spec: &CheckSpec, input: &CheckInput) -> CheckResult {
    match spec {
        CheckSpec::Command {
            field,
            allowed,
            blocked,
        } => command::check(input, field, allowed, blocked.as_deref()),
        CheckSpec::Path {
            field,
            access,
            allowed,
            blocked,
            walk,
        } => path::check(
            input,
            field,
            *access,
            allowed.as_deref(),
            blocked.as_deref(),
            walk.as_deref(),
        ),
        CheckSpec::Domain {
            field,
            allowed,
            blocked,
        } => url::check(input, field, allowed.as_deref(), blocked.as_deref()),
        CheckSpec::MaxBytes { field, limit, code } => values::max_bytes(input, field, limit, *code),
        CheckSpec::OneOf { field, limit, code } => values::one_of(input, field, limit, *code),
        CheckSpec::McpTool {
            server_field,
            tool_field,
            allowed,
            prefixes,
            blocked,
        } => mcp::check(input, server_field, tool_field, allowed, prefixes, blocked),
        CheckSpec::ControlFiles { field, rules } => control::check(input, field, rules),
        CheckSpec::MaxValue { field, limit, code } => values::max_value(input, field, limit, *code),
        CheckSpec::Flag { field, limit, code } => values::flag(input, field, limit, *code),
        CheckSpec::CurrencyAmount {
            amount_field,
            currency_field,
            limit,
        } => values::currency_amount(input, amount_field, currency_field, limit),
        CheckSpec::Idempotency { field, limit } => values::idempotency(input, field, limit),
        CheckSpec::Region { field } => values::region(input, field),
        CheckSpec::Approval { limit } => values::approval(input, limit),
        CheckSpec::Rate {
            limit,
            window_seconds,
        } => values::rate(input, limit, *window_seconds),
        CheckSpec::MaxItems { field, limit, code } => values::max_items(input, field, limit, *code),
        CheckSpec::NoneOf {
            field,
            item_field,
            limit,
            code,
        } => values::none_of(input, field, item_field.as_deref(), limit, *code),
        CheckSpec::AssuranceAtLeast { limit } => values::assurance_at_least(input, limit),
        CheckSpec::Glob {
            field,
            or_field,
            limit,
            when,
            code,
        } => glob::check(
            input,
            &glob::GlobSpec {
                field,
                or_field: or_field.as_deref(),
                name: limit,
                when: when.as_ref(),
                code: *code,
            },
        ),
        CheckSpec::MaxSum {
            fields,
            divide_by,
            or_items,
            limit,
            code,
        } => values::max_sum(
            input,
            &values::SumSpec {
                fields,
                divide_by: *divide_by,
                or_items: or_items.as_deref(),
                name: limit,
                code: *code,
            },
        ),
        CheckSpec::SameValue { field, other, code } => {
            values::same_value(input, field, other, *code)
        }
        CheckSpec::SumAtMost {
            fields,
            max_field,
            code,
        } => values::sum_at_most(input, fields, max_field, *code),
        CheckSpec::AssuranceTiers {
            amount_field,
            tiers,
        } => values::assurance_tiers(input, amount_field, tiers),
        CheckSpec::Count {
            counter,
            key_field,
            limit,
            window_seconds,
            when,
            code,
        } => values::count(
            input,
            &values::CountSpec {
                counter,
                key_field: key_field.as_deref(),
                name: limit,
                window: *window_seconds,
                when: when.as_ref(),
                code: *code,
            },
        ),
    }
}

/// A limit's value: `Ok(None)` when absent (the pack's `limits_required` has
/// already refused a missing required limit).
pub(crate) fn limit<'a>(input: &'a CheckInput, name: &str) -> Option<&'a Value> {
    input.limits.get(name).filter(|v| !v.is_null())
}

/// A list-of-strings limit, or a deny naming the limit.
pub(crate) fn string_list<'a>(
    input: &'a CheckInput,
    name: &str,
) -> Result<Option<Vec<&'a str>>, CheckResult> {
    let Some(v) = limit(input, name) else {
        return Ok(None);
    };
    let bad = || {
        CheckResult::deny(
            ReasonCode::PolicyError,
            format!(
                "limits.{}.{name} must be a list of strings",
                input.capability
            ),
        )
    };
    let arr = v.as_array().ok_or_else(bad)?;
    arr.iter()
        .map(|x| x.as_str().ok_or_else(bad))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// A string context field: `Ok(None)` when absent, a deny when of another type.
pub(crate) fn string_field<'a>(
    input: &'a CheckInput,
    field: &str,
) -> Result<Option<&'a str>, CheckResult> {
    match input.context.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(CheckResult::deny(
            ReasonCode::InvalidContext,
            format!("`{field}` must be a string"),
        )),
    }
}

/// One check run over plain values, for the primitives' unit tests.
#[cfg(test)]
pub(crate) fn run_on(
    limits: Value,
    context: Value,
    check: impl FnOnce(&CheckInput) -> CheckResult,
) -> CheckResult {
    let passport =
        Passport::from_value(&crate::passport::model::tests::sample()).expect("sample passport");
    let limits: Map<String, Value> = serde_json::from_value(limits).expect("limits object");
    let context: Map<String, Value> = serde_json::from_value(context).expect("context object");
    let state = StateSnapshot::default();
    let env = Environment::at(time::OffsetDateTime::UNIX_EPOCH);
    let hits = Hits::default();
    check(&CheckInput {
        context: &context,
        limits: &limits,
        passport: &passport,
        capability: "test.capability",
        state: &state,
        env: &env,
        hits: &hits,
    })
}
