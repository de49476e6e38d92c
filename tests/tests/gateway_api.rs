//! The gateway's API end to end: deploy/list/update/remove, sync, async and
//! `X-Function` calls, Hyper Func's addresses, callbacks, bad input, auth and
//! the OpenAPI document, against the real binary over HTTP.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::time::Duration;

use faas_tests::gateway::{start_gateway, GatewayHandle, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

fn status_of(gw: &GatewayHandle, name: &str) -> Value {
    gw.admin(Method::GET, &format!("/system/function/{name}/status"))
        .send()
        .expect("status")
        .json()
        .expect("json")
}

/// A one-line text body.
fn one_line(response: reqwest::blocking::Response) -> String {
    let text = response.text().expect("text");
    assert!(
        text.ends_with('\n') && text.trim_end().lines().count() == 1,
        "not one line: {text:?}"
    );
    text
}

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

    let list: Value = gw
        .admin(Method::GET, "/system/functions")
        .send()
        .expect("list")
        .json()
        .expect("json");
    assert_eq!(list.as_array().expect("array").len(), 1);
    assert_eq!(list[0]["name"], "echo");
    assert_eq!(list[0]["labels"]["a"], "b");

    let again = gw
        .admin(Method::POST, "/system/functions")
        .json(&json!({"service": "echo", "image": "x", "command": ["cat"]}))
        .send()
        .expect("post");
    assert_eq!(again.status(), 409);
    one_line(again);

    let updated = gw
        .admin(Method::PUT, "/system/functions")
        .json(&json!({"service": "echo", "timeout": 7, "refresh": true}))
        .send()
        .expect("put");
    assert_eq!(updated.status(), 202);
    let updated: Value = updated.json().expect("json");
    assert_eq!(updated["timeout"], 7);
    assert_eq!(updated["command"], json!(["cat"]));
    assert_ne!(updated["uuid"], uuid.as_str(), "refresh gives a new UUID");
    let old = gw
        .client
        .post(gw.url(&format!("/call/echo/{uuid}/sync")))
        .body("x")
        .send()
        .expect("call");
    assert_eq!(old.status(), 404, "the old address stops working");

    let one: Value = gw
        .admin(Method::GET, "/system/function/echo")
        .send()
        .expect("get")
        .json()
        .expect("json");
    assert_eq!(one["timeout"], 7);

    let missing = gw
        .admin(Method::PUT, "/system/functions")
        .json(&json!({"service": "nope", "image": "x"}))
        .send()
        .expect("put");
    assert_eq!(missing.status(), 404);

    let removed = gw
        .admin(Method::DELETE, "/system/functions")
        .json(&json!({"functionName": "echo"}))
        .send()
        .expect("delete");
    assert_eq!(removed.status(), 202);
    let gone = gw
        .client
        .post(gw.url("/function/echo"))
        .body("x")
        .send()
        .expect("call");
    assert_eq!(gone.status(), 404);
    let removed = gw
        .admin(Method::DELETE, "/system/functions")
        .json(&json!({"functionName": "echo"}))
        .send()
        .expect("delete");
    assert_eq!(removed.status(), 404);
}

#[test]
fn process_functions_do_not_see_the_gateways_environment() {
    let gw = start_gateway(&[("FAAS_PROBE_SECRET", "s3cret")]);
    gw.deploy(json!({"service": "env", "image": "x",
        "command": ["sh", "-c", "echo \"$FAAS_PROBE_SECRET|$FAAS_BASIC_AUTH_PASSWORD_FILE|${PATH:+path}|$GREETING\""],
        "envVars": {"GREETING": "hello"}}));
    let answer = gw
        .client
        .post(gw.url("/function/env"))
        .send()
        .expect("call");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().expect("text"), "||path|hello\n");
}

#[test]
fn sync_async_and_x_function_calls() {
    let gw = start_gateway(&[]);
    gw.deploy(json!({"service": "env", "image": "x", "command": ["sh", "-c", "cat; echo; echo \"$Http_X_Custom $Http_Path $Http_Query $Http_Method $GREETING\""], "envVars": {"GREETING": "hello"}}));
    let sync = gw
        .client
        .put(gw.url("/function/env/some/path?q=1"))
        .header("X-Custom", "yes")
        .body("in")
        .send()
        .expect("call");
    assert_eq!(sync.status(), 200);
    let id = sync.headers()["x-call-id"]
        .to_str()
        .expect("id")
        .to_string();
    assert!(sync.headers().contains_key("x-duration-seconds"));
    assert_eq!(
        sync.text().expect("text"),
        "in\nyes /some/path q=1 PUT hello\n"
    );

    let own = "0b7e4c3a-54e4-4b43-9c1f-111111111111";
    let x = gw
        .client
        .post(gw.url("/"))
        .header("X-Function", "env")
        .header("X-Call-Id", own)
        .body("x")
        .send()
        .expect("call");
    assert_eq!(x.status(), 200);
    assert_eq!(
        x.headers()["x-call-id"],
        own,
        "the caller's call id is kept"
    );
    let none = gw.client.post(gw.url("/")).body("x").send().expect("call");
    assert_eq!(none.status(), 400);
    assert!(one_line(none).contains("X-Function"));

    let call_id = gw.call_async("env", "async-in");
    let (status, out) = gw.wait_output(&call_id);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&out).starts_with("async-in\n"));
    let record: Value = gw
        .admin(Method::GET, &format!("/system/calls/{call_id}"))
        .send()
        .expect("record")
        .json()
        .expect("json");
    assert_eq!(record["Status"], "FINISHED");
    assert_eq!(record["ExitCode"], 0);
    assert_eq!(record["Function"], "env");
    let sync_record: Value = gw
        .admin(Method::GET, &format!("/system/calls/{id}"))
        .send()
        .expect("record")
        .json()
        .expect("json");
    assert_eq!(sync_record["CallId"], id.as_str());

    let counts = status_of(&gw, "env");
    assert_eq!(
        counts,
        json!({"Total": 3, "Pending": 0, "Running": 0, "Finished": 3, "Failed": 0})
    );

    let logs = gw
        .admin(
            Method::GET,
            &format!("/system/logs?name=env&callid={call_id}"),
        )
        .send()
        .expect("logs")
        .text()
        .expect("text");
    let events: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["Event"].as_str().expect("Event"))
        .collect();
    assert_eq!(kinds, ["CALL", "PENDING", "RUNNING", "FINISHED"]);
    assert_eq!(events[0]["ShortStdin"], "async-in");
    let tail = gw
        .admin(Method::GET, "/system/logs?name=env&tail=2")
        .send()
        .expect("logs")
        .text()
        .expect("text");
    assert_eq!(tail.lines().count(), 2);
}

#[test]
fn failures_and_hyper_addresses() {
    let gw = start_gateway(&[]);
    let f = gw.deploy(json!({"service": "fail", "image": "x", "command": ["sh", "-c", "echo out; echo err >&2; exit 3"]}));
    let uuid = f["uuid"].as_str().expect("uuid");
    let sync = gw
        .client
        .post(gw.url(&format!("/call/fail/{uuid}/sync")))
        .send()
        .expect("call");
    assert_eq!(sync.status(), 500);
    assert_eq!(sync.text().expect("text"), "exit status 3\nout\nerr\n");

    let accepted: Value = gw
        .client
        .post(gw.url(&format!("/call/fail/{uuid}")))
        .send()
        .expect("call")
        .json()
        .expect("json");
    let id = accepted["CallId"].as_str().expect("CallId");
    let out = gw
        .client
        .get(gw.url(&format!("/output/fail/{uuid}/{id}/wait")))
        .send()
        .expect("output");
    assert_eq!(out.status(), 500);
    let record: Value = gw
        .admin(Method::GET, &format!("/system/calls/{id}"))
        .send()
        .expect("record")
        .json()
        .expect("json");
    assert_eq!(record["Status"], "FAILED");
    assert_eq!(record["ExitCode"], 3);
    let wrong = gw
        .client
        .get(gw.url(&format!(
            "/output/fail/00000000-0000-0000-0000-000000000000/{id}"
        )))
        .send()
        .expect("output");
    assert_eq!(wrong.status(), 404);
    let unknown = gw
        .admin(
            Method::GET,
            "/system/calls/00000000-0000-0000-0000-000000000000/output",
        )
        .send()
        .expect("output");
    assert_eq!(unknown.status(), 404);
}

#[test]
fn callback_gets_the_result() {
    let gw = start_gateway(&[]);
    gw.deploy(json!({"service": "up", "image": "x", "command": ["tr", "a-z", "A-Z"]}));
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("addr").port();
    let id = {
        let r = gw
            .client
            .post(gw.url("/async-function/up"))
            .header("X-Callback-Url", format!("http://127.0.0.1:{port}/done"))
            .body("shout")
            .send()
            .expect("call");
        assert_eq!(r.status(), 202);
        r.headers()["x-call-id"].to_str().expect("id").to_string()
    };
    listener.set_nonblocking(false).expect("blocking");
    let (mut stream, _) = listener.accept().expect("the callback arrives");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut head = Vec::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("line");
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().expect("length");
        }
        head.push(lower);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    use std::io::Write;
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    assert!(head[0].starts_with("post /done "), "{head:?}");
    assert!(
        head.iter().any(|h| h.trim() == format!("x-call-id: {id}")),
        "{head:?}"
    );
    assert!(
        head.iter().any(|h| h.trim() == "x-function-name: up"),
        "{head:?}"
    );
    assert!(
        head.iter().any(|h| h.trim() == "x-function-status: 200"),
        "{head:?}"
    );
    assert!(
        head.iter().any(|h| h.starts_with("x-duration-seconds:")),
        "{head:?}"
    );
    assert_eq!(body, b"SHOUT");
}

#[test]
fn bad_input_is_refused_in_one_line_and_records_nothing() {
    let gw = start_gateway(&[("FAAS_MAX_PAYLOAD_BYTES", "1000")]);
    gw.deploy(json!({"service": "cat", "image": "x", "command": ["cat"]}));
    let post = |body: &str| {
        gw.admin(Method::POST, "/system/functions")
            .body(body.to_string())
            .send()
            .expect("post")
    };
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
        let r = post(body);
        assert_eq!(r.status(), 400, "{body}");
        let line = one_line(r);
        assert!(line.contains(says), "{body}: {line}");
    }
    let list: Value = gw
        .admin(Method::GET, "/system/functions")
        .send()
        .expect("list")
        .json()
        .expect("json");
    assert_eq!(
        list.as_array().expect("array").len(),
        1,
        "nothing was deployed"
    );

    let big = "x".repeat(1001);
    for path in ["/function/cat", "/async-function/cat"] {
        let r = gw
            .client
            .post(gw.url(path))
            .body(big.clone())
            .send()
            .expect("call");
        assert_eq!(r.status(), 413, "{path}");
        assert!(one_line(r).contains("1000 bytes"));
    }
    let ok = gw
        .client
        .post(gw.url("/function/cat"))
        .body("x".repeat(1000))
        .send()
        .expect("call");
    assert_eq!(ok.status(), 200);
    let bad_callback = gw
        .client
        .post(gw.url("/async-function/cat"))
        .header("X-Callback-Url", "not a url")
        .body("x")
        .send()
        .expect("call");
    assert_eq!(bad_callback.status(), 400);
    let bad_id = gw
        .client
        .post(gw.url("/function/cat"))
        .header("X-Call-Id", "nope")
        .body("x")
        .send()
        .expect("call");
    assert_eq!(bad_id.status(), 400);
    // A sync call's record is committed just after its answer: wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while status_of(&gw, "cat")["Total"] == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        status_of(&gw, "cat")["Total"],
        1,
        "only the good call is recorded"
    );

    let unknown = gw.client.get(gw.url("/no/such/route")).send().expect("get");
    assert_eq!(unknown.status(), 404);
    one_line(unknown);
    let method = gw.client.post(gw.url("/healthz")).send().expect("post");
    assert_eq!(method.status(), 405);
    one_line(method);
    let bad_name = gw
        .client
        .post(gw.url("/function/Bad_Name"))
        .send()
        .expect("post");
    assert_eq!(bad_name.status(), 400);
    let logs = gw.admin(Method::GET, "/system/logs").send().expect("logs");
    assert_eq!(logs.status(), 400);
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
    ] {
        let r = gw.client.get(gw.url(path)).send().expect("get");
        assert_eq!(r.status(), 401, "{path}");
        assert!(r.headers().contains_key("www-authenticate"));
        let wrong = gw
            .client
            .get(gw.url(path))
            .basic_auth("admin", Some("wrong"))
            .send()
            .expect("get");
        assert_eq!(wrong.status(), 401, "{path}");
        let right = gw
            .client
            .get(gw.url(path))
            .basic_auth("admin", Some(PASSWORD))
            .send()
            .expect("get");
        assert!(right.status().is_success(), "{path}: {}", right.status());
    }
    for path in ["/healthz", "/metrics", "/system/openapi.json"] {
        assert_eq!(
            gw.client.get(gw.url(path)).send().expect("get").status(),
            200,
            "{path}"
        );
    }
    assert_eq!(
        gw.client
            .post(gw.url("/function/cat"))
            .send()
            .expect("call")
            .status(),
        200
    );
    let uuid = f["uuid"].as_str().expect("uuid");
    assert_eq!(
        gw.client
            .post(gw.url(&format!("/call/cat/{uuid}/sync")))
            .send()
            .expect("call")
            .status(),
        200
    );
    assert_eq!(
        gw.client
            .get(gw.url(&format!("/output/cat/{uuid}/{id}/wait")))
            .send()
            .expect("out")
            .status(),
        200
    );

    let locked = start_gateway(&[("FAAS_INVOKE_AUTH", "true")]);
    locked.deploy(json!({"service": "cat", "image": "x", "command": ["cat"]}));
    for path in ["/function/cat", "/async-function/cat"] {
        assert_eq!(
            locked
                .client
                .post(locked.url(path))
                .send()
                .expect("call")
                .status(),
            401,
            "{path}"
        );
        let ok = locked
            .client
            .post(locked.url(path))
            .basic_auth("admin", Some(PASSWORD))
            .send()
            .expect("call");
        assert!(ok.status().is_success(), "{path}");
    }
}

#[test]
fn every_documented_route_is_served() {
    let gw = start_gateway(&[]);
    let doc: Value = gw
        .client
        .get(gw.url("/system/openapi.json"))
        .send()
        .expect("doc")
        .json()
        .expect("json");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() > 15);
    for (path, item) in paths {
        let concrete = path
            .replace("{name}", "nofn")
            .replace("{uuid}", "00000000-0000-0000-0000-000000000000")
            .replace("{callId}", "00000000-0000-0000-0000-000000000000")
            .replace("{path}", "a/b");
        for method in item.as_object().expect("item").keys() {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let r = gw
                .client
                .request(m, gw.url(&concrete))
                .basic_auth("admin", Some(PASSWORD))
                .send()
                .expect("request");
            let status = r.status();
            let body = r.text().unwrap_or_default();
            assert!(
                !body.contains("no such route") && status != 405,
                "{method} {path}: {status} {body}"
            );
        }
    }
}
