//! The faas gateway: the one HTTP entry point of faas, as a library (the
//! `gateway` binary is `main.rs`; tests run it in-process).
//!
//! The map, read top to bottom as a request travels:
//! - [`flags`] turns flags and environment variables into a plain [`config::Config`].
//! - [`server`] opens the store, the backend and the [`app`] state, serves
//!   [`routes`] on a listener until shutdown, then drains; [`files`] keeps
//!   the data directory private.
//! - [`connection`] accepts connections under a cap (with room reserved for
//!   `/healthz` and the admin) and closes those whose request head, body or
//!   idle time runs over, or whose body comes too slowly.
//! - [`routes`] is the table of every route, its access rule ([`auth`],
//!   which [`logins`] throttles per client address) and its handler;
//!   [`cross_site`] refuses what another site's page makes a browser send;
//!   [`api`] holds the handlers, one file per route family.
//! - [`invoke`] is the pipeline every call takes: queue → record → wait for
//!   a slot → run on the backend → record the end → answer.
//! - [`lifecycle`] deploys, updates and removes functions across the
//!   registry, the backend and the store (the store last), each failed
//!   step undoing those before it, and redeploys them at start.
//! - [`scheduler`] is the FIFO queue under the global quota and the
//!   per-function limits; [`autoscale`] scales service functions by load,
//!   never below what a firing AlertManager alert asked ([`alerts`]).
//! - [`backend`] is the only door to where functions run, organised by run
//!   mode: fresh calls (local processes, containers, agents) and service
//!   replicas (process counts, containers, Swarm services).
//! - [`store`] keeps functions, calls, outputs and events behind one
//!   interface (on SQLite, off the async threads); [`registry`] is the
//!   deployed functions in memory.
//! - [`function`] and [`call`] are the records, knowing nothing of HTTP,
//!   and [`call_id`] is a call's identity; [`backend_error`] is what can go
//!   wrong where functions run, below the backend and the records alike;
//!   [`error`] is the one error type and its one mapping to HTTP.
//! - [`callback`] delivers `X-Callback-Url` results to the targets its
//!   guard allows, naming hosts through [`dns`] (no C library needed);
//!   [`metrics`] and [`clock`] are what their names say;
//!   [`samples`] keeps each function's last 15 minutes of figures for the
//!   portal's plots; [`secret`] compares what callers send with secrets.
//! - [`agent_server`] is `gateway agent`: per-call calls on one node's engine for
//!   the gateway (whose side of it is `backend::percall::agents`).
#![forbid(unsafe_code)]

pub mod agent_server;
pub mod alerts;
pub mod api;
pub mod app;
pub mod auth;
pub mod autoscale;
pub mod backend;
pub mod backend_error;
pub mod call;
pub mod call_id;
pub mod callback;
pub mod clock;
pub mod config;
pub mod connection;
pub mod cross_site;
pub mod dns;
pub mod error;
pub mod files;
pub mod flags;
pub mod function;
pub mod invoke;
pub mod lifecycle;
pub mod logins;
pub mod metrics;
pub mod registry;
pub mod routes;
pub mod samples;
pub mod scheduler;
pub mod secret;
pub mod server;
pub mod store;
