//! `modegate`: see the crate documentation and `modegate --help`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    modegate::heap::map_large_allocations();
    let cli = modegate::cli::Cli::parse();
    let (format, level) = cli.process_log();
    modegate::telemetry::process_log::init(format, &level);
    modegate::cli::run(cli)
}
