//! A real headless Chromium for the portal's end-to-end test, driven over
//! the W3C WebDriver protocol: `chromedriver` started on port 0 (it names
//! the port it bound), JSON over HTTP to it, one session per [`Browser`],
//! ended when dropped.
//!
//! [`Browser::start`] answers `Err` with the reason when Chromium or its
//! driver is not installed, so the test can skip with that reason (or fail,
//! under `FAAS_REQUIRE_BROWSER=1`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::{json, Value};

use crate::{eventually, Running, TempDir};

/// The key WebDriver names an element by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The directory of the profile downloads are saved in.
const DOWNLOADS: &str = "downloads";

/// WebDriver's code for the Tab key.
pub const TAB: &str = "\u{E004}";

/// A headless Chromium session.
pub struct Browser {
    http: Client,
    /// `http://127.0.0.1:<port>/session/<id>`.
    session: String,
    // Dropped after the session ends (fields drop in order).
    _driver: Running,
    profile: TempDir,
}

/// A browser for `test`, or `None` after printing why the test skips.
/// Panics instead when `FAAS_REQUIRE_BROWSER=1`.
pub fn browser_or_skip(test: &str, width: u32, height: u32) -> Option<Browser> {
    match Browser::start(width, height) {
        Ok(browser) => Some(browser),
        Err(why) => {
            assert!(
                std::env::var("FAAS_REQUIRE_BROWSER").as_deref() != Ok("1"),
                "{test}: {why}, and FAAS_REQUIRE_BROWSER=1"
            );
            eprintln!("skipped {test}: {why}");
            None
        }
    }
}

/// The first of `names` found in `PATH` or at an absolute path.
fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in names {
        let candidate = Path::new(name);
        if candidate.is_absolute() {
            if candidate.is_file() {
                return Some(candidate.to_path_buf());
            }
            continue;
        }
        for dir in std::env::split_paths(&path) {
            let full = dir.join(name);
            if full.is_file() {
                return Some(full);
            }
        }
    }
    None
}

/// The port in `ChromeDriver was started successfully on port <n>.`
fn driver_port(line: &str) -> Option<u16> {
    let (_, rest) = line.split_once("started successfully on port ")?;
    rest.trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium `width`×`height`; `Err`
    /// says what is missing.
    pub fn start(width: u32, height: u32) -> Result<Browser, String> {
        let driver = which(&["chromedriver", "/usr/lib/chromium/chromedriver"])
            .ok_or("chromedriver is not installed (apt-get install chromium-driver)")?;
        // Debian's /usr/bin/chromium is a wrapper script; the binary is beside the driver.
        let chromium = which(&[
            "/usr/lib/chromium/chromium",
            "chromium",
            "chromium-browser",
            "google-chrome",
        ])
        .ok_or("Chromium is not installed (apt-get install chromium)")?;
        let mut child = Command::new(&driver)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", driver.display()))?;
        let stdout = child.stdout.take().ok_or("chromedriver's STDOUT")?;
        let (running, mut rest) = Running::announced(child, stdout, driver_port);
        std::thread::spawn(move || std::io::copy(&mut rest, &mut std::io::sink()));
        let profile = TempDir::new("faas-chromium");
        let http = Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?;
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--no-first-run".into(),
            "--disable-extensions".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-default-apps".into(),
            "--hide-scrollbars".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.0.display()),
        ];
        // Downloads stay in the profile, away from the user's own files.
        let downloads = profile.0.join(DOWNLOADS);
        let prefs = json!({
            "download.default_directory": downloads,
            "download.prompt_for_download": false,
        });
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args, "prefs": prefs},
        }}});
        let base = running.url("");
        let answer = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .and_then(|r| r.json::<Value>())
            .map_err(|e| format!("chromedriver did not open a session: {e}"))?;
        let id = answer["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| format!("chromedriver refused a session: {answer}"))?;
        Ok(Browser {
            http,
            session: format!("{base}/session/{id}"),
            _driver: running,
            profile,
        })
    }

    /// Where the browser saves what it downloads.
    pub fn downloads(&self) -> PathBuf {
        self.profile.0.join(DOWNLOADS)
    }

    /// One WebDriver command; panics on a WebDriver error.
    fn command(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        self.try_command(method.clone(), path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    fn try_command(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().map_err(|e| e.to_string())?;
        let ok = response.status().is_success();
        let value: Value = response.json().map_err(|e| e.to_string())?;
        if ok {
            Ok(value["value"].clone())
        } else {
            Err(value["value"].to_string())
        }
    }

    /// Opens `url` and waits for it to load.
    pub fn goto(&self, url: &str) {
        self.command(Method::POST, "/url", Some(json!({ "url": url })));
    }

    /// The element `css` selects, if there is one now.
    pub fn try_find(&self, css: &str) -> Option<String> {
        let found = self
            .try_command(
                Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .ok()?;
        found[ELEMENT].as_str().map(str::to_string)
    }

    /// The element `css` selects, once there is one (within 10 s).
    pub fn find(&self, css: &str) -> String {
        eventually(
            &format!("an element {css}"),
            Duration::from_secs(10),
            || self.try_find(css),
        )
    }

    /// Clicks the element `css` selects.
    pub fn click(&self, css: &str) {
        let id = self.find(css);
        self.command(
            Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        );
    }

    /// Types `text` into the element `css` selects, after clearing it.
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.command(
            Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        );
        self.keys(css, text);
    }

    /// Sends `keys` to the element `css` selects (a file path, for a file input).
    pub fn keys(&self, css: &str, keys: &str) {
        let id = self.find(css);
        self.command(
            Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": keys })),
        );
    }

    /// Presses `keys` on whatever has the focus.
    pub fn press(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|c| {
                let key = c.to_string();
                [
                    json!({"type": "keyDown", "value": key}),
                    json!({"type": "keyUp", "value": key}),
                ]
            })
            .collect();
        self.command(
            Method::POST,
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
    }

    /// The rendered text of the element `css` selects; empty when there is none.
    pub fn text(&self, css: &str) -> String {
        self.script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
            json!([css]),
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Runs `body` (a function body; `arguments` are `args`) in the page.
    pub fn script(&self, body: &str, args: Value) -> Value {
        self.command(
            Method::POST,
            "/execute/sync",
            Some(json!({"script": body, "args": args})),
        )
    }

    /// Waits (up to `within`) until `check` finds what it looks for.
    pub fn wait<T>(
        &self,
        what: &str,
        within: Duration,
        mut check: impl FnMut(&Browser) -> Option<T>,
    ) -> T {
        eventually(what, within, || check(self))
    }

    /// Waits (up to `within`) until `body` (a function body, as for
    /// [`Browser::script`]) returns true.
    pub fn wait_true(&self, what: &str, within: Duration, body: &str) {
        self.wait(what, within, |b| {
            (b.script(body, json!([])) == true).then_some(())
        });
    }

    /// Waits until the text of `css` satisfies `test`; answers it.
    pub fn wait_text(&self, css: &str, test: impl Fn(&str) -> bool) -> String {
        self.wait(
            &format!("the text of {css}"),
            Duration::from_secs(15),
            |b| {
                let text = b.text(css);
                test(&text).then_some(text)
            },
        )
    }

    /// Resizes the window.
    pub fn resize(&self, width: u32, height: u32) {
        self.command(
            Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }

    /// Saves a PNG of the window to `path`.
    pub fn screenshot(&self, path: &Path) {
        let data = self.command(Method::GET, "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or_default())
            .expect("a base64 screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the screenshot directory");
        }
        std::fs::write(path, png).expect("the screenshot is written");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends Chromium; chromedriver is killed after.
        let _ = self.try_command(Method::DELETE, "", None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_driver_names_its_port() {
        assert_eq!(
            driver_port("ChromeDriver was started successfully on port 36527."),
            Some(36527)
        );
        assert_eq!(driver_port("Starting ChromeDriver 1.2 on port 0"), None);
    }
}
