//! Command-line interface. Each subcommand lives in its own file; this one
//! holds the argument definitions and the exit-code policy.

mod approve;
mod audit;
mod config;
mod demo;
mod doctor;
mod edit;
mod evaluate;
mod fixtures;
mod fleet;
mod init;
mod install;
mod keys;
mod log;
mod observe;
mod passport;
mod telemetry;
mod uninstall;
mod verify_log;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use toolgate::home::{self, Locations, Overrides};
use toolgate::reason::{Reason, ReasonCode};

/// Authorization gate for AI agent tool calls.
///
/// toolgate reads one proposed tool call as JSON on stdin, checks it against a
/// signed Open Agent Passport under versioned policy packs, appends a signed,
/// hash-chained audit record, and exits 0 (allow) or 2 (deny), answering each
/// host (Claude Code, Cursor, Codex, Gemini CLI, Copilot CLI, or a generic OAP
/// request) in its own format.
///
/// Start here:
///   toolgate init                   # key, trust, a signed passport and starter tests
///   toolgate install claude-code    # or cursor, codex, gemini, copilot
///   toolgate doctor                 # proves the hook denies and allows
///   toolgate test                   # runs the policy tests next to the passport
///
/// `toolgate demo` shows the whole flow in a temporary directory first.
#[derive(Debug, Parser)]
#[command(
    name = "toolgate",
    version,
    propagate_version = true,
    max_term_width = 100,
    verbatim_doc_comment
)]
pub struct Cli {
    #[command(flatten)]
    pub paths: PathArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Where toolgate's files are; each flag beats its TOOLGATE_* variable.
#[derive(Debug, Args, Clone, Default)]
pub struct PathArgs {
    /// Evaluator signing key (private JWK) [env: TOOLGATE_KEY]
    #[arg(long, global = true, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Directory of trusted issuer public keys (*.jwk) [env: TOOLGATE_TRUST_DIR]
    #[arg(long, global = true, value_name = "DIR")]
    pub trust_dir: Option<PathBuf>,
    /// Audit log file [env: TOOLGATE_AUDIT_LOG]
    #[arg(long, global = true, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Directory of policy packs layered over the built-in ones [env: TOOLGATE_PACKS_DIR]
    #[arg(long, global = true, value_name = "DIR")]
    pub packs_dir: Option<PathBuf>,
    /// Config file [env: TOOLGATE_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// First run: create a key, trust it, write a signed starter passport and its starter tests.
    #[command(after_help = "Examples:
  toolgate init
  toolgate init --template read-only
  toolgate init --template ci-bot --force   # replace the passport, keep the key")]
    Init(init::InitArgs),
    /// Wire toolgate into a host's hook configuration (claude-code, cursor, codex, gemini, copilot).
    Install(install::InstallArgs),
    /// Check every installed hook end to end, including a deny and an allow canary. Exit 1 on any problem.
    Doctor(doctor::DoctorArgs),
    /// Run policy fixtures against scratch state and log; report mismatches and coverage.
    Test(fixtures::TestArgs),
    /// Decide one tool call read from stdin (the hook command). Exits 0 allow, 2 deny.
    Evaluate(evaluate::EvaluateArgs),
    /// Turn a deny or review into a signed grant for that exact call (--once, or --for 1h).
    Approve(approve::ApproveArgs),
    /// Query the audit log (filters, --summary, --json) or export it (jsonl, OCSF, CEF).
    Log(Box<log::LogArgs>),
    /// Prove an audit log intact: hashes, signatures, sequence and links.
    VerifyLog(verify_log::VerifyLogArgs),
    /// Create, sign and verify passports.
    #[command(subcommand)]
    #[command(after_help = "Examples:
  toolgate passport show
  toolgate passport allow command 'cargo bench'
  toolgate passport set mode observe
  toolgate passport verify --json
  toolgate passport new --template ci-bot --out ci.json --sign")]
    Passport(passport::PassportCommand),
    /// Manage the trust store of passport issuer keys.
    #[command(subcommand)]
    #[command(after_help = "Examples:
  toolgate trust list
  toolgate trust add issuer.pub.jwk --owner org_acme
  toolgate trust remove oap:owner:87f78e4ec56a561c")]
    Trust(keys::TrustCommand),
    /// Create an Ed25519 key pair (private key mode 0600) and print its key id.
    #[command(after_help = "Examples:
  toolgate keygen --trust
  toolgate keygen --out ./issuer-keys")]
    Keygen(keys::KeygenArgs),
    /// Maintain the audit log: repair a torn tail, rebuild state, rotate the key.
    #[command(subcommand)]
    #[command(after_help = "Examples:
  toolgate audit repair
  toolgate audit rebuild-state
  toolgate audit rotate-key --new-key new.key.jwk
  toolgate audit checkpoint --out witness.json")]
    Audit(audit::AuditCommand),
    /// Fleet status (hybrid mode): show the source, its age and what it says; refresh; publish.
    Status(fleet::StatusArgs),
    /// OpenTelemetry export: resolved settings, and replay of recorded decisions.
    #[command(subcommand)]
    #[command(after_help = "Examples:
  toolgate telemetry status
  toolgate telemetry replay --missed")]
    Telemetry(telemetry::TelemetryCommand),
    /// Show which files toolgate uses and where each setting came from.
    #[command(after_help = "Examples:
  toolgate config
  toolgate config --json")]
    Config(config::ConfigArgs),
    /// Run the whole flow on built-in defaults in a temporary directory.
    #[command(after_help = "Examples:
  toolgate demo
  toolgate demo --keep")]
    Demo(demo::DemoArgs),
    /// Take toolgate's hook out of a host's configuration (or all of them), leaving everything else.
    Uninstall(uninstall::UninstallArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "\
Examples:
  toolgate completions bash > ~/.local/share/bash-completion/completions/toolgate
  toolgate completions zsh > \"${fpath[1]}/_toolgate\"
  toolgate completions fish > ~/.config/fish/completions/toolgate.fish")]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (toolgate.1), or write one page per command into --out DIR.
    #[command(after_help = "\
Examples:
  toolgate man | man -l -
  toolgate man --out ~/.local/share/man/man1")]
    Man {
        /// Directory for toolgate.1 and toolgate-COMMAND.1 pages.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Post-tool hook: record an `ungated` alarm for a call that ran without an allow record.
    Observe(observe::ObserveArgs),
}

impl PathArgs {
    pub fn overrides(&self, passport: Option<PathBuf>) -> Overrides {
        Overrides {
            passport,
            key: self.key.clone(),
            trust_dir: self.trust_dir.clone(),
            audit_log: self.audit_log.clone(),
            packs_dir: self.packs_dir.clone(),
            config: self.config.clone(),
        }
    }

    pub fn locations(&self, passport: Option<PathBuf>) -> Locations {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        home::resolve(&self.overrides(passport), &|k| std::env::var(k).ok(), &cwd)
    }
}

/// Whether to use colour on stdout (off when NO_COLOR is set or stdout is not a terminal).
pub fn color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

pub(crate) fn paint(text: &str, code: &str) -> String {
    if color() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Parses arguments and runs. `evaluate` never exits with anything but 0 or 2,
/// even on a bad flag or a panic: any other code would let a host run the tool.
pub fn main() -> i32 {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let hook_mode = args.iter().any(|a| a == "evaluate");
    if hook_mode {
        std::panic::set_hook(Box::new(|info| {
            eprintln!("toolgate: internal error, denying (oap.internal_error): {info}");
        }));
    }
    if !hook_mode {
        quiet_broken_pipe();
    }
    let host = hook_mode.then(|| hook_host(&args)).flatten();
    // A panic anywhere is a deny (2, or the host's own deny), never Rust's 101.
    std::panic::catch_unwind(|| run(args)).unwrap_or_else(|_| {
        host.map_or(2, |h| {
            let why = "internal error, denying";
            hook_deny(h, Reason::new(ReasonCode::InternalError, why))
        })
    })
}

/// Prints a host's deny answer and returns its exit code (Copilot CLI blocks only on JSON).
fn hook_deny(host: toolgate::call::HostKind, reason: Reason) -> i32 {
    let a = toolgate::hosts::answer(host, None, toolgate::decision::Verdict::Deny, &[reason]);
    print!("{}", a.stdout);
    a.exit_code
}

/// The `--host` of an `evaluate` command line, so even a panic answers in the host's format.
fn hook_host(args: &[std::ffi::OsString]) -> Option<toolgate::call::HostKind> {
    let words: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    words
        .iter()
        .enumerate()
        .find_map(|(i, w)| match w.strip_prefix("--host=") {
            Some(v) => toolgate::call::HostKind::parse(v),
            None if w == "--host" => words
                .get(i + 1)
                .and_then(|v| toolgate::call::HostKind::parse(v)),
            None => None,
        })
}

/// A hook command line that does not parse still denies, and the deny is
/// recorded wherever the flags that did parse, the environment and the
/// defaults put the log, so a typo in a hook config leaves a trace.
fn bad_hook_command_line(args: &[std::ffi::OsString], e: &clap::Error) -> i32 {
    let words: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let flag = |name: &str| -> Option<PathBuf> {
        let long = format!("--{name}");
        let eq = format!("--{name}=");
        words
            .iter()
            .enumerate()
            .find_map(|(i, w)| match w.strip_prefix(&eq) {
                Some(v) => Some(PathBuf::from(v)),
                None if *w == long => words.get(i + 1).map(PathBuf::from),
                None => None,
            })
    };
    let paths = PathArgs {
        key: flag("key"),
        trust_dir: flag("trust-dir"),
        audit_log: flag("audit-log"),
        packs_dir: flag("packs-dir"),
        config: flag("config"),
    };
    let host = hook_host(args);
    let first_line = e.to_string();
    let first_line = first_line.lines().next().unwrap_or("").trim();
    let why = format!("the hook command line is invalid, denying: {first_line}");
    // A hook config's typo is bad input to the gate, as a malformed call is: the host is
    // told the code the record keeps.
    let reason = Reason::new(ReasonCode::InvalidInput, &why);
    let outcome = toolgate::gate::record_early_deny(
        &paths.locations(flag("passport")),
        host.unwrap_or(toolgate::call::HostKind::Oap),
        reason.clone(),
        time::OffsetDateTime::now_utc(),
    );
    if let Some(r) = &outcome.record {
        eprintln!("toolgate: recorded as seq {} {}", r.seq, r.hash);
    }
    match host {
        Some(h) => hook_deny(h, reason),
        None => 2,
    }
}

/// The command lines the installers write (`install::hook_command`): `evaluate --host HOST`
/// and then each of `--passport`, `--key`, `--trust-dir`, `--audit-log`, `--config`,
/// `--packs-dir` at most once with a plain value. Exactly those, or `None`, so clap
/// decides everything else (and the result is the one clap gives: see the test).
fn hook_command_line(args: &[std::ffi::OsString]) -> Option<(PathArgs, evaluate::EvaluateArgs)> {
    let mut words = args.get(1..)?.iter();
    if words.next()?.to_str()? != "evaluate" || words.next()?.to_str()? != "--host" {
        return None;
    }
    let host = words.next()?.to_str()?;
    toolgate::call::HostKind::parse(host)?;
    let mut paths = PathArgs::default();
    let mut passport = None;
    while let Some(flag) = words.next() {
        let value = words.next()?;
        let plain = value
            .to_str()
            .is_none_or(|v| !v.is_empty() && !v.starts_with('-'));
        if !plain || value.is_empty() {
            return None;
        }
        let slot = match flag.to_str()? {
            "--passport" => &mut passport,
            "--key" => &mut paths.key,
            "--trust-dir" => &mut paths.trust_dir,
            "--audit-log" => &mut paths.audit_log,
            "--config" => &mut paths.config,
            "--packs-dir" => &mut paths.packs_dir,
            _ => return None,
        };
        if slot.replace(PathBuf::from(value)).is_some() {
            return None;
        }
    }
    let a = evaluate::EvaluateArgs {
        host: Some(host.to_owned()),
        passport,
        policy: None,
        context: None,
        explain: false,
        json: false,
        project_roots: vec![],
        read_timeout: evaluate::DEFAULT_READ_TIMEOUT_SECS,
        deadline: evaluate::DEFAULT_DEADLINE_SECS,
        dry_run: false,
    };
    Some((paths, a))
}

fn run(args: Vec<std::ffi::OsString>) -> i32 {
    // Lets the tests and bench/ratio.sh prove that a panic denies with exit 2, in release
    // builds too (where the profile's unwinding is what keeps that path). It can only
    // make toolgate deny, so it is no lever for whoever sets a hook's environment.
    if std::env::var_os("TOOLGATE_DEBUG_PANIC").is_some() {
        #[allow(clippy::panic, reason = "the panic path itself is what this proves")]
        {
            panic!("TOOLGATE_DEBUG_PANIC is set");
        }
    }
    // The installed hook command line is parsed by hand (clap's setup was a tenth of a
    // hook's time); anything else, however close, goes through clap.
    if let Some((paths, a)) = hook_command_line(&args) {
        return evaluate::run(&paths, a);
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            let usage = !matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            );
            if !usage {
                // Help and version are successes.
                return 0;
            }
            if args.iter().any(|a| a == "evaluate") {
                return bad_hook_command_line(&args, &e);
            }
            // A usage error is exit 2, which is also a deny.
            return 2;
        }
    };
    let outcome = match cli.command {
        Command::Evaluate(a) => return evaluate::run(&cli.paths, a),
        Command::Test(a) => match fixtures::run(&cli.paths, a) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
        Command::Keygen(a) => keys::keygen(&cli.paths, a),
        Command::Trust(a) => keys::trust(&cli.paths, a),
        Command::Passport(passport::PassportCommand::Diff(d)) => match edit::diff_cmd(d) {
            Ok(code) => return code,
            Err(e) => {
                eprintln!("toolgate: {e:#}");
                return 2;
            }
        },
        Command::Passport(a) => passport::run(&cli.paths, a),
        Command::VerifyLog(a) => return verify_log::run(&cli.paths, a),
        Command::Log(a) => log::run(&cli.paths, *a),
        Command::Approve(a) => approve::run(&cli.paths, a),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "toolgate",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Man { out } => man(out),
        Command::Audit(a) => audit::run(&cli.paths, a),
        Command::Demo(a) => demo::run(a),
        Command::Config(a) => config::run(&cli.paths, a),
        Command::Init(a) => init::run(&cli.paths, a),
        Command::Install(a) => install::install(&cli.paths, a),
        Command::Uninstall(a) => uninstall::run(&cli.paths, a),
        Command::Doctor(a) => return doctor::run(&cli.paths, a),
        Command::Observe(a) => return observe::run(&cli.paths, a),
        Command::Telemetry(a) => telemetry::run(&cli.paths, a),
        Command::Status(a) => fleet::status_cmd(&cli.paths, a),
    };
    match outcome {
        Ok(()) => 0,
        // `toolgate log | head`: the reader has all it wanted.
        Err(e) if is_broken_pipe(&e) => 0,
        Err(e) => {
            eprintln!("toolgate: {}", describe(&e));
            1
        }
    }
}

/// An error and its causes, each cause said once: the library's messages already name
/// their cause (a deny sentence shows only the top message), so a cause whose text is
/// already there is not repeated after it.
fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

/// The man pages, from the same definitions as `--help`.
fn man(out: Option<PathBuf>) -> anyhow::Result<()> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let Some(dir) = out else {
        clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
        return Ok(());
    };
    std::fs::create_dir_all(&dir)?;
    clap_mangen::generate_to(cmd, &dir)?;
    println!("wrote man pages to {}", dir.display());
    Ok(())
}

/// Whether an error is, at its root, a write to a closed pipe.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `println!` panics when stdout is a closed pipe (`toolgate trust list | head -1`);
/// outside the hook, that ends the command quietly instead of with a panic message.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.contains("Broken pipe") || text.contains("os error 32") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// Parses `12h`, `30d`, `45m`, `3600s`.
/// Sets `key` on a JSON object. A document that is not an object is left as it is:
/// whatever reads it next refuses it with its own message.
pub fn set_key(doc: &mut serde_json::Value, key: &str, value: impl Into<serde_json::Value>) {
    if let Some(m) = doc.as_object_mut() {
        m.insert(key.into(), value.into());
    }
}

pub fn parse_duration(s: &str) -> anyhow::Result<time::Duration> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .with_context(|| format!("`{s}` is not a duration like 12h or 30d"))?;
    Ok(match unit {
        "s" => time::Duration::seconds(n),
        "m" => time::Duration::minutes(n),
        "h" | "" => time::Duration::hours(n),
        "d" => time::Duration::days(n),
        _ => bail!("`{s}`: unit must be s, m, h or d"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn words(line: &str) -> Vec<OsString> {
        std::iter::once("toolgate")
            .chain(line.split(' ').filter(|w| !w.is_empty()))
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn an_error_says_each_cause_once() {
        let io = std::io::Error::other("disk on fire");
        let e = anyhow::Error::new(toolgate::audit::AppendError::Read {
            path: "/l.jsonl".into(),
            source: io,
        })
        .context("cannot record the repair");
        assert_eq!(
            describe(&e),
            "cannot record the repair: cannot read audit log /l.jsonl: disk on fire"
        );
        let bare = anyhow::Error::new(std::io::Error::other("gone")).context("reading x");
        assert_eq!(describe(&bare), "reading x: gone");
    }

    #[test]
    fn the_hook_command_line_parses_as_clap_parses_it_and_nothing_else_is_taken() {
        for line in [
            "evaluate --host claude-code",
            "evaluate --host codex --passport /h/p.json --key /h/k.jwk",
            "evaluate --host gemini --trust-dir /t --audit-log /a.jsonl --config /c.json --packs-dir /p",
            "evaluate --host copilot --packs-dir /p --passport /x",
        ] {
            let args = words(line);
            let (paths, a) = hook_command_line(&args).unwrap_or_else(|| panic!("{line}"));
            let cli = Cli::try_parse_from(&args).unwrap();
            let Command::Evaluate(want) = cli.command else { panic!("{line}") };
            assert_eq!(format!("{paths:?} {a:?}"), format!("{:?} {want:?}", cli.paths), "{line}");
        }
        for line in [
            "evaluate",
            "evaluate --host",
            "evaluate --host nobody",
            "evaluate --host=claude-code",
            "evaluate --host claude-code --explain",
            "evaluate --host claude-code --json",
            "evaluate --host claude-code --key",
            "evaluate --host claude-code --key -x",
            "evaluate --host claude-code --key /a --key /b",
            "evaluate --host claude-code --project-root /r",
            "evaluate --host claude-code --read-timeout 1",
            "evaluate --host claude-code --dry-run",
            "--key /k evaluate --host claude-code",
            "observe --host claude-code",
            "evaluate --host claude-code extra",
        ] {
            assert!(hook_command_line(&words(line)).is_none(), "{line}");
        }
    }
}
