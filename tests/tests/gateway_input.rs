//! What the gateway refuses and removes at its edge, end to end on the real
//! binary over HTTP: its credentials never reach a function, a stored row or
//! a log line; deployments that could never run, scales over the caps,
//! reused call ids, oversized headers and malformed AlertManager webhooks
//! are refused with one line before anything is recorded or run. The checks
//! that need a Docker Engine (networks, the engine's CPUs, a container that
//! cannot start) skip without one.

use std::time::Duration;

use base64::Engine;
use faas_tests::docker::engine_or_skip;
use faas_tests::gateway::{start_docker_gateway, start_gateway, Gateway, PASSWORD};
use faas_tests::{send, Answer};
use reqwest::Method;
use serde_json::{json, Value};

/// Whether `needle` occurs anywhere in `haystack`.
fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// A deployment posted as is.
fn post(gw: &Gateway, spec: &Value) -> Answer {
    send(gw.admin(Method::POST, "/system/functions").json(spec))
}

#[test]
fn the_gateway_s_credentials_reach_no_function_row_or_log() {
    let gw = start_gateway(&[("FAAS_INVOKE_AUTH", "true"), ("RUST_LOG", "debug")]);
    gw.deploy(json!({"service": "env", "image": "x", "command": ["env"]}));
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("admin:{PASSWORD}"));
    let secrets = [PASSWORD, encoded.as_str(), "session=s3cr3t"];
    let call = |path: &str| {
        send(
            gw.admin(Method::POST, path)
                .header("Content-Type", "application/octet-stream")
                .header("Cookie", "session=s3cr3t")
                .header("X-Kept", "kept")
                .body("in"),
        )
    };

    let sync = call("/function/env");
    assert_eq!(sync.status, 200, "{}", sync.text());
    let accepted = call("/async-function/env");
    assert_eq!(accepted.status, 202, "{}", accepted.text());
    let id = accepted.json()["CallId"]
        .as_str()
        .expect("CallId")
        .to_string();
    let output = gw.wait_output(&id);
    assert_eq!(output.status, 200);
    for seen in [sync.text(), output.text()] {
        assert!(
            seen.contains("Http_X_Kept=kept"),
            "the call's headers: {seen}"
        );
        for secret in secrets {
            assert!(
                !seen.contains(secret),
                "{secret} reached the function: {seen}"
            );
        }
        assert!(!seen.contains("Http_Authorization") && !seen.contains("Http_Cookie"));
    }
    let logs = gw.logs("name=env");
    assert!(logs.contains("Http_X_Kept"), "the events: {logs}");

    // Every write committed, then the files as they are on disk.
    let mut gw = gw;
    gw.restart();
    let mut stored = Vec::new();
    for file in ["faas.db", "faas.db-wal"] {
        stored.extend(std::fs::read(gw.data_dir().join(file)).unwrap_or_default());
    }
    assert!(
        holds(&stored, "Http_X_Kept"),
        "the database holds the outputs"
    );
    for secret in secrets {
        assert!(!holds(&stored, secret), "{secret} is in the database");
        assert!(
            !holds(&gw.log(), secret),
            "{secret} is in the gateway's output"
        );
        assert!(
            !holds(logs.as_bytes(), secret),
            "{secret} is in /system/logs"
        );
    }
}

#[test]
fn a_deployment_that_could_never_run_is_refused_in_one_line() {
    let gw = start_gateway(&[]);
    let base = json!({"service": "f", "image": "x", "command": ["cat"]});
    let with = |field: &str, value: Value| {
        let mut spec = base.clone();
        spec[field] = value;
        spec
    };
    let refused = [
        (with("envVars", json!({"A=B": "1"})), "env var name \"A=B\""),
        (with("envVars", json!({"": "1"})), "env var name \"\""),
        (with("envVars", json!({"1A": "1"})), "env var name \"1A\""),
        (
            with("envVars", json!({"A": "x\u{0}y"})),
            "\"envVars\" holds a NUL",
        ),
        (
            with("command", json!(["sh", "-c", "a\u{0}"])),
            "\"command\" holds a NUL",
        ),
        (
            with("labels", json!({"l": "\u{0}"})),
            "\"labels\" holds a NUL",
        ),
        (
            with("user", json!("nobody")),
            "\"user\" cannot be applied on the process backend",
        ),
        (
            with("limits", json!({"memory": "64Mi"})),
            "\"limits.memory\" cannot be applied on the process backend",
        ),
        (
            with("limits", json!({"cpu": "0.5"})),
            "\"limits.cpu\" cannot be applied on the process backend",
        ),
        (
            with("requests", json!({"memory": "32Mi"})),
            "\"requests.memory\" cannot be applied on the process backend",
        ),
        (
            with("readOnlyRootFilesystem", json!(true)),
            "\"readOnlyRootFilesystem\" cannot be applied on the process backend",
        ),
        (
            with("network", json!("host")),
            "\"network\" cannot be applied on the process backend",
        ),
        (
            with("capabilities", json!(["NET_ADMIN"])),
            "\"capabilities\" cannot be applied on the process backend",
        ),
        (
            with("runtime", json!("runsc")),
            "\"runtime\" cannot be applied on the process backend",
        ),
        (
            with("annotations", json!({"com.faas.runtime": "runc"})),
            "\"runtime\" cannot be applied on the process backend",
        ),
        (
            with("secrets", json!(["api-key"])),
            "\"secrets\" cannot be mounted on the process backend",
        ),
        (
            with("secrets", json!(["../admin-password"])),
            "invalid secret name",
        ),
        (with("user", json!("0 0")), "\"user\" \"0 0\" is not a user"),
    ];
    for (spec, says) in &refused {
        let answer = post(&gw, spec);
        answer.assert_says(400, says);
    }
    assert!(gw.functions().is_empty(), "nothing was recorded");
    assert_eq!(gw.get("/system/function/f").status, 404);
    // The process backend keeps no secrets.
    let secret = json!({"name": "api-key", "value": "v"});
    for method in [Method::GET, Method::POST] {
        let answer = send(gw.admin(method, "/system/secrets").json(&secret));
        answer.assert_says(400, "the process backend has no secrets");
    }

    // An update is held to the same checks, and leaves the function as it was.
    gw.deploy(with("envVars", json!({"A": "1"})));
    let update = send(
        gw.admin(Method::PUT, "/system/functions")
            .json(&json!({"service": "f", "envVars": {"B-C": "2"}})),
    );
    update.assert_says(400, "env var name \"B-C\"");
    assert_eq!(gw.function("f")["envVars"], json!({"A": "1"}));
    assert_eq!(gw.call("f", "still").text(), "still");
}

#[test]
fn a_command_that_cannot_start_is_502_not_unreachable() {
    let gw = start_gateway(&[]);
    gw.deploy(json!({"service": "nope", "image": "x", "command": ["/no/such/command"]}));
    let answer = gw.call("nope", "");
    assert_eq!(answer.status, 502, "{}", answer.text());
    assert!(
        answer.text().starts_with("function could not start: "),
        "{}",
        answer.text()
    );
    assert_eq!(answer.header("content-type"), "text/plain; charset=utf-8");
}

#[test]
fn scale_stays_under_scale_max_and_the_gateway_s_maximum() {
    let gw = start_gateway(&[("FAAS_MAX_REPLICAS", "5")]);
    gw.deploy(
        json!({"service": "three", "image": "x", "envProcess": "cat",
        "labels": {"com.openfaas.scale.max": "3"}}),
    );
    gw.deploy(json!({"service": "many", "image": "x", "envProcess": "cat",
        "labels": {"com.openfaas.scale.max": "50", "com.openfaas.scale.factor": "100"}}));
    let scale = |name: &str, replicas: u64| {
        send(
            gw.admin(Method::POST, &format!("/system/scale-function/{name}"))
                .json(&json!({"serviceName": name, "replicas": replicas})),
        )
    };

    refused(scale("three", 4), "cap of three: 3");
    assert_eq!(gw.replicas("three"), 1, "nothing changed");
    assert_eq!(scale("three", 3).status, 202);
    assert_eq!(gw.replicas("three"), 3);
    // The path names the function; "serviceName" is ignored, as in OpenFaaS.
    let other = send(
        gw.admin(Method::POST, "/system/scale-function/three")
            .json(&json!({"serviceName": "many", "replicas": 2})),
    );
    assert_eq!(other.status, 202, "{}", other.text());
    assert_eq!(gw.replicas("three"), 2);
    assert_eq!(gw.replicas("many"), 1);
    assert_eq!(scale("three", 3).status, 202);

    refused(scale("many", 1_000_000), "cap of many: 5");
    assert_eq!(gw.replicas("many"), 1);

    // A firing alert adds 100% of max (50) and is clamped to the gateway's 5.
    gw.alert("firing", "many");
    assert_eq!(gw.replicas("many"), 5);

    let too_many = post(
        &gw,
        &json!({"service": "big", "image": "x", "envProcess": "cat",
            "labels": {"com.openfaas.scale.min": "6", "com.openfaas.scale.max": "10"}}),
    );
    too_many.assert_says(400, "--max-replicas 5");
}

#[test]
fn a_reused_call_id_is_409_for_sync_calls_too() {
    let gw = start_gateway(&[]);
    gw.deploy(json!({"service": "cat", "image": "x", "command": ["cat"]}));
    gw.deploy(json!({"service": "slow", "image": "x", "command": ["sh", "-c", "sleep 1; cat"]}));
    let call =
        |path: &str, id: &str, body: &str| gw.post_with(path, ("X-Call-Id", id), body.to_string());

    let id = "0b7e4c3a-54e4-4b43-9c1f-222222222222";
    assert_eq!(call("/function/cat", id, "first").text(), "first");
    let again = call("/function/cat", id, "second");
    again.assert_says(409, "already used");
    assert_eq!(call("/async-function/cat", id, "third").status, 409);
    assert_eq!(gw.counts("cat")["Total"], 1, "only the first is recorded");
    assert_eq!(gw.record(id)["Status"], "FINISHED");

    // An async call's id, and a sync call's still running.
    let id = gw.call_async("cat", "async");
    assert_eq!(call("/function/cat", &id, "sync").status, 409);
    let id = "0b7e4c3a-54e4-4b43-9c1f-333333333333";
    std::thread::scope(|s| {
        let first = s.spawn(|| call("/function/slow", id, "slow"));
        faas_tests::eventually("the slow call running", Duration::from_secs(10), || {
            (gw.get(&format!("/system/calls/{id}")).status == 200).then_some(())
        });
        let second = call("/function/slow", id, "second");
        assert_eq!(second.status, 409, "{}", second.text());
        let async_ = call("/async-function/slow", id, "third");
        assert_eq!(async_.status, 409, "{}", async_.text());
        assert_eq!(first.join().expect("the first call").text(), "slow");
    });
    assert_eq!(gw.counts("slow")["Total"], 1);
}

#[test]
fn huge_request_headers_are_431_and_leave_no_record() {
    let gw = start_gateway(&[]);
    gw.deploy(json!({"service": "cat", "image": "x", "command": ["cat"]}));
    let big = "x".repeat(130 * 1024);
    let ids = [
        ("/function/cat", "0b7e4c3a-54e4-4b43-9c1f-444444444444"),
        (
            "/async-function/cat",
            "0b7e4c3a-54e4-4b43-9c1f-555555555555",
        ),
    ];
    for (path, id) in ids {
        let answer = send(
            gw.client
                .post(gw.url(path))
                .header("X-Call-Id", id)
                .header("X-Big", &big)
                .body("in"),
        );
        answer.assert_says(431, "FAAS_MAX_HEADER_BYTES");
        assert_eq!(gw.get(&format!("/system/calls/{id}")).status, 404);
    }
    assert_eq!(gw.counts("cat")["Total"], 0);
    let fits = gw.post_with("/function/cat", ("X-Big", &"x".repeat(60 * 1024)), "in");
    assert_eq!(fits.status, 200, "{}", fits.text());
}

#[test]
fn malformed_alertmanager_webhooks_are_400() {
    let gw = start_gateway(&[]);
    let alert = |body: &str| {
        send(
            gw.admin(Method::POST, "/system/alert")
                .header("Content-Type", "application/json")
                .body(body.to_string()),
        )
    };
    for body in [
        "[[]]",
        "{}",
        r#"{"alerts":[]}"#,
        r#"{"alerts":[{"labels":{"function_name":"f"}}]}"#,
        r#"{"alerts":[{"status":"firing"}]}"#,
        r#"{"alerts":[{"status":"burning","labels":{}}]}"#,
    ] {
        let answer = alert(body);
        answer.assert_says(400, "AlertManager webhook");
    }
    let unknown = alert(r#"{"alerts":[{"status":"firing","labels":{"function_name":"ghost"}}]}"#);
    assert_eq!(unknown.status, 200, "an unknown function is ignored");
}

#[test]
fn docker_refuses_missing_networks_and_cpus_beyond_the_engine() {
    let test = "docker_refuses_missing_networks_and_cpus_beyond_the_engine";
    if !engine_or_skip(test) {
        return;
    }
    let gw = start_docker_gateway(&[("FAAS_ALLOW_NETWORKS", "faas-no-such-network")]);
    let missing = post(
        &gw,
        &json!({"service": "net", "image": "faas/sample-cat", "command": ["cat"],
            "network": "faas-no-such-network"}),
    );
    missing.assert_says(400, "no such network: faas-no-such-network");
    let cpus = post(
        &gw,
        &json!({"service": "cpus", "image": "faas/sample-cat", "command": ["cat"],
            "limits": {"cpu": "100000"}}),
    );
    cpus.assert_says(400, "is more than the");
    // Amounts no container could run with.
    let base = json!({"service": "f", "image": "faas/sample-cat", "command": ["cat"]});
    let with = |field: &str, value: Value| {
        let mut spec = base.clone();
        spec[field] = value;
        spec
    };
    for (spec, says) in [
        (
            with("limits", json!({"memory": "1"})),
            "limits.memory \"1\" is too small",
        ),
        (
            with("requests", json!({"memory": "3Mi"})),
            "requests.memory \"3Mi\" is too small",
        ),
        (
            with("limits", json!({"cpu": "0"})),
            "limits.cpu \"0\" is not understood",
        ),
    ] {
        refused(post(&gw, &spec), says);
    }
    assert!(gw.functions().is_empty(), "nothing was recorded");

    gw.deploy(json!({"service": "nope", "image": "faas/sample-cat",
        "command": ["/no/such/command"]}));
    let answer = gw.call("nope", "");
    assert_eq!(answer.status, 502, "{}", answer.text());
    assert!(answer.one_line().starts_with("function could not start: "));
}

/// Asserts `answer` is a one-line 400 saying `says`.
fn refused(answer: Answer, says: &str) {
    answer.assert_says(400, says);
}
