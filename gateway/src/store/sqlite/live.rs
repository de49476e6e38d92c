//! Sync calls in flight. A sync call is written once, when it ends: its row
//! and its four events in one write (a sync call is not resumed after a
//! restart, so nothing needs it on disk earlier). Until that write is
//! committed its record lives here, so `/system/calls/<id>` and the counts
//! see it PENDING, then RUNNING, then ended.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::call_id::CallId;

use crate::call::{time, CallInfo, Status};
use crate::clock;
use crate::store::{Ended, NewCall};

/// The sync calls not yet committed, by id.
#[derive(Default)]
pub struct Live {
    calls: Mutex<HashMap<CallId, Entry>>,
}

struct Entry {
    function: String,
    created: i64,
    started: Option<i64>,
    /// Set when the call ended; the entry goes once its write is committed.
    end: Option<Ended>,
}

impl Entry {
    fn status(&self) -> Status {
        match (&self.end, self.started) {
            (Some(ended), _) => ended.end.status(),
            (None, Some(_)) => Status::Running,
            (None, None) => Status::Pending,
        }
    }
}

impl Live {
    fn lock(&self) -> MutexGuard<'_, HashMap<CallId, Entry>> {
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

    /// Whether a call with id `id` is in flight.
    pub fn contains(&self, id: CallId) -> bool {
        self.lock().contains_key(&id)
    }

    pub fn started(&self, id: CallId, at: i64) {
        if let Some(entry) = self.lock().get_mut(&id) {
            entry.started = Some(at);
        }
    }

    pub fn ended(&self, finish: &Ended) {
        if let Some(entry) = self.lock().get_mut(&finish.id) {
            entry.end = Some(finish.clone());
        }
    }

    /// Forgets a call: its write is committed (or lost).
    pub fn remove(&self, id: CallId) {
        self.lock().remove(&id);
    }

    pub fn call(&self, id: CallId) -> Option<CallInfo> {
        let calls = self.lock();
        Some(info(id, calls.get(&id)?))
    }

    /// The calls of `function` in flight.
    pub fn calls_of(&self, function: &str) -> Vec<CallInfo> {
        self.lock()
            .iter()
            .filter(|(_, e)| e.function == function)
            .map(|(id, e)| info(*id, e))
            .collect()
    }

    /// The calls in flight (of `function`, or all): id, function, status.
    pub fn statuses(&self, function: Option<&str>) -> Vec<(CallId, String, Status)> {
        self.lock()
            .iter()
            .filter(|(_, e)| function.is_none_or(|f| e.function == f))
            .map(|(id, e)| (*id, e.function.clone(), e.status()))
            .collect()
    }
}

/// The record of call `id` in flight.
fn info(id: CallId, entry: &Entry) -> CallInfo {
    let end = entry.end.as_ref();
    CallInfo {
        call_id: id,
        function: entry.function.clone(),
        status: entry.status(),
        created: clock::millis(entry.created),
        started: time(entry.started),
        finished: time(end.map(|e| e.at)),
        exit_code: end.and_then(|e| e.end.exit_code()),
        duration_seconds: end.and_then(|e| e.end.seconds()),
        message: end.and_then(|e| e.end.message.clone()),
        r#async: false,
        timed_out: end.is_some_and(|e| e.end.timed_out()),
        how: end.map(|e| e.end.how.kind()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::CallKind;
    use bytes::Bytes;

    fn new_call(id: CallId) -> NewCall {
        NewCall {
            id,
            function: "f".into(),
            kind: CallKind::Sync,
            created: 1_000,
            input: Bytes::new(),
            request: None,
            callback: None,
        }
    }

    #[test]
    fn a_call_goes_pending_running_finished_then_away() {
        let live = Live::default();
        let id = CallId::new();
        assert!(live.begin(&new_call(id)));
        assert!(
            !live.begin(&new_call(id)),
            "an id in flight is not taken twice"
        );
        assert!(live.contains(id));
        assert_eq!(live.call(id).expect("live").status, Status::Pending);
        live.started(id, 2_000);
        assert_eq!(live.call(id).expect("live").status, Status::Running);
        assert_eq!(
            live.statuses(Some("f")),
            [(id, "f".into(), Status::Running)]
        );
        assert!(live.statuses(Some("g")).is_empty());
        let outcome = watchdog::Outcome {
            exit: watchdog::Exit::Code(0),
            stdout: Bytes::new(),
            stderr: Bytes::new(),
            duration: std::time::Duration::from_secs(1),
        };
        let limits = crate::call::Limits {
            timeout: std::time::Duration::from_secs(1),
            max_payload_bytes: 1,
        };
        live.ended(&Ended {
            id,
            function: "f".into(),
            at: 3_000,
            end: crate::call::End::ran(outcome, limits),
            kept: false,
        });
        let info = live.call(id).expect("live");
        assert_eq!((info.status, info.exit_code), (Status::Finished, Some(0)));
        live.remove(id);
        assert!(live.call(id).is_none());
    }
}
