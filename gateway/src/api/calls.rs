//! Call records and results: `GET /system/calls/<id>`,
//! `GET /system/calls/<id>/output[?wait=true]`, cancelling
//! (`DELETE /system/calls/<id>`), a function's recent calls
//! (`GET /system/function/<name>/calls[?limit=N]`), and Hyper Func's
//! `GET /output/<name>/<uuid>/<callId>[/wait]` behind the function's UUID.

use std::collections::HashMap;

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;

use super::{deployed, flag, json, AppState};
use crate::auth;
use crate::call::{How, Status};
use crate::call_id::CallId;
use crate::error::Error;
use crate::invoke::{self, answer};

pub async fn get(State(app): State<AppState>, Path(id): Path<String>) -> Result<Response, Error> {
    let id = parse_id(&id)?;
    let info = app.store.call(id).await?;
    let info = info.ok_or_else(|| Error::NoSuchCall(id.to_string()))?;
    Ok(json(StatusCode::OK, &info))
}

/// `DELETE /system/calls/<id>`: cancels a queued or running async call
/// and answers its record, CANCELLED.
pub async fn cancel(
    State(app): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, Error> {
    cancel_call(&app, parse_id(&id)?, auth::who(&request)).await
}

/// Cancels call `id` on behalf of `by` ([`auth::who`]).
pub async fn cancel_call(app: &AppState, id: CallId, by: String) -> Result<Response, Error> {
    let info = invoke::cancel::cancel(&app.calls, id, &by).await?;
    Ok(json(StatusCode::OK, &info))
}

/// Calls listed when no `limit` is given, and the most a `limit` may ask.
const LIST_DEFAULT: usize = 50;
const LIST_MAX: usize = 1000;

/// The newest calls of a function, in flight or stored, newest first.
pub async fn list(
    State(app): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Error> {
    deployed(&app, &name)?;
    let limit = match query.get("limit") {
        None => LIST_DEFAULT,
        Some(n) => n
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=LIST_MAX).contains(n))
            .ok_or_else(|| {
                Error::BadRequest(format!("limit={n:?}: use a number from 1 to {LIST_MAX}"))
            })?,
    };
    let calls = app.store.recent_calls(&name, limit).await?;
    Ok(json(StatusCode::OK, &calls))
}

pub async fn output(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Error> {
    let wait = flag(&query, "wait")?;
    answer(&app, parse_id(&id)?, wait, None).await
}

pub async fn hyper_output(
    State(app): State<AppState>,
    Path((name, uuid, id)): Path<(String, String, String)>,
) -> Result<Response, Error> {
    answer(&app, parse_id(&id)?, false, Some((name, uuid))).await
}

pub async fn hyper_output_wait(
    State(app): State<AppState>,
    Path((name, uuid, id)): Path<(String, String, String)>,
) -> Result<Response, Error> {
    answer(&app, parse_id(&id)?, true, Some((name, uuid))).await
}

fn parse_id(id: &str) -> Result<CallId, Error> {
    id.parse()
        .map_err(|e: crate::call_id::NotACallId| Error::BadRequest(e.to_string()))
}

/// The output of call `id`, once it ended when `wait`; `owner` is the
/// function name and UUID the Hyper address names.
async fn answer(
    app: &AppState,
    id: CallId,
    wait: bool,
    owner: Option<(String, String)>,
) -> Result<Response, Error> {
    if let Some((name, uuid)) = &owner {
        let deployed = app.registry.get(name);
        let matches = deployed.is_some_and(|d| d.function.has_uuid(uuid));
        if !matches {
            return Err(Error::NoSuchFunction(name.clone()));
        }
    }
    let mut events = app.store.subscribe();
    loop {
        let found = app.store.output(id).await?;
        let out = found.ok_or_else(|| Error::NoSuchCall(id.to_string()))?;
        if let Some((name, _)) = &owner {
            if &out.info.function != name {
                return Err(Error::NoSuchCall(id.to_string()));
            }
        }
        let info = &out.info;
        if matches!(info.status, Status::Pending | Status::Running) {
            if !wait {
                return Ok(json(StatusCode::ACCEPTED, info));
            }
            // Wait for this call's last event, then read again.
            loop {
                let event = tokio::select! {
                    event = events.recv() => event,
                    () = app.stopping.cancelled() => return Err(Error::ShuttingDown),
                };
                match event {
                    Ok(e) if e.call_id == id && e.event.is_end() => break,
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return Err(Error::ShuttingDown),
                }
            }
            continue;
        }
        let status = answer::status(&How::recorded(info));
        let body = match (out.data, out.rotated, info.r#async) {
            (Some(data), _, _) => data,
            (None, true, _) => {
                return Err(Error::Gone(format!("the output of call {id} was rotated out of the output cache (FAAS_OUTPUT_CACHE_BYTES)")))
            }
            (None, false, false) if status == StatusCode::OK => {
                return Err(Error::Gone(format!("call {id} was synchronous: its output went to its caller and is not kept")))
            }
            (None, false, _) => format!("{}\n", info.message.as_deref().unwrap_or("the call failed")).into(),
        };
        let seconds = info.duration_seconds.unwrap_or(0.0);
        // The request's type is not kept: a kept output is bytes.
        return Ok(answer::output(status, info.call_id, seconds, body, None));
    }
}
