//! Keeping the database bounded. Each function has two budgets: its kept
//! outputs (over it, the oldest outputs go and their calls answer 410) and
//! its log, which counts its events and its call records (over it, its
//! oldest ended calls go whole: record, events, output). Over the global cap
//! the oldest ended calls of every function go, and freed pages are given
//! back to the file system. Calls queued or running are never removed.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::store::{Caps, StoreError};

/// Bytes a call's row counts for in its function's log, besides its events
/// (an estimate of the row and its index entries; its input and request
/// are dropped when it ends).
pub const CALL_ROW: u64 = 160;

/// Ended calls looked at in one step of a rotation.
const STEP: i64 = 64;

/// Per-function bytes kept, so rotation needs no scan.
#[derive(Default)]
pub struct Budgets {
    output: HashMap<String, u64>,
    log: HashMap<String, u64>,
    /// Functions written since the last rotation.
    touched: HashSet<String>,
    /// Rows were deleted since freed pages were last given back.
    freed: bool,
}

impl Budgets {
    /// The budgets as the database holds them.
    pub fn load(conn: &Connection) -> Result<Budgets, StoreError> {
        let sums = |sql: &str| -> Result<HashMap<String, u64>, StoreError> {
            let mut stmt = conn.prepare(sql)?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        };
        let mut log = sums("SELECT function, SUM(size) FROM events GROUP BY function")?;
        let rows = format!("SELECT function, COUNT(*) * {CALL_ROW} FROM calls GROUP BY function");
        for (function, bytes) in sums(&rows)? {
            *log.entry(function).or_default() += bytes;
        }
        Ok(Budgets {
            output: sums("SELECT function, SUM(size) FROM outputs GROUP BY function")?,
            log,
            touched: HashSet::new(),
            freed: false,
        })
    }

    pub fn add_output(&mut self, function: &str, bytes: u64) {
        *self.output.entry(function.to_string()).or_default() += bytes;
        self.touched.insert(function.to_string());
    }

    pub fn add_log(&mut self, function: &str, bytes: u64) {
        *self.log.entry(function.to_string()).or_default() += bytes;
        self.touched.insert(function.to_string());
    }

    /// A removed function's rows are gone.
    pub fn forget(&mut self, function: &str) {
        self.output.remove(function);
        self.log.remove(function);
        self.freed = true;
    }

    fn take(budget: &mut HashMap<String, u64>, function: &str, bytes: u64) {
        if let Some(total) = budget.get_mut(function) {
            *total = total.saturating_sub(bytes);
        }
    }
}

/// Brings each function written since the last call within its budgets.
pub fn rotate(tx: &Transaction, budgets: &mut Budgets, caps: Caps) -> Result<(), StoreError> {
    for function in std::mem::take(&mut budgets.touched) {
        trim_outputs(tx, budgets, &function, caps.output_bytes)?;
        let mut after = 0;
        while budgets
            .log
            .get(&function)
            .is_some_and(|t| *t > caps.log_bytes)
        {
            let oldest = ended_calls(tx, Some(&function), after)?;
            let Some(last) = oldest.last() else { break };
            after = last.0;
            for (_, id, _) in oldest {
                if budgets
                    .log
                    .get(&function)
                    .is_some_and(|t| *t > caps.log_bytes)
                {
                    remove_call(tx, budgets, &function, &id)?;
                }
            }
        }
    }
    Ok(())
}

/// After a commit: over the global cap, removes the oldest ended calls of
/// every function until the file is within it (or nothing ended is left),
/// and gives freed pages back.
pub fn reclaim(conn: &mut Connection, budgets: &mut Budgets, caps: Caps) -> Result<(), StoreError> {
    let mut after = 0;
    while size(conn)? > caps.database_bytes {
        let tx = conn.transaction()?;
        let oldest = ended_calls(&tx, None, after)?;
        let Some(last) = oldest.last() else { break };
        after = last.0;
        for (_, id, function) in &oldest {
            remove_call(&tx, budgets, function, id)?;
        }
        tx.commit()?;
        give_back(conn, budgets)?;
    }
    give_back(conn, budgets)
}

/// The database's bytes: its pages in use (the free ones are given back).
fn size(conn: &Connection) -> Result<u64, StoreError> {
    let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
    let free: i64 = conn.pragma_query_value(None, "freelist_count", |r| r.get(0))?;
    let page: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
    Ok(((pages - free).max(0) * page) as u64)
}

fn give_back(conn: &Connection, budgets: &mut Budgets) -> Result<(), StoreError> {
    if std::mem::take(&mut budgets.freed) {
        conn.execute_batch("PRAGMA incremental_vacuum")?;
    }
    Ok(())
}

/// Drops `function`'s oldest outputs over `cap`; their calls answer 410.
fn trim_outputs(
    tx: &Transaction,
    budgets: &mut Budgets,
    function: &str,
    cap: u64,
) -> Result<(), StoreError> {
    while budgets.output.get(function).is_some_and(|t| *t > cap) {
        let oldest: Vec<(i64, i64, String)> = tx
            .prepare_cached(
                "SELECT seq, size, call_id FROM outputs WHERE function = ?1 ORDER BY seq LIMIT ?2",
            )?
            .query_map(params![function, STEP], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
        if oldest.is_empty() {
            break;
        }
        for (seq, size, call_id) in oldest {
            if budgets.output.get(function).is_none_or(|t| *t <= cap) {
                break;
            }
            tx.prepare_cached("DELETE FROM outputs WHERE seq = ?1")?
                .execute(params![seq])?;
            tx.prepare_cached("UPDATE calls SET output_rotated = 1 WHERE id = ?1")?
                .execute(params![call_id])?;
            Budgets::take(&mut budgets.output, function, size as u64);
            budgets.freed = true;
        }
    }
    Ok(())
}

/// The oldest ended calls after `seq` (of `function`, or of all):
/// seq, id, function.
fn ended_calls(
    tx: &Transaction,
    function: Option<&str>,
    after: i64,
) -> Result<Vec<(i64, String, String)>, StoreError> {
    let row = |r: &rusqlite::Row| Ok((r.get(0)?, r.get(1)?, r.get(2)?));
    let calls = match function {
        Some(function) => tx
            .prepare_cached(
                "SELECT seq, id, function FROM calls
                 WHERE function = ?1 AND seq > ?2 AND status NOT IN ('PENDING', 'RUNNING')
                 ORDER BY seq LIMIT ?3",
            )?
            .query_map(params![function, after, STEP], row)?
            .collect::<Result<_, _>>()?,
        None => tx
            .prepare_cached(
                "SELECT seq, id, function FROM calls
                 WHERE seq > ?1 AND status NOT IN ('PENDING', 'RUNNING')
                 ORDER BY seq LIMIT ?2",
            )?
            .query_map(params![after, STEP], row)?
            .collect::<Result<_, _>>()?,
    };
    Ok(calls)
}

/// Removes an ended call whole: its events, its output, its record.
fn remove_call(
    tx: &Transaction,
    budgets: &mut Budgets,
    function: &str,
    id: &str,
) -> Result<(), StoreError> {
    let events: i64 = tx
        .prepare_cached("SELECT COALESCE(SUM(size), 0) FROM events WHERE call_id = ?1")?
        .query_row(params![id], |r| r.get(0))?;
    let output: Option<i64> = tx
        .prepare_cached("SELECT size FROM outputs WHERE call_id = ?1")?
        .query_row(params![id], |r| r.get(0))
        .optional()?;
    for sql in [
        "DELETE FROM events WHERE call_id = ?1",
        "DELETE FROM outputs WHERE call_id = ?1",
        "DELETE FROM calls WHERE id = ?1",
    ] {
        tx.prepare_cached(sql)?.execute(params![id])?;
    }
    Budgets::take(&mut budgets.log, function, events as u64 + CALL_ROW);
    Budgets::take(&mut budgets.output, function, output.unwrap_or(0) as u64);
    budgets.freed = true;
    Ok(())
}
