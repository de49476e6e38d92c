//! A data directory that fills up (a small tmpfs): new calls and deploys
//! are refused with 507 and `Retry-After`, nothing half-accepted; calls
//! accepted before run exactly once, their starts and ends written when
//! space returns; nothing stays PENDING or RUNNING; a restart runs nothing
//! again.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use faas_tests::gateway::{start_gateway_in, GatewayHandle};
use faas_tests::{eventually, send, TempDir};
use reqwest::Method;
use serde_json::json;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` at `at`; `None` (with the reason printed)
    /// where this user may not mount, unless CI requires the test.
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).expect("the mount point");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Tmpfs(at.to_path_buf())),
            other => {
                let why = match other {
                    Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
                    Err(e) => e.to_string(),
                };
                if std::env::var("FAAS_REQUIRE_DOCKER").as_deref() == Ok("1") {
                    panic!("cannot mount a tmpfs (CI runs as root): {why}");
                }
                eprintln!("skipped: cannot mount a tmpfs for the data directory: {why}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system of `path` with a file until it refuses more.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).expect("the filler");
    let chunk = vec![0u8; 16 * 1024];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn call_async(gw: &GatewayHandle, id: &str, body: Vec<u8>) -> faas_tests::Answer {
    send(
        faas_tests::client()
            .post(gw.url("/async-function/once"))
            .header("X-Call-Id", id)
            .body(body),
    )
}

#[test]
fn a_full_disk_refuses_new_calls_and_runs_the_accepted_ones_once() {
    let dir = TempDir::new("faas-disk-full");
    let Some(mount) = Tmpfs::mount(&dir.0.join("small"), "3m") else {
        return;
    };
    let data = mount.0.join("data");
    std::fs::create_dir(&data).expect("the data directory");
    std::os::unix::fs::symlink(&data, dir.0.join("data")).expect("the data link");
    let runs = dir.0.join("runs");
    let mut gw = start_gateway_in(dir, &[("FAAS_QUOTA", "2")]);
    let script = format!(
        "sleep 0.5; cat >/dev/null; echo \"$Http_X_Call_Id\" >> {}",
        runs.display()
    );
    gw.deploy(json!({"service": "once", "image": "x", "command": ["sh", "-c", script]}));

    // Calls queued and running while the disk fills.
    let mut accepted = Vec::new();
    for _ in 0..6 {
        let id = uuid::Uuid::new_v4().to_string();
        assert_eq!(call_async(&gw, &id, vec![b'x'; 1000]).status, 202);
        accepted.push(id);
    }
    fill(&mount.0.join("filler"));

    // New calls until the store refuses one: large inputs fill the WAL.
    let mut refused = Vec::new();
    for _ in 0..400 {
        let id = uuid::Uuid::new_v4().to_string();
        let answer = call_async(&gw, &id, vec![b'y'; 64 * 1024]);
        match answer.status {
            202 => accepted.push(id),
            507 => {
                assert_eq!(answer.header("retry-after"), "5");
                let line = answer.one_line();
                assert!(line.contains("disk full or read-only"), "{line}");
                refused.push(id);
                break;
            }
            other => panic!("async call: {other} {}", answer.text()),
        }
    }
    assert_eq!(refused.len(), 1, "a call is refused once the disk is full");

    // While full: sync calls and deploys are refused too, and nothing runs.
    let sync_id = uuid::Uuid::new_v4().to_string();
    let sync = send(
        faas_tests::client()
            .post(gw.url("/function/once"))
            .header("X-Call-Id", &sync_id)
            .body("z"),
    );
    assert_eq!(sync.status, 507, "{}", sync.text());
    refused.push(sync_id);
    let deploy = send(
        gw.admin(Method::POST, "/system/functions")
            .json(&json!({"service": "late", "image": "x", "command": ["cat"]})),
    );
    assert_eq!(deploy.status, 507, "{}", deploy.text());

    // Starts and ends of the calls in flight wait for the disk, as writes.
    eventually(
        "a write to wait for the disk",
        Duration::from_secs(10),
        || {
            String::from_utf8_lossy(&gw.log())
                .contains("waiting for the store")
                .then_some(())
        },
    );

    // Space returns: every accepted call ends, once.
    std::fs::remove_file(mount.0.join("filler")).expect("the filler goes");
    eventually(
        "every accepted call to finish",
        Duration::from_secs(60),
        || {
            let counts = gw.counts("once");
            (counts["Finished"] == accepted.len()
                && counts["Pending"] == 0
                && counts["Running"] == 0)
                .then_some(())
        },
    );
    let once = |runs: &[String]| {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for id in runs {
            *seen.entry(id.as_str()).or_default() += 1;
        }
        for id in &accepted {
            assert_eq!(
                seen.get(id.as_str()),
                Some(&1),
                "accepted call {id} ran once"
            );
        }
        for id in &refused {
            assert_eq!(seen.get(id.as_str()), None, "refused call {id} never ran");
            let record = gw.get(&format!("/system/calls/{id}"));
            assert_eq!(record.status, 404, "refused call {id} left no record");
        }
        assert_eq!(runs.len(), accepted.len());
    };
    once(&lines(&runs));
    for id in &accepted {
        assert_eq!(gw.record(id)["Status"], "FINISHED", "call {id}");
    }
    assert_eq!(gw.call("once", "again").status, 200, "calls work again");
    let before = lines(&runs);
    assert_eq!(before.len(), accepted.len() + 1);

    // A restart runs nothing again.
    gw.restart();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(lines(&runs), before, "nothing ran again after a restart");
    let counts = gw.counts("once");
    assert_eq!(counts["Pending"], 0);
    assert_eq!(counts["Running"], 0);
    drop(gw);
}
