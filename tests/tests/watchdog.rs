//! End-to-end tests of `fwatchdog`: the real binary, real processes, real HTTP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use faas_tests::{binary, client, watchdog, TempDir};

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

/// Command lines of the processes now running.
fn process_cmdlines() -> Vec<String> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if let Ok(raw) = std::fs::read(entry.path().join("cmdline")) {
            lines.push(String::from_utf8_lossy(&raw).replace('\0', " "));
        }
    }
    lines
}

#[test]
fn cat_round_trips_binary_payload() {
    let (wd, _tmp) = watchdog(&[("fprocess", "cat")]);
    let payload = random_bytes(512 * 1024, 42);
    let resp = client()
        .post(wd.url("/"))
        .body(payload.clone())
        .send()
        .expect("response");
    assert_eq!(resp.status(), 200);
    let seconds: f64 = resp
        .headers()
        .get("x-duration-seconds")
        .expect("X-Duration-Seconds")
        .to_str()
        .expect("ascii")
        .parse()
        .expect("a number");
    assert!(seconds > 0.0 && seconds < 30.0);
    assert_eq!(resp.bytes().expect("body").as_ref(), &payload[..]);
}

#[test]
fn hundred_concurrent_requests_are_all_answered_correctly() {
    let (wd, _tmp) = watchdog(&[("fprocess", "cat")]);
    let url = wd.url("/");
    let threads: Vec<_> = (0..100)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let body = format!("request number {i}");
                let resp = client()
                    .post(&url)
                    .body(body.clone())
                    .send()
                    .expect("response");
                (resp.status().as_u16(), resp.text().expect("text"), body)
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
    let (wd, _tmp) = watchdog(&[
        ("fprocess", "sh -c 'head -c 1048576 /dev/zero; wc -c'"),
        ("max_output_bytes", "2000000"),
    ]);
    let resp = client()
        .post(wd.url("/"))
        .body(vec![7u8; 1024 * 1024])
        .send()
        .expect("response");
    assert_eq!(resp.status(), 200);
    let body = resp.bytes().expect("body");
    assert_eq!(body.len(), 1024 * 1024 + "1048576\n".len());
    assert!(body.ends_with(b"1048576\n"));
}

#[test]
fn fprocess_is_split_like_a_shell_without_a_shell() {
    let (wd, _tmp) = watchdog(&[("fprocess", r#"printf '%s|' "a b" 'c'"#)]);
    let resp = client().get(wd.url("/")).send().expect("response");
    assert_eq!(resp.text().expect("text"), "a b|c|");
}

#[test]
fn non_zero_exit_is_500_naming_the_status() {
    let (wd, _tmp) = watchdog(&[("fprocess", "sh -c 'echo partial; exit 3'")]);
    let resp = client().post(wd.url("/")).send().expect("response");
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.text().expect("text"), "exit status 3\npartial\n");
}

#[test]
fn other_methods_get_405() {
    let (wd, _tmp) = watchdog(&[("fprocess", "cat")]);
    for method in ["OPTIONS", "TRACE"] {
        let resp = client()
            .request(method.parse().expect("method"), wd.url("/"))
            .send()
            .expect("response");
        assert_eq!(resp.status(), 405, "{method}");
    }
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        let resp = client()
            .request(method.parse().expect("method"), wd.url("/"))
            .send()
            .expect("response");
        assert_eq!(resp.status(), 200, "{method}");
    }
}

#[test]
fn exec_timeout_kills_the_process_group() {
    let (wd, _tmp) = watchdog(&[
        ("fprocess", "sh -c 'sleep 4711 & sleep 4711'"),
        ("exec_timeout", "500ms"),
    ]);
    let started = Instant::now();
    let resp = client().post(wd.url("/")).send().expect("response");
    assert_eq!(resp.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(resp.text().expect("text").contains("exec_timeout"));
    std::thread::sleep(Duration::from_millis(300));
    let left: Vec<String> = process_cmdlines()
        .into_iter()
        .filter(|c| c.contains("sleep 4711"))
        .collect();
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
fn max_inflight_answers_429_at_once() {
    let (wd, _tmp) = watchdog(&[("fprocess", "sleep 2"), ("max_inflight", "1")]);
    let url = wd.url("/");
    let busy = std::thread::spawn(move || client().post(&url).send().expect("response").status());
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let resp = client().post(wd.url("/")).send().expect("response");
    assert_eq!(resp.status(), 429);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(busy.join().expect("thread"), 200);
}

#[test]
fn input_over_the_limit_is_413() {
    let (wd, _tmp) = watchdog(&[("fprocess", "cat"), ("max_input_bytes", "100")]);
    let ok = client()
        .post(wd.url("/"))
        .body(vec![b'a'; 100])
        .send()
        .expect("response");
    assert_eq!(ok.status(), 200);
    let resp = client()
        .post(wd.url("/"))
        .body(vec![b'a'; 101])
        .send()
        .expect("response");
    assert_eq!(resp.status(), 413);
    assert!(resp.text().expect("text").contains("max_input_bytes"));
    // Chunked, so no Content-Length: the limit is enforced while streaming.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(vec![b'a'; 60]), Ok(vec![b'a'; 60])];
    let body = reqwest::blocking::Body::new(ChunkedReader(
        chunks.into_iter().flatten().flatten().collect(),
        0,
    ));
    let resp = client()
        .post(wd.url("/"))
        .body(body)
        .send()
        .expect("response");
    assert_eq!(resp.status(), 413);
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
    let (wd, _tmp) = watchdog(&[
        ("fprocess", "head -c 5000 /dev/zero"),
        ("max_output_bytes", "4096"),
    ]);
    let resp = client().get(wd.url("/")).send().expect("response");
    assert_eq!(resp.status(), 502);
    assert!(resp.text().expect("text").contains("max_output_bytes"));
}

#[test]
fn content_type_is_fixed_or_echoed() {
    let (wd, _tmp) = watchdog(&[("fprocess", "cat")]);
    let resp = client()
        .post(wd.url("/"))
        .header("content-type", "application/x-thing")
        .body("x")
        .send()
        .expect("response");
    assert_eq!(resp.headers()["content-type"], "application/x-thing");
    let (wd, _tmp) = watchdog(&[("fprocess", "cat"), ("content_type", "application/json")]);
    let resp = client()
        .post(wd.url("/"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .expect("response");
    assert_eq!(resp.headers()["content-type"], "application/json");
}

#[test]
fn cgi_headers_become_http_variables() {
    let (wd, _tmp) = watchdog(&[("fprocess", "env")]);
    let resp = client()
        .put(wd.url("/some/path?a=1&b=2"))
        .header("X-Call-Id", "abc-123")
        .body("12345")
        .send()
        .expect("response");
    let env = resp.text().expect("text");
    for line in [
        "Http_X_Call_Id=abc-123",
        "Http_Method=PUT",
        "Http_Path=/some/path",
        "Http_Query=a=1&b=2",
        "Http_Content_Length=5",
    ] {
        assert!(env.lines().any(|l| l == line), "{line} missing in:\n{env}");
    }
    assert!(
        env.lines().any(|l| l.starts_with("Http_Host=127.0.0.1:")),
        "{env}"
    );
    let (wd, _tmp) = watchdog(&[("fprocess", "env"), ("cgi_headers", "false")]);
    let env = client()
        .get(wd.url("/"))
        .send()
        .expect("response")
        .text()
        .expect("text");
    assert!(!env.contains("Http_"), "{env}");
}

#[test]
fn combine_output_and_write_debug() {
    let (wd, _tmp) = watchdog(&[("fprocess", "sh -c 'echo out; echo err >&2'")]);
    let text = client()
        .get(wd.url("/"))
        .send()
        .expect("response")
        .text()
        .expect("text");
    assert_eq!(text, "out\nerr\n");

    let (mut wd, _tmp) = watchdog(&[
        ("fprocess", "sh -c 'cat; echo err >&2'"),
        ("combine_output", "false"),
        ("write_debug", "true"),
    ]);
    let text = client()
        .post(wd.url("/"))
        .body("debug-input-marker")
        .send()
        .expect("response")
        .text()
        .expect("text");
    assert_eq!(text, "debug-input-marker");
    wd.terminate();
    let mut log = String::new();
    wd.child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut log)
        .expect("log");
    assert!(log.contains("input: debug-input-marker"), "{log}");
    assert!(log.contains("err"), "{log}");
}

#[test]
fn lock_file_health_and_healthcheck() {
    let (wd, tmp) = watchdog(&[("fprocess", "cat")]);
    let lock = tmp.0.join(".lock");
    assert!(lock.exists());
    assert_eq!(
        client()
            .get(wd.url("/_/health"))
            .send()
            .expect("response")
            .status(),
        200
    );
    let check = |dir: &std::path::Path| {
        std::process::Command::new(binary("fwatchdog"))
            .arg("--run-healthcheck")
            .env("TMPDIR", dir)
            .status()
            .expect("runs")
            .success()
    };
    assert!(check(&tmp.0));
    std::fs::remove_file(&lock).expect("remove lock");
    assert_eq!(
        client()
            .get(wd.url("/_/health"))
            .send()
            .expect("response")
            .status(),
        503
    );
    assert!(!check(&tmp.0));

    let (wd, tmp) = watchdog(&[("fprocess", "cat"), ("suppress_lock", "true")]);
    assert!(!tmp.0.join(".lock").exists());
    assert_eq!(
        client()
            .get(wd.url("/_/health"))
            .send()
            .expect("response")
            .status(),
        200
    );
}

#[test]
fn sigterm_drains_in_flight_and_refuses_new_connections() {
    let (mut wd, tmp) = watchdog(&[("fprocess", "sh -c 'sleep 1; echo finished'")]);
    let url = wd.url("/");
    let in_flight = std::thread::spawn(move || {
        let resp = client().post(&url).send().expect("response");
        (resp.status().as_u16(), resp.text().expect("text"))
    });
    std::thread::sleep(Duration::from_millis(300));
    wd.terminate();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !tmp.0.join(".lock").exists(),
        "the lock is removed at SIGTERM"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", wd.port)).is_err(),
        "new connections are refused while draining"
    );
    assert_eq!(
        in_flight.join().expect("thread"),
        (200, "finished\n".to_string())
    );
    let status = wd.child.wait().expect("exit");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn write_timeout_bounds_the_drain() {
    let (mut wd, _tmp) = watchdog(&[("fprocess", "sleep 30"), ("write_timeout", "1s")]);
    let url = wd.url("/");
    std::thread::spawn(move || client().post(&url).send());
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    wd.terminate();
    let status = wd.child.wait().expect("exit");
    assert_eq!(status.code(), Some(0));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "{took:?}"
    );
}

#[test]
fn read_timeout_ends_a_stalled_body() {
    let (wd, _tmp) = watchdog(&[("fprocess", "cat"), ("read_timeout", "1s")]);
    let mut stream = TcpStream::connect(("127.0.0.1", wd.port)).expect("connect");
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
    // `watchdog` starts it on the `port` it chose; a request proves it listens there.
    let (wd, _tmp) = watchdog(&[("fprocess", "cat")]);
    assert_eq!(
        client()
            .post(wd.url("/"))
            .body("p")
            .send()
            .expect("response")
            .text()
            .expect("text"),
        "p"
    );
}

#[test]
fn bad_configuration_stops_it_with_a_message() {
    let tmp = TempDir::new("badconfig");
    let run = |vars: &[(&str, &str)]| {
        let out = std::process::Command::new(binary("fwatchdog"))
            .env_clear()
            .env("TMPDIR", &tmp.0)
            .env("port", "0")
            .envs(vars.iter().copied())
            .output()
            .expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
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
}
