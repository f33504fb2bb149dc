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

With --pattern, a denied command is approved by its first words instead of its exact
text: for the grant's life, calls are decided as if the passport's allowed_commands
held that one more entry, and every other rule still applies (blocked patterns,
options that run other code, the files the command reads and writes, rates). The
pattern must be the denied command's first words, plain words only (nothing the
shell expands, quotes or chains), and more than the program name alone: `cargo
bench` for a denied `cargo bench --bench parse`, never `cargo` or `*`. It is shown
in words before you confirm. See docs/passports.md, \"Approving a pattern\".

Exit codes: 0 granted; 1 no such decision, nothing to approve, a pattern refused, or
not confirmed.

Examples:
  toolgate approve 6f1c0a7e-...              # the next identical call, once
  toolgate approve 6f1c0a7e --for 1h          # identical calls for an hour
  toolgate approve 6f1c0a7e --pattern 'cargo bench' --for 1d
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
    /// Approve commands that start with these words (the denied command's first words,
    /// more than the program alone) instead of the exact call.
    #[arg(long, value_name = "WORDS")]
    pub pattern: Option<String>,
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

/// The pattern grant for a denied command, after the rule in [`grant::check_command_pattern`].
fn command_pattern(r: &Record, words: &str) -> anyhow::Result<grant::Pattern> {
    use toolgate::reason::ReasonCode;
    let (capability, list, _) = super::edit::Kind::Command.lists();
    let denied = r
        .reasons
        .first()
        .filter(|x| x.code == ReasonCode::CommandNotAllowed)
        .and_then(|x| toolgate::checks::command::not_allowed_subject(&x.message));
    let Some(denied) = denied else {
        bail!(
            "decision {} was not denied for a command missing from allowed_commands ({}), so there is no pattern to approve; approve the exact call (without --pattern), or change the passport (`toolgate passport allow`)",
            r.decision_id,
            r.reasons.first().map_or("no reason", |x| x.code.as_str())
        );
    };
    grant::check_command_pattern(words, denied)
        .map_err(|e| anyhow::anyhow!("refused: {e}; the denied command was `{denied}`"))?;
    Ok(grant::Pattern {
        capability: capability.into(),
        list: list.into(),
        entry: words.split_whitespace().collect::<Vec<_>>().join(" "),
    })
}

pub fn run(paths: &PathArgs, a: ApproveArgs) -> anyhow::Result<()> {
    let r = find(paths, &a.decision_id)?;
    if r.verdict == toolgate::audit::RecordVerdict::Allow {
        bail!(
            "decision {} was allowed; there is nothing to approve",
            r.decision_id
        );
    }
    refuse_if_unapprovable(&r)?;
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
    let pattern = a
        .pattern
        .as_deref()
        .map(|p| command_pattern(&r, p))
        .transpose()?;
    describe(&r);
    if !a.yes {
        confirm(&r, pattern.as_ref(), &when(once, expires))?;
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
        pattern,
    };
    let path = grant::store(&loc.config_root, grant.clone(), &key)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&grant)?);
    } else {
        let scope = grant.pattern.as_ref().map_or_else(
            || "this exact call".to_string(),
            |p| format!("commands starting with `{}`", p.entry),
        );
        let how_long = when(once, expires);
        println!(
            "granted {} for {scope} ({how_long}) -> {}",
            grant.grant_id,
            path.display()
        );
    }
    Ok(())
}

/// The decision being approved, as the person deciding sees it first.
fn describe(r: &Record) {
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
}

/// A decision no approval may lift (a suspended or unverifiable passport, a broken
/// policy, toolgate's own files, a deny before any pack ran) is refused here, saying why:
/// the gate would never let such a grant through.
fn refuse_if_unapprovable(r: &Record) -> anyhow::Result<()> {
    let hard = toolgate::decision::no_approval_lifts(r.deciding_check.as_deref(), &r.reasons);
    if hard {
        bail!(
            "decision {} cannot be approved: {} ({}); fix the cause instead",
            r.decision_id,
            r.reasons.first().map_or("", |x| x.message.as_str()),
            r.reasons.first().map_or("", |x| x.code.as_str())
        );
    }
    Ok(())
}

/// How long a grant lasts, in words.
fn when(once: bool, expires: time::OffsetDateTime) -> String {
    if once {
        "once".to_string()
    } else {
        format!("until {}", toolgate::canonical::timestamp(expires))
    }
}

/// Asks on the terminal; anything but yes refuses.
fn confirm(r: &Record, pattern: Option<&grant::Pattern>, when: &str) -> anyhow::Result<()> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        bail!("confirm on a terminal, or pass --yes");
    }
    match pattern {
        Some(p) => print!(
            "allow every command that starts with `{}` (with any further arguments) under \
             passport {}, {when}? Every other rule of the passport still applies. [y/N] ",
            p.entry,
            r.passport_id.as_deref().unwrap_or("")
        ),
        None => print!("allow this exact call {when}? [y/N] "),
    }
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if !matches!(line.trim(), "y" | "Y" | "yes") {
        bail!("not approved");
    }
    Ok(())
}
