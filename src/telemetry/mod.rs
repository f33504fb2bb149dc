//! Decisions as OpenTelemetry spans and metrics, exported over OTLP/HTTP.
//!
//! Telemetry is an edge concern: it runs after the decision is made and recorded, reads
//! only what the record and the evaluation trace already hold, and can change neither the
//! verdict nor the exit code. A hook waits on the collector for at most a small budget;
//! an export that fails or times out becomes a note in the next audit record, and
//! `toolgate telemetry replay` can ship it again from the log.

pub mod attrs;
pub mod context;
#[cfg(feature = "otlp")]
mod export;
#[cfg(feature = "otlp")]
pub mod otlp;
mod settings;

pub use context::TraceParent;
pub use settings::{parse_pairs, Settings, SettingsError, TelemetryConfig, DEFAULT_BUDGET_MS};

use crate::audit::log::Appended;
use crate::audit::{Draft, Record};
use crate::decision::Evaluation;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;

/// Prefix of the note naming a decision whose export was not confirmed.
pub const MISSED_NOTE: &str = "telemetry: decision seq ";
/// Most pending notes one record takes over.
const MAX_NOTES: usize = 64;
/// Prefix of the note carrying the host's W3C trace context into the record.
pub const TRACEPARENT_NOTE: &str = "otel.traceparent=";

/// Why an export did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("collector unreachable or failed: {0}")]
    Send(String),
    #[error("collector answered HTTP {0}")]
    Status(u16),
    #[error("no answer within the {0:?} budget")]
    Budget(Duration),
    #[error("CA certificate: {0}")]
    Certificate(String),
    #[error("this toolgate was built without the `otlp` feature")]
    NotBuilt,
}

/// The file where notes of unconfirmed exports wait for the next record.
pub fn pending_path(audit_log: &Path) -> PathBuf {
    audit_log.with_extension("otel-pending")
}

/// The trace context recorded in a record's notes, if the host passed one.
pub fn recorded_parent(r: &Record) -> Option<TraceParent> {
    r.notes
        .iter()
        .find_map(|n| n.strip_prefix(TRACEPARENT_NOTE))
        .and_then(TraceParent::parse)
}

/// The sequence numbers that notes (a record's, or the pending file's lines) say were not exported.
pub fn missed_seqs(notes: &[String]) -> impl Iterator<Item = u64> + '_ {
    notes.iter().filter_map(|n| {
        let rest = n.strip_prefix(MISSED_NOTE)?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// One decision's telemetry, opened before its record is appended and emitted after.
pub struct Hook {
    active: Option<Active>,
    claimed: Option<Claimed>,
}

/// Notes taken from the pending file, put back if this decision is never recorded.
struct Claimed {
    /// The renamed pending file: left behind only by a crash, and then still readable.
    claim: PathBuf,
    pending: PathBuf,
    taken: Vec<String>,
}

#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
struct Active {
    settings: Settings,
    parent: Option<TraceParent>,
    arguments: Option<Value>,
    started: OffsetDateTime,
    pending: PathBuf,
}

impl Hook {
    /// Resolves the settings and writes into `record` what the evidence should carry: the
    /// host's trace context, why configured telemetry cannot run, and which earlier
    /// decisions were not exported.
    pub fn start(
        audit_log: &Path,
        config: &TelemetryConfig,
        started: OffsetDateTime,
        record: &mut Draft,
        input: Option<&Value>,
    ) -> Hook {
        let env = |k: &str| std::env::var(k).ok();
        let parent = env("TRACEPARENT").and_then(|t| TraceParent::parse(&t));
        if let Some(p) = &parent {
            record
                .notes
                .push(format!("{TRACEPARENT_NOTE}{}", p.header()));
        }
        let mut hook = Hook {
            active: None,
            claimed: None,
        };
        let settings = match Settings::resolve(config, &env) {
            Ok(Some(s)) if cfg!(feature = "otlp") => s,
            Ok(Some(_)) => {
                record.notes.push(format!(
                    "telemetry: not exported: {}",
                    ExportError::NotBuilt
                ));
                return hook;
            }
            Ok(None) => return hook,
            Err(e) => {
                record.notes.push(format!("telemetry: not exported: {e}"));
                return hook;
            }
        };
        let pending = pending_path(audit_log);
        let claim = pending.with_extension(format!("otel-claimed-{}", record.decision_id));
        // Renaming claims the notes atomically: two concurrent hooks never both take them.
        if std::fs::rename(&pending, &claim).is_ok() {
            let text = std::fs::read_to_string(&claim).unwrap_or_default();
            let mut lines = text.lines().filter(|l| !l.is_empty());
            let taken: Vec<String> = lines.by_ref().take(MAX_NOTES).map(String::from).collect();
            // A long outage must not bloat one record: the rest waits for the next.
            for rest in lines {
                append_line(&pending, rest);
            }
            record.notes.extend(taken.iter().cloned());
            hook.claimed = Some(Claimed {
                claim,
                pending: pending.clone(),
                taken,
            });
        }
        hook.active = Some(Active {
            arguments: settings
                .export_arguments
                .then(|| input.map(crate::redact::redact))
                .flatten(),
            settings,
            parent,
            started,
            pending,
        });
        hook
    }

    /// Exports the recorded decision, waiting at most the budget. Returns whether the
    /// collector confirmed it; a failure is noted for the next record, never raised.
    pub fn emit(mut self, appended: &Appended, evaluation: &Evaluation) -> bool {
        if let Some(c) = self.claimed.take() {
            let _ = std::fs::remove_file(c.claim);
        }
        let Some(a) = self.active.take() else {
            return false;
        };
        match send_live(&a, &appended.record, evaluation, &appended.checkpoint) {
            Ok(()) => true,
            Err(e) => {
                note_missed(&a.pending, &appended.record, &e);
                false
            }
        }
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        if let Some(c) = self.claimed.take() {
            for line in &c.taken {
                append_line(&c.pending, line);
            }
            let _ = std::fs::remove_file(c.claim);
        }
    }
}

fn note_missed(pending: &Path, r: &Record, e: &ExportError) {
    append_line(
        pending,
        &format!(
            "{MISSED_NOTE}{} ({}) not exported: {e}",
            r.seq, r.decision_id
        ),
    );
}

fn append_line(path: &Path, line: &str) {
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    if let Ok(mut f) = opts.open(path) {
        let _ = writeln!(f, "{line}");
    }
}

#[cfg(feature = "otlp")]
fn unix_nanos(t: OffsetDateTime) -> u64 {
    u64::try_from(t.unix_timestamp_nanos()).unwrap_or(0)
}

#[cfg(feature = "otlp")]
fn send_live(
    a: &Active,
    record: &Record,
    evaluation: &Evaluation,
    checkpoint: &crate::audit::head::Checkpoint,
) -> Result<(), ExportError> {
    let settings = &a.settings;
    let d = otlp::DecisionSpan {
        record,
        checks: &evaluation.trace,
        start_ns: unix_nanos(a.started),
        end_ns: unix_nanos(OffsetDateTime::now_utc()),
        parent: a.parent.as_ref(),
        arguments: a.arguments.as_ref(),
        checkpoint: Some(checkpoint),
    };
    let traces = otlp::traces_request(settings, otlp::spans(&d));
    let metrics = settings
        .metrics_url
        .clone()
        .map(|url| (url, otlp::metrics_request(settings, &d)));
    let exporter = export::Exporter::new(settings, settings.budget, true)?;
    let traces_url = settings.traces_url.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    // The send runs on its own thread so the budget holds even where a client timeout
    // cannot (a stuck DNS lookup); the process exits without waiting for it.
    std::thread::spawn(move || {
        let mut r = exporter.post(&traces_url, &traces);
        if let (Ok(()), Some((url, m))) = (&r, &metrics) {
            r = exporter.post(url, m);
        }
        let _ = tx.send(r);
    });
    rx.recv_timeout(settings.budget)
        .unwrap_or(Err(ExportError::Budget(settings.budget)))
}

#[cfg(not(feature = "otlp"))]
fn send_live(
    _: &Active,
    _: &Record,
    _: &Evaluation,
    _: &crate::audit::head::Checkpoint,
) -> Result<(), ExportError> {
    Err(ExportError::NotBuilt)
}

/// Exports recorded decisions as spans in batches, with the full (bulk) timeout per request.
/// Replayed spans carry the same ids as live ones, so a backend keeps one copy. The log
/// holds no per-check timings, so a replayed decision has no child spans and its start and
/// end are the record's timestamp.
#[cfg(feature = "otlp")]
pub fn replay(
    settings: &Settings,
    records: &[Record],
    batch: usize,
    checkpoints: Option<(&crate::passport::KeyPair, &str)>,
) -> Result<usize, ExportError> {
    use time::format_description::well_known::Rfc3339;
    let exporter = export::Exporter::new(settings, settings.timeout, false)?;
    let mut sent = 0;
    for chunk in records.chunks(batch.max(1)) {
        let mut spans = Vec::new();
        for r in chunk {
            let at = OffsetDateTime::parse(&r.ts, &Rfc3339)
                .map(unix_nanos)
                .unwrap_or(0);
            let parent = recorded_parent(r);
            let cp =
                checkpoints.map(|(key, log_id)| crate::audit::head::Checkpoint::of(log_id, r, key));
            spans.extend(otlp::spans(&otlp::DecisionSpan {
                record: r,
                checks: &[],
                start_ns: at,
                end_ns: at,
                parent: parent.as_ref(),
                arguments: r.input.as_ref().filter(|_| settings.export_arguments),
                checkpoint: cp.as_ref(),
            }));
        }
        exporter.post(&settings.traces_url, &otlp::traces_request(settings, spans))?;
        sent += chunk.len();
    }
    Ok(sent)
}

#[cfg(not(feature = "otlp"))]
pub fn replay(
    _: &Settings,
    _: &[Record],
    _: usize,
    _: Option<(&crate::passport::KeyPair, &str)>,
) -> Result<usize, ExportError> {
    Err(ExportError::NotBuilt)
}

#[cfg(all(test, feature = "otlp"))]
#[allow(clippy::unwrap_used, reason = "test helpers")]
mod tests {
    use super::*;

    fn record(seq: u64) -> Record {
        serde_json::from_value(serde_json::json!({
            "seq": seq, "ts": "2026-01-01T00:00:00Z", "decision_id": format!("d{seq}"),
            "host": "oap", "tool": "t", "policy_id": "p", "input_digest": "sha256:00",
            "allow": true, "verdict": "allow", "reasons": [], "kid": "k", "prev_hash": "h"
        }))
        .unwrap()
    }

    fn setup() -> (tempfile::TempDir, PathBuf, TelemetryConfig) {
        let dir = tempfile::tempdir().unwrap();
        let loc = dir.path().join("audit/audit.jsonl");
        std::fs::create_dir_all(loc.parent().unwrap()).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Explicit everywhere, so no OTEL_* variable of the outer run can change the test.
        let config = TelemetryConfig {
            enabled: Some(true),
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            traces_endpoint: Some(format!("http://127.0.0.1:{port}/v1/traces")),
            protocol: Some("http/protobuf".into()),
            metrics: Some(false),
            ..Default::default()
        };
        (dir, loc, config)
    }

    fn pending_lines(loc: &Path) -> Vec<String> {
        std::fs::read_to_string(pending_path(loc))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    #[test]
    fn one_record_takes_a_bounded_share_of_pending_notes() {
        let (_dir, loc, config) = setup();
        for seq in 0..(MAX_NOTES as u64 + 5) {
            append_line(&pending_path(&loc), &format!("{MISSED_NOTE}{seq} (d) x"));
        }
        let mut r = record(100).into_parts().0;
        let hook = Hook::start(&loc, &config, OffsetDateTime::now_utc(), &mut r, None);
        assert_eq!(r.notes.len(), MAX_NOTES);
        assert_eq!(missed_seqs(&r.notes).next(), Some(0));
        assert_eq!(
            pending_lines(&loc).len(),
            5,
            "the rest waits for the next record"
        );
        drop(hook);
        assert_eq!(
            pending_lines(&loc).len(),
            MAX_NOTES + 5,
            "an unrecorded decision gives its notes back"
        );
    }

    #[test]
    fn a_failed_export_is_noted_for_the_next_record_only_once() {
        let (_dir, loc, config) = setup();
        let mut r = record(0).into_parts().0;
        let hook = Hook::start(&loc, &config, OffsetDateTime::now_utc(), &mut r, None);
        let ev = Evaluation::early_deny(
            "p".into(),
            crate::reason::Reason::new(crate::reason::ReasonCode::InvalidInput, "x"),
        );
        let cp_key = crate::passport::KeyPair::generate();
        let appended = Appended {
            seq: 7,
            hash: "sha256:ab".into(),
            checkpoint: crate::audit::head::Checkpoint::sign("l", 7, "sha256:ab", "t", &cp_key),
            record: record(7),
        };
        assert!(!hook.emit(&appended, &ev), "nothing listens on the port");
        let lines = pending_lines(&loc);
        assert_eq!(missed_seqs(&lines).collect::<Vec<_>>(), [7]);

        let mut next = record(8).into_parts().0;
        let hook = Hook::start(&loc, &config, OffsetDateTime::now_utc(), &mut next, None);
        assert_eq!(missed_seqs(&next.notes).collect::<Vec<_>>(), [7]);
        assert!(!hook.emit(
            &Appended {
                seq: 8,
                hash: "sha256:cd".into(),
                checkpoint: crate::audit::head::Checkpoint::sign("l", 8, "sha256:cd", "t", &cp_key),
                record: record(8),
            },
            &ev
        ));
        assert_eq!(
            missed_seqs(&pending_lines(&loc)).collect::<Vec<_>>(),
            [8],
            "seq 7 moved into record 8 and is not carried again"
        );
    }
}
