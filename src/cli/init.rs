//! `toolgate init`: a key, its trust entry and a signed starter passport.

use super::keys::add_trusted;
use super::passport::{from_template, sign_file, TEMPLATES};
use super::PathArgs;
use crate::home::PUBLIC_KEY_FILE;
use crate::passport::{KeyPair, Passport};
use anyhow::Context;
use clap::Args;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Starter passport: coding-agent, read-only, ci-bot, refund-agent (or a JSON file).
    #[arg(long, default_value = "coding-agent")]
    pub template: String,
    /// Replace an existing passport (the key is always kept if present).
    #[arg(long)]
    pub force: bool,
}

pub fn run(paths: &PathArgs, a: InitArgs) -> anyhow::Result<()> {
    let loc = paths.locations(None);
    let key = match KeyPair::load(&loc.key.path) {
        Ok(k) => {
            println!("key       {} (kept, {})", k.kid(), loc.key.path.display());
            k
        }
        Err(_) if loc.key.path.exists() => {
            anyhow::bail!(
                "{} exists but cannot be read as a key; move it away or fix it",
                loc.key.path.display()
            )
        }
        Err(_) => {
            let k = KeyPair::generate();
            let public = loc.key.path.parent().map_or_else(
                || loc.config_root.join(PUBLIC_KEY_FILE),
                |d| d.join("toolgate.pub.jwk"),
            );
            k.save(&loc.key.path, &public)?;
            println!("key       {} (new, {})", k.kid(), loc.key.path.display());
            k
        }
    };
    let trusted = add_trusted(&loc.trust_dir.path, &key.public())?;
    println!("trusted   {}", trusted.display());
    let out = &loc.passport.path;
    if out.exists() && !a.force {
        println!(
            "passport  kept {} (pass --force to replace it)",
            out.display()
        );
    } else {
        let doc = from_template(&a.template, time::OffsetDateTime::now_utc())?;
        let p = Passport::from_value(&doc).context("the template is not a valid passport")?;
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(out, serde_json::to_string_pretty(&doc)? + "\n")?;
        println!(
            "passport  {} from {} ({})",
            p.passport_id,
            a.template,
            out.display()
        );
        sign_file(out, &key)?;
    }
    let names: Vec<&str> = TEMPLATES.iter().map(|(n, _)| *n).collect();
    println!("\ntemplates: {}", names.join(", "));
    println!("next: wire a host, then check it:");
    println!("  toolgate install claude-code   # or cursor, codex, gemini, copilot");
    println!("  toolgate doctor");
    Ok(())
}
