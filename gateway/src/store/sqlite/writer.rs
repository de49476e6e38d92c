//! The writer thread: the only connection that writes. It takes whatever
//! writes are queued (up to a batch), applies them in one transaction,
//! rotates per-function outputs and events over their budgets, commits
//! (synced to disk when someone waits for it, see [`Durability`]), and
//! only then acks each waiter, forgets the sync calls it wrote from the
//! in-memory [`Live`] table, and publishes the new events.
//!
//! When the data directory takes no writes (disk full, read-only), a
//! batch fails whole: its waiters get [`StoreError::Unwritable`], the
//! records nobody waits on are kept in a bounded backlog, and the store's
//! [`Health`] says so, so new calls are refused. Every [`PROBE`] the writer
//! tries again (the backlog, or one small probe row); the first commit that
//! succeeds clears the state.

use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, Transaction};
use tokio::sync::broadcast;

use super::live::Live;
use super::rotate::{self, Budgets};
use super::{Ack, Health, SyncRecord, Write};
use crate::call::{short, stderr_lines, CallKind, Event, EventKind, Status, SHORT};
use crate::call_id::CallId;
use crate::store::{Caps, Ended, NewCall, StoreError, PROBE};

/// Most writes in one transaction.
const MAX_BATCH: usize = 4096;
/// How long a batch nobody waits on stays open for more writes: a commit
/// writes every page it touched, so many small commits cost far more disk
/// and CPU than a few larger ones.
const LINGER: Duration = Duration::from_millis(10);
/// No bytes, for the Short fields an event does not fill.
const NONE: &[u8] = b"";
/// Fixed bytes an event row counts for besides its text.
const EVENT_OVERHEAD: usize = 64;

/// Whether a commit waits for the disk. A batch someone waits on (an async
/// call's acceptance or end, a function's change) commits with
/// `synchronous=FULL`, and that sync covers every frame before it in the
/// WAL. A batch of records nobody waits on (sync calls' records, starts)
/// commits with `NORMAL`: no sync of its own, safe against a crash of the
/// gateway (the frames are in the OS) and against corruption (checkpoints
/// still sync: WAL mode stays consistent under `NORMAL`), lost only if the
/// machine dies before the next synced commit.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Durability {
    Full,
    Normal,
}

impl Durability {
    fn set(self, conn: &Connection) -> Result<(), StoreError> {
        let value = match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", value)?;
        Ok(())
    }
}

/// What the writer shares with the store's handles.
pub struct Shared {
    pub events: broadcast::Sender<Arc<Event>>,
    pub live: Arc<Live>,
    pub health: Arc<Health>,
}

/// Most records nobody waits on kept to retry while the data directory
/// takes no writes; beyond it new ones are dropped, with a warning. Only
/// calls in flight when the disk filled add to it: new calls are refused.
const BACKLOG: usize = 10_000;

pub fn start(
    conn: Connection,
    rx: mpsc::Receiver<(Write, Option<Ack>)>,
    shared: Shared,
    caps: Caps,
) -> Result<JoinHandle<()>, StoreError> {
    let budgets = Budgets::load(&conn)?;
    let mut writer = Writer {
        conn,
        budgets,
        shared,
        caps,
        // As schema::open left it.
        durability: Durability::Full,
        backlog: Vec::new(),
    };
    std::thread::Builder::new()
        .name("faas-store-writer".into())
        .spawn(move || {
            while let Some(batch) = writer.next(&rx) {
                writer.commit(batch);
            }
            if !writer.backlog.is_empty() {
                writer.commit(Vec::new());
            }
        })
        .map_err(|e| StoreError::Sqlite(format!("cannot start the writer thread: {e}")))
}

struct Writer {
    conn: Connection,
    budgets: Budgets,
    shared: Shared,
    caps: Caps,
    durability: Durability,
    /// Records nobody waits on whose commit failed because the data
    /// directory took no writes: retried first, in their order.
    backlog: Vec<Write>,
}

impl Writer {
    /// The next batch; `None` once every handle is gone. While the data
    /// directory takes no writes, a quiet [`PROBE`] brings a probe.
    fn next(&self, rx: &mpsc::Receiver<(Write, Option<Ack>)>) -> Option<Vec<(Write, Option<Ack>)>> {
        if !self.shared.health.is_unwritable() {
            return rx.recv().ok().map(|first| gather(rx, first));
        }
        match rx.recv_timeout(PROBE) {
            Ok(first) => Some(gather(rx, first)),
            Err(mpsc::RecvTimeoutError::Timeout) => Some(vec![(Write::Probe, None)]),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Commits the backlog and `batch` in one transaction, then acks.
    fn commit(&mut self, batch: Vec<(Write, Option<Ack>)>) {
        let mut all: Vec<_> = self.backlog.drain(..).map(|w| (w, None)).collect();
        all.extend(batch);
        let wanted = if all.iter().any(|(_, ack)| ack.is_some()) {
            Durability::Full
        } else {
            Durability::Normal
        };
        if wanted != self.durability {
            if let Err(e) = wanted.set(&self.conn) {
                // Not synced as promised: the waiters get the error.
                self.failed(all, e);
                return;
            }
            self.durability = wanted;
        }
        let mut new_events = Vec::new();
        let mut results = Vec::with_capacity(all.len());
        let budgets = &mut self.budgets;
        let caps = self.caps;
        let committed = (|| -> Result<(), StoreError> {
            let tx = self.conn.transaction()?;
            for (write, _) in &all {
                let mut log = Log {
                    tx: &tx,
                    budgets,
                    events: &mut new_events,
                };
                let result = apply(&mut log, write);
                // SQLite may have rolled the whole transaction back: none
                // of the batch is committed.
                if let Err(e @ StoreError::Unwritable(_)) = result {
                    return Err(e);
                }
                results.push(result);
            }
            rotate::rotate(&tx, budgets, caps)?;
            tx.commit()?;
            Ok(())
        })();
        if let Err(e) = committed {
            self.failed(all, e);
            return;
        }
        if self.shared.health.is_unwritable() {
            tracing::info!("the data directory takes writes again");
            self.shared.health.set(None);
        }
        forget_live(&all, &self.shared.live);
        for ((_, ack), result) in all.into_iter().zip(results) {
            if let Err(e) = &result {
                tracing::warn!("a write failed: {e}");
            }
            if let Some(ack) = ack {
                let _ = ack.send(result);
            }
        }
        for event in new_events {
            let _ = self.shared.events.send(Arc::new(event));
        }
        if let Err(e) = rotate::reclaim(&mut self.conn, &mut self.budgets, self.caps) {
            tracing::warn!("cannot reclaim disk space: {e}");
        }
    }

    /// A batch was not committed: its waiters get the error; while the
    /// data directory takes no writes, the records nobody waits on are kept
    /// for the next try.
    fn failed(&mut self, batch: Vec<(Write, Option<Ack>)>, e: StoreError) {
        let transient = matches!(e, StoreError::Unwritable(_));
        if transient {
            if !self.shared.health.is_unwritable() {
                tracing::error!("{e}");
            }
            self.shared.health.set(Some(unwritable_reason(&e)));
        } else {
            tracing::error!("a commit failed: {e}");
        }
        let mut dropped = 0;
        for (write, ack) in batch {
            if let Some(ack) = ack {
                let _ = ack.send(Err(e.clone()));
                continue;
            }
            match write {
                Write::Probe | Write::Barrier => {}
                write if transient && self.backlog.len() < BACKLOG => self.backlog.push(write),
                write => {
                    forget_live(&[(write, None)], &self.shared.live);
                    dropped += 1;
                }
            }
        }
        if dropped > 0 {
            tracing::warn!("{dropped} call records were dropped: {e}");
        }
        match Budgets::load(&self.conn) {
            Ok(fresh) => self.budgets = fresh,
            Err(e) => tracing::error!("cannot reload the cache budgets: {e}"),
        }
    }
}

fn unwritable_reason(e: &StoreError) -> String {
    match e {
        StoreError::Unwritable(why) => why.clone(),
        other => other.to_string(),
    }
}

/// The next batch: `first` and whatever is queued behind it. While nobody
/// waits on the batch, it stays open up to [`LINGER`] for more; a write
/// someone waits on closes it at once.
fn gather(
    rx: &mpsc::Receiver<(Write, Option<Ack>)>,
    first: (Write, Option<Ack>),
) -> Vec<(Write, Option<Ack>)> {
    let mut waited = first.1.is_some();
    let mut batch = vec![first];
    let until = Instant::now() + LINGER;
    while batch.len() < MAX_BATCH {
        let next = if waited {
            rx.try_recv().ok()
        } else {
            rx.recv_timeout(until.saturating_duration_since(Instant::now()))
                .ok()
        };
        let Some(next) = next else { break };
        waited |= next.1.is_some();
        batch.push(next);
    }
    batch
}

/// Committed or lost, a sync call's record is no longer only in memory.
fn forget_live(batch: &[(Write, Option<Ack>)], live: &Live) {
    for (write, _) in batch {
        if let Write::SyncCall(sync) = write {
            live.remove(sync.call.id);
        }
    }
}

/// Where a batch's events go: its transaction, the budgets they count
/// against, and the events to publish once it is committed.
struct Log<'a> {
    tx: &'a Transaction<'a>,
    budgets: &'a mut Budgets,
    events: &'a mut Vec<Event>,
}

fn apply(log: &mut Log, write: &Write) -> Result<(), StoreError> {
    let tx = log.tx;
    match write {
        Write::Barrier => {}
        Write::Probe => {
            tx.prepare_cached("INSERT OR REPLACE INTO probe (id, at) VALUES (1, ?1)")?
                .execute(params![crate::clock::now_ms()])?;
        }
        Write::PutFunction(f) => {
            let spec = serde_json::to_string(f).map_err(|e| StoreError::Sqlite(e.to_string()))?;
            tx.prepare_cached("INSERT OR REPLACE INTO functions (name, spec) VALUES (?1, ?2)")?
                .execute(params![f.name, spec])?;
        }
        Write::DeleteFunction(name) => {
            for table in [
                "functions WHERE name",
                "calls WHERE function",
                "outputs WHERE function",
                "events WHERE function",
            ] {
                tx.execute(&format!("DELETE FROM {table} = ?1"), params![name])?;
            }
            log.budgets.forget(name);
        }
        Write::NewCall(call) => {
            insert_call(tx, call, None, None)?;
            log.budgets.add_log(&call.function, rotate::CALL_ROW);
            call_events(log, call)?;
        }
        Write::Started { id, function, at } => {
            tx.prepare_cached("UPDATE calls SET status = 'RUNNING', started = ?1 WHERE id = ?2")?
                .execute(params![at, id])?;
            running_event(log, function, *id, *at)?;
        }
        Write::Finished(f) => {
            let id = f.id;
            let end = &f.end;
            tx.prepare_cached(
                "UPDATE calls SET status = ?1, finished = ?2, exit_code = ?3, duration = ?4,
                 message = ?5, timed_out = ?6, how = ?7, input = NULL, env = NULL WHERE id = ?8",
            )?
            .execute(params![
                end.status(),
                f.at,
                end.exit_code(),
                end.seconds(),
                end.message,
                end.timed_out(),
                end.how.kind(),
                id
            ])?;
            if f.kept {
                let output = end.body();
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO outputs (call_id, function, size, data) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![id, f.function, output.len() as i64, &output[..]])?;
                log.budgets.add_output(&f.function, output.len() as u64);
            }
            end_event(log, f)?;
        }
        Write::Callback {
            id,
            function,
            at,
            message,
        } => {
            let kind = EventKind::Callback;
            event(log, function, *id, *at, kind, [NONE; 3], message)?;
        }
        Write::SyncCall(sync) => {
            let SyncRecord { call, started, end } = &**sync;
            insert_call(tx, call, *started, Some(end))?;
            log.budgets.add_log(&call.function, rotate::CALL_ROW);
            call_events(log, call)?;
            if let Some(at) = *started {
                running_event(log, &call.function, call.id, at)?;
            }
            end_event(log, end)?;
        }
    }
    Ok(())
}

/// Inserts a call's row: accepted (PENDING), or a sync call as it ended.
fn insert_call(
    tx: &Transaction,
    call: &NewCall,
    started: Option<i64>,
    end: Option<&Ended>,
) -> Result<(), StoreError> {
    let id = call.id;
    // Only an async call resumes after a restart: only it needs its input
    // and request.
    let is_async = call.kind == CallKind::Async;
    let input = is_async.then_some(&call.input[..]);
    let inserted = tx
        .prepare_cached(
            "INSERT INTO calls (id, function, is_async, status, created, input, env, callback,
                                started, finished, exit_code, duration, message, timed_out, how)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )?
        .execute(params![
            id,
            call.function,
            is_async,
            end.map_or(Status::Pending, |e| e.end.status()),
            call.created,
            input,
            call.request,
            call.callback,
            started,
            end.map(|e| e.at),
            end.and_then(|e| e.end.exit_code()),
            end.and_then(|e| e.end.seconds()),
            end.and_then(|e| e.end.message.as_deref()),
            end.is_some_and(|e| e.end.timed_out()),
            end.map(|e| e.end.how.kind()),
        ]);
    match inserted {
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(StoreError::Conflict(id))
        }
        other => other.map(|_| ()).map_err(StoreError::from),
    }
}

/// A new call's CALL and PENDING events.
fn call_events(log: &mut Log, call: &NewCall) -> Result<(), StoreError> {
    let stdin = &call.input[..call.input.len().min(SHORT)];
    for (kind, stdin) in [(EventKind::Call, stdin), (EventKind::Pending, NONE)] {
        event(
            log,
            &call.function,
            call.id,
            call.created,
            kind,
            [stdin, NONE, NONE],
            "",
        )?;
    }
    Ok(())
}

fn running_event(log: &mut Log, function: &str, id: CallId, at: i64) -> Result<(), StoreError> {
    event(
        log,
        function,
        id,
        at,
        EventKind::Running,
        [NONE, NONE, NONE],
        "",
    )
}

/// The call's STDERR, a `STDERR` event a line, then its ending event
/// (FINISHED, FAILED, CANCELLED or EXPIRED) with the start of STDOUT and
/// STDERR.
fn end_event(log: &mut Log, f: &Ended) -> Result<(), StoreError> {
    let kind = EventKind::ending(f.end.status());
    let mut put =
        |kind, bytes, message: &str| event(log, &f.function, f.id, f.at, kind, bytes, message);
    if let Some(node) = &f.end.node {
        put(EventKind::Node, [NONE; 3], node)?;
    }
    for line in stderr_lines(&f.end.stderr) {
        put(EventKind::Stderr, [NONE; 3], &line)?;
    }
    let cut = |b: &'_ [u8]| -> Vec<u8> { b[..b.len().min(SHORT)].to_vec() };
    let (out, err) = (cut(&f.end.stdout), cut(&f.end.stderr));
    let message = f.end.message.as_deref().unwrap_or("");
    put(kind, [NONE, &out, &err], message)
}

/// Inserts one event row and remembers it for publishing after the commit.
fn event(
    log: &mut Log,
    function: &str,
    call_id: CallId,
    at: i64,
    kind: EventKind,
    [stdin, stdout, stderr]: [&[u8]; 3],
    message: &str,
) -> Result<(), StoreError> {
    let size = EVENT_OVERHEAD + stdin.len() + stdout.len() + stderr.len() + message.len();
    log.tx.prepare_cached(
        "INSERT INTO events (function, call_id, time, event, stdin, stdout, stderr, message, size)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        function,
        call_id,
        at,
        kind,
        stdin,
        stdout,
        stderr,
        message,
        size as i64
    ])?;
    log.budgets.add_log(function, size as u64);
    log.events.push(Event {
        time: at,
        event: kind,
        call_id,
        short_stdin: short(stdin),
        short_stdout: short(stdout),
        short_stderr: short(stderr),
        message: message.into(),
        id: log.tx.last_insert_rowid(),
        function: function.into(),
    });
    Ok(())
}
