//! The one door to where functions run. Handlers, the scheduler's callers
//! and the autoscaler hold an `Arc<dyn Backend>`:
//! - [`process`]: local processes through the watchdog library, no Docker;
//! - [`docker`]: a new container per call, service replicas as containers;
//! - [`swarm`]: service functions as Swarm services;
//! - [`container`] is what `docker` and `swarm` share: the engine and its
//!   typed errors, images, labels, the network, host settings, per-call
//!   containers, replicas with their cache, and the balancer;
//! - [`agents`]: per-call calls sent to `gateway agent`s on the nodes;
//! - [`select`] picks one at start (`auto`: swarm, else docker, else process).

pub mod agents;
pub mod container;
pub mod docker;
mod process;
pub mod select;
pub mod swarm;

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::function::Function;

pub use process::ProcessBackend;
pub use watchdog::{Exit, Outcome};

#[derive(Debug, Clone, thiserror::Error)]
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
        match self {
            BackendError::Invalid(_) => "invalid",
            BackendError::NotFound(_) => "not-found",
            BackendError::Absent(_) => "absent",
            BackendError::Conflict(_) => "conflict",
            BackendError::Start(_) => "start",
            BackendError::Unreachable(_) => "unreachable",
            BackendError::Lost(_) => "lost",
            BackendError::NotReady(_) => "not-ready",
        }
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
        Some(match kind {
            "invalid" => BackendError::Invalid(text),
            "not-found" => BackendError::NotFound(text),
            "absent" => BackendError::Absent(text),
            "conflict" => BackendError::Conflict(text),
            "start" => BackendError::Start(text),
            "unreachable" => BackendError::Unreachable(text),
            "lost" => BackendError::Lost(text),
            "not-ready" => BackendError::NotReady(text),
            _ => return None,
        })
    }
}

/// The refusal of secrets by a backend that cannot mount them.
pub fn no_secrets(backend: &str) -> BackendError {
    BackendError::Invalid(format!(
        "the {backend} backend has no secrets: functions run as local processes, with nothing to mount them in; run the gateway with --backend docker or swarm"
    ))
}

/// One call as the backend sees it.
#[derive(Debug)]
pub struct Invocation {
    pub id: Uuid,
    /// The request as the function sees it.
    pub request: Request,
    /// STDIN, already checked against the payload limit.
    pub input: Bytes,
    /// How long the run may take.
    pub timeout: Duration,
    /// The largest STDOUT before the run is killed.
    pub max_output_bytes: usize,
    /// Where the backend ran it, when not on its own engine (set by the
    /// agents' dispatch): the call's `NODE` event.
    pub placed: Placement,
    /// Set once the call may have reached the function: its container is
    /// being started, or its input handed to a warm one. A failure before
    /// then ran nothing, and the call may be run elsewhere.
    pub reached: Reached,
}

/// Where a call ran, said once by whoever ran it.
pub type Placement = std::sync::Arc<std::sync::OnceLock<String>>;

/// Whether a call may have reached its function ([`Invocation::reached`]).
pub type Reached = std::sync::Arc<std::sync::atomic::AtomicBool>;

/// The HTTP request a call was made with, as its function sees it: a
/// process gets it as `Http_*` variables, a replica's watchdog as a request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: Method,
    /// The path after the function's name, from `/`.
    pub path: String,
    pub query: Option<String>,
    /// The caller's headers, less the gateway's own (`X-Call-Id`, which
    /// the function gets from [`Invocation::id`]).
    pub headers: HeaderMap,
}

/// How a [`Request`] is kept with an async call, to be resumed.
#[derive(Serialize, Deserialize)]
struct Stored {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
}

impl Stored {
    /// A request kept as `Http_*` variables: `Http_X_Foo` is header `x-foo`.
    fn from_variables(variables: Vec<(String, String)>) -> Stored {
        let mut stored = Stored {
            method: "POST".into(),
            path: "/".into(),
            query: None,
            headers: Vec::new(),
        };
        for (name, value) in variables {
            match name.as_str() {
                "Http_Method" => stored.method = value,
                "Http_Path" => stored.path = value,
                "Http_Query" => stored.query = Some(value),
                "Http_X_Call_Id" | "Http_Host" | "Http_Content_Length" => {}
                other => {
                    if let Some(header) = other.strip_prefix("Http_") {
                        let header = header.replace('_', "-").to_ascii_lowercase();
                        stored.headers.push((header, value));
                    }
                }
            }
        }
        stored
    }
}

impl Request {
    /// The function's `Http_*` variables for call `id`, as CGI names them.
    pub fn env(&self, id: Uuid) -> Vec<(String, String)> {
        let uri = match &self.query {
            Some(query) => format!("{}?{query}", self.path),
            None => self.path.clone(),
        };
        let uri = uri
            .parse()
            .unwrap_or_else(|_| axum::http::Uri::from_static("/"));
        let mut env = watchdog::cgi::request_env(&self.method, &uri, &self.headers);
        env.push(("Http_X_Call_Id".into(), id.to_string()));
        env
    }

    /// The request as kept in the store.
    pub fn encode(&self) -> String {
        let stored = Stored {
            method: self.method.to_string(),
            path: self.path.clone(),
            query: self.query.clone(),
            headers: self
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                .collect(),
        };
        serde_json::to_string(&stored).unwrap_or_default()
    }

    /// A request kept by [`Request::encode`], or by an earlier version as
    /// the call's `Http_*` variables; `None` when it is unreadable.
    pub fn decode(text: &str) -> Option<Request> {
        let stored = match serde_json::from_str::<Stored>(text) {
            Ok(stored) => stored,
            Err(_) => Stored::from_variables(serde_json::from_str(text).ok()?),
        };
        let mut headers = HeaderMap::new();
        for (name, value) in stored.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                headers.append(name, value);
            }
        }
        Some(Request {
            method: Method::from_bytes(stored.method.as_bytes()).ok()?,
            path: stored.path,
            query: stored.query,
            headers,
        })
    }
}

/// What `/system/logs` asks of a backend: its replicas' own lines.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogQuery {
    /// Unix milliseconds: only lines written at or after it.
    pub since: Option<i64>,
    /// The newest this many lines of each replica; `None`: all.
    pub tail: Option<u64>,
    /// Go on with new lines as they are written.
    pub follow: bool,
}

/// A line a service function's replica wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaLine {
    /// Its container's id.
    pub instance: String,
    /// Unix milliseconds.
    pub at: i64,
    pub text: String,
}

/// Lines of a function's replicas, each replica's in time order.
pub type ReplicaLines = futures_util::stream::BoxStream<'static, ReplicaLine>;

/// What a function's replicas use, summed over them, as OpenFaaS's
/// `FunctionUsage` has it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// CPU in use, in cores (1.0 is one core busy).
    pub cpu: f64,
    /// Memory in use, in bytes.
    pub total_memory_bytes: f64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, more: Usage) {
        self.cpu += more.cpu;
        self.total_memory_bytes += more.total_memory_bytes;
    }
}

/// Replica counts of a function.
#[derive(Debug, Clone, Copy, Default)]
pub struct Replicas {
    pub desired: u64,
    pub available: u64,
}

#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// `process`, `docker` or `swarm`: shown by `/system/info`.
    fn name(&self) -> &'static str;
    /// Makes a new function runnable (checks what this backend needs).
    async fn deploy(&self, function: &Function) -> Result<(), BackendError>;
    /// Applies a changed spec.
    async fn update(&self, function: &Function) -> Result<(), BackendError>;
    /// Tears a function down.
    async fn remove(&self, name: &str) -> Result<(), BackendError>;
    /// Names of the functions the backend runs.
    async fn list(&self) -> Result<Vec<String>, BackendError>;
    /// Sets the desired replicas (service mode).
    async fn scale(&self, name: &str, replicas: u64) -> Result<(), BackendError>;
    /// Desired and available replicas.
    async fn replicas(&self, name: &str) -> Result<Replicas, BackendError>;
    /// Desired replicas only: what the autoscaler reads every second, so a
    /// backend answers it without counting replicas where it can.
    async fn desired(&self, name: &str) -> Result<u64, BackendError> {
        Ok(self.replicas(name).await?.desired)
    }
    /// Names of the secrets functions may mount (those made through
    /// `/system/secrets`); a backend without secrets refuses.
    async fn secrets(&self) -> Result<Vec<String>, BackendError> {
        Err(no_secrets(self.name()))
    }
    /// Keeps `value` as the secret `name`: new when `create` (`Conflict`
    /// if it exists), else replacing it (`Absent` if it does not).
    async fn put_secret(&self, name: &str, value: &[u8], create: bool) -> Result<(), BackendError> {
        let _ = (name, value, create);
        Err(no_secrets(self.name()))
    }
    /// Removes the secret `name` (`Absent` if there is none).
    async fn remove_secret(&self, name: &str) -> Result<(), BackendError> {
        let _ = name;
        Err(no_secrets(self.name()))
    }
    /// What the replicas of service function `name` wrote (their
    /// containers' logs); `None` where a backend has no replicas of its own
    /// (the process backend).
    async fn replica_logs(
        &self,
        name: &str,
        query: LogQuery,
    ) -> Result<Option<ReplicaLines>, BackendError> {
        let _ = (name, query);
        Ok(None)
    }
    /// What the replicas of service function `name` use, as last sampled
    /// (cheap: never waits for the engine); `None` where not known.
    fn usage(&self, name: &str) -> Option<Usage> {
        let _ = name;
        None
    }
    /// Runs one call to its end. Dropping the future stops the run.
    async fn invoke(&self, function: &Function, call: Invocation) -> Result<Outcome, BackendError>;
    /// The backend's own metrics, for the gateway's registry.
    fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        let mut headers = HeaderMap::new();
        headers.insert("x-name", HeaderValue::from_static("a b"));
        Request {
            method: Method::PUT,
            path: "/p/q".into(),
            query: Some("x=1".into()),
            headers,
        }
    }

    #[test]
    fn a_kept_request_comes_back_as_it_was() {
        let back = Request::decode(&request().encode()).expect("decodes");
        assert_eq!(back.method, Method::PUT);
        assert_eq!(
            (back.path.as_str(), back.query.as_deref()),
            ("/p/q", Some("x=1"))
        );
        assert_eq!(back.headers["x-name"], "a b");
        assert!(Request::decode("not json").is_none());
    }

    #[test]
    fn a_request_kept_as_variables_comes_back_too() {
        let vars = request().env(Uuid::nil());
        let back = Request::decode(&serde_json::to_string(&vars).expect("json")).expect("decodes");
        assert_eq!(back.env(Uuid::nil()), vars);
    }

    #[test]
    fn the_function_sees_the_request_and_its_call_id() {
        let id = Uuid::now_v7();
        let env = request().env(id);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("Http_Method"), Some("PUT"));
        assert_eq!(get("Http_Path"), Some("/p/q"));
        assert_eq!(get("Http_Query"), Some("x=1"));
        assert_eq!(get("Http_X_Name"), Some("a b"));
        assert_eq!(get("Http_X_Call_Id"), Some(id.to_string().as_str()));
    }
}
