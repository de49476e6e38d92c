//! The gateway's own scaler for service functions (docs/scaling.md). Every tick it
//! compares each function's load — calls running and waiting — with its
//! replicas: `ceil(load / com.openfaas.scale.target)` (default 10) replicas
//! are wanted, within `com.openfaas.scale.min` (1) and
//! `com.openfaas.scale.max` (20), and never above `--max-replicas`. Up is
//! at once; down only after the lower count has been wanted for
//! `--scale-down-delay` (default 10 s), so bursts are not undone at the
//! next tick; and up only while the function has calls, so a function
//! scaled down by hand stays there until it gets work. A firing
//! AlertManager alert (`/system/alert`) sets a floor ([`crate::alerts`]) the
//! scaler keeps until the alert is resolved, as OpenFaaS keeps it. With
//! `com.openfaas.scale.zero=true` a function with no call for
//! `com.openfaas.scale.zero-duration` (default 5m) goes to 0 replicas; the
//! next call wakes it (the backend starts a replica while the call waits).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::alerts::AlertFloors;
use crate::backend::front::Backend;
use crate::backend::BackendError;
use crate::function::{Mode, Scaling};
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::scheduler::Scheduler;

/// How often the scaler looks.
const TICK: Duration = Duration::from_secs(1);

/// What the scaler asks of the backend: [`Backend`] in the gateway, a
/// fake in the tests.
#[async_trait]
pub trait Scale: Send + Sync {
    /// The replicas `name` is meant to have.
    async fn desired(&self, name: &str) -> Result<u64, BackendError>;
    /// Sets the replicas `name` is meant to have.
    async fn scale(&self, name: &str, replicas: u64) -> Result<(), BackendError>;
}

#[async_trait]
impl Scale for Backend {
    async fn desired(&self, name: &str) -> Result<u64, BackendError> {
        Backend::desired(self, name).await
    }

    async fn scale(&self, name: &str, replicas: u64) -> Result<(), BackendError> {
        Backend::scale(self, name, replicas).await
    }
}

/// The replicas a function should have now, for `load` calls running and
/// waiting, idle for `idle`.
pub fn wanted(scaling: &Scaling, load: usize, idle: Option<Duration>) -> u64 {
    if load == 0 && scaling.zero && idle.is_some_and(|idle| idle >= scaling.zero_after) {
        return 0;
    }
    (load as u64)
        .div_ceil(scaling.target)
        .clamp(scaling.min.max(u64::from(load > 0)), scaling.max)
}

/// What the scaler remembers between ticks: since when each function has
/// wanted fewer replicas than it has.
pub struct Scaler {
    /// `--scale-down-delay`: how long a lower count must be wanted.
    down_after: Duration,
    lower_since: HashMap<String, Instant>,
}

impl Scaler {
    pub fn new(down_after: Duration) -> Scaler {
        Scaler {
            down_after,
            lower_since: HashMap::new(),
        }
    }

    /// The replica count to set `function` to now, if any: up at once but
    /// only for calls (a function scaled down by hand, or to zero, stays
    /// there until it gets work), down once the lower count has been
    /// wanted for the delay (to zero at once: idleness already waited).
    pub fn decide(&mut self, function: &str, want: u64, have: u64, load: usize) -> Option<u64> {
        let change = if want > have {
            self.lower_since.remove(function);
            load > 0
        } else if want < have {
            let since = *self
                .lower_since
                .entry(function.to_string())
                .or_insert_with(Instant::now);
            since.elapsed() >= self.down_after || want == 0
        } else {
            false
        };
        if want == have || change {
            self.lower_since.remove(function);
        }
        change.then_some(want)
    }
}

/// What the scaler reads and changes.
pub struct Autoscaler {
    /// The functions to scale (service ones).
    pub registry: Arc<Registry>,
    /// Their load: calls running and waiting, and when each last got one.
    pub scheduler: Arc<Scheduler>,
    /// Their replicas.
    pub backend: Arc<dyn Scale>,
    /// What firing alerts keep functions at.
    pub floors: Arc<AlertFloors>,
    /// `gateway_service_count`, set at each scale.
    pub metrics: Metrics,
    pub limits: ScalingLimits,
}

/// What bounds the autoscaler's decisions, whatever a function's labels
/// say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalingLimits {
    /// `--max-replicas`: the most replicas of any function.
    pub max_replicas: u64,
    /// `--scale-down-delay`: how long it must want fewer replicas of a
    /// function before it scales it down.
    pub down_after: Duration,
}

impl Autoscaler {
    /// Runs the scaler until `stopping` is cancelled.
    pub async fn run(self, stopping: CancellationToken) {
        let started = Instant::now();
        let mut scaler = Scaler::new(self.limits.down_after);
        loop {
            tokio::select! {
                () = stopping.cancelled() => return,
                () = tokio::time::sleep(TICK) => {}
            }
            for deployed in self.registry.all() {
                let function = &deployed.function;
                if function.mode == Mode::Service {
                    self.look(&mut scaler, &function.name, function.scaling(), started)
                        .await;
                }
            }
        }
    }

    /// Scales the service function `name` if its load asks for it.
    async fn look(&self, scaler: &mut Scaler, name: &str, scaling: Scaling, started: Instant) {
        let (load, last_call) = self.scheduler.load(name);
        let idle = Some(last_call.unwrap_or(started).elapsed());
        let scaling = scaling.capped(self.limits.max_replicas);
        let want = wanted(&scaling, load, idle).max(self.floors.of(name));
        let Ok(have) = self.backend.desired(name).await else {
            return;
        };
        let Some(want) = scaler.decide(name, want, have, load) else {
            return;
        };
        match self.backend.scale(name, want).await {
            Ok(()) => {
                tracing::info!(function = %name, from = have, to = want, load, "scaled");
                self.metrics
                    .service_count
                    .with_label_values(&[name])
                    .set(want as i64);
            }
            Err(err) => tracing::warn!(function = %name, "cannot scale: {err}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::function::{Deployment, Function};
    use crate::scheduler::Ticket;

    /// The delay of the scaler tests: the default.
    const DOWN_AFTER: Duration = Duration::from_secs(10);

    fn function(labels: &[(&str, &str)]) -> Scaling {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Scaling::of(&labels)
    }

    #[test]
    fn load_over_target_within_min_and_max() {
        let f = function(&[]);
        assert_eq!(wanted(&f, 0, None), 1);
        assert_eq!(wanted(&f, 10, None), 1);
        assert_eq!(wanted(&f, 11, None), 2);
        assert_eq!(wanted(&f, 1000, None), 20);
        let f = function(&[
            ("com.openfaas.scale.target", "2"),
            ("com.openfaas.scale.max", "4"),
            ("com.openfaas.scale.min", "2"),
        ]);
        assert_eq!(wanted(&f, 0, None), 2);
        assert_eq!(wanted(&f, 7, None), 4);
    }

    #[test]
    fn zero_after_idle_only_when_asked() {
        let long = Some(Duration::from_secs(600));
        assert_eq!(wanted(&function(&[]), 0, long), 1);
        let f = function(&[("com.openfaas.scale.zero", "true")]);
        assert_eq!(wanted(&f, 0, long), 0);
        assert_eq!(wanted(&f, 0, Some(Duration::from_secs(10))), 1);
        assert_eq!(wanted(&f, 3, long), 1);
        let f = function(&[
            ("com.openfaas.scale.zero", "true"),
            ("com.openfaas.scale.zero-duration", "2s"),
        ]);
        assert_eq!(wanted(&f, 0, Some(Duration::from_secs(3))), 0);
        let f = function(&[
            ("com.openfaas.scale.zero", "true"),
            ("com.openfaas.scale.min", "0"),
        ]);
        assert_eq!(wanted(&f, 1, None), 1, "a call always gets a replica");
    }

    #[tokio::test(start_paused = true)]
    async fn down_only_after_the_lower_count_was_wanted_long_enough() {
        let mut scaler = Scaler::new(DOWN_AFTER);
        assert_eq!(scaler.decide("f", 1, 3, 0), None, "the clock starts");
        tokio::time::advance(DOWN_AFTER - Duration::from_millis(1)).await;
        assert_eq!(scaler.decide("f", 1, 3, 0), None);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(scaler.decide("f", 1, 3, 0), Some(1));
        assert_eq!(scaler.decide("f", 1, 3, 0), None, "the clock starts again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_between_resets_the_down_clock() {
        let mut scaler = Scaler::new(DOWN_AFTER);
        assert_eq!(scaler.decide("f", 1, 3, 0), None);
        tokio::time::advance(Duration::from_secs(8)).await;
        assert_eq!(scaler.decide("f", 3, 3, 25), None, "wanted again");
        tokio::time::advance(Duration::from_secs(8)).await;
        assert_eq!(scaler.decide("f", 1, 3, 0), None, "8 s, not 16");
    }

    #[tokio::test(start_paused = true)]
    async fn up_at_once_for_calls_and_to_zero_at_once() {
        let mut scaler = Scaler::new(DOWN_AFTER);
        assert_eq!(scaler.decide("f", 4, 1, 35), Some(4));
        assert_eq!(scaler.decide("f", 2, 1, 0), None, "no calls: no scale up");
        assert_eq!(scaler.decide("f", 0, 1, 0), Some(0));
    }

    /// Replica counts as a backend keeps them, and every scale asked.
    #[derive(Default)]
    struct Counts {
        desired: Mutex<HashMap<String, u64>>,
        scales: Mutex<Vec<u64>>,
    }

    #[async_trait]
    impl Scale for Counts {
        async fn desired(&self, name: &str) -> Result<u64, BackendError> {
            let desired = self.desired.lock().expect("counts");
            desired
                .get(name)
                .copied()
                .ok_or_else(|| BackendError::NotFound(name.to_string()))
        }

        async fn scale(&self, name: &str, replicas: u64) -> Result<(), BackendError> {
            self.desired
                .lock()
                .expect("counts")
                .insert(name.to_string(), replicas);
            self.scales.lock().expect("counts").push(replicas);
            Ok(())
        }
    }

    /// An autoscaler running over one service function `f` at one
    /// replica, with a delay of [`DOWN_AFTER`].
    struct Running {
        scheduler: Arc<Scheduler>,
        counts: Arc<Counts>,
        stopping: CancellationToken,
    }

    impl Running {
        fn start() -> Running {
            let metrics = Metrics::new().expect("metrics");
            let registry = Arc::new(Registry::default());
            let deployment = Deployment {
                service: Some("f".into()),
                image: Some("i".into()),
                ..Deployment::default()
            };
            let function = Function::create(deployment, 0).expect("a function");
            assert_eq!(function.mode, Mode::Service);
            registry.reserve("f").expect("free").commit(function);
            let counts = Arc::new(Counts::default());
            counts.desired.lock().expect("counts").insert("f".into(), 1);
            let scheduler = Scheduler::new(1000, 1000, metrics.clone());
            let stopping = CancellationToken::new();
            let scaler = Autoscaler {
                registry,
                scheduler: scheduler.clone(),
                backend: counts.clone(),
                floors: Arc::default(),
                metrics,
                limits: ScalingLimits {
                    max_replicas: 100,
                    down_after: DOWN_AFTER,
                },
            };
            tokio::spawn(scaler.run(stopping.clone()));
            Running {
                scheduler,
                counts,
                stopping,
            }
        }

        /// `n` calls of `f` in the queue or running, until dropped.
        fn load(&self, n: usize) -> Vec<Ticket> {
            (0..n)
                .map(|_| self.scheduler.enqueue("f", None).expect("room"))
                .collect()
        }

        /// `n` calls of `f` for one look of the scaler, then none.
        async fn burst(&self, n: usize) {
            let calls = self.load(n);
            ticks(1).await;
            drop(calls);
        }

        fn desired(&self) -> u64 {
            self.counts.desired.lock().expect("counts")["f"]
        }

        fn scales(&self) -> Vec<u64> {
            self.counts.scales.lock().expect("counts").clone()
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.stopping.cancel();
        }
    }

    /// Lets the scaler look `ticks` times more (the clock is paused: this
    /// takes no real time).
    async fn ticks(ticks: u32) {
        tokio::time::sleep(TICK * ticks + TICK / 2).await;
    }

    #[tokio::test(start_paused = true)]
    async fn scales_up_under_load_at_the_next_look() {
        let scaler = Running::start();
        let calls = scaler.load(25);
        ticks(1).await;
        assert_eq!(scaler.desired(), 3, "25 calls at 10 a replica");
        assert_eq!(scaler.scales(), [3]);
        drop(calls);
    }

    #[tokio::test(start_paused = true)]
    async fn waits_the_delay_before_scaling_down() {
        let scaler = Running::start();
        scaler.burst(25).await;
        // The lower count is first wanted at the next look.
        ticks(1).await;
        tokio::time::sleep(DOWN_AFTER - TICK).await;
        assert_eq!(scaler.desired(), 3, "not before the delay");
        ticks(2).await;
        assert_eq!(scaler.desired(), 1, "down once the delay passed");
        assert_eq!(scaler.scales(), [3, 1]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_within_the_delay_cancels_the_scale_down() {
        let scaler = Running::start();
        scaler.burst(25).await;
        tokio::time::sleep(DOWN_AFTER / 2).await;
        scaler.burst(30).await;
        // Past when the first lower count would have gone down, but within
        // the delay since the burst.
        tokio::time::sleep(DOWN_AFTER / 2 + TICK * 2).await;
        assert_eq!(scaler.desired(), 3, "the burst restarted the delay");
        tokio::time::sleep(DOWN_AFTER).await;
        assert_eq!(scaler.desired(), 1);
        assert_eq!(scaler.scales(), [3, 1], "never up and down in between");
    }
}
