//! `toolgate uninstall`: one host's wiring, or `--all`; `--purge` then deletes
//! toolgate's own files, keeping the audit log (evidence) unless `--delete-log`.

use super::install::HOSTS;
use super::PathArgs;
use anyhow::{bail, Context};
use clap::Args;
use serde_json::json;
use std::path::{Path, PathBuf};
use toolgate::call::HostKind;
use toolgate::home::Locations;
use toolgate::install::{self, ledger, Action, Change, Dirs, Scope};

#[derive(Debug, Args)]
#[command(after_help = "\
A file toolgate created is deleted, with the directories made for it. A file that
existed is put back byte for byte while it is still exactly what toolgate wrote;
if someone changed it since, only toolgate's entries are taken out and every other
change is kept. No backup file is left behind.

--all takes toolgate out of every host configuration it recorded (any project) and
of each host's user and project files here. --purge (with --all) then deletes
toolgate's own files: passport, keys, trust store, approvals, config, state. The
audit log is evidence and is kept (its path is printed) unless --delete-log is
given too. --purge asks first on a terminal; scripts pass --yes.

--json prints {\"hosts\": [{\"host\", \"path\", \"action\", \"removed_dirs\"}],
\"removed\": [PATH], \"kept\": [{\"path\", \"why\"}]}; action is restored,
removed, deleted or not_installed.

Exit codes: 0 done; 1 an error, or --purge not confirmed.

Examples:
  toolgate uninstall claude-code
  toolgate uninstall cursor --scope project
  toolgate uninstall --all
  toolgate uninstall --all --purge            # keeps the audit log, says where
  toolgate uninstall --all --purge --delete-log --yes")]
pub struct UninstallArgs {
    /// Host: claude-code, cursor, codex, gemini or copilot.
    #[arg(value_parser = HOSTS, required_unless_present = "all", conflicts_with = "all")]
    pub host: Option<String>,
    /// Which configuration file: user, project, or (claude-code only) local.
    #[arg(long, default_value = "user", value_parser = ["user", "project", "local"])]
    pub scope: String,
    /// Project directory for project and local scopes (default: the working directory).
    #[arg(long, value_name = "DIR")]
    pub project_dir: Option<PathBuf>,
    /// Every host and scope toolgate is installed in.
    #[arg(long)]
    pub all: bool,
    /// Also delete toolgate's own files (keys, passport, trust, approvals, config, state).
    #[arg(long)]
    pub purge: bool,
    /// With --purge: delete the audit log too (it is kept otherwise).
    #[arg(long)]
    pub delete_log: bool,
    /// Do not ask before --purge deletes anything.
    #[arg(long)]
    pub yes: bool,
    /// Print what was done as JSON (see above).
    #[arg(long)]
    pub json: bool,
}

/// The host configuration files to take toolgate out of.
fn targets(
    a: &UninstallArgs,
    dirs: &Dirs,
    ledger_dir: &Path,
) -> anyhow::Result<Vec<(HostKind, PathBuf)>> {
    if let Some(name) = &a.host {
        let host = HostKind::parse(name).context("unknown host")?;
        let scope = Scope::parse(&a.scope).context("unknown scope")?;
        return Ok(vec![(host, install::config_path(host, scope, dirs)?)]);
    }
    let mut out: Vec<(HostKind, PathBuf)> = ledger::all(ledger_dir)
        .into_iter()
        .filter_map(|e| Some((HostKind::parse(&e.host)?, e.path)))
        .collect();
    for host in toolgate::hosts::HOOK_HOSTS {
        for scope in install::scopes(host) {
            if let Ok(p) = install::config_path(host, scope, dirs) {
                out.push((host, p));
            }
        }
    }
    out.sort_by(|x, y| (x.1.clone(), x.0.as_str()).cmp(&(y.1.clone(), y.0.as_str())));
    out.dedup();
    Ok(out)
}

/// Whether a file holds toolgate's hook for `host` now.
fn wired(host: HostKind, path: &Path) -> bool {
    install::read_config(path, host)
        .ok()
        .flatten()
        .is_some_and(|(doc, _)| !install::installed_commands(&doc, host).is_empty())
}

/// What `--purge` deletes and what it keeps, decided before anything changes.
#[derive(Debug, Default)]
struct Purge {
    remove: Vec<PathBuf>,
    keep: Vec<(PathBuf, String)>,
    /// toolgate's own directories, removed at the end when empty.
    roots: Vec<PathBuf>,
}

impl Purge {
    fn plan(loc: &Locations, delete_log: bool) -> Purge {
        use toolgate::home::{Source, PUBLIC_KEY_FILE};
        let mut roots = vec![loc.config_root.clone()];
        let log = &loc.audit_log.path;
        let log_dir = log.parent().map(Path::to_path_buf).unwrap_or_default();
        if matches!(loc.audit_log.source, Source::User | Source::ToolgateHome) {
            roots.push(log_dir.clone());
            if let Some(data) = log_dir.parent() {
                roots.push(data.to_path_buf());
            }
        }
        roots.dedup();
        let own = |p: &Path| roots.iter().any(|r| p.starts_with(r));
        let cr = &loc.config_root;
        let mut candidates: Vec<PathBuf> = vec![
            loc.config.path.clone(),
            loc.passport.path.clone(),
            toolgate::passport::signature_path(&loc.passport.path),
            toolgate::passport::pair_lock_path(&loc.passport.path),
            loc.key.path.clone(),
            loc.trust_dir.path.clone(),
            toolgate::grant::dir(cr),
            ledger::dir(cr),
            cr.join("remote"),
            cr.join(toolgate::policy::project::STORE),
            cr.join("tests"),
            cr.join(toolgate::home::PACKS_DIR),
            cr.join("cache"),
            toolgate::audit::head::sibling(log, "state"),
            toolgate::audit::head::sibling(log, "lock"),
            toolgate::audit::head::sibling(log, "head.seal"),
        ];
        // The evaluator's public key is what `verify-log --pubkey` checks a kept log against.
        let public = loc
            .key
            .path
            .parent()
            .map_or_else(|| cr.join(PUBLIC_KEY_FILE), |d| d.join("toolgate.pub.jwk"));
        if delete_log {
            candidates.push(public.clone());
            if let Some(keys) = loc.key.path.parent() {
                candidates.push(keys.to_path_buf());
            }
        }
        if let Some(p) = &loc.packs_dir {
            candidates.push(p.path.clone());
        }
        let mut evidence: Vec<PathBuf> = toolgate::audit::log::chain_files(log).unwrap_or_default();
        evidence.push(toolgate::audit::head::sibling(log, "head"));
        let mut plan = Purge::default();
        let exists = |p: &Path| std::fs::symlink_metadata(p).is_ok();
        for p in candidates {
            if !exists(&p) || plan.remove.contains(&p) {
                continue;
            }
            if own(&p) {
                plan.remove.push(p);
            } else {
                plan.keep.push((
                    p,
                    "outside toolgate's own directories (named by a flag or TOOLGATE_* variable); delete it yourself".into(),
                ));
            }
        }
        let records = count_records(log);
        let head = toolgate::audit::head::sibling(log, "head");
        for p in evidence.into_iter().filter(|p| exists(p)) {
            if delete_log {
                plan.remove.push(p);
                continue;
            }
            let why = if p == head {
                "the audit log's signed head, kept with the log".to_string()
            } else if p == *log {
                format!(
                    "the audit log ({records} record{}), evidence of every decision; --delete-log deletes it",
                    if records == 1 { "" } else { "s" }
                )
            } else {
                "a rotated segment of the audit log, kept with it".to_string()
            };
            plan.keep.push((p, why));
        }
        if !delete_log && exists(log) && exists(&public) {
            plan.keep.push((
                public.clone(),
                format!(
                    "the evaluator's public key, to check the kept log: `toolgate verify-log --audit-log {} --pubkey {}` (keep a copy where the log's writer cannot reach it)",
                    log.display(),
                    public.display()
                ),
            ));
        }
        // A path inside another one being removed goes with it.
        let all = plan.remove.clone();
        plan.remove
            .retain(|p| !all.iter().any(|q| q != p && p.starts_with(q)));
        plan.roots = roots;
        plan
    }

    /// Deletes the planned paths; then toolgate's directories that are left empty.
    /// Anything else found in them is reported as kept.
    fn carry_out(&mut self) -> anyhow::Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        for p in &self.remove {
            let Ok(meta) = std::fs::symlink_metadata(p) else {
                continue;
            };
            let r = if meta.is_dir() {
                std::fs::remove_dir_all(p)
            } else {
                std::fs::remove_file(p)
            };
            r.with_context(|| format!("deleting {}", p.display()))?;
            removed.push(p.clone());
        }
        let mut roots = self.roots.clone();
        roots.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for r in &roots {
            if std::fs::remove_dir(r).is_ok() {
                removed.push(r.clone());
                continue;
            }
            let Ok(rd) = std::fs::read_dir(r) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                let known = self.keep.iter().any(|(k, _)| *k == p)
                    || roots.contains(&p)
                    || self.remove.contains(&p);
                if !known {
                    self.keep
                        .push((p, "not a file toolgate writes; left as it is".into()));
                }
            }
        }
        Ok(removed)
    }
}

fn count_records(log: &Path) -> usize {
    use std::io::BufRead;
    toolgate::audit::log::chain_files(log)
        .unwrap_or_default()
        .iter()
        .filter_map(|f| std::fs::File::open(f).ok())
        .map(|f| std::io::BufReader::new(f).lines().count())
        .sum()
}

/// Shows what --purge will do and asks, unless --yes.
fn confirm(wired: &[(HostKind, PathBuf)], plan: &Purge, yes: bool) -> anyhow::Result<()> {
    let mut text = String::from("toolgate uninstall --all --purge will\n");
    if wired.is_empty() {
        text.push_str("  take toolgate's hook out of: no host configuration holds it\n");
    } else {
        text.push_str("  take toolgate's hook out of:\n");
        for (h, p) in wired {
            text.push_str(&format!("    {} ({})\n", p.display(), h.as_str()));
        }
    }
    text.push_str("  delete toolgate's own files:\n");
    for p in &plan.remove {
        text.push_str(&format!("    {}\n", p.display()));
    }
    if plan.remove.is_empty() {
        text.push_str("    (none found)\n");
    }
    if !plan.keep.is_empty() {
        text.push_str("  keep:\n");
        for (p, why) in &plan.keep {
            text.push_str(&format!("    {}: {why}\n", p.display()));
        }
    }
    if yes {
        return Ok(());
    }
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        eprint!("{text}");
        bail!("nothing was changed: --purge deletes toolgate's keys and passport, so confirm on a terminal or pass --yes");
    }
    print!("{text}Proceed? [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if !matches!(line.trim(), "y" | "Y" | "yes") {
        bail!("nothing was changed (not confirmed)");
    }
    Ok(())
}

fn describe(c: &Change) -> String {
    let p = c.path.display();
    match c.action {
        Action::NotInstalled => format!("toolgate is not installed in {p}"),
        Action::Restored => format!("restored {p} byte for byte as it was before install"),
        Action::Deleted => {
            format!("removed {p} (toolgate created it, or it held only toolgate's hook)")
        }
        _ => format!(
            "removed toolgate's hook from {p}; the other changes made to it since install are kept"
        ),
    }
}

/// `--purge` only with `--all`, `--delete-log` only with `--purge`: a usage error (exit 2)
/// otherwise. (clap's `requires` counts a flag's default `false` as given.)
fn check_flags(a: &UninstallArgs) {
    let missing = match (a.purge, a.all, a.delete_log) {
        (true, false, _) => Some("--purge deletes toolgate's own files and needs --all"),
        (false, _, true) => Some("--delete-log needs --purge"),
        _ => None,
    };
    if let Some(why) = missing {
        use clap::CommandFactory;
        super::Cli::command()
            .error(clap::error::ErrorKind::MissingRequiredArgument, why)
            .exit();
    }
}

pub fn run(paths: &PathArgs, a: UninstallArgs) -> anyhow::Result<()> {
    check_flags(&a);
    let loc = paths.locations(None);
    let ledger_dir = ledger::dir(&loc.config_root);
    let dirs = Dirs::from_env(a.project_dir.clone());
    let targets = targets(&a, &dirs, &ledger_dir)?;
    let mut plan = a.purge.then(|| Purge::plan(&loc, a.delete_log));
    if let Some(p) = &plan {
        let wired: Vec<(HostKind, PathBuf)> = targets
            .iter()
            .filter(|(h, p)| wired(*h, p))
            .cloned()
            .collect();
        confirm(&wired, p, a.yes)?;
    }
    let mut changes = Vec::new();
    for (host, path) in &targets {
        changes.push((*host, install::uninstall_file(path, *host, &ledger_dir)?));
    }
    let removed = match plan.as_mut() {
        Some(p) => p.carry_out()?,
        None => vec![],
    };
    let kept = plan.map(|p| p.keep).unwrap_or_default();
    if a.json {
        let hosts: Vec<serde_json::Value> = changes
            .iter()
            .map(|(h, c)| {
                json!({"host": h.as_str(), "path": c.path, "action": c.action.as_str(),
                       "removed_dirs": c.removed_dirs})
            })
            .collect();
        let kept: Vec<serde_json::Value> = kept
            .iter()
            .map(|(p, why)| json!({"path": p, "why": why}))
            .collect();
        let report = json!({"hosts": hosts, "removed": removed, "kept": kept});
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let mut quiet = 0;
    for (_, c) in &changes {
        if a.all && c.action == Action::NotInstalled {
            quiet += 1;
            continue;
        }
        println!("{}", describe(c));
        for d in &c.removed_dirs {
            println!(
                "  removed the directory {} (toolgate created it)",
                d.display()
            );
        }
    }
    if a.all {
        let done = changes.len() - quiet;
        println!(
            "{done} host configuration file{} changed; {quiet} other{} held no toolgate hook",
            if done == 1 { "" } else { "s" },
            if quiet == 1 { "" } else { "s" }
        );
    }
    for p in &removed {
        println!("deleted {}", p.display());
    }
    for (p, why) in &kept {
        println!("kept {}: {why}", p.display());
    }
    Ok(())
}
