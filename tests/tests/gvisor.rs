//! End-to-end tests of functions in gVisor sandboxes on the `docker`
//! backend, on a real Docker Engine with the runtime `runsc`: each probe runs
//! as a function and reports from inside what it sees, so the tests prove
//! the sandbox, not the flag. Under `runsc` a call, cold or warm, sees
//! gVisor's kernel, none of the host's or the other functions' processes,
//! and is refused what gVisor refuses; the confinement of every function
//! container still holds; a function may ask for `runc` only where the
//! gateway allows it, and for no runtime the engine lacks; a call's outgoing
//! connections (to the host, to other services) answer. Each test skips
//! with a printed reason when the engine has no `runsc`, and fails when
//! `FAAS_REQUIRE_GVISOR=1`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use faas_tests::docker::{gvisor_or_skip, launcher_image};
use faas_tests::gateway::{start_docker_gateway, Gateway, GatewayHandle};
use faas_tests::{eventually, send};
use reqwest::Method;
use serde_json::{json, Value};

/// A gateway on the docker backend with `env` added; `None` (the test
/// skips) when the engine has no `runsc`.
fn gvisor_gateway(test: &str, env: &[(&str, &str)]) -> Option<GatewayHandle> {
    gvisor_or_skip(test).then(|| {
        launcher_image();
        start_docker_gateway(env)
    })
}

/// The kernel the host runs, as `/proc/version` names it.
fn host_kernel() -> String {
    let version = std::fs::read_to_string("/proc/version").expect("the host's /proc/version");
    version.trim_end().to_string()
}

/// A per-call function `name` on the sample image running `script` with
/// `sh -c`; `more` adds fields to the deployment.
fn probe(name: &str, script: &str, more: Value) -> Value {
    let mut spec = json!({"service": name, "image": "faas/sample-cat",
        "command": ["sh", "-c", format!("cat /proc/version; {script}")]});
    for (k, v) in more.as_object().expect("fields") {
        spec[k] = v.clone();
    }
    spec
}

/// What a call of a [`probe`] printed after the kernel's name, once it is
/// asserted the call answered 200 and ran on a kernel other than the
/// host's.
#[track_caller]
fn sandboxed(gw: &Gateway, name: &str) -> String {
    let (exit, seen) = sandboxed_failing(gw, name, 200);
    assert_eq!(exit, None);
    seen
}

/// As [`sandboxed`], of a call that answers `status`: its exit status, when
/// it failed (the line the watchdog puts first, `exit status <n>:`), and
/// what it printed after the kernel's name.
#[track_caller]
fn sandboxed_failing(gw: &Gateway, name: &str, status: u16) -> (Option<String>, String) {
    let answer = gw.call(name, "");
    let text = answer.text();
    assert_eq!(answer.status, status, "{name}: {text}");
    let (exit, text) = match exit_status(&text) {
        Some(code) => (
            Some(code),
            text.split_once('\n').map_or("", |(_, rest)| rest),
        ),
        None => (None, text.as_str()),
    };
    let (kernel, rest) = text.split_once('\n').unwrap_or((text, ""));
    assert_ne!(kernel, host_kernel(), "{name} ran on the host's kernel");
    assert!(kernel.starts_with("Linux version"), "{name}: {text}");
    eprintln!("{name} under {kernel}, exit status {exit:?}:\n{rest}");
    (exit, rest.to_string())
}

/// The exit status a failed call's answer names first (`exit status <n>`,
/// with a colon when output follows).
fn exit_status(answer: &str) -> Option<String> {
    let first = answer.lines().next()?.trim_end_matches(':');
    first.strip_prefix("exit status ").map(str::to_string)
}

/// Deploys `spec`, unanswered: the gateway's answer whole.
fn try_deploy(gw: &Gateway, spec: &Value) -> faas_tests::Answer {
    send(gw.admin(Method::POST, "/system/functions").json(spec))
}

#[test]
fn cold_and_warm_calls_see_gvisor_s_kernel() {
    let Some(gw) = gvisor_gateway("cold_and_warm_calls_see_gvisor_s_kernel", &[]) else {
        return;
    };
    // No runtime asked: the gateway's default, `auto`, is runsc here.
    let listed = gw.deploy(probe("kernel", "dmesg 2>&1 | head -n 5", json!({})));
    assert_eq!(listed["runtime"], "runsc", "{listed}");
    assert_eq!(gw.function("kernel")["runtime"], "runsc");
    for (call, hits) in [("cold", 0.0), ("warm", 1.0)] {
        if call == "warm" {
            gw.wait_warm("kernel");
        }
        // Under runc, dmesg is refused (no CAP_SYSLOG) and names the host's
        // boot; gVisor's kernel tells its own.
        let log = sandboxed(&gw, "kernel");
        assert!(log.contains("Starting gVisor"), "{call} call: {log}");
        assert_eq!(gw.function_metric("faas_pool_misses_total", "kernel"), 1.0);
        assert_eq!(
            gw.function_metric("faas_pool_hits_total", "kernel"),
            hits,
            "{call}"
        );
    }
}

/// A process of the test's own on the host, found by its unique argv[0].
struct Marker {
    child: Child,
    name: String,
}

impl Marker {
    fn start(name: String) -> Marker {
        let child = Command::new("sleep")
            .arg0(&name)
            .arg("120")
            .spawn()
            .expect("sleep starts");
        let cmdline = format!("/proc/{}/cmdline", child.id());
        eventually("the host to see its marker", Duration::from_secs(5), || {
            let seen = std::fs::read(&cmdline).unwrap_or_default();
            String::from_utf8_lossy(&seen).contains(&name).then_some(())
        });
        Marker { child, name }
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address of the engine's end of the network `name` (the host, as a
/// function there reaches it).
fn network_gateway(name: &str) -> String {
    let out = Command::new("docker")
        .args(["network", "inspect", name, "--format"])
        .arg("{{range .IPAM.Config}}{{.Gateway}} {{end}}")
        .output()
        .expect("docker network inspect");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .find(|a| a.contains('.'))
        .unwrap_or_else(|| panic!("no IPv4 gateway of {name}: {text}"))
        .to_string()
}

#[test]
fn the_host_s_and_other_functions_processes_are_invisible() {
    let test = "the_host_s_and_other_functions_processes_are_invisible";
    let Some(gw) = gvisor_gateway(test, &[]) else {
        return;
    };
    let host = Marker::start(format!("faas-host-marker-{}", std::process::id()));
    // Another function's call, running: it connects to the test, which
    // holds the connection, and its shell carries a marker as `$0`.
    let neighbour = format!("faas-neighbour-marker-{}", std::process::id());
    let host_end = network_gateway("faas-test-bridge");
    let listener = TcpListener::bind((host_end.as_str(), 0)).expect("a port");
    let address = format!(
        "{host_end}:{}",
        listener.local_addr().expect("its address").port()
    );
    gw.deploy(json!({"service": "neighbour", "image": "faas/sample-cat",
        "command": ["sh", "-c", "wget -q -O /dev/null http://$PEER/; sleep 30", neighbour],
        "envVars": {"PEER": address}, "timeout": 20, "labels": {"com.faas.pool": "false"}}));
    gw.call_async("neighbour", "");
    listener
        .set_nonblocking(true)
        .expect("a listener that polls");
    let mut held = eventually("the neighbour to connect", Duration::from_secs(30), || {
        listener.accept().ok().map(|(stream, _)| stream)
    });
    held.set_nonblocking(false).expect("a blocking stream");
    let mut request = [0u8; 4];
    held.read_exact(&mut request)
        .expect("the neighbour's request");

    gw.deploy(probe(
        "looker",
        "ps -o pid,args | sed 1d",
        json!({"labels": {"com.faas.pool": "false"}}),
    ));
    let seen = sandboxed(&gw, "looker");
    for marker in [&host.name, &neighbour] {
        assert!(
            !seen.contains(marker.as_str()),
            "{marker} is visible:\n{seen}"
        );
    }
    // Only its own few: the shell, ps and sed (busybox's, whose forks keep
    // the shell's command line).
    let processes: Vec<&str> = seen.lines().collect();
    assert!(
        (2..=4).contains(&processes.len()),
        "not only its own processes:\n{seen}"
    );
    assert!(
        processes
            .iter()
            .all(|p| p.contains("ps -o pid,args") || p.contains("sed 1d")),
        "not only its own processes:\n{seen}"
    );
}

/// A small HTTP server of the test's own: every request, whatever it asks,
/// is answered `200` with the body `answer <n>` (`n` counting from 1), and
/// the connection closed. It answers after [`HttpServer::THINKS`], as a
/// service that does some work: the client is then waiting for it.
struct HttpServer {
    address: String,
    served: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    const THINKS: Duration = Duration::from_millis(20);

    fn start(host: &str) -> HttpServer {
        let listener = TcpListener::bind((host, 0)).expect("a port");
        let address = format!(
            "{host}:{}",
            listener.local_addr().expect("its address").port()
        );
        let served = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopped) = (served.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                // The request's head, up to its blank line.
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                std::thread::sleep(HttpServer::THINKS);
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                let body = format!("answer {n}\n");
                let _ = write!(
                    stream,
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        HttpServer {
            address,
            served,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees `stop`.
        let _ = TcpStream::connect(&self.address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn outgoing_calls_from_a_function_answer() {
    let Some(gw) = gvisor_gateway("outgoing_calls_from_a_function_answer", &[]) else {
        return;
    };
    // A server on the host's end of the functions' network. Under runsc a
    // call's sockets are the host kernel's, always non-blocking there; the
    // sandbox must still make a blocking read wait for the answer (busybox
    // wget reads the status line with one), not hand the host's EAGAIN on
    // ("error getting response: Resource temporarily unavailable").
    let server = HttpServer::start(&network_gateway("faas-test-bridge"));
    let fetch = "i=0; while [ $i -lt 10 ]; do \
        wget -q -O- http://$PEER/ 2>&1 || echo \"fetch $i failed\"; i=$((i+1)); done";
    gw.deploy(probe(
        "fetcher",
        fetch,
        json!({"envVars": {"PEER": server.address}, "labels": {"com.faas.pool": "false"}}),
    ));
    let seen = sandboxed(&gw, "fetcher");
    let want: String = (1..=10).map(|n| format!("answer {n}\n")).collect();
    assert_eq!(seen, want, "ten fetches in a row");
    assert_eq!(server.served.load(Ordering::SeqCst), 10);
}

#[test]
fn what_gvisor_refuses_is_refused() {
    let Some(gw) = gvisor_gateway("what_gvisor_refuses_is_refused", &[]) else {
        return;
    };
    // A raw socket (ping); a kernel module; the kernel's log, which a
    // container has no device for, nor may make one that opens.
    let script = "ping -c 1 -W 1 127.0.0.1 >/dev/null 2>&1 && echo raw-socket || echo no-raw-socket; \
        printf 'not a module' > /tmp/m.ko; \
        insmod /tmp/m.ko 2>/dev/null && echo module-loaded || echo no-module; \
        test -c /dev/kmsg && echo kmsg-device || echo no-kmsg-device; \
        mknod /tmp/kmsg c 1 11 2>/dev/null; \
        (test -c /tmp/kmsg && echo faas > /tmp/kmsg) 2>/dev/null && echo kmsg-written || echo no-kmsg";
    gw.deploy(probe("refused", script, json!({})));
    let seen = sandboxed(&gw, "refused");
    assert_eq!(
        seen, "no-raw-socket\nno-module\nno-kmsg-device\nno-kmsg\n",
        "{seen}"
    );
}

#[test]
fn confinement_holds_under_gvisor() {
    let Some(gw) = gvisor_gateway("confinement_holds_under_gvisor", &[]) else {
        return;
    };
    let confined = "grep -E '^Cap(Eff|Prm)' /proc/self/status | tr -s '\\t' ' '; \
        (touch /root-file 2>/dev/null && echo root-writable) || echo root-read-only; \
        touch /tmp/x && echo tmp-writable; \
        echo uid=$(id -u)";
    gw.deploy(probe(
        "as-root",
        confined,
        json!({"readOnlyRootFilesystem": true}),
    ));
    let seen = sandboxed(&gw, "as-root");
    assert_eq!(
        seen,
        "CapPrm: 0000000000000000\nCapEff: 0000000000000000\n\
         root-read-only\ntmp-writable\nuid=0\n"
    );
    gw.deploy(probe(
        "as-user",
        confined,
        json!({"readOnlyRootFilesystem": true, "user": "1000:1000"}),
    ));
    let seen = sandboxed(&gw, "as-user");
    assert!(
        seen.ends_with("root-read-only\ntmp-writable\nuid=1000\n"),
        "{seen}"
    );

    // Beyond its memory limit the call ends as the engine's OOM killer
    // ends it. What the call printed may be lost with the sandbox, so a
    // first call, which allocates nothing, shows where it runs.
    let hog = "test \"$(cat)\" = hog || exit 0; \
        x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived ${#x}";
    gw.deploy(probe("hog", hog, json!({"limits": {"memory": "64m"}})));
    assert_eq!(sandboxed(&gw, "hog"), "");
    let killed = gw.call("hog", "hog");
    assert_eq!(killed.status, 500, "{}", killed.text());
    assert_eq!(
        exit_status(&killed.text()).as_deref(),
        Some("137"),
        "killed (SIGKILL): {}",
        killed.text()
    );
    assert!(!killed.text().contains("survived"), "{}", killed.text());

    // More processes than the pids limit (512): the call ends before they
    // are all started, at fewer than the limit. Under runc the 512th fork
    // fails and the shell exits; under runsc the engine's limit bounds the
    // sandbox's tasks on the host (its kernel, its gofer and, on the
    // ptrace platform, a stub per address space, several tasks for each
    // process inside), so the sandbox dies, far sooner: its kernel panics
    // when it cannot start another stub.
    let forks = "test \"$(cat)\" = fork || exit 0; \
        i=0; while [ $i -lt 600 ]; do sleep 30 & i=$((i+1)); echo $i; done; echo all-started";
    gw.deploy(probe("forks", forks, json!({})));
    assert_eq!(sandboxed(&gw, "forks"), "");
    let bounded = gw.call("forks", "fork");
    let seen = bounded.text();
    assert_eq!(bounded.status, 500, "{seen}");
    assert!(exit_status(&seen).is_some(), "{seen}");
    let started: u32 = seen
        .lines()
        .filter_map(|l| l.parse().ok())
        .max()
        .unwrap_or(0);
    eprintln!(
        "forks: {started} processes started, then {}",
        seen.lines().next().unwrap_or("")
    );
    assert!(!seen.contains("all-started"), "{seen}");
    assert!(started < 512, "{started} processes started");
}

#[test]
fn a_function_runs_on_runc_where_allowed() {
    let Some(gw) = gvisor_gateway(
        "a_function_runs_on_runc_where_allowed",
        &[("FAAS_ALLOW_RUNTIMES", "runc,runsc")],
    ) else {
        return;
    };
    let listed = gw.deploy(probe("on-runc", "true", json!({"runtime": "runc"})));
    assert_eq!(listed["runtime"], "runc", "{listed}");
    for _ in ["cold", "warm"] {
        let answer = gw.call("on-runc", "");
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.text().trim_end(), host_kernel());
        gw.wait_warm("on-runc");
    }
    // A runtime the engine lacks: the answer names those it has.
    let refused = try_deploy(
        &gw,
        &probe("ghost", "true", json!({"runtime": "faas-none"})),
    );
    refused.assert_says(400, "faas-none");
    let says = refused.one_line();
    assert!(says.contains("runc") && says.contains("runsc"), "{says}");
    assert_eq!(gw.get("/system/function/ghost").status, 404);
}

#[test]
fn a_runtime_not_allowed_is_refused() {
    let Some(gw) = gvisor_gateway(
        "a_runtime_not_allowed_is_refused",
        &[("FAAS_ALLOW_RUNTIMES", "runsc")],
    ) else {
        return;
    };
    let annotated = json!({"annotations": {"com.faas.runtime": "runc"}});
    for (name, more) in [
        ("runc", json!({"runtime": "runc"})),
        ("annotated", annotated),
    ] {
        let refused = try_deploy(&gw, &probe(name, "true", more));
        refused.assert_says(400, "runc");
        assert!(refused.one_line().contains("runsc"), "{}", refused.text());
        assert_eq!(gw.get(&format!("/system/function/{name}")).status, 404);
    }
    assert!(gw.functions().is_empty());
}
