//! Helpers for the tests that need a Docker Engine: whether one answers (a
//! test skips with a printed reason when none does, and fails instead when
//! `FAAS_REQUIRE_DOCKER=1`), the sample images, and the containers the
//! gateway labelled. The tests read the engine with the `docker` CLI; the
//! gateway itself only talks to the engine's API.

use std::process::Command;
use std::sync::Mutex;

/// Whether Docker tests should run. Panics when no engine answers and
/// `FAAS_REQUIRE_DOCKER=1`; otherwise prints why the test skips.
pub fn engine_or_skip(test: &str) -> bool {
    let answers = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if answers {
        ensure_sample_images();
        return true;
    }
    assert!(
        std::env::var("FAAS_REQUIRE_DOCKER").as_deref() != Ok("1"),
        "{test}: no Docker Engine answers and FAAS_REQUIRE_DOCKER=1 (run scripts/docker-engine.sh)"
    );
    eprintln!("skipped {test}: no Docker Engine answers (run scripts/docker-engine.sh)");
    false
}

/// Builds the sample images with `scripts/build-images.sh` unless they are
/// all there already.
fn ensure_sample_images() {
    static BUILT: Mutex<bool> = Mutex::new(false);
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if *built {
        return;
    }
    let present = ["cat", "echo", "wc", "resizer"].iter().all(|name| {
        Command::new("docker")
            .args(["image", "inspect", &format!("faas/sample-{name}:latest")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    });
    if !present {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let status = Command::new("bash")
            .arg(format!("{root}/scripts/build-images.sh"))
            .current_dir(root)
            .status()
            .expect("scripts/build-images.sh runs");
        assert!(status.success(), "scripts/build-images.sh failed");
    }
    *built = true;
}

/// Ids of the containers (running or not) carrying `label` (`key` or
/// `key=value`).
pub fn containers_labelled(label: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label={label}")])
        .output()
        .expect("docker ps runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Ids of the running containers carrying `label`.
pub fn running_labelled(label: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-q", "--filter", &format!("label={label}")])
        .output()
        .expect("docker ps runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Waits up to `seconds` for `check` to hold; returns whether it did.
pub fn eventually(seconds: u64, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A gateway on the Docker backend, killed (SIGKILL) when dropped.
pub struct Gateway {
    pub running: crate::Running,
    pub data: crate::TempDir,
    pub password: String,
    env: Vec<(String, String)>,
}

impl Gateway {
    /// Starts `gateway --backend docker` on a free port with a fresh data
    /// directory, a known admin password and `env` added.
    pub fn start(env: &[(&str, &str)]) -> Gateway {
        let data = crate::TempDir::new("gateway-docker");
        let password = "docker-test-password".to_string();
        std::fs::write(data.0.join("password"), &password).expect("password file");
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let running = Self::spawn(&data, &env);
        Gateway {
            running,
            data,
            password,
            env,
        }
    }

    fn spawn(data: &crate::TempDir, env: &[(String, String)]) -> crate::Running {
        let port = crate::free_port();
        let mut child = Command::new(crate::binary("gateway"))
            .args(["--backend", "docker", "--port", &port.to_string()])
            .arg("--data-dir")
            .arg(data.0.join("db"))
            .env("FAAS_BASIC_AUTH_PASSWORD_FILE", data.0.join("password"))
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("the gateway starts");
        crate::wait_for_port(port, &mut child);
        crate::Running { child, port }
    }

    /// Kills the gateway with SIGKILL and starts it again on the same data.
    pub fn kill_and_restart(&mut self) {
        let _ = self.running.child.kill();
        let _ = self.running.child.wait();
        self.running = Self::spawn(&self.data, &self.env);
    }

    pub fn url(&self, path: &str) -> String {
        self.running.url(path)
    }

    /// Deploys `spec` (JSON) with the admin credentials; returns the status
    /// and body.
    pub fn deploy(&self, spec: serde_json::Value) -> (u16, String) {
        let resp = crate::client()
            .post(self.url("/system/functions"))
            .basic_auth("admin", Some(&self.password))
            .json(&spec)
            .send()
            .expect("deploy answers");
        (resp.status().as_u16(), resp.text().unwrap_or_default())
    }

    /// GETs `path` with the admin credentials.
    pub fn get(&self, path: &str) -> reqwest::blocking::Response {
        crate::client()
            .get(self.url(path))
            .basic_auth("admin", Some(&self.password))
            .send()
            .expect("the gateway answers")
    }
}
