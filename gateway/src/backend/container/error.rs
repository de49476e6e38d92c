//! What can go wrong between the gateway and a Docker Engine, and the one
//! place it becomes a [`BackendError`].

use std::time::Duration;

use crate::backend::BackendError;

/// A failure of the Docker Engine, or of the gateway's talk with it. Each
/// variant that wraps an engine answer keeps the engine's error as its
/// source.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine did not answer, or failed something the gateway needs to
    /// go on (listing, inspecting, removing, waiting).
    #[error("cannot {action}")]
    Unreachable {
        action: String,
        #[source]
        source: bollard::errors::Error,
    },
    /// The engine took longer than this to answer the first ping.
    #[error("the Docker Engine did not answer within {} s", .0.as_secs())]
    NoAnswer(Duration),
    /// The image is not on the engine and could not be pulled.
    #[error("No such image: {image}")]
    NoSuchImage {
        image: String,
        /// Why the pull failed, when it did.
        #[source]
        source: Option<bollard::errors::Error>,
    },
    /// The engine answered, and refused to create, start or change a
    /// function's container or service.
    #[error("cannot {action}")]
    Refused {
        action: String,
        #[source]
        source: bollard::errors::Error,
    },
    /// A stream from the engine ended before it said what was asked.
    #[error("the Docker Engine ended {0} without an answer")]
    CutShort(&'static str),
    /// Something on the engine is not as the gateway needs it; the text
    /// says what and how to fix it.
    #[error("{0}")]
    Misfit(String),
    /// The task running a call's container ended without an answer.
    #[error("the task running container {0} ended without an answer")]
    Lost(String),
}

impl EngineError {
    /// `action` failed with `source`: refused when the engine answered with
    /// an error status, unreachable when it did not answer at all.
    pub fn refused(action: impl Into<String>, source: bollard::errors::Error) -> EngineError {
        let action = action.into();
        match source {
            bollard::errors::Error::DockerResponseServerError { .. } => {
                EngineError::Refused { action, source }
            }
            source => EngineError::Unreachable { action, source },
        }
    }

    /// `action` got no usable answer from the engine.
    pub fn unreachable(action: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> Self {
        let action = action.into();
        move |source| EngineError::Unreachable { action, source }
    }

    /// The error with the engine's own words, on one line.
    pub fn line(&self) -> String {
        match std::error::Error::source(self) {
            Some(source) => format!("{self}: {source}"),
            None => self.to_string(),
        }
    }
}

impl From<EngineError> for BackendError {
    fn from(e: EngineError) -> BackendError {
        let line = e.line();
        match e {
            EngineError::NoSuchImage { .. } | EngineError::Misfit(_) => BackendError::Invalid(line),
            EngineError::Refused { .. } => BackendError::Start(line),
            EngineError::Unreachable { .. }
            | EngineError::NoAnswer(_)
            | EngineError::CutShort(_)
            | EngineError::Lost(_) => BackendError::Unreachable(line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status_code: u16, message: &str) -> bollard::errors::Error {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message: message.into(),
        }
    }

    #[test]
    fn each_failure_becomes_its_backend_error() {
        let refused = EngineError::refused("start a replica of f", answer(400, "bad command"));
        assert!(matches!(
            BackendError::from(refused),
            BackendError::Start(line) if line == "cannot start a replica of f: Docker responded with status code 400: bad command"
        ));
        let silent = EngineError::refused(
            "create a replica of f",
            bollard::errors::Error::RequestTimeoutError,
        );
        assert!(matches!(
            BackendError::from(silent),
            BackendError::Unreachable(line) if line == "cannot create a replica of f: Timeout error"
        ));
        let missing = EngineError::NoSuchImage {
            image: "img".into(),
            source: None,
        };
        assert!(matches!(
            BackendError::from(missing),
            BackendError::Invalid(line) if line == "No such image: img"
        ));
        let waiting = EngineError::unreachable("wait for the container")(answer(500, "gone"));
        assert!(matches!(
            BackendError::from(waiting),
            BackendError::Unreachable(_)
        ));
    }
}
