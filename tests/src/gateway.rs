//! The gateway in end-to-end tests: [`start_gateway`] runs the real binary
//! (process backend unless the test names another) on port 0, with a fresh
//! data directory and a known admin password, its output kept in a file;
//! [`Gateway`] is the API as the tests call it, on a gateway started here or
//! on the Swarm stack's.
//!
//! ```no_run
//! let gw = faas_tests::gateway::start_gateway(&[("FAAS_QUOTA", "2")]);
//! gw.deploy(serde_json::json!({"service": "echo", "image": "x", "command": ["cat"]}));
//! assert_eq!(gw.call("echo", "hi").text(), "hi");
//! ```

use std::ops::Deref;
use std::path::PathBuf;
use std::process::Command;

use reqwest::blocking::{Body, Client, RequestBuilder};
use reqwest::Method;
use serde_json::{json, Value};

use crate::{binary, client, gateway_port, send, Answer, Running, TempDir};

/// The admin password every test gateway gets (user `admin`).
pub const PASSWORD: &str = "test-admin-password";

/// The docker backend, on a network of the tests' own (apart from a
/// stack's `faas-functions`).
pub const DOCKER_BACKEND: [(&str, &str); 2] = [
    ("FAAS_BACKEND", "docker"),
    ("FAAS_NETWORK", "faas-test-bridge"),
];

/// A gateway's API: where it answers and the admin password.
pub struct Gateway {
    base: String,
    password: String,
    pub client: Client,
}

impl Gateway {
    /// The gateway answering on `127.0.0.1:<port>`.
    pub fn at(port: u16, password: &str) -> Gateway {
        Gateway {
            base: format!("http://127.0.0.1:{port}"),
            password: password.to_string(),
            client: client(),
        }
    }

    /// The gateway answering at `base` (`http://<host>:<port>`), on another
    /// machine or node.
    pub fn at_base(base: &str, password: &str) -> Gateway {
        Gateway {
            base: base.trim_end_matches('/').to_string(),
            password: password.to_string(),
            client: client(),
        }
    }

    /// `<base><path>` (`http://127.0.0.1:<port><path>` for a gateway here).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with the admin credentials.
    pub fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .basic_auth("admin", Some(&self.password))
    }

    /// A GET of `path` with the admin credentials, answered whole.
    pub fn get(&self, path: &str) -> Answer {
        send(self.admin(Method::GET, path))
    }

    /// The JSON at `path`; panics unless the gateway answers 200.
    fn json(&self, path: &str) -> Value {
        let answer = self.get(path);
        assert_eq!(answer.status, 200, "GET {path}: {}", answer.text());
        answer.json()
    }

    /// Every function, as `/system/functions` lists them.
    pub fn functions(&self) -> Vec<Value> {
        match self.json("/system/functions") {
            Value::Array(functions) => functions,
            other => panic!("not a list of functions: {other}"),
        }
    }

    /// `/system/function/<name>`.
    pub fn function(&self, name: &str) -> Value {
        self.json(&format!("/system/function/{name}"))
    }

    /// The replicas `name` wants.
    pub fn replicas(&self, name: &str) -> u64 {
        self.function(name)["replicas"]
            .as_u64()
            .expect("replicas is a number")
    }

    /// The call counts of `name` (`Total`, `Pending`, `Running`, `Finished`,
    /// `Failed`).
    pub fn counts(&self, name: &str) -> Value {
        self.json(&format!("/system/function/{name}/status"))
    }

    /// The record of call `id`.
    pub fn record(&self, id: &str) -> Value {
        self.json(&format!("/system/calls/{id}"))
    }

    /// The text of `/system/logs?<query>`.
    pub fn logs(&self, query: &str) -> String {
        let answer = self.get(&format!("/system/logs?{query}"));
        assert_eq!(answer.status, 200, "logs?{query}: {}", answer.text());
        answer.text()
    }

    /// The `NODE` event of call `id` of `function` (where an agent ran it),
    /// if it has one, once the call's end is recorded (a sync call's events
    /// are written at its end).
    pub fn node_event(&self, function: &str, id: &str) -> Option<String> {
        let within = std::time::Duration::from_secs(10);
        let events = crate::eventually("the call's end in its log", within, || {
            let events: Vec<Value> = self
                .logs(&format!("name={function}&callid={id}"))
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .collect();
            events
                .iter()
                .any(|e| e["Event"] == "FINISHED" || e["Event"] == "FAILED")
                .then_some(events)
        });
        events
            .iter()
            .find(|e| e["Event"] == "NODE")
            .map(|e| e["Message"].as_str().unwrap_or_default().to_string())
    }

    /// The replicas and available replicas of `name`, once the gateway can
    /// say.
    pub fn replica_counts(&self, name: &str) -> Option<(u64, u64)> {
        let answer = self.get(&format!("/system/function/{name}"));
        if answer.status != 200 {
            return None;
        }
        let function = answer.json();
        Some((
            function["replicas"].as_u64()?,
            function["availableReplicas"].as_u64()?,
        ))
    }

    /// Waits up to `within` for `name` to have `n` replicas, all available.
    pub fn settles_at(&self, name: &str, n: u64, within: std::time::Duration) {
        crate::eventually(&format!("{name} at {n} available replicas"), within, || {
            (self.replica_counts(name) == Some((n, n))).then_some(())
        });
    }

    /// Deploys `spec` (deployment JSON) and returns the function as listed;
    /// panics unless the gateway answers 202.
    pub fn deploy(&self, spec: Value) -> Value {
        let answer = send(self.admin(Method::POST, "/system/functions").json(&spec));
        assert_eq!(answer.status, 202, "deploy: {}", answer.text());
        answer.json()
    }

    /// Removes function `name`.
    pub fn remove(&self, name: &str) -> Answer {
        send(
            self.admin(Method::DELETE, "/system/functions")
                .json(&json!({ "functionName": name })),
        )
    }

    /// Sets the replicas of `name`; panics unless the gateway agrees.
    pub fn scale(&self, name: &str, replicas: u64) {
        let answer = send(
            self.admin(Method::POST, &format!("/system/scale-function/{name}"))
                .json(&json!({"serviceName": name, "replicas": replicas})),
        );
        assert!(answer.is_success(), "scale: {}", answer.status);
    }

    /// What AlertManager sends when `APIHighInvocationRate` is `status`
    /// (`firing` or `resolved`) for `name`; panics unless accepted.
    pub fn alert(&self, status: &str, name: &str) {
        let answer = send(self.admin(Method::POST, "/system/alert").json(&json!({
            "status": status, "receiver": "scale-up",
            "alerts": [{"status": status, "labels": {"alertname": "APIHighInvocationRate", "function_name": name}}]
        })));
        assert!(answer.is_success(), "alert: {}", answer.status);
    }

    /// Asserts that `GET path` without credentials, or with a wrong
    /// password, is 401 asking for Basic credentials; the first answer.
    pub fn assert_needs_login(&self, path: &str) -> Answer {
        let none = send(self.client.get(self.url(path)));
        assert_eq!(none.status, 401, "{path}");
        let asks = none.header("www-authenticate");
        assert!(asks.starts_with("Basic"), "{path}: {asks}");
        let wrong = self
            .client
            .get(self.url(path))
            .basic_auth("admin", Some("wrong"));
        assert_eq!(send(wrong).status, 401, "{path}");
        none
    }

    /// `POST path` with one header and `body`, answered whole.
    pub fn post_with(&self, path: &str, header: (&str, &str), body: impl Into<Body>) -> Answer {
        send(
            self.client
                .post(self.url(path))
                .header(header.0, header.1)
                .body(body),
        )
    }

    /// A sync call of `name` with `body`, answered whole.
    pub fn call(&self, name: &str, body: impl Into<Body>) -> Answer {
        send(
            self.client
                .post(self.url(&format!("/function/{name}")))
                .body(body),
        )
    }

    /// Starts an async call of `name` and returns its call id.
    pub fn call_async(&self, name: &str, body: impl Into<Body>) -> String {
        let answer = send(
            self.client
                .post(self.url(&format!("/async-function/{name}")))
                .body(body),
        );
        assert_eq!(answer.status, 202, "async call: {}", answer.text());
        answer.json()["CallId"]
            .as_str()
            .expect("CallId")
            .to_string()
    }

    /// Waits for call `id` to end; its status and output.
    pub fn wait_output(&self, id: &str) -> Answer {
        self.get(&format!("/system/calls/{id}/output?wait=true"))
    }

    /// The text of `/metrics`.
    pub fn metrics(&self) -> String {
        send(self.client.get(self.url("/metrics"))).text()
    }

    /// The value of one series of `/metrics`, `name{labels}` as written there.
    pub fn metric(&self, series: &str) -> Option<f64> {
        self.metrics().lines().find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
    }

    /// A counter or gauge `name` of `function`, 0 when the series is absent.
    pub fn function_metric(&self, name: &str, function: &str) -> f64 {
        self.metric(&format!("{name}{{function_name=\"{function}\"}}"))
            .unwrap_or(0.0)
    }

    /// Waits until `function` has a warm container ready.
    pub fn wait_warm(&self, function: &str) {
        crate::eventually(
            &format!("a warm container of {function}"),
            std::time::Duration::from_secs(30),
            || (self.function_metric("faas_pool_ready", function) >= 1.0).then_some(()),
        );
    }
}

/// A gateway started here; killed when dropped, its data directory removed.
pub struct GatewayHandle {
    gateway: Gateway,
    pub running: Running,
    /// Holds `data/` (the data dir) and `password`.
    pub dir: TempDir,
    env: Vec<(String, String)>,
}

impl Deref for GatewayHandle {
    type Target = Gateway;

    fn deref(&self) -> &Gateway {
        &self.gateway
    }
}

/// Starts `gateway --backend process` (or the `FAAS_BACKEND` in `env`) on
/// port 0 with a fresh data dir; `env` adds variables such as `FAAS_QUOTA`.
/// Returns once it has said where it listens.
pub fn start_gateway(env: &[(&str, &str)]) -> GatewayHandle {
    start_gateway_in(TempDir::new("faas-gateway"), env)
}

/// [`start_gateway`] in `dir`, which may already hold its `data` (a link
/// to a data directory elsewhere, say).
pub fn start_gateway_in(dir: TempDir, env: &[(&str, &str)]) -> GatewayHandle {
    std::fs::write(dir.0.join("password"), format!("{PASSWORD}\n")).expect("the password file");
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let running = spawn(&dir, &env);
    GatewayHandle {
        gateway: Gateway::at(running.port, PASSWORD),
        running,
        dir,
        env,
    }
}

/// [`start_gateway`] on the docker backend ([`DOCKER_BACKEND`]).
pub fn start_docker_gateway(env: &[(&str, &str)]) -> GatewayHandle {
    let mut all = DOCKER_BACKEND.to_vec();
    all.extend_from_slice(env);
    start_gateway(&all)
}

/// Where a started gateway's STDERR (its log) and, past the line naming
/// its port, its STDOUT go, in its temporary directory.
const LOG: &str = "gateway.log";

fn spawn(dir: &TempDir, env: &[(String, String)]) -> Running {
    let backend = env
        .iter()
        .find(|(k, _)| k == "FAAS_BACKEND")
        .map_or("process", |(_, v)| v.as_str());
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.0.join(LOG))
        .expect("the gateway's log file");
    let copy = log.try_clone().expect("the gateway's log file");
    let mut command = Command::new(binary("gateway"));
    command
        .args(["--backend", backend, "--port", "0", "--data-dir"])
        .arg(dir.0.join("data"))
        .env("FAAS_BASIC_AUTH_PASSWORD_FILE", dir.0.join("password"))
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stderr(log);
    Running::spawn(&mut command, gateway_port, copy)
}

impl GatewayHandle {
    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.0.join("data")
    }

    /// What the gateway wrote so far: its log, then its STDOUT.
    pub fn log(&self) -> Vec<u8> {
        std::fs::read(self.dir.0.join(LOG)).unwrap_or_default()
    }

    /// Kills the gateway with SIGKILL (no chance to clean up).
    pub fn kill9(&mut self) {
        let _ = self.running.child.kill();
        let _ = self.running.child.wait();
    }

    /// Starts the gateway again on the same data directory (on a new port).
    pub fn restart(&mut self) {
        self.kill9();
        self.running = spawn(&self.dir, &self.env);
        self.gateway = Gateway::at(self.running.port, PASSWORD);
    }
}

impl Drop for GatewayHandle {
    /// Kills a docker-backend gateway and removes the containers it still
    /// had (a call's being removed, warm ones): its next start would, but a
    /// test's gateway has none.
    fn drop(&mut self) {
        let docker = self
            .env
            .iter()
            .any(|(k, v)| k == "FAAS_BACKEND" && v == "docker");
        if !docker {
            return;
        }
        self.kill9();
        let Ok(owner) = std::fs::read_to_string(self.data_dir().join("gateway-id")) else {
            return;
        };
        // Nothing here may panic: a failing test may be unwinding.
        let label = format!("label=com.faas.gateway={}", owner.trim());
        let Ok(listed) = Command::new("docker")
            .args(["ps", "-aq", "--filter", &label])
            .output()
        else {
            return;
        };
        let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
        let left: Vec<&str> = listed.split_whitespace().collect();
        if !left.is_empty() {
            let _ = Command::new("docker")
                .arg("rm")
                .arg("-f")
                .args(&left)
                .output();
        }
    }
}
