//! Command-line interface. Each subcommand lives in its own file; this one
//! holds the argument definitions and the exit-code policy.

mod audit;
mod config;
mod demo;
mod doctor;
mod evaluate;
mod fleet;
mod init;
mod install;
mod keys;
mod log;
mod observe;
mod passport;
mod telemetry;
mod verify_log;

use crate::home::{self, Locations, Overrides};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Authorization gate for AI agent tool calls.
///
/// toolgate reads one proposed tool call as JSON on stdin, checks it against a
/// signed Open Agent Passport under versioned policy packs, appends a signed,
/// hash-chained audit record, and exits 0 (allow) or 2 (deny), answering the
/// host (Claude Code, Cursor, or a generic OAP request) in its own format.
///
/// Start with `toolgate demo`, then `toolgate keygen`, `toolgate passport new --sign`,
/// and wire `toolgate evaluate --host claude-code` into your agent's hooks.
#[derive(Debug, Parser)]
#[command(
    name = "toolgate",
    version,
    propagate_version = true,
    max_term_width = 100
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
    /// Decide one tool call read from stdin (the hook command). Exits 0 allow, 2 deny.
    Evaluate(evaluate::EvaluateArgs),
    /// Create an Ed25519 key pair (private key mode 0600) and print its key id.
    Keygen(keys::KeygenArgs),
    /// Manage the trust store of passport issuer keys.
    #[command(subcommand)]
    Trust(keys::TrustCommand),
    /// Create, sign and verify passports.
    #[command(subcommand)]
    Passport(passport::PassportCommand),
    /// Prove an audit log intact: hashes, signatures, sequence and links.
    VerifyLog(verify_log::VerifyLogArgs),
    /// Query the audit log (filters, --summary, --json) or export it (jsonl, OCSF, CEF).
    Log(Box<log::LogArgs>),
    /// Maintain the audit log: repair a torn tail, rebuild state, rotate the key.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Run the whole flow on built-in defaults in a temporary directory.
    Demo(demo::DemoArgs),
    /// Show which files toolgate uses and where each setting came from.
    Config(config::ConfigArgs),
    /// First run: create a key, trust it, and write a signed starter passport.
    Init(init::InitArgs),
    /// Wire toolgate into a host's hook configuration (claude-code, cursor, codex, gemini, copilot).
    Install(install::InstallArgs),
    /// Take toolgate's hook out of a host's configuration, leaving everything else.
    Uninstall(install::UninstallArgs),
    /// Post-tool hook: record an `ungated` alarm for a call that ran without an allow record.
    Observe(observe::ObserveArgs),
    /// Check every installed hook end to end, including a deny and an allow canary. Exit 1 on any problem.
    Doctor(doctor::DoctorArgs),
    /// OpenTelemetry export: resolved settings, and replay of recorded decisions.
    #[command(subcommand)]
    Telemetry(telemetry::TelemetryCommand),
    /// Fleet status (hybrid mode): show the source, its age and what it says; refresh; publish.
    Status(fleet::StatusArgs),
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
    let host = hook_mode.then(|| hook_host(&args)).flatten();
    // A panic anywhere is a deny (2, or the host's own deny), never Rust's 101.
    std::panic::catch_unwind(|| run(args))
        .unwrap_or_else(|_| host.map_or(2, |h| hook_deny(h, "internal error, denying")))
}

/// Prints a host's deny answer and returns its exit code (Copilot CLI blocks only on JSON).
fn hook_deny(host: crate::call::HostKind, why: &str) -> i32 {
    let reason = crate::reason::Reason::new(crate::reason::ReasonCode::InternalError, why);
    let a = crate::hosts::answer(host, None, crate::decision::Verdict::Deny, &[reason]);
    print!("{}", a.stdout);
    a.exit_code
}

/// The `--host` of an `evaluate` command line, so even a panic answers in the host's format.
fn hook_host(args: &[std::ffi::OsString]) -> Option<crate::call::HostKind> {
    let words: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    words
        .iter()
        .enumerate()
        .find_map(|(i, w)| match w.strip_prefix("--host=") {
            Some(v) => crate::call::HostKind::parse(v),
            None if w == "--host" => words
                .get(i + 1)
                .and_then(|v| crate::call::HostKind::parse(v)),
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
    let reason = crate::reason::Reason::new(crate::reason::ReasonCode::InvalidInput, &why);
    let outcome = crate::gate::record_early_deny(
        &paths.locations(flag("passport")),
        host.unwrap_or(crate::call::HostKind::Oap),
        reason,
        time::OffsetDateTime::now_utc(),
    );
    if let Some(r) = &outcome.record {
        eprintln!("toolgate: recorded as seq {} {}", r.seq, r.hash);
    }
    match host {
        Some(h) => hook_deny(h, &why),
        None => 2,
    }
}

fn run(args: Vec<std::ffi::OsString>) -> i32 {
    // Debug builds only: lets the tests prove that a panic denies with exit 2.
    #[cfg(debug_assertions)]
    if std::env::var_os("TOOLGATE_DEBUG_PANIC").is_some() {
        panic!("TOOLGATE_DEBUG_PANIC is set");
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
        Command::Keygen(a) => keys::keygen(&cli.paths, a),
        Command::Trust(a) => keys::trust(&cli.paths, a),
        Command::Passport(a) => passport::run(&cli.paths, a),
        Command::VerifyLog(a) => return verify_log::run(&cli.paths, a),
        Command::Log(a) => log::run(&cli.paths, *a),
        Command::Audit(a) => audit::run(&cli.paths, a),
        Command::Demo(a) => demo::run(a),
        Command::Config(a) => config::run(&cli.paths, a),
        Command::Init(a) => init::run(&cli.paths, a),
        Command::Install(a) => install::install(&cli.paths, a),
        Command::Uninstall(a) => install::uninstall(&cli.paths, a),
        Command::Doctor(a) => return doctor::run(&cli.paths, a),
        Command::Observe(a) => return observe::run(&cli.paths, a),
        Command::Telemetry(a) => telemetry::run(&cli.paths, a),
        Command::Status(a) => fleet::status_cmd(&cli.paths, a),
    };
    match outcome {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("toolgate: {e:#}");
            1
        }
    }
}
