//! Shared set-up for the audit tests: an isolated TOOLGATE_HOME driven
//! through the real binary.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_toolgate");

pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    /// A home with a trusted evaluator key and a signed passport from `template`
    /// (a template name, or a JSON passport value written as is).
    pub fn new(template: &str) -> Home {
        let home = Home {
            dir: tempfile::tempdir().unwrap(),
        };
        home.ok(&["keygen", "--trust"]);
        home.ok(&["passport", "new", "--template", template, "--sign"]);
        home
    }

    /// A home whose passport is `template` changed by `edit` and re-signed.
    pub fn with_passport(template: &str, edit: impl FnOnce(&mut Value)) -> Home {
        let home = Home::new(template);
        let path = home.path("passport.json");
        let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        edit(&mut v);
        std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        home.ok(&["passport", "sign"]);
        home
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn log(&self) -> PathBuf {
        self.path("audit/audit.jsonl")
    }

    pub fn pubkey(&self) -> PathBuf {
        self.path("keys/toolgate.pub.jwk")
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env("TOOLGATE_HOME", self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("TOOLGATE_AUDIT_LOG")
            .env_remove("TOOLGATE_KEY")
            .current_dir(self.dir.path());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "{args:?}: {}{}",
            text(&o.stdout),
            text(&o.stderr)
        );
        text(&o.stdout)
    }

    pub fn config(&self, v: Value) {
        std::fs::write(self.path("config.json"), v.to_string()).unwrap();
    }

    /// `evaluate --json` with `input` on stdin.
    pub fn evaluate(&self, input: &Value) -> Output {
        evaluate_with(self.cmd(), input)
    }

    /// A refund request through the generic OAP host.
    pub fn refund(&self, amount: u64, key: &str) -> Output {
        self.evaluate(&refund_call(amount, key))
    }

    /// The state file's snapshot of the (only) agent.
    pub fn agent_state(&self) -> Value {
        let state: Value =
            serde_json::from_slice(&std::fs::read(self.path("audit/audit.jsonl.state")).unwrap())
                .unwrap();
        state["agents"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .clone()
    }

    /// A command whose audit log is `log`.
    pub fn cmd_with_log(&self, log: &Path) -> Command {
        let mut c = self.cmd();
        c.env("TOOLGATE_AUDIT_LOG", log);
        c
    }

    pub fn records(&self) -> Vec<Value> {
        records(&self.log())
    }

    /// `verify-log --json` over the default chain: (exit code, report).
    pub fn verify(&self, extra: &[&str]) -> (i32, Value) {
        let pk = self.pubkey();
        let mut args = vec!["verify-log", "--json", "--pubkey", pk.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = self.run(&args);
        (
            o.status.code().unwrap_or(-1),
            serde_json::from_slice(&o.stdout).unwrap_or_else(|_| {
                panic!("verify-log output: {}{}", text(&o.stdout), text(&o.stderr))
            }),
        )
    }
}

pub fn evaluate_with(mut cmd: Command, input: &Value) -> Output {
    let mut child = cmd
        .args(["evaluate", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub fn refund_call(amount: u64, key: &str) -> Value {
    json!({"policy": "finance.payment.refund.v1", "context": {
        "amount": amount, "currency": "USD", "reason_code": "customer_request",
        "region": "US", "idempotency_key": format!("refund-{key}"), "order_id": "o-1"}})
}

pub fn bash(command: &str) -> Value {
    json!({"hook_event_name": "PreToolUse", "session_id": "s-1", "tool_use_id": "toolu_1",
           "tool_name": "Bash", "tool_input": {"command": command}, "cwd": "/tmp"})
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The decision JSON `evaluate --json` printed.
pub fn decision(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("evaluate output: {}{}", text(&o.stdout), text(&o.stderr)))
}

/// The first reason code of a decision.
pub fn code(o: &Output) -> String {
    decision(o)["reasons"][0]["code"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| text(&o.stderr))
}

/// A deny that could not be recorded: exit 2 with `oap.audit_unavailable`.
pub fn assert_unrecorded_deny(o: &Output) {
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert_eq!(code(o), "oap.audit_unavailable");
}

pub fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
