//! `toolgate verify-log`.

use super::PathArgs;
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;
use toolgate::audit::head::{head_path, Checkpoint};
use toolgate::audit::log::chain_files;
use toolgate::audit::verify::{self, HeadCheck, Intact, Options};
use toolgate::passport::{PublicKey, TrustStore};

#[derive(Debug, Args)]
#[command(after_help = "\
Without FILES, checks the resolved audit log with its rotated segments, oldest first, and
its signed head. With FILES, checks them as one chain in the order given, with the head
beside the last one (`<FILE>.head`) unless --no-head.

Keys: the log names its own keys, so it is only proof against keys you pinned: the trust
store's keys (`toolgate trust list`), or each --pubkey instead. The key file beside the log
is never used: whoever can rewrite the log can replace that file too. A key change must be
a rotation record signed by the key before it; a key that is neither pinned nor handed over
that way fails.

Checkpoints (`toolgate audit checkpoint`, or the `checkpoint` carried by exported spans and
OCSF/CEF events) prove the log still extends what a witness saw: with --checkpoint, a log
cut, wiped or rolled back past one is named as truncation, wipe or rollback. Without any,
a consistent older copy of the log, head and state cannot be told from the real one.

Exit codes: 0 intact, 1 broken or unverifiable (the first bad record is printed).

Examples:
  toolgate verify-log
  toolgate verify-log --pubkey evaluator.pub.jwk --checkpoint witness.json
  toolgate verify-log old/audit.jsonl.1 old/audit.jsonl --json")]
pub struct VerifyLogArgs {
    /// Log files forming one chain, oldest first (default: the resolved audit log and its segments).
    #[arg(value_name = "FILES")]
    pub files: Vec<PathBuf>,
    /// Public key (JWK) pinned as a signer of the log, instead of the trust store; repeatable.
    #[arg(long = "pubkey", value_name = "PUB")]
    pub pubkey: Vec<PathBuf>,
    /// A checkpoint file (one checkpoint, a JSON array, or JSON lines) the log must extend; repeatable.
    #[arg(long = "checkpoint", value_name = "FILE")]
    pub checkpoint: Vec<PathBuf>,
    /// Do not check the signed head (e.g. for copies of old segments).
    #[arg(long)]
    pub no_head: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(paths: &PathArgs, a: VerifyLogArgs) -> i32 {
    let loc = paths.locations(None);
    let fail = |msg: String| {
        eprintln!("toolgate: {msg}");
        1
    };
    let files = if a.files.is_empty() {
        match chain_files(&loc.audit_log.path) {
            Ok(f) => f,
            Err(e) => return fail(format!("cannot list {}: {e}", loc.audit_log.path.display())),
        }
    } else {
        a.files.clone()
    };
    let (anchors, pinned_by) = if a.pubkey.is_empty() {
        match TrustStore::load_dir(&loc.trust_dir.path) {
            Ok(store) => {
                let keys: Vec<PublicKey> =
                    store.kids().filter_map(|k| store.get(k).cloned()).collect();
                (
                    keys,
                    format!("the trust store {}", loc.trust_dir.path.display()),
                )
            }
            Err(e) => return fail(format!("cannot read the trust store: {e}")),
        }
    } else {
        match a
            .pubkey
            .iter()
            .map(|p| PublicKey::load(p).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(k) => (k, "--pubkey".to_string()),
            Err(e) => return fail(format!("cannot load a --pubkey: {e}")),
        }
    };
    if anchors.is_empty() {
        return fail(format!(
            "no pinned key: {pinned_by} holds none. Add the evaluator's public key with `toolgate trust add FILE`, or pass --pubkey"
        ));
    }
    let mut checkpoints = vec![];
    for path in &a.checkpoint {
        let parsed = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| Checkpoint::parse_file(&t).map_err(|e| e.to_string()));
        match parsed {
            Ok(cs) if cs.is_empty() => {
                return fail(format!("{}: no checkpoint in it", path.display()))
            }
            Ok(cs) => checkpoints.extend(cs.into_iter().map(|c| (path.clone(), c))),
            Err(e) => return fail(format!("checkpoint {}: {e}", path.display())),
        }
    }
    let head = match (a.no_head, a.files.last()) {
        (true, _) => HeadCheck::Skip,
        (false, Some(last)) => HeadCheck::Required(head_path(last)),
        (false, None) => HeadCheck::Required(head_path(&loc.audit_log.path)),
    };
    let progress: Option<Box<dyn Fn(u64) + Sync>> = (!a.json && std::io::stderr().is_terminal())
        .then(|| {
            let start = std::time::Instant::now();
            Box::new(move |n: u64| {
                let rate = n as f64 / start.elapsed().as_secs_f64().max(1e-6);
                eprint!("\r\x1b[2Kverified {n} records ({rate:.0}/s)");
            }) as Box<dyn Fn(u64) + Sync>
        });
    let shown_progress = progress.is_some();
    let opts = Options {
        anchors,
        head,
        checkpoints,
        progress,
    };
    let shown: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let result = verify::verify_files(&files, &opts);
    if shown_progress {
        eprint!("\r\x1b[2K");
    }
    match result {
        Ok(ok) => {
            if a.json {
                println!("{}", intact_json(&ok, &shown));
            } else if files.is_empty() && ok.records == 0 {
                // Nothing was ever decided here: absent, not broken (a head without its
                // log is not this case: the head check above refuses it).
                println!(
                    "absent: no audit log at {} yet; the first decision starts it",
                    loc.audit_log.path.display()
                );
            } else {
                print_intact(&ok, files.len(), &pinned_by);
            }
            0
        }
        Err(b) => {
            let file = b.file.as_ref().map(|f| f.display().to_string());
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({"intact": false, "file": file, "line": b.line, "seq": b.seq,
                        "error": b.what, "tampering": b.tampering})
                );
            } else {
                let seq = b.seq.map(|s| format!(" (seq {s})")).unwrap_or_default();
                let at = file.map(|f| format!("{f}:")).unwrap_or_default();
                let kind = b
                    .tampering
                    .map(|t| format!(" [{}]", t.to_uppercase()))
                    .unwrap_or_default();
                println!("BROKEN{kind} at {at}line {}{seq}: {}", b.line, b.what);
            }
            1
        }
    }
}

fn intact_json(ok: &Intact, files: &[String]) -> serde_json::Value {
    let keys: Vec<_> = ok
        .keys
        .iter()
        .map(|k| serde_json::json!({"kid": k.kid, "first_seq": k.first_seq, "last_seq": k.last_seq, "trust": k.trust}))
        .collect();
    let losses: Vec<_> = ok
        .losses
        .iter()
        .map(|l| {
            serde_json::json!({"seq": l.seq, "found": l.lost.found, "records": l.lost.records,
            "last_seq": l.lost.last_seq, "last_hash": l.lost.last_hash, "log_id": l.lost.log_id})
        })
        .collect();
    serde_json::json!({"intact": true, "records": ok.records, "last_hash": ok.last_hash,
        "log_id": ok.log_id, "head_checked": ok.head_checked, "checkpoints": ok.checkpoints,
        "keys": keys, "losses": losses, "files": files})
}

fn print_intact(ok: &Intact, nfiles: usize, pinned_by: &str) {
    let head = if ok.head_checked {
        ", signed head matches"
    } else {
        ""
    };
    println!(
        "intact: {} records in {nfiles} file(s), last hash {}{head}",
        ok.records, ok.last_hash
    );
    for k in &ok.keys {
        let trust = if k.trust == "pinned" {
            format!("pinned by {pinned_by}")
        } else {
            k.trust.clone()
        };
        println!(
            "  seq {}..={} signed by {} ({trust})",
            k.first_seq, k.last_seq, k.kid
        );
    }
    if ok.checkpoints > 0 {
        println!("  extends {} checkpoint(s)", ok.checkpoints);
    }
    for l in &ok.losses {
        let last = match (&l.lost.last_seq, &l.lost.last_hash) {
            (Some(s), Some(h)) => format!(", last known seq {s} ({h})"),
            _ => String::new(),
        };
        println!(
            "  LOSS recorded at seq {}: {} ({} record(s) lost{last})",
            l.seq, l.lost.found, l.lost.records
        );
    }
}
