//! The Swarm deployment end to end, as docs/swarm.md tells a new user to
//! do it: its three blocks of commands (deploy; tear down and deploy again;
//! remove) are read from that page and run line by line on
//! the engine's single-node swarm, after a gateway on the `docker` backend
//! has run on the same engine. Between them, functions are deployed,
//! called, scaled and removed through the stack's gateway, which runs in a
//! container on the functions overlay network; a service it did not create
//! is refused, and Swarm secrets are made and mounted. Skips with a printed
//! reason when no engine answers; fails when `FAAS_REQUIRE_DOCKER=1`.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faas_tests::docker::engine_or_skip;
use faas_tests::gateway::{start_gateway, Gateway};
use faas_tests::{binary, eventually, send};
use reqwest::Method;
use serde_json::{json, Value};

/// The stack and the password docs/swarm.md's commands use.
const STACK: &str = "faas";
/// How long a function's replicas may take to settle.
const SETTLE: Duration = Duration::from_secs(60);
const PASSWORD: &str = "a-strong-password";
const NETWORK: &str = "faas-functions";
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

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
const FUNCTIONS: [&str; 8] = [
    "scat", "spc", "ssec", "slog", "cat", "echo", "wc", "resizer",
];

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
/// The tests give the stack `FAAS_PORT=0`, so the engine picks a free one.
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

/// The page whose blocks of commands the test runs.
const PAGE: &str = "docs/swarm.md";

/// The commands of the page's block marked `<!-- swarm: <name> -->`,
/// their comments left out.
fn page_block(name: &str) -> Vec<String> {
    let page = std::fs::read_to_string(format!("{ROOT}/{PAGE}")).expect(PAGE);
    let marker = format!("<!-- swarm: {name} -->");
    let block = page
        .split_once(&marker)
        .unwrap_or_else(|| panic!("{PAGE} has no {marker}"))
        .1;
    let block = block
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .unwrap_or_else(|| panic!("no sh block after {marker}"))
        .0;
    block
        .lines()
        .map(|line| line.split_once("  #").map_or(line, |(command, _)| command))
        .map(|line| line.trim().to_string())
        .filter(|line| !line.is_empty())
        .collect()
}

/// The stack's gateway once it answers, on the port it published.
fn stack_gateway() -> Gateway {
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
    gateway
}

/// The functions network's subnet, once it exists.
fn functions_subnet() -> String {
    let (_, subnet) = docker(&[
        "network",
        "inspect",
        NETWORK,
        "--format",
        "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
    ]);
    subnet
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Runs the page's block `name` line by line, as a user would on this
/// machine: `docker swarm init` only when the engine is in no swarm, the
/// images as the tests built them (a full `scripts/build-images.sh` takes
/// minutes), each `curl` as an HTTP call to the gateway's published port
/// (the stack gets `FAAS_PORT=0`, and `FAAS_CALLBACK_ALLOW` the functions
/// network's subnet) until it answers, `faas` as this workspace's binary,
/// every other line as written. A removal may need the
/// stack's containers gone first: it is retried for a while. Returns the
/// stack's gateway after the last deploy.
fn run_readme(name: &str, mut gateway: Option<Gateway>) -> Option<Gateway> {
    for line in page_block(name) {
        eprintln!("{PAGE} ({name}): {line}");
        if line == "docker swarm init" {
            let (_, state) = docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
            if state.trim() != "active" {
                let (ok, text) = docker(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
                assert!(ok, "docker swarm init: {text}");
            }
        } else if line == "scripts/build-images.sh" {
            // engine_or_skip built the images; the gateway image is the
            // one `scripts/build-images.sh` last built.
            let (ok, _) = docker(&["image", "inspect", "faas/gateway:latest"]);
            assert!(
                ok,
                "faas/gateway:latest is missing: run scripts/build-images.sh"
            );
        } else if let Some(call) = line.strip_prefix("curl ") {
            let gw = gateway.as_ref().expect("a gateway deployed before curl");
            let data = call
                .split_once("-d ")
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .expect("curl -d <data>");
            let path = call
                .split_once("127.0.0.1:8080")
                .map(|(_, path)| path.trim())
                .expect("a URL on 127.0.0.1:8080");
            eventually(
                &format!("{line} to answer {data}"),
                Duration::from_secs(120),
                || {
                    let answer = gw
                        .client
                        .post(gw.url(path))
                        .body(data.to_string())
                        .send()
                        .ok()?;
                    (answer.status() == 200 && answer.text().ok()? == data).then_some(())
                },
            );
        } else {
            let gw_url = gateway.as_ref().map(|g| g.url("")).unwrap_or_default();
            let faas = binary("faas");
            let faas_dir = faas.parent().expect("a directory");
            let path = format!(
                "{}:{}",
                faas_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            );
            let within = if line.contains(" rm ") { 60 } else { 1 };
            let deadline = Instant::now() + Duration::from_secs(within);
            loop {
                let out = Command::new("sh")
                    .args(["-c", &line])
                    .current_dir(ROOT)
                    .env("FAAS_PORT", "0")
                    .env("FAAS_CALLBACK_ALLOW", functions_subnet())
                    .env("FAAS_GATEWAY", &gw_url)
                    .env("PATH", &path)
                    .output()
                    .expect("sh runs");
                if out.status.success() {
                    break;
                }
                let why = String::from_utf8_lossy(&out.stderr).into_owned();
                if Instant::now() > deadline {
                    let services = docker(&["service", "ls"]).1;
                    panic!("{PAGE} ({name}): {line}: {why}\nservices:\n{services}");
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            if line.starts_with("docker stack deploy") {
                gateway = Some(stack_gateway());
                // The `samples` service deploys what is missing once, then
                // exits: let it finish, so it does not bring back a sample
                // removed right after.
                let service = format!("{STACK}_samples");
                let states = ["ps", &service, "--format", "{{.CurrentState}}"];
                eventually(
                    "the samples service to finish",
                    Duration::from_secs(120),
                    || {
                        docker(
                            &["service"]
                                .iter()
                                .chain(states.iter())
                                .copied()
                                .collect::<Vec<_>>(),
                        )
                        .1
                        .lines()
                        .any(|state| state.starts_with("Complete"))
                        .then_some(())
                    },
                );
            } else if line.starts_with("docker stack rm") {
                gateway = None;
                // Its gateway has let go of the published port.
                eventually(
                    "the stack's containers to go",
                    Duration::from_secs(60),
                    || published_port().is_none().then_some(()),
                );
            }
        }
    }
    gateway
}

/// Clears what an earlier run of this test (or an older version of the
/// gateway) left: the stack, its functions, the gateway's data volume, the
/// admin secret and the functions network, so the page's commands start afresh.
fn start_afresh() {
    let _ = docker(&["stack", "rm", STACK]);
    remove_function_services();
    let _ = docker(&["service", "rm", "sforeign"]);
    let _ = docker(&["secret", "rm", "swarm-key"]);
    let a_while = Duration::from_secs(60);
    for (what, args) in [
        ("network", vec!["network", "rm", NETWORK]),
        ("volume", vec!["volume", "rm", "faas_gateway-data"]),
        ("secret", vec!["secret", "rm", "faas-basic-auth-password"]),
    ] {
        let name = args[2];
        let listing: Vec<&str> = match what {
            "volume" => vec!["volume", "ls", "-q"],
            other => vec![other, "ls", "--format", "{{.Name}}"],
        };
        eventually(&format!("the {what} {name} to go"), a_while, || {
            (docker(&args).0 || !lists(&listing, name)).then_some(())
        });
    }
}

/// Removes what the test made, whatever happened.
struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        remove_function_services();
        let _ = docker(&["service", "rm", "sforeign"]);
        let _ = docker(&["stack", "rm", STACK]);
        // The secret the test makes through the gateway (gone unless the
        // test failed half-way).
        let _ = docker(&["secret", "rm", "swarm-key"]);
        // What the page's last block removes, when the test stopped
        // before it: retried while the stack's containers go.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut left = vec![
            vec!["network", "rm", NETWORK],
            vec!["secret", "rm", "faas-basic-auth-password"],
            vec!["volume", "rm", "faas_gateway-data"],
        ];
        while !left.is_empty() && Instant::now() < deadline {
            left.retain(|args| {
                let listing: Vec<&str> = match args[0] {
                    "volume" => vec!["volume", "ls", "-q"],
                    other => vec![other, "ls", "--format", "{{.Name}}"],
                };
                lists(&listing, args[2]) && !docker(args).0
            });
            if !left.is_empty() {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// A gateway on the `docker` backend runs on the same engine first, with
/// its default network (a bridge), then stops: the stack must deploy
/// after it all the same.
fn docker_backend_runs_first() {
    let gw = start_gateway(&[("FAAS_BACKEND", "docker")]);
    gw.deploy(json!({"service": "before", "image": "faas/sample-cat", "command": ["cat"]}));
    assert_eq!(gw.call("before", "first").text(), "first");
    let (_, driver) = docker(&[
        "network",
        "inspect",
        "faas-functions-bridge",
        "--format",
        "{{.Driver}}",
    ]);
    assert_eq!(driver.trim(), "bridge");
    drop(gw);
    let _ = docker(&["network", "rm", "faas-functions-bridge"]);
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
    let _cleanup = Cleanup;
    docker_backend_runs_first();
    start_afresh();
    let gw = run_readme("deploy", None).expect("the stack's gateway");
    let gw = &gw;

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

    callbacks_by_host_name(gw);

    // A service function: a Swarm service running fwatchdog.
    gw.deploy(
        json!({"service": "scat", "image": "faas/sample-cat", "envProcess": "cat",
        "labels": {"com.openfaas.scale.max": "5"}}),
    );
    gw.settles_at("scat", 1, SETTLE);
    // A Swarm service cannot name a runtime: asking is refused, and the
    // listing says what the replica runs, as the engine reports it (this
    // engine's default).
    let refused = send(gw.admin(Method::POST, "/system/functions").json(&json!({
        "service": "sruntime", "image": "faas/sample-cat", "envProcess": "cat", "runtime": "runsc"
    })));
    refused.assert_says(400, "cannot be given to a service function on Swarm");
    assert!(gw.functions().iter().all(|f| f["name"] != "sruntime"));
    let (_, default) = docker(&["info", "--format", "{{.DefaultRuntime}}"]);
    eventually("scat's replica listed with its runtime", SETTLE, || {
        (gw.function("scat")["replicaRuntimes"] == json!([default.trim()])).then_some(())
    });
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
    gw.settles_at("scat", 3, SETTLE);
    std::thread::sleep(Duration::from_secs(2));
    gw.scale("scat", 1);
    gw.settles_at("scat", 1, SETTLE);
    std::thread::sleep(Duration::from_secs(2));
    let (ok, failed) = load.finish();
    assert!(ok > 50, "the load ran: {ok} calls");
    assert_eq!(failed, 0, "no call failed while scaling ({ok} succeeded)");

    gw.scale("scat", 2);
    gw.settles_at("scat", 2, SETTLE);
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
    // A call the gateway still has in flight on the killed replica (its
    // caller gave up; the gateway learns of the loss by keepalive) is work,
    // and the scaler would rightly wake scat for it: wait for none.
    eventually(
        "no call of scat running or waiting",
        Duration::from_secs(30),
        || {
            let running = gw.metric("faas_calls_running{function_name=\"scat\"}");
            let waiting = gw.metric("faas_queue_depth{function_name=\"scat\"}");
            (running == Some(0.0) && waiting == Some(0.0)).then_some(())
        },
    );
    gw.scale("scat", 0);
    eventually(
        "scat at 0 replicas, no container left",
        Duration::from_secs(60),
        || {
            (gw.replica_counts("scat") == Some((0, 0))
                && replica_containers("scat").trim().is_empty())
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
    gw.settles_at("scat", 2, SETTLE);
    gw.alert("resolved", "scat");
    gw.settles_at("scat", 1, SETTLE);

    replica_logs(gw);

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

    // A service the gateway did not create: its name is 409, and the
    // service is left as it was.
    let (ok, text) = docker(&[
        "service",
        "create",
        "--detach",
        "--name",
        "sforeign",
        "faas/sample-cat",
    ]);
    assert!(ok, "docker service create: {text}");
    for spec in [
        json!({"service": "sforeign", "image": "faas/sample-cat", "envProcess": "cat"}),
        json!({"service": "sforeign", "image": "faas/sample-cat", "command": ["cat"]}),
    ] {
        let refused = send(gw.admin(Method::POST, "/system/functions").json(&spec));
        refused.assert_says(409, "did not create");
    }
    assert_eq!(gw.get("/system/function/sforeign").status, 404);
    let scale = send(
        gw.admin(Method::POST, "/system/scale-function/sforeign")
            .json(&json!({"serviceName": "sforeign", "replicas": 0})),
    );
    assert_eq!(scale.status, 404, "{}", scale.text());
    let delete = send(
        gw.admin(Method::DELETE, "/system/functions")
            .json(&json!({"functionName": "sforeign"})),
    );
    assert_eq!(delete.status, 404, "{}", delete.text());
    // Nor may a function's service join the host's network.
    let host = send(gw.admin(Method::POST, "/system/functions").json(&json!({
        "service": "shost", "image": "faas/sample-cat", "envProcess": "cat", "network": "host"})));
    assert_eq!(host.status, 400, "{}", host.text());
    assert!(!lists(&["service", "ls", "--format", "{{.Name}}"], "shost"));
    let (_, mode) = docker(&[
        "service",
        "inspect",
        "sforeign",
        "--format",
        "{{json .Spec.Mode}}",
    ]);
    assert!(mode.contains("\"Replicas\":1"), "{mode}");
    assert!(docker(&["service", "rm", "sforeign"]).0);

    swarm_secrets(gw);

    // Torn down and deployed again, twice: the functions outlive the
    // stack, and the gateway (same data, same id) takes them back.
    let mut gw = run_readme("redeploy", None).expect("the stack's gateway");
    gw = run_readme("redeploy", Some(gw)).expect("the stack's gateway");
    assert_eq!(gw.call("echo", "").status, 200);
    let _ = run_readme("remove", Some(gw));
    assert!(!lists(&["network", "ls", "--format", "{{.Name}}"], NETWORK));
}

/// OpenFaaS's secrets API on Swarm: Docker secrets labelled as the
/// gateway's, mounted at `/var/openfaas/secrets/<name>` and
/// `/run/secrets/<name>`; the gateway's own admin secret is not among
/// them, cannot be mounted, replaced or removed.
fn swarm_secrets(gw: &Gateway) {
    let secret =
        |method: Method, body: Value| send(gw.admin(method, "/system/secrets").json(&body));
    let created = secret(
        Method::POST,
        json!({"name": "swarm-key", "value": "swarm-value"}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(
        gw.get("/system/secrets").json(),
        json!([{"name": "swarm-key"}])
    );
    let own = "faas-basic-auth-password";
    for method in [Method::POST, Method::PUT] {
        let refused = secret(method, json!({"name": own, "value": "mine now"}));
        assert_eq!(refused.status, 409, "{}", refused.text());
    }
    assert_eq!(secret(Method::DELETE, json!({"name": own})).status, 409);
    assert!(lists(&["secret", "ls", "--format", "{{.Name}}"], own));
    let mounts_own = send(gw.admin(Method::POST, "/system/functions").json(&json!({
        "service": "sown", "image": "faas/sample-cat", "envProcess": "cat", "secrets": [own]})));
    assert_eq!(mounts_own.status, 400, "{}", mounts_own.text());
    let per_call = send(gw.admin(Method::POST, "/system/functions").json(&json!({
        "service": "spcs", "image": "faas/sample-cat", "command": ["cat"], "secrets": ["swarm-key"]})));
    assert_eq!(per_call.status, 400, "{}", per_call.text());

    gw.deploy(json!({"service": "ssec", "image": "faas/sample-cat",
        "envProcess": "sh -c 'cat /var/openfaas/secrets/swarm-key /run/secrets/swarm-key; echo; \
            grep -E \"^(CapEff|NoNewPrivs)\" /proc/self/status; cat /sys/fs/cgroup/pids/pids.max'",
        "secrets": ["swarm-key"]}));
    gw.settles_at("ssec", 1, SETTLE);
    // The service's replicas are confined as per-call containers are;
    // Swarm sets no-new-privileges from API 1.46 (Docker 27) on.
    let (_, api) = docker(&["version", "--format", "{{.Server.APIVersion}}"]);
    let minor = api
        .trim()
        .split('.')
        .nth(1)
        .and_then(|m| m.parse::<u32>().ok());
    let no_new = if minor.is_some_and(|m| m >= 46) { 1 } else { 0 };
    assert_eq!(
        gw.call("ssec", "").text(),
        format!("swarm-valueswarm-value\nCapEff:\t0000000000000000\nNoNewPrivs:\t{no_new}\n512\n")
    );
    let in_use = secret(Method::DELETE, json!({"name": "swarm-key"}));
    assert_eq!(in_use.status, 409, "{}", in_use.text());
    assert_eq!(gw.remove("ssec").status, 202);
    eventually(
        "the secret to be removable",
        Duration::from_secs(30),
        || (secret(Method::DELETE, json!({"name": "swarm-key"})).status == 202).then_some(()),
    );
    assert_eq!(gw.get("/system/secrets").json(), json!([]));
}

/// The stack's gateway (static, `FROM scratch`) resolves a callback's host
/// by name through Docker's DNS: here the `echo` function's service on the
/// functions network, whose subnet the stack's `FAAS_CALLBACK_ALLOW` opens.
/// The replica's watchdog answers only calls the gateway forwards (they
/// carry its token), so the callback reaches it and is refused: a callback
/// cannot call a function around the gateway. A name nobody has is refused
/// at once, saying so.
fn callbacks_by_host_name(gw: &Gateway) {
    let accepted = gw.post_with(
        "/async-function/cat",
        ("X-Callback-Url", "http://echo:8080/hook"),
        "called back",
    );
    assert_eq!(accepted.status, 202, "{}", accepted.text());
    let id = accepted.header("x-call-id").to_string();
    let delivered = eventually(
        "the callback's delivery in the call's events",
        Duration::from_secs(60),
        || {
            gw.logs(&format!("name=cat&callid={id}"))
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|e| e["Event"] == "CALLBACK")
                .map(|e| e["Message"].as_str().unwrap_or_default().to_string())
        },
    );
    assert!(
        delivered.contains("callback to http://echo:8080/hook answered 403"),
        "{delivered}"
    );
    let refused = gw.post_with(
        "/async-function/cat",
        ("X-Callback-Url", "http://no-such-service:8080/"),
        "x",
    );
    refused.assert_says(400, "no such host: no-such-service");
}

/// A service function's own lines (its STDERR, as its watchdog writes it)
/// come back through `/system/logs`, read from the service's logs through
/// the manager, each naming its replica's container.
fn replica_logs(gw: &Gateway) {
    gw.deploy(json!({"service": "slog", "image": "faas/sample-cat",
        "envProcess": "sh -c 'echo from-the-replica >&2; cat'"}));
    gw.settles_at("slog", 1, SETTLE);
    assert_eq!(gw.call("slog", "in").text(), "in");
    let line = eventually(
        "the replica's line in the logs",
        Duration::from_secs(30),
        || {
            gw.logs("name=slog")
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|m| m["text"] == "from-the-replica")
        },
    );
    let container = replica_containers("slog");
    let instance = line["instance"].as_str().unwrap_or_default();
    assert!(
        instance.len() >= 12 && container.trim().starts_with(&instance[..12]),
        "{line} from {container}"
    );
    assert_eq!(gw.remove("slog").status, 202);
}
