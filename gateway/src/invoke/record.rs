//! The record step: where a call's progress is written, by its kind. An
//! async call's every step is committed as it happens (acceptance waits for
//! it, a restart resumes it); a sync call lives in memory and is written
//! once, at its end. A call id already taken, in flight or stored, is
//! refused (409) before anything is recorded. A sync call whose caller hung up (its handler dropped
//! before the end) is recorded as failed, so it never stays in flight.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::call::{CallKind, End, How, SHORT};
use crate::call_id::CallId;
use crate::clock;
use crate::metrics::Metrics;
use crate::registry::Deployed;
use crate::samples::Samples;
use crate::store::{Ended, NewCall, Store, StoreError, SyncCall, PROBE};

use super::Call;

/// Why a step of an async call was not committed.
#[derive(Debug, thiserror::Error)]
pub(super) enum NotWritten {
    #[error("the gateway is stopping")]
    Stopping,
    #[error(transparent)]
    Failed(StoreError),
}

/// Where calls are recorded and counted: the store, the metrics and the
/// portal's samples.
#[derive(Clone)]
pub struct Recorder {
    pub store: Arc<dyn Store>,
    pub metrics: Metrics,
    pub samples: Arc<Samples>,
}

/// A call's record as the call goes.
pub(super) struct Record {
    recorder: Recorder,
    id: CallId,
    function: String,
    /// Decides where each step is written.
    kind: CallKind,
    /// A sync call in flight, until its end is written.
    unwritten: Option<Box<dyn SyncCall>>,
}

impl Record {
    /// Records a new call accepted at `created` (Unix milliseconds): an
    /// async call is committed when this returns. An id already taken (in
    /// flight or stored) is a conflict, before anything is recorded or run.
    pub async fn open(
        recorder: &Recorder,
        deployed: &Deployed,
        call: &Call,
        created: i64,
    ) -> Result<Record, StoreError> {
        let store = &recorder.store;
        // Only a caller's own id can be taken: a new one is unique.
        if call.caller_id && store.in_flight(call.id) {
            return Err(StoreError::Conflict(call.id));
        }
        let function = deployed.function.name.clone();
        recorder
            .metrics
            .invocation_started
            .with_label_values(&[&function])
            .inc();
        let is_async = call.kind == CallKind::Async;
        let new_call = NewCall {
            id: call.id,
            function: function.clone(),
            kind: call.kind,
            created,
            // A sync call keeps only the start of its input (for its CALL
            // event) and not its request: it never resumes.
            input: if is_async {
                call.input.clone()
            } else {
                Bytes::copy_from_slice(&call.input[..call.input.len().min(SHORT)])
            },
            request: is_async.then(|| call.request.encode()),
            callback: call.callback.as_ref().map(|u| u.to_string()),
        };
        let mut record = Record {
            recorder: recorder.clone(),
            id: call.id,
            function,
            kind: call.kind,
            unwritten: None,
        };
        match call.kind {
            CallKind::Async => store.accept(new_call).await?,
            CallKind::Sync => {
                let tracked = store.begin_sync(new_call, call.caller_id).await?;
                record.unwritten = Some(tracked);
            }
        }
        Ok(record)
    }

    /// The record of an async call a previous run accepted.
    pub fn resumed(recorder: &Recorder, id: CallId, function: &str) -> Record {
        Record {
            recorder: recorder.clone(),
            id,
            function: function.to_string(),
            kind: CallKind::Async,
            unwritten: None,
        }
    }

    /// The call is about to run. An async call's start is committed first,
    /// retried while the data directory takes no writes.
    pub async fn started(
        &mut self,
        at: i64,
        stopping: &CancellationToken,
    ) -> Result<(), NotWritten> {
        if let Some(tracked) = &mut self.unwritten {
            tracked.started(at);
            return Ok(());
        }
        let store = &self.recorder.store;
        let write = || store.start(self.id, &self.function, at);
        self.persist(write, stopping).await
    }

    /// Makes the write `write` makes, again every [`PROBE`] while the store
    /// cannot take it for now.
    async fn persist<F, W>(&self, write: W, stopping: &CancellationToken) -> Result<(), NotWritten>
    where
        W: Fn() -> F,
        F: Future<Output = Result<(), StoreError>>,
    {
        loop {
            match write().await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_transient() => {
                    tracing::warn!("waiting for the store: {e}");
                }
                Err(e) => return Err(NotWritten::Failed(e)),
            }
            tokio::select! {
                () = tokio::time::sleep(PROBE) => {}
                () = stopping.cancelled() => return Err(NotWritten::Stopping),
            }
        }
    }

    /// The call ended: counts it and records its end (an async call's is
    /// committed when this returns, unless `stopping` comes first).
    pub async fn ended(&mut self, end: &End, stopping: &CancellationToken) {
        let metrics = &self.recorder.metrics;
        let code = super::answer::status(&end.how);
        metrics
            .invocation_total
            .with_label_values(&[self.function.as_str(), code.as_str()])
            .inc();
        self.recorder
            .samples
            .observe(&self.function, code.as_u16(), end.seconds());
        if let Some(seconds) = end.seconds() {
            metrics
                .functions_seconds
                .with_label_values(&[&self.function])
                .observe(seconds);
        }
        let ended = self.end(end);
        if self.kind == CallKind::Async {
            // Retried as a write, never as a run. Should the gateway stop
            // first, the call stays RUNNING and the next start fails it.
            let store = &self.recorder.store;
            let write = || store.finish(ended.clone());
            if let Err(e) = self.persist(write, stopping).await {
                tracing::error!("the end of the call was not recorded: {e}");
            }
            return;
        }
        self.write_sync(ended);
    }

    /// Records the end of a call that will not run, without counting it.
    pub fn forget(self, end: &End) {
        let ended = self.end(end);
        self.recorder.store.record_end(ended);
    }

    fn end(&self, end: &End) -> Ended {
        Ended {
            id: self.id,
            function: self.function.clone(),
            at: clock::now_ms(),
            end: end.clone(),
            kept: self.kind == CallKind::Async,
        }
    }

    fn write_sync(&mut self, end: Ended) {
        if let Some(tracked) = self.unwritten.take() {
            tracked.end(end);
        }
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        if self.unwritten.is_some() {
            let message = "the caller hung up before the call ended".to_string();
            let end = End::without_run(How::HungUp, message);
            let ended = self.end(&end);
            self.write_sync(ended);
        }
    }
}
