//! The account of what runs: one journal per gateway run,
//! `<data-dir>/processes/<pid>-<start>` named by the gateway, a line per
//! event: `+<pid>-<start>` as soon as a call's process is spawned,
//! `-<pid>-<start>` once its group was killed at the call's end. The
//! groups a journal has started and not ended are those that may still be
//! alive; what a gateway that died left is what [`super::leftovers`]
//! clears. An event costs one small write to a file already open, never a
//! file made or removed; past [`ROTATE_BYTES`] the journal is rewritten
//! with only the groups still running.
//!
//! A process is known by its pid and the time it started (field 22 of
//! `/proc/<pid>/stat`, in clock ticks since boot): a pid is reused, the
//! pair is not, so a recycled pid is never taken for the process that had
//! it. The start of a process the gateway has just spawned is read from
//! the boot-time clock the kernel stamps it with, when the clock read
//! before and after the spawn is the same tick; from `/proc` otherwise.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use nix::time::{clock_gettime, ClockId};
use nix::unistd::{sysconf, SysconfVar};

/// The directory of the journals, in the data directory.
pub const DIR: &str = "processes";

/// A journal this long is rewritten with only what still runs.
pub const ROTATE_BYTES: u64 = 1 << 20;

/// A process, told apart from any later one given the same pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity {
    pub pid: u32,
    /// When it started, in clock ticks since boot.
    pub start: u64,
}

impl Identity {
    /// The process `pid` is now, if there is one (a zombie too: its pid
    /// is still taken).
    pub fn of(pid: u32) -> Option<Identity> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let start = start_time(&stat)?;
        Some(Identity { pid, start })
    }

    /// This process.
    pub fn own() -> Option<Identity> {
        Identity::of(std::process::id())
    }

    /// Whether this very process still runs (not a zombie).
    pub fn alive(&self) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return false;
        };
        start_time(&stat) == Some(self.start) && state(&stat) != Some('Z')
    }

    /// `<pid>-<start>`, as a journal's name and its lines name one.
    pub fn name(&self) -> String {
        format!("{}-{}", self.pid, self.start)
    }

    /// The identity `text` names (`<pid>-<start>`).
    pub fn parse(text: &str) -> Option<Identity> {
        let (pid, start) = text.trim().split_once('-')?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(pid) || !digits(start) {
            return None;
        }
        Some(Identity {
            pid: pid.parse().ok()?,
            start: start.parse().ok()?,
        })
    }
}

/// The boot-time clock in the unit and rounding of a process's start
/// time (`/proc/<pid>/stat` field 22), if it can be read.
pub fn ticks_now() -> Option<u64> {
    let hz = u64::try_from(sysconf(SysconfVar::CLK_TCK).ok()??).ok()?;
    let now = clock_gettime(ClockId::CLOCK_BOOTTIME).ok()?;
    let nanos =
        u64::try_from(now.tv_sec()).ok()? * 1_000_000_000 + u64::try_from(now.tv_nsec()).ok()?;
    Some(nanos / (1_000_000_000 / hz.max(1)))
}

/// The fields of a `/proc/<pid>/stat` past the command's name, which may
/// hold spaces and parentheses itself: the first is field 3.
fn fields_after_name(stat: &str) -> Option<std::str::SplitWhitespace<'_>> {
    Some(stat.rsplit_once(')')?.1.split_whitespace())
}

/// Field 22 of a `/proc/<pid>/stat`: when the process started.
fn start_time(stat: &str) -> Option<u64> {
    fields_after_name(stat)?.nth(22 - 3)?.parse().ok()
}

/// Field 3 of a `/proc/<pid>/stat`: the process's state (`Z`, a zombie).
fn state(stat: &str) -> Option<char> {
    fields_after_name(stat)?.next()?.chars().next()
}

/// Where one gateway keeps the record of the calls it runs: its journal,
/// none when this process's own identity cannot be read (then calls run
/// unrecorded, and the log says so once).
pub struct Records {
    journal: Option<Arc<Mutex<Journal>>>,
}

struct Journal {
    path: PathBuf,
    file: File,
    /// The groups started and not yet ended, for a rewrite.
    live: HashSet<Identity>,
    /// Bytes written since the journal was last rewritten.
    written: u64,
}

impl Records {
    /// This gateway's journal in `data_dir`, the directory created
    /// (private) if missing.
    pub fn open(data_dir: &Path) -> io::Result<Records> {
        let dir = data_dir.join(DIR);
        crate::files::create_dir(&dir)?;
        let Some(owner) = Identity::own() else {
            tracing::warn!(
                "cannot read this process's start in /proc: function processes are not recorded, and would outlive a gateway killed while they run"
            );
            return Ok(Records { journal: None });
        };
        let path = dir.join(owner.name());
        let journal = Journal {
            file: crate::files::create_file(&path, false)?,
            path,
            live: HashSet::new(),
            written: 0,
        };
        Ok(Records {
            journal: Some(Arc::new(Mutex::new(journal))),
        })
    }

    /// Records the group of `pid`, just spawned after the clock read
    /// `before` ([`ticks_now`]): ended in the journal when the [`Record`]
    /// is dropped. `None` (said in the log) when it cannot be recorded:
    /// the call runs, but would outlive a gateway killed meanwhile.
    pub fn write(&self, pid: u32, before: Option<u64>) -> Option<Record> {
        let journal = self.journal.as_ref()?;
        let same_tick = before.filter(|&before| ticks_now() == Some(before));
        let process = match same_tick {
            Some(start) => Some(Identity { pid, start }),
            None => Identity::of(pid),
        };
        let written = process
            .ok_or_else(|| io::Error::other("it is gone already"))
            .and_then(|process| {
                lock(journal).started(process)?;
                Ok(Record {
                    journal: journal.clone(),
                    process,
                })
            });
        match written {
            Ok(record) => Some(record),
            Err(e) => {
                tracing::warn!("cannot record the process group {pid}: {e}");
                None
            }
        }
    }
}

fn lock(journal: &Mutex<Journal>) -> MutexGuard<'_, Journal> {
    journal.lock().unwrap_or_else(|p| p.into_inner())
}

impl Journal {
    fn started(&mut self, process: Identity) -> io::Result<()> {
        self.append(&format!("+{}\n", process.name()))?;
        self.live.insert(process);
        Ok(())
    }

    fn ended(&mut self, process: Identity) -> io::Result<()> {
        self.live.remove(&process);
        if self.written >= ROTATE_BYTES {
            return self.rewrite();
        }
        self.append(&format!("-{}\n", process.name()))
    }

    /// One write of one whole line.
    fn append(&mut self, line: &str) -> io::Result<()> {
        self.file.write_all(line.as_bytes())?;
        self.written += line.len() as u64;
        Ok(())
    }

    /// Replaces the journal, by a rename, with one that starts only the
    /// groups still running.
    fn rewrite(&mut self) -> io::Result<()> {
        let mut fresh = self.path.clone().into_os_string();
        fresh.push(".new");
        let fresh = PathBuf::from(fresh);
        let mut file = crate::files::create_file(&fresh, false)?;
        let lines: String = self
            .live
            .iter()
            .map(|process| format!("+{}\n", process.name()))
            .collect();
        file.write_all(lines.as_bytes())?;
        std::fs::rename(&fresh, &self.path)?;
        self.file = file;
        self.written = lines.len() as u64;
        Ok(())
    }
}

/// One recorded group, for as long as the call runs.
pub struct Record {
    journal: Arc<Mutex<Journal>>,
    process: Identity,
}

impl Drop for Record {
    /// The call is over, and the runner killed its group before it reaped
    /// the process (so the id was still the group's): the journal says so.
    fn drop(&mut self) {
        let mut journal = lock(&self.journal);
        if let Err(e) = journal.ended(self.process) {
            tracing::warn!(
                "cannot record in {} that a call ended: {e}",
                journal.path.display()
            );
        }
    }
}

/// One gateway's journal found in a directory of journals.
pub struct Found {
    pub path: PathBuf,
    /// The gateway whose journal it is.
    pub owner: Identity,
    /// The groups it started and did not end, by their leaders.
    pub running: Vec<Identity>,
}

/// The journals in `dir` (none if it is missing); files not named as a
/// process are not one.
pub fn list(dir: &Path) -> Vec<Found> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let named = Identity::parse(path.file_name()?.to_str()?)?;
            let text = std::fs::read_to_string(&path).ok()?;
            // Earlier versions kept a file per call, named by its leader,
            // holding only its gateway's identity.
            let (owner, running) = match Identity::parse(text.lines().next().unwrap_or("")) {
                Some(owner) => (owner, vec![named]),
                None => (named, running(&text)),
            };
            Some(Found {
                path,
                owner,
                running,
            })
        })
        .collect()
}

/// The groups a journal's `text` started and did not end, in the order
/// they started. A line cut short by a crash names nothing.
pub fn running(text: &str) -> Vec<Identity> {
    let mut started = Vec::new();
    let mut ended = HashSet::new();
    for line in text.lines() {
        match (line.get(..1), line.get(1..).and_then(Identity::parse)) {
            (Some("+"), Some(process)) => started.push(process),
            (Some("-"), Some(process)) => {
                ended.insert(process);
            }
            _ => {}
        }
    }
    started.retain(|process| !ended.contains(process));
    started
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_time_is_field_22_past_any_name() {
        let stat = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 97 0 0 0 0 0 0 0 20 0 1 0 987654 2711552 226 18446744073709551615";
        assert_eq!(start_time(stat), Some(987654));
        assert_eq!(state(stat), Some('S'));
        assert_eq!(start_time("4242 (x) S 1"), None);
    }

    #[test]
    fn the_clock_gives_a_spawned_process_its_start() {
        let before = ticks_now().expect("the boot-time clock");
        let mut child = std::process::Command::new("true").spawn().expect("true");
        let after = ticks_now().expect("the boot-time clock");
        let start = Identity::of(child.id()).expect("its stat").start;
        child.wait().expect("wait");
        assert!(
            before <= start && start <= after,
            "{before} <= {start} <= {after}"
        );
    }

    #[test]
    fn a_journal_keeps_what_runs_across_a_rewrite() {
        let dir = std::env::temp_dir().join(format!("faas-records-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let records = Records::open(&dir).expect("open");
        let own = Identity::own().expect("own");
        let journal = dir.join(DIR).join(own.name());
        let running = |text: &str| running(text).iter().map(|p| p.pid).collect::<Vec<_>>();
        // Pids of processes that are not this test's children: only their
        // names are written.
        let first = records.write(1, None).expect("recorded");
        let second = records.write(std::process::id(), None).expect("recorded");
        let text = std::fs::read_to_string(&journal).expect("journal");
        assert_eq!(running(&text), [1, std::process::id()]);
        drop(first);
        let text = std::fs::read_to_string(&journal).expect("journal");
        assert_eq!(running(&text), [std::process::id()], "{text}");
        // Enough ends to pass the rewrite's size.
        let lines = ROTATE_BYTES as usize / format!("-{}\n", own.name()).len() + 1;
        for _ in 0..lines {
            drop(records.write(1, None).expect("recorded"));
        }
        let text = std::fs::read_to_string(&journal).expect("journal");
        assert!(
            text.len() < ROTATE_BYTES as usize,
            "rewritten: {} bytes",
            text.len()
        );
        assert_eq!(running(&text), [std::process::id()], "{text}");
        drop(second);
        let text = std::fs::read_to_string(&journal).expect("journal");
        assert!(running(&text).is_empty(), "{text}");
        let found = list(&dir.join(DIR));
        assert_eq!(found.len(), 1, "one journal, no stray rewrite");
        assert_eq!(found[0].owner, own);
        std::fs::remove_dir_all(&dir).expect("clean");
    }

    #[test]
    fn identities_round_trip_and_know_this_process() {
        let own = Identity::own().expect("this process's stat");
        assert_eq!(Identity::parse(&own.name()), Some(own));
        assert_eq!(Identity::parse(&format!("{}\n", own.name())), Some(own));
        assert!(own.alive());
        let later = Identity {
            start: own.start + 1,
            ..own
        };
        assert!(!later.alive(), "same pid, another start: another process");
        for bad in ["", "12", "12-", "-3", "a-3", "12-3-4", "+12-3", "12-+3"] {
            assert_eq!(Identity::parse(bad), None, "{bad:?}");
        }
    }
}
