//! Invocation: `/function/<name>[/<path>]` (sync), `/async-function/…`,
//! `POST /` named by `X-Function`, and Hyper Func's `/call/<name>/<uuid>[/sync]`.
//! OpenFaaS's `DELETE /async-function/<call-id>` cancels that call (with
//! the admin credentials) where no function has the name.
//! Each bounds the request's headers, checks the name, finds the function,
//! keeps or makes the call id (and with it the call's span), takes the
//! gateway's credentials off the request, reads the body within the
//! payload limit, then hands over to [`crate::invoke`] in the call's span.

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::response::Response;
use serde::Deserialize;
use tracing::Instrument;

use super::{calls, deployed, read_body, AppState};
use crate::auth;
use crate::backend;
use crate::call::CallKind;
use crate::call_id::CallId;
use crate::error::Error;
use crate::function::NAMESPACE;
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
    if let Some(id) = cancel_of(&app, &target, &req, kind) {
        auth::check(&app, req.headers(), auth::client(&req))?;
        return calls::cancel_call(&app, id, auth::who(&req)).await;
    }
    check_header_bytes(req.headers(), app.config.max_header_bytes)?;
    let mut target = target;
    // OpenFaaS's clients name a function with its namespace: `<name>.<namespace>`.
    if let Some(name) = target
        .name
        .strip_suffix(NAMESPACE)
        .and_then(|n| n.strip_suffix('.'))
    {
        target.name = name.to_string();
    }
    let deployed = deployed(&app, &target.name)?;
    if let Some(uuid) = target.uuid {
        // The UUID is the credential: a wrong one looks like no function.
        if !deployed.function.has_uuid(&uuid) {
            return Err(Error::NoSuchFunction(target.name));
        }
    }
    let (parts, body) = req.into_parts();
    let mut headers = parts.headers;
    let (id, caller_id) = call_id(&mut headers)?;
    let span = id.span(&deployed.function.name);
    remove_credentials(&mut headers, &app.password);
    let callback = match (kind, headers.get("x-callback-url")) {
        (CallKind::Async, Some(url)) => {
            let url = url
                .to_str()
                .map_err(|_| Error::BadRequest("X-Callback-Url is not text".into()))?;
            let url = crate::callback::parse_url(url)?;
            app.calls.notifier.check(&url).await?;
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
        caller_id,
        kind,
        request,
        input,
        callback,
    };
    let submitted = invoke::submit(&app.calls, deployed, call).instrument(span);
    Ok(match submitted.await? {
        Answer::Accepted => answer::accepted(id),
        Answer::Ended(end) => answer::ended(id, &end, content_type),
    })
}

/// The call `DELETE /async-function/<call-id>` cancels: a call id no
/// function is named after (an invocation of such a function wins).
fn cancel_of(app: &AppState, target: &Target, req: &Request, kind: CallKind) -> Option<CallId> {
    let bare = target.uuid.is_none() && target.path.is_empty();
    if req.method() != Method::DELETE || kind != CallKind::Async || !bare {
        return None;
    }
    let id = target.name.parse().ok()?;
    app.registry.get(&target.name).is_none().then_some(id)
}

/// 431 when the request's headers (names and values) total more than
/// `limit` bytes: they would reach the function as its environment.
fn check_header_bytes(headers: &HeaderMap, limit: u64) -> Result<(), Error> {
    let total: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if total as u64 > limit {
        return Err(Error::HeadersTooLarge(limit));
    }
    Ok(())
}

/// Takes the gateway's credentials off a call's request, so no function,
/// stored row or log line sees them: the `Authorization` header when it is
/// the gateway's (always under `FAAS_INVOKE_AUTH`, where `auth` let it
/// through; the admin credentials sent anyway), cookies, and any replica
/// token the caller sent (only the gateway's own reaches a replica).
fn remove_credentials(headers: &mut HeaderMap, password: &str) {
    let gateway_s = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .any(|v| auth::allows(Some(v.as_bytes()), password));
    if gateway_s {
        headers.remove(header::AUTHORIZATION);
    }
    headers.remove(header::COOKIE);
    headers.remove(watchdog::token::HEADER);
}

/// The caller's `X-Call-Id` (a UUID), taken off the headers (the function
/// gets the call's id from the pipeline), or a new one; and whether it is
/// the caller's.
fn call_id(headers: &mut HeaderMap) -> Result<(CallId, bool), Error> {
    match headers.remove("x-call-id") {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .map(|id| (id, true))
            .ok_or_else(|| {
                Error::BadRequest("X-Call-Id must be a UUID (or leave it out to get one)".into())
            }),
        None => Ok((CallId::new(), false)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use base64::Engine;

    #[test]
    fn the_gateway_s_credentials_and_cookies_go() {
        let admin = base64::engine::general_purpose::STANDARD.encode("admin:pw");
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(&format!("Basic {admin}")).expect("value");
        headers.insert(header::AUTHORIZATION, value);
        headers.insert(header::COOKIE, HeaderValue::from_static("s=1"));
        headers.insert("x-faas-gateway-token", HeaderValue::from_static("forged"));
        headers.insert("x-keep", HeaderValue::from_static("k"));
        remove_credentials(&mut headers, "pw");
        assert_eq!(headers.len(), 1, "{headers:?}");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer own"),
        );
        remove_credentials(&mut headers, "pw");
        assert_eq!(headers[header::AUTHORIZATION], "Bearer own");
    }

    #[test]
    fn headers_are_bounded_in_total() {
        let mut headers = HeaderMap::new();
        headers.insert("x-a", HeaderValue::from_static("1234567"));
        assert!(check_header_bytes(&headers, 10).is_ok());
        headers.insert("x-b", HeaderValue::from_static("1"));
        assert!(matches!(
            check_header_bytes(&headers, 10),
            Err(Error::HeadersTooLarge(10))
        ));
    }
}
