//! The one door to where functions run. Handlers, the scheduler's callers
//! and the autoscaler hold an `Arc<dyn Backend>`:
//! - [`process`]: local processes through the watchdog library, no Docker;
//! - [`docker`]: a new container per call, service replicas as containers;
//! - [`swarm`]: service functions as Swarm services;
//! - [`select`] picks one at start (`auto`: swarm, else docker, else process).

pub mod docker;
mod process;
pub mod select;
pub mod swarm;

use axum::http::StatusCode;
use bytes::Bytes;

use crate::model::Function;

pub use process::ProcessBackend;
pub use watchdog::{Exit, Outcome};

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The function's spec cannot run on this backend; the text says why.
    #[error("{0}")]
    Invalid(String),
    #[error("no such function on the backend: {0}")]
    NotFound(String),
    /// The function's process or container could not be started.
    #[error("{0}")]
    Start(String),
    /// The backend itself (e.g. the Docker engine) did not answer.
    #[error("the backend is unreachable: {0}")]
    Unreachable(String),
}

impl BackendError {
    pub fn status(&self) -> StatusCode {
        match self {
            BackendError::Invalid(_) => StatusCode::BAD_REQUEST,
            BackendError::NotFound(_) => StatusCode::NOT_FOUND,
            BackendError::Start(_) => StatusCode::BAD_GATEWAY,
            BackendError::Unreachable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// One call as the backend sees it.
#[derive(Debug)]
pub struct Invocation {
    /// The request's `Http_*` variables (the function's own `envVars` are the
    /// backend's to add).
    pub env: Vec<(String, String)>,
    /// STDIN, already checked against the payload limit.
    pub input: Bytes,
    /// How long the run may take.
    pub timeout: std::time::Duration,
    /// The largest STDOUT before the run is killed.
    pub max_output_bytes: usize,
}

/// Replica counts of a function.
#[derive(Debug, Clone, Copy, Default)]
pub struct Replicas {
    pub desired: u64,
    pub available: u64,
}

#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// `process`, `docker` or `swarm`: shown by `/system/info`.
    fn name(&self) -> &'static str;
    /// Makes a new function runnable (checks what this backend needs).
    async fn deploy(&self, function: &Function) -> Result<(), BackendError>;
    /// Applies a changed spec.
    async fn update(&self, function: &Function) -> Result<(), BackendError>;
    /// Tears a function down.
    async fn remove(&self, name: &str) -> Result<(), BackendError>;
    /// Names of the functions the backend runs.
    async fn list(&self) -> Result<Vec<String>, BackendError>;
    /// Sets the desired replicas (service mode).
    async fn scale(&self, name: &str, replicas: u64) -> Result<(), BackendError>;
    /// Desired and available replicas.
    async fn replicas(&self, name: &str) -> Result<Replicas, BackendError>;
    /// Desired replicas only: what the autoscaler reads every second, so a
    /// backend answers it without counting replicas where it can.
    async fn desired(&self, name: &str) -> Result<u64, BackendError> {
        Ok(self.replicas(name).await?.desired)
    }
    /// Runs one call to its end. Dropping the future stops the run.
    async fn invoke(&self, function: &Function, call: Invocation) -> Result<Outcome, BackendError>;
}
