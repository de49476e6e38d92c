//! Opening the database (WAL, the schema) and recovering the calls a
//! previous run left: running ones fail, queued async ones come back in order.

use std::path::Path;

use rusqlite::{params, Connection};

use crate::call::EventKind;
use crate::call_id::CallId;
use crate::clock;
use crate::store::{Recovered, Resume, StoreError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS functions (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS calls (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    function TEXT NOT NULL,
    is_async INTEGER NOT NULL,
    status TEXT NOT NULL,
    created INTEGER NOT NULL,
    started INTEGER,
    finished INTEGER,
    exit_code INTEGER,
    duration REAL,
    message TEXT,
    timed_out INTEGER NOT NULL DEFAULT 0,
    -- what ended it (call::How::kind), once it ended
    how TEXT,
    output_rotated INTEGER NOT NULL DEFAULT 0,
    input BLOB,
    -- an async call's request (method, path, query, headers) as JSON
    env TEXT,
    callback TEXT
);
CREATE INDEX IF NOT EXISTS calls_function_status ON calls(function, status);
CREATE INDEX IF NOT EXISTS calls_function_seq ON calls(function, seq);
CREATE TABLE IF NOT EXISTS outputs (
    seq INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL UNIQUE,
    function TEXT NOT NULL,
    size INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outputs_function ON outputs(function, seq);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    function TEXT NOT NULL,
    call_id TEXT NOT NULL,
    time INTEGER NOT NULL,
    event TEXT NOT NULL,
    stdin BLOB,
    stdout BLOB,
    stderr BLOB,
    message TEXT,
    size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_function ON events(function, id);
CREATE INDEX IF NOT EXISTS events_call ON events(call_id);
-- one row the writer rewrites to learn whether the disk takes writes again
CREATE TABLE IF NOT EXISTS probe (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL
);
";

/// Opens `path` in WAL mode with full sync: a commit is on disk when acked.
/// A new database file is created 0600 first; SQLite gives its `-wal` and
/// `-shm` the database's mode.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    match crate::files::create_file(path, true) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            let path = path.display();
            return Err(StoreError::Sqlite(format!("cannot create {path}: {e}")));
        }
    }
    let conn = Connection::open(path)
        .map_err(|e| StoreError::Sqlite(format!("cannot open {}: {e}", path.display())))?;
    incremental_vacuum(&conn)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // A checkpointed WAL shrinks back to this.
    conn.pragma_update(None, "journal_size_limit", WAL_LIMIT)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(SCHEMA)?;
    // Columns added since the first schema, to a database made before.
    add_column(&conn, "calls", "how", "TEXT")?;
    Ok(conn)
}

/// Adds `column` to `table` unless it has it.
fn add_column(conn: &Connection, table: &str, column: &str, kind: &str) -> Result<(), StoreError> {
    let has = conn
        .prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2")?
        .exists(params![table, column])?;
    if !has {
        conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
    }
    Ok(())
}

/// Bytes a checkpointed WAL file is truncated to.
const WAL_LIMIT: i64 = 4 * 1024 * 1024;

/// Makes the database give freed pages back to the file system when asked
/// (`PRAGMA incremental_vacuum`, after rotations): set before the first
/// table of a new database, or by one `VACUUM` of a database made before.
fn incremental_vacuum(conn: &Connection) -> Result<(), StoreError> {
    const INCREMENTAL: i64 = 2;
    let mode: i64 = conn.pragma_query_value(None, "auto_vacuum", |r| r.get(0))?;
    if mode != INCREMENTAL {
        conn.pragma_update(None, "auto_vacuum", INCREMENTAL)?;
        conn.execute_batch("VACUUM")?;
    }
    Ok(())
}

const RESTARTED: &str = "the gateway restarted while the call was running";
const CALLER_GONE: &str = "the gateway restarted before the call ran; its caller was gone";

/// Fails what cannot resume and lists the async calls that can, in order.
pub fn recover(conn: &mut Connection) -> Result<Recovered, StoreError> {
    let now = clock::now_ms();
    let tx = conn.transaction()?;
    let mut failed = 0;
    {
        let mut lost = tx.prepare(
            "SELECT id, function, status FROM calls
             WHERE status = 'RUNNING' OR (status = 'PENDING' AND is_async = 0)",
        )?;
        let rows = lost
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        for (id, function, status) in rows {
            let message = if status == "RUNNING" {
                RESTARTED
            } else {
                CALLER_GONE
            };
            tx.execute(
                "UPDATE calls SET status = 'FAILED', finished = ?1, message = ?2, input = NULL,
                 env = NULL WHERE id = ?3",
                params![now, message, id],
            )?;
            tx.execute(
                "INSERT INTO events (function, call_id, time, event, message, size)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    function,
                    id,
                    now,
                    EventKind::Failed,
                    message,
                    64 + message.len() as i64
                ],
            )?;
            failed += 1;
        }
    }
    let queued = {
        let mut pending = tx.prepare(
            "SELECT id, function, created, env, callback FROM calls
             WHERE status = 'PENDING' AND is_async = 1 ORDER BY seq",
        )?;
        let rows = pending.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
            ))
        })?;
        let mut queued = Vec::new();
        for row in rows {
            let (id, function, created, request, callback) = row?;
            // One unreadable row does not keep the gateway from starting.
            match id.parse::<CallId>() {
                Ok(id) => queued.push(Resume {
                    id,
                    function,
                    created,
                    request,
                    callback,
                }),
                Err(e) => tracing::error!(
                    "a queued call of {function} is not resumed: its stored id is unreadable: {e}"
                ),
            }
        }
        queued
    };
    tx.commit()?;
    Ok(Recovered { failed, queued })
}
