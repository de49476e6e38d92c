//! The health lock file, `$TMPDIR/.lock` (default `/tmp/.lock`): present while
//! the watchdog accepts work. `fwatchdog --run-healthcheck` and
//! `GET /_/health` read it.

use std::io;
use std::path::PathBuf;

/// Where the lock file lives.
pub fn path() -> PathBuf {
    std::env::var_os("TMPDIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"))
        .join(".lock")
}

/// Writes the lock file.
pub fn create() -> io::Result<()> {
    std::fs::write(path(), b"")
}

/// Removes the lock file; a missing file is fine.
pub fn remove() {
    let _ = std::fs::remove_file(path());
}

/// Whether the lock file exists.
pub fn exists() -> bool {
    path().exists()
}
