//! Calls to service replicas: pick the healthy replica with the fewest calls
//! in flight, forward the call to its watchdog over HTTP, and move to
//! another replica when a connection fails before anything was sent
//! (refused, or not made within the connect timeout: a replica on a node
//! that vanished drops packets). A replica that failed to connect is
//! quarantined: new calls skip it for a while, unless no other is ready. A
//! call whose request was sent is never moved (it may have run). With no
//! replica ready, the call waits beside it ([`super::wake`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use watchdog::runner::Outcome;

use super::forward::{build_request, outcome, timed_out};
use super::replicas::Replicas;
use super::wake::Waiting;
use crate::backend::container::{Replica, ReplicaKey};
use crate::backend::peer;
use crate::backend::{BackendError, Invocation};
use crate::function::Function;

/// How the balancer treats service replicas that do not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaConfig {
    /// A connection to a replica not made within this time fails, and the
    /// call moves to another replica (nothing was sent).
    pub connect_timeout: Duration,
    /// A replica that failed to connect is skipped by new calls this long
    /// (unless no other is ready).
    pub quarantine: Duration,
}

impl Default for ReplicaConfig {
    fn default() -> Self {
        ReplicaConfig {
            connect_timeout: Duration::from_secs(2),
            quarantine: Duration::from_secs(5),
        }
    }
}

/// Proxies calls to replicas, counting the calls in flight on each.
pub struct Balancer {
    client: Client<HttpConnector, Full<Bytes>>,
    inflight: Mutex<HashMap<String, Arc<AtomicUsize>>>,
    /// Replicas that failed to connect, and until when new calls skip them.
    quarantined: Mutex<HashMap<String, Instant>>,
    /// How long a replica that failed to connect is skipped.
    quarantine: Duration,
    /// Where the next pick starts looking: replicas equally loaded take
    /// calls in turn.
    turn: AtomicUsize,
    /// What each function's replica token is derived from.
    key: ReplicaKey,
}

impl Balancer {
    pub fn new(config: ReplicaConfig, key: ReplicaKey) -> Balancer {
        Balancer {
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(peer::connector(config.connect_timeout)),
            inflight: Mutex::default(),
            quarantined: Mutex::default(),
            quarantine: config.quarantine,
            turn: AtomicUsize::new(0),
            key,
        }
    }
}

/// What forwarding a call to one replica came to.
enum Forwarded {
    /// The replica answered, or failed after the request was sent, or the
    /// call's time ran out: the call ends here.
    Answered(Result<Outcome, BackendError>),
    /// The replica did not connect: nothing was sent.
    NotConnected,
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

    fn quarantined(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.quarantined.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether new calls skip the replica at `addr` (it failed to connect
    /// within the quarantine).
    pub fn is_quarantined(&self, addr: &str) -> bool {
        self.quarantined()
            .get(addr)
            .is_some_and(|until| *until > Instant::now())
    }

    /// Skips the replica at `addr` for the quarantine; forgets those whose
    /// quarantine is over, so replicas that went away do not pile up.
    fn quarantine(&self, addr: &str) {
        let now = Instant::now();
        let mut quarantined = self.quarantined();
        quarantined.retain(|_, until| *until > now);
        quarantined.insert(addr.to_string(), now + self.quarantine);
    }

    /// Runs one call on a replica of `function`, waiting for one within
    /// the call's time when none is ready.
    pub async fn invoke(
        &self,
        replicas: &dyn Replicas,
        function: &Function,
        call: Invocation,
    ) -> Result<Outcome, BackendError> {
        let started = Instant::now();
        let deadline = started + call.timeout;
        let mut refused = Vec::<String>::new();
        let mut waiting = Waiting::new(deadline);
        let token = self.key.token(&function.name);
        loop {
            let ready = replicas.ready(&function.name, !refused.is_empty()).await?;
            let Some(addr) = self.pick(&ready, &refused) else {
                waiting.wait(replicas, function).await?;
                refused.clear();
                continue;
            };
            match self
                .forward(&addr, function, &call, &token, started, deadline)
                .await
            {
                Forwarded::Answered(result) => return result,
                Forwarded::NotConnected => refused.push(addr),
            }
        }
    }

    /// Forwards `call` to the replica at `addr`; one that does not connect
    /// is quarantined, and nothing was sent to it.
    async fn forward(
        &self,
        addr: &str,
        function: &Function,
        call: &Invocation,
        token: &str,
        started: Instant,
        deadline: Instant,
    ) -> Forwarded {
        let _inflight = self.start(addr);
        tracing::debug!(replica = %addr, "forwarding the call");
        let request = match build_request(addr, call, token) {
            Ok(request) => request,
            Err(e) => return Forwarded::Answered(Err(e)),
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        let response = match tokio::time::timeout(remaining, self.client.request(request)).await {
            Err(_) => return Forwarded::Answered(Ok(timed_out(started))),
            Ok(Err(err)) if err.is_connect() => {
                // Nothing was sent: another replica may take it, and new
                // calls skip this one for a while.
                tracing::warn!(
                    replica = %addr,
                    "a replica did not connect ({}); skipped for {:?}",
                    reason(&err),
                    self.quarantine
                );
                self.quarantine(addr);
                return Forwarded::NotConnected;
            }
            Ok(Err(err)) => {
                return Forwarded::Answered(Err(BackendError::Unreachable(format!(
                    "the replica of {} at {addr} failed: {err}",
                    function.name
                ))))
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), call.max_output_bytes + 64).collect();
        let remaining = deadline.saturating_duration_since(Instant::now());
        let body = match tokio::time::timeout(remaining, body).await {
            Err(_) => return Forwarded::Answered(Ok(timed_out(started))),
            Ok(Err(err)) => {
                return Forwarded::Answered(Err(BackendError::Unreachable(format!(
                    "reading the answer of {} from {addr} failed: {err}",
                    function.name
                ))))
            }
            Ok(Ok(body)) => body.to_bytes(),
        };
        Forwarded::Answered(Ok(outcome(
            status,
            body,
            started.elapsed(),
            call.max_output_bytes,
        )))
    }

    /// Counts a call in flight on `addr` until the guard drops. The table
    /// keeps only replicas with calls in flight (an entry no guard holds is
    /// at zero), so replicas that went away do not pile up.
    fn start(&self, addr: &str) -> InFlight {
        let mut table = self.table();
        table.retain(|_, counter| Arc::strong_count(counter) > 1);
        let counter = table.entry(addr.to_string()).or_default().clone();
        counter.fetch_add(1, Ordering::SeqCst);
        InFlight(counter)
    }

    /// The healthy replica with the fewest calls in flight, skipping `avoid`
    /// and, while another is ready, the quarantined ones; among equally
    /// loaded ones, each in turn.
    fn pick(&self, replicas: &[Replica], avoid: &[String]) -> Option<String> {
        let ready: Vec<&Replica> = replicas
            .iter()
            .filter(|r| r.healthy && !avoid.contains(&r.addr))
            .collect();
        let trusted: Vec<&Replica> = ready
            .iter()
            .copied()
            .filter(|r| !self.is_quarantined(&r.addr))
            .collect();
        let mut candidates = if trusted.is_empty() { ready } else { trusted };
        if !candidates.is_empty() {
            let turn = self.turn.fetch_add(1, Ordering::Relaxed);
            let by = turn % candidates.len();
            candidates.rotate_left(by);
        }
        let table = self.table();
        candidates
            .into_iter()
            .min_by_key(|r| {
                table
                    .get(&r.addr)
                    .map(|c| c.load(Ordering::SeqCst))
                    .unwrap_or(0)
            })
            .map(|r| r.addr.clone())
    }
}

/// The deepest cause of a client error: what went wrong, not where.
fn reason(e: &hyper_util::client::legacy::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = std::error::Error::source(cause) {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::super::fake::{function, Counts};
    use super::*;

    #[test]
    fn least_loaded_healthy_replica_is_picked() {
        let balancer = Balancer::new(ReplicaConfig::default(), key());
        balancer
            .table()
            .insert("a".into(), Arc::new(AtomicUsize::new(3)));
        balancer
            .table()
            .insert("b".into(), Arc::new(AtomicUsize::new(1)));
        let replicas = [("a", true), ("b", true), ("c", false)].map(|(addr, healthy)| Replica {
            id: addr.into(),
            addr: addr.into(),
            healthy,
        });
        assert_eq!(balancer.pick(&replicas, &[]).as_deref(), Some("b"));
        assert_eq!(
            balancer.pick(&replicas, &["b".into()]).as_deref(),
            Some("a")
        );
        assert_eq!(balancer.pick(&replicas[2..], &[]), None);
    }

    #[test]
    fn equally_loaded_replicas_take_calls_in_turn() {
        let balancer = Balancer::new(ReplicaConfig::default(), key());
        let replicas = ["a", "b", "c"].map(|addr| Replica {
            id: addr.into(),
            addr: addr.into(),
            healthy: true,
        });
        let picks: Vec<String> = (0..6)
            .filter_map(|_| balancer.pick(&replicas, &[]))
            .collect();
        assert_eq!(picks, ["a", "b", "c", "a", "b", "c"]);
        // A loaded replica is still passed over.
        let _busy = balancer.start("b");
        let picks: Vec<String> = (0..4)
            .filter_map(|_| balancer.pick(&replicas, &[]))
            .collect();
        assert!(!picks.contains(&"b".to_string()), "{picks:?}");
    }

    #[test]
    fn only_replicas_with_calls_in_flight_are_counted() {
        let balancer = Balancer::new(ReplicaConfig::default(), key());
        let first = balancer.start("a");
        let second = balancer.start("a");
        let other = balancer.start("b");
        assert_eq!((balancer.load("a"), balancer.load("b")), (2, 1));
        drop((first, other));
        assert_eq!((balancer.load("a"), balancer.load("b")), (1, 0));
        drop(second);
        let _call = balancer.start("c");
        assert_eq!(balancer.table().len(), 1);
    }

    fn replica(addr: &str) -> Replica {
        Replica {
            id: addr.into(),
            addr: addr.into(),
            healthy: true,
        }
    }

    fn call() -> Invocation {
        Invocation {
            id: crate::call_id::CallId::from(uuid::Uuid::nil()),
            request: crate::backend::Request {
                method: http::Method::POST,
                path: "/".into(),
                ..Default::default()
            },
            input: Bytes::from_static(b"in"),
            timeout: Duration::from_secs(30),
            max_output_bytes: 100,
            placed: Default::default(),
            reached: Default::default(),
        }
    }

    /// A replica that never answers a connect: its listener's backlog is
    /// full (one connection waits, never accepted), so the kernel drops
    /// further SYNs, as a vanished node's network does.
    fn blackhole() -> (String, tokio::net::TcpListener, std::net::TcpStream) {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bound");
        let listener = socket.listen(0).expect("listening");
        let addr = listener.local_addr().expect("its address");
        let waiting = std::net::TcpStream::connect(addr).expect("the backlog's one");
        (addr.to_string(), listener, waiting)
    }

    /// A replica's watchdog that answers `ok` to each request, counting
    /// them; with `answer` false it reads each request and hangs up.
    async fn watchdog(answer: bool) -> (String, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bound");
        let addr = listener.local_addr().expect("its address").to_string();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.ends_with(b"in") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    seen.fetch_add(1, Ordering::SeqCst);
                    if answer {
                        let ok =
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
                        let _ = stream.write_all(ok).await;
                    }
                });
            }
        });
        (addr, count)
    }

    fn key() -> ReplicaKey {
        ReplicaKey::from_bytes(b"a test key")
    }

    fn quick(quarantine: Duration) -> Balancer {
        Balancer::new(
            ReplicaConfig {
                connect_timeout: Duration::from_millis(300),
                quarantine,
            },
            key(),
        )
    }

    #[tokio::test]
    async fn a_replica_that_does_not_connect_is_skipped_and_quarantined() {
        let (dead, _listener, _waiting) = blackhole();
        let (alive, answered) = watchdog(true).await;
        let backend = Counts::with_ready(vec![replica(&dead), replica(&alive)]);
        let balancer = quick(Duration::from_secs(60));
        // Equal loads: a new balancer's first pick is the first listed,
        // the dead one; the call moves on to the live one.
        let outcome = balancer
            .invoke(&backend, &function("f"), call())
            .await
            .expect("an outcome");
        assert_eq!(&outcome.stdout[..], b"ok");
        assert_eq!(answered.load(Ordering::SeqCst), 1);
        // Quarantined: new calls go to the live one first.
        assert!(balancer.is_quarantined(&dead));
        assert!(!balancer.is_quarantined(&alive));
        assert_eq!(balancer.pick(&backend.ready, &[]), Some(alive.clone()));
        balancer
            .invoke(&backend, &function("f"), call())
            .await
            .expect("an outcome");
        assert_eq!(answered.load(Ordering::SeqCst), 2);
        // With no other ready, a quarantined replica is still tried.
        assert_eq!(
            balancer.pick(&backend.ready, std::slice::from_ref(&alive)),
            Some(dead)
        );
    }

    #[tokio::test]
    async fn a_quarantine_ends() {
        let balancer = quick(Duration::from_millis(50));
        balancer.quarantine("10.0.0.9:8080");
        assert!(balancer.is_quarantined("10.0.0.9:8080"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!balancer.is_quarantined("10.0.0.9:8080"));
        let replicas = [replica("10.0.0.9:8080"), replica("10.0.0.8:8080")];
        assert_eq!(
            balancer.pick(&replicas, &[]).as_deref(),
            Some("10.0.0.9:8080")
        );
        // Ended quarantines are forgotten at the next one.
        balancer.quarantine("10.0.0.7:8080");
        assert_eq!(balancer.quarantined().len(), 1);
    }

    #[tokio::test]
    async fn a_call_whose_request_was_sent_is_not_moved() {
        let (hangs_up, got) = watchdog(false).await;
        let (alive, answered) = watchdog(true).await;
        let backend = Counts::with_ready(vec![replica(&hangs_up), replica(&alive)]);
        let balancer = quick(Duration::from_secs(60));
        let failed = balancer.invoke(&backend, &function("f"), call()).await;
        assert!(
            matches!(&failed, Err(BackendError::Unreachable(why)) if why.contains(&hangs_up)),
            "{failed:?}"
        );
        assert_eq!(got.load(Ordering::SeqCst), 1);
        assert_eq!(answered.load(Ordering::SeqCst), 0, "never run twice");
        assert!(!balancer.is_quarantined(&hangs_up));
    }
}
