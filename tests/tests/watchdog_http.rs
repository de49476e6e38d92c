//! End-to-end tests of `fwatchdog` in http mode: the real binary, its real
//! `fprocess` (the sample `http-echo`, or an upstream this test holds on a
//! socket of its own, to see exactly what is passed on), real HTTP.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

use faas_tests::watchdog::{start_watchdog, WatchdogHandle};
use faas_tests::{binary, client, eventually, send, Answer};
use reqwest::Method;

/// Longest wait for any one read from a socket.
const READ: Duration = Duration::from_secs(10);

/// A port nothing listens on now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    listener.local_addr().expect("its address").port()
}

/// `fwatchdog` in http mode with `fprocess` and `vars`, passing requests
/// to `http://127.0.0.1:<port><path>`.
fn http_watchdog(fprocess: &str, upstream: &str, vars: &[(&str, &str)]) -> WatchdogHandle {
    let base = [
        ("mode", "http"),
        ("fprocess", fprocess),
        ("upstream_url", upstream),
    ];
    start_watchdog(&[&base[..], vars].concat())
}

/// `fwatchdog` in http mode with the sample `http-echo` as `fprocess`,
/// once its health says the echo server accepts connections.
fn echo_watchdog(vars: &[(&str, &str)]) -> WatchdogHandle {
    let port = free_port();
    let fprocess = format!("{} 127.0.0.1:{port}", binary("http-echo").display());
    let wd = http_watchdog(&fprocess, &format!("http://127.0.0.1:{port}"), vars);
    eventually(
        "the echo server to be ready",
        Duration::from_secs(10),
        || (health(&wd) == 200).then_some(()),
    );
    wd
}

fn health(wd: &WatchdogHandle) -> u16 {
    wd.request(Method::GET, "/_/health").status
}

/// An upstream server this test plays itself; `fprocess` only sleeps.
struct Upstream {
    listener: TcpListener,
}

impl Upstream {
    fn bind() -> Upstream {
        Upstream {
            listener: TcpListener::bind("127.0.0.1:0").expect("a port"),
        }
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().expect("its address").port()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port())
    }

    /// The next request's connection and its head, skipping connections
    /// closed without a request (the watchdog's readiness probes).
    fn next_request(&self) -> (TcpStream, String) {
        loop {
            let (mut conn, _) = self.listener.accept().expect("a connection");
            conn.set_read_timeout(Some(READ)).expect("a read timeout");
            let mut head = Vec::new();
            if read_until(&mut conn, &mut head, b"\r\n\r\n") {
                return (conn, String::from_utf8_lossy(&head).into_owned());
            }
        }
    }
}

/// Reads from `stream` into `got` until it holds `wanted`; false when the
/// stream ends first.
fn read_until(stream: &mut TcpStream, got: &mut Vec<u8>, wanted: &[u8]) -> bool {
    let mut buf = [0; 4096];
    while !got.windows(wanted.len()).any(|w| w == wanted) {
        match stream.read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(err) => panic!("reading while waiting for {wanted:?}: {err}"),
        }
    }
    true
}

/// The value of header `name` (lower case) in an HTTP head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then_some(value.trim())
    })
}

/// `fwatchdog` in http mode with `vars` in front of an upstream this test
/// plays, and a POST to it, answered on its own thread, once the upstream
/// holds it: the connection it came on, the upstream's side.
fn held_call(vars: &[(&str, &str)]) -> (WatchdogHandle, JoinHandle<Answer>, TcpStream) {
    let upstream = Upstream::bind();
    let wd = http_watchdog("sleep 600", &upstream.url(""), vars);
    let request = client().post(wd.url("/")).body("held");
    let caller = std::thread::spawn(move || send(request));
    let (conn, _) = upstream.next_request();
    (wd, caller, conn)
}

#[test]
fn request_and_response_stream_both_ways() {
    let wd = echo_watchdog(&[]);
    let mut conn = TcpStream::connect(("127.0.0.1", wd.running.port)).expect("connects");
    conn.set_read_timeout(Some(READ)).expect("a read timeout");
    conn.write_all(
        b"POST / HTTP/1.1\r\nHost: wd\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst.\r\n",
    )
    .expect("writes");
    // The first chunk comes back while the request is still open.
    let mut got = Vec::new();
    assert!(read_until(&mut conn, &mut got, b"first."));
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"), "{got:?}");
    conn.write_all(b"7\r\nsecond.\r\n").expect("writes");
    assert!(read_until(&mut conn, &mut got, b"second."));
    conn.write_all(b"0\r\n\r\n").expect("writes");
    assert!(read_until(&mut conn, &mut got, b"\r\n0\r\n\r\n"));

    // A body larger than the fork mode's limits, whole and unchanged.
    let payload: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
    let answer = wd.post(payload.clone());
    assert_eq!(answer.status, 200);
    assert!(answer.body == payload, "the body came back changed");
    assert!(answer.header("x-duration-seconds").parse::<f64>().is_ok());
}

#[test]
fn headers_pass_through_but_hop_by_hop_ones() {
    let upstream = Upstream::bind();
    let wd = http_watchdog("sleep 600", &upstream.url("/base"), &[]);
    let port = wd.running.port;
    let caller = std::thread::spawn(move || {
        let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connects");
        conn.set_read_timeout(Some(READ)).expect("a read timeout");
        conn.write_all(
            b"GET /p?q=1 HTTP/1.1\r\nHost: front.example\r\nX-Custom: a\r\n\
              Connection: keep-alive, x-hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\n\
              X-Forwarded-For: 10.0.0.1\r\n\r\n",
        )
        .expect("writes");
        let mut got = Vec::new();
        assert!(read_until(&mut conn, &mut got, b"\r\n\r\nok"));
        String::from_utf8_lossy(&got).into_owned()
    });
    let (mut conn, head) = upstream.next_request();
    assert!(head.starts_with("GET /base/p?q=1 HTTP/1.1\r\n"), "{head}");
    let host = format!("127.0.0.1:{}", upstream.port());
    assert_eq!(header(&head, "host"), Some(host.as_str()), "{head}");
    assert_eq!(header(&head, "x-custom"), Some("a"), "{head}");
    assert_eq!(
        header(&head, "x-forwarded-for"),
        Some("10.0.0.1, 127.0.0.1"),
        "{head}"
    );
    assert_eq!(
        header(&head, "x-forwarded-host"),
        Some("front.example"),
        "{head}"
    );
    assert_eq!(header(&head, "x-forwarded-proto"), Some("http"), "{head}");
    for hop in ["x-hop", "keep-alive"] {
        assert_eq!(header(&head, hop), None, "{head}");
    }
    conn.write_all(
        b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-Answer: b\r\n\
          Connection: close, x-hop-back\r\nX-Hop-Back: 1\r\n\r\nok",
    )
    .expect("writes");
    let answer = caller.join().expect("the caller");
    assert!(answer.starts_with("HTTP/1.1 201 Created\r\n"), "{answer}");
    assert_eq!(header(&answer, "x-answer"), Some("b"), "{answer}");
    assert_eq!(header(&answer, "x-hop-back"), None, "{answer}");
    assert!(header(&answer, "x-duration-seconds").is_some(), "{answer}");
}

#[test]
fn exec_timeout_cuts_the_upstream_request_and_answers_504() {
    let (_wd, caller, mut conn) = held_call(&[("exec_timeout", "500ms")]);
    let answer = caller.join().expect("the caller");
    answer.assert_says(
        504,
        "timed out after 500ms (exec_timeout); the request to fprocess was cut",
    );
    // The upstream sees its request end: the connection closes.
    let mut rest = Vec::new();
    match conn.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(err) => assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}"),
    }
}

#[test]
fn max_inflight_answers_429_above_it() {
    let (wd, first, mut conn) = held_call(&[("max_inflight", "1")]);
    wd.post("second").assert_says(429, "max_inflight");
    conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\na")
        .expect("writes");
    let answer = first.join().expect("the first caller");
    assert_eq!((answer.status, answer.text().as_str()), (200, "a"));
}

#[test]
fn an_upstream_that_is_not_there_is_502_and_one_that_exits_is_started_again() {
    let port = free_port();
    let wd = http_watchdog("sleep 600", &format!("http://127.0.0.1:{port}"), &[]);
    wd.post("x").assert_says(
        502,
        &format!("cannot connect to fprocess at http://127.0.0.1:{port}"),
    );
    assert_eq!(health(&wd), 503);
    drop(wd);

    let mut wd = echo_watchdog(&[]);
    let first = wd.children();
    assert_eq!(first.len(), 1, "{first:?}");
    let pid = nix::unistd::Pid::from_raw(first[0].0 as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("kills");
    let again = eventually(
        "fprocess to be started again",
        Duration::from_secs(10),
        || {
            let children = wd.children();
            let again = children
                .iter()
                .find(|(p, c)| *p != first[0].0 && *c == first[0].1)?;
            (health(&wd) == 200).then_some(again.0)
        },
    );
    let answer = wd.post("again");
    assert_eq!((answer.status, answer.text().as_str()), (200, "again"));
    let log = wd.terminate_and_read_log();
    assert!(
        log.contains(&format!(
            "fprocess (pid {}) was killed by SIGKILL; starting it again",
            first[0].0
        )),
        "{log}"
    );
    // At SIGTERM the watchdog stops its fprocess.
    eventually(
        "fprocess to stop with the watchdog",
        Duration::from_secs(10),
        || {
            let cmdline = std::fs::read(format!("/proc/{again}/cmdline")).unwrap_or_default();
            cmdline.is_empty().then_some(())
        },
    );
}

#[test]
fn health_follows_the_upstream_and_the_lock_file() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let wd = http_watchdog("sleep 600", &url, &[]);
    assert_eq!(health(&wd), 503);
    assert!(!wd.lock_file().exists());
    let _listening = TcpListener::bind(("127.0.0.1", port)).expect("the port is still free");
    eventually(
        "health once the upstream accepts",
        Duration::from_secs(10),
        || (health(&wd) == 200).then_some(()),
    );
    assert!(wd.lock_file().exists());
    std::fs::remove_file(wd.lock_file()).expect("removes the lock");
    assert_eq!(health(&wd), 503);

    let suppressed = http_watchdog("sleep 600", &url, &[("suppress_lock", "true")]);
    eventually(
        "health without a lock file",
        Duration::from_secs(10),
        || (health(&suppressed) == 200).then_some(()),
    );
    assert!(!suppressed.lock_file().exists());
}

#[test]
fn sigterm_turns_health_off_for_healthcheck_interval_while_still_serving() {
    let mut wd = echo_watchdog(&[("healthcheck_interval", "3s")]);
    wd.running.terminate();
    eventually("health to turn 503", Duration::from_secs(2), || {
        (health(&wd) == 503).then_some(())
    });
    assert!(!wd.lock_file().exists());
    let answer = wd.post("still served");
    assert_eq!(
        (answer.status, answer.text().as_str()),
        (200, "still served")
    );
    let status = wd.running.child.wait().expect("it exits");
    assert!(status.success(), "{status:?}");
}
