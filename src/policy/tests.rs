use super::*;
use crate::passport::KeyPair;
use crate::remote::status::tests::{doc, ID};
use crate::remote::status::{sign, verify, StatusView};
use serde_json::json;

const NOW: i64 = 1_780_000_000; // 2026-05-28

fn passport(id: &str, caps: &[&str], limits: Value) -> Passport {
    Passport::from_value(&json!({
        "passport_id": id, "kind": "template", "spec_version": "oap/1.0",
        "owner_id": "org_1", "owner_type": "org", "assurance_level": "L2", "status": "active",
        "capabilities": caps.iter().map(|c| json!({"id": c})).collect::<Vec<_>>(),
        "limits": limits, "regions": [],
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "version": "1.0.0"
    }))
    .unwrap()
}

fn agent() -> Passport {
    passport(
        ID,
        &["system.command.execute", "mcp.tool.execute"],
        json!({
            "system.command.execute": {
                "allowed_commands": ["git", "ls", "curl", "cargo"],
                "blocked_patterns": ["sudo"]
            },
            "mcp.tool.execute": {"allowed_servers": ["github", "jira"], "approval_required": true}
        }),
    )
}

fn org() -> Passport {
    passport(
        "00000000-0000-4000-8000-0000000000aa",
        &["system.command.execute", "mcp.tool.execute"],
        json!({
            "system.command.execute": {
                "allowed_commands": ["git", "ls", "cargo"],
                "blocked_patterns": ["git push --force"]
            },
            "mcp.tool.execute": {"allowed_servers": ["github"], "approval_required": true}
        }),
    )
}

fn run(layers: &[Layer], status: Option<&StatusView>, policy: &str, ctx: Value) -> Layered {
    let env = Environment::at(OffsetDateTime::from_unix_timestamp(NOW).unwrap())
        .with_roots(["/repo", "/p"]);
    let req = Request {
        policy_id: policy.into(),
        context: ctx.as_object().unwrap().clone(),
    };
    let catalog = Catalog::embedded().unwrap();
    decide(
        layers,
        status,
        &catalog,
        &req,
        &StateSnapshot::default(),
        &env,
    )
}

use time::OffsetDateTime;

fn cmd(c: &str) -> Value {
    json!({"command": c, "cwd": "/repo"})
}

const CMD: &str = "system.command.execute.v1";

#[test]
fn the_org_ceiling_intersects_allowlists_and_unites_blocklists() {
    let (o, a) = (org(), agent());
    let l = layers(Some(&o), &a, None);
    // Both allow it.
    let r = run(&l, None, CMD, cmd("git status"));
    assert_eq!(
        r.evaluation.verdict,
        Verdict::Allow,
        "{:?}",
        r.evaluation.reasons
    );
    assert_eq!(r.deciding_layer, None);
    // The agent allows curl; the org does not.
    let r = run(&l, None, CMD, cmd("curl https://example.org"));
    assert_eq!(r.evaluation.verdict, Verdict::Deny);
    assert_eq!(r.deciding_layer.as_deref(), Some(ORG));
    assert!(r.evaluation.reasons[0].message.starts_with("org policy:"));
    assert!(r
        .evaluation
        .trace
        .iter()
        .any(|t| t.layer.as_deref() == Some(ORG)));
    // The org blocks a force push the agent's own list does not.
    let r = run(&l, None, CMD, cmd("git push --force origin main"));
    assert_eq!(r.evaluation.verdict, Verdict::Deny);
    assert_eq!(r.deciding_layer.as_deref(), Some(ORG));
    // The agent's block still holds under a wider org.
    let wide = passport(
        "00000000-0000-4000-8000-0000000000bb",
        &["system.command.execute"],
        json!({"system.command.execute": {"allowed_commands": ["sudo", "git"]}}),
    );
    let l = layers(Some(&wide), &a, None);
    let r = run(&l, None, CMD, cmd("sudo ls"));
    assert_eq!(r.evaluation.verdict, Verdict::Deny);
    assert_eq!(r.deciding_layer.as_deref(), Some(PASSPORT));
}

#[test]
fn a_capability_the_org_does_not_grant_is_denied_by_the_org() {
    let o = passport(
        "00000000-0000-4000-8000-0000000000aa",
        &["system.command.execute"],
        json!({}),
    );
    let a = agent();
    let l = layers(Some(&o), &a, None);
    let r = run(
        &l,
        None,
        "mcp.tool.execute.v1",
        json!({"server": "github", "tool": "create_issue"}),
    );
    assert_eq!(r.evaluation.verdict, Verdict::Deny);
    assert_eq!(r.deciding_layer.as_deref(), Some(ORG));
    assert_eq!(r.evaluation.reasons[0].code, ReasonCode::UnknownCapability);
    // A limit only the agent sets stays the agent's (the org set no command limits).
    let r = run(&l, None, CMD, cmd("git log"));
    assert_eq!(
        r.evaluation.verdict,
        Verdict::Allow,
        "{:?}",
        r.evaluation.reasons
    );
}

#[test]
fn approvals_add_up_across_layers() {
    let (o, a) = (org(), agent());
    let r = run(
        &layers(Some(&o), &a, None),
        None,
        "mcp.tool.execute.v1",
        json!({"server": "github", "tool": "create_issue"}),
    );
    assert_eq!(
        r.evaluation.verdict,
        Verdict::Review,
        "{:?}",
        r.evaluation.reasons
    );
    assert_eq!(r.approvals, 2);
    let r = run(
        &layers(None, &a, None),
        None,
        "mcp.tool.execute.v1",
        json!({"server": "github", "tool": "create_issue"}),
    );
    assert_eq!(r.approvals, 1);
}

fn view(seq: u64, st: FleetStatus, verified_at: Option<i64>) -> StatusView {
    let key = KeyPair::generate();
    let mut t = crate::passport::TrustStore::default();
    t.insert(key.public());
    let v = verify(&serde_json::to_vec(&sign(doc(seq, st), &key)).unwrap(), &t).unwrap();
    StatusView {
        source: "https://status.example/status.json".into(),
        current: Some((&v).into()),
        verified_at,
        max_stale_s: 600,
        problem: None,
    }
}

#[test]
fn the_status_gate_names_each_way_it_denies() {
    let code = |v: &StatusView, id: &str| status_gate(v, id, NOW).map_err(|r| r.code);
    let fresh = view(3, FleetStatus::Active, Some(NOW - 10));
    assert!(code(&fresh, ID).unwrap().contains("(10s old)"));
    assert_eq!(
        code(&fresh, "00000000-0000-4000-8000-000000000001"),
        Err(ReasonCode::StatusUnknownPassport)
    );
    let sus = view(4, FleetStatus::Suspended, Some(NOW - 10));
    assert_eq!(code(&sus, ID), Err(ReasonCode::PassportSuspended));
    let rev = view(4, FleetStatus::Revoked, Some(NOW - 10));
    assert_eq!(code(&rev, ID), Err(ReasonCode::PassportSuspended));
    let stale = view(3, FleetStatus::Active, Some(NOW - 601));
    assert_eq!(code(&stale, ID), Err(ReasonCode::StatusStale));
    let edge = view(3, FleetStatus::Active, Some(NOW - 600));
    assert!(code(&edge, ID).is_ok());
    let mut none = fresh.clone();
    none.current = None;
    none.problem = Some("connection refused".into());
    let e = status_gate(&none, ID, NOW).unwrap_err();
    assert_eq!(e.code, ReasonCode::StatusUnavailable);
    assert!(e.message.contains("connection refused"));
    let mut expired = fresh.clone();
    if let Some(c) = &mut expired.current {
        c.expires_at = NOW - 1;
    }
    assert_eq!(code(&expired, ID), Err(ReasonCode::StatusExpired));
}

#[test]
fn a_suspended_status_denies_before_any_layer_and_says_so() {
    let a = agent();
    let l = layers(None, &a, None);
    let sus = view(9, FleetStatus::Suspended, Some(NOW - 5));
    let r = run(&l, Some(&sus), CMD, cmd("git status"));
    assert_eq!(r.evaluation.verdict, Verdict::Deny);
    assert_eq!(r.deciding_layer.as_deref(), Some(STATUS));
    assert_eq!(r.evaluation.reasons[0].code, ReasonCode::PassportSuspended);
    let ok = view(9, FleetStatus::Active, Some(NOW - 5));
    let r = run(&l, Some(&ok), CMD, cmd("git status"));
    assert_eq!(r.evaluation.verdict, Verdict::Allow);
    assert_eq!(r.evaluation.trace[0].check, STATUS);
}

#[test]
fn a_subagent_is_decided_under_its_delegation() {
    let mut v = agent().to_value();
    // Commands that read files are checked as reads too.
    v["capabilities"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "data.file.read"}));
    v["limits"]["data.file.read"] = json!({"allowed_paths": ["**"]});
    v["metadata"] = json!({"delegations": [{
        "agent_type": "code-reviewer",
        "capabilities": ["system.command.execute", "data.file.read"],
        "limits": {"system.command.execute": {"allowed_commands": ["git diff", "git log"]}}
    }]});
    let a = Passport::from_value(&v).unwrap();
    let catalog = Catalog::embedded().unwrap();
    let ds = delegation::delegations(&a, &catalog).unwrap();
    let l = layers(None, &a, ds.first());
    let r = run(&l, None, CMD, cmd("git diff HEAD"));
    assert_eq!(
        r.evaluation.verdict,
        Verdict::Allow,
        "{:?}",
        r.evaluation.reasons
    );
    let r = run(&l, None, CMD, cmd("git commit -m x"));
    assert_eq!(r.evaluation.verdict, Verdict::Deny);
    assert_eq!(
        r.deciding_layer.as_deref(),
        Some("delegation:code-reviewer")
    );
    let r = run(
        &l,
        None,
        "mcp.tool.execute.v1",
        json!({"server": "github", "tool": "x"}),
    );
    assert_eq!(r.evaluation.verdict, Verdict::Deny);
    // The parent alone still may.
    let r = run(&layers(None, &a, None), None, CMD, cmd("git commit -m x"));
    assert_eq!(r.evaluation.verdict, Verdict::Allow);
}

#[test]
fn effective_shows_the_combination() {
    let (o, a) = (org(), agent());
    let e = effective(&layers(Some(&o), &a, None), &Catalog::embedded().unwrap());
    let cmd = &e["limits"]["system.command.execute"];
    assert_eq!(cmd["allowed_commands"], json!(["git", "ls", "cargo"]));
    assert_eq!(cmd["blocked_patterns"], json!(["git push --force", "sudo"]));
    assert_eq!(
        e["limits"]["mcp.tool.execute"]["allowed_servers"],
        json!(["github"])
    );
    assert_eq!(
        e["limits"]["mcp.tool.execute"]["approvals_required"],
        json!(2)
    );
    assert_eq!(e["layers"][0]["layer"], json!(ORG));
}

fn refund_agent() -> Passport {
    passport(
        ID,
        &["finance.payment.refund"],
        json!({"finance.payment.refund": {
            "currency_limits": {"USD": {"max_per_tx": 5000, "daily_cap": 6000}},
            "idempotency_required": true
        }}),
    )
}

fn refund_ctx(amount: u64, key: &str) -> Map<String, Value> {
    json!({"amount": amount, "currency": "USD", "idempotency_key": key})
        .as_object()
        .unwrap()
        .clone()
}

#[test]
fn the_stateless_part_runs_first_and_the_state_finishes_it_in_pack_order() {
    let env =
        Environment::at(OffsetDateTime::from_unix_timestamp(NOW).unwrap()).with_roots(["/repo"]);
    let catalog = Catalog::embedded().unwrap();
    // A file write's checks read no state: all of them run before the lock (only the
    // passport's replay mark is read from the state, under it).
    let writer = passport(
        ID,
        &["data.file.write"],
        json!({"data.file.write": {"allowed_paths": ["**"], "blocked_paths": []}}),
    );
    let layers = super::layers(None, &writer, None);
    let req = Request {
        policy_id: "data.file.write.v1".into(),
        context: json!({"path": "/repo/a.txt", "cwd": "/repo", "content": "x"})
            .as_object()
            .unwrap()
            .clone(),
    };
    let pre = prepare(&layers, None, &catalog, &req, &env);
    assert!(pre.needs_state(&layers));
    assert_eq!(
        pre.complete(&layers, &catalog, &StateSnapshot::default(), &env)
            .evaluation
            .verdict,
        Verdict::Allow
    );

    // A refund's daily cap and idempotency wait for the state, and what the state says decides.
    let p = refund_agent();
    let layers = super::layers(None, &p, None);
    let req = Request {
        policy_id: "finance.payment.refund.v1".into(),
        context: refund_ctx(4000, "key-0001"),
    };
    let pre = prepare(&layers, None, &catalog, &req, &env);
    assert!(pre.needs_state(&layers));
    let fresh = pre.complete(&layers, &catalog, &StateSnapshot::default(), &env);
    assert_eq!(
        fresh.evaluation.verdict,
        Verdict::Allow,
        "{:#?}",
        fresh.evaluation
    );
    let mut spent = StateSnapshot::default();
    spent.apply(&fresh.evaluation.state_changes, NOW);
    let again =
        prepare(&layers, None, &catalog, &req, &env).complete(&layers, &catalog, &spent, &env);
    assert_eq!(again.evaluation.verdict, Verdict::Deny);
    // The same as deciding in one go, reasons and trace in the pack's order.
    let whole = decide(&layers, None, &catalog, &req, &spent, &env);
    assert_eq!(whole.evaluation.reasons, again.evaluation.reasons);
    let names = |l: &Layered| {
        l.evaluation
            .trace
            .iter()
            .map(|t| t.check.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&whole), names(&again));
    let pack = catalog.pack("finance.payment.refund.v1").unwrap();
    let in_pack: Vec<String> = pack.checks.iter().map(|c| c.name()).collect();
    let traced: Vec<String> = names(&again)
        .into_iter()
        .filter(|n| in_pack.contains(n))
        .collect();
    assert_eq!(traced, in_pack, "held-back checks keep their place");
    assert!(again
        .evaluation
        .trace
        .iter()
        .all(|t| t.detail != "waits for the state"));
}

#[test]
fn the_tripwire_is_part_of_the_decision() {
    let env =
        Environment::at(OffsetDateTime::from_unix_timestamp(NOW).unwrap()).with_roots(["/repo"]);
    let catalog = Catalog::embedded().unwrap();
    let mut v = agent().to_value();
    v["metadata"] = json!({"tripwire": {"max_denies": 2, "window_seconds": 60, "action": "deny"}});
    let p = Passport::from_value(&v).unwrap();
    assert_eq!(p.tripwire.as_ref().map(|t| t.max_denies), Some(2));
    let layers = super::layers(None, &p, None);
    let req = Request {
        policy_id: CMD.into(),
        context: cmd("git status").as_object().unwrap().clone(),
    };
    assert!(prepare(&layers, None, &catalog, &req, &env).needs_state(&layers));
    let state = StateSnapshot {
        denies: vec![NOW - 10, NOW - 5],
        ..Default::default()
    };
    let l = decide(&layers, None, &catalog, &req, &state, &env);
    assert_eq!(l.evaluation.verdict, Verdict::Deny);
    assert_eq!(l.evaluation.reasons[0].code, ReasonCode::TripwireTripped);
    // A harmless tool trips it too, and a malformed wire is refused when the passport loads.
    let h = prepare_harmless(&layers, None, "TodoWrite", env.now)
        .complete(&layers, &catalog, &state, &env);
    assert_eq!(h.evaluation.reasons[0].code, ReasonCode::TripwireTripped);
    v["metadata"] = json!({"tripwire": {"max_denies": 0, "window_seconds": 60}});
    assert_eq!(
        Passport::from_value(&v).unwrap_err().field,
        "metadata.tripwire"
    );
}

#[test]
fn a_harmless_tool_passes_the_same_status_gate_as_every_call() {
    let env_now = OffsetDateTime::from_unix_timestamp(NOW).unwrap();
    let catalog = Catalog::embedded().unwrap();
    let env = Environment::at(env_now);
    let mut v = agent().to_value();
    v["status"] = json!("suspended");
    let p = Passport::from_value(&v).unwrap();
    let layers = super::layers(None, &p, None);
    let h = prepare_harmless(&layers, None, "TodoWrite", env_now).complete(
        &layers,
        &catalog,
        &StateSnapshot::default(),
        &env,
    );
    let req = Request {
        policy_id: CMD.into(),
        context: cmd("git status").as_object().unwrap().clone(),
    };
    let c = decide(
        &layers,
        None,
        &catalog,
        &req,
        &StateSnapshot::default(),
        &env,
    );
    assert_eq!(h.evaluation.verdict, Verdict::Deny);
    // One sentence for a suspended passport, whatever the tool.
    assert_eq!(h.evaluation.reasons, c.evaluation.reasons);
}

/// A block filed under a pack's own key (APort's `limits["code.repository.merge"]`) is
/// layered like a capability's: the org's keys bound the agent's, the agent's own stay.
#[test]
fn the_org_ceiling_bounds_a_packs_own_limits_block() {
    let block = |repos: Value, prs: u64| {
        json!({"code.repository.merge": {"max_prs_per_day": prs, "max_merges_per_day": 5,
            "max_pr_size_kb": 100, "allowed_repos": repos}})
    };
    let agent = passport(ID, &["repo.pr.create"], block(json!(["acme/*"]), 10));
    let org = passport(
        "00000000-0000-4000-8000-0000000000aa",
        &["repo.pr.create"],
        block(json!(["acme/web"]), 10),
    );
    let pr = |repo: &str| json!({"repository": repo, "action": "pr.create", "branch": "feat/x"});
    const MERGE: &str = "code.repository.merge.v1";
    let alone = run(&layers(None, &agent, None), None, MERGE, pr("acme/api"));
    assert_eq!(
        alone.evaluation.verdict,
        Verdict::Allow,
        "{:?}",
        alone.evaluation.reasons
    );
    let both = run(
        &layers(Some(&org), &agent, None),
        None,
        MERGE,
        pr("acme/api"),
    );
    assert_eq!(both.evaluation.verdict, Verdict::Deny);
    assert_eq!(both.deciding_layer.as_deref(), Some(ORG));
    let ok = run(
        &layers(Some(&org), &agent, None),
        None,
        MERGE,
        pr("acme/web"),
    );
    assert_eq!(
        ok.evaluation.verdict,
        Verdict::Allow,
        "{:?}",
        ok.evaluation.reasons
    );
    // An org that sets nothing for the block still sees the agent's (no false policy error).
    let bare = passport(
        "00000000-0000-4000-8000-0000000000aa",
        &["repo.pr.create"],
        json!({}),
    );
    let view = ceiling_view(&bare, &agent);
    assert_eq!(
        view.limits_for("code.repository.merge").unwrap()["allowed_repos"],
        json!(["acme/*"])
    );
}

/// Limits written flat (a pack's `flat_limits`) are layered as values: an org's flat
/// allowlist bounds an agent's flat one, and an agent's flat values are not turned into
/// empty blocks by the org's view.
#[test]
fn the_org_ceiling_bounds_flat_limits_too() {
    let flat = |repos: Value| {
        json!({"max_prs_per_day": 10, "max_merges_per_day": 5, "max_pr_size_kb": 100,
               "allowed_repos": repos})
    };
    let agent = passport(ID, &["repo.pr.create"], flat(json!(["acme/*"])));
    let org = passport(
        "00000000-0000-4000-8000-0000000000aa",
        &["repo.pr.create"],
        flat(json!(["acme/web"])),
    );
    let view = ceiling_view(&org, &agent);
    assert_eq!(view.limits["allowed_repos"], json!(["acme/web"]));
    assert_eq!(view.limits["max_prs_per_day"], json!(10));
    let bare = passport(
        "00000000-0000-4000-8000-0000000000aa",
        &["repo.pr.create"],
        json!({}),
    );
    assert_eq!(
        ceiling_view(&bare, &agent).limits["allowed_repos"],
        json!(["acme/*"])
    );
    let pr = |repo: &str| json!({"repository": repo, "action": "pr.create", "branch": "feat/x"});
    const MERGE: &str = "code.repository.merge.v1";
    let decide = |org: Option<&Passport>, repo: &str| {
        run(&layers(org, &agent, None), None, MERGE, pr(repo)).evaluation
    };
    assert_eq!(decide(None, "acme/api").verdict, Verdict::Allow);
    assert_eq!(decide(None, "evil/api").verdict, Verdict::Deny);
    let e = decide(Some(&org), "acme/api");
    assert_eq!(e.verdict, Verdict::Deny, "{:?}", e.reasons);
    let e = decide(Some(&org), "acme/web");
    assert_eq!(e.verdict, Verdict::Allow, "{:?}", e.reasons);
}
