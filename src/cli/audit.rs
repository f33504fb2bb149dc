//! `toolgate audit`: maintenance of the audit log that is itself recorded.

use super::PathArgs;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::PathBuf;
use toolgate::audit::head::head_path;
use toolgate::audit::log::AuditLog;
use toolgate::audit::log::{chain_files, Repaired};
use toolgate::audit::verify::{verify_files, Broken, HeadCheck, Options};
use toolgate::canonical::timestamp;
use toolgate::gate::audit_log;
use toolgate::home::{Config, Locations};
use toolgate::passport::{KeyPair, TrustStore};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Move a torn last line aside; with --accept-loss, record a loss the gate found
    /// (missing records, a missing or older head, a deleted log) and resume.
    Repair(RepairArgs),
    /// Rebuild the stateful-limit state file by replaying the verified log; recorded.
    RebuildState(JsonArg),
    /// Hand the log to a new evaluator key: the current key signs a record naming the new one.
    RotateKey(RotateKeyArgs),
    /// Write a signed checkpoint of the log's last record, for a witness off this machine.
    Checkpoint(CheckpointArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "\
When the gate refuses with oap.audit_unavailable because records, the head or the log are
gone, nothing is healed on its own: run `toolgate verify-log` to see what is left, then
`toolgate audit repair --accept-loss`. That appends a signed `audit.repair` record saying what
was found, how many records were lost and the last hash known, and the gate resumes. The loss
stays visible: verify-log lists it, and checkpoints taken before it no longer match.

A record deleted from the middle of the log is different: the gate checks only the log's end
before it appends, so it goes on recording, and a record appended at the end cannot mend the
chain. When the end is sound, `repair` verifies the whole chain and, if it is broken inside,
says where and exits 1 without writing anything: put the lines back from a copy or an export.

Examples:
  toolgate audit repair
  toolgate audit repair --accept-loss")]
pub struct RepairArgs {
    /// Record what the head says is lost and resume appending.
    #[arg(long)]
    pub accept_loss: bool,
    #[command(flatten)]
    pub out: JsonArg,
}

/// `--json` for every audit subcommand; the shapes are in docs/audit.md ("JSON output").
#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print what was done as one JSON object (see docs/audit.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RotateKeyArgs {
    /// The new private key (from `toolgate keygen`); it replaces the resolved key file.
    #[arg(long, value_name = "FILE")]
    pub new_key: PathBuf,
    #[command(flatten)]
    pub out: JsonArg,
}

#[derive(Debug, Args)]
#[command(after_help = "\
A checkpoint is {context, log_id, seq, hash, ts, kid, signature}: it says this log had this
record, signed by the evaluator key. Keep it anywhere the machine's users cannot rewrite: a
ticket, a git note, a transparency log. Later, `toolgate verify-log --checkpoint FILE` proves
the log still extends it, and names a truncation, wipe or rollback past it. Every decision
exported over OTLP or as OCSF/CEF carries one too.

Examples:
  toolgate audit checkpoint --out witness.json")]
pub struct CheckpointArgs {
    /// Write the checkpoint here (0600) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print {"checkpoint": ..., "out": FILE or null} (the checkpoint itself is JSON either way).
    #[arg(long)]
    pub json: bool,
}

/// The gate checks only the log's end and head before it appends, so a record cut from
/// the middle passes unseen there. When the end is sound, a repair checks the whole chain
/// (against the evaluator key and the trust store's keys) rather than call it sound.
fn break_inside(
    log: &std::path::Path,
    trust_dir: &std::path::Path,
    key: &KeyPair,
) -> Option<Broken> {
    let files = chain_files(log).ok()?;
    let mut anchors = vec![key.public()];
    if let Ok(store) = TrustStore::load_dir(trust_dir) {
        anchors.extend(store.kids().filter_map(|k| store.get(k).cloned()));
    }
    let opts = Options {
        anchors,
        head: HeadCheck::Required(head_path(log)),
        ..Options::default()
    };
    verify_files(&files, &opts).err()
}

/// Why a break inside the chain is not something `repair` can record and resume from.
fn cannot_mend(b: &Broken) -> String {
    let at = b
        .file
        .as_ref()
        .map(|f| format!("{}:", f.display()))
        .unwrap_or_default();
    let seq = b.seq.map(|s| format!(" (seq {s})")).unwrap_or_default();
    format!(
        "nothing to repair at the end, but the chain is broken inside, at {at}line {}{seq}: {}. \
         `audit repair` appends at the end and cannot mend a break inside the chain: the gate \
         checks only the log's end before it appends, so it goes on recording, and `toolgate \
         verify-log` reports this break until the lines are put back",
        b.line, b.what
    )
}

/// Prints a report as pretty JSON.
fn print_json(v: &serde_json::Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub fn run(paths: &PathArgs, cmd: AuditCommand) -> Result<()> {
    let loc = paths.locations(None);
    let config = Config::load(&loc.config.path)?;
    let log = audit_log(&loc.audit_log.path, &config);
    let now = timestamp(time::OffsetDateTime::now_utc());
    match cmd {
        AuditCommand::Repair(a) => repair(&loc, &log, &now, a),
        AuditCommand::RebuildState(a) => rebuild_state(&loc, &log, &now, a),
        AuditCommand::RotateKey(a) => rotate_key(&loc, &log, &now, a),
        AuditCommand::Checkpoint(a) => checkpoint(&loc, &log, a),
    }
}

/// Moves a torn tail aside or records a loss, saying which.
fn repair(loc: &Locations, log: &AuditLog, now: &str, a: RepairArgs) -> Result<()> {
    let key = KeyPair::load(&loc.key.path)?;
    let done = log.repair(&key, now, a.accept_loss)?;
    if matches!(done, Repaired::Nothing) {
        if let Some(b) = break_inside(log.path(), &loc.trust_dir.path, &key) {
            anyhow::bail!(cannot_mend(&b));
        }
    }
    if a.out.json {
        let v = match &done {
            Repaired::Torn { aside, bytes } => json!({"action": "torn_tail_moved",
                "log": log.path(), "aside": aside, "bytes": bytes}),
            Repaired::Recorded { finding, seq } => json!({"action": "loss_recorded",
                "log": log.path(), "seq": seq, "finding": finding.to_string()}),
            Repaired::Nothing => json!({"action": "nothing", "log": log.path()}),
        };
        return print_json(&v);
    }
    match done {
        Repaired::Torn { aside, bytes } => println!(
            "moved {bytes} torn bytes to {}; the repair is recorded in {}",
            aside.display(),
            log.path().display()
        ),
        Repaired::Recorded { finding, seq } => println!(
            "recorded at seq {seq} of {}: {finding}. The gate appends again; `toolgate verify-log` lists the loss",
            log.path().display()
        ),
        Repaired::Nothing => println!(
            "nothing to repair: {} ends with a complete record that its head names",
            log.path().display()
        ),
    }
    Ok(())
}

/// Replays the verified log into a new state file.
fn rebuild_state(loc: &Locations, log: &AuditLog, now: &str, a: JsonArg) -> Result<()> {
    let key = KeyPair::load(&loc.key.path)?;
    let (state, at) = log.rebuild_state(&key, now)?;
    if a.json {
        return print_json(
            &json!({"state": log.state_path(), "agents": state.agents.len(),
            "seq": at.seq, "log": log.path()}),
        );
    }
    println!(
        "rebuilt {} from the verified log ({} agents); recorded at seq {}",
        log.state_path().display(),
        state.agents.len(),
        at.seq
    );
    Ok(())
}

/// Hands the log to a new key and installs and trusts it, under the lock.
fn rotate_key(loc: &Locations, log: &AuditLog, now: &str, a: RotateKeyArgs) -> Result<()> {
    let old = KeyPair::load(&loc.key.path)?;
    let new = KeyPair::load(&a.new_key)?;
    let mut locked = log.lock()?;
    let at = locked.rotate_key(&old, &new, now)?;
    // Installed while the lock is held, so no append can use the retired key in between.
    let bytes =
        std::fs::read(&a.new_key).with_context(|| format!("reading {}", a.new_key.display()))?;
    toolgate::audit::head::write_atomic(&loc.key.path, &bytes)
        .with_context(|| format!("installing the new key at {}", loc.key.path.display()))?;
    drop(locked);
    // The matching public key beside it, and trusted: verify-log pins the trust
    // store's keys, and a passport signed with the new key must verify.
    let public = loc.key.path.with_file_name("toolgate.pub.jwk");
    toolgate::audit::head::write_atomic(&public, new.public().to_jwk_string().as_bytes())
        .with_context(|| format!("writing {}", public.display()))?;
    let trusted = super::keys::add_trusted(&loc.trust_dir.path, &new.public())?;
    if a.out.json {
        return print_json(
            &json!({"seq": at.seq, "old_kid": old.kid(), "new_kid": new.kid(),
            "key": loc.key.path, "public_key": public, "trusted": trusted, "log": log.path()}),
        );
    }
    println!(
        "seq {} hands the log from {} to {}; {} is now the evaluator key\npublic key {} (trusted: {})",
        at.seq,
        old.kid(),
        new.kid(),
        loc.key.path.display(),
        public.display(),
        trusted.display()
    );
    Ok(())
}

/// Writes or prints a signed checkpoint of the last record.
fn checkpoint(loc: &Locations, log: &AuditLog, a: CheckpointArgs) -> Result<()> {
    let key = KeyPair::load(&loc.key.path)?;
    let locked = log.lock()?;
    let (Some(tail), Some(log_id)) = (&locked.tail, &locked.log_id) else {
        anyhow::bail!(
            "{} has no records yet: there is nothing to checkpoint",
            log.path().display()
        );
    };
    let ours = tail.kid == key.kid()
        || tail.next_key.as_deref() == Some(toolgate::audit::log::key_b64(&key).as_str());
    if !ours {
        anyhow::bail!(
            "the evaluator key {} did not sign {} (its last record is signed by {})",
            key.kid(),
            log.path().display(),
            tail.kid
        );
    }
    let cp = toolgate::audit::head::Checkpoint::of(log_id, tail, &key);
    drop(locked);
    let text = serde_json::to_string(&cp)? + "\n";
    if let Some(path) = &a.out {
        toolgate::audit::head::write_atomic(path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if a.json {
        return print_json(&json!({"checkpoint": cp, "out": a.out}));
    }
    match a.out {
        Some(path) => {
            eprintln!(
                "checkpoint of seq {} ({}) written to {}",
                cp.seq,
                cp.hash,
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}
