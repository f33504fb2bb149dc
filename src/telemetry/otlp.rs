//! Decisions as OTLP protobuf messages: one `run_guardrail toolgate` span per decision with a
//! child per check, and the decision counter and latency histogram.

use super::attrs;
use super::context::TraceParent;
use super::Settings;
use crate::audit::Record;
use crate::decision::{CheckTrace, Outcome as CheckOutcome};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use sha2::{Digest, Sha256};

/// Latency histogram bucket bounds, in seconds (the decision itself is ~1 ms).
const BOUNDS: [f64; 11] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// OTLP span flags: W3C "sampled", and whether the parent is known local or remote.
const SAMPLED: u32 = 0x01;
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

/// One decision to export: the record as appended (with `seq` and `hash`), the checks that
/// ran (empty on replay, where the log has none), and when it started and ended.
pub struct DecisionSpan<'a> {
    pub record: &'a Record,
    pub checks: &'a [CheckTrace],
    pub start_ns: u64,
    pub end_ns: u64,
    pub parent: Option<&'a TraceParent>,
    /// The redacted tool input; `Some` only when `export_arguments` is configured.
    pub arguments: Option<&'a serde_json::Value>,
    /// The signed checkpoint of the record, so the collector is a witness of the log.
    pub checkpoint: Option<&'a crate::audit::head::Checkpoint>,
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(key: &str, v: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.into()))
}

fn opt(out: &mut Vec<KeyValue>, key: &str, v: Option<&String>) {
    if let Some(v) = v {
        out.push(s(key, v));
    }
}

/// Stable ids derived from the record hash, so a replay of a decision already exported
/// live yields the same span (backends de-duplicate) and no randomness is needed.
fn derived<const N: usize>(label: &str, hash: &str) -> [u8; N] {
    let d = Sha256::new()
        .chain_update(label)
        .chain_update(hash)
        .finalize();
    let mut out = [0u8; N];
    // N is 8 or 16, within SHA-256's 32 bytes.
    for (o, b) in out.iter_mut().zip(d.iter()) {
        *o = *b;
    }
    out
}

/// The attributes shared by the span and both metrics: low cardinality only.
fn metric_attributes(r: &Record) -> Vec<KeyValue> {
    vec![
        s(attrs::GEN_AI_OPERATION_NAME, attrs::RUN_GUARDRAIL),
        s(attrs::GEN_AI_TOOL_NAME, &r.tool),
        s(attrs::OAP_POLICY_ID, &r.policy_id),
        s(attrs::TOOLGATE_VERDICT, r.verdict.as_str()),
    ]
}

/// The semantic-convention tool type: an MCP server's tool is an extension; a tool
/// the host runs itself (shell, files, web fetch) is a function.
pub fn tool_type(r: &Record) -> &'static str {
    if r.policy_id.starts_with("mcp.") {
        "extension"
    } else {
        "function"
    }
}

/// (verdict type, action type) in the guardrail proposal's values.
fn guardrail_verdict(verdict: &str) -> (&'static str, &'static str) {
    match verdict {
        "allow" => ("allow", "allow"),
        "review" => ("escalate", "escalate"),
        _ => ("deny", "block"),
    }
}

fn guardrail_attributes(r: &Record, a: &mut Vec<KeyValue>) {
    let (verdict, action) = guardrail_verdict(r.verdict.as_str());
    a.push(s(attrs::GUARDRAIL_COMPONENT_NAME, attrs::COMPONENT_NAME));
    a.push(s(attrs::GUARDRAIL_TARGET_TYPE, "input"));
    a.push(s(attrs::GUARDRAIL_TARGET_SUBTYPE, "tool_call"));
    opt(a, attrs::GUARDRAIL_TARGET_ID, r.tool_use_id.as_ref());
    a.push(s(attrs::GUARDRAIL_VERDICT_TYPE, verdict));
    a.push(s(attrs::GUARDRAIL_ACTION_TYPE, action));
    if r.verdict != crate::audit::RecordVerdict::Allow {
        if let Some(first) = r.reasons.first() {
            a.push(s(attrs::GUARDRAIL_VERDICT_CODE, first.code.as_str()));
        }
        opt(
            a,
            attrs::GUARDRAIL_POLICY_RULE_ID,
            r.deciding_check.as_ref(),
        );
    }
    a.push(s(attrs::GUARDRAIL_POLICY_ID, &r.policy_id));
    a.push(s(attrs::GUARDRAIL_INPUT_HASH, &r.input_digest));
}

fn decision_attributes(d: &DecisionSpan) -> Vec<KeyValue> {
    let r = d.record;
    let mut a = metric_attributes(r);
    a.push(s(attrs::GEN_AI_TOOL_TYPE, tool_type(r)));
    guardrail_attributes(r, &mut a);
    opt(&mut a, attrs::GEN_AI_TOOL_CALL_ID, r.tool_use_id.as_ref());
    opt(&mut a, attrs::GEN_AI_AGENT_ID, r.agent_id.as_ref());
    opt(&mut a, attrs::GEN_AI_CONVERSATION_ID, r.session_id.as_ref());
    a.push(s(attrs::TOOLGATE_HOST, &r.host));
    a.push(s(attrs::OAP_DECISION_ID, &r.decision_id));
    a.push(kv(
        attrs::OAP_DECISION_ALLOW,
        any_value::Value::BoolValue(r.allow()),
    ));
    opt(&mut a, attrs::OAP_PASSPORT_ID, r.passport_id.as_ref());
    opt(
        &mut a,
        attrs::OAP_PASSPORT_VERSION,
        r.passport_version.as_ref(),
    );
    opt(
        &mut a,
        attrs::OAP_PASSPORT_DIGEST,
        r.passport_digest.as_ref(),
    );
    opt(&mut a, attrs::OAP_ON_BEHALF_OF, r.on_behalf_of.as_ref());
    let codes = r
        .reasons
        .iter()
        .map(|x| AnyValue {
            value: Some(any_value::Value::StringValue(x.code.as_str().into())),
        })
        .collect();
    a.push(kv(
        attrs::OAP_REASON_CODES,
        any_value::Value::ArrayValue(ArrayValue { values: codes }),
    ));
    opt(
        &mut a,
        attrs::TOOLGATE_DECIDING_CHECK,
        r.deciding_check.as_ref(),
    );
    opt(
        &mut a,
        attrs::TOOLGATE_DECIDING_LAYER,
        r.deciding_layer.as_ref(),
    );
    if !r.on_behalf_of_chain.is_empty() {
        let chain = r
            .on_behalf_of_chain
            .iter()
            .map(|x| AnyValue {
                value: Some(any_value::Value::StringValue(x.clone())),
            })
            .collect();
        a.push(kv(
            attrs::TOOLGATE_ON_BEHALF_OF_CHAIN,
            any_value::Value::ArrayValue(ArrayValue { values: chain }),
        ));
    }
    opt(
        &mut a,
        attrs::TOOLGATE_STATUS_SOURCE,
        r.status_source.as_ref(),
    );
    for (key, n) in [
        (attrs::TOOLGATE_STATUS_AGE, r.status_age_s),
        (attrs::TOOLGATE_STATUS_SEQUENCE, r.status_sequence),
    ] {
        if let Some(n) = n {
            a.push(kv(
                key,
                any_value::Value::IntValue(n.min(i64::MAX as u64) as i64),
            ));
        }
    }
    a.push(kv(
        attrs::TOOLGATE_AUDIT_SEQ,
        any_value::Value::IntValue(r.seq as i64),
    ));
    a.push(s(attrs::TOOLGATE_AUDIT_HASH, &r.hash));
    if let Some(c) = d.checkpoint {
        a.push(s(attrs::TOOLGATE_AUDIT_LOG_ID, &c.log_id));
        a.push(s(
            attrs::TOOLGATE_AUDIT_CHECKPOINT,
            &serde_json::to_string(c).unwrap_or_default(),
        ));
    }
    a.push(s(attrs::TOOLGATE_INPUT_DIGEST, &r.input_digest));
    if r.verdict == crate::audit::RecordVerdict::Deny {
        if let Some(first) = r.reasons.first() {
            a.push(s(attrs::ERROR_TYPE, first.code.as_str()));
        }
    }
    if let Some(args) = d.arguments {
        a.push(s(attrs::GEN_AI_TOOL_CALL_ARGUMENTS, &args.to_string()));
    }
    a
}

/// Status Error for a deny, with the reason code; the sentence (which may quote the
/// arguments) only when arguments may be exported, and then redacted.
fn error_status(code: &str, message: &str, with_message: bool) -> Status {
    let message = if with_message {
        let redacted = crate::redact::redact(&serde_json::Value::String(message.into()));
        format!("{code}: {}", redacted.as_str().unwrap_or_default())
    } else {
        code.to_string()
    };
    Status {
        message,
        code: status::StatusCode::Error as i32,
    }
}

/// The parent span and one child per check, children laid end to end from the decision start
/// with their measured durations (checks run one after another inside the pure decision).
pub fn spans(d: &DecisionSpan) -> Vec<Span> {
    let r = d.record;
    let trace_id = d
        .parent
        .map(|p| p.trace_id)
        .unwrap_or_else(|| derived::<16>("trace", &r.hash));
    let span_id = derived::<8>("span", &r.hash);
    let with_details = d.arguments.is_some();
    let status = match (r.verdict.as_str(), r.reasons.first()) {
        ("deny", Some(first)) => Some(error_status(
            first.code.as_str(),
            &first.message,
            with_details,
        )),
        _ => None,
    };
    let parent = Span {
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        parent_span_id: d.parent.map(|p| p.span_id.to_vec()).unwrap_or_default(),
        flags: d
            .parent
            .map_or(SAMPLED, |p| u32::from(p.flags) | HAS_IS_REMOTE | IS_REMOTE),
        name: attrs::SPAN_NAME.into(),
        kind: span::SpanKind::Internal as i32,
        start_time_unix_nano: d.start_ns,
        end_time_unix_nano: d.end_ns.max(d.start_ns),
        attributes: decision_attributes(d),
        status,
        ..Default::default()
    };
    let mut out = Vec::with_capacity(1 + d.checks.len());
    let mut at = d.start_ns;
    for (i, c) in d.checks.iter().enumerate() {
        let end = at.saturating_add(c.elapsed.as_nanos() as u64);
        let mut a = vec![
            s(attrs::TOOLGATE_CHECK_NAME, &c.check),
            s(attrs::TOOLGATE_CHECK_OUTCOME, outcome(c.outcome)),
            s(attrs::OAP_POLICY_ID, c.policy_id.as_str()),
        ];
        if let Some(code) = c.code {
            a.push(s(attrs::OAP_REASON_CODE, code.as_str()));
        }
        if with_details {
            let detail = crate::redact::redact(&serde_json::Value::String(c.detail.clone()));
            a.push(s(
                attrs::TOOLGATE_CHECK_DETAIL,
                detail.as_str().unwrap_or_default(),
            ));
        }
        out.push(Span {
            trace_id: trace_id.to_vec(),
            span_id: derived::<8>(&format!("check{i}"), &r.hash).to_vec(),
            parent_span_id: span_id.to_vec(),
            flags: (parent.flags & 0xff) | HAS_IS_REMOTE,
            name: format!("{} {}", attrs::CHECK_SPAN_PREFIX, c.check),
            kind: span::SpanKind::Internal as i32,
            start_time_unix_nano: at,
            end_time_unix_nano: end,
            attributes: a,
            status: match (c.outcome, c.code) {
                (CheckOutcome::Deny, Some(code)) => {
                    Some(error_status(code.as_str(), &c.detail, with_details))
                }
                _ => None,
            },
            ..Default::default()
        });
        at = end;
    }
    out.insert(0, parent);
    out
}

fn outcome(o: CheckOutcome) -> &'static str {
    match o {
        CheckOutcome::Pass => "pass",
        CheckOutcome::Review => "review",
        CheckOutcome::Deny => "deny",
        CheckOutcome::Skip => "skip",
    }
}

fn resource(settings: &Settings) -> Resource {
    let mut attributes: Vec<KeyValue> = settings
        .resource
        .iter()
        .filter(|(k, _)| k != "service.name")
        .map(|(k, v)| s(k, v))
        .collect();
    attributes.push(s("service.name", &settings.service_name));
    attributes.push(s("service.version", env!("CARGO_PKG_VERSION")));
    Resource {
        attributes,
        ..Default::default()
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "toolgate".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    }
}

pub fn traces_request(settings: &Settings, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource(settings)),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope()),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// One decision as delta metrics: a hook process lives for one decision and keeps no state,
/// so each export says "one more, this long" and the backend sums.
pub fn metrics_request(settings: &Settings, d: &DecisionSpan) -> ExportMetricsServiceRequest {
    let attributes = metric_attributes(d.record);
    let secs = d.end_ns.saturating_sub(d.start_ns) as f64 / 1e9;
    let mut bucket_counts = vec![0u64; BOUNDS.len() + 1];
    if let Some(c) = bucket_counts.get_mut(BOUNDS.iter().take_while(|b| secs > **b).count()) {
        *c = 1;
    }
    let counter = Metric {
        name: attrs::METRIC_DECISIONS.into(),
        description: "Authorization decisions, by verdict, tool and policy".into(),
        unit: "{decision}".into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: vec![NumberDataPoint {
                attributes: attributes.clone(),
                start_time_unix_nano: d.start_ns,
                time_unix_nano: d.end_ns,
                value: Some(number_data_point::Value::AsInt(1)),
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Delta as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    };
    let latency = Metric {
        name: attrs::METRIC_DURATION.into(),
        description: "Time from reading the call to the recorded decision".into(),
        unit: "s".into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes,
                start_time_unix_nano: d.start_ns,
                time_unix_nano: d.end_ns,
                count: 1,
                sum: Some(secs),
                bucket_counts,
                explicit_bounds: BOUNDS.to_vec(),
                min: Some(secs),
                max: Some(secs),
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Delta as i32,
        })),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource(settings)),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope()),
                metrics: vec![counter, latency],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reason::{Reason, ReasonCode};

    fn denied() -> Record {
        let mut r: Record = serde_json::from_value(serde_json::json!({
            "seq": 3, "ts": "2026-01-01T00:00:00Z", "decision_id": "d", "host": "oap",
            "tool": "Bash", "policy_id": "p", "input_digest": "sha256:00", "allow": false,
            "verdict": "deny", "reasons": [], "kid": "k", "prev_hash": "h", "hash": "sha256:ff"
        }))
        .unwrap();
        r.reasons = vec![Reason::new(
            ReasonCode::BlockedPattern,
            "`rm -rf ghp_x` is blocked",
        )];
        r
    }

    fn value<'a>(s: &'a Span, key: &str) -> Option<&'a str> {
        s.attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
            match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
                _ => None,
            }
        })
    }

    #[test]
    fn an_mcp_tool_is_an_extension_and_a_review_escalates() {
        let mut r = denied();
        assert_eq!(
            value(&span_of(&r, None), attrs::GEN_AI_TOOL_TYPE),
            Some("function")
        );
        assert_eq!(
            value(&span_of(&r, None), attrs::GUARDRAIL_ACTION_TYPE),
            Some("block")
        );
        r.policy_id = "mcp.tool.execute.v1".into();
        r.verdict = crate::audit::RecordVerdict::Review;
        let s = span_of(&r, None);
        assert_eq!(value(&s, attrs::GEN_AI_TOOL_TYPE), Some("extension"));
        assert_eq!(value(&s, attrs::GUARDRAIL_VERDICT_TYPE), Some("escalate"));
        assert_eq!(value(&s, attrs::GUARDRAIL_ACTION_TYPE), Some("escalate"));
        assert_eq!(s.name, "run_guardrail toolgate");
    }

    fn span_of(r: &Record, arguments: Option<&serde_json::Value>) -> Span {
        spans(&DecisionSpan {
            record: r,
            checks: &[],
            start_ns: 10,
            end_ns: 5,
            parent: None,
            arguments,
            checkpoint: None,
        })
        .remove(0)
    }

    #[test]
    fn deny_status_carries_the_code_and_the_sentence_only_when_allowed() {
        let r = denied();
        let s = span_of(&r, None);
        assert_eq!(s.status.as_ref().unwrap().message, "oap.blocked_pattern");
        assert_eq!(s.end_time_unix_nano, 10, "an end never precedes the start");
        let args = serde_json::json!({"command": "rm -rf"});
        let s = span_of(&r, Some(&args));
        let msg = &s.status.as_ref().unwrap().message;
        assert!(
            msg.starts_with("oap.blocked_pattern: ") && msg.contains("[REDACTED]"),
            "{msg}"
        );
    }

    #[test]
    fn the_delegation_chain_layer_and_status_source_are_span_attributes() {
        let mut r = denied();
        r.on_behalf_of_chain = vec![
            "user:alice".into(),
            "passport:p".into(),
            "subagent:code-reviewer#a-7".into(),
        ];
        r.deciding_layer = Some("delegation:code-reviewer".into());
        r.status_source = Some("https://status.example/status.json".into());
        r.status_age_s = Some(12);
        let s = span_of(&r, None);
        let get = |k: &str| {
            s.attributes
                .iter()
                .find(|a| a.key == k)
                .and_then(|a| a.value.clone())
                .and_then(|v| v.value)
        };
        match get(attrs::TOOLGATE_ON_BEHALF_OF_CHAIN) {
            Some(any_value::Value::ArrayValue(a)) => assert_eq!(a.values.len(), 3),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            get(attrs::TOOLGATE_DECIDING_LAYER),
            Some(any_value::Value::StringValue(
                "delegation:code-reviewer".into()
            ))
        );
        assert_eq!(
            get(attrs::TOOLGATE_STATUS_AGE),
            Some(any_value::Value::IntValue(12))
        );
        assert!(get(attrs::TOOLGATE_STATUS_SEQUENCE).is_none());
    }

    #[test]
    fn ids_follow_the_record_hash() {
        let r = denied();
        let (a, b) = (span_of(&r, None), span_of(&r, None));
        assert_eq!((&a.trace_id, &a.span_id), (&b.trace_id, &b.span_id));
        let mut other = denied();
        other.hash = "sha256:ee".into();
        assert_ne!(span_of(&other, None).span_id, a.span_id);
        assert_eq!((a.trace_id.len(), a.span_id.len()), (16, 8));
    }
}
