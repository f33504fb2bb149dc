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
use crate::audit::Record;
use crate::decision::Evaluation;
use crate::home::Locations;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;

/// Prefix of the note naming a decision whose export was not confirmed.
pub const MISSED_NOTE: &str = "telemetry: decision seq ";
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
pub fn pending_path(loc: &Locations) -> PathBuf {
    loc.audit_log.path.with_extension("otel-pending")
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
    /// Notes taken from the pending file, put back if this decision is never recorded.
    claimed: Option<(PathBuf, PathBuf)>,
}

#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
struct Active {
    settings: Settings,
    record: Record,
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
        loc: &Locations,
        config: &TelemetryConfig,
        started: OffsetDateTime,
        record: &mut Record,
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
        let pending = pending_path(loc);
        let claim = pending.with_extension(format!("otel-claimed-{}", record.decision_id));
        // Renaming claims the notes atomically: two concurrent hooks never both take them.
        if std::fs::rename(&pending, &claim).is_ok() {
            if let Ok(text) = std::fs::read_to_string(&claim) {
                record
                    .notes
                    .extend(text.lines().filter(|l| !l.is_empty()).map(String::from));
            }
            hook.claimed = Some((claim, pending.clone()));
        }
        hook.active = Some(Active {
            arguments: settings
                .export_arguments
                .then(|| input.map(crate::redact::redact))
                .flatten(),
            settings,
            record: record.clone(),
            parent,
            started,
            pending,
        });
        hook
    }

    /// Exports the recorded decision, waiting at most the budget. Returns whether the
    /// collector confirmed it; a failure is noted for the next record, never raised.
    pub fn emit(mut self, appended: &Appended, evaluation: &Evaluation) -> bool {
        if let Some((claim, _)) = self.claimed.take() {
            let _ = std::fs::remove_file(claim);
        }
        let Some(mut a) = self.active.take() else {
            return false;
        };
        a.record.seq = appended.seq;
        a.record.hash = appended.hash.clone();
        match send_live(&a, evaluation) {
            Ok(()) => true,
            Err(e) => {
                note_missed(&a.pending, &a.record, &e);
                false
            }
        }
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        if let Some((claim, pending)) = self.claimed.take() {
            if let Ok(text) = std::fs::read_to_string(&claim) {
                append_line(&pending, text.trim_end());
            }
            let _ = std::fs::remove_file(claim);
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
fn send_live(a: &Active, evaluation: &Evaluation) -> Result<(), ExportError> {
    let settings = &a.settings;
    let d = otlp::DecisionSpan {
        record: &a.record,
        checks: &evaluation.trace,
        start_ns: unix_nanos(a.started),
        end_ns: unix_nanos(OffsetDateTime::now_utc()),
        parent: a.parent.as_ref(),
        arguments: a.arguments.as_ref(),
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
fn send_live(_: &Active, _: &Evaluation) -> Result<(), ExportError> {
    Err(ExportError::NotBuilt)
}

/// Exports recorded decisions as spans in batches, with the full (bulk) timeout per request.
/// Replayed spans carry the same ids as live ones, so a backend keeps one copy. The log
/// holds no per-check timings, so a replayed decision has no child spans and its start and
/// end are the record's timestamp.
#[cfg(feature = "otlp")]
pub fn replay(settings: &Settings, records: &[Record], batch: usize) -> Result<usize, ExportError> {
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
            spans.extend(otlp::spans(&otlp::DecisionSpan {
                record: r,
                checks: &[],
                start_ns: at,
                end_ns: at,
                parent: parent.as_ref(),
                arguments: r.input.as_ref().filter(|_| settings.export_arguments),
            }));
        }
        exporter.post(&settings.traces_url, &otlp::traces_request(settings, spans))?;
        sent += chunk.len();
    }
    Ok(sent)
}

#[cfg(not(feature = "otlp"))]
pub fn replay(_: &Settings, _: &[Record], _: usize) -> Result<usize, ExportError> {
    Err(ExportError::NotBuilt)
}
