//! Exporting records for SIEMs: OCSF API Activity events and CEF lines.
//! docs/audit.md has the field-by-field mapping.

use super::head::Checkpoint;
use super::record::Record;
use serde_json::{json, Value};

/// OCSF schema version the events follow: the first in which API Activity
/// carries the `security_control` profile (action, disposition, authorizations).
pub const OCSF_VERSION: &str = "1.5.0";
/// The profiles an event uses (`metadata.profiles`): `security_control` for the
/// verdict, `host` for the device the decision was made on.
const PROFILES: [&str; 2] = ["security_control", "host"];
/// API Activity, Application Activity category: a request to perform an
/// operation, with `authorizations` carrying the decision on it.
const CLASS_UID: u64 = 6003;
const CATEGORY_UID: u64 = 6;
/// Activity "Other": a tool call is not one of create/read/update/delete.
const ACTIVITY_OTHER: u64 = 99;
/// `device.type_id` Unknown: toolgate does not know whether it runs on a server, laptop or VM.
const DEVICE_UNKNOWN: u64 = 0;

/// What the exporting edge knows about the machine, which the record does not carry.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The machine's host name (the log is written and exported on the machine that decided).
    pub hostname: Option<String>,
}

impl Origin {
    /// This machine, as the OS names it.
    pub fn local() -> Origin {
        Origin {
            hostname: local_hostname(),
        }
    }
}

/// The host name from the kernel (Linux), else /etc/hostname, else `HOSTNAME`:
/// read as files, so no unsafe FFI is needed for one string.
fn local_hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s.len() <= 255)
}

/// (action_id, action, disposition_id, disposition, severity_id) per verdict.
fn outcome(verdict: &str) -> (u64, &'static str, u64, &'static str, u64) {
    match verdict {
        "allow" => (1, "Allowed", 1, "Allowed", 1),
        "review" => (99, "Other", 99, "Other", 2),
        _ => (2, "Denied", 2, "Blocked", 3),
    }
}

/// Removes every JSON null, and every object or array left empty by that, so
/// an absent fact is an absent field (OCSF types have no null).
fn prune(v: Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Object(m) => {
            let m: serde_json::Map<String, Value> = m
                .into_iter()
                .filter_map(|(k, v)| prune(v).map(|v| (k, v)))
                .collect();
            (!m.is_empty()).then_some(Value::Object(m))
        }
        Value::Array(a) => {
            let a: Vec<Value> = a.into_iter().filter_map(prune).collect();
            (!a.is_empty()).then_some(Value::Array(a))
        }
        other => Some(other),
    }
}

/// The OCSF event of a record, with its signed checkpoint under `unmapped.checkpoint`.
/// Fields the record leaves empty are omitted, never null.
pub fn ocsf(r: &Record, checkpoint: Option<&Checkpoint>, origin: &Origin) -> Value {
    let (action_id, action, disposition_id, disposition, severity_id) = outcome(r.verdict.as_str());
    let first = r.reasons.first();
    let hostname = origin.hostname.as_deref();
    let event = json!({
        "class_uid": CLASS_UID,
        "class_name": "API Activity",
        "category_uid": CATEGORY_UID,
        "category_name": "Application Activity",
        "activity_id": ACTIVITY_OTHER,
        "activity_name": r.event.as_deref().unwrap_or("Tool Call"),
        "type_uid": CLASS_UID * 100 + ACTIVITY_OTHER,
        "time": r.unix_ts() * 1000,
        "severity_id": severity_id,
        "status_id": if r.allow() { 1 } else { 2 },
        "status": if r.allow() { "Success" } else { "Failure" },
        "status_code": first.map(|x| x.code.as_str()),
        "status_detail": first.map(|x| x.message.as_str()),
        "action_id": action_id,
        "action": action,
        "disposition_id": disposition_id,
        "disposition": disposition,
        "message": first.map(|x| format!("{} {}: {}", r.verdict, r.tool, x.message)),
        "metadata": {
            "version": OCSF_VERSION,
            "profiles": PROFILES,
            "uid": r.decision_id,
            "sequence": r.seq,
            "product": {"name": "toolgate", "vendor_name": "toolgate", "version": env!("CARGO_PKG_VERSION")},
        },
        // Where the call came from: the host application on this machine.
        "src_endpoint": {
            "hostname": hostname,
            "name": r.host,
            "svc_name": r.host,
        },
        "device": {"type_id": DEVICE_UNKNOWN, "hostname": hostname},
        "actor": {
            "app_name": r.host,
            "app_uid": r.agent_id,
            // The process that ran the hook: the host application (past any wrapping shell).
            "process": r.process.as_ref().map(|p| json!({
                "pid": p.pid,
                "name": p.name,
                "working_directory": p.cwd,
            })),
            "user": r.on_behalf_of.as_ref().map(|u| json!({"name": u, "uid": u})),
            "session": r.session_id.as_ref().map(|s| json!({"uid": s})),
        },
        "api": {
            "operation": r.tool,
            "service": {"name": r.host},
            "request": r.tool_use_id.as_ref().map(|id| json!({"uid": id})),
        },
        "authorizations": [{
            "decision": r.verdict,
            "policy": {
                "uid": r.policy_id,
                "name": r.policy_id,
                "is_applied": true,
                // The policy layer that decided (status, org, passport, delegation:TYPE).
                "group": r.deciding_layer.as_ref().map(|l| json!({"name": l})),
            },
        }],
        "unmapped": {
            "agent_id": r.agent_id,
            "on_behalf_of_chain": r.on_behalf_of_chain,
            "deciding_layer": r.deciding_layer,
            "org_policy_digest": r.org_policy_digest,
            "passport_id": r.passport_id,
            "passport_version": r.passport_version,
            "passport_digest": r.passport_digest,
            "input_digest": r.input_digest,
            "reasons": r.reasons,
            "deciding_check": r.deciding_check,
            "status_source": r.status_source,
            "kid": r.kid,
            "prev_hash": r.prev_hash,
            "hash": r.hash,
            "checkpoint": checkpoint,
        },
    });
    prune(event).unwrap_or_else(|| json!({}))
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

/// The CEF line of a record; its signed checkpoint, as JSON, is `flexString1`,
/// the on-behalf-of chain `flexString2`, the deciding policy layer `cat`.
pub fn cef(r: &Record, checkpoint: Option<&Checkpoint>, origin: &Origin) -> String {
    let (_, _, _, _, sev) = outcome(r.verdict.as_str());
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
        ("act", r.verdict.to_string()),
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
    if let Some(h) = &origin.hostname {
        fields.push(("shost", h.clone()));
    }
    fields.push(("sproc", r.host.clone()));
    if let Some(p) = &r.process {
        fields.push(("spid", p.pid.to_string()));
    }
    if !r.on_behalf_of_chain.is_empty() {
        fields.push(("flexString2Label", "on_behalf_of_chain".into()));
        fields.push(("flexString2", r.on_behalf_of_chain.join(" > ")));
    }
    if let Some(l) = &r.deciding_layer {
        fields.push(("cat", l.clone()));
    }
    if let Some(c) = checkpoint {
        fields.push(("flexString1Label", "checkpoint".into()));
        fields.push(("flexString1", serde_json::to_string(c).unwrap_or_default()));
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
