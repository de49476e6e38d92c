//! The gateway as OpenFaaS's own client sees it: every request here is one
//! `faas-cli`'s `proxy` package sends (method, path, query, body), and every
//! answer is read as its types decode it (`faas-provider`'s
//! `FunctionStatus`, `logs.Message`, the namespace list, the info). The one
//! flow runs on the process backend and on the docker backend (skipped with
//! a printed reason when no engine answers, failing under
//! `FAAS_REQUIRE_DOCKER=1`): info, namespaces, deploy from flags (PUT,
//! then POST on 404) and from a stack file, list, describe, invoke sync and
//! async with headers, logs (tail, since, follow), scale, remove.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use faas_tests::docker::engine_or_skip;
use faas_tests::gateway::{start_docker_gateway, start_gateway, Gateway, GatewayHandle};
use faas_tests::{eventually, send, Answer};
use reqwest::Method;
use serde_json::{json, Value};

/// The namespace OpenFaaS's clients name.
const NAMESPACE: &str = "openfaas-fn";

/// What `faas-cli deploy` sends for `--name … --image … --fprocess …
/// --env … --label … --annotation … --namespace …` (`FunctionDeployment`).
fn from_flags(name: &str, image: &str) -> Value {
    json!({
        "service": name,
        "image": image,
        "namespace": NAMESPACE,
        "envProcess": "sh -c 'echo \"err $Http_X_Compat\" >&2; cat'",
        "envVars": {"GREETING": "hi"},
        "labels": {"com.openfaas.scale.min": "1"},
        "annotations": {"topic": "compat"},
    })
}

/// What `faas-cli deploy -f stack.yml` sends for this entry:
///
/// ```yaml
/// functions:
///   <name>:
///     image: <image>
///     fprocess: cat
///     environment: {MODE: stack}
///     labels: {com.openfaas.scale.max: "3"}
///     limits: {memory: 64Mi, cpu: "0.5"}
///     requests: {memory: 32Mi}
///     readonly_root_filesystem: true
///     constraints: []
/// ```
fn from_stack(name: &str, image: &str) -> Value {
    json!({
        "service": name,
        "image": image,
        "namespace": NAMESPACE,
        "envProcess": "cat",
        "envVars": {"MODE": "stack"},
        "labels": {"com.openfaas.scale.max": "3"},
        "annotations": {},
        "constraints": [],
        "secrets": [],
        "limits": {"memory": "64Mi", "cpu": "0.5"},
        "requests": {"memory": "32Mi"},
        "readOnlyRootFilesystem": true,
    })
}

/// `faas-cli deploy`: PUT, and POST when the function is not there yet.
fn deploy(gw: &Gateway, spec: &Value) -> Answer {
    let put = send(gw.admin(Method::PUT, "/system/functions").json(spec));
    if put.status != 404 {
        return put;
    }
    send(gw.admin(Method::POST, "/system/functions").json(spec))
}

/// `faas-cli remove`: DELETE with `{"functionName", "namespace"}`.
fn remove(gw: &Gateway, name: &str) -> Answer {
    let body = json!({"functionName": name, "namespace": NAMESPACE});
    send(gw.admin(Method::DELETE, "/system/functions").json(&body))
}

/// Removes the functions it names when dropped, so a failing test leaves no
/// replica behind on the engine.
struct Removing<'a>(&'a Gateway, Vec<String>);

impl Drop for Removing<'_> {
    fn drop(&mut self) {
        for name in &self.1 {
            let _ = remove(self.0, name);
        }
    }
}

fn now() -> chrono::DateTime<chrono::Utc> {
    std::time::SystemTime::now().into()
}

/// `logs.Message`s of one answer, each checked for OpenFaaS's fields.
fn messages(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| {
            let m: Value = serde_json::from_str(line).expect("each line is JSON");
            for key in ["name", "namespace", "instance", "timestamp", "text"] {
                assert!(m[key].is_string(), "{key} in {line}");
            }
            assert_eq!(m["namespace"], NAMESPACE);
            chrono::DateTime::parse_from_rfc3339(m["timestamp"].as_str().unwrap_or_default())
                .expect("timestamp is RFC 3339");
            m
        })
        .collect()
}

/// `faas-cli logs <name> --tail=-1 --follow=false [--since …]`.
fn logs(gw: &Gateway, name: &str, extra: &str) -> Vec<Value> {
    let path = format!("/system/logs?name={name}&namespace={NAMESPACE}&follow=false{extra}");
    let answer = gw.get(&path);
    assert_eq!(answer.status, 200, "{path}: {}", answer.text());
    assert_eq!(answer.header("content-type"), "application/x-ndjson");
    messages(&answer.text())
}

/// The flow, on `gw`, with functions from `image`; `replicas_log` tells
/// whether STDERR comes from the replicas' container logs (container
/// backends) rather than per call.
fn openfaas_client_flow(gw: &Gateway, image: &str, orchestration: &str, replicas_log: bool) {
    let pid = std::process::id();
    let (flags, stack) = (format!("compat-{pid}"), format!("compat-stack-{pid}"));
    let _cleanup = Removing(gw, vec![flags.clone(), stack.clone()]);

    // faas-cli version: GET /system/info.
    let info = gw.get("/system/info").json();
    assert_eq!(info["provider"]["orchestration"], orchestration);
    assert!(info["provider"]["version"]["sha"].is_string());
    assert!(info["version"]["release"].is_string());
    assert!(info["version"]["commit_message"].is_string());

    // faas-cli namespaces: GET /system/namespaces, a JSON list.
    let namespaces = gw.get("/system/namespaces");
    assert_eq!(namespaces.status, 200);
    assert_eq!(namespaces.json(), json!([NAMESPACE]));

    // Deploys: from flags and from a stack file; another namespace is 400.
    let answer = deploy(gw, &from_flags(&flags, image));
    assert_eq!(answer.status, 202, "{}", answer.text());
    // Local processes cannot be limited or given a read-only root: the
    // stack file's entry is refused as it is, and deploys without them.
    let confined = orchestration != "process";
    let mut stack_entry = from_stack(&stack, image);
    if !confined {
        let answer = deploy(gw, &stack_entry);
        answer.assert_says(400, "cannot be applied on the process backend");
        let fields = stack_entry.as_object_mut().expect("an object");
        for field in ["limits", "requests", "readOnlyRootFilesystem"] {
            fields.remove(field);
        }
    }
    let answer = deploy(gw, &stack_entry);
    assert_eq!(answer.status, 202, "{}", answer.text());
    let mut elsewhere = from_flags(&format!("compat-other-{pid}"), image);
    elsewhere["namespace"] = json!("team-a");
    let answer = deploy(gw, &elsewhere);
    answer.assert_says(400, "no such namespace");
    // Deploying again updates (PUT answers, no POST).
    let answer = deploy(gw, &from_flags(&flags, image));
    assert_eq!(answer.status, 202, "{}", answer.text());
    eventually(
        "both functions to have a replica",
        Duration::from_secs(60),
        || {
            [&flags, &stack]
                .iter()
                .all(|n| gw.function(n)["availableReplicas"].as_u64() >= Some(1))
                .then_some(())
        },
    );

    // faas-cli list: GET /system/functions?namespace=…, []FunctionStatus.
    let answer = gw.get(&format!("/system/functions?namespace={NAMESPACE}"));
    assert_eq!(answer.status, 200);
    let listed = answer.json();
    let listed = listed.as_array().expect("a list");
    let status = |name: &str| {
        listed
            .iter()
            .find(|f| f["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} is listed"))
    };
    let s = status(&stack);
    assert_eq!(s["image"], image);
    assert_eq!(s["namespace"], NAMESPACE);
    assert_eq!(s["envProcess"], "cat");
    assert_eq!(s["envVars"]["MODE"], "stack");
    assert_eq!(s["labels"]["com.openfaas.scale.max"], "3");
    if confined {
        assert_eq!(s["limits"], json!({"memory": "64Mi", "cpu": "0.5"}));
        assert_eq!(s["requests"], json!({"memory": "32Mi"}));
        assert_eq!(s["readOnlyRootFilesystem"], true);
    } else {
        assert!(s["limits"].is_null() && s["requests"].is_null(), "{s}");
        assert_eq!(s["readOnlyRootFilesystem"], false);
    }
    assert_eq!(s["constraints"], json!([]));
    assert_eq!(s["secrets"], json!([]));
    assert!(s["invocationCount"].is_number() && s["replicas"].is_number());
    let created = s["createdAt"].as_str().expect("createdAt");
    let created = chrono::DateTime::parse_from_rfc3339(created).expect("RFC 3339");
    assert!(
        created.timestamp() > 1_600_000_000,
        "not Go's zero time: {created}"
    );
    if replicas_log {
        // Sampled from the engine: a number each, never negative.
        let usage = &s["usage"];
        assert!(usage["cpu"].as_f64() >= Some(0.0), "{s}");
        assert!(usage["totalMemoryBytes"].as_f64() >= Some(0.0), "{s}");
    }
    assert!(gw.get("/system/functions?namespace=team-a").status == 400);

    // faas-cli describe: GET /system/function/<name>?namespace=….
    let described = gw.get(&format!("/system/function/{flags}?namespace={NAMESPACE}"));
    assert_eq!(described.status, 200);
    let d = described.json();
    assert_eq!(d["annotations"]["topic"], "compat");
    assert_eq!(d["envVars"]["GREETING"], "hi");

    // faas-cli invoke: POST /function/<name>[.<namespace>] with headers.
    let before = now() - chrono::Duration::seconds(1);
    for path in [
        format!("/function/{flags}"),
        format!("/function/{flags}.{NAMESPACE}"),
    ] {
        let answer = send(
            gw.client
                .post(gw.url(&path))
                .header("Content-Type", "text/plain")
                .header("X-Compat", "sync")
                .body("hello"),
        );
        assert_eq!(answer.status, 200, "{path}: {}", answer.text());
        assert_eq!(answer.text(), "hello");
        assert!(!answer.header("x-call-id").is_empty());
    }
    // faas-cli invoke --async: 202 and the call id.
    let answer = gw.post_with(
        &format!("/async-function/{flags}"),
        ("X-Compat", "async"),
        "later",
    );
    assert_eq!(answer.status, 202);
    let id = answer.header("x-call-id").to_string();
    let output = gw.get(&format!("/system/calls/{id}/output?wait=true"));
    assert_eq!(output.text(), "later");

    // faas-cli logs: the function's STDERR is among the messages.
    let all = eventually(
        "the STDERR lines in the logs",
        Duration::from_secs(20),
        || {
            let all = logs(gw, &flags, "&tail=-1");
            let texts: Vec<&str> = all.iter().filter_map(|m| m["text"].as_str()).collect();
            (texts.contains(&"err sync") && texts.contains(&"err async")).then_some(all)
        },
    );
    let stderr = all
        .iter()
        .find(|m| m["text"] == "err async")
        .expect("the async call's STDERR");
    assert_eq!(stderr["Event"], "STDERR");
    assert_eq!(stderr["name"], flags.as_str());
    if replicas_log {
        // Written by a replica: its container, no call.
        assert!(stderr["instance"].as_str().is_some_and(|i| i.len() >= 12));
    } else {
        assert_eq!(stderr["instance"], id.as_str());
        assert_eq!(stderr["CallId"], id.as_str());
        // Per call, the lines come before the call's end.
        let at = |text: &str| {
            all.iter()
                .position(|m| m["text"].as_str().is_some_and(|t| t.starts_with(text)))
        };
        assert!(at("err async") < at(&format!("[FINISHED] CallId: {id}")));
    }
    // --tail 1: the newest message only; --since: nothing older.
    assert_eq!(logs(gw, &flags, "&tail=1").len(), 1);
    let since = before.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let floor = chrono::DateTime::parse_from_rfc3339(&since).expect("RFC 3339");
    let recent = logs(gw, &flags, &format!("&tail=-1&since={since}"));
    assert!(!recent.is_empty());
    assert!(recent.iter().all(|m| {
        chrono::DateTime::parse_from_rfc3339(m["timestamp"].as_str().unwrap_or_default())
            .is_ok_and(|t| t >= floor)
    }));
    let future = (now() + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    assert!(logs(gw, &flags, &format!("&since={future}")).is_empty());
    let bad = gw.get(&format!("/system/logs?name={flags}&since=yesterday"));
    assert_eq!(bad.status, 400);

    // --follow: new messages arrive on the open stream.
    let stream = gw
        .admin(Method::GET, "/system/logs")
        .query(&[
            ("name", flags.as_str()),
            ("namespace", NAMESPACE),
            ("follow", "true"),
        ])
        .timeout(Duration::from_secs(30))
        .send()
        .expect("the log stream opens");
    assert_eq!(stream.status(), 200);
    let caller = gw.client.clone();
    let url = gw.url(&format!("/function/{flags}"));
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let _ = caller
            .post(url)
            .header("X-Compat", "followed")
            .body("x")
            .send();
    });
    let mut lines = BufReader::new(stream).lines();
    let followed = lines.find_map(|line| {
        let line = line.ok()?;
        let m = messages(&line).pop()?;
        (m["text"] == "err followed").then_some(m)
    });
    assert!(followed.is_some(), "the followed call's STDERR arrives");

    // faas-cli scale: POST /system/scale-function/<name>.
    let body = json!({"serviceName": stack, "replicas": 2, "namespace": NAMESPACE});
    let path = format!("/system/scale-function/{stack}?namespace={NAMESPACE}");
    let answer = send(gw.admin(Method::POST, &path).json(&body));
    assert_eq!(answer.status, 202, "{}", answer.text());
    eventually("2 replicas", Duration::from_secs(30), || {
        (gw.function(&stack)["replicas"] == 2).then_some(())
    });

    // faas-cli remove: 202, then 404.
    for name in [&flags, &stack] {
        assert_eq!(remove(gw, name).status, 202);
        assert_eq!(remove(gw, name).status, 404);
        assert_eq!(gw.get(&format!("/system/function/{name}")).status, 404);
    }
}

#[test]
fn openfaas_client_on_the_process_backend() {
    let gw = start_gateway(&[]);
    openfaas_client_flow(&gw, "faas/sample-cat", "process", false);
}

#[test]
fn openfaas_client_on_the_docker_backend() {
    if !engine_or_skip("openfaas_client_on_the_docker_backend") {
        return;
    }
    let gw: GatewayHandle = start_docker_gateway(&[]);
    openfaas_client_flow(&gw, "faas/sample-cat", "docker", true);
}

/// Whether the engine is a Swarm manager (the swarm backend's test runs).
fn swarm_manager() -> bool {
    std::process::Command::new("docker")
        .args(["info", "--format", "{{.Swarm.ControlAvailable}}"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "true")
}

/// On a Swarm manager: a service function's replica is a Swarm task, whose
/// container's log (the watchdog's first line) is among the function's
/// messages, and whose usage is sampled. (A gateway on the host cannot reach
/// the overlay network's replicas, so calls are left to the stack's tests.)
#[test]
fn openfaas_client_sees_swarm_replicas_logs_and_usage() {
    let test = "openfaas_client_sees_swarm_replicas_logs_and_usage";
    if !engine_or_skip(test) {
        return;
    }
    if !swarm_manager() {
        eprintln!("skipped {test}: the engine is not a Swarm manager");
        return;
    }
    let network = format!("faas-compat-{}", std::process::id());
    let gw = start_gateway(&[("FAAS_BACKEND", "swarm"), ("FAAS_NETWORK", &network)]);
    let name = format!("compat-swarm-{}", std::process::id());
    {
        let _cleanup = Removing(&gw, vec![name.clone()]);
        let spec = json!({"service": name, "image": "faas/sample-cat", "envProcess": "cat",
            "namespace": NAMESPACE});
        let answer = deploy(&gw, &spec);
        assert_eq!(answer.status, 202, "{}", answer.text());
        let line = eventually(
            "the replica's first line in the logs",
            Duration::from_secs(60),
            || {
                logs(&gw, &name, "&tail=-1").into_iter().find(|m| {
                    m["text"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("fwatchdog: listening"))
                })
            },
        );
        assert_eq!(line["Event"], "STDERR");
        assert!(line["instance"].as_str().is_some_and(|i| i.len() >= 12));
        let usage = eventually("the replica's usage", Duration::from_secs(30), || {
            let f = gw.function(&name);
            (f["usage"]["totalMemoryBytes"].as_f64() > Some(0.0)).then_some(f["usage"].clone())
        });
        assert!(usage["cpu"].as_f64() >= Some(0.0));
        assert_eq!(remove(&gw, &name).status, 202);
    }
    drop(gw);
    // The network this test's gateway made; its service is gone.
    eventually("the test's network to go", Duration::from_secs(30), || {
        std::process::Command::new("docker")
            .args(["network", "rm", &network])
            .output()
            .is_ok_and(|o| o.status.success())
            .then_some(())
    });
}
