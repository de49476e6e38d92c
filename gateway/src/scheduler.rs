//! The queue of docs/calls.md: at most `quota` calls run at once across the
//! gateway and at most `maxConcurrency` of one function; the others wait.
//! Calls start in arrival order among the functions under their own limit,
//! so a call is never overtaken by a later call of the same function.
//!
//! [`Scheduler::enqueue`] gives a [`Ticket`] (a place in the queue, or 429
//! when the function's queue is full); [`Ticket::wait`] turns it into a
//! [`Permit`] (a running slot). Dropping a ticket leaves the queue (a caller
//! that disconnected); dropping a permit frees the slot and starts the next.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::metrics::Metrics;

pub struct Scheduler {
    state: Mutex<State>,
    quota: usize,
    max_queue: usize,
    metrics: Metrics,
}

#[derive(Default)]
struct State {
    running: usize,
    next_seq: u64,
    lanes: HashMap<String, Lane>,
    /// When each function last got a call (kept while its lane comes and
    /// goes): the autoscaler's idle clock.
    last_call: HashMap<String, Instant>,
}

/// One function's waiting calls and running count.
struct Lane {
    limit: usize,
    running: usize,
    queue: VecDeque<Waiter>,
}

struct Waiter {
    seq: u64,
    start: oneshot::Sender<()>,
}

/// The function's queue is full.
#[derive(Debug)]
pub struct Full;

impl Scheduler {
    pub fn new(quota: usize, max_queue: usize, metrics: Metrics) -> Arc<Scheduler> {
        Arc::new(Scheduler {
            state: Mutex::new(State::default()),
            quota,
            max_queue,
            metrics,
        })
    }

    /// Joins the queue of `function`, whose limit is `limit` running calls;
    /// [`Full`] when `max_queue` calls wait already.
    pub fn enqueue(self: &Arc<Self>, function: &str, limit: Option<u32>) -> Result<Ticket, Full> {
        let mut state = self.lock();
        let waiting = state.lanes.get(function).map_or(0, |lane| lane.queue.len());
        if waiting >= self.max_queue {
            return Err(Full);
        }
        Ok(self.join(&mut state, function, limit))
    }

    /// Joins the queue with a call accepted before a restart: past the
    /// bound, which it was within when it was accepted.
    pub fn requeue(self: &Arc<Self>, function: &str, limit: Option<u32>) -> Ticket {
        let mut state = self.lock();
        self.join(&mut state, function, limit)
    }

    fn join(self: &Arc<Self>, state: &mut State, function: &str, limit: Option<u32>) -> Ticket {
        let (start, started) = oneshot::channel();
        let seq = state.next_seq;
        let lane = state
            .lanes
            .entry(function.to_string())
            .or_insert_with(|| Lane {
                limit: usize::MAX,
                running: 0,
                queue: VecDeque::new(),
            });
        lane.limit = limit.map_or(usize::MAX, |l| l as usize);
        lane.queue.push_back(Waiter { seq, start });
        state.next_seq += 1;
        state.last_call.insert(function.to_string(), Instant::now());
        self.dispatch(state);
        self.gauges(state, function);
        Ticket {
            scheduler: self.clone(),
            function: function.to_string(),
            seq,
            started,
            since: Instant::now(),
            done: false,
        }
    }

    /// Calls of `function` running or waiting now, and when it last got
    /// one (`None`: never since the gateway started).
    pub fn load(&self, function: &str) -> (usize, Option<Instant>) {
        let state = self.lock();
        let load = state
            .lanes
            .get(function)
            .map_or(0, |lane| lane.running + lane.queue.len());
        (load, state.last_call.get(function).copied())
    }

    /// Calls of `function` waiting and running now.
    pub fn depth(&self, function: &str) -> (usize, usize) {
        self.lock()
            .lanes
            .get(function)
            .map_or((0, 0), |lane| (lane.queue.len(), lane.running))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves counts that are still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts waiting calls while slots are free: each time the oldest head
    /// among the functions under their limit.
    fn dispatch(&self, state: &mut State) {
        while state.running < self.quota {
            let next = state
                .lanes
                .iter()
                .filter(|(_, lane)| lane.running < lane.limit)
                .filter_map(|(name, lane)| lane.queue.front().map(|w| (w.seq, name)))
                .min();
            let Some((_, name)) = next else { break };
            let name = name.clone();
            let Some(lane) = state.lanes.get_mut(&name) else {
                break;
            };
            let Some(waiter) = lane.queue.pop_front() else {
                break;
            };
            // The receiver lives in the ticket, whose drop takes this lock
            // before it goes: the send cannot fail.
            if waiter.start.send(()).is_ok() {
                lane.running += 1;
                state.running += 1;
            }
            self.gauges(state, &name);
        }
    }

    fn release(&self, state: &mut State, function: &str) {
        if let Some(lane) = state.lanes.get_mut(function) {
            lane.running = lane.running.saturating_sub(1);
            state.running = state.running.saturating_sub(1);
        }
        self.dispatch(state);
        self.gauges(state, function);
        if let Some(lane) = state.lanes.get(function) {
            if lane.running == 0 && lane.queue.is_empty() {
                state.lanes.remove(function);
            }
        }
    }

    fn gauges(&self, state: &State, function: &str) {
        let (queued, running) = state
            .lanes
            .get(function)
            .map_or((0, 0), |l| (l.queue.len(), l.running));
        self.metrics
            .queue_depth
            .with_label_values(&[function])
            .set(queued as i64);
        self.metrics
            .calls_running
            .with_label_values(&[function])
            .set(running as i64);
        self.metrics.quota_in_use.set(state.running as i64);
    }

    /// Calls waiting for `function`.
    #[cfg(test)]
    fn queued(&self, function: &str) -> usize {
        self.lock().lanes.get(function).map_or(0, |l| l.queue.len())
    }
}

/// A place in the queue.
pub struct Ticket {
    scheduler: Arc<Scheduler>,
    function: String,
    seq: u64,
    started: oneshot::Receiver<()>,
    since: Instant,
    done: bool,
}

impl Ticket {
    /// Waits for a running slot.
    pub async fn wait(mut self) -> Permit {
        // The sender is only dropped after a send (see dispatch).
        let _ = (&mut self.started).await;
        self.done = true;
        self.scheduler
            .metrics
            .call_wait_seconds
            .with_label_values(&[&self.function])
            .observe(self.since.elapsed().as_secs_f64());
        Permit {
            scheduler: self.scheduler.clone(),
            function: std::mem::take(&mut self.function),
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let scheduler = self.scheduler.clone();
        let mut state = scheduler.lock();
        let queued = state.lanes.get_mut(&self.function).and_then(|lane| {
            let at = lane.queue.binary_search_by_key(&self.seq, |w| w.seq).ok()?;
            lane.queue.remove(at)
        });
        if queued.is_some() {
            scheduler.gauges(&state, &self.function);
        } else if self.started.try_recv().is_ok() {
            // Granted but never taken: give the slot back.
            scheduler.release(&mut state, &self.function);
        }
    }
}

/// A running slot, freed when dropped.
pub struct Permit {
    scheduler: Arc<Scheduler>,
    function: String,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let scheduler = self.scheduler.clone();
        let mut state = scheduler.lock();
        scheduler.release(&mut state, &self.function);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn scheduler(quota: usize, max_queue: usize) -> Arc<Scheduler> {
        Scheduler::new(quota, max_queue, Metrics::new().expect("metrics"))
    }

    async fn started(ticket: Ticket) -> Option<Permit> {
        tokio::time::timeout(Duration::from_millis(20), ticket.wait())
            .await
            .ok()
    }

    #[tokio::test(start_paused = true)]
    async fn quota_and_fifo() {
        let s = scheduler(1, 10);
        let a = s.enqueue("f", None).expect("queued");
        let b = s.enqueue("g", None).expect("queued");
        let c = s.enqueue("f", None).expect("queued");
        let first = started(a).await.expect("a starts");
        let (b_wait, c_wait) = (tokio::spawn(b.wait()), tokio::spawn(c.wait()));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!b_wait.is_finished());
        drop(first);
        let second = b_wait.await.expect("b starts");
        assert!(!c_wait.is_finished());
        drop(second);
        c_wait.await.expect("c starts");
    }

    #[tokio::test(start_paused = true)]
    async fn function_limit_lets_others_pass_but_not_its_own() {
        let s = scheduler(2, 10);
        let a = started(s.enqueue("f", Some(1)).expect("q"))
            .await
            .expect("a");
        let f2 = s.enqueue("f", Some(1)).expect("q");
        let g = s.enqueue("g", None).expect("q");
        assert!(started(g).await.is_some(), "g passes f's waiting call");
        assert!(started(f2).await.is_none(), "f is at its limit");
        drop(a);
    }

    #[tokio::test(start_paused = true)]
    async fn bound_and_leaving() {
        let s = scheduler(1, 2);
        let running = started(s.enqueue("f", None).expect("q"))
            .await
            .expect("runs");
        let w1 = s.enqueue("f", None).expect("q");
        let _w2 = s.enqueue("f", None).expect("q");
        assert!(s.enqueue("f", None).is_err());
        let _resumed = s.requeue("f", None);
        assert_eq!(s.queued("f"), 3, "resumed calls skip the bound");
        drop(w1);
        assert_eq!(s.queued("f"), 2);
        drop(running);
        assert_eq!(s.queued("f"), 1);
    }
}
