//! The stdin entry point minus its file I/O: hook bytes -> host detection ->
//! tool map -> pure decision, under a passport that grants every pack. Any
//! panic is a finding; so is an allow for a command that names no allowlisted program.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "caught.rs"]
mod caught;
use serde_json::json;
use std::sync::OnceLock;
use toolgate::decision::{decide, Environment, NoFs, Verdict};
use toolgate::gate::read_call;
use toolgate::hosts::tool_map::Resolution;
use toolgate::packs::Catalog;
use toolgate::passport::Passport;
use toolgate::state::StateSnapshot;

fn fixture() -> &'static (Passport, Catalog) {
    static F: OnceLock<(Passport, Catalog)> = OnceLock::new();
    F.get_or_init(|| {
        let p = Passport::from_value(&json!({
            "passport_id": "00000000-0000-4000-8000-000000000003", "kind": "instance", "spec_version": "oap/1.0",
            "owner_id": "fuzz", "owner_type": "user", "assurance_level": "L4FIN", "status": "active",
            "capabilities": [{"id": "system.command.execute"}, {"id": "data.file.read"}, {"id": "data.file.write"},
                             {"id": "web.fetch"}, {"id": "mcp.tool.execute"}, {"id": "finance.payment.refund"}],
            "limits": {
                "system.command.execute": {"allowed_commands": ["git status", "ls", "cat", "echo", "cd", "bash", "find"],
                    "blocked_patterns": ["rm -rf"], "allow_compound": true, "allow_substitution": true,
                    "allow_expansion": true, "allow_functions": true, "allow_background": true},
                "data.file.read": {"allowed_paths": ["**"], "blocked_paths": ["**/.env"]},
                "data.file.write": {"allowed_paths": ["**"], "blocked_paths": [".git/**"], "max_file_size_bytes": 100},
                "web.fetch": {"allowed_domains": ["*.example.org"]},
                "mcp.tool.execute": {"allowed_servers": ["github"]},
                "finance.payment.refund": {"currency_limits": {"USD": {"max_per_tx": 100, "daily_cap": 1000}}}
            },
            "regions": ["US"], "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "version": "1.0.0"
        }))
        .expect("fixture passport");
        (p, Catalog::embedded().expect("embedded packs"))
    })
}

fuzz_target!(|data: &[u8]| {
    caught::install();
    let (passport, catalog) = fixture();
    let Ok(call) = read_call(data, None) else { return };
    let Some(map) = catalog.tool_map(call.host.as_str()) else { return };
    let request = match map.resolve(&call, &[]) {
        Ok(Resolution::Request(r)) => r,
        _ => return,
    };
    let env = Environment {
        rollout: Default::default(),
        now: time::OffsetDateTime::UNIX_EPOCH,
        home: Some("/home/u".into()),
        roots: vec!["/p".into()],
        protected: toolgate::checks::protect::Protected::from_paths(["/home/u/.config/toolgate".into()]),
        fs: &NoFs,
    };
    let ev = decide(passport, catalog, &request, &StateSnapshot::default(), &env);
    if ev.verdict == Verdict::Allow && request.policy_id == "system.command.execute.v1" {
        // Every allowed command string analyses cleanly and names only allowlisted programs or its own functions.
        let cmd = request.context["command"].as_str().expect("allowed commands are strings");
        let script = toolgate::checks::shell::analyze(cmd).expect("allowed commands parse");
        for c in &script.commands {
            if let Some(p) = c.program() {
                assert!(
                    ["git", "ls", "cat", "echo", "cd", "bash", "find"].contains(&p) || script.functions.contains(p),
                    "allowed a command running `{p}`: {cmd:?}"
                );
            }
        }
    }
});
