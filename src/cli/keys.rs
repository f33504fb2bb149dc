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
        TrustCommand::Add { file, owners } => {
            let key = PublicKey::load(&file)?;
            let dest = add_trusted_for(dir, &key, &owners)?;
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
        TrustCommand::Remove { kid } => {
            let p = dir.join(TrustStore::file_name(&kid));
            std::fs::remove_file(&p)
                .with_context(|| format!("{kid} is not trusted ({})", p.display()))?;
            println!("removed {kid}");
        }
    }
    Ok(())
}
