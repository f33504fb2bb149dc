//! The shell analysis alone: arbitrary text must analyse or be refused, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "caught.rs"]
mod caught;

fuzz_target!(|data: &[u8]| {
    caught::install();
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = toolgate::checks::shell::analyze(s);
    }
});
