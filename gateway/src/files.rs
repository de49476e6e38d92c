//! The data directory is private: the directory 0700, the files in it
//! (`faas.db` and its `-wal`/`-shm`, `admin-password`, `gateway-id`,
//! `replica-key`) 0600.
//! They are created so, and [`tighten`] corrects, at start, any that an
//! earlier version or a hand left looser, saying so in one line each.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The data directory's mode.
pub const DIR_MODE: u32 = 0o700;
/// The mode of every file in the data directory.
pub const FILE_MODE: u32 = 0o600;

/// The files the gateway keeps in its data directory.
const FILES: [&str; 6] = [
    "faas.db",
    "faas.db-wal",
    "faas.db-shm",
    "admin-password",
    "gateway-id",
    "replica-key",
];

/// Creates `dir` (and its missing parents) 0700 unless it exists.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Opens `path` for writing, created 0600: with `new` it must not exist,
/// without it an existing file is emptied.
pub fn create_file(path: &Path, new: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).mode(FILE_MODE);
    if new {
        options.create_new(true);
    } else {
        options.create(true).truncate(true);
    }
    options.open(path)
}

/// Corrects the data directory and each of its files that exists and is
/// open to more than its owner.
pub fn tighten(dir: &Path) -> io::Result<()> {
    tighten_one(dir, DIR_MODE)?;
    for name in FILES {
        tighten_one(&dir.join(name), FILE_MODE)?;
    }
    Ok(())
}

/// Sets `path` to `mode` if it has a permission bit `mode` lacks.
fn tighten_one(path: &Path, mode: u32) -> io::Result<()> {
    let had = match std::fs::metadata(path) {
        Ok(meta) => meta.permissions().mode() & 0o7777,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if had & !mode == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, Permissions::from_mode(mode))?;
    tracing::warn!("{} was {had:04o}: made {mode:04o}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777
    }

    #[test]
    fn created_private_and_looser_ones_tightened() {
        let root = std::env::temp_dir().join(format!("faas-files-{}", uuid::Uuid::new_v4()));
        let dir = root.join("data");
        create_dir(&dir).expect("the directory");
        assert_eq!(mode(&dir), DIR_MODE);
        create_file(&dir.join("gateway-id"), true).expect("a file");
        assert_eq!(mode(&dir.join("gateway-id")), FILE_MODE);
        assert!(create_file(&dir.join("gateway-id"), true).is_err());

        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).expect("chmod");
        std::fs::write(dir.join("faas.db"), b"").expect("a file");
        std::fs::set_permissions(dir.join("faas.db"), Permissions::from_mode(0o644))
            .expect("chmod");
        std::fs::write(dir.join("faas.db-wal"), b"").expect("a file");
        std::fs::set_permissions(dir.join("faas.db-wal"), Permissions::from_mode(0o400))
            .expect("chmod");
        tighten(&dir).expect("tightened");
        assert_eq!(mode(&dir), DIR_MODE);
        assert_eq!(mode(&dir.join("faas.db")), FILE_MODE);
        assert_eq!(mode(&dir.join("faas.db-wal")), 0o400, "stricter is kept");
        let _ = std::fs::remove_dir_all(&root);
    }
}
