//! What a client may hold of the gateway: a request head that is late is
//! cut at the header timeout (however it trickles), a body that stalls at
//! the body idle timeout and one that trickles below the minimum rate (408,
//! nothing recorded), a kept-alive connection at the idle timeout; past the
//! connection cap new connections are closed at once and the gateway still
//! answers once one frees up, and while slow clients hold every ordinary
//! connection the reserved ones still serve `/healthz` and the admin, and
//! nobody else. A call slower than all of these still answers. And the data
//! directory is private: 0700, its files 0600.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use faas_tests::gateway::{start_gateway, GatewayHandle, PASSWORD};
use faas_tests::{binary, eventually, gateway_port, Running, TempDir};
use serde_json::json;

fn connect(gw: &GatewayHandle) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", gw.running.port)).expect("a connection");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    stream
}

/// Everything `stream` reads until the gateway closes it; panics if it is
/// still open after `within`.
fn read_until_closed(stream: &mut TcpStream, within: Duration) -> String {
    let start = Instant::now();
    let mut read = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = within.saturating_sub(start.elapsed());
        assert!(
            !left.is_zero(),
            "still open after {within:?}; read {:?}",
            String::from_utf8_lossy(&read)
        );
        stream.set_read_timeout(Some(left)).expect("a read timeout");
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => read.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Reset: closed with unread data.
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&read).into_owned()
}

/// Reads one response (head and `Content-Length` body) from `stream`.
fn read_response(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout");
    let mut read = Vec::new();
    let mut byte = [0u8];
    while !read.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("the response head");
        read.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&read).into_owned();
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .expect("a Content-Length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("the response body");
    head + &String::from_utf8_lossy(&body)
}

/// Whether the gateway has closed `stream`, looking without waiting.
fn is_closed(mut stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).expect("non-blocking");
    let mut buf = [0u8; 16];
    let closed = match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    };
    stream.set_nonblocking(false).expect("blocking");
    closed
}

/// Asserts that the time since `start` is between `from` and `to`.
fn assert_took(start: Instant, from: Duration, to: Duration, what: &str) {
    let took = start.elapsed();
    assert!(
        from <= took && took <= to,
        "{what} after {took:?}, not between {from:?} and {to:?}"
    );
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n";
const HEALTHZ_ONCE: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n";

/// A gateway started with `env`, `cat` deployed on it.
fn with_cat(env: &[(&str, &str)]) -> GatewayHandle {
    let gw = start_gateway(env);
    gw.deploy(json!({"service": "cat", "image": "x", "command": ["cat"]}));
    gw
}

/// The head of `POST path` with a body of `length` bytes.
fn post_head(path: &str, length: usize) -> String {
    format!("POST {path} HTTP/1.1\r\nHost: gateway\r\nContent-Length: {length}\r\n\r\n")
}

#[test]
fn a_late_request_head_is_cut_at_the_header_timeout() {
    let gw = start_gateway(&[("FAAS_HEADER_TIMEOUT", "1"), ("FAAS_IDLE_TIMEOUT", "30")]);
    let start = Instant::now();
    let mut silent = connect(&gw);
    let mut partial = connect(&gw);
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n")
        .expect("half a head");
    // One byte every 100 ms: never idle, and never done.
    let mut trickling = connect(&gw);
    let mut writer = trickling.try_clone().expect("a second handle");
    std::thread::spawn(move || {
        let head = format!("GET /healthz HTTP/1.1\r\nX-Slow: {}", "a".repeat(200));
        for byte in head.as_bytes() {
            if writer.write_all(&[*byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    for (what, stream) in [
        ("a connection that sends nothing", &mut silent),
        ("a connection that sends half a head", &mut partial),
        ("a connection that trickles its head", &mut trickling),
    ] {
        let answer = read_until_closed(stream, Duration::from_secs(10));
        assert_took(
            start,
            Duration::from_millis(800),
            Duration::from_secs(5),
            what,
        );
        assert_eq!(answer, "", "{what}: closed without an answer");
    }
    let mut fresh = connect(&gw);
    fresh.write_all(HEALTHZ).expect("a request");
    assert!(read_response(&mut fresh).starts_with("HTTP/1.1 200"));
}

#[test]
fn a_stalled_body_ends_with_408_and_nothing_recorded() {
    let gw = with_cat(&[
        ("FAAS_BODY_IDLE_TIMEOUT", "1"),
        ("FAAS_HEADER_TIMEOUT", "30"),
        ("FAAS_IDLE_TIMEOUT", "30"),
    ]);
    for path in ["/async-function/cat", "/function/cat"] {
        let mut stream = connect(&gw);
        stream
            .write_all(post_head(path, 100).as_bytes())
            .expect("the head");
        stream.write_all(b"hello").expect("5 bytes of 100");
        let start = Instant::now();
        let answer = read_until_closed(&mut stream, Duration::from_secs(10));
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.contains("--body-idle-timeout"), "{answer}");
        assert_took(
            start,
            Duration::from_millis(800),
            Duration::from_secs(5),
            path,
        );
    }
    assert_eq!(gw.counts("cat")["Total"], 0, "no call was recorded");

    // A slow body that keeps sending is not cut: the time is idle time.
    let mut stream = connect(&gw);
    let head = post_head("/function/cat", 8);
    stream.write_all(head.as_bytes()).expect("the head");
    for byte in b"trickled" {
        std::thread::sleep(Duration::from_millis(400));
        stream.write_all(&[*byte]).expect("a byte");
    }
    let answer = read_response(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("\r\n\r\ntrickled"), "{answer}");
}

#[test]
fn an_idle_kept_alive_connection_is_closed_at_the_idle_timeout() {
    let gw = start_gateway(&[("FAAS_HEADER_TIMEOUT", "1"), ("FAAS_IDLE_TIMEOUT", "3")]);
    let mut stream = connect(&gw);
    stream.write_all(HEALTHZ).expect("a request");
    assert!(read_response(&mut stream).starts_with("HTTP/1.1 200"));
    // Idle longer than the header timeout, shorter than the idle timeout.
    std::thread::sleep(Duration::from_secs(2));
    stream.write_all(HEALTHZ).expect("a second request");
    assert!(read_response(&mut stream).starts_with("HTTP/1.1 200"));
    let start = Instant::now();
    let answer = read_until_closed(&mut stream, Duration::from_secs(15));
    assert_eq!(answer, "");
    assert_took(
        start,
        Duration::from_millis(2800),
        Duration::from_secs(7),
        "an idle connection closed",
    );
}

#[test]
fn a_call_longer_than_every_connection_timeout_still_answers() {
    let gw = start_gateway(&[
        ("FAAS_HEADER_TIMEOUT", "1"),
        ("FAAS_BODY_IDLE_TIMEOUT", "1"),
        ("FAAS_IDLE_TIMEOUT", "1"),
    ]);
    gw.deploy(json!({
        "service": "slow", "image": "x", "timeout": 30,
        "command": ["sh", "-c", "sleep 3; cat"],
    }));
    let mut stream = connect(&gw);
    let request = "POST /function/slow HTTP/1.1\r\nHost: gateway\r\nContent-Length: 4\r\n\r\nslow";
    stream.write_all(request.as_bytes()).expect("a request");
    let answer = read_response(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nslow"), "{answer}");

    // Waiting for an async call's output is a slow response too.
    let id = gw.call_async("slow", "later");
    let output = gw.wait_output(&id);
    assert_eq!((output.status, output.text().as_str()), (200, "later"));
}

#[test]
fn past_the_connection_cap_new_connections_close_at_once_and_a_freed_one_serves() {
    let gw = start_gateway(&[
        ("FAAS_MAX_CONNECTIONS", "20"),
        ("FAAS_RESERVED_CONNECTIONS", "0"),
        ("FAAS_HEADER_TIMEOUT", "60"),
    ]);
    let idle: Vec<TcpStream> = (0..50).map(|_| connect(&gw)).collect();
    eventually(
        "30 connections past the cap to be closed",
        Duration::from_secs(5),
        || (idle.iter().filter(|s| is_closed(s)).count() == 30).then_some(()),
    );
    let mut held: Vec<TcpStream> = idle
        .into_iter()
        .filter_map(|s| (!is_closed(&s)).then_some(s))
        .collect();
    assert_eq!(held.len(), 20);

    let start = Instant::now();
    let mut refused = connect(&gw);
    let _ = refused.write_all(HEALTHZ);
    let answer = read_until_closed(&mut refused, Duration::from_secs(5));
    assert_eq!(answer, "", "closed without an answer");
    assert_took(
        start,
        Duration::ZERO,
        Duration::from_secs(1),
        "closed at once",
    );

    drop(held.pop());
    let answer = eventually(
        "/healthz on a new connection",
        Duration::from_secs(5),
        || {
            let mut stream = connect(&gw);
            stream.write_all(HEALTHZ_ONCE).ok()?;
            let answer = read_until_closed(&mut stream, Duration::from_secs(5));
            (!answer.is_empty()).then_some(answer)
        },
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        held.iter().all(|s| !is_closed(s)),
        "the held ones stay open"
    );
}

/// Sends `head` and then the body's bytes one at a time, a byte every
/// `every`, from a thread, until the gateway closes the connection.
fn trickle(stream: &TcpStream, head: &str, every: Duration) {
    let mut writer = stream.try_clone().expect("a second handle");
    writer.write_all(head.as_bytes()).expect("the head");
    std::thread::spawn(move || loop {
        if writer.write_all(b"x").is_err() {
            return;
        }
        std::thread::sleep(every);
    });
}

#[test]
fn a_body_trickling_below_the_minimum_rate_ends_with_408_and_nothing_recorded() {
    // A byte a second never idles for the 10 s idle timeout, but falls
    // behind 100 bytes/s once the 2 s of grace are over.
    let grace = Duration::from_secs(2);
    let gw = with_cat(&[
        ("FAAS_BODY_MIN_RATE", "100"),
        ("FAAS_BODY_MIN_RATE_GRACE", "2"),
        ("FAAS_BODY_IDLE_TIMEOUT", "10"),
        ("FAAS_HEADER_TIMEOUT", "30"),
        ("FAAS_IDLE_TIMEOUT", "30"),
    ]);
    for path in ["/function/cat", "/async-function/cat"] {
        let mut stream = connect(&gw);
        let head = post_head(path, 10000);
        let start = Instant::now();
        trickle(&stream, &head, Duration::from_secs(1));
        let answer = read_until_closed(&mut stream, Duration::from_secs(30));
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.contains("--body-min-rate"), "{path}: {answer}");
        // Not before the grace, and not by the idle timeout, which a byte a
        // second never reaches.
        assert_took(start, grace, Duration::from_secs(9), path);
    }
    assert_eq!(gw.counts("cat")["Total"], 0, "no call was recorded");
}

fn basic(password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("admin:{password}"));
    format!("Basic {encoded}")
}

/// One request on a new connection, and what the gateway answers before it
/// closes it.
fn once(gw: &GatewayHandle, request: &str) -> String {
    let mut stream = connect(gw);
    stream.write_all(request.as_bytes()).expect("a request");
    read_until_closed(&mut stream, Duration::from_secs(10))
}

#[test]
fn slow_clients_filling_the_cap_leave_healthz_and_the_admin_their_reserved_room() {
    let mut gw = with_cat(&[
        // Four reserved: more than the admitted connections below, so one
        // not yet closed on the gateway's side never crowds out the next.
        ("FAAS_MAX_CONNECTIONS", "12"),
        ("FAAS_RESERVED_CONNECTIONS", "4"),
        // Long enough that no slow client is cut while the test runs.
        ("FAAS_HEADER_TIMEOUT", "120"),
        ("FAAS_BODY_IDLE_TIMEOUT", "120"),
        ("FAAS_BODY_MIN_RATE_GRACE", "120"),
    ]);
    // A new gateway on the same data: no connection of the deploy's is open.
    gw.restart();

    // Eight bodies trickling to an open route hold the ordinary room.
    let head = post_head("/function/cat", 100000);
    let bodies: Vec<TcpStream> = (0..8)
        .map(|_| {
            let stream = connect(&gw);
            trickle(&stream, &head, Duration::from_secs(2));
            stream
        })
        .collect();
    // Then a ninth: it finds the ordinary room full, and a reserved seat
    // admits no anonymous call.
    let ninth = once(&gw, &head);
    assert!(ninth.starts_with("HTTP/1.1 503"), "{ninth}");
    assert!(ninth.contains("FAAS_MAX_CONNECTIONS"), "{ninth}");
    // Heads trickling into the reserved room, more than it holds.
    let heads: Vec<TcpStream> = (0..6)
        .map(|_| {
            let stream = connect(&gw);
            trickle(
                &stream,
                "GET /healthz HTTP/1.1\r\nX-Slow: ",
                Duration::from_secs(2),
            );
            stream
        })
        .collect();
    eventually(
        "the trickled heads beyond the four reserved seats to be closed",
        Duration::from_secs(10),
        || (heads.iter().filter(|s| is_closed(s)).count() == 2).then_some(()),
    );

    // Every connection is taken by a slow client, yet:
    let health = once(&gw, "GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let admin = format!(
        "GET /system/functions HTTP/1.1\r\nHost: gateway\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
        basic(PASSWORD)
    );
    let listed = once(&gw, &admin);
    assert!(listed.starts_with("HTTP/1.1 200"), "{listed}");
    assert!(listed.contains("\"cat\""), "{listed}");
    // An authenticated call, on a kept-alive connection: it keeps its seat.
    let mut kept = connect(&gw);
    let call = format!(
        "POST /function/cat HTTP/1.1\r\nHost: gateway\r\nAuthorization: {}\r\nContent-Length: 2\r\n\r\nhi",
        basic(PASSWORD)
    );
    kept.write_all(call.as_bytes()).expect("a call");
    let answer = read_response(&mut kept);
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("hi"),
        "{answer}"
    );
    kept.write_all(call.as_bytes()).expect("a second call");
    assert!(read_response(&mut kept).starts_with("HTTP/1.1 200"));

    // Nobody else: no credentials, or wrong ones.
    let anonymous = once(
        &gw,
        "GET /system/openapi.json HTTP/1.1\r\nHost: gateway\r\n\r\n",
    );
    assert!(anonymous.starts_with("HTTP/1.1 503"), "{anonymous}");
    let wrong = format!(
        "GET /system/functions HTTP/1.1\r\nHost: gateway\r\nAuthorization: {}\r\n\r\n",
        basic("wrong")
    );
    let refused = once(&gw, &wrong);
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");

    assert!(
        bodies.iter().all(|s| !is_closed(s)),
        "the slow bodies held their connections throughout"
    );
}

fn mode(path: &Path) -> u32 {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    meta.permissions().mode() & 0o777
}

const FILES: [&str; 5] = [
    "faas.db",
    "faas.db-wal",
    "faas.db-shm",
    "gateway-id",
    "admin-password",
];

fn assert_private(data: &Path) {
    assert_eq!(mode(data), 0o700, "{}", data.display());
    for name in FILES {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
}

/// The gateway on `data` with no password file, so that it generates one.
fn start_generating_password(data: &Path) -> Running {
    let mut command = Command::new(binary("gateway"));
    command
        .args(["--backend", "process", "--port", "0", "--data-dir"])
        .arg(data)
        .env_remove("FAAS_BASIC_AUTH_PASSWORD_FILE")
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null());
    Running::spawn(&mut command, gateway_port, std::io::sink())
}

#[test]
fn the_data_directory_is_private_and_looser_modes_are_corrected() {
    let dir = TempDir::new("faas-private");
    let data = dir.0.join("data");
    let gateway = start_generating_password(&data);
    assert_private(&data);
    drop(gateway);

    let loosen = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    loosen(&data, 0o755);
    for name in FILES {
        loosen(&data.join(name), 0o644);
    }
    let _gateway = start_generating_password(&data);
    assert_private(&data);
}
