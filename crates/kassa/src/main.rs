//! The `kassa` binary: parses the command line, loads settings and hands over to the library.
//! Every failure ends in one line on standard error and a non-zero exit code (2 for bad
//! configuration, 1 for anything else).

mod bench;
mod cli;

use std::process::ExitCode;

use clap::Parser as _;
use kassa_server::config::ConfigError;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<ConfigError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
