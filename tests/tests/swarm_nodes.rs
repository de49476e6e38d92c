//! faas on a Swarm of two nodes: the swarm of `scripts/swarm-nodes.sh`
//! (two more dockerds on this machine, never the machine's own engine or
//! swarm), the stack (`docker-stack.yml`) deployed on its manager as the
//! docs/swarm.md does, its gateway reached at the manager's
//! address. One test, in phases, as they build on each other:
//! - a service function with 2 replicas, one per node, answers from both:
//!   each replica says the node it runs on (Swarm fills `{{.Node.Hostname}}`
//!   in the service's environment on the node that runs the task);
//! - a per-call function under load runs on both nodes (the agent of each
//!   node runs calls; each call's `NODE` event names the node, and both
//!   nodes' engines created its containers);
//! - the worker drained under load: no call fails, the replica moves;
//! - the worker's dockerd killed (`kill -9`; what it started runs on)
//!   under load: at most the calls in flight on it fail, each with a
//!   message; the next ones succeed on the manager;
//! - the stack removed and deployed again: calls work.
//!
//! Skips with a printed reason when the nodes cannot run here (no engine,
//! not root); fails when `FAAS_REQUIRE_DOCKER=1`.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use faas_tests::eventually;
use faas_tests::gateway::Gateway;
use faas_tests::nodes::{nodes_or_skip, Node, Nodes};
use serde_json::{json, Value};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const STACK: &str = "faas";
const PASSWORD: &str = "a-strong-password";
/// The stack's gateway publishes this port on the manager (each node has
/// its own network namespace, so it is free there).
const PORT: u16 = 8080;

/// `docker -H <node> <args>`, panicking with what it printed when it fails.
fn docker(node: &Node, args: &[&str]) -> String {
    node.docker(args).unwrap_or_else(|e| panic!("{e}"))
}

/// `docker -H <manager> stack deploy -c docker-stack.yml faas`.
fn deploy_stack(manager: &Node) {
    let out = Command::new("docker")
        .args(["-H", &manager.host(), "stack", "deploy", "-c"])
        .arg(format!("{ROOT}/docker-stack.yml"))
        .arg(STACK)
        .env("FAAS_PORT", PORT.to_string())
        .current_dir(ROOT)
        .output()
        .expect("docker runs");
    assert!(
        out.status.success(),
        "docker stack deploy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The stack's gateway at the manager's address, once it answers.
fn stack_gateway(manager: &Node) -> Gateway {
    let gateway = Gateway::at_base(&manager.url(PORT, ""), PASSWORD);
    eventually(
        &format!("the stack's gateway to answer at {}", manager.addr),
        Duration::from_secs(90),
        || {
            let health = gateway.client.get(gateway.url("/healthz")).send().ok()?;
            (health.status() == 200).then_some(())
        },
    );
    gateway
}

/// docs/swarm.md's deploy block, on the manager: the functions network, the
/// admin password's secret, the stack.
fn first_deploy(manager: &Node) -> Gateway {
    docker(
        manager,
        &[
            "network",
            "create",
            "--driver",
            "overlay",
            "--attachable",
            "faas-functions",
        ],
    );
    let mut secret = Command::new("docker")
        .args([
            "-H",
            &manager.host(),
            "secret",
            "create",
            "faas-basic-auth-password",
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("docker runs");
    use std::io::Write;
    secret
        .stdin
        .take()
        .expect("stdin")
        .write_all(PASSWORD.as_bytes())
        .expect("the password written");
    assert!(secret.wait().expect("docker ends").success());
    deploy_stack(manager);
    stack_gateway(manager)
}

/// The nodes (host names) the running tasks of service `name` are on, as
/// the manager lists them.
fn task_nodes(manager: &Node, name: &str) -> BTreeSet<String> {
    running_tasks(manager, name).into_iter().collect()
}

/// The node (host name) of each running task of service `name` that is
/// meant to run, sorted.
fn running_tasks(manager: &Node, name: &str) -> Vec<String> {
    let listed = docker(
        manager,
        &[
            "service",
            "ps",
            name,
            "--filter",
            "desired-state=running",
            "--format",
            "{{.Node}} {{.CurrentState}}",
        ],
    );
    let mut nodes: Vec<String> = listed
        .lines()
        .filter(|line| line.contains(" Running"))
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect();
    nodes.sort();
    nodes
}

/// The tasks of service `name` with their node, states and addresses,
/// for failure messages.
fn tasks_of(manager: &Node, name: &str) -> String {
    let ids = docker(manager, &["service", "ps", "-q", name]);
    ids.split_whitespace()
        .map(|id| {
            docker(
                manager,
                &[
                    "inspect",
                    id,
                    "--format",
                    "{{.NodeID}} {{.DesiredState}} {{.Status.State}} {{range .NetworksAttachments}}{{.Addresses}}{{end}}",
                ],
            )
        })
        .collect()
}

/// The answers of `n` sync calls of `name`, as a set.
fn answers(gw: &Gateway, name: &str, n: usize) -> BTreeSet<String> {
    (0..n)
        .map(|_| {
            let answer = gw.call(name, "");
            assert_eq!(answer.status, 200, "{name}: {}", answer.text());
            answer.text().trim().to_string()
        })
        .collect()
}

/// Calls of one function back to back from a few threads until stopped;
/// counts the successes and keeps what each failure said.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<Mutex<Vec<String>>>,
    failed: Arc<Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// What a load finished with: each success's call id and answer (`<id>
/// <answer>`), each failure's status and message.
struct Tally {
    ok: Vec<String>,
    failed: Vec<String>,
}

/// Threads a load runs: at most this many calls are in flight.
const LOAD_THREADS: usize = 4;

impl Load {
    fn start(url: String) -> Load {
        let load = Load {
            stop: Arc::default(),
            ok: Arc::default(),
            failed: Arc::default(),
            threads: Vec::new(),
        };
        let threads = (0..LOAD_THREADS)
            .map(|_| {
                let (stop, ok, failed, url) = (
                    Arc::clone(&load.stop),
                    Arc::clone(&load.ok),
                    Arc::clone(&load.failed),
                    url.clone(),
                );
                std::thread::spawn(move || {
                    // A call in flight on a lost node may never be
                    // answered: give up on it after 30 s.
                    let client = reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(30))
                        .build()
                        .expect("client");
                    while !stop.load(Ordering::SeqCst) {
                        match client.post(&url).body("steady").send() {
                            Ok(r) if r.status() == 200 => {
                                let id = r
                                    .headers()
                                    .get("x-call-id")
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or_default()
                                    .to_string();
                                let text = r.text().unwrap_or_default();
                                ok.lock().expect("ok").push(format!("{id} {}", text.trim()));
                            }
                            Ok(r) => {
                                let status = r.status();
                                let text = r.text().unwrap_or_default();
                                failed
                                    .lock()
                                    .expect("failed")
                                    .push(format!("{status} {text}"));
                            }
                            Err(e) => failed
                                .lock()
                                .expect("failed")
                                .push(format!("no answer: {e}")),
                        }
                    }
                })
            })
            .collect();
        Load { threads, ..load }
    }

    /// The successes so far.
    fn ok_count(&self) -> usize {
        self.ok.lock().expect("ok").len()
    }

    fn finish(self) -> Tally {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
        let take = |v: &Arc<Mutex<Vec<String>>>| std::mem::take(&mut *v.lock().expect("tally"));
        Tally {
            ok: take(&self.ok),
            failed: take(&self.failed),
        }
    }
}

/// Waits until `load` has `more` successes beyond what it has now.
fn let_run(load: &Load, more: usize) {
    let start = load.ok_count();
    eventually(
        &format!("{more} more successful calls under load"),
        Duration::from_secs(60),
        || (load.ok_count() >= start + more).then_some(()),
    );
}

/// The answers (past the call id) of a load's successes.
fn answered(tally: &Tally) -> BTreeSet<String> {
    tally
        .ok
        .iter()
        .map(|line| line.split_once(' ').map_or("", |(_, a)| a).to_string())
        .collect()
}

/// A service function whose every replica answers with the name of the
/// node it runs on.
fn deploy_where(gw: &Gateway, name: &str, replicas: u64) {
    gw.deploy(json!({
        "service": name,
        "image": "faas/sample-cat",
        "envProcess": "sh -c 'echo $NODE'",
        "envVars": {"NODE": "{{.Node.Hostname}}"},
        "labels": {"com.openfaas.scale.min": replicas.to_string()},
        // A call in flight on a lost node gets no answer: it fails at this.
        "timeout": CALL_TIMEOUT,
    }));
}

/// The functions' timeout, in seconds.
const CALL_TIMEOUT: u64 = 10;
/// How long a function's replicas may take to settle.
const SETTLE: Duration = Duration::from_secs(90);

/// A per-call function: a container per call, run by the agent of a node.
fn deploy_per_call(gw: &Gateway, name: &str) {
    gw.deploy(json!({
        "service": name,
        "image": "faas/sample-cat",
        "command": ["cat"],
        "timeout": CALL_TIMEOUT,
    }));
}

/// The nodes whose engine created a container of `function` since `since`
/// (a Unix time), asked of each node's engine.
fn nodes_that_ran(nodes: &Nodes, function: &str, since: u64) -> BTreeSet<String> {
    let until = now().to_string();
    let since = since.to_string();
    let label = format!("label=com.faas.function={function}");
    nodes
        .nodes
        .iter()
        .filter(|node| {
            let created = docker(
                node,
                &[
                    "events",
                    "--since",
                    &since,
                    "--until",
                    &until,
                    "--filter",
                    "type=container",
                    "--filter",
                    "event=create",
                    "--filter",
                    &label,
                    "--format",
                    "{{.ID}}",
                ],
            );
            !created.trim().is_empty()
        })
        .map(|node| node.name.clone())
        .collect()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A per-call function under steady load runs on both nodes: each call's
/// `NODE` event names a node, both are named, and both nodes' engines
/// created its containers.
fn per_call_on_both_nodes(nodes: &Nodes, gw: &Gateway) {
    let since = now();
    deploy_per_call(gw, "pc");
    eventually("pc to answer", Duration::from_secs(60), || {
        let answer = gw
            .client
            .post(gw.url("/function/pc"))
            .body("x")
            .send()
            .ok()?;
        (answer.status() == 200).then_some(())
    });
    let names: BTreeSet<String> = nodes.nodes.iter().map(|n| n.name.clone()).collect();
    // The gateway finds the agents in the manager's task list as they
    // start: batches of calls under load until one is run by both, every
    // call of it by an agent.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let load = Load::start(gw.url("/function/pc"));
        let_run(&load, 30);
        let tally = load.finish();
        assert!(
            tally.failed.is_empty(),
            "per-call calls failed: {:?}",
            tally.failed
        );
        assert_eq!(answered(&tally), BTreeSet::from(["steady".to_string()]));
        let mut named = BTreeSet::new();
        for line in tally.ok.iter().rev().take(30) {
            let id = line.split(' ').next().unwrap_or_default();
            let node = match gw.node_event("pc", id) {
                None => "no agent (no NODE event)".to_string(),
                Some(event) => names
                    .iter()
                    .find(|name| event.contains(&format!("node {name} ")))
                    .unwrap_or_else(|| {
                        panic!("call {id}'s NODE event names no node of {names:?}: {event}")
                    })
                    .clone(),
            };
            named.insert(node);
        }
        if named == names {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the last 30 calls of pc under load ran on {named:?}, not on {names:?}"
        );
    }
    assert_eq!(nodes_that_ran(nodes, "pc", since), names);
}

/// 2 replicas, one per node; calls reach both.
fn replicas_answer_from_both_nodes(nodes: &Nodes, gw: &Gateway) {
    deploy_where(gw, "where", 2);
    gw.settles_at("where", 2, SETTLE);
    let names: BTreeSet<String> = nodes.nodes.iter().map(|n| n.name.clone()).collect();
    // Swarm spreads a service's tasks over the nodes.
    assert_eq!(task_nodes(nodes.manager(), "where"), names);
    // Every replica answers: the gateway balances over both.
    let mut seen = BTreeSet::new();
    for _ in 0..10 {
        seen.extend(answers(gw, "where", 10));
        if seen == names {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(seen, names, "the nodes 100 calls of `where` came from");
    let function: Value = gw.function("where");
    assert_eq!(function["availableReplicas"], 2, "{function}");
}

/// A replica Swarm placed on the worker counts in the function's usage: the
/// worker's agent reads its node's stats (the gateway's engine has none of
/// it).
fn usage_counts_every_node(nodes: &Nodes, gw: &Gateway) {
    let worker = &nodes.workers()[0];
    gw.deploy(json!({
        "service": "yonder",
        "image": "faas/sample-cat",
        "envProcess": "cat",
        "constraints": ["node.role==worker"],
    }));
    gw.settles_at("yonder", 1, SETTLE);
    assert_eq!(
        task_nodes(nodes.manager(), "yonder"),
        BTreeSet::from([worker.name.clone()])
    );
    // Usage is sampled every few seconds once it is asked for.
    eventually("yonder's usage, from the worker", SETTLE, || {
        let function: Value = gw.function("yonder");
        let memory = function["usage"]["totalMemoryBytes"].as_f64();
        memory.is_some_and(|m| m > 0.0).then_some(())
    });
    assert!(gw.remove("yonder").is_success());
}

/// The worker drained under load: no call fails, and its replica moves to
/// the manager.
fn drain_under_load(nodes: &Nodes, gw: &Gateway) {
    let (manager, worker) = (nodes.manager(), &nodes.workers()[0]);
    let load = Load::start(gw.url("/function/where"));
    let_run(&load, 50);
    docker(
        manager,
        &["node", "update", "--availability", "drain", &worker.id],
    );
    // Both replicas running on the manager: the drained worker's task is
    // no longer meant to run, and its replacement runs.
    eventually(
        "the replicas to leave the drained worker",
        Duration::from_secs(90),
        || (running_tasks(manager, "where") == [manager.name.as_str(); 2]).then_some(()),
    );
    gw.settles_at("where", 2, SETTLE);
    let_run(&load, 50);
    let tally = load.finish();
    assert!(
        tally.failed.is_empty(),
        "{} of {} calls failed while draining: {:?}",
        tally.failed.len(),
        tally.failed.len() + tally.ok.len(),
        &tally.failed[..tally.failed.len().min(5)]
    );
    // Afterwards every answer comes from the manager, once the gateway has
    // read the tasks again (it trusts a list for a second); the drained
    // worker's replica may run on until Swarm has stopped it.
    let only_manager = BTreeSet::from([manager.name.clone()]);
    let mut after = BTreeSet::new();
    for _ in 0..10 {
        after = answers(gw, "where", 10);
        if after == only_manager {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        after,
        only_manager,
        "the answers after the drain; the tasks:\n{}",
        tasks_of(manager, "where")
    );
    docker(
        manager,
        &["node", "update", "--availability", "active", &worker.id],
    );
}

/// The worker's dockerd killed (`kill -9`) under load of a service function
/// with a replica on each node and of a per-call function: at most the
/// calls in flight on it fail, each with a message saying what happened;
/// the calls after them succeed on the manager. (What the dead engine
/// started runs on: its replica, its agent.)
fn worker_lost_under_load(nodes: &Nodes, gw: &Gateway) {
    let (manager, worker) = (nodes.manager(), &nodes.workers()[0]);
    // A replica on each node again (the drain left both on the manager):
    // Swarm places a new task on the node with fewest of the service's.
    gw.scale("where", 1);
    gw.settles_at("where", 1, SETTLE);
    gw.scale("where", 2);
    gw.settles_at("where", 2, SETTLE);
    let names: BTreeSet<String> = nodes.nodes.iter().map(|n| n.name.clone()).collect();
    assert_eq!(task_nodes(manager, "where"), names);
    let service = Load::start(gw.url("/function/where"));
    let per_call = Load::start(gw.url("/function/pc"));
    let_run(&service, 40);
    let_run(&per_call, 20);
    nodes.kill(worker.number);
    // The manager marks the worker down once its heartbeats stop, and its
    // replica's task is then no longer meant to run.
    eventually(
        "the manager to see the worker down and move its replica",
        Duration::from_secs(60),
        || {
            let on = task_nodes(manager, "where");
            (on == BTreeSet::from([manager.name.clone()])).then_some(())
        },
    );
    // Long enough for the calls in flight to fail at their timeout.
    std::thread::sleep(Duration::from_secs(CALL_TIMEOUT + 2));
    let_run(&service, 40);
    let_run(&per_call, 20);
    let service = service.finish();
    let per_call = per_call.finish();
    for (what, tally) in [("where", &service), ("pc", &per_call)] {
        eprintln!(
            "{what}: {} calls succeeded, {} failed: {:?}",
            tally.ok.len(),
            tally.failed.len(),
            tally.failed
        );
        assert!(
            tally.failed.len() <= LOAD_THREADS,
            "{what}: more calls failed than were in flight when the node was lost: {:?}",
            tally.failed
        );
        for failure in &tally.failed {
            let (status, message) = failure.split_once(' ').unwrap_or_default();
            assert!(
                ["502", "503", "504"].iter().any(|s| status.starts_with(s))
                    && !message.trim().is_empty(),
                "{what}: a call failed without a clear message: {failure}"
            );
        }
    }
    // The last calls were all answered on the manager.
    let last: BTreeSet<String> = service
        .ok
        .iter()
        .rev()
        .take(20)
        .map(|line| line.split_once(' ').map_or("", |(_, a)| a).to_string())
        .collect();
    assert_eq!(last, BTreeSet::from([manager.name.clone()]));
    let mut last_nodes = BTreeSet::new();
    for line in per_call.ok.iter().rev().take(10) {
        let id = line.split(' ').next().unwrap_or_default();
        last_nodes.insert(gw.node_event("pc", id).unwrap_or_default());
    }
    assert!(
        last_nodes
            .iter()
            .all(|event| event.contains(&format!("node {} ", manager.name))),
        "the last per-call calls ran on {last_nodes:?}, not all on {}",
        manager.name
    );
}

/// `docker stack rm`, then deploy again: the functions stay, calls work.
fn stack_removed_and_deployed_again(manager: &Node) -> Gateway {
    docker(manager, &["stack", "rm", STACK]);
    eventually("the stack's gateway to go", Duration::from_secs(60), || {
        let left = docker(
            manager,
            &[
                "ps",
                "-q",
                "--filter",
                "label=com.docker.stack.namespace=faas",
            ],
        );
        left.trim().is_empty().then_some(())
    });
    // The stack's networks go last; a deploy before then fails on them.
    eventually(
        "the stack's networks to go",
        Duration::from_secs(60),
        || {
            let filter = format!("label=com.docker.stack.namespace={STACK}");
            let left = docker(manager, &["network", "ls", "-q", "--filter", &filter]);
            left.trim().is_empty().then_some(())
        },
    );
    deploy_stack(manager);
    let gw = stack_gateway(manager);
    eventually(
        "`where` to answer through the new gateway",
        Duration::from_secs(60),
        || {
            let answer = gw.client.post(gw.url("/function/where")).send().ok()?;
            (answer.status() == 200).then_some(())
        },
    );
    gw
}

#[test]
fn faas_on_two_nodes() {
    let Some(nodes) = nodes_or_skip("faas_on_two_nodes") else {
        return;
    };
    let manager = nodes.manager();
    eprintln!("phase: the stack deployed on the manager");
    let gw = first_deploy(manager);
    eprintln!("phase: a service function's replicas answer from both nodes");
    replicas_answer_from_both_nodes(&nodes, &gw);
    eprintln!("phase: a replica on the worker counts in the usage");
    usage_counts_every_node(&nodes, &gw);
    eprintln!("phase: a per-call function runs on both nodes under load");
    per_call_on_both_nodes(&nodes, &gw);
    eprintln!("phase: the worker drained under load");
    drain_under_load(&nodes, &gw);
    eprintln!("phase: the worker's dockerd killed under load");
    worker_lost_under_load(&nodes, &gw);
    eprintln!("phase: the stack removed and deployed again");
    let gw = stack_removed_and_deployed_again(manager);
    assert_eq!(gw.call("cat", "again").text(), "again");
}
