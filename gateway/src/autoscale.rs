//! The gateway's own scaler for service functions (SPEC §6). Every tick it
//! compares each function's load — calls running and waiting — with its
//! replicas: `ceil(load / com.openfaas.scale.target)` (default 10) replicas
//! are wanted, within `com.openfaas.scale.min` (1) and
//! `com.openfaas.scale.max` (20). Up is at once; down only after the lower
//! count has been wanted for [`DOWN_AFTER`], so bursts and AlertManager's
//! `/system/alert` firings are not undone at the next tick; and up only
//! while the function has calls, so a function scaled down by hand stays
//! there until it gets work. With
//! `com.openfaas.scale.zero=true` a function with no call for
//! `com.openfaas.scale.zero-duration` (default 5m) goes to 0 replicas; the
//! next call wakes it (the backend starts a replica while the call waits).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::model::{Function, Mode};

/// How often the scaler looks.
const TICK: Duration = Duration::from_secs(1);
/// How long a lower replica count must be wanted before scaling down.
const DOWN_AFTER: Duration = Duration::from_secs(10);
/// Idle time before scale to zero, unless the function's label says.
const ZERO_AFTER: Duration = Duration::from_secs(300);

/// The replicas a function should have now.
pub fn wanted(function: &Function, load: usize, idle: Option<Duration>) -> u64 {
    let min = function.min_replicas();
    let max = function.scale_label("com.openfaas.scale.max", 20).max(min);
    let target = function.scale_label("com.openfaas.scale.target", 10).max(1);
    let zero = function
        .labels
        .get("com.openfaas.scale.zero")
        .map(String::as_str)
        == Some("true");
    let zero_after = function
        .labels
        .get("com.openfaas.scale.zero-duration")
        .and_then(|v| watchdog::duration::parse(v))
        .unwrap_or(ZERO_AFTER);
    if load == 0 && zero && idle.is_some_and(|idle| idle >= zero_after) {
        return 0;
    }
    (load as u64)
        .div_ceil(target)
        .clamp(min.max(u64::from(load > 0)), max)
}

/// Runs the scaler until `stop`.
pub async fn run(app: Arc<App>, stop: CancellationToken) {
    let started = Instant::now();
    // Since when each function has wanted fewer replicas than it has.
    let mut lower_since: HashMap<String, Instant> = HashMap::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(TICK) => {}
        }
        for deployed in app.registry.all() {
            let function = &deployed.function;
            if function.mode != Mode::Service {
                continue;
            }
            let (load, last_call) = app.scheduler.load(&function.name);
            let idle = Some(last_call.unwrap_or(started).elapsed());
            let want = wanted(function, load, idle);
            let Ok(have) = app.backend.desired(&function.name).await else {
                continue;
            };
            let change = if want > have {
                // Up only for calls: a function scaled down by hand (or to
                // zero) stays there until it gets work.
                lower_since.remove(&function.name);
                load > 0
            } else if want < have {
                let since = *lower_since
                    .entry(function.name.clone())
                    .or_insert_with(Instant::now);
                since.elapsed() >= DOWN_AFTER || want == 0
            } else {
                lower_since.remove(&function.name);
                false
            };
            if !change {
                continue;
            }
            lower_since.remove(&function.name);
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

    fn function(labels: &[(&str, &str)]) -> Function {
        let mut f: Function = serde_json::from_value(serde_json::json!({
            "name": "f", "uuid": "00000000-0000-0000-0000-000000000000", "image": "img",
            "mode": "service", "command": [], "envProcess": "cat", "envVars": {},
            "labels": {}, "annotations": {}, "constraints": [], "secrets": [],
            "limits": null, "requests": null, "readOnlyRootFilesystem": false,
            "network": null, "timeout": 30, "maxConcurrency": null, "created": 0
        }))
        .expect("a function");
        f.labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        f
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
}
