//! End-to-end tests of `gateway agent` on the real host engine: a gateway
//! (docker backend, `--agent` addresses) sends per-call calls to agents,
//! which run them with their own warm pool; the call's `NODE` event names
//! the agent; an agent killed with `kill -9` during a call fails that call
//! once and for all, and later calls go to another agent or run on the
//! gateway's own engine; constraints pick the agent's node; the agent
//! refuses what is not its gateway's or is over its limits; an agent
//! that may not give a call's runtime refuses it (`no-runtime`), and the
//! gateway sends such calls to one that may, or runs them itself. Also: the
//! `swarm` backend keeps a warm pool for per-call functions. Each test
//! skips with a printed reason when no engine answers, and fails when
//! `FAAS_REQUIRE_DOCKER=1`.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use faas_tests::agent::{post, start_agent, start_agent_on, token, AgentHandle, EngineProxy};
use faas_tests::docker::{containers_labelled, engine_or_skip, running_labelled, Creations};
use faas_tests::gateway::{start_docker_gateway, start_gateway, Gateway, GatewayHandle, PASSWORD};
use faas_tests::{eventually, send, Answer};
use reqwest::Method;
use serde_json::{json, Value};

/// A docker-backend gateway sending per-call calls to `agents`.
fn gateway_with(agents: &[&AgentHandle]) -> GatewayHandle {
    let addresses: Vec<String> = agents.iter().map(|a| a.address()).collect();
    let addresses = addresses.join(",");
    start_docker_gateway(&[("FAAS_AGENTS", &addresses), ("FAAS_AGENT_POLL", "1s")])
}

/// The gateway's own pool counter `name` for `function` (0 when absent).
fn metric(gw: &Gateway, name: &str, function: &str) -> f64 {
    gw.metric(&format!("{name}{{function_name=\"{function}\"}}"))
        .unwrap_or(0.0)
}

/// Whether the host engine is a Swarm manager (the tests' usual engine).
fn swarm_manager() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.Swarm.ControlAvailable}}"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "true")
}

fn number(status: &Value, key: &str) -> u64 {
    status[key].as_u64().unwrap_or(0)
}

#[test]
fn per_call_calls_run_on_the_agent_and_its_pool() {
    if !engine_or_skip("per_call_calls_run_on_the_agent_and_its_pool") {
        return;
    }
    let agent = start_agent("agt-test-warm", &[]);
    let gw = gateway_with(&[&agent]);
    gw.deploy(json!({"service": "agt-echo", "image": "faas/sample-cat",
        "command": ["sh", "-c", "echo \"$(hostname) $Http_X_Tag\"; cat"]}));
    let first = gw.post_with("/function/agt-echo", ("X-Tag", "first"), "one");
    assert_eq!(first.status, 200, "{}", first.text());
    assert!(first.text().ends_with(" first\none"), "{}", first.text());
    let id = first.header("x-call-id").to_string();
    let node = gw
        .node_event("agt-echo", &id)
        .expect("the call's NODE event");
    assert!(node.contains(&agent.address()), "{node}");
    // The agent keeps warm containers of the function and serves from them.
    eventually(
        "a warm container on the agent",
        Duration::from_secs(30),
        || (number(&agent.status(), "poolReady") >= 1).then_some(()),
    );
    let second = gw.call("agt-echo", "two");
    assert_eq!(second.status, 200, "{}", second.text());
    let status = agent.status();
    assert_eq!(number(&status, "poolHits"), 1, "{status}");
    assert_eq!(number(&status, "poolMisses"), 1, "{status}");
    assert_ne!(
        first.text().split(' ').next(),
        second.text().split(' ').next()
    );
    // The gateway's own pool ran nothing.
    assert_eq!(metric(&gw, "faas_pool_hits_total", "agt-echo"), 0.0);
    assert_eq!(metric(&gw, "faas_pool_misses_total", "agt-echo"), 0.0);
    // A changed spec drains the agent's pool: no call meets the old one.
    eventually(
        "a warm container on the agent",
        Duration::from_secs(30),
        || (number(&agent.status(), "poolReady") >= 1).then_some(()),
    );
    let answer = send(
        gw.admin(Method::PUT, "/system/functions")
            .json(&json!({"service": "agt-echo",
            "image": "faas/sample-cat", "command": ["sh", "-c", "echo changed; cat"]})),
    );
    assert!(answer.is_success(), "update: {}", answer.text());
    let third = gw.call("agt-echo", "three");
    assert_eq!(third.text(), "changed\nthree");
    // Removing the function drains the agent's pool too.
    assert!(gw.remove("agt-echo").is_success());
    let owned = format!("com.faas.gateway={}", agent.owner);
    eventually(
        "the agent's warm containers to go",
        Duration::from_secs(30),
        || containers_labelled(&owned).is_empty().then_some(()),
    );
}

#[test]
fn an_agent_lacking_the_runtime_refuses_and_calls_go_where_it_is() {
    if !engine_or_skip("an_agent_lacking_the_runtime_refuses_and_calls_go_where_it_is") {
        return;
    }
    // An agent whose node may give runc only, as one whose engine lacks
    // gVisor would be.
    let lacking = start_agent("agt-test-runc", &["--allow-runtimes", "runc"]);
    let sandboxed = start_agent("agt-test-runsc", &["--allow-runtimes", "runc,runsc"]);
    assert_eq!(lacking.status()["runtimes"], json!(["runc"]));
    assert_eq!(sandboxed.status()["runtimes"], json!(["runc", "runsc"]));
    // Asked at its API for runsc, it refuses: nothing runs.
    let url = lacking.running.url("/agent/invoke");
    let asked = invocation(json!({"runtime": "runsc"}), b"hi").to_string();
    let answer = post(&url, Some(&token(PASSWORD)), asked);
    answer.assert_says(503, "cannot run containers under runtime \"runsc\"");
    assert_eq!(answer.header("x-faas-error"), "no-runtime");
    assert!(
        containers_labelled(&format!("com.faas.gateway={}", lacking.owner)).is_empty(),
        "nothing ran for a refused call"
    );
    // A gateway whose functions run under runsc sends them to the agent
    // that may give it, never to the other.
    let gw = start_docker_gateway(&[
        (
            "FAAS_AGENTS",
            &format!("{},{}", lacking.address(), sandboxed.address()),
        ),
        ("FAAS_AGENT_POLL", "1s"),
        ("FAAS_RUNTIME", "runsc"),
        ("FAAS_ALLOW_RUNTIMES", "runc,runsc"),
    ]);
    gw.deploy(
        json!({"service": "agt-sandboxed", "image": "faas/sample-cat",
        "labels": {"com.faas.pool": "false"},
        "command": ["sh", "-c", "dmesg | head -1"]}),
    );
    for _ in 0..3 {
        let answer = call_on(&gw, "agt-sandboxed", "", &sandboxed);
        assert!(answer.text().contains("gVisor"), "{}", answer.text());
    }
    // With only the agent that lacks it, the call runs on the gateway's
    // own engine, still under runsc.
    drop(sandboxed);
    let answer = gw.call("agt-sandboxed", "");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.text().contains("gVisor"), "{}", answer.text());
    let id = answer.header("x-call-id");
    assert_eq!(gw.node_event("agt-sandboxed", id), None, "run locally");
    assert!(gw.remove("agt-sandboxed").is_success());
}

/// The agent owner label of the running container of call `id`.
fn runner_of(id: &str) -> Option<String> {
    let out = Command::new("docker")
        .args(["ps", "--filter", &format!("label=com.faas.call={id}")])
        .args(["--format", "{{.Label \"com.faas.gateway\"}}"])
        .output()
        .ok()?;
    let owner = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!owner.is_empty()).then_some(owner)
}

#[test]
fn an_agent_lost_during_a_call_fails_it_once_and_later_calls_go_elsewhere() {
    if !engine_or_skip("an_agent_lost_during_a_call_fails_it_once_and_later_calls_go_elsewhere") {
        return;
    }
    // Cold calls only: every run is a container labelled with its call.
    let cold = ["--pool-per-function", "0"];
    let mut one = start_agent("agt-test-one", &cold);
    let mut two = start_agent("agt-test-two", &cold);
    let gw = gateway_with(&[&one, &two]);
    gw.deploy(json!({"service": "agt-slow", "image": "faas/sample-cat",
        "command": ["sh", "-c", "sleep 30; cat"], "timeout": 60}));
    gw.deploy(json!({"service": "agt-quick", "image": "faas/sample-cat",
        "command": ["cat"]}));
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs()
        - 1;
    // A sync call, so its answer is the one the caller gets.
    let id = uuid::Uuid::now_v7().to_string();
    let created = Creations::of(&[&format!("com.faas.call={id}")], since);
    let port = gw.running.port;
    let caller = {
        let id = id.clone();
        std::thread::spawn(move || {
            let gw = Gateway::at(port, PASSWORD);
            gw.post_with("/function/agt-slow", ("X-Call-Id", &id), "x")
        })
    };
    let owner = eventually("the call's container", Duration::from_secs(30), || {
        runner_of(&id)
    });
    let (victim, other) = if owner == one.owner {
        (&mut one, &mut two)
    } else {
        assert_eq!(owner, two.owner);
        (&mut two, &mut one)
    };
    victim.kill9();
    let answer = caller.join().expect("the caller");
    let lost = format!(
        "{} was lost during the call; it was not run again",
        victim_name(victim)
    );
    answer.assert_says(502, &lost);
    assert_eq!(gw.record(&id)["Status"], "FAILED");
    assert_eq!(created.count(), 1, "the call ran once, on one agent");
    // The lost agent gets no calls: the next goes to the other.
    for _ in 0..2 {
        call_on(&gw, "agt-quick", "again", other);
    }
    // Restarted, the lost agent removes what it left (the call's container).
    victim.restart();
    let owned = format!("com.faas.gateway={}", victim.owner);
    eventually(
        "the lost agent's leftovers to go",
        Duration::from_secs(30),
        || containers_labelled(&owned).is_empty().then_some(()),
    );
    assert_eq!(created.count(), 1, "a restart does not run it again");
    // With no agent answering, calls run on the gateway's own engine.
    victim.kill9();
    other.kill9();
    let answer = gw.call("agt-quick", "local");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.text(), "local");
    assert_eq!(gw.node_event("agt-quick", answer.header("x-call-id")), None);
    assert!(gw.remove("agt-slow").is_success());
    assert!(gw.remove("agt-quick").is_success());
}

/// Calls `function` with `body` and asserts that it ran, on `agent`.
fn call_on(gw: &Gateway, function: &str, body: &'static str, agent: &AgentHandle) -> Answer {
    let answer = gw.call(function, body);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let node = gw
        .node_event(function, answer.header("x-call-id"))
        .expect("a NODE event");
    assert!(node.contains(&agent.address()), "{function}: {node}");
    answer
}

/// How the gateway names an agent at 127.0.0.1:<port> in messages.
fn victim_name(agent: &AgentHandle) -> String {
    let host = Command::new("docker")
        .args(["info", "--format", "{{.Name}}"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!("the agent on node {host} ({})", agent.address())
}

#[test]
fn an_agent_whose_engine_is_gone_runs_nothing_and_calls_go_elsewhere() {
    if !engine_or_skip("an_agent_whose_engine_is_gone_runs_nothing_and_calls_go_elsewhere") {
        return;
    }
    let cold = ["--pool-per-function", "0"];
    let proxy = EngineProxy::start();
    // The doomed agent has the more free slots: it gets the calls.
    let preferred = ["--pool-per-function", "0", "--slots", "32"];
    let doomed = start_agent_on("agt-test-doomed", &preferred, Some(&proxy.docker_host()));
    let healthy = start_agent("agt-test-healthy", &cold);
    let gw = gateway_with(&[&doomed, &healthy]);
    gw.deploy(json!({"service": "agt-where", "image": "faas/sample-cat",
        "command": ["cat"]}));
    gw.deploy(json!({"service": "agt-long", "image": "faas/sample-cat",
        "command": ["sh", "-c", "sleep 30; cat"], "timeout": 60}));
    call_on(&gw, "agt-where", "before", &doomed);
    // An async call running on the doomed agent when its engine goes.
    let id = gw.call_async("agt-long", "x");
    let owner = eventually("the long call's container", Duration::from_secs(30), || {
        runner_of(&id)
    });
    assert_eq!(owner, doomed.owner);
    // The doomed agent's engine goes; its process still answers. The call
    // it was running fails at once, saying so (its output too, with the
    // status a sync caller would have had); calls made right after, before
    // the gateway's next poll, run on the other agent and none fails.
    proxy.cut();
    let cut = std::time::Instant::now();
    let answer = gw.wait_output(&id);
    let took = cut.elapsed();
    answer.assert_says(502, "failed during the call (");
    answer.assert_says(502, "it may have run in part and was not run again");
    assert!(
        took < Duration::from_secs(20),
        "the lost call took {took:?}"
    );
    assert_eq!(gw.record(&id)["Status"], "FAILED");
    for _ in 0..6 {
        let answer = call_on(&gw, "agt-where", "after", &healthy);
        assert_eq!(answer.text(), "after");
    }
    // The agent says why it takes no calls.
    let status = send(doomed.request(Method::GET, "/agent/status"));
    status.assert_says(503, "the agent's Docker Engine does not answer");
    let refused = send(
        doomed
            .request(Method::POST, "/agent/invoke")
            .json(&invocation(json!({}), b"x")),
    );
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.header("x-faas-error"), "unstarted");
    assert!(gw.remove("agt-where").is_success());
    assert!(gw.remove("agt-long").is_success());
    // What the doomed agent's engine still runs, out of its reach.
    let left = containers_labelled(&format!("com.faas.gateway={}", doomed.owner));
    if !left.is_empty() {
        let _ = Command::new("docker")
            .args(["rm", "-f"])
            .args(&left)
            .output();
    }
}

/// Drops every packet sent to a port on loopback while it lives, as a
/// node cut off from the network drops them (no answer, no reset).
struct Blackhole(String);

impl Blackhole {
    /// `None` when packets cannot be dropped here (no iptables, or not
    /// root), with the reason.
    fn port(port: u16) -> Result<Blackhole, String> {
        let rule = Blackhole(port.to_string());
        let out = Command::new("iptables")
            .args(["-w", "-I", "INPUT"])
            .args(rule.args())
            .output()
            .map_err(|e| format!("iptables cannot run: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "iptables refused a rule (root is needed): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(rule)
    }

    fn args(&self) -> [&str; 10] {
        [
            "-i",
            "lo",
            "-p",
            "tcp",
            "-d",
            "127.0.0.1",
            "--dport",
            &self.0,
            "-j",
            "DROP",
        ]
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        let _ = Command::new("iptables")
            .args(["-w", "-D", "INPUT"])
            .args(self.args())
            .output();
    }
}

#[test]
fn an_agent_cut_off_during_a_call_fails_it_within_seconds() {
    let test = "an_agent_cut_off_during_a_call_fails_it_within_seconds";
    if !engine_or_skip(test) {
        return;
    }
    let agent = start_agent("agt-test-cutoff", &["--pool-per-function", "0"]);
    let gw = gateway_with(&[&agent]);
    gw.deploy(json!({"service": "agt-cutoff", "image": "faas/sample-cat",
        "command": ["sh", "-c", "sleep 90; cat"], "timeout": 120}));
    let id = gw.call_async("agt-cutoff", "x");
    eventually("the call's container", Duration::from_secs(30), || {
        runner_of(&id)
    });
    let cut = match Blackhole::port(agent.running.port) {
        Ok(cut) => cut,
        Err(why) => {
            eprintln!("skipped {test}: {why}");
            return;
        }
    };
    // The agent's node is cut off mid-call: the gateway's connection to it
    // goes silent. TCP keepalive ends it well before the call's timeout.
    let since = std::time::Instant::now();
    let answer = gw.wait_output(&id);
    let took = since.elapsed();
    drop(cut);
    answer.assert_says(502, "was lost during the call; it was not run again");
    assert!(
        took < Duration::from_secs(30),
        "the cut-off call took {took:?}"
    );
    assert!(gw.remove("agt-cutoff").is_success());
    let owned = format!("com.faas.gateway={}", agent.owner);
    let left = containers_labelled(&owned);
    if !left.is_empty() {
        let _ = Command::new("docker")
            .args(["rm", "-f"])
            .args(&left)
            .output();
    }
}

#[test]
fn constraints_choose_the_agent_s_node() {
    if !engine_or_skip("constraints_choose_the_agent_s_node") {
        return;
    }
    let agent = start_agent("agt-test-place", &["--pool-per-function", "0"]);
    let gw = gateway_with(&[&agent]);
    gw.deploy(json!({"service": "agt-nowhere", "image": "faas/sample-cat",
        "command": ["cat"], "constraints": ["node.labels.faas-agent-test == nowhere"]}));
    let answer = gw.call("agt-nowhere", "x");
    answer.assert_says(
        503,
        "no agent runs on a node that satisfies the constraints of agt-nowhere",
    );
    // On a Swarm manager the node's role comes from the manager.
    let mut constraints = vec!["node.platform.os == linux"];
    if swarm_manager() {
        constraints.push("node.role == manager");
    }
    gw.deploy(json!({"service": "agt-manager", "image": "faas/sample-cat",
        "command": ["cat"], "constraints": constraints}));
    call_on(&gw, "agt-manager", "placed", &agent);
    assert!(gw.remove("agt-nowhere").is_success());
    assert!(gw.remove("agt-manager").is_success());
}

/// A call as the gateway sends it, of a function with `extra` in its spec.
fn invocation(extra: Value, input: &[u8]) -> Value {
    use base64::Engine as _;
    let mut function = json!({
        "name": "agt-sec", "uuid": "00000000-0000-4000-8000-000000000000",
        "image": "faas/sample-cat", "mode": "per-call", "command": ["cat"],
        "envProcess": "", "envVars": {}, "labels": {}, "annotations": {},
        "constraints": [], "secrets": [], "readOnlyRootFilesystem": true,
        "timeout": 10, "created": 0
    });
    if let (Some(f), Some(e)) = (function.as_object_mut(), extra.as_object()) {
        f.extend(e.clone());
    }
    json!({
        "function": function, "id": "00000000-0000-7000-8000-000000000001",
        "method": "POST", "path": "/", "query": null, "headers": [],
        "input": base64::engine::general_purpose::STANDARD.encode(input),
        "timeoutMs": 5000, "maxOutputBytes": 1000
    })
}

#[test]
fn the_agent_answers_its_gateway_only_within_limits() {
    if !engine_or_skip("the_agent_answers_its_gateway_only_within_limits") {
        return;
    }
    let agent = start_agent("agt-test-sec", &["--max-payload-bytes", "1000"]);
    let url = agent.running.url("/agent/invoke");
    let good = invocation(json!({}), b"hi").to_string();
    let key = token(PASSWORD);
    // No token, the admin password itself, a wrong token: 401.
    for refused in [
        post(&url, None, good.clone()),
        send(
            faas_tests::client()
                .post(&url)
                .basic_auth("admin", Some(PASSWORD))
                .body(good.clone()),
        ),
        post(&url, Some(&token("not-the-password")), good.clone()),
        send(faas_tests::client().get(agent.running.url("/agent/status"))),
    ] {
        refused.assert_says(401, "answers its gateway only");
    }
    // A body over the limit (the input's 1000 bytes as base64, and 256 KiB
    // for the rest): 413 before anything runs.
    let big = "x".repeat(300_000);
    let answer = post(&url, Some(&key), big);
    assert_eq!(answer.status, 413, "{}", answer.text());
    answer.one_line();
    let answer = post(
        &url,
        Some(&key),
        invocation(json!({}), &[b'a'; 1200]).to_string(),
    );
    answer.assert_says(413, "--max-payload-bytes");
    // A spec the gateway's deploy would refuse is refused here too.
    for (extra, says) in [
        (json!({"network": "host"}), "host"),
        (json!({"capabilities": ["SYS_ADMIN"]}), "SYS_ADMIN"),
        (json!({"envVars": {"1BAD": "x"}}), "1BAD"),
        (json!({"mode": "service"}), "per-call"),
        (json!({"secrets": ["s"]}), "secrets"),
        (json!({"name": "../x"}), "invalid function name"),
    ] {
        let answer = post(
            &url,
            Some(&key),
            invocation(extra.clone(), b"hi").to_string(),
        );
        answer.assert_says(400, says);
    }
    let answer = post(&url, Some(&key), "{not json");
    assert_eq!(answer.status, 400, "{}", answer.text());
    answer.one_line();
    let answer = send(agent.request(Method::GET, "/agent/other"));
    assert_eq!(answer.status, 404);
    answer.one_line();
    assert!(
        containers_labelled(&format!("com.faas.gateway={}", agent.owner)).is_empty(),
        "nothing ran for a refused call"
    );
    // The gateway's own call runs.
    let answer = post(&url, Some(&key), good);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let ran = answer.json();
    assert_eq!(ran["exit"], json!({"code": 0}), "{ran}");
    assert_eq!(ran["stdout"], "aGk=", "{ran}");
    let _ = send(
        agent
            .request(Method::POST, "/agent/forget")
            .json(&json!({"name": "agt-sec"})),
    );
    let owned = format!("com.faas.gateway={}", agent.owner);
    eventually(
        "the agent's containers to go",
        Duration::from_secs(30),
        || running_labelled(&owned).is_empty().then_some(()),
    );
}

#[test]
fn the_agent_reports_what_its_node_s_replicas_use() {
    if !engine_or_skip("the_agent_reports_what_its_node_s_replicas_use") {
        return;
    }
    let agent = start_agent("agt-test-use", &[]);
    let gw = start_docker_gateway(&[]);
    let owner =
        std::fs::read_to_string(gw.dir.0.join("data/gateway-id")).expect("the gateway's id");
    gw.deploy(json!({"service": "agt-use", "image": "faas/sample-cat", "envProcess": "cat"}));
    gw.settles_at("agt-use", 1, Duration::from_secs(30));
    let usage =
        |owner: &str| send(agent.request(Method::GET, &format!("/agent/usage?owner={owner}")));
    // The gateway's replica, read from the agent's engine.
    let answer = usage(owner.trim());
    assert_eq!(answer.status, 200, "{}", answer.text());
    let report = answer.json();
    let memory = report["functions"]["agt-use"]["totalMemoryBytes"].as_f64();
    assert!(memory.is_some_and(|m| m > 0.0), "{report}");
    assert!(report["nodeId"].is_string(), "{report}");
    // Another gateway's replicas are not these.
    let other = usage("someone-else").json();
    assert_eq!(other["functions"], json!({}), "{other}");
    // No owner, an owner with a line break, one too long: one-line 400s.
    for query in [
        "",
        "?owner=",
        "?owner=a%0Ab",
        &format!("?owner={}", "x".repeat(300)),
    ] {
        let answer = send(agent.request(Method::GET, &format!("/agent/usage{query}")));
        answer.assert_says(400, "owner");
    }
    let anyone = send(faas_tests::client().get(agent.running.url("/agent/usage?owner=x")));
    assert_eq!(anyone.status, 401, "{}", anyone.text());
    assert!(gw.remove("agt-use").is_success());
}

#[test]
fn the_swarm_backend_serves_per_call_calls_warm() {
    if !engine_or_skip("the_swarm_backend_serves_per_call_calls_warm") {
        return;
    }
    if !swarm_manager() {
        eprintln!("skipped the_swarm_backend_serves_per_call_calls_warm: the engine is not a Swarm manager (docker swarm init)");
        return;
    }
    let network = "faas-agent-test-overlay";
    let gw = start_gateway(&[("FAAS_BACKEND", "swarm"), ("FAAS_NETWORK", network)]);
    gw.deploy(
        json!({"service": "agt-swarm-cat", "image": "faas/sample-cat",
        "command": ["cat"]}),
    );
    let first = gw.call("agt-swarm-cat", "cold");
    assert_eq!((first.status, first.text().as_str()), (200, "cold"));
    eventually("a warm container", Duration::from_secs(30), || {
        (metric(&gw, "faas_pool_ready", "agt-swarm-cat") >= 1.0).then_some(())
    });
    let second = gw.call("agt-swarm-cat", "warm");
    assert_eq!((second.status, second.text().as_str()), (200, "warm"));
    assert_eq!(metric(&gw, "faas_pool_hits_total", "agt-swarm-cat"), 1.0);
    assert_eq!(metric(&gw, "faas_pool_misses_total", "agt-swarm-cat"), 1.0);
    assert!(gw.remove("agt-swarm-cat").is_success());
    eventually("the warm containers to go", Duration::from_secs(30), || {
        containers_labelled("com.faas.pooled=agt-swarm-cat")
            .is_empty()
            .then_some(())
    });
    drop(gw);
    // Like the docker tests' bridge, the network stays for the next run
    // when the engine still holds an attachment of it (it may for a while).
    let _ = Command::new("docker")
        .args(["network", "rm", network])
        .output();
}
