//! What survives and what is bounded: `kill -9` with queued async calls
//! (all finish after a restart, the running one fails with a message),
//! output rotation (rotated outputs answer 410), whole calls rotating out
//! of a function's log, and the database within its global cap.

use std::time::Duration;

use faas_tests::gateway::{start_gateway, GatewayHandle};
use faas_tests::{eventually, send};
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

/// `n` async calls of `cat` with 600 bytes each, each waited for (and its
/// fresh output there); their ids.
fn finished_calls(gw: &GatewayHandle, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let id = gw.call_async("cat", i.to_string().repeat(600));
            assert_eq!(gw.wait_output(&id).status, 200, "a fresh output is there");
            id
        })
        .collect()
}

#[test]
fn rotated_outputs_answer_410() {
    let gw = start_gateway(&[("FAAS_OUTPUT_CACHE_BYTES", "1000")]);
    gw.deploy(json!({"service": "cat", "image": "x", "command": ["cat"]}));
    let ids = finished_calls(&gw, 3);
    let oldest = gw.wait_output(&ids[0]);
    assert_eq!(oldest.status, 410, "{}", oldest.text());
    assert_eq!(gw.wait_output(&ids[1]).status, 410);
    let newest = gw.wait_output(&ids[2]);
    assert_eq!(newest.status, 200);
    assert_eq!(newest.body, "2".repeat(600).as_bytes());
}

#[test]
fn old_calls_rotate_out_of_the_log_whole() {
    // A call here is about 1 KB of log: its record and four events.
    let gw = start_gateway(&[("FAAS_LOG_CACHE_BYTES", "3000")]);
    gw.deploy(json!({"service": "cat", "image": "x", "command": ["cat"]}));
    let ids = finished_calls(&gw, 8);
    let counts = gw.counts("cat");
    let kept = counts["Total"].as_u64().expect("a total");
    assert!((1..=3).contains(&kept), "{counts}");
    assert_eq!(gw.get(&format!("/system/calls/{}", ids[0])).status, 404);
    assert_eq!(gw.record(&ids[7])["Status"], "FINISHED");
    let logs = gw.logs("name=cat");
    assert!(
        !logs.contains(&ids[0]),
        "the oldest call's events went with it"
    );
    assert!(logs.contains(&ids[7]), "the newest events stay");
}

/// Bytes of the files in `dir`.
fn bytes_in(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("the data directory")
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// `bench/disk.sh` does the same with 100,000 calls on a release build.
#[test]
fn many_calls_with_large_headers_keep_the_data_dir_within_its_bound() {
    const CALLS: usize = 6_000;
    const CAP: u64 = 1 << 20;
    // The cap, and what the write-ahead log may hold past it.
    const BOUND: u64 = CAP + (5 << 20);
    let cap = CAP.to_string();
    let gw = start_gateway(&[
        ("FAAS_MAX_DB_BYTES", &cap),
        ("FAAS_LOG_CACHE_BYTES", "1000000000"),
        ("FAAS_MAX_QUEUE", "1000000"),
    ]);
    gw.deploy(json!({"service": "nothing", "image": "x", "command": ["true"]}));
    let header = "h".repeat(4096);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (client, url, header) = (
                gw.client.clone(),
                gw.url("/async-function/nothing"),
                header.clone(),
            );
            std::thread::spawn(move || {
                for _ in 0..CALLS / 8 {
                    let answer = send(client.post(&url).header("x-large", &header));
                    assert_eq!(answer.status, 202, "{}", answer.text());
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a caller");
    }
    eventually("every call to end", Duration::from_secs(300), || {
        let counts = gw.counts("nothing");
        (counts["Pending"] == 0 && counts["Running"] == 0).then_some(())
    });
    let used = bytes_in(&gw.data_dir());
    assert!(
        used <= BOUND,
        "the data dir holds {used} bytes, over {BOUND}"
    );
    let counts = gw.counts("nothing");
    let kept = counts["Total"].as_u64().expect("a total");
    assert!(
        kept < CALLS as u64,
        "the oldest calls were pruned: {counts}"
    );
}
