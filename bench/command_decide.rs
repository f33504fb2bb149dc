//! In-process cost of the pure decision for shell commands under the
//! coding-agent template: the first call (globs compiled) and the mean of the
//! next 100 (memoised), plus the shell analysis alone.
//!
//! Usage: cargo run --release --example command-decide -- 'git status' 'cat README.md' ...

// Test and measurement code: a panic is how it reports a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::json;
use std::time::Instant;
use toolgate::decision::{decide, Environment, NoFs, Request};
use toolgate::packs::Catalog;
use toolgate::passport::Passport;
use toolgate::state::StateSnapshot;

fn main() {
    let catalog = Catalog::embedded().expect("embedded packs");
    let mut v: serde_json::Value =
        serde_json::from_str(include_str!("../passports/coding-agent.json")).expect("template");
    v["kind"] = json!("instance");
    let p = Passport::from_value(&v).expect("passport");
    let env = Environment {
        rollout: Default::default(),
        now: time::OffsetDateTime::UNIX_EPOCH,
        home: Some("/home/u".into()),
        roots: vec!["/p".into()],
        protected: toolgate::checks::protect::Protected::with_names(),
        fs: &NoFs,
    };
    for cmd in std::env::args().skip(1) {
        let context = json!({"command": cmd, "cwd": "/p"});
        let req = Request {
            policy_id: "system.command.execute.v1".into(),
            context: context.as_object().expect("object").clone(),
        };
        let t = Instant::now();
        let ev = decide(&p, &catalog, &req, &StateSnapshot::default(), &env);
        let first = t.elapsed();
        let t = Instant::now();
        for _ in 0..100 {
            decide(&p, &catalog, &req, &StateSnapshot::default(), &env);
        }
        let warm = t.elapsed() / 100;
        let t = Instant::now();
        let _ = toolgate::checks::shell::analyze(&cmd);
        let analyze = t.elapsed();
        println!(
            "{:<6} first {:>9.1?}  warm {:>9.1?}  analyze {:>8.1?}  {cmd:?}",
            ev.verdict.as_str(),
            first,
            warm,
            analyze
        );
    }
}
