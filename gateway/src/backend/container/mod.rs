//! What the `docker` and `swarm` backends share: functions in containers on
//! a Docker Engine.
//!
//! - [`engine`]: the [`Engine`] both hold (connection, owner, functions
//!   network), clearing leftovers at start, finding and removing containers;
//!   [`api`]: the engine's HTTP API for what bollard does not model;
//! - [`error`]: [`EngineError`], and its one conversion to `BackendError`;
//! - [`labels`], [`image`], [`network`]: what the gateway labels, pulls and
//!   creates on the engine, and the networks a deployment may name;
//! - [`setup`] and [`resources`]: a function's host settings (the
//!   confinement every function container gets) and environment, from its
//!   spec;
//! - [`percall`]: a new container per call; [`attach`]: attaching to a
//!   per-call container and reading what it says, cold or warm;
//! - [`pool`], [`warm`] and [`launcher`]: warm single-use containers for
//!   per-call functions, one container waiting for one call, and the
//!   launcher they run;
//! - [`replica`]: a service function's replicas and their cache;
//! - [`logs`] and [`usage`]: replicas' container logs (a Swarm service's
//!   through the manager), and what they use (the engine's stats, sampled
//!   into a cache);
//! - [`balancer`] and [`forward`]: calls proxied to replicas' watchdogs, and
//!   waking a function scaled to zero; [`token`]: the per-function token
//!   they carry, which a replica's watchdog asks for.

pub mod api;
pub mod attach;
pub mod balancer;
pub mod engine;
pub mod error;
pub mod forward;
pub mod image;
pub mod labels;
pub mod launcher;
pub mod logs;
pub mod network;
pub mod percall;
pub mod pool;
pub mod replica;
pub mod resources;
pub mod setup;
pub mod token;
pub mod usage;
pub mod warm;

pub use balancer::{Balancer, ReplicaSource};
pub use engine::Engine;
pub use error::EngineError;
pub use replica::{Replica, ReplicaCache};
pub use token::ReplicaKey;
pub use usage::UsageCache;
