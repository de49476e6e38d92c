//! Invocation: `/function/<name>[/<path>]` (sync), `/async-function/…`,
//! `POST /` named by `X-Function`, and Hyper Func's `/call/<name>/<uuid>[/sync]`.
//! Each checks the name, finds the function, keeps or makes the call id,
//! reads the body within the payload limit, then hands over to [`crate::invoke`].

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::response::Response;
use serde::Deserialize;
use uuid::Uuid;

use super::{deployed, read_body, AppState};
use crate::backend;
use crate::call::CallKind;
use crate::error::Error;
use crate::invoke::{self, answer, Answer, Call};

/// What an invocation's path names: the function, and for Hyper's
/// addresses its UUID, and the path the function sees.
#[derive(Deserialize)]
pub struct Target {
    name: String,
    uuid: Option<String>,
    #[serde(default)]
    path: String,
}

/// Every address that names its function in the path:
/// `/function/<name>[/<path>]` and `/call/<name>/<uuid>/sync` (`ASYNC`
/// false), `/async-function/<name>[/<path>]` and `/call/<name>/<uuid>`
/// (`ASYNC` true).
pub async fn call<const ASYNC: bool>(
    State(app): State<AppState>,
    Path(target): Path<Target>,
    req: Request,
) -> Result<Response, Error> {
    let kind = if ASYNC {
        CallKind::Async
    } else {
        CallKind::Sync
    };
    invoke(app, target, req, kind).await
}

/// `POST /` with `X-Function: <name>`.
pub async fn root(State(app): State<AppState>, req: Request) -> Result<Response, Error> {
    let name = req
        .headers()
        .get("x-function")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| {
            Error::BadRequest(
                "name the function with an X-Function header or use /function/<name>".into(),
            )
        })?;
    let target = Target {
        name,
        uuid: None,
        path: String::new(),
    };
    invoke(app, target, req, CallKind::Sync).await
}

async fn invoke(
    app: AppState,
    target: Target,
    req: Request,
    kind: CallKind,
) -> Result<Response, Error> {
    let deployed = deployed(&app, &target.name)?;
    if let Some(uuid) = target.uuid {
        // The UUID is the credential: a wrong one looks like no function.
        if !deployed.function.has_uuid(&uuid) {
            return Err(Error::NoSuchFunction(target.name));
        }
    }
    let (parts, body) = req.into_parts();
    let mut headers = parts.headers;
    let id = call_id(&mut headers)?;
    let callback = match (kind, headers.get("x-callback-url")) {
        (CallKind::Async, Some(url)) => {
            let url = url
                .to_str()
                .map_err(|_| Error::BadRequest("X-Callback-Url is not text".into()))?;
            let url = crate::callback::parse_url(url)?;
            app.notifier.check(&url).await?;
            Some(url)
        }
        _ => None,
    };
    let input = read_body(body, &headers, app.config.max_payload_bytes).await?;
    let content_type = headers.get(header::CONTENT_TYPE).cloned();
    let request = backend::Request {
        method: parts.method,
        path: format!("/{}", target.path.trim_start_matches('/')),
        query: parts
            .uri
            .query()
            .filter(|q| !q.is_empty())
            .map(str::to_string),
        headers,
    };
    let call = Call {
        id,
        kind,
        request,
        input,
        callback,
    };
    Ok(match invoke::submit(&app, deployed, call).await? {
        Answer::Accepted => answer::accepted(id),
        Answer::Ended(end) => answer::ended(id, &end, content_type),
    })
}

/// The caller's `X-Call-Id` (a UUID), taken off the headers (the function
/// gets the call's id from the pipeline), or a new one.
fn call_id(headers: &mut HeaderMap) -> Result<Uuid, Error> {
    match headers.remove("x-call-id") {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| Uuid::parse_str(v.trim()).ok())
            .ok_or_else(|| {
                Error::BadRequest("X-Call-Id must be a UUID (or leave it out to get one)".into())
            }),
        // Time-ordered (version 7): new calls land at the end of the id
        // indexes instead of on a random page each.
        None => Ok(Uuid::now_v7()),
    }
}

/// The methods a function answers, for the route table.
pub const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];
