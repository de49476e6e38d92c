//! Cancelling async calls (`DELETE /system/calls/<id>`, OpenFaaS's
//! `DELETE /async-function/<call-id>`): each async call's task holds a
//! [`Cancellable`] from its acceptance to its recorded end; [`cancel`]
//! trips it, saying who asked. A queued call then leaves the queue without
//! running; a running one has its run dropped, which kills its process or
//! container as its timeout does. Either way its end, CANCELLED with who
//! cancelled it, is committed before [`cancel`] answers, so a restart
//! never runs it again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tokio_util::sync::CancellationToken;

use super::Calls;
use crate::call::{name, CallInfo, Status};
use crate::call_id::CallId;
use crate::error::Error;

/// The async calls in flight here, by id.
#[derive(Default)]
pub struct Cancels {
    calls: Mutex<HashMap<CallId, Entry>>,
}

struct Entry {
    /// Tripped by [`Cancels::ask`]; `by` is set first.
    cancel: CancellationToken,
    by: Arc<OnceLock<String>>,
    /// Tripped when the call's task let go of it: its end is recorded.
    done: CancellationToken,
}

impl Cancels {
    /// Makes call `id` cancellable until the returned handle drops.
    pub fn register(self: &Arc<Self>, id: CallId) -> Cancellable {
        let entry = Entry {
            cancel: CancellationToken::new(),
            by: Arc::default(),
            done: CancellationToken::new(),
        };
        let held = Cancellable {
            cancels: self.clone(),
            id,
            cancel: entry.cancel.clone(),
            by: entry.by.clone(),
        };
        self.lock().insert(id, entry);
        held
    }

    /// Asks call `id` to stop, on behalf of `by` (the first to ask is the
    /// one named); `None` when it is not in flight here.
    fn ask(&self, id: CallId, by: &str) -> Option<CancellationToken> {
        let calls = self.lock();
        let entry = calls.get(&id)?;
        let _ = entry.by.set(by.to_string());
        entry.cancel.cancel();
        Some(entry.done.clone())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<CallId, Entry>> {
        // A panic while holding the lock leaves a map that is still usable.
        self.calls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// An async call's hold on its cancellation, from its acceptance to its
/// recorded end.
pub struct Cancellable {
    cancels: Arc<Cancels>,
    id: CallId,
    cancel: CancellationToken,
    by: Arc<OnceLock<String>>,
}

impl Cancellable {
    /// Completes once the call is cancelled, with who cancelled it.
    pub async fn cancelled(&self) -> String {
        self.cancel.cancelled().await;
        self.by.get().cloned().unwrap_or_default()
    }
}

impl Drop for Cancellable {
    fn drop(&mut self) {
        if let Some(entry) = self.cancels.lock().remove(&self.id) {
            entry.done.cancel();
        }
    }
}

/// Cancels call `id` on behalf of `by` (who, from where) and answers its
/// record once its end, CANCELLED, is committed: 404 unknown, 409 ended
/// already or synchronous.
pub async fn cancel(calls: &Calls, id: CallId, by: &str) -> Result<CallInfo, Error> {
    let store = &calls.recorder.store;
    let read = || async {
        let info = store.call(id).await?;
        info.ok_or_else(|| Error::NoSuchCall(id.to_string()))
    };
    let info = read().await?;
    if !info.r#async {
        return Err(Error::NotCancellable(format!(
            "call {id} is synchronous: it ends with its caller's request, so close that to stop it"
        )));
    }
    if info.status.is_end() {
        return Err(ended(id, info.status));
    }
    if let Some(done) = calls.cancels.ask(id, by) {
        tokio::select! {
            () = done.cancelled() => {}
            () = calls.stopping.cancelled() => return Err(Error::ShuttingDown),
        }
    }
    let info = read().await?;
    match info.status {
        Status::Cancelled => Ok(info),
        // Left PENDING by a stop, or its end could not be written.
        Status::Pending | Status::Running if calls.stopping.is_cancelled() => {
            Err(Error::ShuttingDown)
        }
        Status::Pending | Status::Running => Err(Error::NotCancellable(format!(
            "call {id} is {} but not in flight here: its end could not be recorded, and the gateway's next start ends it",
            name(&info.status)
        ))),
        // It ended by itself first.
        status => Err(ended(id, status)),
    }
}

fn ended(id: CallId, status: Status) -> Error {
    Error::NotCancellable(format!(
        "call {id} has already ended ({}): only a queued or running async call can be cancelled",
        name(&status)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_is_cancellable_until_its_task_lets_go() {
        let cancels = Arc::new(Cancels::default());
        let id = CallId::new();
        assert!(cancels.ask(id, "nobody").is_none(), "unknown");
        let held = cancels.register(id);
        let done = cancels.ask(id, "first").expect("in flight");
        let _ = cancels.ask(id, "second").expect("still in flight");
        assert_eq!(held.cancelled().await, "first");
        drop(held);
        done.cancelled().await;
        assert!(cancels.ask(id, "late").is_none(), "ended");
    }
}
