//! Service functions: long-running replicas, each a watchdog the gateway
//! forwards calls to. One small interface, [`Replicas`] (desired count,
//! scale, ready replicas), is what scaling and the balancer need;
//! [`Services`] adds a function's deploy, update and removal on top. Three
//! implementations: [`processes`] (a count only: each call is a fresh local
//! process), [`containers`] (plain containers on one engine) and [`swarm`]
//! (Swarm services). Calls reach the replicas through the [`balancer`]
//! (pick, forward, quarantine), with [`wake`] beside it for a function at
//! zero.

pub mod balancer;
pub mod containers;
mod forward;
pub mod processes;
mod replicas;
pub mod swarm;
pub mod wake;

#[cfg(test)]
mod fake;

pub use balancer::{Balancer, ReplicaConfig};
pub use replicas::{ReplicaLogs, Replicas, Served, Services};
