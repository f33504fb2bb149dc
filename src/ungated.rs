//! Ungated-call alarms: the host's post-execution hook reports every call
//! that ran; one without an allow (or approved review) record of the same
//! call means the gate did not see it (its pre-tool hook was removed, turned
//! off, untrusted, or timed out), and toolgate appends a signed `ungated`
//! record for it, exported like any decision.
//!
//! A call is "the same" by the host's call id when the host sends one
//! (Claude Code, Codex, Cursor), else by session, tool and input digest
//! (Gemini CLI, Copilot CLI).

use crate::audit::{AuditLog, Draft, Record, RecordVerdict};
use crate::call::{Call, HostKind};
use crate::decision::Evaluation;
use crate::home::{Config, Locations};
use crate::passport::KeyPair;
use crate::reason::{Reason, ReasonCode};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use time::OffsetDateTime;

/// The `event` of an ungated record.
pub const EVENT: &str = "ungated";

/// How far back the allow record is looked for: a post hook runs right after
/// its pre hook, so the record is near the end; the bound keeps the alarm
/// fast on a large log.
pub const LOOKBACK_BYTES: u64 = 8 * 1024 * 1024;

/// What `observe` found.
#[derive(Debug)]
pub enum Observed {
    /// The call has an allow or review record (its seq).
    Gated(u64),
    /// No record covers the call; the alarm was recorded (its seq).
    Alarm(u64),
}

#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error("the evaluator key cannot sign the alarm: {0}")]
    Key(#[source] crate::passport::keys::KeyError),
    #[error("the audit log: {0}")]
    Log(#[source] crate::audit::log::AppendError),
}

/// Whether `record` is the gate's decision that let `call` run.
pub fn covers(record: &Record, call: &Call, input_digest: &str) -> bool {
    if record.event.is_some() || record.host != call.host.as_str() {
        return false;
    }
    if !matches!(record.verdict, RecordVerdict::Allow | RecordVerdict::Review) {
        return false;
    }
    match (&call.tool_use_id, &record.tool_use_id) {
        (Some(a), Some(b)) => a == b && record.session_id == call.session_id,
        _ => {
            record.session_id == call.session_id
                && record.tool == call.tool
                && record.input_digest == input_digest
        }
    }
}

/// The ungated record for a call that ran.
pub fn alarm_record(call: &Call, input_digest: &str, ts: &str) -> Draft {
    let mut r = Draft::event(EVENT, ts, vec![]);
    r.host = call.host.as_str().into();
    r.session_id = call.session_id.clone();
    r.tool_use_id = call.tool_use_id.clone();
    r.tool = call.tool.clone();
    r.input_digest = input_digest.into();
    r.verdict = RecordVerdict::Ungated;
    r.reasons = vec![alarm_reason(call)];
    r
}

fn alarm_reason(call: &Call) -> Reason {
    Reason::new(
        ReasonCode::UngatedCall,
        format!(
            "`{}` ran on {} without an allow record: its pre-tool hook did not gate it (run `toolgate doctor`)",
            call.tool,
            call.host.as_str()
        ),
    )
}

/// Records of the log's last [`LOOKBACK_BYTES`], newest last; a torn or
/// foreign line is skipped (verify-log reports those).
pub fn recent_records(path: &Path) -> Vec<Record> {
    let Ok(mut f) = std::fs::File::open(path) else {
        return vec![];
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(LOOKBACK_BYTES);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return vec![];
    }
    let mut buf = Vec::new();
    if f.take(LOOKBACK_BYTES).read_to_end(&mut buf).is_err() {
        return vec![];
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines = text.lines();
    if start > 0 {
        lines.next(); // Probably cut in the middle.
    }
    lines
        .filter_map(|l| serde_json::from_str::<Record>(l).ok())
        .collect()
}

/// Looks the call up and, when nothing gated it, appends the alarm under the
/// log lock (the lookup is repeated there, so a concurrent gate is not missed).
pub fn observe(
    loc: &Locations,
    config: &Config,
    call: &Call,
    now: OffsetDateTime,
) -> Result<(Observed, Option<Record>), ObserveError> {
    let digest = crate::canonical::digest(&call.input);
    let find = |records: &[Record]| {
        records
            .iter()
            .rev()
            .find(|r| covers(r, call, &digest))
            .map(|r| r.seq)
    };
    if let Some(seq) = find(&recent_records(&loc.audit_log.path)) {
        return Ok((Observed::Gated(seq), None));
    }
    let key = KeyPair::load(&loc.key.path).map_err(ObserveError::Key)?;
    let log: AuditLog = crate::gate::audit_log(&loc.audit_log.path, config);
    let mut locked = log.lock().map_err(ObserveError::Log)?;
    if let Some(seq) = find(&recent_records(&loc.audit_log.path)) {
        return Ok((Observed::Gated(seq), None));
    }
    let mut record = alarm_record(call, &digest, &crate::canonical::timestamp(now));
    let telemetry = crate::telemetry::Hook::start(
        &loc.audit_log.path,
        &config.telemetry,
        now,
        &mut record,
        Some(&call.input),
    );
    let appended = locked.append(record, &key).map_err(ObserveError::Log)?;
    drop(locked);
    telemetry.emit(&appended, &alarm_evaluation(call));
    Ok((Observed::Alarm(appended.seq), Some(appended.record)))
}

/// The alarm as the exporters see it: a failure with its reason.
fn alarm_evaluation(call: &Call) -> Evaluation {
    Evaluation::early_deny(crate::decision::PolicyRef::NoPack, alarm_reason(call))
}

/// Whether a record is an ungated-call alarm.
pub fn is_alarm(r: &Record) -> bool {
    r.event.as_deref() == Some(EVENT)
}

/// The host the post event came from, for parsing (the post payloads share the pre ones' shape).
pub fn parse_post(host: HostKind, bytes: &[u8]) -> Result<Call, Reason> {
    match crate::gate::read_call(bytes, Some(host)) {
        Ok(c) => Ok(c),
        Err((_, reason)) => match crate::hosts::sent_ids(host, bytes) {
            // Unreadable input still names the call by its ids.
            Some(ids) if !ids.tool.is_empty() => Ok(ids),
            _ => Err(reason),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(id: Option<&str>, input: serde_json::Value) -> Call {
        Call {
            host: HostKind::ClaudeCode,
            event: Some("PostToolUse".into()),
            tool: "Bash".into(),
            input,
            cwd: None,
            session_id: Some("s1".into()),
            tool_use_id: id.map(str::to_owned),
            on_behalf_of: None,
            policy: None,
            subagent: None,
        }
    }

    use crate::audit::Link;

    fn seal(d: Draft) -> Record {
        let link = Link {
            seq: 0,
            prev_hash: crate::audit::GENESIS.into(),
            log_key: None,
            state_digest: None,
        };
        Record::seal(d, link, &KeyPair::generate())
    }

    fn decided(c: &Call, verdict: RecordVerdict) -> Record {
        let mut r = alarm_record(c, &crate::canonical::digest(&c.input), "t");
        r.event = None;
        r.verdict = verdict;
        seal(r)
    }

    #[test]
    fn only_an_allow_or_review_of_the_same_call_covers_it() {
        let c = call(Some("toolu_1"), json!({"command": "ls"}));
        let d = crate::canonical::digest(&c.input);
        assert!(covers(&decided(&c, RecordVerdict::Allow), &c, &d));
        assert!(covers(&decided(&c, RecordVerdict::Review), &c, &d));
        assert!(!covers(&decided(&c, RecordVerdict::Deny), &c, &d));
        // Another call id, another session, another host: not this call.
        let other = call(Some("toolu_2"), json!({"command": "ls"}));
        assert!(!covers(&decided(&other, RecordVerdict::Allow), &c, &d));
        let mut r = decided(&c, RecordVerdict::Allow);
        r.session_id = Some("s2".into());
        assert!(!covers(&r, &c, &d));
        r = decided(&c, RecordVerdict::Allow);
        r.host = "codex".into();
        assert!(!covers(&r, &c, &d));
        // An alarm never covers a call.
        assert!(!covers(&seal(alarm_record(&c, &d, "t")), &c, &d));
        // Without call ids, the session, tool and input digest must match.
        let bare = call(None, json!({"command": "ls"}));
        let bd = crate::canonical::digest(&bare.input);
        assert!(covers(&decided(&bare, RecordVerdict::Allow), &bare, &bd));
        let changed = call(None, json!({"command": "rm -rf /"}));
        let cd = crate::canonical::digest(&changed.input);
        assert!(!covers(
            &decided(&bare, RecordVerdict::Allow),
            &changed,
            &cd
        ));
    }
}
