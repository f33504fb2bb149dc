//! Reading the log back: filters and counts for `toolgate log`.

use super::record::Record;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;

/// Which records to show; every set field must match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub agent: Option<String>,
    pub tool: Option<String>,
    pub verdict: Option<String>,
    pub reason: Option<String>,
    pub session: Option<String>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    /// Unix seconds, exclusive.
    pub until: Option<i64>,
    /// Only calls a rollout mode let through (`enforced: false`).
    pub would_deny: bool,
}

impl Filter {
    pub fn matches(&self, r: &Record) -> bool {
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        let t = r.unix_ts();
        eq(&self.agent, r.agent_id.as_deref())
            && eq(&self.tool, Some(&r.tool))
            && eq(&self.verdict, Some(r.verdict.as_str()))
            && eq(&self.session, r.session_id.as_deref())
            && self.reason.as_deref().is_none_or(|c| {
                r.reasons
                    .iter()
                    .chain(&r.would_reasons)
                    .any(|x| x.code.as_str() == c)
            })
            && self.since.is_none_or(|s| t >= s)
            && self.until.is_none_or(|u| t < u)
            && (!self.would_deny || r.enforced == Some(false))
    }
}

/// Counts by verdict, tool and reason code.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub records: u64,
    pub by_verdict: BTreeMap<String, u64>,
    pub by_tool: BTreeMap<String, u64>,
    pub by_reason: BTreeMap<String, u64>,
}

impl Summary {
    pub fn add(&mut self, r: &Record) {
        self.records += 1;
        *self.by_verdict.entry(r.verdict.to_string()).or_default() += 1;
        *self.by_tool.entry(r.tool.clone()).or_default() += 1;
        for reason in &r.reasons {
            *self
                .by_reason
                .entry(reason.code.as_str().into())
                .or_default() += 1;
        }
    }
}

/// A file that cannot be read, or a line that is not a record. Queries stop there:
/// `verify-log` says why.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{file}: {source}")]
    Open {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: {source}")]
    Read {
        file: PathBuf,
        line: usize,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: not a record: {source}")]
    NotRecord {
        file: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
}

/// Calls `each` with every record of `files` in order. A torn last line is skipped (it is not a record).
pub fn for_each(files: &[PathBuf], mut each: impl FnMut(Record)) -> Result<(), ReadError> {
    for file in files {
        let f = std::fs::File::open(file).map_err(|source| ReadError::Open {
            file: file.clone(),
            source,
        })?;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, f);
        let mut buf = Vec::new();
        let mut n = 0;
        loop {
            buf.clear();
            let read = reader
                .read_until(b'\n', &mut buf)
                .map_err(|source| ReadError::Read {
                    file: file.clone(),
                    line: n + 1,
                    source,
                })?;
            if read == 0 {
                break;
            }
            n += 1;
            if buf.last() != Some(&b'\n') {
                break;
            }
            let rec = serde_json::from_slice(&buf).map_err(|source| ReadError::NotRecord {
                file: file.clone(),
                line: n,
                source,
            })?;
            each(rec);
        }
    }
    Ok(())
}
