//! The gateway's token. A watchdog started with `gateway_token` (as the
//! gateway starts every service replica) answers only requests carrying
//! that token in `X-Faas-Gateway-Token`, compared in constant time: a
//! function on the same network cannot call the replica around the
//! gateway. The header never reaches the function's `Http_*` variables
//! and the variable never reaches its environment. Without the variable
//! (a watchdog run by hand, OpenFaaS-style) every request is answered.

use std::fmt;

/// The variable the token is given in.
pub const VARIABLE: &str = "gateway_token";
/// The header the gateway sends it in.
pub const HEADER: &str = "x-faas-gateway-token";

/// A token a caller must present. Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(token: impl Into<String>) -> Token {
        Token(token.into())
    }

    /// Whether `given` (the header's value, if sent) is this token.
    pub fn admits(&self, given: Option<&[u8]>) -> bool {
        given.is_some_and(|given| matches(given, self.0.as_bytes()))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(..)")
    }
}

/// Whether `given` is `secret`, every byte compared whatever the first
/// difference, so the time taken says nothing about the secret.
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
    fn only_the_same_token_is_admitted() {
        let token = Token::new("abc");
        assert!(token.admits(Some(b"abc")));
        assert!(!token.admits(Some(b"abd")));
        assert!(!token.admits(Some(b"ab")));
        assert!(!token.admits(Some(b"")));
        assert!(!token.admits(None));
        assert_eq!(format!("{token:?}"), "Token(..)");
    }
}
