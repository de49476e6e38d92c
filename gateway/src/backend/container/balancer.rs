//! Calls to service replicas: pick the healthy replica with the fewest calls
//! in flight, proxy the call to its watchdog over HTTP, move to another
//! replica when a connection is refused before anything was sent, and when
//! no replica is up, wake the function (scale from zero) and wait for one
//! within the call's time. Used by the `docker` and `swarm` backends alike;
//! each tells where its replicas are through [`ReplicaSource`], which also
//! holds the one way a function is woken.

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
use super::Replica;
use crate::backend::{Backend, BackendError, Invocation};
use crate::function::Function;

/// How long connecting to a replica may take.
const CONNECT_LIMIT: Duration = Duration::from_secs(2);
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
                .running_replicas(&function.name, !refused.is_empty())
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
            let _inflight = self.start(&addr);
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

    /// The healthy replica with the fewest calls in flight, skipping `avoid`.
    fn pick(&self, replicas: &[Replica], avoid: &[String]) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_loaded_healthy_replica_is_picked() {
        let balancer = Balancer::default();
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
    fn only_replicas_with_calls_in_flight_are_counted() {
        let balancer = Balancer::default();
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

    /// A backend that only knows desired counts, recording its scales.
    #[derive(Default)]
    struct Counts(Mutex<HashMap<String, u64>>, Mutex<Vec<(String, u64)>>);

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
            Ok(Vec::new())
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
        let function = |name: &str| {
            let deployment =
                serde_json::json!({"service": name, "image": "i", "envProcess": "cat"});
            Function::create(serde_json::from_value(deployment).expect("deployment"), 0)
                .expect("function")
        };
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
}
