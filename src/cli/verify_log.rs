//! `toolgate verify-log`.

use super::PathArgs;
use crate::audit::verify;
use crate::passport::{KeyPair, PublicKey};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 intact, 1 broken or unverifiable (the first bad record is printed)."
)]
pub struct VerifyLogArgs {
    /// Log file (default: the resolved audit log).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Public key of the evaluator that signed the log (default: the resolved key's public half).
    #[arg(long = "pubkey", value_name = "PUB")]
    pub pubkey: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(paths: &PathArgs, a: VerifyLogArgs) -> i32 {
    let loc = paths.locations(None);
    let file = a.file.unwrap_or(loc.audit_log.path.clone());
    let key = match &a.pubkey {
        Some(p) => PublicKey::load(p).map_err(|e| e.to_string()),
        None => KeyPair::load(&loc.key.path)
            .map(|k| k.public())
            .map_err(|e| e.to_string()),
    };
    let key = match key {
        Ok(k) => k,
        Err(e) => {
            eprintln!("toolgate: cannot load the log's public key: {e}");
            return 1;
        }
    };
    match verify::verify_file(&file, &key) {
        Ok(ok) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({"intact": true, "records": ok.records, "last_hash": ok.last_hash})
                );
            } else {
                println!(
                    "intact: {} records, last hash {} ({})",
                    ok.records,
                    ok.last_hash,
                    file.display()
                );
            }
            0
        }
        Err(b) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({"intact": false, "line": b.line, "seq": b.seq, "error": b.what})
                );
            } else {
                let seq = b.seq.map(|s| format!(" (seq {s})")).unwrap_or_default();
                println!(
                    "BROKEN at line {}{seq}: {} ({})",
                    b.line,
                    b.what,
                    file.display()
                );
            }
            1
        }
    }
}
