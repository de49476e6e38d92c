//! Secrets functions may mount, behind one small seam: the gateway's own
//! files on a plain engine ([`files`]), Docker secrets on a Swarm
//! ([`swarm`]). A backend without one (local processes) refuses them.

pub mod files;
pub mod swarm;

use crate::backend::BackendError;
use crate::function::Function;

/// Where a backend keeps the secrets made through `/system/secrets`.
#[async_trait::async_trait]
pub trait Secrets: Send + Sync {
    /// The names of the secrets functions may mount.
    async fn names(&self) -> Result<Vec<String>, BackendError>;
    /// Keeps `value` as the secret `name`: new when `create` (`Conflict`
    /// if it exists), else replacing it (`Absent` if it does not).
    async fn put(&self, name: &str, value: &[u8], create: bool) -> Result<(), BackendError>;
    /// Removes the secret `name` (`Absent` if there is none).
    async fn remove(&self, name: &str) -> Result<(), BackendError>;
    /// Whether a service function's replicas can be given the secrets it
    /// names.
    fn check_service(&self, function: &Function) -> Result<(), BackendError>;
    /// Whether a per-call function's containers can be given the secrets
    /// it names.
    fn check_per_call(&self, function: &Function) -> Result<(), BackendError>;
}

/// The refusal of a secret that exists already.
pub fn exists(name: &str) -> BackendError {
    BackendError::Conflict(format!(
        "secret {name} already exists; use PUT /system/secrets to update it"
    ))
}

/// The refusal of a secret that does not exist.
pub fn absent(name: &str) -> BackendError {
    BackendError::Absent(format!(
        "no such secret: {name} (create it with POST /system/secrets)"
    ))
}
