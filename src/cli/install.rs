//! `toolgate install <host>` and `toolgate uninstall <host>`.

use super::PathArgs;
use anyhow::{bail, Context};
use clap::Args;
use serde_json::json;
use std::path::PathBuf;
use toolgate::call::HostKind;
use toolgate::install::{self, Action, Dirs, HookPaths, Scope};

/// The hosts `install` knows, for clap.
pub const HOSTS: [&str; 5] = ["claude-code", "cursor", "codex", "gemini", "copilot"];

#[derive(Debug, Args)]
#[command(after_help = "\
Files written (user scope / project scope):
  claude-code  ~/.claude/settings.json      .claude/settings.json (local: .claude/settings.local.json)
  cursor       ~/.cursor/hooks.json         .cursor/hooks.json
  codex        ~/.codex/hooks.json          .codex/hooks.json
  gemini       ~/.gemini/settings.json      .gemini/settings.json
  copilot      ~/.copilot/hooks/toolgate.json  .github/hooks/toolgate.json

The hook command pins the passport, key, trust store, audit log and config
that this toolgate resolves now (flags, TOOLGATE_* variables), so a host that
strips the environment still runs an enforcing hook. Hosts that run hooks
through a shell get a fallback that denies when the binary is missing or
crashes. A post-tool hook (`toolgate observe`) raises an `ungated` alarm for
any call that ran without an allow record.

Every other key and hook is kept; running it again changes nothing. Before the
first change toolgate records the file as it was (its bytes, or that it did not
exist) in its own configuration directory (installs/), so `toolgate uninstall`
puts it back byte for byte; no backup file is left beside the host's file.
Then run `toolgate doctor`.

--json prints one object: host, scope, path, action (created, updated,
unchanged), hook_command, alarm_command, original_kept_in (null when there was
no file before), warnings, codex_trusted (with --trust), next.

Examples:
  toolgate install claude-code
  toolgate install cursor --scope project
  toolgate install codex --trust
  toolgate install gemini --print        # show the change, write nothing
  toolgate install copilot --json")]
pub struct InstallArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The toolgate binary the hook runs (default: this one).
    #[arg(long, value_name = "FILE")]
    pub binary: Option<PathBuf>,
    /// Print the fragment that would be merged, and change nothing.
    #[arg(long)]
    pub print: bool,
    /// codex only: also record the installed hooks as trusted, the way Codex's own
    /// /hooks screen does (through `codex app-server`). Without it Codex skips them.
    #[arg(long)]
    pub trust: bool,
    /// The codex program used by --trust (default: `codex` on PATH).
    #[arg(long, value_name = "FILE", requires = "trust")]
    pub codex: Option<PathBuf>,
    /// Print what was done as JSON (see above).
    #[arg(long, conflicts_with = "print")]
    pub json: bool,
}

/// Which host and which of its configuration files.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Host: claude-code, cursor, codex, gemini or copilot.
    #[arg(value_parser = HOSTS)]
    pub host: String,
    /// Which configuration file: user, project, or (claude-code only) local.
    #[arg(long, default_value = "user", value_parser = ["user", "project", "local"])]
    pub scope: String,
    /// Project directory for project and local scopes (default: the working directory).
    #[arg(long, value_name = "DIR")]
    pub project_dir: Option<PathBuf>,
}

impl TargetArgs {
    fn resolve(self) -> anyhow::Result<(HostKind, Scope, PathBuf, Dirs)> {
        let host = HostKind::parse(&self.host).context("unknown host")?;
        let scope = Scope::parse(&self.scope).context("unknown scope")?;
        let dirs = Dirs::from_env(self.project_dir);
        let path = install::config_path(host, scope, &dirs)?;
        Ok((host, scope, path, dirs))
    }
}

/// The files the hook will use, resolved now: for the user scope without the
/// working directory's project layer (the hook serves every project).
fn hook_paths(paths: &PathArgs, scope: Scope, dirs: &Dirs) -> HookPaths {
    let cwd = match scope {
        Scope::User => dirs.home.clone(),
        _ => dirs.project.clone(),
    };
    let loc = toolgate::home::resolve(&paths.overrides(None), &|k| std::env::var(k).ok(), &cwd);
    let abs = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    HookPaths {
        passport: Some(abs(&loc.passport.path)),
        key: Some(abs(&loc.key.path)),
        trust_dir: Some(abs(&loc.trust_dir.path)),
        audit_log: Some(abs(&loc.audit_log.path)),
        config: Some(abs(&loc.config.path)),
        packs_dir: loc.packs_dir.map(|r| abs(&r.path)),
    }
}

pub fn install(paths: &PathArgs, a: InstallArgs) -> anyhow::Result<()> {
    if a.trust && a.target.host != "codex" {
        bail!("--trust is for codex only (other hosts run an installed hook without a trust step)");
    }
    let scope_name = a.target.scope.clone();
    let (host, scope, path, dirs) = a.target.resolve()?;
    let binary = match a.binary {
        Some(b) => b,
        None => std::env::current_exe().context("locating the toolgate binary")?,
    };
    let binary = binary
        .canonicalize()
        .with_context(|| format!("{} does not exist", binary.display()))?;
    let commands = install::Commands::new(&binary, host, &hook_paths(paths, scope, &dirs));
    if a.print {
        print!(
            "{}",
            install::to_pretty(&install::fragment(host, &commands)?, b"  ")
        );
        return Ok(());
    }
    let loc = paths.locations(None);
    let mut warnings = Vec::new();
    if !loc.passport.path.exists() {
        warnings.push(format!(
            "there is no passport at {} yet, so the hook will deny every call; run `toolgate init` first",
            loc.passport.path.display()
        ));
    }
    if matches!(scope, toolgate::hosts::descriptor::Scope::Project) {
        warnings.push(format!(
            "{} is a project file you may check in, and the hook in it names this machine's absolute paths ({}); a teammate without toolgate at that path gets only the shell fallback's deny, or no gate at all on a host that runs hooks without a shell. Check it in only if every teammate installs toolgate at the same paths; otherwise keep it out of version control{}.",
            path.display(),
            binary.display(),
            if host == toolgate::call::HostKind::ClaudeCode { " or use --scope local" } else { "" }
        ));
    }
    for w in &warnings {
        eprintln!("toolgate: warning: {w}");
    }
    let change = install::install_file(
        &path,
        host,
        &commands,
        &install::ledger::dir(&loc.config_root),
    )?;
    let verb = match change.action {
        Action::Created => "created",
        Action::Updated => "updated",
        Action::Unchanged => "already installed in",
        _ => bail!("unexpected install result {:?}", change.action),
    };
    let trusted = if a.trust {
        let codex = a.codex.unwrap_or_else(|| PathBuf::from("codex"));
        Some(
            toolgate::hosts::codex::trust_hooks(&codex, &path, &dirs.project)
                .with_context(|| format!("recording trust with {}", codex.display()))?,
        )
    } else {
        None
    };
    let note = toolgate::hosts::descriptor(host).and_then(|d| d.install_note);
    if a.json {
        let report = json!({
            "host": host.as_str(),
            "scope": scope_name,
            "path": path,
            "action": change.action.as_str(),
            "hook_command": commands.gate,
            "alarm_command": commands.alarm,
            "original_kept_in": change.kept_original,
            "warnings": warnings,
            "codex_trusted": trusted,
            "note": if trusted.is_none() { note } else { None },
            "next": "toolgate doctor",
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("{verb} {}", path.display());
    println!("  hook command: {}", commands.gate);
    println!("  alarm:        {}", commands.alarm);
    if let Some(k) = &change.kept_original {
        println!(
            "  the file as it was is kept in {} for `toolgate uninstall`",
            k.display()
        );
    }
    match (&trusted, note) {
        (Some(t), _) => println!("  trusted in Codex: {}", t.join(", ")),
        (None, Some(n)) => println!("  {n}"),
        (None, None) => {}
    }
    println!("next: toolgate doctor");
    Ok(())
}
