//! The identity of a call: a UUID, shown and stored in its hyphenated
//! lowercase form. New ids are time-ordered (version 7), so new calls land
//! at the end of the store's id indexes instead of on a random page each.
//! A call's span ([`CallId::span`]) carries it through every layer that
//! touches the call, the agent's among them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A call's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallId(Uuid);

impl CallId {
    /// A new, time-ordered id.
    pub fn new() -> CallId {
        CallId(Uuid::now_v7())
    }

    /// The id as a UUID, for the backend's side of a call.
    pub fn uuid(self) -> Uuid {
        self.0
    }

    /// The call's one span, `call{id=… function=…}`: made where the call
    /// gets its id, and entered by every layer that touches it, so their
    /// log lines name the call without saying so each. At ERROR level so
    /// that a filter of any level keeps it: a warning at `RUST_LOG=warn`
    /// still names its call.
    pub fn span(self, function: &str) -> tracing::Span {
        tracing::error_span!("call", id = %self, function = %function)
    }
}

impl Default for CallId {
    fn default() -> CallId {
        CallId::new()
    }
}

impl From<Uuid> for CallId {
    fn from(id: Uuid) -> CallId {
        CallId(id)
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Text that is not a call id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a call id: call ids are UUIDs")]
pub struct NotACallId(pub String);

impl FromStr for CallId {
    type Err = NotACallId;

    fn from_str(text: &str) -> Result<CallId, NotACallId> {
        Uuid::parse_str(text)
            .map(CallId)
            .map_err(|_| NotACallId(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_reads_back_from_its_text_and_its_json() {
        let id = CallId::new();
        assert_eq!(id.to_string().parse::<CallId>(), Ok(id));
        let json = serde_json::to_string(&id).expect("json");
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<CallId>(&json).expect("parse"), id);
    }

    #[test]
    fn text_that_is_no_uuid_says_so() {
        let err = "nope".parse::<CallId>().expect_err("not an id");
        assert_eq!(
            err.to_string(),
            "\"nope\" is not a call id: call ids are UUIDs"
        );
        assert!(serde_json::from_str::<CallId>("\"nope\"").is_err());
    }
}
