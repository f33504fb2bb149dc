//! The closed set of check primitives a pack can combine.
//!
//! Each variant names the context field(s) it reads and the passport limit(s)
//! it compares against. A new pack that recombines these needs no Rust.

use crate::reason::ReasonCode;
use serde::{Deserialize, Serialize};

/// Whether a path check guards reading or writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
}

/// Which files control which programs (data: `policy-packs/system.command.execute.v1.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlRule {
    /// Programs by base name.
    pub programs: Vec<String>,
    /// Globs of the files they load, relative to the working directory unless absolute.
    #[serde(default)]
    pub files: Vec<String>,
    /// The first operand is a script the program runs (`bash x.sh`, `python3 x.py`).
    #[serde(default)]
    pub script_operand: bool,
    /// Options whose value is a configuration file the program loads
    /// (`pytest -c FILE`, `npm --userconfig FILE`, `make -f FILE`).
    #[serde(default)]
    pub config_options: Vec<String>,
    /// Options whose value is the directory the program changes to before it loads
    /// its files (`make -C DIR`, `npm --prefix DIR`): `files` and config values are
    /// then relative to it.
    #[serde(default)]
    pub dir_options: Vec<String>,
    /// Options whose value is a file the program loads along with the files of its
    /// directory (`cargo --manifest-path DIR/Cargo.toml` builds with `DIR/build.rs`).
    #[serde(default)]
    pub manifest_options: Vec<String>,
    /// Every operand is also a directory the program loads its files from
    /// (`pytest DIR` loads `DIR/conftest.py`).
    #[serde(default)]
    pub operand_dirs: bool,
}

/// One check in a pack. `field` names a context field; `limit` (and
/// `allowed`/`blocked`) name keys in the passport's limits for the pack's
/// capability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "snake_case", deny_unknown_fields)]
pub enum CheckSpec {
    /// A shell command: parsed, every simple command allowlisted as an argv
    /// prefix, blocked patterns refused, file effects checked by the file packs.
    Command {
        field: String,
        allowed: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        blocked: Option<String>,
    },
    /// A file path, normalised, matched against allow and deny globs (deny wins).
    /// With `walk`, the named context field may describe how a recursive reader
    /// walks the path (`checks::walk::Walk`): every file it would read is judged too.
    Path {
        field: String,
        access: Access,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        allowed: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        blocked: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        walk: Option<String>,
    },
    /// UTF-8 byte length of a string (or the sum over an array of strings); an object is
    /// measured as its compact JSON text (APort's `max_parameter_size`).
    MaxBytes {
        field: String,
        limit: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<ReasonCode>,
    },
    /// A URL's host against allowed and blocked domain lists.
    Domain {
        field: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        allowed: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        blocked: Option<String>,
    },
    /// Exact, case-sensitive membership of a string in a list.
    OneOf {
        field: String,
        limit: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<ReasonCode>,
    },
    /// An MCP tool (server and tool fields) against allowed names, allowed
    /// prefixes and blocked names, each bare, `server.tool` or `mcp__server__tool`.
    McpTool {
        server_field: String,
        tool_field: String,
        allowed: String,
        prefixes: String,
        blocked: String,
    },
    /// Write, then run: a command whose program loads a file the agent wrote
    /// earlier in the session (a Makefile for `make`, a script it runs) needs review.
    ControlFiles {
        field: String,
        rules: Vec<ControlRule>,
    },
    /// A non-negative integer no greater than a limit.
    MaxValue {
        field: String,
        limit: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<ReasonCode>,
    },
    /// A boolean that may be true only where the limit is true.
    Flag {
        field: String,
        limit: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<ReasonCode>,
    },
    /// An amount in minor units against `currency_limits.{CCY}.max_per_tx`
    /// and, across calls, `daily_cap`.
    CurrencyAmount {
        amount_field: String,
        currency_field: String,
        limit: String,
    },
    /// When the limit is true, the key must be present and never seen before.
    Idempotency { field: String, limit: String },
    /// The context's region must be one of the passport's regions.
    Region { field: String },
    /// When the limit is true, the call goes to a human (`review`).
    Approval { limit: String },
    /// At most `limit` calls of this capability per agent within `window_seconds`.
    Rate { limit: String, window_seconds: u64 },
    /// A string, or every string of an array, matching one of the globs a limit lists
    /// (repositories `acme/*`, branches `release/**`, changed files `docs/**`): `*` stays
    /// within one `/`-separated segment, `**` crosses segments, `?` is one character, a
    /// lone `*` or `**` admits everything, brackets and braces are literal (APort's lists
    /// know no classes: `my-bot[bot]` is one name), matching is case-sensitive. A value with an empty, `.` or `..` segment,
    /// a leading `/` or a backslash is refused rather than matched as text. When the list
    /// restricts, a call without the value (or with an empty array) is refused: an
    /// allowlist cannot be applied to what the call does not name. `or_field` is read
    /// when `field` is absent; with `when`, only calls whose field is one of the listed
    /// values are judged.
    Glob {
        field: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        or_field: Option<String>,
        limit: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        when: Option<When>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<ReasonCode>,
    },
    /// The sum of integer fields (an absent one counts 0), divided by `divide_by` and
    /// rounded up, no greater than a limit: APort's PR size estimate is
    /// `ceil((lines_added + lines_removed) / 10) <= max_pr_size_kb`. Skips when every
    /// field is absent. With `or_items`, a call whose fields are all absent or sum to 0
    /// has the item count of that array held to the limit instead (APort's fallback for a
    /// change that reports no line counts: its number of changed files).
    MaxSum {
        fields: Vec<String>,
        #[serde(default = "one", skip_serializing_if = "is_one")]
        divide_by: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        or_items: Option<String>,
        limit: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<ReasonCode>,
    },
    /// An array with at most `limit` items.
    MaxItems {
        field: String,
        limit: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<ReasonCode>,
    },
    /// No value may be in the blocked list: a string field, or every item of an
    /// array (with `item_field`, that key of every object item; an item without it passes).
    NoneOf {
        field: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item_field: Option<String>,
        limit: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<ReasonCode>,
    },
    /// The passport's assurance level must be at least the level the limit names
    /// (APort's `require_assurance_at_least`), beyond the pack's own `min_assurance`.
    AssuranceAtLeast { limit: String },
    /// When both fields are present they must be equal (a refund in its order's currency).
    SameValue {
        field: String,
        other: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<ReasonCode>,
    },
    /// The sum of integer fields may not exceed another field (a refund plus what was
    /// already refunded may not exceed the order total). Skips without the first field or
    /// `max_field`; a later field that is absent counts 0.
    SumAtMost {
        fields: Vec<String>,
        max_field: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<ReasonCode>,
    },
    /// Amount-tiered assurance, tiers as pack constants: an amount up to `lte` needs
    /// `min_level`; an amount above every tier is refused.
    AssuranceTiers {
        amount_field: String,
        tiers: Vec<AssuranceTier>,
    },
    /// At most `limit` allowed calls per agent in each fixed window of `window_seconds`
    /// (86400: the UTC day), counted per value of `key_field` (per recipient, per
    /// repository) or, without it, once per agent. With `when`, only calls whose field is
    /// one of the listed values count and are judged. `counter` names the count in the
    /// state, so two counters of a pack stay apart.
    Count {
        counter: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_field: Option<String>,
        limit: String,
        window_seconds: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        when: Option<When>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<ReasonCode>,
    },
}

fn one() -> u64 {
    1
}

fn is_one(n: &u64) -> bool {
    *n == 1
}

/// The calls a [`CheckSpec::Count`] or [`CheckSpec::Glob`] judges: those whose `field` is one of `one_of`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    pub field: String,
    pub one_of: Vec<String>,
}

/// The longest window a [`CheckSpec::Count`] may have: every count then expires within a
/// day of its window's start, which is what lets the state forget it.
pub const MAX_COUNT_WINDOW: u64 = 86_400;

/// One tier of `assurance_tiers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssuranceTier {
    pub lte: u64,
    pub min_level: crate::passport::AssuranceLevel,
}

/// Limits the command check reads beyond the ones its spec names: the
/// passport's opt-ins for shell constructs and the variables that may be assigned.
pub const COMMAND_IMPLICIT_LIMITS: &[&str] = &[
    "allow_expansion",
    "allow_substitution",
    "allow_compound",
    "allow_background",
    "allow_functions",
    "allow_interpreter_stdin",
    "allowed_env_assignments",
];

/// Limits the domain check reads beyond its lists: the URL schemes it accepts and
/// whether a bare entry also covers its subdomains (APort's reading of a bare entry).
pub const DOMAIN_IMPLICIT_LIMITS: &[&str] = &["allowed_schemes", "allow_subdomains"];

impl CheckSpec {
    /// Whether the check's outcome depends on earlier decisions (the state): such
    /// checks run under the audit lock, every other one before it. No wildcard arm,
    /// so a new primitive does not compile until it says which it is.
    pub fn reads_state(&self) -> bool {
        match self {
            CheckSpec::CurrencyAmount { .. }
            | CheckSpec::Idempotency { .. }
            | CheckSpec::Rate { .. }
            | CheckSpec::Count { .. }
            | CheckSpec::ControlFiles { .. } => true,
            CheckSpec::Command { .. }
            | CheckSpec::Path { .. }
            | CheckSpec::MaxBytes { .. }
            | CheckSpec::Domain { .. }
            | CheckSpec::OneOf { .. }
            | CheckSpec::McpTool { .. }
            | CheckSpec::MaxValue { .. }
            | CheckSpec::Flag { .. }
            | CheckSpec::Region { .. }
            | CheckSpec::Approval { .. }
            | CheckSpec::MaxItems { .. }
            | CheckSpec::NoneOf { .. }
            | CheckSpec::AssuranceAtLeast { .. }
            | CheckSpec::SameValue { .. }
            | CheckSpec::SumAtMost { .. }
            | CheckSpec::AssuranceTiers { .. }
            | CheckSpec::Glob { .. }
            | CheckSpec::MaxSum { .. } => false,
        }
    }

    /// The reason code the pack names for this check's deny, if any.
    pub fn code(&self) -> Option<ReasonCode> {
        match self {
            CheckSpec::OneOf { code, .. }
            | CheckSpec::MaxBytes { code, .. }
            | CheckSpec::MaxValue { code, .. }
            | CheckSpec::Flag { code, .. }
            | CheckSpec::MaxItems { code, .. }
            | CheckSpec::NoneOf { code, .. }
            | CheckSpec::SameValue { code, .. }
            | CheckSpec::Count { code, .. }
            | CheckSpec::SumAtMost { code, .. }
            | CheckSpec::Glob { code, .. }
            | CheckSpec::MaxSum { code, .. } => *code,
            _ => None,
        }
    }

    /// The passport limit keys this check reads.
    pub fn limit_keys(&self) -> Vec<&str> {
        match self {
            CheckSpec::Command {
                allowed, blocked, ..
            } => std::iter::once(allowed.as_str())
                .chain(blocked.as_deref())
                .chain(COMMAND_IMPLICIT_LIMITS.iter().copied())
                .collect(),
            CheckSpec::Path {
                allowed, blocked, ..
            } => allowed
                .as_deref()
                .into_iter()
                .chain(blocked.as_deref())
                .collect(),
            CheckSpec::Domain {
                allowed, blocked, ..
            } => allowed
                .as_deref()
                .into_iter()
                .chain(blocked.as_deref())
                .chain(DOMAIN_IMPLICIT_LIMITS.iter().copied())
                .collect(),
            CheckSpec::MaxBytes { limit, .. }
            | CheckSpec::OneOf { limit, .. }
            | CheckSpec::MaxValue { limit, .. }
            | CheckSpec::Flag { limit, .. }
            | CheckSpec::CurrencyAmount { limit, .. }
            | CheckSpec::Idempotency { limit, .. }
            | CheckSpec::Approval { limit }
            | CheckSpec::Rate { limit, .. }
            | CheckSpec::Count { limit, .. }
            | CheckSpec::MaxItems { limit, .. }
            | CheckSpec::NoneOf { limit, .. }
            | CheckSpec::Glob { limit, .. }
            | CheckSpec::MaxSum { limit, .. }
            | CheckSpec::AssuranceAtLeast { limit } => vec![limit],
            CheckSpec::McpTool {
                allowed,
                prefixes,
                blocked,
                ..
            } => vec![allowed, prefixes, blocked],
            CheckSpec::Region { .. }
            | CheckSpec::ControlFiles { .. }
            | CheckSpec::SameValue { .. }
            | CheckSpec::SumAtMost { .. }
            | CheckSpec::AssuranceTiers { .. } => vec![],
        }
    }

    /// A short stable name for traces, spans and `--explain`.
    pub fn name(&self) -> String {
        match self {
            CheckSpec::Command { field, .. } => format!("command({field})"),
            CheckSpec::Path { field, access, .. } => format!(
                "path.{}({field})",
                match access {
                    Access::Read => "read",
                    Access::Write => "write",
                }
            ),
            CheckSpec::MaxBytes { field, .. } => format!("max_bytes({field})"),
            CheckSpec::Domain { field, .. } => format!("domain({field})"),
            CheckSpec::OneOf { field, .. } => format!("one_of({field})"),
            CheckSpec::McpTool { tool_field, .. } => format!("mcp_tool({tool_field})"),
            CheckSpec::ControlFiles { field, .. } => format!("control_files({field})"),
            CheckSpec::MaxValue { field, .. } => format!("max_value({field})"),
            CheckSpec::Flag { field, .. } => format!("flag({field})"),
            CheckSpec::CurrencyAmount { amount_field, .. } => {
                format!("currency_amount({amount_field})")
            }
            CheckSpec::Idempotency { field, .. } => format!("idempotency({field})"),
            CheckSpec::Region { field } => format!("region({field})"),
            CheckSpec::Approval { limit } => format!("approval({limit})"),
            CheckSpec::Rate { limit, .. } => format!("rate({limit})"),
            CheckSpec::MaxItems { field, .. } => format!("max_items({field})"),
            CheckSpec::Glob {
                field, or_field, ..
            } => match or_field {
                Some(o) => format!("glob({field} or {o})"),
                None => format!("glob({field})"),
            },
            CheckSpec::MaxSum {
                fields,
                divide_by,
                or_items,
                ..
            } => {
                let sum = match divide_by {
                    1 => fields.join(" + "),
                    d => format!("({}) / {d}", fields.join(" + ")),
                };
                match or_items {
                    Some(f) => format!("max_sum({sum}, else items of {f})"),
                    None => format!("max_sum({sum})"),
                }
            }
            CheckSpec::NoneOf {
                field, item_field, ..
            } => match item_field {
                Some(k) => format!("none_of({field}[].{k})"),
                None => format!("none_of({field})"),
            },
            CheckSpec::AssuranceAtLeast { limit } => format!("assurance_at_least({limit})"),
            CheckSpec::SameValue { field, other, .. } => format!("same_value({field}, {other})"),
            CheckSpec::SumAtMost {
                fields, max_field, ..
            } => format!("sum_at_most({} <= {max_field})", fields.join(" + ")),
            CheckSpec::AssuranceTiers { amount_field, .. } => {
                format!("assurance_tiers({amount_field})")
            }
            CheckSpec::Count {
                counter, key_field, ..
            } => match key_field {
                Some(k) => format!("count({counter} per {k})"),
                None => format!("count({counter})"),
            },
        }
    }

    /// The context fields this check reads.
    pub fn fields(&self) -> Vec<&str> {
        match self {
            CheckSpec::Command { field, .. }
            | CheckSpec::ControlFiles { field, .. }
            | CheckSpec::Path { field, .. }
            | CheckSpec::MaxBytes { field, .. }
            | CheckSpec::Domain { field, .. }
            | CheckSpec::OneOf { field, .. }
            | CheckSpec::MaxValue { field, .. }
            | CheckSpec::Flag { field, .. }
            | CheckSpec::Idempotency { field, .. }
            | CheckSpec::MaxItems { field, .. }
            | CheckSpec::NoneOf { field, .. }
            | CheckSpec::Region { field } => vec![field],
            CheckSpec::CurrencyAmount {
                amount_field,
                currency_field,
                ..
            } => vec![amount_field, currency_field],
            CheckSpec::McpTool {
                server_field,
                tool_field,
                ..
            } => vec![server_field, tool_field],
            CheckSpec::SameValue { field, other, .. } => vec![field, other],
            CheckSpec::SumAtMost {
                fields, max_field, ..
            } => fields
                .iter()
                .map(String::as_str)
                .chain(std::iter::once(max_field.as_str()))
                .collect(),
            CheckSpec::AssuranceTiers { amount_field, .. } => vec![amount_field],
            CheckSpec::Glob {
                field,
                or_field,
                when,
                ..
            } => std::iter::once(field.as_str())
                .chain(or_field.as_deref())
                .chain(when.as_ref().map(|w| w.field.as_str()))
                .collect(),
            CheckSpec::MaxSum {
                fields, or_items, ..
            } => fields
                .iter()
                .map(String::as_str)
                .chain(or_items.as_deref())
                .collect(),
            CheckSpec::Count {
                key_field, when, ..
            } => key_field
                .as_deref()
                .into_iter()
                .chain(when.as_ref().map(|w| w.field.as_str()))
                .collect(),
            CheckSpec::Approval { .. }
            | CheckSpec::Rate { .. }
            | CheckSpec::AssuranceAtLeast { .. } => vec![],
        }
    }
}
