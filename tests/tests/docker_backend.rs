//! End-to-end tests of the `docker` backend on a real Docker Engine: a new
//! container per call, service replicas, labels and clean-up, limits. Each
//! test skips with a printed reason when no engine answers, and fails when
//! `FAAS_REQUIRE_DOCKER=1`.

use std::time::{Duration, Instant};

use faas_tests::docker::{containers_labelled, engine_or_skip, running_labelled};
use faas_tests::gateway::{start_docker_gateway, GatewayHandle};
use faas_tests::{client, eventually, send};
use reqwest::Method;
use serde_json::json;

/// A gateway on the docker backend with `env` added; `None` (the test
/// skips) when no engine answers.
fn docker_gateway(test: &str, env: &[(&str, &str)]) -> Option<GatewayHandle> {
    engine_or_skip(test).then(|| start_docker_gateway(env))
}

/// Waits up to `seconds` until no container of the functions `names` is
/// left, running or not.
fn no_container_of(names: &[&str], seconds: u64) {
    eventually(
        &format!("no container of {names:?}"),
        Duration::from_secs(seconds),
        || {
            names
                .iter()
                .all(|name| containers_labelled(&format!("com.faas.function={name}")).is_empty())
                .then_some(())
        },
    );
}

#[test]
fn per_call_container_runs_the_payload_and_headers() {
    let Some(gw) = docker_gateway("per_call_container_runs_the_payload_and_headers", &[]) else {
        return;
    };
    gw.deploy(json!({"service": "headers", "image": "faas/sample-cat",
        "command": ["sh", "-c", "echo \"$Http_X_Custom $Http_Method $GREETING\"; cat"],
        "envVars": {"GREETING": "hello-env"}}));
    let answer = send(
        client()
            .put(gw.url("/function/headers"))
            .header("X-Custom", "custom-value")
            .body("the payload"),
    );
    assert_eq!(answer.status, 200);
    assert_eq!(answer.text(), "custom-value PUT hello-env\nthe payload");
    no_container_of(&["headers"], 10);
}

#[test]
fn failing_container_is_failed_with_its_output() {
    let Some(gw) = docker_gateway("failing_container_is_failed_with_its_output", &[]) else {
        return;
    };
    gw.deploy(json!({"service": "fails", "image": "faas/sample-cat",
        "command": ["sh", "-c", "echo broken; exit 3"]}));
    let id = gw.call_async("fails", "");
    let (output, record) = (gw.wait_output(&id), gw.record(&id));
    assert_eq!(output.status, 500);
    assert!(output.text().contains("broken"));
    assert_eq!(record["Status"], "FAILED");
    assert_eq!(record["ExitCode"], 3);
}

#[test]
fn timeout_kills_and_removes_the_container() {
    let Some(gw) = docker_gateway("timeout_kills_and_removes_the_container", &[]) else {
        return;
    };
    gw.deploy(json!({"service": "sleeper", "image": "faas/sample-cat",
        "command": ["sleep", "60"], "timeout": 2}));
    let started = Instant::now();
    assert_eq!(gw.call("sleeper", "").status, 504);
    assert!(started.elapsed() < Duration::from_secs(20));
    // The timed-out container is removed.
    no_container_of(&["sleeper"], 10);
}

#[test]
fn quota_bounds_the_containers_running_at_once() {
    // Cold containers only: the count is of call containers, which warm
    // ones waiting for a call are not.
    let Some(gw) = docker_gateway(
        "quota_bounds_the_containers_running_at_once",
        &[("FAAS_QUOTA", "3"), ("FAAS_POOL_PER_FUNCTION", "0")],
    ) else {
        return;
    };
    gw.deploy(json!({"service": "busy", "image": "faas/sample-cat", "command": ["sleep", "1"]}));
    let ids: Vec<String> = (0..10).map(|_| gw.call_async("busy", "")).collect();
    let mut most = 0;
    eventually("all ten calls to end", Duration::from_secs(90), || {
        most = most.max(running_labelled("com.faas.function=busy").len());
        ids.iter()
            .all(|id| {
                matches!(
                    gw.record(id)["Status"].as_str(),
                    Some("FINISHED" | "FAILED")
                )
            })
            .then_some(())
    });
    assert!(
        most <= 3,
        "{most} function containers ran at once under quota 3"
    );
    assert!(
        most >= 2,
        "the quota was never used: at most {most} at once"
    );
    for id in &ids {
        assert_eq!(gw.wait_output(id).status, 200);
    }
}

#[test]
fn many_calls_leave_no_container_behind() {
    let Some(gw) = docker_gateway("many_calls_leave_no_container_behind", &[]) else {
        return;
    };
    let script = "case \"$(cat)\" in fail) echo failing; exit 1;; *) echo ok;; esac";
    gw.deploy(json!({"service": "mixed", "image": "faas/sample-cat",
        "command": ["sh", "-c", script], "timeout": 120}));
    gw.deploy(json!({"service": "slow", "image": "faas/sample-cat",
        "command": ["sleep", "30"], "timeout": 3}));
    let threads: Vec<_> = (0..100)
        .map(|i| {
            let (mixed, slow) = (gw.url("/function/mixed"), gw.url("/function/slow"));
            std::thread::spawn(move || match i % 10 {
                // Timed out: the function's timeout kills the container.
                0 => ("slow", send(client().post(&slow)).status),
                // Cancelled: the caller goes away mid-call.
                1 | 2 => {
                    let short = reqwest::blocking::Client::builder()
                        .timeout(Duration::from_millis(200 + 100 * (i as u64 % 7)))
                        .build()
                        .expect("client");
                    let _ = short.post(&mixed).body("fine").send();
                    ("cancelled", 0)
                }
                3 => ("fail", send(client().post(&mixed).body("fail")).status),
                _ => ("fine", send(client().post(&mixed).body("fine")).status),
            })
        })
        .collect();
    for t in threads {
        match t.join().expect("thread") {
            ("slow", status) => assert_eq!(status, 504),
            ("fail", status) => assert_eq!(status, 500),
            ("fine", status) => assert_eq!(status, 200),
            _ => {}
        }
    }
    no_container_of(&["mixed", "slow"], 30);
}

#[test]
fn resizer_halves_a_png() {
    let Some(gw) = docker_gateway("resizer_halves_a_png", &[]) else {
        return;
    };
    gw.deploy(
        json!({"service": "resizer", "image": "faas/sample-resizer", "command": ["resizer"]}),
    );
    let png =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/picture.png")).expect("picture");
    let answer = gw.call("resizer", png);
    assert_eq!(answer.status, 200);
    let small = answer.body;
    assert_eq!(&small[1..4], b"PNG");
    let width = u32::from_be_bytes(small[16..20].try_into().expect("4 bytes"));
    let height = u32::from_be_bytes(small[20..24].try_into().expect("4 bytes"));
    assert_eq!((width, height), (32, 20));
}

#[test]
fn missing_image_is_400_and_records_nothing() {
    let Some(gw) = docker_gateway("missing_image_is_400_and_records_nothing", &[]) else {
        return;
    };
    let refused =
        send(gw.admin(Method::POST, "/system/functions").json(
            &json!({"service": "ghost", "image": "faas/no-such-image:1", "command": ["cat"]}),
        ));
    assert_eq!(refused.status, 400);
    let body = refused.text();
    assert!(
        body.contains("No such image: faas/no-such-image:1"),
        "{body}"
    );
    assert_eq!(gw.get("/system/function/ghost").status, 404);
}

#[test]
fn limits_read_only_root_and_no_docker_socket() {
    let Some(gw) = docker_gateway("limits_read_only_root_and_no_docker_socket", &[]) else {
        return;
    };
    let script = "touch /root-file 2>/dev/null && echo root-writable || echo root-read-only; \
                  touch /tmp/x && echo tmp-writable; \
                  test -e /var/run/docker.sock && echo socket || echo no-socket; \
                  cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes";
    gw.deploy(json!({"service": "confined", "image": "faas/sample-cat",
        "command": ["sh", "-c", script],
        "readOnlyRootFilesystem": true, "limits": {"memory": "64m"}}));
    assert_eq!(
        gw.call("confined", "").text(),
        "root-read-only\ntmp-writable\nno-socket\n64000000\n"
    );
}

#[test]
fn killed_gateway_leaves_nothing_after_restart() {
    let Some(mut gw) = docker_gateway("killed_gateway_leaves_nothing_after_restart", &[]) else {
        return;
    };
    gw.deploy(
        json!({"service": "orphan", "image": "faas/sample-cat", "command": ["sleep", "120"]}),
    );
    gw.call_async("orphan", "");
    eventually(
        "the call's container to start",
        Duration::from_secs(20),
        || (!running_labelled("com.faas.function=orphan").is_empty()).then_some(()),
    );
    gw.restart();
    // The restarted gateway removes the container left behind.
    no_container_of(&["orphan"], 20);
}

#[test]
fn service_mode_replicas_serve_and_scale() {
    let Some(gw) = docker_gateway("service_mode_replicas_serve_and_scale", &[]) else {
        return;
    };
    gw.deploy(json!({"service": "svc", "image": "faas/sample-cat", "envProcess": "cat"}));
    eventually(
        "the service to answer through its replica",
        Duration::from_secs(30),
        || {
            let answer = gw.call("svc", "via the watchdog");
            (answer.status == 200 && answer.text() == "via the watchdog").then_some(())
        },
    );
    gw.scale("svc", 2);
    eventually("two running replicas", Duration::from_secs(30), || {
        (running_labelled("com.faas.function=svc").len() == 2).then_some(())
    });
    for _ in 0..10 {
        assert_eq!(gw.call("svc", "x").status, 200);
    }
    let removed = gw.remove("svc");
    assert!(removed.is_success(), "{}", removed.status);
    no_container_of(&["svc"], 30);
}
