//! The pipeline in-process: a real store in a temporary directory, a fake
//! runner ([`fake::Runner`]) and notifier, and paused time, so a timeout of
//! seconds takes none.

mod cancel;
mod fake;

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use tokio::time::Instant;
use watchdog::Exit;

use super::{answer, Answer};
use crate::backend::BackendError;
use crate::call::{CallKind, End, EventKind, How, Status};
use crate::call_id::CallId;
use crate::error::Error;
use crate::store::{EventQuery, Resume, Store};
use fake::{Dir, Gateway, Plan, DELIVERED};

const F: &str = "f";
const G: &str = "g";

async fn status(store: &dyn Store, id: CallId) -> Option<Status> {
    store.call(id).await.expect("read").map(|info| info.status)
}

/// Why a stored call did not finish ("" when it did).
async fn message(store: &dyn Store, id: CallId) -> String {
    let info = store.call(id).await.expect("read").expect("stored");
    info.message.unwrap_or_default()
}

/// A gateway with one call running and one queued, stopped: the queued
/// one is left PENDING in its store.
async fn stopped_with_one_queued() -> (Dir, Gateway, CallId) {
    let (dir, gw, f) = Gateway::with_f(1, 10);
    let (_, gate) = gw.held_async(&f, "running").await;
    let queued = gw.submit_async(&f, "queued").await;
    gw.stop(gate).await;
    (dir, gw, queued)
}

/// The status a stored call's output answers, from its recorded end.
async fn stored_answer(store: &dyn Store, id: CallId) -> StatusCode {
    let info = store.call(id).await.expect("read").expect("stored");
    answer::status(&How::recorded(&info))
}

fn ended(answer: Result<Answer, Error>) -> End {
    match answer {
        Ok(Answer::Ended(end)) => end,
        Ok(Answer::Accepted) => panic!("a sync call was accepted"),
        Err(e) => panic!("refused: {e}"),
    }
}

fn accepted(answer: Result<Answer, Error>) {
    match answer {
        Ok(Answer::Accepted) => {}
        Ok(Answer::Ended(end)) => panic!("an async call ended at once: {:?}", end.how),
        Err(e) => panic!("refused: {e}"),
    }
}

/// Lets the other tasks run until `queued` calls of `function` wait.
async fn until_queued(gw: &Gateway, function: &str, queued: usize) {
    while gw.calls.scheduler.depth(function).0 < queued {
        tokio::task::yield_now().await;
    }
}

/// The gateway on `dir`'s store opened again, as a restart does, with
/// [`F`] deployed (a minute's timeout), and the calls it is to resume.
fn restarted(dir: &Dir) -> (Gateway, Vec<Resume>) {
    let (store, recovered) = dir.open();
    let gw = Gateway::on(store, 1, 10);
    gw.deploy(F, 60);
    (gw, recovered.queued)
}

/// Resumes `resumed` on `gw` and waits for them to end; their ids.
async fn resume_all(gw: &Gateway, resumed: Vec<Resume>) -> Vec<CallId> {
    let ids = resumed.iter().map(|r| r.id).collect();
    super::resume(&gw.calls, &gw.registry, resumed);
    gw.drain().await;
    ids
}

/// `gw` restarted on its store, its queued calls resumed and ended: the
/// new gateway and the ids resumed.
async fn restart_and_resume(gw: Gateway, dir: &Dir) -> (Gateway, Vec<CallId>) {
    drop(gw);
    let (gw, resumed) = restarted(dir);
    let ids = resume_all(&gw, resumed).await;
    (gw, ids)
}

/// The status and body a sync call's caller gets.
fn answered(id: CallId, end: &End) -> (StatusCode, String) {
    let body = String::from_utf8_lossy(&end.body()).into_owned();
    (answer::ended(id, end, None).status(), body)
}

#[tokio::test(start_paused = true)]
async fn calls_start_in_arrival_order_as_slots_free() {
    let (_dir, gw) = Gateway::fresh(1, 10);
    let (f, g) = (gw.deploy(F, 60), gw.deploy(G, 60));
    let order = ["a", "b", "c", "d", "e"];
    let gates: Vec<_> = order.iter().map(|input| gw.runner.hold(input)).collect();
    for (input, deployed) in order.iter().zip([&f, &g, &f, &f, &g]) {
        gw.submit_async(deployed, input).await;
    }
    assert_eq!(
        gw.calls.scheduler.depth(F),
        (2, 1),
        "one runs under the quota"
    );
    assert_eq!(gw.calls.scheduler.depth(G), (2, 0));
    for (n, gate) in gates.iter().enumerate() {
        gw.runner.until_started(n + 1).await;
        assert_eq!(gw.runner.inputs(), order[..=n], "in arrival order");
        gate.cancel();
    }
    gw.drain().await;
    assert_eq!(gw.runner.inputs(), order);
}

#[tokio::test(start_paused = true)]
async fn a_function_at_its_limit_lets_another_s_calls_pass() {
    let (_dir, gw) = Gateway::fresh(2, 10);
    let f = gw.deploy_limited(F, 1);
    let g = gw.deploy(G, 60);
    let (first, second) = (gw.runner.hold("f1"), gw.runner.hold("f2"));
    gw.submit_async(&f, "f1").await;
    gw.runner.until_started(1).await;
    gw.submit_async(&f, "f2").await;
    let (_, later) = gw.spawn_sync(&g, "g1");
    assert_eq!(
        later.await.expect("g1").how.kind(),
        "exit",
        "g passes f's queue"
    );
    assert_eq!(gw.runner.inputs(), ["f1", "g1"]);
    first.cancel();
    gw.runner.until_started(3).await;
    assert_eq!(gw.runner.inputs(), ["f1", "g1", "f2"]);
    second.cancel();
    gw.drain().await;
}

#[tokio::test(start_paused = true)]
async fn an_async_call_is_stored_pending_before_it_is_accepted() {
    let (_dir, gw, f) = Gateway::with_f(1, 10);
    let gate = gw.runner.hold("first");
    let first = gw.submit_async(&f, "first").await;
    let queued = gw.submit_async(&f, "queued").await;
    let info = gw.store.call(queued).await.expect("read").expect("stored");
    assert_eq!((info.status, info.r#async), (Status::Pending, true));
    assert_eq!(
        gw.store.input(queued).await.expect("input").as_deref(),
        Some(&b"queued"[..]),
        "its whole input, for a restart"
    );
    gw.runner.until_started(1).await;
    assert_eq!(status(&*gw.store, first).await, Some(Status::Running));
    gate.cancel();
    gw.drain().await;
    assert_eq!(status(&*gw.store, first).await, Some(Status::Finished));
    assert_eq!(status(&*gw.store, queued).await, Some(Status::Finished));
}

#[tokio::test(start_paused = true)]
async fn a_sync_call_waits_in_the_queue_for_its_timeout_at_most() {
    let (_dir, gw) = Gateway::fresh(1, 10);
    let (f, g) = (gw.deploy(F, 2), gw.deploy(G, 60));
    let (_, busy, gate) = gw.held_sync(&g, "busy").await;
    let since = Instant::now();
    // Nothing else waits on a timer or the store: time moves to the
    // call's deadline, or to this bound if it has none.
    let late = gw.submit(&f, CallKind::Sync, "late");
    let (id, answer) = tokio::time::timeout(Duration::from_secs(600), late)
        .await
        .expect("the call answers within its timeout");
    let end = ended(answer);
    let waited = since.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_millis(2010),
        "{waited:?}"
    );
    assert_eq!(
        answered(id, &end),
        (
            StatusCode::GATEWAY_TIMEOUT,
            "timed out after 2s waiting in the queue\n".into()
        )
    );
    assert_eq!(gw.runner.inputs(), ["busy"], "it never ran");
    gate.cancel();
    assert_eq!(busy.await.expect("busy").how.kind(), "exit");
    gw.drain().await;
    let info = gw.store.call(id).await.expect("read").expect("stored");
    assert_eq!(info.status, Status::Failed);
    assert!(info.timed_out);
}

#[tokio::test(start_paused = true)]
async fn a_sync_call_s_timeout_covers_its_wait_and_its_run() {
    let (_dir, gw) = Gateway::fresh(1, 10);
    let (f, g) = (gw.deploy(F, 3), gw.deploy(G, 60));
    gw.runner.plan("busy", Plan::Take(Duration::from_secs(1)));
    gw.runner.plan("slow", Plan::Overrun);
    let (_, busy) = gw.running_sync(&g, "busy").await;
    let since = Instant::now();
    let (id, answer) = gw.submit(&f, CallKind::Sync, "slow").await;
    let end = ended(answer);
    let run = gw.runner.started()[1].timeout;
    assert!(
        run <= Duration::from_secs(2) && run > Duration::from_millis(1990),
        "what is left of 3s after 1s in the queue: {run:?}"
    );
    let waited = since.elapsed();
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_millis(3010),
        "{waited:?}"
    );
    let (code, body) = answered(id, &end);
    assert_eq!(code, StatusCode::GATEWAY_TIMEOUT);
    assert!(body.starts_with("timed out after 3s"), "{body}");
    assert_eq!(busy.await.expect("busy").how.kind(), "exit");
}

#[tokio::test(start_paused = true)]
async fn an_async_call_s_timeout_covers_its_run_only() {
    let (_dir, gw) = Gateway::fresh(1, 10);
    let (f, g) = (gw.deploy(F, 3), gw.deploy(G, 60));
    gw.runner.plan("busy", Plan::Take(Duration::from_secs(2)));
    let (_, busy) = gw.running_sync(&g, "busy").await;
    let id = gw.submit_async(&f, "queued").await;
    assert_eq!(busy.await.expect("busy").how.kind(), "exit");
    gw.drain().await;
    assert_eq!(gw.runner.started()[1].timeout, Duration::from_secs(3));
    assert_eq!(status(&*gw.store, id).await, Some(Status::Finished));
}

/// Every way a run ends, and the status its caller gets: a sync call's
/// answer, and an async call's stored end (what its output answers).
#[tokio::test(start_paused = true)]
async fn each_end_of_a_run_answers_its_status() {
    let (_dir, gw, f) = Gateway::with_f(4, 10);
    let fail = |error: fn(String) -> BackendError| Plan::Fail(error("why".into()));
    let cases = [
        (Plan::Echo, 200),
        (Plan::Exit(Exit::Code(3)), 500),
        (Plan::Exit(Exit::Signal(9)), 500),
        (Plan::Overrun, 504),
        (Plan::Exit(Exit::OutputTooLarge), 502),
        (Plan::Exit(Exit::InputTooLarge), 413),
        (Plan::Exit(Exit::InputFailed("why".into())), 400),
        (fail(BackendError::Invalid), 400),
        (fail(BackendError::NotFound), 404),
        (fail(BackendError::Absent), 404),
        (fail(BackendError::Conflict), 409),
        (fail(BackendError::Start), 502),
        (fail(BackendError::Unreachable), 503),
        (fail(BackendError::Lost), 502),
        (fail(BackendError::NotReady), 504),
    ];
    let mut stored = Vec::new();
    for (n, (plan, expected)) in cases.into_iter().enumerate() {
        let (sync, nowait) = (format!("sync {n}"), format!("async {n}"));
        gw.runner.plan(&sync, plan.clone());
        gw.runner.plan(&nowait, plan.clone());
        let (id, answer) = gw.submit(&f, CallKind::Sync, &sync).await;
        let end = ended(answer);
        let (code, body) = answered(id, &end);
        assert_eq!(code.as_u16(), expected, "{n}: {body}");
        if let Plan::Fail(e) = plan {
            assert_eq!(
                body,
                format!("{e}\n"),
                "{n}: the backend's error is the answer"
            );
            assert_eq!(end.how.kind(), format!("backend:{}", e.kind()));
        }
        let id = gw.submit_async(&f, &nowait).await;
        stored.push((id, expected));
    }
    gw.drain().await;
    for (n, (id, expected)) in stored.into_iter().enumerate() {
        let code = stored_answer(&*gw.store, id).await;
        assert_eq!(code.as_u16(), expected, "{n}");
        let expected_status = match expected {
            200 => Status::Finished,
            _ => Status::Failed,
        };
        assert_eq!(status(&*gw.store, id).await, Some(expected_status), "{n}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_async_call_s_end_is_delivered_to_its_callback() {
    let (_dir, gw, f) = Gateway::with_f(2, 10);
    gw.runner
        .plan("broken", Plan::Fail(BackendError::Start("no image".into())));
    let mut ids = Vec::new();
    for input in ["fine", "broken"] {
        let mut call = fake::call(CallKind::Async, input);
        call.callback = Some("http://127.0.0.1:9/done".parse().expect("url"));
        ids.push(call.id);
        accepted(super::submit(&gw.calls, f.clone(), call).await);
    }
    // Each call's task ends once its callback was delivered.
    gw.drain().await;
    let mut delivered = gw.notified.delivered();
    delivered.sort_by_key(|(id, ..)| ids.iter().position(|i| i == id));
    assert_eq!(
        delivered,
        [
            (ids[0], 200, "fine".into()),
            (ids[1], 502, "function could not start: no image\n".into()),
        ]
    );
    for id in ids {
        let query = EventQuery {
            function: F.into(),
            call: Some(id),
            ..EventQuery::default()
        };
        let events = gw.store.events(query).await.expect("events");
        let last = events.last().expect("events");
        assert_eq!(
            (last.event, last.message.as_str()),
            (EventKind::Callback, DELIVERED)
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_removal_ends_the_queued_calls_and_a_forced_one_the_running() {
    let (_dir, gw, f) = Gateway::with_f(1, 10);
    let (running_id, running, _) = gw.held_sync(&f, "running").await;
    let queued_async = gw.submit_async(&f, "queued async").await;
    let (queued_id, queued_sync) = gw.spawn_sync(&f, "queued sync");
    until_queued(&gw, F, 2).await;
    let removed = gw.registry.get(F).expect("deployed");
    let _held = gw.registry.take(&removed).expect("taken out");
    removed.life.removed.cancel();
    let end = queued_sync.await.expect("queued sync");
    assert_eq!(
        answered(queued_id, &end),
        (StatusCode::GONE, "the function was removed\n".into())
    );
    assert!(!running.is_finished(), "a running call finishes");
    removed.life.killed.cancel();
    let end = running.await.expect("running");
    assert_eq!(answered(running_id, &end).0, StatusCode::GONE);
    gw.drain().await;
    assert_eq!(
        gw.runner.inputs(),
        ["running"],
        "the queued calls never ran"
    );
    let info = gw
        .store
        .call(queued_async)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(info.status, Status::Failed);
    assert_eq!(info.message.as_deref(), Some("the function was removed"));
    assert_eq!(gw.calls.scheduler.depth(F), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_stop_leaves_queued_async_calls_pending_for_the_next_start() {
    let (dir, gw, f) = Gateway::with_f(1, 10);
    let (running, gate) = gw.held_async(&f, "running").await;
    let queued = gw.submit_async(&f, "queued").await;
    let (sync_id, sync) = gw.spawn_sync(&f, "queued sync");
    until_queued(&gw, F, 2).await;
    gw.calls.stopping.cancel();
    let end = tokio::time::timeout(Duration::from_secs(600), sync)
        .await
        .expect("a queued sync call answers at a stop")
        .expect("queued sync");
    assert_eq!(
        answered(sync_id, &end),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the gateway is shutting down; retry later\n".into()
        )
    );
    gate.cancel();
    gw.drain().await;
    assert_eq!(gw.runner.inputs(), ["running"]);
    assert_eq!(status(&*gw.store, running).await, Some(Status::Finished));
    assert_eq!(status(&*gw.store, queued).await, Some(Status::Pending));
    let (gw, resumed) = restart_and_resume(gw, &dir).await;
    assert_eq!(resumed, [queued]);
    assert_eq!(gw.runner.inputs(), ["queued"], "with its stored input");
    assert_eq!(status(&*gw.store, queued).await, Some(Status::Finished));
}

#[tokio::test(start_paused = true)]
async fn a_call_whose_function_went_while_the_gateway_was_down_fails() {
    let (dir, gw, queued) = stopped_with_one_queued().await;
    assert_eq!(status(&*gw.store, queued).await, Some(Status::Pending));
    drop(gw);

    let (store, recovered) = dir.open();
    let gw = Gateway::on(store, 1, 10);
    super::resume(&gw.calls, &gw.registry, recovered.queued);
    gw.drain().await;
    assert!(gw.runner.inputs().is_empty());
    assert_eq!(stored_answer(&*gw.store, queued).await, StatusCode::GONE);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_answers_429_at_once_and_records_nothing() {
    let (_dir, gw, f) = Gateway::with_f(1, 1);
    let (_, running, gate) = gw.held_sync(&f, "running").await;
    let queued = gw.submit_async(&f, "queued").await;
    for kind in [CallKind::Sync, CallKind::Async] {
        let since = Instant::now();
        let (id, answer) = gw.submit(&f, kind, "one too many").await;
        assert_eq!(since.elapsed(), Duration::ZERO, "at once");
        let Err(e) = answer else {
            panic!("a call past the bound was taken")
        };
        assert!(matches!(&e, Error::QueueFull { function, max: 1 } if function == F));
        let response = e.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "1");
        gw.store.flush().await.expect("flush");
        assert_eq!(status(&*gw.store, id).await, None, "nothing recorded");
    }
    gate.cancel();
    assert_eq!(running.await.expect("running").how.kind(), "exit");
    gw.drain().await;
    assert_eq!(gw.runner.inputs(), ["running", "queued"]);
    assert_eq!(status(&*gw.store, queued).await, Some(Status::Finished));
}

#[tokio::test(start_paused = true)]
async fn a_sync_caller_that_hangs_up_leaves_a_failed_record() {
    let (_dir, gw, f) = Gateway::with_f(1, 10);
    let (id, call, _) = gw.held_sync(&f, "left").await;
    assert_eq!(status(&*gw.store, id).await, Some(Status::Running));
    call.abort();
    let _ = call.await;
    gw.store.flush().await.expect("flush");
    let info = gw.store.call(id).await.expect("read").expect("stored");
    assert_eq!(info.status, Status::Failed);
    assert_eq!(How::recorded(&info).kind(), "hung-up");
    assert_eq!(gw.calls.scheduler.depth(F), (0, 0), "its slot is free");
}
