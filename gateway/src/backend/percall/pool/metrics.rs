//! The pool's metrics, registered in the gateway's registry through
//! `Backend::collectors`.

use prometheus::core::Collector;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts};

/// `faas_pool_ready`, `faas_pool_hits_total`, `faas_pool_waits_total`,
/// `faas_pool_misses_total` and `faas_container_start_seconds`.
pub struct PoolMetrics {
    ready: IntGaugeVec,
    pub hits: IntCounterVec,
    pub waits: IntCounterVec,
    pub misses: IntCounterVec,
    pub start_seconds: HistogramVec,
}

impl PoolMetrics {
    pub fn new() -> prometheus::Result<PoolMetrics> {
        let function = &["function_name"];
        Ok(PoolMetrics {
            ready: IntGaugeVec::new(
                Opts::new("faas_pool_ready", "Warm containers ready for a call"),
                function,
            )?,
            hits: IntCounterVec::new(
                Opts::new("faas_pool_hits_total", "Calls served by a warm container"),
                function,
            )?,
            waits: IntCounterVec::new(
                Opts::new(
                    "faas_pool_waits_total",
                    "Calls served by a warm container they waited for while it started",
                ),
                function,
            )?,
            misses: IntCounterVec::new(
                Opts::new(
                    "faas_pool_misses_total",
                    "Calls that ran cold: no warm container was ready or starting for them",
                ),
                function,
            )?,
            start_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "faas_container_start_seconds",
                    "Time to create and start a warm container until its launcher is ready",
                )
                .buckets(vec![0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0]),
                function,
            )?,
        })
    }

    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.ready.clone()),
            Box::new(self.hits.clone()),
            Box::new(self.waits.clone()),
            Box::new(self.misses.clone()),
            Box::new(self.start_seconds.clone()),
        ]
    }

    pub fn set_ready(&self, function: &str, ready: usize) {
        self.ready
            .with_label_values(&[function])
            .set(i64::try_from(ready).unwrap_or(i64::MAX));
    }

    pub fn forget(&self, function: &str) {
        let _ = self.ready.remove_label_values(&[function]);
        let _ = self.hits.remove_label_values(&[function]);
        let _ = self.waits.remove_label_values(&[function]);
        let _ = self.misses.remove_label_values(&[function]);
        let _ = self.start_seconds.remove_label_values(&[function]);
    }
}
