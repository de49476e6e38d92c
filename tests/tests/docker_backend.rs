//! End-to-end tests of the `docker` backend on a real Docker Engine: a new
//! container per call, service replicas, labels and clean-up, limits. Each
//! test skips with a printed reason when no engine answers, and fails when
//! `FAAS_REQUIRE_DOCKER=1`.

use std::time::{Duration, Instant};

use faas_tests::docker::{
    containers_labelled, containers_with, engine_or_skip, outlives_its_timeout,
    replica_token_image, running_labelled,
};
use faas_tests::gateway::{start_docker_gateway, GatewayHandle};
use faas_tests::{assert_lines, client, eventually, send};
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
    gw.deploy(outlives_its_timeout("sleeper"));
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
    // Its limits as the host's cgroup files show them, which only a runc
    // container sees (gVisor shows none).
    let Some(gw) = docker_gateway(
        "limits_read_only_root_and_no_docker_socket",
        &[("FAAS_RUNTIME", "runc")],
    ) else {
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

    // A replica that never gets ready (its watchdog refuses its port): the
    // call times out saying nothing ran, not that a process was killed.
    gw.deploy(
        json!({"service": "unready", "image": "faas/sample-cat", "envProcess": "cat",
        "envVars": {"port": "70000"}, "timeout": 2}),
    );
    let answer = gw.call("unready", "");
    assert_eq!(answer.status, 504, "{}", answer.text());
    assert_eq!(
        answer.one_line(),
        "timed out waiting for a replica of unready to be ready (the function's timeout); the function did not run\n"
    );
    assert!(gw.remove("unready").is_success());
    no_container_of(&["unready"], 30);
}

/// The IPv4 subnet (`a.b.c.d/n`) of the Docker network `name`.
fn subnet_of(name: &str) -> (u32, u32) {
    let out = std::process::Command::new("docker")
        .args([
            "network",
            "inspect",
            name,
            "--format",
            "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
        ])
        .output()
        .expect("docker network inspect");
    let text = String::from_utf8_lossy(&out.stdout);
    let cidr = text
        .split_whitespace()
        .find(|s| s.contains('.'))
        .unwrap_or_else(|| panic!("no IPv4 subnet for {name}: {text}"));
    let (address, bits) = cidr.split_once('/').expect("a CIDR");
    (ipv4(address), bits.parse().expect("prefix bits"))
}

fn ipv4(address: &str) -> u32 {
    let ip: std::net::Ipv4Addr = address.trim().parse().expect("an IPv4 address");
    u32::from(ip)
}

fn within(ip: u32, (net, bits): (u32, u32)) -> bool {
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    ip & mask == net & mask
}

/// What a function's container sees of its own confinement, one fact a
/// line: its effective capabilities, no-new-privileges, its pids and memory
/// limits, whether its root and `/tmp` are writable, its uid, its network
/// interfaces and its IPv4 address.
const PROBE: &str = "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status | tr -s '\\t' ' '; \
    cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max; \
    cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; \
    (touch /root-file 2>/dev/null && echo root-writable) || echo root-read-only; \
    touch /tmp/x && echo tmp-writable; \
    echo uid=$(id -u); \
    echo nets=$(ls /sys/class/net | tr '\\n' ' '); \
    ip -o -4 addr show eth0 2>/dev/null | awk '{print \"ip=\" $4}'";

#[test]
fn function_containers_are_confined_by_default() {
    // The probe reads the host's cgroup and network files, which only a
    // runc container sees (gVisor has its own).
    let Some(gw) = docker_gateway(
        "function_containers_are_confined_by_default",
        &[("FAAS_RUNTIME", "runc")],
    ) else {
        return;
    };
    let deploy =
        |spec: serde_json::Value| send(gw.admin(Method::POST, "/system/functions").json(&spec));
    // A per-call function with nothing asked: no capabilities, no new
    // privileges, the default pids and memory limits, a read-only root with
    // a writable /tmp, on the functions network (not the default bridge).
    gw.deploy(json!({"service": "probe", "image": "faas/sample-cat",
        "command": ["sh", "-c", PROBE]}));
    let seen = gw.call("probe", "").text();
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(
        lines[..7],
        [
            "CapEff: 0000000000000000",
            "NoNewPrivs: 1",
            "512",
            "268435456",
            "root-read-only",
            "tmp-writable",
            "uid=0"
        ],
        "{seen}"
    );
    let ip = lines
        .iter()
        .find_map(|l| l.strip_prefix("ip="))
        .unwrap_or_else(|| panic!("no address: {seen}"));
    let ip = ipv4(ip.split('/').next().expect("an address"));
    assert!(
        within(ip, subnet_of("faas-test-bridge")),
        "the call ran outside the functions network: {seen}"
    );
    assert!(
        !within(ip, subnet_of("bridge")),
        "the call ran on the default bridge: {seen}"
    );

    // What a deployment may ask for: no network, a capability of the
    // allow-list, a writable root; and a user (whose /tmp is writable).
    gw.deploy(json!({"service": "asks", "image": "faas/sample-cat",
        "command": ["sh", "-c", PROBE], "network": "none",
        "capabilities": ["CHOWN"], "readOnlyRootFilesystem": false,
        "limits": {"memory": "64m"}}));
    let seen = gw.call("asks", "").text();
    for fact in [
        "CapEff: 0000000000000001",
        "64000000",
        "root-writable",
        "nets=lo",
    ] {
        assert!(
            seen.lines().any(|l| l.trim_end() == fact),
            "{fact} in {seen}"
        );
    }
    assert!(!seen.contains("ip="), "no network: {seen}");
    gw.deploy(json!({"service": "who", "image": "faas/sample-cat",
        "command": ["sh", "-c", PROBE], "user": "1000:1000"}));
    let seen = gw.call("who", "").text();
    assert_lines(&seen, &["uid=1000", "tmp-writable", "root-read-only"]);

    // What it may not: another network (the host's, another container's,
    // the default bridge), a capability off the allow-list, a service
    // function off the functions network. Each is 400, nothing recorded.
    for (name, spec, says) in [
        (
            "host",
            json!({"network": "host"}),
            "\"network\" \"host\" is not allowed",
        ),
        (
            "other",
            json!({"network": "container:probe"}),
            "is not allowed",
        ),
        ("bridge", json!({"network": "bridge"}), "is not allowed"),
        (
            "raw",
            json!({"capabilities": ["NET_RAW"]}),
            "capability \"NET_RAW\" is not allowed",
        ),
        (
            "admin",
            json!({"capabilities": ["SYS_ADMIN"]}),
            "is not allowed",
        ),
        (
            "svc",
            json!({"network": "none", "mode": "service", "envProcess": "cat"}),
            "functions network",
        ),
        ("whom", json!({"user": "0; rm -rf /"}), "is not a user"),
    ] {
        let mut body = json!({"service": name, "image": "faas/sample-cat", "command": ["cat"]});
        for (k, v) in spec.as_object().expect("object") {
            body[k] = v.clone();
        }
        let refused = deploy(body);
        refused.assert_says(400, says);
        assert_eq!(gw.get(&format!("/system/function/{name}")).status, 404);
    }
    no_container_of(&["probe", "asks", "who"], 10);
}

#[test]
fn secrets_are_kept_private_and_mounted_read_only() {
    let Some(gw) = docker_gateway("secrets_are_kept_private_and_mounted_read_only", &[]) else {
        return;
    };
    let secret = |method: Method, body: serde_json::Value| {
        send(gw.admin(method, "/system/secrets").json(&body))
    };
    // faas-cli's `secret create` ({"name", "value"}) and `secret update`
    // (PUT); `rawValue` is base64 bytes, as it sends `--from-file`.
    let value = |name: &str, value: &str| json!({"name": name, "value": value});
    let raw = json!({"name": "raw", "rawValue": "AAEC/w=="});
    for (method, body, status) in [
        (Method::POST, value("api-key", "first-value"), 201),
        (Method::POST, value("api-key", "x"), 409),
        (Method::POST, raw, 201),
        (Method::PUT, value("api-key", "second-value"), 202),
        (Method::PUT, value("nope", "x"), 404),
    ] {
        let answer = secret(method.clone(), body.clone());
        assert_eq!(answer.status, status, "{method} {body}: {}", answer.text());
    }
    let listed = gw.get("/system/secrets");
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json(), json!([{"name": "api-key"}, {"name": "raw"}]));
    assert!(!listed.text().contains("second-value"));
    // Kept 0600 in a 0700 directory, nowhere in the database.
    use std::os::unix::fs::PermissionsExt;
    let dir = gw.data_dir().join("secrets");
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
    assert_eq!((mode(&dir), mode(&dir.join("api-key"))), (0o700, 0o600));
    assert_eq!(std::fs::read(dir.join("raw")).expect("raw"), [0, 1, 2, 255]);
    for (bad, says) in [
        (
            json!({"name": "../admin-password", "value": "x"}),
            "invalid secret name",
        ),
        (json!({"name": "empty"}), "needs a \"value\""),
        (json!({"name": "bad", "rawValue": "%%%"}), "not base64"),
    ] {
        let refused = secret(Method::POST, bad);
        refused.assert_says(400, says);
    }

    // Mounted read-only where OpenFaaS mounts them, in per-call
    // containers and in service replicas.
    let read = "cat /var/openfaas/secrets/api-key; echo; \
                (echo x > /var/openfaas/secrets/api-key) 2>/dev/null && echo writable || echo read-only";
    gw.deploy(json!({"service": "reader", "image": "faas/sample-cat",
        "command": ["sh", "-c", read], "secrets": ["api-key"]}));
    assert_eq!(gw.call("reader", "").text(), "second-value\nread-only\n");
    gw.deploy(json!({"service": "svc-reader", "image": "faas/sample-cat",
        "envProcess": "cat /var/openfaas/secrets/raw", "secrets": ["raw"]}));
    eventually(
        "the replica to read its secret",
        Duration::from_secs(30),
        || {
            let answer = gw.call("svc-reader", "");
            (answer.status == 200).then_some(answer.body)
        },
    )
    .eq(&[0, 1, 2, 255])
    .then_some(())
    .expect("the raw secret's bytes");
    // A secret that is not there, or a path, is refused at deploy.
    for secrets in [json!(["missing"]), json!(["../gateway-id"])] {
        let refused = send(gw.admin(Method::POST, "/system/functions").json(&json!({
            "service": "ghost", "image": "faas/sample-cat", "command": ["cat"], "secrets": secrets})));
        assert_eq!(refused.status, 400, "{}", refused.text());
        assert_eq!(gw.get("/system/function/ghost").status, 404);
    }

    // `secret remove`: DELETE {"name"}; 409 while a function names it.
    let in_use = secret(Method::DELETE, json!({"name": "api-key"}));
    in_use.assert_says(409, "used by reader");
    assert!(gw.remove("reader").is_success());
    assert_eq!(
        secret(Method::DELETE, json!({"name": "api-key"})).status,
        202
    );
    assert_eq!(
        secret(Method::DELETE, json!({"name": "api-key"})).status,
        404
    );
    assert_eq!(gw.get("/system/secrets").json(), json!([{"name": "raw"}]));
    assert!(gw.remove("svc-reader").is_success());
    no_container_of(&["reader", "svc-reader"], 30);
    // No value reached the log.
    let log = String::from_utf8_lossy(&gw.log()).into_owned();
    assert!(
        !log.contains("first-value") && !log.contains("second-value"),
        "{log}"
    );
}

/// The running replicas of `function` made by the gateway `gw`.
fn replicas_of(gw: &GatewayHandle, function: &str) -> Vec<String> {
    let owner = std::fs::read_to_string(gw.data_dir().join("gateway-id")).expect("the gateway id");
    let running = running_labelled(&format!("com.faas.function={function}"));
    containers_with(&[
        &format!("com.faas.function={function}"),
        &format!("com.faas.gateway={}", owner.trim()),
        "com.faas.replica",
    ])
    .into_iter()
    .filter(|id| running.contains(id))
    .collect()
}

/// `ip:8080` of the replica container `id` on the functions network.
fn replica_address(id: &str) -> String {
    let out = std::process::Command::new("docker")
        .args([
            "inspect",
            "--format",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
            id,
        ])
        .output()
        .expect("docker inspect");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let ip = text
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("no address for {id}: {text}"));
    format!("{ip}:8080")
}

/// Calls `function` until its replica answers `body` back.
fn answers_through_the_gateway(gw: &GatewayHandle, function: &str) {
    eventually(
        &format!("{function} to answer through the gateway"),
        Duration::from_secs(60),
        || {
            let answer = gw.call(function, "through the gateway");
            (answer.status == 200 && answer.text() == "through the gateway").then_some(())
        },
    );
}

/// What a prober replica does with the `ip:port` of another function's
/// replica (its input): reads its own token from its watchdog's
/// environment (PID 1 of its own container, which it may), shows whether
/// its own environment has one, and POSTs to the other replica directly:
/// with no token, with its own, then asks its health.
const PROBE_REPLICA: &str = r#"read target
own=$(tr '\0' '\n' < /proc/1/environ | sed -n 's/^gateway_token=//p')
echo "own-token-length=${#own}"
echo "env-tokens=$(env | grep -ciE '^(gateway_token|http_x_faas_gateway_token)=')"
echo "no-token: $(wget -O- --post-data=direct "http://$target/" 2>&1 | tail -n 1)"
echo "own-token: $(wget -O- --header "X-Faas-Gateway-Token: $own" --post-data=direct "http://$target/" 2>&1 | tail -n 1)"
echo "health: $(wget -q -O- "http://$target/_/health" 2>&1)""#;

#[test]
fn a_function_cannot_call_another_s_replica_around_the_gateway() {
    let test = "a_function_cannot_call_another_s_replica_around_the_gateway";
    let Some(gw) = docker_gateway(test, &[]) else {
        return;
    };
    replica_token_image();
    let target = format!("guarded-{}", std::process::id());
    let prober = format!("prober-{}", std::process::id());
    gw.deploy(json!({"service": target, "image": "faas/sample-cat", "envProcess": "cat"}));
    // The prober under runc: busybox's wget under this gVisor's host
    // network stack reads EAGAIN from its sockets. The guarded replica
    // runs under the default.
    gw.deploy(
        json!({"service": prober, "image": "faas/sample-cat", "runtime": "runc",
        "envProcess": "sh -c 'eval \"$PROBE\"'", "envVars": {"PROBE": PROBE_REPLICA}}),
    );
    answers_through_the_gateway(&gw, &target);
    // A token a caller sends is not the one the replica gets.
    let forged = send(
        client()
            .post(gw.url(&format!("/function/{target}")))
            .header("X-Faas-Gateway-Token", "forged")
            .body("forged"),
    );
    assert_eq!((forged.status, forged.text().as_str()), (200, "forged"));

    let replicas = replicas_of(&gw, &target);
    assert_eq!(replicas.len(), 1, "{replicas:?}");
    let address = replica_address(&replicas[0]);
    let seen = eventually("the prober to run", Duration::from_secs(60), || {
        let answer = gw.call(&prober, format!("{address}\n"));
        (answer.status == 200).then(|| answer.text())
    });
    assert_lines(
        &seen,
        &[
            "own-token-length=64",
            "env-tokens=0",
            "no-token: wget: server returned error: HTTP/1.1 403 Forbidden",
            "own-token: wget: server returned error: HTTP/1.1 403 Forbidden",
            "health: OK",
        ],
    );
    assert!(
        !seen.contains("direct"),
        "the replica ran the direct call:\n{seen}"
    );
    assert!(gw.remove(&target).is_success());
    assert!(gw.remove(&prober).is_success());
    no_container_of(&[&target, &prober], 30);
}

#[test]
fn replicas_without_the_current_token_are_replaced_at_start() {
    let test = "replicas_without_the_current_token_are_replaced_at_start";
    let Some(mut gw) = docker_gateway(test, &[]) else {
        return;
    };
    replica_token_image();
    let name = format!("rekeyed-{}", std::process::id());
    gw.deploy(json!({"service": name, "image": "faas/sample-cat", "envProcess": "cat"}));
    answers_through_the_gateway(&gw, &name);
    let before = replicas_of(&gw, &name);
    assert_eq!(before.len(), 1, "{before:?}");
    // A new key (as after a lost data directory file): the replica's token
    // is no longer the function's, so the next start replaces it.
    gw.kill9();
    let key = gw.data_dir().join("replica-key");
    std::fs::remove_file(&key).expect("the old key goes");
    gw.restart();
    answers_through_the_gateway(&gw, &name);
    let after = replicas_of(&gw, &name);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(before, after, "the replica with the old token was replaced");
    assert!(gw.remove(&name).is_success());
    no_container_of(&[&name], 30);
}

#[test]
fn runtimes_not_allowed_are_refused_and_replicas_report_theirs() {
    let Some(gw) = docker_gateway(
        "runtimes_not_allowed_are_refused_and_replicas_report_theirs",
        &[("FAAS_RUNTIME", "runsc"), ("FAAS_ALLOW_RUNTIMES", "runsc")],
    ) else {
        return;
    };
    let deploy =
        |body: serde_json::Value| send(gw.admin(Method::POST, "/system/functions").json(&body));
    // Not allowed, not registered, by field or annotation: a one-line
    // 400 naming what may be asked, and nothing recorded.
    for (spec, says) in [
        (
            json!({"runtime": "runc"}),
            "runtime \"runc\" is not allowed",
        ),
        (
            json!({"annotations": {"com.faas.runtime": "runc"}}),
            "runtime \"runc\" is not allowed",
        ),
        (
            json!({"runtime": "no-such-runtime"}),
            "runtime \"no-such-runtime\" is not registered on the Docker Engine",
        ),
        (
            json!({"runtime": "runc", "mode": "service", "envProcess": "cat"}),
            "is not allowed",
        ),
    ] {
        let mut body =
            json!({"service": "rt-refused", "image": "faas/sample-cat", "command": ["cat"]});
        for (k, v) in spec.as_object().expect("object") {
            body[k] = v.clone();
        }
        let refused = deploy(body);
        refused.assert_says(400, says);
        assert!(
            refused.text().contains("name one of runsc"),
            "{}",
            refused.text()
        );
        assert_eq!(gw.get("/system/function/rt-refused").status, 404);
    }
    assert!(gw.functions().is_empty(), "nothing listed");
    // A service function's replicas run under the default, as the engine
    // reports each; an update asking for another is refused, unchanged.
    gw.deploy(json!({"service": "rt-svc", "image": "faas/sample-cat", "envProcess": "cat"}));
    gw.scale("rt-svc", 2);
    let listed = eventually(
        "two replicas listed with their runtime",
        Duration::from_secs(60),
        || {
            let listed = gw.function("rt-svc");
            (listed["replicaRuntimes"].as_array().map(Vec::len) == Some(2)).then_some(listed)
        },
    );
    assert_eq!(listed["runtime"], "runsc");
    assert_eq!(listed["replicaRuntimes"], json!(["runsc", "runsc"]));
    let answer = send(
        gw.admin(Method::PUT, "/system/functions")
            .json(&json!({"service": "rt-svc", "runtime": "runc"})),
    );
    answer.assert_says(400, "runtime \"runc\" is not allowed");
    assert_eq!(gw.function("rt-svc")["runtime"], "runsc");
    for id in running_labelled("com.faas.function=rt-svc") {
        let out = std::process::Command::new("docker")
            .args(["inspect", "--format", "{{.HostConfig.Runtime}}", &id])
            .output()
            .expect("docker inspect");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "runsc");
    }
    assert!(gw.remove("rt-svc").is_success());
    no_container_of(&["rt-svc"], 30);
}

#[test]
fn a_runtime_the_engine_lacks_stops_the_start() {
    if !engine_or_skip("a_runtime_the_engine_lacks_stops_the_start") {
        return;
    }
    let dir = faas_tests::TempDir::new("faas-runtime");
    std::fs::write(dir.0.join("password"), "a-password\n").expect("the password file");
    for (flag, value, says) in [
        (
            "--runtime",
            "no-such-runtime",
            "--runtime no-such-runtime: the Docker Engine has not registered it",
        ),
        (
            "--allow-runtimes",
            "runc,no-such-runtime",
            "--allow-runtimes names no-such-runtime, which the Docker Engine has not registered",
        ),
    ] {
        let out = std::process::Command::new(faas_tests::binary("gateway"))
            .args(["--backend", "docker", "--port", "0", "--data-dir"])
            .arg(dir.0.join("data"))
            .args([flag, value])
            .env("FAAS_BASIC_AUTH_PASSWORD_FILE", dir.0.join("password"))
            .output()
            .expect("the gateway runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flag} {value}: {stderr}");
        assert!(stderr.contains(says), "{flag} {value}: {stderr}");
    }
}

#[test]
fn http_mode_replicas_serve_unchanged() {
    let Some(gw) = docker_gateway("http_mode_replicas_serve_unchanged", &[]) else {
        return;
    };
    gw.deploy(json!({"service": "http-echo", "image": "faas/sample-http-echo", "envProcess": "http-echo"}));
    answers_through_the_gateway(&gw, "http-echo");
    for n in 0..10 {
        let body = format!("call {n}");
        let answer = gw.call("http-echo", body.clone());
        assert_eq!((answer.status, answer.text()), (200, body));
    }
    assert!(gw.remove("http-echo").is_success());
    no_container_of(&["http-echo"], 30);
}
