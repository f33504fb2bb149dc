//! An adversary with the disk, editing files with care after the fact: cutting the
//! tail and deleting the head, wiping the log, rolling it back, re-signing it with a
//! swapped key, editing the state, and setting the clock back. Each is refused by the
//! writer or named by `verify-log` (with a checkpoint where nothing local can tell),
//! and nothing heals without a person's recorded repair.

use crate::harness::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use toolgate::audit::head::{head_path, Head};
use toolgate::audit::{Draft, Record, RecordVerdict};
use toolgate::passport::KeyPair;

const N: usize = 6;

fn filled(home: &Home) {
    for i in 0..N {
        let cmd = if i % 3 == 2 { "sudo ls" } else { "git status" };
        home.evaluate(&bash(cmd));
    }
    assert_eq!(home.records().len(), N);
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn write_lines(path: &Path, ls: &[String]) {
    let text = if ls.is_empty() {
        String::new()
    } else {
        ls.join("\n") + "\n"
    };
    std::fs::write(path, text).unwrap();
}

fn head_file(home: &Home) -> PathBuf {
    home.path("audit/audit.jsonl.head")
}

fn state_file(home: &Home) -> PathBuf {
    home.path("audit/audit.jsonl.state")
}

/// The denial message of an unrecorded deny.
fn refused(o: &std::process::Output) -> String {
    assert_unrecorded_deny(o);
    decision(o)["reasons"][0]["message"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `verify-log --json` with the trust store's keys (the default) and extra args.
fn verify_default(home: &Home, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["verify-log", "--json"];
    args.extend_from_slice(extra);
    let o = home.output(&args);
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| json!({"stderr": text(&o.stderr), "stdout": text(&o.stdout)}));
    (o.status.code().unwrap_or(-1), v)
}

#[test]
fn a_cut_tail_with_head_and_state_deleted_is_refused_until_a_recorded_repair() {
    let home = Home::new("coding-agent");
    filled(&home);
    let log = home.log();
    let mut ls = lines(&log);
    ls.truncate(N - 2);
    write_lines(&log, &ls);
    std::fs::remove_file(head_file(&home)).unwrap();
    std::fs::remove_file(state_file(&home)).unwrap();

    // The old writer rebuilt the state and signed a fresh head here.
    let why = refused(&home.evaluate(&bash("git status")));
    assert!(why.contains("head is missing"), "{why}");
    assert!(why.contains("audit repair --accept-loss"), "{why}");
    assert!(!head_file(&home).exists(), "nothing was healed");
    let (rc, rep) = verify_default(&home, &[]);
    assert_eq!(rc, 1, "{rep}");
    assert_eq!(rep["tampering"], "truncation", "{rep}");

    // A repair without --accept-loss says what it found and changes nothing.
    let o = home.output(&["audit", "repair"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("head is missing"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(lines(&log).len(), N - 2);

    home.ok_text(&["audit", "repair", "--accept-loss"]);
    assert_eq!(code(&home.evaluate(&bash("git status"))), "oap.allowed");
    let (rc, rep) = verify_default(&home, &[]);
    assert_eq!(rc, 0, "{rep}");
    assert_eq!(rep["losses"][0]["found"], "head_missing", "{rep}");
    assert_eq!(rep["losses"][0]["seq"], (N - 2) as u64, "{rep}");
}

#[test]
fn a_cut_tail_under_its_head_names_the_missing_records_and_the_repair_records_them() {
    let home = Home::new("coding-agent");
    filled(&home);
    let head: Value =
        serde_json::to_value(Head::load(&head_file(&home)).unwrap().unwrap()).unwrap();
    let log = home.log();
    let mut ls = lines(&log);
    ls.truncate(N - 3);
    write_lines(&log, &ls);

    let why = refused(&home.evaluate(&bash("git status")));
    assert!(why.contains("3 record(s) are missing"), "{why}");
    home.ok_text(&["audit", "repair", "--accept-loss"]);
    let recs = home.records();
    let repair = recs.last().unwrap();
    assert_eq!(repair["event"], "audit.repair");
    assert_eq!(repair["lost"]["records"], 3);
    assert_eq!(repair["lost"]["last_seq"], (N - 1) as u64);
    assert_eq!(repair["lost"]["last_hash"], head["record"]["hash"]);
    assert_eq!(code(&home.evaluate(&bash("git status"))), "oap.allowed");
}

#[test]
fn only_the_last_record_cut_is_restored_from_the_head() {
    // The head is written first and holds the record: losing just the last line is
    // what an interrupted append looks like, and the next writer completes it.
    let home = Home::new("coding-agent");
    filled(&home);
    let log = home.log();
    let original = lines(&log);
    write_lines(&log, &original[..N - 1]);
    assert_eq!(code(&home.evaluate(&bash("git status"))), "oap.allowed");
    let now = lines(&log);
    assert_eq!(now.len(), N + 1);
    assert_eq!(now[N - 1], original[N - 1]);
    assert_eq!(verify_default(&home, &[]).0, 0);
}

#[test]
fn a_deleted_log_is_a_wipe_for_the_writer_and_for_verify_log() {
    let home = Home::new("coding-agent");
    filled(&home);
    let cp = home.path("witness.json");
    home.ok_text(&["audit", "checkpoint", "--out", cp.to_str().unwrap()]);
    std::fs::remove_file(home.log()).unwrap();
    std::fs::remove_file(state_file(&home)).unwrap();
    let why = refused(&home.evaluate(&bash("git status")));
    assert!(why.contains("log was deleted"), "{why}");
    let (rc, rep) = verify_default(&home, &[]);
    assert_eq!((rc, rep["tampering"].as_str()), (1, Some("wipe")), "{rep}");

    // Everything gone: locally a new chain starts, and only a checkpoint can tell.
    std::fs::remove_file(head_file(&home)).unwrap();
    assert_eq!(code(&home.evaluate(&bash("git status"))), "oap.allowed");
    assert_eq!(
        verify_default(&home, &[]).0,
        0,
        "nothing local says otherwise"
    );
    let (rc, rep) = verify_default(&home, &["--checkpoint", cp.to_str().unwrap()]);
    assert_eq!(rc, 1, "{rep}");
    assert_eq!(rep["tampering"], "wipe", "{rep}");
}

#[test]
fn the_recorded_repair_of_a_wipe_starts_a_chain_that_names_the_lost_one() {
    let home = Home::new("coding-agent");
    filled(&home);
    let head: Value =
        serde_json::to_value(Head::load(&head_file(&home)).unwrap().unwrap()).unwrap();
    std::fs::remove_file(home.log()).unwrap();
    home.ok_text(&["audit", "repair", "--accept-loss"]);
    let recs = home.records();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["lost"]["found"], "log_missing");
    assert_eq!(recs[0]["lost"]["records"], N as u64);
    assert_eq!(recs[0]["lost"]["log_id"], head["checkpoint"]["log_id"]);
    assert_eq!(code(&home.evaluate(&bash("git status"))), "oap.allowed");
}

/// Copies of the log, head and state as they are now.
fn snapshot(home: &Home) -> Vec<(PathBuf, Vec<u8>)> {
    [home.log(), head_file(home), state_file(home)]
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect()
}

fn restore(files: &[(PathBuf, Vec<u8>)]) {
    for (p, b) in files {
        std::fs::write(p, b).unwrap();
    }
}

#[test]
fn a_rollback_is_named_with_a_checkpoint_and_an_older_head_alone_is_refused() {
    let home = Home::new("coding-agent");
    filled(&home);
    let old = snapshot(&home);
    for _ in 0..3 {
        home.evaluate(&bash("git status"));
    }
    let cp = home.path("witness.json");
    home.ok_text(&["audit", "checkpoint", "--out", cp.to_str().unwrap()]);
    let cp_arg = ["--checkpoint", cp.to_str().unwrap()];
    assert_eq!(verify_default(&home, &cp_arg).0, 0);

    // Only the head put back: the log goes on past it.
    let newer = snapshot(&home);
    std::fs::write(&old[1].0, &old[1].1).unwrap();
    let why = refused(&home.evaluate(&bash("git status")));
    assert!(why.contains("older head was put back"), "{why}");
    let (rc, rep) = verify_default(&home, &[]);
    assert_eq!(
        (rc, rep["tampering"].as_str()),
        (1, Some("rollback")),
        "{rep}"
    );
    restore(&newer);

    // A consistent older copy of all three: nothing local can tell, a checkpoint can.
    restore(&old);
    assert_eq!(verify_default(&home, &[]).0, 0);
    let (rc, rep) = verify_default(&home, &cp_arg);
    assert_eq!(
        (rc, rep["tampering"].as_str()),
        (1, Some("rollback")),
        "{rep}"
    );
    // Rolled back and written on: the checkpoint's record is not the log's.
    for _ in 0..4 {
        home.evaluate(&bash("git status"));
    }
    let (rc, rep) = verify_default(&home, &cp_arg);
    assert_eq!(
        (rc, rep["tampering"].as_str()),
        (1, Some("rollback")),
        "{rep}"
    );
    assert!(
        rep["error"].as_str().unwrap().contains("rewritten"),
        "{rep}"
    );
}

/// Rewrites the log whole, every record re-chained and re-signed by `key`.
fn resign(home: &Home, key: &KeyPair, edit: impl Fn(&mut Draft)) {
    let log = home.log();
    let mut prev = toolgate::audit::GENESIS.to_string();
    let mut out = vec![];
    let mut last = None;
    for l in lines(&log) {
        let r: Record = serde_json::from_str(&l).unwrap();
        let (mut d, mut link) = r.into_parts();
        edit(&mut d);
        link.prev_hash = prev;
        if link.seq == 0 {
            link.log_key = Some(toolgate::audit::log::key_b64(key));
        }
        let r = Record::seal(d, link, key);
        prev = r.hash.clone();
        out.push(serde_json::to_string(&r).unwrap());
        last = Some(r);
    }
    write_lines(&log, &out);
    let first: Record = serde_json::from_str(&out[0]).unwrap();
    Head::new(&first.hash, &last.unwrap(), key)
        .store(&head_path(&log))
        .unwrap();
}

#[test]
fn a_log_re_signed_with_a_swapped_key_fails_against_the_pinned_keys() {
    let home = Home::new("coding-agent");
    filled(&home);
    let forger = KeyPair::generate();
    resign(&home, &forger, |r| {
        if r.verdict == RecordVerdict::Deny {
            r.verdict = RecordVerdict::Allow;
        }
    });
    // The swapped key replaces the one beside the log, as a forger with the disk would.
    std::fs::remove_file(home.path("keys/toolgate.key.jwk")).unwrap();
    std::fs::remove_file(home.path("keys/toolgate.pub.jwk")).unwrap();
    forger
        .save(
            &home.path("keys/toolgate.key.jwk"),
            &home.path("keys/toolgate.pub.jwk"),
        )
        .unwrap();
    let (rc, rep) = verify_default(&home, &[]);
    assert_eq!(rc, 1, "{rep}");
    assert!(
        rep["error"].as_str().unwrap().contains("pinned key"),
        "{rep}"
    );
    // The genuine log verifies against the same default, saying which key signed what.
    let real = Home::new("coding-agent");
    filled(&real);
    let (rc, rep) = verify_default(&real, &[]);
    assert_eq!(rc, 0, "{rep}");
    assert_eq!(rep["keys"][0]["trust"], "pinned", "{rep}");
    assert_eq!(rep["keys"][0]["last_seq"], (N - 1) as u64, "{rep}");
}

#[test]
fn verify_log_without_a_pinned_key_says_how_to_pin_one() {
    let home = Home::new("coding-agent");
    filled(&home);
    std::fs::remove_dir_all(home.path("trust")).ok();
    for e in std::fs::read_dir(home.home.as_path()).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("trust")
        {
            std::fs::remove_dir_all(&p).ok();
        }
    }
    let o = home.output(&["verify-log"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("trust add"), "{}", text(&o.stderr));
}

#[test]
fn an_edited_state_is_refused_until_rebuilt_and_the_rebuild_restores_the_cap() {
    let home = Home::new("refund-agent"); // daily cap 50000
    for i in 0..9 {
        assert_eq!(code(&home.refund(5000, &format!("k{i}"))), "oap.allowed");
    }
    // Reopen the cap and forget the keys, keeping seq and hash.
    let path = state_file(&home);
    let mut st: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for agent in st["agents"].as_object_mut().unwrap().values_mut() {
        agent["daily_totals"] = json!({});
        agent["idempotency_keys"] = json!([]);
    }
    std::fs::write(&path, st.to_string()).unwrap();
    let why = refused(&home.refund(5000, "k0"));
    assert!(why.contains("was edited"), "{why}");
    assert!(why.contains("rebuild-state"), "{why}");
    home.ok_text(&["audit", "rebuild-state"]);
    assert_eq!(code(&home.refund(5000, "k0")), "oap.idempotency_conflict");
    assert_eq!(code(&home.refund(5000, "k-new")), "oap.allowed");
    assert_eq!(code(&home.refund(5000, "k-over")), "oap.limit_exceeded");
    assert_eq!(verify_default(&home, &[]).0, 0);
}

#[test]
fn a_state_from_an_older_moment_is_refused_too() {
    let home = Home::new("refund-agent");
    assert_eq!(code(&home.refund(5000, "a")), "oap.allowed");
    let early = std::fs::read(state_file(&home)).unwrap();
    // Older than the records in view can prove: pad the log with many decisions.
    for i in 0..40 {
        home.refund(1, &format!("p{i}"));
    }
    std::fs::write(state_file(&home), early).unwrap();
    assert_unrecorded_deny(&home.refund(1, "b"));
}

fn in_process(home: &Home) -> toolgate::home::Locations {
    let h = home.home.as_path().to_string_lossy().into_owned();
    toolgate::home::resolve(
        &Default::default(),
        &move |k: &str| (k == "TOOLGATE_HOME").then(|| h.clone()),
        home.home.as_path(),
    )
}

#[test]
fn a_clock_set_back_reopens_no_daily_cap_and_is_noted() {
    let home = Home::new("refund-agent"); // daily cap 50000
    let loc = in_process(&home);
    let day = time::OffsetDateTime::now_utc().replace_time(time::macros::time!(12:00));
    let refund = |amount: u64, key: &str, at: time::OffsetDateTime| {
        let input = refund_call(amount, key).to_string();
        let o = toolgate::gate::evaluate(&loc, input.as_bytes(), &Default::default(), at);
        o.evaluation.reasons[0].code.as_str().to_string()
    };
    assert_eq!(refund(5000, "a", day), "oap.allowed");
    // The clock jumps a day ahead: the cap is spent there (max 5000 a refund).
    let tomorrow = day + time::Duration::days(1);
    for i in 0..10 {
        assert_eq!(refund(5000, &format!("b{i}"), tomorrow), "oap.allowed");
    }
    // Back to today: the old gate saw another day than its totals' and allowed it.
    assert_eq!(refund(5000, "c", day), "oap.limit_exceeded");
    let recs = home.records();
    let last = recs.last().unwrap();
    assert_eq!(
        last["ts"],
        recs[recs.len() - 2]["ts"],
        "recorded at the later time"
    );
    assert!(
        last["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("clock:")),
        "{last}"
    );
    assert_eq!(verify_default(&home, &[]).0, 0);
}

#[test]
fn verify_log_flags_a_record_older_than_its_predecessor() {
    let home = Home::new("coding-agent");
    filled(&home);
    let key = KeyPair::load(&home.path("keys/toolgate.key.jwk")).unwrap();
    // Drafts carry no seq: count them (records are rewritten in order).
    let seen = std::cell::Cell::new(0u64);
    resign(&home, &key, |r| {
        if seen.get() == 3 {
            r.ts = "2001-01-01T00:00:00Z".into();
        }
        seen.set(seen.get() + 1);
    });
    assert!(seen.get() > 3);
    let (rc, rep) = verify_default(&home, &[]);
    assert_eq!(rc, 1, "{rep}");
    assert_eq!(rep["seq"], 3, "{rep}");
    assert!(
        rep["error"].as_str().unwrap().contains("backwards"),
        "{rep}"
    );
}

#[test]
fn exported_events_carry_checkpoints_that_verify_log_accepts() {
    let home = Home::new("coding-agent");
    filled(&home);
    let ocsf = home.ok_text(&["log", "export", "--format", "ocsf"]);
    let cef = home.ok_text(&["log", "export", "--format", "cef"]);
    let first: Value = serde_json::from_str(ocsf.lines().next().unwrap()).unwrap();
    assert_eq!(first["unmapped"]["checkpoint"]["seq"], 0);
    assert!(cef.lines().all(|l| l.contains("flexString1=")));
    let files = [("events.ocsf", ocsf), ("events.cef", cef)];
    for (name, body) in &files {
        let p = home.path(name);
        std::fs::write(&p, body).unwrap();
        let (rc, rep) = verify_default(&home, &["--checkpoint", p.to_str().unwrap()]);
        assert_eq!(rc, 0, "{name}: {rep}");
        assert_eq!(rep["checkpoints"], N as u64, "{rep}");
    }
    // Cut the log after exporting: every export now proves the cut.
    let log = home.log();
    let mut ls = lines(&log);
    ls.truncate(2);
    write_lines(&log, &ls);
    std::fs::remove_file(head_file(&home)).unwrap();
    home.ok_text(&["audit", "repair", "--accept-loss"]);
    for (name, _) in &files {
        let p = home.path(name);
        let (rc, rep) = verify_default(&home, &["--checkpoint", p.to_str().unwrap()]);
        assert_eq!(rc, 1, "{name}: {rep}");
        assert_eq!(rep["tampering"], "rollback", "{rep}");
    }
}

#[test]
fn a_forged_checkpoint_is_not_evidence() {
    let home = Home::new("coding-agent");
    filled(&home);
    let cp = home.path("witness.json");
    home.ok_text(&["audit", "checkpoint", "--out", cp.to_str().unwrap()]);
    let mut v: Value = serde_json::from_slice(&std::fs::read(&cp).unwrap()).unwrap();
    v["ts"] = json!("2030-01-01T00:00:00Z");
    std::fs::write(&cp, v.to_string()).unwrap();
    let (rc, rep) = verify_default(&home, &["--checkpoint", cp.to_str().unwrap()]);
    assert_eq!(rc, 1, "{rep}");
    assert!(
        rep["error"].as_str().unwrap().contains("not signed"),
        "{rep}"
    );
}

#[test]
fn a_log_re_signed_with_the_real_key_is_named_by_a_checkpoint_taken_before() {
    let home = Home::new("coding-agent");
    filled(&home);
    let cp = home.path("witness.json");
    home.ok_text(&["audit", "checkpoint", "--out", cp.to_str().unwrap()]);
    // The evaluator key is readable by the user the agent runs as: the denies become
    // allows, every record re-chained and re-signed, the head rewritten to match.
    let key = KeyPair::load(&home.path("keys/toolgate.key.jwk")).unwrap();
    resign(&home, &key, |r| {
        if r.verdict == RecordVerdict::Deny {
            r.verdict = RecordVerdict::Allow;
            r.reasons.clear();
        }
    });
    assert!(home.records().iter().all(|r| r["verdict"] == "allow"));
    // Nothing on the machine can tell (docs/audit.md says so)...
    assert_eq!(verify_default(&home, &[]).0, 0);
    // ...but the checkpoint that left it can: its record is not the log's any more.
    let (rc, rep) = verify_default(&home, &["--checkpoint", cp.to_str().unwrap()]);
    assert_eq!(rc, 1, "{rep}");
    assert_eq!(rep["tampering"], "rollback", "{rep}");
    assert!(
        rep["error"].as_str().unwrap().contains("rewritten"),
        "{rep}"
    );
}

#[test]
fn the_real_binary_with_its_clock_set_back_reopens_no_daily_cap() {
    let home = Home::new("refund-agent"); // daily cap 50000, at most 5000 a refund
    assert_eq!(code(&home.refund(5000, "today")), "oap.allowed");
    // The clock a day ahead: the same gate code, given that time, spends tomorrow's cap.
    let loc = in_process(&home);
    let ahead = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    for i in 0..10 {
        let input = refund_call(5000, &format!("ahead-{i}")).to_string();
        let o = toolgate::gate::evaluate(&loc, input.as_bytes(), &Default::default(), ahead);
        assert_eq!(o.evaluation.reasons[0].code.as_str(), "oap.allowed");
    }
    // The clock back to now, for the real binary: its day is not tomorrow's, yet the cap
    // stays spent, because it decides at the last record's time, and says so.
    let o = home.refund(5000, "back");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(code(&o), "oap.limit_exceeded");
    let recs = home.records();
    let (last, before) = (&recs[recs.len() - 1], &recs[recs.len() - 2]);
    assert_eq!(last["ts"], before["ts"], "recorded at the later time");
    let noted = last["notes"].as_array().unwrap();
    assert!(
        noted
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("clock:")),
        "{last}"
    );
    assert_eq!(verify_default(&home, &[]).0, 0);
}
