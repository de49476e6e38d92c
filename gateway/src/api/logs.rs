//! `GET /system/logs?name=<fn>[&callid=][&tail=N][&follow=true]`: call events
//! as newline-delimited JSON, the stored ones then, with `follow`, new ones
//! as they are committed.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream;
use tokio::sync::broadcast::error::RecvError;

use super::{deployed, flag, AppState};
use crate::call::Event;
use crate::error::Error;
use crate::store;

pub async fn logs(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Error> {
    let name = query.get("name").cloned().ok_or_else(|| {
        Error::BadRequest("name=<function> is required: /system/logs?name=<function>".into())
    })?;
    deployed(&app, &name)?;
    let call_id = query.get("callid").filter(|c| !c.is_empty()).cloned();
    let tail = match query.get("tail").map(String::as_str) {
        None | Some("all") | Some("") => None,
        Some(n) => Some(
            n.parse::<u64>()
                .map_err(|_| Error::BadRequest(format!("tail={n:?}: use a number or all")))?,
        ),
    };
    let follow = flag(&query, "follow")?;
    // Subscribe before reading, so nothing falls between the two.
    let live = app.store.subscribe();
    let (fname, cid) = (name.clone(), call_id.clone());
    let stored = app
        .store
        .read(move |c| store::events(c, &fname, cid.as_deref(), tail))
        .await?;
    let last = stored.last().map_or(0, |e| e.id);
    let mut text = String::new();
    for event in &stored {
        push_line(&mut text, event);
    }
    let ndjson = [(header::CONTENT_TYPE, "application/x-ndjson")];
    if !follow {
        return Ok((StatusCode::OK, ndjson, text).into_response());
    }
    let first = stream::once(async move { Ok::<_, std::convert::Infallible>(Bytes::from(text)) });
    let stopping = app.stopping.clone();
    let rest = stream::unfold(live, move |mut live| {
        let (name, call_id, stopping) = (name.clone(), call_id.clone(), stopping.clone());
        async move {
            loop {
                let event = tokio::select! {
                    event = live.recv() => event,
                    // A stopping gateway ends its followers' streams.
                    () = stopping.cancelled() => return None,
                };
                match event {
                    Ok(e)
                        if e.id > last
                            && e.function == name
                            && call_id.as_ref().is_none_or(|c| c == &e.call_id) =>
                    {
                        let mut line = String::new();
                        push_line(&mut line, &e);
                        return Some((Ok(Bytes::from(line)), live));
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    });
    use futures_util::StreamExt;
    Ok((StatusCode::OK, ndjson, Body::from_stream(first.chain(rest))).into_response())
}

fn push_line(out: &mut String, event: &Event) {
    if let Ok(line) = serde_json::to_string(event) {
        out.push_str(&line);
        out.push('\n');
    }
}
