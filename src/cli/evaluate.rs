//! `toolgate evaluate`: the hook command.

use super::{paint, PathArgs};
use clap::Args;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;
use toolgate::call::HostKind;
use toolgate::decision::{Outcome as CheckOutcome, Verdict};
use toolgate::gate::{self, InputError, Outcome};

#[derive(Debug, Args)]
#[command(after_help = "\
Exit codes: 0 allow (and, for hosts that can ask a person, review); 2 deny.
Every error (bad input, missing or untrusted passport, unknown tool, unwritable
audit log, even a bad flag) is a deny with an oap.* reason code.

Examples:
  echo '{\"hook_event_name\":\"PreToolUse\",\"tool_name\":\"Bash\",\"tool_input\":{\"command\":\"git status\"},\"cwd\":\"/repo\"}' \\
    | toolgate evaluate --host claude-code
  toolgate evaluate --policy finance.payment.refund.v1 --context refund.json --json
  toolgate evaluate --dry-run --explain --policy finance.payment.refund.v1 --context refund.json")]
pub struct EvaluateArgs {
    /// Host whose hook format the input uses; detected from the input when omitted.
    #[arg(long, value_name = "HOST", value_parser = ["claude-code", "cursor", "codex", "gemini", "copilot", "oap"])]
    pub host: Option<String>,
    /// Passport file (its signature is PASSPORT.sig) [env: TOOLGATE_PASSPORT]
    #[arg(long, value_name = "FILE")]
    pub passport: Option<PathBuf>,
    /// Evaluate a generic OAP request for this policy pack id (with --context) instead of stdin.
    #[arg(long, value_name = "ID", requires = "context")]
    pub policy: Option<String>,
    /// JSON file with the request context for --policy.
    #[arg(long, value_name = "FILE", requires = "policy")]
    pub context: Option<PathBuf>,
    /// Show every check that ran, in order, with its verdict (on stderr in hook mode).
    #[arg(long)]
    pub explain: bool,
    /// Print toolgate's decision JSON instead of the host's answer.
    #[arg(long)]
    pub json: bool,
    /// Trusted project root (repeatable). Replaces the root the host sets
    /// (CLAUDE_PROJECT_DIR, Cursor's workspace_roots, ...) and `project_roots`
    /// in config.json; relative passport globs are anchored here, never at the
    /// call's working directory.
    #[arg(long = "project-root", value_name = "DIR")]
    pub project_roots: Vec<PathBuf>,
    /// Seconds to wait for stdin before denying.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_READ_TIMEOUT_SECS)]
    pub read_timeout: u64,
    /// Seconds after which toolgate answers deny whatever it is still doing
    /// (lock waits, a slow disk): every host runs the tool when its hook times
    /// out, so this stays well inside the installed timeout (30 s).
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_DEADLINE_SECS)]
    pub deadline: u64,
    /// Decide against a scratch state and audit log: the real ones are neither read
    /// nor written (rate windows and idempotency keys start empty), and nothing is
    /// written outside a scratch directory. Not for hooks.
    #[arg(long)]
    pub dry_run: bool,
}

/// How long the hook waits for its input by default.
pub const DEFAULT_READ_TIMEOUT_SECS: u64 = 10;

/// Half the installed hook timeout.
pub const DEFAULT_DEADLINE_SECS: u64 = toolgate::install::TIMEOUT_SECS / 2;

/// Set once an answer is being written: the watchdog and the gate never both answer.
static ANSWERED: std::sync::Mutex<bool> = std::sync::Mutex::new(false);

/// Starts the watchdog: unless the gate has answered by `deadline`, it prints
/// the host's deny and ends the process. The deny is not recorded (the gate
/// may hold the log), which the reason says.
fn watchdog(host: Option<HostKind>, deadline: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(deadline);
        let mut answered = ANSWERED.lock().unwrap_or_else(|e| e.into_inner());
        if *answered {
            return;
        }
        *answered = true;
        let reason = toolgate::reason::Reason::new(
            toolgate::reason::ReasonCode::InternalError,
            format!(
                "no decision within {}s (toolgate's deadline), denying; this deny is not in the audit log",
                deadline.as_secs()
            ),
        );
        let a = toolgate::hosts::answer(
            host.unwrap_or(HostKind::Oap),
            None,
            Verdict::Deny,
            &[reason],
        );
        let _ = write!(std::io::stdout().lock(), "{}", a.stdout);
        let _ = write!(std::io::stderr().lock(), "{}", a.stderr);
        let _ = std::io::stdout().flush();
        std::process::exit(a.exit_code);
    });
}

/// Reads stdin up to `max` bytes, giving up after `timeout`: `poll` with the time left,
/// then `read`, on the calling thread (a helper thread per hook cost more than the read).
pub fn read_stdin_bounded(max: usize, timeout: Duration) -> Result<Vec<u8>, InputError> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    use rustix::io::Errno;
    use std::os::fd::AsFd;
    let stdin = std::io::stdin();
    let fd = stdin.as_fd();
    let deadline = std::time::Instant::now() + timeout;
    let mut buf = Vec::new();
    let secs = timeout.as_secs();
    let timed_out = |buf: &Vec<u8>| InputError::TimedOut {
        secs,
        received: buf.len(),
    };
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(timed_out(&buf));
        }
        let wait = Timespec {
            tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match poll(&mut fds, Some(&wait)) {
            Ok(0) => return Err(timed_out(&buf)),
            Ok(_) => {}
            Err(Errno::INTR) => continue,
            Err(e) => return Err(InputError::Unreadable(e.to_string())),
        }
        match rustix::io::read(fd, &mut chunk[..]) {
            Ok(0) => return Ok(buf),
            Ok(n) => {
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                if buf.len() > max {
                    return Err(InputError::TooLarge(max));
                }
            }
            Err(Errno::INTR | Errno::AGAIN) => continue,
            Err(e) => return Err(InputError::Unreadable(e.to_string())),
        }
    }
}

pub fn run(paths: &PathArgs, a: EvaluateArgs) -> i32 {
    let mut host = a.host.as_deref().and_then(HostKind::parse);
    watchdog(host, Duration::from_secs(a.deadline.max(1)));
    let real = paths.locations(a.passport.clone());
    let scratch = match a.dry_run.then(|| super::fixtures::Scratch::new(&real)) {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            eprintln!("toolgate: --dry-run: {e:#}");
            return 2;
        }
        None => None,
    };
    let loc = scratch.as_ref().map_or(real, |s| s.loc.clone());
    let project_roots: Vec<PathBuf> = a
        .project_roots
        .iter()
        .filter_map(|r| std::path::absolute(r).ok())
        .collect();
    let bytes = match (&a.policy, &a.context) {
        (Some(policy), Some(file)) => {
            host = Some(HostKind::Oap);
            match std::fs::read(file) {
                Ok(b) => {
                    match toolgate::canonical::parse_strict(toolgate::canonical::strip_bom(&b)) {
                        Ok(ctx) => json!({"policy": policy, "context": ctx})
                            .to_string()
                            .into_bytes(),
                        // Let the gate produce (and record) the precise deny.
                        Err(_) => b,
                    }
                }
                Err(e) => {
                    // Said as it is, and recorded: not "the input is not valid JSON".
                    let why = format!(
                        "cannot read the --context file {}: {e}; write the request context there as a JSON object",
                        file.display()
                    );
                    let reason = toolgate::reason::Reason::new(
                        toolgate::reason::ReasonCode::InvalidInput,
                        why,
                    );
                    let outcome = gate::record_early_deny(
                        &loc,
                        HostKind::Oap,
                        reason,
                        time::OffsetDateTime::now_utc(),
                    );
                    return render(&outcome, &a);
                }
            }
        }
        _ => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprintln!(
                    "toolgate: reading one tool call as JSON from stdin (end with Ctrl-D)..."
                );
            }
            let cap = gate::input_cap_for(&loc);
            match read_stdin_bounded(cap, Duration::from_secs(a.read_timeout)) {
                Ok(b) => b,
                // An oversized or stalled input still gets a recorded deny.
                Err(e) => {
                    let outcome = gate::evaluate_unread(
                        &loc,
                        &e,
                        &gate::EvaluateOptions {
                            host,
                            project_roots: project_roots.clone(),
                        },
                        time::OffsetDateTime::now_utc(),
                    );
                    return render(&outcome, &a);
                }
            }
        }
    };
    let outcome = gate::evaluate(
        &loc,
        &bytes,
        &gate::EvaluateOptions {
            host,
            project_roots,
        },
        time::OffsetDateTime::now_utc(),
    );
    render(&outcome, &a)
}

/// The checks grouped per pack (and layer), each with its outcome, what it said and
/// the passport entry that decided it.
fn explain_trace(trace: &[toolgate::decision::CheckTrace]) -> String {
    let mut out = String::new();
    let width = trace.iter().map(|t| t.check.len()).max().unwrap_or(0);
    let mut group: Option<(Option<&str>, &str)> = None;
    for t in trace {
        let this = (t.layer.as_deref(), t.policy_id.as_str());
        if group != Some(this) {
            let layer = t
                .layer
                .as_deref()
                .map(|l| format!(" [{l}]"))
                .unwrap_or_default();
            // A line no pack ran (a harmless tool, an early deny) is the gate's own.
            let name = t.policy_id.pack().unwrap_or("gate");
            out.push_str(&format!("  {}{layer}\n", paint(name, "1")));
            group = Some(this);
        }
        let (label, color) = match (t.outcome, t.mode) {
            (CheckOutcome::Pass, _) => ("pass", "32"),
            (CheckOutcome::Skip, _) => ("skip", "2"),
            (CheckOutcome::Review, None) => ("review", "33"),
            (CheckOutcome::Deny, None) => ("deny", "31"),
            (CheckOutcome::Review, Some(_)) => ("review*", "33"),
            (CheckOutcome::Deny, Some(_)) => ("deny*", "33"),
        };
        let mark = paint(&format!("{label:<7}"), color);
        let held = t
            .mode
            .map(|m| format!(" ({} mode: not enforced)", m.as_str()))
            .unwrap_or_default();
        out.push_str(&format!(
            "    {mark} {:<width$}  {}{held}\n",
            t.check, t.detail
        ));
        for m in &t.matched {
            out.push_str(&format!("    {:7} {:<width$}  matched {m}\n", "", ""));
        }
    }
    out
}

fn render(o: &Outcome, a: &EvaluateArgs) -> i32 {
    let mut answered = ANSWERED.lock().unwrap_or_else(|e| e.into_inner());
    if *answered {
        // The watchdog is answering and will end the process.
        drop(answered);
        loop {
            std::thread::park();
        }
    }
    *answered = true;
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let code = o.answer.exit_code;
    if a.json {
        let body = json!({
            "verdict": o.evaluation.verdict,
            // Also for denies that could not be recorded (no signed decision exists for them).
            "reasons": o.evaluation.reasons,
            "decision": o.receipt(),
            "checks": if a.explain { Some(&o.evaluation.trace) } else { None },
            "deciding_layer": o.deciding_layer,
            "audit": o.record.as_ref().filter(|_| !a.dry_run).map(|r| json!({"seq": r.seq, "hash": r.hash})),
            "dry_run": a.dry_run,
        });
        let _ = writeln!(
            stdout.lock(),
            "{}",
            serde_json::to_string_pretty(&body).unwrap_or_default()
        );
        return code;
    }
    let human_main = o.host == HostKind::Oap;
    let mut explain = String::new();
    if a.explain || human_main {
        let v = o.evaluation.verdict;
        let (label, color) = match v {
            Verdict::Allow => ("ALLOW", "32"),
            Verdict::Review => ("REVIEW", "33"),
            Verdict::Deny => ("DENY", "31"),
        };
        let first = o.evaluation.reasons.first();
        explain.push_str(&format!(
            "{} {} {}\n",
            paint(label, color),
            first.map(|r| r.code.as_str()).unwrap_or(""),
            first.map(|r| r.message.as_str()).unwrap_or("")
        ));
        if a.explain {
            if let Some(l) = &o.deciding_layer {
                explain.push_str(&format!("  decided by the {l} layer\n"));
            }
            explain.push_str(&explain_trace(&o.evaluation.trace));
            match &o.record {
                Some(_) if a.dry_run => {
                    explain.push_str("  dry run: decided on scratch state, nothing recorded\n")
                }
                Some(r) => explain.push_str(&format!("  recorded as seq {} {}\n", r.seq, r.hash)),
                None => {}
            }
        }
    }
    if human_main {
        let _ = write!(stdout.lock(), "{explain}");
        let _ = write!(stderr.lock(), "{}", o.answer.stderr);
    } else {
        let _ = write!(stdout.lock(), "{}", o.answer.stdout);
        let _ = write!(stderr.lock(), "{}{explain}", o.answer.stderr);
    }
    code
}
