//! `toolgate approve DECISION_ID [--once | --for 1h]`: a person lifts one deny or review.

use super::PathArgs;
use anyhow::{bail, Context};
use clap::Args;
use toolgate::audit::log::chain_files;
use toolgate::audit::Record;
use toolgate::grant::{self, Grant};
use toolgate::passport::KeyPair;

#[derive(Debug, Args)]
#[command(after_help = "\
The grant is bound to that call: the same tool with the same input (its digest), under
the same passport. It is signed with the evaluator key, kept in toolgate's configuration
directory (agents may neither read nor write it), used by the next matching call, and
cited by that call's audit record (`grant_id`). Denies no person may lift (a suspended or
expired passport, toolgate's own files, gate failures) cannot be approved.

Exit codes: 0 granted; 1 no such decision, nothing to approve, or not confirmed.

Examples:
  toolgate approve 6f1c0a7e-...              # the next identical call, once
  toolgate approve 6f1c0a7e --for 1h          # identical calls for an hour
  toolgate log --verdict deny --since 1h      # find the decision id")]
pub struct ApproveArgs {
    /// The decision id from the deny (a unique prefix is enough).
    pub decision_id: String,
    /// For the next matching call only (the default).
    #[arg(long, conflicts_with = "for_")]
    pub once: bool,
    /// For every matching call during this long (e.g. 30m, 1h, 1d).
    #[arg(long = "for", value_name = "DURATION")]
    pub for_: Option<String>,
    /// Do not ask for confirmation on the terminal.
    #[arg(long)]
    pub yes: bool,
    /// Print the grant as JSON.
    #[arg(long)]
    pub json: bool,
}

fn find(paths: &PathArgs, id: &str) -> anyhow::Result<Record> {
    let log = paths.locations(None).audit_log.path;
    let files = chain_files(&log).with_context(|| format!("listing {}", log.display()))?;
    let mut hits = Vec::new();
    toolgate::audit::query::for_each(&files, |r| {
        if r.decision_id.starts_with(id) {
            hits.push(r);
        }
    })?;
    match hits.len() {
        0 => bail!(
            "no decision `{id}` in {}; `toolgate log --verdict deny` lists recent ones",
            log.display()
        ),
        1 => Ok(hits.remove(0)),
        n => bail!("`{id}` matches {n} decisions; give more of the id"),
    }
}

pub fn run(paths: &PathArgs, a: ApproveArgs) -> anyhow::Result<()> {
    let r = find(paths, &a.decision_id)?;
    if r.verdict == toolgate::audit::RecordVerdict::Allow {
        bail!(
            "decision {} was allowed; there is nothing to approve",
            r.decision_id
        );
    }
    let hard = r.reasons.iter().any(|x| {
        use toolgate::reason::ReasonCode as C;
        matches!(
            x.code,
            C::PassportSuspended
                | C::PassportExpired
                | C::PolicyError
                | C::UnknownPolicy
                | C::InternalError
                | C::AuditUnavailable
                | C::PassportInvalid
                | C::PassportUntrusted
                | C::SignatureInvalid
                | C::PassportNotFound
                | C::PassportUnsigned
                | C::InvalidInput
        ) || x.message.contains("toolgate protects it")
    });
    if hard {
        bail!(
            "decision {} cannot be approved: {} ({}); fix the cause instead",
            r.decision_id,
            r.reasons.first().map_or("", |x| x.message.as_str()),
            r.reasons.first().map_or("", |x| x.code.as_str())
        );
    }
    let passport_id = r
        .passport_id
        .clone()
        .context("the decision names no passport; nothing to bind a grant to")?;
    let now = time::OffsetDateTime::now_utc();
    let (once, expires) = match &a.for_ {
        Some(d) => (false, now + super::parse_duration(d)?),
        // A one-time grant still lapses, so a forgotten one cannot wait forever.
        None => (true, now + time::Duration::days(1)),
    };
    let first = r.reasons.first();
    println!(
        "decision {} ({}): {} {} under {}\n  {}",
        r.decision_id,
        r.ts,
        r.verdict,
        r.tool,
        r.policy_id,
        first.map_or(String::new(), |x| format!("{} ({})", x.message, x.code))
    );
    if !a.yes {
        use std::io::{BufRead, IsTerminal, Write};
        if !std::io::stdin().is_terminal() {
            bail!("confirm on a terminal, or pass --yes");
        }
        print!(
            "allow this exact call {}? [y/N] ",
            if once {
                "once".to_string()
            } else {
                format!("until {}", toolgate::canonical::timestamp(expires))
            }
        );
        std::io::stdout().flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            bail!("not approved");
        }
    }
    let loc = paths.locations(None);
    let key = KeyPair::load(&loc.key.path)
        .context("the grant is signed with the evaluator key; run `toolgate init` or pass --key")?;
    let grant = Grant {
        grant_id: format!("grant-{}", uuid::Uuid::new_v4().simple()),
        decision_id: r.decision_id.clone(),
        passport_id,
        tool: r.tool.clone(),
        policy_id: r.policy_id.clone(),
        input_digest: r.input_digest.clone(),
        once,
        expires_at: expires.unix_timestamp(),
        approved_by: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
        created_at: toolgate::canonical::timestamp(now),
    };
    let path = grant::store(&loc.config_root, grant.clone(), &key)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&grant)?);
    } else {
        println!(
            "granted {} ({}) -> {}",
            grant.grant_id,
            if once {
                "once".to_string()
            } else {
                format!("until {}", toolgate::canonical::timestamp(expires))
            },
            path.display()
        );
    }
    Ok(())
}
