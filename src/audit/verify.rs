//! Proving a log intact: every line parses, hashes, verifies, and links to the one before.

use super::record::{Record, GENESIS};
use crate::passport::PublicKey;
use std::io::BufRead;
use std::path::Path;

/// The first thing wrong with a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub line: usize,
    pub seq: Option<u64>,
    pub what: String,
}

/// A verified log's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intact {
    pub records: u64,
    pub last_hash: String,
}

/// Verifies a log against the evaluator's public key.
pub fn verify_file(path: &Path, key: &PublicKey) -> Result<Intact, Broken> {
    let file = std::fs::File::open(path).map_err(|e| Broken {
        line: 0,
        seq: None,
        what: format!("cannot open {}: {e}", path.display()),
    })?;
    let mut reader = std::io::BufReader::new(file);
    let mut prev = GENESIS.to_string();
    let mut expected_seq = 0u64;
    let mut line = Vec::new();
    let mut n = 0usize;
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line).map_err(|e| Broken {
            line: n + 1,
            seq: None,
            what: e.to_string(),
        })?;
        if read == 0 {
            break;
        }
        n += 1;
        if line.last() != Some(&b'\n') {
            return Err(Broken {
                line: n,
                seq: None,
                what: "incomplete last line (torn write)".into(),
            });
        }
        let rec: Record = serde_json::from_slice(&line).map_err(|e| Broken {
            line: n,
            seq: None,
            what: format!("not a valid record: {e}"),
        })?;
        let fail = |what: String| Broken {
            line: n,
            seq: Some(rec.seq),
            what,
        };
        if rec.seq != expected_seq {
            return Err(fail(format!(
                "seq {} where {expected_seq} was expected",
                rec.seq
            )));
        }
        if rec.prev_hash != prev {
            return Err(fail("prev_hash does not match the previous record".into()));
        }
        rec.check(key).map_err(fail)?;
        prev = rec.hash.clone();
        expected_seq += 1;
    }
    Ok(Intact {
        records: expected_seq,
        last_hash: prev,
    })
}
