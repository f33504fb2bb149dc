//! `toolgate keygen` and `toolgate trust`.

use super::PathArgs;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use toolgate::home::{KEY_FILE, PUBLIC_KEY_FILE};
use toolgate::passport::{KeyPair, PublicKey, TrustStore};

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Directory for toolgate.key.jwk and toolgate.pub.jwk (default: the resolved key's directory).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also add the public key to the trust store, so passports it signs are accepted.
    #[arg(long)]
    pub trust: bool,
    /// Print JSON: {kid, private_key, public_key, trusted}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Trust passports signed by this public key (a JWK file).
    Add {
        #[arg(value_name = "PUBKEY_FILE")]
        file: PathBuf,
        /// Accept this key's signature only on passports for this owner_id (repeatable).
        /// Without it, the key may sign for any owner.
        #[arg(long = "owner", value_name = "OWNER_ID")]
        owners: Vec<String>,
        /// Print JSON: {kid, file, owners}.
        #[arg(long)]
        json: bool,
    },
    /// List trusted key ids.
    List {
        /// Print JSON: [{kid, owners}].
        #[arg(long)]
        json: bool,
    },
    /// Stop trusting a key id.
    Remove {
        #[arg(value_name = "KID")]
        kid: String,
        /// Print JSON: {kid, removed}.
        #[arg(long)]
        json: bool,
    },
    /// Approve a project's own policy (DIR/.toolgate/project-policy.json): it
    /// is proven to only narrow your passport and its SHA-256 is pinned; any
    /// later change denies every call in DIR until you approve it again.
    #[command(after_help = "\
The file has a delegation's shape: optional \"capabilities\" (the ones kept;
default all of the passport's) and \"limits\" that tighten the passport's, e.g.
  {\"limits\": {\"system.command.execute\": {\"blocked_patterns\": [\"rm -rf\", \"git push\"]}}}
It applies only while DIR is a trusted project root of the call (the host's
project directory, --project-root, or config project_roots). A project policy
nobody approved is never read.")]
    Project {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Remove the approval instead.
        #[arg(long)]
        forget: bool,
    },
}

pub fn keygen(paths: &PathArgs, a: KeygenArgs) -> anyhow::Result<()> {
    let loc = paths.locations(None);
    let (private, public) = match a.out {
        Some(dir) => (dir.join("toolgate.key.jwk"), dir.join("toolgate.pub.jwk")),
        None if paths.key.is_some() || std::env::var_os("TOOLGATE_KEY").is_some() => {
            let p = loc.key.path.clone();
            let pubp = p.with_file_name("toolgate.pub.jwk");
            (p, pubp)
        }
        None => (
            loc.config_root.join(KEY_FILE),
            loc.config_root.join(PUBLIC_KEY_FILE),
        ),
    };
    let pair = KeyPair::generate();
    pair.save(&private, &public)?;
    if a.trust {
        add_trusted(&loc.trust_dir.path, &pair.public())?;
    }
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "kid": pair.kid(), "private_key": private, "public_key": public,
                "trusted": a.trust.then_some(&loc.trust_dir.path),
            })
        );
        return Ok(());
    }
    println!("key id      {}", pair.kid());
    println!(
        "private key {} (mode 0600: keep it secret)",
        private.display()
    );
    println!("public key  {}", public.display());
    if a.trust {
        println!("trusted     yes ({})", loc.trust_dir.path.display());
    }
    Ok(())
}

pub(crate) fn add_trusted(dir: &std::path::Path, key: &PublicKey) -> anyhow::Result<PathBuf> {
    add_trusted_for(dir, key, &[])
}

fn add_trusted_for(
    dir: &std::path::Path,
    key: &PublicKey,
    owners: &[String],
) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dest = dir.join(TrustStore::file_name(&key.kid));
    std::fs::write(&dest, key.to_trust_entry(owners))
        .with_context(|| format!("writing {}", dest.display()))?;
    Ok(dest)
}

pub fn trust(paths: &PathArgs, cmd: TrustCommand) -> anyhow::Result<()> {
    let loc = paths.locations(None);
    let dir = &loc.trust_dir.path;
    match cmd {
        TrustCommand::Add { file, owners, json } => {
            let key = PublicKey::load(&file)?;
            let dest = add_trusted_for(dir, &key, &owners)?;
            if json {
                let v = serde_json::json!({"kid": key.kid, "file": dest, "owners": owners});
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            println!("trusted {} ({})", key.kid, dest.display());
            if !owners.is_empty() {
                println!("  may sign only for {}", owners.join(", "));
            }
        }
        TrustCommand::List { json: true } => {
            let store = TrustStore::load_dir(dir)?;
            let keys: Vec<serde_json::Value> = store
                .kids()
                .map(|k| serde_json::json!({"kid": k, "owners": store.bound_owners(k)}))
                .collect();
            println!("{}", serde_json::Value::Array(keys));
        }
        TrustCommand::List { json: false } => {
            let store = TrustStore::load_dir(dir)?;
            let mut any = false;
            for kid in store.kids() {
                println!("{kid}");
                any = true;
            }
            if !any {
                eprintln!("no trusted keys in {}", dir.display());
            }
        }
        TrustCommand::Project { dir, forget } => trust_project(&loc, &dir, forget)?,
        TrustCommand::Remove { kid, json } => {
            let p = dir.join(TrustStore::file_name(&kid));
            std::fs::remove_file(&p)
                .with_context(|| format!("{kid} is not trusted ({})", p.display()))?;
            if json {
                let v = serde_json::json!({"kid": kid, "removed": p});
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            println!("removed {kid}");
        }
    }
    Ok(())
}

/// `toolgate trust project DIR`: prove the project's policy narrows the
/// passport, then pin its digest (or, with `--forget`, drop the approval).
fn trust_project(
    loc: &toolgate::home::Locations,
    dir: &std::path::Path,
    forget: bool,
) -> anyhow::Result<()> {
    use toolgate::policy::project::{self, Store};
    let dir = std::fs::canonicalize(dir).with_context(|| format!("{}", dir.display()))?;
    let store_path = loc.config_root.join(project::STORE);
    let mut store = Store::load(&store_path)?;
    if forget {
        let before = store.projects.len();
        store.projects.retain(|p| p.dir != dir);
        if store.projects.len() == before {
            anyhow::bail!("{} is not an approved project", dir.display());
        }
        store.save(&store_path)?;
        println!("forgot {}", dir.display());
        return Ok(());
    }
    let Some((bytes, digest)) = project::read(&dir)? else {
        anyhow::bail!(
            "{} has no {}; write one first (see --help)",
            dir.display(),
            project::FILE
        );
    };
    let trust = TrustStore::load_dir(&loc.trust_dir.path)?;
    let v = toolgate::passport::load_verified(&loc.passport.path, &trust)
        .context("the policy is proven against your passport, which must load")?;
    let catalog =
        toolgate::packs::Catalog::with_overrides(loc.packs_dir.as_ref().map(|r| r.path.as_path()))?;
    project::narrowed(&dir, &bytes, v.passport(), &catalog)
        .map_err(|r| anyhow::anyhow!("refused: {} ({})", r.message, r.code.as_str()))?;
    let now = toolgate::canonical::timestamp(time::OffsetDateTime::now_utc());
    store.pin(dir.clone(), digest.clone(), now);
    store.save(&store_path)?;
    println!("approved {} ({digest})", dir.join(project::FILE).display());
    println!(
        "  it narrows passport {}; a change to it denies calls there until you approve it again",
        v.passport().passport_id
    );
    Ok(())
}
