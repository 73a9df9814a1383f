//! The `baton-sim` command line: campaigns, replay, shrinking, SWF logs. See `baton-sim --help`.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
