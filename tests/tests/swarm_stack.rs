//! The Swarm deployment end to end: `docker stack deploy -c docker-stack.yml`
//! on a single-node swarm (initialised here when the engine is not in one),
//! then functions deployed, called, scaled and removed through the stack's
//! gateway, which runs in a container on the functions overlay network.
//! Skips with a printed reason when no engine answers; fails when
//! `FAAS_REQUIRE_DOCKER=1`.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faas_tests::docker::engine_or_skip;
use faas_tests::eventually;
use faas_tests::gateway::Gateway;
use serde_json::{json, Value};

const STACK: &str = "faas-test";
const PASSWORD: &str = "swarm-test-password";

fn docker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Whether `docker <args>` lists `name` among the lines it prints.
fn lists(args: &[&str], name: &str) -> bool {
    docker(args).1.lines().any(|line| line == name)
}

/// The services of the functions the tests and the stack's `samples`
/// service deploy through the gateway.
const FUNCTIONS: [&str; 6] = ["scat", "spc", "cat", "echo", "wc", "resizer"];

/// The stack, removed (with its functions' services) when dropped.
struct Stack {
    gateway: Gateway,
}

/// Removes the functions' services an earlier gateway left.
fn remove_function_services() {
    let (_, names) = docker(&[
        "service",
        "ls",
        "--filter",
        "label=com.faas.function",
        "--format",
        "{{.Name}}",
    ]);
    for name in names.lines().filter(|n| FUNCTIONS.contains(n)) {
        let _ = docker(&["service", "rm", name]);
    }
}

/// The host port the stack's gateway container publishes its 8080 on.
/// The stack asks for port 0, so the engine picks a free one.
fn published_port() -> Option<u16> {
    let service = format!("label=com.docker.swarm.service.name={STACK}_gateway");
    let (_, ids) = docker(&["ps", "-q", "--filter", &service]);
    let id = ids.split_whitespace().next()?;
    let (ok, ports) = docker(&["port", id, "8080/tcp"]);
    if !ok {
        return None;
    }
    ports
        .lines()
        .next()?
        .rsplit(':')
        .next()?
        .trim()
        .parse()
        .ok()
}

impl Stack {
    fn deploy() -> Stack {
        let (_, state) = docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
        if state.trim() != "active" {
            let (ok, text) = docker(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
            assert!(ok, "docker swarm init: {text}");
        }
        let _ = docker(&["stack", "rm", STACK]);
        remove_function_services();
        // A bridge of that name (a docker-backend gateway's) would clash.
        let _ = docker(&["network", "rm", "faas-functions"]);
        let a_while = Duration::from_secs(30);
        eventually("the faas-functions network to go", a_while, || {
            (!lists(
                &["network", "ls", "--format", "{{.Name}}"],
                "faas-functions",
            ))
            .then_some(())
        });
        // A fresh gateway: no data from an earlier run of this test.
        let volume = format!("{STACK}_gateway-data");
        eventually("the gateway's volume to go", a_while, || {
            (docker(&["volume", "rm", &volume]).0 || !lists(&["volume", "ls", "-q"], &volume))
                .then_some(())
        });
        let _ = docker(&["secret", "rm", "faas-basic-auth-password"]);
        let mut secret = Command::new("docker")
            .args(["secret", "create", "faas-basic-auth-password", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("docker secret create");
        use std::io::Write;
        secret
            .stdin
            .take()
            .expect("stdin")
            .write_all(PASSWORD.as_bytes())
            .expect("secret");
        assert!(secret.wait().expect("exit").success());
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let out = Command::new("docker")
            .args(["stack", "deploy", "-c", "docker-stack.yml", STACK])
            .current_dir(root)
            .env("FAAS_PORT", "0")
            .output()
            .expect("docker stack deploy");
        assert!(
            out.status.success(),
            "stack deploy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let starting = Duration::from_secs(90);
        let port = eventually(
            "the stack's gateway to publish a port",
            starting,
            published_port,
        );
        let gateway = Gateway::at(port, PASSWORD);
        eventually(
            &format!("the stack's gateway to answer on port {port}"),
            starting,
            || {
                let health = gateway.client.get(gateway.url("/healthz")).send().ok()?;
                (health.status() == 200).then_some(())
            },
        );
        Stack { gateway }
    }

    /// `name`'s replicas and available replicas, once the gateway can say.
    fn replicas(&self, name: &str) -> Option<(u64, u64)> {
        let function: Value = self.gateway.get(&format!("/system/function/{name}")).json();
        Some((
            function["replicas"].as_u64()?,
            function["availableReplicas"].as_u64()?,
        ))
    }

    /// Waits up to a minute for `name` to have `n` replicas, all available.
    fn settles_at(&self, name: &str, n: u64) {
        eventually(
            &format!("{name} at {n} available replicas"),
            Duration::from_secs(60),
            || (self.replicas(name) == Some((n, n))).then_some(()),
        );
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        remove_function_services();
        let _ = docker(&["stack", "rm", STACK]);
    }
}

/// Sends `cat` calls back to back from 4 threads until stopped; counts
/// successes and failures.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(url: String) -> Load {
        let (stop, ok, failed) = (Arc::default(), Arc::default(), Arc::default());
        let threads = (0..4)
            .map(|_| {
                let (stop, ok, failed, url): (
                    Arc<AtomicBool>,
                    Arc<AtomicUsize>,
                    Arc<AtomicUsize>,
                    String,
                ) = (
                    Arc::clone(&stop),
                    Arc::clone(&ok),
                    Arc::clone(&failed),
                    url.clone(),
                );
                std::thread::spawn(move || {
                    // Calls in flight on a killed replica never get an
                    // answer: give up on them after 10 s.
                    let client = reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(10))
                        .build()
                        .expect("client");
                    while !stop.load(Ordering::SeqCst) {
                        let good = client
                            .post(&url)
                            .body("steady")
                            .send()
                            .map(|r| r.status() == 200 && r.text().unwrap_or_default() == "steady")
                            .unwrap_or(false);
                        let counter = if good { &ok } else { &failed };
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failed,
            threads,
        }
    }

    fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
        (
            self.ok.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        )
    }
}

/// Ids of the running containers of the Swarm service `name`.
fn replica_containers(name: &str) -> String {
    let service = format!("label=com.docker.swarm.service.name={name}");
    docker(&["ps", "-q", "--filter", &service]).1
}

#[test]
fn stack_gateway_deploys_calls_scales_and_removes() {
    if !engine_or_skip("stack_gateway_deploys_calls_scales_and_removes") {
        return;
    }
    let stack = Stack::deploy();
    let gw = &stack.gateway;

    // The stack's `samples` service deploys the sample functions through
    // the gateway; they answer.
    eventually(
        "the sample echo function to answer",
        Duration::from_secs(120),
        || {
            let answer = gw
                .admin(reqwest::Method::POST, "/function/echo/samples?x=1")
                .send()
                .ok()
                .filter(|r| r.status() == 200)?;
            (answer.text().ok()? == "POST /samples x=1\n").then_some(())
        },
    );
    let listed = gw.functions();
    let mut names: Vec<&str> = listed.iter().filter_map(|f| f["name"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["cat", "echo", "resizer", "wc"]);

    // A service function: a Swarm service running fwatchdog.
    gw.deploy(
        json!({"service": "scat", "image": "faas/sample-cat", "envProcess": "cat",
        "labels": {"com.openfaas.scale.max": "5"}}),
    );
    stack.settles_at("scat", 1);
    let (ok, labels) = docker(&[
        "service",
        "inspect",
        "scat",
        "--format",
        "{{json .Spec.Labels}}",
    ]);
    assert!(
        ok && labels.contains("\"com.openfaas.function\":\"scat\"")
            && labels.contains("\"function\":\"true\""),
        "{labels}"
    );

    // Under a steady load: 1 → 3 → 1 replicas, then a replica killed.
    let load = Load::start(gw.url("/function/scat"));
    std::thread::sleep(Duration::from_secs(2));
    gw.scale("scat", 3);
    stack.settles_at("scat", 3);
    std::thread::sleep(Duration::from_secs(2));
    gw.scale("scat", 1);
    stack.settles_at("scat", 1);
    std::thread::sleep(Duration::from_secs(2));
    let (ok, failed) = load.finish();
    assert!(ok > 50, "the load ran: {ok} calls");
    assert_eq!(failed, 0, "no call failed while scaling ({ok} succeeded)");

    gw.scale("scat", 2);
    stack.settles_at("scat", 2);
    let load = Load::start(gw.url("/function/scat"));
    std::thread::sleep(Duration::from_secs(1));
    let victim = replica_containers("scat")
        .split_whitespace()
        .next()
        .expect("a replica container")
        .to_string();
    assert!(docker(&["kill", &victim]).0);
    std::thread::sleep(Duration::from_secs(3));
    let after_kill = Load::start(gw.url("/function/scat"));
    std::thread::sleep(Duration::from_secs(2));
    let (later_ok, later_failed) = after_kill.finish();
    let (ok, failed) = load.finish();
    assert_eq!(
        later_failed, 0,
        "calls after the kill all succeed ({later_ok} did)"
    );
    assert!(
        ok > 20 && failed <= 4,
        "only calls in flight on the killed replica may fail: {ok} ok, {failed} failed"
    );

    // Scale to zero, then the first call waits while a replica starts.
    gw.scale("scat", 0);
    eventually(
        "scat at 0 replicas, no container left",
        Duration::from_secs(60),
        || {
            (stack.replicas("scat") == Some((0, 0)) && replica_containers("scat").trim().is_empty())
                .then_some(())
        },
    );
    let started = Instant::now();
    let woken = gw.call("scat", "from zero");
    assert_eq!(woken.status, 200);
    assert_eq!(woken.text(), "from zero");
    eprintln!(
        "from 0 replicas to the first answer: {:?}",
        started.elapsed()
    );

    // AlertManager: firing adds ceil(max 5 × factor 20 / 100) = 1 replica,
    // resolved goes back to the min.
    gw.alert("firing", "scat");
    stack.settles_at("scat", 2);
    gw.alert("resolved", "scat");
    stack.settles_at("scat", 1);

    // Per-call functions run as containers on the manager.
    gw.deploy(
        json!({"service": "spc", "image": "faas/sample-cat", "command": ["echo", "per call"]}),
    );
    assert_eq!(gw.call("spc", "").text(), "per call\n");

    // Removal takes the service away.
    assert_eq!(gw.remove("scat").status, 202);
    eventually("the scat service to go", Duration::from_secs(30), || {
        (!lists(&["service", "ls", "--format", "{{.Name}}"], "scat")).then_some(())
    });
}
