//! Fleet control end to end with the real binary: signed status served over HTTPS on
//! loopback, the bounded kill switch, its failure cases, the org ceiling and delegations.

use crate::harness::fleet::{Pki, StaticHttps};
use crate::harness::{Home, Run};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn passport_id(h: &Home) -> String {
    let v: Value = serde_json::from_slice(&std::fs::read(h.passport()).unwrap()).unwrap();
    v["passport_id"].as_str().unwrap().to_string()
}

fn site(h: &Home) -> PathBuf {
    let s = h.dir.path().join("site");
    std::fs::create_dir_all(&s).unwrap();
    s
}

fn write_config(h: &Home, v: Value) {
    std::fs::create_dir_all(&h.home).unwrap();
    std::fs::write(h.home.join("config.json"), v.to_string()).unwrap();
}

/// A site directory served over HTTPS by its own test PKI (kept alive by the caller),
/// and `h`'s passport id.
fn serve(h: &Home) -> (Pki, PathBuf, StaticHttps, String) {
    let pki = Pki::new();
    let dir = site(h);
    let server = StaticHttps::start(&dir, &pki);
    (pki, dir, server, passport_id(h))
}

/// Writes the CA and a `remote` config pointing at `server`.
fn remote(h: &Home, server: &StaticHttps, extra: Value) {
    let ca = h.dir.path().join("ca.pem");
    std::fs::write(&ca, &server.ca_pem).unwrap();
    let mut r = json!({
        "status_url": server.url("status.json"), "ttl_s": 1, "max_stale_s": 3600,
        "ca_file": ca, "timeout_ms": 3000
    });
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    write_config(h, json!({"remote": r}));
}

fn bash(h: &Home, cmd: &str) -> Run {
    h.run(
        &["evaluate", "--host", "claude-code"],
        &h.claude("Bash", json!({"command": cmd})),
    )
}

fn last(h: &Home) -> Value {
    h.records().pop().unwrap()
}

fn code(r: &Value) -> &str {
    r["reasons"][0]["code"].as_str().unwrap_or("")
}

fn ttl() {
    std::thread::sleep(Duration::from_millis(1100));
}

#[test]
fn a_suspension_reaches_the_next_call_after_the_ttl() {
    let h = Home::new("coding-agent");
    let (_pki, dir, server, id) = serve(&h);
    let out = dir.to_str().unwrap();
    h.ok(&["passport", "resume", &id, "--out", out]);
    remote(&h, &server, json!({"ttl_s": 2}));

    let r = bash(&h, "git status");
    assert_eq!(r.code, 0, "{r:?}");
    let rec = last(&h);
    assert_eq!(rec["status_source"], json!(server.url("status.json")));
    assert_eq!(rec["status_age_s"], json!(0));
    assert!(rec["status_sequence"].as_u64().unwrap() > 1_700_000_000);

    h.ok(&[
        "passport",
        "suspend",
        &id,
        "--out",
        out,
        "--reason",
        "incident 42",
    ]);
    let suspended = Instant::now();
    // Inside the TTL the verified cache decides without touching the network.
    let before = server.requests().len();
    let r = bash(&h, "git status");
    if suspended.elapsed() < Duration::from_secs(2) {
        assert_eq!(r.code, 0, "{r:?}");
        assert_eq!(server.requests().len(), before, "a cache hit fetched");
    }
    // The first call after the TTL is denied.
    while suspended.elapsed() < Duration::from_millis(2100) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = bash(&h, "git status");
    let took = suspended.elapsed();
    assert_eq!(r.code, 2, "{r:?}");
    let rec = last(&h);
    assert_eq!(code(&rec), "oap.passport_suspended");
    assert!(rec["reasons"][0]["message"]
        .as_str()
        .unwrap()
        .contains("incident 42"));
    assert_eq!(rec["deciding_layer"], json!("status"));
    assert_eq!(rec["status_age_s"], json!(0));
    assert!(took < Duration::from_secs(4), "propagation took {took:?}");
    // Harmless tools stop too: a suspended agent does nothing.
    let r = h.run(
        &["evaluate", "--host", "claude-code"],
        &h.claude("TodoWrite", json!({"todos": []})),
    );
    assert_eq!(r.code, 2, "{r:?}");

    // Unchanged since: the refresh is a conditional GET answered 304.
    ttl();
    ttl();
    bash(&h, "git status");
    assert!(
        server.requests().iter().any(|l| l.ends_with(" 304")),
        "{:?}",
        server.requests()
    );
    let status = h.ok(&["status"]);
    assert!(status.stdout.contains("suspended"), "{}", status.stdout);
    assert!(status.stdout.contains(&server.url("status.json")));

    h.ok(&["passport", "resume", &id, "--out", out]);
    h.ok(&["status", "refresh"]);
    assert_eq!(bash(&h, "git status").code, 0);
    h.ok(&["passport", "revoke", &id, "--out", out]);
    let again = h.run(&["passport", "resume", &id, "--out", out], b"");
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("final"), "{again:?}");
}

#[test]
fn a_server_that_is_down_is_covered_by_the_cache_until_max_stale() {
    let h = Home::new("coding-agent");
    let (pki, dir, server, id) = serve(&h);
    h.ok(&["passport", "resume", &id, "--out", dir.to_str().unwrap()]);
    remote(&h, &server, json!({"max_stale_s": 3}));
    assert_eq!(bash(&h, "git status").code, 0);
    let fetched = Instant::now();
    let port = server.stop();

    ttl();
    let r = bash(&h, "git status");
    assert_eq!(r.code, 0, "the verified cache still decides: {r:?}");
    let rec = last(&h);
    assert!(rec["status_age_s"].as_u64().unwrap() >= 1);
    assert!(rec["notes"].to_string().contains("refresh failed"), "{rec}");
    let refresh = h.run(&["status", "refresh"], b"");
    assert_eq!(refresh.code, 1, "{refresh:?}");
    assert!(refresh.stdout.contains("REFUSED"), "{refresh:?}");

    while fetched.elapsed() < Duration::from_millis(4100) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = bash(&h, "git status");
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(code(&last(&h)), "oap.status_stale");

    // Back up: the next refresh restores service.
    let _server = StaticHttps::start_on(&dir, &pki, port);
    h.ok(&["status", "refresh"]);
    assert_eq!(bash(&h, "git status").code, 0);
}

#[test]
fn an_untrusted_signer_and_a_replayed_status_are_refused() {
    let h = Home::new("coding-agent");
    let (_pki, dir, server, id) = serve(&h);
    let out = dir.to_str().unwrap();
    remote(&h, &server, json!({}));

    // Signed by a key the trust store does not hold: nothing verified, so deny.
    let rogue = h.dir.path().join("rogue");
    h.ok(&["keygen", "--out", rogue.to_str().unwrap()]);
    let rogue_key = rogue.join("toolgate.key.jwk");
    h.ok(&[
        "--key",
        rogue_key.to_str().unwrap(),
        "passport",
        "resume",
        &id,
        "--out",
        out,
    ]);
    let r = bash(&h, "git status");
    assert_eq!(r.code, 2);
    let rec = last(&h);
    assert_eq!(code(&rec), "oap.status_unavailable");
    assert!(
        rec["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("trust store"),
        "{rec}"
    );

    // A trusted document; then a newer suspension; then the older one served again.
    std::fs::remove_file(dir.join("status.json")).unwrap();
    h.ok(&["passport", "resume", &id, "--out", out]);
    let old = std::fs::read(dir.join("status.json")).unwrap();
    h.ok(&["status", "refresh"]);
    assert_eq!(bash(&h, "git status").code, 0);
    h.ok(&["passport", "suspend", &id, "--out", out]);
    h.ok(&["status", "refresh"]);
    std::fs::write(dir.join("status.json"), &old).unwrap();
    let replay = h.run(&["status", "refresh"], b"");
    assert_eq!(replay.code, 1, "{replay:?}");
    assert!(replay.stdout.contains("replayed"), "{replay:?}");
    let r = bash(&h, "git status");
    assert_eq!(
        r.code, 2,
        "the replayed active document must not undo the suspension"
    );
    assert_eq!(code(&last(&h)), "oap.passport_suspended");
}

/// A hit reads only the index the last refresh wrote and authenticated: it goes to no
/// server, an edited index is never believed (the call denies and the next one refetches),
/// and the issuer must still be in the trust store.
#[test]
fn a_cache_hit_trusts_only_the_authenticated_index() {
    let h = Home::new("coding-agent");
    // Reads anywhere in toolgate's home are allowed by the passport, so only the
    // protected set can refuse reading the cache key.
    let home_glob = format!("{}/**", h.home.display());
    h.edit_passport(|p| {
        p["limits"]["data.file.read"]["allowed_paths"] = json!(["**", home_glob]);
    });
    let (_pki, dir, server, id) = serve(&h);
    let out = dir.to_str().unwrap();
    // The status comes from an issuer of its own, so removing it leaves the passport valid.
    let issuer = h.dir.path().join("issuer");
    h.ok(&["keygen", "--out", issuer.to_str().unwrap()]);
    let issuer_pub = issuer.join("toolgate.pub.jwk");
    h.ok(&["trust", "add", issuer_pub.to_str().unwrap()]);
    let issue = |verb: &str| {
        let key = issuer.join("toolgate.key.jwk");
        h.ok(&[
            "--key",
            key.to_str().unwrap(),
            "passport",
            verb,
            &id,
            "--out",
            out,
        ]);
    };
    issue("resume");
    remote(&h, &server, json!({"ttl_s": 3600}));
    assert_eq!(bash(&h, "git status").code, 0);
    let cache = h.home.join("remote");
    let key = cache.join("cache.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the cache key is private: {mode:o}");
    }
    // No agent call may read the key or write the index.
    let index = cache.join("status.idx");
    let r = bash(&h, &format!("cat {}", key.display()));
    assert_eq!(
        (r.code, code(&last(&h))),
        (2, "oap.path_not_allowed"),
        "{r:?}"
    );
    let r = bash(&h, &format!("echo x > {}", index.display()));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(std::fs::read_to_string(&index).unwrap().len() > 100);
    issue("suspend");
    h.ok(&["status", "refresh"]);
    let before = server.requests().len();
    let r = bash(&h, "git status");
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(code(&last(&h)), "oap.passport_suspended");
    assert_eq!(server.requests().len(), before, "a cache hit fetched");

    // The suspension edited to `active` in the index: its tag no longer matches.
    let text = std::fs::read_to_string(&index).unwrap();
    assert!(text.contains("\"suspended\""), "{text}");
    std::fs::write(&index, text.replace("\"suspended\"", "\"active\"")).unwrap();
    let r = bash(&h, "git status");
    assert_eq!(r.code, 2, "an edited index was believed: {r:?}");
    let rec = last(&h);
    assert_eq!(code(&rec), "oap.status_unavailable", "{rec}");
    assert!(rec["reasons"][0]["message"]
        .as_str()
        .unwrap()
        .contains("does not authenticate"));
    // The next call refetches (a 304: the cached document still verifies) and decides again.
    let r = bash(&h, "git status");
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(code(&last(&h)), "oap.passport_suspended");
    assert!(
        server.requests().len() > before,
        "the damaged index was not refetched"
    );
    assert!(
        server.requests().iter().any(|l| l.ends_with(" 304")),
        "{:?}",
        server.requests()
    );

    // An index whose header was edited (a later confirmation time) is refetched at once.
    issue("resume");
    h.ok(&["status", "refresh"]);
    assert_eq!(bash(&h, "git status").code, 0);
    let text = std::fs::read_to_string(&index).unwrap();
    let forged = text.replacen("\"verified_at\":", "\"verified_at\":9", 1);
    std::fs::write(&index, forged).unwrap();
    let before = server.requests().len();
    assert_eq!(bash(&h, "git status").code, 0);
    assert!(
        server.requests().len() > before,
        "the forged header was believed"
    );
    assert_eq!(last(&h)["status_age_s"], json!(0));

    // The issuer taken out of the trust store: the index names it, so the hit stops counting.
    let kid: Value = serde_json::from_slice(&std::fs::read(&issuer_pub).unwrap()).unwrap();
    h.ok(&["trust", "remove", kid["kid"].as_str().unwrap()]);
    let r = bash(&h, "git status");
    assert_eq!(r.code, 2, "{r:?}");
    let rec = last(&h);
    assert_eq!(code(&rec), "oap.status_unavailable", "{rec}");
    assert!(rec["reasons"][0]["message"]
        .as_str()
        .unwrap()
        .contains("trust store"));
}

#[test]
fn a_status_that_does_not_list_the_passport_denies() {
    let h = Home::new("coding-agent");
    let (_pki, dir, server, _) = serve(&h);
    remote(&h, &server, json!({}));
    let other = "00000000-0000-4000-8000-00000000abcd";
    h.ok(&["passport", "resume", other, "--out", dir.to_str().unwrap()]);
    let r = bash(&h, "git status");
    assert_eq!(r.code, 2);
    let rec = last(&h);
    assert_eq!(code(&rec), "oap.status_unknown_passport");
    assert_eq!(rec["deciding_layer"], json!("status"));
    let shown = h.ok(&["status"]);
    assert!(shown.stdout.contains("not listed"), "{}", shown.stdout);
}

#[test]
fn a_passport_url_must_serve_a_signed_passport() {
    let h = Home::new("coding-agent");
    let (_pki, dir, server, id) = serve(&h);
    h.ok(&["passport", "resume", &id, "--out", dir.to_str().unwrap()]);
    std::fs::copy(h.passport(), dir.join("agent.json")).unwrap();
    // The local passport is not what decides once passport_url is set.
    std::fs::remove_file(h.passport()).unwrap();
    remote(
        &h,
        &server,
        json!({"passport_url": server.url("agent.json")}),
    );
    let r = bash(&h, "git status");
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(code(&last(&h)), "oap.passport_unsigned");

    let sig = h.home.join("passport.json.sig");
    std::fs::copy(&sig, dir.join("agent.json.sig")).unwrap();
    h.ok(&["status", "refresh"]);
    let r = bash(&h, "git status");
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(last(&h)["passport_id"], json!(id));
}

/// Signs a passport document with the home's key through the library, bypassing the
/// CLI's own refusal, so the gate's check is what is tested.
fn sign_raw(h: &Home, path: &Path, v: &Value) {
    let key = toolgate::passport::KeyPair::load(&h.home.join("keys/toolgate.key.jwk")).unwrap();
    std::fs::write(path, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    let env = toolgate::passport::sign(v, &key, "2026-01-01T00:00:00Z");
    std::fs::write(
        toolgate::passport::signature_path(path),
        serde_json::to_vec(&env).unwrap(),
    )
    .unwrap();
}

fn subagent_call(h: &Home, cmd: &str) -> Run {
    let mut v: Value = serde_json::from_slice(&h.claude("Bash", json!({"command": cmd}))).unwrap();
    v["agent_id"] = json!("a-7");
    v["agent_type"] = json!("code-reviewer");
    h.run(
        &["evaluate", "--host", "claude-code"],
        v.to_string().as_bytes(),
    )
}

#[test]
fn subagents_run_under_their_delegation_and_a_widening_is_refused() {
    let h = Home::new("coding-agent");
    h.edit_passport(|v| {
        v["metadata"]["delegations"] = json!([{
            "agent_type": "code-reviewer",
            "capabilities": ["system.command.execute", "data.file.read"],
            "limits": {"system.command.execute": {"allowed_commands": ["git diff", "git log"]}}
        }]);
    });
    let id = passport_id(&h);
    assert_eq!(subagent_call(&h, "git diff").code, 0);
    let r = subagent_call(&h, "cargo build");
    assert_eq!(r.code, 2, "{r:?}");
    let rec = last(&h);
    assert_eq!(rec["deciding_layer"], json!("delegation:code-reviewer"));
    let chain = rec["on_behalf_of_chain"].as_array().unwrap();
    assert_eq!(chain.len(), 3, "{chain:?}");
    assert!(chain[0].as_str().unwrap().starts_with("user:"));
    assert_eq!(chain[1], json!(format!("passport:{id}")));
    assert_eq!(chain[2], json!("subagent:code-reviewer#a-7"));
    // The main agent keeps the parent's policy.
    assert_eq!(bash(&h, "cargo build").code, 0);

    let shown = h.ok(&[
        "passport",
        "show",
        "--effective",
        "--agent-type",
        "code-reviewer",
    ]);
    let eff: Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(
        eff["limits"]["system.command.execute"]["allowed_commands"],
        json!(["git diff", "git log"])
    );

    // A delegation that widens its parent: refused at sign, at verify and at every call.
    let mut v: Value = serde_json::from_slice(&std::fs::read(h.passport()).unwrap()).unwrap();
    v["metadata"]["delegations"][0]["limits"]["system.command.execute"]["allowed_commands"] =
        json!(["git diff", "curl"]);
    std::fs::write(h.passport(), serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let sign = h.run(&["passport", "sign"], b"");
    assert_eq!(sign.code, 1);
    assert!(sign.stderr.contains("`curl`"), "{sign:?}");
    sign_raw(&h, &h.passport(), &v);
    let verify = h.run(&["passport", "verify"], b"");
    assert_eq!(verify.code, 1);
    assert!(
        verify.stderr.contains("oap.delegation_widening"),
        "{verify:?}"
    );
    let r = bash(&h, "git status");
    assert_eq!(r.code, 2);
    let rec = last(&h);
    assert_eq!(code(&rec), "oap.delegation_widening");
    assert!(rec["reasons"][0]["message"]
        .as_str()
        .unwrap()
        .contains("curl"));
}

#[test]
fn the_org_ceiling_bounds_every_passport_and_names_itself() {
    let h = Home::new("coding-agent");
    let org_keys = h.dir.path().join("org-keys");
    h.ok(&["keygen", "--out", org_keys.to_str().unwrap()]);
    let org_key = org_keys.join("toolgate.key.jwk");
    let org_file = h.dir.path().join("org.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(h.passport()).unwrap()).unwrap();
    v["passport_id"] = json!("00000000-0000-4000-8000-0000000000aa");
    v["owner_id"] = json!("org_acme");
    v["owner_type"] = json!("org");
    v["limits"]["system.command.execute"]["allowed_commands"] = json!(["git", "ls", "cat"]);
    v["limits"]["system.command.execute"]["blocked_patterns"] = json!(["git push"]);
    std::fs::write(&org_file, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    h.ok(&[
        "--key",
        org_key.to_str().unwrap(),
        "passport",
        "sign",
        org_file.to_str().unwrap(),
    ]);
    write_config(
        &h,
        json!({"org": {"policy": org_file, "key": org_keys.join("toolgate.pub.jwk")}}),
    );

    assert_eq!(bash(&h, "git status").code, 0);
    // The passport allows cargo; the org does not.
    let r = h.run(
        &["evaluate", "--host", "claude-code", "--explain"],
        &h.claude("Bash", json!({"command": "cargo build"})),
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("decided by the org layer"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("[org]"), "{}", r.stderr);
    let rec = last(&h);
    assert_eq!(rec["deciding_layer"], json!("org"));
    assert!(rec["org_policy_digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(bash(&h, "git push origin main").code, 2);

    let shown = h.ok(&["passport", "show", "--effective"]);
    let eff: Value = serde_json::from_str(&shown.stdout).unwrap();
    // What both allow: the passport's git subcommands inside the org's `git`, and ls, cat.
    let allowed = eff["limits"]["system.command.execute"]["allowed_commands"].clone();
    let allowed: Vec<&str> = allowed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for want in ["ls", "cat", "git status", "git commit"] {
        assert!(allowed.contains(&want), "{allowed:?}");
    }
    for not in ["git", "cargo build", "grep"] {
        assert!(!allowed.contains(&not), "{allowed:?}");
    }
    let blocked = &eff["limits"]["system.command.execute"]["blocked_patterns"];
    assert!(blocked.to_string().contains("git push") && blocked.to_string().contains("sudo"));
    assert_eq!(eff["layers"][0]["layer"], json!("org"));

    // Signed by a key other than the pinned org key (here the agent issuer's): refused.
    sign_raw(&h, &org_file, &v);
    let r = bash(&h, "git status");
    assert_eq!(r.code, 2);
    let rec = last(&h);
    assert_eq!(code(&rec), "oap.org_policy_unavailable");
    assert_eq!(rec["deciding_layer"], json!("org"));
}

#[test]
fn on_behalf_of_falls_back_to_the_os_account() {
    let h = Home::new("coding-agent");
    // The test harness clears the environment: no USER, no LOGNAME.
    assert_eq!(bash(&h, "git status").code, 0);
    let who = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    let who = String::from_utf8_lossy(&who.stdout).trim().to_string();
    let rec = last(&h);
    assert_eq!(rec["on_behalf_of"], json!(who));
    assert_eq!(rec["status_source"], json!("local"));
}
