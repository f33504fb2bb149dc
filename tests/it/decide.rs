//! The pure decision, tested with plain values: no disk, no clock, no keys.

use serde_json::{json, Value};
use toolgate::decision::{decide, Environment, Evaluation, NoFs, Outcome, Request, Verdict};
use toolgate::packs::Catalog;
use toolgate::passport::Passport;
use toolgate::state::{StateChange, StateSnapshot};

fn passport(caps: &[&str], limits: Value) -> Passport {
    Passport::from_value(&json!({
        "passport_id": "550e8400-e29b-41d4-a716-446655440000", "kind": "template", "spec_version": "oap/1.0",
        "owner_id": "org_1", "owner_type": "org", "assurance_level": "L2", "status": "active",
        "capabilities": caps.iter().map(|c| json!({"id": c})).collect::<Vec<_>>(),
        "limits": limits, "regions": ["US", "EU"],
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "version": "1.0.0"
    }))
    .unwrap()
}

fn refund_passport() -> Passport {
    passport(
        &["finance.payment.refund"],
        json!({"finance.payment.refund": {
            "currency_limits": {"USD": {"max_per_tx": 5000, "daily_cap": 8000}},
            "reason_codes": ["customer_request"], "idempotency_required": true
        }}),
    )
}

fn run(p: &Passport, policy: &str, ctx: Value, state: &StateSnapshot) -> Evaluation {
    let env = Environment {
        rollout: Default::default(),
        now: time::macros::datetime!(2026-06-01 12:00 UTC),
        home: None,
        roots: vec!["/p".into()],
        protected: toolgate::checks::protect::Protected::from_paths([
            "/home/u/.config/toolgate".into()
        ]),
        fs: &NoFs,
    };
    let req = Request {
        policy_id: policy.into(),
        context: ctx.as_object().unwrap().clone(),
    };
    decide(p, &Catalog::embedded().unwrap(), &req, state, &env)
}

fn code(e: &Evaluation) -> &str {
    e.reasons[0].code.as_str()
}

const REFUND: &str = "finance.payment.refund.v1";

#[test]
fn refunds_enforce_amounts_currencies_and_reasons() {
    let p = refund_passport();
    let s = StateSnapshot::default();
    let ok = run(
        &p,
        REFUND,
        json!({"amount": 5000, "currency": "USD", "reason_code": "customer_request", "idempotency_key": "refund-a"}),
        &s,
    );
    assert_eq!(ok.verdict, Verdict::Allow, "{:#?}", ok.trace);
    assert!(ok.state_changes.contains(&StateChange::Spend {
        capability: "finance.payment.refund".into(),
        currency: "USD".into(),
        amount: 5000
    }));
    assert_eq!(
        code(&run(
            &p,
            REFUND,
            json!({"amount": 5001, "currency": "USD", "idempotency_key": "refund-a"}),
            &s
        )),
        "oap.limit_exceeded"
    );
    assert_eq!(
        code(&run(
            &p,
            REFUND,
            json!({"amount": 1, "currency": "EUR", "idempotency_key": "refund-a"}),
            &s
        )),
        "oap.currency_unsupported"
    );
    assert_eq!(
        code(&run(
            &p,
            REFUND,
            json!({"amount": 1, "currency": "usd", "idempotency_key": "refund-a"}),
            &s
        )),
        "oap.invalid_context"
    );
    assert_eq!(
        code(&run(
            &p,
            REFUND,
            json!({"amount": 1, "currency": "USD", "reason_code": "whim", "idempotency_key": "refund-a"}),
            &s
        )),
        "oap.value_not_allowed"
    );
    assert_eq!(
        code(&run(
            &p,
            REFUND,
            json!({"amount": 1, "currency": "USD"}),
            &s
        )),
        "oap.invalid_context",
        "idempotency_required needs a key"
    );
}

#[test]
fn amounts_that_are_not_plain_minor_unit_integers_are_refused() {
    let p = refund_passport();
    for bad in [
        json!("100"),
        json!(-1),
        json!(10.5),
        json!(true),
        json!(null),
        json!(9007199254740993u64),
        json!([1]),
        json!({"v": 1}),
    ] {
        let e = run(
            &p,
            REFUND,
            json!({"amount": bad, "currency": "USD", "idempotency_key": "refund-a"}),
            &StateSnapshot::default(),
        );
        assert_eq!(e.verdict, Verdict::Deny, "{bad}");
        assert_eq!(code(&e), "oap.invalid_context", "{bad}");
    }
}

#[test]
fn daily_caps_and_idempotency_read_the_state() {
    let p = refund_passport();
    let mut s = StateSnapshot::default();
    let first = run(
        &p,
        REFUND,
        json!({"amount": 5000, "currency": "USD", "idempotency_key": "refund-k1"}),
        &s,
    );
    assert_eq!(first.verdict, Verdict::Allow);
    s.apply(&first.state_changes, 0);
    let replay = run(
        &p,
        REFUND,
        json!({"amount": 10, "currency": "USD", "idempotency_key": "refund-k1"}),
        &s,
    );
    assert_eq!(code(&replay), "oap.idempotency_conflict");
    let over_cap = run(
        &p,
        REFUND,
        json!({"amount": 3001, "currency": "USD", "idempotency_key": "refund-k2"}),
        &s,
    );
    assert_eq!(code(&over_cap), "oap.limit_exceeded");
    assert!(
        over_cap.state_changes.is_empty(),
        "a denied call changes no state"
    );
    assert_eq!(
        run(
            &p,
            REFUND,
            json!({"amount": 3000, "currency": "USD", "idempotency_key": "refund-k2"}),
            &s
        )
        .verdict,
        Verdict::Allow
    );
}

#[test]
fn gates_run_before_checks_and_stop_the_pack() {
    let mut p = refund_passport();
    p.assurance_level = toolgate::passport::AssuranceLevel::L1;
    let e = run(
        &p,
        REFUND,
        json!({"amount": 1, "currency": "USD", "idempotency_key": "refund-a"}),
        &StateSnapshot::default(),
    );
    assert_eq!(code(&e), "oap.assurance_insufficient");
    assert!(
        !e.trace
            .iter()
            .any(|t| t.check.starts_with("currency_amount")),
        "no pack check runs after a failed gate"
    );

    let none = passport(&[], json!({}));
    assert_eq!(
        code(&run(
            &none,
            REFUND,
            json!({"amount": 1, "currency": "USD"}),
            &StateSnapshot::default()
        )),
        "oap.unknown_capability"
    );
    let no_limits = passport(&["finance.payment.refund"], json!({}));
    assert_eq!(
        code(&run(
            &no_limits,
            REFUND,
            json!({"amount": 1, "currency": "USD"}),
            &StateSnapshot::default()
        )),
        "oap.policy_error"
    );
    assert_eq!(
        code(&run(
            &refund_passport(),
            "no.such.pack.v1",
            json!({}),
            &StateSnapshot::default()
        )),
        "oap.unknown_policy"
    );
    let missing_field = run(
        &refund_passport(),
        REFUND,
        json!({"currency": "USD"}),
        &StateSnapshot::default(),
    );
    assert_eq!(code(&missing_field), "oap.invalid_context");
}

#[test]
fn a_limit_of_the_wrong_type_denies_instead_of_passing() {
    let p = passport(
        &["data.file.read"],
        json!({"data.file.read": {"allowed_paths": "**"}}),
    );
    let e = run(
        &p,
        "data.file.read.v1",
        json!({"path": "/p/a", "cwd": "/p"}),
        &StateSnapshot::default(),
    );
    assert_eq!(code(&e), "oap.policy_error");
    let p = passport(
        &["web.fetch"],
        json!({"web.fetch": {"allowed_domains": ["a.org"], "approval_required": "yes"}}),
    );
    assert_eq!(
        code(&run(
            &p,
            "web.fetch.v1",
            json!({"url": "https://a.org/"}),
            &StateSnapshot::default()
        )),
        "oap.policy_error"
    );
}

#[test]
fn deny_beats_review_and_review_beats_allow() {
    let p = passport(
        &["web.fetch"],
        json!({"web.fetch": {"allowed_domains": ["a.org"], "approval_required": true}}),
    );
    let s = StateSnapshot::default();
    assert_eq!(
        run(&p, "web.fetch.v1", json!({"url": "https://a.org/x"}), &s).verdict,
        Verdict::Review
    );
    let d = run(&p, "web.fetch.v1", json!({"url": "https://b.org/x"}), &s);
    assert_eq!(d.verdict, Verdict::Deny);
    assert!(
        d.reasons
            .iter()
            .all(|r| r.code.as_str() != "oap.approval_required"),
        "a deny lists only deny reasons"
    );
    assert_eq!(d.deciding_check().unwrap().check, "domain(url)");
}

#[test]
fn writes_to_toolgates_own_files_are_denied_whatever_the_passport_says() {
    let p = passport(
        &["data.file.write"],
        json!({"data.file.write": {"allowed_paths": ["/**"]}}),
    );
    let e = run(
        &p,
        "data.file.write.v1",
        json!({"path": "/home/u/.config/toolgate/trust/evil.jwk", "cwd": "/p"}),
        &StateSnapshot::default(),
    );
    assert_eq!(code(&e), "oap.path_not_allowed");
    let ok = run(
        &p,
        "data.file.write.v1",
        json!({"path": "/home/u/notes.txt", "cwd": "/p"}),
        &StateSnapshot::default(),
    );
    assert_eq!(ok.verdict, Verdict::Allow);
}

#[test]
fn rates_count_only_the_window() {
    let p = passport(
        &["web.fetch"],
        json!({"web.fetch": {"allowed_domains": ["a.org"], "max_requests_per_min": 2}}),
    );
    let now = time::macros::datetime!(2026-06-01 12:00 UTC).unix_timestamp();
    let mut s = StateSnapshot::default();
    s.recent_calls
        .insert("web.fetch".into(), vec![now - 120, now - 30]);
    assert_eq!(
        run(&p, "web.fetch.v1", json!({"url": "https://a.org/"}), &s).verdict,
        Verdict::Allow
    );
    s.recent_calls
        .insert("web.fetch".into(), vec![now - 30, now - 1]);
    assert_eq!(
        code(&run(
            &p,
            "web.fetch.v1",
            json!({"url": "https://a.org/"}),
            &s
        )),
        "oap.rate_limited"
    );
}

#[test]
fn the_trace_names_every_check_once_in_pack_order() {
    let p = refund_passport();
    let e = run(
        &p,
        REFUND,
        json!({"amount": 1, "currency": "USD", "idempotency_key": "refund-z"}),
        &StateSnapshot::default(),
    );
    let names: Vec<&str> = e.trace.iter().map(|t| t.check.as_str()).collect();
    assert_eq!(
        names[..5],
        [
            "passport.status",
            "passport.expiry",
            "capability",
            "assurance",
            "limits_required"
        ]
    );
    assert!(e
        .trace
        .iter()
        .any(|t| t.check == "region(region)" && t.outcome == Outcome::Skip));
}

#[test]
fn the_same_inputs_give_the_same_decision() {
    let p = refund_passport();
    let ctx = json!({"amount": 4999, "currency": "USD", "idempotency_key": "refund-d"});
    let a = run(&p, REFUND, ctx.clone(), &StateSnapshot::default());
    let b = run(&p, REFUND, ctx, &StateSnapshot::default());
    assert_eq!(
        serde_json::to_value(&a).unwrap(),
        serde_json::to_value(&b).unwrap()
    );
}

#[test]
fn explain_says_when_an_allowed_program_is_not_modelled() {
    let p = passport(
        &["system.command.execute"],
        json!({"system.command.execute": {"allowed_commands": ["frobnicate", "git status"]}}),
    );
    let s = StateSnapshot::default();
    let detail = |cmd: &str| {
        let e = run(&p, "system.command.execute.v1", json!({"command": cmd}), &s);
        assert_eq!(e.verdict, Verdict::Allow, "{cmd}: {:#?}", e.trace);
        e.trace
            .iter()
            .find(|t| t.check.starts_with("command"))
            .unwrap()
            .detail
            .clone()
    };
    assert!(detail("frobnicate --all").contains("`frobnicate` is not modelled"));
    assert!(!detail("git status").contains("not modelled"));
}

/// The coding-agent template must keep allowing what a developer runs all day,
/// now that git, build tools and text tools are modelled.
#[test]
fn coding_agent_template_allows_ordinary_developer_commands() {
    let mut v: Value =
        serde_json::from_str(include_str!("../../passports/coding-agent.json")).unwrap();
    v["kind"] = json!("instance");
    let p = Passport::from_value(&v).unwrap();
    let s = StateSnapshot::default();
    for cmd in [
        "git status",
        "git diff HEAD~1",
        "git diff --stat",
        "git log --oneline -n 5",
        "git log -p -- src/lib.rs",
        "git show HEAD:src/main.rs",
        "git add src/lib.rs",
        "git commit -m \"fix: parse empty input\"",
        "git restore src/lib.rs",
        "git restore --staged src/lib.rs",
        "git switch -c topic",
        "git branch -a",
        "cat README.md",
        "grep -rn TODO src",
        "rg -n unsafe src",
        "head -n 20 src/lib.rs",
        "wc -l src/lib.rs",
        "diff a.txt b.txt",
        "cargo build --release",
        "cargo test --all 2>&1 | tail -n 30",
        "cargo clippy --all-targets -- -D warnings",
        "npm test",
        "npm run build",
        "pytest -q tests/",
        "pytest -p no:cacheprovider -x",
        "python3 -m pytest -x",
        "make -j4",
        "make test",
        "go test ./...",
        "go build -o bin/app ./cmd/app",
    ] {
        let e = run(
            &p,
            "system.command.execute.v1",
            json!({"command": cmd, "cwd": "/p"}),
            &s,
        );
        assert_eq!(e.verdict, Verdict::Allow, "{cmd}: {:?}", e.reasons);
    }
}

/// `approve` and the gate agree on what no person may lift, read off a record.
#[test]
fn no_approval_lifts_early_denies_enforced_codes_and_protected_files() {
    use toolgate::decision::no_approval_lifts;
    use toolgate::reason::{Reason, ReasonCode};
    let r = |code, msg: &str| vec![Reason::new(code, msg)];
    let cmd = r(
        ReasonCode::CommandNotAllowed,
        "`cargo bench` is not allowed",
    );
    let check = "system.command.execute.v1/command(command)";
    assert!(!no_approval_lifts(Some(check), &cmd));
    assert!(no_approval_lifts(Some("none/gate"), &cmd));
    assert!(no_approval_lifts(
        Some("web.fetch.v1/gate"),
        &r(ReasonCode::PassportInvalid, "x")
    ));
    assert!(no_approval_lifts(
        Some(check),
        &r(ReasonCode::PassportSuspended, "x")
    ));
    let own = format!(
        "a hook config; {}",
        toolgate::checks::protect::PROTECTED_WHY
    );
    assert!(no_approval_lifts(
        Some("data.file.write.v1/path.write(file_path)"),
        &r(ReasonCode::PathNotAllowed, &own)
    ));
    // A check whose name has a `/` in it is still a pack's check, not the gate.
    let size = "code.repository.merge.v1/max_sum((lines_added + lines_removed) / 10)";
    assert!(!no_approval_lifts(
        Some(size),
        &r(ReasonCode::LimitExceeded, "too big")
    ));
    assert!(!no_approval_lifts(Some("x/gate-ish"), &cmd));
}
