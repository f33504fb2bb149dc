//! `toolgate audit`: maintenance of the audit log that is itself recorded.

use super::PathArgs;
use crate::gate::{audit_log, timestamp};
use crate::home::Config;
use crate::passport::KeyPair;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Move a torn last line (an interrupted write) aside and record that it was done.
    Repair,
    /// Rebuild the stateful-limit state file by replaying the log.
    RebuildState,
    /// Hand the log to a new evaluator key: the current key signs a record naming the new one.
    RotateKey(RotateKeyArgs),
}

#[derive(Debug, Args)]
pub struct RotateKeyArgs {
    /// The new private key (from `toolgate keygen`); it replaces the resolved key file.
    #[arg(long, value_name = "FILE")]
    pub new_key: PathBuf,
}

pub fn run(paths: &PathArgs, cmd: AuditCommand) -> Result<()> {
    let loc = paths.locations(None);
    let config = Config::load(&loc.config.path)?;
    let log = audit_log(&loc.audit_log.path, &config);
    let now = timestamp(time::OffsetDateTime::now_utc());
    match cmd {
        AuditCommand::Repair => {
            let key = KeyPair::load(&loc.key.path)?;
            match log.repair(&key, &now)? {
                Some((aside, n)) => println!(
                    "moved {n} torn bytes to {}; the repair is recorded in {}",
                    aside.display(),
                    log.path().display()
                ),
                None => println!(
                    "nothing to repair: {} ends with a complete record",
                    log.path().display()
                ),
            }
        }
        AuditCommand::RebuildState => {
            let state = log.rebuild_state()?;
            println!(
                "rebuilt {} from {} records ({} agents)",
                log.state_path().display(),
                state.seq.map_or(0, |s| s + 1),
                state.agents.len()
            );
        }
        AuditCommand::RotateKey(a) => {
            let old = KeyPair::load(&loc.key.path)?;
            let new = KeyPair::load(&a.new_key)?;
            let mut locked = log.lock()?;
            let at = locked.rotate_key(&old, &new, &now)?;
            // Installed while the lock is held, so no append can use the retired key in between.
            let bytes = std::fs::read(&a.new_key)
                .with_context(|| format!("reading {}", a.new_key.display()))?;
            crate::audit::head::write_atomic(&loc.key.path, &bytes)
                .with_context(|| format!("installing the new key at {}", loc.key.path.display()))?;
            drop(locked);
            println!(
                "seq {} hands the log from {} to {}; {} is now the evaluator key",
                at.seq,
                old.kid(),
                new.kid(),
                loc.key.path.display()
            );
        }
    }
    Ok(())
}
