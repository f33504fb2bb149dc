//! End to end per host, in a temporary HOME: init, install into an empty and
//! into a realistic config, run the installed command exactly as the host
//! would (`sh -c` with the configured string, the host's stdin JSON) for
//! allow, deny and review, doctor, and uninstall back to the original meaning.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use toolgate::call::HostKind;
use toolgate::hosts::{self, Answer};
use toolgate::install::{self, doctor::run_hook, Dirs, Scope};

const BIN: &str = env!("CARGO_BIN_EXE_toolgate");

struct Env {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    tg: PathBuf,
    project: PathBuf,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let (home, tg, project) = (root.join("home"), root.join("tg"), root.join("project"));
        for d in [&home, &tg, &project.join("src")] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(project.join(".env"), "TOKEN=x\n").unwrap();
        let env = Env {
            _tmp: tmp,
            home,
            tg,
            project,
        };
        let out = env.toolgate(&["init", "--template", "coding-agent"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        env.require_approval_for_web_fetch();
        env
    }

    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("HOME", &self.home)
            .env("TOOLGATE_HOME", &self.tg)
            .env("NO_COLOR", "1")
            .env_remove("CODEX_HOME")
            .env_remove("COPILOT_HOME")
            .current_dir(&self.project);
        c
    }

    fn toolgate(&self, args: &[&str]) -> Output {
        self.cmd(BIN).args(args).output().unwrap()
    }

    /// A review verdict every host can produce: web fetches need approval.
    fn require_approval_for_web_fetch(&self) {
        let p = self.tg.join("passport.json");
        let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        doc["limits"]["web.fetch"]["approval_required"] = json!(true);
        std::fs::write(&p, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
        let out = self.toolgate(&["passport", "sign"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn dirs(&self) -> Dirs {
        Dirs {
            home: self.home.clone(),
            project: self.project.clone(),
            env: vec![],
        }
    }

    fn install(&self, host: HostKind, scope: Scope) -> PathBuf {
        let out = self.toolgate(&["install", host.as_str(), "--scope", scope.as_str()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        install::config_path(host, scope, &self.dirs()).unwrap()
    }

    fn uninstall(&self, host: HostKind, scope: Scope) {
        let out = self.toolgate(&["uninstall", host.as_str(), "--scope", scope.as_str()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs the configured command as the host does, with the same environment the user has.
    fn run_installed(&self, path: &Path, host: HostKind, input: &Value) -> Answer {
        let doc = read(path);
        let cmds = install::installed_commands(&doc, host);
        let command = &cmds.first().expect("toolgate's hook is configured").1;
        // The canary runner is the host: sh -c with the configured string and JSON on stdin.
        let env = [
            ("HOME", self.home.as_path()),
            ("TOOLGATE_HOME", self.tg.as_path()),
        ];
        run_hook(command, &input.to_string(), &self.project, &env).unwrap()
    }
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn stdout_json(a: &Answer) -> Value {
    if a.stdout.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(a.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {:?}", a.stdout))
    }
}

/// (allow, deny, review) inputs in one host's format.
fn calls(host: HostKind, cwd: &str) -> [Value; 3] {
    let claude = |tool: &str, input: Value| {
        json!({"session_id": "s1", "transcript_path": "/t", "cwd": cwd, "permission_mode": "default",
               "hook_event_name": "PreToolUse", "tool_name": tool, "tool_input": input, "tool_use_id": "toolu_1"})
    };
    match host {
        HostKind::ClaudeCode => [
            claude("Bash", json!({"command": "git status"})),
            claude("Bash", json!({"command": "rm -rf /"})),
            claude(
                "WebFetch",
                json!({"url": "https://docs.rs/serde", "prompt": "x"}),
            ),
        ],
        HostKind::Cursor => {
            let c = |extra: Value| {
                let mut v = json!({"conversation_id": "c1", "generation_id": "g1", "cursor_version": "2.4.0",
                                   "workspace_roots": [cwd], "user_email": null});
                v.as_object_mut()
                    .unwrap()
                    .extend(extra.as_object().unwrap().clone());
                v
            };
            [
                c(
                    json!({"hook_event_name": "beforeShellExecution", "command": "git status", "cwd": cwd}),
                ),
                c(
                    json!({"hook_event_name": "preToolUse", "tool_name": "Shell", "tool_use_id": "t1", "cwd": cwd,
                         "tool_input": {"command": "rm -rf /", "working_directory": cwd}}),
                ),
                c(
                    json!({"hook_event_name": "preToolUse", "tool_name": "WebFetch", "tool_use_id": "t2", "cwd": cwd,
                         "tool_input": {"url": "https://docs.rs/serde"}}),
                ),
            ]
        }
        HostKind::Codex => {
            let c = |tool: &str, input: Value| {
                json!({"session_id": "s", "turn_id": "t", "transcript_path": null, "cwd": cwd,
                       "hook_event_name": "PreToolUse", "model": "gpt-5-codex", "permission_mode": "default",
                       "tool_name": tool, "tool_input": input, "tool_use_id": "call_1"})
            };
            [
                c("Bash", json!({"command": "git status"})),
                c(
                    "apply_patch",
                    json!({"command": "*** Begin Patch\n*** Add File: .github/workflows/x.yml\n+on: push\n*** End Patch\n"}),
                ),
                c("mcp__github__create_issue", json!({"title": "t"})),
            ]
        }
        HostKind::Gemini => {
            let c = |tool: &str, input: Value| {
                json!({"session_id": "s", "transcript_path": "/t", "cwd": cwd, "hook_event_name": "BeforeTool",
                       "timestamp": "2026-11-22T00:00:00Z", "tool_name": tool, "tool_input": input})
            };
            [
                c("run_shell_command", json!({"command": "git status"})),
                c("read_file", json!({"file_path": format!("{cwd}/.env")})),
                c(
                    "web_fetch",
                    json!({"prompt": "Summarise https://docs.rs/serde please"}),
                ),
            ]
        }
        HostKind::Copilot => {
            let c = |tool: &str, args: Value| {
                json!({"sessionId": "s", "timestamp": 1_764_000_000_000u64, "cwd": cwd,
                       "toolName": tool, "toolArgs": args.to_string()})
            };
            [
                c("bash", json!({"command": "git status", "description": "d"})),
                c("bash", json!({"command": "sudo rm -rf /"})),
                c("web_fetch", json!({"url": "https://docs.rs/serde"})),
            ]
        }
        HostKind::Oap => unreachable!(),
    }
}

fn assert_enforces(env: &Env, path: &Path, host: HostKind) {
    let cwd = env.project.to_string_lossy().into_owned();
    let [allow, deny, review] = calls(host, &cwd);
    let a = env.run_installed(path, host, &allow);
    assert_eq!(a.exit_code, 0, "{host:?} allow: {a:?}");
    assert!(!hosts::is_deny(host, &a), "{host:?} allow: {a:?}");
    let d = env.run_installed(path, host, &deny);
    assert!(hosts::is_deny(host, &d), "{host:?} deny: {d:?}");
    let r = env.run_installed(path, host, &review);
    let body = stdout_json(&r);
    match host {
        HostKind::ClaudeCode => {
            assert_eq!(r.exit_code, 0);
            assert_eq!(
                body["hookSpecificOutput"]["permissionDecision"], "ask",
                "{r:?}"
            );
        }
        HostKind::Copilot => {
            assert_eq!(r.exit_code, 0);
            assert_eq!(body["permissionDecision"], "ask", "{r:?}");
        }
        // Hosts that cannot ask for approval get a deny that says so.
        _ => {
            assert!(hosts::is_deny(host, &r), "{host:?} review: {r:?}");
            assert!(r.stderr.contains("cannot ask"), "{host:?} review: {r:?}");
        }
    }
}

/// A user's config with other hooks, permissions and env, per host.
fn realistic(host: HostKind) -> Value {
    match host {
        HostKind::ClaudeCode => json!({
            "$schema": "https://json.schemastore.org/claude-code-settings.json",
            "permissions": {"allow": ["Bash(npm run *)", "Read(./src/**)"], "deny": ["Read(./.env)"]},
            "env": {"FOO": "bar"},
            "hooks": {
                "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "./lint.sh", "timeout": 5}]}],
                "PostToolUse": [{"matcher": "Edit|Write", "hooks": [{"type": "command", "command": "prettier --write"}]}]
            },
            "model": "opus"
        }),
        HostKind::Cursor => json!({"version": 1, "hooks": {
            "afterFileEdit": [{"command": "./hooks/format.sh"}],
            "beforeShellExecution": [{"command": "./hooks/audit.sh", "matcher": "curl|wget"}]}}),
        HostKind::Codex => json!({"hooks": {
            "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "python3 guard.py", "timeout": 10}]}],
            "Stop": [{"hooks": [{"type": "command", "command": "./stop.sh"}]}]}}),
        HostKind::Gemini => json!({
            "theme": "GitHub", "general": {"vimMode": true}, "mcpServers": {"github": {"command": "gh-mcp"}},
            "hooks": {"BeforeTool": [{"matcher": "write_file|replace", "hooks": [{"type": "command", "command": "./check.sh"}]}],
                      "disabled": ["noisy"]}}),
        HostKind::Copilot => {
            json!({"version": 1, "hooks": {"sessionStart": [{"type": "command", "bash": "echo hi"}]}})
        }
        HostKind::Oap => unreachable!(),
    }
}

fn claude_schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/schemas/claude-code-settings.schema.json");
    let text =
        std::fs::read_to_string(&path).expect("the vendored settings schema is in tests/data");
    let schema: Value = serde_json::from_str(&text).expect("the vendored settings schema is JSON");
    jsonschema::options()
        .should_validate_formats(false)
        .build(&schema)
        .expect("the settings schema compiles offline (its $refs are local)")
}

fn assert_claude_valid(doc: &Value) {
    let v = claude_schema();
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{doc:#}");
}

fn per_host(host: HostKind) {
    let env = Env::new();
    let scope = Scope::Project;
    // 1. An empty configuration.
    let path = env.install(host, scope);
    if host == HostKind::ClaudeCode {
        assert_claude_valid(&read(&path));
    }
    assert_enforces(&env, &path, host);
    env.uninstall(host, scope);
    assert!(
        !path.exists(),
        "{host:?}: a file that held only toolgate's hook is removed"
    );

    // 2. A realistic configuration: everything else kept, re-run is a no-op, uninstall restores it.
    let original = realistic(host);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let original_bytes = serde_json::to_string_pretty(&original).unwrap();
    std::fs::write(&path, &original_bytes).unwrap();
    env.install(host, scope);
    let installed = read(&path);
    if host == HostKind::ClaudeCode {
        assert_claude_valid(&installed);
    }
    let mut stripped = installed.clone();
    install::remove_from(&mut stripped, host);
    assert_eq!(
        stripped, original,
        "{host:?}: the user's keys and hooks are kept"
    );
    let bytes = std::fs::read(&path).unwrap();
    let out = env.toolgate(&["install", host.as_str(), "--scope", "project"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("already installed"));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "{host:?}: re-running changes nothing"
    );
    let backups: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".bak") || n.contains("toolgate-tmp"))
        .collect();
    assert!(
        backups.is_empty(),
        "{host:?}: no clutter beside the host's file: {backups:?}"
    );
    assert_enforces(&env, &path, host);

    // 3. doctor proves it, with canaries that are audited under their own session.
    let out = env.toolgate(&["doctor"]);
    let report = String::from_utf8_lossy(&out.stdout);
    if host == HostKind::Codex {
        // No Codex here to say the hook is trusted: doctor must not claim it runs.
        let fails: Vec<&str> = report.lines().filter(|l| l.starts_with("FAIL")).collect();
        assert!(!out.status.success(), "{report}");
        assert!(
            !fails.is_empty() && fails.iter().all(|l| l.contains("trusted by Codex")),
            "{report}"
        );
    } else {
        assert!(out.status.success(), "{host:?} doctor:\n{report}");
    }
    assert!(
        report.contains("canary deny") && report.contains("canary allow"),
        "{report}"
    );
    let log = std::fs::read_to_string(env.tg.join("audit/audit.jsonl")).unwrap();
    assert!(
        log.contains("\"toolgate-doctor\""),
        "the canary's records are marked"
    );

    env.uninstall(host, scope);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        original_bytes,
        "{host:?}: uninstall restores the file byte for byte"
    );
}

#[test]
fn claude_code_end_to_end() {
    per_host(HostKind::ClaudeCode);
}

#[test]
fn cursor_end_to_end() {
    per_host(HostKind::Cursor);
}

#[test]
fn codex_end_to_end() {
    per_host(HostKind::Codex);
}

#[test]
fn gemini_end_to_end() {
    per_host(HostKind::Gemini);
}

#[test]
fn copilot_end_to_end() {
    per_host(HostKind::Copilot);
}

#[test]
fn claude_settings_hook_answers_cursor_and_copilot_in_their_formats() {
    let env = Env::new();
    let path = env.install(HostKind::ClaudeCode, Scope::User);
    assert_claude_valid(&read(&path));
    let cwd = env.project.to_string_lossy().into_owned();
    let cursor = |cmd: &str| {
        json!({"hook_event_name": "PreToolUse", "conversation_id": "c", "generation_id": "g",
               "cursor_version": "2.4.0", "workspace_roots": [cwd], "tool_name": "Shell",
               "tool_input": {"command": cmd, "working_directory": cwd}, "tool_use_id": "t", "cwd": cwd})
    };
    let a = env.run_installed(&path, HostKind::ClaudeCode, &cursor("git status"));
    assert_eq!(
        (a.exit_code, stdout_json(&a)),
        (0, json!({"permission": "allow"}))
    );
    let d = env.run_installed(&path, HostKind::ClaudeCode, &cursor("rm -rf /"));
    assert!(hosts::is_deny(HostKind::Cursor, &d), "{d:?}");
    let copilot = json!({"hook_event_name": "PreToolUse", "session_id": "s", "timestamp": "2026-11-22T00:00:00Z",
                         "cwd": cwd, "tool_name": "bash", "tool_input": {"command": "rm -rf /"}});
    let d = env.run_installed(&path, HostKind::ClaudeCode, &copilot);
    assert!(hosts::is_deny(HostKind::Copilot, &d), "{d:?}");
    // An agent may not rewrite any host's hook configuration to switch toolgate off.
    for rel in [
        ".codex/hooks.json",
        ".gemini/settings.json",
        ".github/hooks/toolgate.json",
        ".cursor/hooks.json",
    ] {
        let write = json!({"session_id": "s", "transcript_path": "/t", "cwd": cwd, "permission_mode": "default",
                           "hook_event_name": "PreToolUse", "tool_name": "Write", "tool_use_id": "t",
                           "tool_input": {"file_path": format!("{cwd}/{rel}"), "content": "{}"}});
        let d = env.run_installed(&path, HostKind::ClaudeCode, &write);
        assert!(hosts::is_deny(HostKind::ClaudeCode, &d), "{rel}: {d:?}");
    }
}

#[test]
fn claude_scopes_and_doctor_failures() {
    let env = Env::new();
    for scope in [Scope::User, Scope::Project, Scope::Local] {
        let p = env.install(HostKind::ClaudeCode, scope);
        assert_claude_valid(&read(&p));
        let hook = &read(&p)["hooks"]["PreToolUse"][0];
        assert_eq!(hook["matcher"], "*");
        assert_eq!(hook["hooks"][0]["timeout"], 30);
        let cmd = hook["hooks"][0]["command"].as_str().unwrap();
        // The paths toolgate needs are pinned, so a host that strips the environment still enforces.
        assert!(
            cmd.starts_with('/')
                && install::is_toolgate_command(cmd, HostKind::ClaudeCode)
                && cmd.contains(" evaluate --host claude-code --passport ")
                && cmd.contains(" --audit-log ")
                && cmd.ends_with(install::SHELL_FALLBACK),
            "{cmd}"
        );
    }
    assert!(!env
        .toolgate(&["install", "cursor", "--scope", "local"])
        .status
        .success());

    // A binary that is gone: the host would fail open; doctor must say so and exit non-zero.
    let copy = env.home.join("toolgate-copy");
    std::fs::copy(BIN, &copy).unwrap();
    let out = env
        .cmd(BIN)
        .args(["install", "gemini", "--binary"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::remove_file(&copy).unwrap();
    let out = env.toolgate(&["doctor"]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{report}");
    assert!(
        report.contains("FAIL") && report.contains("binary executable"),
        "{report}"
    );

    // An expired passport fails doctor with a fix.
    let env = Env::new();
    env.install(HostKind::ClaudeCode, Scope::User);
    let out = env.toolgate(&["passport", "new", "--expires-in", "0s", "--force", "--sign"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = env.toolgate(&["doctor"]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(report.contains("active and unexpired"), "{report}");
}

#[test]
fn install_refuses_files_it_cannot_rewrite_faithfully() {
    let env = Env::new();
    let p = env.home.join(".gemini/settings.json");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    let commented = "{\n  // my theme\n  \"theme\": \"x\"\n}\n";
    std::fs::write(&p, commented).unwrap();
    let out = env.toolgate(&["install", "gemini"]);
    assert!(!out.status.success());
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        commented,
        "left untouched"
    );
    std::fs::write(&p, "{\"hooks\": {\"BeforeTool\": 3}}").unwrap();
    assert!(!env.toolgate(&["install", "gemini"]).status.success());
}

#[test]
fn reference_fragments_in_hooks_dir_match_the_installer() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks");
    let update = std::env::var_os("TOOLGATE_UPDATE_HOOKS").is_some();
    for host in hosts::HOOK_HOSTS {
        let cmds = install::Commands::new(
            Path::new("/usr/local/bin/toolgate"),
            host,
            &install::HookPaths::default(),
        );
        let want = install::to_pretty(&install::fragment(host, &cmds).unwrap(), b"  ");
        let file = dir.join(format!("{}.json", host.as_str()));
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&file, &want).unwrap();
        }
        let have = std::fs::read_to_string(&file).unwrap_or_default();
        assert_eq!(
            have,
            want,
            "{} is stale: run TOOLGATE_UPDATE_HOOKS=1 cargo test --test install_hosts",
            file.display()
        );
        if host == HostKind::ClaudeCode {
            assert_claude_valid(&serde_json::from_str(&have).unwrap());
        }
    }
}
