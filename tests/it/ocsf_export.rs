//! OCSF and CEF exports of real decisions, validated against the OCSF schema itself
//! (API Activity 1.5.0 with the security_control and host profiles, vendored in
//! tests/data/schemas; see SOURCES.md).

use crate::harness;
use crate::harness::Home;
use serde_json::{json, Value};

fn ocsf_schema() -> jsonschema::Validator {
    let text =
        std::fs::read_to_string(harness::data("schemas/ocsf-1.5.0-api_activity.schema.json"))
            .expect("the vendored OCSF schema is in tests/data");
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the OCSF schema compiles offline (its $refs are local)")
}

fn lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn nulls(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Null => out.push(at),
        Value::Object(m) => m
            .iter()
            .for_each(|(k, v)| nulls(v, format!("{at}.{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| nulls(v, format!("{at}[{i}]"), out)),
        _ => {}
    }
}

fn subagent_call(h: &Home, cmd: &str) -> harness::Run {
    let mut v: Value = serde_json::from_slice(&h.claude("Bash", json!({"command": cmd}))).unwrap();
    v["agent_id"] = json!("a-7");
    v["agent_type"] = json!("code-reviewer");
    h.run(
        &["evaluate", "--host", "claude-code"],
        v.to_string().as_bytes(),
    )
}

/// A home whose log holds an allow, a deny, a subagent's deny under its delegation,
/// and a deny made before any passport loaded (no agent, no digest, no tool_use_id).
fn varied_log() -> Home {
    let h = Home::new("coding-agent");
    h.edit_passport(|v| {
        v["metadata"]["delegations"] = json!([{
            "agent_type": "code-reviewer",
            "capabilities": ["system.command.execute"],
            "limits": {"system.command.execute": {"allowed_commands": ["git diff"]}}
        }]);
    });
    let bash = |c: &str| {
        h.run(
            &["evaluate", "--host", "claude-code"],
            &h.claude("Bash", json!({"command": c})),
        )
    };
    assert_eq!(bash("git status").code, 0);
    assert_eq!(bash("rm -rf /").code, 2);
    assert_eq!(subagent_call(&h, "cargo build").code, 2);
    std::fs::rename(h.passport(), h.home.join("moved.json")).unwrap();
    assert_eq!(
        h.run(
            &["evaluate"],
            br#"{"policy": "data.file.read.v1", "context": {"path": "a"}}"#
        )
        .code,
        2
    );
    h
}

#[test]
fn every_exported_event_validates_against_the_ocsf_schema_and_has_no_nulls() {
    let h = varied_log();
    let events = lines(&h.ok(&["log", "export", "--format", "ocsf"]).stdout);
    assert_eq!(events.len(), h.records().len(), "one event per record");
    assert!(events.len() >= 4);
    let schema = ocsf_schema();
    for (i, e) in events.iter().enumerate() {
        let errors: Vec<String> = schema
            .iter_errors(e)
            .map(|x| format!("{x} at {}", x.instance_path()))
            .collect();
        assert!(errors.is_empty(), "event {i}: {errors:#?}\n{e:#}");
        let mut found = vec![];
        nulls(e, String::new(), &mut found);
        assert!(found.is_empty(), "event {i} carries nulls at {found:?}");
        assert_eq!(e["metadata"]["version"], "1.5.0");
        assert_eq!(e["src_endpoint"]["svc_name"], e["api"]["service"]["name"]);
        assert!(
            e["src_endpoint"]["name"].is_string(),
            "event {i}: src_endpoint names the host application"
        );
    }
}

#[test]
fn the_schema_check_would_catch_a_null_or_a_missing_src_endpoint() {
    let h = varied_log();
    let mut e = lines(&h.ok(&["log", "export", "--format", "ocsf"]).stdout).remove(0);
    let schema = ocsf_schema();
    assert!(schema.is_valid(&e));
    let mut without = e.clone();
    without.as_object_mut().unwrap().remove("src_endpoint");
    assert!(!schema.is_valid(&without), "src_endpoint is required");
    e["actor"]["user"] = Value::Null;
    assert!(!schema.is_valid(&e), "a null object is not an OCSF user");
}

#[test]
fn the_delegation_chain_and_the_deciding_layer_reach_ocsf_and_cef() {
    let h = varied_log();
    let events = lines(&h.ok(&["log", "export", "--format", "ocsf"]).stdout);
    let sub = events
        .iter()
        .find(|e| e["unmapped"]["deciding_layer"] == "delegation:code-reviewer")
        .expect("the subagent's deny is exported with its layer");
    let chain = sub["unmapped"]["on_behalf_of_chain"].as_array().unwrap();
    assert_eq!(chain.len(), 3, "{chain:?}");
    assert!(chain[0].as_str().unwrap().starts_with("user:"));
    assert!(chain[1].as_str().unwrap().starts_with("passport:"));
    assert_eq!(chain[2], "subagent:code-reviewer#a-7");
    assert_eq!(
        sub["authorizations"][0]["policy"]["group"]["name"],
        "delegation:code-reviewer"
    );
    assert_eq!(sub["actor"]["app_name"], "claude-code");
    assert!(sub["actor"]["app_uid"].is_string());
    assert!(sub["actor"]["user"]["name"].is_string());

    // The deny before any passport: no agent and no passport fields, rather than nulls.
    let early = events.last().unwrap();
    assert!(early["actor"].get("app_uid").is_none(), "{early:#}");
    assert!(early["unmapped"].get("passport_digest").is_none());
    assert!(early["api"].get("request").is_none());

    let cef = h.ok(&["log", "export", "--format", "cef"]).stdout;
    let line = cef
        .lines()
        .find(|l| l.contains("cat=delegation:code-reviewer"))
        .expect("the CEF line names the deciding layer");
    assert!(
        line.contains("flexString2Label=on_behalf_of_chain"),
        "{line}"
    );
    assert!(line.contains("> subagent:code-reviewer#a-7"), "{line}");
    assert!(line.contains("sproc=claude-code"), "{line}");
}

/// This test process's name as Linux gives it (what toolgate sees as its parent's name).
fn own_comm() -> Option<String> {
    std::fs::read_to_string("/proc/self/comm")
        .ok()
        .map(|s| s.trim().to_string())
}

#[test]
fn the_actor_process_is_the_process_that_ran_the_hook_past_any_shell() {
    let h = Home::new("coding-agent");
    let call = h.claude("Bash", json!({"command": "git status"}));
    assert_eq!(h.run(&["evaluate", "--host", "claude-code"], &call).code, 0);
    // Hosts run hook commands through a shell: the actor is the process above it.
    let base = h.command();
    let mut sh = std::process::Command::new("sh");
    sh.args([
        "-c",
        &format!("\"{}\" evaluate --host claude-code; exit $?", harness::BIN),
    ])
    .env_clear()
    .current_dir(&h.project);
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            sh.env(k, v);
        }
    }
    let via_shell = harness::run_command(sh, &call);
    assert_eq!(via_shell.code, 0, "{}", via_shell.stderr);

    let events = lines(&h.ok(&["log", "export", "--format", "ocsf"]).stdout);
    let schema = ocsf_schema();
    let me = std::process::id();
    for e in events.iter().filter(|e| e["api"]["operation"] == "Bash") {
        assert!(schema.is_valid(e), "{e:#}");
        let p = &e["actor"]["process"];
        assert_eq!(p["pid"], me, "the test process ran the hook: {p}");
        assert_eq!(p["working_directory"], h.project.to_str().unwrap());
        if let Some(name) = own_comm() {
            assert_eq!(p["name"], name.as_str());
        }
    }
    assert_eq!(
        events
            .iter()
            .filter(|e| e["api"]["operation"] == "Bash")
            .count(),
        2
    );
    let cef = h.ok(&["log", "export", "--format", "cef"]).stdout;
    let line = cef.lines().find(|l| l.contains("act=allow")).unwrap();
    assert!(line.contains(&format!("spid={me}")), "{line}");

    // The schema would refuse a process of the wrong shape.
    let mut bad = events[0].clone();
    bad["actor"]["process"]["pid"] = json!("not a number");
    assert!(!schema.is_valid(&bad));
}
