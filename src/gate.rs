//! The edge around the pure decision: read the input, load the passport and
//! packs, decide, sign, record, answer. Every failure on the way becomes a
//! deny with its reason code; the only allow is a decided and recorded one.

use crate::audit::{AuditLog, Record};
use crate::call::{Call, HostKind};
use crate::canonical::{self, parse_strict};
use crate::decision::{self, Environment, Evaluation, FsView, Request, Verdict};
use crate::home::{Config, Locations};
use crate::hosts::tool_map::Resolution;
use crate::hosts::{self, Answer};
use crate::packs::Catalog;
use crate::passport::{self, KeyPair, TrustStore, VerifiedPassport};
use crate::reason::{Reason, ReasonCode};
use crate::receipt::{Receipt, Subject};
use crate::state::StateSnapshot;
use serde_json::Value;
use std::path::{Path, PathBuf};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Largest hook input accepted.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;

/// How the call should be read.
#[derive(Debug, Clone, Default)]
pub struct Request0 {
    /// The host named on the command line; otherwise detected from the input.
    pub host: Option<HostKind>,
}

/// Everything that happened for one call.
#[derive(Debug)]
pub struct Outcome {
    pub host: HostKind,
    pub call: Option<Call>,
    pub evaluation: Evaluation,
    pub receipt: Option<Receipt>,
    pub record: Option<crate::audit::log::Appended>,
    pub answer: Answer,
}

/// The file-system view used in production: real symlink resolution.
pub struct RealFs;

impl FsView for RealFs {
    fn canonicalize(&self, path: &Path) -> Option<PathBuf> {
        std::fs::canonicalize(path).ok()
    }
}

/// RFC 3339 in UTC with second precision.
pub fn timestamp(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Strips a UTF-8 byte-order mark.
pub fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Parses raw hook input into a call. Duplicate keys are refused: a host and
/// toolgate must not read two different calls from one document.
pub fn read_call(bytes: &[u8], host: Option<HostKind>) -> Result<Call, (HostKind, Reason)> {
    let fallback = host.unwrap_or(HostKind::Oap);
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
    hosts::parse(host, &value).map_err(|r| (host, r))
}

/// Paths an agent must never write: toolgate's own state and the hook configs that call it.
pub fn protected_paths(loc: &Locations, cwd: Option<&str>, home: Option<&Path>) -> Vec<PathBuf> {
    let mut out = vec![
        loc.config_root.clone(),
        loc.passport.path.clone(),
        passport::signature_path(&loc.passport.path),
        loc.trust_dir.path.clone(),
        loc.config.path.clone(),
        loc.key
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        loc.audit_log
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    ];
    if let Some(p) = &loc.packs_dir {
        out.push(p.path.clone());
    }
    for root in cwd
        .map(PathBuf::from)
        .into_iter()
        .chain(home.map(Path::to_path_buf))
    {
        for rel in [
            ".claude/settings.json",
            ".claude/settings.local.json",
            ".cursor/hooks.json",
            ".codex",
            ".gemini/settings.json",
            ".github/hooks",
            ".github/copilot",
            ".copilot",
            ".toolgate",
        ] {
            out.push(root.join(rel));
        }
    }
    out.retain(|p| !p.as_os_str().is_empty() && p.is_absolute());
    out.into_iter()
        .map(|p| crate::checks::path::normalize(&p))
        .collect()
}

fn os_user() -> Option<String> {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|s| !s.is_empty())
}

fn home_dir() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf())
}

/// Evaluates one hook input end to end.
pub fn evaluate(loc: &Locations, bytes: &[u8], req: &Request0, now: OffsetDateTime) -> Outcome {
    let issued_at = timestamp(now);
    let key = KeyPair::load(&loc.key.path);
    let config = Config::load(&loc.config.path);

    let (host, call): (HostKind, Result<Call, Reason>) = match read_call(bytes, req.host) {
        Ok(c) => (c.host, Ok(c)),
        Err((h, reason)) => (h, Err(reason)),
    };
    let call_ref = call.as_ref().ok();

    let mut verified: Option<VerifiedPassport> = None;
    let evaluation = match (&call, &config) {
        (Err(r), _) => Evaluation::early_deny("none", r.clone()),
        (_, Err(e)) => Evaluation::early_deny(
            "none",
            Reason::new(ReasonCode::PolicyError, format!("config: {e}")),
        ),
        (Ok(call), Ok(config)) => decide_call(loc, config, call, now, &mut verified),
    };
    let subject = verified.as_ref().map(|v| Subject {
        agent_id: &v.passport.passport_id,
        owner_id: &v.passport.owner_id,
        assurance_level: v.passport.assurance_level.as_str(),
        passport_digest: &v.digest,
    });

    let key = match key {
        Ok(k) => k,
        Err(e) => {
            let ev = Evaluation::early_deny(
                &evaluation.policy_id,
                Reason::new(
                    ReasonCode::AuditUnavailable,
                    format!("the evaluator key cannot sign the audit record: {e}"),
                ),
            );
            return finish(host, call.ok(), ev, None, None);
        }
    };
    let receipt = Receipt::seal(
        &evaluation,
        subject.as_ref(),
        uuid::Uuid::new_v4().to_string(),
        issued_at.clone(),
        &key,
    );
    let config = config.unwrap_or_default();
    let mut record = build_record(
        call_ref,
        &evaluation,
        &receipt,
        verified.as_ref(),
        &config,
        host,
        issued_at,
    );
    let telemetry = crate::telemetry::Hook::start(
        loc,
        &config.telemetry,
        now,
        &mut record,
        call_ref.map(|c| &c.input),
    );
    let mut log = AuditLog::new(&loc.audit_log.path);
    log.sync = config.audit.sync;
    match log.append(record, &key) {
        Ok(appended) => {
            telemetry.emit(&appended, &evaluation);
            finish(host, call.ok(), evaluation, Some(receipt), Some(appended))
        }
        Err(e) => {
            let ev = Evaluation::early_deny(
                &evaluation.policy_id,
                Reason::new(
                    ReasonCode::AuditUnavailable,
                    format!("the decision could not be recorded: {e}"),
                ),
            );
            finish(host, call.ok(), ev, None, None)
        }
    }
}

fn finish(
    host: HostKind,
    call: Option<Call>,
    evaluation: Evaluation,
    receipt: Option<Receipt>,
    record: Option<crate::audit::log::Appended>,
) -> Outcome {
    let answer = hosts::answer(
        host,
        call.as_ref().and_then(|c| c.event.as_deref()),
        evaluation.verdict,
        &evaluation.reasons,
    );
    Outcome {
        host,
        call,
        evaluation,
        receipt,
        record,
        answer,
    }
}

/// Loads what the decision needs and runs it; each failure is its own deny.
fn decide_call(
    loc: &Locations,
    config: &Config,
    call: &Call,
    now: OffsetDateTime,
    verified: &mut Option<VerifiedPassport>,
) -> Evaluation {
    let label = call.policy.clone().unwrap_or_else(|| "none".into());
    let catalog = match Catalog::with_overrides(loc.packs_dir.as_ref().map(|r| r.path.as_path())) {
        Ok(c) => c,
        Err(e) => {
            return Evaluation::early_deny(
                &label,
                Reason::new(ReasonCode::PolicyError, e.to_string()),
            )
        }
    };
    let request = match &call.policy {
        Some(policy) => Request {
            policy_id: policy.clone(),
            context: call.input.as_object().cloned().unwrap_or_default(),
        },
        None => {
            let Some(map) = catalog.tool_map(call.host.as_str()) else {
                return Evaluation::early_deny(
                    &label,
                    Reason::new(
                        ReasonCode::PolicyError,
                        format!("no tool map for host {}", call.host.as_str()),
                    ),
                );
            };
            match map.resolve(call, &config.harmless_tools) {
                Ok(Resolution::Request(r)) => r,
                Ok(Resolution::Harmless) => {
                    // Harmless tools still need a valid passport: a suspended agent does nothing.
                    return match load_passport(loc) {
                        Ok(v) => {
                            let ev = harmless_eval(&v, &call.tool, now);
                            *verified = Some(v);
                            ev
                        }
                        Err(r) => Evaluation::early_deny("none", r),
                    };
                }
                Err(r) => return Evaluation::early_deny("none", r),
            }
        }
    };
    let v = match load_passport(loc) {
        Ok(v) => v,
        Err(r) => return Evaluation::early_deny(&request.policy_id, r),
    };
    let home = home_dir();
    let env = Environment {
        now,
        protected_paths: protected_paths(loc, call.cwd.as_deref(), home.as_deref()),
        home,
        fs: &RealFs,
    };
    let state = StateSnapshot::default();
    let ev = decision::decide(&v.passport, &catalog, &request, &state, &env);
    *verified = Some(v);
    ev
}

fn harmless_eval(v: &VerifiedPassport, tool: &str, now: OffsetDateTime) -> Evaluation {
    let p = &v.passport;
    let expired = p.expires().is_some_and(|e| e <= now);
    let reason = if p.status != passport::Status::Active {
        Reason::new(
            ReasonCode::PassportSuspended,
            format!("passport {} is {}", p.passport_id, p.status.as_str()),
        )
    } else if expired {
        Reason::new(
            ReasonCode::PassportExpired,
            format!("passport {} has expired", p.passport_id),
        )
    } else {
        return Evaluation {
            policy_id: "none".into(),
            verdict: Verdict::Allow,
            reasons: vec![Reason::new(
                ReasonCode::Allowed,
                format!("`{tool}` is a harmless tool"),
            )],
            trace: vec![],
            state_changes: vec![],
        };
    };
    Evaluation::early_deny("none", reason)
}

fn load_passport(loc: &Locations) -> Result<VerifiedPassport, Reason> {
    let trust = TrustStore::load_dir(&loc.trust_dir.path)
        .map_err(|e| Reason::new(ReasonCode::PassportUntrusted, format!("trust store: {e}")))?;
    passport::load_verified(&loc.passport.path, &trust)
        .map_err(|e| Reason::new(e.code(), e.to_string()))
}

fn build_record(
    call: Option<&Call>,
    ev: &Evaluation,
    receipt: &Receipt,
    v: Option<&VerifiedPassport>,
    config: &Config,
    host: HostKind,
    ts: String,
) -> Record {
    let input = call.map(|c| c.input.clone()).unwrap_or(Value::Null);
    Record {
        seq: 0,
        ts,
        decision_id: receipt.decision_id.clone(),
        agent_id: v.map(|v| v.passport.passport_id.clone()),
        on_behalf_of: call
            .and_then(|c| c.on_behalf_of.clone())
            .or_else(|| config.on_behalf_of.clone())
            .or_else(os_user),
        host: host.as_str().into(),
        session_id: call.and_then(|c| c.session_id.clone()),
        tool_use_id: call.and_then(|c| c.tool_use_id.clone()),
        tool: call.map(|c| c.tool.clone()).unwrap_or_default(),
        policy_id: ev.policy_id.clone(),
        passport_id: v.map(|v| v.passport.passport_id.clone()),
        passport_version: v.map(|v| v.passport.version.clone()),
        passport_digest: v.map(|v| v.digest.clone()),
        input_digest: canonical::digest(&input),
        input: config
            .audit
            .store_input
            .then(|| crate::redact::redact(&input)),
        allow: ev.verdict == Verdict::Allow,
        verdict: ev.verdict.as_str().into(),
        reasons: ev.reasons.clone(),
        deciding_check: ev
            .deciding_check()
            .map(|t| format!("{}/{}", t.policy_id, t.check)),
        kid: String::new(),
        log_key: None,
        notes: vec![],
        prev_hash: String::new(),
        hash: String::new(),
        signature: String::new(),
    }
}
