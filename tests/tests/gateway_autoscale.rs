//! Scaling of service functions (docs/scaling.md) on the real gateway, process
//! backend (replica counts are the backend's desired replicas): the load
//! scaler, scale to zero and back on the next call, and AlertManager's
//! `/system/alert` firing (held by the scaler until resolved) and resolved.

use std::time::Duration;

use faas_tests::eventually;
use faas_tests::gateway::{start_gateway, Gateway};
use serde_json::{json, Map, Value};

/// A service function `name` of the sample image running `process`, with
/// the `com.openfaas.scale.<key>` labels of `scale`.
fn service(name: &str, process: &str, scale: &[(&str, &str)]) -> Value {
    let labels: Map<String, Value> = scale
        .iter()
        .map(|(key, value)| (format!("com.openfaas.scale.{key}"), json!(value)))
        .collect();
    json!({"service": name, "image": "faas/sample-cat", "envProcess": process, "labels": labels})
}

/// Waits up to `seconds` for `name` to want `replicas`.
fn replicas_become(gw: &Gateway, name: &str, replicas: u64, seconds: u64) {
    eventually(
        &format!("{name} to want {replicas} replicas"),
        Duration::from_secs(seconds),
        || (gw.replicas(name) == replicas).then_some(()),
    );
}

#[test]
fn load_scales_a_service_up_within_its_max() {
    let gw = start_gateway(&[("FAAS_QUOTA", "20")]);
    gw.deploy(service("busy", "sleep 4", &[("target", "2"), ("max", "3")]));
    assert_eq!(gw.replicas("busy"), 1);
    let ids: Vec<String> = (0..8).map(|_| gw.call_async("busy", "")).collect();
    // 8 calls in flight at a target of 2 per replica want 4: capped at 3.
    replicas_become(&gw, "busy", 3, 5);
    for id in &ids {
        assert_eq!(gw.wait_output(id).status, 200);
    }
}

#[test]
fn idle_function_scales_to_zero_and_back_on_a_call() {
    let gw = start_gateway(&[]);
    let to_zero = [("zero", "true"), ("zero-duration", "2s")];
    gw.deploy(service("sleepy", "cat", &to_zero));
    gw.deploy(service("awake", "cat", &[]));
    // Idle for 2 s, it goes to zero.
    replicas_become(&gw, "sleepy", 0, 10);
    assert_eq!(
        gw.replicas("awake"),
        1,
        "without the label it stays at its min"
    );
    let woken = gw.call("sleepy", "wake");
    assert_eq!(woken.status, 200);
    assert_eq!(woken.text(), "wake");
    // A call brings it back.
    replicas_become(&gw, "sleepy", 1, 5);
}

#[test]
fn alertmanager_firing_and_resolved() {
    let gw = start_gateway(&[("FAAS_SCALE_DOWN_DELAY", "1s")]);
    let scale = [("max", "10"), ("factor", "20")];
    gw.deploy(service("alerted", "cat", &scale));
    gw.deploy(service("unalerted", "cat", &scale));
    gw.alert("firing", "alerted");
    // ceil(10 × 20 / 100) = 2 more than the 1 it had.
    assert_eq!(gw.replicas("alerted"), 3);
    gw.alert("firing", "alerted");
    assert_eq!(gw.replicas("alerted"), 5);
    // The gateway's own scaler wants 1 for no calls: a function scaled by
    // hand to 5 goes back once its 1 s down delay has passed, while the
    // alert keeps its function's count.
    gw.scale("unalerted", 5);
    replicas_become(&gw, "unalerted", 1, 10);
    assert_eq!(gw.replicas("alerted"), 5, "held while firing");
    gw.alert("resolved", "alerted");
    assert_eq!(gw.replicas("alerted"), 1);
}
