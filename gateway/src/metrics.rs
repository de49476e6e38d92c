//! Prometheus metrics: OpenFaaS's gateway names plus faas's queue and quota
//! gauges, in one registry served at `/metrics`.

use prometheus::core::Collector;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
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
    /// Requests with wrong credentials.
    pub login_failures: IntCounter,
    /// Requests refused (429) while their address was locked out.
    pub login_throttled: IntCounter,
}

impl Metrics {
    pub fn new() -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let r = Registrar(&registry);
        let function = &["function_name"];
        Ok(Metrics {
            invocation_total: r.add(IntCounterVec::new(
                Opts::new(
                    "gateway_function_invocation_total",
                    "Function calls finished, by status code",
                ),
                &["function_name", "code"],
            )?)?,
            functions_seconds: r.add(HistogramVec::new(
                HistogramOpts::new("gateway_functions_seconds", "Function run time in seconds"),
                function,
            )?)?,
            service_count: r.gauges("gateway_service_count", "Replicas of a function")?,
            invocation_started: r.add(IntCounterVec::new(
                Opts::new(
                    "gateway_function_invocation_started",
                    "Function calls accepted",
                ),
                function,
            )?)?,
            queue_depth: r.gauges("faas_queue_depth", "Calls waiting in the queue")?,
            calls_running: r.gauges("faas_calls_running", "Calls running")?,
            quota_in_use: r.add(IntGauge::new(
                "faas_quota_in_use",
                "Calls running across the gateway",
            )?)?,
            call_wait_seconds: r.add(HistogramVec::new(
                HistogramOpts::new(
                    "faas_call_wait_seconds",
                    "Time calls waited in the queue, in seconds",
                ),
                function,
            )?)?,
            login_failures: r.add(IntCounter::new(
                "faas_login_failures_total",
                "Requests with wrong admin credentials",
            )?)?,
            login_throttled: r.add(IntCounter::new(
                "faas_login_throttled_total",
                "Requests refused with 429 while their address was locked after failed logins",
            )?)?,
            registry,
        })
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Adds a metric kept elsewhere (the backend's).
    pub fn register(&self, collector: Box<dyn Collector>) -> prometheus::Result<()> {
        self.registry.register(collector)
    }

    /// Forgets a removed function's series.
    pub fn forget(&self, function: &str) {
        let _ = self.service_count.remove_label_values(&[function]);
        let _ = self.queue_depth.remove_label_values(&[function]);
        let _ = self.calls_running.remove_label_values(&[function]);
    }
}

/// Registers each metric as it is made.
struct Registrar<'a>(&'a Registry);

impl Registrar<'_> {
    fn add<M: Collector + Clone + 'static>(&self, metric: M) -> prometheus::Result<M> {
        self.0.register(Box::new(metric.clone()))?;
        Ok(metric)
    }

    /// A gauge per function.
    fn gauges(&self, name: &str, help: &str) -> prometheus::Result<IntGaugeVec> {
        self.add(IntGaugeVec::new(Opts::new(name, help), &["function_name"])?)
    }
}
