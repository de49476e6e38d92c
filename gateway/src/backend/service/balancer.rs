//! Calls to service replicas: pick the healthy replica with the fewest calls
//! in flight, proxy the call to its watchdog over HTTP, move to another
//! replica when a connection fails before anything was sent (refused, or not
//! made within the connect timeout: a replica on a node that vanished drops
//! packets), and when no replica is up, wake the function (scale from zero)
//! and wait for one within the call's time. A replica that failed to connect
//! is quarantined: new calls skip it for a while, unless no other is ready.
//! A call whose request was sent is never moved (it may have run). Used by
//! the `docker` and `swarm` backends alike; each tells where its replicas
//! are through [`ReplicaSource`], which also holds the one way a function is
//! woken.

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
use super::{Replica, ReplicaKey};
use crate::backend::{Backend, BackendError, Invocation};
use crate::config::ReplicaConfig;
use crate::function::Function;

/// How often a call waiting for a replica looks again.
const WAIT_STEP: Duration = Duration::from_millis(100);

/// A backend whose service functions run as replicas the balancer calls.
#[async_trait::async_trait]
pub trait ReplicaSource: Backend {
    /// The function's running replicas; `fresh` skips any cache.
    async fn running_replicas(&self, name: &str, fresh: bool)
        -> Result<Vec<Replica>, BackendError>;

    /// Makes sure at least one replica is wanted (scale from zero). A
    /// function the backend does not know is `NotFound` (from `scale`).
    async fn wake(&self, function: &Function) -> Result<(), BackendError> {
        if self.desired(&function.name).await? == 0 {
            self.scale(&function.name, function.scaling().wake())
                .await?;
        }
        Ok(())
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
                .build(connector(config.connect_timeout)),
            inflight: Mutex::default(),
            quarantined: Mutex::default(),
            quarantine: config.quarantine,
            turn: AtomicUsize::new(0),
            key,
        }
    }
}

/// How long a connection to a peer (a replica, an agent) may be silent
/// before TCP asks whether it is still there; how often it asks again; how
/// many unanswered asks end the connection. A peer on a node that vanished
/// (no answer, no reset) ends a call in flight within about 11 s, not at
/// the call's timeout.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(5);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);
const KEEPALIVE_RETRIES: u32 = 3;

/// Connections to peers the gateway forwards calls to (replicas, agents):
/// one that went away must fail the connect within `timeout` (so the call
/// moves to another), and a connection to one that vanished during a call
/// must end, not hang.
pub fn connector(timeout: Duration) -> HttpConnector {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(timeout));
    connector.set_nodelay(true);
    connector.set_keepalive(Some(KEEPALIVE_IDLE));
    connector.set_keepalive_interval(Some(KEEPALIVE_INTERVAL));
    connector.set_keepalive_retries(Some(KEEPALIVE_RETRIES));
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
        let token = self.key.token(&function.name);
        loop {
            let replicas = source
                .running_replicas(&function.name, !refused.is_empty())
                .await?;
            let Some(addr) = self.pick(&replicas, &refused) else {
                if !woken {
                    source.wake(function).await?;
                    woken = true;
                }
                if Instant::now() + WAIT_STEP >= deadline {
                    return Err(BackendError::NotReady(format!(
                        "timed out waiting for a replica of {} to be ready (the function's timeout); the function did not run",
                        function.name
                    )));
                }
                refused.clear();
                tokio::time::sleep(WAIT_STEP).await;
                continue;
            };
            let _inflight = self.start(&addr);
            let request = build_request(&addr, &call, &token)?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let response = match tokio::time::timeout(remaining, self.client.request(request)).await
            {
                Err(_) => return Ok(timed_out(started)),
                Ok(Err(err)) if err.is_connect() => {
                    // Nothing was sent: another replica may take it, and
                    // new calls skip this one for a while.
                    tracing::warn!(
                        function = %function.name,
                        replica = %addr,
                        "a replica did not connect ({}); skipped for {:?}",
                        reason(&err),
                        self.quarantine
                    );
                    self.quarantine(&addr);
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

    /// A backend that only knows desired counts, recording its scales, and
    /// the replicas it is given.
    #[derive(Default)]
    struct Counts(
        Mutex<HashMap<String, u64>>,
        Mutex<Vec<(String, u64)>>,
        Vec<Replica>,
    );

    #[async_trait::async_trait]
    impl Backend for Counts {
        fn name(&self) -> &'static str {
            "counts"
        }
        async fn deploy(&self, _: &Function) -> Result<(), BackendError> {
            Ok(())
        }
        async fn update(&self, _: &Function) -> Result<(), BackendError> {
            Ok(())
        }
        async fn remove(&self, _: &str) -> Result<(), BackendError> {
            Ok(())
        }
        async fn list(&self) -> Result<Vec<String>, BackendError> {
            Ok(Vec::new())
        }
        async fn scale(&self, name: &str, replicas: u64) -> Result<(), BackendError> {
            if !self.0.lock().expect("counts").contains_key(name) {
                return Err(BackendError::NotFound(name.into()));
            }
            self.1.lock().expect("scales").push((name.into(), replicas));
            Ok(())
        }
        async fn replicas(&self, name: &str) -> Result<crate::backend::Replicas, BackendError> {
            let desired = self.0.lock().expect("counts").get(name).copied();
            Ok(crate::backend::Replicas {
                desired: desired.unwrap_or(0),
                available: 0,
            })
        }
        async fn invoke(&self, _: &Function, _: Invocation) -> Result<Outcome, BackendError> {
            Err(BackendError::Invalid("not here".into()))
        }
    }

    #[async_trait::async_trait]
    impl ReplicaSource for Counts {
        async fn running_replicas(&self, _: &str, _: bool) -> Result<Vec<Replica>, BackendError> {
            Ok(self.2.clone())
        }
    }

    #[tokio::test]
    async fn only_a_function_at_zero_is_woken() {
        let backend = Counts::default();
        backend
            .0
            .lock()
            .expect("counts")
            .extend([("idle".into(), 0), ("busy".into(), 2)]);
        backend.wake(&function("idle")).await.expect("woken");
        backend.wake(&function("busy")).await.expect("left");
        assert!(matches!(
            backend.wake(&function("ghost")).await,
            Err(BackendError::NotFound(_))
        ));
        assert_eq!(
            *backend.1.lock().expect("scales"),
            [("idle".to_string(), 1)]
        );
    }

    fn function(name: &str) -> Function {
        let deployment = serde_json::json!({"service": name, "image": "i", "envProcess": "cat"});
        Function::create(serde_json::from_value(deployment).expect("deployment"), 0)
            .expect("function")
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
            id: uuid::Uuid::nil(),
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
        let backend = Counts(
            Mutex::default(),
            Mutex::default(),
            vec![replica(&dead), replica(&alive)],
        );
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
        assert_eq!(balancer.pick(&backend.2, &[]), Some(alive.clone()));
        balancer
            .invoke(&backend, &function("f"), call())
            .await
            .expect("an outcome");
        assert_eq!(answered.load(Ordering::SeqCst), 2);
        // With no other ready, a quarantined replica is still tried.
        assert_eq!(
            balancer.pick(&backend.2, std::slice::from_ref(&alive)),
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
        let backend = Counts(
            Mutex::default(),
            Mutex::default(),
            vec![replica(&hangs_up), replica(&alive)],
        );
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
