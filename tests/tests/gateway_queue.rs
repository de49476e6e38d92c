//! The scheduler end to end: FIFO under quota 1, the quota and
//! `maxConcurrency` never exceeded (from timestamps the functions write),
//! the queue bound (429), timeouts (504, queue time included) and a sync
//! caller that hangs up leaving the queue.

use std::time::{Duration, Instant};

use faas_tests::gateway::{start_gateway, GatewayHandle};
use faas_tests::TempDir;
use reqwest::Method;
use serde_json::{json, Value};

fn total(gw: &GatewayHandle, name: &str) -> u64 {
    let v: Value = gw
        .admin(Method::GET, &format!("/system/function/{name}/status"))
        .send()
        .expect("status")
        .json()
        .expect("json");
    v["Total"].as_u64().expect("Total")
}

fn metric(gw: &GatewayHandle, line_start: &str) -> Option<f64> {
    let text = gw.metrics();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
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
        assert_eq!(gw.wait_output(id).0, 200);
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
        assert_eq!(gw.wait_output(id).0, 200);
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
    let running = gw.call_async("slow", "");
    let deadline = Instant::now() + Duration::from_secs(5);
    while metric(&gw, "faas_quota_in_use") != Some(1.0) {
        assert!(Instant::now() < deadline, "the first call never ran");
        std::thread::sleep(Duration::from_millis(10));
    }
    gw.call_async("slow", "");
    gw.call_async("slow", "");
    for path in ["/async-function/slow", "/function/slow"] {
        let r = gw.client.post(gw.url(path)).send().expect("call");
        assert_eq!(r.status(), 429, "{path}");
        assert!(r.headers().contains_key("retry-after"));
    }
    assert_eq!(total(&gw, "slow"), 3);
    assert_eq!(
        metric(&gw, "faas_queue_depth{function_name=\"slow\"}"),
        Some(2.0)
    );
    drop(running);
}

#[test]
fn timeouts_answer_504_and_count_the_queue() {
    let gw = start_gateway(&[("FAAS_QUOTA", "1")]);
    gw.deploy(json!({"service": "sleepy", "image": "x", "command": ["sleep", "5"], "timeout": 1}));
    let start = Instant::now();
    let r = gw
        .client
        .post(gw.url("/function/sleepy"))
        .send()
        .expect("call");
    assert_eq!(r.status(), 504);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "killed at its timeout"
    );

    gw.deploy(json!({"service": "hog", "image": "x", "command": ["sleep", "3"]}));
    gw.deploy(json!({"service": "quick", "image": "x", "command": ["cat"], "timeout": 1}));
    let hog = gw.call_async("hog", "");
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    let r = gw
        .client
        .post(gw.url("/function/quick"))
        .send()
        .expect("call");
    assert_eq!(
        r.status(),
        504,
        "a second in the queue is the whole timeout"
    );
    assert!(start.elapsed() < Duration::from_millis(2500));
    let _ = hog;

    let async_id = gw.call_async("sleepy", "");
    assert_eq!(gw.wait_output(&async_id).0, 504);
}

#[test]
fn a_sync_caller_that_hangs_up_leaves_the_queue() {
    let gw = start_gateway(&[("FAAS_QUOTA", "1")]);
    gw.deploy(json!({"service": "hog", "image": "x", "command": ["sleep", "2"]}));
    gw.deploy(json!({"service": "quick", "image": "x", "command": ["cat"]}));
    gw.call_async("hog", "");
    std::thread::sleep(Duration::from_millis(200));
    let impatient = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    assert!(impatient.post(gw.url("/function/quick")).send().is_err());
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        if metric(&gw, "faas_queue_depth{function_name=\"quick\"}") == Some(0.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the call stayed queued after its caller left"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
