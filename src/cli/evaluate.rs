//! `toolgate evaluate`: the hook command.

use super::{paint, PathArgs};
use clap::Args;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use toolgate::call::HostKind;
use toolgate::decision::{Outcome as CheckOutcome, Verdict};
use toolgate::gate::{self, InputError, Outcome};

#[derive(Debug, Clone, Args)]
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
    /// out, so this stays well inside the installed timeout (30 s). A call
    /// still being analysed after 4 s (or a third of a shorter deadline) is
    /// denied earlier, and that deny is recorded.
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

/// How long the stateless part of a decision (parsing the input, loading the passport
/// and packs, analysing the command: everything before the audit lock) may take before
/// the watchdog takes the call over and records a deny. An ordinary call needs about a
/// millisecond and every known parser trap is refused in milliseconds: this is the net
/// for the next one, so that no input buys an unrecorded decision. Four seconds leave
/// the lock's own wait (5 s) and the append inside the deadline (15 s), which is
/// itself half the host's timeout. A shorter `--deadline` shortens it to a third.
pub const PREPARE_BUDGET: Duration = Duration::from_secs(4);

/// Set once an answer is being written: the watchdog and the gate never both answer.
static ANSWERED: std::sync::Mutex<bool> = std::sync::Mutex::new(false);

/// Where the call is; the hand-off between the gate and the watchdog turns on it, by
/// compare-and-swap, so exactly one of them writes the decision and answers.
static STAGE: AtomicU8 = AtomicU8::new(READING);
/// The input is not in yet (its read has its own timeout): no budget runs.
const READING: u8 = 0;
/// The stateless part runs, under [`PREPARE_BUDGET`].
const PREPARING: u8 = 1;
/// The gate passed the hand-off: it records and answers its own decision.
const COMMITTING: u8 = 2;
/// The watchdog records a deny and answers; the gate, if it gets that far, parks.
const TAKEN_OVER: u8 = 3;

/// What a take-over needs to record and answer the call the gate was deciding.
struct Job {
    started: Instant,
    loc: toolgate::home::Locations,
    host: Option<HostKind>,
    bytes: Arc<Vec<u8>>,
    args: EvaluateArgs,
}

/// The call being prepared; set once, just before [`PREPARING`].
static JOB: OnceLock<Job> = OnceLock::new();

/// The budget for a deadline: [`PREPARE_BUDGET`], or a third of a shorter deadline.
fn prepare_budget(deadline: Duration) -> Duration {
    PREPARE_BUDGET.min(deadline / 3)
}

/// Starts the watchdog, the one helper thread of a hook call. Once the input is in, it
/// takes over a call whose stateless part runs past its budget and records a deny for
/// it (see [`take_over`]). Unless an answer has gone out by `deadline` (a lock or a
/// disk that hangs after the hand-off), it prints the host's deny and ends the
/// process; that last deny is not recorded (the gate may hold the log), as it says.
/// In an ordinary call it never wakes: the process is gone first.
fn watchdog(host: Option<HostKind>, deadline: Duration) {
    let start = Instant::now();
    let end = start + deadline;
    let budget = prepare_budget(deadline);
    std::thread::spawn(move || {
        let mut wake = start + budget;
        loop {
            std::thread::sleep(wake.min(end).saturating_duration_since(Instant::now()));
            let now = Instant::now();
            if now >= end {
                break;
            }
            wake = match (STAGE.load(Ordering::Acquire), JOB.get()) {
                (PREPARING, Some(job)) if now >= job.started + budget => {
                    take_over(job, budget);
                    end
                }
                (PREPARING, Some(job)) => job.started + budget,
                (COMMITTING | TAKEN_OVER, _) => end,
                // Still reading: look again a budget later.
                _ => now + budget,
            };
        }
        last_resort(host, deadline);
    });
}

/// Takes the call over from the gate, if the gate has not passed the hand-off, and
/// records and answers a deny through the gate's own writer. The recording runs on a
/// thread of its own (this rare path only), so the watchdog still keeps the deadline
/// if the log's disk hangs.
fn take_over(job: &'static Job, budget: Duration) {
    if STAGE
        .compare_exchange(PREPARING, TAKEN_OVER, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    let why = format!(
        "the call was still being read and analysed after {} ms, toolgate's budget for the part of a decision before the audit lock, so it is refused: split the call into simpler ones (fewer nested substitutions, quotes or here-documents); if ordinary calls are refused this way, the machine is overloaded or toolgate's files are on a slow disk",
        budget.as_millis()
    );
    let reason =
        toolgate::reason::Reason::new(toolgate::reason::ReasonCode::CommandTooComplex, why);
    let record = move || {
        let code = answer_taken_over(job, reason);
        let _ = std::io::stdout().flush();
        std::process::exit(code);
    };
    if let Err(e) = std::thread::Builder::new().spawn(record) {
        // No thread to spare: the deny is still answered (by the deadline), not recorded.
        eprintln!("toolgate: cannot record the take-over: {e}");
    }
}

/// Records and renders the deny of a call taken over from the gate.
fn answer_taken_over(job: &Job, reason: toolgate::reason::Reason) -> i32 {
    let outcome = gate::record_taken_over(
        &job.loc,
        job.host,
        &job.bytes,
        reason,
        time::OffsetDateTime::now_utc(),
    );
    render(&outcome, &job.args)
}

/// The deadline's deny: printed unless an answer is already being written.
fn last_resort(host: Option<HostKind>, deadline: Duration) {
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
}

/// Decides the call that was read, under the budget: the gate asks to commit just
/// before the audit lock, and a watchdog that has taken over makes it stop there. A
/// panic before that point is recorded the same way; after it, the record may already
/// be written, so it is left to `main`'s unrecorded deny.
fn decide_read(job: &'static Job, opts: &gate::EvaluateOptions) -> i32 {
    let commit = || {
        STAGE
            .compare_exchange(PREPARING, COMMITTING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    };
    let now = time::OffsetDateTime::now_utc();
    let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        gate::evaluate_handing_off(&job.loc, &job.bytes, opts, now, &commit)
    }));
    match decided {
        Ok(Some(outcome)) => render(&outcome, &job.args),
        Ok(None) => park(),
        Err(panic) => {
            let took =
                STAGE.compare_exchange(PREPARING, TAKEN_OVER, Ordering::AcqRel, Ordering::Acquire);
            match took {
                Ok(_) => {
                    let reason = toolgate::reason::Reason::new(
                        toolgate::reason::ReasonCode::InternalError,
                        "an internal error (a panic) while reading and analysing the call, denying; please report it with this record",
                    );
                    answer_taken_over(job, reason)
                }
                Err(TAKEN_OVER) => park(),
                Err(_) => std::panic::resume_unwind(panic),
            }
        }
    }
}

/// Waits for the process to end: another thread is answering.
fn park() -> ! {
    loop {
        std::thread::park();
    }
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
    let secs = timeout.as_secs();
    let timed_out = |buf: &Vec<u8>| InputError::TimedOut {
        secs,
        received: buf.len(),
    };
    // Read straight into the buffer's spare capacity: a zeroed 64 KiB chunk would touch
    // sixteen fresh pages for an input that is usually a few hundred bytes.
    const CHUNK: usize = 64 * 1024;
    let mut buf = Vec::with_capacity(CHUNK);
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
        if buf.len() == buf.capacity() {
            buf.reserve(CHUNK);
        }
        match rustix::io::read(fd, rustix::buffer::spare_capacity(&mut buf)) {
            Ok(0) => return Ok(buf),
            Ok(_) => {
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
    let host = a.host.as_deref().and_then(HostKind::parse);
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
    let opts = gate::EvaluateOptions {
        host: if a.policy.is_some() {
            Some(HostKind::Oap)
        } else {
            host
        },
        project_roots,
    };
    let bytes = match read_input(&a, &loc, &opts) {
        Ok(b) => b,
        Err(outcome) => return render(&outcome, &a),
    };
    let job = JOB.get_or_init(|| Job {
        started: Instant::now(),
        loc,
        host: opts.host,
        bytes: Arc::new(bytes),
        args: a,
    });
    STAGE.store(PREPARING, Ordering::Release);
    decide_read(job, &opts)
}

/// The call's bytes: the `--policy`/`--context` request, or one hook input from stdin.
/// A context file that cannot be read, or an input too large or too slow, is a
/// recorded deny instead.
fn read_input(
    a: &EvaluateArgs,
    loc: &toolgate::home::Locations,
    opts: &gate::EvaluateOptions,
) -> Result<Vec<u8>, Box<Outcome>> {
    match (&a.policy, &a.context) {
        (Some(policy), Some(file)) => {
            match std::fs::read(file) {
                Ok(b) => {
                    match toolgate::canonical::parse_strict(toolgate::canonical::strip_bom(&b)) {
                        Ok(ctx) => Ok(json!({"policy": policy, "context": ctx})
                            .to_string()
                            .into_bytes()),
                        // Let the gate produce (and record) the precise deny.
                        Err(_) => Ok(b),
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
                    Err(Box::new(gate::record_early_deny(
                        loc,
                        HostKind::Oap,
                        reason,
                        time::OffsetDateTime::now_utc(),
                    )))
                }
            }
        }
        _ => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprintln!(
                    "toolgate: reading one tool call as JSON from stdin (end with Ctrl-D)..."
                );
            }
            let cap = gate::input_cap_for(loc);
            // An oversized or stalled input still gets a recorded deny.
            read_stdin_bounded(cap, Duration::from_secs(a.read_timeout)).map_err(|e| {
                Box::new(gate::evaluate_unread(
                    loc,
                    &e,
                    opts,
                    time::OffsetDateTime::now_utc(),
                ))
            })
        }
    }
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
        park();
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
