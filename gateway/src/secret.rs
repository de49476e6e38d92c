//! Comparing what a caller sent with a secret (the admin credentials, the
//! agents' token; a replica's watchdog, the gateway's token) so that the
//! time taken says nothing about the secret.

/// Whether `given` is `secret`, every byte compared whatever the first
/// difference: the watchdog's comparison, which replicas' watchdogs use
/// for the gateway's token.
pub use watchdog::token::matches;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_bytes_match() {
        assert!(matches(b"abc", b"abc"));
        assert!(!matches(b"abd", b"abc"));
        assert!(!matches(b"ab", b"abc"));
        assert!(!matches(b"", b"abc"));
    }
}
