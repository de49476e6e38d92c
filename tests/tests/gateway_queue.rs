//! The scheduler end to end: FIFO under quota 1, the quota and
//! `maxConcurrency` never exceeded (from timestamps the functions write),
//! the queue bound (429), timeouts (504, queue time included) and a sync
//! caller that hangs up leaving the queue.

use std::time::{Duration, Instant};

use faas_tests::gateway::{start_gateway, Gateway};
use faas_tests::{eventually, send, TempDir};
use serde_json::json;

/// Waits until the one call the quota allows is running.
fn quota_in_use(gw: &Gateway) {
    eventually("a call to run", Duration::from_secs(5), || {
        (gw.metric("faas_quota_in_use") == Some(1.0)).then_some(())
    });
}

#[test]
fn fifo_with_quota_one() {
    let gw = start_gateway(&[("FAAS_QUOTA", "1")]);
    let tmp = TempDir::new("fifo");
    let file = tmp.0.join("order");
    gw.deploy(json!({"service": "order", "image": "x",
        "command": ["sh", "-c", "cat >> \"$FILE\"; sleep 0.01"],
        "envVars": {"FILE": file.to_string_lossy()}}));
    let ids: Vec<String> = (0..50)
        .map(|i| gw.call_async("order", format!("{i}\n")))
        .collect();
    for id in &ids {
        assert_eq!(gw.wait_output(id).status, 200);
    }
    let order = std::fs::read_to_string(&file).expect("order file");
    let started: Vec<u32> = order.lines().map(|l| l.parse().expect("number")).collect();
    assert_eq!(
        started,
        (0..50).collect::<Vec<_>>(),
        "calls started in arrival order"
    );
}

/// Start and end times (ns) the function wrote, per call.
fn intervals(text: &str) -> Vec<(u128, u128)> {
    text.lines()
        .map(|l| {
            let mut parts = l.split_whitespace().map(|n| n.parse::<u128>().expect("ns"));
            (parts.next().expect("start"), parts.next().expect("end"))
        })
        .collect()
}

fn most_at_once(intervals: &[(u128, u128)]) -> usize {
    intervals
        .iter()
        .map(|(start, _)| {
            intervals
                .iter()
                .filter(|(s, e)| s <= start && start < e)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn quota_and_max_concurrency_are_never_exceeded() {
    let gw = start_gateway(&[("FAAS_QUOTA", "2")]);
    let tmp = TempDir::new("quota");
    let script = "s=$(date +%s%N); sleep 0.15; echo \"$s $(date +%s%N)\" >> \"$FILE\"";
    for name in ["a", "b"] {
        gw.deploy(
            json!({"service": name, "image": "x", "command": ["sh", "-c", script],
            "envVars": {"FILE": tmp.0.join("all").to_string_lossy()}}),
        );
    }
    gw.deploy(
        json!({"service": "one", "image": "x", "command": ["sh", "-c", script], "maxConcurrency": 1,
        "envVars": {"FILE": tmp.0.join("one").to_string_lossy()}}),
    );
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(gw.call_async("a", ""));
        ids.push(gw.call_async("b", ""));
    }
    let one: Vec<String> = (0..3).map(|_| gw.call_async("one", "")).collect();
    for id in ids.iter().chain(&one) {
        assert_eq!(gw.wait_output(id).status, 200);
    }
    let all = intervals(&std::fs::read_to_string(tmp.0.join("all")).expect("file"));
    let single = intervals(&std::fs::read_to_string(tmp.0.join("one")).expect("file"));
    let mut both = all.clone();
    both.extend(&single);
    assert_eq!(both.len(), 11);
    assert_eq!(
        most_at_once(&both),
        2,
        "the quota of 2 is used and never exceeded"
    );
    assert_eq!(
        most_at_once(&single),
        1,
        "maxConcurrency 1 is never exceeded"
    );
}

#[test]
fn a_full_queue_answers_429_and_records_nothing() {
    let gw = start_gateway(&[("FAAS_QUOTA", "1"), ("FAAS_MAX_QUEUE", "2")]);
    gw.deploy(json!({"service": "slow", "image": "x", "command": ["sleep", "2"]}));
    gw.call_async("slow", "");
    quota_in_use(&gw);
    gw.call_async("slow", "");
    gw.call_async("slow", "");
    for path in ["/async-function/slow", "/function/slow"] {
        let refused = send(gw.client.post(gw.url(path)));
        assert_eq!(refused.status, 429, "{path}");
        assert!(refused.headers.contains_key("retry-after"));
    }
    assert_eq!(gw.counts("slow")["Total"], 3);
    assert_eq!(
        gw.metric("faas_queue_depth{function_name=\"slow\"}"),
        Some(2.0)
    );
}

#[test]
fn timeouts_answer_504_and_count_the_queue() {
    let gw = start_gateway(&[("FAAS_QUOTA", "1")]);
    gw.deploy(json!({"service": "sleepy", "image": "x", "command": ["sleep", "5"], "timeout": 1}));
    let start = Instant::now();
    assert_eq!(gw.call("sleepy", "").status, 504);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "killed at its timeout"
    );

    gw.deploy(json!({"service": "hog", "image": "x", "command": ["sleep", "3"]}));
    gw.deploy(json!({"service": "quick", "image": "x", "command": ["cat"], "timeout": 1}));
    gw.call_async("hog", "");
    quota_in_use(&gw);
    let start = Instant::now();
    assert_eq!(
        gw.call("quick", "").status,
        504,
        "a second in the queue is the whole timeout"
    );
    assert!(start.elapsed() < Duration::from_millis(2500));

    let async_id = gw.call_async("sleepy", "");
    assert_eq!(gw.wait_output(&async_id).status, 504);
}

#[test]
fn a_sync_caller_that_hangs_up_leaves_the_queue() {
    let gw = start_gateway(&[("FAAS_QUOTA", "1")]);
    gw.deploy(json!({"service": "hog", "image": "x", "command": ["sleep", "2"]}));
    gw.deploy(json!({"service": "quick", "image": "x", "command": ["cat"]}));
    gw.call_async("hog", "");
    quota_in_use(&gw);
    let impatient = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    assert!(impatient.post(gw.url("/function/quick")).send().is_err());
    eventually(
        "the call to leave the queue after its caller left",
        Duration::from_secs(1),
        || (gw.metric("faas_queue_depth{function_name=\"quick\"}") == Some(0.0)).then_some(()),
    );
}
