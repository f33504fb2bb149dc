//! Fleet commands: `passport suspend|resume|revoke`, `passport show --effective`,
//! `status`, `status refresh`, `status publish`.

use super::PathArgs;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;
use toolgate::canonical::timestamp;
use toolgate::home::{Config, Locations};
use toolgate::packs::Catalog;
use toolgate::passport::{self, KeyPair, TrustStore};
use toolgate::policy;
use toolgate::remote::status::{self, Entry, FleetStatus, StatusDocument, STATUS_TYPE};
use toolgate::remote::Fleet;

/// The file name the issuer publishes and `remote.status_url` points at.
pub const STATUS_FILE: &str = "status.json";

#[derive(Debug, Args)]
#[command(after_help = "\
The status document is written to DIR/status.json, signed with the resolved key (--key), with a
sequence above the previous one. Publish DIR on any static HTTPS host; every machine whose
config names it as remote.status_url denies the passport within remote.ttl_s.

Examples:
  toolgate --key issuer.key.jwk passport suspend 550e8400-e29b-41d4-a716-446655440000 --out site/
  toolgate --key issuer.key.jwk passport resume passports/alice.json --out site/")]
pub struct StatusChangeArgs {
    /// The passport: its passport_id, or a passport file to read it from.
    #[arg(value_name = "ID|FILE")]
    pub passport: String,
    /// Directory holding the published status.json (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Why, shown in every deny this causes.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// How long the new document stays valid; republish before then (`toolgate status publish`).
    #[arg(long, value_name = "DURATION", default_value = "30d")]
    pub valid_for: String,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Passport file (default: the resolved passport).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Print the policy in force: the org ceiling and this passport (and a delegation) combined.
    #[arg(long)]
    pub effective: bool,
    /// With --effective: the policy of a subagent of this type (its delegation).
    #[arg(long, value_name = "TYPE", requires = "effective")]
    pub agent_type: Option<String>,
    /// Print the passport document (JSON) instead of words.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Without a subcommand: which status source is configured, how old the verified copy is, what it
says about this machine's passport, and the last refresh error.

Examples:
  toolgate status
  toolgate status refresh
  toolgate --key issuer.key.jwk status publish --out site/")]
pub struct StatusArgs {
    #[command(subcommand)]
    pub command: Option<StatusCommand>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum StatusCommand {
    /// Fetch the status (and remote passport and org policy) now; exit 1 if any fetch was refused.
    Refresh,
    /// Re-sign DIR/status.json with a new sequence and expiry, entries unchanged (for a timer).
    Publish {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, value_name = "DURATION", default_value = "30d")]
        valid_for: String,
    },
}

/// `passport suspend|resume|revoke`.
pub fn change(paths: &PathArgs, a: StatusChangeArgs, to: FleetStatus) -> anyhow::Result<()> {
    let loc = paths.locations(None);
    let key = KeyPair::load(&loc.key.path)
        .context("loading the issuer key that signs the status (pass --key)")?;
    let id = passport_id(&a.passport)?;
    let now = OffsetDateTime::now_utc();
    let mut doc = previous(&loc, &key, &a.out)?.unwrap_or_else(|| StatusDocument {
        kind: STATUS_TYPE.into(),
        sequence: 0,
        issued_at: String::new(),
        expires_at: String::new(),
        passports: Default::default(),
    });
    if let Some(e) = doc.passports.get(&id) {
        if e.status == FleetStatus::Revoked && to != FleetStatus::Revoked {
            bail!("passport {id} is revoked, which is final; issue a new passport instead");
        }
    }
    doc.passports.insert(
        id.clone(),
        Entry {
            status: to,
            updated_at: timestamp(now),
            reason: a.reason,
        },
    );
    let path = publish(&key, doc, &a.out, &a.valid_for, now)?;
    println!(
        "passport {id} is {} in {}; publish that directory to the status host",
        to.as_str(),
        path.display()
    );
    Ok(())
}

fn passport_id(arg: &str) -> anyhow::Result<String> {
    if Path::new(arg).is_file() {
        let (p, _) = passport::load_unsigned(Path::new(arg))?;
        return Ok(p.passport_id);
    }
    let ok = arg.len() == 36 && uuid::Uuid::parse_str(arg).is_ok();
    if !ok {
        bail!("`{arg}` is neither a passport id (UUID) nor a passport file");
    }
    Ok(arg.to_ascii_lowercase())
}

/// The document already in DIR, which must verify (under the trust store or this key).
fn previous(loc: &Locations, key: &KeyPair, dir: &Path) -> anyhow::Result<Option<StatusDocument>> {
    let path = dir.join(STATUS_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| path.display().to_string()),
    };
    let mut trust = TrustStore::load_dir(&loc.trust_dir.path).unwrap_or_default();
    trust.insert(key.public());
    let v = status::verify(&bytes, &trust).with_context(|| {
        format!(
            "{} exists but is not a status document this key can continue; move it away to start anew",
            path.display()
        )
    })?;
    Ok(Some(v.signed.document))
}

fn publish(
    key: &KeyPair,
    mut doc: StatusDocument,
    dir: &Path,
    valid_for: &str,
    now: OffsetDateTime,
) -> anyhow::Result<PathBuf> {
    let valid = super::parse_duration(valid_for)?;
    doc.sequence = status::next_sequence(
        (doc.sequence > 0).then_some(doc.sequence),
        now.unix_timestamp(),
    );
    doc.issued_at = timestamp(now);
    doc.expires_at = timestamp(now + valid);
    let signed = status::sign(doc, key);
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    let path = dir.join(STATUS_FILE);
    let text = serde_json::to_string_pretty(&signed)? + "\n";
    toolgate::audit::head::write_atomic(&path, text.as_bytes())
        .with_context(|| path.display().to_string())?;
    println!(
        "signed status sequence {} by {}, valid until {}",
        signed.document.sequence, signed.kid, signed.document.expires_at
    );
    Ok(path)
}

fn fleet(loc: &Locations) -> anyhow::Result<(Config, Option<Fleet>, TrustStore)> {
    let config = Config::load(&loc.config.path)?;
    let trust = TrustStore::load_dir(&loc.trust_dir.path)?;
    let f = Fleet::new(config.remote.clone(), config.org.clone(), &loc.config_root);
    Ok((config, f, trust))
}

/// `status`, `status refresh`, `status publish`.
pub fn status_cmd(paths: &PathArgs, a: StatusArgs) -> anyhow::Result<()> {
    let loc = paths.locations(None);
    let now = OffsetDateTime::now_utc();
    match a.command {
        Some(StatusCommand::Publish { out, valid_for }) => {
            let key = KeyPair::load(&loc.key.path)
                .context("loading the issuer key that signs the status (pass --key)")?;
            let Some(doc) = previous(&loc, &key, &out)? else {
                bail!(
                    "no {} in {}; start with `toolgate passport resume ID --out {}`",
                    STATUS_FILE,
                    out.display(),
                    out.display()
                );
            };
            publish(&key, doc, &out, &valid_for, now)?;
            Ok(())
        }
        Some(StatusCommand::Refresh) => {
            let (_, f, trust) = fleet(&loc)?;
            let Some(f) = f else {
                bail!(
                    "no `remote` or `org` section in {}",
                    loc.config.path.display()
                );
            };
            let report = f.refresh(&trust, now.unix_timestamp(), true);
            for (doc, r) in &report.lines {
                match r {
                    Ok(said) => println!("{doc:<9} ok      {said}"),
                    Err(e) => println!("{doc:<9} REFUSED {e}"),
                }
            }
            if !report.ok() {
                bail!("a refresh failed; decisions keep using the last verified copy until remote.max_stale_s");
            }
            Ok(())
        }
        None => show_status(&loc, a.json, now),
    }
}

fn show_status(loc: &Locations, json: bool, now: OffsetDateTime) -> anyhow::Result<()> {
    let (config, f, trust) = fleet(loc)?;
    let Some(f) = f else {
        if json {
            println!("{}", serde_json::json!({"source": "local"}));
        } else {
            println!(
                "source     local (the passport's own status field; no `remote` in {})",
                loc.config.path.display()
            );
        }
        return Ok(());
    };
    let state = f.read_state();
    let now_unix = now.unix_timestamp();
    let local_id = passport::load_unsigned(&loc.passport.path)
        .ok()
        .map(|(p, _)| p.passport_id);
    let remote = config.remote.as_ref();
    let doc = state
        .status
        .as_ref()
        .filter(|d| remote.is_some_and(|r| r.status_url == d.url));
    let verified = f.cached_status(&state, &trust);
    let age = doc.and_then(|d| d.verified_at).map(|t| now_unix - t);
    let entry = verified
        .as_ref()
        .zip(local_id.as_ref())
        .and_then(|(v, id)| v.entry(id).cloned());
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "source": remote.map(|r| &r.status_url),
                "ttl_s": remote.map(|r| r.ttl_s),
                "max_stale_s": remote.map(|r| r.max_stale_s),
                "age_s": age,
                "sequence": verified.as_ref().map(|v| v.sequence()),
                "issued_at": verified.as_ref().map(|v| &v.signed.document.issued_at),
                "expires_at": verified.as_ref().map(|v| &v.signed.document.expires_at),
                "signer": verified.as_ref().map(|v| &v.signed.kid),
                "passport_id": local_id,
                "entry": entry,
                "passports": verified.as_ref().map(|v| &v.signed.document.passports),
                "last_error": doc.and_then(|d| d.last_error.as_ref()),
                "passport_url": remote.and_then(|r| r.passport_url.as_ref()),
                "org_policy": config.org.as_ref().map(|o| &o.policy),
            }))?
        );
        return Ok(());
    }
    if let Some(r) = remote {
        println!("source     {}", r.status_url);
        println!(
            "bounds     refresh after {}s, deny after {}s without a good fetch",
            r.ttl_s, r.max_stale_s
        );
        match &verified {
            Some(v) => {
                println!(
                    "cached     sequence {} issued {} by {}, expires {}",
                    v.sequence(),
                    v.signed.document.issued_at,
                    v.signed.kid,
                    v.signed.document.expires_at
                );
                println!("age        {}s since the last good fetch", age.unwrap_or(0));
                for (id, e) in &v.signed.document.passports {
                    let mine = if Some(id) == local_id.as_ref() {
                        "  <- this machine's passport"
                    } else {
                        ""
                    };
                    println!(
                        "  {id} {:<9} since {}{mine}",
                        e.status.as_str(),
                        e.updated_at
                    );
                }
                if local_id.as_ref().is_some_and(|id| v.entry(id).is_none()) {
                    println!("  (this machine's passport is not listed: its calls deny with oap.status_unknown_passport)");
                }
            }
            None => println!("cached     nothing verified yet; run `toolgate status refresh`"),
        }
        if let Some(p) = &r.passport_url {
            println!("passport   {p}");
        }
    }
    if let Some(o) = &config.org {
        println!("org policy {} (pinned key {})", o.policy, o.key.display());
    }
    for (name, d) in [
        ("status", &state.status),
        ("passport", &state.passport),
        ("org", &state.org),
    ] {
        if let Some(e) = d.as_ref().and_then(|d| d.last_error.as_ref()) {
            println!("last error {name}: {e}");
        }
    }
    Ok(())
}

/// `passport show [--effective [--agent-type T]]`.
pub fn show(paths: &PathArgs, a: ShowArgs) -> anyhow::Result<()> {
    let loc = paths.locations(a.file.clone());
    let (_, f, trust) = fleet(&loc)?;
    let now = OffsetDateTime::now_utc();
    let inputs = f.as_ref().map(|f| f.inputs(&trust, now.unix_timestamp()));
    let path = match inputs.as_ref().and_then(|i| i.passport_path.clone()) {
        Some(p) if a.file.is_none() => p.map_err(|r| anyhow::anyhow!("{r}"))?,
        _ => loc.passport.path.clone(),
    };
    let v = passport::load_verified(&path, &trust)
        .map_err(|e| anyhow::anyhow!("{} ({})", e, e.code()))?;
    if !a.effective {
        if a.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&v.passport().to_value())?
            );
        } else {
            print!("{}", super::edit::describe(v.passport()));
            println!(
                "\nsigned by {} at {} ({})",
                v.signer_kid(),
                v.signed_at(),
                v.digest()
            );
        }
        return Ok(());
    }
    let catalog = Catalog::with_overrides(loc.packs_dir.as_ref().map(|r| r.path.as_path()))?;
    let delegations = policy::delegation::delegations(v.passport(), &catalog)
        .map_err(|r| anyhow::anyhow!("{r}"))?;
    let delegated = match &a.agent_type {
        Some(t) => Some(
            delegations
                .iter()
                .find(|d| &d.agent_type == t)
                .with_context(|| format!("the passport declares no delegation for agent type `{t}` (its subagents run under the passport itself)"))?,
        ),
        None => None,
    };
    let org = match inputs.and_then(|i| i.org) {
        Some(Ok(o)) => Some(o),
        Some(Err(r)) => bail!("{r}"),
        None => None,
    };
    let layers = policy::layers(org.as_ref().map(|o| o.passport()), v.passport(), delegated);
    let mut out = policy::effective(&layers, &catalog);
    super::set_key(
        &mut out,
        "delegations",
        delegations
            .iter()
            .map(|d| d.agent_type.clone())
            .collect::<Vec<_>>(),
    );
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
