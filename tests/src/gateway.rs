//! Starting the real `gateway` binary for end-to-end tests: process backend,
//! a free port, a fresh data directory and a known admin password.
//!
//! ```no_run
//! let gw = faas_tests::gateway::start_gateway(&[("FAAS_QUOTA", "2")]);
//! gw.deploy(serde_json::json!({"service": "echo", "image": "x", "command": ["cat"]}));
//! let out = gw.client.post(gw.url("/function/echo")).body("hi").send().unwrap();
//! ```

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder};
use serde_json::Value;

use crate::{binary, client, free_port, wait_for_port, Running, TempDir};

/// The admin password every test gateway gets (user `admin`).
pub const PASSWORD: &str = "test-admin-password";

/// A running gateway; killed when dropped, its data directory removed.
pub struct GatewayHandle {
    pub running: Running,
    pub client: Client,
    /// Holds `data/` (the data dir) and `password`.
    pub dir: TempDir,
    env: Vec<(String, String)>,
}

/// Starts `gateway --backend process` (or the `FAAS_BACKEND` in `env`) on a
/// free port with a fresh data dir.
/// `env` adds variables such as `FAAS_QUOTA`; returns once `/healthz` answers.
pub fn start_gateway(env: &[(&str, &str)]) -> GatewayHandle {
    let dir = TempDir::new("faas-gateway");
    std::fs::write(dir.0.join("password"), format!("{PASSWORD}\n")).expect("the password file");
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let running = spawn(&dir, &env);
    GatewayHandle {
        running,
        client: client(),
        dir,
        env,
    }
}

fn spawn(dir: &TempDir, env: &[(String, String)]) -> Running {
    let port = free_port();
    // The process backend unless the test asks for another with FAAS_BACKEND.
    let backend = env
        .iter()
        .find(|(k, _)| k == "FAAS_BACKEND")
        .map(|(_, v)| v.as_str())
        .unwrap_or("process");
    let mut child = Command::new(binary("gateway"))
        .args([
            "--backend",
            backend,
            "--port",
            &port.to_string(),
            "--data-dir",
        ])
        .arg(dir.0.join("data"))
        .env("FAAS_BASIC_AUTH_PASSWORD_FILE", dir.0.join("password"))
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the gateway starts");
    wait_for_port(port, &mut child);
    let running = Running { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ok = client()
            .get(running.url("/healthz"))
            .send()
            .is_ok_and(|r| r.status() == 200);
        if ok {
            return running;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway's /healthz never answered 200"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl GatewayHandle {
    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        self.running.url(path)
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.0.join("data")
    }

    /// A request with the admin credentials.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .basic_auth("admin", Some(PASSWORD))
    }

    /// Deploys `spec` (deployment JSON) and returns the function as listed;
    /// panics unless the gateway answers 202.
    pub fn deploy(&self, spec: Value) -> Value {
        let response = self
            .admin(reqwest::Method::POST, "/system/functions")
            .json(&spec)
            .send()
            .expect("deploy");
        let status = response.status();
        let body = response.text().unwrap_or_default();
        assert_eq!(status, 202, "deploy answered {status}: {body}");
        serde_json::from_str(&body).expect("deploy answers the function as JSON")
    }

    /// Starts an async call of `function` and returns its call id.
    pub fn call_async(&self, function: &str, body: impl Into<reqwest::blocking::Body>) -> String {
        let response = self
            .client
            .post(self.url(&format!("/async-function/{function}")))
            .body(body)
            .send()
            .expect("call");
        assert_eq!(
            response.status(),
            202,
            "async call answered {}",
            response.status()
        );
        let v: Value = response.json().expect("{\"CallId\"}");
        v["CallId"].as_str().expect("CallId").to_string()
    }

    /// Waits for call `id` to end; its status and output.
    pub fn wait_output(&self, id: &str) -> (u16, Vec<u8>) {
        let response = self
            .admin(
                reqwest::Method::GET,
                &format!("/system/calls/{id}/output?wait=true"),
            )
            .send()
            .expect("output");
        let status = response.status().as_u16();
        (status, response.bytes().expect("body").to_vec())
    }

    /// Kills the gateway with SIGKILL (no chance to clean up).
    /// The text of `/metrics`.
    pub fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .expect("metrics")
            .text()
            .expect("text")
    }

    pub fn kill9(&mut self) {
        let _ = self.running.child.kill();
        let _ = self.running.child.wait();
    }

    /// Starts the gateway again on the same data directory (on a new port).
    pub fn restart(&mut self) {
        self.kill9();
        self.running = spawn(&self.dir, &self.env);
    }
}
