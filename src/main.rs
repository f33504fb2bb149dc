//! The `toolgate` binary: the command line (`cli`) over the library, and exit codes.

#![forbid(unsafe_code)]

mod cli;

fn main() {
    std::process::exit(cli::main());
}
