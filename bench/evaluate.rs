//! Whole-process benchmark of `toolgate evaluate`: spawns the real binary with
//! the hook input on stdin, as a host does, and reports wall-time percentiles
//! and peak RSS. Run through `bench/evaluate.sh`.
//!
//! Usage: bench-evaluate BIN TOOLGATE_HOME INPUT_FILE [RUNS] [-- EXTRA_ARGS...]

// Test and measurement code: a panic is how it reports a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Sample {
    wall: Duration,
    code: i32,
}

fn run_once(bin: &str, home: &str, input: &[u8], extra: &[String]) -> Sample {
    let start = Instant::now();
    let mut child = Command::new(bin)
        .arg("evaluate")
        .args(extra)
        .env("TOOLGATE_HOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // A process that exits without reading (the spawn-floor baseline) closes the pipe early.
    let _ = child.stdin.take().unwrap().write_all(input);
    let status = child.wait().expect("wait");
    let wall = start.elapsed();
    let code = status.code().unwrap_or(-1);
    Sample { wall, code }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: bench-evaluate BIN TOOLGATE_HOME INPUT_FILE [RUNS] [-- EXTRA_ARGS...]");
        std::process::exit(2);
    }
    let (bin, home) = (&args[1], &args[2]);
    let input = std::fs::read(&args[3]).expect("input file");
    let runs: usize = args
        .get(4)
        .filter(|a| *a != "--")
        .map_or(500, |r| r.parse().expect("RUNS"));
    let extra: Vec<String> = args
        .iter()
        .skip_while(|a| *a != "--")
        .skip(1)
        .cloned()
        .collect();
    for _ in 0..runs / 10 {
        run_once(bin, home, &input, &extra);
    }
    let samples: Vec<Sample> = (0..runs)
        .map(|_| run_once(bin, home, &input, &extra))
        .collect();
    let codes: std::collections::BTreeSet<i32> = samples.iter().map(|s| s.code).collect();
    let mut ms: Vec<f64> = samples.iter().map(|s| s.wall.as_secs_f64() * 1e3).collect();
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    // The largest peak RSS of any child reaped so far: every child is toolgate on this input.
    let rss = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map_or(0, |u| u.max_rss());
    println!(
        "runs={runs} exit_codes={codes:?} median_ms={:.3} p10_ms={:.3} p90_ms={:.3} p99_ms={:.3} peak_rss_kib={rss}",
        pct(&ms, 0.5),
        pct(&ms, 0.1),
        pct(&ms, 0.9),
        pct(&ms, 0.99)
    );
}
