//! What the gateway and an agent say to each other: the token the gateway
//! proves itself with, the call it sends (`POST /agent/invoke`), the
//! outcome it gets back, the agent's status, what its node's replicas use
//! (`GET /agent/usage`), and how an agent's refusal becomes a
//! [`BackendError`] again on the gateway's side.

use std::collections::HashMap;
use std::time::Duration;

use crate::call_id::CallId;
use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::backend::{BackendError, Exit, Invocation, Outcome, Request, Usage};
use crate::function::Function;

/// The header naming the kind of an agent's refusal.
pub const ERROR_KIND: &str = "x-faas-error";
/// The kind of a refusal that ran nothing because the agent's engine does
/// not answer: the gateway sends the call to another agent.
pub const UNSTARTED: &str = "unstarted";
/// The kind of a refusal that ran nothing because every slot is taken:
/// the gateway sends the call to another agent.
pub const BUSY: &str = "busy";
/// The kind of a refusal that ran nothing because the call's runtime is
/// not one the agent's node may give: the gateway sends the call to
/// another agent, or runs it on its own engine.
pub const NO_RUNTIME: &str = "no-runtime";

/// The bearer token of the agent API: derived from the gateway's admin
/// password, so both hold it without it crossing the network, and a
/// captured token opens the agents only, never the gateway.
pub fn token(password: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("faas-agent\0{password}").as_bytes(),
    );
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether an `Authorization` header value carries `token`, compared in
/// constant time.
pub fn allows(header: Option<&[u8]>, token: &str) -> bool {
    let Some(given) = header.and_then(|h| h.strip_prefix(b"Bearer ")) else {
        return false;
    };
    crate::secret::matches(given.trim_ascii(), token.as_bytes())
}

/// `GET /agent/status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The Swarm node id of the agent's engine ("" off Swarm).
    pub node_id: String,
    /// The engine's host name.
    pub hostname: String,
    pub os: String,
    pub arch: String,
    /// Calls it runs at once.
    pub slots: usize,
    /// Calls it runs now.
    pub running: usize,
    /// Warm containers ready across functions.
    pub pool_ready: u64,
    /// Calls served by a warm container, and calls that found none (since
    /// the agent started).
    pub pool_hits: u64,
    pub pool_misses: u64,
    /// The OCI runtimes it may give per-call containers: those its engine
    /// registers and its `--allow-runtimes` allows.
    #[serde(default)]
    pub runtimes: Vec<String>,
    /// The engine's own default runtime (dockerd's `--default-runtime`):
    /// what a Swarm service's replicas on the node run under.
    #[serde(default)]
    pub node_default_runtime: String,
}

/// `GET /agent/usage?owner=…`: what the service replicas of the gateway
/// `owner` use on the agent's node, per function.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeUsage {
    /// The Swarm node id of the agent's engine ("" off Swarm).
    pub node_id: String,
    /// By function name: what its replicas on the node use together.
    pub functions: HashMap<String, Usage>,
}

/// `POST /agent/invoke`: a per-call call and its function's spec.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invoke {
    pub function: Function,
    pub id: CallId,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    /// STDIN, base64.
    pub input: String,
    pub timeout_ms: u64,
    pub max_output_bytes: usize,
}

/// `POST /agent/forget`: a function's warm containers go.
#[derive(Debug, Serialize, Deserialize)]
pub struct Forget {
    pub name: String,
}

/// The answer of a call that ran.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ran {
    pub exit: Exit,
    /// Base64.
    pub stdout: String,
    /// Base64.
    pub stderr: String,
    pub duration_ms: u64,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

impl Invoke {
    /// The call `call` of `function`, to send.
    pub fn new(function: &Function, call: &Invocation) -> Invoke {
        let request = &call.request;
        Invoke {
            function: function.clone(),
            id: call.id,
            method: request.method.to_string(),
            path: request.path.clone(),
            query: request.query.clone(),
            headers: request
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                .collect(),
            input: b64().encode(&call.input),
            timeout_ms: u64::try_from(call.timeout.as_millis()).unwrap_or(u64::MAX),
            max_output_bytes: call.max_output_bytes,
        }
    }

    /// The call as the backend runs it; the text says what is unreadable.
    pub fn invocation(self) -> Result<(Function, Invocation), String> {
        let input = b64()
            .decode(self.input.as_bytes())
            .map_err(|e| format!("\"input\" is not base64: {e}"))?;
        let method = axum::http::Method::from_bytes(self.method.as_bytes())
            .map_err(|_| format!("\"method\" {:?} is not an HTTP method", self.method))?;
        let mut headers = axum::http::HeaderMap::new();
        for (name, value) in self.headers {
            let name = axum::http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("header name {name:?} is not valid"))?;
            let value = axum::http::HeaderValue::from_str(&value)
                .map_err(|_| format!("the value of header {name} is not valid"))?;
            headers.append(name, value);
        }
        let call = Invocation {
            id: self.id,
            request: Request {
                method,
                path: self.path,
                query: self.query,
                headers,
            },
            input: Bytes::from(input),
            timeout: Duration::from_millis(self.timeout_ms),
            max_output_bytes: self.max_output_bytes,
            placed: Default::default(),
            reached: Default::default(),
        };
        Ok((self.function, call))
    }
}

impl Ran {
    pub fn of(outcome: &Outcome) -> Ran {
        Ran {
            exit: outcome.exit.clone(),
            stdout: b64().encode(&outcome.stdout),
            stderr: b64().encode(&outcome.stderr),
            duration_ms: u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// The outcome; `None` when the output is not base64.
    pub fn outcome(self) -> Option<Outcome> {
        Some(Outcome {
            exit: self.exit,
            stdout: Bytes::from(b64().decode(self.stdout).ok()?),
            stderr: Bytes::from(b64().decode(self.stderr).ok()?),
            duration: Duration::from_millis(self.duration_ms),
        })
    }
}

/// An agent's refusal (its [`ERROR_KIND`] and its line) as the gateway's
/// error; `agent` names it in the text.
pub fn refusal(kind: Option<&str>, line: &str, agent: &str) -> BackendError {
    let line = line.trim();
    let unreachable =
        || BackendError::Unreachable(format!("the agent {agent} refused the call: {line}"));
    let Some((kind, said)) =
        kind.and_then(|kind| Some((kind, BackendError::of_kind(kind, line.to_string())?)))
    else {
        return unreachable();
    };
    let text = match said {
        // What the gateway names itself: the agent adds nothing to it.
        BackendError::NotFound(_) | BackendError::Absent(_) | BackendError::Conflict(_) => {
            return said
        }
        BackendError::Unreachable(_) => return unreachable(),
        BackendError::Invalid(_) => format!("{line} (said the agent {agent})"),
        _ => format!("{line} (on the agent {agent})"),
    };
    BackendError::of_kind(kind, text).unwrap_or_else(unreachable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_derived_and_checked_whole() {
        let t = token("pw");
        assert_eq!(t.len(), 64);
        assert_ne!(t, token("px"));
        assert!(!t.contains("pw"));
        let header = format!("Bearer {t}");
        assert!(allows(Some(header.as_bytes()), &t));
        assert!(!allows(Some(format!("Bearer {}", &t[..63]).as_bytes()), &t));
        assert!(!allows(Some(b"Basic YWRtaW46cHc="), &t));
        assert!(!allows(None, &t));
    }

    #[test]
    fn outcomes_travel_unchanged() {
        let outcome = Outcome {
            exit: Exit::InputFailed("x".into()),
            stdout: Bytes::from_static(b"\x00\xffout"),
            stderr: Bytes::from_static(b"err"),
            duration: Duration::from_millis(1500),
        };
        let json = serde_json::to_string(&Ran::of(&outcome)).expect("json");
        let back = serde_json::from_str::<Ran>(&json)
            .expect("ran")
            .outcome()
            .expect("outcome");
        assert_eq!(back.exit, outcome.exit);
        assert_eq!((back.stdout, back.stderr), (outcome.stdout, outcome.stderr));
        assert_eq!(back.duration, outcome.duration);
    }

    #[test]
    fn refusals_keep_their_kind() {
        let e = BackendError::Start("no image".into());
        let back = refusal(Some(e.kind()), e.text(), "a:1");
        assert!(matches!(back, BackendError::Start(t) if t.starts_with("no image")));
        let e = BackendError::NotReady("timed out waiting".into());
        let back = refusal(Some(e.kind()), e.text(), "a:1");
        assert!(matches!(back, BackendError::NotReady(t) if t.starts_with("timed out waiting")));
        assert!(matches!(
            refusal(None, "busy", "a:1"),
            BackendError::Unreachable(_)
        ));
    }
}
