//! The `faas` command line: Hyper Func's `func` commands against the faas gateway.
//!
//! - `cli` — the clap definitions (their doc comments are the `--help`), turned
//!   into a plain [`config::Config`] and one [`cmd::Command`];
//! - `config` — where the gateway is and which password to use: flags, the
//!   environment, and the file `faas login` writes;
//! - `client` — the gateway's HTTP API (docs/api.md), with its answers turned into
//!   typed errors;
//! - `cmd` — one file per subcommand, all the same shape: `run(&Context, Options)`;
//! - `format` — the text the commands print: log lines, tables, times;
//! - `escape` — what reaches a terminal: control characters a function, a
//!   caller or a deployer chose, spelled out (`\x1b`, `\r`, `\n`);
//! - `error` — the one error enum; `main` prints it as `Error: …`.
#![forbid(unsafe_code)]

pub mod cli;
pub mod client;
pub mod cmd;
pub mod config;
pub mod error;
pub mod escape;
pub mod format;

use std::ffi::OsString;

pub use error::Error;

/// Parses `args` (the program name first) and runs the command.
pub fn run<I>(args: I) -> Result<(), Error>
where
    I: IntoIterator<Item = OsString>,
{
    let lookup = |key: &str| std::env::var(key).ok();
    let (config, command) = cli::parse(args, &lookup)?;
    cmd::run(&config, command)
}

/// Prints `err` on STDERR as `Error: …`, unless the command already did.
pub fn report(err: &Error) {
    if !matches!(err, Error::Reported) {
        eprintln!("Error: {}", escape::line(&err.to_string()));
    }
}
