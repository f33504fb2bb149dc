//! The floor a hook is measured against (bench/ratio.sh): a process that reads the
//! hook input from stdin and appends one `fdatasync`'d line to a file, the least any
//! gate that records its decisions must do. No decision, no signature, no parsing.
//!
//! Usage: bench-floor LOG_FILE

// Test and measurement code: a panic is how it reports a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};

fn main() {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: bench-floor LOG_FILE");
        std::process::exit(2);
    };
    let mut input = Vec::new();
    if std::io::stdin().read_to_end(&mut input).is_err() {
        std::process::exit(2);
    }
    let mut f = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        Ok(f) => f,
        Err(_) => std::process::exit(2),
    };
    let line = format!("{{\"bytes\":{}}}\n", input.len());
    if f.write_all(line.as_bytes())
        .and_then(|()| f.sync_data())
        .is_err()
    {
        std::process::exit(2);
    }
}
