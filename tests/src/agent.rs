//! The real `gateway agent` as the tests start it: on the host engine, on
//! the tests' functions network, on port 0 of loopback, with an owner of
//! its own (so two agents on one engine leave each other's containers
//! alone), and its API called with the token the gateway would send.

use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Command;

use reqwest::blocking::RequestBuilder;
use reqwest::Method;

use crate::gateway::{DOCKER_BACKEND, PASSWORD};
use crate::{agent_port, binary, client, send, Answer, Running, TempDir};

/// An agent started here; killed when dropped.
pub struct AgentHandle {
    pub running: Running,
    /// The owner label of its containers.
    pub owner: String,
    /// Holds `password` and its log.
    pub dir: TempDir,
    args: Vec<String>,
    docker_host: Option<String>,
}

/// The token an agent wants: derived from the admin password as the
/// gateway derives it.
pub fn token(password: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("faas-agent\0{password}").as_bytes(),
    );
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Starts `gateway agent` with the tests' admin password, owner `owner`
/// and `args` added.
pub fn start_agent(owner: &str, args: &[&str]) -> AgentHandle {
    start_agent_on(owner, args, None)
}

/// As [`start_agent`], its engine at `docker_host` (`DOCKER_HOST`) when
/// given.
pub fn start_agent_on(owner: &str, args: &[&str], docker_host: Option<&str>) -> AgentHandle {
    let dir = TempDir::new("faas-agent");
    std::fs::write(dir.0.join("password"), format!("{PASSWORD}\n")).expect("the password file");
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let docker_host = docker_host.map(str::to_string);
    let running = spawn(&dir, owner, &args, docker_host.as_deref(), 0);
    AgentHandle {
        running,
        owner: owner.to_string(),
        dir,
        args,
        docker_host,
    }
}

fn spawn(
    dir: &TempDir,
    owner: &str,
    args: &[String],
    docker_host: Option<&str>,
    port: u16,
) -> Running {
    let network = DOCKER_BACKEND
        .iter()
        .find(|(k, _)| *k == "FAAS_NETWORK")
        .map_or("faas-test-bridge", |(_, v)| v);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.0.join("agent.log"))
        .expect("the agent's log file");
    let mut command = Command::new(binary("gateway"));
    command
        .args(["agent", "--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--network", network, "--owner", owner])
        .arg("--basic-auth-password-file")
        .arg(dir.0.join("password"))
        .args(args)
        .envs(docker_host.map(|h| ("DOCKER_HOST", h)))
        .env("RUST_LOG", "warn")
        .stderr(log);
    Running::spawn(&mut command, agent_port, std::io::sink())
}

impl AgentHandle {
    /// `127.0.0.1:<port>`, as the gateway's `--agent` takes it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.running.port)
    }

    /// A request to the agent with the gateway's token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        client()
            .request(method, self.running.url(path))
            .bearer_auth(token(PASSWORD))
    }

    /// `GET /agent/status`.
    pub fn status(&self) -> serde_json::Value {
        let answer = send(self.request(Method::GET, "/agent/status"));
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer.json()
    }

    /// Kills it with SIGKILL: no chance to clean up.
    pub fn kill9(&mut self) {
        let _ = self.running.child.kill();
        let _ = self.running.child.wait();
    }

    /// Starts it again with the same owner, on the same port.
    pub fn restart(&mut self) {
        let port = self.running.port;
        self.kill9();
        let host = self.docker_host.as_deref();
        self.running = spawn(&self.dir, &self.owner, &self.args, host, port);
    }

    /// What it logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("agent.log")).unwrap_or_default()
    }
}

/// POSTs `body` as JSON to `path` on the agent at `url` with `token`.
pub fn post(url: &str, token: Option<&str>, body: impl Into<reqwest::blocking::Body>) -> Answer {
    let mut request = client()
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    send(request)
}

/// A unix socket that passes everything to the host engine's socket until
/// it is [`cut`](EngineProxy::cut): then the engine behind it is gone, as
/// when a node's `dockerd` dies.
pub struct EngineProxy {
    pub dir: TempDir,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<UnixStream>>>,
}

impl EngineProxy {
    pub fn start() -> EngineProxy {
        let dir = TempDir::new("faas-engine-proxy");
        let listener = UnixListener::bind(dir.0.join("engine.sock")).expect("the proxy's socket");
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stop, streams) = (cut.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let Ok(engine) = UnixStream::connect("/var/run/docker.sock") else {
                    continue;
                };
                let mut kept = streams.lock().unwrap_or_else(|p| p.into_inner());
                for stream in [&client, &engine] {
                    if let Ok(copy) = stream.try_clone() {
                        kept.push(copy);
                    }
                }
                pipe(&client, &engine);
                pipe(&engine, &client);
            }
        });
        EngineProxy { dir, cut, open }
    }

    /// `unix://…`, for `DOCKER_HOST`.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.dir.0.join("engine.sock").display())
    }

    /// The engine is gone: new connections are refused, open ones closed.
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::fs::remove_file(self.dir.0.join("engine.sock"));
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        for stream in open.iter() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for EngineProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Copies what `from` says to `to` on a thread of its own.
fn pipe(from: &UnixStream, to: &UnixStream) {
    if let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(std::net::Shutdown::Write);
        });
    }
}
