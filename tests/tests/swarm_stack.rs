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

use faas_tests::docker::{engine_or_skip, eventually};
use faas_tests::{client, free_port};
use serde_json::json;

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

/// The services of the functions the tests and the stack's `samples`
/// service deploy through the gateway.
const FUNCTIONS: [&str; 6] = ["scat", "spc", "cat", "echo", "wc", "resizer"];

/// The stack, removed (with its functions' services) when dropped.
struct Stack {
    port: u16,
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
        eventually(30, || {
            !docker(&["network", "ls", "--format", "{{.Name}}"])
                .1
                .lines()
                .any(|n| n == "faas-functions")
        });
        // A fresh gateway: no data from an earlier run of this test.
        let volume = format!("{STACK}_gateway-data");
        eventually(30, || {
            docker(&["volume", "rm", &volume]).0
                || !docker(&["volume", "ls", "-q"])
                    .1
                    .lines()
                    .any(|v| v == volume)
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
        let port = free_port();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let out = Command::new("docker")
            .args(["stack", "deploy", "-c", "docker-stack.yml", STACK])
            .current_dir(root)
            .env("FAAS_PORT", port.to_string())
            .output()
            .expect("docker stack deploy");
        assert!(
            out.status.success(),
            "stack deploy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stack = Stack { port };
        let up = eventually(90, || {
            client()
                .get(stack.url("/healthz"))
                .send()
                .map(|r| r.status() == 200)
                .unwrap_or(false)
        });
        assert!(up, "the stack's gateway answers on port {port}");
        stack
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        client()
            .request(method, self.url(path))
            .basic_auth("admin", Some(PASSWORD))
    }

    fn replicas(&self, name: &str) -> (u64, u64) {
        let v: serde_json::Value = self
            .admin(reqwest::Method::GET, &format!("/system/function/{name}"))
            .send()
            .expect("function")
            .json()
            .expect("json");
        (
            v["replicas"].as_u64().unwrap_or(99),
            v["availableReplicas"].as_u64().unwrap_or(99),
        )
    }

    fn scale(&self, name: &str, replicas: u64) {
        let resp = self
            .admin(
                reqwest::Method::POST,
                &format!("/system/scale-function/{name}"),
            )
            .json(&json!({"serviceName": name, "replicas": replicas}))
            .send()
            .expect("scale");
        assert!(resp.status().is_success(), "scale: {}", resp.status());
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

#[test]
fn stack_gateway_deploys_calls_scales_and_removes() {
    if !engine_or_skip("stack_gateway_deploys_calls_scales_and_removes") {
        return;
    }
    let stack = Stack::deploy();

    // The stack's `samples` service deploys the sample functions through
    // the gateway; they answer.
    assert!(
        eventually(120, || {
            stack
                .admin(reqwest::Method::POST, "/function/echo/samples?x=1")
                .send()
                .ok()
                .filter(|r| r.status() == 200)
                .and_then(|r| r.text().ok())
                .is_some_and(|t| t == "POST /samples x=1\n")
        }),
        "the sample echo function answers"
    );
    let listed: serde_json::Value = stack
        .admin(reqwest::Method::GET, "/system/functions")
        .send()
        .expect("list")
        .json()
        .expect("json");
    let mut names: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["cat", "echo", "resizer", "wc"]);

    // A service function: a Swarm service running fwatchdog.
    let resp = stack
        .admin(reqwest::Method::POST, "/system/functions")
        .json(
            &json!({"service": "scat", "image": "faas/sample-cat", "envProcess": "cat",
            "labels": {"com.openfaas.scale.max": "5"}}),
        )
        .send()
        .expect("deploy");
    assert_eq!(resp.status(), 202, "{}", resp.text().unwrap_or_default());
    assert!(
        eventually(60, || stack.replicas("scat") == (1, 1)),
        "one healthy replica"
    );
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
    let load = Load::start(stack.url("/function/scat"));
    std::thread::sleep(Duration::from_secs(2));
    stack.scale("scat", 3);
    assert!(
        eventually(60, || stack.replicas("scat") == (3, 3)),
        "three healthy replicas"
    );
    std::thread::sleep(Duration::from_secs(2));
    stack.scale("scat", 1);
    assert!(
        eventually(60, || stack.replicas("scat") == (1, 1)),
        "back to one"
    );
    std::thread::sleep(Duration::from_secs(2));
    let (ok, failed) = load.finish();
    assert!(ok > 50, "the load ran: {ok} calls");
    assert_eq!(failed, 0, "no call failed while scaling ({ok} succeeded)");

    stack.scale("scat", 2);
    assert!(eventually(60, || stack.replicas("scat") == (2, 2)));
    let load = Load::start(stack.url("/function/scat"));
    std::thread::sleep(Duration::from_secs(1));
    let (_, ids) = docker(&[
        "ps",
        "-q",
        "--filter",
        "label=com.docker.swarm.service.name=scat",
    ]);
    let victim = ids
        .split_whitespace()
        .next()
        .expect("a replica container")
        .to_string();
    assert!(docker(&["kill", &victim]).0);
    std::thread::sleep(Duration::from_secs(3));
    let after_kill = Load::start(stack.url("/function/scat"));
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
    stack.scale("scat", 0);
    assert!(eventually(60, || {
        stack.replicas("scat") == (0, 0)
            && docker(&[
                "ps",
                "-q",
                "--filter",
                "label=com.docker.swarm.service.name=scat",
            ])
            .1
            .trim()
            .is_empty()
    }));
    let started = Instant::now();
    let resp = client()
        .post(stack.url("/function/scat"))
        .body("from zero")
        .send()
        .expect("call");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().expect("text"), "from zero");
    eprintln!(
        "from 0 replicas to the first answer: {:?}",
        started.elapsed()
    );

    // AlertManager: firing adds ceil(max 5 × factor 20 / 100) = 1 replica,
    // resolved goes back to the min.
    let alert = |status: &str| {
        let resp = stack
            .admin(reqwest::Method::POST, "/system/alert")
            .json(&json!({
                "status": status, "receiver": "scale-up",
                "alerts": [{"status": status, "labels": {"alertname": "APIHighInvocationRate", "function_name": "scat"}}]
            }))
            .send()
            .expect("alert");
        assert!(resp.status().is_success(), "alert: {}", resp.status());
    };
    alert("firing");
    assert!(
        eventually(60, || stack.replicas("scat") == (2, 2)),
        "firing: 2 healthy replicas"
    );
    alert("resolved");
    assert!(
        eventually(60, || stack.replicas("scat") == (1, 1)),
        "resolved: back to 1"
    );

    // Per-call functions run as containers on the manager.
    let resp = stack
        .admin(reqwest::Method::POST, "/system/functions")
        .json(
            &json!({"service": "spc", "image": "faas/sample-cat", "command": ["echo", "per call"]}),
        )
        .send()
        .expect("deploy");
    assert_eq!(resp.status(), 202);
    let resp = client()
        .post(stack.url("/function/spc"))
        .send()
        .expect("call");
    assert_eq!(resp.text().expect("text"), "per call\n");

    // Removal takes the service away.
    let resp = stack
        .admin(reqwest::Method::DELETE, "/system/functions")
        .json(&json!({"functionName": "scat"}))
        .send()
        .expect("remove");
    assert_eq!(resp.status(), 202);
    assert!(eventually(30, || !docker(&[
        "service",
        "ls",
        "--format",
        "{{.Name}}"
    ])
    .1
    .lines()
    .any(|n| n == "scat")));
}
