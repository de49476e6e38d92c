//! What can go wrong where functions run: one enum of kinds, each carrying
//! the line a caller is shown, and its stable name as records and agents
//! keep it. It stands below the backend, which returns it, and the call
//! records, which keep it as how a call ended.

#[derive(Debug, Clone, thiserror::Error, strum::IntoStaticStr, serde::Deserialize)]
#[strum(serialize_all = "kebab-case")]
#[serde(tag = "kind", content = "text", rename_all = "kebab-case")]
pub enum BackendError {
    /// The function's spec cannot run on this backend; the text says why.
    #[error("{0}")]
    Invalid(String),
    #[error("no such function on the backend: {0}")]
    NotFound(String),
    /// Something the request names (a secret) does not exist; the text
    /// says what.
    #[error("{0}")]
    Absent(String),
    /// The name is taken by something the gateway does not own, or what
    /// is asked would break something in use; the text says which.
    #[error("{0}")]
    Conflict(String),
    /// The function's process or container could not be started (the
    /// backend answered, and refused).
    #[error("function could not start: {0}")]
    Start(String),
    /// The backend itself (e.g. the Docker engine) did not answer.
    #[error("the backend is unreachable: {0}")]
    Unreachable(String),
    /// What was running the call went away during it (an agent's node):
    /// the call may have run in part and is not run again; the text says
    /// where.
    #[error("{0}")]
    Lost(String),
    /// No replica or container was ready for the call within its timeout:
    /// nothing ran; the text says what it waited for.
    #[error("{0}")]
    NotReady(String),
}

impl BackendError {
    /// Its kind, as an agent names its refusal and a call's record keeps
    /// it ([`BackendError::of_kind`] reads it back).
    pub fn kind(&self) -> &'static str {
        self.into()
    }

    /// The text it carries, without its prefix.
    pub fn text(&self) -> &str {
        match self {
            BackendError::Invalid(t)
            | BackendError::NotFound(t)
            | BackendError::Absent(t)
            | BackendError::Conflict(t)
            | BackendError::Start(t)
            | BackendError::Unreachable(t)
            | BackendError::Lost(t)
            | BackendError::NotReady(t) => t,
        }
    }

    /// The error of `kind` carrying `text`; `None` for an unknown kind.
    pub fn of_kind(kind: &str, text: String) -> Option<BackendError> {
        serde_json::from_value(serde_json::json!({"kind": kind, "text": text})).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::BackendError;

    #[test]
    fn every_kind_reads_back_as_itself() {
        let all = [
            BackendError::Invalid("t".into()),
            BackendError::NotFound("t".into()),
            BackendError::Absent("t".into()),
            BackendError::Conflict("t".into()),
            BackendError::Start("t".into()),
            BackendError::Unreachable("t".into()),
            BackendError::Lost("t".into()),
            BackendError::NotReady("t".into()),
        ];
        let kinds: Vec<&str> = all.iter().map(BackendError::kind).collect();
        assert_eq!(
            kinds,
            [
                "invalid",
                "not-found",
                "absent",
                "conflict",
                "start",
                "unreachable",
                "lost",
                "not-ready"
            ]
        );
        for error in &all {
            let back = BackendError::of_kind(error.kind(), "x".into()).expect("known");
            assert_eq!((back.kind(), back.text()), (error.kind(), "x"));
        }
        assert!(BackendError::of_kind("nope", "x".into()).is_none());
    }
}
