//! Prometheus metrics: OpenFaaS's gateway names plus faas's queue and quota
//! gauges, in one registry served at `/metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Finished calls by function and HTTP status code.
    pub invocation_total: IntCounterVec,
    /// Run time of calls.
    pub functions_seconds: HistogramVec,
    /// Replicas per function.
    pub service_count: IntGaugeVec,
    /// Calls accepted, before they queue.
    pub invocation_started: IntCounterVec,
    pub queue_depth: IntGaugeVec,
    pub calls_running: IntGaugeVec,
    pub quota_in_use: IntGauge,
    /// Time calls spent in the queue.
    pub call_wait_seconds: HistogramVec,
}

impl Metrics {
    pub fn new() -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let function = &["function_name"];
        let metrics = Metrics {
            invocation_total: IntCounterVec::new(
                Opts::new(
                    "gateway_function_invocation_total",
                    "Function calls finished, by status code",
                ),
                &["function_name", "code"],
            )?,
            functions_seconds: HistogramVec::new(
                HistogramOpts::new("gateway_functions_seconds", "Function run time in seconds"),
                function,
            )?,
            service_count: IntGaugeVec::new(
                Opts::new("gateway_service_count", "Replicas of a function"),
                function,
            )?,
            invocation_started: IntCounterVec::new(
                Opts::new(
                    "gateway_function_invocation_started",
                    "Function calls accepted",
                ),
                function,
            )?,
            queue_depth: IntGaugeVec::new(
                Opts::new("faas_queue_depth", "Calls waiting in the queue"),
                function,
            )?,
            calls_running: IntGaugeVec::new(
                Opts::new("faas_calls_running", "Calls running"),
                function,
            )?,
            quota_in_use: IntGauge::new("faas_quota_in_use", "Calls running across the gateway")?,
            call_wait_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "faas_call_wait_seconds",
                    "Time calls waited in the queue, in seconds",
                ),
                function,
            )?,
            registry,
        };
        let r = &metrics.registry;
        r.register(Box::new(metrics.invocation_total.clone()))?;
        r.register(Box::new(metrics.functions_seconds.clone()))?;
        r.register(Box::new(metrics.service_count.clone()))?;
        r.register(Box::new(metrics.invocation_started.clone()))?;
        r.register(Box::new(metrics.queue_depth.clone()))?;
        r.register(Box::new(metrics.calls_running.clone()))?;
        r.register(Box::new(metrics.quota_in_use.clone()))?;
        r.register(Box::new(metrics.call_wait_seconds.clone()))?;
        Ok(metrics)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Forgets a removed function's series.
    pub fn forget(&self, function: &str) {
        let _ = self.service_count.remove_label_values(&[function]);
        let _ = self.queue_depth.remove_label_values(&[function]);
        let _ = self.calls_running.remove_label_values(&[function]);
    }
}
