//! `toolgate verify-log`.

use super::PathArgs;
use crate::audit::head::head_path;
use crate::audit::log::chain_files;
use crate::audit::verify::{self, HeadCheck};
use crate::passport::{KeyPair, PublicKey};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(after_help = "\
Without FILES, checks the resolved audit log with its rotated segments, oldest first, and
its signed head. With FILES, checks them as one chain in the order given, with the head
beside the last one (`<FILE>.head`) unless --no-head.

Exit codes: 0 intact, 1 broken or unverifiable (the first bad record is printed).")]
pub struct VerifyLogArgs {
    /// Log files forming one chain, oldest first (default: the resolved audit log and its segments).
    #[arg(value_name = "FILES")]
    pub files: Vec<PathBuf>,
    /// Public key (JWK) trusted to have signed the log; repeatable (default: the resolved key's public half).
    #[arg(long = "pubkey", value_name = "PUB")]
    pub pubkey: Vec<PathBuf>,
    /// Do not check the signed head (e.g. for copies of old segments).
    #[arg(long)]
    pub no_head: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(paths: &PathArgs, a: VerifyLogArgs) -> i32 {
    let loc = paths.locations(None);
    let files = if a.files.is_empty() {
        match chain_files(&loc.audit_log.path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!(
                    "toolgate: cannot list {}: {e}",
                    loc.audit_log.path.display()
                );
                return 1;
            }
        }
    } else {
        a.files.clone()
    };
    let keys: Result<Vec<PublicKey>, String> = if a.pubkey.is_empty() {
        KeyPair::load(&loc.key.path)
            .map(|k| vec![k.public()])
            .map_err(|e| e.to_string())
    } else {
        a.pubkey
            .iter()
            .map(|p| PublicKey::load(p).map_err(|e| e.to_string()))
            .collect()
    };
    let keys = match keys {
        Ok(k) => k,
        Err(e) => {
            eprintln!("toolgate: cannot load the log's public key: {e}");
            return 1;
        }
    };
    let head = match (a.no_head, a.files.last()) {
        (true, _) => HeadCheck::Skip,
        (false, Some(last)) => HeadCheck::Required(head_path(last)),
        (false, None) => HeadCheck::Required(head_path(&loc.audit_log.path)),
    };
    let shown: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    match verify::verify_files(&files, &keys, &head) {
        Ok(ok) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({"intact": true, "records": ok.records, "last_hash": ok.last_hash,
                        "head_checked": ok.head_checked, "files": shown})
                );
            } else {
                let head = if ok.head_checked {
                    ", signed head matches"
                } else {
                    ""
                };
                println!(
                    "intact: {} records in {} file(s), last hash {}{head}",
                    ok.records,
                    files.len(),
                    ok.last_hash
                );
            }
            0
        }
        Err(b) => {
            let file = b.file.as_ref().map(|f| f.display().to_string());
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({"intact": false, "file": file, "line": b.line, "seq": b.seq, "error": b.what})
                );
            } else {
                let seq = b.seq.map(|s| format!(" (seq {s})")).unwrap_or_default();
                let at = file.map(|f| format!("{f}:")).unwrap_or_default();
                println!("BROKEN at {at}line {}{seq}: {}", b.line, b.what);
            }
            1
        }
    }
}
