//! The `faas` binary: parse the command line, run it, report an error as one
//! `Error: …` line on STDERR and exit 1.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    match faas_cli::run(std::env::args_os()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            faas_cli::report(&err);
            ExitCode::FAILURE
        }
    }
}
