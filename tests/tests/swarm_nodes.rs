//! faas on a Swarm of two nodes: the swarm of `scripts/swarm-nodes.sh`
//! (two more dockerds on this machine, never the machine's own engine or
//! swarm), the stack (`docker-stack.yml`) deployed on its manager as the
//! README's Swarm section does, its gateway reached at the manager's
//! address. One test, in phases, as they build on each other:
//! - a service function with 2 replicas, one per node, answers from both:
//!   each replica says the node it runs on (Swarm fills `{{.Node.Hostname}}`
//!   in the service's environment on the node that runs the task);
//! - the worker drained under load: no call fails, the replica moves;
//! - the stack removed and deployed again: calls work.
//!
//! Skips with a printed reason when the nodes cannot run here (no engine,
//! not root); fails when `FAAS_REQUIRE_DOCKER=1`.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// README's Swarm deploy block, on the manager: the functions network, the
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

/// `(desired, available)` replicas of `name`, as the gateway says.
fn replicas(gw: &Gateway, name: &str) -> Option<(u64, u64)> {
    let answer = gw.get(&format!("/system/function/{name}"));
    if answer.status != 200 {
        return None;
    }
    let function = answer.json();
    Some((
        function["replicas"].as_u64()?,
        function["availableReplicas"].as_u64()?,
    ))
}

/// Waits for `name` to have `n` replicas, all available.
fn settles_at(gw: &Gateway, name: &str, n: u64) {
    eventually(
        &format!("{name} at {n} available replicas"),
        Duration::from_secs(90),
        || (replicas(gw, name) == Some((n, n))).then_some(()),
    );
}

/// The nodes (host names) the running tasks of service `name` are on, as
/// the manager lists them.
fn task_nodes(manager: &Node, name: &str) -> BTreeSet<String> {
    docker(
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
    )
    .lines()
    .filter(|line| line.contains(" Running"))
    .filter_map(|line| line.split_whitespace().next())
    .map(str::to_string)
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

/// What a load finished with: each success's answer, each failure's status
/// and message.
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
                                let text = r.text().unwrap_or_default();
                                ok.lock().expect("ok").push(text);
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

/// A service function whose every replica answers with the name of the
/// node it runs on.
fn deploy_where(gw: &Gateway, name: &str, replicas: u64) {
    gw.deploy(json!({
        "service": name,
        "image": "faas/sample-cat",
        "envProcess": "sh -c 'echo $NODE'",
        "envVars": {"NODE": "{{.Node.Hostname}}"},
        "labels": {"com.openfaas.scale.min": replicas.to_string()},
    }));
}

/// 2 replicas, one per node; calls reach both.
fn replicas_answer_from_both_nodes(nodes: &Nodes, gw: &Gateway) {
    deploy_where(gw, "where", 2);
    settles_at(gw, "where", 2);
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
    eventually(
        "the replicas to leave the drained worker",
        Duration::from_secs(90),
        || {
            let on = task_nodes(manager, "where");
            (on.len() == 1 && on.contains(&manager.name)).then_some(())
        },
    );
    settles_at(gw, "where", 2);
    let_run(&load, 50);
    let tally = load.finish();
    assert!(
        tally.failed.is_empty(),
        "{} of {} calls failed while draining: {:?}",
        tally.failed.len(),
        tally.failed.len() + tally.ok.len(),
        &tally.failed[..tally.failed.len().min(5)]
    );
    // Afterwards every answer comes from the manager.
    assert_eq!(
        answers(gw, "where", 10),
        BTreeSet::from([manager.name.clone()])
    );
    docker(
        manager,
        &["node", "update", "--availability", "active", &worker.id],
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
                "label=com.docker.swarm.stack.namespace=faas",
            ],
        );
        left.trim().is_empty().then_some(())
    });
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
    eprintln!("phase: the worker drained under load");
    drain_under_load(&nodes, &gw);
    eprintln!("phase: the stack removed and deployed again");
    let gw = stack_removed_and_deployed_again(manager);
    assert_eq!(gw.call("cat", "again").text(), "again");
}
