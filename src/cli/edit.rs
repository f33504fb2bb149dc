//! `toolgate passport allow|deny|set|unset|diff|suggest` and `show` in words: change a
//! passport without hand-editing JSON. Every edit is validated as the gate would load
//! it (schema, known limit keys, pack ids), re-signed, and written with its signature
//! as one pair ([`toolgate::passport::write_signed`]).

use super::PathArgs;
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;
use toolgate::canonical::timestamp;
use toolgate::packs::Catalog;
use toolgate::passport::{self, KeyPair, Passport};

/// What an `allow` or `deny` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// A shell command, as an argv prefix (`cargo test`); deny adds a blocked pattern.
    Command,
    /// A path glob the agent may read (`docs/**`, `~/notes/*.md`).
    Read,
    /// A path glob the agent may write.
    Write,
    /// A web.fetch domain (`docs.rs`, `*.example.org`).
    Domain,
    /// An MCP server name.
    Server,
    /// An MCP tool (`create_issue`, `github.create_issue`).
    Tool,
}

impl Kind {
    /// (capability, allow list, deny list) for this kind.
    pub(crate) fn lists(self) -> (&'static str, &'static str, Option<&'static str>) {
        match self {
            Kind::Command => (
                "system.command.execute",
                "allowed_commands",
                Some("blocked_patterns"),
            ),
            Kind::Read => ("data.file.read", "allowed_paths", Some("blocked_paths")),
            Kind::Write => ("data.file.write", "allowed_paths", Some("blocked_paths")),
            Kind::Domain => ("web.fetch", "allowed_domains", Some("blocked_domains")),
            Kind::Server => ("mcp.tool.execute", "allowed_servers", None),
            Kind::Tool => ("mcp.tool.execute", "allowed_tools", Some("blocked_tools")),
        }
    }
}

/// `passport allow` and `passport deny`: what kind of entry, which, and how to write.
#[derive(Debug, Args)]
pub struct EntryArgs {
    pub kind: Kind,
    /// One or more entries.
    #[arg(required = true, value_name = "ENTRY")]
    pub entries: Vec<String>,
    #[command(flatten)]
    pub edit: EditArgs,
}

pub const ALLOW_HELP: &str = "\
The passport is validated, re-signed with the evaluator key and written together
with its signature; hooks running at the same moment see the old pair or the new.

Examples:
  toolgate passport allow command 'cargo bench'
  toolgate passport allow read 'docs/**' --dry-run
  toolgate passport allow domain docs.rs pypi.org";

pub const DENY_HELP: &str = "\
For a command, deny adds a blocked pattern; for paths, domains and tools a blocked
entry; for a server it takes the server off the allowed list. A matching entry is
also removed from the allowed list.

Examples:
  toolgate passport deny command 'git push'
  toolgate passport deny write 'migrations/**'
  toolgate passport deny server filesystem";

#[derive(Debug, Args)]
#[command(after_help = "\
KEY is a limit (`CAPABILITY.LIMIT`, deeper with more dots), `mode` or
`pack_modes.PACK_ID` (rollout: observe, warn, enforce), or `expires_at`.
VALUE is JSON when it parses as JSON (5000, true, [\"a\"]), else a string.

Examples:
  toolgate passport set finance.payment.refund.currency_limits.USD.max_per_tx 2500
  toolgate passport set system.command.execute.allow_compound true
  toolgate passport set mode observe
  toolgate passport set pack_modes.data.file.write.v1 enforce
  toolgate passport set expires_at 2027-01-01T00:00:00Z")]
pub struct SetArgs {
    #[arg(value_name = "KEY")]
    pub name: String,
    pub value: String,
    #[command(flatten)]
    pub edit: EditArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  toolgate passport unset system.command.execute.max_requests_per_min
  toolgate passport unset mode")]
pub struct UnsetArgs {
    #[arg(value_name = "KEY")]
    pub name: String,
    #[command(flatten)]
    pub edit: EditArgs,
}

#[derive(Debug, Args, Clone)]
pub struct EditArgs {
    /// Passport file (default: the resolved passport) [env: TOOLGATE_PASSPORT]
    #[arg(long, value_name = "FILE")]
    pub passport: Option<PathBuf>,
    /// Show the change without writing it.
    #[arg(long)]
    pub dry_run: bool,
    /// Print {"passport", "changes": [TEXT], "notes": [TEXT], "dry_run", "written",
    /// and when written "version", "kid", "passport_digest"}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Exit codes: 0 the passports grant the same, 1 they differ (like diff(1)), 2 an error.

Examples:
  toolgate passport diff old/passport.json ~/.config/toolgate/passport.json")]
pub struct DiffArgs {
    pub a: PathBuf,
    pub b: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn catalog(paths: &PathArgs) -> anyhow::Result<Catalog> {
    let loc = paths.locations(None);
    Ok(Catalog::with_overrides(
        loc.packs_dir.as_ref().map(|r| r.path.as_path()),
    )?)
}

/// The limits block of a capability, created (and the capability granted) if need be.
fn block<'a>(
    doc: &'a mut Value,
    cap: &str,
    notes: &mut Vec<String>,
) -> anyhow::Result<&'a mut Map<String, Value>> {
    let caps = doc["capabilities"].as_array_mut();
    if let Some(caps) = caps {
        if !caps.iter().any(|c| c["id"] == cap) {
            caps.push(serde_json::json!({"id": cap}));
            notes.push(format!("granted capability {cap}"));
        }
    }
    let root = doc
        .as_object_mut()
        .context("the passport is not a JSON object")?;
    let limits = root
        .entry("limits")
        .or_insert_with(|| Value::Object(Map::new()));
    if !limits.is_object() {
        *limits = Value::Object(Map::new());
    }
    let b = limits
        .as_object_mut()
        .context("limits is not an object")?
        .entry(cap)
        .or_insert_with(|| Value::Object(Map::new()));
    if !b.is_object() {
        *b = Value::Object(Map::new());
    }
    b.as_object_mut()
        .with_context(|| format!("limits.{cap} is not an object"))
}

fn list_add(b: &mut Map<String, Value>, key: &str, entry: &str) -> bool {
    let v = b
        .entry(key.to_string())
        .or_insert_with(|| Value::Array(vec![]));
    if !v.is_array() {
        *v = Value::Array(vec![]);
    }
    let Some(a) = v.as_array_mut() else {
        return false;
    };
    if a.iter().any(|x| x == entry) {
        return false;
    }
    a.push(Value::String(entry.into()));
    true
}

fn list_remove(b: &mut Map<String, Value>, key: &str, entry: &str) -> bool {
    let Some(a) = b.get_mut(key).and_then(Value::as_array_mut) else {
        return false;
    };
    let before = a.len();
    a.retain(|x| x != entry);
    before != a.len()
}

/// Applies an edit to a passport document and writes it signed.
fn apply(
    paths: &PathArgs,
    e: &EditArgs,
    change: impl FnOnce(&mut Value, &mut Vec<String>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let loc = paths.locations(e.passport.clone());
    let path = loc.passport.path.clone();
    let (before, mut doc) =
        passport::load_unsigned(&path).map_err(|err| anyhow::anyhow!("{err} ({})", err.code()))?;
    let mut notes = Vec::new();
    change(&mut doc, &mut notes)?;
    let now = time::OffsetDateTime::now_utc();
    super::set_key(&mut doc, "updated_at", timestamp(now));
    super::set_key(&mut doc, "version", bump(&before.version));
    let after = Passport::from_value(&doc).context("the edited passport would not be valid")?;
    let cat = catalog(paths)?;
    if let Some(u) = cat.unknown_limit(&after) {
        bail!("the edited passport would be refused: {u}");
    }
    let changes = diff(&before, &after);
    let mut report = serde_json::json!({
        "passport": path, "changes": changes, "notes": notes,
        "dry_run": e.dry_run, "written": false,
    });
    let done = |report: &Value| -> anyhow::Result<()> {
        if e.json {
            println!("{}", serde_json::to_string_pretty(report)?);
        }
        Ok(())
    };
    if !e.json {
        for n in &notes {
            println!("note: {n}");
        }
    }
    if changes.is_empty() {
        if !e.json {
            println!("no change: {} already says so", path.display());
        }
        return done(&report);
    }
    if !e.json {
        for c in &changes {
            println!("{c}");
        }
    }
    if e.dry_run {
        if !e.json {
            println!("(dry run: {} not changed)", path.display());
        }
        return done(&report);
    }
    let key = KeyPair::load(&loc.key.path)
        .context("loading the signing key (run `toolgate init`, or pass --key)")?;
    let env = passport::write_signed(&path, &doc, &key, &timestamp(now))
        .with_context(|| format!("writing {}", path.display()))?;
    super::passport::warn_untrusted(&loc, &key);
    if e.json {
        super::set_key(&mut report, "written", true);
        super::set_key(&mut report, "version", after.version.clone());
        super::set_key(&mut report, "kid", key.kid());
        super::set_key(&mut report, "passport_digest", env.passport_digest.clone());
        return done(&report);
    }
    println!(
        "signed version {} by {} ({})",
        after.version,
        key.kid(),
        env.passport_digest
    );
    Ok(())
}

/// The next patch version: the state refuses a passport older than one it has seen,
/// so every edit must move forward.
fn bump(v: &str) -> String {
    let parts: Vec<u64> = v.split('.').filter_map(|p| p.parse().ok()).collect();
    match parts.as_slice() {
        [a, b, c] => format!("{a}.{b}.{}", c + 1),
        _ => "1.0.1".into(),
    }
}

/// Applies `each(block, allowed list, blocked list, entry)` to every entry, on the
/// limits block the entry kind edits.
fn edit_entries(
    paths: &PathArgs,
    a: &EntryArgs,
    each: impl Fn(&mut Map<String, Value>, &str, Option<&str>, &str),
) -> anyhow::Result<()> {
    let (cap, allow, deny) = a.kind.lists();
    apply(paths, &a.edit, |doc, notes| {
        let b = block(doc, cap, notes)?;
        for e in &a.entries {
            each(b, allow, deny, e);
        }
        Ok(())
    })
}

pub fn allow(paths: &PathArgs, a: EntryArgs) -> anyhow::Result<()> {
    edit_entries(paths, &a, |b, allow, _, e| {
        list_add(b, allow, e);
    })
}

pub fn deny(paths: &PathArgs, a: EntryArgs) -> anyhow::Result<()> {
    edit_entries(paths, &a, |b, allow, deny, e| {
        list_remove(b, allow, e);
        if let Some(d) = deny {
            list_add(b, d, e);
        }
    })
}

/// The value of `set`: JSON when it parses, else the text.
fn parse_value(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.into()))
}

/// Where a key of `set`/`unset` lives: (path of object keys from the document root).
fn key_path(doc: &Value, key: &str) -> anyhow::Result<Vec<String>> {
    if key == "mode" {
        return Ok(vec!["metadata".into(), "toolgate".into(), "mode".into()]);
    }
    if let Some(pack) = key.strip_prefix("pack_modes.") {
        return Ok(vec![
            "metadata".into(),
            "toolgate".into(),
            "pack_modes".into(),
            pack.into(),
        ]);
    }
    if key == "expires_at" {
        return Ok(vec!["expires_at".into()]);
    }
    // The longest granted capability id that prefixes the key.
    let caps: Vec<String> = doc["capabilities"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect();
    let Some(cap) = caps
        .iter()
        .filter(|c| key.starts_with(&format!("{c}.")))
        .max_by_key(|c| c.len())
    else {
        bail!(
            "`{key}` names no granted capability's limit; use CAPABILITY.LIMIT with one of: {}, or mode, pack_modes.PACK, expires_at",
            caps.join(", ")
        );
    };
    let rest = &key[cap.len() + 1..];
    let mut path = vec!["limits".to_string(), cap.clone()];
    path.extend(rest.split('.').map(str::to_owned));
    Ok(path)
}

pub fn set(paths: &PathArgs, a: SetArgs) -> anyhow::Result<()> {
    apply(paths, &a.edit, |doc, _| {
        let path = key_path(doc, &a.name)?;
        let mut at = &mut *doc;
        let Some((last, parents)) = path.split_last() else {
            bail!("empty key");
        };
        for p in parents {
            if !at[p.as_str()].is_object() {
                at[p.as_str()] = Value::Object(Map::new());
            }
            at = &mut at[p.as_str()];
        }
        at[last.as_str()] = parse_value(&a.value);
        Ok(())
    })
}

pub fn unset(paths: &PathArgs, a: UnsetArgs) -> anyhow::Result<()> {
    apply(paths, &a.edit, |doc, _| {
        let path = key_path(doc, &a.name)?;
        let Some((last, parents)) = path.split_last() else {
            bail!("empty key");
        };
        let mut at = &mut *doc;
        for p in parents {
            match at.get_mut(p.as_str()) {
                Some(v) => at = v,
                None => bail!("`{}` is not set", a.name),
            }
        }
        match at.as_object_mut().and_then(|m| m.remove(last.as_str())) {
            Some(_) => Ok(()),
            None => bail!("`{}` is not set", a.name),
        }
    })
}

/// One line per difference, in words: capabilities, list entries, other limits, status,
/// expiry, rollout modes.
pub fn diff(a: &Passport, b: &Passport) -> Vec<String> {
    let mut out = Vec::new();
    let caps = |p: &Passport| -> BTreeSet<String> {
        p.capabilities.iter().map(|c| c.id.clone()).collect()
    };
    let (ca, cb) = (caps(a), caps(b));
    for c in cb.difference(&ca) {
        out.push(format!("+ capability {c}"));
    }
    for c in ca.difference(&cb) {
        out.push(format!("- capability {c}"));
    }
    let empty = Map::new();
    let all: BTreeSet<&String> = a.limits.keys().chain(b.limits.keys()).collect();
    for cap in all {
        let la = a.limits_for(cap).unwrap_or(&empty);
        let lb = b.limits_for(cap).unwrap_or(&empty);
        let keys: BTreeSet<&String> = la.keys().chain(lb.keys()).collect();
        for k in keys {
            match (la.get(k), lb.get(k)) {
                (Some(Value::Array(x)), Some(Value::Array(y))) => {
                    for e in y.iter().filter(|e| !x.contains(e)) {
                        out.push(format!("+ {cap}.{k}: {}", show(e)));
                    }
                    for e in x.iter().filter(|e| !y.contains(e)) {
                        out.push(format!("- {cap}.{k}: {}", show(e)));
                    }
                }
                (Some(x), Some(y)) if x != y => {
                    out.push(format!("~ {cap}.{k}: {} -> {}", show(x), show(y)))
                }
                (None, Some(Value::Array(y))) => {
                    for e in y {
                        out.push(format!("+ {cap}.{k}: {}", show(e)));
                    }
                }
                (None, Some(y)) => out.push(format!("+ {cap}.{k} = {}", show(y))),
                (Some(x), None) => out.push(format!("- {cap}.{k} (was {})", show(x))),
                _ => {}
            }
        }
    }
    let field = |name: &str, x: String, y: String, out: &mut Vec<String>| {
        if x != y {
            out.push(format!("~ {name}: {x} -> {y}"));
        }
    };
    let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "never".into());
    field(
        "status",
        a.status.as_str().into(),
        b.status.as_str().into(),
        &mut out,
    );
    field(
        "expires_at",
        opt(&a.expires_at),
        opt(&b.expires_at),
        &mut out,
    );
    field(
        "assurance_level",
        a.assurance_level.as_str().into(),
        b.assurance_level.as_str().into(),
        &mut out,
    );
    field(
        "regions",
        a.regions.join(","),
        b.regions.join(","),
        &mut out,
    );
    let modes = |p: &Passport| {
        let r = toolgate::passport::rollout::Rollout::of(p).unwrap_or_default();
        serde_json::to_string(&r).unwrap_or_default()
    };
    field("rollout", modes(a), modes(b), &mut out);
    out
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn diff_cmd(a: DiffArgs) -> anyhow::Result<i32> {
    let load = |p: &PathBuf| {
        passport::load_unsigned(p)
            .map(|(p, _)| p)
            .map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))
    };
    let (x, y) = (load(&a.a)?, load(&a.b)?);
    let d = diff(&x, &y);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else if d.is_empty() {
        println!("no difference in what the passports grant");
    } else {
        for line in &d {
            println!("{line}");
        }
    }
    Ok(if d.is_empty() { 0 } else { 1 })
}

/// A passport in words: who, status and expiry, then per capability what it may do.
pub fn describe(p: &Passport) -> String {
    let mut out = String::new();
    let name = p
        .metadata
        .as_ref()
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("passport");
    out.push_str(&format!(
        "{name} {} (version {}), owned by {} ({})\n",
        p.passport_id,
        p.version,
        p.owner_id,
        match p.owner_type {
            passport::model::OwnerType::Org => "org",
            passport::model::OwnerType::User => "user",
        }
    ));
    out.push_str(&format!(
        "status {}, assurance {}, {}\n",
        p.status.as_str(),
        p.assurance_level.as_str(),
        match &p.expires_at {
            Some(e) => format!("expires {e}"),
            None => "never expires".into(),
        }
    ));
    if !p.regions.is_empty() {
        out.push_str(&format!("regions: {}\n", p.regions.join(", ")));
    }
    let r = toolgate::passport::rollout::Rollout::of(p).unwrap_or_default();
    if !r.is_empty() {
        out.push_str(&format!(
            "rollout: {}{}\n",
            r.mode.map_or("enforce", |m| m.as_str()),
            r.pack_modes
                .iter()
                .map(|(k, m)| format!(", {k} {}", m.as_str()))
                .collect::<String>()
        ));
    }
    let empty = Map::new();
    for c in &p.capabilities {
        out.push_str(&format!("\n{}\n", c.id));
        let limits = p.limits_for(&c.id).unwrap_or(&empty);
        if limits.is_empty() {
            out.push_str("  no limits set\n");
        }
        for (k, v) in limits {
            let words = k.replace('_', " ");
            match v {
                Value::Array(a) if a.is_empty() => out.push_str(&format!("  {words}: none\n")),
                Value::Array(a) => {
                    out.push_str(&format!("  {words}:\n"));
                    for e in a {
                        out.push_str(&format!("    {}\n", show(e)));
                    }
                }
                Value::Bool(true) => out.push_str(&format!("  {words}: yes\n")),
                Value::Bool(false) => out.push_str(&format!("  {words}: no\n")),
                other => out.push_str(&format!("  {words}: {}\n", show(other))),
            }
        }
    }
    out
}

#[derive(Debug, Args)]
#[command(after_help = "\
Reads the records observe and warn mode let through (`toolgate log --would-deny`)
and proposes, per call, the narrowest entry that would have allowed it: the
command's program and subcommand, the exact path, the host, the server or tool.
Nothing is applied: each line is a `toolgate passport allow` command to review.
The records must hold their input (`\"audit\": {\"store_input\": true}` in config.json).

Examples:
  toolgate passport suggest --from-log --since 7d")]
pub struct SuggestArgs {
    /// Learn from the audit log's would-deny records.
    #[arg(long, required = true)]
    pub from_log: bool,
    /// From this time: RFC 3339, YYYY-MM-DD (UTC), or an age like 30m, 24h, 7d.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The narrowest allow entry for one would-deny record: (kind, entry), or why none.
fn narrowest(r: &toolgate::audit::Record) -> Result<(Kind, String), String> {
    let input = r.input.as_ref().ok_or("its input was not stored")?;
    let code = r
        .would_reasons
        .first()
        .map(|x| x.code)
        .ok_or("it names no would-be reason")?;
    use toolgate::reason::ReasonCode as C;
    let s = |k: &str| input.get(k).and_then(Value::as_str).map(str::to_owned);
    match (r.policy_id.as_str(), code) {
        ("system.command.execute.v1", C::CommandNotAllowed) => {
            let cmd = s("command").ok_or("no command in the input")?;
            let words: Vec<&str> = cmd.split_whitespace().collect();
            let prefix = match words.as_slice() {
                [p, sub, ..]
                    if !sub.starts_with('-')
                        && sub
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
                {
                    format!("{p} {sub}")
                }
                [p, ..] => p.to_string(),
                [] => return Err("an empty command".into()),
            };
            if cmd.contains(['|', ';', '&', '`', '$', '>', '<']) {
                return Err(format!(
                    "`{cmd}` is more than one simple command; judge it by hand"
                ));
            }
            Ok((Kind::Command, prefix))
        }
        ("data.file.read.v1", C::PathNotAllowed) => Ok((
            Kind::Read,
            s("file_path")
                .or_else(|| s("path"))
                .ok_or("no path in the input")?,
        )),
        ("data.file.write.v1", C::PathNotAllowed) => Ok((
            Kind::Write,
            s("file_path")
                .or_else(|| s("path"))
                .ok_or("no path in the input")?,
        )),
        ("web.fetch.v1", C::DomainNotAllowed) => {
            let u = s("url").ok_or("no url in the input")?;
            let host = url::Url::parse(&u)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .ok_or("the url has no host")?;
            Ok((Kind::Domain, host))
        }
        ("mcp.tool.execute.v1", C::ServerNotAllowed) => {
            Ok((Kind::Server, s("server").ok_or("no server in the input")?))
        }
        ("mcp.tool.execute.v1", C::ToolNotAllowed) => {
            Ok((Kind::Tool, s("tool").ok_or("no tool in the input")?))
        }
        (p, c) => Err(format!(
            "{c} under {p} has no list entry that would allow it"
        )),
    }
}

pub fn suggest(paths: &PathArgs, a: SuggestArgs) -> anyhow::Result<()> {
    let loc = paths.locations(None);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let since = a
        .since
        .as_deref()
        .map(|s| super::log::parse_time(s, now))
        .transpose()?;
    let files = toolgate::audit::log::chain_files(&loc.audit_log.path)
        .with_context(|| format!("listing {}", loc.audit_log.path.display()))?;
    // (kind, entry) -> (calls, last seq)
    let mut wanted: std::collections::BTreeMap<(String, String), (u64, u64, Kind)> =
        Default::default();
    let mut skipped: Vec<String> = vec![];
    toolgate::audit::query::for_each(&files, |r| {
        if r.enforced != Some(false) || since.is_some_and(|s| r.unix_ts() < s) {
            return;
        }
        match narrowest(&r) {
            Ok((k, e)) => {
                let name = format!("{k:?}").to_lowercase();
                let slot = wanted.entry((name, e)).or_insert((0, 0, k));
                slot.0 += 1;
                slot.1 = r.seq;
            }
            Err(why) => skipped.push(format!("seq {} ({}): {why}", r.seq, r.tool)),
        }
    })?;
    if a.json {
        let items: Vec<Value> = wanted
            .iter()
            .map(|((k, e), (n, seq, _))| serde_json::json!({"kind": k, "entry": e, "calls": n, "last_seq": seq}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"suggestions": items, "skipped": skipped})
            )?
        );
        return Ok(());
    }
    if wanted.is_empty() && skipped.is_empty() {
        println!("no would-deny records to learn from (observe or warn mode records them)");
        return Ok(());
    }
    println!("# proposed changes (not applied); review, then run the lines you want:");
    for ((_, e), (n, seq, k)) in &wanted {
        let (cap, list, _) = k.lists();
        println!("+ {cap}.{list}: {e}    # {n} call(s), last seq {seq}");
    }
    if !wanted.is_empty() {
        println!();
    }
    for (k, e) in wanted.keys() {
        println!("toolgate passport allow {k} '{}'", e.replace('\'', "'\\''"));
    }
    for s in &skipped {
        println!("# skipped {s}");
    }
    Ok(())
}
