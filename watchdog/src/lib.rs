//! The watchdog: run one process for one request, or pass requests to one
//! long-running process (http mode).
//!
//! - [`duration`] parses the `10s` / `1m30s` / bare-seconds durations of the
//!   watchdog's variables.
//! - [`config`] turns the watchdog's environment variables into a [`Config`].
//! - [`runner`] spawns an argv, streams the input to its STDIN while reading
//!   STDOUT/STDERR, enforces byte limits and the timeout (killing the whole
//!   process group) and reports what happened. The gateway's `process` backend
//!   uses this module too.
//! - `spawn` starts the runner's processes, each the leader of a session
//!   of its own, with `posix_spawnp`, and waits for them on a pidfd.
//! - [`answer`] is the one table from how a run ended to its HTTP status
//!   and reason, and back (the gateway reads replicas' answers with it).
//! - [`cgi`] turns request headers into `Http_*` environment variables.
//! - [`lock`] owns the health lock file.
//! - [`token`] is the gateway's token a service replica's watchdog asks
//!   every call for.
//! - [`server`] is the `fwatchdog` HTTP server: the accept loop, health,
//!   the token and `max_inflight`, then one of the two modes: `fork` (the
//!   default) runs a process per request with the pieces above;
//!   [`http_mode`] passes requests to one long-running process.
//! - `reply` is the body and the one-line answers of both modes.
//! - [`once`] is `fwatchdog --once`, the launcher of a warm single-use
//!   container: one call over a container's STDIN/STDOUT in the framed
//!   protocol of [`frame`], which the gateway speaks too.
#![forbid(unsafe_code)]

pub mod answer;
pub mod cgi;
pub mod config;
pub mod duration;
mod fork;
pub mod frame;
pub mod http_mode;
pub mod lock;
pub mod once;
mod reply;
pub mod runner;
pub mod server;
mod spawn;
pub mod token;

pub use config::Config;
pub use runner::{run, Exit, Job, Outcome, OutputMode, RunError};
