//! The one test harness: a toolgate home in a temp dir, and ways to run the
//! real binary as a host, a terminal user or CI would.

#![allow(dead_code)]

pub mod fleet;

use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_toolgate");

/// What the process did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}", self.stdout))
    }

    /// The reason a Claude Code answer gives (`hookSpecificOutput.permissionDecisionReason`);
    /// an answer without one fails the test.
    pub fn claude_reason(&self) -> String {
        self.json()["hookSpecificOutput"]["permissionDecisionReason"]
            .as_str()
            .unwrap_or_else(|| panic!("no permissionDecisionReason: {:?}", self.stdout))
            .to_owned()
    }
}

/// An isolated toolgate home (TOOLGATE_HOME) with a project directory beside it.
pub struct Home {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub project: PathBuf,
}

impl Home {
    /// Key, trust entry and a signed passport from a built-in template.
    pub fn new(template: &str) -> Home {
        let h = Home::empty();
        h.ok(&["keygen", "--trust"]);
        h.ok(&["passport", "new", "--template", template, "--sign"]);
        h
    }

    /// A home with nothing in it.
    pub fn empty() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let home = root.join("home");
        let project = root.join("project");
        std::fs::create_dir_all(&project).unwrap();
        Home { dir, home, project }
    }

    /// A home from `template` whose passport is changed by `edit` and re-signed.
    pub fn with_passport(template: &str, edit: impl FnOnce(&mut Value)) -> Home {
        let h = Home::new(template);
        h.edit_passport(edit);
        h
    }

    /// A home from `template` whose passport also allows `commands`.
    pub fn with_commands(template: &str, commands: &[&str]) -> Home {
        Home::with_passport(template, |p| {
            let cmds = p["limits"]["system.command.execute"]["allowed_commands"]
                .as_array_mut()
                .unwrap();
            cmds.extend(commands.iter().map(|c| json!(c)));
        })
    }

    /// A path inside the toolgate home.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.home.join(rel)
    }

    /// The evaluator's public key, as `keygen` writes it.
    pub fn pubkey(&self) -> PathBuf {
        self.path("keys/toolgate.pub.jwk")
    }

    /// `toolgate ARGS` in an environment holding only this home and its project.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.command();
        c.args(args);
        c
    }

    /// `toolgate` with no arguments yet, in this home's environment.
    pub fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("TOOLGATE_HOME", &self.home)
            .env("NO_COLOR", "1")
            // What the hosts set for their hooks: the trusted project root.
            .env("CLAUDE_PROJECT_DIR", &self.project)
            .env("GEMINI_PROJECT_DIR", &self.project)
            .current_dir(&self.project);
        c
    }

    /// Runs the Claude Code hook (`--read-timeout 1`) with `sent` written and stdin then
    /// held open, as a host that never closes the pipe would.
    pub fn stdin_held_open(&self, sent: &[u8]) -> std::process::Output {
        use std::process::Stdio;
        let mut child = self
            .cmd(&["evaluate", "--host", "claude-code", "--read-timeout", "1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        std::io::Write::write_all(&mut stdin, sent).unwrap();
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        out
    }

    /// Runs with `stdin` bytes.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Run {
        run_command(self.cmd(args), stdin)
    }

    /// Runs and insists on exit 0.
    pub fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args, b"");
        assert_eq!(r.code, 0, "toolgate {args:?} failed: {r:?}");
        r
    }

    /// Runs with an empty stdin and returns the raw process output.
    pub fn output(&self, args: &[&str]) -> Output {
        self.cmd(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Runs, insists on exit 0 and returns stdout.
    pub fn ok_text(&self, args: &[&str]) -> String {
        self.ok(args).stdout
    }

    pub fn config(&self, v: Value) {
        std::fs::create_dir_all(&self.home).unwrap();
        std::fs::write(self.path("config.json"), v.to_string()).unwrap();
    }

    /// `evaluate --json` with `input` on stdin.
    pub fn evaluate(&self, input: &Value) -> Output {
        evaluate_with(self.command(), input)
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
        let mut c = self.command();
        c.env("TOOLGATE_AUDIT_LOG", log);
        c
    }

    /// `verify-log --json` over the default chain with the evaluator key: (exit code, report).
    pub fn verify(&self, extra: &[&str]) -> (i32, Value) {
        let pk = self.pubkey();
        let mut args = vec!["verify-log", "--json", "--pubkey", pk.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = self.output(&args);
        (
            o.status.code().unwrap_or(-1),
            serde_json::from_slice(&o.stdout).unwrap_or_else(|_| {
                panic!("verify-log output: {}{}", text(&o.stdout), text(&o.stderr))
            }),
        )
    }

    pub fn passport(&self) -> PathBuf {
        self.home.join("passport.json")
    }

    pub fn log(&self) -> PathBuf {
        self.home.join("audit/audit.jsonl")
    }

    /// Rewrites the passport JSON with `f` and re-signs it.
    pub fn edit_passport(&self, f: impl FnOnce(&mut Value)) {
        let mut v: Value =
            serde_json::from_slice(&std::fs::read(self.passport()).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(self.passport(), serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        self.ok(&["passport", "sign"]);
    }

    /// Audit records written so far.
    pub fn records(&self) -> Vec<Value> {
        records(&self.log())
    }

    /// A Claude Code PreToolUse payload rooted in the project.
    pub fn claude(&self, tool: &str, input: Value) -> Vec<u8> {
        serde_json::json!({
            "session_id": "s-1", "transcript_path": "/tmp/t.jsonl", "cwd": self.project,
            "hook_event_name": "PreToolUse", "tool_name": tool, "tool_input": input,
            "tool_use_id": "toolu_01"
        })
        .to_string()
        .into_bytes()
    }

    /// A Cursor hook payload rooted in the project.
    pub fn cursor(&self, event: &str, extra: Value) -> Vec<u8> {
        let mut v = serde_json::json!({
            "conversation_id": "c-1", "generation_id": "g-1", "hook_event_name": event,
            "workspace_roots": [self.project], "cursor_version": "1.7.0"
        });
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        v.to_string().into_bytes()
    }
}

pub fn run_command(mut c: Command, stdin: &[u8]) -> Run {
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn(&mut c);
    {
        let mut sin = child.stdin.take().unwrap();
        // The gate may stop reading an oversized input early; that is fine.
        let _ = sin.write_all(stdin);
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Spawns `c`, retrying while the program is "busy": a binary a test has just
/// copied can be held open for writing by a child another test thread forked in
/// that instant, until the child's own exec closes it (ETXTBSY, 26 on Linux).
fn spawn(c: &mut Command) -> std::process::Child {
    let mut tries = 0;
    loop {
        match c.spawn() {
            Err(e) if e.raw_os_error() == Some(26) && tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            r => return r.expect("spawn toolgate"),
        }
    }
}

/// Vendored third-party test data (`tests/data/SOURCES.md` says where each file comes from),
/// so `cargo test` needs nothing beside the checkout.
pub fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// `evaluate --json` on `cmd` with `input` on stdin.
pub fn evaluate_with(mut cmd: Command, input: &Value) -> Output {
    let mut child = cmd
        .args(["evaluate", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
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

/// The records of the log at `path` (none when it is absent).
pub fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
