//! The store on SQLite: one database (WAL) in the data directory.
//!
//! No SQLite work runs on the async executor threads. Writes go to one
//! writer thread ([`writer`]) that commits them in group transactions and
//! acks each waiter after its commit; reads run on the blocking pool with a
//! small pool of read connections ([`read`]). [`schema`] opens the database
//! and recovers what a previous run left behind; [`rotate`] keeps it within
//! its caps. [`live`] holds the sync calls in flight, which are written
//! once, when they end. [`values`] is how ids and names are stored.

mod live;
mod read;
mod rotate;
mod schema;
mod values;
mod writer;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::Connection;
use tokio::sync::{broadcast, oneshot};

use super::{
    Caps, Ended, EventQuery, FunctionStore, NewCall, Output, Recovered, Store, StoreError, SyncCall,
};
use crate::call::{CallInfo, Counts, Event, Status};
use crate::call_id::CallId;
use crate::function::Function;

/// Queued writes beyond this answer [`StoreError::Busy`].
const WRITE_QUEUE: usize = 100_000;

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
/// retries them, with a probe when there are none, every [`super::PROBE`].
#[derive(Default)]
pub(crate) struct Health {
    /// Why the last commit failed, while the directory takes no writes.
    unwritable: Mutex<Option<String>>,
}

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

/// A sync call, written once when it ended.
#[derive(Debug)]
struct SyncRecord {
    call: NewCall,
    /// When it started running; `None` if it never ran.
    started: Option<i64>,
    end: Ended,
}

/// One write for the writer thread.
#[derive(Debug)]
enum Write {
    PutFunction(Box<Function>),
    DeleteFunction(String),
    NewCall(Box<NewCall>),
    Started {
        id: CallId,
        function: String,
        at: i64,
    },
    Finished(Box<Ended>),
    /// How a call's callback delivery went: an event.
    Callback {
        id: CallId,
        function: String,
        at: i64,
        message: String,
    },
    /// A whole sync call: its row and its events.
    SyncCall(Box<SyncRecord>),
    /// A write of one small row, to learn whether the data directory takes
    /// writes again.
    Probe,
    /// Nothing: acked once every earlier write is committed.
    Barrier,
}

type Ack = oneshot::Sender<Result<(), StoreError>>;

/// The writer thread's queue.
type Writes = mpsc::SyncSender<(Write, Option<Ack>)>;

/// The store on one SQLite file; cheap to clone.
#[derive(Clone)]
pub struct Sqlite {
    writes: Writes,
    readers: Arc<read::Pool>,
    events: broadcast::Sender<Arc<Event>>,
    live: Arc<live::Live>,
    health: Arc<Health>,
}

impl Sqlite {
    /// Opens (or creates) `dir/faas.db`, recovers the previous run's calls
    /// and starts the writer thread.
    pub fn open(dir: &Path, caps: Caps) -> Result<(Sqlite, Recovered), StoreError> {
        let path = dir.join("faas.db");
        let mut conn = schema::open(&path)?;
        let recovered = schema::recover(&mut conn)?;
        let (events, _) = broadcast::channel(4096);
        let (writes, rx) = mpsc::sync_channel(WRITE_QUEUE);
        let live = Arc::new(live::Live::default());
        let health = Arc::new(Health::default());
        // The thread ends when the last handle is dropped; whoever needs its
        // writes on disk first flushes.
        let shared = writer::Shared {
            events: events.clone(),
            live: live.clone(),
            health: health.clone(),
        };
        writer::start(conn, rx, shared, caps)?;
        let store = Sqlite {
            writes,
            readers: Arc::new(read::Pool::new(path)),
            events,
            live,
            health,
        };
        Ok((store, recovered))
    }

    /// Queues `write`; the answer comes after it is committed.
    fn write(&self, write: Write) -> oneshot::Receiver<Result<(), StoreError>> {
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
    async fn commit(&self, write: Write) -> Result<(), StoreError> {
        self.write(write).await.unwrap_or(Err(StoreError::Stopped))
    }

    /// Queues `write` without waiting: for records nobody is waiting on.
    fn record(&self, write: Write) {
        record(&self.writes, write);
    }

    /// `query` over the stored calls, and the calls in flight (of
    /// `function`, or all) that are not stored yet: each call counted once,
    /// though a sync call's record is committed before it leaves memory.
    /// In flight first: one committed meanwhile is found stored.
    async fn with_live<T, F>(
        &self,
        function: Option<&str>,
        query: F,
    ) -> Result<(T, Vec<(CallId, String, Status)>), StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let live = self.live.statuses(function);
        self.read(move |c| {
            // One snapshot for both reads.
            let tx = c.unchecked_transaction()?;
            let result = query(&tx)?;
            let ids: Vec<CallId> = live.iter().map(|(id, _, _)| *id).collect();
            let stored = read::stored_ids(&tx, &ids)?;
            let live = live
                .into_iter()
                .filter(|(id, _, _)| !stored.contains(id))
                .collect();
            Ok((result, live))
        })
        .await
    }

    /// Runs `query` on a read connection on the blocking pool.
    async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
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

/// Queues `write` without waiting; `false` if it was dropped.
fn record(writes: &Writes, write: Write) -> bool {
    let queued = writes.try_send((write, None)).is_ok();
    if !queued {
        tracing::warn!("the store is overloaded or stopped: a call record was dropped");
    }
    queued
}

/// A sync call in flight: in [`live::Live`] until its record is committed.
struct Tracked {
    writes: Writes,
    live: Arc<live::Live>,
    /// Taken when it ends.
    call: Option<NewCall>,
    started: Option<i64>,
}

impl SyncCall for Tracked {
    fn started(&mut self, at: i64) {
        if let Some(call) = &self.call {
            self.started = Some(at);
            self.live.started(call.id, at);
        }
    }

    fn end(mut self: Box<Self>, end: Ended) {
        let Some(call) = self.call.take() else { return };
        let id = call.id;
        self.live.ended(&end);
        let started = self.started;
        let write = Write::SyncCall(Box::new(SyncRecord { call, started, end }));
        // The writer forgets the call once the write is committed.
        if !record(&self.writes, write) {
            self.live.remove(id);
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(call) = &self.call {
            self.live.remove(call.id);
        }
    }
}

#[async_trait]
impl FunctionStore for Sqlite {
    fn writable(&self) -> Result<(), StoreError> {
        self.health.check()
    }

    async fn functions(&self) -> Result<Vec<Function>, StoreError> {
        self.read(read::functions).await
    }

    async fn put_function(&self, function: &Function) -> Result<(), StoreError> {
        self.commit(Write::PutFunction(Box::new(function.clone())))
            .await
    }

    async fn remove_function(&self, name: &str) -> Result<(), StoreError> {
        self.commit(Write::DeleteFunction(name.to_string())).await
    }
}

#[async_trait]
impl Store for Sqlite {
    async fn accept(&self, call: NewCall) -> Result<(), StoreError> {
        self.commit(Write::NewCall(Box::new(call))).await
    }

    async fn start(&self, id: CallId, function: &str, at: i64) -> Result<(), StoreError> {
        let function = function.to_string();
        self.commit(Write::Started { id, function, at }).await
    }

    async fn finish(&self, end: Ended) -> Result<(), StoreError> {
        self.commit(Write::Finished(Box::new(end))).await
    }

    fn record_end(&self, end: Ended) {
        self.record(Write::Finished(Box::new(end)));
    }

    fn record_callback(&self, id: CallId, function: &str, at: i64, message: String) {
        let function = function.to_string();
        self.record(Write::Callback {
            id,
            function,
            at,
            message,
        });
    }

    async fn input(&self, id: CallId) -> Result<Option<Bytes>, StoreError> {
        self.read(move |c| read::input(c, id)).await
    }

    fn in_flight(&self, id: CallId) -> bool {
        self.live.contains(id)
    }

    async fn begin_sync(
        &self,
        call: NewCall,
        check_stored: bool,
    ) -> Result<Box<dyn SyncCall>, StoreError> {
        let id = call.id;
        if !self.live.begin(&call) {
            return Err(StoreError::Conflict(id));
        }
        // Tracked first, so a second call with this id waiting for the
        // same lookup meets it in flight; forgotten if this one fails.
        let tracked = Tracked {
            writes: self.writes.clone(),
            live: self.live.clone(),
            call: Some(call),
            started: None,
        };
        if check_stored && self.read(move |c| read::exists(c, id)).await? {
            return Err(StoreError::Conflict(id));
        }
        Ok(Box::new(tracked))
    }

    async fn call(&self, id: CallId) -> Result<Option<CallInfo>, StoreError> {
        // In memory first: a call leaves it only after its write is committed.
        if let Some(info) = self.live.call(id) {
            return Ok(Some(info));
        }
        self.read(move |c| read::call(c, id)).await
    }

    async fn output(&self, id: CallId) -> Result<Option<Output>, StoreError> {
        if let Some(info) = self.live.call(id) {
            return Ok(Some(Output {
                info,
                data: None,
                rotated: false,
            }));
        }
        self.read(move |c| read::output(c, id)).await
    }

    async fn recent_calls(
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
        let live: HashSet<CallId> = calls.iter().map(|c| c.call_id).collect();
        calls.extend(stored.into_iter().filter(|c| !live.contains(&c.call_id)));
        // Times are RFC 3339 of one width: they sort as text.
        calls.sort_by(|a, b| b.created.cmp(&a.created));
        calls.truncate(limit);
        Ok(calls)
    }

    async fn counts(&self, function: &str) -> Result<Counts, StoreError> {
        let name = function.to_string();
        let (mut counts, live) = self
            .with_live(Some(function), move |c| read::counts(c, &name))
            .await?;
        for (_, _, status) in live {
            counts.add(status, 1);
        }
        Ok(counts)
    }

    async fn invocation_counts(&self) -> Result<HashMap<String, u64>, StoreError> {
        let (mut totals, live) = self.with_live(None, read::invocation_counts).await?;
        for (_, function, _) in live {
            *totals.entry(function).or_default() += 1;
        }
        Ok(totals)
    }

    async fn events(&self, query: EventQuery) -> Result<Vec<Event>, StoreError> {
        self.read(move |c| read::events(c, &query)).await
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.commit(Write::Barrier).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open(dir: std::path::PathBuf, caps: Caps) -> Result<(Sqlite, Recovered), StoreError> {
        Sqlite::open(&dir, caps)
    }

    crate::store::contract::suite!(open);
}
