//! Calls to service replicas: pick the healthy replica with the fewest calls
//! in flight, proxy the call to its watchdog over HTTP, move to another
//! replica when a connection is refused before anything was sent, and when
//! no replica is up, wake the function (scale from zero) and wait for one
//! within the call's time. Used by the `docker` and `swarm` backends alike;
//! each tells where its replicas are through [`ReplicaSource`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use watchdog::runner::{Exit, Outcome};

use crate::backend::{BackendError, Invocation};
use crate::function::Function;

/// The watchdog's port inside a replica.
pub const WATCHDOG_PORT: u16 = 8080;
/// How long connecting to a replica may take.
const CONNECT_LIMIT: Duration = Duration::from_secs(2);
/// How often a call waiting for a replica looks again.
const WAIT_STEP: Duration = Duration::from_millis(100);

/// One replica as the balancer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `ip:port` of its watchdog.
    pub addr: String,
    /// Ready for calls (its health check passed).
    pub healthy: bool,
}

/// Where a backend's replicas are.
#[async_trait::async_trait]
pub trait ReplicaSource: Send + Sync {
    /// The function's replicas; `fresh` skips any cache.
    async fn endpoints(&self, name: &str, fresh: bool) -> Result<Vec<Endpoint>, BackendError>;
    /// Makes sure at least one replica is wanted (scale from zero).
    async fn wake(&self, function: &Function) -> Result<(), BackendError>;
}

/// Proxies calls to replicas, counting the calls in flight on each.
pub struct Balancer {
    client: Client<HttpConnector, Full<Bytes>>,
    inflight: Mutex<HashMap<String, Arc<AtomicUsize>>>,
}

impl Default for Balancer {
    fn default() -> Self {
        Balancer {
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(connector()),
            inflight: Mutex::default(),
        }
    }
}

/// Connections to replicas: a replica that went away must fail the connect
/// fast (so the call moves to another), not hang.
fn connector() -> HttpConnector {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(CONNECT_LIMIT));
    connector.set_nodelay(true);
    connector
}

/// Counts a call in flight on a replica until dropped.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Balancer {
    /// Calls in flight on the replica at `addr`.
    pub fn load(&self, addr: &str) -> usize {
        self.table()
            .get(addr)
            .map(|c| c.load(Ordering::SeqCst))
            .unwrap_or(0)
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<AtomicUsize>>> {
        self.inflight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs one call on a replica of `function`.
    pub async fn invoke(
        &self,
        source: &dyn ReplicaSource,
        function: &Function,
        call: Invocation,
    ) -> Result<Outcome, BackendError> {
        let started = Instant::now();
        let deadline = started + call.timeout;
        let mut refused = Vec::<String>::new();
        let mut woken = false;
        loop {
            let replicas = source
                .endpoints(&function.name, !refused.is_empty())
                .await?;
            let Some(addr) = self.pick(&replicas, &refused) else {
                if !woken {
                    source.wake(function).await?;
                    woken = true;
                }
                if Instant::now() + WAIT_STEP >= deadline {
                    return Ok(timed_out(started));
                }
                refused.clear();
                tokio::time::sleep(WAIT_STEP).await;
                continue;
            };
            let counter = self.table().entry(addr.clone()).or_default().clone();
            counter.fetch_add(1, Ordering::SeqCst);
            let _inflight = InFlight(counter);
            let request = build_request(&addr, &call)?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let response = match tokio::time::timeout(remaining, self.client.request(request)).await
            {
                Err(_) => return Ok(timed_out(started)),
                Ok(Err(err)) if err.is_connect() => {
                    // Nothing was sent: another replica may take it.
                    refused.push(addr);
                    continue;
                }
                Ok(Err(err)) => {
                    return Err(BackendError::Unreachable(format!(
                        "the replica of {} at {addr} failed: {err}",
                        function.name
                    )))
                }
                Ok(Ok(response)) => response,
            };
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), call.max_output_bytes + 64).collect();
            let remaining = deadline.saturating_duration_since(Instant::now());
            let body = match tokio::time::timeout(remaining, body).await {
                Err(_) => return Ok(timed_out(started)),
                Ok(Err(err)) => {
                    return Err(BackendError::Unreachable(format!(
                        "reading the answer of {} from {addr} failed: {err}",
                        function.name
                    )))
                }
                Ok(Ok(body)) => body.to_bytes(),
            };
            return Ok(outcome(
                status,
                body,
                started.elapsed(),
                call.max_output_bytes,
            ));
        }
    }

    /// The healthy replica with the fewest calls in flight, skipping `avoid`.
    fn pick(&self, replicas: &[Endpoint], avoid: &[String]) -> Option<String> {
        let table = self.table();
        replicas
            .iter()
            .filter(|r| r.healthy && !avoid.contains(&r.addr))
            .min_by_key(|r| {
                table
                    .get(&r.addr)
                    .map(|c| c.load(Ordering::SeqCst))
                    .unwrap_or(0)
            })
            .map(|r| r.addr.clone())
    }
}

/// The HTTP request to a replica's watchdog: the call's own request, with
/// its call id, less what belongs to the hop (host, length, connection).
fn build_request(
    addr: &str,
    call: &Invocation,
) -> Result<hyper::Request<Full<Bytes>>, BackendError> {
    let request = &call.request;
    let uri = match &request.query {
        Some(query) => format!("http://{addr}{}?{query}", request.path),
        None => format!("http://{addr}{}", request.path),
    };
    let mut builder = hyper::Request::builder()
        .method(request.method.clone())
        .uri(uri);
    if let Some(headers) = builder.headers_mut() {
        for (name, value) in &request.headers {
            if !HOP_HEADERS.contains(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        if let Ok(id) = http::HeaderValue::from_str(&call.id.to_string()) {
            headers.insert("x-call-id", id);
        }
    }
    builder
        .body(Full::new(call.input.clone()))
        .map_err(|e| BackendError::Invalid(format!("the call cannot be forwarded: {e}")))
}

/// Headers that describe the caller's connection, not the call.
const HOP_HEADERS: [http::HeaderName; 5] = [
    http::header::HOST,
    http::header::CONTENT_LENGTH,
    http::header::CONNECTION,
    http::header::TRANSFER_ENCODING,
    http::header::TE,
];

/// A watchdog's answer as an [`Outcome`].
fn outcome(status: u16, body: Bytes, duration: Duration, max_output: usize) -> Outcome {
    let (exit, stdout) = watchdog::answer::read(status, body, max_output);
    Outcome {
        exit,
        stdout,
        stderr: Bytes::new(),
        duration,
    }
}

fn timed_out(started: Instant) -> Outcome {
    Outcome {
        exit: Exit::TimedOut,
        stdout: Bytes::new(),
        stderr: Bytes::new(),
        duration: started.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_answers_become_outcomes() {
        let o = outcome(200, Bytes::from_static(b"hi"), Duration::ZERO, 10);
        assert_eq!((o.exit, &o.stdout[..]), (Exit::Code(0), &b"hi"[..]));
        let o = outcome(
            500,
            Bytes::from_static(b"exit status 3\npartial"),
            Duration::ZERO,
            100,
        );
        assert_eq!((o.exit, &o.stdout[..]), (Exit::Code(3), &b"partial"[..]));
        assert_eq!(
            outcome(504, Bytes::new(), Duration::ZERO, 1).exit,
            Exit::TimedOut
        );
        assert_eq!(
            outcome(502, Bytes::new(), Duration::ZERO, 1).exit,
            Exit::OutputTooLarge
        );
        assert_eq!(
            outcome(200, Bytes::from_static(b"toolong"), Duration::ZERO, 3).exit,
            Exit::OutputTooLarge
        );
    }

    #[test]
    fn the_call_s_own_request_is_forwarded() {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", http::HeaderValue::from_static("ignored"));
        headers.insert("x-custom", http::HeaderValue::from_static("kept"));
        let call = Invocation {
            id: uuid::Uuid::nil(),
            request: crate::backend::Request {
                method: http::Method::PUT,
                path: "/a/b".into(),
                query: Some("x=1".into()),
                headers,
            },
            input: Bytes::from_static(b"body"),
            timeout: Duration::from_secs(1),
            max_output_bytes: 10,
        };
        let req = build_request("10.1.2.3:8080", &call).expect("request");
        assert_eq!(req.method(), "PUT");
        assert_eq!(req.uri(), "http://10.1.2.3:8080/a/b?x=1");
        assert_eq!(req.headers()["x-call-id"], uuid::Uuid::nil().to_string());
        assert_eq!(req.headers()["x-custom"], "kept");
        assert!(!req.headers().contains_key("host"));
    }

    #[test]
    fn least_loaded_healthy_replica_is_picked() {
        let balancer = Balancer::default();
        balancer
            .table()
            .insert("a".into(), Arc::new(AtomicUsize::new(3)));
        balancer
            .table()
            .insert("b".into(), Arc::new(AtomicUsize::new(1)));
        let replicas = [
            Endpoint {
                addr: "a".into(),
                healthy: true,
            },
            Endpoint {
                addr: "b".into(),
                healthy: true,
            },
            Endpoint {
                addr: "c".into(),
                healthy: false,
            },
        ];
        assert_eq!(balancer.pick(&replicas, &[]).as_deref(), Some("b"));
        assert_eq!(
            balancer.pick(&replicas, &["b".into()]).as_deref(),
            Some("a")
        );
        assert_eq!(balancer.pick(&replicas[2..], &[]), None);
    }
}
