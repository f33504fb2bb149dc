//! Exporting records for SIEMs: OCSF API Activity events and CEF lines.
//! docs/audit.md has the field-by-field mapping.

use super::head::Checkpoint;
use super::record::Record;
use serde_json::{json, Value};

/// OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.3.0";
/// API Activity, Application Activity category: a request to perform an
/// operation, with `authorizations` carrying the decision on it.
const CLASS_UID: u64 = 6003;
const CATEGORY_UID: u64 = 6;
/// Activity "Other": a tool call is not one of create/read/update/delete.
const ACTIVITY_OTHER: u64 = 99;

/// (action_id, action, disposition_id, disposition, severity_id) per verdict.
fn outcome(verdict: &str) -> (u64, &'static str, u64, &'static str, u64) {
    match verdict {
        "allow" => (1, "Allowed", 1, "Allowed", 1),
        "review" => (99, "Other", 99, "Other", 2),
        _ => (2, "Denied", 2, "Blocked", 3),
    }
}

/// The OCSF event of a record, with its signed checkpoint under `unmapped.checkpoint`.
pub fn ocsf(r: &Record, checkpoint: Option<&Checkpoint>) -> Value {
    let (action_id, action, disposition_id, disposition, severity_id) = outcome(&r.verdict);
    let first = r.reasons.first();
    json!({
        "class_uid": CLASS_UID,
        "class_name": "API Activity",
        "category_uid": CATEGORY_UID,
        "category_name": "Application Activity",
        "activity_id": ACTIVITY_OTHER,
        "activity_name": r.event.as_deref().unwrap_or("Tool Call"),
        "type_uid": CLASS_UID * 100 + ACTIVITY_OTHER,
        "time": r.unix_ts() * 1000,
        "severity_id": severity_id,
        "status_id": if r.allow { 1 } else { 2 },
        "status": if r.allow { "Success" } else { "Failure" },
        "status_code": first.map(|x| x.code.as_str()),
        "status_detail": first.map(|x| x.message.as_str()),
        "action_id": action_id,
        "action": action,
        "disposition_id": disposition_id,
        "disposition": disposition,
        "message": first.map(|x| format!("{} {}: {}", r.verdict, r.tool, x.message)),
        "metadata": {
            "version": OCSF_VERSION,
            "uid": r.decision_id,
            "sequence": r.seq,
            "product": {"name": "toolgate", "vendor_name": "toolgate", "version": env!("CARGO_PKG_VERSION")},
        },
        "actor": {
            "app_name": r.agent_id,
            "user": r.on_behalf_of.as_ref().map(|u| json!({"uid": u})),
            "session": r.session_id.as_ref().map(|s| json!({"uid": s})),
        },
        "api": {
            "operation": r.tool,
            "service": {"name": r.host},
            "request": {"uid": r.tool_use_id},
        },
        "authorizations": [{
            "decision": r.verdict,
            "policy": {"uid": r.policy_id, "name": r.policy_id},
        }],
        "unmapped": {
            "passport_id": r.passport_id,
            "passport_version": r.passport_version,
            "passport_digest": r.passport_digest,
            "input_digest": r.input_digest,
            "reasons": r.reasons,
            "deciding_check": r.deciding_check,
            "kid": r.kid,
            "prev_hash": r.prev_hash,
            "hash": r.hash,
            "checkpoint": checkpoint,
        },
    })
}

/// CEF header fields escape `\` and `|`.
fn header(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\r', '\n'], " ")
}

/// CEF extension values escape `\`, `=` and line breaks.
fn ext(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('=', "\\=")
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

/// The CEF line of a record; its signed checkpoint, as JSON, is `flexString1`.
pub fn cef(r: &Record, checkpoint: Option<&Checkpoint>) -> String {
    let (_, _, _, _, sev) = outcome(&r.verdict);
    let severity = match sev {
        1 => 1,
        2 => 5,
        _ => 8,
    };
    let first = r.reasons.first();
    let sig_id = first.map_or("oap.allowed", |x| x.code.as_str());
    let name = format!("{} {}", r.verdict, r.tool);
    let mut fields: Vec<(&str, String)> = vec![
        ("rt", (r.unix_ts() * 1000).to_string()),
        ("act", r.verdict.clone()),
        ("app", r.host.clone()),
        ("externalId", r.decision_id.clone()),
        ("cn1Label", "seq".into()),
        ("cn1", r.seq.to_string()),
        ("cs1Label", "agent_id".into()),
        ("cs1", r.agent_id.clone().unwrap_or_default()),
        ("cs2Label", "policy_id".into()),
        ("cs2", r.policy_id.clone()),
        ("cs3Label", "session_id".into()),
        ("cs3", r.session_id.clone().unwrap_or_default()),
        ("cs4Label", "passport_digest".into()),
        ("cs4", r.passport_digest.clone().unwrap_or_default()),
        ("cs5Label", "record_hash".into()),
        ("cs5", r.hash.clone()),
        ("cs6Label", "input_digest".into()),
        ("cs6", r.input_digest.clone()),
    ];
    if let Some(u) = &r.on_behalf_of {
        fields.push(("suser", u.clone()));
    }
    if let Some(c) = checkpoint {
        fields.push(("flexString1Label", "checkpoint".into()));
        fields.push((
            "flexString1",
            serde_json::to_string(c).expect("a checkpoint serialises"),
        ));
    }
    if let Some(m) = first {
        fields.push(("reason", m.code.as_str().into()));
        fields.push(("msg", m.message.clone()));
    }
    let ext: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", ext(v)))
        .collect();
    format!(
        "CEF:0|toolgate|toolgate|{}|{}|{}|{}|{}",
        header(env!("CARGO_PKG_VERSION")),
        header(sig_id),
        header(&name),
        severity,
        ext.join(" ")
    )
}
