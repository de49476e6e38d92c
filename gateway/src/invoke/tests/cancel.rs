//! Cancelling async calls (queued: never run, and not run by a restart;
//! running: its run killed; ended or sync: 409; unknown: 404) and the
//! maximum age of a queued one.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use tokio::time::Instant;

use super::fake::Gateway;
use super::{
    message, restart_and_resume, restarted, resume_all, status, stopped_with_one_queued,
    until_queued, F,
};
use crate::call::{CallInfo, EventKind, Status};
use crate::call_id::CallId;
use crate::error::Error;
use crate::function::Deployment;
use crate::invoke::cancel::cancel;
use crate::store::EventQuery;

const BY: &str = "admin from 192.0.2.7";

async fn kinds(gw: &Gateway, id: CallId) -> Vec<EventKind> {
    let query = EventQuery {
        function: F.into(),
        call: Some(id),
        ..EventQuery::default()
    };
    let events = gw.store.events(query).await.expect("events");
    events.iter().map(|e| e.event).collect()
}

/// The status and the one line a refused cancel answers.
async fn refused(answer: Result<CallInfo, Error>) -> (StatusCode, String) {
    let e = answer.expect_err("refused");
    let response = e.into_response();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 4096).await;
    let body = String::from_utf8(body.expect("a body").to_vec()).expect("text");
    assert_eq!(body.matches('\n').count(), 1, "one line: {body:?}");
    (status, body)
}

#[tokio::test(start_paused = true)]
async fn a_running_call_cancelled_is_killed_at_once_and_frees_its_slot() {
    let (_dir, gw, f) = Gateway::with_f(1, 10);
    // Held for ever: only the cancel ends it.
    let (running, _gate) = gw.held_async(&f, "running").await;
    let next = gw.submit_async(&f, "next").await;
    let asked = Instant::now();
    let info = cancel(&gw.calls, running, BY).await.expect("cancelled");
    assert_eq!(asked.elapsed(), Duration::ZERO, "at once");
    assert_eq!(info.status, Status::Cancelled);
    assert_eq!(
        info.message.as_deref(),
        Some(format!("cancelled by {BY} while running: its run was killed").as_str())
    );
    assert_eq!(gw.runner.killed(), ["running"]);
    gw.drain().await;
    assert_eq!(gw.runner.inputs(), ["running", "next"]);
    assert_eq!(status(&*gw.store, next).await, Some(Status::Finished));
    use EventKind::*;
    assert_eq!(
        kinds(&gw, running).await,
        [Call, Pending, Running, Cancelled]
    );
    let counts = gw.store.counts(F).await.expect("counts");
    assert_eq!((counts.cancelled, counts.finished), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn an_ended_or_sync_call_is_409_and_an_unknown_one_404() {
    let (_dir, gw, f) = Gateway::with_f(1, 10);
    let done = gw.submit_async(&f, "done").await;
    gw.runner.until_started(1).await;
    gw.drain().await;
    let (code, body) = refused(cancel(&gw.calls, done, BY).await).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(
        body,
        format!("call {done} has already ended (FINISHED): only a queued or running async call can be cancelled\n")
    );
    assert_eq!(status(&*gw.store, done).await, Some(Status::Finished));

    let (sync, call, gate) = gw.held_sync(&f, "sync").await;
    let (code, body) = refused(cancel(&gw.calls, sync, BY).await).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert!(body.contains("is synchronous"), "{body}");
    gate.cancel();
    assert_eq!(call.await.expect("sync").how.kind(), "exit", "it ran on");

    let unknown = CallId::new();
    let (code, body) = refused(cancel(&gw.calls, unknown, BY).await).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(body, format!("no such call id: {unknown}\n"));
}

#[tokio::test(start_paused = true)]
async fn a_queued_call_reaching_its_max_age_expires_unrun() {
    let (_dir, mut gw) = Gateway::fresh(1, 10);
    // The function's own maxAge wins over the gateway's.
    gw.calls.bounds.max_call_age = Some(Duration::from_secs(3600));
    let deployment = Deployment {
        max_age: Some("30s".into()),
        ..Deployment::default()
    };
    let f = gw.deploy_with(deployment, F);
    let (running, gate) = gw.held_async(&f, "running").await;
    let old = gw.submit_async(&f, "old").await;
    tokio::time::sleep(Duration::from_secs(31)).await;
    // A call the running one no longer holds up starts before its age.
    gate.cancel();
    let young = gw.submit_async(&f, "young").await;
    gw.drain().await;
    assert_eq!(
        gw.runner.inputs(),
        ["running", "young"],
        "the old one never ran"
    );
    assert_eq!(status(&*gw.store, old).await, Some(Status::Expired));
    assert_eq!(status(&*gw.store, running).await, Some(Status::Finished));
    assert_eq!(status(&*gw.store, young).await, Some(Status::Finished));
    use EventKind::*;
    assert_eq!(kinds(&gw, old).await, [Call, Pending, Expired]);
    let message = message(&*gw.store, old).await;
    assert!(message.contains("maximum age of 30s"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn the_gateway_s_max_call_age_holds_across_a_restart() {
    let (dir, gw, queued) = stopped_with_one_queued().await;
    drop(gw);

    // Down longer than the age the gateway comes back with.
    std::thread::sleep(Duration::from_millis(20));
    let (mut gw, resumed) = restarted(&dir);
    gw.calls.bounds.max_call_age = Some(Duration::from_millis(10));
    resume_all(&gw, resumed).await;
    assert_eq!(gw.runner.inputs(), Vec::<String>::new(), "it never ran");
    assert_eq!(status(&*gw.store, queued).await, Some(Status::Expired));
    let message = message(&*gw.store, queued).await;
    assert!(message.contains("maximum age of 0.01s"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn a_queued_call_cancelled_never_runs_even_after_a_restart() {
    let (dir, gw, f) = Gateway::with_f(1, 10);
    let (running, gate) = gw.held_async(&f, "running").await;
    let cancelled = gw.submit_async(&f, "cancelled").await;
    let left = gw.submit_async(&f, "left queued").await;
    until_queued(&gw, F, 2).await;
    let info = cancel(&gw.calls, cancelled, BY).await.expect("cancelled");
    assert_eq!(info.status, Status::Cancelled);
    let message = info.message.unwrap_or_default();
    assert_eq!(
        message,
        format!("cancelled by {BY} while queued: it never ran")
    );
    assert_eq!(gw.calls.scheduler.depth(F), (1, 1), "it left the queue");
    use EventKind::*;
    assert_eq!(kinds(&gw, cancelled).await, [Call, Pending, Cancelled]);
    // A stop leaves the other queued call PENDING, to resume.
    gw.stop(gate).await;
    assert_eq!(status(&*gw.store, running).await, Some(Status::Finished));
    let (gw, resumed) = restart_and_resume(gw, &dir).await;
    assert_eq!(resumed, [left], "the cancelled call is not resumed");
    assert_eq!(gw.runner.inputs(), ["left queued"]);
    assert_eq!(status(&*gw.store, cancelled).await, Some(Status::Cancelled));
}
