//! Invocation: `/function/<name>[/<path>]` (sync), `/async-function/…`,
//! `POST /` named by `X-Function`, and Hyper Func's `/call/<name>/<uuid>[/sync]`.
//! Each checks the name, finds the function, keeps or makes the call id,
//! reads the body within the payload limit, then hands over to [`crate::calls`].

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::{deployed, read_body, AppState};
use crate::calls::CallRequest;
use crate::error::Error;

const CALL_ID: &str = "x-call-id";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sync,
    Async,
}

pub async fn function(
    State(app): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> Result<Response, Error> {
    invoke(app, name, None, String::new(), req, Kind::Sync).await
}

pub async fn function_path(
    State(app): State<AppState>,
    Path((name, path)): Path<(String, String)>,
    req: Request,
) -> Result<Response, Error> {
    invoke(app, name, None, path, req, Kind::Sync).await
}

pub async fn async_function(
    State(app): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> Result<Response, Error> {
    invoke(app, name, None, String::new(), req, Kind::Async).await
}

pub async fn async_function_path(
    State(app): State<AppState>,
    Path((name, path)): Path<(String, String)>,
    req: Request,
) -> Result<Response, Error> {
    invoke(app, name, None, path, req, Kind::Async).await
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
    invoke(app, name, None, String::new(), req, Kind::Sync).await
}

pub async fn call(
    State(app): State<AppState>,
    Path((name, uuid)): Path<(String, String)>,
    req: Request,
) -> Result<Response, Error> {
    invoke(app, name, Some(uuid), String::new(), req, Kind::Async).await
}

pub async fn call_sync(
    State(app): State<AppState>,
    Path((name, uuid)): Path<(String, String)>,
    req: Request,
) -> Result<Response, Error> {
    invoke(app, name, Some(uuid), String::new(), req, Kind::Sync).await
}

async fn invoke(
    app: AppState,
    name: String,
    uuid: Option<String>,
    path: String,
    req: Request,
    kind: Kind,
) -> Result<Response, Error> {
    let deployed = deployed(&app, &name)?;
    if let Some(uuid) = uuid {
        // The UUID is the credential: a wrong one looks like no function.
        if !deployed.function.has_uuid(&uuid) {
            return Err(Error::NoSuchFunction(name));
        }
    }
    let (parts, body) = req.into_parts();
    let mut headers = parts.headers;
    let id = call_id(&mut headers)?;
    let callback = match (kind, headers.get("x-callback-url")) {
        (Kind::Async, Some(url)) => {
            let url = url
                .to_str()
                .map_err(|_| Error::BadRequest("X-Callback-Url is not text".into()))?;
            Some(crate::callback::parse_url(url)?)
        }
        _ => None,
    };
    let input = read_body(body, &headers, app.config.max_payload_bytes).await?;
    let env = watchdog::cgi::request_env(&parts.method, &function_uri(&path, &parts.uri), &headers);
    let call = CallRequest {
        id,
        env,
        input,
        callback,
    };
    match kind {
        Kind::Async => {
            app.call_async(deployed, call).await?;
            let mut response = (
                StatusCode::ACCEPTED,
                axum::Json(serde_json::json!({ "CallId": id })),
            )
                .into_response();
            response.headers_mut().insert(CALL_ID, header_value(&id));
            Ok(response)
        }
        Kind::Sync => {
            let content_type = headers.get(header::CONTENT_TYPE).cloned();
            let ended = app.call_sync(deployed, call).await?;
            let mut response = (ended.status, Body::from(ended.body)).into_response();
            let out = response.headers_mut();
            out.insert(CALL_ID, header_value(&id));
            out.insert(
                "x-duration-seconds",
                header_value(&format!("{:.6}", ended.duration.as_secs_f64())),
            );
            if let Some(content_type) = content_type.filter(|_| ended.status == StatusCode::OK) {
                out.insert(header::CONTENT_TYPE, content_type);
            }
            Ok(response)
        }
    }
}

/// The caller's `X-Call-Id` (a UUID), or a new one set on the headers so the
/// function sees it as `Http_X_Call_Id`.
fn call_id(headers: &mut HeaderMap) -> Result<Uuid, Error> {
    match headers.get(CALL_ID) {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| Uuid::parse_str(v.trim()).ok())
            .ok_or_else(|| {
                Error::BadRequest("X-Call-Id must be a UUID (or leave it out to get one)".into())
            }),
        None => {
            // Time-ordered (version 7): new calls land at the end of the
            // id indexes instead of on a random page each.
            let id = Uuid::now_v7();
            headers.insert(CALL_ID, header_value(&id));
            Ok(id)
        }
    }
}

fn header_value(value: &impl ToString) -> HeaderValue {
    HeaderValue::from_str(&value.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The URI the function sees: the path after its name, and the query.
fn function_uri(path: &str, original: &Uri) -> Uri {
    let query = original
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    format!("/{}{query}", path.trim_start_matches('/'))
        .parse()
        .unwrap_or_else(|_| Uri::from_static("/"))
}

/// `Method` is re-exported for the route table's method lists.
pub const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];
