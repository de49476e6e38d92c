//! The gateway's one error type, and the one place it becomes an HTTP
//! response: a status and a one-line body saying what is wrong and what to do.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::backend::BackendError;
use crate::callback::UrlError;
use crate::function::SpecError;
use crate::store::StoreError;

/// `Retry-After` while the data directory takes no writes: space usually
/// comes back by an operator's hand, not in a second.
const UNWRITABLE_RETRY: &str = "5";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; the text says how to fix it.
    #[error("{0}")]
    BadRequest(String),
    #[error("no such function: {0}")]
    NoSuchFunction(String),
    #[error("no such call id: {0}")]
    NoSuchCall(String),
    #[error("no such route: {0}; the API is described at /system/openapi.json")]
    NoRoute(String),
    #[error("method {0} is not allowed here; the API is described at /system/openapi.json")]
    MethodNotAllowed(String),
    #[error("function {0} already exists; use PUT /system/functions to update it")]
    Exists(String),
    #[error("the request body is larger than {0} bytes (FAAS_MAX_PAYLOAD_BYTES)")]
    TooLarge(u64),
    #[error("the request headers total more than {0} bytes (FAAS_MAX_HEADER_BYTES); send fewer or smaller headers")]
    HeadersTooLarge(u64),
    /// The client stopped sending its request body; the text says for how long.
    #[error("{0}")]
    BodyTimeout(String),
    #[error("the queue of {function} is full ({max} waiting calls, FAAS_MAX_QUEUE); retry later")]
    QueueFull { function: String, max: usize },
    #[error("authentication required: HTTP basic auth, user admin")]
    Unauthorized,
    /// A browser said the request comes from another site's page; the text
    /// says which header.
    #[error("{0}")]
    CrossSite(String),
    /// The body's `Content-Type` is one a cross-site form can send, or
    /// missing; the text says what to send.
    #[error("{0}")]
    MediaType(String),
    /// Too many failed logins from the client's address; locked this long.
    #[error("too many failed logins from this address: retry in {}s (FAAS_LOGIN_ATTEMPTS, FAAS_LOGIN_LOCKOUT)", retry_secs(*.0))]
    LoginsLocked(std::time::Duration),
    /// No ordinary room for the connection, and its request is neither
    /// `/healthz` nor carries credentials; the cap is given.
    #[error("all {0} connections (FAAS_MAX_CONNECTIONS) but those reserved for /healthz and the admin are taken; retry later")]
    ConnectionsFull(usize),
    /// The call cannot be cancelled (it ended, or is synchronous); the
    /// text says why.
    #[error("{0}")]
    NotCancellable(String),
    /// The call's output is no longer kept.
    #[error("{0}")]
    Gone(String),
    #[error("the gateway is shutting down; retry later")]
    ShuttingDown,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::NoSuchFunction(_) | Error::NoSuchCall(_) | Error::NoRoute(_) => {
                StatusCode::NOT_FOUND
            }
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::Exists(_) | Error::NotCancellable(_) => StatusCode::CONFLICT,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Error::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Error::QueueFull { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::CrossSite(_) => StatusCode::FORBIDDEN,
            Error::MediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::LoginsLocked(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::ConnectionsFull(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Gone(_) => StatusCode::GONE,
            Error::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            Error::Store(StoreError::Conflict(_)) => StatusCode::CONFLICT,
            Error::Store(StoreError::Unwritable(_)) => StatusCode::INSUFFICIENT_STORAGE,
            Error::Store(StoreError::Busy | StoreError::Stopped) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Backend(e) => match e {
                BackendError::Invalid(_) => StatusCode::BAD_REQUEST,
                BackendError::NotFound(_) | BackendError::Absent(_) => StatusCode::NOT_FOUND,
                BackendError::Conflict(_) => StatusCode::CONFLICT,
                BackendError::Start(_) | BackendError::Lost(_) => StatusCode::BAD_GATEWAY,
                BackendError::Unreachable(_) => StatusCode::SERVICE_UNAVAILABLE,
                BackendError::NotReady(_) => StatusCode::GATEWAY_TIMEOUT,
            },
        }
    }
}

/// Whole seconds to wait, rounded up, at least one.
fn retry_secs(wait: std::time::Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

impl From<SpecError> for Error {
    fn from(e: SpecError) -> Error {
        Error::BadRequest(e.0)
    }
}

impl From<UrlError> for Error {
    fn from(e: UrlError) -> Error {
        Error::BadRequest(e.to_string())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut line = self.to_string().replace('\n', " ");
        line.push('\n');
        let mut response = (status, line).into_response();
        let headers = response.headers_mut();
        match self {
            Error::QueueFull { .. } | Error::Store(StoreError::Busy) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Error::Store(StoreError::Unwritable(_)) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(UNWRITABLE_RETRY),
                );
            }
            // The rest of the body may never come: do not wait for it.
            Error::BodyTimeout(_) => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Error::LoginsLocked(wait) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_secs(wait)));
            }
            Error::ConnectionsFull(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Error::Unauthorized => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"faas\""),
                );
            }
            _ => {}
        }
        response
    }
}
