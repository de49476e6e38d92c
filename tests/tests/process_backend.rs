//! The process backend's functions do not outlive the gateway: `kill -9`
//! of the gateway kills the call it ran (its supervisor does), a restart
//! kills what was left when the supervisor died too (and the call reads
//! FAILED); and a function, though it runs as the gateway's user, cannot
//! read the gateway's environment; an explicit `--runtime` stops the start,
//! since no container runs. Every process a test looks at is one it
//! started: its gateway, that gateway's supervisor, its function.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use faas_tests::gateway::{start_gateway, Gateway, GatewayHandle, PASSWORD};
use faas_tests::{binary, eventually, gateway_port, Running, TempDir};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::json;

/// How long a killed process may take to go.
const GONE_WITHIN: Duration = Duration::from_secs(5);

/// A process, told apart from a later one given its pid by its start time
/// (field 22 of `/proc/<pid>/stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Process {
    pid: u32,
    start: u64,
}

/// The state and start time in `/proc/<pid>/stat`, if there is a `pid`.
fn stat(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    Some((state, fields.nth(22 - 4)?.parse().ok()?))
}

impl Process {
    fn of(pid: u32) -> Option<Process> {
        stat(pid).map(|(_, start)| Process { pid, start })
    }

    /// Whether it still runs (a zombie is dead: it only waits to be reaped).
    fn runs(&self) -> bool {
        matches!(stat(self.pid), Some((state, start)) if start == self.start && state != 'Z')
    }

    fn wait_gone(&self, what: &str) {
        eventually(what, GONE_WITHIN, || (!self.runs()).then_some(()));
    }
}

/// Deploys `sleeper`, which writes its pid to `pid_file` and sleeps, and
/// starts an async call of it; the call's id and the function's process.
fn sleeping_call(gw: &Gateway, pid_file: &Path) -> (String, Process) {
    let script = format!("echo $$ > {}; exec sleep 300", pid_file.display());
    gw.deploy(json!({"service": "sleeper", "image": "x", "command": ["sh", "-c", script]}));
    let id = gw.call_async("sleeper", "");
    let process = eventually("the function's pid", Duration::from_secs(10), || {
        let pid = std::fs::read_to_string(pid_file)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Process::of(pid)
    });
    assert!(process.runs());
    (id, process)
}

/// The process groups `gw`'s journals in its data directory started and
/// did not end (`<pid>-<start>` each), and how many journals there are.
fn records(gw: &GatewayHandle) -> (Vec<String>, usize) {
    let Ok(entries) = std::fs::read_dir(gw.data_dir().join("processes")) else {
        return (Vec::new(), 0);
    };
    let journals: Vec<String> = entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .collect();
    let mut running = Vec::new();
    for line in journals.iter().flat_map(|text| text.lines()) {
        if let Some(started) = line.strip_prefix('+') {
            running.push(started.to_string());
        } else if let Some(ended) = line.strip_prefix('-') {
            running.retain(|r| r != ended);
        }
    }
    (running, journals.len())
}

#[test]
fn kill_9_of_the_gateway_kills_its_calls() {
    let mut gw = start_gateway(&[]);
    let (_, function) = sleeping_call(&gw, &gw.dir.0.join("function.pid"));
    let name = format!("{}-{}", function.pid, function.start);
    assert_eq!(
        records(&gw),
        (vec![name], 1),
        "the call's group is recorded"
    );
    gw.kill9();
    function.wait_gone("the killed gateway's function to be killed");
    eventually("its journal removed", GONE_WITHIN, || {
        (records(&gw).1 == 0).then_some(())
    });
}

/// The supervisor `gateway` started: its child running `gateway supervise`.
fn supervisor_of(gateway: u32) -> Process {
    let tasks = std::fs::read_dir(format!("/proc/{gateway}/task")).expect("the gateway's threads");
    let children: Vec<u32> = tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect();
    let supervisor = children.into_iter().find(|pid| {
        let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        argv.split(|b| *b == 0).nth(1) == Some(b"supervise")
    });
    supervisor
        .and_then(Process::of)
        .expect("the gateway runs a supervisor")
}

#[test]
fn a_restart_kills_what_a_gateway_and_its_supervisor_left() {
    let mut gw = start_gateway(&[]);
    let (id, function) = sleeping_call(&gw, &gw.dir.0.join("function.pid"));
    let supervisor = supervisor_of(gw.running.child.id());
    kill(Pid::from_raw(supervisor.pid as i32), Signal::SIGKILL).expect("kill the supervisor");
    supervisor.wait_gone("the supervisor to die");
    gw.kill9();
    assert!(function.runs(), "with no supervisor, the function is left");
    gw.restart();
    function.wait_gone("the restarted gateway to kill what was left");
    let record = gw.record(&id);
    assert_eq!(record["Status"], "FAILED", "{record}");
    assert_eq!(
        records(&gw),
        (vec![], 1),
        "only the new gateway's journal, empty"
    );
    let log = String::from_utf8_lossy(&gw.log()).into_owned();
    assert!(
        log.contains("calls an earlier run left running: 1, their process groups killed"),
        "{log}"
    );
}

/// The uid and gid of `nobody`, if this machine has one.
fn nobody() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields[..] {
            ["nobody", _, uid, gid, ..] => Some((uid.parse().ok()?, gid.parse().ok()?)),
            _ => None,
        }
    })
}

/// Whether this test runs as root (who may read any process's
/// environment, dumpable or not).
fn root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A process-backend gateway run as `user` (uid, gid), its password file
/// given by `FAAS_BASIC_AUTH_PASSWORD_FILE` as the tests' gateways get it;
/// `dir` is made the user's.
fn gateway_as(dir: &TempDir, (uid, gid): (u32, u32)) -> Running {
    let password = dir.0.join("password");
    std::fs::write(&password, format!("{PASSWORD}\n")).expect("the password file");
    for path in [&dir.0, &password] {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
    }
    let mut command = Command::new(binary("gateway"));
    command
        .args(["--backend", "process", "--port", "0", "--data-dir"])
        .arg(dir.0.join("data"))
        .env("FAAS_BASIC_AUTH_PASSWORD_FILE", &password)
        .env("RUST_LOG", "warn")
        .current_dir(&dir.0)
        .uid(uid)
        .gid(gid)
        .stderr(Stdio::null());
    Running::spawn(&mut command, gateway_port, std::io::sink())
}

#[test]
fn a_function_cannot_read_the_gateways_environment() {
    if !root() {
        let gw = start_gateway(&[]);
        return check_environment(&gw, gw.running.child.id());
    }
    let Some(user) = nobody() else {
        println!("skipped: running as root (who reads any environment) with no user `nobody` to run the gateway as");
        return;
    };
    let dir = TempDir::new("faas-gateway-user");
    let running = gateway_as(&dir, user);
    check_environment(&Gateway::at(running.port, PASSWORD), running.child.id());
}

/// A function of `gw` (whose process is `pid`) reads the gateway's
/// environment and another process's of its user; only the other's is
/// readable.
fn check_environment(gw: &Gateway, pid: u32) {
    let mut environ = Vec::new();
    if root() {
        // What is hidden is there: the password file's path.
        std::fs::File::open(format!("/proc/{pid}/environ"))
            .and_then(|mut f| f.read_to_end(&mut environ))
            .expect("root reads the gateway's environment");
        let text = String::from_utf8_lossy(&environ);
        assert!(text.contains("FAAS_BASIC_AUTH_PASSWORD_FILE="), "{text}");
    }
    // A process of the same user that is dumpable, as processes are,
    // shows its environment (`tr` reads the function's shell's): only the
    // gateway is kept out.
    let script = format!(
        "cat /proc/{pid}/environ 2>&1; echo \" gateway=$?\"; tr '\\0' '\\n' < /proc/$$/environ | grep -q '^PATH=' && echo other=read"
    );
    gw.deploy(json!({"service": "peek", "image": "x", "command": ["sh", "-c", script]}));
    let answer = gw.call("peek", "");
    let text = answer.text();
    assert_eq!(answer.status, 200, "{text}");
    assert!(text.contains("Permission denied"), "{text}");
    assert!(text.contains(" gateway=1"), "{text}");
    assert!(text.contains("other=read"), "{text}");
    assert!(!text.contains("FAAS_"), "{text}");
}

#[test]
fn an_explicit_runtime_stops_the_start() {
    let dir = TempDir::new("faas-process-runtime");
    let password = dir.0.join("password");
    std::fs::write(&password, format!("{PASSWORD}\n")).expect("the password file");
    let out = Command::new(binary("gateway"))
        .args(["--backend", "process", "--port", "0", "--runtime", "runsc"])
        .arg("--data-dir")
        .arg(dir.0.join("data"))
        .env("FAAS_BASIC_AUTH_PASSWORD_FILE", &password)
        .output()
        .expect("the gateway runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--runtime runsc: the process backend runs functions as local commands, in no container"),
        "{stderr}"
    );
}
