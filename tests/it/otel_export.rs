//! Decisions reach a real OTLP/HTTP receiver on loopback as spans and metrics, and a dead,
//! stalled or refusing collector changes neither the verdict nor the exit code.
#![cfg(feature = "otlp")]

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as Any, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span};
use prost::Message;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_toolgate");

/// One HTTP request as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    content_type: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A minimal OTLP/HTTP collector: answers every POST with 200 (or stalls, if told to).
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(answer: bool) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let sink = sink.clone();
                std::thread::spawn(move || serve(conn, &sink, answer));
            }
        });
        Receiver { port, got }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.got.lock().unwrap())
    }
}

fn serve(conn: TcpStream, sink: &Mutex<Vec<Received>>, answer: bool) {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut out = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let header = |k: &str| {
            headers
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let len: usize = header("content-length").parse().unwrap_or(0);
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        sink.lock().unwrap().push(Received {
            path,
            content_type: header("content-type"),
            headers: headers.clone(),
            body,
        });
        if !answer {
            // A collector that accepted the request and never answers.
            std::thread::sleep(Duration::from_secs(10));
            return;
        }
        let _ = out.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n",
        );
    }
}

fn toolgate(home: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    // Only what the test sets: no OTEL_*, TOOLGATE_* or trace context from the outer run.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("OTEL_") || k.starts_with("TOOLGATE_") || k == "TRACEPARENT" {
            cmd.env_remove(&*k);
        }
    }
    cmd.args(args)
        .env("TOOLGATE_HOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A home with a trusted key, a signed coding-agent passport, and this telemetry config.
fn home(telemetry: Value) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["keygen", "--trust"][..],
        &["passport", "new", "--sign", "--owner", "user_alice"][..],
    ] {
        let o = toolgate(dir.path(), args, "", &[]);
        assert!(o.status.success(), "{args:?}: {o:?}");
    }
    let config = json!({"on_behalf_of": "user_alice", "telemetry": telemetry});
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    dir
}

fn hook_input(command: &str, tool_use_id: &str) -> String {
    json!({
        "hook_event_name": "PreToolUse",
        "session_id": "sess-42",
        "tool_use_id": tool_use_id,
        "tool_name": "Bash",
        "tool_input": {"command": command},
        "cwd": "/tmp",
    })
    .to_string()
}

fn evaluate(home: &Path, input: &str, env: &[(&str, &str)]) -> Output {
    toolgate(home, &["evaluate", "--host", "claude-code"], input, env)
}

fn records(home: &Path) -> Vec<Value> {
    std::fs::read_to_string(home.join("audit/audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Any> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn text(attrs: &[KeyValue], key: &str) -> String {
    match attr(attrs, key) {
        Some(Any::StringValue(s)) => s.clone(),
        other => panic!("{key}: {other:?}"),
    }
}

fn spans_of(got: &[Received]) -> Vec<Span> {
    got.iter()
        .filter(|r| r.path == "/v1/traces")
        .flat_map(|r| {
            let req = ExportTraceServiceRequest::decode(r.body.as_slice()).unwrap();
            let rs = &req.resource_spans[0];
            let res = &rs.resource.as_ref().unwrap().attributes;
            assert_eq!(text(res, "service.name"), "gate-under-test");
            rs.scope_spans[0].spans.clone()
        })
        .collect()
}

#[test]
fn allowed_and_denied_calls_arrive_as_span_trees() {
    let rx = Receiver::start(true);
    let dir = home(json!({
        "endpoint": rx.url(),
        "budget_ms": 3000,
        "service_name": "gate-under-test",
        "headers": {"x-api-key": "k1"},
    }));
    let allow = evaluate(dir.path(), &hook_input("git status", "toolu_allow"), &[]);
    assert_eq!(allow.status.code(), Some(0), "{allow:?}");
    let deny = evaluate(
        dir.path(),
        &hook_input("rm -rf / --no-preserve-root", "toolu_deny"),
        &[],
    );
    assert_eq!(deny.status.code(), Some(2), "{deny:?}");

    let got = rx.take();
    assert!(got
        .iter()
        .all(|r| r.content_type == "application/x-protobuf"
            && r.headers.contains(&("x-api-key".into(), "k1".into()))));
    let log = records(dir.path());
    assert_eq!(log.len(), 2);
    assert!(
        log.iter().all(|r| r.get("notes").is_none()),
        "confirmed exports leave no notes: {log:?}"
    );
    let spans = spans_of(&got);
    let roots: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent_span_id.is_empty())
        .collect();
    assert_eq!(roots.len(), 2);

    for (root, rec) in roots.iter().zip(&log) {
        let a = &root.attributes;
        // A guardrail run (GenAI guardrail conventions), not a tool execution.
        assert_eq!(root.name, "run_guardrail toolgate");
        assert_eq!(root.kind, SpanKind::Internal as i32);
        assert!(
            root.start_time_unix_nano > 0 && root.end_time_unix_nano >= root.start_time_unix_nano
        );
        assert_eq!(text(a, "gen_ai.operation.name"), "run_guardrail");
        assert_eq!(text(a, "gen_ai.tool.name"), "Bash");
        assert_eq!(text(a, "gen_ai.tool.type"), "function");
        assert_eq!(text(a, "gen_ai.guardrail.component.name"), "toolgate");
        assert_eq!(text(a, "gen_ai.guardrail.target.type"), "input");
        assert_eq!(text(a, "gen_ai.guardrail.target.subtype"), "tool_call");
        assert_eq!(
            text(a, "gen_ai.guardrail.target.id"),
            rec["tool_use_id"].as_str().unwrap()
        );
        assert_eq!(
            text(a, "gen_ai.guardrail.security.policy.id"),
            "system.command.execute.v1"
        );
        assert_eq!(
            text(a, "gen_ai.guardrail.security.content.input.hash"),
            rec["input_digest"].as_str().unwrap()
        );
        let (verdict, action) = match rec["verdict"].as_str().unwrap() {
            "allow" => ("allow", "allow"),
            "review" => ("escalate", "escalate"),
            _ => ("deny", "block"),
        };
        assert_eq!(text(a, "gen_ai.guardrail.verdict.type"), verdict);
        assert_eq!(text(a, "gen_ai.guardrail.action.type"), action);
        if verdict == "deny" {
            assert_eq!(
                text(a, "gen_ai.guardrail.verdict.code"),
                rec["reasons"][0]["code"].as_str().unwrap()
            );
            assert_eq!(
                text(a, "gen_ai.guardrail.security.policy.rule.id"),
                rec["deciding_check"].as_str().unwrap()
            );
        }
        for (key, field) in [
            ("gen_ai.tool.call.id", "tool_use_id"),
            ("gen_ai.agent.id", "agent_id"),
            ("oap.passport.id", "passport_id"),
            ("oap.passport.version", "passport_version"),
            ("oap.passport.digest", "passport_digest"),
            ("oap.decision.id", "decision_id"),
            ("toolgate.audit.hash", "hash"),
            ("toolgate.input.digest", "input_digest"),
        ] {
            assert_eq!(text(a, key), rec[field].as_str().unwrap(), "{key}");
        }
        assert_eq!(text(a, "gen_ai.conversation.id"), "sess-42");
        assert_eq!(text(a, "oap.policy.id"), "system.command.execute.v1");
        assert_eq!(text(a, "oap.on_behalf_of"), "user_alice");
        assert_eq!(text(a, "toolgate.host"), "claude-code");
        assert_eq!(
            attr(a, "toolgate.audit.seq"),
            Some(&Any::IntValue(rec["seq"].as_i64().unwrap()))
        );
        // The collector is a witness: the span's signed checkpoint names this record,
        // and verify-log proves the log extends it.
        let cp: Value = serde_json::from_str(&text(a, "toolgate.audit.checkpoint")).unwrap();
        assert_eq!(cp["seq"], rec["seq"]);
        assert_eq!(cp["hash"], rec["hash"]);
        assert_eq!(cp["log_id"], log[0]["hash"]);
        assert_eq!(
            text(a, "toolgate.audit.log_id"),
            log[0]["hash"].as_str().unwrap()
        );
        let cp_file = dir.path().join(format!("cp-{}.json", rec["seq"]));
        std::fs::write(&cp_file, cp.to_string()).unwrap();
        let v = toolgate(
            dir.path(),
            &["verify-log", "--checkpoint", cp_file.to_str().unwrap()],
            "",
            &[],
        );
        assert!(v.status.success(), "{v:?}");
        assert!(
            attr(a, "gen_ai.tool.call.arguments").is_none(),
            "arguments are opt-in"
        );
        let children: Vec<&Span> = spans
            .iter()
            .filter(|s| s.parent_span_id == root.span_id)
            .collect();
        assert!(children.len() >= 3, "one child per check: {children:?}");
        for c in &children {
            assert_eq!(c.trace_id, root.trace_id);
            assert!(c.name.starts_with("toolgate.check "));
            assert!(c.start_time_unix_nano >= root.start_time_unix_nano);
            assert!(c.end_time_unix_nano <= root.end_time_unix_nano);
            assert!(attr(&c.attributes, "toolgate.check.detail").is_none());
        }
        let names: Vec<String> = children
            .iter()
            .map(|c| text(&c.attributes, "toolgate.check.name"))
            .collect();
        assert!(names.contains(&"capability".to_string()), "{names:?}");
        assert!(names.contains(&"passport.status".to_string()), "{names:?}");
    }

    let (allowed, denied) = (roots[0], roots[1]);
    assert_eq!(text(&allowed.attributes, "toolgate.verdict"), "allow");
    assert_eq!(
        attr(&allowed.attributes, "oap.decision.allow"),
        Some(&Any::BoolValue(true))
    );
    assert!(
        allowed.status.is_none()
            || allowed.status.as_ref().unwrap().code != StatusCode::Error as i32
    );
    assert_eq!(text(&denied.attributes, "toolgate.verdict"), "deny");
    assert_eq!(
        attr(&denied.attributes, "oap.decision.allow"),
        Some(&Any::BoolValue(false))
    );
    let status = denied.status.as_ref().unwrap();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(status.message, "oap.blocked_pattern");
    assert!(
        !status.message.contains("rm -rf"),
        "the reason sentence quotes arguments"
    );
    assert_eq!(
        text(&denied.attributes, "error.type"),
        "oap.blocked_pattern"
    );
    assert_eq!(
        text(&denied.attributes, "toolgate.deciding_check"),
        log[1]["deciding_check"].as_str().unwrap()
    );
    match attr(&denied.attributes, "oap.reason.codes") {
        Some(Any::ArrayValue(v)) => assert!(v
            .values
            .iter()
            .any(|x| x.value == Some(Any::StringValue("oap.blocked_pattern".into())))),
        other => panic!("reason codes: {other:?}"),
    }
    let denying: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent_span_id == denied.span_id)
        .filter(|s| {
            s.status
                .as_ref()
                .is_some_and(|st| st.code == StatusCode::Error as i32)
        })
        .collect();
    assert_eq!(denying.len(), 1, "exactly the denying check is an error");

    // Both decisions were also counted, with the same attribute keys.
    let mut verdicts = Vec::new();
    for r in got.iter().filter(|r| r.path == "/v1/metrics") {
        let req = ExportMetricsServiceRequest::decode(r.body.as_slice()).unwrap();
        let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
        let counter = metrics
            .iter()
            .find(|m| m.name == "toolgate.decisions")
            .unwrap();
        let Some(Data::Sum(sum)) = &counter.data else {
            panic!("{counter:?}")
        };
        assert!(sum.is_monotonic);
        let p = &sum.data_points[0];
        assert_eq!(text(&p.attributes, "gen_ai.tool.name"), "Bash");
        assert_eq!(
            text(&p.attributes, "oap.policy.id"),
            "system.command.execute.v1"
        );
        verdicts.push(text(&p.attributes, "toolgate.verdict"));
        let hist = metrics
            .iter()
            .find(|m| m.name == "toolgate.decision.duration")
            .unwrap();
        assert_eq!(hist.unit, "s");
        let Some(Data::Histogram(h)) = &hist.data else {
            panic!("{hist:?}")
        };
        assert_eq!(h.data_points[0].count, 1);
        assert_eq!(h.data_points[0].bucket_counts.iter().sum::<u64>(), 1);
    }
    assert_eq!(verdicts, ["allow", "deny"]);

    // Replaying the log yields the very same trace and span ids, so backends keep one copy.
    let rx2 = Receiver::start(true);
    let o = toolgate(
        dir.path(),
        &["telemetry", "replay", "--endpoint", &rx2.url()],
        "",
        &[],
    );
    assert!(o.status.success(), "{o:?}");
    let replayed = spans_of(&rx2.take());
    let ids = |v: &[&Span]| {
        v.iter()
            .map(|s| (s.trace_id.clone(), s.span_id.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&replayed.iter().collect::<Vec<_>>()), ids(&roots));
}

#[test]
fn traceparent_joins_the_hosts_trace_and_is_recorded() {
    let rx = Receiver::start(true);
    let dir = home(
        json!({"endpoint": rx.url(), "budget_ms": 3000, "service_name": "gate-under-test", "metrics": false}),
    );
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let o = evaluate(
        dir.path(),
        &hook_input("git status", "toolu_1"),
        &[("TRACEPARENT", tp)],
    );
    assert_eq!(o.status.code(), Some(0));
    let got = rx.take();
    assert!(got.iter().all(|r| r.path == "/v1/traces"), "metrics off");
    let spans = spans_of(&got);
    let root = spans
        .iter()
        .find(|s| s.name == "run_guardrail toolgate")
        .unwrap();
    assert_eq!(
        root.trace_id,
        [
            0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
            0x47, 0x36
        ]
    );
    assert_eq!(
        root.parent_span_id,
        [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
    );
    assert!(spans.iter().all(|s| s.trace_id == root.trace_id));
    let log = records(dir.path());
    assert_eq!(log[0]["notes"], json!([format!("otel.traceparent={tp}")]));

    // A forged or malformed header is ignored, not trusted.
    let o = evaluate(
        dir.path(),
        &hook_input("git status", "toolu_2"),
        &[("TRACEPARENT", "00-zz-00f067aa0ba902b7-01")],
    );
    assert_eq!(o.status.code(), Some(0));
    let spans = spans_of(&rx.take());
    assert!(spans
        .iter()
        .all(|s| s.parent_span_id.is_empty() || s.name.starts_with("toolgate.check")));
}

#[test]
fn arguments_leave_only_when_configured_and_then_redacted() {
    let rx = Receiver::start(true);
    let dir = home(
        json!({"endpoint": rx.url(), "budget_ms": 3000, "service_name": "gate-under-test", "export_arguments": true}),
    );
    let o = evaluate(
        dir.path(),
        &hook_input("curl -H 'x: ghp_secret123' https://example.com", "toolu_1"),
        &[],
    );
    assert!(matches!(o.status.code(), Some(0 | 2)));
    let spans = spans_of(&rx.take());
    let root = spans
        .iter()
        .find(|s| s.name == "run_guardrail toolgate")
        .unwrap();
    let args = text(&root.attributes, "gen_ai.tool.call.arguments");
    assert!(
        args.contains("[REDACTED]") && !args.contains("ghp_secret123"),
        "{args}"
    );
    assert!(spans
        .iter()
        .all(|s| !format!("{s:?}").contains("ghp_secret123")));
}

/// Runs one allowed and one denied decision against `endpoint` with the default budget and
/// checks verdicts, exit codes and timing, then that the misses were noted in the evidence.
fn decisions_survive(endpoint: &str) {
    let dir = home(json!({"endpoint": endpoint}));
    for (cmd, code) in [("git status", 0), ("rm -rf /", 2), ("git log", 0)] {
        let t = Instant::now();
        let o = evaluate(dir.path(), &hook_input(cmd, "toolu_x"), &[]);
        let took = t.elapsed();
        assert_eq!(o.status.code(), Some(code), "{cmd}: {o:?}");
        assert!(took < Duration::from_secs(2), "{cmd} took {took:?}");
    }
    let log = records(dir.path());
    assert_eq!(log[0]["verdict"], "allow");
    assert_eq!(log[1]["verdict"], "deny");
    // Each miss is carried into the next record; the last one waits in the pending file.
    for (i, r) in log.iter().enumerate().skip(1) {
        let notes = r["notes"].as_array().expect("a miss is noted");
        let want = format!("telemetry: decision seq {} ", i - 1);
        assert!(
            notes.iter().any(|n| n.as_str().unwrap().starts_with(&want)),
            "{notes:?}"
        );
    }
    let pending = std::fs::read_to_string(dir.path().join("audit/audit.otel-pending")).unwrap();
    assert!(
        pending.starts_with("telemetry: decision seq 2 "),
        "{pending}"
    );
    let verify = toolgate(dir.path(), &["verify-log"], "", &[]);
    assert!(verify.status.success(), "{verify:?}");
}

#[test]
fn a_collector_that_never_answers_changes_nothing() {
    let rx = Receiver::start(false);
    decisions_survive(&rx.url());
    assert!(
        !rx.take().is_empty(),
        "the stalled collector did receive the requests"
    );
}

#[test]
fn a_refused_port_changes_nothing() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    decisions_survive(&format!("http://127.0.0.1:{port}"));
}

#[test]
fn replay_ships_what_the_hook_missed() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = home(
        json!({"endpoint": format!("http://127.0.0.1:{port}"), "service_name": "gate-under-test"}),
    );
    for cmd in ["git status", "rm -rf /"] {
        evaluate(dir.path(), &hook_input(cmd, "toolu_r"), &[]);
    }
    let rx = Receiver::start(true);
    let o = toolgate(
        dir.path(),
        &["telemetry", "replay", "--missed", "--endpoint", &rx.url()],
        "",
        &[],
    );
    assert!(o.status.success(), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("exported 2 decisions"));
    let spans = spans_of(&rx.take());
    let log = records(dir.path());
    assert_eq!(
        spans.len(),
        2,
        "replay has no per-check timings, so no children"
    );
    for (s, r) in spans.iter().zip(&log) {
        assert_eq!(
            text(&s.attributes, "toolgate.audit.hash"),
            r["hash"].as_str().unwrap()
        );
        assert_eq!(
            text(&s.attributes, "toolgate.verdict"),
            r["verdict"].as_str().unwrap()
        );
    }
    assert_eq!(
        spans[1].status.as_ref().unwrap().code,
        StatusCode::Error as i32
    );

    // A tampered log is refused before anything is sent.
    let path = dir.path().join("audit/audit.jsonl");
    let tampered = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"deny\"", "\"allow\"");
    std::fs::write(&path, tampered).unwrap();
    let o = toolgate(
        dir.path(),
        &["telemetry", "replay", "--endpoint", &rx.url()],
        "",
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(rx.take().is_empty());
}

#[test]
fn telemetry_off_by_default_and_misconfiguration_is_noted_not_denied() {
    let dir = home(json!({}));
    let o = evaluate(dir.path(), &hook_input("git status", "t"), &[]);
    assert_eq!(o.status.code(), Some(0));
    assert!(records(dir.path())[0].get("notes").is_none());
    let status = toolgate(dir.path(), &["telemetry", "status", "--json"], "", &[]);
    let v: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["enabled"], false);

    let dir = home(json!({"enabled": true, "protocol": "grpc"}));
    let o = evaluate(dir.path(), &hook_input("git status", "t"), &[]);
    assert_eq!(o.status.code(), Some(0));
    let notes = &records(dir.path())[0]["notes"];
    assert!(
        notes[0]
            .as_str()
            .unwrap()
            .contains("protocol grpc is not supported"),
        "{notes}"
    );
}
