//! Faults: writers killed at random moments, torn tails, a full disk and a
//! read-only log. Nothing complete is ever lost, and nothing is chained onto
//! garbage.

use crate::harness::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// xorshift: random kill moments without a dependency.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn writers_killed_at_random_moments_lose_no_complete_record() {
    let home = Home::new("refund-agent");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let mut rng = Rng(seed);
    let mut reported: Vec<(u64, String)> = vec![];
    let mut killed = 0;
    for round in 0..30 {
        let children: Vec<_> = (0..4)
            .map(|i| {
                let mut c = home
                    .command()
                    .args(["evaluate", "--json"])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                let call = refund_call(1, &format!("r{round}-{i}"));
                let _ = c
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(call.to_string().as_bytes());
                c
            })
            .collect();
        std::thread::sleep(Duration::from_micros(rng.below(40_000)));
        for mut c in children {
            let _ = c.kill();
            let o = c.wait_with_output().unwrap();
            match o.status.code() {
                Some(_) => {
                    let d = decision(&o);
                    if let Some(seq) = d["audit"]["seq"].as_u64() {
                        reported.push((seq, d["audit"]["hash"].as_str().unwrap().into()));
                    }
                }
                None => killed += 1,
            }
        }
    }
    eprintln!("{} answered, {killed} killed", reported.len());
    // A torn tail is possible in principle; it is repaired explicitly, never silently.
    if home.verify(&[]).0 != 0 {
        home.ok_text(&["audit", "repair"]);
    }
    // The next writer catches the state and head up with what the killed ones left behind.
    let after = home.refund(1, "after");
    assert_eq!(code(&after), "oap.allowed", "{}", decision(&after));
    let recs = home.records();
    for (seq, hash) in &reported {
        assert_eq!(
            recs[*seq as usize]["hash"].as_str(),
            Some(hash.as_str()),
            "seq {seq} lost"
        );
    }
    let (code, rep) = home.verify(&[]);
    assert_eq!(code, 0, "{rep}");
    assert_eq!(rep["records"], recs.len() as u64);
    let live = std::fs::read(home.path("audit/audit.jsonl.state")).unwrap();
    home.ok_text(&["audit", "rebuild-state"]);
    let rebuilt = std::fs::read(home.path("audit/audit.jsonl.state")).unwrap();
    // The rebuild is itself recorded, so only the position moves on.
    let agents =
        |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).unwrap()["agents"].clone();
    assert_eq!(agents(&live), agents(&rebuilt));
    assert_eq!(
        home.records().last().unwrap()["event"],
        "audit.state_rebuilt"
    );
}

#[test]
fn a_torn_tail_denies_until_repaired_and_the_repair_is_recorded() {
    let home = Home::new("coding-agent");
    for _ in 0..3 {
        home.evaluate(&bash("git status"));
    }
    let log = home.log();
    let full = std::fs::read(&log).unwrap();
    let last = std::str::from_utf8(&full)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();
    let torn = &last.as_bytes()[..last.len() / 2];
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(torn)
        .unwrap();

    let o = home.evaluate(&bash("git status"));
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(code(&o), "oap.audit_unavailable");
    assert_eq!(
        std::fs::read(&log).unwrap().len(),
        full.len() + torn.len(),
        "nothing chained"
    );

    let (c, rep) = home.verify(&[]);
    assert_eq!(c, 1);
    assert_eq!(rep["line"], 4, "{rep}");
    assert!(rep["error"].as_str().unwrap().contains("torn"), "{rep}");

    let out = home.ok_text(&["audit", "repair"]);
    assert!(out.contains("moved"), "{out}");
    let aside: Vec<PathBuf> = std::fs::read_dir(home.path("audit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".torn-"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(std::fs::read(&aside[0]).unwrap(), torn);

    let recs = home.records();
    assert_eq!(recs.len(), 4);
    assert_eq!(recs[3]["event"], "audit.repair");
    let (c, rep) = home.verify(&[]);
    assert_eq!(c, 0, "{rep}");
    assert_eq!(code(&home.evaluate(&bash("git status"))), "oap.allowed");
    assert!(home
        .ok_text(&["audit", "repair"])
        .contains("nothing to repair"));
}

/// A small tmpfs, unmounted on drop; `None` where mounting is not permitted.
struct Tmpfs(PathBuf);
impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.into()))
    }
    fn remount_ro(&self) -> bool {
        Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success())
    }
}
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Mounts a tmpfs in `home` and records one allowed call in a log there.
fn log_on_tmpfs(home: &Home, size: &str) -> Option<(Tmpfs, PathBuf)> {
    let fs = Tmpfs::mount(&home.path(&format!("tmpfs-{size}")), size)?;
    let log = fs.0.join("audit.jsonl");
    let o = evaluate_with(home.cmd_with_log(&log), &bash("git status"));
    assert_eq!(code(&o), "oap.allowed");
    Some((fs, log))
}

#[test]
fn a_full_disk_denies_with_exit_2_and_leaves_the_log_intact() {
    let home = Home::new("coding-agent");
    let Some((fs, log)) = log_on_tmpfs(&home, "64k") else {
        // Without mount rights, RLIMIT_FSIZE makes the same write fail (EFBIG instead of ENOSPC).
        eprintln!("tmpfs not mountable here: simulating a full disk with RLIMIT_FSIZE");
        home.evaluate(&bash("git status"));
        let mut cmd = Command::new("sh");
        cmd.env("TOOLGATE_HOME", home.home.as_path()).args([
            "-c",
            "trap '' XFSZ; ulimit -f 1; exec \"$0\" \"$@\"",
            BIN,
        ]);
        let o = evaluate_with(cmd, &bash("git status"));
        assert_unrecorded_deny(&o);
        return;
    };
    let with_log = || home.cmd_with_log(&log);
    // Fill the file system.
    let mut filler = std::fs::File::create(fs.0.join("filler")).unwrap();
    while filler.write_all(&[0u8; 1024]).is_ok() {}
    drop(filler);
    // The log's last page may still have room for a record or two; then the disk is full.
    let mut denied = None;
    for _ in 0..20 {
        let before = std::fs::read(&log).unwrap();
        let o = evaluate_with(with_log(), &bash("git status"));
        if o.status.code() == Some(2) {
            denied = Some((o, before));
            break;
        }
        assert_eq!(code(&o), "oap.allowed");
    }
    let (o, before) = denied.expect("a full disk must deny");
    assert_unrecorded_deny(&o);
    assert_eq!(
        std::fs::read(&log).unwrap(),
        before,
        "a failed write is rolled back"
    );
    std::fs::remove_file(fs.0.join("filler")).unwrap();
    assert_eq!(
        code(&evaluate_with(with_log(), &bash("git status"))),
        "oap.allowed"
    );
    let pk = home.pubkey();
    let o = with_log()
        .args(["verify-log", "--pubkey", pk.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stdout));
}

#[test]
fn a_read_only_log_denies_with_exit_2() {
    let home = Home::new("coding-agent");
    let Some((fs, log)) = log_on_tmpfs(&home, "1m") else {
        eprintln!("tmpfs not mountable here: making the log immutable with chattr +i instead");
        home.evaluate(&bash("git status"));
        let log = home.log();
        if !Command::new("chattr")
            .arg("+i")
            .arg(&log)
            .status()
            .is_ok_and(|s| s.success())
        {
            eprintln!("chattr not permitted either; read-only case not exercised");
            return;
        }
        let o = home.evaluate(&bash("git status"));
        let _ = Command::new("chattr").arg("-i").arg(&log).status();
        assert_unrecorded_deny(&o);
        return;
    };
    let with_log = || home.cmd_with_log(&log);
    assert!(fs.remount_ro());
    assert_unrecorded_deny(&evaluate_with(with_log(), &bash("git status")));
}

/// A disk that does not confirm the record (the sync after the lock fails): the call is
/// refused, saying the log holds its record, and the log is whole: the record stays (a later
/// writer may already chain to it) and the next call appends after it.
#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "TOOLGATE_DEBUG_SYNC is in debug builds only"
)]
fn a_failed_sync_refuses_the_call_and_keeps_the_log_whole() {
    let h = Home::new("coding-agent");
    let call = h.claude("Bash", serde_json::json!({"command": "git status"}));
    let mut c = h.cmd(&["evaluate", "--host", "claude-code"]);
    c.env("TOOLGATE_DEBUG_SYNC", "fail");
    let r = run_command(c, &call);
    assert_eq!(r.code, 2, "{r:?}");
    let why = r.claude_reason();
    assert!(why.contains("oap.audit_unavailable"), "{why}");
    assert!(why.contains("did not confirm"), "{why}");
    let recs = h.records();
    assert_eq!(recs.len(), 1, "the record stays: {recs:?}");
    assert_eq!(recs[0]["verdict"], "allow", "{recs:?}");
    // The next writer chains on; the whole log verifies.
    let r = run_command(h.cmd(&["evaluate", "--host", "claude-code"]), &call);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(h.records().len(), 2);
    let (code, report) = h.verify(&[]);
    assert_eq!(code, 0, "{report}");
}
