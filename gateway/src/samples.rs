//! The gateway's own short history of each function, for the portal's live
//! plots (no Prometheus needed). Every `--sample-interval` [`run`] takes a
//! [`Sample`] per function: the calls that ended since the previous one, per
//! status code, and their run times' p50 and p99; the calls queued and
//! running at that moment; the replicas. Each function keeps the samples of
//! the last [`WINDOW`] in a ring, so memory is bounded per function; a
//! removed function's ring goes at the next sample.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::backend::ReplicaCount;
use crate::clock;

/// How far back the samples go.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// One function's figures at one moment.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    /// When it was taken (RFC 3339, UTC, milliseconds).
    pub time: String,
    /// Calls that ended since the previous sample, per second, by the HTTP
    /// status code their caller got (`"200"`, `"500"`, …).
    pub calls_per_second: BTreeMap<String, f64>,
    /// The median run time of those calls (within 5 %); none when none ran.
    pub p50_seconds: Option<f64>,
    /// Their 99th percentile run time (within 5 %).
    pub p99_seconds: Option<f64>,
    /// Calls waiting in the queue at that moment.
    pub queued: usize,
    /// Calls running at that moment.
    pub running: usize,
    /// Replicas wanted.
    pub replicas: u64,
    /// Replicas running and healthy.
    pub available_replicas: u64,
}

/// Every function's ring, and what ended since the last sample.
pub struct Samples {
    pub interval: Duration,
    /// Samples kept per function: [`WINDOW`] / `interval`.
    capacity: usize,
    series: Mutex<HashMap<String, Series>>,
}

#[derive(Default)]
struct Series {
    /// Calls ended since the last sample.
    since: Tally,
    ring: VecDeque<Sample>,
}

#[derive(Default)]
struct Tally {
    codes: BTreeMap<u16, u64>,
    run_times: Histogram,
}

/// What a function looks like at a sample, besides its calls.
pub struct Figures {
    pub function: String,
    pub queued: usize,
    pub running: usize,
    pub replicas: ReplicaCount,
}

impl Samples {
    pub fn new(interval: Duration) -> Samples {
        let interval = interval.max(Duration::from_millis(1));
        let capacity = WINDOW.as_millis().div_ceil(interval.as_millis()).max(1) as usize;
        Samples {
            interval,
            capacity,
            series: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Series>> {
        self.series.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A call of `function` ended with `code`, after running `seconds`
    /// (`None`: it never ran).
    pub fn observe(&self, function: &str, code: u16, seconds: Option<f64>) {
        let mut series = self.lock();
        let tally = match series.get_mut(function) {
            Some(s) => &mut s.since,
            None => &mut series.entry(function.to_string()).or_default().since,
        };
        *tally.codes.entry(code).or_default() += 1;
        if let Some(seconds) = seconds {
            tally.run_times.observe(seconds);
        }
    }

    /// Takes a sample of each function in `figures`, at `time_ms`,
    /// `elapsed` after the previous one; forgets the functions not in it.
    pub fn take(&self, time_ms: i64, elapsed: Duration, figures: Vec<Figures>) {
        let seconds = elapsed.as_secs_f64().max(0.001);
        let mut series = self.lock();
        let names: HashSet<&str> = figures.iter().map(|f| f.function.as_str()).collect();
        series.retain(|name, _| names.contains(name.as_str()));
        for f in figures {
            let s = series.entry(f.function).or_default();
            let tally = std::mem::take(&mut s.since);
            let sample = Sample {
                time: clock::millis(time_ms),
                calls_per_second: tally
                    .codes
                    .iter()
                    .map(|(code, n)| (code.to_string(), *n as f64 / seconds))
                    .collect(),
                p50_seconds: tally.run_times.quantile(0.5),
                p99_seconds: tally.run_times.quantile(0.99),
                queued: f.queued,
                running: f.running,
                replicas: f.replicas.desired,
                available_replicas: f.replicas.available,
            };
            s.ring.push_back(sample);
            while s.ring.len() > self.capacity {
                s.ring.pop_front();
            }
        }
    }

    /// The samples of `function`, oldest first.
    pub fn history(&self, function: &str) -> Vec<Sample> {
        self.lock()
            .get(function)
            .map(|s| s.ring.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Run times in buckets growing by 5 % from 100 µs: quantiles within 5 %
/// in a few hundred counters at most, whatever the number of calls.
#[derive(Default)]
struct Histogram {
    buckets: BTreeMap<u16, u64>,
    count: u64,
}

impl Histogram {
    const FIRST: f64 = 1e-4;
    const GROWTH: f64 = 1.05;

    fn bucket(seconds: f64) -> u16 {
        if seconds.is_nan() || seconds <= Self::FIRST {
            return 0;
        }
        let i = ((seconds / Self::FIRST).ln() / Self::GROWTH.ln()).ceil();
        i.min(f64::from(u16::MAX)) as u16
    }

    /// The largest run time bucket `i` holds.
    fn upper(i: u16) -> f64 {
        Self::FIRST * Self::GROWTH.powi(i32::from(i))
    }

    fn observe(&mut self, seconds: f64) {
        *self.buckets.entry(Self::bucket(seconds)).or_default() += 1;
        self.count += 1;
    }

    fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Some(Self::upper(*i));
            }
        }
        None
    }
}

/// Takes a sample of what `figures` reads every interval, until `stopping`.
pub async fn run<F, Fut>(samples: &Samples, stopping: CancellationToken, figures: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Vec<Figures>>,
{
    let mut tick = tokio::time::interval(samples.interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.tick().await;
    let mut last = Instant::now();
    loop {
        tokio::select! {
            () = stopping.cancelled() => return,
            _ = tick.tick() => {}
        }
        let figures = figures().await;
        let now = Instant::now();
        samples.take(clock::now_ms(), now - last, figures);
        last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(name: &str, queued: usize) -> Figures {
        Figures {
            function: name.into(),
            queued,
            running: 1,
            replicas: ReplicaCount {
                desired: 2,
                available: 1,
            },
        }
    }

    #[test]
    fn a_sample_counts_calls_per_second_by_code_and_their_quantiles() {
        let samples = Samples::new(Duration::from_secs(5));
        for i in 1..=100 {
            samples.observe("f", 200, Some(f64::from(i) / 1000.0));
        }
        samples.observe("f", 500, None);
        samples.take(0, Duration::from_secs(2), vec![figures("f", 3)]);
        let history = samples.history("f");
        assert_eq!(history.len(), 1);
        let s = &history[0];
        assert_eq!(s.calls_per_second.get("200"), Some(&50.0));
        assert_eq!(s.calls_per_second.get("500"), Some(&0.5));
        let p50 = s.p50_seconds.expect("p50");
        let p99 = s.p99_seconds.expect("p99");
        assert!((0.050..=0.050 * 1.05).contains(&p50), "{p50}");
        assert!((0.099..=0.099 * 1.05).contains(&p99), "{p99}");
        assert_eq!((s.queued, s.running), (3, 1));
        assert_eq!((s.replicas, s.available_replicas), (2, 1));
        assert_eq!(s.time, "1970-01-01T00:00:00.000Z");
        // The next sample starts from nothing.
        samples.take(5000, Duration::from_secs(5), vec![figures("f", 0)]);
        let s = &samples.history("f")[1];
        assert!(s.calls_per_second.is_empty());
        assert_eq!((s.p50_seconds, s.p99_seconds), (None, None));
    }

    #[test]
    fn the_ring_keeps_the_window_and_forgets_removed_functions() {
        let samples = Samples::new(Duration::from_secs(60));
        for t in 0..20 {
            samples.take(t, Duration::from_secs(60), vec![figures("f", 0)]);
        }
        assert_eq!(samples.history("f").len(), 15);
        assert_eq!(samples.history("f")[0].time, "1970-01-01T00:00:00.005Z");
        samples.observe("g", 200, Some(0.1));
        samples.take(20, Duration::from_secs(60), vec![figures("g", 0)]);
        assert!(samples.history("f").is_empty());
        assert_eq!(samples.history("g").len(), 1);
        assert!(samples.history("nobody").is_empty());
    }

    #[test]
    fn histogram_buckets_cover_tiny_and_huge_times() {
        assert_eq!(Histogram::bucket(0.0), 0);
        assert_eq!(Histogram::bucket(f64::NAN), 0);
        assert!(Histogram::upper(Histogram::bucket(86_400.0)) >= 86_400.0);
        assert!(Histogram::bucket(f64::INFINITY) == u16::MAX);
        assert_eq!(Histogram::default().quantile(0.5), None);
    }
}
