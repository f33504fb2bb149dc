//! The pack primitives added for APort's catalog, through the pure decision with the
//! built-in packs: each rule, a legitimate neighbour that stays allowed, and the aliases'
//! refusal to judge one spelling while another is in force.

use serde_json::{json, Value};
use toolgate::decision::{decide, Environment, Evaluation, Request, Verdict};
use toolgate::packs::Catalog;
use toolgate::passport::Passport;
use toolgate::state::StateSnapshot;

fn passport(assurance: &str, caps: &[&str], limits: Value) -> Passport {
    Passport::from_value(&json!({
        "passport_id": "550e8400-e29b-41d4-a716-446655440000", "kind": "template", "spec_version": "oap/1.0",
        "owner_id": "org_1", "owner_type": "org", "assurance_level": assurance, "status": "active",
        "capabilities": caps.iter().map(|c| json!({"id": c})).collect::<Vec<_>>(),
        "limits": limits, "regions": ["US", "EU"],
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "version": "1.0.0"
    }))
    .unwrap()
}

fn run(p: &Passport, policy: &str, ctx: Value) -> Evaluation {
    let env = Environment::at(time::macros::datetime!(2026-06-01 12:00 UTC)).with_roots(["/p"]);
    let req = Request {
        policy_id: policy.into(),
        context: ctx.as_object().unwrap().clone(),
    };
    decide(
        p,
        &Catalog::embedded().unwrap(),
        &req,
        &StateSnapshot::default(),
        &env,
    )
}

fn codes(e: &Evaluation) -> Vec<&str> {
    e.reasons.iter().map(|r| r.code.as_str()).collect()
}

fn charge_passport(assurance: &str) -> Passport {
    passport(
        assurance,
        &["payments.charge"],
        json!({"payments.charge": {
            "currency_limits": {"USD": {"max_per_tx": 20000, "daily_cap": 100000}},
            "allowed_merchant_ids": ["m_ok"], "allowed_countries": ["US"],
            "blocked_categories": ["weapons"], "max_items_per_tx": 2,
            "require_assurance_at_least": "L2"
        }}),
    )
}

fn charge(extra: Value) -> Value {
    let mut c = json!({"amount": 100, "currency": "USD", "merchant_id": "m_ok", "region": "US",
        "items": [{"sku": "a", "qty": 1, "category": "books"}], "idempotency_key": "charge-0001"});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

const CHARGE: &str = "finance.payment.charge.v1";

#[test]
fn charges_check_items_merchants_countries_and_categories() {
    let p = charge_passport("L2");
    assert_eq!(run(&p, CHARGE, charge(json!({}))).verdict, Verdict::Allow);
    let two = json!([{"sku": "a", "qty": 1}, {"sku": "b", "qty": 1}]);
    assert_eq!(
        run(&p, CHARGE, charge(json!({"items": two}))).verdict,
        Verdict::Allow
    );
    let three = json!([{"sku": "a", "qty": 1}, {"sku": "b", "qty": 1}, {"sku": "c", "qty": 1}]);
    assert_eq!(
        codes(&run(&p, CHARGE, charge(json!({"items": three})))),
        ["oap.limit_exceeded"]
    );
    assert_eq!(
        codes(&run(&p, CHARGE, charge(json!({"merchant_id": "m_bad"})))),
        ["oap.merchant_forbidden"]
    );
    assert_eq!(
        codes(&run(&p, CHARGE, charge(json!({"shipping_country": "BR"})))),
        ["oap.region_blocked"]
    );
    assert_eq!(
        run(&p, CHARGE, charge(json!({"shipping_country": "US"}))).verdict,
        Verdict::Allow
    );
    // A blocked category anywhere in the list, not only first.
    let mixed = json!([{"sku": "a", "qty": 1, "category": "books"}, {"sku": "b", "qty": 1, "category": "weapons"}]);
    assert_eq!(
        codes(&run(&p, CHARGE, charge(json!({"items": mixed})))),
        ["oap.category_blocked"]
    );
    // A category of the wrong type is refused, not skipped.
    let odd = json!([{"sku": "a", "qty": 1, "category": ["weapons"]}]);
    assert_eq!(
        codes(&run(&p, CHARGE, charge(json!({"items": odd}))))[0],
        "oap.invalid_context"
    );
    // APort's required_context: no items, a zero quantity, a short key.
    for bad in [
        json!({"items": []}),
        json!({"items": [{"sku": "a", "qty": 0}]}),
        json!({"idempotency_key": "k"}),
    ] {
        assert_eq!(
            codes(&run(&p, CHARGE, charge(bad.clone()))),
            ["oap.invalid_context"],
            "{bad}"
        );
    }
}

#[test]
fn a_limit_can_require_more_assurance_than_the_pack() {
    let mut p = charge_passport("L2");
    assert_eq!(run(&p, CHARGE, charge(json!({}))).verdict, Verdict::Allow);
    p.limits["payments.charge"]["require_assurance_at_least"] = json!("L3");
    assert_eq!(
        codes(&run(&p, CHARGE, charge(json!({})))),
        ["oap.assurance_insufficient"]
    );
    p.limits["payments.charge"]["require_assurance_at_least"] = json!("L9");
    assert_eq!(
        codes(&run(&p, CHARGE, charge(json!({})))),
        ["oap.policy_error"]
    );
}

fn refund_passport() -> Passport {
    passport(
        "L2",
        &["finance.payment.refund"],
        json!({"finance.payment.refund": {
            "currency_limits": {"USD": {"max_per_tx": 5000}, "EUR": {"max_per_tx": 5000}},
            "reason_codes": ["customer_request"]
        }}),
    )
}

const REFUND: &str = "finance.payment.refund.v1";

#[test]
fn refunds_stay_in_their_orders_currency_and_balance() {
    let p = refund_passport();
    let base = json!({"amount": 1000, "currency": "USD", "reason_code": "customer_request"});
    let with = |extra: Value| {
        let mut c = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    assert_eq!(
        run(&p, REFUND, with(json!({"order_currency": "USD"}))).verdict,
        Verdict::Allow
    );
    assert_eq!(
        codes(&run(&p, REFUND, with(json!({"order_currency": "EUR"})))),
        ["oap.cross_currency_denied"]
    );
    let balance = json!({"order_total_minor": 3000, "already_refunded_minor": 2000});
    assert_eq!(
        run(&p, REFUND, with(balance)).verdict,
        Verdict::Allow,
        "exactly the balance"
    );
    let over = json!({"order_total_minor": 3000, "already_refunded_minor": 2001});
    assert_eq!(codes(&run(&p, REFUND, with(over))), ["oap.limit_exceeded"]);
    assert_eq!(
        codes(&run(&p, REFUND, with(json!({"order_total_minor": 999})))),
        ["oap.limit_exceeded"],
        "an absent already_refunded counts 0"
    );
}

#[test]
fn aliases_read_other_names_and_refuse_a_name_given_twice_differently() {
    let p = refund_passport();
    let aliased =
        json!({"amount_minor": 6000, "currency": "USD", "reason_code": "customer_request"});
    assert_eq!(
        codes(&run(&p, REFUND, aliased)),
        ["oap.limit_exceeded"],
        "amount_minor is the amount"
    );
    let same = json!({"amount_minor": 100, "amount": 100, "currency": "USD", "reason_code": "customer_request"});
    assert_eq!(run(&p, REFUND, same).verdict, Verdict::Allow);
    let decoy = json!({"amount_minor": 6000, "amount": 100, "currency": "USD", "reason_code": "customer_request"});
    assert_eq!(codes(&run(&p, REFUND, decoy)), ["oap.invalid_context"]);

    let mut q = refund_passport();
    let l = q.limits["finance.payment.refund"].as_object_mut().unwrap();
    l.remove("reason_codes");
    l.insert("refund_reason_codes".into(), json!(["duplicate"]));
    let ctx = json!({"amount": 100, "currency": "USD", "reason_code": "customer_request"});
    assert_eq!(
        codes(&run(&q, REFUND, ctx.clone())),
        ["oap.value_not_allowed"],
        "the alias is the list"
    );
    q.limits["finance.payment.refund"]["reason_codes"] = json!(["customer_request"]);
    assert_eq!(
        codes(&run(&q, REFUND, ctx)),
        ["oap.policy_error"],
        "both names, different lists"
    );
    assert!(
        Catalog::embedded().unwrap().unknown_limit(&q).is_none(),
        "an alias is a known limit"
    );
}

#[test]
fn supported_currencies_narrows_the_currencies_with_limits() {
    let mut p = refund_passport();
    let ctx = json!({"amount": 100, "currency": "EUR", "reason_code": "customer_request"});
    assert_eq!(run(&p, REFUND, ctx.clone()).verdict, Verdict::Allow);
    p.limits["finance.payment.refund"]["supported_currencies"] = json!(["USD"]);
    assert_eq!(codes(&run(&p, REFUND, ctx)), ["oap.currency_unsupported"]);
}

#[test]
fn amount_tiered_assurance_takes_the_smallest_covering_tier() {
    let mut c = Catalog::embedded().unwrap();
    let mut pack: toolgate::packs::Pack = serde_json::from_value(json!({
        "id": "test.tiers.v1", "name": "t", "description": "t", "version": "1.0.0", "status": "active",
        "requires_capabilities": ["finance.payment.refund"], "min_assurance": "L0",
        "required_fields": ["amount"],
        "checks": [{"check": "assurance_tiers", "amount_field": "amount",
            "tiers": [{"lte": 50000, "min_level": "L3"}, {"lte": 10000, "min_level": "L2"}]}]
    }))
    .unwrap();
    pack.id = "test.tiers.v1".into();
    c.insert_pack(pack).unwrap();
    let p = refund_passport();
    let env = Environment::at(time::macros::datetime!(2026-06-01 12:00 UTC));
    let ask = |amount: u64| {
        let req = Request {
            policy_id: "test.tiers.v1".into(),
            context: json!({"amount": amount}).as_object().unwrap().clone(),
        };
        decide(&p, &c, &req, &StateSnapshot::default(), &env)
    };
    assert_eq!(ask(10000).verdict, Verdict::Allow, "L2 covers up to 10000");
    assert_eq!(codes(&ask(10001)), ["oap.assurance_insufficient"]);
    assert_eq!(
        codes(&ask(50001)),
        ["oap.limit_exceeded"],
        "above every tier"
    );
}

#[test]
fn messages_go_to_allowed_channels_with_the_packs_own_codes() {
    let p = passport(
        "L0",
        &["messaging.send"],
        json!({"messaging.send": {"allowed_channels": ["C-ops"], "max_mentions": 1}}),
    );
    let m = |extra: Value| {
        let mut c =
            json!({"channel_id": "C-ops", "message": "deploy done", "message_type": "text"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    const SEND: &str = "messaging.message.send.v1";
    assert_eq!(run(&p, SEND, m(json!({}))).verdict, Verdict::Allow);
    assert_eq!(
        codes(&run(&p, SEND, m(json!({"channel_id": "C-all"})))),
        ["oap.channel_not_allowed"]
    );
    assert_eq!(
        codes(&run(&p, SEND, m(json!({"mentions": ["@a", "@b"]})))),
        ["oap.too_many_mentions"]
    );
    assert_eq!(
        run(&p, SEND, m(json!({"mentions": ["@a"]}))).verdict,
        Verdict::Allow
    );
    let long = "x".repeat(2001);
    assert_eq!(
        codes(&run(&p, SEND, m(json!({"message": long})))),
        ["oap.invalid_context"]
    );
    assert_eq!(
        codes(&run(&p, SEND, m(json!({"message_type": "shout"})))),
        ["oap.invalid_context"]
    );
}

#[test]
fn browser_actions_and_their_urls_are_checked() {
    let p = passport(
        "L0",
        &["web.browser"],
        json!({"web.browser": {"allowed_domains": ["example.com"], "allowed_actions": ["navigate", "click"]}}),
    );
    const BROWSE: &str = "web.browser.v1";
    let go = |url: &str| json!({"action": "navigate", "url": url});
    assert_eq!(
        run(&p, BROWSE, go("https://example.com/a")).verdict,
        Verdict::Allow
    );
    assert_eq!(
        codes(&run(&p, BROWSE, go("https://evil.test/"))),
        ["oap.domain_not_allowed"]
    );
    assert_eq!(
        codes(&run(&p, BROWSE, go("https://example.com@evil.test/"))),
        ["oap.url_invalid"]
    );
    assert_eq!(
        run(&p, BROWSE, json!({"action": "click", "selector": "#ok"})).verdict,
        Verdict::Allow
    );
    assert_eq!(
        codes(&run(&p, BROWSE, json!({"action": "extract"}))),
        ["oap.action_not_allowed"]
    );
    assert_eq!(
        codes(&run(&p, BROWSE, json!({"action": "fly"}))),
        ["oap.invalid_context"]
    );
}

#[test]
fn a_reason_with_a_pack_code_reads_back() {
    // Pack codes travel through audit records: a reason with one parses back.
    let r: toolgate::reason::Reason =
        serde_json::from_value(json!({"code": "oap.channel_not_allowed", "message": "m"})).unwrap();
    assert_eq!(r.code.as_str(), "oap.channel_not_allowed");
}
