//! The account of what runs: a file `<data-dir>/processes/<pid>-<start>`
//! for every call's process group while it may be alive, naming the
//! gateway that started it. Written as soon as a call's process is
//! spawned, removed once its group is killed at the call's end; what a
//! gateway that died left here is what [`super::leftovers`] clears.
//!
//! A process is known by its pid and the time it started (field 22 of
//! `/proc/<pid>/stat`, in clock ticks since boot): a pid is reused, the
//! pair is not, so a recycled pid is never taken for the process that had
//! it.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The directory of the records, in the data directory.
pub const DIR: &str = "processes";

/// A process, told apart from any later one given the same pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    /// `<pid>-<start>`, as a record names it.
    pub fn name(&self) -> String {
        format!("{}-{}", self.pid, self.start)
    }

    /// The identity `text` names (`<pid>-<start>`).
    pub fn parse(text: &str) -> Option<Identity> {
        let (pid, start) = text.trim().split_once('-')?;
        Some(Identity {
            pid: pid.parse().ok()?,
            start: start.parse().ok()?,
        })
    }
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

/// Where one gateway keeps the records of the calls it runs.
pub struct Records {
    dir: PathBuf,
    /// The gateway the records name, so a sweep leaves the records of a
    /// running gateway alone and its supervisor clears only its own.
    owner: Option<Identity>,
}

impl Records {
    /// The records in `data_dir`, the directory created (private) if
    /// missing.
    pub fn open(data_dir: &Path) -> io::Result<Records> {
        let dir = data_dir.join(DIR);
        crate::files::create_dir(&dir)?;
        Ok(Records {
            dir,
            owner: Identity::own(),
        })
    }

    /// Records the group of `pid`, just spawned: killed and forgotten when
    /// the [`Record`] is dropped. `None` (said in the log) when it cannot
    /// be recorded: the call runs, but would outlive a gateway killed
    /// meanwhile.
    pub fn write(&self, pid: u32) -> Option<Record> {
        let written = Identity::of(pid)
            .ok_or_else(|| io::Error::other("it is gone already"))
            .and_then(|process| {
                let path = self.dir.join(process.name());
                let owner = self.owner.map(|o| o.name()).unwrap_or_default();
                let mut file = crate::files::create_file(&path, false)?;
                file.write_all(format!("{owner}\n").as_bytes())?;
                Ok(Record { path })
            });
        match written {
            Ok(record) => Some(record),
            Err(e) => {
                tracing::warn!(
                    "cannot record the process group {pid} in {}: {e}",
                    self.dir.display()
                );
                None
            }
        }
    }
}

/// One recorded group, for as long as the call runs.
pub struct Record {
    path: PathBuf,
}

impl Drop for Record {
    /// The call is over, and the runner killed its group before it reaped
    /// the process (so the id was still the group's): the record goes.
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!("cannot remove {}: {e}", self.path.display());
            }
        }
    }
}

/// One record found in a directory of records.
pub struct Found {
    pub path: PathBuf,
    /// The process that leads the recorded group.
    pub leader: Identity,
    /// The gateway that started it, if the record says.
    pub owner: Option<Identity>,
}

/// The records in `dir` (none if it is missing); files not named as a
/// record are not one.
pub fn list(dir: &Path) -> Vec<Found> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let leader = Identity::parse(path.file_name()?.to_str()?)?;
            let owner = std::fs::read_to_string(&path)
                .ok()
                .and_then(|text| Identity::parse(&text));
            Some(Found {
                path,
                leader,
                owner,
            })
        })
        .collect()
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
        for bad in ["", "12", "12-", "-3", "a-3", "12-3-4"] {
            assert_eq!(Identity::parse(bad), None, "{bad:?}");
        }
    }
}
