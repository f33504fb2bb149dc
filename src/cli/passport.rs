//! `toolgate passport new|sign|verify` (and, in `fleet.rs`, `show|suspend|resume|revoke`).

use super::PathArgs;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::Value;
use std::path::{Path, PathBuf};
use toolgate::canonical::timestamp;
use toolgate::passport::model::META_EXPIRES_AT;
use toolgate::passport::{self, KeyPair, Passport, TrustStore};
use toolgate::remote::FleetStatus;

/// Built-in templates from `passports/`.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "coding-agent",
        include_str!("../../passports/coding-agent.json"),
    ),
    ("read-only", include_str!("../../passports/read-only.json")),
    ("ci-bot", include_str!("../../passports/ci-bot.json")),
    (
        "refund-agent",
        include_str!("../../passports/refund-agent.json"),
    ),
];

#[derive(Debug, Subcommand)]
pub enum PassportCommand {
    /// Write a new passport from a template, with a fresh passport_id.
    New(NewArgs),
    /// Sign a passport: writes FILE.sig (Ed25519 over the JCS bytes).
    Sign(SignArgs),
    /// Verify a passport: signature, trust, schema; prints signer, status, expiry, digest.
    Verify(VerifyArgs),
    /// Describe a passport in words (--json for the document), or with --effective the policy in force.
    Show(super::fleet::ShowArgs),
    /// Add allowed entries (commands, read/write paths, domains, MCP servers and tools); re-signs.
    #[command(after_help = super::edit::ALLOW_HELP)]
    Allow(super::edit::EntryArgs),
    /// Add blocked entries (and drop them from the allowed list); re-signs.
    #[command(after_help = super::edit::DENY_HELP)]
    Deny(super::edit::EntryArgs),
    /// Set a limit, the expiry or a rollout mode; re-signs.
    Set(super::edit::SetArgs),
    /// Remove a limit or a rollout mode; re-signs.
    Unset(super::edit::UnsetArgs),
    /// What changed between two passports, in words. Exit 1 when they differ.
    Diff(super::edit::DiffArgs),
    /// Propose the narrowest allow entries for what observe mode recorded as would-deny.
    Suggest(super::edit::SuggestArgs),
    /// Fleet: mark a passport suspended in the signed status document (DIR/status.json).
    Suspend(super::fleet::StatusChangeArgs),
    /// Fleet: mark a passport active again in the signed status document.
    Resume(super::fleet::StatusChangeArgs),
    /// Fleet: mark a passport revoked (final) in the signed status document.
    Revoke(super::fleet::StatusChangeArgs),
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// Template name (coding-agent, read-only, ci-bot, refund-agent) or a JSON file.
    #[arg(long, default_value = "coding-agent")]
    pub template: String,
    /// Owner id (e.g. org_acme or user_alice).
    #[arg(long)]
    pub owner: Option<String>,
    /// Owner type.
    #[arg(long, value_parser = ["org", "user"])]
    pub owner_type: Option<String>,
    /// Assurance level (L0, L1, L2, L3, L4KYC, L4FIN).
    #[arg(long)]
    pub assurance: Option<String>,
    /// Expiry from now: e.g. 12h, 30d. Written as metadata.expires_at, where the
    /// OAP passport schema allows it (the schema has no top-level expires_at).
    #[arg(long, value_name = "DURATION")]
    pub expires_in: Option<String>,
    /// Status (draft, active, suspended, revoked).
    #[arg(long)]
    pub status: Option<String>,
    /// Output file (default: the resolved passport path).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
    /// Sign it with the resolved key right away.
    #[arg(long)]
    pub sign: bool,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// Passport file (default: the resolved passport).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Print JSON: {passport, signature, kid, passport_digest}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Passport file (default: the resolved passport).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(paths: &PathArgs, cmd: PassportCommand) -> anyhow::Result<()> {
    match cmd {
        PassportCommand::New(a) => new(paths, a),
        PassportCommand::Sign(a) => {
            let loc = paths.locations(a.file.clone());
            let key = KeyPair::load(&loc.key.path)
                .context("loading the signing key (run `toolgate keygen`)")?;
            let (p, _) = passport::load_unsigned(&loc.passport.path)?;
            prove_delegations(&loc, &p)?;
            if a.json {
                let (sig, digest) = sign_pair(&loc.passport.path, &key)?;
                let v = serde_json::json!({"passport": loc.passport.path, "signature": sig,
                    "kid": key.kid(), "passport_digest": digest});
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                sign_file(&loc.passport.path, &key)?;
            }
            warn_untrusted(&loc, &key);
            Ok(())
        }
        PassportCommand::Verify(a) => verify(paths, a),
        PassportCommand::Show(a) => super::fleet::show(paths, a),
        PassportCommand::Allow(a) => super::edit::allow(paths, a),
        PassportCommand::Deny(a) => super::edit::deny(paths, a),
        PassportCommand::Set(a) => super::edit::set(paths, a),
        PassportCommand::Unset(a) => super::edit::unset(paths, a),
        PassportCommand::Diff(a) => super::edit::diff_cmd(a).map(|_| ()),
        PassportCommand::Suggest(a) => super::edit::suggest(paths, a),
        PassportCommand::Suspend(a) => super::fleet::change(paths, a, FleetStatus::Suspended),
        PassportCommand::Resume(a) => super::fleet::change(paths, a, FleetStatus::Active),
        PassportCommand::Revoke(a) => super::fleet::change(paths, a, FleetStatus::Revoked),
    }
}

/// A passport signed by a key the trust store lacks is denied at every call
/// (`oap.passport_untrusted`): say so now, with the command that fixes it.
pub fn warn_untrusted(loc: &toolgate::home::Locations, key: &KeyPair) {
    let trusted = TrustStore::load_dir(&loc.trust_dir.path)
        .map(|t| t.get(key.kid()).is_some())
        .unwrap_or(false);
    if !trusted {
        let public = loc
            .key
            .path
            .parent()
            .map(|d| d.join("toolgate.pub.jwk"))
            .unwrap_or_default();
        eprintln!(
            "toolgate: warning: the signing key {} is not in the trust store {}, so every call will be denied (oap.passport_untrusted); trust it with: toolgate trust add {}",
            key.kid(),
            loc.trust_dir.path.display(),
            public.display()
        );
    }
}

/// A passport document from a template, with fresh id and timestamps.
pub fn from_template(template: &str, now: time::OffsetDateTime) -> anyhow::Result<Value> {
    let text = match TEMPLATES.iter().find(|(n, _)| *n == template) {
        Some((_, t)) => t.to_string(),
        None => std::fs::read_to_string(template).with_context(|| {
            let names: Vec<&str> = TEMPLATES.iter().map(|(n, _)| *n).collect();
            let near = names
                .iter()
                .min_by_key(|n| toolgate::packs::edit_distance(template, n))
                .copied()
                .unwrap_or("coding-agent");
            format!(
                "`{template}` is neither a built-in template nor a readable file (did you mean `{near}`? templates: {})",
                names.join(", ")
            )
        })?,
    };
    let mut v: Value =
        serde_json::from_str(&text).with_context(|| format!("template {template}"))?;
    let ts = timestamp(now);
    super::set_key(&mut v, "passport_id", uuid::Uuid::new_v4().to_string());
    super::set_key(&mut v, "created_at", ts.clone());
    super::set_key(&mut v, "updated_at", ts);
    Ok(v)
}

fn new(paths: &PathArgs, a: NewArgs) -> anyhow::Result<()> {
    let loc = paths.locations(a.out.clone());
    let out = loc.passport.path.clone();
    let now = time::OffsetDateTime::now_utc();
    let mut v = from_template(&a.template, now)?;
    let set = |v: &mut Value, k: &str, val: &Option<String>| {
        if let Some(x) = val {
            super::set_key(v, k, x.clone());
        }
    };
    set(&mut v, "owner_id", &a.owner);
    set(&mut v, "owner_type", &a.owner_type);
    set(&mut v, "assurance_level", &a.assurance);
    set(&mut v, "status", &a.status);
    if let Some(d) = &a.expires_in {
        // Under metadata: the passport schema forbids a top-level expires_at.
        let until = timestamp(now + super::parse_duration(d)?);
        match v.get_mut("metadata").and_then(Value::as_object_mut) {
            Some(m) => {
                m.insert(META_EXPIRES_AT.into(), until.into());
            }
            None => super::set_key(
                &mut v,
                "metadata",
                serde_json::json!({ META_EXPIRES_AT: until }),
            ),
        }
    }
    let p = Passport::from_value(&v).context("the passport would not be valid")?;
    if out.exists() && !a.force {
        bail!("{} exists; pass --force to replace it", out.display());
    }
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&v)? + "\n")?;
    println!(
        "wrote passport {} ({}) to {}",
        p.passport_id,
        a.template,
        out.display()
    );
    if a.sign {
        let key = KeyPair::load(&loc.key.path)
            .context("loading the signing key (run `toolgate keygen`)")?;
        sign_file(&out, &key)?;
    } else {
        println!("sign it with: toolgate passport sign {}", out.display());
    }
    Ok(())
}

/// Signs a passport file in place (writes FILE.sig).
pub fn sign_file(path: &Path, key: &KeyPair) -> anyhow::Result<()> {
    let line = sign_quietly(path, key)?;
    println!("{line}");
    Ok(())
}

/// Signs a passport file in place and returns the line that says so.
pub fn sign_quietly(path: &Path, key: &KeyPair) -> anyhow::Result<String> {
    let (sig, digest) = sign_pair(path, key)?;
    Ok(format!(
        "signed by {} -> {} ({digest})",
        key.kid(),
        sig.display()
    ))
}

/// Signs a passport file in place; returns the signature file and the passport digest.
fn sign_pair(path: &Path, key: &KeyPair) -> anyhow::Result<(PathBuf, String)> {
    let (_, value) = passport::load_unsigned(path)?;
    let sig = passport::signature_path(path);
    // Passport and signature replaced together: a hook reading them now sees one pair or the other.
    let env = passport::write_signed(
        path,
        &value,
        key,
        &timestamp(time::OffsetDateTime::now_utc()),
    )
    .with_context(|| format!("writing {}", sig.display()))?;
    Ok((sig, env.passport_digest))
}

fn verify(paths: &PathArgs, a: VerifyArgs) -> anyhow::Result<()> {
    let loc = paths.locations(a.file.clone());
    let trust = TrustStore::load_dir(&loc.trust_dir.path)?;
    let v = passport::load_verified(&loc.passport.path, &trust)
        .map_err(|e| anyhow::anyhow!("{} ({})", e, e.code()))?;
    let p = v.passport();
    prove_delegations(&loc, p)?;
    let now = time::OffsetDateTime::now_utc();
    let expired = p.expires().is_some_and(|e| e <= now);
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "passport_id": p.passport_id, "owner_id": p.owner_id, "signer": v.signer_kid(),
                "signed_at": v.signed_at(), "status": p.status.as_str(), "expires_at": p.expiry_text(),
                "expired": expired, "digest": v.digest(), "assurance_level": p.assurance_level.as_str(),
                "capabilities": p.capabilities.iter().map(|c| &c.id).collect::<Vec<_>>(),
            }))?
        );
    } else {
        println!(
            "passport   {} ({})",
            p.passport_id,
            loc.passport.path.display()
        );
        println!("owner      {} ({:?})", p.owner_id, p.owner_type);
        println!("signed by  {} at {}", v.signer_kid(), v.signed_at());
        println!("status     {}", p.status.as_str());
        println!(
            "expires    {}",
            p.expiry_text().map_or("never".to_string(), |e| if expired {
                format!("{e} (EXPIRED)")
            } else {
                e.to_string()
            })
        );
        println!("assurance  {}", p.assurance_level.as_str());
        println!(
            "grants     {}",
            p.capabilities
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!("digest     {}", v.digest());
    }
    if p.status != passport::Status::Active || expired {
        bail!(
            "the signature is valid but the passport is not usable ({})",
            if expired {
                "expired"
            } else {
                p.status.as_str()
            }
        );
    }
    Ok(())
}

/// Refuses a passport whose delegations widen it, naming the widening.
fn prove_delegations(loc: &toolgate::home::Locations, p: &Passport) -> anyhow::Result<()> {
    let catalog =
        toolgate::packs::Catalog::with_overrides(loc.packs_dir.as_ref().map(|r| r.path.as_path()))?;
    toolgate::policy::delegation::delegations(p, &catalog)
        .map(|_| ())
        .map_err(|r| anyhow::anyhow!("{} ({})", r.message, r.code))
}
