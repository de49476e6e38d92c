//! `GET /system/logs?name=<fn>`: a function's log as newline-delimited
//! JSON, each line OpenFaaS's `logs.Message` and Hyper Func's event at once
//! ([`LogLine`]): the stored events (call steps and per-call STDERR lines),
//! merged in time with what its service replicas wrote (their containers'
//! logs, from the backend); with `follow`, new ones as they come.
//!
//! Both dialects' parameters: `tail` (a number; `-1`, `all` or absent: all),
//! `since` (RFC 3339 or Unix seconds), `follow`, `namespace` (the one
//! there is), `instance` (one replica or call), `callid` (one call).

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::{check_namespace, deployed, flag, AppState};
use crate::backend::{LogQuery, ReplicaLine};
use crate::call::LogLine;
use crate::call_id::CallId;
use crate::error::Error;
use crate::function::Mode;
use crate::store::EventQuery;

/// Longest wait for the replicas' past lines.
const REPLICA_LOGS_LIMIT: Duration = Duration::from_secs(5);
/// Most past lines read of one replica's container log (its newest), so an
/// old replica's long log cannot fill the gateway's memory.
const MAX_REPLICA_LINES: u64 = 5000;

/// The parameters, checked.
#[derive(Debug, Default, PartialEq)]
struct Request {
    name: String,
    /// Only one call's lines: `Some(None)` for a `callid` that is no call
    /// id, which no line has.
    call_id: Option<Option<CallId>>,
    instance: Option<String>,
    tail: Option<u64>,
    /// Unix milliseconds.
    since: Option<i64>,
    follow: bool,
}

impl Request {
    fn parse(query: &HashMap<String, String>) -> Result<Request, Error> {
        let name = query.get("name").cloned().ok_or_else(|| {
            Error::BadRequest("name=<function> is required: /system/logs?name=<function>".into())
        })?;
        check_namespace(query.get("namespace").map(String::as_str))?;
        let given = |key: &str| query.get(key).filter(|v| !v.is_empty()).cloned();
        let tail =
            match query.get("tail").map(String::as_str) {
                None | Some("all") | Some("") | Some("-1") => None,
                Some(n) => Some(n.parse::<u64>().map_err(|_| {
                    Error::BadRequest(format!("tail={n:?}: use a number, -1 or all"))
                })?),
            };
        let since = match query.get("since").map(String::as_str) {
            None | Some("") => None,
            Some(t) => Some(parse_since(t).ok_or_else(|| {
                Error::BadRequest(format!(
                    "since={t:?}: use an RFC 3339 time (2006-01-02T15:04:05Z) or Unix seconds"
                ))
            })?),
        };
        Ok(Request {
            name,
            call_id: given("callid").map(|id| id.parse().ok()),
            instance: given("instance"),
            tail,
            since,
            follow: flag(query, "follow")?,
        })
    }

    /// Whether `line` is one this request wants.
    fn wants(&self, line: &LogLine) -> bool {
        self.since.is_none_or(|s| line.at >= s)
            && self
                .instance
                .as_ref()
                .is_none_or(|i| line.instance.starts_with(i.as_str()))
            && self
                .call_id
                .is_none_or(|c| c.is_some() && line.call_id == c)
    }
}

/// RFC 3339, or whole Unix seconds, as Unix milliseconds.
fn parse_since(text: &str) -> Option<i64> {
    if let Ok(secs) = text.parse::<i64>() {
        return secs.checked_mul(1000);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

pub async fn logs(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Error> {
    let request = Request::parse(&query)?;
    let function = deployed(&app, &request.name)?.function.clone();
    // Replicas' lines belong to no call: asked for one call's, there are none.
    let replicas = function.mode == Mode::Service && request.call_id.is_none();
    let past = LogQuery {
        since: request.since,
        tail: Some(
            request
                .tail
                .map_or(MAX_REPLICA_LINES, |t| t.min(MAX_REPLICA_LINES)),
        ),
        follow: false,
    };
    // Subscribe (and start following the replicas) before reading, so
    // nothing falls between the two.
    let live = app.store.subscribe();
    let following = match (request.follow && replicas, past) {
        (true, query) => {
            let query = LogQuery {
                tail: Some(0),
                follow: true,
                ..query
            };
            app.backend.replica_logs(&function.name, query).await?
        }
        _ => None,
    };
    let query = EventQuery {
        function: function.name.clone(),
        call: request.call_id.flatten(),
        since: request.since,
        // With `instance`, the tail is taken after that filter, not before.
        tail: request.tail.filter(|_| request.instance.is_none()),
    };
    let stored = match request.call_id {
        Some(None) => Vec::new(),
        _ => app.store.events(query).await?,
    };
    let last = stored.last().map_or(0, |e| e.id);
    let stored: Vec<LogLine> = stored.iter().map(|e| e.line()).collect();
    let written = if replicas {
        past_replica_lines(&app, &function.name, past).await
    } else {
        Vec::new()
    };
    let mut lines: Vec<LogLine> = merge(stored, written)
        .into_iter()
        .filter(|l| request.wants(l))
        .collect();
    if let Some(tail) = request.tail {
        let keep = usize::try_from(tail).unwrap_or(usize::MAX);
        lines.drain(..lines.len().saturating_sub(keep));
    }
    let mut text = String::new();
    for line in &lines {
        push_line(&mut text, line);
    }
    let ndjson = [(header::CONTENT_TYPE, "application/x-ndjson")];
    if !request.follow {
        return Ok((StatusCode::OK, ndjson, text).into_response());
    }
    let first = stream::once(async move { Ok::<_, Infallible>(Bytes::from(text)) });
    let stopping = app.stopping.clone();
    let name = function.name.clone();
    let events = stream::unfold(live, move |mut live| {
        let (name, stopping) = (name.clone(), stopping.clone());
        async move {
            loop {
                let event = tokio::select! {
                    event = live.recv() => event,
                    // A stopping gateway ends its followers' streams.
                    () = stopping.cancelled() => return None,
                };
                match event {
                    Ok(e) if e.id > last && e.function == name => return Some((e.line(), live)),
                    Ok(_) | Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    })
    .boxed();
    let events: BoxStream<'static, LogLine> = match following {
        Some(lines) => {
            let name = function.name.clone();
            let written = lines
                .map(move |l| replica_line(&name, l))
                .take_until(app.stopping.clone().cancelled_owned());
            stream::select(events, written).boxed()
        }
        None => events,
    };
    let rest = events.filter_map(move |line| {
        let wanted = request.wants(&line);
        async move {
            wanted.then(|| {
                let mut text = String::new();
                push_line(&mut text, &line);
                Ok::<_, Infallible>(Bytes::from(text))
            })
        }
    });
    Ok((StatusCode::OK, ndjson, Body::from_stream(first.chain(rest))).into_response())
}

/// What the replicas wrote up to now; none when the engine does not
/// answer in time (the stored events are still worth answering).
async fn past_replica_lines(app: &AppState, name: &str, query: LogQuery) -> Vec<LogLine> {
    let read = async {
        match app.backend.replica_logs(name, query).await {
            Ok(Some(lines)) => lines.collect::<Vec<_>>().await,
            Ok(None) => Vec::new(),
            Err(e) => {
                tracing::warn!("cannot read the replicas' logs of {name}: {e}");
                Vec::new()
            }
        }
    };
    let mut lines = tokio::time::timeout(REPLICA_LOGS_LIMIT, read)
        .await
        .unwrap_or_default();
    lines.sort_by_key(|l| l.at);
    lines.into_iter().map(|l| replica_line(name, l)).collect()
}

fn replica_line(name: &str, line: ReplicaLine) -> LogLine {
    LogLine::replica(name, line.instance, line.at, line.text)
}

/// The two logs in one, by time; ties keep the stored line first, and each
/// keeps its own order.
fn merge(stored: Vec<LogLine>, written: Vec<LogLine>) -> Vec<LogLine> {
    if written.is_empty() {
        return stored;
    }
    let mut merged = Vec::with_capacity(stored.len() + written.len());
    let (mut a, mut b) = (
        stored.into_iter().peekable(),
        written.into_iter().peekable(),
    );
    loop {
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => x.at <= y.at,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return merged,
        };
        merged.extend(if take_a { a.next() } else { b.next() });
    }
}

fn push_line(out: &mut String, line: &LogLine) {
    if let Ok(json) = serde_json::to_string(line) {
        out.push_str(&json);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn both_dialects_parameters_are_read() {
        let openfaas = Request::parse(&query(&[
            ("name", "f"),
            ("namespace", "openfaas-fn"),
            ("tail", "-1"),
            ("follow", "false"),
            ("since", "2017-03-16T15:05:58Z"),
        ]))
        .expect("parses");
        assert_eq!(openfaas.tail, None);
        assert_eq!(openfaas.since, Some(1_489_676_758_000));
        assert!(!openfaas.follow);
        let hyper = Request::parse(&query(&[
            ("name", "f"),
            ("tail", "3"),
            ("callid", "218b7b10-e7f1-4c48-ac3c-66792f8ffc06"),
            ("follow", "true"),
        ]))
        .expect("parses");
        assert_eq!((hyper.tail, hyper.follow), (Some(3), true));
        let id = "218b7b10-e7f1-4c48-ac3c-66792f8ffc06".parse().ok();
        assert_eq!(hyper.call_id, Some(id));
        // No call has an id that is not one: no line is wanted.
        let none = Request::parse(&query(&[("name", "f"), ("callid", "c")])).expect("parses");
        assert_eq!(none.call_id, Some(None));
        assert!(!none.wants(&at(0, "a")));
        let unix = Request::parse(&query(&[("name", "f"), ("since", "1489676758")]));
        assert_eq!(unix.expect("parses").since, Some(1_489_676_758_000));
    }

    #[test]
    fn bad_parameters_say_what_to_send() {
        for (pairs, says) in [
            (vec![("tail", "all")], "name=<function>"),
            (vec![("name", "f"), ("tail", "-2")], "tail=\"-2\""),
            (vec![("name", "f"), ("since", "yesterday")], "RFC 3339"),
            (
                vec![("name", "f"), ("since", "99999999999999999")],
                "RFC 3339",
            ),
            (vec![("name", "f"), ("follow", "yes")], "follow=true"),
            (vec![("name", "f"), ("namespace", "other")], "openfaas-fn"),
        ] {
            match Request::parse(&query(&pairs)) {
                Err(Error::BadRequest(line)) => assert!(line.contains(says), "{line}"),
                other => panic!("{pairs:?}: {other:?}"),
            }
        }
    }

    fn at(ms: i64, text: &str) -> LogLine {
        LogLine::replica("f", "r".into(), ms, text.into())
    }

    #[test]
    fn logs_merge_by_time_keeping_each_order() {
        let stored = vec![at(10, "a"), at(30, "b"), at(20, "c")];
        let written = vec![at(15, "x"), at(30, "y")];
        let texts: Vec<_> = merge(stored, written).into_iter().map(|l| l.text).collect();
        assert_eq!(texts, ["a", "x", "b", "c", "y"]);
    }
}
