//! Comparing what a caller sent with a secret (the admin credentials, the
//! agents' token) so that the time taken says nothing about the secret.

/// Whether `given` is `secret`, every byte compared whatever the first
/// difference.
pub fn matches(given: &[u8], secret: &[u8]) -> bool {
    given.len() == secret.len()
        && given
            .iter()
            .zip(secret)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

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
