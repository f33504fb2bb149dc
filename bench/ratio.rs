//! Interleaved whole-process ratios (bench/ratio.sh). Every case is a real process
//! fed its input on stdin, as a host runs a hook; the cases run in a fresh random
//! order each round, so drift on a shared machine (frequency, another build) hits
//! every case alike. Prints each case's percentiles and peak RSS, then the ratios.
//!
//! Usage: bench-ratio SPEC ROUNDS
//!
//! SPEC lines (tab-separated; `#` starts a comment):
//!   case  NAME  PARALLEL  INPUT_FILE  ENV(K=V,K=V or -)  PROGRAM ARGS...
//!   ratio LABEL  NUMERATOR  DENOMINATOR  STAT(median|p99)  GOAL
//! A case with PARALLEL n starts n copies at once each round; each copy's wall time
//! is one sample, so its p99 is the p99 under n-way load.

// Test and measurement code: a panic is how it reports a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// wait4 is the only way to read one child's own peak RSS; a measurement tool, not shipped.
#![allow(unsafe_code)]

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Case {
    name: String,
    parallel: usize,
    input: Vec<u8>,
    env: Vec<(String, String)>,
    argv: Vec<String>,
    walls: Vec<f64>,
    max_rss_kib: i64,
    codes: std::collections::BTreeMap<i32, usize>,
}

struct Ratio {
    label: String,
    num: String,
    den: String,
    stat: String,
    goal: f64,
}

#[allow(clippy::zombie_processes)] // reaped by wait4, which also gives the child's rusage
fn spawn(c: &Case) -> (std::process::Child, Instant) {
    let start = Instant::now();
    let mut child = Command::new(&c.argv[0])
        .args(&c.argv[1..])
        .envs(c.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let _ = stdin.write_all(&c.input);
    drop(stdin);
    (child, start)
}

fn reap(child: &std::process::Child, start: Instant) -> (f64, i64, i32) {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for this child only.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(r, pid, "wait4 failed");
    let code = std::process::ExitStatus::from_raw(status)
        .code()
        .unwrap_or(-1);
    (wall.as_secs_f64() * 1e3, usage.ru_maxrss, code)
}

fn run_round(c: &mut Case) {
    if c.parallel <= 1 {
        let (child, start) = spawn(c);
        let (w, rss, code) = reap(&child, start);
        c.walls.push(w);
        c.max_rss_kib = c.max_rss_kib.max(rss);
        *c.codes.entry(code).or_default() += 1;
        return;
    }
    // n copies at once: each thread starts one and waits for its own.
    let barrier = std::sync::Barrier::new(c.parallel);
    let results: Vec<(f64, i64, i32)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..c.parallel)
            .map(|_| {
                let b = &barrier;
                let case = &*c;
                s.spawn(move || {
                    b.wait();
                    let (child, start) = spawn(case);
                    reap(&child, start)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("join"))
            .collect()
    });
    for (w, rss, code) in results {
        c.walls.push(w);
        c.max_rss_kib = c.max_rss_kib.max(rss);
        *c.codes.entry(code).or_default() += 1;
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// xorshift64*: a shuffle needs no crate.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: bench-ratio SPEC ROUNDS");
        std::process::exit(2);
    }
    let spec = std::fs::read_to_string(&args[1]).expect("spec file");
    let rounds: usize = args[2].parse().expect("ROUNDS");
    let mut cases = vec![];
    let mut ratios = vec![];
    for line in spec
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let f: Vec<&str> = line.split('\t').collect();
        match f[0] {
            "case" => cases.push(Case {
                name: f[1].into(),
                parallel: f[2].parse().expect("PARALLEL"),
                input: std::fs::read(f[3]).expect("input file"),
                env: if f[4] == "-" {
                    vec![]
                } else {
                    f[4].split(',')
                        .map(|kv| {
                            let (k, v) = kv.split_once('=').expect("K=V");
                            (k.into(), v.into())
                        })
                        .collect()
                },
                argv: f[5].split(' ').map(String::from).collect(),
                walls: vec![],
                max_rss_kib: 0,
                codes: Default::default(),
            }),
            "ratio" => ratios.push(Ratio {
                label: f[1].into(),
                num: f[2].into(),
                den: f[3].into(),
                stat: f[4].into(),
                goal: f[5].parse().expect("GOAL"),
            }),
            other => panic!("unknown spec line kind {other}"),
        }
    }
    // Warm the page cache and the logs once, unmeasured.
    for c in &mut cases {
        run_round(c);
        c.walls.clear();
        c.codes.clear();
    }
    let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ std::process::id() as u64;
    let mut order: Vec<usize> = (0..cases.len()).collect();
    let started = Instant::now();
    for _ in 0..rounds {
        for i in (1..order.len()).rev() {
            let j = (next(&mut seed) % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        for &i in &order {
            run_round(&mut cases[i]);
        }
    }
    let took = started.elapsed();
    println!(
        "{:<34} {:>7} {:>9} {:>9} {:>9} {:>9}  exit codes",
        "case", "samples", "median", "p90", "p99", "peak RSS"
    );
    let mut stats = std::collections::BTreeMap::new();
    for c in &mut cases {
        c.walls.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
        let (m, p90, p99) = (pct(&c.walls, 0.5), pct(&c.walls, 0.9), pct(&c.walls, 0.99));
        println!(
            "{:<34} {:>7} {:>7.3}ms {:>7.3}ms {:>7.3}ms {:>6.1} MB  {:?}",
            c.name,
            c.walls.len(),
            m,
            p90,
            p99,
            c.max_rss_kib as f64 / 1024.0,
            c.codes
        );
        stats.insert(c.name.clone(), (m, p99));
    }
    println!();
    println!("{:<58} {:>7} {:>7}  ", "ratio", "value", "goal");
    for r in &ratios {
        let get = |n: &str| stats.get(n).copied();
        let (Some(a), Some(b)) = (get(&r.num), get(&r.den)) else {
            println!("{:<58} missing case", r.label);
            continue;
        };
        let v = match r.stat.as_str() {
            "p99" => a.1 / b.1,
            _ => a.0 / b.0,
        };
        println!(
            "{:<58} {:>7.2} {:>7.2}  {}",
            r.label,
            v,
            r.goal,
            if v <= r.goal { "met" } else { "MISSED" }
        );
    }
    let _ = Duration::ZERO;
    println!("\n{rounds} rounds in {:.1}s", took.as_secs_f64());
}
