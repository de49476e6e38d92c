//! What another site's page can make a browser do with the admin's cached
//! credentials, and what a function's output can do in a browser. Over
//! HTTP: every form type, an untyped body, a foreign `Origin` and
//! `Sec-Fetch-Site: cross-site` are refused on every management route and,
//! under `FAAS_INVOKE_AUTH`, on every invocation, with nothing changed; the
//! requests faas-cli and curl send, byte for byte, pass; every answer
//! carrying an output has a definite type, `nosniff` and `sandbox`. Then in
//! a real headless Chromium logged into `/ui/`: auto-submitting forms on a
//! page of another site deploy and call nothing, and a `<script>` output
//! opened in the browser runs nothing.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use faas_tests::browser::{browser_or_skip, Browser};
use faas_tests::gateway::{start_gateway, Gateway, PASSWORD};
use faas_tests::{eventually, send, Answer};
use reqwest::Method;
use serde_json::{json, Value};

const FORM_TYPES: [&str; 4] = [
    "text/plain",
    "text/plain; charset=utf-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=b",
];

/// What stays true while nothing is acted on: the one function, as
/// deployed (`before`), not updated, scaled or removed.
fn unchanged(gw: &Gateway, before: &Value) {
    let functions = gw.functions();
    assert_eq!(functions.len(), 1, "{functions:?}");
    let f = &functions[0];
    for field in ["name", "uuid", "timeout", "replicas", "command"] {
        assert_eq!(f[field], before[field], "{field}: {f}");
    }
}

/// Every management request that changes something, with its JSON body.
fn changes() -> Vec<(Method, &'static str, Value)> {
    let deploy = json!({"service": "pwned", "image": "x", "command": ["sh", "-c", "id"]});
    vec![
        (Method::POST, "/system/functions", deploy),
        (
            Method::PUT,
            "/system/functions",
            json!({"service": "cat", "timeout": 5}),
        ),
        (
            Method::DELETE,
            "/system/functions",
            json!({"functionName": "cat"}),
        ),
        (
            Method::POST,
            "/system/scale-function/cat",
            json!({"serviceName": "cat", "replicas": 3}),
        ),
        (
            Method::POST,
            "/system/secrets",
            json!({"name": "s", "value": "v"}),
        ),
        (
            Method::PUT,
            "/system/secrets",
            json!({"name": "s", "value": "v"}),
        ),
        (Method::DELETE, "/system/secrets", json!({"name": "s"})),
        (
            Method::POST,
            "/system/alert",
            json!({"status": "firing", "receiver": "scale-up", "alerts": [{"status": "firing",
                "labels": {"alertname": "APIHighInvocationRate", "function_name": "cat"}}]}),
        ),
    ]
}

/// Every way a call names its function.
fn calls() -> Vec<(Method, &'static str)> {
    vec![
        (Method::POST, "/function/cat"),
        (Method::PUT, "/function/cat/a/path"),
        (Method::POST, "/async-function/cat"),
        (Method::POST, "/"),
    ]
}

fn refused(answer: &Answer, status: u16, says: &str, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.text());
    let line = answer.one_line();
    assert!(line.contains(says), "{what}: {line}");
}

#[test]
fn cross_site_and_form_requests_change_nothing() {
    let gw = start_gateway(&[("FAAS_INVOKE_AUTH", "true")]);
    let before = gw.deploy(json!({"service": "cat", "image": "x", "command": ["cat"]}));
    let origin = gw.url("");
    for (method, path, body) in changes() {
        let what = format!("{method} {path}");
        let text = body.to_string();
        for form in FORM_TYPES {
            let answer = send(
                gw.admin(method.clone(), path)
                    .header("Content-Type", form)
                    .body(text.clone()),
            );
            refused(
                &answer,
                415,
                "application/json",
                &format!("{what} as {form}"),
            );
        }
        let untyped = send(gw.admin(method.clone(), path).body(text.clone()));
        refused(&untyped, 415, "without a Content-Type", &what);
        // A form sends its type even with nothing in it.
        let empty = send(
            gw.admin(method.clone(), path)
                .header("Content-Type", "text/plain"),
        );
        refused(&empty, 415, "application/json", &what);
        for (header, value) in [
            ("Origin", "https://evil.example"),
            ("Origin", "null"),
            ("Origin", "http://127.0.0.1:1"),
            ("Sec-Fetch-Site", "cross-site"),
            ("Sec-Fetch-Site", "same-site"),
        ] {
            let answer = send(
                gw.admin(method.clone(), path)
                    .json(&body)
                    .header(header, value),
            );
            refused(
                &answer,
                403,
                header,
                &format!("{what} with {header}: {value}"),
            );
        }
        // Another site's page without the credentials gets no prompt for them.
        let stranger = send(
            gw.client
                .request(method.clone(), gw.url(path))
                .header("Origin", "https://evil.example")
                .json(&body),
        );
        assert_eq!(stranger.status, 403, "{what}");
        assert!(!stranger.headers.contains_key("www-authenticate"));
        // The portal's own requests pass the guard.
        let portal = send(
            gw.admin(method.clone(), path)
                .header("Origin", &origin)
                .header("Sec-Fetch-Site", "same-origin")
                .header("Content-Type", "text/plain"),
        );
        assert_eq!(portal.status, 415, "{what}: the type is still checked");
    }
    unchanged(&gw, &before);
    assert_eq!(gw.get("/system/function/pwned").status, 404);

    for (method, path) in calls() {
        let what = format!("{method} {path}");
        // As a page of the gateway's own would send it: marked by its browser.
        let call = || {
            gw.admin(method.clone(), path)
                .header("X-Function", "cat")
                .header("Sec-Fetch-Site", "same-origin")
                .body("input")
        };
        for form in FORM_TYPES {
            let answer = send(call().header("Content-Type", form));
            let what = format!("{what} as {form}");
            refused(&answer, 415, "application/octet-stream", &what);
        }
        refused(&send(call()), 415, "without a Content-Type", &what);
        let typed = || {
            gw.admin(method.clone(), path)
                .header("X-Function", "cat")
                .header("Content-Type", "application/octet-stream")
                .body("input")
        };
        for (header, value) in [
            ("Origin", "https://evil.example"),
            ("Origin", "null"),
            ("Sec-Fetch-Site", "cross-site"),
        ] {
            let answer = send(typed().header(header, value));
            refused(
                &answer,
                403,
                header,
                &format!("{what} with {header}: {value}"),
            );
        }
    }
    // A call by GET carries no form, but still not from another site.
    let link = send(
        gw.admin(Method::GET, "/function/cat")
            .header("Sec-Fetch-Site", "cross-site"),
    );
    refused(&link, 403, "Sec-Fetch-Site", "GET from another site");
    assert_eq!(gw.counts("cat")["Total"], 0, "no call was made");
    unchanged(&gw, &before);

    // curl -d and faas-cli invoke send a form's type but no browser's
    // marks: not a page's, so acted on.
    for form in FORM_TYPES {
        let client = gw
            .admin(Method::POST, "/function/cat")
            .header("Content-Type", form)
            .body("input");
        let answer = send(client);
        assert_eq!(answer.status, 200, "{form} from a client");
        assert_eq!(answer.text(), "input");
    }

    // Reading stays open to links from anywhere.
    for path in ["/ui/", "/system/functions", "/system/function/cat"] {
        let answer = send(
            gw.admin(Method::GET, path)
                .header("Sec-Fetch-Site", "cross-site"),
        );
        assert_eq!(answer.status, 200, "{path}");
    }
}

/// The gateway's answer to `request`, sent as these very bytes.
fn raw(gw: &Gateway, request: &str) -> (u16, String) {
    let address = gw.url("").trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(address).expect("the gateway");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a timeout");
    stream.write_all(request.as_bytes()).expect("the request");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

/// A request as faas-cli's Go client writes it (`net/http`: `Host`,
/// `User-Agent`, `Content-Length`, the headers set, `Accept-Encoding`).
fn go_request(
    gw: &Gateway,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> String {
    let host = gw.url("").trim_start_matches("http://").to_string();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("admin:{PASSWORD}"));
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: {}\r\nAuthorization: Basic {auth}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    format!("{head}Accept-Encoding: gzip\r\nConnection: close\r\n\r\n{body}")
}

/// A request as curl writes it (`Host`, `Authorization` from `-u`,
/// `User-Agent`, `Accept`, the `-H` headers, `Content-Length` with `-d`).
fn curl_request(
    gw: &Gateway,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> String {
    let host = gw.url("").trim_start_matches("http://").to_string();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("admin:{PASSWORD}"));
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    format!(
        "{head}Connection: close\r\n\r\n{}",
        body.unwrap_or_default()
    )
}

#[test]
fn faas_cli_s_and_curl_s_requests_pass() {
    let gw = start_gateway(&[("FAAS_INVOKE_AUTH", "true")]);
    const JSON: (&str, &str) = ("Content-Type", "application/json");
    let spec = |name: &str| json!({"service": name, "image": "x", "command": ["cat"]}).to_string();

    // faas-cli deploy, scale, invoke with --content-type, remove.
    let (status, answer) = raw(
        &gw,
        &go_request(&gw, "POST", "/system/functions", &[JSON], &spec("cli")),
    );
    assert_eq!(status, 202, "{answer}");
    let scale = r#"{"serviceName":"cli","replicas":2,"namespace":"openfaas-fn"}"#;
    let path = "/system/scale-function/cli?namespace=openfaas-fn";
    let (status, answer) = raw(&gw, &go_request(&gw, "POST", path, &[JSON], scale));
    assert_eq!(status, 202, "{answer}");
    let (status, answer) = raw(
        &gw,
        &go_request(&gw, "POST", "/function/cli", &[JSON], "{}"),
    );
    assert_eq!(status, 200, "{answer}");
    assert!(answer.ends_with("\r\n\r\n{}"), "{answer}");
    let (status, answer) = raw(
        &gw,
        &go_request(
            &gw,
            "DELETE",
            "/system/functions",
            &[JSON],
            r#"{"functionName":"cli"}"#,
        ),
    );
    assert_eq!(status, 202, "{answer}");

    // curl -H 'Content-Type: application/json' -d '…' to deploy; a body as
    // bytes to call; a call by GET; curl -X DELETE with nothing is the
    // handler's 400, not the guard's.
    let (status, answer) = raw(
        &gw,
        &curl_request(
            &gw,
            "POST",
            "/system/functions",
            &[JSON],
            Some(&spec("curl")),
        ),
    );
    assert_eq!(status, 202, "{answer}");
    let bytes = ("Content-Type", "application/octet-stream");
    let (status, answer) = raw(
        &gw,
        &curl_request(&gw, "POST", "/function/curl", &[bytes], Some("hi")),
    );
    assert_eq!(status, 200, "{answer}");
    assert!(answer.ends_with("\r\n\r\nhi"), "{answer}");
    let (status, answer) = raw(
        &gw,
        &curl_request(&gw, "POST", "/async-function/curl", &[bytes], Some("later")),
    );
    assert_eq!(status, 202, "{answer}");
    let (status, answer) = raw(&gw, &curl_request(&gw, "GET", "/function/curl", &[], None));
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = raw(&gw, &curl_request(&gw, "POST", "/function/curl", &[], None));
    assert_eq!(status, 200, "curl -X POST with nothing: {answer}");
    let (status, answer) = raw(
        &gw,
        &curl_request(&gw, "DELETE", "/system/functions", &[], None),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer.contains("invalid removal JSON") || answer.contains("JSON"),
        "{answer}"
    );
    let (status, answer) = raw(
        &gw,
        &curl_request(
            &gw,
            "DELETE",
            "/system/functions",
            &[JSON],
            Some(r#"{"functionName":"curl"}"#),
        ),
    );
    assert_eq!(status, 202, "{answer}");
    assert!(gw.functions().is_empty());

    // curl -d (form-urlencoded) says how to send it instead.
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let (status, answer) = raw(
        &gw,
        &curl_request(&gw, "POST", "/system/functions", &[form], Some(&spec("x"))),
    );
    assert_eq!(status, 415, "{answer}");
    assert!(
        answer.contains("send Content-Type: application/json"),
        "{answer}"
    );
}

#[test]
fn every_output_has_a_type_nosniff_and_a_sandbox() {
    let gw = start_gateway(&[]);
    let f = gw.deploy(json!({"service": "cat", "image": "x", "command": ["cat"]}));
    gw.deploy(json!({"service": "fail", "image": "x", "command": ["sh", "-c", "cat; exit 1"]}));
    let uuid = f["uuid"].as_str().expect("uuid");
    let script = "<script>document.title='ran'</script>";
    let strict = |answer: &Answer, content_type: &str, what: &str| {
        assert_eq!(answer.header("content-type"), content_type, "{what}");
        assert_eq!(answer.header("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(
            answer.header("content-security-policy"),
            "sandbox",
            "{what}"
        );
    };
    const BYTES: &str = "application/octet-stream";
    const TEXT: &str = "text/plain; charset=utf-8";

    // Sync: the request's type, else bytes; a failure is text.
    let untyped = gw.call("cat", script);
    assert_eq!(untyped.text(), script);
    strict(&untyped, BYTES, "a sync call without a type");
    let typed = gw.post_with("/function/cat", ("Content-Type", "image/png"), script);
    strict(&typed, "image/png", "a sync call with a type");
    let root = gw.post_with("/", ("X-Function", "cat"), script);
    strict(&root, BYTES, "POST / with X-Function");
    let hyper = send(
        gw.client
            .post(gw.url(&format!("/call/cat/{uuid}/sync")))
            .body(script),
    );
    strict(&hyper, BYTES, "/call/…/sync");
    let failed = gw.post_with("/function/fail", ("Content-Type", "text/html"), script);
    assert_eq!(failed.status, 500);
    strict(&failed, TEXT, "a failed sync call");

    // Kept outputs: bytes (the request is not kept), a failure text.
    let id = gw.call_async("cat", script);
    let typed = gw.post_with("/async-function/cat", ("Content-Type", "text/html"), script);
    let typed = typed.json()["CallId"].as_str().expect("CallId").to_string();
    let failed = gw.call_async("fail", script);
    for (id, content_type) in [(&id, BYTES), (&typed, BYTES), (&failed, TEXT)] {
        let function = if content_type == TEXT { "fail" } else { "cat" };
        let uuid = gw.function(function)["uuid"]
            .as_str()
            .expect("uuid")
            .to_string();
        for path in [
            format!("/system/calls/{id}/output?wait=true"),
            format!("/system/calls/{id}/output"),
            format!("/output/{function}/{uuid}/{id}/wait"),
            format!("/output/{function}/{uuid}/{id}"),
        ] {
            let answer = send(gw.admin(Method::GET, &path));
            assert!(answer.text().contains(script), "{path}: {}", answer.text());
            strict(&answer, content_type, &path);
        }
    }
}

/// Another site: a tiny HTTP server on its own port answering fixed pages,
/// and counting the hits on `/count?<what>`.
struct Site {
    port: u16,
    hits: Arc<Mutex<Vec<String>>>,
}

impl Site {
    fn start(pages: HashMap<String, String>) -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = listener.local_addr().expect("its address").port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let counted = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                answer(stream, &pages, &counted);
            }
        });
        Site { port, hits }
    }

    /// The page at `path` on this site, named `localhost` so that it is
    /// another site than the gateway at `127.0.0.1`.
    fn url(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.port)
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().expect("the hits").clone()
    }
}

/// One request on `stream`: a page, a counted hit, or 404; then closed.
fn answer(stream: TcpStream, pages: &HashMap<String, String>, hits: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let path = first.split(' ').nth(1).unwrap_or("/").to_string();
    let (status, body) = match (path.strip_prefix("/count?"), pages.get(&path)) {
        (Some(what), _) => {
            hits.lock().expect("the hits").push(what.to_string());
            ("204 No Content", String::new())
        }
        (None, Some(page)) => ("200 OK", page.clone()),
        (None, None) => ("404 Not Found", String::new()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nAccess-Control-Allow-Origin: *\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = reader.get_mut().write_all(response.as_bytes());
}

/// A page that posts `fields` to `action` as `enctype` as soon as it loads.
fn form_page(action: &str, enctype: &str, fields: &[(&str, &str)]) -> String {
    let inputs: String = fields
        .iter()
        .map(|(name, value)| format!("<input type=hidden name='{name}' value='{value}'>"))
        .collect();
    format!(
        "<!doctype html><title>another site</title>\
         <form id=f method=post action='{action}' enctype='{enctype}'>{inputs}</form>\
         <script>document.getElementById('f').submit()</script>"
    )
}

/// Where the browser is, and the text it shows.
fn shown(browser: &Browser) -> (String, String, String) {
    let v = browser.script(
        "return [location.href, document.title, document.body ? document.body.innerText : ''];",
        json!([]),
    );
    let s = |i: usize| v[i].as_str().unwrap_or_default().to_string();
    (s(0), s(1), s(2))
}

/// The files the browser downloaded, by name, once complete.
fn downloaded(dir: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().ends_with(".crdownload"))
        .map(|e| {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            (e.file_name().to_string_lossy().into_owned(), text)
        })
        .collect()
}

#[test]
fn another_site_s_forms_and_a_script_output_do_nothing_in_a_real_browser() {
    let test = "another_site_s_forms_and_a_script_output_do_nothing_in_a_real_browser";
    let Some(browser) = browser_or_skip(test, 1024, 768) else {
        return;
    };
    let gw = start_gateway(&[("FAAS_INVOKE_AUTH", "true")]);
    let origin = gw.url("");
    let port = origin.rsplit(':').next().expect("a port").to_string();
    let deploy = format!("{origin}/system/functions");
    let spec = r#"{"service":"pwned","image":"x","command":["sh","-c","id"],"x":""#;
    let pages: HashMap<String, String> = [
        // The text/plain form whose body is JSON: `<name>=<value>`.
        ("/text", form_page(&deploy, "text/plain", &[(spec, "\"}")])),
        (
            "/urlencoded",
            form_page(&deploy, "application/x-www-form-urlencoded", &[("spec", spec)]),
        ),
        ("/multipart", form_page(&deploy, "multipart/form-data", &[("spec", spec)])),
        (
            "/call",
            form_page(&format!("{origin}/function/cat"), "text/plain", &[("in", "put")]),
        ),
        ("/blank", "<!doctype html><title>blank</title>".to_string()),
        (
            "/control",
            "<!doctype html><title>control</title><script>document.title='ran';fetch('/count?control')</script>".to_string(),
        ),
    ]
    .into_iter()
    .map(|(path, page)| (path.to_string(), page))
    .collect();
    let site = Site::start(pages);

    // Logged in once; the credentials are cached: the portal opens without
    // them in the address, and reads the functions with them.
    browser.goto(&format!("http://admin:{PASSWORD}@127.0.0.1:{port}/ui/"));
    browser.wait_text("h1", |t| t == "Functions");
    browser.goto(&format!("{origin}/ui/"));
    browser.wait_text("#functions-empty", |t| t.contains("No functions yet"));

    // Each form posts, and the gateway's refusal is what the browser shows.
    for page in ["/text", "/urlencoded", "/multipart"] {
        browser.goto(&site.url(page));
        let (at, _, text) = browser.wait(
            &format!("the refusal of {page}"),
            Duration::from_secs(15),
            |b| {
                let shown = shown(b);
                shown.0.starts_with(&origin).then_some(shown)
            },
        );
        assert_eq!(at, deploy, "{page}");
        assert!(
            text.contains("refused a request from another site"),
            "{page}: {text}"
        );
        assert!(gw.functions().is_empty(), "{page} deployed something");
    }
    assert_eq!(gw.get("/system/function/pwned").status, 404);

    // A call under FAAS_INVOKE_AUTH: refused too, nothing ran.
    gw.deploy(json!({"service": "cat", "image": "x", "command": ["cat"]}));
    browser.goto(&site.url("/call"));
    let text = browser.wait("the call's refusal", Duration::from_secs(15), |b| {
        let (at, _, text) = shown(b);
        at.starts_with(&origin).then_some(text)
    });
    assert!(
        text.contains("refused a request from another site"),
        "{text}"
    );
    assert_eq!(gw.counts("cat")["Total"], 0, "the form's call ran");

    // The portal's own calls pass: a text, and a text file, sent as bytes.
    browser.goto(&format!("{origin}/ui/#/fn/cat"));
    browser.type_into("#invoke-body", "from the portal");
    browser.click("#invoke");
    browser.wait_text("#invoke-output", |t| t == "from the portal");
    let dir = faas_tests::TempDir::new("faas-csrf-file");
    let file = dir.0.join("input.txt");
    std::fs::write(&file, "a text file").expect("the file");
    browser.keys("#invoke-file", file.to_str().expect("a UTF-8 path"));
    browser.click("#invoke");
    browser.wait_text("#invoke-output", |t| t == "a text file");
    assert!(browser
        .text("#invoke-answer")
        .contains("application/octet-stream"));

    // This browser runs a page's script and the site counts what it sends.
    browser.goto(&site.url("/control"));
    browser.wait("the control's script", Duration::from_secs(15), |b| {
        (shown(b).1 == "ran" && site.hits().contains(&"control".to_string())).then_some(())
    });

    // An output that is a script, opened in the browser: saved as a file,
    // never run.
    let script = format!(
        "<script>document.title='ran';fetch('{}')</script>",
        site.url("/count?output")
    );
    let call = |function: &str| {
        let answer = send(
            gw.admin(Method::POST, &format!("/async-function/{function}"))
                .header("Content-Type", "application/octet-stream")
                .body(script.clone()),
        );
        assert_eq!(answer.status, 202, "{}", answer.text());
        let id = answer.json()["CallId"]
            .as_str()
            .expect("CallId")
            .to_string();
        assert!(gw.wait_output(&id).text().contains(&script));
        id
    };
    let id = call("cat");
    let uuid = gw.function("cat")["uuid"]
        .as_str()
        .expect("uuid")
        .to_string();
    let downloads = browser.downloads();
    for (n, path) in [
        format!("/output/cat/{uuid}/{id}"),
        format!("/system/calls/{id}/output"),
    ]
    .iter()
    .enumerate()
    {
        browser.goto(&site.url("/blank"));
        browser.goto(&format!("{origin}{path}"));
        let (at, title, _) = shown(&browser);
        assert_ne!(title, "ran", "{path} ran its script at {at}");
        eventually(
            &format!("{path} saved as a file"),
            Duration::from_secs(15),
            || {
                let files = downloaded(&downloads);
                (files.len() == n + 1 && files.iter().all(|(_, text)| *text == script))
                    .then_some(())
            },
        );
    }

    // A failed call's output is shown, as text, and runs nothing either.
    gw.deploy(json!({"service": "fail", "image": "x", "command": ["sh", "-c", "cat; exit 1"]}));
    let failed = call("fail");
    browser.goto(&format!("{origin}/system/calls/{failed}/output"));
    let (at, title, text) = shown(&browser);
    assert!(at.ends_with("/output"), "{at}");
    assert!(text.contains(&script), "shown as text: {text}");
    assert_ne!(title, "ran");

    // The site hears from the next page's script, and never heard from an
    // output's.
    browser.goto(&site.url("/control"));
    browser.wait(
        "the control's script again",
        Duration::from_secs(15),
        |_| (site.hits().iter().filter(|h| *h == "control").count() == 2).then_some(()),
    );
    assert!(
        !site.hits().contains(&"output".to_string()),
        "{:?}",
        site.hits()
    );
}
