//! Loopback stand-ins for everything a host talks to: a model server that
//! speaks the four model protocols and answers with a scripted list of tool
//! calls, a proxy that refuses (and logs) every outbound request, and a stdio
//! MCP server that appends each call it runs to a file.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One scripted tool call, in the host's own vocabulary.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub args: Value,
    /// Codex: a freeform `custom_tool_call` (apply_patch) whose input is `args["input"]`.
    pub custom: bool,
    /// Codex: the MCP namespace (`mcp__<server>`) of a namespaced function call.
    pub namespace: Option<String>,
}

impl Step {
    pub fn call(name: &str, args: Value) -> Step {
        Step {
            name: name.into(),
            args,
            custom: false,
            namespace: None,
        }
    }
}

/// A tool result the host sent back to the model (call ids are checked through the audit log).
#[derive(Debug, Clone)]
pub struct ToolResult {
    pub text: String,
}

#[derive(Default)]
struct Shared {
    plan: Vec<Step>,
    /// Prefix of the call ids handed out, so each run's ids are its own.
    id_prefix: String,
    /// The most complete list of tool results seen in a request.
    results: Vec<ToolResult>,
    requests: usize,
    /// Every request body of the run, as text (to find what the host told the model).
    bodies: Vec<String>,
}

/// The model server.
pub struct ModelServer {
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
}

impl ModelServer {
    pub fn start() -> ModelServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the mock model server");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || serve(conn, &s));
            }
        });
        ModelServer { port, shared }
    }

    /// Sets the calls for the next run (and forgets the last run's results).
    pub fn script(&self, id_prefix: &str, plan: Vec<Step>) {
        let mut s = self.shared.lock().unwrap();
        s.plan = plan;
        s.id_prefix = id_prefix.into();
        s.results.clear();
        s.requests = 0;
        s.bodies.clear();
    }

    /// Whether any request of the run carried `needle` anywhere (system prompt,
    /// messages, tool results), as the host sent it.
    pub fn model_saw(&self, needle: &str) -> bool {
        let s = self.shared.lock().unwrap();
        s.bodies.iter().any(|b| b.contains(needle))
    }

    pub fn results(&self) -> Vec<ToolResult> {
        self.shared.lock().unwrap().results.clone()
    }

    pub fn call_id(&self, k: usize) -> String {
        format!("{}{k}", self.shared.lock().unwrap().id_prefix)
    }
}

/// Reads one HTTP/1.1 request: the request line and the body (length or chunked).
fn read_request(conn: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    conn.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut r = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut len = 0usize;
    let mut chunked = false;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        body.resize(len, 0);
        r.read_exact(&mut body).ok()?;
    }
    Some((line, body))
}

fn respond(conn: &mut TcpStream, content_type: &str, body: &str) {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body.as_bytes());
    let _ = conn.flush();
}

fn serve(mut conn: TcpStream, shared: &Mutex<Shared>) {
    let Some((line, body)) = read_request(&mut conn) else {
        return;
    };
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if !line.starts_with("POST") {
        let _ = conn
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    }
    let (results, proto) = if path.starts_with("/v1/messages") {
        (anthropic_results(&req), Proto::Anthropic)
    } else if path.starts_with("/v1/responses") {
        (responses_results(&req), Proto::Responses)
    } else if path.contains("chat/completions") {
        (chat_results(&req), Proto::Chat)
    } else if path.contains("enerateContent") {
        (gemini_results(&req), Proto::Gemini)
    } else {
        let _ = conn
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let side = match proto {
        Proto::Anthropic | Proto::Chat => req
            .get("tools")
            .is_none_or(|t| t.as_array().is_none_or(Vec::is_empty)),
        Proto::Gemini => {
            req.pointer("/generationConfig/responseMimeType") == Some(&json!("application/json"))
        }
        Proto::Responses => false,
    };
    let step = {
        let mut s = shared.lock().unwrap();
        s.requests += 1;
        s.bodies.push(req.to_string());
        if !side && results.len() >= s.results.len() {
            s.results = results.clone();
        }
        let k = results.len();
        (!side)
            .then(|| {
                s.plan
                    .get(k)
                    .cloned()
                    .map(|st| (st, format!("{}{k}", s.id_prefix)))
            })
            .flatten()
    };
    let unary = !path.contains("stream") && proto == Proto::Gemini;
    let (ctype, text) = match (proto, step) {
        (Proto::Gemini, _) if side => (
            if unary {
                "application/json"
            } else {
                "text/event-stream"
            },
            gemini_event(
                json!({"text": json!({"complexity_reasoning": "simple", "complexity_score": 1,
                "reasoning": "simple", "model_choice": "flash"}).to_string()}),
                unary,
            ),
        ),
        (Proto::Anthropic, Some((st, id))) => ("text/event-stream", anthropic_tool(&st, &id)),
        (Proto::Anthropic, None) => ("text/event-stream", anthropic_text("done")),
        (Proto::Responses, Some((st, id))) => ("text/event-stream", responses_tool(&st, &id)),
        (Proto::Responses, None) => ("text/event-stream", responses_text("done")),
        (Proto::Chat, Some((st, id))) => ("text/event-stream", chat_tool(&st, &id)),
        (Proto::Chat, None) => ("text/event-stream", chat_text("done")),
        (Proto::Gemini, Some((st, _))) => (
            if unary {
                "application/json"
            } else {
                "text/event-stream"
            },
            gemini_event(
                json!({"functionCall": {"name": st.name, "args": st.args}}),
                unary,
            ),
        ),
        (Proto::Gemini, None) => (
            if unary {
                "application/json"
            } else {
                "text/event-stream"
            },
            gemini_event(json!({"text": "done"}), unary),
        ),
    };
    let ctype = if unary { "application/json" } else { ctype };
    respond(&mut conn, ctype, &text);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Anthropic,
    Responses,
    Chat,
    Gemini,
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| i.get("text").map(text_of).unwrap_or_else(|| text_of(i)))
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn anthropic_results(req: &Value) -> Vec<ToolResult> {
    let mut out = Vec::new();
    for m in req["messages"].as_array().into_iter().flatten() {
        for b in m["content"].as_array().into_iter().flatten() {
            if b["type"] == "tool_result" {
                out.push(ToolResult {
                    text: text_of(&b["content"]),
                });
            }
        }
    }
    out
}

fn responses_results(req: &Value) -> Vec<ToolResult> {
    req["input"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| {
            matches!(
                i["type"].as_str(),
                Some("function_call_output" | "custom_tool_call_output")
            )
        })
        .map(|i| ToolResult {
            text: text_of(&i["output"]),
        })
        .collect()
}

fn chat_results(req: &Value) -> Vec<ToolResult> {
    req["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "tool")
        .map(|m| ToolResult {
            text: text_of(&m["content"]),
        })
        .collect()
}

fn gemini_results(req: &Value) -> Vec<ToolResult> {
    let mut out = Vec::new();
    for c in req["contents"].as_array().into_iter().flatten() {
        for p in c["parts"].as_array().into_iter().flatten() {
            if let Some(r) = p.get("functionResponse") {
                out.push(ToolResult {
                    text: r["response"].to_string(),
                });
            }
        }
    }
    out
}

fn sse(events: &[(Option<&str>, Value)]) -> String {
    events
        .iter()
        .map(|(name, data)| match name {
            Some(n) => format!("event: {n}\ndata: {data}\n\n"),
            None => format!("data: {data}\n\n"),
        })
        .collect()
}

fn anthropic(block: Value, delta: Value, stop: &str) -> String {
    sse(&[
        (
            Some("message_start"),
            json!({"type": "message_start", "message": {"id": "msg_mock", "type": "message",
            "role": "assistant", "model": "mock", "content": [], "stop_reason": null,
            "usage": {"input_tokens": 1, "output_tokens": 1}}}),
        ),
        (
            Some("content_block_start"),
            json!({"type": "content_block_start", "index": 0, "content_block": block}),
        ),
        (
            Some("content_block_delta"),
            json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        ),
        (
            Some("content_block_stop"),
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            Some("message_delta"),
            json!({"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": 1}}),
        ),
        (Some("message_stop"), json!({"type": "message_stop"})),
    ])
}

fn anthropic_tool(st: &Step, id: &str) -> String {
    anthropic(
        json!({"type": "tool_use", "id": id, "name": st.name, "input": {}}),
        json!({"type": "input_json_delta", "partial_json": st.args.to_string()}),
        "tool_use",
    )
}

fn anthropic_text(t: &str) -> String {
    anthropic(
        json!({"type": "text", "text": ""}),
        json!({"type": "text_delta", "text": t}),
        "end_turn",
    )
}

fn responses(item: Value) -> String {
    let usage = json!({"input_tokens": 1, "output_tokens": 1, "total_tokens": 2,
        "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}});
    sse(&[
        (
            None,
            json!({"type": "response.created", "response": {"id": "resp_mock"}}),
        ),
        (
            None,
            json!({"type": "response.output_item.added", "output_index": 0, "item": item}),
        ),
        (
            None,
            json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
        ),
        (
            None,
            json!({"type": "response.completed", "response": {"id": "resp_mock", "object": "response",
            "status": "completed", "output": [item], "usage": usage}}),
        ),
    ])
}

fn responses_tool(st: &Step, id: &str) -> String {
    let item = if st.custom {
        json!({"type": "custom_tool_call", "id": format!("ctc_{id}"), "call_id": id, "name": st.name,
               "input": st.args["input"], "status": "completed"})
    } else {
        let mut it = json!({"type": "function_call", "id": format!("fc_{id}"), "call_id": id, "name": st.name,
               "arguments": st.args.to_string(), "status": "completed"});
        if let Some(ns) = &st.namespace {
            it["namespace"] = json!(ns);
        }
        it
    };
    responses(item)
}

fn responses_text(t: &str) -> String {
    responses(
        json!({"type": "message", "id": "msg_mock", "role": "assistant", "status": "completed",
        "content": [{"type": "output_text", "text": t, "annotations": []}]}),
    )
}

fn chunk(delta: Value, finish: Option<&str>) -> Value {
    json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0, "model": "mock",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

fn chat_tool(st: &Step, id: &str) -> String {
    let mut out = sse(&[
        (
            None,
            chunk(
                json!({"role": "assistant", "tool_calls": [{"index": 0, "id": id, "type": "function",
            "function": {"name": st.name, "arguments": st.args.to_string()}}]}),
                None,
            ),
        ),
        (None, chunk(json!({}), Some("tool_calls"))),
    ]);
    out.push_str("data: [DONE]\n\n");
    out
}

fn chat_text(t: &str) -> String {
    let mut out = sse(&[
        (
            None,
            chunk(json!({"role": "assistant", "content": t}), None),
        ),
        (None, chunk(json!({}), Some("stop"))),
    ]);
    out.push_str("data: [DONE]\n\n");
    out
}

fn gemini_event(part: Value, unary: bool) -> String {
    let body = json!({"candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2}});
    if unary {
        body.to_string()
    } else {
        format!("data: {body}\n\n")
    }
}

/// A proxy on loopback that refuses every request and remembers what was asked.
pub struct RefusingProxy {
    pub port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl RefusingProxy {
    pub fn start() -> RefusingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the refusing proxy");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut line = String::new();
                if let Ok(c) = conn.try_clone() {
                    let _ = BufReader::new(c).read_line(&mut line);
                }
                s.lock().unwrap().push(line.trim().to_string());
                let _ = conn.write_all(
                    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        RefusingProxy { port, seen }
    }

    pub fn refused(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// The stdio MCP server (run as `<test binary> mcp-mock <server name> <log file>`):
/// one tool, `record`, whose every call is appended to the log file.
pub fn mcp_server(name: &str, log: PathBuf) {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines().map_while(Result::ok) {
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let Some(id) = msg.get("id").cloned() else {
            continue;
        };
        let result = match msg["method"].as_str().unwrap_or("") {
            "initialize" => json!({
                "protocolVersion": msg.pointer("/params/protocolVersion").cloned().unwrap_or(json!("2025-06-18")),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": name, "version": "1.0.0"}}),
            "tools/list" => json!({"tools": [{"name": "record", "description": "Records a note.",
                "inputSchema": {"type": "object", "properties": {"note": {"type": "string"}}}}]}),
            "tools/call" => {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap();
                let _ = writeln!(f, "{name} {}", msg["params"]["arguments"]);
                json!({"content": [{"type": "text", "text": format!("{name} recorded")}]})
            }
            "ping" => json!({}),
            _ => {
                let _ = writeln!(
                    out,
                    "{}",
                    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "no such method"}})
                );
                let _ = out.flush();
                continue;
            }
        };
        let _ = writeln!(
            out,
            "{}",
            json!({"jsonrpc": "2.0", "id": id, "result": result})
        );
        let _ = out.flush();
    }
}
