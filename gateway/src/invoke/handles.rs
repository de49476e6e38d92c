//! What the invoke pipeline holds, and nothing else: [`Calls`]. Each part
//! is a handle on something the gateway shares (the store, the queue, the
//! backend behind [`Invoker`], the notifier, the task tracker and the stop
//! token), so a test can make one from a temporary store and a runner of
//! its own.

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::cancel::Cancels;
use super::record::Recorder;
use crate::backend::front::Backend;
use crate::backend::{BackendError, Invocation, Outcome};
use crate::callback::Notifier;
use crate::function::Function;
use crate::scheduler::Scheduler;

/// The pipeline's handles; cheap to clone (each async call's task holds
/// one).
#[derive(Clone)]
pub struct Calls {
    /// Where each call's steps are written and counted.
    pub recorder: Recorder,
    /// The FIFO queue under the quota and each function's maxConcurrency.
    pub scheduler: Arc<Scheduler>,
    /// What runs a call once it has a slot.
    pub runner: Arc<dyn Invoker>,
    /// Delivers `X-Callback-Url` results.
    pub notifier: Arc<dyn Notifier>,
    /// Async calls' tasks: a graceful stop waits for them.
    pub tasks: TaskTracker,
    /// Cancelled when the gateway begins to stop: queued calls stop
    /// waiting (async ones stay PENDING, to resume).
    pub stopping: CancellationToken,
    /// The async calls in flight, to cancel by id.
    pub cancels: Arc<Cancels>,
    pub bounds: Bounds,
}

/// The limits the pipeline names.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Calls one function may have waiting (the scheduler's bound, named
    /// in the 429).
    pub max_queue: usize,
    /// The largest input and output of a call.
    pub max_payload_bytes: u64,
    /// The oldest a queued async call may be when its turn comes, for
    /// functions that set no `maxAge` of their own; `None`: any age.
    pub max_call_age: Option<std::time::Duration>,
}

/// Runs one call of a function to its outcome, under the invocation's
/// timeout.
#[async_trait]
pub trait Invoker: Send + Sync {
    async fn invoke(&self, function: &Function, call: Invocation) -> Result<Outcome, BackendError>;
}

#[async_trait]
impl Invoker for Backend {
    async fn invoke(&self, function: &Function, call: Invocation) -> Result<Outcome, BackendError> {
        Backend::invoke(self, function, call).await
    }
}
