//! Reason codes: the one place a verdict is named.
//!
//! Every deny carries one of these `oap.*` codes. Codes from the OAP spec's
//! normative table keep their spec spelling; the rest extend the same
//! namespace for conditions a local gate meets (files, keys, hosts).

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! reason_codes {
    ($( $(#[$doc:meta])* $variant:ident => $code:literal ),+ $(,)?) => {
        /// A machine-readable reason for a decision.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ReasonCode {
            $( $(#[$doc])* $variant, )+
            /// A code a policy pack names for itself (APort's `oap.content_too_long`, ...).
            Pack(PackCode),
        }

        impl ReasonCode {
            /// Every built-in code, in declaration order (documentation and tests use this).
            pub const ALL: &'static [ReasonCode] = &[$(ReasonCode::$variant,)+];

            /// The wire spelling, e.g. `oap.limit_exceeded`.
            pub fn as_str(self) -> &'static str {
                match self { $( ReasonCode::$variant => $code, )+ ReasonCode::Pack(c) => c.0 }
            }

            /// Parses the wire spelling of a built-in code.
            pub fn parse(s: &str) -> Option<ReasonCode> {
                match s { $( $code => Some(ReasonCode::$variant), )+ _ => None }
            }
        }
    };
}

reason_codes! {
    /// The call is allowed.
    Allowed => "oap.allowed",
    /// A limit asks for a human to confirm the call.
    ApprovalRequired => "oap.approval_required",
    // --- passport and keys
    /// No passport file where one was expected.
    PassportNotFound => "oap.passport_not_found",
    /// The passport is not a valid OAP passport (schema, types, enums).
    PassportInvalid => "oap.passport_invalid",
    /// The passport has no detached signature.
    PassportUnsigned => "oap.passport_unsigned",
    /// The signature does not verify over the passport's canonical bytes.
    SignatureInvalid => "oap.signature_invalid",
    /// The passport was signed by a key the trust store does not hold.
    PassportUntrusted => "oap.passport_untrusted",
    /// Status is draft, suspended or revoked.
    PassportSuspended => "oap.passport_suspended",
    /// `expires_at` is in the past.
    PassportExpired => "oap.passport_expired",
    /// The passport is older (`version` or `updated_at`) than one already decided under
    /// with the same `passport_id`: a copy put back to regain rights or undo a suspension.
    PassportReplayed => "oap.passport_replayed",
    /// The passport's assurance level is below the pack's minimum.
    AssuranceInsufficient => "oap.assurance_insufficient",
    /// The passport does not grant the capability the pack requires.
    UnknownCapability => "oap.unknown_capability",
    // --- input
    /// The host input could not be read or parsed.
    InvalidInput => "oap.invalid_input",
    /// The input's shape matches no known host.
    UnrecognizedInput => "oap.unrecognized_input",
    /// The tool is not mapped to any policy pack.
    UnknownTool => "oap.unknown_tool",
    /// The context fields the pack reads are missing or of the wrong type.
    InvalidContext => "oap.invalid_context",
    /// The named policy pack does not exist.
    UnknownPolicy => "oap.unknown_policy",
    // --- checks
    /// A limit the pack requires is absent or malformed in the passport.
    PolicyError => "oap.policy_error",
    /// An amount, size or count is over its limit.
    LimitExceeded => "oap.limit_exceeded",
    /// The currency has no limits in the passport.
    CurrencyUnsupported => "oap.currency_unsupported",
    /// The region is not in the passport's regions.
    RegionBlocked => "oap.region_blocked",
    /// The idempotency key is missing or was used before.
    IdempotencyConflict => "oap.idempotency_conflict",
    /// The command (or one simple command in it) is not allowlisted.
    CommandNotAllowed => "oap.command_not_allowed",
    /// The command uses shell structure the gate does not evaluate.
    CommandChainUnsupported => "oap.command_chain_unsupported",
    /// The command does not parse as bash.
    CommandUnparsable => "oap.command_unparsable",
    /// The command is over a bound (size, nesting, here-documents, files touched, or a
    /// known parser trap) and is refused unread, before it can cost time or memory.
    CommandTooComplex => "oap.command_too_complex",
    /// A word the shell would expand (variables, globs, substitutions) where the passport does not allow it.
    CommandExpansionNotAllowed => "oap.command_expansion_not_allowed",
    /// An option or input that makes an allowed program run other code (`git -c`, `find -exec`, `bash -c`).
    CommandOptionNotAllowed => "oap.command_option_not_allowed",
    /// The command's program loads a file the agent changed in this session.
    ControlFileChanged => "oap.control_file_changed",
    /// The command matches a blocked pattern.
    BlockedPattern => "oap.blocked_pattern",
    /// The path is denied or outside the allowed globs.
    PathNotAllowed => "oap.path_not_allowed",
    /// The URL's host is denied or outside the allowed domains.
    DomainNotAllowed => "oap.domain_not_allowed",
    /// The URL cannot be parsed or uses a forbidden form.
    UrlInvalid => "oap.url_invalid",
    /// The MCP server is not allowlisted.
    ServerNotAllowed => "oap.server_not_allowed",
    /// The MCP tool is not allowlisted.
    ToolNotAllowed => "oap.tool_not_allowed",
    /// The value is not one of the allowed values.
    ValueNotAllowed => "oap.value_not_allowed",
    /// The merchant is not in the passport's merchant allowlist (APort's charge pack).
    MerchantForbidden => "oap.merchant_forbidden",
    /// An item's category is in the passport's blocked categories (APort's charge pack).
    CategoryBlocked => "oap.category_blocked",
    /// A refund in another currency than its order's (APort's refund pack).
    CrossCurrencyDenied => "oap.cross_currency_denied",
    /// Personal data in an export the passport does not allow.
    PiiBlocked => "oap.pii_blocked",
    /// Too many calls in the rate window.
    RateLimited => "oap.rate_limited",
    /// Repeated denies tripped the behavioural tripwire.
    TripwireTripped => "oap.tripwire_tripped",
    // --- fleet (remote status, org policy, delegations)
    /// No verified status document is available (never fetched, or every fetch refused).
    StatusUnavailable => "oap.status_unavailable",
    /// No good status fetch for longer than `remote.max_stale_s`.
    StatusStale => "oap.status_stale",
    /// The status document is past its own `expires_at`.
    StatusExpired => "oap.status_expired",
    /// The status document does not list this passport.
    StatusUnknownPassport => "oap.status_unknown_passport",
    /// A status document older than (or conflicting with) one already seen was refused.
    StatusReplayed => "oap.status_replayed",
    /// The organisation policy is configured but cannot be loaded or verified.
    OrgPolicyUnavailable => "oap.org_policy_unavailable",
    /// A delegation grants more than its parent passport.
    DelegationWidening => "oap.delegation_widening",
    // --- evidence
    /// The decision could not be recorded, so it did not happen.
    AuditUnavailable => "oap.audit_unavailable",
    /// An unexpected internal failure.
    InternalError => "oap.internal_error",
    /// A tool ran that no allow record covers: the pre-tool hook did not gate it (an alarm, not a decision).
    UngatedCall => "oap.ungated_call",
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ReasonCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ReasonCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ReasonCode::from_wire(&s).map_err(serde::de::Error::custom)
    }
}

/// A pack's own code: `oap.` and 1 to 48 of `[a-z0-9_]`. Interned, so `ReasonCode`
/// stays `Copy`; at most `MAX_PACK_CODES` distinct ones per process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackCode(&'static str);

/// Bounds the interned set: a process reads a handful of packs, and a log whose records
/// carry more distinct unknown codes than this is refused rather than read into memory.
pub const MAX_PACK_CODES: usize = 1024;

/// Why a wire spelling is not a reason code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("`{0}` is not a reason code (expected `oap.` and 1 to 48 of a-z, 0-9, _)")]
    Malformed(String),
    #[error("more than {MAX_PACK_CODES} distinct pack reason codes")]
    TooMany,
}

fn interned() -> &'static std::sync::Mutex<std::collections::BTreeSet<&'static str>> {
    static SET: std::sync::OnceLock<std::sync::Mutex<std::collections::BTreeSet<&'static str>>> =
        std::sync::OnceLock::new();
    SET.get_or_init(Default::default)
}

impl ReasonCode {
    /// A built-in code, or a well-formed pack code (interned).
    pub fn from_wire(s: &str) -> Result<ReasonCode, CodeError> {
        if let Some(c) = ReasonCode::parse(s) {
            return Ok(c);
        }
        let well_formed = s.strip_prefix("oap.").is_some_and(|rest| {
            (1..=48).contains(&rest.len())
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
        if !well_formed {
            return Err(CodeError::Malformed(s.into()));
        }
        let mut set = interned().lock().map_err(|_| CodeError::TooMany)?;
        if let Some(known) = set.get(s) {
            return Ok(ReasonCode::Pack(PackCode(known)));
        }
        if set.len() >= MAX_PACK_CODES {
            return Err(CodeError::TooMany);
        }
        // Leaked once per distinct code, bounded above: the price of a `Copy` code.
        let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
        set.insert(leaked);
        Ok(ReasonCode::Pack(PackCode(leaked)))
    }
}

/// A code with the sentence a person reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub code: ReasonCode,
    pub message: String,
}

impl Reason {
    pub fn new(code: ReasonCode, message: impl Into<String>) -> Reason {
        Reason {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in ReasonCode::ALL {
            assert!(c.as_str().starts_with("oap."));
            assert!(seen.insert(c.as_str()), "duplicate {c}");
            assert_eq!(ReasonCode::parse(c.as_str()), Some(*c));
        }
        assert_eq!(ReasonCode::parse("oap.nope"), None);
    }

    #[test]
    fn a_pack_may_name_its_own_code_but_only_in_the_oap_namespace() {
        let c = ReasonCode::from_wire("oap.content_too_long").unwrap();
        assert_eq!(c.as_str(), "oap.content_too_long");
        assert_eq!(ReasonCode::from_wire("oap.content_too_long").unwrap(), c);
        assert_eq!(
            ReasonCode::from_wire("oap.limit_exceeded").unwrap(),
            ReasonCode::LimitExceeded
        );
        for bad in ["content_too_long", "oap.", "oap.Bad", "oap.a-b", "x.oap.a"] {
            assert!(ReasonCode::from_wire(bad).is_err(), "{bad}");
        }
        let r: Reason =
            serde_json::from_str(r#"{"code": "oap.format_unsupported", "message": "m"}"#).unwrap();
        assert_eq!(
            serde_json::to_value(&r).unwrap()["code"],
            "oap.format_unsupported"
        );
    }
}
