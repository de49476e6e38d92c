//! Helpers for the tests that need a Docker Engine: whether one answers (a
//! test skips with a printed reason when none does, and fails instead when
//! `FAAS_REQUIRE_DOCKER=1`), whether it has gVisor (likewise, with
//! `FAAS_REQUIRE_GVISOR=1`), the sample images, and the containers the
//! gateway labelled. The tests read the engine with the `docker` CLI; the
//! gateway itself only talks to the engine's API.

use std::process::Command;
use std::sync::Mutex;

/// Whether Docker tests should run. Panics when no engine answers and
/// `FAAS_REQUIRE_DOCKER=1`; otherwise prints why the test skips.
pub fn engine_or_skip(test: &str) -> bool {
    let answers = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if answers {
        ensure_sample_images();
        return true;
    }
    assert!(
        std::env::var("FAAS_REQUIRE_DOCKER").as_deref() != Ok("1"),
        "{test}: no Docker Engine answers and FAAS_REQUIRE_DOCKER=1 (run scripts/docker-engine.sh)"
    );
    eprintln!("skipped {test}: no Docker Engine answers (run scripts/docker-engine.sh)");
    false
}

/// Whether gVisor tests should run: an engine answers (as
/// [`engine_or_skip`]) and has the runtime `runsc` registered. Panics when
/// it has not and `FAAS_REQUIRE_GVISOR=1`; otherwise prints why the test
/// skips.
pub fn gvisor_or_skip(test: &str) -> bool {
    if !engine_or_skip(test) {
        return false;
    }
    let runtimes = runtimes();
    if runtimes.iter().any(|r| r == "runsc") {
        return true;
    }
    assert!(
        std::env::var("FAAS_REQUIRE_GVISOR").as_deref() != Ok("1"),
        "{test}: the engine has no runtime runsc (it has {runtimes:?}) and FAAS_REQUIRE_GVISOR=1 \
         (run scripts/docker-engine.sh)"
    );
    eprintln!(
        "skipped {test}: the engine has no runtime runsc, only {runtimes:?} (run scripts/docker-engine.sh)"
    );
    false
}

/// The names of the runtimes the engine has registered
/// (`docker info --format '{{json .Runtimes}}'`); none when it cannot say.
pub fn runtimes() -> Vec<String> {
    let out = Command::new("docker")
        .args(["info", "--format", "{{json .Runtimes}}"])
        .output();
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        return Vec::new();
    };
    match serde_json::from_slice::<serde_json::Value>(&out.stdout) {
        Ok(serde_json::Value::Object(runtimes)) => runtimes.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Builds the sample images with `scripts/build-images.sh` unless they are
/// all there already.
fn ensure_sample_images() {
    static BUILT: Mutex<bool> = Mutex::new(false);
    build_images_unless(&BUILT, || {
        ["cat", "echo", "wc", "resizer"].iter().all(|name| {
            Command::new("docker")
                .args(["image", "inspect", &format!("faas/sample-{name}:latest")])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        })
    });
}

/// Makes sure `faas/fwatchdog` has the launcher mode of warm containers
/// (`--once`), building the images from this tree when it does not (an
/// image built from an older tree would leave every call cold).
pub fn launcher_image() {
    static CHECKED: Mutex<bool> = Mutex::new(false);
    build_images_unless(&CHECKED, || {
        Command::new("docker")
            .args(["run", "--rm", "faas/fwatchdog:latest", "--help"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("--once"))
            .unwrap_or(false)
    });
}

/// Makes sure the sample images' watchdog asks for the gateway's token
/// (`gateway_token`), building the images from this tree when it does not
/// (an image built from an older tree answers anyone).
pub fn replica_token_image() {
    static CHECKED: Mutex<bool> = Mutex::new(false);
    build_images_unless(&CHECKED, || {
        Command::new("docker")
            .args([
                "run",
                "--rm",
                "faas/sample-cat:latest",
                "fwatchdog",
                "--help",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("gateway_token"))
            .unwrap_or(false)
    });
}

/// Runs `scripts/build-images.sh` unless `current` says the images are
/// fine; once per test binary (`done`).
fn build_images_unless(done: &Mutex<bool>, current: impl FnOnce() -> bool) {
    let mut done = done.lock().unwrap_or_else(|p| p.into_inner());
    if *done {
        return;
    }
    if !current() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let status = Command::new("bash")
            .arg(format!("{root}/scripts/build-images.sh"))
            .current_dir(root)
            .status()
            .expect("scripts/build-images.sh runs");
        assert!(status.success(), "scripts/build-images.sh failed");
    }
    *done = true;
}

/// A per-call function `name` on the sample image that sleeps a minute,
/// past its timeout of 2 s.
pub fn outlives_its_timeout(name: &str) -> serde_json::Value {
    serde_json::json!({"service": name, "image": "faas/sample-cat",
        "command": ["sleep", "60"], "timeout": 2})
}

/// Ids of the containers (running or not) carrying `label` (`key` or
/// `key=value`).
pub fn containers_labelled(label: &str) -> Vec<String> {
    ps_labelled(&[label], "-aq")
}

/// Ids of the containers (running or not) carrying all of `labels`.
pub fn containers_with(labels: &[&str]) -> Vec<String> {
    ps_labelled(labels, "-aq")
}

/// Ids of the running containers carrying `label`.
pub fn running_labelled(label: &str) -> Vec<String> {
    ps_labelled(&[label], "-q")
}

fn ps_labelled(labels: &[&str], flags: &str) -> Vec<String> {
    let filters = labels
        .iter()
        .flat_map(|l| ["--filter".into(), format!("label={l}")]);
    let out = Command::new("docker")
        .args(["ps", flags])
        .args(filters)
        .output()
        .expect("docker ps runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The containers the engine creates carrying every one of some labels
/// from `since` (Unix seconds), counted as they are created: one subscription to the
/// engine's events, which loses none (a later `docker events --since`
/// reads a bounded buffer that other containers' events may have pushed
/// these out of).
pub struct Creations {
    events: std::process::Child,
    seen: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Creations {
    pub fn of(labels: &[&str], since: u64) -> Creations {
        let mut events = Command::new("docker");
        events
            .args(["events", "--since", &since.to_string()])
            .args(["--filter", "type=container", "--filter", "event=create"]);
        for label in labels {
            events.args(["--filter", &format!("label={label}")]);
        }
        let mut events = events
            .args(["--format", "{{.ID}}"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("docker events runs");
        let stdout = events.stdout.take().expect("its stdout");
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = seen.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for _ in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        Creations { events, seen }
    }

    pub fn count(&self) -> usize {
        // What the engine sent by now has arrived once another request of
        // ours is answered after it.
        let _ = Command::new("docker")
            .args(["version", "--format", "{{.Server.Version}}"])
            .output();
        std::thread::sleep(std::time::Duration::from_millis(200));
        self.seen.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Creations {
    fn drop(&mut self) {
        let _ = self.events.kill();
        let _ = self.events.wait();
    }
}
