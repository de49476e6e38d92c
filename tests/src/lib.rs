//! Helpers for the end-to-end tests. This file: the workspace's binaries,
//! processes started on port 0 that announce the port they bound, waiting
//! with [`eventually`], HTTP answers read whole, temporary directories.
//!
//! - [`gateway`]: the real `gateway` binary and its API, as the tests call it.
//! - [`watchdog`]: the real `fwatchdog` binary.
//! - [`docker`]: whether a Docker Engine answers and has gVisor, the sample
//!   images, the containers the gateway labelled.
//! - [`agent`]: the real `gateway agent`, and its token.
//! - [`browser`]: a headless Chromium driven over WebDriver, for the portal.
//! - [`nodes`]: a Swarm of two nodes on this machine (`scripts/swarm-nodes.sh`).
#![forbid(unsafe_code)]

pub mod agent;
pub mod browser;
pub mod docker;
pub mod gateway;
pub mod nodes;
pub mod watchdog;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::blocking::RequestBuilder;
use reqwest::header::HeaderMap;

/// How long a starting binary may take to announce its port.
const STARTUP: Duration = Duration::from_secs(20);

/// Path of a binary built from this workspace (`fwatchdog`, `gateway`, `faas`).
/// The binaries are built by `cargo build --workspace` before the tests run.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries live in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` before the tests",
        path.display()
    );
    path
}

/// Runs `check` until it answers `Some` and returns that; panics naming
/// `what` once `within` has passed. The one way the tests wait for
/// something that happens in the background.
pub fn eventually<T>(what: &str, within: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{within:?} passed waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process that is killed when dropped, and the port it listens on.
pub struct Running {
    pub child: Child,
    pub port: u16,
}

impl Running {
    /// Waits for `child` to say on `stream` (its STDOUT or STDERR) which
    /// port it bound: the first line `port_in` finds a port in. The stream
    /// comes back unread past that line. Panics if the child exits first or
    /// says nothing within 20 s.
    pub fn announced<R: Read + Send + 'static>(
        child: Child,
        mut stream: R,
        port_in: fn(&str) -> Option<u16>,
    ) -> (Running, R) {
        let mut running = Running { child, port: 0 };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let port = first_port(&mut stream, port_in);
            let _ = tx.send(port.map(|port| (port, stream)));
        });
        match rx.recv_timeout(STARTUP) {
            Ok(Some((port, stream))) => {
                running.port = port;
                (running, stream)
            }
            Ok(None) => panic!(
                "the process ended before naming its port: {:?}",
                running.child.wait()
            ),
            Err(_) => panic!("the process named no port within {STARTUP:?}"),
        }
    }

    /// Starts `command` with its STDOUT piped and waits, as [`announced`],
    /// for it to name its port there; what it prints later is copied to
    /// `rest`, so that it neither fills the pipe nor finds it closed.
    ///
    /// [`announced`]: Running::announced
    pub fn spawn(
        command: &mut Command,
        port_in: fn(&str) -> Option<u16>,
        mut rest: impl Write + Send + 'static,
    ) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{:?} does not start: {e}", command.get_program()));
        let stdout = child.stdout.take().expect("STDOUT is piped");
        let (running, mut stdout) = Running::announced(child, stdout, port_in);
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut rest));
        running
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port in `gateway listening on http://<address> (backend <name>)`.
pub fn gateway_port(line: &str) -> Option<u16> {
    port_after("gateway listening on http://", line)
}

/// The port in `agent listening on http://<address> (…)`.
pub fn agent_port(line: &str) -> Option<u16> {
    port_after("agent listening on http://", line)
}

fn port_after(announcement: &str, line: &str) -> Option<u16> {
    let address = line.strip_prefix(announcement)?;
    let address: std::net::SocketAddr = address.split(' ').next()?.parse().ok()?;
    Some(address.port())
}

/// Reads `stream` a byte at a time, so that nothing past the line that
/// names the port is taken from it.
fn first_port(stream: &mut impl Read, port_in: fn(&str) -> Option<u16>) -> Option<u16> {
    let (mut line, mut byte) = (Vec::new(), [0u8]);
    loop {
        stream.read_exact(&mut byte).ok()?;
        match byte[0] {
            b'\n' => {
                if let Some(port) = port_in(&String::from_utf8_lossy(&line)) {
                    return Some(port);
                }
                line.clear();
            }
            other => line.push(other),
        }
    }
}

/// Asserts that each of `wanted` is a whole line of `text`.
#[track_caller]
pub fn assert_lines(text: &str, wanted: &[&str]) {
    for line in wanted {
        assert!(
            text.lines().any(|l| l == *line),
            "{line:?} is not a line of:\n{text}"
        );
    }
}

/// A blocking HTTP client with a generous timeout and no pooling surprises.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("an HTTP client")
}

/// An HTTP answer read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The body, after asserting it is one line of text (the gateway's
    /// errors are).
    #[track_caller]
    pub fn one_line(&self) -> String {
        let text = self.text();
        assert!(
            text.ends_with('\n') && text.trim_end().lines().count() == 1,
            "not one line: {text:?}"
        );
        text
    }

    /// Asserts the answer is `status` and one line of text containing
    /// `says`: how the gateway and its agents refuse.
    #[track_caller]
    pub fn assert_says(&self, status: u16, says: &str) {
        assert_eq!(self.status, status, "wanted {says:?}: {}", self.text());
        let line = self.one_line();
        assert!(line.contains(says), "wanted {says:?}: {line}");
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A header's value as text; panics when it is missing.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
}

/// Sends `request` and reads the whole answer; panics when no answer comes.
pub fn send(request: RequestBuilder) -> Answer {
    let response = request.send().expect("an answer");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().expect("the whole body").to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

/// A temporary directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a temporary directory");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
