//! `modegate`: see the crate documentation and `modegate --help`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    modegate::cli::run(modegate::cli::Cli::parse())
}
