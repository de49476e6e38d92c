//! Cancel and maximum age on the real binaries (process backend): a queued
//! call cancelled never runs, not even after a kill -9 and restart; a
//! running one (`sleep 30`) is killed within a second; an ended one is 409,
//! an unknown one 404; a queued call past its maxAge ends EXPIRED unrun.

use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use faas_tests::gateway::{start_gateway, Gateway};
use faas_tests::{eventually, send, TempDir};

/// A function that appends its input to `ran` in `dir`, writes its pid to
/// `pid.<input>`, and sleeps for 30 seconds when its input is `slow`.
fn recorder(name: &str, dir: &Path) -> serde_json::Value {
    let script = format!(
        "read -r x; echo \"$x\" >> {dir}/ran; echo $$ > {dir}/pid.$x; case $x in slow) exec sleep 30;; esac",
        dir = dir.display()
    );
    json!({
        "service": name,
        "image": "x",
        "command": ["sh", "-c", script],
        "maxConcurrency": 1,
    })
}

/// The pid in `pid.<input>` once the call with that input wrote it.
fn pid_of(dir: &Path, input: &str) -> u32 {
    let file = dir.join(format!("pid.{input}"));
    eventually("the call to start", Duration::from_secs(10), || {
        std::fs::read_to_string(&file).ok()?.trim().parse().ok()
    })
}

/// The start time of process `pid` (field 22 of its stat): the same pid
/// and start time are the same process.
fn started_at(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    after_name.split(' ').nth(19).map(str::to_string)
}

fn ran(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("ran")).unwrap_or_default()
}

fn cancel(gw: &Gateway, path: &str) -> faas_tests::Answer {
    send(gw.admin(Method::DELETE, path))
}

#[test]
fn a_cancelled_call_never_runs_or_is_killed_and_an_old_one_expires() {
    let mut gw = start_gateway(&[]);
    let dir = TempDir::new("faas-cancel");
    gw.deploy(recorder("sleeper", &dir.0));

    let slow = gw.call_async("sleeper", "slow\n");
    let pid = pid_of(&dir.0, "slow");
    let process = started_at(pid).expect("the slow call's process runs");
    let queued = gw.call_async("sleeper", "queued\n");
    assert_eq!(gw.record(&queued)["Status"], "PENDING");

    // Queued: it leaves the queue, CANCELLED, saying who.
    let answer = cancel(&gw, &format!("/system/calls/{queued}"));
    assert_eq!(answer.status, 200, "{}", answer.text());
    let record = answer.json();
    assert_eq!(record["Status"], "CANCELLED");
    assert_eq!(
        record["Message"],
        "cancelled by admin from 127.0.0.1 while queued: it never ran"
    );

    // Running, through OpenFaaS's route: its process is killed at once.
    let answer = cancel(&gw, &format!("/async-function/{slow}"));
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["Status"], "CANCELLED");
    eventually(
        "the slow call's process to go",
        Duration::from_secs(1),
        || (started_at(pid).as_ref() != Some(&process)).then_some(()),
    );

    let again = cancel(&gw, &format!("/system/calls/{slow}"));
    again.assert_says(409, "has already ended (CANCELLED)");
    let unknown = cancel(&gw, "/system/calls/00000000-0000-0000-0000-000000000000");
    assert_eq!(unknown.status, 404);
    let logs = gw.logs(&format!("name=sleeper&callid={slow}"));
    assert!(logs.contains("\"Event\":\"CANCELLED\""), "{logs}");
    assert!(
        logs.contains("cancelled by admin from 127.0.0.1 while running"),
        "{logs}"
    );

    // A kill -9 and restart does not run the cancelled call.
    gw.restart();
    assert_eq!(gw.record(&queued)["Status"], "CANCELLED");
    let after = gw.call_async("sleeper", "after\n");
    assert_eq!(gw.wait_output(&after).status, 200);
    assert_eq!(ran(&dir.0), "slow\nafter\n", "the queued call never ran");

    // Past its maxAge (the annotation) while queued: EXPIRED, unrun.
    let mut aged = recorder("aged", &dir.0);
    aged["annotations"] = json!({"com.faas.max_age": "500ms"});
    gw.deploy(aged);
    let slow = gw.call_async("aged", "slow\n");
    pid_of(&dir.0, "slow");
    let old = gw.call_async("aged", "old\n");
    let record = eventually("the queued call to expire", Duration::from_secs(10), || {
        let record = gw.record(&old);
        (record["Status"] == "EXPIRED").then_some(record)
    });
    let message = record["Message"].as_str().unwrap_or_default();
    assert!(message.contains("maximum age of 0.5s"), "{message}");
    assert_eq!(cancel(&gw, &format!("/system/calls/{slow}")).status, 200);
    assert!(!ran(&dir.0).contains("old"), "the expired call never ran");
}
