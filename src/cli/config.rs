//! `toolgate config`: what was resolved, and from where.

use super::PathArgs;
use clap::Args;
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Passport file to report instead of the resolved one.
    #[arg(long, value_name = "FILE")]
    pub passport: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(paths: &PathArgs, a: ConfigArgs) -> anyhow::Result<()> {
    let loc = paths.locations(a.passport);
    let mut rows = vec![
        ("config", &loc.config),
        ("passport", &loc.passport),
        ("key", &loc.key),
        ("trust_dir", &loc.trust_dir),
        ("audit_log", &loc.audit_log),
    ];
    if let Some(p) = &loc.packs_dir {
        rows.push(("packs_dir", p));
    }
    if a.json {
        let obj: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|(k, r)| {
                (
                    k.to_string(),
                    json!({"path": r.path, "source": r.source.to_string(), "exists": r.path.exists()}),
                )
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&obj)?);
        return Ok(());
    }
    for (k, r) in rows {
        let exists = if r.path.exists() { "" } else { "  (missing)" };
        println!("{k:<10} {}  [{}]{exists}", r.path.display(), r.source);
    }
    if loc.packs_dir.is_none() {
        println!("{:<10} built-in only", "packs");
    }
    Ok(())
}
