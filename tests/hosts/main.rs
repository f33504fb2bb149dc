//! The real-host suite: drives the pinned Claude Code, Codex, Gemini and
//! Copilot CLIs (installed from npm by tests/hosts/install.sh into
//! `${TOOLGATE_HOST_CACHE:-$HOME/.cache/toolgate-hosts}`) against a mock model
//! server on 127.0.0.1, with toolgate installed by `toolgate install`, and
//! checks what really happened: which tools ran, what the model was told,
//! what the audit log holds. Every outbound request goes to a refusing proxy
//! on loopback and is reported.
//!
//! Without the CLIs the suite says loudly that it skipped; with
//! `TOOLGATE_REQUIRE_HOSTS=1` (set by .ci/run) a missing CLI is a failure.
//! Runs as its own harness (`harness = false`) so the same binary can serve
//! as the stdio MCP server the hosts start (`<binary> mcp-mock NAME LOG`).

// Test and measurement code: a panic is how it reports a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod mock;

use mock::{ModelServer, RefusingProxy, Step};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOOLGATE: &str = env!("CARGO_BIN_EXE_toolgate");
/// Longest one host run may take before it counts as hung.
const RUN_LIMIT: Duration = Duration::from_secs(180);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("mcp-mock") {
        mock::mcp_server(&args[2], PathBuf::from(&args[3]));
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let cache = std::env::var_os("TOOLGATE_HOST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/toolgate-hosts")
        });
    let require = std::env::var("TOOLGATE_REQUIRE_HOSTS").as_deref() == Ok("1");
    let pins = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hosts/versions.txt"),
    )
    .expect("tests/hosts/versions.txt");
    let mut hosts = Vec::new();
    let mut failed = Vec::new();
    for line in pins
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let w: Vec<&str> = line.split_whitespace().collect();
        let kind = Kind::from(w[0]);
        let bin = cache
            .join(format!("{}-{}", w[0], w[2]))
            .join("node_modules/.bin")
            .join(kind.program());
        if bin.exists() {
            hosts.push((kind, w[2].to_string(), bin));
        } else if require {
            failed.push(format!(
                "{} {} is not installed at {} (run tests/hosts/install.sh)",
                w[1],
                w[2],
                bin.display()
            ));
        } else {
            eprintln!("\n*** hosts: SKIPPED {} {}: not installed at {} (run tests/hosts/install.sh; TOOLGATE_REQUIRE_HOSTS=1 makes this a failure) ***\n",
                w[1], w[2], bin.display());
        }
    }
    let started = Instant::now();
    let handles: Vec<_> = hosts
        .into_iter()
        .map(|(kind, version, bin)| {
            std::thread::spawn(move || (kind, version, run_host(kind, &bin)))
        })
        .collect();
    let mut passed = 0;
    for h in handles {
        let (kind, version, checks) = h.join().unwrap_or_else(|_| {
            (
                Kind::Claude,
                "?".into(),
                vec![("host thread".into(), Err("panicked".into()))],
            )
        });
        for (name, result) in checks {
            match result {
                Ok(()) => {
                    passed += 1;
                    println!("test hosts::{}@{version}::{name} ... ok", kind.id());
                }
                Err(why) => {
                    println!(
                        "test hosts::{}@{version}::{name} ... FAILED\n    {why}",
                        kind.id()
                    );
                    failed.push(format!("{}: {name}: {why}", kind.id()));
                }
            }
        }
    }
    println!();
    for f in &failed {
        println!("FAILED {f}");
    }
    let status = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "test result: {status}. {passed} passed; {} failed; 0 ignored; 0 measured; 0 filtered out; finished in {:.2}s",
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Claude,
    Codex,
    Gemini,
    Copilot,
}

impl Kind {
    fn from(dir: &str) -> Kind {
        match dir {
            "claude" => Kind::Claude,
            "codex" => Kind::Codex,
            "gemini" => Kind::Gemini,
            "copilot" => Kind::Copilot,
            other => panic!("unknown host {other} in versions.txt"),
        }
    }
    fn id(self) -> &'static str {
        match self {
            Kind::Claude => "claude-code",
            Kind::Codex => "codex",
            Kind::Gemini => "gemini",
            Kind::Copilot => "copilot",
        }
    }
    fn program(self) -> &'static str {
        match self {
            Kind::Claude => "claude",
            Kind::Codex => "codex",
            Kind::Gemini => "gemini",
            Kind::Copilot => "copilot",
        }
    }
    /// Whether the host sends its own call id to hooks (else records are matched by session).
    fn has_call_ids(self) -> bool {
        matches!(self, Kind::Claude | Kind::Codex)
    }
}

/// One host's world: a HOME, a project, a toolgate home, the mocks.
struct World {
    kind: Kind,
    bin: PathBuf,
    root: tempfile::TempDir,
    model: ModelServer,
    proxy: RefusingProxy,
}

type Check = (String, Result<(), String>);

impl World {
    fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }
    fn project(&self) -> PathBuf {
        self.root.path().join("project")
    }
    fn tg(&self) -> PathBuf {
        self.root.path().join("toolgate")
    }
    fn mcp_log(&self) -> PathBuf {
        self.root.path().join("mcp.log")
    }
    fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.tg().join("audit/audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn toolgate(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(TOOLGATE)
            .args(args)
            .env_clear()
            .env("PATH", self.path_var())
            .env("HOME", self.home())
            .env("TOOLGATE_HOME", self.tg())
            .env("CODEX_HOME", self.home().join(".codex"))
            .env("NO_COLOR", "1")
            .current_dir(self.project())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "toolgate {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn path_var(&self) -> String {
        let node_bin = self.bin.parent().unwrap().display().to_string();
        format!("{node_bin}:/usr/local/bin:/usr/bin:/bin")
    }

    fn mcp_servers(&self) -> Value {
        let me = std::env::current_exe().unwrap();
        let server =
            |name: &str| json!({"command": me, "args": ["mcp-mock", name, self.mcp_log()]});
        json!({"probe": server("probe"), "other": server("other")})
    }

    /// Host configuration before toolgate is installed: model endpoint, MCP servers, no updates.
    fn configure(&self) -> Result<(), String> {
        let home = self.home();
        let w = |p: PathBuf, text: String| -> Result<(), String> {
            std::fs::create_dir_all(p.parent().unwrap()).map_err(|e| e.to_string())?;
            std::fs::write(&p, text).map_err(|e| e.to_string())
        };
        match self.kind {
            Kind::Claude => w(
                self.root.path().join("mcp.json"),
                json!({"mcpServers": self.mcp_servers()}).to_string(),
            ),
            Kind::Codex => {
                let me = std::env::current_exe().unwrap();
                let mut toml = format!(
                    "model_provider = \"mock\"\ncheck_for_update_on_startup = false\n\n[model_providers.mock]\nname = \"mock\"\nbase_url = \"http://127.0.0.1:{}/v1\"\nwire_api = \"responses\"\nenv_key = \"MOCK_API_KEY\"\n",
                    self.model.port
                );
                for name in ["probe", "other"] {
                    toml.push_str(&format!(
                        "\n[mcp_servers.{name}]\ncommand = {:?}\nargs = [\"mcp-mock\", \"{name}\", {:?}]\n",
                        me.display().to_string(),
                        self.mcp_log().display().to_string()
                    ));
                }
                w(home.join(".codex/config.toml"), toml)
            }
            Kind::Gemini => w(
                home.join(".gemini/settings.json"),
                json!({"security": {"auth": {"selectedType": "gemini-api-key"}},
                       "general": {"enableAutoUpdate": false, "enableAutoUpdateNotification": false},
                       "telemetry": {"enabled": false}, "privacy": {"usageStatisticsEnabled": false},
                       "mcpServers": self.mcp_servers()})
                .to_string(),
            ),
            Kind::Copilot => {
                let mut servers = self.mcp_servers();
                for s in servers.as_object_mut().unwrap().values_mut() {
                    s["type"] = json!("local");
                    s["tools"] = json!(["*"]);
                }
                w(home.join(".copilot/mcp-config.json"), json!({"mcpServers": servers}).to_string())
            }
        }
    }

    /// The host's command for one non-interactive prompt, with everything pointed at loopback.
    fn host_command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        let proxy = format!("http://127.0.0.1:{}", self.proxy.port);
        let base = format!("http://127.0.0.1:{}", self.model.port);
        c.env_clear()
            .env("PATH", self.path_var())
            .env("HOME", self.home())
            .env("TERM", "dumb")
            .env("NO_COLOR", "1")
            .env("HTTPS_PROXY", &proxy)
            .env("HTTP_PROXY", &proxy)
            .env("https_proxy", &proxy)
            .env("http_proxy", &proxy)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .current_dir(self.project())
            .stdin(Stdio::null());
        match self.kind {
            Kind::Claude => {
                c.env("ANTHROPIC_BASE_URL", &base)
                    .env("ANTHROPIC_API_KEY", "dummy")
                    .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
                    .env("DISABLE_AUTOUPDATER", "1")
                    .env("IS_SANDBOX", "1")
                    .args(["-p", "go", "--output-format", "stream-json", "--verbose"])
                    .args([
                        "--permission-mode",
                        "bypassPermissions",
                        "--strict-mcp-config",
                        "--mcp-config",
                    ])
                    .arg(self.root.path().join("mcp.json"));
            }
            Kind::Codex => {
                c.env("CODEX_HOME", self.home().join(".codex"))
                    .env("MOCK_API_KEY", "dummy")
                    .args(["exec", "-m", "gpt-5.5", "--json", "--skip-git-repo-check"])
                    .args(["--dangerously-bypass-approvals-and-sandbox", "go"]);
            }
            Kind::Gemini => {
                c.env("GEMINI_API_KEY", "dummy")
                    .env("GOOGLE_GEMINI_BASE_URL", &base)
                    .args([
                        "-p",
                        "go",
                        "--output-format",
                        "stream-json",
                        "--yolo",
                        "--skip-trust",
                    ]);
            }
            Kind::Copilot => {
                c.env("COPILOT_OFFLINE", "true")
                    .env("COPILOT_AUTO_UPDATE", "false")
                    .env("COPILOT_PROVIDER_BASE_URL", format!("{base}/v1"))
                    .env("COPILOT_PROVIDER_API_KEY", "dummy")
                    .env("COPILOT_MODEL", "gpt-4.1")
                    .args(["-p", "go", "--allow-all-tools", "--output-format", "json"]);
            }
        }
        c
    }

    /// Runs the host once with a script; returns its combined output.
    fn run(&self, tag: &str, plan: Vec<Step>) -> Result<String, String> {
        self.model
            .script(&format!("{}_tg{tag}_", call_prefix(self.kind)), plan);
        let mut child = self
            .host_command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
        let started = Instant::now();
        while child.try_wait().map_err(|e| e.to_string())?.is_none() {
            if started.elapsed() > RUN_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} did not finish within {}s",
                    self.kind.id(),
                    RUN_LIMIT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        Ok(format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    /// The tool results the model saw in the run, by step.
    fn results(&self) -> Vec<String> {
        self.model.results().into_iter().map(|r| r.text).collect()
    }
}

fn call_prefix(kind: Kind) -> &'static str {
    match kind {
        Kind::Claude => "toolu",
        _ => "call",
    }
}

/// The host's tools for the five calls of the main run.
fn main_plan(kind: Kind, project: &Path, nonce: &str) -> Vec<Step> {
    let notes = project.join("notes/out.txt").display().to_string();
    let allowed = format!("echo {nonce}");
    let denied = "mv sentinel.txt moved.txt";
    let mcp = |server: &str| -> Step {
        match kind {
            Kind::Claude => Step::call(&format!("mcp__{server}__record"), json!({"note": server})),
            Kind::Codex => Step {
                namespace: Some(format!("mcp__{server}")),
                ..Step::call("record", json!({"note": server}))
            },
            Kind::Gemini => Step::call(&format!("mcp_{server}_record"), json!({"note": server})),
            Kind::Copilot => Step::call(&format!("{server}-record"), json!({"note": server})),
        }
    };
    let shell = |cmd: &str| -> Step {
        match kind {
            Kind::Claude => Step::call("Bash", json!({"command": cmd})),
            Kind::Codex => Step::call("exec_command", json!({"cmd": cmd})),
            Kind::Gemini => Step::call(
                "run_shell_command",
                json!({"command": cmd, "description": "step"}),
            ),
            Kind::Copilot => Step::call("bash", json!({"command": cmd, "description": "step"})),
        }
    };
    let write = match kind {
        Kind::Claude => Step::call("Write", json!({"file_path": notes, "content": "x"})),
        Kind::Codex => Step {
            custom: true,
            ..Step::call(
                "apply_patch",
                json!({"input": "*** Begin Patch\n*** Add File: notes/out.txt\n+x\n*** End Patch\n"}),
            )
        },
        Kind::Gemini => Step::call("write_file", json!({"file_path": notes, "content": "x"})),
        Kind::Copilot => Step::call("create", json!({"path": notes, "file_text": "x"})),
    };
    vec![
        shell(&allowed),
        shell(denied),
        write,
        mcp("probe"),
        mcp("other"),
    ]
}

fn shell_step(kind: Kind, cmd: &str) -> Step {
    main_plan(kind, Path::new("/"), "x")
        .remove(0)
        .with_command(kind, cmd)
}

trait WithCommand {
    fn with_command(self, kind: Kind, cmd: &str) -> Step;
}

impl WithCommand for Step {
    fn with_command(mut self, kind: Kind, cmd: &str) -> Step {
        let key = if kind == Kind::Codex {
            "cmd"
        } else {
            "command"
        };
        self.args[key] = json!(cmd);
        self
    }
}

fn check(name: &str, ok: bool, why: impl FnOnce() -> String) -> Check {
    (name.to_string(), if ok { Ok(()) } else { Err(why()) })
}

fn run_host(kind: Kind, bin: &Path) -> Vec<Check> {
    let world = World {
        kind,
        bin: bin.to_path_buf(),
        root: tempfile::tempdir().expect("temp dir"),
        model: ModelServer::start(),
        proxy: RefusingProxy::start(),
    };
    let checks = match scenarios(&world) {
        Ok(c) => c,
        Err(e) => vec![("setup".into(), Err(e))],
    };
    let mut refused = world.proxy.refused();
    refused.sort();
    refused.dedup();
    if !refused.is_empty() {
        eprintln!(
            "hosts: {} tried to leave loopback (refused): {}",
            kind.id(),
            refused.join(" | ")
        );
    }
    checks
}

fn scenarios(w: &World) -> Result<Vec<Check>, String> {
    let kind = w.kind;
    let mut out = Vec::new();
    std::fs::create_dir_all(w.project().join("src")).map_err(|e| e.to_string())?;
    std::fs::write(w.project().join("sentinel.txt"), "keep").map_err(|e| e.to_string())?;
    w.configure()?;
    w.toolgate(&["keygen", "--trust"])?;
    w.toolgate(&["passport", "new", "--template", "coding-agent", "--sign"])?;
    let passport = w.tg().join("passport.json");
    let mut doc: Value =
        serde_json::from_slice(&std::fs::read(&passport).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    doc["limits"]["data.file.write"]["allowed_paths"] = json!(["src/**"]);
    doc["limits"]["mcp.tool.execute"] =
        json!({"allowed_servers": ["probe"], "approval_required": false});
    std::fs::write(&passport, doc.to_string()).map_err(|e| e.to_string())?;
    w.toolgate(&["passport", "sign"])?;
    let mut install: Vec<String> = vec!["install".into(), kind.id().into()];
    if kind == Kind::Codex {
        install.extend([
            "--trust".into(),
            "--codex".into(),
            w.bin.display().to_string(),
        ]);
    }
    let installed = w.toolgate(&install.iter().map(String::as_str).collect::<Vec<_>>());
    out.push(check("toolgate install", installed.is_ok(), || {
        installed.clone().unwrap_err()
    }));
    installed?;

    // 1. The main run: allowed, denied, a write outside the allowed paths, two MCP servers.
    let nonce = format!("tg-ok-{}", std::process::id());
    let transcript = w.run("a", main_plan(kind, &w.project(), &nonce))?;
    let results = w.results();
    let res = |i: usize| results.get(i).cloned().unwrap_or_default();
    let ctx = |what: &str| {
        format!(
            "{what}; results: {results:?}; transcript tail: {}",
            tail(&transcript)
        )
    };
    out.push(check(
        "the model saw one result per call",
        results.len() == 5,
        || ctx("expected 5 tool results"),
    ));
    out.push(check(
        "an allowed command runs and its output reaches the model",
        res(0).contains(&nonce),
        || ctx("no nonce in result 0"),
    ));
    out.push(check(
        "a denied command does not run",
        w.project().join("sentinel.txt").exists() && !w.project().join("moved.txt").exists(),
        || ctx("the sentinel moved"),
    ));
    out.push(check(
        "the model sees the deny's oap reason",
        res(1).contains("oap.command_not_allowed"),
        || ctx("no oap.command_not_allowed in result 1"),
    ));
    out.push(check(
        "a write outside the allowed paths is blocked",
        !w.project().join("notes/out.txt").exists() && res(2).contains("oap.path_not_allowed"),
        || ctx("notes/out.txt written or no oap.path_not_allowed"),
    ));
    let mcp_log = std::fs::read_to_string(w.mcp_log()).unwrap_or_default();
    out.push(check(
        "an MCP call to an allowed server runs",
        mcp_log.lines().filter(|l| l.starts_with("probe ")).count() == 1,
        || ctx(&format!("mcp log: {mcp_log:?}")),
    ));
    out.push(check(
        "an MCP call to another server is denied by the server rules",
        !mcp_log.contains("other ") && res(4).contains("oap.server_not_allowed"),
        || ctx(&format!("mcp log: {mcp_log:?}")),
    ));
    let records = w.audit();
    let gated: Vec<&Value> = records
        .iter()
        .filter(|r| r["event"].is_null() && r["session_id"] != "toolgate-doctor")
        .collect();
    out.push(check("one audit record per call", gated.len() == 5, || {
        format!("{} records: {gated:?}", gated.len())
    }));
    if kind.has_call_ids() {
        let ids_ok = (0..5).all(|k| {
            let id = w.model.call_id(k);
            gated
                .iter()
                .filter(|r| r["tool_use_id"] == json!(id))
                .count()
                == 1
        });
        out.push(check(
            "each record carries the host's call id",
            ids_ok,
            || format!("{gated:?}"),
        ));
    } else {
        let sessions: std::collections::BTreeSet<String> = gated
            .iter()
            .map(|r| r["session_id"].as_str().unwrap_or("").to_string())
            .collect();
        out.push(check(
            "each record carries the host's session id",
            sessions.len() == 1 && !sessions.contains(""),
            || format!("{gated:?}"),
        ));
    }
    let alarms = records.iter().filter(|r| r["event"] == "ungated").count();
    out.push(check(
        "no ungated alarm while the gate is wired",
        alarms == 0,
        || format!("{alarms} alarms: {records:?}"),
    ));

    // 2. No passport: every call is denied.
    let moved = w.tg().join("passport.moved");
    std::fs::rename(&passport, &moved).map_err(|e| e.to_string())?;
    let marker = w.project().join("ran-without-passport");
    let t = w.run(
        "b",
        vec![shell_step(kind, &format!("touch {}", marker.display()))],
    )?;
    out.push(check(
        "a missing passport denies",
        !marker.exists()
            && w.results()
                .first()
                .is_some_and(|r| r.contains("oap.passport_not_found")),
        || format!("results {:?}; {}", w.results(), tail(&t)),
    ));
    std::fs::rename(&moved, &passport).map_err(|e| e.to_string())?;

    // 3 and 4. The binary missing, then crashing: the host must not run the tool.
    let copy = w.root.path().join("bin/toolgate");
    std::fs::create_dir_all(copy.parent().unwrap()).map_err(|e| e.to_string())?;
    std::fs::copy(TOOLGATE, &copy).map_err(|e| e.to_string())?;
    let mut args = install.clone();
    args.extend(["--binary".into(), copy.display().to_string()]);
    w.toolgate(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
    std::fs::remove_file(&copy).map_err(|e| e.to_string())?;
    let marker = w.project().join("ran-without-binary");
    let t = w.run(
        "c",
        vec![shell_step(kind, &format!("touch {}", marker.display()))],
    )?;
    out.push(check(
        "a missing toolgate binary blocks",
        !marker.exists(),
        || format!("the tool ran; results {:?}; {}", w.results(), tail(&t)),
    ));
    std::fs::write(&copy, "#!/bin/sh\nkill -SEGV $$\n").map_err(|e| e.to_string())?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
    }
    let marker = w.project().join("ran-with-crash");
    let t = w.run(
        "d",
        vec![shell_step(kind, &format!("touch {}", marker.display()))],
    )?;
    out.push(check(
        "a crashing toolgate binary blocks",
        !marker.exists(),
        || format!("the tool ran; results {:?}; {}", w.results(), tail(&t)),
    ));
    let restored = w.toolgate(&install.iter().map(String::as_str).collect::<Vec<_>>());
    restored?;

    // 5. The pre-tool hook removed by hand: the call runs, and the post hook raises the alarm.
    remove_gate(w)?;
    let before = w.audit().len();
    let marker = w.project().join("ran-ungated");
    let t = w.run(
        "e",
        vec![shell_step(kind, &format!("touch {}", marker.display()))],
    )?;
    let new: Vec<Value> = w.audit().into_iter().skip(before).collect();
    let alarm = new.iter().find(|r| r["event"] == "ungated");
    out.push(check(
        "an ungated call raises a signed alarm",
        marker.exists() && alarm.is_some(),
        || {
            format!(
                "ran: {}; new records {new:?}; {}",
                marker.exists(),
                tail(&t)
            )
        },
    ));
    if kind.has_call_ids() {
        let id = w.model.call_id(0);
        out.push(check(
            "the alarm names the host's call id",
            alarm.is_some_and(|a| a["tool_use_id"] == json!(id)),
            || format!("{alarm:?}"),
        ));
    }
    let verify = w.toolgate(&["verify-log"]);
    out.push(check(
        "the log with the alarm verifies",
        verify.is_ok(),
        || verify.clone().unwrap_err(),
    ));

    // 6. Warn mode: the call runs, the record says what was held back, and the words
    // reach the host where it shows a hook's words on an allow.
    w.toolgate(&install.iter().map(String::as_str).collect::<Vec<_>>())?;
    w.toolgate(&["passport", "set", "mode", "warn"])?;
    let marker = w.project().join("ran-in-warn-mode");
    let t = w.run(
        "f",
        vec![shell_step(kind, &format!("mkdir {}", marker.display()))],
    )?;
    let record = w
        .audit()
        .into_iter()
        .rev()
        .find(|r| r["event"].is_null() && r["session_id"] != "toolgate-doctor");
    out.push(check(
        "warn mode: the call runs and its record says what enforce would have done",
        marker.exists()
            && record.as_ref().is_some_and(|r| {
                r["verdict"] == "allow"
                    && r["enforced"] == false
                    && r["mode"] == "warn"
                    && r["would_verdict"] == "deny"
            }),
        || format!("ran: {}; record {record:?}; {}", marker.exists(), tail(&t)),
    ));
    let words = "warn mode: toolgate would deny this call";
    let (model, user) = (w.model.model_saw(words), t.contains(words));
    eprintln!(
        "hosts: {} warn words: model saw them: {model}; host output shows them: {user}",
        kind.id()
    );
    let (want_model, want_user) = warn_channels(kind);
    out.push(check(
        "warn mode: the words reach the host where docs/hosts.md says",
        (model, user) == (want_model, want_user),
        || {
            format!(
                "model saw the words: {model} (expected {want_model}); host output shows them: {user} (expected {want_user}); {}",
                tail(&t)
            )
        },
    ));
    Ok(out)
}

/// Where each host shows a warn-mode allow's words, as observed with the pinned versions
/// (docs/hosts.md, "Warn mode"): (the model sees them, the host's own output shows them).
fn warn_channels(kind: Kind) -> (bool, bool) {
    match kind {
        // additionalContext reaches the model; `-p` stream-json prints no systemMessage.
        Kind::Claude => (true, false),
        // "Hook system message: ..." in its output; nothing reaches the model.
        Kind::Gemini => (false, true),
        // An allowing hook's stderr is shown nowhere, and reaches no model.
        Kind::Codex => (false, false),
        Kind::Copilot => (false, false),
    }
}

/// Deletes toolgate's pre-tool entries from the host's user configuration, as a person (or an agent) might.
fn remove_gate(w: &World) -> Result<(), String> {
    let (file, events): (PathBuf, &[&str]) = match w.kind {
        Kind::Claude => (w.home().join(".claude/settings.json"), &["PreToolUse"]),
        Kind::Codex => (w.home().join(".codex/hooks.json"), &["PreToolUse"]),
        Kind::Gemini => (w.home().join(".gemini/settings.json"), &["BeforeTool"]),
        Kind::Copilot => (
            w.home().join(".copilot/hooks/toolgate.json"),
            &["preToolUse"],
        ),
    };
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&file).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    for e in events {
        doc["hooks"].as_object_mut().ok_or("no hooks")?.remove(*e);
    }
    std::fs::write(&file, doc.to_string()).map_err(|e| e.to_string())?;
    // Codex keys trust by event and position, so the post hook stays trusted.
    Ok(())
}

fn tail(s: &str) -> String {
    let t: String = s.chars().rev().take(700).collect();
    t.chars().rev().collect::<String>().replace('\n', " | ")
}
