//! The gateway's own scaler for service functions (docs/scaling.md). Every tick it
//! compares each function's load — calls running and waiting — with its
//! replicas: `ceil(load / com.openfaas.scale.target)` (default 10) replicas
//! are wanted, within `com.openfaas.scale.min` (1) and
//! `com.openfaas.scale.max` (20), and never above `--max-replicas`. Up is at once; down only after the lower
//! count has been wanted for [`DOWN_AFTER`], so bursts are not undone at the
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

use tokio::time::Instant;

use crate::app::App;
use crate::function::{Mode, Scaling};

/// How often the scaler looks.
const TICK: Duration = Duration::from_secs(1);
/// How long a lower replica count must be wanted before scaling down.
const DOWN_AFTER: Duration = Duration::from_secs(10);

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
#[derive(Default)]
pub struct Scaler {
    lower_since: HashMap<String, Instant>,
}

impl Scaler {
    /// The replica count to set `function` to now, if any: up at once but
    /// only for calls (a function scaled down by hand, or to zero, stays
    /// there until it gets work), down once the lower count has been
    /// wanted for [`DOWN_AFTER`] (to zero at once: idleness already waited).
    pub fn decide(&mut self, function: &str, want: u64, have: u64, load: usize) -> Option<u64> {
        let change = if want > have {
            self.lower_since.remove(function);
            load > 0
        } else if want < have {
            let since = *self
                .lower_since
                .entry(function.to_string())
                .or_insert_with(Instant::now);
            since.elapsed() >= DOWN_AFTER || want == 0
        } else {
            false
        };
        if want == have || change {
            self.lower_since.remove(function);
        }
        change.then_some(want)
    }
}

/// Runs the scaler until the gateway stops.
pub async fn run(app: Arc<App>) {
    let started = Instant::now();
    let mut scaler = Scaler::default();
    loop {
        tokio::select! {
            () = app.stopping.cancelled() => return,
            () = tokio::time::sleep(TICK) => {}
        }
        for deployed in app.registry.all() {
            let function = &deployed.function;
            if function.mode != Mode::Service {
                continue;
            }
            let (load, last_call) = app.scheduler.load(&function.name);
            let idle = Some(last_call.unwrap_or(started).elapsed());
            let scaling = function.scaling().capped(app.config.max_replicas);
            let want = wanted(&scaling, load, idle).max(app.alert_floors.of(&function.name));
            let Ok(have) = app.backend.desired(&function.name).await else {
                continue;
            };
            let Some(want) = scaler.decide(&function.name, want, have, load) else {
                continue;
            };
            match app.backend.scale(&function.name, want).await {
                Ok(()) => {
                    tracing::info!(function = %function.name, from = have, to = want, load, "scaled");
                    app.metrics
                        .service_count
                        .with_label_values(&[&function.name])
                        .set(want as i64);
                }
                Err(err) => tracing::warn!(function = %function.name, "cannot scale: {err}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut scaler = Scaler::default();
        assert_eq!(scaler.decide("f", 1, 3, 0), None, "the clock starts");
        tokio::time::advance(DOWN_AFTER - Duration::from_millis(1)).await;
        assert_eq!(scaler.decide("f", 1, 3, 0), None);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(scaler.decide("f", 1, 3, 0), Some(1));
        assert_eq!(scaler.decide("f", 1, 3, 0), None, "the clock starts again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_between_resets_the_down_clock() {
        let mut scaler = Scaler::default();
        assert_eq!(scaler.decide("f", 1, 3, 0), None);
        tokio::time::advance(Duration::from_secs(8)).await;
        assert_eq!(scaler.decide("f", 3, 3, 25), None, "wanted again");
        tokio::time::advance(Duration::from_secs(8)).await;
        assert_eq!(scaler.decide("f", 1, 3, 0), None, "8 s, not 16");
    }

    #[tokio::test(start_paused = true)]
    async fn up_at_once_for_calls_and_to_zero_at_once() {
        let mut scaler = Scaler::default();
        assert_eq!(scaler.decide("f", 4, 1, 35), Some(4));
        assert_eq!(scaler.decide("f", 2, 1, 0), None, "no calls: no scale up");
        assert_eq!(scaler.decide("f", 0, 1, 0), Some(0));
    }
}
