//! Secrets on a plain Docker Engine, which has none of its own: the gateway
//! keeps each as a 0600 file in `<data-dir>/secrets` (0700), and the
//! containers of a function that names it get it mounted read-only at
//! `/var/openfaas/secrets/<name>`. Values are never read back by the API.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{absent, exists, Secrets};
use crate::backend::BackendError;
use crate::files;
use crate::function::Function;

/// The secrets one gateway keeps.
pub struct SecretFiles {
    dir: PathBuf,
}

/// A file being written: its name starts so, and listings skip it.
const PARTIAL: &str = ".partial-";

impl SecretFiles {
    /// The store in `dir`, created 0700 (an existing one is tightened).
    pub fn open(dir: PathBuf) -> std::io::Result<SecretFiles> {
        files::create_dir(&dir)?;
        files::tighten(&dir)?;
        Ok(SecretFiles { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the secret `name` is kept.
    pub fn has(&self, name: &str) -> bool {
        self.dir.join(name).is_file()
    }

    /// The names of the secrets kept.
    pub fn names(&self) -> Result<Vec<String>, BackendError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| self.failed("read", e))?;
        let mut names: Vec<String> = entries
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| !name.starts_with(PARTIAL))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Keeps `value` as the secret `name`: a new one when `create` (409 if
    /// it exists), else a replacement (404 if it does not). Written whole
    /// to a private file first, then renamed into place.
    pub fn put(&self, name: &str, value: &[u8], create: bool) -> Result<(), BackendError> {
        match (create, self.has(name)) {
            (true, true) => return Err(exists(name)),
            (false, false) => return Err(absent(name)),
            _ => {}
        }
        let partial = self
            .dir
            .join(format!("{PARTIAL}{}", uuid::Uuid::new_v4().simple()));
        let written = files::create_file(&partial, true)
            .and_then(|mut file| file.write_all(value).and_then(|()| file.sync_all()))
            .and_then(|()| std::fs::rename(&partial, self.dir.join(name)));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&partial);
            return Err(self.failed("write", e));
        }
        Ok(())
    }

    /// Removes the secret `name` (404 if it is not kept).
    pub fn remove(&self, name: &str) -> Result<(), BackendError> {
        match std::fs::remove_file(self.dir.join(name)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(absent(name)),
            Err(e) => Err(self.failed("remove", e)),
        }
    }

    fn failed(&self, what: &str, e: std::io::Error) -> BackendError {
        BackendError::Unreachable(format!(
            "cannot {what} the secrets in {}: {e}",
            self.dir.display()
        ))
    }
}

#[async_trait::async_trait]
impl Secrets for SecretFiles {
    async fn names(&self) -> Result<Vec<String>, BackendError> {
        SecretFiles::names(self)
    }

    async fn put(&self, name: &str, value: &[u8], create: bool) -> Result<(), BackendError> {
        SecretFiles::put(self, name, value, create)
    }

    async fn remove(&self, name: &str) -> Result<(), BackendError> {
        SecretFiles::remove(self, name)
    }

    fn check_service(&self, function: &Function) -> Result<(), BackendError> {
        match function.secrets.iter().find(|s| !self.has(s)) {
            Some(missing) => Err(BackendError::Invalid(format!(
                "no such secret: {missing} (create it with POST /system/secrets)"
            ))),
            None => Ok(()),
        }
    }

    fn check_per_call(&self, function: &Function) -> Result<(), BackendError> {
        self.check_service(function)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn kept_private_created_updated_listed_removed() {
        let dir = std::env::temp_dir().join(format!("faas-secrets-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = SecretFiles::open(dir.join("secrets")).expect("store");
        store.put("a", b"one", true).expect("create");
        assert!(matches!(
            store.put("a", b"x", true),
            Err(BackendError::Conflict(_))
        ));
        assert!(matches!(
            store.put("b", b"x", false),
            Err(BackendError::Absent(_))
        ));
        store.put("a", b"two", false).expect("update");
        assert_eq!(std::fs::read(store.dir().join("a")).expect("file"), b"two");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&store.dir().join("a")), 0o600);
        assert_eq!(mode(store.dir()), 0o700);
        assert_eq!(store.names().expect("names"), ["a"]);
        store.remove("a").expect("remove");
        assert!(matches!(store.remove("a"), Err(BackendError::Absent(_))));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
