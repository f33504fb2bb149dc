//! `toolgate init`: a key, its trust entry and a signed starter passport.

use super::keys::add_trusted;
use super::passport::{from_template, sign_quietly, TEMPLATES};
use super::PathArgs;
use anyhow::Context;
use clap::Args;
use toolgate::home::PUBLIC_KEY_FILE;
use toolgate::passport::{KeyPair, Passport};

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Starter passport: coding-agent, read-only, ci-bot, refund-agent (or a JSON file).
    #[arg(long, default_value = "coding-agent")]
    pub template: String,
    /// Replace an existing passport (the key is always kept if present).
    #[arg(long)]
    pub force: bool,
    /// Print JSON: {kid, key, trusted, passport, passport_id, fixtures}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(paths: &PathArgs, a: InitArgs) -> anyhow::Result<()> {
    let loc = paths.locations(None);
    let mut report = serde_json::json!({"key": loc.key.path, "passport": loc.passport.path});
    let quiet = a.json;
    let say = |line: String| {
        if !quiet {
            println!("{line}");
        }
    };
    let key = match KeyPair::load(&loc.key.path) {
        Ok(k) => {
            say(format!(
                "key       {} (kept, {})",
                k.kid(),
                loc.key.path.display()
            ));
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
            say(format!(
                "key       {} (new, {})",
                k.kid(),
                loc.key.path.display()
            ));
            k
        }
    };
    let trusted = add_trusted(&loc.trust_dir.path, &key.public())?;
    say(format!("trusted   {}", trusted.display()));
    super::set_key(&mut report, "kid", key.kid());
    super::set_key(&mut report, "trusted", serde_json::json!(trusted));
    let out = &loc.passport.path;
    if out.exists() && !a.force {
        say(format!(
            "passport  kept {} (pass --force to replace it)",
            out.display()
        ));
    } else {
        let doc = from_template(&a.template, time::OffsetDateTime::now_utc())?;
        let p = Passport::from_value(&doc).context("the template is not a valid passport")?;
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(out, serde_json::to_string_pretty(&doc)? + "\n")?;
        say(format!(
            "passport  {} from {} ({})",
            p.passport_id,
            a.template,
            out.display()
        ));
        super::set_key(&mut report, "passport_id", p.passport_id.clone());
        say(sign_quietly(out, &key)?);
    }
    let fixtures = super::fixtures::default_dir(&loc);
    if let Some((f, fresh)) = super::fixtures::write_starter(&fixtures, &a.template)? {
        super::set_key(&mut report, "fixtures", serde_json::json!(f));
        say(match fresh {
            true => format!("fixtures  {} (run them: toolgate test)", f.display()),
            false => format!("fixtures  kept {}", f.display()),
        });
    }
    if a.json {
        println!("{report}");
        return Ok(());
    }
    let names: Vec<&str> = TEMPLATES.iter().map(|(n, _)| *n).collect();
    println!("\ntemplates: {}", names.join(", "));
    println!("next: wire a host, then check it:");
    println!("  toolgate install claude-code   # or cursor, codex, gemini, copilot");
    println!("  toolgate doctor");
    Ok(())
}
