//! One call as the backend sees it: the request its function gets, its
//! input and bounds, and where it ran; a request kept with an async call.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::call_id::CallId;

/// One call as the backend sees it.
#[derive(Debug)]
pub struct Invocation {
    pub id: CallId,
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
    pub fn env(&self, id: CallId) -> Vec<(String, String)> {
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
        let vars = request().env(CallId::from(uuid::Uuid::nil()));
        let back = Request::decode(&serde_json::to_string(&vars).expect("json")).expect("decodes");
        assert_eq!(back.env(CallId::from(uuid::Uuid::nil())), vars);
    }

    #[test]
    fn the_function_sees_the_request_and_its_call_id() {
        let id = CallId::new();
        let env = request().env(id);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("Http_Method"), Some("PUT"));
        assert_eq!(get("Http_Path"), Some("/p/q"));
        assert_eq!(get("Http_Query"), Some("x=1"));
        assert_eq!(get("Http_X_Name"), Some("a b"));
        assert_eq!(get("Http_X_Call_Id"), Some(id.to_string().as_str()));
    }
}
