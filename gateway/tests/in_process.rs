//! The gateway run in-process through `server::run`: a graceful stop waits
//! for the calls that are running, leaves the queued ones to the next start,
//! and the next start finishes them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use faas_gateway::config::{
    AuthConfig, BackendKind, Caps, Config, Connections, PoolConfig, ScalingLimits,
};
use faas_gateway::server;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const PASSWORD: &str = "in-process-password";

/// A gateway running in this test's runtime.
struct Gateway {
    base: String,
    stop: oneshot::Sender<()>,
    serving: JoinHandle<anyhow::Result<()>>,
    client: reqwest::Client,
}

impl Gateway {
    /// Serves a gateway on a port the kernel picks, data in `dir`.
    async fn start(dir: &Path) -> Gateway {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a listener");
        let address = listener.local_addr().expect("its address");
        let (stop, stopped) = oneshot::channel::<()>();
        let config = config(dir, address);
        let serving = tokio::spawn(server::run(listener, config, async move {
            let _ = stopped.await;
        }));
        Gateway {
            base: format!("http://{address}"),
            stop,
            serving,
            client: reqwest::Client::new(),
        }
    }

    fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .basic_auth("admin", Some(PASSWORD))
    }

    async fn call_async(&self, function: &str) -> String {
        let response = self
            .client
            .post(format!("{}/async-function/{function}", self.base))
            .send()
            .await
            .expect("an async call");
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await.expect("{\"CallId\"}");
        body["CallId"].as_str().expect("a call id").to_string()
    }

    /// The call's record, once `/system/calls/<id>` answers.
    async fn call(&self, id: &str) -> Value {
        let path = format!("/system/calls/{id}");
        let response = self.admin(reqwest::Method::GET, &path).send().await;
        response
            .expect("the call's record")
            .json()
            .await
            .expect("JSON")
    }

    /// Waits until `check` holds of the call's record.
    async fn call_becomes(&self, id: &str, check: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..200 {
            let record = self.call(id).await;
            if check(&record) {
                return record;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("call {id} never got there: {}", self.call(id).await);
    }

    /// Asks the gateway to stop and waits until it has.
    async fn stop(self) {
        let _ = self.stop.send(());
        let stopped = tokio::time::timeout(Duration::from_secs(20), self.serving).await;
        stopped
            .expect("the gateway stops")
            .expect("its task")
            .expect("a clean stop");
    }
}

fn config(dir: &Path, listen: SocketAddr) -> Config {
    let password = dir.join("password");
    std::fs::write(&password, PASSWORD).expect("the password file");
    Config {
        listen,
        data_dir: dir.join("data"),
        backend: BackendKind::Process,
        quota: 4,
        max_queue: 100,
        caps: Caps {
            output_bytes: 1 << 20,
            log_bytes: 1 << 20,
            database_bytes: 1 << 30,
        },
        max_payload_bytes: 1 << 20,
        max_header_bytes: 64 << 10,
        scaling: ScalingLimits {
            max_replicas: 100,
            down_after: Duration::from_secs(10),
        },
        auth: AuthConfig {
            password_file: Some(password),
            ..AuthConfig::default()
        },
        max_call_age: None,
        bind_given: true,
        network: None,
        isolation: Default::default(),
        runtimes: Default::default(),
        callbacks: Default::default(),
        connections: Connections {
            header_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(30),
            body_min_rate: 1024,
            body_min_rate_grace: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 100,
            reserved_connections: 10,
        },
        sample_interval: Duration::from_secs(5),
        pool: PoolConfig {
            idle: Duration::from_secs(300),
            per_function: 0,
            total: 0,
            memory_bytes: 0,
            launcher_image: String::new(),
        },
        replicas: Default::default(),
        agents: Default::default(),
    }
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faas-in-process-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_finishes_running_calls_and_keeps_queued_ones() {
    let dir = temp_dir();
    let gateway = Gateway::start(&dir).await;
    let deployment = json!({
        "service": "slow",
        "image": "none",
        "command": ["sh", "-c", "sleep 1; echo done"],
        "maxConcurrency": 1,
    });
    let deployed = gateway
        .admin(reqwest::Method::POST, "/system/functions")
        .json(&deployment)
        .send()
        .await
        .expect("deploy");
    assert_eq!(deployed.status(), 202);
    let running = gateway.call_async("slow").await;
    let queued = gateway.call_async("slow").await;
    gateway
        .call_becomes(&running, |c| c["Status"] == "RUNNING")
        .await;

    gateway.stop().await;

    let gateway = Gateway::start(&dir).await;
    let first = gateway.call(&running).await;
    assert_eq!(
        first["Status"], "FINISHED",
        "the stop waited for it: {first}"
    );
    let output = gateway
        .admin(
            reqwest::Method::GET,
            &format!("/system/calls/{running}/output"),
        )
        .send()
        .await
        .expect("its output");
    assert_eq!(output.text().await.expect("text"), "done\n");
    let second = gateway
        .call_becomes(&queued, |c| c["Status"] == "FINISHED")
        .await;
    assert!(
        second["Started"].as_str() > first["Finished"].as_str(),
        "the queued call ran after the restart: {first} then {second}"
    );
    gateway.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
