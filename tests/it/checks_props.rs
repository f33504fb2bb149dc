//! Property tests: the shell analysis and every check are total (never
//! panic, always decide), and path normalisation is idempotent.
//!
//! The runs are deterministic (a fixed seed): the same cases every time, so a
//! failure reproduces and a pass means the same thing on every machine. Set
//! `PROPTEST_RNG_SEED` to explore other cases locally.

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use serde_json::{json, Value};
use std::path::Path;
use toolgate::checks::{command, path, shell, url};
use toolgate::decision::{decide, Environment, NoFs, Request, Verdict};
use toolgate::packs::Catalog;
use toolgate::passport::Passport;
use toolgate::state::StateSnapshot;

fn passport(opt_in: bool) -> Passport {
    Passport::from_value(&json!({
        "passport_id": "00000000-0000-4000-8000-000000000002", "kind": "instance", "spec_version": "oap/1.0",
        "owner_id": "p", "owner_type": "user", "assurance_level": "L2", "status": "active",
        "capabilities": [{"id": "system.command.execute"}, {"id": "data.file.read"}, {"id": "data.file.write"},
                         {"id": "web.fetch"}, {"id": "finance.payment.refund"}],
        "limits": {
            "system.command.execute": {"allowed_commands": ["ls", "cat", "echo", "git status", "bash", "find", "cd", "xargs"],
                "blocked_patterns": ["rm -rf"], "allow_expansion": opt_in, "allow_substitution": opt_in,
                "allow_compound": opt_in, "allow_background": opt_in, "allow_functions": opt_in,
                "allow_interpreter_stdin": opt_in, "allowed_env_assignments": ["A"]},
            "data.file.read": {"allowed_paths": ["**"], "blocked_paths": ["**/.env"]},
            "data.file.write": {"allowed_paths": ["**"], "blocked_paths": [".git/**"]},
            "web.fetch": {"allowed_domains": ["*.example.org", "1.2.3.4"]},
            "finance.payment.refund": {"currency_limits": {"USD": {"max_per_tx": 100}}}
        },
        "regions": [], "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "version": "1.0.0"
    }))
    .unwrap()
}

fn run(policy: &str, context: Value, opt_in: bool) -> Verdict {
    let catalog = Catalog::embedded().unwrap();
    let env = Environment {
        rollout: Default::default(),
        now: time::macros::datetime!(2026-06-01 12:00 UTC),
        home: Some("/home/u".into()),
        roots: vec!["/p".into()],
        protected: toolgate::checks::protect::Protected::from_paths(["/p/.toolgate".into()]),
        fs: &NoFs,
    };
    let req = Request {
        policy_id: policy.into(),
        context: context.as_object().unwrap().clone(),
    };
    decide(
        &passport(opt_in),
        &catalog,
        &req,
        &StateSnapshot::default(),
        &env,
    )
    .verdict
}

/// Strings dense in shell syntax, so the parser's corners are reached.
fn shellish() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "ls", "cat", "rm", "-rf", " ", " ", "'", "\"", "\\", "$", "(", ")", "{", "}", ";", "&",
        "|", "<", ">", ">>", "2>&1", "`", "$(", "${", "<<", "EOF", "\n", "*", "?", "[", "]", "~",
        "=", "A=1", "#", "!", "if", "then", "fi", "for", "do", "done", "case", "esac", "in",
        ".env", "/", "..", "-c", "bash", "<(", "$((", "))", "[[", "]]", "coproc", "function",
        "xargs", "find", "-exec", "\t", "é", "<<  ", "<<-", "\\\n", "cd d ", "&&",
    ]);
    prop::collection::vec(atoms, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig {
        rng_seed: std::env::var("PROPTEST_RNG_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .map_or(RngSeed::Fixed(0x746f_6f6c_6761_7465), RngSeed::Fixed),
        ..ProptestConfig::with_cases(400)
    })]

    #[test]
    fn shell_analysis_never_panics(s in shellish()) {
        let _ = shell::analyze(&s);
    }

    #[test]
    fn shell_analysis_never_panics_on_any_text(s in "\\PC{0,80}") {
        let _ = shell::analyze(&s);
    }

    #[test]
    fn command_check_always_decides(s in shellish(), opt_in: bool) {
        let v = run("system.command.execute.v1", json!({"command": s, "cwd": "/p"}), opt_in);
        prop_assert!(matches!(v, Verdict::Allow | Verdict::Deny | Verdict::Review));
    }

    #[test]
    fn a_command_with_an_unlisted_program_is_never_allowed(prog in "[a-z]{2,8}", rest in shellish()) {
        prop_assume!(!["ls", "cat", "echo", "git", "bash", "find", "cd", "xargs", "if", "for", "case", "do", "done", "then", "fi", "esac", "in", "while", "until", "time", "function", "select", "coproc", "elif", "else"].contains(&prog.as_str()));
        let cmd = format!("{prog} {rest}");
        let v = run("system.command.execute.v1", json!({"command": cmd, "cwd": "/p"}), true);
        prop_assert_eq!(v, Verdict::Deny, "{}", cmd);
    }

    #[test]
    fn pattern_matching_is_total(p in "\\PC{0,20}", s in shellish()) {
        if let Ok(script) = shell::analyze(&s) {
            for c in &script.commands {
                let _ = command::pattern_matches(&p, &c.argv);
                let _ = command::prefix_len(&p, &c.argv);
            }
        }
    }

    #[test]
    fn normalization_is_idempotent(segs in prop::collection::vec(prop::sample::select(vec!["a", "b", ".", "..", "", "x.y", "..."]), 0..12)) {
        let raw = format!("/{}", segs.join("/"));
        let once = path::normalize(Path::new(&raw));
        prop_assert_eq!(path::normalize(&once), once.clone());
        prop_assert!(once.is_absolute());
        prop_assert!(!once.components().any(|c| matches!(c, std::path::Component::ParentDir | std::path::Component::CurDir)));
    }

    #[test]
    fn path_checks_always_decide(p in "\\PC{0,40}", write: bool) {
        let policy = if write { "data.file.write.v1" } else { "data.file.read.v1" };
        let _ = path::resolve(&p, Some("/p"));
        let v = run(policy, json!({"path": p, "cwd": "/p", "content": "x"}), false);
        prop_assert!(matches!(v, Verdict::Allow | Verdict::Deny | Verdict::Review));
    }

    #[test]
    fn url_checks_always_decide(host in "[a-z0-9.%@:\\[\\]\\\\-]{0,30}", scheme in prop::sample::select(vec!["http://", "https://", "ftp://", "", "HTTP://"])) {
        let u = format!("{scheme}{host}/x");
        let _ = url::domain_matches(&host, &host);
        let v = run("web.fetch.v1", json!({"url": u}), false);
        prop_assert!(matches!(v, Verdict::Allow | Verdict::Deny));
    }

    #[test]
    fn non_integer_amounts_are_refused(x in any::<f64>().prop_filter("not integral", |x| x.fract() != 0.0 || *x < 0.0)) {
        let v = run("finance.payment.refund.v1", json!({"amount": x, "currency": "USD"}), false);
        prop_assert_eq!(v, Verdict::Deny);
    }
}
