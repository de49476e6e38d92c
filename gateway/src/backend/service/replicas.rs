//! The seams of the service side: [`Replicas`] (desired count, scale,
//! ready replicas), what scaling and the balancer need; [`Services`], a
//! function's lifecycle on top; [`ReplicaLogs`], what replicas wrote.

use crate::backend::container::Replica;
use crate::backend::{BackendError, Invocation, LogQuery, Outcome, ReplicaCount, ReplicaLines};
use crate::function::Function;

/// A service function's replicas, as scaling and the balancer see them.
#[async_trait::async_trait]
pub trait Replicas: Send + Sync {
    /// How many replicas are wanted; cheap, as the autoscaler reads it
    /// every second.
    async fn desired(&self, name: &str) -> Result<u64, BackendError>;
    /// Sets how many replicas are wanted (`NotFound` for a function not
    /// deployed here).
    async fn scale(&self, name: &str, replicas: u64) -> Result<(), BackendError>;
    /// The replicas ready for calls; `fresh` skips any cache.
    async fn ready(&self, name: &str, fresh: bool) -> Result<Vec<Replica>, BackendError>;
}

/// Service functions on one engine: their replicas and their lifecycle.
#[async_trait::async_trait]
pub trait Services: Replicas {
    /// Checks that a function of either mode may have its name here
    /// (`Conflict` when something the gateway does not own has it).
    async fn claim(&self, name: &str) -> Result<(), BackendError> {
        let _ = name;
        Ok(())
    }
    /// Brings a new service function to its minimum replicas, adopting
    /// those an earlier run left.
    async fn deploy(&self, function: &Function) -> Result<(), BackendError>;
    /// Rolls a service function onto a changed spec (or makes its replicas,
    /// when it was per-call before).
    async fn update(&self, function: &Function) -> Result<(), BackendError>;
    /// Tears down whatever replicas `name` has (none is fine).
    async fn remove(&self, name: &str) -> Result<(), BackendError>;
    /// Names of the functions that have replicas here.
    async fn list(&self) -> Result<Vec<String>, BackendError>;
    /// Desired and available replicas.
    async fn count(&self, name: &str) -> Result<ReplicaCount, BackendError>;
    /// The OCI runtime each running replica runs under, as the engine
    /// reports it; `None` where replicas are no containers.
    async fn runtimes(&self, name: &str) -> Result<Option<Vec<String>>, BackendError> {
        let _ = name;
        Ok(None)
    }
    /// Whether replicas are given the function's runtime (a Swarm
    /// service's run under their node's default).
    fn names_runtime(&self) -> bool {
        true
    }
    /// Checks this side can give a service function what it asks, before
    /// anything of it changes.
    fn accepts(&self, function: &Function) -> Result<(), BackendError> {
        let _ = function;
        Ok(())
    }
    /// Runs one call on a replica, or hands it back to run fresh.
    async fn invoke(&self, function: &Function, call: Invocation) -> Served;
}

/// What service functions' replicas wrote (their containers' logs).
#[async_trait::async_trait]
pub trait ReplicaLogs: Send + Sync {
    /// The lines of `name`'s replicas as `query` asks.
    async fn logs(&self, name: &str, query: LogQuery) -> Result<ReplicaLines, BackendError>;
}

/// What became of a service function's call.
pub enum Served {
    /// A replica ran it (or it failed on the way).
    Ran(Result<Outcome, BackendError>),
    /// Nothing runs between calls here: the call is run fresh, as a
    /// per-call one is.
    Fresh(Invocation),
}
