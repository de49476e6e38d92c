//! What survives: `kill -9` with queued async calls (all finish after a
//! restart, the running one fails with a message), and output rotation
//! (rotated outputs answer 410).

use std::time::Duration;

use faas_tests::eventually;
use faas_tests::gateway::start_gateway;
use serde_json::json;

#[test]
fn kill_9_with_200_queued_calls_loses_none() {
    let mut gw = start_gateway(&[("FAAS_QUOTA", "1")]);
    gw.deploy(json!({"service": "blocker", "image": "x", "command": ["sleep", "5"]}));
    gw.deploy(json!({"service": "cat", "image": "x", "command": ["cat"]}));
    let blocker = gw.call_async("blocker", "");
    eventually("the blocker to run", Duration::from_secs(5), || {
        (gw.record(&blocker)["Status"] == "RUNNING").then_some(())
    });
    let ids: Vec<(String, String)> = (0..200)
        .map(|i| {
            let input = format!("input {i}");
            (gw.call_async("cat", input.clone()), input)
        })
        .collect();
    gw.kill9();
    gw.restart();
    for (id, input) in &ids {
        let output = gw.wait_output(id);
        assert_eq!(output.status, 200, "call {id}");
        assert_eq!(output.text(), *input);
    }
    let record = gw.record(&blocker);
    assert_eq!(record["Status"], "FAILED");
    assert_eq!(
        record["Message"],
        "the gateway restarted while the call was running"
    );
    assert_eq!(gw.counts("cat")["Finished"], 200);
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
            assert_eq!(gw.wait_output(&id).status, 200, "a fresh output is there");
            id
        })
        .collect();
    let oldest = gw.wait_output(&ids[0]);
    assert_eq!(oldest.status, 410, "{}", oldest.text());
    assert_eq!(gw.wait_output(&ids[1]).status, 410);
    let newest = gw.wait_output(&ids[2]);
    assert_eq!(newest.status, 200);
    assert_eq!(newest.body, "2".repeat(600).as_bytes());
    let logs = gw.logs("name=cat");
    assert!(
        logs.lines().count() < 12,
        "old events rotated out ({} bytes of logs)",
        logs.len()
    );
    assert!(logs.contains(&ids[2]), "the newest events stay");
}
