//! `gateway`: the one HTTP entry point of faas.
//!
//! The map, read top to bottom as a request travels:
//! - [`cli`] turns flags and environment variables into a plain [`config::Config`].
//! - [`server`] opens the store, the backend and the scheduler, recovers calls
//!   left by a previous run and serves [`routes`] until a shutdown signal.
//! - [`routes`] is the table of every route, its access rule and its handler.
//! - [`auth`] guards management routes with basic auth (user `admin`).
//! - [`api`] holds the handlers, one file per route family.
//! - [`calls`] is the invoke pipeline: record → queue/quota → backend →
//!   record, metrics, callback.
//! - [`autoscale`] scales service functions by load, and to zero when idle.
//! - [`scheduler`] is the FIFO queue under the global quota and per-function
//!   limits.
//! - [`backend`] is the only door to where functions run (`process` here).
//! - [`store`] keeps functions, calls, outputs and events in SQLite, off the
//!   async threads, with group commits.
//! - [`app`] is the shared state every handler holds.
//! - [`registry`] is the in-memory view of deployed functions.
//! - [`model`] holds the records and their JSON shapes; [`clock`] formats time.
//! - [`metrics`], [`callback`] and [`error`] are what their names say.
#![forbid(unsafe_code)]

mod api;
mod app;
mod auth;
mod autoscale;
mod backend;
mod callback;
mod calls;
mod cli;
mod clock;
mod config;
mod error;
mod metrics;
mod model;
mod registry;
mod routes;
mod scheduler;
mod server;
mod store;

use std::process::ExitCode;

fn main() -> ExitCode {
    let config = match cli::parse() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("gateway: {err:#}");
            return ExitCode::from(2);
        }
    };
    match server::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("gateway: {err:#}");
            ExitCode::FAILURE
        }
    }
}
