//! A toolgate home in a temp dir and a way to run the real binary as a host does.

#![allow(dead_code)]

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env_clear()
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
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
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
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn toolgate");
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

/// Vendored third-party test data (`tests/data/SOURCES.md` says where each file comes from),
/// so `cargo test` needs nothing beside the checkout.
pub fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}
