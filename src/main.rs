//! The `toolgate` binary: argument parsing and exit codes; all logic is in the library.

fn main() {
    std::process::exit(toolgate::cli::main());
}
