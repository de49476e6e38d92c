//! The Docker Engine below both run modes: what per-call containers and
//! service replicas alike are made with.
//!
//! - [`engine`]: the [`Engine`] both modes hold (connection, owner,
//!   functions network), clearing leftovers at start, finding and removing
//!   containers; [`api`]: the engine's HTTP API for what bollard does not
//!   model;
//! - [`error`]: [`EngineError`], and its one conversion to `BackendError`;
//! - [`labels`], [`image`], [`network`]: what the gateway labels, pulls and
//!   creates on the engine, and the networks a deployment may name;
//! - [`setup`] and [`resources`]: a function's host settings (the
//!   confinement every function container gets) and environment, from its
//!   spec; [`token`]: the per-function token a replica's watchdog asks for;
//!   [`runtime`]: the OCI runtime (runc, gVisor's runsc) containers run
//!   under, resolved at start from the flags and the engine's runtimes;
//! - [`replica`] and [`tasks`]: the running replicas of a function on one
//!   engine, or on every node of a Swarm as its manager lists them;
//! - [`logs`] and [`usage`]: replicas' container logs (a Swarm service's
//!   through the manager), and what they use (the engine's stats, sampled
//!   into a cache); [`secrets`]: which Docker secrets on a Swarm are the
//!   gateway's.

pub mod api;
pub mod engine;
pub mod error;
pub mod image;
pub mod labels;
pub mod logs;
pub mod network;
pub mod replica;
pub mod resources;
pub mod runtime;
pub mod secrets;
pub mod setup;
pub mod tasks;
pub mod token;
pub mod usage;

pub use engine::Engine;
pub use error::EngineError;
pub use replica::{Replica, ReplicaCache};
pub use runtime::{RuntimeFlags, Runtimes};
pub use token::ReplicaKey;
pub use usage::UsageCache;
