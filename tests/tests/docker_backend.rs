//! End-to-end tests of the `docker` backend on a real Docker Engine: a new
//! container per call, service replicas, labels and clean-up, limits. Each
//! test skips with a printed reason when no engine answers, and fails when
//! `FAAS_REQUIRE_DOCKER=1`.

use std::time::{Duration, Instant};

use faas_tests::client;
use faas_tests::docker::{containers_labelled, engine_or_skip, eventually, running_labelled};
use faas_tests::gateway::{start_gateway, GatewayHandle as Gateway, PASSWORD};
use reqwest::Method;
use serde_json::json;

/// A gateway on the docker backend with `env` added.
fn docker_gateway(env: &[(&str, &str)]) -> Gateway {
    // A network of the tests' own, apart from a stack's `faas-functions`.
    let mut all = vec![
        ("FAAS_BACKEND", "docker"),
        ("FAAS_NETWORK", "faas-test-bridge"),
    ];
    all.extend_from_slice(env);
    start_gateway(&all)
}

/// GET `path` with the admin credentials.
fn get(gw: &Gateway, path: &str) -> reqwest::blocking::Response {
    gw.admin(Method::GET, path)
        .send()
        .expect("the gateway answers")
}

/// Deploys a per-call function running `command` in `image`.
fn per_call(gw: &Gateway, name: &str, image: &str, command: &[&str], extra: serde_json::Value) {
    let mut spec = json!({"service": name, "image": image, "command": command});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    gw.deploy(spec);
}

#[test]
fn per_call_container_runs_the_payload_and_headers() {
    if !engine_or_skip("per_call_container_runs_the_payload_and_headers") {
        return;
    }
    let gw = docker_gateway(&[]);
    per_call(
        &gw,
        "headers",
        "faas/sample-cat",
        &[
            "sh",
            "-c",
            "echo \"$Http_X_Custom $Http_Method $GREETING\"; cat",
        ],
        json!({"envVars": {"GREETING": "hello-env"}}),
    );
    let resp = client()
        .put(gw.url("/function/headers"))
        .header("X-Custom", "custom-value")
        .body("the payload")
        .send()
        .expect("call");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.text().expect("text"),
        "custom-value PUT hello-env\nthe payload"
    );
    assert!(eventually(10, || containers_labelled(
        "com.faas.function=headers"
    )
    .is_empty()));
}

#[test]
fn failing_container_is_failed_with_its_output() {
    if !engine_or_skip("failing_container_is_failed_with_its_output") {
        return;
    }
    let gw = docker_gateway(&[]);
    per_call(
        &gw,
        "fails",
        "faas/sample-cat",
        &["sh", "-c", "echo broken; exit 3"],
        json!({}),
    );
    let id = gw.call_async("fails", "");
    let (status, body) = gw.wait_output(&id);
    assert_eq!(status, 500);
    assert!(String::from_utf8_lossy(&body).contains("broken"));
    let record: serde_json::Value = get(&gw, &format!("/system/calls/{id}"))
        .json()
        .expect("json");
    assert_eq!(record["Status"], "FAILED");
    assert_eq!(record["ExitCode"], 3);
}

#[test]
fn timeout_kills_and_removes_the_container() {
    if !engine_or_skip("timeout_kills_and_removes_the_container") {
        return;
    }
    let gw = docker_gateway(&[]);
    per_call(
        &gw,
        "sleeper",
        "faas/sample-cat",
        &["sleep", "60"],
        json!({"timeout": 2}),
    );
    let started = Instant::now();
    let resp = client()
        .post(gw.url("/function/sleeper"))
        .send()
        .expect("call");
    assert_eq!(resp.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        eventually(10, || containers_labelled("com.faas.function=sleeper")
            .is_empty()),
        "the timed-out container is removed"
    );
}

#[test]
fn quota_bounds_the_containers_running_at_once() {
    if !engine_or_skip("quota_bounds_the_containers_running_at_once") {
        return;
    }
    let gw = docker_gateway(&[("FAAS_QUOTA", "3")]);
    per_call(&gw, "busy", "faas/sample-cat", &["sleep", "1"], json!({}));
    let ids: Vec<String> = (0..10).map(|_| gw.call_async("busy", "")).collect();
    let mut most = 0;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        most = most.max(running_labelled("com.faas.function=busy").len());
        let done = ids.iter().all(|id| {
            let v: serde_json::Value = get(&gw, &format!("/system/calls/{id}"))
                .json()
                .expect("json");
            v["Status"] == "FINISHED" || v["Status"] == "FAILED"
        });
        if done || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        most <= 3,
        "{most} function containers ran at once under quota 3"
    );
    assert!(
        most >= 2,
        "the quota was never used: at most {most} at once"
    );
    for id in &ids {
        assert_eq!(gw.wait_output(id).0, 200);
    }
}

#[test]
fn many_calls_leave_no_container_behind() {
    if !engine_or_skip("many_calls_leave_no_container_behind") {
        return;
    }
    let gw = docker_gateway(&[]);
    let script = "case \"$(cat)\" in fail) echo failing; exit 1;; *) echo ok;; esac";
    per_call(
        &gw,
        "mixed",
        "faas/sample-cat",
        &["sh", "-c", script],
        json!({"timeout": 120}),
    );
    per_call(
        &gw,
        "slow",
        "faas/sample-cat",
        &["sleep", "30"],
        json!({"timeout": 3}),
    );
    let threads: Vec<_> = (0..100)
        .map(|i| {
            let (mixed, slow) = (gw.url("/function/mixed"), gw.url("/function/slow"));
            std::thread::spawn(move || match i % 10 {
                // Timed out: the function's timeout kills the container.
                0 => (
                    "slow",
                    client().post(&slow).send().expect("call").status().as_u16(),
                ),
                // Cancelled: the caller goes away mid-call.
                1 | 2 => {
                    let short = reqwest::blocking::Client::builder()
                        .timeout(Duration::from_millis(200 + 100 * (i as u64 % 7)))
                        .build()
                        .expect("client");
                    let _ = short.post(&mixed).body("fine").send();
                    ("cancelled", 0)
                }
                3 => (
                    "fail",
                    client()
                        .post(&mixed)
                        .body("fail")
                        .send()
                        .expect("call")
                        .status()
                        .as_u16(),
                ),
                _ => (
                    "fine",
                    client()
                        .post(&mixed)
                        .body("fine")
                        .send()
                        .expect("call")
                        .status()
                        .as_u16(),
                ),
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
    let left = || {
        let mut ids = containers_labelled("com.faas.function=mixed");
        ids.extend(containers_labelled("com.faas.function=slow"));
        ids
    };
    assert!(
        eventually(30, || left().is_empty()),
        "containers left: {:?}",
        left()
    );
}

#[test]
fn resizer_halves_a_png() {
    if !engine_or_skip("resizer_halves_a_png") {
        return;
    }
    let gw = docker_gateway(&[]);
    per_call(
        &gw,
        "resizer",
        "faas/sample-resizer",
        &["resizer"],
        json!({}),
    );
    let png =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/picture.png")).expect("picture");
    let resp = client()
        .post(gw.url("/function/resizer"))
        .body(png)
        .send()
        .expect("call");
    assert_eq!(resp.status(), 200);
    let small = resp.bytes().expect("body");
    assert_eq!(&small[1..4], b"PNG");
    let width = u32::from_be_bytes(small[16..20].try_into().expect("4 bytes"));
    let height = u32::from_be_bytes(small[20..24].try_into().expect("4 bytes"));
    assert_eq!((width, height), (32, 20));
}

#[test]
fn missing_image_is_400_and_records_nothing() {
    if !engine_or_skip("missing_image_is_400_and_records_nothing") {
        return;
    }
    let gw = docker_gateway(&[]);
    let resp = gw
        .admin(Method::POST, "/system/functions")
        .json(&json!({"service": "ghost", "image": "faas/no-such-image:1", "command": ["cat"]}))
        .send()
        .expect("deploy answers");
    let (status, body) = (resp.status().as_u16(), resp.text().unwrap_or_default());
    assert_eq!(status, 400);
    assert!(
        body.contains("No such image: faas/no-such-image:1"),
        "{body}"
    );
    assert_eq!(get(&gw, "/system/function/ghost").status(), 404);
}

#[test]
fn limits_read_only_root_and_no_docker_socket() {
    if !engine_or_skip("limits_read_only_root_and_no_docker_socket") {
        return;
    }
    let gw = docker_gateway(&[]);
    let script = "touch /root-file 2>/dev/null && echo root-writable || echo root-read-only; \
                  touch /tmp/x && echo tmp-writable; \
                  test -e /var/run/docker.sock && echo socket || echo no-socket; \
                  cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes";
    per_call(
        &gw,
        "confined",
        "faas/sample-cat",
        &["sh", "-c", script],
        json!({"readOnlyRootFilesystem": true, "limits": {"memory": "64m"}}),
    );
    let text = client()
        .post(gw.url("/function/confined"))
        .send()
        .expect("call")
        .text()
        .expect("text");
    assert_eq!(text, "root-read-only\ntmp-writable\nno-socket\n64000000\n");
}

#[test]
fn killed_gateway_leaves_nothing_after_restart() {
    if !engine_or_skip("killed_gateway_leaves_nothing_after_restart") {
        return;
    }
    let mut gw = docker_gateway(&[]);
    per_call(
        &gw,
        "orphan",
        "faas/sample-cat",
        &["sleep", "120"],
        json!({}),
    );
    gw.call_async("orphan", "");
    assert!(
        eventually(20, || !running_labelled("com.faas.function=orphan")
            .is_empty()),
        "the call's container starts"
    );
    gw.restart();
    assert!(
        eventually(20, || containers_labelled("com.faas.function=orphan")
            .is_empty()),
        "the restarted gateway removes the container left behind"
    );
}

#[test]
fn service_mode_replicas_serve_and_scale() {
    if !engine_or_skip("service_mode_replicas_serve_and_scale") {
        return;
    }
    let gw = docker_gateway(&[]);
    gw.deploy(json!({"service": "svc", "image": "faas/sample-cat", "envProcess": "cat"}));
    let ok = eventually(30, || {
        client()
            .post(gw.url("/function/svc"))
            .body("via the watchdog")
            .send()
            .map(|r| r.status() == 200 && r.text().unwrap_or_default() == "via the watchdog")
            .unwrap_or(false)
    });
    assert!(ok, "the service answers through its replica");
    let resp = client()
        .post(gw.url("/system/scale-function/svc"))
        .basic_auth("admin", Some(PASSWORD))
        .json(&json!({"serviceName": "svc", "replicas": 2}))
        .send()
        .expect("scale");
    assert!(resp.status().is_success(), "{}", resp.status());
    assert!(eventually(30, || running_labelled("com.faas.function=svc")
        .len()
        == 2));
    for _ in 0..10 {
        let resp = client()
            .post(gw.url("/function/svc"))
            .body("x")
            .send()
            .expect("call");
        assert_eq!(resp.status(), 200);
    }
    let resp = client()
        .delete(gw.url("/system/functions"))
        .basic_auth("admin", Some(PASSWORD))
        .json(&json!({"functionName": "svc"}))
        .send()
        .expect("remove");
    assert!(resp.status().is_success(), "{}", resp.status());
    assert!(eventually(30, || containers_labelled(
        "com.faas.function=svc"
    )
    .is_empty()));
}
