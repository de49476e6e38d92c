//! The web portal at `/ui/`: over HTTP (credentials, security headers, the
//! calls and samples routes it reads), then end to end in a real headless
//! Chromium against the real gateway binary, with a screenshot of each step
//! under `target/ui-screenshots/`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use faas_tests::browser::{browser_or_skip, Browser, TAB};
use faas_tests::gateway::{start_gateway, PASSWORD};
use faas_tests::{eventually, send};
use serde_json::{json, Value};

/// `target/ui-screenshots/`.
fn screenshots() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    // target/<profile>/deps/<test> → target
    let target = exe.ancestors().nth(3).expect("target/<profile>/deps");
    target.join("ui-screenshots")
}

#[test]
fn the_portal_is_behind_the_credentials_with_strict_headers() {
    let gw = start_gateway(&[]);
    for path in [
        "/ui",
        "/ui/",
        "/ui/app.js",
        "/ui/style.css",
        "/ui/index.html",
    ] {
        let none = gw.assert_needs_login(path);
        assert_eq!(none.header("x-content-type-options"), "nosniff", "{path}");
    }
    let page = gw.get("/ui/");
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").starts_with("text/html"));
    let csp = page.header("content-security-policy").to_string();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
    assert_eq!(page.header("x-content-type-options"), "nosniff");
    assert_eq!(page.header("x-frame-options"), "DENY");
    // No inline script and nothing from elsewhere: the page loads its own files.
    let html = page.text();
    assert!(html.contains(r#"<script src="/ui/app.js""#), "{html}");
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    assert!(!html.contains("http://") && !html.contains("https://"));
    let script = gw.get("/ui/app.js");
    assert!(script.header("content-type").starts_with("text/javascript"));
    assert_eq!(script.header("x-content-type-options"), "nosniff");
    // The one URL in the script is SVG's namespace, a name, not a request.
    let js = script.text().replace("http://www.w3.org/2000/svg", "");
    assert!(!js.contains("innerHTML") && !js.contains("eval("));
    assert!(!js.contains("http://") && !js.contains("https://"));
    assert!(gw
        .get("/ui/style.css")
        .header("content-type")
        .starts_with("text/css"));
    assert_eq!(gw.get("/ui/nothing.js").status, 404);
    // /ui is the page too.
    let bare = gw.get("/ui");
    assert_eq!((bare.status, bare.text()), (200, html));
    assert_eq!(bare.header("x-frame-options"), "DENY");
}

#[test]
fn a_functions_calls_and_samples_as_the_portal_reads_them() {
    let gw = start_gateway(&[("FAAS_SAMPLE_INTERVAL", "1s")]);
    gw.deploy(json!({"service": "cat", "image": "x", "command": ["cat"]}));
    gw.deploy(json!({"service": "fail", "image": "x", "command": ["sh", "-c", "exit 3"]}));
    let first = gw.call_async("cat", "one");
    assert_eq!(gw.wait_output(&first).text(), "one");
    assert_eq!(gw.call("cat", "two").status, 200);
    assert_eq!(gw.call("fail", "").status, 500);
    let calls = eventually("both calls listed", Duration::from_secs(5), || {
        let calls = gw.get("/system/function/cat/calls").json();
        (calls.as_array().map_or(0, Vec::len) == 2).then_some(calls)
    });
    // Newest first, with the fields the portal shows.
    assert_eq!(calls[1]["CallId"], first.as_str());
    assert_eq!(calls[1]["Async"], true);
    assert_eq!(calls[0]["Async"], false);
    for call in calls.as_array().expect("a list") {
        assert_eq!(call["Status"], "FINISHED");
        assert_eq!(call["ExitCode"], 0);
        assert!(call["DurationSeconds"].is_number() && call["Finished"].is_string());
    }
    // A sync call in flight is listed, RUNNING, before it is stored.
    gw.deploy(json!({"service": "slow", "image": "x", "command": ["sh", "-c", "sleep 1; cat"]}));
    let caller = {
        let url = gw.url("/function/slow");
        std::thread::spawn(move || send(faas_tests::client().post(url).body("late")))
    };
    let running = eventually("the sync call RUNNING", Duration::from_secs(5), || {
        let calls = gw.get("/system/function/slow/calls").json();
        let first = calls.get(0)?.clone();
        (first["Status"] == "RUNNING").then_some(first)
    });
    assert_eq!(running["Async"], false);
    assert_eq!(caller.join().expect("the caller").text(), "late");
    let id = running["CallId"].as_str().expect("CallId").to_string();
    eventually("the sync call FINISHED", Duration::from_secs(5), || {
        let calls = gw.get("/system/function/slow/calls").json();
        let listed = calls.as_array()?.clone();
        (listed.len() == 1
            && listed[0]["CallId"] == id.as_str()
            && listed[0]["Status"] == "FINISHED")
            .then_some(())
    });
    let one = gw.get("/system/function/cat/calls?limit=1").json();
    assert_eq!(one.as_array().map(Vec::len), Some(1));
    for bad in ["0", "1001", "x"] {
        let answer = gw.get(&format!("/system/function/cat/calls?limit={bad}"));
        assert_eq!(answer.status, 400, "limit={bad}");
    }
    assert_eq!(gw.get("/system/function/nobody/calls").status, 404);
    assert_eq!(gw.get("/system/function/nobody/samples").status, 404);

    // The sampler counts the ended calls by code within a second or two.
    let find = |name: &str, code: &str| -> Option<Value> {
        let history = gw.get(&format!("/system/function/{name}/samples")).json();
        assert_eq!(history["intervalSeconds"], 1.0);
        assert_eq!(history["windowSeconds"], 900);
        let samples = history["samples"].as_array()?.clone();
        samples
            .into_iter()
            .find(|s| s["callsPerSecond"][code].as_f64().is_some_and(|r| r > 0.0))
    };
    let ok = eventually("a sample of cat's 200s", Duration::from_secs(5), || {
        find("cat", "200")
    });
    assert!(ok["p50Seconds"].as_f64().is_some_and(|p| p > 0.0), "{ok}");
    assert!(
        ok["p99Seconds"].as_f64() >= ok["p50Seconds"].as_f64(),
        "{ok}"
    );
    assert_eq!(
        (ok["replicas"].as_u64(), ok["queued"].as_u64()),
        (Some(1), Some(0))
    );
    let failed = eventually("a sample of fail's 500", Duration::from_secs(5), || {
        find("fail", "500")
    });
    assert!(failed["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    // A removed function's samples go with it.
    assert_eq!(gw.remove("fail").status, 202);
    assert_eq!(gw.get("/system/function/fail/samples").status, 404);
}

/// What the portal's test did: a screenshot per step.
struct Steps {
    browser: Browser,
    n: usize,
}

impl Steps {
    fn shot(&mut self, name: &str) {
        self.n += 1;
        let path = screenshots().join(format!("{:02}-{name}.png", self.n));
        self.browser.screenshot(&path);
    }
}

#[test]
fn the_portal_in_a_real_browser() {
    let test = "the_portal_in_a_real_browser";
    let Some(browser) = browser_or_skip(test, 1280, 1000) else {
        return;
    };
    let started = Instant::now();
    let gw = start_gateway(&[("FAAS_SAMPLE_INTERVAL", "1s")]);
    let _ = std::fs::remove_dir_all(screenshots());
    let mut steps = Steps { browser, n: 0 };
    let origin = gw.url("");
    let port = origin.rsplit(':').next().expect("a port");

    // Without credentials: refused.
    // (Headless Chromium cancels the credentials prompt: no page at all.)
    steps.browser.goto(&gw.url("/ui/"));
    let shown = steps.browser.script(
        "return [location.href, document.getElementById('main') !== null];",
        json!([]),
    );
    assert_eq!(
        shown[1], false,
        "the portal showed without credentials: {shown}"
    );
    steps.shot("refused-without-credentials");

    // Logged in: the empty functions list.
    steps
        .browser
        .goto(&format!("http://admin:{PASSWORD}@127.0.0.1:{port}/ui/"));
    steps.browser.wait_text("h1", |t| t == "Functions");
    steps
        .browser
        .wait_text("#functions-empty", |t| t.contains("No functions yet"));
    // The keyboard reaches the page's controls, the skip link first.
    steps.browser.press(TAB);
    let focused = steps
        .browser
        .script("return document.activeElement.id;", json!([]));
    assert_eq!(focused, "skip");

    // Deploy from the form: first refused with the gateway's line, then deployed.
    steps.browser.click("a[href='#/deploy']");
    steps.browser.type_into("#f-name", "cat");
    steps.browser.type_into("#f-image", "faas/sample-cat");
    steps.browser.click("#f-mode option[value='per-call']");
    steps.browser.type_into("#f-command", "cat");
    steps.browser.type_into("#f-env", "NOT VALID=1");
    steps.browser.click("#deploy");
    let refused = steps.browser.wait_text("#form-error", |t| !t.is_empty());
    assert!(refused.contains("NOT VALID"), "{refused}");
    assert!(gw.functions().is_empty());
    steps.shot("deploy-refused");
    steps.browser.type_into("#f-env", "GREETING=hi");
    steps.browser.click("#deploy");
    steps.browser.wait_text("h1", |t| t == "cat");
    let listed = gw.function("cat");
    assert_eq!(
        (listed["mode"].as_str(), listed["command"].clone()),
        (Some("per-call"), json!(["cat"]))
    );
    assert_eq!(listed["envVars"]["GREETING"], "hi");
    let address = listed["address"].as_str().expect("address").to_string();
    steps
        .browser
        .wait_text("#function-facts", |t| t.contains(&address));

    // The log is followed before the calls exist: their lines arrive live.
    steps
        .browser
        .wait_text("#log-state", |t| t.starts_with("Following"));

    // A sync call from the page.
    steps
        .browser
        .type_into("#invoke-body", "hello from the browser");
    steps.browser.click("#invoke");
    steps
        .browser
        .wait_text("#invoke-output", |t| t == "hello from the browser");
    assert!(steps.browser.text("#invoke-status").starts_with("200"));
    let sync_id = steps.browser.text("#invoke-callid");
    assert_eq!(sync_id.len(), 36, "{sync_id}");
    let seconds = steps.browser.text("#invoke-duration");
    assert!(seconds.parse::<f64>().is_ok(), "{seconds}");

    // A file body: a picture comes back, shown as one, with its size.
    let picture = screenshots().join("01-refused-without-credentials.png");
    let bytes = std::fs::metadata(&picture)
        .expect("the first screenshot")
        .len();
    steps
        .browser
        .keys("#invoke-file", picture.to_str().expect("a UTF-8 path"));
    steps.browser.click("#invoke");
    let shown = "const i = document.getElementById('invoke-image'); \
        return !!i && i.complete && i.naturalWidth > 0;";
    steps
        .browser
        .wait_true("the picture", Duration::from_secs(10), shown);
    let size = steps.browser.text("#invoke-answer");
    assert!(
        size.contains(&format!("{bytes} bytes, image/png")),
        "{size}"
    );
    steps.browser.click("#invoke-clear");

    // An async call: its id now, its output once it ends.
    steps.browser.click("#invoke-async");
    steps.browser.type_into("#invoke-body", "hello later");
    steps.browser.click("#invoke");
    steps
        .browser
        .wait_text("#invoke-status", |t| t.starts_with("202"));
    let async_id = steps
        .browser
        .wait_text("#invoke-callid", |t| t.len() == 36 && t != sync_id);
    steps
        .browser
        .wait_text("#async-output", |t| t == "hello later");
    assert!(steps.browser.text("#async-status").starts_with("200"));

    // Both calls FINISHED in the list; the async one's output from there.
    for id in [&sync_id, &async_id] {
        let row = format!("#calls tr[data-call='{id}'][data-status='FINISHED']");
        steps.browser.find(&row);
    }
    steps
        .browser
        .click(&format!("#calls tr[data-call='{async_id}'] button"));
    steps
        .browser
        .wait_text("#call-output", |t| t.contains("hello later"));

    // The calls' log lines arrived while the page followed the log.
    let line = format!("#log li[data-call='{async_id}'].ev-FINISHED");
    steps.browser.find(&line);
    assert!(steps
        .browser
        .text(&line)
        .contains("ShortStdout: hello later"));

    // The plots gain points as the gateway samples.
    let points = |b: &Browser| {
        b.script(
            "return Number(document.getElementById('plot-calls').getAttribute('data-points'));",
            json!([]),
        )
        .as_u64()
        .unwrap_or(0)
    };
    let before = steps
        .browser
        .wait("a first point", Duration::from_secs(10), |b| {
            let n = points(b);
            (n > 0).then_some(n)
        });
    steps
        .browser
        .wait("the plot to gain points", Duration::from_secs(10), |b| {
            (points(b) > before).then_some(())
        });
    steps
        .browser
        .wait_text("#plot-calls-latest", |t| t.contains("200"));
    // A few more calls, for the picture.
    for n in 0..8 {
        assert_eq!(gw.call("cat", format!("call {n}")).status, 200);
        std::thread::sleep(Duration::from_millis(100));
    }
    steps.browser.resize(1280, 2300);
    steps
        .browser
        .wait_text("#calls", |t| t.matches("FINISHED").count() >= 11);
    steps.browser.script("window.scrollTo(0, 0);", json!([]));
    steps.shot("function-page");

    // Filtering the log by call id: only that call's lines.
    steps.browser.type_into("#log-filter", &sync_id);
    steps.browser.click("#log-form button[type='submit']");
    steps
        .browser
        .wait_text("#log-state", |t| t.contains(&sync_id));
    steps
        .browser
        .wait("the filtered log", Duration::from_secs(10), |b| {
            let calls = b.script(
                "return [...document.querySelectorAll('#log li')].map(li => li.dataset.call);",
                json!([]),
            );
            let calls = calls.as_array().cloned().unwrap_or_default();
            (!calls.is_empty() && calls.iter().all(|c| c == sync_id.as_str())).then_some(())
        });

    // The functions list: every field, the address with its copy button.
    steps.browser.resize(1280, 700);
    steps.browser.click("a[href='#/']");
    let row = "#functions tr[data-name='cat']";
    let text = steps
        .browser
        .wait_text(row, |t| t.contains("faas/sample-cat"));
    for expected in ["per-call", "cat", "1/1", &address] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    let cells = steps.browser.script(
        "return [...document.querySelectorAll(arguments[0] + ' td')].map(td => td.innerText.trim());",
        json!([row]),
    );
    // Name, mode, image, command, replicas, invocations, pending, running, finished, failed.
    let cells: Vec<&str> = cells
        .as_array()
        .expect("cells")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        &cells[..10],
        [
            "cat",
            "per-call",
            "faas/sample-cat",
            "cat",
            "1/1",
            "11",
            "0",
            "0",
            "11",
            "0"
        ]
    );
    steps.browser.click(&format!("{row} button.copy"));
    steps
        .browser
        .wait_text(&format!("{row} button.copy"), |t| t.starts_with("Cop"));
    steps.shot("functions");

    // Readable on a phone: nothing wider than the screen.
    steps.browser.resize(390, 844);
    steps.browser.wait_true(
        "no sideways scrolling",
        Duration::from_secs(5),
        "return document.documentElement.scrollWidth <= window.innerWidth;",
    );
    steps.shot("functions-on-a-phone");
    steps.browser.resize(1280, 900);

    // Remove from the function's page.
    steps.browser.click(&format!("{row} a.fn-link"));
    steps.browser.click("#remove");
    steps.browser.click("#remove-yes");
    steps.browser.wait_text("h1", |t| t == "Functions");
    steps
        .browser
        .wait_text("#functions-empty", |t| t.contains("No functions yet"));
    assert!(gw.functions().is_empty());
    steps.shot("removed");

    // Everything the page loaded or fetched came from the gateway.
    let elsewhere = steps.browser.script(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(u => new URL(u).origin !== arguments[0]);",
        json!([origin]),
    );
    assert_eq!(elsewhere, json!([]), "requests outside the gateway");
    eprintln!("{test}: {:?}", started.elapsed());
}
