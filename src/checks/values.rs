//! Checks over plain values: sizes, enumerations, amounts, flags, regions,
//! approval, idempotency and rates.

use super::{limit, string_field, string_list, CheckInput, CheckResult};
use crate::canonical::MAX_SAFE_INTEGER;
use crate::passport::AssuranceLevel;
use crate::reason::{Reason, ReasonCode};
use crate::state::StateChange;
use serde_json::Value;

fn skip_limit(input: &CheckInput, name: &str) -> CheckResult {
    CheckResult::Skip(format!("limits.{}.{name} is not set", input.capability))
}

fn bad_limit(input: &CheckInput, name: &str, what: &str) -> CheckResult {
    CheckResult::deny(
        ReasonCode::PolicyError,
        format!("limits.{}.{name} must be {what}", input.capability),
    )
}

/// A non-negative integer limit.
fn uint_limit(input: &CheckInput, name: &str) -> Result<Option<u64>, CheckResult> {
    match limit(input, name) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| bad_limit(input, name, "a non-negative integer")),
    }
}

/// The integer limit a `max_*`-style check compares against; `Err` is the check's
/// answer already (a skip when the limit is unset, a deny when it is not an integer).
fn max_limit(input: &CheckInput, name: &str) -> Result<u64, CheckResult> {
    uint_limit(input, name)?.ok_or_else(|| skip_limit(input, name))
}

pub(crate) fn bool_limit(input: &CheckInput, name: &str) -> Result<Option<bool>, CheckResult> {
    match limit(input, name) {
        None => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .ok_or_else(|| bad_limit(input, name, "true or false")),
    }
}

/// A count or amount from the context: a JSON integer in [0, 2^53).
/// Strings, floats, negatives, booleans and null are refused, not coerced.
pub(crate) fn uint_field(input: &CheckInput, field: &str) -> Result<Option<u64>, CheckResult> {
    let bad = |why: &str| {
        CheckResult::deny(
            ReasonCode::InvalidContext,
            format!("`{field}` must be a non-negative integer in minor units ({why})"),
        )
    };
    match input.context.get(field) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if v <= MAX_SAFE_INTEGER => Ok(Some(v)),
            Some(_) => Err(bad("too large")),
            None if n.is_i64() => Err(bad("negative")),
            None => Err(bad("not an integer")),
        },
        Some(Value::Null) => Err(bad("null")),
        Some(Value::String(_)) => Err(bad("a string")),
        Some(_) => Err(bad("wrong type")),
    }
}

pub fn max_bytes(
    input: &CheckInput,
    field: &str,
    name: &str,
    code: Option<ReasonCode>,
) -> CheckResult {
    let max = match max_limit(input, name) {
        Ok(m) => m,
        Err(done) => return done,
    };
    let size = match input.context.get(field) {
        None | Some(Value::Null) => return CheckResult::Skip(format!("no `{field}` in the call")),
        Some(Value::String(s)) => s.len() as u64,
        Some(Value::Array(items)) => {
            let mut total = 0u64;
            for it in items {
                match it {
                    Value::String(s) => total = total.saturating_add(s.len() as u64),
                    _ => {
                        return CheckResult::deny(
                            ReasonCode::InvalidContext,
                            format!("`{field}` must hold only strings"),
                        )
                    }
                }
            }
            total
        }
        // Structured arguments (an MCP tool's parameters): the bytes of their compact JSON.
        Some(v @ Value::Object(_)) => json_len(v),
        Some(_) => {
            return CheckResult::deny(
                ReasonCode::InvalidContext,
                format!("`{field}` must be a string, an array of strings or an object"),
            )
        }
    };
    if size <= max {
        CheckResult::pass(format!("{size} bytes <= {max}"))
    } else {
        CheckResult::deny(
            code.unwrap_or(ReasonCode::LimitExceeded),
            format!("{size} bytes of `{field}` exceed {name} = {max}"),
        )
    }
}

/// The length of a value's compact JSON text, counted without building it.
fn json_len(v: &Value) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(buf.len() as u64);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    // Writing to a counter cannot fail; a value that did would be counted as unbounded.
    match serde_json::to_writer(&mut c, v) {
        Ok(()) => c.0,
        Err(_) => u64::MAX,
    }
}

pub fn one_of(
    input: &CheckInput,
    field: &str,
    name: &str,
    code: Option<ReasonCode>,
) -> CheckResult {
    let list = match string_list(input, name) {
        Ok(Some(l)) => l,
        Ok(None) => return skip_limit(input, name),
        Err(e) => return e,
    };
    let value = match string_field(input, field) {
        Ok(Some(v)) => v,
        Ok(None) => return CheckResult::Skip(format!("no `{field}` in the call")),
        Err(e) => return e,
    };
    if list.contains(&value) {
        input.hits.entry(name, value);
        CheckResult::pass(format!("`{value}` is in {name}"))
    } else {
        CheckResult::deny(
            code.unwrap_or(ReasonCode::ValueNotAllowed),
            format!("`{value}` is not in {name}"),
        )
    }
}

pub fn max_value(
    input: &CheckInput,
    field: &str,
    name: &str,
    code: Option<ReasonCode>,
) -> CheckResult {
    let max = match max_limit(input, name) {
        Ok(m) => m,
        Err(done) => return done,
    };
    match uint_field(input, field) {
        Ok(None) => CheckResult::Skip(format!("no `{field}` in the call")),
        Ok(Some(v)) if v <= max => CheckResult::pass(format!("{field} {v} <= {max}")),
        Ok(Some(v)) => CheckResult::deny(
            code.unwrap_or(ReasonCode::LimitExceeded),
            format!("{field} {v} exceeds {name} = {max}"),
        ),
        Err(e) => e,
    }
}

pub fn flag(input: &CheckInput, field: &str, name: &str, code: Option<ReasonCode>) -> CheckResult {
    let requested = match input.context.get(field) {
        None => return CheckResult::Skip(format!("no `{field}` in the call")),
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return CheckResult::deny(
                ReasonCode::InvalidContext,
                format!("`{field}` must be true or false"),
            )
        }
    };
    if !requested {
        return CheckResult::pass(format!("{field} is false"));
    }
    match bool_limit(input, name) {
        Ok(Some(true)) => CheckResult::pass(format!("{field} allowed by {name}")),
        Ok(_) => CheckResult::deny(
            code.unwrap_or(ReasonCode::ValueNotAllowed),
            format!("{field} is requested but {name} does not allow it"),
        ),
        Err(e) => e,
    }
}

pub fn currency_amount(
    input: &CheckInput,
    amount_field: &str,
    currency_field: &str,
    name: &str,
) -> CheckResult {
    let Some(table) = limit(input, name) else {
        return skip_limit(input, name);
    };
    let Some(table) = table.as_object() else {
        return bad_limit(input, name, "an object keyed by currency");
    };
    let amount = match uint_field(input, amount_field) {
        Ok(Some(a)) => a,
        Ok(None) => {
            return CheckResult::deny(
                ReasonCode::InvalidContext,
                format!("the call has no `{amount_field}`"),
            )
        }
        Err(e) => return e,
    };
    let currency = match string_field(input, currency_field) {
        Ok(Some(c)) => c,
        Ok(None) => {
            return CheckResult::deny(
                ReasonCode::InvalidContext,
                format!("the call has no `{currency_field}`"),
            )
        }
        Err(e) => return e,
    };
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return CheckResult::deny(
            ReasonCode::InvalidContext,
            format!("`{currency}` is not an upper-case ISO 4217 currency code"),
        );
    }
    let Some(per_ccy) = table.get(currency).and_then(Value::as_object) else {
        return CheckResult::deny(
            ReasonCode::CurrencyUnsupported,
            format!("currency {currency} is not supported by this passport"),
        );
    };
    let field_u64 = |k: &'static str| per_ccy.get(k).map(|v| v.as_u64().ok_or(k));
    let max_per_tx = match field_u64("max_per_tx") {
        Some(Ok(v)) => v,
        Some(Err(k)) => return bad_limit(input, &format!("{name}.{currency}.{k}"), "an integer"),
        None => return bad_limit(input, &format!("{name}.{currency}.max_per_tx"), "set"),
    };
    if amount > max_per_tx {
        return CheckResult::deny(
            ReasonCode::LimitExceeded,
            format!("{amount} {currency} (minor units) exceeds max_per_tx {max_per_tx}"),
        );
    }
    let mut detail = format!("{amount} {currency} <= max_per_tx {max_per_tx}");
    if let Some(cap) = field_u64("daily_cap") {
        let Ok(cap) = cap else {
            return bad_limit(input, &format!("{name}.{currency}.daily_cap"), "an integer");
        };
        let spent = input.state.spent_today(input.capability, currency);
        let after = spent.saturating_add(amount);
        if after > cap {
            return CheckResult::deny(
                ReasonCode::LimitExceeded,
                format!("{amount} {currency} would bring today's total to {after}, over daily_cap {cap}"),
            );
        }
        detail.push_str(&format!("; today {after} <= daily_cap {cap}"));
    }
    CheckResult::Pass {
        detail,
        effects: vec![],
        changes: vec![StateChange::Spend {
            capability: input.capability.into(),
            currency: currency.into(),
            amount,
        }],
    }
}

pub fn idempotency(input: &CheckInput, field: &str, name: &str) -> CheckResult {
    match bool_limit(input, name) {
        Ok(Some(true)) => {}
        Ok(_) => return CheckResult::Skip(format!("{name} is not set")),
        Err(e) => return e,
    }
    let key = match string_field(input, field) {
        Ok(Some(k)) if !k.is_empty() => k,
        Ok(_) => {
            return CheckResult::deny(
                ReasonCode::InvalidContext,
                format!("{name} is set, so the call must carry a non-empty `{field}`"),
            )
        }
        Err(e) => return e,
    };
    use crate::state::{MAX_IDEMPOTENCY_KEYS, MAX_IDEMPOTENCY_KEY_BYTES};
    if key.len() > MAX_IDEMPOTENCY_KEY_BYTES {
        return CheckResult::deny(
            ReasonCode::InvalidContext,
            format!(
                "`{field}` is {} bytes; toolgate accepts idempotency keys of at most {MAX_IDEMPOTENCY_KEY_BYTES} bytes (use a UUID or a digest of the request)",
                key.len()
            ),
        );
    }
    if input.state.key_used(input.capability, key) {
        return CheckResult::deny(
            ReasonCode::IdempotencyConflict,
            format!("idempotency key `{key}` was already used"),
        );
    }
    if input.state.keys_full() {
        return CheckResult::deny(
            ReasonCode::LimitExceeded,
            format!(
                "this agent has used {MAX_IDEMPOTENCY_KEYS} idempotency keys, as many as toolgate remembers, so the new key `{key}` is refused: \
                 forgetting a used key would let it be used again, and rebuilding the state keeps them all. \
                 Give the agent a new passport with its own agent_id (its keys start empty) and retire this one"
            ),
        );
    }
    CheckResult::Pass {
        detail: format!("idempotency key `{key}` is new"),
        effects: vec![],
        changes: vec![StateChange::UseKey {
            capability: input.capability.into(),
            key: key.into(),
        }],
    }
}

pub fn region(input: &CheckInput, field: &str) -> CheckResult {
    match string_field(input, field) {
        Ok(None) => CheckResult::Skip(format!("no `{field}` in the call")),
        Ok(Some(r)) => {
            let regions = &input.passport.regions;
            // "US-CA" is inside "US"; "US" is not inside "US-CA".
            let ok = regions.iter().any(|allowed| {
                r == allowed
                    || r.strip_prefix(allowed.as_str())
                        .is_some_and(|rest| rest.starts_with('-'))
            });
            if ok {
                CheckResult::pass(format!("region {r} is authorised"))
            } else {
                CheckResult::deny(
                    ReasonCode::RegionBlocked,
                    format!("region {r} is not among the passport's regions"),
                )
            }
        }
        Err(e) => e,
    }
}

pub fn max_items(
    input: &CheckInput,
    field: &str,
    name: &str,
    code: Option<ReasonCode>,
) -> CheckResult {
    let max = match max_limit(input, name) {
        Ok(m) => m,
        Err(done) => return done,
    };
    let n = match input.context.get(field) {
        None | Some(Value::Null) => return CheckResult::Skip(format!("no `{field}` in the call")),
        Some(Value::Array(a)) => a.len() as u64,
        Some(_) => {
            return CheckResult::deny(
                ReasonCode::InvalidContext,
                format!("`{field}` must be an array"),
            )
        }
    };
    at_most(&format!("the item count of `{field}`"), n, name, max, code)
}

/// Pass when `value <= max`, else deny with `code` (by default `oap.limit_exceeded`).
fn at_most(
    what: &str,
    value: u64,
    against: &str,
    max: u64,
    code: Option<ReasonCode>,
) -> CheckResult {
    if value <= max {
        CheckResult::pass(format!("{what} = {value} <= {against} = {max}"))
    } else {
        CheckResult::deny(
            code.unwrap_or(ReasonCode::LimitExceeded),
            format!("{what} = {value} exceeds {against} = {max}"),
        )
    }
}

pub fn none_of(
    input: &CheckInput,
    field: &str,
    item_field: Option<&str>,
    name: &str,
    code: Option<ReasonCode>,
) -> CheckResult {
    let blocked = match string_list(input, name) {
        Ok(Some(l)) => l,
        Ok(None) => return skip_limit(input, name),
        Err(e) => return e,
    };
    let bad = |what: &str| {
        CheckResult::deny(
            ReasonCode::InvalidContext,
            format!("`{field}` must be {what}"),
        )
    };
    // Every value the call names, in order; a value of the wrong type is refused, not skipped.
    let mut values: Vec<&str> = Vec::new();
    match (input.context.get(field), item_field) {
        (None | Some(Value::Null), _) => {
            return CheckResult::Skip(format!("no `{field}` in the call"))
        }
        (Some(Value::String(s)), None) => values.push(s),
        (Some(Value::Array(items)), None) => {
            for it in items {
                match it.as_str() {
                    Some(s) => values.push(s),
                    None => return bad("an array of strings"),
                }
            }
        }
        (Some(Value::Array(items)), Some(key)) => {
            for it in items {
                let Some(obj) = it.as_object() else {
                    return bad("an array of objects");
                };
                match obj.get(key) {
                    None | Some(Value::Null) => {}
                    Some(Value::String(s)) => values.push(s),
                    Some(_) => return bad(&format!("an array whose `{key}` values are strings")),
                }
            }
        }
        (Some(_), None) => return bad("a string or an array of strings"),
        (Some(_), Some(_)) => return bad("an array of objects"),
    }
    match values.iter().find(|v| blocked.contains(v)) {
        None => CheckResult::pass(format!("no value of `{field}` is in {name}")),
        Some(v) => CheckResult::deny(
            code.unwrap_or(ReasonCode::ValueNotAllowed),
            format!("`{v}` in `{field}` is in {name}"),
        ),
    }
}

pub fn assurance_at_least(input: &CheckInput, name: &str) -> CheckResult {
    let Some(v) = limit(input, name) else {
        return skip_limit(input, name);
    };
    let Some(want) = v
        .as_str()
        .and_then(|s| serde_json::from_value::<AssuranceLevel>(Value::String(s.into())).ok())
    else {
        return bad_limit(input, name, "an assurance level (L0 .. L4FIN)");
    };
    let have = input.passport.assurance_level;
    if have >= want {
        CheckResult::pass(format!(
            "{} meets {name} = {}",
            have.as_str(),
            want.as_str()
        ))
    } else {
        CheckResult::deny(
            ReasonCode::AssuranceInsufficient,
            format!(
                "the passport's assurance {} is below {name} = {}",
                have.as_str(),
                want.as_str()
            ),
        )
    }
}

pub fn same_value(
    input: &CheckInput,
    field: &str,
    other: &str,
    code: Option<ReasonCode>,
) -> CheckResult {
    let get = |f: &str| input.context.get(f).filter(|v| !v.is_null());
    match (get(field), get(other)) {
        (Some(a), Some(b)) if a == b => CheckResult::pass(format!("`{field}` equals `{other}`")),
        (Some(a), Some(b)) => CheckResult::deny(
            code.unwrap_or(ReasonCode::ValueNotAllowed),
            format!("`{field}` ({a}) differs from `{other}` ({b})"),
        ),
        _ => CheckResult::Skip(format!("`{field}` or `{other}` is not in the call")),
    }
}

pub fn sum_at_most(
    input: &CheckInput,
    fields: &[String],
    max_field: &str,
    code: Option<ReasonCode>,
) -> CheckResult {
    // The first field is the call's own amount; a later one that is absent counts 0.
    let mut total: u64 = 0;
    for (i, f) in fields.iter().enumerate() {
        match uint_field(input, f) {
            Ok(Some(v)) => total = total.saturating_add(v),
            Ok(None) if i == 0 => return CheckResult::Skip(format!("no `{f}` in the call")),
            Ok(None) => {}
            Err(e) => return e,
        }
    }
    let max = match uint_field(input, max_field) {
        Ok(Some(m)) => m,
        Ok(None) => return CheckResult::Skip(format!("no `{max_field}` in the call")),
        Err(e) => return e,
    };
    at_most(&fields.join(" + "), total, max_field, max, code)
}

/// What a `max_sum` check reads, from its spec.
#[derive(Clone, Copy)]
pub struct SumSpec<'a> {
    pub fields: &'a [String],
    pub divide_by: u64,
    pub or_items: Option<&'a str>,
    pub name: &'a str,
    pub code: Option<ReasonCode>,
}

pub fn max_sum(input: &CheckInput, spec: &SumSpec) -> CheckResult {
    let SumSpec {
        fields,
        divide_by,
        or_items,
        name,
        code,
    } = *spec;
    let max = match max_limit(input, name) {
        Ok(m) => m,
        Err(done) => return done,
    };
    let mut total: Option<u64> = None;
    for f in fields {
        match uint_field(input, f) {
            // Each term is below 2^53, so a short list cannot overflow; saturate regardless.
            Ok(Some(v)) => total = Some(total.unwrap_or(0).saturating_add(v)),
            Ok(None) => {}
            Err(e) => return e,
        }
    }
    match (total, or_items) {
        // No line counts: the number of items stands in for the size.
        (None | Some(0), Some(items)) => return max_items(input, items, name, code),
        (None, None) => {
            return CheckResult::Skip(format!("none of {} is in the call", fields.join(", ")))
        }
        (Some(_), _) => {}
    }
    let total = total.unwrap_or(0);
    // The loader refuses `divide_by: 0`; `max(1)` keeps the arithmetic total regardless.
    let d = divide_by.max(1);
    let what = match d {
        1 => fields.join(" + "),
        _ => format!("ceil(({}) / {d})", fields.join(" + ")),
    };
    at_most(&what, total.div_ceil(d), name, max, code)
}

pub fn assurance_tiers(
    input: &CheckInput,
    amount_field: &str,
    tiers: &[crate::packs::AssuranceTier],
) -> CheckResult {
    let amount = match uint_field(input, amount_field) {
        Ok(Some(a)) => a,
        Ok(None) => return CheckResult::Skip(format!("no `{amount_field}` in the call")),
        Err(e) => return e,
    };
    let have = input.passport.assurance_level;
    // The smallest tier that covers the amount (tiers need not be sorted).
    let tier = tiers
        .iter()
        .filter(|t| amount <= t.lte)
        .min_by_key(|t| t.lte);
    match tier {
        None => CheckResult::deny(
            ReasonCode::LimitExceeded,
            format!("{amount_field} {amount} is above every assurance tier of this pack"),
        ),
        Some(t) if have >= t.min_level => CheckResult::pass(format!(
            "{} meets {} for {amount_field} <= {}",
            have.as_str(),
            t.min_level.as_str(),
            t.lte
        )),
        Some(t) => CheckResult::deny(
            ReasonCode::AssuranceInsufficient,
            format!(
                "{amount_field} {amount} needs assurance {} but the passport has {}",
                t.min_level.as_str(),
                have.as_str()
            ),
        ),
    }
}

pub fn approval(input: &CheckInput, name: &str) -> CheckResult {
    match bool_limit(input, name) {
        Ok(Some(true)) => CheckResult::Review(Reason::new(
            ReasonCode::ApprovalRequired,
            format!(
                "limits.{}.{name} asks a person to confirm this call",
                input.capability
            ),
        )),
        Ok(_) => CheckResult::pass(format!("{name} is not set")),
        Err(e) => e,
    }
}

pub fn rate(input: &CheckInput, name: &str, window_seconds: u64) -> CheckResult {
    let max = match max_limit(input, name) {
        Ok(m) => m,
        Err(done) => return done,
    };
    let now = input.env.now.unix_timestamp();
    let since = now - window_seconds as i64;
    let used = input.state.calls_since(input.capability, since) as u64;
    if used >= max {
        return CheckResult::deny(
            ReasonCode::RateLimited,
            format!(
                "{used} calls of {} in the last {window_seconds}s; {name} = {max}",
                input.capability
            ),
        );
    }
    CheckResult::Pass {
        detail: format!("{} of {max} in the last {window_seconds}s", used + 1),
        effects: vec![],
        changes: vec![StateChange::Call {
            capability: input.capability.into(),
            window_seconds,
        }],
    }
}

pub fn count(input: &CheckInput, spec: &CountSpec) -> CheckResult {
    let CountSpec {
        counter,
        key_field,
        name,
        window,
        when,
        code,
    } = *spec;
    let max = match max_limit(input, name) {
        Ok(m) => m,
        Err(done) => return done,
    };
    if let Some(w) = when {
        match string_field(input, &w.field) {
            Ok(Some(v)) if w.one_of.iter().any(|o| o == v) => {}
            Ok(_) => {
                return CheckResult::Skip(format!(
                    "`{}` is not one of the values {counter} counts",
                    w.field
                ))
            }
            Err(e) => return e,
        }
    }
    let value = match key_field.map(|f| string_field(input, f)) {
        None => None,
        Some(Ok(Some(v))) => Some(v),
        Some(Ok(None)) => {
            return CheckResult::Skip(format!(
                "no `{}` in the call to count by",
                key_field.unwrap_or_default()
            ))
        }
        Some(Err(e)) => return e,
    };
    let per = match (key_field, value) {
        (Some(f), Some(v)) => format!(" for {f} `{v}`"),
        _ => String::new(),
    };
    let span = if window == 86_400 {
        "today (UTC)".to_string()
    } else {
        format!("in this {window}s window")
    };
    let key = crate::state::count_key(input.capability, counter, value);
    let now = input.env.now.unix_timestamp();
    let (used, full) = input.state.counted(&key, window, now);
    if used >= max {
        return CheckResult::deny(
            code.unwrap_or(ReasonCode::LimitExceeded),
            format!("{used} calls{per} {span}; {name} = {max}"),
        );
    }
    if full {
        return CheckResult::deny(
            code.unwrap_or(ReasonCode::LimitExceeded),
            format!(
                "toolgate counts at most {} distinct keys per agent at once and the table is full, \
                 so a call{per} cannot be counted against {name}; it is refused until older windows close",
                crate::state::MAX_COUNT_KEYS
            ),
        );
    }
    CheckResult::Pass {
        detail: format!("{} of {max}{per} {span}", used + 1),
        effects: vec![],
        changes: vec![StateChange::Count {
            key,
            window_seconds: window,
        }],
    }
}

/// What a `count` check reads, from its spec.
#[derive(Clone, Copy)]
pub struct CountSpec<'a> {
    pub counter: &'a str,
    pub key_field: Option<&'a str>,
    pub name: &'a str,
    pub window: u64,
    pub when: Option<&'a crate::packs::When>,
    pub code: Option<ReasonCode>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn size(lines: Value) -> CheckResult {
        let fields = ["lines_added".to_string(), "lines_removed".to_string()];
        crate::checks::run_on(json!({"max_pr_size_kb": 5}), lines, |input| {
            max_sum(
                input,
                &SumSpec {
                    fields: &fields,
                    ..PR_SIZE
                },
            )
        })
    }

    const PR_SIZE: SumSpec = SumSpec {
        fields: &[],
        divide_by: 10,
        or_items: None,
        name: "max_pr_size_kb",
        code: None,
    };

    #[test]
    fn without_line_counts_the_item_count_stands_in() {
        let fields = ["lines_added".to_string(), "lines_removed".to_string()];
        let spec = SumSpec {
            fields: &fields,
            or_items: Some("files_changed"),
            ..PR_SIZE
        };
        let files = |n: usize| json!(vec!["a"; n]);
        for (ctx, want) in [
            // The fallback: no counts, or counts of 0, and the files are counted.
            (json!({"files_changed": files(5)}), "pass"),
            (json!({"files_changed": files(6)}), "deny"),
            (
                json!({"lines_added": 0, "lines_removed": 0, "files_changed": files(6)}),
                "deny",
            ),
            (json!({"lines_added": 0, "files_changed": files(5)}), "pass"),
            // Line counts given: they decide, not the file count.
            (json!({"lines_added": 1, "files_changed": files(6)}), "pass"),
            (
                json!({"lines_added": 51, "files_changed": files(1)}),
                "deny",
            ),
            // Nothing to measure.
            (json!({}), "skip"),
            (json!({"files_changed": "a"}), "deny"),
        ] {
            let r = crate::checks::run_on(json!({"max_pr_size_kb": 5}), ctx.clone(), |input| {
                max_sum(input, &spec)
            });
            let got = match &r {
                CheckResult::Pass { .. } => "pass",
                CheckResult::Deny(x) if x.code == ReasonCode::LimitExceeded => "deny",
                CheckResult::Deny(x) if x.code == ReasonCode::InvalidContext => "deny",
                CheckResult::Skip(_) => "skip",
                _ => "other",
            };
            assert_eq!(got, want, "{ctx}: {r:?}");
        }
    }

    #[test]
    fn max_sum_divides_rounding_up_and_counts_an_absent_field_as_zero() {
        for (lines, pass) in [
            (json!({"lines_added": 30, "lines_removed": 20}), true),
            (json!({"lines_added": 30, "lines_removed": 21}), false),
            (json!({"lines_added": 41}), true),
            (json!({"lines_removed": 51}), false),
            (json!({"lines_added": 0, "lines_removed": 0}), true),
        ] {
            let r = size(lines.clone());
            assert_eq!(
                matches!(r, CheckResult::Pass { .. }),
                pass,
                "{lines}: {r:?}"
            );
            if !pass {
                assert!(
                    matches!(&r, CheckResult::Deny(x) if x.code == ReasonCode::LimitExceeded
                        && x.message.contains("ceil((lines_added + lines_removed) / 10) = 6")),
                    "{r:?}"
                );
            }
        }
        assert!(matches!(size(json!({})), CheckResult::Skip(_)));
    }

    #[test]
    fn max_sum_refuses_what_is_not_a_count() {
        for bad in [
            json!(-1),
            json!(1.5),
            json!("10"),
            json!(null),
            json!(1u64 << 60),
        ] {
            let r = size(json!({"lines_added": 1, "lines_removed": bad}));
            assert!(
                matches!(&r, CheckResult::Deny(x) if x.code == ReasonCode::InvalidContext),
                "{bad}: {r:?}"
            );
        }
        let fields = ["a".to_string()];
        let spec = SumSpec {
            fields: &fields,
            divide_by: 1,
            name: "m",
            ..PR_SIZE
        };
        let r = crate::checks::run_on(json!({"m": "5"}), json!({"a": 1}), |input| {
            max_sum(input, &spec)
        });
        assert!(matches!(&r, CheckResult::Deny(x) if x.code == ReasonCode::PolicyError));
        let r = crate::checks::run_on(json!({"m": 5}), json!({"a": 5}), |input| {
            max_sum(input, &spec)
        });
        assert!(matches!(r, CheckResult::Pass { .. }));
    }
}
