//! Clears what an earlier run left: the process groups of calls a gateway
//! was running when it died, found by their [`records`](super::records).
//! A gateway sweeps them at start, before its store fails the calls that
//! were left RUNNING; its [`supervisor`](super::supervisor) clears its own
//! the moment it dies.
//!
//! A group is killed only while the process recorded as its leader is
//! still the one that started it (same pid, same start time). A group
//! whose leader has exited cannot be told from a later group given the
//! same id, so it is left alone; its record goes either way.

use std::path::Path;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::records::{self, Identity};

/// At start: kills the groups recorded in `data_dir` by gateways that no
/// longer run, and removes their journals. How many groups were killed.
pub fn sweep(data_dir: &Path) -> usize {
    clear(&data_dir.join(records::DIR), |owner| !owner.alive())
}

/// Kills the groups recorded in `dir` by the gateways `which` picks, and
/// removes their journals. How many groups were killed.
pub fn clear(dir: &Path, which: impl Fn(Identity) -> bool) -> usize {
    let mut killed = 0;
    for found in records::list(dir) {
        if !which(found.owner) {
            continue;
        }
        for leader in found.running {
            if Identity::of(leader.pid) == Some(leader) && kill_group(leader.pid) {
                killed += 1;
            }
        }
        if let Err(e) = std::fs::remove_file(&found.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("cannot remove {}: {e}", found.path.display());
            }
        }
    }
    killed
}

/// SIGKILL to the group `pid` leads; whether there was one.
fn kill_group(pid: u32) -> bool {
    i32::try_from(pid).is_ok_and(|pid| killpg(Pid::from_raw(pid), Signal::SIGKILL).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command};

    fn data_dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("faas-leftovers-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join(records::DIR)).expect("dir");
        dir
    }

    /// A `sleep` leading a group of its own, as the runner spawns calls.
    fn group() -> Child {
        Command::new("sleep")
            .arg("300")
            .process_group(0)
            .spawn()
            .expect("sleep")
    }

    fn record(dir: &Path, leader: Identity, owner: &str) -> std::path::PathBuf {
        let path = dir.join(records::DIR).join(leader.name());
        std::fs::write(&path, format!("{owner}\n")).expect("record");
        path
    }

    /// Whether `child` ended by SIGKILL (reaping it).
    fn killed(child: &mut Child) -> bool {
        use std::os::unix::process::ExitStatusExt;
        child.wait().expect("wait").signal() == Some(Signal::SIGKILL as i32)
    }

    #[test]
    fn a_dead_gateways_groups_are_killed_a_live_ones_kept() {
        let dir = data_dir("owners");
        let (mut left, mut kept) = (group(), group());
        let dead = Identity {
            pid: std::process::id(),
            start: 0,
        };
        let own = Identity::own().expect("own");
        let left_record = record(&dir, Identity::of(left.id()).expect("left"), &dead.name());
        let kept_record = record(&dir, Identity::of(kept.id()).expect("kept"), &own.name());
        std::fs::write(dir.join(records::DIR).join("notes.txt"), "x").expect("stray");
        assert_eq!(sweep(&dir), 1);
        assert!(killed(&mut left));
        assert!(!left_record.exists());
        assert!(kept_record.exists(), "a running gateway's record stays");
        assert!(dir.join(records::DIR).join("notes.txt").exists());
        assert_eq!(clear(&dir.join(records::DIR), |o| o == own), 1);
        assert!(killed(&mut kept));
        assert!(!kept_record.exists());
        std::fs::remove_dir_all(&dir).expect("clean");
    }

    #[test]
    fn a_dead_gateways_journal_kills_what_it_started_and_did_not_end() {
        let dir = data_dir("journal");
        let (mut running, mut ended) = (group(), group());
        let running_id = Identity::of(running.id()).expect("running");
        let ended_id = Identity::of(ended.id()).expect("ended");
        let dead = Identity {
            pid: std::process::id(),
            start: 0,
        };
        let journal = dir.join(records::DIR).join(dead.name());
        let lines = format!(
            "+{}\n+{}\n-{}\n+12",
            running_id.name(),
            ended_id.name(),
            ended_id.name()
        );
        std::fs::write(&journal, lines).expect("journal");
        assert_eq!(sweep(&dir), 1);
        assert!(killed(&mut running));
        assert!(!journal.exists());
        assert!(
            ended.try_wait().expect("try_wait").is_none(),
            "ended: left alone"
        );
        ended.kill().expect("kill");
        ended.wait().expect("wait");
        std::fs::remove_dir_all(&dir).expect("clean");
    }

    #[test]
    fn a_recycled_pid_is_not_killed() {
        let dir = data_dir("recycled");
        let mut other = group();
        let now = Identity::of(other.id()).expect("other");
        // The record's process had this pid but started earlier.
        let earlier = Identity {
            start: now.start.saturating_sub(1),
            ..now
        };
        let path = record(&dir, earlier, "");
        assert_eq!(sweep(&dir), 0);
        assert!(!path.exists(), "the record goes all the same");
        assert!(other.try_wait().expect("try_wait").is_none(), "still runs");
        other.kill().expect("kill");
        other.wait().expect("wait");
        std::fs::remove_dir_all(&dir).expect("clean");
    }
}
