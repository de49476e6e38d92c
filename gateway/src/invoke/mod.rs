//! The invoke pipeline, one path for both kinds of call:
//!
//! 1. **queue**: take a place in the function's FIFO (429 when it is full);
//! 2. **record**: the call is recorded ([`record`]: an async call is durable
//!    before it is acknowledged, a sync call lives in memory until its end);
//! 3. **wait** for a running slot under the quota and the function's limit;
//! 4. **run** it on the backend under its timeout;
//! 5. **record the end**, count it, deliver its callback;
//! 6. **answer** ([`answer`]: the one table from how a call ended to its
//!    HTTP status).
//!
//! A sync call runs in its caller's request; an async call in a task the
//! gateway tracks, so a graceful stop waits for it. Async calls still queued
//! when the gateway stops stay recorded as PENDING and resume at the next
//! start ([`resume`]). An async call in flight can be cancelled
//! ([`cancel`]): queued, it never runs; running, its run is killed. One
//! still queued when it reaches its maximum age ends EXPIRED, unrun.
//!
//! The pipeline holds only its own handles ([`Calls`]): the recorder, the
//! queue, the runner, the notifier, the task tracker and the stop token.

pub mod answer;
pub mod cancel;
mod handles;
mod record;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use axum::http::Uri;
use bytes::Bytes;
use tokio::time::Instant;
use tracing::Instrument;

use crate::backend::{Invocation, Request};
use crate::call::{CallKind, End, How, Limits};
use crate::call_id::CallId;
use crate::callback::{self, Callback};
use crate::clock;
use crate::error::Error;
use crate::registry::{Deployed, Registry};
use crate::scheduler::Ticket;
use crate::store::Resume;
use cancel::Cancellable;
pub use handles::{Bounds, Calls, Invoker};
pub use record::Recorder;
use record::{NotWritten, Record};

/// Async inputs up to this size stay in memory while queued; larger ones are
/// read back from the store when the call starts.
const KEEP_INPUT: usize = 64 * 1024;

/// A call as a handler hands it over.
pub struct Call {
    pub id: CallId,
    /// Whether the caller chose the id (`X-Call-Id`): only then can it be
    /// one already taken.
    pub caller_id: bool,
    pub kind: CallKind,
    pub request: Request,
    pub input: Bytes,
    /// Where an async call's result is POSTed.
    pub callback: Option<Uri>,
}

/// What the caller gets.
pub enum Answer {
    /// An async call, durable and queued.
    Accepted,
    /// A sync call, ended.
    Ended(End),
}

/// Takes `call` through the pipeline: to its end when it is sync, to its
/// acceptance when it is async.
pub async fn submit(calls: &Calls, deployed: Arc<Deployed>, call: Call) -> Result<Answer, Error> {
    let arrived = Instant::now();
    let created = clock::now_ms();
    // A call is accepted only while its record can be written.
    calls.recorder.store.writable()?;
    let ticket = queue(calls, &deployed)?;
    let mut record = Record::open(&calls.recorder, &deployed, &call, created).await?;
    let mut queued = Queued {
        deployed,
        id: call.id,
        kind: call.kind,
        request: call.request,
        input: Input::Ready(call.input),
        ticket,
        arrived,
        created,
    };
    match call.kind {
        CallKind::Sync => {
            // Holds off a removal until the call's record is queued, so its
            // write comes before the function's deletion.
            let _recording = queued.deployed.life.running();
            let end = run(calls, queued, &mut record, None)
                .await
                .unwrap_or_else(stopped);
            record.ended(&end, &calls.stopping).await;
            Ok(Answer::Ended(end))
        }
        CallKind::Async => {
            if matches!(&queued.input, Input::Ready(input) if input.len() > KEEP_INPUT) {
                queued.input = Input::Stored;
            }
            // Cancellable from its acknowledgement on.
            let cancellable = calls.cancels.register(queued.id);
            let finish = finish_async(calls.clone(), queued, record, cancellable, call.callback);
            calls.tasks.spawn(finish.in_current_span());
            Ok(Answer::Accepted)
        }
    }
}

/// Requeues the async calls a previous run accepted, in their order, each
/// with its function as `registry` has it.
pub fn resume(calls: &Calls, registry: &Registry, queued: Vec<Resume>) {
    for call in queued {
        let id = call.id;
        let Some(deployed) = registry.get(&call.function) else {
            let end = End::without_run(
                How::Removed,
                "the function was removed before the call ran".into(),
            );
            Record::resumed(&calls.recorder, id, &call.function).forget(&end);
            continue;
        };
        let request = call
            .request
            .as_deref()
            .and_then(Request::decode)
            .unwrap_or_default();
        let callback = call
            .callback
            .as_deref()
            .and_then(|u| callback::parse_url(u).ok());
        let f = &deployed.function;
        let ticket = calls.scheduler.requeue(&f.name, f.max_concurrency);
        tracing::debug!(call_id = %id, created = call.created, "resuming");
        let record = Record::resumed(&calls.recorder, id, &deployed.function.name);
        let queued = Queued {
            deployed,
            id,
            kind: CallKind::Async,
            request,
            input: Input::Stored,
            ticket,
            arrived: Instant::now(),
            created: call.created,
        };
        let span = id.span(&queued.deployed.function.name);
        let cancellable = calls.cancels.register(id);
        let finish = finish_async(calls.clone(), queued, record, cancellable, callback);
        calls.tasks.spawn(finish.instrument(span));
    }
}

/// Joins the function's queue: 429 when it is full.
fn queue(calls: &Calls, deployed: &Deployed) -> Result<Ticket, Error> {
    let f = &deployed.function;
    calls
        .scheduler
        .enqueue(&f.name, f.max_concurrency)
        .map_err(|_| Error::QueueFull {
            function: f.name.clone(),
            max: calls.bounds.max_queue,
        })
}

/// A call holding a place in its function's queue.
struct Queued {
    deployed: Arc<Deployed>,
    id: CallId,
    kind: CallKind,
    request: Request,
    input: Input,
    ticket: Ticket,
    /// When it arrived: a sync call's timeout covers the queue and the run,
    /// an async call's the run only.
    arrived: Instant,
    /// When it was accepted (Unix milliseconds), before any restart: an
    /// async call's age.
    created: i64,
}

/// Where the input of a queued call is.
enum Input {
    Ready(Bytes),
    Stored,
}

/// An async call's life after its acceptance: run, record the end, deliver
/// the callback. Stopped while queued, it is left PENDING to resume.
async fn finish_async(
    calls: Calls,
    queued: Queued,
    mut record: Record,
    cancellable: Cancellable,
    callback: Option<Uri>,
) {
    let function = queued.deployed.function.name.clone();
    let id = queued.id;
    let Some(end) = run(&calls, queued, &mut record, Some(&cancellable)).await else {
        return;
    };
    record.ended(&end, &calls.stopping).await;
    // Its end is recorded: a cancel asked for has its answer.
    drop(cancellable);
    if let Some(url) = callback {
        let delivery = Callback {
            url,
            call_id: id,
            function: function.clone(),
            status: answer::status(&end.how).as_u16(),
            duration_seconds: end.duration.as_secs_f64(),
            body: end.body(),
        };
        let message = calls.notifier.notify(delivery).await;
        calls
            .recorder
            .store
            .record_callback(id, &function, clock::now_ms(), message);
    }
}

/// Waits for a running slot, then runs the call, unless `cancel` (an
/// async call's) or its maximum age comes first. `None`: the gateway
/// began to stop while the call was queued.
async fn run(
    calls: &Calls,
    queued: Queued,
    record: &mut Record,
    cancel: Option<&Cancellable>,
) -> Option<End> {
    let Queued {
        deployed,
        id,
        kind,
        request,
        input,
        ticket,
        arrived,
        created,
    } = queued;
    let function = &deployed.function;
    let timeout = Duration::from_secs(function.timeout);
    let deadline = (kind == CallKind::Sync).then_some(arrived + timeout);
    let life = &deployed.life;
    let max_age = match kind {
        CallKind::Async => function.max_age().or(calls.bounds.max_call_age),
        CallKind::Sync => None,
    };
    let permit = tokio::select! {
        // What ends a call outright comes before its turn.
        biased;
        by = cancelled(cancel) => return Some(End::cancelled(&by, false)),
        end = expires(created, max_age) => return Some(end),
        () = life.removed.cancelled() => return Some(End::removed()),
        () = calls.stopping.cancelled() => return None,
        () = until(deadline) => {
            let message = format!("timed out after {}s waiting in the queue", function.timeout);
            return Some(End::without_run(How::QueueTimeout, message));
        }
        permit = ticket.wait() => permit,
    };
    let _running = life.running();
    // An async call's start is durable before it runs: a restart fails it
    // rather than run it twice.
    match record.started(clock::now_ms(), &calls.stopping).await {
        Ok(()) => {}
        // Still PENDING: it resumes at the next start.
        Err(NotWritten::Stopping) => return None,
        Err(NotWritten::Failed(e)) => {
            let message = format!("cannot record the call's start: {e}");
            return Some(End::without_run(How::Internal, message));
        }
    }
    let input = match input {
        Input::Ready(input) => input,
        Input::Stored => match calls.recorder.store.input(id).await {
            Ok(input) => input.unwrap_or_default(),
            Err(e) => {
                let message = format!("cannot read the call's input: {e}");
                return Some(End::without_run(How::Internal, message));
            }
        },
    };
    let max_payload_bytes = calls.bounds.max_payload_bytes as usize;
    let placed = crate::backend::Placement::default();
    let invocation = Invocation {
        id,
        request,
        input,
        timeout: deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now())),
        max_output_bytes: max_payload_bytes,
        placed: placed.clone(),
        reached: Default::default(),
    };
    let result = tokio::select! {
        // A call cancelled while its start was written never starts.
        biased;
        by = cancelled(cancel) => return Some(End::cancelled(&by, true)),
        () = life.killed.cancelled() => return Some(End::removed()),
        result = calls.runner.invoke(function, invocation) => result,
    };
    drop(permit);
    let mut end = match result {
        Ok(outcome) => End::ran(
            outcome,
            Limits {
                timeout,
                max_payload_bytes,
            },
        ),
        Err(e) => {
            let message = e.to_string();
            End::without_run(How::Backend(e), message)
        }
    };
    end.node = placed.get().cloned();
    Some(end)
}

/// A sync call the gateway stopped before it ran.
fn stopped() -> End {
    End::without_run(
        How::Stopped,
        "the gateway is shutting down; retry later".into(),
    )
}

/// Completes, with its end, when an async call accepted at `created`
/// (Unix milliseconds, perhaps before a restart) reaches `max_age`; never
/// without one.
async fn expires(created: i64, max_age: Option<Duration>) -> End {
    let Some(max_age) = max_age else {
        return std::future::pending().await;
    };
    let age = clock::now_ms().saturating_sub(created).max(0) as u64;
    tokio::time::sleep(max_age.saturating_sub(Duration::from_millis(age))).await;
    End::expired(max_age)
}

/// Completes once `cancel` is cancelled, with who cancelled it; never
/// without one.
async fn cancelled(cancel: Option<&Cancellable>) -> String {
    match cancel {
        Some(cancel) => cancel.cancelled().await,
        None => std::future::pending().await,
    }
}

/// Completes at `deadline`; never without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
