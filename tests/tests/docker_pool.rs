//! End-to-end tests of warm single-use containers on the `docker` backend,
//! on a real Docker Engine: every call still gets a fresh container, a
//! timeout kills it, the pool drains when idle and on an update, and a
//! killed gateway leaves none behind. Each test skips with a printed reason
//! when no engine answers, and fails when `FAAS_REQUIRE_DOCKER=1`.

use std::time::{Duration, Instant};

use faas_tests::docker::{
    containers_with, engine_or_skip, launcher_image, outlives_its_timeout, running_labelled,
    Creations,
};
use faas_tests::gateway::{start_docker_gateway, Gateway, GatewayHandle};
use faas_tests::{client, eventually, send};
use reqwest::Method;
use serde_json::json;

/// A gateway on the docker backend with `env` added; `None` (the test
/// skips) when no engine answers.
fn docker_gateway(test: &str, env: &[(&str, &str)]) -> Option<GatewayHandle> {
    engine_or_skip(test).then(|| {
        launcher_image();
        start_docker_gateway(env)
    })
}

/// The gateway's id, which labels everything it creates.
fn owner(gw: &GatewayHandle) -> String {
    let id = std::fs::read_to_string(gw.data_dir().join("gateway-id")).expect("the gateway's id");
    id.trim().to_string()
}

/// The warm containers of `function` that `gw` made, running or not.
fn pooled(gw: &GatewayHandle, function: &str) -> Vec<String> {
    containers_with(&[
        &format!("com.faas.pooled={function}"),
        &format!("com.faas.gateway={}", owner(gw)),
    ])
}

/// Removes `function` and waits for its warm containers to go, so that a
/// test leaves nothing behind when its gateway is killed.
fn remove_and_wait(gw: &GatewayHandle, function: &str) {
    assert!(gw.remove(function).is_success());
    eventually(
        &format!("no warm container of {function}"),
        Duration::from_secs(30),
        || pooled(gw, function).is_empty().then_some(()),
    );
}

#[test]
fn pooled_calls_never_share_a_container() {
    let Some(gw) = docker_gateway("pooled_calls_never_share_a_container", &[]) else {
        return;
    };
    let script = "echo \"$(hostname) $Http_X_Tag $Http_Method $GREETING\"; \
                  test -e /tmp/mark && echo marked || echo clean; touch /tmp/mark; \
                  pidof sleep >/dev/null && echo sleeper-left || echo no-sleeper; \
                  sleep 300 >/dev/null 2>&1 & \
                  touch /root-file 2>/dev/null && echo root-writable || echo root-read-only; \
                  cat";
    gw.deploy(json!({"service": "fresh", "image": "faas/sample-cat",
        "command": ["sh", "-c", script], "envVars": {"GREETING": "hello"},
        "readOnlyRootFilesystem": true, "network": "none"}));
    let mut hosts = Vec::new();
    for i in 0..3 {
        if i > 0 {
            gw.wait_warm("fresh");
        }
        let answer = send(
            client()
                .put(gw.url("/function/fresh"))
                .header("X-Tag", format!("call-{i}"))
                .body(format!("payload-{i}")),
        );
        assert_eq!(answer.status, 200, "{}", answer.text());
        let text = answer.text();
        let lines: Vec<&str> = text.lines().collect();
        let (host, rest) = lines[0].split_once(' ').expect("hostname and the rest");
        assert_eq!(rest, format!("call-{i} PUT hello"), "{text}");
        assert_eq!(
            &lines[1..],
            [
                "clean",
                "no-sleeper",
                "root-read-only",
                &format!("payload-{i}")
            ],
            "call {i}: {text}"
        );
        hosts.push(host.to_string());
    }
    hosts.sort();
    hosts.dedup();
    assert_eq!(hosts.len(), 3, "three calls, three containers: {hosts:?}");
    assert_eq!(gw.function_metric("faas_pool_misses_total", "fresh"), 1.0);
    assert_eq!(gw.function_metric("faas_pool_hits_total", "fresh"), 2.0);
    let started = gw.function_metric("faas_container_start_seconds_count", "fresh");
    assert!(started >= 2.0, "{started} warm containers started");
    remove_and_wait(&gw, "fresh");
}

/// Calls at once on an empty pool: each runs in a container of its own; the
/// first runs cold (what its call starts would be ready no sooner), later
/// ones wait for the warm containers earlier calls started instead of
/// starting cold ones too; and the engine creates no more containers than
/// the calls plus what the pool keeps: each container either served one
/// call or still waits in the pool, which holds at most
/// `--pool-per-function` of a function.
#[test]
fn calls_on_an_empty_pool_wait_for_starting_containers() {
    const CALLS: usize = 6;
    const PER_FUNCTION: usize = 3;
    let per_function = PER_FUNCTION.to_string();
    let Some(gw) = docker_gateway(
        "calls_on_an_empty_pool_wait_for_starting_containers",
        &[("FAAS_POOL_PER_FUNCTION", &per_function)],
    ) else {
        return;
    };
    gw.deploy(json!({"service": "burst", "image": "faas/sample-cat",
        "command": ["sh", "-c", "hostname; cat"]}));
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_secs()
        - 1;
    let owned = format!("com.faas.gateway={}", owner(&gw));
    let cold = Creations::of(&["com.faas.function=burst", &owned], since);
    let warm = Creations::of(&["com.faas.pooled=burst", &owned], since);
    let hosts: Vec<String> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..CALLS)
            .map(|i| {
                let gw = &gw;
                s.spawn(move || {
                    let answer = gw.call("burst", format!("call-{i}"));
                    assert_eq!(answer.status, 200, "call {i}: {}", answer.text());
                    let text = answer.text();
                    let (host, body) = text.split_once('\n').expect("hostname, then the body");
                    assert_eq!(body, format!("call-{i}"));
                    host.to_string()
                })
            })
            .collect();
        calls
            .into_iter()
            .map(|call| call.join().expect("the call's thread"))
            .collect()
    });
    let mut distinct = hosts.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), CALLS, "a container per call: {hosts:?}");
    let waits = gw.function_metric("faas_pool_waits_total", "burst");
    let hits = gw.function_metric("faas_pool_hits_total", "burst");
    let misses = gw.function_metric("faas_pool_misses_total", "burst");
    assert_eq!(
        waits + hits + misses,
        CALLS as f64,
        "each call counted once"
    );
    assert!(misses >= 1.0, "the first call runs cold");
    assert!(
        waits >= 1.0,
        "later calls wait for the starts earlier ones caused"
    );
    let cold = cold.count();
    assert_eq!(cold as f64, misses, "a cold container per miss");
    let warm = warm.count();
    eprintln!("{waits} waits, {hits} hits, {misses} misses; {cold} cold, {warm} warm containers");
    assert!(
        cold + warm <= CALLS + PER_FUNCTION,
        "{cold} cold and {warm} warm containers for {CALLS} calls"
    );
    remove_and_wait(&gw, "burst");
}

#[test]
fn pooled_timeout_kills_and_removes_the_container() {
    let Some(gw) = docker_gateway("pooled_timeout_kills_and_removes_the_container", &[]) else {
        return;
    };
    gw.deploy(outlives_its_timeout("stuck"));
    assert_eq!(gw.call("stuck", "").status, 504, "cold");
    gw.wait_warm("stuck");
    let before = pooled(&gw, "stuck");
    let started = Instant::now();
    assert_eq!(gw.call("stuck", "").status, 504, "warm");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(gw.function_metric("faas_pool_hits_total", "stuck"), 1.0);
    // The container that ran the call is gone; the others still wait.
    eventually(
        "the timed-out warm container to go",
        Duration::from_secs(15),
        || {
            let now = pooled(&gw, "stuck");
            let left = before.iter().filter(|id| now.contains(id)).count();
            (left + 1 == before.len()).then_some(())
        },
    );
    remove_and_wait(&gw, "stuck");
}

#[test]
fn pooled_output_limit_and_exit_status_hold() {
    let Some(gw) = docker_gateway("pooled_output_limit_and_exit_status_hold", &[]) else {
        return;
    };
    let script =
        "case \"$(cat)\" in big) head -c 2000000 /dev/zero;; *) echo failing; exit 7;; esac";
    gw.deploy(json!({"service": "limits", "image": "faas/sample-cat",
        "command": ["sh", "-c", script]}));
    for _ in ["cold", "warm"] {
        let big = gw.call("limits", "big");
        assert_eq!(big.status, 502, "{}", big.text());
        gw.wait_warm("limits");
        let id = gw.call_async("limits", "fail");
        let (output, record) = (gw.wait_output(&id), gw.record(&id));
        assert_eq!(output.status, 500);
        assert!(output.text().contains("failing"), "{}", output.text());
        assert_eq!(record["ExitCode"], 7);
        gw.wait_warm("limits");
    }
    assert!(gw.function_metric("faas_pool_hits_total", "limits") >= 3.0);
    remove_and_wait(&gw, "limits");
}

#[test]
fn idle_pool_drains_and_refills() {
    let Some(gw) = docker_gateway("idle_pool_drains_and_refills", &[("FAAS_POOL_IDLE", "4s")])
    else {
        return;
    };
    gw.deploy(json!({"service": "idle", "image": "faas/sample-cat", "command": ["cat"]}));
    assert_eq!(gw.call("idle", "one").text(), "one");
    eventually("the pool to fill", Duration::from_secs(30), || {
        let started = gw.function_metric("faas_container_start_seconds_count", "idle");
        (started >= 1.0).then_some(())
    });
    eventually("the idle pool to empty", Duration::from_secs(20), || {
        let empty =
            gw.function_metric("faas_pool_ready", "idle") == 0.0 && pooled(&gw, "idle").is_empty();
        empty.then_some(())
    });
    assert_eq!(gw.call("idle", "two").text(), "two", "a miss runs cold");
    assert_eq!(gw.function_metric("faas_pool_misses_total", "idle"), 2.0);
    gw.wait_warm("idle");
    assert_eq!(gw.call("idle", "three").text(), "three");
    assert_eq!(gw.function_metric("faas_pool_hits_total", "idle"), 1.0);
    remove_and_wait(&gw, "idle");
}

#[test]
fn an_update_never_serves_from_the_old_pool() {
    let Some(gw) = docker_gateway("an_update_never_serves_from_the_old_pool", &[]) else {
        return;
    };
    let spec = |image: &str, version: &str| {
        json!({"service": "versioned", "image": image,
            "command": ["sh", "-c", "echo $VERSION; ls /usr/bin"],
            "envVars": {"VERSION": version}})
    };
    gw.deploy(spec("faas/sample-cat", "1"));
    let text = gw.call("versioned", "").text();
    assert!(
        text.starts_with("1\n") && !text.contains("resizer"),
        "{text}"
    );
    gw.wait_warm("versioned");
    let old = pooled(&gw, "versioned");
    assert!(!old.is_empty());
    let updated = send(
        gw.admin(Method::PUT, "/system/functions")
            .json(&spec("faas/sample-resizer", "2")),
    );
    assert!(updated.is_success(), "{}", updated.text());
    for _ in 0..3 {
        let text = gw.call("versioned", "").text();
        assert!(
            text.starts_with("2\n") && text.contains("resizer"),
            "{text}"
        );
        gw.wait_warm("versioned");
    }
    eventually("the old pool to go", Duration::from_secs(15), || {
        let now = pooled(&gw, "versioned");
        old.iter().all(|id| !now.contains(id)).then_some(())
    });
    assert!(gw.function_metric("faas_pool_hits_total", "versioned") >= 2.0);
    remove_and_wait(&gw, "versioned");
}

#[test]
fn killed_gateway_leaves_no_warm_container_after_restart() {
    let Some(mut gw) = docker_gateway("killed_gateway_leaves_no_warm_container_after_restart", &[])
    else {
        return;
    };
    gw.deploy(json!({"service": "left", "image": "faas/sample-cat", "command": ["cat"]}));
    assert_eq!(gw.call("left", "x").status, 200);
    gw.wait_warm("left");
    let old = pooled(&gw, "left");
    assert!(!old.is_empty());
    gw.restart();
    eventually(
        "the earlier run's warm containers to go",
        Duration::from_secs(20),
        || {
            let now = pooled(&gw, "left");
            old.iter().all(|id| !now.contains(id)).then_some(())
        },
    );
    assert_eq!(gw.call("left", "after").text(), "after");
    remove_and_wait(&gw, "left");
}

#[test]
fn a_function_may_opt_out() {
    let Some(gw) = docker_gateway("a_function_may_opt_out", &[]) else {
        return;
    };
    gw.deploy(
        json!({"service": "cold", "image": "faas/sample-cat", "command": ["cat"],
        "labels": {"com.faas.pool": "false"}}),
    );
    for body in ["a", "b"] {
        assert_eq!(gw.call("cold", body).text(), body);
    }
    std::thread::sleep(Duration::from_secs(1));
    assert!(running_labelled("com.faas.pooled=cold").is_empty());
    assert_eq!(gw.function_metric("faas_pool_misses_total", "cold"), 0.0);
}

/// What a function that reports its kernel prints: `/proc/version`, then
/// the first line of `dmesg` (gVisor's says so; runc's is not readable).
const KERNEL: &str = "cat /proc/version; dmesg 2>&1 | head -1";

/// Calls `name` and returns what it printed of its kernel.
fn kernel_of(gw: &Gateway, name: &str) -> String {
    let answer = gw.call(name, "");
    assert_eq!(answer.status, 200, "{name}: {}", answer.text());
    answer.text()
}

#[test]
fn runtimes_are_given_to_cold_and_warm_containers() {
    let Some(gw) = docker_gateway(
        "runtimes_are_given_to_cold_and_warm_containers",
        &[("FAAS_ALLOW_RUNTIMES", "runc,runsc")],
    ) else {
        return;
    };
    let host = std::fs::read_to_string("/proc/version").expect("the host's /proc/version");
    // A function naming none gets the default: runsc where the engine has
    // it (auto); the annotation names one as the field does.
    for (name, asked, cold) in [
        ("rt-default", json!({}), false),
        ("rt-runc-cold", json!({"runtime": "runc"}), true),
        ("rt-runsc-cold", json!({"runtime": "runsc"}), true),
        (
            "rt-runc-warm",
            json!({"annotations": {"com.faas.runtime": "runc"}}),
            false,
        ),
        ("rt-runsc-warm", json!({"runtime": "runsc"}), false),
    ] {
        let mut spec = json!({"service": name, "image": "faas/sample-cat",
            "command": ["sh", "-c", KERNEL]});
        for (k, v) in asked.as_object().expect("object") {
            spec[k] = v.clone();
        }
        if cold {
            spec["labels"] = json!({"com.faas.pool": "false"});
        }
        let listed = gw.deploy(spec);
        let runtime = if name.contains("runc") {
            "runc"
        } else {
            "runsc"
        };
        assert_eq!(listed["runtime"], runtime, "{name}: {listed}");
        assert_eq!(gw.function(name)["runtime"], runtime, "{name}");
    }
    let on_host = |text: &str| text.lines().next() == host.lines().next();
    let gvisor = |text: &str| text.contains("gVisor") && !on_host(text);
    for name in ["rt-runc-cold", "rt-runsc-cold"] {
        let text = kernel_of(&gw, name);
        match name.contains("runsc") {
            true => assert!(gvisor(&text), "{name}: {text}"),
            false => assert!(on_host(&text), "{name}: {text}"),
        }
    }
    assert_eq!(
        gw.function_metric("faas_pool_misses_total", "rt-runc-cold"),
        0.0,
        "out of the pool: cold"
    );
    // Warm: the first call runs cold and starts warm ones; the next is
    // served by a warm container, under the function's runtime.
    for name in ["rt-default", "rt-runc-warm", "rt-runsc-warm"] {
        kernel_of(&gw, name);
        gw.wait_warm(name);
        let text = kernel_of(&gw, name);
        assert_eq!(
            gw.function_metric("faas_pool_hits_total", name),
            1.0,
            "{name}"
        );
        match name.contains("runc") {
            true => assert!(on_host(&text), "{name}: {text}"),
            false => assert!(gvisor(&text), "{name}: {text}"),
        }
    }
    // A changed runtime drains the pool: no call meets a container of the
    // old one.
    let answer = send(
        gw.admin(Method::PUT, "/system/functions")
            .json(&json!({"service": "rt-runc-warm", "runtime": "runsc"})),
    );
    assert!(answer.is_success(), "update: {}", answer.text());
    assert!(gvisor(&kernel_of(&gw, "rt-runc-warm")));
    for name in [
        "rt-default",
        "rt-runc-cold",
        "rt-runsc-cold",
        "rt-runc-warm",
        "rt-runsc-warm",
    ] {
        remove_and_wait(&gw, name);
    }
}
