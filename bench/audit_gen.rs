//! Writes a valid N-record audit log (chain, head, state) for a toolgate home,
//! signed with that home's key, so append latency can be measured against a
//! large log without running N hook processes.
//!
//! cargo run --release --example audit_gen -- HOME COUNT
//!
//! With `latency HOME_A HOME_B ROUNDS` it instead times `gate::evaluate` in
//! process, alternating between the two homes so machine load hits both alike,
//! and prints the median per home: process start-up noise left out.

// Test and measurement code: a panic is how it reports a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use toolgate::audit::head::{head_path, Head};
use toolgate::audit::log::key_b64;
use toolgate::audit::{Draft, Link, Record, GENESIS};
use toolgate::passport::KeyPair;
use toolgate::reason::{Reason, ReasonCode};

fn latency(a: &str, b: &str, rounds: usize) {
    let input = br#"{"hook_event_name":"PreToolUse","session_id":"s","tool_name":"Bash","tool_input":{"command":"git status"},"cwd":"/tmp"}"#;
    let locs: Vec<_> = [a, b]
        .iter()
        .map(|h| {
            let h = h.to_string();
            toolgate::home::resolve(
                &Default::default(),
                &move |k: &str| (k == "TOOLGATE_HOME").then(|| h.clone()),
                std::path::Path::new("/tmp"),
            )
        })
        .collect();
    let mut times = vec![Vec::with_capacity(rounds), Vec::with_capacity(rounds)];
    for _ in 0..rounds {
        for (i, loc) in locs.iter().enumerate() {
            let t = std::time::Instant::now();
            let o = toolgate::gate::evaluate(
                loc,
                input,
                &Default::default(),
                time::OffsetDateTime::now_utc(),
            );
            times[i].push(t.elapsed().as_secs_f64() * 1e3);
            assert!(
                o.record.is_some(),
                "not recorded: {:?}",
                o.evaluation.reasons
            );
        }
    }
    for (name, mut t) in [a, b].iter().zip(times) {
        t.sort_by(|x, y| x.partial_cmp(y).unwrap());
        println!(
            "{name}: median {:.3} ms, p10 {:.3} ms, p90 {:.3} ms over {rounds} calls",
            t[rounds / 2],
            t[rounds / 10],
            t[rounds * 9 / 10]
        );
    }
}

/// Splits verify-log's per-record cost into parse, hash and signature.
fn profile(log: &str) {
    use std::io::BufRead;
    let f = std::io::BufReader::new(std::fs::File::open(log).unwrap());
    let lines: Vec<String> = f.lines().take(20_000).map(|l| l.unwrap()).collect();
    let n = lines.len() as f64;
    let t = std::time::Instant::now();
    let recs: Vec<Record> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    println!(
        "parse  {:.2} us/record",
        t.elapsed().as_secs_f64() * 1e6 / n
    );
    let t = std::time::Instant::now();
    let hashes: Vec<String> = recs.iter().map(|r| r.compute_hash()).collect();
    println!(
        "hash   {:.2} us/record",
        t.elapsed().as_secs_f64() * 1e6 / n
    );
    let key = toolgate::passport::keys::decode_signature(&recs[0].signature).unwrap();
    let _ = key;
    let vk = {
        use base64::Engine;
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(recs[0].log_key.as_ref().unwrap())
            .unwrap();
        ed25519_dalek::VerifyingKey::from_bytes(&b.try_into().unwrap()).unwrap()
    };
    let sigs: Vec<_> = recs
        .iter()
        .map(|r| toolgate::passport::keys::decode_signature(&r.signature).unwrap())
        .collect();
    let t = std::time::Instant::now();
    let bs: usize = std::env::var("BS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    for (c, h) in sigs.chunks(bs).zip(hashes.chunks(bs)) {
        let msgs: Vec<&[u8]> = h.iter().map(|x| x.as_bytes()).collect();
        ed25519_dalek::verify_batch(&msgs, c, &vec![vk; c.len()]).unwrap();
    }
    println!(
        "batch  {:.2} us/record (ed25519_dalek::verify_batch, batches of {bs})",
        t.elapsed().as_secs_f64() * 1e6 / n
    );
    let t = std::time::Instant::now();
    let one = toolgate::audit::batch::BatchKey::new(vk);
    for (c, h) in sigs.chunks(bs).zip(hashes.chunks(bs)) {
        let msgs: Vec<&[u8]> = h.iter().map(|x| x.as_bytes()).collect();
        assert!(one.verify(&msgs, c));
    }
    println!(
        "batch1 {:.2} us/record (one-key batch, as verify-log uses)",
        t.elapsed().as_secs_f64() * 1e6 / n
    );
    let t = std::time::Instant::now();
    for (s, h) in sigs.iter().zip(&hashes).take(2000) {
        vk.verify_strict(h.as_bytes(), s).unwrap();
    }
    println!(
        "single {:.2} us/record",
        t.elapsed().as_secs_f64() * 1e6 / 2000.0
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args[1] == "profile" {
        return profile(&args[2]);
    }
    if args[1] == "latency" {
        return latency(&args[2], &args[3], args[4].parse().expect("ROUNDS"));
    }
    let home = std::path::PathBuf::from(&args[1]);
    let count: u64 = args[2].parse().expect("COUNT");
    let key = KeyPair::load(&home.join("keys/toolgate.key.jwk")).expect("home key");
    let log_path = home.join("audit/audit.jsonl");
    std::fs::create_dir_all(log_path.parent().unwrap()).unwrap();
    let mut out =
        std::io::BufWriter::with_capacity(1 << 22, std::fs::File::create(&log_path).unwrap());
    let ts = toolgate::canonical::timestamp(time::OffsetDateTime::now_utc());
    let mut prev = GENESIS.to_string();
    let mut rec = Draft::event("bench", &ts, vec![]);
    rec.event = None;
    rec.host = "claude-code".into();
    rec.tool = "Bash".into();
    rec.policy_id = "system.command.execute.v1".into();
    rec.agent_id = Some("bench-agent".into());
    rec.session_id = Some("bench-session".into());
    rec.reasons = vec![Reason::new(
        ReasonCode::Allowed,
        "every check of system.command.execute.v1 passed",
    )];
    // Every record has the same effect on the state (one agent, one day, no changes), so
    // the state each leaves has one digest, computed once.
    let mut state = toolgate::state::StateFile::default();
    let mut digest = None;
    let mut log_id = String::new();
    let mut last = None;
    for seq in 0..count {
        rec.decision_id = format!("00000000-0000-4000-8000-{seq:012}");
        state.apply(rec.decided());
        let link = Link {
            seq,
            prev_hash: prev,
            log_key: (seq == 0).then(|| key_b64(&key)),
            state_digest: Some(digest.get_or_insert_with(|| state.digest()).clone()),
        };
        let sealed = Record::seal(rec.clone(), link, &key);
        serde_json::to_writer(&mut out, &sealed).unwrap();
        out.write_all(b"\n").unwrap();
        prev = sealed.hash.clone();
        if seq == 0 {
            log_id = sealed.hash.clone();
        }
        last = Some(sealed);
    }
    out.flush().unwrap();
    drop(out);
    let Some(rec) = last else { return };
    Head::new(&log_id, &rec, &key)
        .store(&head_path(&log_path))
        .unwrap();
    let state_path = log_path.with_file_name("audit.jsonl.state");
    std::fs::write(state_path, state.to_bytes()).unwrap();
    eprintln!("wrote {count} records to {}", log_path.display());
}
