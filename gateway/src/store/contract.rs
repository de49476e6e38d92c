//! The contract every [`Store`] implementation passes: each operation of
//! the interface, a restart (a second open of the same place) and the
//! bounded disk. An implementation's tests run it with [`suite!`], given
//! how to open its store in a directory:
//!
//! ```ignore
//! async fn open(dir: PathBuf, caps: Caps) -> Result<(Sqlite, Recovered), StoreError> { … }
//! crate::store::contract::suite!(open);
//! ```

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use watchdog::{Exit, Outcome};

use super::{Caps, Ended, EventQuery, NewCall, Recovered, Store, StoreError};
use crate::call::{CallKind, End, EventKind, How, Limits, Status};
use crate::call_id::CallId;
use crate::function::{Deployment, Function};

type Opened = Result<(Arc<dyn Store>, Recovered), StoreError>;
type OpenFn = dyn Fn(PathBuf, Caps) -> Pin<Box<dyn Future<Output = Opened> + Send>> + Send + Sync;

/// A directory of its own for a store, removed afterwards; each
/// [`Place::open`] after the first is a restart.
pub struct Place {
    dir: PathBuf,
    open: Box<OpenFn>,
}

impl Place {
    pub fn new<S, F, Fut>(open: F) -> Place
    where
        S: Store,
        F: Fn(PathBuf, Caps) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(S, Recovered), StoreError>> + Send + 'static,
    {
        let dir = std::env::temp_dir().join(format!("faas-store-{}", CallId::new()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let open = move |dir: PathBuf, caps: Caps| {
            let opening = open(dir, caps);
            Box::pin(async move {
                let (store, recovered) = opening.await?;
                Ok((Arc::new(store) as Arc<dyn Store>, recovered))
            }) as Pin<Box<dyn Future<Output = Opened> + Send>>
        };
        Place {
            dir,
            open: Box::new(open),
        }
    }

    async fn open_with(&self, caps: Caps) -> (Arc<dyn Store>, Recovered) {
        (self.open)(self.dir.clone(), caps)
            .await
            .expect("the store opens")
    }

    async fn open(&self) -> Arc<dyn Store> {
        self.open_with(ROOMY).await.0
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Caps no test reaches.
pub const ROOMY: Caps = Caps {
    output_bytes: 1 << 30,
    log_bytes: 1 << 30,
    database_bytes: 1 << 40,
};

const F: &str = "echo";

/// A function of the one image, as a deployment naming only these.
pub fn function(name: &str, image: &str) -> Function {
    let deployment = Deployment {
        service: Some(name.into()),
        image: Some(image.into()),
        ..Deployment::default()
    };
    Function::create(deployment, 1_000).expect("a function")
}

fn new_call(kind: CallKind, created: i64, input: &'static [u8]) -> NewCall {
    NewCall {
        id: CallId::new(),
        input: Bytes::from_static(input),
        request: (kind == CallKind::Async).then(|| "the request".to_string()),
        function: F.into(),
        kind,
        created,
        callback: None,
    }
}

fn ran(code: i32, stdout: Vec<u8>, stderr: &'static [u8]) -> End {
    let outcome = Outcome {
        exit: Exit::Code(code),
        stdout: Bytes::from(stdout),
        stderr: Bytes::from_static(stderr),
        duration: Duration::from_millis(250),
    };
    let limits = Limits {
        timeout: Duration::from_secs(5),
        max_payload_bytes: 1 << 20,
    };
    End::ran(outcome, limits)
}

fn ended(call: &NewCall, at: i64, end: End) -> Ended {
    Ended {
        id: call.id,
        function: call.function.clone(),
        at,
        end,
        kept: call.kind == CallKind::Async,
    }
}

async fn kinds(store: &dyn Store, call: Option<CallId>) -> Vec<EventKind> {
    let query = EventQuery {
        function: F.into(),
        call,
        ..EventQuery::default()
    };
    let events = store.events(query).await.expect("events");
    events.iter().map(|e| e.event).collect()
}

async fn status(store: &dyn Store, id: CallId) -> Option<Status> {
    store.call(id).await.expect("read").map(|info| info.status)
}

fn is_conflict(result: Result<impl Sized, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict(_)))
}

/// Functions are kept by name, replaced, removed with their calls, and
/// still there after a restart.
pub async fn functions_are_kept_replaced_and_removed(place: Place) {
    let store = place.open().await;
    assert!(store.functions().await.expect("list").is_empty());
    let (a, b) = (function("a", "one"), function("b", "two"));
    store.put_function(&b).await.expect("put");
    store.put_function(&a).await.expect("put");
    assert_eq!(
        store.functions().await.expect("list"),
        [a.clone(), b.clone()]
    );
    let a2 = function("a", "three");
    store.put_function(&a2).await.expect("replace");
    assert_eq!(
        store.functions().await.expect("list"),
        [a2.clone(), b.clone()]
    );
    let mut call = new_call(CallKind::Async, 1_000, b"in");
    call.function = "b".into();
    let id = call.id;
    store.accept(call).await.expect("accept");
    store.remove_function("b").await.expect("remove");
    assert_eq!(
        store.functions().await.expect("list"),
        std::slice::from_ref(&a2)
    );
    assert_eq!(status(&*store, id).await, None, "its calls go with it");
    drop(store);
    let store = place.open().await;
    assert_eq!(store.functions().await.expect("list"), [a2]);
}

/// An async call's acceptance, start and end are each stored when their
/// call returns; its input is kept until it ends, its output after.
pub async fn an_async_call_is_stored_at_each_step(place: Place) {
    let store = place.open().await;
    assert!(store.writable().is_ok());
    let call = new_call(CallKind::Async, 1_000, b"hello");
    let id = call.id;
    store.accept(call.clone()).await.expect("accept");
    let info = store.call(id).await.expect("read").expect("stored");
    assert_eq!(
        (info.call_id, info.status, info.r#async),
        (id, Status::Pending, true)
    );
    assert_eq!(info.function, F);
    assert_eq!(
        store.input(id).await.expect("input"),
        Some(call.input.clone())
    );
    assert!(
        is_conflict(store.accept(call.clone()).await),
        "an id is taken once"
    );
    assert!(
        is_conflict(store.begin_sync(new_call_with(id), true).await),
        "a stored id is taken, for a sync call too"
    );
    store.start(id, F, 2_000).await.expect("start");
    assert_eq!(status(&*store, id).await, Some(Status::Running));
    store
        .finish(ended(&call, 3_000, ran(0, b"out".to_vec(), b"")))
        .await
        .expect("finish");
    let output = store.output(id).await.expect("read").expect("stored");
    assert_eq!(output.info.status, Status::Finished);
    assert_eq!(
        (output.info.exit_code, output.info.duration_seconds),
        (Some(0), Some(0.25))
    );
    assert_eq!(
        output.info.finished.as_deref(),
        Some("1970-01-01T00:00:03.000Z")
    );
    assert_eq!(
        (output.data, output.rotated),
        (Some(Bytes::from_static(b"out")), false)
    );
    assert_eq!(
        store.input(id).await.expect("input"),
        None,
        "dropped at its end"
    );
    use EventKind::*;
    assert_eq!(
        kinds(&*store, Some(id)).await,
        [Call, Pending, Running, Finished]
    );
    let counts = store.counts(F).await.expect("counts");
    assert_eq!((counts.total, counts.finished), (1, 1));
}

fn new_call_with(id: CallId) -> NewCall {
    NewCall {
        id,
        ..new_call(CallKind::Sync, 1_000, b"")
    }
}

/// A sync call is seen in flight (PENDING, then RUNNING) by every read, and
/// written once, with all its events, when it ends.
pub async fn a_sync_call_is_in_flight_until_its_end(place: Place) {
    let store = place.open().await;
    let call = new_call(CallKind::Sync, 1_000, b"ping");
    let id = call.id;
    let mut tracked = store.begin_sync(call.clone(), true).await.expect("begin");
    assert!(store.in_flight(id));
    assert!(
        is_conflict(store.begin_sync(call.clone(), false).await),
        "in flight"
    );
    let info = store.call(id).await.expect("read").expect("in flight");
    assert_eq!((info.status, info.r#async), (Status::Pending, false));
    tracked.started(2_000);
    assert_eq!(status(&*store, id).await, Some(Status::Running));
    let counts = store.counts(F).await.expect("counts");
    assert_eq!((counts.total, counts.running), (1, 1));
    assert_eq!(
        store.invocation_counts().await.expect("counts").get(F),
        Some(&1)
    );
    let recent = store.recent_calls(F, 10).await.expect("recent");
    assert_eq!(recent.iter().map(|c| c.call_id).collect::<Vec<_>>(), [id]);
    assert!(store
        .output(id)
        .await
        .expect("read")
        .is_some_and(|o| o.data.is_none()));
    tracked.end(ended(&call, 3_000, ran(1, b"out".to_vec(), b"one\ntwo\n")));
    store.flush().await.expect("flush");
    assert!(!store.in_flight(id));
    let output = store.output(id).await.expect("read").expect("stored");
    assert_eq!(
        (output.info.status, output.info.exit_code),
        (Status::Failed, Some(1))
    );
    assert_eq!(
        (output.data, output.rotated),
        (None, false),
        "a sync output is not kept"
    );
    use EventKind::*;
    assert_eq!(
        kinds(&*store, Some(id)).await,
        [Call, Pending, Running, Stderr, Stderr, Failed]
    );
    let counts = store.counts(F).await.expect("counts");
    assert_eq!((counts.total, counts.failed), (1, 1), "counted once");
    assert_eq!(
        store.invocation_counts().await.expect("counts").get(F),
        Some(&1)
    );
    assert!(is_conflict(store.begin_sync(call, true).await), "stored");
}

/// A sync call dropped before its end leaves nothing, and its id is free.
pub async fn a_sync_call_dropped_is_forgotten(place: Place) {
    let store = place.open().await;
    let call = new_call(CallKind::Sync, 1_000, b"");
    let id = call.id;
    let mut tracked = store.begin_sync(call.clone(), true).await.expect("begin");
    tracked.started(2_000);
    drop(tracked);
    store.flush().await.expect("flush");
    assert!(!store.in_flight(id));
    assert_eq!(status(&*store, id).await, None);
    assert_eq!(store.counts(F).await.expect("counts").total, 0);
    assert!(kinds(&*store, None).await.is_empty());
    let again = store.begin_sync(call, true).await;
    assert!(again.is_ok(), "the id is free again");
}

/// The end of a call that never ran, and how its callback went, are
/// recorded without being waited for.
pub async fn ends_and_callbacks_are_recorded(place: Place) {
    let store = place.open().await;
    let call = new_call(CallKind::Async, 1_000, b"");
    let id = call.id;
    store.accept(call.clone()).await.expect("accept");
    store.record_end(ended(&call, 2_000, End::removed()));
    store.record_callback(id, F, 3_000, "delivered: 200".into());
    store.flush().await.expect("flush");
    let info = store.call(id).await.expect("read").expect("stored");
    assert_eq!(info.status, Status::Failed);
    assert_eq!(info.message.as_deref(), Some("the function was removed"));
    assert_eq!(How::recorded(&info).kind(), "removed");
    let query = EventQuery {
        function: F.into(),
        call: Some(id),
        ..EventQuery::default()
    };
    let events = store.events(query).await.expect("events");
    let last = events.last().expect("events");
    assert_eq!(
        (last.event, last.message.as_str()),
        (EventKind::Callback, "delivered: 200")
    );
}

/// A call cancelled (queued or running) or expired ends in a status of
/// its own, with an event of its own, counted apart, and stays ended
/// across a restart: neither resumed nor failed.
pub async fn cancelled_and_expired_calls_end_in_their_own_status(place: Place) {
    let store = place.open().await;
    let (queued, running, old) = (
        new_call(CallKind::Async, 1_000, b"q"),
        new_call(CallKind::Async, 1_000, b"r"),
        new_call(CallKind::Async, 1_000, b"o"),
    );
    for call in [&queued, &running, &old] {
        store.accept(call.clone()).await.expect("accept");
    }
    store.start(running.id, F, 2_000).await.expect("start");
    let cancelled = End::without_run(How::Cancelled, "the call was cancelled".into());
    let expired = End::without_run(How::Expired, "the call was too old".into());
    for (call, end) in [
        (&queued, cancelled.clone()),
        (&running, cancelled),
        (&old, expired),
    ] {
        store.finish(ended(call, 3_000, end)).await.expect("finish");
        assert_eq!(store.input(call.id).await.expect("input"), None);
    }
    use EventKind::*;
    let ends = [
        (queued.id, Status::Cancelled, vec![Call, Pending, Cancelled]),
        (
            running.id,
            Status::Cancelled,
            vec![Call, Pending, Running, Cancelled],
        ),
        (old.id, Status::Expired, vec![Call, Pending, Expired]),
    ];
    for (id, wanted, events) in &ends {
        let info = store.call(*id).await.expect("read").expect("stored");
        assert_eq!(info.status, *wanted);
        assert!(info.status.is_end());
        assert_eq!(&kinds(&*store, Some(*id)).await, events);
    }
    let counts = store.counts(F).await.expect("counts");
    assert_eq!((counts.total, counts.cancelled, counts.expired), (3, 2, 1));
    drop(store);
    let (store, recovered) = place.open_with(ROOMY).await;
    assert_eq!((recovered.failed, recovered.queued.len()), (0, 0));
    for (id, wanted, _) in &ends {
        assert_eq!(status(&*store, *id).await, Some(*wanted));
    }
}

/// Events are read by call, time and tail, oldest first, and published to
/// subscribers as they are stored.
pub async fn events_are_read_and_published(place: Place) {
    let store = place.open().await;
    let mut live = store.subscribe();
    let (first, second) = (
        new_call(CallKind::Async, 1_000, b"first"),
        new_call(CallKind::Async, 5_000, b"second"),
    );
    store.accept(first.clone()).await.expect("accept");
    store.accept(second.clone()).await.expect("accept");
    let all = store
        .events(EventQuery {
            function: F.into(),
            ..EventQuery::default()
        })
        .await
        .expect("events");
    let seen: Vec<_> = all.iter().map(|e| (e.call_id, e.event)).collect();
    use EventKind::*;
    assert_eq!(
        seen,
        [
            (first.id, Call),
            (first.id, Pending),
            (second.id, Call),
            (second.id, Pending)
        ]
    );
    assert_eq!((all[0].short_stdin.as_str(), all[0].time), ("first", 1_000));
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "in their order");
    let since = EventQuery {
        function: F.into(),
        since: Some(5_000),
        ..EventQuery::default()
    };
    assert_eq!(store.events(since).await.expect("events").len(), 2);
    let tail = EventQuery {
        function: F.into(),
        tail: Some(1),
        ..EventQuery::default()
    };
    let tail = store.events(tail).await.expect("events");
    assert_eq!(
        tail.iter()
            .map(|e| (e.call_id, e.event))
            .collect::<Vec<_>>(),
        [(second.id, Pending)]
    );
    let other = EventQuery {
        function: "other".into(),
        ..EventQuery::default()
    };
    assert!(store.events(other).await.expect("events").is_empty());
    for expected in &seen {
        let event = tokio::time::timeout(Duration::from_secs(10), live.recv())
            .await
            .expect("published")
            .expect("an event");
        assert_eq!((event.call_id, event.event), *expected);
        assert_eq!(event.function, F);
    }
}

/// A function's recent calls, stored and in flight, newest first.
pub async fn recent_calls_are_newest_first(place: Place) {
    let store = place.open().await;
    let mut ids = Vec::new();
    for created in [1_000, 2_000, 3_000] {
        let call = new_call(CallKind::Async, created, b"");
        ids.push(call.id);
        store.accept(call).await.expect("accept");
    }
    let syncing = new_call(CallKind::Sync, 4_000, b"");
    ids.push(syncing.id);
    let _tracked = store.begin_sync(syncing, false).await.expect("begin");
    let recent = store.recent_calls(F, 2).await.expect("recent");
    assert_eq!(
        recent.iter().map(|c| c.call_id).collect::<Vec<_>>(),
        [ids[3], ids[2]]
    );
    let all = store.recent_calls(F, 10).await.expect("recent");
    ids.reverse();
    assert_eq!(all.iter().map(|c| c.call_id).collect::<Vec<_>>(), ids);
    assert!(store
        .recent_calls("other", 10)
        .await
        .expect("recent")
        .is_empty());
    let counts = store.counts(F).await.expect("counts");
    assert_eq!((counts.total, counts.pending), (4, 4));
}

/// After a restart, calls that were running fail, and queued async calls
/// come back in their order with their request and callback.
pub async fn a_restart_fails_running_calls_and_resumes_queued_ones(place: Place) {
    let store = place.open().await;
    let (a, mut b, c) = (
        new_call(CallKind::Async, 1_000, b"a"),
        new_call(CallKind::Async, 2_000, b"b"),
        new_call(CallKind::Async, 3_000, b"c"),
    );
    b.callback = Some("http://example.com/done".into());
    for call in [&a, &b, &c] {
        store.accept(call.clone()).await.expect("accept");
    }
    store.start(c.id, F, 4_000).await.expect("start");
    let syncing = new_call(CallKind::Sync, 5_000, b"");
    let _tracked = store
        .begin_sync(syncing.clone(), false)
        .await
        .expect("begin");
    drop(store);
    let (store, recovered) = place.open_with(ROOMY).await;
    assert_eq!(recovered.failed, 1);
    let queued: Vec<_> = recovered
        .queued
        .iter()
        .map(|r| {
            (
                r.id,
                r.function.as_str(),
                r.created,
                r.request.as_deref(),
                r.callback.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        queued,
        [
            (a.id, F, 1_000, Some("the request"), None),
            (
                b.id,
                F,
                2_000,
                Some("the request"),
                Some("http://example.com/done")
            ),
        ]
    );
    assert_eq!(
        store.input(b.id).await.expect("input"),
        Some(b.input.clone())
    );
    let info = store.call(c.id).await.expect("read").expect("stored");
    assert_eq!(info.status, Status::Failed);
    assert!(info.message.is_some_and(|m| m.contains("restarted")));
    assert_eq!(
        kinds(&*store, Some(c.id)).await.last(),
        Some(&EventKind::Failed)
    );
    assert_eq!(
        status(&*store, syncing.id).await,
        None,
        "a sync call in flight leaves nothing"
    );
    drop(store);
    let (_, again) = place.open_with(ROOMY).await;
    assert_eq!((again.failed, again.queued.len()), (0, 2), "recovered once");
}

/// `count` async calls that finished with outputs of `bytes`, oldest first.
async fn finished_calls(store: &dyn Store, count: i64, bytes: usize) -> Vec<CallId> {
    let mut calls = Vec::new();
    for created in 0..count {
        let call = new_call(CallKind::Async, 1_000 + created, b"");
        store.accept(call.clone()).await.expect("accept");
        let end = ran(0, vec![b'x'; bytes], b"");
        store
            .finish(ended(&call, 2_000, end))
            .await
            .expect("finish");
        calls.push(call.id);
    }
    calls
}

/// Over a function's output cache, its oldest outputs go and their calls
/// say so.
pub async fn outputs_over_their_cache_rotate_out(place: Place) {
    let caps = Caps {
        output_bytes: 100,
        ..ROOMY
    };
    let (store, _) = place.open_with(caps).await;
    let mut calls = Vec::new();
    for created in 0..3 {
        let call = new_call(CallKind::Async, 1_000 + created, b"");
        store.accept(call.clone()).await.expect("accept");
        store
            .finish(ended(&call, 2_000, ran(0, vec![b'x'; 60], b"")))
            .await
            .expect("finish");
        calls.push(call);
    }
    let oldest = store
        .output(calls[0].id)
        .await
        .expect("read")
        .expect("record kept");
    assert_eq!((oldest.data, oldest.rotated), (None, true));
    let newest = store
        .output(calls[2].id)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(
        (newest.data.map(|d| d.len()), newest.rotated),
        (Some(60), false)
    );
}

/// Over a function's log cache, its oldest ended calls go whole; calls
/// not ended stay, whatever their age.
pub async fn a_log_over_its_cache_drops_the_oldest_ended_calls(place: Place) {
    let caps = Caps {
        log_bytes: 4_000,
        ..ROOMY
    };
    let (store, _) = place.open_with(caps).await;
    let waiting = new_call(CallKind::Async, 500, b"");
    store.accept(waiting.clone()).await.expect("accept");
    let mut calls = Vec::new();
    for created in 0..40 {
        let call = new_call(CallKind::Sync, 1_000 + created, b"input");
        let tracked = store.begin_sync(call.clone(), false).await.expect("begin");
        tracked.end(ended(&call, 2_000, ran(0, b"out".to_vec(), b"a line\n")));
        calls.push(call.id);
    }
    store.flush().await.expect("flush");
    assert_eq!(status(&*store, calls[0]).await, None, "the oldest went");
    assert!(
        kinds(&*store, Some(calls[0])).await.is_empty(),
        "with its events"
    );
    assert_eq!(status(&*store, calls[39]).await, Some(Status::Finished));
    assert_eq!(status(&*store, waiting.id).await, Some(Status::Pending));
    let total = store.counts(F).await.expect("counts").total;
    assert!(total < 41, "{total} calls kept");
}

/// Over the whole store's cap, the oldest ended calls of every function go.
pub async fn the_store_over_its_cap_drops_the_oldest_ended_calls(place: Place) {
    let caps = Caps {
        database_bytes: 512 * 1024,
        ..ROOMY
    };
    let (store, _) = place.open_with(caps).await;
    let calls = finished_calls(&*store, 64, 32 * 1024).await;
    store.flush().await.expect("flush");
    assert_eq!(status(&*store, calls[0]).await, None, "the oldest went");
    let newest = store.output(calls[63]).await.expect("read").expect("kept");
    assert_eq!(newest.data.map(|d| d.len()), Some(32 * 1024));
    drop(store);
    let (store, _) = place.open_with(caps).await;
    assert_eq!(status(&*store, calls[0]).await, None, "and stays gone");
}

/// Every test of the contract, as `#[tokio::test]`s opening the store with
/// `$open` (an `async fn(PathBuf, Caps) -> Result<(S, Recovered), StoreError>`).
macro_rules! suite {
    ($open:path) => {
        $crate::store::contract::suite!(@each $open;
            functions_are_kept_replaced_and_removed,
            an_async_call_is_stored_at_each_step,
            a_sync_call_is_in_flight_until_its_end,
            a_sync_call_dropped_is_forgotten,
            ends_and_callbacks_are_recorded,
            cancelled_and_expired_calls_end_in_their_own_status,
            events_are_read_and_published,
            recent_calls_are_newest_first,
            a_restart_fails_running_calls_and_resumes_queued_ones,
            outputs_over_their_cache_rotate_out,
            a_log_over_its_cache_drops_the_oldest_ended_calls,
            the_store_over_its_cap_drops_the_oldest_ended_calls,
        );
    };
    (@each $open:path; $($test:ident,)*) => {
        $(
            #[tokio::test]
            async fn $test() {
                let place = $crate::store::contract::Place::new($open);
                $crate::store::contract::$test(place).await;
            }
        )*
    };
}
pub(crate) use suite;
