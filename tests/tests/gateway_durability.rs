//! What survives: `kill -9` with queued async calls (all finish after a
//! restart, the running one fails with a message), and output rotation
//! (rotated outputs answer 410).

use std::time::{Duration, Instant};

use faas_tests::gateway::start_gateway;
use reqwest::Method;
use serde_json::{json, Value};

#[test]
fn kill_9_with_200_queued_calls_loses_none() {
    let mut gw = start_gateway(&[("FAAS_QUOTA", "1")]);
    gw.deploy(json!({"service": "blocker", "image": "x", "command": ["sleep", "5"]}));
    gw.deploy(json!({"service": "cat", "image": "x", "command": ["cat"]}));
    let blocker = gw.call_async("blocker", "");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r: Value = gw
            .admin(Method::GET, &format!("/system/calls/{blocker}"))
            .send()
            .expect("record")
            .json()
            .expect("json");
        if r["Status"] == "RUNNING" {
            break;
        }
        assert!(Instant::now() < deadline, "the blocker never ran");
        std::thread::sleep(Duration::from_millis(10));
    }
    let ids: Vec<(String, String)> = (0..200)
        .map(|i| {
            let input = format!("input {i}");
            (gw.call_async("cat", input.clone()), input)
        })
        .collect();
    gw.kill9();
    gw.restart();
    for (id, input) in &ids {
        let (status, out) = gw.wait_output(id);
        assert_eq!(status, 200, "call {id}");
        assert_eq!(String::from_utf8_lossy(&out), *input);
    }
    let record: Value = gw
        .admin(Method::GET, &format!("/system/calls/{blocker}"))
        .send()
        .expect("record")
        .json()
        .expect("json");
    assert_eq!(record["Status"], "FAILED");
    assert_eq!(
        record["Message"],
        "the gateway restarted while the call was running"
    );
    let counts: Value = gw
        .admin(Method::GET, "/system/function/cat/status")
        .send()
        .expect("status")
        .json()
        .expect("json");
    assert_eq!(counts["Finished"], 200);
}

#[test]
fn rotated_outputs_answer_410() {
    let gw = start_gateway(&[
        ("FAAS_OUTPUT_CACHE_BYTES", "1000"),
        ("FAAS_LOG_CACHE_BYTES", "2000"),
    ]);
    gw.deploy(json!({"service": "cat", "image": "x", "command": ["cat"]}));
    let ids: Vec<String> = (0..3)
        .map(|i| {
            let id = gw.call_async("cat", format!("{i}").repeat(600));
            assert_eq!(gw.wait_output(&id).0, 200, "a fresh output is there");
            id
        })
        .collect();
    let (status, body) = gw.wait_output(&ids[0]);
    assert_eq!(status, 410, "{}", String::from_utf8_lossy(&body));
    assert_eq!(gw.wait_output(&ids[1]).0, 410);
    let (status, body) = gw.wait_output(&ids[2]);
    assert_eq!(status, 200);
    assert_eq!(body, "2".repeat(600).as_bytes());
    let logs = gw
        .admin(Method::GET, "/system/logs?name=cat")
        .send()
        .expect("logs")
        .text()
        .expect("text");
    let bytes: usize = logs.len();
    assert!(
        logs.lines().count() < 12,
        "old events rotated out ({bytes} bytes of logs)"
    );
    assert!(logs.contains(&ids[2]), "the newest events stay");
}
