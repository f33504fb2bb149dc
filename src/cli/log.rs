//! `toolgate log`: query, summarise and export the audit log.

use super::PathArgs;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use time::format_description::well_known::Rfc3339;
use toolgate::audit::export;
use toolgate::audit::log::chain_files;
use toolgate::audit::query::{self, Filter, Summary};
use toolgate::audit::Record;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  toolgate log --agent oap:agent:ci --verdict deny --since 24h
  toolgate log --summary --since 2026-01-01
  toolgate log --ungated          # tools that ran without toolgate's allow
  toolgate log --would-deny --since 7d   # what observe/warn mode let through
  toolgate log export --format ocsf --since 1h > events.jsonl")]
pub struct LogArgs {
    #[command(subcommand)]
    pub command: Option<LogCommand>,
    #[command(flatten)]
    pub query: QueryArgs,
    /// Counts by verdict, tool and reason code instead of records.
    #[arg(long)]
    pub summary: bool,
    /// Print JSON (one record per line; the summary as one object).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Write matching records for a SIEM, one per line.
    Export(ExportArgs),
    /// Explain one past decision in full: who, what, under which passport, why.
    #[command(after_help = "\
Examples:
  toolgate log show 42
  toolgate log show 42 --json")]
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The record's sequence number (the first column of `toolgate log`).
    pub seq: u64,
    /// Print the record as JSON.
    #[arg(long)]
    pub json: bool,
    /// Log files to read, oldest first (default: the resolved log and its segments).
    #[arg(long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Each OCSF event (at `unmapped.checkpoint`) and CEF line (`flexString1`) carries a checkpoint
of its record signed with the evaluator key: keep them, and `toolgate verify-log --checkpoint
events.jsonl` proves later that the log still extends every exported decision.")]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: Format,
    /// Export OCSF/CEF without signed checkpoints (when the evaluator key is not at hand).
    #[arg(long)]
    pub no_checkpoint: bool,
    #[command(flatten)]
    pub query: QueryArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// The records as they are.
    Jsonl,
    /// OCSF API Activity (class 6003) events.
    Ocsf,
    /// ArcSight Common Event Format lines.
    Cef,
}

#[derive(Debug, Args, Clone, Default)]
pub struct QueryArgs {
    /// Agent (passport) id.
    #[arg(long)]
    pub agent: Option<String>,
    /// Tool name as the host named it.
    #[arg(long)]
    pub tool: Option<String>,
    /// allow, review, deny, or ungated (alarms for calls that ran without an allow record).
    #[arg(long, value_parser = ["allow", "review", "deny", "ungated"])]
    pub verdict: Option<String>,
    /// Only ungated-call alarms: tools that ran with no allow record (same as --verdict ungated).
    #[arg(long, conflicts_with = "verdict")]
    pub ungated: bool,
    /// Only calls that observe or warn mode let through: what enforce would have
    /// denied (or sent to review). --reason then matches the would-be reasons.
    #[arg(long)]
    pub would_deny: bool,
    /// Reason code, e.g. oap.limit_exceeded.
    #[arg(long)]
    pub reason: Option<String>,
    /// Host session id.
    #[arg(long)]
    pub session: Option<String>,
    /// From this time: RFC 3339, YYYY-MM-DD (UTC), or an age like 30m, 24h, 7d.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Log files to read, oldest first (default: the resolved log and its segments).
    #[arg(long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Parses `--since`/`--until` into unix seconds.
pub fn parse_time(s: &str, now: i64) -> Result<i64> {
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    let date_fmt = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(s, &date_fmt) {
        return Ok(d.midnight().assume_utc().unix_timestamp());
    }
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("`{s}` is not a time (RFC 3339, YYYY-MM-DD, or an age like 24h)"),
    };
    let n: i64 = num
        .parse()
        .with_context(|| format!("`{s}` is not a time"))?;
    Ok(now - n * mult)
}

impl QueryArgs {
    fn filter(&self) -> Result<Filter> {
        if let Some(r) = &self.reason {
            // A built-in code, or one a built-in pack names for itself.
            let by_pack = || {
                toolgate::packs::Catalog::embedded().is_ok_and(|c| {
                    c.packs()
                        .flat_map(|p| p.checks.iter().filter_map(|k| k.code()))
                        .any(|code| code.as_str() == r)
                })
            };
            if toolgate::reason::ReasonCode::parse(r).is_none() && !by_pack() {
                super::fixtures::check_reason(r)?;
            }
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Ok(Filter {
            agent: self.agent.clone(),
            tool: self.tool.clone(),
            verdict: if self.ungated {
                Some(toolgate::ungated::EVENT.into())
            } else {
                self.verdict.clone()
            },
            reason: self.reason.clone(),
            session: self.session.clone(),
            would_deny: self.would_deny,
            since: self
                .since
                .as_deref()
                .map(|s| parse_time(s, now))
                .transpose()?,
            until: self
                .until
                .as_deref()
                .map(|s| parse_time(s, now))
                .transpose()?,
        })
    }

    fn files(&self, paths: &PathArgs) -> Result<Vec<PathBuf>> {
        if !self.files.is_empty() {
            return Ok(self.files.clone());
        }
        let log = paths.locations(None).audit_log.path;
        chain_files(&log).with_context(|| format!("listing {}", log.display()))
    }

    /// Streams matching records to `each`.
    fn each(&self, paths: &PathArgs, mut each: impl FnMut(&Record) -> Result<()>) -> Result<()> {
        let filter = self.filter()?;
        let mut failed = Ok(());
        query::for_each(&self.files(paths)?, |r| {
            if failed.is_ok() && filter.matches(&r) {
                failed = each(&r);
            }
        })?;
        failed
    }
}

pub fn run(paths: &PathArgs, a: LogArgs) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match a.command {
        Some(LogCommand::Export(e)) => {
            let signer = match (e.format, e.no_checkpoint) {
                (Format::Jsonl, _) | (_, true) => None,
                _ => Some(checkpoint_signer(paths, &e.query)?),
            };
            let mut log_id = signer.as_ref().and_then(|s| s.1.clone());
            let origin = export::Origin::local();
            e.query.each(paths, |r| {
                if r.seq == 0 {
                    log_id = Some(r.hash.clone());
                }
                let cp = signer.as_ref().map(|(key, _)| {
                    let id = log_id.as_deref().unwrap_or("unknown");
                    toolgate::audit::head::Checkpoint::of(id, r, key)
                });
                let line = match e.format {
                    Format::Jsonl => serde_json::to_string(r)?,
                    Format::Ocsf => export::ocsf(r, cp.as_ref(), &origin).to_string(),
                    Format::Cef => export::cef(r, cp.as_ref(), &origin),
                };
                writeln!(out, "{line}")?;
                Ok(())
            })?
        }
        None if a.summary => {
            let mut s = Summary::default();
            a.query.each(paths, |r| {
                s.add(r);
                Ok(())
            })?;
            if a.json {
                writeln!(out, "{}", serde_json::to_string(&s)?)?;
            } else {
                write_summary(&mut out, &s)?;
            }
        }
        Some(LogCommand::Show(s)) => {
            let q = QueryArgs {
                files: s.files.clone(),
                ..Default::default()
            };
            let mut found = None;
            // The nearest records on either side, to say what a missing one means.
            let mut below: Option<(u64, String)> = None;
            let mut above: Option<u64> = None;
            q.each(paths, |r| {
                if r.seq == s.seq {
                    found = Some(r.clone());
                } else if r.seq < s.seq && below.as_ref().is_none_or(|(b, _)| r.seq > *b) {
                    below = Some((r.seq, r.hash.clone()));
                } else if r.seq > s.seq && above.is_none_or(|a| r.seq < a) {
                    above = Some(r.seq);
                }
                Ok(())
            })?;
            let Some(r) = found else {
                bail!("{}", missing_seq(s.seq, below.as_ref(), above));
            };
            if s.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?;
            } else {
                write!(out, "{}", explain(&r))?;
            }
        }
        None if a.json => a.query.each(paths, |r| {
            writeln!(out, "{}", serde_json::to_string(r)?)?;
            Ok(())
        })?,
        None => {
            let mut rows = Vec::new();
            a.query.each(paths, |r| {
                rows.push(row(r));
                Ok(())
            })?;
            write_table(&mut out, &rows)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// The evaluator key that signs exported checkpoints, and the log's id as its head or
/// first record names it.
fn checkpoint_signer(
    paths: &PathArgs,
    q: &QueryArgs,
) -> Result<(toolgate::passport::KeyPair, Option<String>)> {
    let loc = paths.locations(None);
    let key = toolgate::passport::KeyPair::load(&loc.key.path).with_context(|| {
        format!(
            "OCSF/CEF events carry a checkpoint signed by the evaluator key {}; pass --no-checkpoint to export without",
            loc.key.path.display()
        )
    })?;
    let files = q.files(paths)?;
    let head = files
        .last()
        .map(|f| toolgate::audit::head::head_path(f))
        .and_then(|h| toolgate::audit::head::Head::load(&h).ok().flatten());
    Ok((key, head.map(|h| h.checkpoint.log_id)))
}

/// Why `log show SEQ` found nothing: not written yet, before the first record kept, or
/// deleted from between two records (which is tampering, and said so with what to do).
fn missing_seq(seq: u64, below: Option<&(u64, String)>, above: Option<u64>) -> String {
    match (below, above) {
        (None, None) => format!("no record with seq {seq}: the log holds no records"),
        (Some((last, hash)), None) => format!(
            "no record with seq {seq}: the log ends at seq {last} ({hash}); if a decision \
             with that seq was made, the end of the log was cut off: `toolgate verify-log` \
             checks it against the signed head"
        ),
        (None, Some(first)) => format!(
            "no record with seq {seq}: the log starts at seq {first}; earlier records are \
             in rotated segments that are not here (pass them as FILES), or were lost: \
             `toolgate verify-log` says which"
        ),
        (Some((last, hash)), Some(next)) => format!(
            "seq {seq} is missing: the log jumps from seq {last} ({hash}, the last hash known \
             before the gap) to seq {next}, so record{} deleted. Run `toolgate verify-log` for \
             the full finding; restore the lines from a copy of the log or an export (`toolgate \
             log export`, your SIEM); if they are gone for good, keep the log as evidence of \
             the deletion",
            if next - last == 2 {
                format!(" {seq} was")
            } else {
                format!("s {}..={} were", last + 1, next - 1)
            }
        ),
    }
}

/// One table row: seq, time, verdict, tool, reason code, short decision id, message.
fn row(r: &Record) -> [String; 7] {
    // A call a rollout mode let through shows what was held back.
    let held = r.enforced == Some(false);
    let first = match held {
        true => r.would_reasons.first(),
        false => r.reasons.first(),
    };
    let note = match (held, &r.mode, &r.would_verdict) {
        (true, Some(m), Some(v)) => format!("[{m}: would {v}] "),
        _ => String::new(),
    };
    let verdict = match (&r.event, r.grant_id.is_some()) {
        (Some(e), _) => e.clone(),
        (None, true) => format!("{} (approved)", r.verdict),
        (None, false) => r.verdict.to_string(),
    };
    [
        r.seq.to_string(),
        r.ts.clone(),
        verdict,
        r.tool.clone(),
        first.map_or("-", |x| x.code.as_str()).to_string(),
        r.decision_id.chars().take(8).collect(),
        format!("{note}{}", first.map_or("", |x| x.message.as_str())),
    ]
}

/// A table whose column widths come from its content; the message column is last and free.
fn write_table(out: &mut impl Write, rows: &[[String; 7]]) -> Result<()> {
    const HEAD: [&str; 7] = [
        "SEQ", "TIME", "VERDICT", "TOOL", "REASON", "DECISION", "MESSAGE",
    ];
    if rows.is_empty() {
        writeln!(out, "no matching records")?;
        return Ok(());
    }
    let mut w = HEAD.map(str::len);
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(slot) = w.get_mut(i) {
                *slot = (*slot).max(c.chars().count());
            }
        }
    }
    let color = super::color();
    let line = |cells: [&str; 7], verdict_color: Option<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let width = w.get(i).copied().unwrap_or(0);
            let padded = if i == 0 {
                format!("{c:>width$}")
            } else if i + 1 == cells.len() {
                c.to_string()
            } else {
                format!("{c:<width$}")
            };
            match (i, verdict_color) {
                (2, Some(code)) if color => s.push_str(&super::paint(&padded, code)),
                _ => s.push_str(&padded),
            }
            if i + 1 < cells.len() {
                s.push_str("  ");
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(HEAD, None))?;
    for r in rows {
        let cells = r.each_ref().map(String::as_str);
        let code = match cells.get(2).and_then(|v| v.split(' ').next()) {
            Some("allow") => "32",
            Some("review") => "33",
            _ => "31",
        };
        writeln!(out, "{}", line(cells, Some(code)))?;
    }
    Ok(())
}

/// One record in words, for `log show`.
fn explain(r: &Record) -> String {
    let mut s = String::new();
    let mut kv = |k: &str, v: &str| {
        if !v.is_empty() {
            s.push_str(&format!("{k:<16} {v}\n"));
        }
    };
    kv("seq", &r.seq.to_string());
    kv("time", &r.ts);
    kv("decision", &r.decision_id);
    kv("verdict", r.verdict.as_str());
    if let Some(e) = &r.event {
        kv("event", e);
    }
    kv("tool", &r.tool);
    kv("policy", &r.policy_id);
    kv("host", &r.host);
    kv("session", r.session_id.as_deref().unwrap_or(""));
    kv("on behalf of", r.on_behalf_of.as_deref().unwrap_or(""));
    kv(
        "passport",
        &match (&r.passport_id, &r.passport_version) {
            (Some(id), Some(v)) => format!("{id} version {v}"),
            (Some(id), None) => id.clone(),
            _ => String::new(),
        },
    );
    kv(
        "passport digest",
        r.passport_digest.as_deref().unwrap_or(""),
    );
    kv("input digest", &r.input_digest);
    kv("deciding check", r.deciding_check.as_deref().unwrap_or(""));
    kv("deciding layer", r.deciding_layer.as_deref().unwrap_or(""));
    kv("approved by", r.grant_id.as_deref().unwrap_or(""));
    for x in &r.reasons {
        kv("reason", &format!("{} {}", x.code, x.message));
    }
    if r.enforced == Some(false) {
        kv(
            "rollout",
            &format!(
                "{} mode: enforced, the verdict would be {}",
                r.mode.as_deref().unwrap_or("?"),
                r.would_verdict.map_or("?", |v| v.as_str())
            ),
        );
        for x in &r.would_reasons {
            kv("would-be reason", &format!("{} {}", x.code, x.message));
        }
    }
    for n in &r.notes {
        kv("note", n);
    }
    if let Some(i) = &r.input {
        kv("input", &i.to_string());
    }
    kv("signed by", &r.kid);
    kv("hash", &r.hash);
    s
}

fn write_summary(out: &mut impl Write, s: &Summary) -> Result<()> {
    writeln!(out, "{} records", s.records)?;
    for (title, map) in [
        ("by verdict", &s.by_verdict),
        ("by tool", &s.by_tool),
        ("by reason", &s.by_reason),
    ] {
        writeln!(out, "{title}:")?;
        let mut rows: Vec<_> = map.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (k, n) in rows {
            writeln!(out, "  {n:>8}  {k}")?;
        }
    }
    Ok(())
}
