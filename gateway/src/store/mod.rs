//! The durable record: functions, calls, outputs and events in one SQLite
//! database (WAL) in the data directory.
//!
//! No SQLite work runs on the async executor threads. Writes go to one
//! writer thread ([`writer`]) that commits them in group transactions and
//! acks each waiter after its commit; reads run on the blocking pool with a
//! small pool of read connections ([`read`]). [`schema`] opens the database
//! and recovers what a previous run left behind. [`live`] holds the sync
//! calls in flight, which are written once, when they end.

mod live;
mod read;
mod rotate;
mod schema;
mod writer;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};

use bytes::Bytes;
use rusqlite::Connection;
use tokio::sync::{broadcast, oneshot};
use uuid::Uuid;

use crate::call::{CallInfo, CallKind, Counts, End, Event, Status};
use crate::function::Function;

pub use read::{events, functions, input};
pub use read::{Recovered, Resume};

/// Queued writes beyond this answer [`StoreError::Busy`].
const WRITE_QUEUE: usize = 100_000;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(String),
    #[error("call id {0} is already used; send a new X-Call-Id")]
    Conflict(String),
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

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::{CannotOpen, DiskFull, ReadOnly, SystemIoFailure};
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(f.code, DiskFull | ReadOnly | SystemIoFailure | CannotOpen) =>
            {
                StoreError::Unwritable(e.to_string())
            }
            _ => StoreError::Sqlite(e.to_string()),
        }
    }
}

/// Whether the data directory takes writes, as the writer last found it.
/// While it does not, the writer keeps the records nobody waits on and
/// retries them, with a probe when there are none, every [`PROBE`].
#[derive(Default)]
pub(crate) struct Health {
    /// Why the last commit failed, while the directory takes no writes.
    unwritable: Mutex<Option<String>>,
}

/// How often the writer retries while the data directory takes no writes.
pub const PROBE: std::time::Duration = std::time::Duration::from_secs(1);

impl Health {
    fn check(&self) -> Result<(), StoreError> {
        match &*self.unwritable.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(why) => Err(StoreError::Unwritable(why.clone())),
            None => Ok(()),
        }
    }

    fn set(&self, why: Option<String>) {
        *self.unwritable.lock().unwrap_or_else(|e| e.into_inner()) = why;
    }

    fn is_unwritable(&self) -> bool {
        self.unwritable
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }
}

/// Byte budgets before the oldest rows rotate out.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// A function's kept outputs.
    pub output_bytes: u64,
    /// A function's events and call records.
    pub log_bytes: u64,
    /// The whole database.
    pub database_bytes: u64,
}

/// A call as accepted.
#[derive(Debug, Clone)]
pub struct NewCall {
    pub id: Uuid,
    /// Its STDIN (an async call's whole; a sync call's start, for its event).
    pub input: Bytes,
    /// An async call's request, encoded, so a resumed call sees it.
    pub request: Option<String>,
    pub function: String,
    pub kind: CallKind,
    pub created: i64,
    pub callback: Option<String>,
}

/// A call's end, to record.
#[derive(Debug, Clone)]
pub struct Ended {
    pub id: Uuid,
    pub function: String,
    pub at: i64,
    pub end: End,
    /// Whether its output is kept (async calls), answered by
    /// `/system/calls/<id>/output`.
    pub kept: bool,
}

/// A sync call, written once when it ended.
#[derive(Debug)]
pub struct SyncCall {
    pub call: NewCall,
    /// When it started running; `None` if it never ran.
    pub started: Option<i64>,
    pub end: Ended,
}

/// One write for the writer thread.
#[derive(Debug)]
pub enum Write {
    PutFunction(Box<Function>),
    DeleteFunction(String),
    NewCall(Box<NewCall>),
    Started {
        id: Uuid,
        function: String,
        at: i64,
    },
    Finished(Box<Ended>),
    /// How a call's callback delivery went: an event.
    Callback {
        id: Uuid,
        function: String,
        at: i64,
        message: String,
    },
    /// A whole sync call: its row and its events.
    SyncCall(Box<SyncCall>),
    /// A write of one small row, to learn whether the data directory takes
    /// writes again.
    Probe,
    /// Nothing: acked once every earlier write is committed.
    Barrier,
}

type Ack = oneshot::Sender<Result<(), StoreError>>;

/// The handle the rest of the gateway holds; cheap to clone.
#[derive(Clone)]
pub struct Store {
    writes: mpsc::SyncSender<(Write, Option<Ack>)>,
    readers: Arc<read::Pool>,
    events: broadcast::Sender<Arc<Event>>,
    live: Arc<live::Live>,
    health: Arc<Health>,
}

impl Store {
    /// Opens (or creates) `dir/faas.db`, recovers the previous run's calls
    /// and starts the writer thread.
    pub fn open(dir: &Path, caps: Caps) -> Result<(Store, Recovered), StoreError> {
        let path = dir.join("faas.db");
        let mut conn = schema::open(&path)?;
        let recovered = schema::recover(&mut conn)?;
        let (events, _) = broadcast::channel(4096);
        let (writes, rx) = mpsc::sync_channel(WRITE_QUEUE);
        let live = Arc::new(live::Live::default());
        let health = Arc::new(Health::default());
        // The thread ends when the last handle is dropped; whoever needs its
        // writes on disk first commits a [`Write::Barrier`].
        let shared = writer::Shared {
            events: events.clone(),
            live: live.clone(),
            health: health.clone(),
        };
        writer::start(conn, rx, shared, caps)?;
        let store = Store {
            writes,
            readers: Arc::new(read::Pool::new(path)),
            events,
            live,
            health,
        };
        Ok((store, recovered))
    }

    /// `Err` while the data directory takes no writes (disk full or
    /// read-only): nothing new should be accepted until it does.
    pub fn writable(&self) -> Result<(), StoreError> {
        self.health.check()
    }

    /// Queues `write`; the answer comes after it is committed.
    pub fn write(&self, write: Write) -> oneshot::Receiver<Result<(), StoreError>> {
        let (ack, done) = oneshot::channel();
        if let Err(err) = self.writes.try_send((write, Some(ack))) {
            let (reason, ack) = match err {
                mpsc::TrySendError::Full((_, ack)) => (StoreError::Busy, ack),
                mpsc::TrySendError::Disconnected((_, ack)) => (StoreError::Stopped, ack),
            };
            if let Some(ack) = ack {
                let _ = ack.send(Err(reason));
            }
        }
        done
    }

    /// Queues `write` and waits for its commit.
    pub async fn commit(&self, write: Write) -> Result<(), StoreError> {
        self.write(write).await.unwrap_or(Err(StoreError::Stopped))
    }

    /// Queues `write` without waiting: for records nobody is waiting on.
    pub fn record(&self, write: Write) {
        if self.writes.try_send((write, None)).is_err() {
            tracing::warn!("the store is overloaded or stopped: a call record was dropped");
        }
    }

    /// A sync call came in: it is PENDING in memory until it ends. `false`
    /// if a call with its id is already in flight.
    pub fn sync_begin(&self, call: &NewCall) -> bool {
        self.live.begin(call)
    }

    /// Whether a call with id `id` is in flight as a sync call.
    pub fn sync_in_flight(&self, id: Uuid) -> bool {
        self.live.contains(id)
    }

    /// Forgets a sync call [`Store::sync_begin`] tracked that will not run
    /// and leaves no record.
    pub fn sync_forget(&self, id: Uuid) {
        self.live.remove(id);
    }

    /// Whether a call with id `id` is stored (in flight ones aside).
    pub async fn stored(&self, id: Uuid) -> Result<bool, StoreError> {
        self.read(move |c| read::exists(c, id)).await
    }

    /// A sync call started running.
    pub fn sync_started(&self, id: Uuid, at: i64) {
        self.live.started(id, at);
    }

    /// A sync call [`Store::sync_begin`] tracked ended: queues its one
    /// write; the writer forgets the call once the write is committed.
    pub fn sync_end(&self, call: SyncCall) {
        let id = call.call.id;
        self.live.ended(&call.end);
        let write = Write::SyncCall(Box::new(call));
        if self.writes.try_send((write, None)).is_err() {
            tracing::warn!("the store is overloaded or stopped: a call record was dropped");
            self.live.remove(id);
        }
    }

    /// The record of call `id`: in flight, or stored.
    pub async fn call(&self, id: Uuid) -> Result<Option<CallInfo>, StoreError> {
        // In memory first: a call leaves it only after its write is committed.
        if let Some(info) = self.live.call(id) {
            return Ok(Some(info));
        }
        self.read(move |c| read::call(c, id)).await
    }

    /// The record and kept output of call `id`: in flight (no output), or stored.
    pub async fn output(&self, id: Uuid) -> Result<Option<read::Output>, StoreError> {
        if let Some(info) = self.live.call(id) {
            return Ok(Some(read::Output {
                info,
                data: None,
                rotated: false,
            }));
        }
        self.read(move |c| read::output(c, id)).await
    }

    /// The newest `limit` calls of `function`, in flight or stored, newest
    /// first.
    pub async fn recent_calls(
        &self,
        function: &str,
        limit: usize,
    ) -> Result<Vec<CallInfo>, StoreError> {
        // In flight first, then stored: a call leaves memory only once it
        // is stored, so one that ends in between is in one of the two (or
        // both, and listed once).
        let mut calls = self.live.calls_of(function);
        let name = function.to_string();
        let stored = self
            .read(move |c| read::recent_calls(c, &name, limit))
            .await?;
        let live: HashSet<Uuid> = calls.iter().map(|c| c.call_id).collect();
        calls.extend(stored.into_iter().filter(|c| !live.contains(&c.call_id)));
        // Times are RFC 3339 of one width: they sort as text.
        calls.sort_by(|a, b| b.created.cmp(&a.created));
        calls.truncate(limit);
        Ok(calls)
    }

    /// Calls of `function` by status, stored and in flight.
    pub async fn counts(&self, function: &str) -> Result<Counts, StoreError> {
        let name = function.to_string();
        let (mut counts, live) = self
            .with_live(Some(function), move |c| read::counts(c, &name))
            .await?;
        for (_, _, status) in live {
            counts.add(status, 1);
        }
        Ok(counts)
    }

    /// Calls per function, stored and in flight.
    pub async fn invocation_counts(&self) -> Result<HashMap<String, u64>, StoreError> {
        let (mut totals, live) = self.with_live(None, read::invocation_counts).await?;
        for (_, function, _) in live {
            *totals.entry(function).or_default() += 1;
        }
        Ok(totals)
    }

    /// `query` over the stored calls, and the calls in flight (of
    /// `function`, or all) that are not stored yet: each call counted once,
    /// though a sync call's record is committed before it leaves memory.
    /// In flight first: one committed meanwhile is found stored.
    async fn with_live<T, F>(
        &self,
        function: Option<&str>,
        query: F,
    ) -> Result<(T, Vec<(Uuid, String, Status)>), StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let live = self.live.statuses(function);
        self.read(move |c| {
            // One snapshot for both reads.
            let tx = c.unchecked_transaction()?;
            let result = query(&tx)?;
            let ids: Vec<String> = live.iter().map(|(id, _, _)| id.to_string()).collect();
            let stored = read::stored_ids(&tx, &ids)?;
            let live = live
                .into_iter()
                .filter(|(id, _, _)| !stored.contains(&id.to_string()))
                .collect();
            Ok((result, live))
        })
        .await
    }

    /// Committed events, as they are committed.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    /// Runs `query` on a read connection on the blocking pool.
    pub async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || pool.with(query))
            .await
            .map_err(|e| StoreError::Sqlite(format!("a read task failed: {e}")))?
    }
}
