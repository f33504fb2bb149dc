//! toolgate catches a panic inside brush-parser and denies the call
//! (`oap.command_unparsable`, see `checks::shell::parse_program`), so for these
//! targets such a panic is the refusal the property asks for, not a finding.
//! libFuzzer's hook aborts at every panic, before `catch_unwind` can see it: this
//! hook lets a panic located in brush-parser's own source unwind to that catch,
//! and hands every other panic (toolgate's, the standard library's) to libFuzzer.

use std::sync::Once;

pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let fuzzer = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_parser = info
                .location()
                .is_some_and(|l| l.file().contains("/brush-parser-"));
            if !in_parser {
                fuzzer(info);
            }
        }));
    });
}
