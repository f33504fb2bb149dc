//! `toolgate install <host>` and `toolgate uninstall <host>`.

use super::PathArgs;
use crate::call::HostKind;
use crate::install::{self, Action, Dirs, Scope};
use anyhow::{bail, Context};
use clap::Args;
use std::path::PathBuf;

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

Every other key and hook is kept; the old file is backed up beside it as
NAME.toolgate-<time>.bak; running it again changes nothing. Then run `toolgate doctor`.")]
pub struct InstallArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The toolgate binary the hook runs (default: this one).
    #[arg(long, value_name = "FILE")]
    pub binary: Option<PathBuf>,
    /// Print the fragment that would be merged, and change nothing.
    #[arg(long)]
    pub print: bool,
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
    fn resolve(self) -> anyhow::Result<(HostKind, PathBuf)> {
        let host = HostKind::parse(&self.host).context("unknown host")?;
        let scope = Scope::parse(&self.scope).context("unknown scope")?;
        let path = install::config_path(host, scope, &Dirs::from_env(self.project_dir))?;
        Ok((host, path))
    }
}

pub fn install(_paths: &PathArgs, a: InstallArgs) -> anyhow::Result<()> {
    let (host, path) = a.target.resolve()?;
    let binary = match a.binary {
        Some(b) => b,
        None => std::env::current_exe().context("locating the toolgate binary")?,
    };
    let binary = binary
        .canonicalize()
        .with_context(|| format!("{} does not exist", binary.display()))?;
    let command = install::hook_command(&binary, host);
    if a.print {
        print!(
            "{}",
            install::to_pretty(&install::fragment(host, &command), b"  ")
        );
        return Ok(());
    }
    let change = install::install_file(&path, host, &command)?;
    let verb = match change.action {
        Action::Created => "created",
        Action::Updated => "updated",
        Action::Unchanged => "already installed in",
        _ => bail!("unexpected install result {:?}", change.action),
    };
    println!("{verb} {}", path.display());
    println!("  hook command: {command}");
    if let Some(b) = change.backup {
        println!("  backup:       {}", b.display());
    }
    if std::env::var_os("TOOLGATE_HOME").is_some() {
        eprintln!("note: TOOLGATE_HOME is set here; the host must see the same value, or it will look for the passport elsewhere");
    }
    match host {
        HostKind::Codex => println!("  Codex runs a new hook only after you trust it: open Codex and review it under /hooks"),
        HostKind::Gemini => println!("  Gemini CLI: check `/hooks panel` shows toolgate enabled"),
        _ => {}
    }
    println!("next: toolgate doctor");
    Ok(())
}

pub fn uninstall(_paths: &PathArgs, a: UninstallArgs) -> anyhow::Result<()> {
    let (host, path) = a.target.resolve()?;
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
