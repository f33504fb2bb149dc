//! Finding 8: a FIFO or a device in place of one of toolgate's files denies fast, with a reason
//! and a record, instead of hanging the hook (which a host would eventually run the call past).

use crate::harness::{Home, Run};
use serde_json::json;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn mkfifo(p: &Path) {
    let _ = std::fs::remove_file(p);
    let made = std::process::Command::new("mkfifo")
        .arg(p)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo {p:?}");
}

/// Runs the hook with a deadline; a hang is a test failure, not a stuck suite.
fn run_bounded(h: &Home, stdin: &[u8]) -> (Run, Duration) {
    use std::io::{Read, Write};
    let started = Instant::now();
    let mut child = h
        .cmd(&["evaluate"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let (mut out, mut err) = (String::new(), String::new());
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            let run = Run {
                code: status.code().unwrap_or(-1),
                stdout: out,
                stderr: err,
            };
            return (run, started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the hook hung for 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn last_deny(h: &Home) -> serde_json::Value {
    let recs = h.records();
    let last = recs.last().expect("the deny is recorded").clone();
    assert_eq!(last["verdict"], "deny", "{last}");
    last
}

#[test]
fn special_files_in_place_of_toolgate_files_deny_fast() {
    let h = Home::new("coding-agent");
    let call = h.claude("Bash", json!({"command": "git status"}));
    let (ok, _) = run_bounded(&h, &call);
    assert_eq!(ok.code, 0, "{ok:?}");

    let passport = h.passport();
    let sig = h.home.join("passport.json.sig");
    let config = h.home.join("config.json");
    let trust_entry = std::fs::read_dir(h.home.join("trust"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    for (victim, why) in [
        (passport.clone(), "FIFO"),
        (sig.clone(), "FIFO"),
        (trust_entry.clone(), "FIFO"),
        (config.clone(), "FIFO"),
    ] {
        let saved = std::fs::read(&victim).ok();
        mkfifo(&victim);
        let (r, took) = run_bounded(&h, &call);
        assert_eq!(r.code, 2, "{victim:?}: {r:?}");
        assert!(r.stderr.contains(why), "{victim:?}: {r:?}");
        assert!(took < Duration::from_secs(3), "{victim:?} took {took:?}");
        let rec = last_deny(&h);
        assert!(rec["reasons"][0]["code"]
            .as_str()
            .unwrap()
            .starts_with("oap."));
        std::fs::remove_file(&victim).unwrap();
        if let Some(bytes) = saved {
            std::fs::write(&victim, bytes).unwrap();
        }
    }
    // /dev/zero never ends: refused as a device, not read forever.
    std::fs::remove_file(&passport).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &passport).unwrap();
    let (r, took) = run_bounded(&h, &call);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("character device"), "{r:?}");
    assert!(took < Duration::from_secs(3));
    last_deny(&h);
}
