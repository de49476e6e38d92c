//! What the gateway keeps, behind one interface: the functions, every
//! call's record and events, async calls' inputs and kept outputs, each
//! bounded by its cache ([`Caps`]). [`Store`] is the contract; [`Sqlite`]
//! fills it with one database file in the data directory, and a distributed
//! implementation fills the same trait. [`contract`] is the test suite any
//! implementation must pass.
//!
//! An async call's every step is durable when its method returns. A sync
//! call is held by the [`SyncCall`] guard [`Store::begin_sync`] returns,
//! and written once, at its end; dropped without an end, it is forgotten.

#[cfg(test)]
pub mod contract;
mod sqlite;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::broadcast;

use crate::call::{CallInfo, CallKind, Counts, End, Event};
use crate::call_id::CallId;
use crate::function::Function;

pub use sqlite::Sqlite;

/// How often to retry a write while the store takes none (disk full).
pub const PROBE: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(String),
    #[error("call id {0} is already used; send a new X-Call-Id")]
    Conflict(CallId),
    #[error("the store is overloaded; retry later")]
    Busy,
    #[error("the store has stopped")]
    Stopped,
    /// The data directory takes no writes: the disk is full or read-only.
    #[error("the gateway's data directory takes no writes (disk full or read-only: {0}); nothing was accepted, retry later")]
    Unwritable(String),
}

impl StoreError {
    /// Whether the same write may succeed later, unchanged.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Busy | StoreError::Unwritable(_))
    }
}

/// Byte budgets before the oldest records rotate out.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// A function's kept outputs: over it, the oldest outputs go and their
    /// calls answer that the output was rotated out.
    pub output_bytes: u64,
    /// A function's events and call records: over it, its oldest ended
    /// calls go whole.
    pub log_bytes: u64,
    /// Everything: over it, the oldest ended calls of every function go.
    pub database_bytes: u64,
}

/// A call as accepted.
#[derive(Debug, Clone)]
pub struct NewCall {
    pub id: CallId,
    pub function: String,
    pub kind: CallKind,
    /// Unix milliseconds.
    pub created: i64,
    /// Its STDIN (an async call's whole; a sync call's start, for its event).
    pub input: Bytes,
    /// An async call's request, encoded, so a resumed call sees it.
    pub request: Option<String>,
    /// Where an async call's result is sent (`X-Callback-Url`).
    pub callback: Option<String>,
}

/// A call's end, to record.
#[derive(Debug, Clone)]
pub struct Ended {
    pub id: CallId,
    pub function: String,
    /// Unix milliseconds.
    pub at: i64,
    pub end: End,
    /// Whether its output is kept (async calls), for [`Store::output`].
    pub kept: bool,
}

/// A call's record and its kept output.
#[derive(Debug)]
pub struct Output {
    pub info: CallInfo,
    pub data: Option<Bytes>,
    /// The output was kept, then rotated out of its function's cache.
    pub rotated: bool,
}

/// Which events [`Store::events`] reads.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub function: String,
    /// Only this call's.
    pub call: Option<CallId>,
    /// At or after this time (Unix milliseconds).
    pub since: Option<i64>,
    /// Only the newest this many.
    pub tail: Option<u64>,
}

/// What opening a store found of the previous run.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Calls marked FAILED: running, or sync and waiting, when it stopped.
    pub failed: usize,
    /// Async calls still queued, oldest first.
    pub queued: Vec<Resume>,
}

/// An async call to resume after a restart.
#[derive(Debug)]
pub struct Resume {
    pub id: CallId,
    pub function: String,
    pub created: i64,
    /// Its request, encoded.
    pub request: Option<String>,
    pub callback: Option<String>,
}

/// A sync call in flight, as [`Store::begin_sync`] tracks it: PENDING, then
/// RUNNING once [`SyncCall::started`], until [`SyncCall::end`] writes its
/// record. Dropped without an end, the call is forgotten and leaves no
/// record.
pub trait SyncCall: Send + Sync {
    /// It started running at `at` (Unix milliseconds).
    fn started(&mut self, at: i64);
    /// It ended: its record and events are written (not waited for).
    fn end(self: Box<Self>, end: Ended);
}

/// The deployed functions kept: all the lifecycle and the redeploy at start
/// ask of a store.
#[async_trait]
pub trait FunctionStore: Send + Sync + 'static {
    /// `Err` while the store takes no writes (disk full or read-only):
    /// nothing new should be accepted until it does.
    fn writable(&self) -> Result<(), StoreError>;
    /// The functions kept, by name.
    async fn functions(&self) -> Result<Vec<Function>, StoreError>;
    /// Keeps `function` (new, or replacing the one of its name); durable.
    async fn put_function(&self, function: &Function) -> Result<(), StoreError>;
    /// Forgets the function `name` with its calls, outputs and events; durable.
    async fn remove_function(&self, name: &str) -> Result<(), StoreError>;
}

/// What the gateway keeps: its functions, and every call. Every read sees
/// the sync calls in flight as well as what is stored, each call once.
#[async_trait]
pub trait Store: FunctionStore {
    /// Accepts an async call, PENDING; durable. A used id is a conflict.
    async fn accept(&self, call: NewCall) -> Result<(), StoreError>;
    /// An async call started running at `at`; durable.
    async fn start(&self, id: CallId, function: &str, at: i64) -> Result<(), StoreError>;
    /// An async call ended (its output kept when `end.kept`); durable.
    async fn finish(&self, end: Ended) -> Result<(), StoreError>;
    /// The end of a call that will not run, not waited for.
    fn record_end(&self, end: Ended);
    /// How a call's callback delivery went: an event, not waited for.
    fn record_callback(&self, id: CallId, function: &str, at: i64, message: String);
    /// The input kept for a queued async call.
    async fn input(&self, id: CallId) -> Result<Option<Bytes>, StoreError>;

    /// Whether a sync call with id `id` is in flight.
    fn in_flight(&self, id: CallId) -> bool;
    /// Tracks a new sync call until its end; a conflict when its id is in
    /// flight, or (`check_stored`, for an id the caller chose) stored.
    async fn begin_sync(
        &self,
        call: NewCall,
        check_stored: bool,
    ) -> Result<Box<dyn SyncCall>, StoreError>;

    /// The record of call `id`.
    async fn call(&self, id: CallId) -> Result<Option<CallInfo>, StoreError>;
    /// The record and kept output of call `id`.
    async fn output(&self, id: CallId) -> Result<Option<Output>, StoreError>;
    /// The newest `limit` calls of `function`, newest first.
    async fn recent_calls(&self, function: &str, limit: usize)
        -> Result<Vec<CallInfo>, StoreError>;
    /// The calls of `function` by status.
    async fn counts(&self, function: &str) -> Result<Counts, StoreError>;
    /// The calls of every function.
    async fn invocation_counts(&self) -> Result<HashMap<String, u64>, StoreError>;
    /// Events of one function, oldest first.
    async fn events(&self, query: EventQuery) -> Result<Vec<Event>, StoreError>;
    /// Events as they are stored, from now on.
    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>>;
    /// Returns once everything recorded before it is durable.
    async fn flush(&self) -> Result<(), StoreError>;
}
