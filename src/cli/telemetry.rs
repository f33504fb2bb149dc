//! `toolgate telemetry`: what would be exported where, and replay of recorded decisions.

use super::PathArgs;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::PathBuf;
use toolgate::audit::verify;
use toolgate::audit::Record;
use toolgate::home::Config;
use toolgate::passport::{KeyPair, PublicKey};
use toolgate::telemetry::{self, Settings, TelemetryConfig};

#[derive(Debug, Subcommand)]
pub enum TelemetryCommand {
    /// Show the resolved export settings and how many decisions await a replay.
    Status(StatusArgs),
    /// Export decisions from the audit log as spans, in bulk (a first import, or what the hook missed).
    Replay(ReplayArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
The log is verified first (hashes, signatures, links) so that only intact evidence is exported.
Replayed spans carry the same trace and span ids as the live ones, so a backend keeps one copy.

Examples:
  toolgate telemetry replay --endpoint http://localhost:4318
  toolgate telemetry replay --missed")]
pub struct ReplayArgs {
    /// Log file (default: the resolved audit log).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Collector base URL, overriding config.json and OTEL_EXPORTER_OTLP_ENDPOINT.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Only records from this sequence number on.
    #[arg(long, value_name = "SEQ")]
    pub from_seq: Option<u64>,
    /// Only the decisions whose live export was noted as missed.
    #[arg(long)]
    pub missed: bool,
    /// Spans per request.
    #[arg(long, value_name = "N", default_value_t = 512)]
    pub batch: usize,
    /// Public key of the evaluator that signed the log (default: the resolved key's public half).
    #[arg(long = "pubkey", value_name = "PUB")]
    pub pubkey: Option<PathBuf>,
    /// Skip verification (for a log whose key is not at hand).
    #[arg(long)]
    pub no_verify: bool,
}

pub fn run(paths: &PathArgs, cmd: TelemetryCommand) -> anyhow::Result<()> {
    let loc = paths.locations(None);
    let config = Config::load(&loc.config.path)?;
    match cmd {
        TelemetryCommand::Status(a) => status(&loc, &config.telemetry, a),
        TelemetryCommand::Replay(a) => replay(&loc, config.telemetry, a),
    }
}

fn resolve(c: &TelemetryConfig) -> anyhow::Result<Option<Settings>> {
    Ok(Settings::resolve(c, &|k| std::env::var(k).ok())?)
}

fn status(
    loc: &toolgate::home::Locations,
    c: &TelemetryConfig,
    a: StatusArgs,
) -> anyhow::Result<()> {
    let settings = resolve(c)?;
    let pending = std::fs::read_to_string(telemetry::pending_path(&loc.audit_log.path))
        .map(|t| t.lines().count())
        .unwrap_or(0);
    let body = match &settings {
        None => json!({"enabled": false, "pending_notes": pending}),
        Some(s) => json!({
            "enabled": true,
            "traces_url": s.traces_url,
            "metrics_url": s.metrics_url,
            // Header values are often credentials.
            "headers": s.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            "budget_ms": s.budget.as_millis() as u64,
            "timeout_ms": s.timeout.as_millis() as u64,
            "service_name": s.service_name,
            "export_arguments": s.export_arguments,
            "built_with_otlp": cfg!(feature = "otlp"),
            "pending_notes": pending,
        }),
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    for (k, v) in body.as_object().into_iter().flatten() {
        println!("{k:<17} {v}");
    }
    Ok(())
}

fn replay(
    loc: &toolgate::home::Locations,
    mut c: TelemetryConfig,
    a: ReplayArgs,
) -> anyhow::Result<()> {
    if let Some(e) = a.endpoint {
        c.endpoint = Some(e);
        c.traces_endpoint = None;
        c.enabled = Some(true);
    }
    let Some(settings) = resolve(&c)? else {
        bail!("telemetry is not configured: pass --endpoint, set telemetry.endpoint in config.json, or OTEL_EXPORTER_OTLP_ENDPOINT");
    };
    let file = a.file.unwrap_or_else(|| loc.audit_log.path.clone());
    if !a.no_verify {
        let key = match &a.pubkey {
            Some(p) => PublicKey::load(p)?,
            None => KeyPair::load(&loc.key.path)
                .context("cannot load the log's public key (pass --pubkey or --no-verify)")?
                .public(),
        };
        verify::verify_file(&file, &key).map_err(|b| {
            anyhow::anyhow!(
                "{} is not intact at line {}: {}; nothing exported",
                file.display(),
                b.line,
                b.what
            )
        })?;
    }
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let mut records = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str::<Record>(l).with_context(|| format!("line {}", i + 1)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if a.missed {
        let pending = std::fs::read_to_string(telemetry::pending_path(&loc.audit_log.path))
            .unwrap_or_default();
        let pending: Vec<String> = pending.lines().map(String::from).collect();
        let missed: BTreeSet<u64> = records
            .iter()
            .flat_map(|r| telemetry::missed_seqs(&r.notes))
            .chain(telemetry::missed_seqs(&pending))
            .collect();
        records.retain(|r| missed.contains(&r.seq));
    }
    // The chain's id, from its first record or the head beside the file.
    let log_id = records
        .first()
        .filter(|r| r.seq == 0)
        .map(|r| r.hash.clone())
        .or_else(|| {
            toolgate::audit::head::Head::load(&toolgate::audit::head::head_path(&file))
                .ok()
                .flatten()
                .map(|h| h.checkpoint.log_id)
        });
    if let Some(from) = a.from_seq {
        records.retain(|r| r.seq >= from);
    }
    // Replayed spans carry checkpoints too when the evaluator key is at hand.
    let signer = KeyPair::load(&loc.key.path).ok();
    let checkpoints = signer.as_ref().zip(log_id.as_deref());
    let sent = telemetry::replay(&settings, &records, a.batch, checkpoints)?;
    println!("exported {sent} decisions to {}", settings.traces_url);
    Ok(())
}
