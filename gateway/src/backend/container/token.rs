//! The token a service replica's watchdog asks every call for
//! ([`watchdog::token`]), so that only the gateway reaches a replica: a
//! function's token is HMAC-SHA256 of its name under a random key the
//! gateway keeps in its data directory (`replica-key`). Nothing new is
//! stored per function, a restart derives the same tokens, and a function
//! that reads its own token (its container's `/proc/1/environ`) learns
//! nothing of another's, of the key, or of the admin password (the key is
//! not derived from it, so a token cannot be used to guess it offline).

use std::io::{self, Read, Write};
use std::path::Path;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// The key's file in the data directory.
pub const FILE: &str = "replica-key";
/// The key's length in bytes (kept as hex).
const KEY_BYTES: usize = 32;

/// The key the replicas' tokens are derived from.
#[derive(Clone)]
pub struct ReplicaKey(hmac::Key);

impl ReplicaKey {
    /// The key kept in `data_dir`, made (random, 0600) at first start.
    pub fn open(data_dir: &Path) -> Result<ReplicaKey, String> {
        let path = data_dir.join(FILE);
        let unusable = |why: String| {
            format!(
                "the replica key {} {why} (remove it: a new one is made, and replicas are recreated with it)",
                path.display()
            )
        };
        match crate::files::create_file(&path, true) {
            Ok(mut file) => {
                let mut key = [0u8; KEY_BYTES];
                SystemRandom::new().fill(&mut key).map_err(|_| {
                    "the system gives no random bytes for the replica key".to_string()
                })?;
                if let Err(e) = file
                    .write_all(hex(&key).as_bytes())
                    .and_then(|()| file.sync_all())
                {
                    let _ = std::fs::remove_file(&path);
                    return Err(format!("cannot write {}: {e}", path.display()));
                }
                Ok(ReplicaKey::from_bytes(&key))
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let mut text = String::new();
                std::fs::File::open(&path)
                    .and_then(|mut f| f.read_to_string(&mut text))
                    .map_err(|e| unusable(format!("cannot be read: {e}")))?;
                let key = unhex(text.trim())
                    .filter(|key| key.len() == KEY_BYTES)
                    .ok_or_else(|| unusable(format!("is not {KEY_BYTES} bytes in hex")))?;
                Ok(ReplicaKey::from_bytes(&key))
            }
            Err(e) => Err(format!("cannot create {}: {e}", path.display())),
        }
    }

    /// A key of these bytes.
    pub fn from_bytes(key: &[u8]) -> ReplicaKey {
        ReplicaKey(hmac::Key::new(hmac::HMAC_SHA256, key))
    }

    /// The token of the function `name`'s replicas, in hex.
    pub fn token(&self, name: &str) -> String {
        let tag = hmac::sign(&self.0, format!("faas-replica\0{name}").as_bytes());
        hex(tag.as_ref())
    }

    /// The `gateway_token=…` entry of the function `name`'s replicas'
    /// environment.
    pub fn env_entry(&self, name: &str) -> String {
        format!("{}={}", watchdog::token::VARIABLE, self.token(name))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_per_function_and_per_key() {
        let key = ReplicaKey::from_bytes(&[7; KEY_BYTES]);
        let a = key.token("a");
        assert_eq!(a.len(), 64);
        assert_eq!(a, key.token("a"));
        assert_ne!(a, key.token("b"));
        assert_ne!(a, ReplicaKey::from_bytes(&[8; KEY_BYTES]).token("a"));
        assert_eq!(key.env_entry("a"), format!("gateway_token={a}"));
    }

    #[test]
    fn the_key_is_made_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("faas-key-{}", uuid::Uuid::new_v4()));
        crate::files::create_dir(&dir).expect("the directory");
        let made = ReplicaKey::open(&dir).expect("made").token("f");
        assert_eq!(ReplicaKey::open(&dir).expect("read").token("f"), made);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.join(FILE))
                .expect("stat")
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(dir.join(FILE), "not hex").expect("spoil");
        let refused = ReplicaKey::open(&dir).err().expect("refused");
        assert!(refused.contains("is not 32 bytes in hex"), "{refused}");
        std::fs::remove_dir_all(&dir).expect("clean");
    }
}
