//! The backend's errors: [`BackendError`] (below the backend, so that the
//! call records can keep it) and the refusals the parts share.

pub use crate::backend_error::BackendError;

/// The refusal of secrets by a backend that cannot mount them.
pub fn no_secrets(backend: &str) -> BackendError {
    BackendError::Invalid(format!(
        "the {backend} backend has no secrets: functions run as local processes, with nothing to mount them in; run the gateway with --backend docker or swarm"
    ))
}
