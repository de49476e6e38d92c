//! The gateway's API end to end: deploy/list/update/remove, sync, async and
//! `X-Function` calls (and the span their log lines carry), Hyper Func's
//! addresses, bad input, auth and the OpenAPI document, against the real
//! binary over HTTP.

use std::time::Duration;

use faas_tests::gateway::start_gateway;
use faas_tests::{eventually, send};
use reqwest::Method;
use serde_json::{json, Value};

#[test]
fn deploy_list_update_remove() {
    let gw = start_gateway(&[]);
    let f = gw.deploy(
        json!({"service": "echo", "image": "alpine", "command": ["cat"], "labels": {"a": "b"}}),
    );
    assert_eq!(f["mode"], "per-call");
    assert_eq!(f["timeout"], 300);
    let uuid = f["uuid"].as_str().expect("uuid").to_string();
    assert!(f["address"]
        .as_str()
        .expect("address")
        .ends_with(&format!("/call/echo/{uuid}")));

    let list = gw.functions();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "echo");
    assert_eq!(list[0]["labels"]["a"], "b");

    let again = send(
        gw.admin(Method::POST, "/system/functions")
            .json(&json!({"service": "echo", "image": "x", "command": ["cat"]})),
    );
    assert_eq!(again.status, 409);
    again.one_line();

    let updated = send(
        gw.admin(Method::PUT, "/system/functions")
            .json(&json!({"service": "echo", "timeout": 7, "refresh": true})),
    );
    assert_eq!(updated.status, 202);
    let updated = updated.json();
    assert_eq!(updated["timeout"], 7);
    assert_eq!(updated["command"], json!(["cat"]));
    assert_ne!(updated["uuid"], uuid.as_str(), "refresh gives a new UUID");
    let old = send(
        gw.client
            .post(gw.url(&format!("/call/echo/{uuid}/sync")))
            .body("x"),
    );
    assert_eq!(old.status, 404, "the old address stops working");
    assert_eq!(gw.function("echo")["timeout"], 7);

    let missing = send(
        gw.admin(Method::PUT, "/system/functions")
            .json(&json!({"service": "nope", "image": "x"})),
    );
    assert_eq!(missing.status, 404);

    assert_eq!(gw.remove("echo").status, 202);
    assert_eq!(gw.call("echo", "x").status, 404);
    assert_eq!(gw.remove("echo").status, 404);
}

#[test]
fn process_functions_do_not_see_the_gateways_environment() {
    let gw = start_gateway(&[("FAAS_PROBE_SECRET", "s3cret")]);
    gw.deploy(json!({"service": "env", "image": "x",
        "command": ["sh", "-c", "echo \"$FAAS_PROBE_SECRET|$FAAS_BASIC_AUTH_PASSWORD_FILE|${PATH:+path}|$GREETING\""],
        "envVars": {"GREETING": "hello"}}));
    let answer = gw.call("env", "");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.text(), "||path|hello\n");
}

#[test]
fn sync_async_and_x_function_calls() {
    let gw = start_gateway(&[]);
    gw.deploy(json!({"service": "env", "image": "x", "command": ["sh", "-c", "cat; echo; echo \"$Http_X_Custom $Http_Path $Http_Query $Http_Method $GREETING\""], "envVars": {"GREETING": "hello"}}));
    let sync = send(
        gw.client
            .put(gw.url("/function/env/some/path?q=1"))
            .header("X-Custom", "yes")
            .body("in"),
    );
    assert_eq!(sync.status, 200);
    let id = sync.header("x-call-id").to_string();
    assert!(sync.headers.contains_key("x-duration-seconds"));
    assert_eq!(sync.text(), "in\nyes /some/path q=1 PUT hello\n");

    let own = "0b7e4c3a-54e4-4b43-9c1f-111111111111";
    let x = send(
        gw.client
            .post(gw.url("/"))
            .header("X-Function", "env")
            .header("X-Call-Id", own)
            .body("x"),
    );
    assert_eq!(x.status, 200);
    assert_eq!(x.header("x-call-id"), own, "the caller's call id is kept");
    let none = send(gw.client.post(gw.url("/")).body("x"));
    none.assert_says(400, "X-Function");

    let call_id = gw.call_async("env", "async-in");
    let output = gw.wait_output(&call_id);
    assert_eq!(output.status, 200);
    assert!(output.text().starts_with("async-in\n"));
    let record = gw.record(&call_id);
    assert_eq!(record["Status"], "FINISHED");
    assert_eq!(record["ExitCode"], 0);
    assert_eq!(record["Function"], "env");
    assert_eq!(gw.record(&id)["CallId"], id.as_str());

    assert_eq!(
        gw.counts("env"),
        json!({"Total": 3, "Pending": 0, "Running": 0, "Finished": 3, "Failed": 0, "Cancelled": 0, "Expired": 0})
    );

    let events: Vec<Value> = gw
        .logs(&format!("name=env&callid={call_id}"))
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["Event"].as_str().expect("Event"))
        .collect();
    assert_eq!(kinds, ["CALL", "PENDING", "RUNNING", "FINISHED"]);
    assert_eq!(events[0]["ShortStdin"], "async-in");
    assert_eq!(gw.logs("name=env&tail=2").lines().count(), 2);
}

#[test]
fn a_call_s_log_lines_carry_its_id_and_function() {
    let gw = start_gateway(&[("RUST_LOG", "warn,faas_gateway=debug")]);
    gw.deploy(json!({"service": "upper", "image": "x", "command": ["tr", "a-z", "A-Z"]}));
    let sync = gw.call("upper", "in");
    assert_eq!(sync.status, 200);
    let sync = sync.header("x-call-id").to_string();
    // An async call runs in a task of its own: the span goes with it.
    let accepted = gw.call_async("upper", "in");
    assert_eq!(gw.wait_output(&accepted).status, 200);
    for id in [sync, accepted] {
        let span = format!("call{{id={id} function=upper}}");
        eventually(
            "the process backend's line in the call's span",
            Duration::from_secs(5),
            || {
                let log = String::from_utf8_lossy(&gw.log()).into_owned();
                log.lines()
                    .any(|line| {
                        line.contains(&span) && line.contains("a process runs the call pid=")
                    })
                    .then_some(())
            },
        );
    }
}

#[test]
fn failures_and_hyper_addresses() {
    let gw = start_gateway(&[]);
    let f = gw.deploy(json!({"service": "fail", "image": "x", "command": ["sh", "-c", "echo out; echo err >&2; exit 3"]}));
    let uuid = f["uuid"].as_str().expect("uuid");
    let sync = send(gw.client.post(gw.url(&format!("/call/fail/{uuid}/sync"))));
    assert_eq!(sync.status, 500);
    assert_eq!(sync.text(), "exit status 3\nout\nerr\n");

    let accepted = send(gw.client.post(gw.url(&format!("/call/fail/{uuid}")))).json();
    let id = accepted["CallId"].as_str().expect("CallId");
    let out = send(
        gw.client
            .get(gw.url(&format!("/output/fail/{uuid}/{id}/wait"))),
    );
    assert_eq!(out.status, 500);
    let record = gw.record(id);
    assert_eq!(record["Status"], "FAILED");
    assert_eq!(record["ExitCode"], 3);
    let wrong = send(gw.client.get(gw.url(&format!(
        "/output/fail/00000000-0000-0000-0000-000000000000/{id}"
    ))));
    assert_eq!(wrong.status, 404);
    let unknown = gw.get("/system/calls/00000000-0000-0000-0000-000000000000/output");
    assert_eq!(unknown.status, 404);
}

#[test]
fn bad_input_is_refused_in_one_line_and_records_nothing() {
    let gw = start_gateway(&[("FAAS_MAX_PAYLOAD_BYTES", "1000")]);
    gw.deploy(json!({"service": "cat", "image": "x", "command": ["cat"]}));
    for (body, says) in [
        ("{", "invalid deployment JSON"),
        (r#"{"service": 5, "image": "x"}"#, "invalid deployment JSON"),
        (
            r#"{"service": "Bad_Name", "image": "x", "command": ["cat"]}"#,
            "invalid function name",
        ),
        (r#"{"service": "ok", "command": ["cat"]}"#, "image"),
        (
            r#"{"service": "ok", "image": "x", "command": ["cat"], "timeout": 100000}"#,
            "timeout",
        ),
        (
            r#"{"service": "ok", "image": "x", "mode": "sideways"}"#,
            "unknown variant",
        ),
        (r#"{"service": "ok", "image": "x"}"#, "envProcess"),
    ] {
        let refused = send(
            gw.admin(Method::POST, "/system/functions")
                .header("Content-Type", "application/json")
                .body(body),
        );
        refused.assert_says(400, says);
    }
    assert_eq!(gw.functions().len(), 1, "nothing was deployed");

    let big = "x".repeat(1001);
    for path in ["/function/cat", "/async-function/cat"] {
        let refused = send(gw.client.post(gw.url(path)).body(big.clone()));
        refused.assert_says(413, "1000 bytes");
    }
    assert_eq!(gw.call("cat", "x".repeat(1000)).status, 200);
    for (path, header, value) in [
        ("/async-function/cat", "X-Callback-Url", "not a url"),
        ("/function/cat", "X-Call-Id", "nope"),
    ] {
        let refused = gw.post_with(path, (header, value), "x");
        assert_eq!(refused.status, 400, "{header}: {value}");
    }
    // A sync call's record is committed just after its answer: wait for it.
    eventually("the good call's record", Duration::from_secs(5), || {
        (gw.counts("cat")["Total"] != 0).then_some(())
    });
    assert_eq!(
        gw.counts("cat")["Total"],
        1,
        "only the good call is recorded"
    );

    let unknown = send(gw.client.get(gw.url("/no/such/route")));
    assert_eq!(unknown.status, 404);
    unknown.one_line();
    let method = send(gw.client.post(gw.url("/healthz")));
    assert_eq!(method.status, 405);
    method.one_line();
    assert_eq!(gw.call("Bad_Name", "").status, 400);
    assert_eq!(gw.get("/system/logs").status, 400);
}

#[test]
fn auth_is_required_where_the_spec_says() {
    let gw = start_gateway(&[]);
    let f = gw.deploy(json!({"service": "cat", "image": "x", "command": ["cat"]}));
    let id = gw.call_async("cat", "x");
    for path in [
        "/system/functions",
        "/system/function/cat",
        "/system/function/cat/status",
        "/system/info",
        &format!("/system/calls/{id}"),
        &format!("/system/calls/{id}/output"),
        "/system/logs?name=cat",
        "/system/function/cat/calls",
        "/system/function/cat/samples",
        "/ui",
        "/ui/",
        "/ui/app.js",
    ] {
        gw.assert_needs_login(path);
        let right = gw.get(path);
        assert!(right.is_success(), "{path}: {}", right.status);
    }
    for path in ["/healthz", "/metrics", "/system/openapi.json"] {
        assert_eq!(send(gw.client.get(gw.url(path))).status, 200, "{path}");
    }
    assert_eq!(gw.call("cat", "").status, 200);
    let uuid = f["uuid"].as_str().expect("uuid");
    let hyper = send(gw.client.post(gw.url(&format!("/call/cat/{uuid}/sync"))));
    assert_eq!(hyper.status, 200);
    let output = send(
        gw.client
            .get(gw.url(&format!("/output/cat/{uuid}/{id}/wait"))),
    );
    assert_eq!(output.status, 200);

    let locked = start_gateway(&[("FAAS_INVOKE_AUTH", "true")]);
    locked.deploy(json!({"service": "cat", "image": "x", "command": ["cat"]}));
    for path in ["/function/cat", "/async-function/cat"] {
        let none = send(locked.client.post(locked.url(path)));
        assert_eq!(none.status, 401, "{path}");
        let admin = send(locked.admin(Method::POST, path));
        assert!(admin.is_success(), "{path}");
    }
}

#[test]
fn every_documented_route_is_served() {
    let gw = start_gateway(&[]);
    let doc = send(gw.client.get(gw.url("/system/openapi.json"))).json();
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() > 15);
    for (path, item) in paths {
        let concrete = path
            .replace("{name}", "nofn")
            .replace("{uuid}", "00000000-0000-0000-0000-000000000000")
            .replace("{callId}", "00000000-0000-0000-0000-000000000000")
            .replace("{path}", "a/b")
            .replace("{file}", "app.js");
        for method in item.as_object().expect("item").keys() {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let answer = send(gw.admin(m, &concrete));
            let (status, body) = (answer.status, answer.text());
            assert!(
                !body.contains("no such route") && status != 405,
                "{method} {path}: {status} {body}"
            );
        }
    }
}
