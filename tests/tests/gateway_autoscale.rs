//! Scaling of service functions (SPEC §6) on the real gateway, process
//! backend (replica counts are the backend's desired replicas): the load
//! scaler, scale to zero and back on the next call, and AlertManager's
//! `/system/alert` firing and resolved.

use std::time::{Duration, Instant};

use faas_tests::gateway::{start_gateway, GatewayHandle};
use reqwest::Method;
use serde_json::json;

fn replicas(gw: &GatewayHandle, name: &str) -> u64 {
    let v: serde_json::Value = gw
        .admin(Method::GET, &format!("/system/function/{name}"))
        .send()
        .expect("function")
        .json()
        .expect("json");
    v["replicas"].as_u64().expect("replicas")
}

/// Waits up to `seconds` for the replicas of `name` to be `want`.
fn replicas_become(gw: &GatewayHandle, name: &str, want: u64, seconds: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        if replicas(gw, name) == want {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

#[test]
fn load_scales_a_service_up_within_its_max() {
    let gw = start_gateway(&[("FAAS_QUOTA", "20")]);
    gw.deploy(json!({
        "service": "busy", "image": "faas/sample-cat", "envProcess": "sleep 4",
        "labels": {"com.openfaas.scale.target": "2", "com.openfaas.scale.max": "3"}
    }));
    assert_eq!(replicas(&gw, "busy"), 1);
    let ids: Vec<String> = (0..8).map(|_| gw.call_async("busy", "")).collect();
    // 8 calls in flight at a target of 2 per replica want 4: capped at 3.
    assert!(
        replicas_become(&gw, "busy", 3, 5),
        "replicas: {}",
        replicas(&gw, "busy")
    );
    for id in &ids {
        assert_eq!(gw.wait_output(id).0, 200);
    }
}

#[test]
fn idle_function_scales_to_zero_and_back_on_a_call() {
    let gw = start_gateway(&[]);
    gw.deploy(json!({
        "service": "sleepy", "image": "faas/sample-cat", "envProcess": "cat",
        "labels": {"com.openfaas.scale.zero": "true", "com.openfaas.scale.zero-duration": "2s"}
    }));
    let never = json!({"service": "awake", "image": "faas/sample-cat", "envProcess": "cat"});
    gw.deploy(never);
    assert!(
        replicas_become(&gw, "sleepy", 0, 10),
        "idle for 2 s goes to zero"
    );
    assert_eq!(
        replicas(&gw, "awake"),
        1,
        "without the label it stays at its min"
    );
    let resp = gw
        .client
        .post(gw.url("/function/sleepy"))
        .body("wake")
        .send()
        .expect("call");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().expect("text"), "wake");
    assert!(
        replicas_become(&gw, "sleepy", 1, 5),
        "a call brings it back"
    );
}

#[test]
fn alertmanager_firing_and_resolved() {
    let gw = start_gateway(&[]);
    gw.deploy(json!({
        "service": "alerted", "image": "faas/sample-cat", "envProcess": "cat",
        "labels": {"com.openfaas.scale.max": "10", "com.openfaas.scale.factor": "20"}
    }));
    let alert = |status: &str| {
        let resp = gw
            .admin(Method::POST, "/system/alert")
            .json(&json!({
                "status": status, "receiver": "scale-up",
                "alerts": [{"status": status, "labels": {"alertname": "APIHighInvocationRate", "function_name": "alerted"}}]
            }))
            .send()
            .expect("alert");
        assert!(resp.status().is_success(), "{}", resp.status());
    };
    alert("firing");
    // ceil(10 × 20 / 100) = 2 more than the 1 it had.
    assert_eq!(replicas(&gw, "alerted"), 3);
    alert("firing");
    assert_eq!(replicas(&gw, "alerted"), 5);
    alert("resolved");
    assert_eq!(replicas(&gw, "alerted"), 1);
}
