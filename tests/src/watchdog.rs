//! Starting the real `fwatchdog` for end-to-end tests: port 0 (it names the
//! port it bound on STDERR), an environment of only PATH, TMPDIR and the
//! test's variables, its lock file in a fresh temporary directory.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use reqwest::Method;

use crate::{binary, client, send, Answer, Running, TempDir};

/// A running `fwatchdog`; killed when dropped, with the process groups
/// of its children (an http mode's `fprocess` would outlive it), its
/// TMPDIR removed.
pub struct WatchdogHandle {
    pub running: Running,
    /// Its TMPDIR, where the lock file goes.
    pub tmp: TempDir,
}

/// Starts `fwatchdog` with `vars` (`fprocess` and the like) on port 0;
/// returns once it has said which port it bound.
pub fn start_watchdog(vars: &[(&str, &str)]) -> WatchdogHandle {
    let tmp = TempDir::new("fwatchdog");
    let mut child = Command::new(binary("fwatchdog"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TMPDIR", &tmp.0)
        .env("port", "0")
        .envs(vars.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fwatchdog starts");
    let stderr = child.stderr.take().expect("STDERR is piped");
    let (mut running, stderr) = Running::announced(child, stderr, listening_port);
    // Left for a test that reads what it logs.
    running.child.stderr = Some(stderr);
    WatchdogHandle { running, tmp }
}

/// The port in `fwatchdog: listening on :<port>, fprocess=…`.
fn listening_port(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("fwatchdog: listening on :")?;
    rest.split(',').next()?.parse().ok()
}

impl Drop for WatchdogHandle {
    fn drop(&mut self) {
        for (pid, _) in self.children() {
            let group = nix::unistd::Pid::from_raw(pid as i32);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// The processes now running whose parent is `parent` (`None`: every
/// process): their pids and command lines, arguments joined by spaces.
pub fn processes(parent: Option<u32>) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if parent.is_some() && parent_of(&entry.path()) != parent {
            continue;
        }
        if let Ok(raw) = std::fs::read(entry.path().join("cmdline")) {
            found.push((pid, String::from_utf8_lossy(&raw).replace('\0', " ")));
        }
    }
    found
}

/// The parent pid in `/proc/<pid>/stat` (the field after the command's
/// closing parenthesis and the state).
fn parent_of(proc_dir: &std::path::Path) -> Option<u32> {
    let stat = std::fs::read_to_string(proc_dir.join("stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

impl WatchdogHandle {
    /// Its child processes: pids and command lines.
    pub fn children(&self) -> Vec<(u32, String)> {
        processes(Some(self.running.child.id()))
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        self.running.url(path)
    }

    /// The lock file (`$TMPDIR/.lock`).
    pub fn lock_file(&self) -> PathBuf {
        self.tmp.0.join(".lock")
    }

    /// A POST to `/` with `body`, answered whole.
    pub fn post(&self, body: impl Into<reqwest::blocking::Body>) -> Answer {
        send(client().post(self.url("/")).body(body))
    }

    /// A `method` request of `path` without a body, answered whole.
    pub fn request(&self, method: Method, path: &str) -> Answer {
        send(client().request(method, self.url(path)))
    }

    /// SIGTERM, then what it wrote on STDERR until it exited.
    pub fn terminate_and_read_log(&mut self) -> String {
        self.running.terminate();
        let mut log = String::new();
        self.running
            .child
            .stderr
            .take()
            .expect("STDERR is piped")
            .read_to_string(&mut log)
            .expect("the log");
        log
    }
}
