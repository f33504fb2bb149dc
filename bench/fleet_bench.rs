//! Fleet status costs (bench/fleet.sh): the cache hit every decision pays in hybrid
//! mode, a refresh against a real HTTPS server on loopback, and the whole-process
//! decision with and without a remote status, interleaved so drift hits both alike.
//!
//! Usage: fleet-bench BIN [RUNS]

// Test and measurement code: a panic is how it reports a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../tests/it/harness/fleet.rs"]
mod fleet_support;

use fleet_support::{Pki, StaticHttps};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use toolgate::passport::TrustStore;
use toolgate::remote::{Fleet, RemoteConfig};

fn tg(bin: &str, home: &Path, args: &[&str]) {
    let out = Command::new(bin)
        .args(args)
        .env("TOOLGATE_HOME", home)
        .output()
        .expect("spawn toolgate");
    assert!(out.status.success(), "toolgate {args:?}: {out:?}");
}

fn ms(d: &[Duration], p: f64) -> f64 {
    let mut v: Vec<f64> = d.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn report(label: &str, d: &[Duration]) {
    println!(
        "{label:<44} median {:>8.4} ms  p99 {:>8.4} ms  (n={})",
        ms(d, 0.5),
        ms(d, 0.99),
        d.len()
    );
}

fn timed(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}

fn evaluate(bin: &str, home: &Path, input: &[u8]) -> Duration {
    let t = Instant::now();
    let mut child = Command::new(bin)
        .args(["evaluate", "--host", "claude-code"])
        .env("TOOLGATE_HOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let _ = child.stdin.take().unwrap().write_all(input);
    let status = child.wait().unwrap();
    let d = t.elapsed();
    assert_eq!(status.code(), Some(0), "the benchmark call must be allowed");
    d
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bin = args.get(1).expect("usage: fleet-bench BIN [RUNS]").clone();
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(400);
    let work = tempfile::tempdir().unwrap();
    let (floor_home, fleet_home) = (work.path().join("local"), work.path().join("fleet"));
    let site = work.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    tg(&bin, &floor_home, &["keygen", "--trust"]);
    tg(
        &bin,
        &floor_home,
        &["passport", "new", "--template", "coding-agent", "--sign"],
    );
    // The same key, trust store and passport in both homes: only the config differs.
    copy_dir(&floor_home, &fleet_home);
    let passport: serde_json::Value =
        serde_json::from_slice(&std::fs::read(floor_home.join("passport.json")).unwrap()).unwrap();
    let id = passport["passport_id"].as_str().unwrap().to_string();
    let out = site.to_str().unwrap();
    // A realistic fleet: this passport among 999 others.
    for i in 0..999u32 {
        let other = format!("00000000-0000-4000-8000-{i:012}");
        tg(
            &bin,
            &floor_home,
            &["passport", "resume", &other, "--out", out],
        );
    }
    tg(
        &bin,
        &floor_home,
        &["passport", "resume", &id, "--out", out],
    );
    let pki = Pki::new();
    let server = StaticHttps::start(&site, &pki);
    let ca = work.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let remote = RemoteConfig {
        status_url: server.url("status.json"),
        passport_url: None,
        ttl_s: 3600,
        max_stale_s: 86400,
        ca_file: Some(ca.clone()),
        timeout_ms: 2000,
    };
    std::fs::write(
        fleet_home.join("config.json"),
        serde_json::json!({"remote": remote}).to_string(),
    )
    .unwrap();
    let trust = TrustStore::load_dir(&fleet_home.join("trust")).unwrap();
    let fleet = Fleet::new(Some(remote), None, &fleet_home).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();

    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(
                |c| c.lines().find(|l| l.starts_with("model name")).map(|l| l
                    .split(':')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_string())
            )
            .unwrap_or_default()
    );
    let entries = std::fs::read(site.join("status.json")).unwrap().len();
    println!("status document: {entries} bytes");

    // Refresh: a full fetch and verify (nothing cached), then a conditional GET answered 304.
    let state = fleet_home.join("remote/state.json");
    let full = timed(runs / 4, || {
        let _ = std::fs::remove_file(&state);
        assert!(fleet.refresh(&trust, now, true).ok());
    });
    let not_modified = timed(runs / 4, || {
        assert!(fleet.refresh(&trust, now, true).ok());
    });
    // Cache hit: what each decision pays in hybrid mode (read, verify, look up).
    let hit = timed(runs * 5, || {
        let i = fleet.inputs(&trust, now);
        assert!(i.status.unwrap().view(&[&id]).current.is_some());
    });
    report("cache hit (in process: read + verify)", &hit);
    report("refresh, full fetch + verify (HTTPS)", &full);
    report("refresh, 304 not modified (HTTPS)", &not_modified);

    // Whole process, interleaved: the same allowed call, local status vs remote cache hit.
    let input = serde_json::json!({
        "session_id": "bench", "hook_event_name": "PreToolUse", "tool_name": "Bash",
        "tool_input": {"command": "git status -s"}, "cwd": work.path(), "tool_use_id": "t"
    })
    .to_string()
    .into_bytes();
    for home in [&floor_home, &fleet_home] {
        std::fs::write(
            home.join("config.json"),
            match home == &fleet_home {
                true => serde_json::json!({"remote": fleet.remote, "audit": {"sync": false}}),
                false => serde_json::json!({"audit": {"sync": false}}),
            }
            .to_string(),
        )
        .unwrap();
        evaluate(&bin, home, &input);
    }
    let (mut a, mut b) = (vec![], vec![]);
    for _ in 0..runs {
        a.push(evaluate(&bin, &floor_home, &input));
        b.push(evaluate(&bin, &fleet_home, &input));
    }
    report("whole process, local status (floor)", &a);
    report("whole process, remote status cache hit", &b);
    println!(
        "difference of medians: {:+.4} ms",
        ms(&b, 0.5) - ms(&a, 0.5)
    );
    drop(server);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}
