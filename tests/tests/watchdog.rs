//! End-to-end tests of `fwatchdog`: the real binary, real processes, real HTTP.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use faas_tests::watchdog::{processes, start_watchdog};
use faas_tests::{assert_lines, binary, client, eventually, send, TempDir};
use reqwest::Method;

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
fn random_bytes(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

/// Waits until `wd` runs `command` as its child (the call's fprocess has
/// started). Only the watchdog's own children count: another test's
/// process with the same command line is not this one's.
fn runs(wd: &faas_tests::watchdog::WatchdogHandle, command: &str) {
    eventually(command, Duration::from_secs(5), || {
        wd.children()
            .iter()
            .any(|(_, c)| c.trim_end() == command)
            .then_some(())
    });
}

/// Runs `fwatchdog` with only `vars` (and a TMPDIR) until it exits: its
/// exit code and STDERR.
fn run_to_exit(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let tmp = TempDir::new("fwatchdog-exit");
    let out = std::process::Command::new(binary("fwatchdog"))
        .env_clear()
        .env("TMPDIR", &tmp.0)
        .envs(vars.iter().copied())
        .output()
        .expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cat_round_trips_binary_payload() {
    let wd = start_watchdog(&[("fprocess", "cat")]);
    let payload = random_bytes(512 * 1024, 42);
    let answer = wd.post(payload.clone());
    assert_eq!(answer.status, 200);
    let seconds: f64 = answer
        .header("x-duration-seconds")
        .parse()
        .expect("a number");
    assert!(seconds > 0.0 && seconds < 30.0);
    assert_eq!(answer.body, payload);
}

#[test]
fn hundred_concurrent_requests_are_all_answered_correctly() {
    let wd = start_watchdog(&[("fprocess", "cat")]);
    let url = wd.url("/");
    let threads: Vec<_> = (0..100)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let body = format!("request number {i}");
                let answer = send(client().post(&url).body(body.clone()));
                (answer.status, answer.text(), body)
            })
        })
        .collect();
    for t in threads {
        let (status, text, sent) = t.join().expect("thread");
        assert_eq!(status, 200);
        assert_eq!(text, sent);
    }
}

#[test]
fn writing_before_reading_does_not_deadlock() {
    // 1 MiB out before reading 1 MiB in: both pipes must be served at once.
    let wd = start_watchdog(&[
        ("fprocess", "sh -c 'head -c 1048576 /dev/zero; wc -c'"),
        ("max_output_bytes", "2000000"),
    ]);
    let answer = wd.post(vec![7u8; 1024 * 1024]);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body.len(), 1024 * 1024 + "1048576\n".len());
    assert!(answer.body.ends_with(b"1048576\n"));
}

#[test]
fn fprocess_is_split_like_a_shell_without_a_shell() {
    let wd = start_watchdog(&[("fprocess", r#"printf '%s|' "a b" 'c'"#)]);
    assert_eq!(wd.request(Method::GET, "/").text(), "a b|c|");
}

#[test]
fn non_zero_exit_is_500_naming_the_status() {
    let wd = start_watchdog(&[("fprocess", "sh -c 'echo partial; exit 3'")]);
    let answer = wd.request(Method::POST, "/");
    assert_eq!(answer.status, 500);
    assert_eq!(answer.text(), "exit status 3\npartial\n");
}

#[test]
fn other_methods_get_405() {
    let wd = start_watchdog(&[("fprocess", "cat")]);
    for (method, status) in [
        (Method::OPTIONS, 405),
        (Method::TRACE, 405),
        (Method::GET, 200),
        (Method::POST, 200),
        (Method::PUT, 200),
        (Method::PATCH, 200),
        (Method::DELETE, 200),
    ] {
        assert_eq!(wd.request(method.clone(), "/").status, status, "{method}");
    }
}

#[test]
fn exec_timeout_kills_the_process_group() {
    // A duration no other test's process has: this run's own sleeps.
    let sleep = format!("sleep 4711.{}", std::process::id());
    let fprocess = format!("sh -c '{sleep} & {sleep}'");
    let wd = start_watchdog(&[("fprocess", &fprocess), ("exec_timeout", "500ms")]);
    let started = Instant::now();
    let answer = wd.request(Method::POST, "/");
    assert_eq!(answer.status, 504);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(answer.text().contains("exec_timeout"));
    let left = || -> Vec<String> {
        processes(None)
            .into_iter()
            .filter(|(_, c)| c.trim_end() == sleep)
            .map(|(_, c)| c)
            .collect()
    };
    eventually("no process left behind", Duration::from_millis(300), || {
        left().is_empty().then_some(())
    });
}

#[test]
fn max_inflight_answers_429_at_once() {
    let wd = start_watchdog(&[("fprocess", "sleep 2"), ("max_inflight", "1")]);
    let url = wd.url("/");
    let busy = std::thread::spawn(move || send(client().post(&url)).status);
    runs(&wd, "sleep 2");
    let started = Instant::now();
    assert_eq!(wd.request(Method::POST, "/").status, 429);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(busy.join().expect("thread"), 200);
}

#[test]
fn input_over_the_limit_is_413() {
    let wd = start_watchdog(&[("fprocess", "cat"), ("max_input_bytes", "100")]);
    assert_eq!(wd.post(vec![b'a'; 100]).status, 200);
    let refused = wd.post(vec![b'a'; 101]);
    assert_eq!(refused.status, 413);
    assert!(refused.text().contains("max_input_bytes"));
    // Chunked, so no Content-Length: the limit is enforced while streaming.
    let body = reqwest::blocking::Body::new(ChunkedReader(vec![b'a'; 120], 0));
    assert_eq!(wd.post(body).status, 413);
}

/// A reader of unknown length, so reqwest sends the body chunked.
struct ChunkedReader(Vec<u8>, usize);

impl Read for ChunkedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.0.len() - self.1).min(buf.len()).min(50);
        buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
        self.1 += n;
        Ok(n)
    }
}

#[test]
fn output_over_the_limit_is_502() {
    let wd = start_watchdog(&[
        ("fprocess", "head -c 5000 /dev/zero"),
        ("max_output_bytes", "4096"),
    ]);
    let answer = wd.request(Method::GET, "/");
    assert_eq!(answer.status, 502);
    assert!(answer.text().contains("max_output_bytes"));
}

#[test]
fn content_type_is_fixed_or_echoed() {
    let echoed: &[(&str, &str)] = &[("fprocess", "cat")];
    let fixed = &[("fprocess", "cat"), ("content_type", "application/json")];
    for (vars, sent, answered) in [
        (echoed, "application/x-thing", "application/x-thing"),
        (fixed, "text/plain", "application/json"),
    ] {
        let wd = start_watchdog(vars);
        let answer = send(
            client()
                .post(wd.url("/"))
                .header("content-type", sent)
                .body("{}"),
        );
        assert_eq!(answer.header("content-type"), answered, "{vars:?}");
    }
}

#[test]
fn cgi_headers_become_http_variables() {
    let wd = start_watchdog(&[("fprocess", "env")]);
    let env = send(
        client()
            .put(wd.url("/some/path?a=1&b=2"))
            .header("X-Call-Id", "abc-123")
            .body("12345"),
    )
    .text();
    assert_lines(
        &env,
        &[
            "Http_X_Call_Id=abc-123",
            "Http_Method=PUT",
            "Http_Path=/some/path",
            "Http_Query=a=1&b=2",
            "Http_Content_Length=5",
        ],
    );
    assert!(
        env.lines().any(|l| l.starts_with("Http_Host=127.0.0.1:")),
        "{env}"
    );
    let without = start_watchdog(&[("fprocess", "env"), ("cgi_headers", "false")]);
    let env = without.request(Method::GET, "/").text();
    assert!(!env.contains("Http_"), "{env}");
}

#[test]
fn a_gateway_token_admits_only_calls_carrying_it() {
    let wd = start_watchdog(&[
        ("fprocess", "env"),
        ("gateway_token", "the-right-token"),
        ("KEPT", "kept-value"),
    ]);
    let call = |token: Option<&str>| {
        let mut request = client().post(wd.url("/run?x=1")).body("in");
        if let Some(token) = token {
            request = request.header("X-Faas-Gateway-Token", token);
        }
        send(request)
    };
    for refused in [
        None,
        Some("a-wrong-token"),
        Some("the-right-token-"),
        Some(""),
    ] {
        let answer = call(refused);
        assert_eq!(answer.status, 403, "{refused:?}: {}", answer.text());
        assert_eq!(
            answer.text(),
            "this replica answers only the gateway: call the function through the gateway\n"
        );
    }
    // Readiness probes need no token.
    assert_eq!(wd.request(Method::GET, "/_/health").status, 200);

    let answer = call(Some("the-right-token"));
    assert_eq!(answer.status, 200, "{}", answer.text());
    let env = answer.text();
    assert_lines(&env, &["Http_Path=/run", "KEPT=kept-value"]);
    // Neither the header nor the variable reaches the function.
    assert!(!env.contains("the-right-token"), "{env}");
    assert!(!env.to_ascii_lowercase().contains("gateway_token"), "{env}");
    assert!(!env.contains("Http_X_Faas_Gateway_Token"), "{env}");
}

#[test]
fn without_a_gateway_token_every_call_is_answered() {
    let wd = start_watchdog(&[("fprocess", "env")]);
    assert_eq!(wd.post("in").status, 200);
    let answer = send(
        client()
            .post(wd.url("/"))
            .header("X-Faas-Gateway-Token", "anything"),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
}

#[test]
fn combine_output_and_write_debug() {
    let combined = start_watchdog(&[("fprocess", "sh -c 'echo out; echo err >&2'")]);
    assert_eq!(combined.request(Method::GET, "/").text(), "out\nerr\n");

    let mut apart = start_watchdog(&[
        ("fprocess", "sh -c 'cat; echo err >&2'"),
        ("combine_output", "false"),
        ("write_debug", "true"),
    ]);
    assert_eq!(
        apart.post("debug-input-marker").text(),
        "debug-input-marker"
    );
    let log = apart.terminate_and_read_log();
    assert!(log.contains("input: debug-input-marker"), "{log}");
    assert!(log.contains("err"), "{log}");
}

#[test]
fn lock_file_health_and_healthcheck() {
    let wd = start_watchdog(&[("fprocess", "cat")]);
    assert!(wd.lock_file().exists());
    assert_eq!(wd.request(Method::GET, "/_/health").status, 200);
    let check = |dir: &std::path::Path| {
        std::process::Command::new(binary("fwatchdog"))
            .arg("--run-healthcheck")
            .env("TMPDIR", dir)
            .status()
            .expect("runs")
            .success()
    };
    assert!(check(&wd.tmp.0));
    std::fs::remove_file(wd.lock_file()).expect("remove lock");
    assert_eq!(wd.request(Method::GET, "/_/health").status, 503);
    assert!(!check(&wd.tmp.0));

    let unlocked = start_watchdog(&[("fprocess", "cat"), ("suppress_lock", "true")]);
    assert!(!unlocked.lock_file().exists());
    assert_eq!(unlocked.request(Method::GET, "/_/health").status, 200);
}

#[test]
fn sigterm_drains_in_flight_and_refuses_new_connections() {
    let mut wd = start_watchdog(&[("fprocess", "sh -c 'sleep 1; echo finished'")]);
    let url = wd.url("/");
    let in_flight = std::thread::spawn(move || {
        let answer = send(client().post(&url));
        (answer.status, answer.text())
    });
    runs(&wd, "sh -c sleep 1; echo finished");
    wd.running.terminate();
    // Both within 200 ms of SIGTERM, while the call still runs.
    let soon = Duration::from_millis(200);
    eventually("the lock removed at SIGTERM", soon, || {
        (!wd.lock_file().exists()).then_some(())
    });
    eventually("new connections refused while draining", soon, || {
        TcpStream::connect(("127.0.0.1", wd.running.port))
            .is_err()
            .then_some(())
    });
    assert_eq!(
        in_flight.join().expect("thread"),
        (200, "finished\n".to_string())
    );
    let status = wd.running.child.wait().expect("exit");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn write_timeout_bounds_the_drain() {
    let mut wd = start_watchdog(&[("fprocess", "sleep 30"), ("write_timeout", "1s")]);
    let url = wd.url("/");
    std::thread::spawn(move || client().post(&url).send());
    runs(&wd, "sleep 30");
    let started = Instant::now();
    wd.running.terminate();
    let status = wd.running.child.wait().expect("exit");
    assert_eq!(status.code(), Some(0));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "{took:?}"
    );
}

#[test]
fn read_timeout_ends_a_stalled_body() {
    let wd = start_watchdog(&[("fprocess", "cat"), ("read_timeout", "1s")]);
    let mut stream = TcpStream::connect(("127.0.0.1", wd.running.port)).expect("connect");
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        .expect("write");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let started = Instant::now();
    let mut buf = [0u8; 512];
    let n = stream.read(&mut buf).expect("a response before 10 s");
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    assert!(head.contains("read_timeout"), "{head}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn port_variable_is_honoured() {
    // port=0: it answers on the port it names.
    let wd = start_watchdog(&[("fprocess", "cat")]);
    assert_eq!(wd.post("p").text(), "p");
    // Any other port is the one it binds: held here, it stops naming it.
    let held = TcpListener::bind("0.0.0.0:0").expect("a listener");
    let port = held.local_addr().expect("its address").port().to_string();
    let (code, err) = run_to_exit(&[("fprocess", "cat"), ("port", &port)]);
    assert_ne!(code, Some(0));
    assert!(
        err.contains(&format!("cannot listen on port {port}")),
        "{err}"
    );
}

#[test]
fn bad_configuration_stops_it_with_a_message() {
    let run = |vars: &[(&str, &str)]| run_to_exit(&[&[("port", "0")], vars].concat());
    let (code, err) = run(&[]);
    assert_ne!(code, Some(0));
    assert!(err.contains("fprocess is not set"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (code, err) = run(&[("fprocess", "cat"), ("exec_timeout", "forever")]);
    assert_ne!(code, Some(0));
    assert!(err.contains("exec_timeout"), "{err}");
    let (code, err) = run(&[("fprocess", "cat"), ("read_timeout", "10x")]);
    assert_ne!(code, Some(0));
    assert!(err.contains("read_timeout"), "{err}");
    let (code, err) = run(&[("fprocess", "cat"), ("mode", "streaming")]);
    assert_ne!(code, Some(0));
    assert!(
        err.contains("mode=\"streaming\" is not a watchdog mode"),
        "{err}"
    );
    let (code, err) = run(&[("fprocess", "server"), ("mode", "http")]);
    assert_ne!(code, Some(0));
    assert!(err.contains("mode=http needs upstream_url"), "{err}");
    let (code, err) = run(&[
        ("fprocess", "no-such-program-here"),
        ("mode", "http"),
        ("upstream_url", "http://127.0.0.1:5000"),
    ]);
    assert_ne!(code, Some(0));
    assert!(
        err.contains("cannot start fprocess \"no-such-program-here\""),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
