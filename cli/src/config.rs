//! Where the gateway is and how to authenticate: `--gateway` / `FAAS_GATEWAY`,
//! `FAAS_PASSWORD`, and the file `faas login` writes
//! (`$XDG_CONFIG_HOME/faas/config.json`, else `$HOME/.config/faas/config.json`,
//! mode 0600). The environment comes in as a lookup function so that all of
//! this is testable without touching the process's environment.

use std::collections::BTreeMap;
use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The gateway used when neither a flag, the environment nor the login file names one.
pub const DEFAULT_GATEWAY: &str = "http://127.0.0.1:8080";

/// The only user the gateway knows (docs/security.md).
pub const DEFAULT_USERNAME: &str = "admin";

/// A lookup of an environment variable.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What every command needs to talk to the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Base URL of the gateway, without a trailing slash.
    pub gateway: String,
    /// User for basic auth.
    pub username: String,
    /// Password for basic auth, when one is known.
    pub password: Option<String>,
    /// The login file, when a home or config directory is known.
    pub file: Option<PathBuf>,
}

/// The login file's contents.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// The gateway of the last `faas login`: the default for later commands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Credentials per gateway URL.
    #[serde(default)]
    pub auths: BTreeMap<String, Auth>,
}

/// Credentials for one gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auth {
    pub username: String,
    pub password: String,
}

impl Config {
    /// Resolves the configuration: `gateway` is the flag or `FAAS_GATEWAY`
    /// (clap reads both), then the login file, then the default.
    pub fn resolve(gateway: Option<String>, lookup: Lookup) -> Result<Config, Error> {
        let file = config_file(lookup);
        let stored = match &file {
            Some(path) => Stored::load(path)?,
            None => Stored::default(),
        };
        let gateway = normalize_url(
            gateway
                .filter(|g| !g.trim().is_empty())
                .or_else(|| stored.gateway.clone())
                .as_deref()
                .unwrap_or(DEFAULT_GATEWAY),
        );
        let auth = stored.auths.get(&gateway);
        let password = lookup("FAAS_PASSWORD")
            .filter(|p| !p.is_empty())
            .or_else(|| auth.map(|a| a.password.clone()));
        let username = auth
            .map(|a| a.username.clone())
            .unwrap_or_else(|| DEFAULT_USERNAME.to_string());
        Ok(Config {
            gateway,
            username,
            password,
            file,
        })
    }
}

/// The login file's path: `$XDG_CONFIG_HOME/faas/config.json`, else
/// `$HOME/.config/faas/config.json`.
pub fn config_file(lookup: Lookup) -> Option<PathBuf> {
    let dir = lookup("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            lookup("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(dir.join("faas").join("config.json"))
}

/// `127.0.0.1:8080/` → `http://127.0.0.1:8080`.
pub fn normalize_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    }
}

impl Stored {
    /// Reads the file; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<Stored, Error> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Usage(format!("{} is not valid: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Stored::default()),
            Err(e) => Err(Error::file(path)(e)),
        }
    }

    /// Writes the file readable by its owner only (0600, directory 0700),
    /// through a temporary file so a crash never leaves half of it.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        if let Some(dir) = path.parent() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(Error::file(dir))?;
        }
        let tmp = path.with_extension("json.tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut json = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Usage(format!("cannot encode the configuration: {e}")))?;
        json.push(b'\n');
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(Error::file(&tmp))?;
        f.write_all(&json).map_err(Error::file(&tmp))?;
        f.sync_all().map_err(Error::file(&tmp))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(Error::file(&tmp))?;
        std::fs::rename(&tmp, path).map_err(Error::file(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_file_lives_in_the_config_dir() {
        let xdg = env(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")]);
        assert_eq!(
            config_file(&xdg),
            Some(PathBuf::from("/x/faas/config.json"))
        );
        let home = env(&[("HOME", "/h")]);
        assert_eq!(
            config_file(&home),
            Some(PathBuf::from("/h/.config/faas/config.json"))
        );
        assert_eq!(config_file(&env(&[])), None);
    }

    #[test]
    fn urls_get_a_scheme_and_lose_the_slash() {
        for (given, url) in [
            ("127.0.0.1:8080/", "http://127.0.0.1:8080"),
            ("https://gw.example", "https://gw.example"),
        ] {
            assert_eq!(normalize_url(given), url);
        }
    }

    #[test]
    fn flag_then_file_then_default() {
        let dir = std::env::temp_dir().join(format!("faas-cli-config-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let lookup = {
            let dir = dir.to_string_lossy().to_string();
            move |k: &str| (k == "XDG_CONFIG_HOME").then(|| dir.clone())
        };
        let none = Config::resolve(None, &lookup).unwrap();
        assert_eq!(none.gateway, DEFAULT_GATEWAY);
        assert_eq!(none.password, None);

        let mut stored = Stored {
            gateway: Some("http://gw:9000".into()),
            ..Stored::default()
        };
        stored.auths.insert(
            "http://gw:9000".into(),
            Auth {
                username: "admin".into(),
                password: "secret".into(),
            },
        );
        let path = none.file.unwrap();
        stored.save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(Stored::load(&path).unwrap(), stored);

        let from_file = Config::resolve(None, &lookup).unwrap();
        assert_eq!(from_file.gateway, "http://gw:9000");
        assert_eq!(from_file.password.as_deref(), Some("secret"));

        let flag = Config::resolve(Some("other:1".into()), &lookup).unwrap();
        assert_eq!(flag.gateway, "http://other:1");
        assert_eq!(flag.password, None);

        let env_pw = move |k: &str| match k {
            "FAAS_PASSWORD" => Some("frompw".to_string()),
            _ => lookup(k),
        };
        let pw = Config::resolve(None, &env_pw).unwrap();
        assert_eq!(pw.password.as_deref(), Some("frompw"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
