//! `X-Callback-Url` end to end: the result reaches an allowed receiver over
//! http and https, with retries; the gateway's own host and private
//! networks are refused at acceptance, with nothing recorded; each delivery
//! is logged in the call's events.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use faas_tests::gateway::{start_gateway, GatewayHandle};
use faas_tests::{eventually, Answer, TempDir};
use serde_json::json;

/// One request as a receiver read it.
struct Received {
    /// The request line and the headers, lowercase.
    head: Vec<String>,
    body: Vec<u8>,
}

impl Received {
    fn has(&self, header: &str) -> bool {
        self.head.iter().any(|h| h.trim() == header)
    }
}

/// Reads one request from `stream` and answers `status` to it.
fn receive(stream: &mut (impl Read + Write), status: &str) -> Received {
    let mut reader = BufReader::new(&mut *stream);
    let mut head = Vec::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("a header line");
        if line == "\r\n" || line.is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().expect("a length");
        }
        head.push(lower);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("the body");
    let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let _ = stream.write_all(answer.as_bytes());
    let _ = stream.flush();
    Received { head, body }
}

/// A plain-http receiver answering `statuses` to its first requests.
fn receiver(statuses: &'static [&'static str]) -> (u16, JoinHandle<Vec<Received>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a listener");
    let port = listener.local_addr().expect("its address").port();
    let thread = std::thread::spawn(move || {
        let mut received = Vec::new();
        for status in statuses {
            let (mut stream, _) = listener.accept().expect("a delivery");
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("a timeout");
            received.push(receive(&mut stream, status));
        }
        received
    });
    (port, thread)
}

/// Calls `up` asynchronously with `url` as its callback.
fn with_callback(gw: &GatewayHandle, url: &str) -> Answer {
    gw.post_with("/async-function/up", ("X-Callback-Url", url), "shout")
}

/// Calls `up` asynchronously with `url` as its callback; the call id.
fn call_back(gw: &GatewayHandle, url: &str) -> String {
    let accepted = with_callback(gw, url);
    assert_eq!(accepted.status, 202, "{}", accepted.text());
    accepted.header("x-call-id").to_string()
}

/// The call's CALLBACK event's message, once it is logged.
fn delivery(gw: &GatewayHandle, id: &str) -> String {
    eventually(
        "the delivery in the call's events",
        Duration::from_secs(20),
        || {
            let logs = gw.logs(&format!("name=up&callid={id}"));
            logs.lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("an event"))
                .find(|e| e["Event"] == "CALLBACK")
                .map(|e| e["Message"].as_str().unwrap_or_default().to_string())
        },
    )
}

fn deploy_up(gw: &GatewayHandle) {
    gw.deploy(json!({"service": "up", "image": "x", "command": ["tr", "a-z", "A-Z"]}));
}

#[test]
fn an_allowed_receiver_gets_the_result() {
    let gw = start_gateway(&[("FAAS_CALLBACK_ALLOW", "127.0.0.1")]);
    deploy_up(&gw);
    let (port, receiver) = receiver(&["200 OK"]);
    let id = call_back(&gw, &format!("http://127.0.0.1:{port}/done"));
    let got = receiver.join().expect("the receiver");
    let first = &got[0];
    assert!(first.head[0].starts_with("post /done "), "{:?}", first.head);
    for expected in [
        format!("x-call-id: {id}"),
        "x-function-name: up".to_string(),
        "x-function-status: 200".to_string(),
    ] {
        assert!(first.has(&expected), "{:?}", first.head);
    }
    assert!(first
        .head
        .iter()
        .any(|h| h.starts_with("x-duration-seconds:")));
    assert_eq!(first.body, b"SHOUT");
    let logged = delivery(&gw, &id);
    assert!(logged.contains("answered 200 (attempt 1)"), "{logged}");
}

#[test]
fn a_failing_receiver_is_tried_again() {
    let gw = start_gateway(&[("FAAS_CALLBACK_ALLOW", "127.0.0.0/8")]);
    deploy_up(&gw);
    let (port, receiver) = receiver(&["503 Service Unavailable", "200 OK"]);
    let id = call_back(&gw, &format!("http://127.0.0.1:{port}/done"));
    let got = receiver.join().expect("the receiver");
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].body, b"SHOUT");
    let logged = delivery(&gw, &id);
    assert!(logged.contains("answered 200 (attempt 2)"), "{logged}");
}

#[test]
fn the_gateway_s_host_and_private_networks_are_refused() {
    let gw = start_gateway(&[]);
    deploy_up(&gw);
    for url in [
        "http://127.0.0.1:2375/v1.41/containers/x/kill",
        "http://localhost:8080/system/functions",
        "http://[::1]:9/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0:80/",
        "http://[::ffff:127.0.0.1]/",
        "ftp://example.com/",
    ] {
        let refused = with_callback(&gw, url);
        assert_eq!(refused.status, 400, "{url}: {}", refused.text());
        let text = refused.text();
        assert_eq!(text.trim_end().lines().count(), 1, "{text}");
        assert!(
            text.contains("X-Callback-Url") || text.contains("not allowed"),
            "{text}"
        );
    }
    // The special ranges left: benchmarking, reserved, NAT64, 6to4 and
    // Teredo forms of refused addresses, documentation.
    for url in [
        "http://198.18.0.1/",
        "http://240.0.0.1/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:7f00:1::]/",
        "http://[2001:0:a00:1::fefe:fefe]/",
        "http://[::127.0.0.1]/",
        "http://[2001:db8::1]/",
    ] {
        let refused = with_callback(&gw, url);
        refused.assert_says(400, "it is not a public address");
    }
    assert_eq!(gw.counts("up")["Total"], 0, "nothing was recorded");
}

/// The addresses of this machine's interfaces other than the loopback, as
/// `ip -j addr` lists them; `None` when `ip` cannot say.
fn interface_addresses() -> Option<Vec<std::net::IpAddr>> {
    let out = std::process::Command::new("ip")
        .args(["-j", "addr"])
        .output()
        .ok()?;
    let interfaces: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let mut found = Vec::new();
    for interface in interfaces.as_array()? {
        if interface["ifname"] == "lo" {
            continue;
        }
        for info in interface["addr_info"].as_array().into_iter().flatten() {
            if let Some(ip) = info["local"].as_str().and_then(|a| a.parse().ok()) {
                found.push(ip);
            }
        }
    }
    Some(found)
}

#[test]
fn the_gateway_host_s_own_addresses_are_refused() {
    let test = "the_gateway_host_s_own_addresses_are_refused";
    let Some(addresses) = interface_addresses().filter(|a| !a.is_empty()) else {
        eprintln!("skipped {test}: `ip -j addr` lists no address on an interface but the loopback");
        return;
    };
    let gw = start_gateway(&[]);
    deploy_up(&gw);
    for ip in addresses {
        let url = match ip {
            std::net::IpAddr::V4(v4) => format!("http://{v4}:9/"),
            std::net::IpAddr::V6(v6) => format!("http://[{v6}]:9/"),
        };
        let refused = with_callback(&gw, &url);
        assert_eq!(refused.status, 400, "{url}: {}", refused.text());
        let line = refused.one_line();
        assert!(line.contains(&format!("({ip}) are not allowed")), "{line}");
        // A public address of the host's is refused as the host's; any
        // other is refused by its range before that.
        assert!(
            line.contains("it is an address of the gateway's own host")
                || line.contains("it is not a public address"),
            "{line}"
        );
        eprintln!("{test}: {ip}: {line}");
    }
    assert_eq!(gw.counts("up")["Total"], 0, "nothing was recorded");
}

#[test]
fn https_receivers_are_reached_with_the_trusted_roots() {
    let dir = TempDir::new("faas-callback-tls");
    let (ca_pem, server) = tls_server_config();
    let ca_file = dir.0.join("ca.pem");
    std::fs::write(&ca_file, ca_pem).expect("the CA file");
    let gw = start_gateway(&[
        ("FAAS_CALLBACK_ALLOW", "127.0.0.1"),
        ("FAAS_CALLBACK_CA_FILE", ca_file.to_str().expect("a path")),
    ]);
    deploy_up(&gw);
    let listener = TcpListener::bind("127.0.0.1:0").expect("a listener");
    let port = listener.local_addr().expect("its address").port();
    let receiver = std::thread::spawn(move || {
        let (tcp, _): (TcpStream, _) = listener.accept().expect("a delivery");
        tcp.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("a timeout");
        let tls = rustls::ServerConnection::new(server).expect("a TLS session");
        let mut stream = rustls::StreamOwned::new(tls, tcp);
        receive(&mut stream, "200 OK")
    });
    let id = call_back(&gw, &format!("https://127.0.0.1:{port}/secure"));
    let got = receiver.join().expect("the receiver");
    assert!(got.head[0].starts_with("post /secure "), "{:?}", got.head);
    assert_eq!(got.body, b"SHOUT");
    let logged = delivery(&gw, &id);
    assert!(logged.contains("answered 200"), "{logged}");
}

/// A CA (as PEM) and a server configuration whose certificate, for
/// 127.0.0.1, that CA signed.
fn tls_server_config() -> (String, Arc<rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("a CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("a CA");
    let key = KeyPair::generate().expect("a key");
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("parameters");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("a certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let private = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], private)
        .expect("a server configuration");
    (ca.pem(), Arc::new(config))
}
