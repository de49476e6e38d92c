//! HTTP handlers, one file per route family, all of the same shape: take
//! the [`AppState`] and the request's parts, return `Result<Response, Error>`.
//!
//! - [`invoke`]: `/function`, `/async-function`, `POST /` with `X-Function`, `/call`.
//! - [`calls`]: call records and outputs (`/system/calls`, `/output`), a
//!   function's recent calls.
//! - [`logs`]: `/system/logs`, NDJSON, with `follow`.
//! - [`functions`]: the management API (`/system/functions`, `/system/function`, scale).
//! - [`samples`]: a function's figures over the last 15 minutes.
//! - [`secrets`]: `/system/secrets`, OpenFaaS's secrets API.
//! - [`system`]: health, metrics, info, alert, the OpenAPI document, fallbacks.
//! - [`ui`]: the portal's page, script and style sheet under `/ui/`.

pub mod calls;
pub mod functions;
pub mod invoke;
pub mod logs;
pub mod samples;
pub mod secrets;
pub mod system;
pub mod ui;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use crate::app::App;
use crate::error::Error;
use crate::function::check_name;
use crate::function::NAMESPACE;
use crate::registry::Deployed;

pub type AppState = Arc<App>;

/// Largest management request body (deployment JSON and the like).
pub const MAX_JSON_BYTES: u64 = 1024 * 1024;

/// The deployed function `name`: 400 for a bad name, 404 for an unknown one.
pub fn deployed(app: &App, name: &str) -> Result<Arc<Deployed>, Error> {
    check_name(name)?;
    app.registry
        .get(name)
        .ok_or_else(|| Error::NoSuchFunction(name.to_string()))
}

/// Reads a whole request body, refusing more than `limit` bytes (413) —
/// from `Content-Length` before reading when it is given — and one the
/// client stopped sending (408).
pub async fn read_body(body: Body, headers: &HeaderMap, limit: u64) -> Result<Bytes, Error> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(Error::TooLarge(limit));
    }
    let limited = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(Error::TooLarge(limit)),
        Err(e) => match timed_out(&*e) {
            Some(stalled) => Err(Error::BodyTimeout(stalled.to_string())),
            None => Err(Error::BadRequest(format!(
                "cannot read the request body: {e}"
            ))),
        },
    }
}

/// The error in `e`'s chain saying the client stopped sending in time.
fn timed_out<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |e| e.source()).find(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
    })
}

/// A management request's query, once its `namespace` is checked
/// ([`check_namespace`]): the extractor of the routes that take one.
pub struct NamespacedQuery(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for NamespacedQuery {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let Query(query) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        check_namespace(query.get("namespace").map(String::as_str))
            .map_err(IntoResponse::into_response)?;
        Ok(NamespacedQuery(query))
    }
}

/// 400 unless `namespace` is absent, empty or the gateway's one
/// ([`NAMESPACE`]).
pub fn check_namespace(namespace: Option<&str>) -> Result<(), Error> {
    match namespace {
        None | Some("") | Some(NAMESPACE) => Ok(()),
        Some(other) => Err(Error::BadRequest(format!(
            "no such namespace: {other:?}; this gateway has one, {NAMESPACE} (name it or leave namespace out)"
        ))),
    }
}

/// A `true`/`false` query parameter (empty means true, missing false), with
/// the other spellings Go's `strconv.ParseBool` takes (`1`, `0`, `True`…),
/// as OpenFaaS's clients send them.
pub fn flag(query: &HashMap<String, String>, key: &str) -> Result<bool, Error> {
    match query.get(key).map(String::as_str) {
        None | Some("false" | "0" | "f" | "F" | "FALSE" | "False") => Ok(false),
        Some("true" | "" | "1" | "t" | "T" | "TRUE" | "True") => Ok(true),
        Some(other) => Err(Error::BadRequest(format!(
            "{key}={other:?}: use {key}=true or {key}=false"
        ))),
    }
}

/// Reads and parses a management request's JSON body (at most
/// [`MAX_JSON_BYTES`]); `what` names it in the error.
pub async fn json_body<T: DeserializeOwned>(req: Request, what: &str) -> Result<T, Error> {
    let (parts, body) = req.into_parts();
    let bytes = read_body(body, &parts.headers, MAX_JSON_BYTES).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::BadRequest(format!("invalid {what} JSON: {e}")))
}

/// `http://<Host>` of a request: the base of the addresses the gateway shows.
pub fn base_url(headers: &HeaderMap, app: &App) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match host {
        Some(host) => format!("http://{host}"),
        None => format!("http://{}", app.config.listen),
    }
}

/// A JSON response.
pub fn json<T: serde::Serialize>(
    status: axum::http::StatusCode,
    value: &T,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    (status, axum::Json(value)).into_response()
}
