//! Where functions run, organised by run mode. Handlers, the scheduler's
//! callers and the autoscaler hold the one [`front::Backend`], which
//! decides by a function's mode, once:
//! - [`percall`]: a fresh process or container for every call (local
//!   processes; the local engine's pool, warm or cold; agents on other
//!   nodes);
//! - [`service`]: replicas that take many calls (local process counts,
//!   plain containers, Swarm services), and the balancer in front of them;
//! - [`secrets`]: the secrets functions mount, behind their own seam;
//! - [`container`]: the Docker Engine below both modes (its errors,
//!   images, labels, networks, host settings, replicas' logs and usage);
//! - [`open`]: start-up, the only place that knows `auto`: the engine is
//!   found and opened once, and the parts composed from their own
//!   configurations; [`peer`]: connections to replicas and agents;
//! - [`call`], [`error`], [`report`]: a call as the backend sees it, what
//!   can go wrong, and what it tells of replicas.

pub mod call;
pub mod container;
pub mod error;
pub mod front;
pub mod open;
pub mod peer;
pub mod percall;
pub mod report;
pub mod secrets;
pub mod service;

pub use call::{Invocation, Placement, Reached, Request};
pub use error::{no_secrets, BackendError};
pub use report::{LogQuery, ReplicaCount, ReplicaLine, ReplicaLines, Usage};
pub use watchdog::{Exit, Outcome};
