//! APort's limit names that toolgate reads (`allowed_methods`, `max_parameter_size`,
//! `max_timeout`, `allowed_commands: ["*"]`, a subdomain option for domains), through the real
//! binary: each narrows or widens what it says, its legitimate neighbour stays allowed, and a
//! misspelt key is still refused as unknown.

use crate::harness::{self, Home};
use serde_json::{json, Value};

/// The exit code a host would see (0 allow, 2 otherwise) and the reason codes.
fn evaluate(h: &Home, policy: &str, context: Value) -> (i32, Vec<String>) {
    let (verdict, codes) = crate::aport_vectors::decide(h, policy, &context);
    (
        if verdict == "allow" { 0 } else { 2 },
        codes.into_iter().collect(),
    )
}

fn set_limits(h: &Home, cap: &str, limits: Value) {
    h.edit_passport(|p| p["limits"][cap] = limits);
}

fn claude_bash(h: &Home, cmd: &str) -> harness::Run {
    h.run(
        &["evaluate", "--host", "claude-code"],
        &h.claude("Bash", json!({"command": cmd})),
    )
}

#[test]
fn allowed_methods_limits_a_stated_http_method() {
    let h = Home::new("coding-agent");
    set_limits(
        &h,
        "web.fetch",
        json!({"allowed_domains": ["docs.rs"], "allowed_methods": ["GET", "HEAD"]}),
    );
    let get = evaluate(
        &h,
        "web.fetch.v1",
        json!({"url": "https://docs.rs/", "method": "GET"}),
    );
    assert_eq!(get.0, 0, "{get:?}");
    let unstated = evaluate(&h, "web.fetch.v1", json!({"url": "https://docs.rs/"}));
    assert_eq!(unstated.0, 0, "a call that states no method: {unstated:?}");
    let post = evaluate(
        &h,
        "web.fetch.v1",
        json!({"url": "https://docs.rs/", "method": "POST"}),
    );
    assert_eq!(post, (2, vec!["oap.method_not_allowed".to_string()]));
    // Methods are case-sensitive (RFC 9110): `get` is not `GET`.
    let lower = evaluate(
        &h,
        "web.fetch.v1",
        json!({"url": "https://docs.rs/", "method": "get"}),
    );
    assert_eq!(lower.1, ["oap.method_not_allowed"]);
}

#[test]
fn allow_subdomains_lets_a_bare_entry_cover_its_subdomains_and_nothing_beside_them() {
    let h = Home::new("coding-agent");
    set_limits(
        &h,
        "web.fetch",
        json!({"allowed_domains": ["example.org"], "blocked_domains": ["bad.example.org"]}),
    );
    let fetch = |url: &str| evaluate(&h, "web.fetch.v1", json!({"url": url})).0;
    assert_eq!(fetch("https://example.org/"), 0);
    assert_eq!(
        fetch("https://api.example.org/"),
        2,
        "bare is exact by default"
    );
    h.edit_passport(|p| p["limits"]["web.fetch"]["allow_subdomains"] = json!(true));
    assert_eq!(fetch("https://api.example.org/"), 0);
    assert_eq!(fetch("https://a.b.example.org/"), 0);
    assert_eq!(fetch("https://example.org/"), 0);
    assert_eq!(fetch("https://evilexample.org/"), 2);
    assert_eq!(fetch("https://example.org.evil.com/"), 2);
    assert_eq!(
        fetch("https://x.bad.example.org/"),
        2,
        "a blocked entry covers its subdomains too"
    );
    h.edit_passport(|p| p["limits"]["web.fetch"]["allow_subdomains"] = json!("yes"));
    assert_eq!(
        evaluate(&h, "web.fetch.v1", json!({"url": "https://example.org/"})).1,
        ["oap.policy_error"],
        "a flag that is not a boolean fails closed"
    );
}

#[test]
fn a_blocked_bare_domain_covers_its_subdomains_without_allow_subdomains() {
    let h = Home::new("coding-agent");
    set_limits(
        &h,
        "web.fetch",
        json!({"allowed_domains": ["*.example.org"], "blocked_domains": ["vault.example.org"]}),
    );
    let fetch = |url: &str| evaluate(&h, "web.fetch.v1", json!({"url": url}));
    assert_eq!(fetch("https://docs.example.org/").0, 0, "the neighbour");
    assert_eq!(
        fetch("https://vaultexample.org/").0,
        2,
        "not allowed at all"
    );
    for url in [
        "https://vault.example.org/",
        "https://a.vault.example.org/",
        "https://x.y.vault.example.org/",
    ] {
        assert_eq!(
            fetch(url),
            (2, vec!["oap.domain_not_allowed".to_string()]),
            "{url}"
        );
    }
    assert_eq!(
        fetch("https://notvault.example.org/").0,
        0,
        "label by label"
    );
}

#[test]
fn max_parameter_size_and_max_timeout_bound_an_mcp_call() {
    let h = Home::new("coding-agent");
    set_limits(
        &h,
        "mcp.tool.execute",
        json!({"allowed_servers": ["github"], "max_parameter_size": 40, "max_timeout": 120}),
    );
    let small = json!({"server": "github", "tool": "list_issues", "arguments": {"repo": "a/b"}});
    assert_eq!(evaluate(&h, "mcp.tool.execute.v1", small).0, 0);
    // APort's name for the arguments is `parameters`; both are measured as compact JSON.
    let big = json!({"server": "github", "tool": "list_issues",
        "parameters": {"repo": "a/b", "query": "x".repeat(40)}});
    assert_eq!(
        evaluate(&h, "mcp.tool.execute.v1", big).1,
        ["oap.parameter_size_exceeded"]
    );
    let nested =
        json!({"server": "github", "tool": "t", "arguments": {"a": [{"b": "y".repeat(30)}]}});
    assert_eq!(
        evaluate(&h, "mcp.tool.execute.v1", nested).1,
        ["oap.parameter_size_exceeded"]
    );
    let slow = json!({"server": "github", "tool": "t", "arguments": {}, "timeout": 121});
    assert_eq!(
        evaluate(&h, "mcp.tool.execute.v1", slow).1,
        ["oap.timeout_exceeded"]
    );
    let ok = json!({"server": "github", "tool": "t", "arguments": {}, "timeout": 120});
    assert_eq!(evaluate(&h, "mcp.tool.execute.v1", ok).0, 0);
}

#[test]
fn a_star_allows_any_program_but_every_other_rule_still_holds() {
    let h = Home::new("coding-agent");
    set_limits(
        &h,
        "system.command.execute",
        json!({"allowed_commands": ["*"], "blocked_patterns": ["rm -rf", "sudo"]}),
    );
    for ok in ["terraform plan", "git status", "ls -la", "make test"] {
        assert_eq!(claude_bash(&h, ok).code, 0, "{ok}");
    }
    for (bad, why) in [
        ("rm -rf build", "a blocked pattern"),
        ("sudo ls", "a blocked pattern"),
        (
            "echo x > ~/.claude/settings.json",
            "a redirection into the host's hook config",
        ),
        (
            "tee .claude/settings.json",
            "a write effect into the protected set",
        ),
        ("cat ~/.ssh/id_rsa", "a read the file pack refuses"),
        ("$(echo rm) -r x", "a computed program"),
        ("ls; sudo id", "a blocked pattern after `;`"),
    ] {
        let run = claude_bash(&h, bad);
        assert_eq!(run.code, 2, "{bad}: {why}");
    }
    // `*` is one entry meaning any program, not a glob: `*x` stays a literal word.
    set_limits(
        &h,
        "system.command.execute",
        json!({"allowed_commands": ["g*"]}),
    );
    assert_eq!(claude_bash(&h, "git status").code, 2);
}

#[test]
fn the_new_names_are_known_and_a_typo_is_still_refused() {
    let h = Home::new("coding-agent");
    set_limits(
        &h,
        "web.fetch",
        json!({"allowed_domains": ["docs.rs"], "allowed_methods": ["GET"], "allow_subdomains": true,
               "allowed_schemes": ["https"]}),
    );
    assert_eq!(
        evaluate(&h, "web.fetch.v1", json!({"url": "https://docs.rs/"})).0,
        0
    );
    set_limits(
        &h,
        "mcp.tool.execute",
        json!({"allowed_servers": ["github"], "max_parameter_size": 100, "max_timeout": 5}),
    );
    assert_eq!(
        evaluate(
            &h,
            "mcp.tool.execute.v1",
            json!({"server": "github", "tool": "t"})
        )
        .0,
        0
    );
    for (cap, typo, want) in [
        ("web.fetch", "allowed_method", "allowed_methods"),
        ("web.fetch", "allow_subdomain", "allow_subdomains"),
        (
            "mcp.tool.execute",
            "max_parameters_size",
            "max_parameter_size",
        ),
    ] {
        h.edit_passport(|p| p["limits"][cap][typo] = json!(1));
        let policy = format!("{cap}.v1");
        let ctx = if cap == "web.fetch" {
            json!({"url": "https://docs.rs/"})
        } else {
            json!({"server": "github", "tool": "t"})
        };
        let call = json!({"policy": policy, "context": ctx}).to_string();
        let run = h.run(&["evaluate", "--json"], call.as_bytes());
        assert_eq!(run.code, 2, "{typo}");
        let text = run.stdout.clone() + &run.stderr;
        assert!(text.contains(typo) && text.contains(want), "{typo}: {text}");
        h.edit_passport(|p| {
            p["limits"][cap].as_object_mut().unwrap().remove(typo);
        });
    }
}
