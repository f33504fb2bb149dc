//! `toolgate install <host>` and `toolgate uninstall <host>`.

use super::PathArgs;
use anyhow::{bail, Context};
use clap::Args;
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

Every other key and hook is kept; the old file is backed up beside it as
NAME.toolgate-<time>.bak; running it again changes nothing. Then run `toolgate doctor`.

Examples:
  toolgate install claude-code
  toolgate install cursor --scope project
  toolgate install codex --trust
  toolgate install gemini --print        # show the change, write nothing")]
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
}

#[derive(Debug, Args)]
pub struct UninstallArgs {
    #[command(flatten)]
    pub target: TargetArgs,
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
            install::to_pretty(&install::fragment(host, &commands), b"  ")
        );
        return Ok(());
    }
    let loc = paths.locations(None);
    if !loc.passport.path.exists() {
        eprintln!(
            "toolgate: warning: there is no passport at {} yet, so the hook will deny every call; run `toolgate init` first",
            loc.passport.path.display()
        );
    }
    if matches!(scope, toolgate::hosts::descriptor::Scope::Project) {
        eprintln!(
            "toolgate: warning: {} is a project file you may check in, and the hook in it names this machine's absolute paths ({}); a teammate without toolgate at that path gets only the shell fallback's deny, or no gate at all on a host that runs hooks without a shell. Check it in only if every teammate installs toolgate at the same paths; otherwise keep it out of version control{}.",
            path.display(),
            binary.display(),
            if host == toolgate::call::HostKind::ClaudeCode { " or use --scope local" } else { "" }
        );
    }
    let change = install::install_file(&path, host, &commands)?;
    let verb = match change.action {
        Action::Created => "created",
        Action::Updated => "updated",
        Action::Unchanged => "already installed in",
        _ => bail!("unexpected install result {:?}", change.action),
    };
    println!("{verb} {}", path.display());
    println!("  hook command: {}", commands.gate);
    println!("  alarm:        {}", commands.alarm);
    if let Some(b) = change.backup {
        println!("  backup:       {}", b.display());
    }
    if a.trust {
        let codex = a.codex.unwrap_or_else(|| PathBuf::from("codex"));
        let trusted = toolgate::hosts::codex::trust_hooks(&codex, &path, &dirs.project)
            .with_context(|| format!("recording trust with {}", codex.display()))?;
        println!("  trusted in Codex: {}", trusted.join(", "));
    } else if let Some(note) = toolgate::hosts::descriptor(host).and_then(|d| d.install_note) {
        println!("  {note}");
    }
    println!("next: toolgate doctor");
    Ok(())
}

pub fn uninstall(_paths: &PathArgs, a: UninstallArgs) -> anyhow::Result<()> {
    let (host, _, path, _) = a.target.resolve()?;
    let change = install::uninstall_file(&path, host)?;
    match change.action {
        Action::NotInstalled => println!("toolgate is not installed in {}", path.display()),
        Action::Deleted => println!("removed {} (it held only toolgate's hook)", path.display()),
        _ => println!("removed toolgate's hook from {}", path.display()),
    }
    if let Some(b) = change.backup {
        println!("  backup: {}", b.display());
    }
    Ok(())
}
