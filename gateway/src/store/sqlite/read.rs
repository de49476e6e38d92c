//! Reads: a small pool of read connections used on the blocking pool, and
//! the queries the API needs.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;

use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::call::{short, time, CallInfo, Counts, Event, Status};
use crate::call_id::CallId;
use crate::clock;
use crate::function::Function;
use crate::store::{EventQuery, Output, StoreError};

/// Read connections, opened on demand and reused.
pub struct Pool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Pool {
    pub fn new(path: PathBuf) -> Pool {
        Pool {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    pub fn with<T>(
        &self,
        query: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = Connection::open(&self.path)?;
                conn.busy_timeout(std::time::Duration::from_secs(5))?;
                conn
            }
        };
        let result = query(&conn);
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        result
    }
}

const CALL_COLUMNS: &str =
    "id, function, status, created, started, finished, exit_code, duration, message, is_async, timed_out, how";

fn call_info(r: &Row) -> rusqlite::Result<CallInfo> {
    Ok(CallInfo {
        call_id: r.get(0)?,
        function: r.get(1)?,
        status: r.get(2)?,
        created: clock::millis(r.get(3)?),
        started: time(r.get(4)?),
        finished: time(r.get(5)?),
        exit_code: r.get(6)?,
        duration_seconds: r.get(7)?,
        message: r.get(8)?,
        r#async: r.get(9)?,
        timed_out: r.get(10)?,
        how: r.get(11)?,
    })
}

pub fn functions(conn: &Connection) -> Result<Vec<Function>, StoreError> {
    let mut stmt = conn.prepare("SELECT spec FROM functions ORDER BY name")?;
    let specs = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    specs
        .iter()
        .map(|s| {
            serde_json::from_str(s)
                .map_err(|e| StoreError::Sqlite(format!("a stored function is unreadable: {e}")))
        })
        .collect()
}

pub fn call(conn: &Connection, id: CallId) -> Result<Option<CallInfo>, StoreError> {
    let sql = format!("SELECT {CALL_COLUMNS} FROM calls WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![id], call_info)
        .optional()?)
}

/// The newest `limit` stored calls of `function`, newest first.
pub fn recent_calls(
    conn: &Connection,
    function: &str,
    limit: usize,
) -> Result<Vec<CallInfo>, StoreError> {
    let sql =
        format!("SELECT {CALL_COLUMNS} FROM calls WHERE function = ?1 ORDER BY seq DESC LIMIT ?2");
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(params![function, limit as i64], call_info)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Whether a call with id `id` is stored: one lookup of the id index.
pub fn exists(conn: &Connection, id: CallId) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM calls WHERE id = ?1")?
        .query_row(params![id], |_| Ok(()))
        .optional()?
        .is_some())
}

pub fn output(conn: &Connection, id: CallId) -> Result<Option<Output>, StoreError> {
    let sql = format!("SELECT {CALL_COLUMNS}, output_rotated FROM calls WHERE id = ?1");
    let found = conn
        .prepare_cached(&sql)?
        .query_row(params![id], |r| {
            Ok((call_info(r)?, r.get::<_, bool>("output_rotated")?))
        })
        .optional()?;
    let Some((info, rotated)) = found else {
        return Ok(None);
    };
    let data: Option<Vec<u8>> = conn
        .prepare_cached("SELECT data FROM outputs WHERE call_id = ?1")?
        .query_row(params![id], |r| r.get(0))
        .optional()?;
    Ok(Some(Output {
        info,
        data: data.map(Bytes::from),
        rotated,
    }))
}

/// The STDIN kept for an async call.
pub fn input(conn: &Connection, id: CallId) -> Result<Option<Bytes>, StoreError> {
    let input: Option<Option<Vec<u8>>> = conn
        .prepare_cached("SELECT input FROM calls WHERE id = ?1")?
        .query_row(params![id], |r| r.get(0))
        .optional()?;
    Ok(input.flatten().map(Bytes::from))
}

/// The newest `tail` events of `function` (all without `tail`) at or
/// after `since` (Unix milliseconds), oldest first.
pub fn events(conn: &Connection, query: &EventQuery) -> Result<Vec<Event>, StoreError> {
    let EventQuery {
        function,
        call,
        since,
        tail,
    } = query;
    let limit = tail.map_or(-1, |t| i64::try_from(t).unwrap_or(i64::MAX));
    let mut stmt = conn.prepare_cached(
        "SELECT id, call_id, time, event, stdin, stdout, stderr, message FROM events
         WHERE function = ?1 AND (?2 IS NULL OR call_id = ?2) AND (?4 IS NULL OR time >= ?4)
         ORDER BY id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![function, call, limit, since], |r| {
        let bytes = |i: usize| -> rusqlite::Result<String> {
            Ok(short(&r.get::<_, Option<Vec<u8>>>(i)?.unwrap_or_default()))
        };
        Ok(Event {
            id: r.get(0)?,
            call_id: r.get(1)?,
            time: r.get(2)?,
            event: r.get(3)?,
            short_stdin: bytes(4)?,
            short_stdout: bytes(5)?,
            short_stderr: bytes(6)?,
            message: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
            function: function.clone(),
        })
    })?;
    let mut events = rows.collect::<Result<Vec<_>, _>>()?;
    events.reverse();
    Ok(events)
}

pub fn counts(conn: &Connection, function: &str) -> Result<Counts, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT status, COUNT(*) FROM calls WHERE function = ?1 GROUP BY status")?;
    let rows = stmt.query_map(params![function], |r| {
        Ok((r.get::<_, Status>(0)?, r.get::<_, i64>(1)? as u64))
    })?;
    let mut counts = Counts::default();
    for row in rows {
        let (status, n) = row?;
        counts.add(status, n);
    }
    Ok(counts)
}

/// Which of `ids` are stored.
pub fn stored_ids(conn: &Connection, ids: &[CallId]) -> Result<HashSet<CallId>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM calls WHERE id = ?1")?;
    let mut stored = HashSet::new();
    for id in ids {
        if stmt.exists(params![id])? {
            stored.insert(*id);
        }
    }
    Ok(stored)
}

/// Calls recorded per function.
pub fn invocation_counts(conn: &Connection) -> Result<HashMap<String, u64>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT function, COUNT(*) FROM calls GROUP BY function")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
