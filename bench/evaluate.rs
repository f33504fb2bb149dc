//! Whole-process benchmark of `toolgate evaluate`: spawns the real binary with
//! the hook input on stdin, as a host does, and reports wall-time percentiles
//! and peak RSS. Run through `bench/evaluate.sh`.
//!
//! Usage: bench-evaluate BIN TOOLGATE_HOME INPUT_FILE [RUNS] [-- EXTRA_ARGS...]

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Sample {
    wall: Duration,
    max_rss_kib: i64,
    code: i32,
}

#[allow(clippy::zombie_processes)] // reaped by wait4 below, which also yields the rusage
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
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // wait4 gives this child's own peak RSS, which Child::wait does not expose.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(r, pid, "wait4 failed");
    let code = std::process::ExitStatus::from_raw(status)
        .code()
        .unwrap_or(-1);
    Sample {
        wall,
        max_rss_kib: usage.ru_maxrss,
        code,
    }
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
    let rss = samples.iter().map(|s| s.max_rss_kib).max().unwrap_or(0);
    println!(
        "runs={runs} exit_codes={codes:?} median_ms={:.3} p10_ms={:.3} p90_ms={:.3} p99_ms={:.3} peak_rss_kib={rss}",
        pct(&ms, 0.5),
        pct(&ms, 0.1),
        pct(&ms, 0.9),
        pct(&ms, 0.99)
    );
}
