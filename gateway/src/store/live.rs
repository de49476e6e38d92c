//! Sync calls in flight. A sync call is written once, when it ends: its row
//! and its four events in one write (a sync call is not resumed after a
//! restart, so nothing needs it on disk earlier). Until that write is
//! committed its record lives here, so `/system/calls/<id>` and the counts
//! see it PENDING, then RUNNING, then ended.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use uuid::Uuid;

use super::{Finish, NewCall};
use crate::clock;
use crate::model::{time, CallInfo, Counts, Status};

/// The sync calls not yet committed, by id.
#[derive(Default)]
pub struct Live {
    calls: Mutex<HashMap<Uuid, Entry>>,
}

struct Entry {
    function: String,
    created: i64,
    started: Option<i64>,
    /// Set when the call ended; the entry goes once its write is committed.
    end: Option<Finish>,
}

impl Live {
    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Entry>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tracks a new call; `false` if its id is already in flight (the second
    /// call's write will meet the id as a conflict, as it always did).
    pub fn begin(&self, call: &NewCall) -> bool {
        let mut calls = self.lock();
        if calls.contains_key(&call.id) {
            return false;
        }
        calls.insert(
            call.id,
            Entry {
                function: call.function.clone(),
                created: call.created,
                started: None,
                end: None,
            },
        );
        true
    }

    pub fn started(&self, id: Uuid, at: i64) {
        if let Some(entry) = self.lock().get_mut(&id) {
            entry.started = Some(at);
        }
    }

    pub fn started_at(&self, id: Uuid) -> Option<i64> {
        self.lock().get(&id).and_then(|e| e.started)
    }

    pub fn ended(&self, finish: &Finish) {
        if let Some(entry) = self.lock().get_mut(&finish.id) {
            entry.end = Some(finish.clone());
        }
    }

    /// Forgets a call: its write is committed (or lost).
    pub fn remove(&self, id: Uuid) {
        self.lock().remove(&id);
    }

    pub fn call(&self, id: Uuid) -> Option<CallInfo> {
        let calls = self.lock();
        let entry = calls.get(&id)?;
        let end = entry.end.as_ref();
        Some(CallInfo {
            call_id: id,
            function: entry.function.clone(),
            status: match (end, entry.started) {
                (Some(end), _) => end.status,
                (None, Some(_)) => Status::Running,
                (None, None) => Status::Pending,
            },
            created: clock::millis(entry.created),
            started: time(entry.started),
            finished: time(end.map(|e| e.at)),
            exit_code: end.and_then(|e| e.exit_code),
            duration_seconds: end.and_then(|e| e.duration),
            message: end.and_then(|e| e.message.clone()),
            r#async: false,
            timed_out: end.is_some_and(|e| e.timed_out),
        })
    }

    /// Adds the calls of `function` in flight to `counts`.
    pub fn add_counts(&self, function: &str, counts: &mut Counts) {
        for entry in self.lock().values().filter(|e| e.function == function) {
            counts.total += 1;
            match (&entry.end, entry.started) {
                (Some(end), _) if end.status == Status::Finished => counts.finished += 1,
                (Some(_), _) => counts.failed += 1,
                (None, Some(_)) => counts.running += 1,
                (None, None) => counts.pending += 1,
            }
        }
    }

    /// Adds the calls in flight to per-function totals.
    pub fn add_totals(&self, totals: &mut HashMap<String, u64>) {
        for entry in self.lock().values() {
            *totals.entry(entry.function.clone()).or_default() += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn new_call(id: Uuid) -> NewCall {
        NewCall {
            id,
            function: "f".into(),
            is_async: false,
            created: 1_000,
            input: Bytes::new(),
            env: Vec::new(),
            callback: None,
        }
    }

    #[test]
    fn a_call_goes_pending_running_finished_then_away() {
        let live = Live::default();
        let id = Uuid::new_v4();
        assert!(live.begin(&new_call(id)));
        assert!(
            !live.begin(&new_call(id)),
            "an id in flight is not taken twice"
        );
        assert_eq!(live.call(id).expect("live").status, Status::Pending);
        live.started(id, 2_000);
        assert_eq!(live.call(id).expect("live").status, Status::Running);
        let mut counts = Counts::default();
        live.add_counts("f", &mut counts);
        assert_eq!((counts.total, counts.running), (1, 1));
        live.ended(&Finish {
            id,
            function: "f".into(),
            status: Status::Finished,
            at: 3_000,
            exit_code: Some(0),
            duration: Some(1.0),
            message: None,
            timed_out: false,
            output: None,
            stdout: Bytes::new(),
            stderr: Bytes::new(),
        });
        let info = live.call(id).expect("live");
        assert_eq!((info.status, info.exit_code), (Status::Finished, Some(0)));
        live.remove(id);
        assert!(live.call(id).is_none());
    }
}
