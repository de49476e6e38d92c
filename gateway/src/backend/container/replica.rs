//! A service function's replicas as both backends find them: running
//! containers on the functions network, each a watchdog at `ip:8080`, and
//! the short-lived cache of those lists that keeps the engine from being
//! asked on every call.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bollard::models::ContainerSummary;

use tokio::time::Instant;

use super::engine::Engine;
use super::error::EngineError;

/// The watchdog's port inside a replica.
pub const WATCHDOG_PORT: u16 = 8080;
/// How long a replica list read from the engine is trusted.
const CACHE_FOR: Duration = Duration::from_secs(1);

/// One running replica of a service function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    /// Its container's id.
    pub id: String,
    /// `ip:port` of its watchdog on the functions network.
    pub addr: String,
    /// Ready for calls: with a HEALTHCHECK the engine says "(healthy)";
    /// without one a running container counts as ready.
    pub healthy: bool,
}

/// The running containers carrying all of `labels` that are on the
/// engine's functions network (others are left out).
pub async fn running(engine: &Engine, labels: Vec<String>) -> Result<Vec<Replica>, EngineError> {
    let containers = engine.containers(labels, false).await?;
    Ok(containers
        .iter()
        .filter_map(|c| replica_of(engine, c))
        .collect())
}

/// What [`runtimes`] says of a replica whose runtime the engine cannot
/// tell.
pub const UNKNOWN_RUNTIME: &str = "unknown";

/// The OCI runtime each of `replicas` runs under, as the engine reports it
/// (its container's `HostConfig.Runtime`), in their order; one it cannot
/// inspect — gone meanwhile, or a Swarm task on another node (an engine
/// sees only its own node's containers) — is [`UNKNOWN_RUNTIME`].
pub async fn runtimes(engine: &Engine, replicas: &[Replica]) -> Vec<String> {
    let inspections = replicas
        .iter()
        .map(|replica| engine.docker.inspect_container(&replica.id, None));
    futures_util::future::join_all(inspections)
        .await
        .into_iter()
        .map(|inspected| {
            inspected
                .ok()
                .and_then(|c| c.host_config)
                .and_then(|h| h.runtime)
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| UNKNOWN_RUNTIME.to_string())
        })
        .collect()
}

/// Healthy replicas per function (its `FUNCTION` label) among the running
/// containers carrying all of `labels`: one engine call for them all.
pub async fn healthy_per_function(
    engine: &Engine,
    labels: Vec<String>,
) -> Result<HashMap<String, u64>, EngineError> {
    let mut healthy = HashMap::new();
    for c in engine.containers(labels, false).await? {
        let function = c
            .labels
            .as_ref()
            .and_then(|l| l.get(super::labels::FUNCTION));
        if let (Some(function), Some(replica)) = (function, replica_of(engine, &c)) {
            *healthy.entry(function.clone()).or_default() += u64::from(replica.healthy);
        }
    }
    Ok(healthy)
}

/// The replica a running container is, if it is on the functions network.
fn replica_of(engine: &Engine, c: &ContainerSummary) -> Option<Replica> {
    let ip = c
        .network_settings
        .as_ref()?
        .networks
        .as_ref()?
        .get(&engine.network)?
        .ip_address
        .clone()
        .filter(|ip| !ip.is_empty())?;
    let status = c.status.clone().unwrap_or_default();
    Some(Replica {
        id: c.id.clone()?,
        addr: format!("{ip}:{WATCHDOG_PORT}"),
        healthy: status.contains("(healthy)") || !status.contains('('),
    })
}

/// Replica lists per function, each trusted for a second. A caller that
/// knows the list is stale (a connection was refused, the function was
/// scaled) reads again at once; an empty list is always read again, since
/// replicas may be on their way (scale from zero). Holds only the lists
/// read within the last second.
#[derive(Default)]
pub struct ReplicaCache {
    lists: Mutex<HashMap<String, (Instant, Vec<Replica>)>>,
}

impl ReplicaCache {
    /// The replicas of `name`: from the cache unless `fresh`, else from
    /// `read`, then kept.
    pub async fn get<E, F, Fut>(&self, name: &str, fresh: bool, read: F) -> Result<Vec<Replica>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<Replica>, E>>,
    {
        if !fresh {
            if let Some((at, replicas)) = self.lists().get(name) {
                if at.elapsed() < CACHE_FOR && !replicas.is_empty() {
                    return Ok(replicas.clone());
                }
            }
        }
        let replicas = read().await?;
        let mut lists = self.lists();
        lists.retain(|_, (at, _)| at.elapsed() < CACHE_FOR);
        lists.insert(name.to_string(), (Instant::now(), replicas.clone()));
        Ok(replicas)
    }

    /// Drops the list of `name`: the next read asks the engine.
    pub fn forget(&self, name: &str) {
        self.lists().remove(name);
    }

    fn lists(&self) -> MutexGuard<'_, HashMap<String, (Instant, Vec<Replica>)>> {
        self.lists.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One value about every function at once (replica counts for listing),
/// kept so that listing never waits for the engine: a value younger than
/// [`CACHE_FOR`] is answered as it is; an older one is answered too while
/// one background read replaces it; only when there is none (at first, and
/// after [`Snapshot::forget`]) does the caller wait for a read. Listing many
/// functions costs at most one engine call, not one per function.
pub struct Snapshot<T> {
    inner: Arc<SnapshotInner<T>>,
}

struct SnapshotInner<T> {
    value: Mutex<Option<(Instant, Arc<T>)>>,
    /// Bumped by [`Snapshot::forget`]; a read begun before is not kept.
    generation: AtomicU64,
    /// A background read is on its way.
    refreshing: AtomicBool,
}

impl<T> Default for Snapshot<T> {
    fn default() -> Self {
        Snapshot {
            inner: Arc::new(SnapshotInner {
                value: Mutex::new(None),
                generation: AtomicU64::new(0),
                refreshing: AtomicBool::new(false),
            }),
        }
    }
}

impl<T: Send + Sync + 'static> Snapshot<T> {
    pub async fn get<E, F, Fut>(&self, read: F) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let current = self.inner.lock().clone();
        match current {
            Some((at, value)) if at.elapsed() < CACHE_FOR => Ok(value),
            Some((_, stale)) => {
                if !self.inner.refreshing.swap(true, Ordering::SeqCst) {
                    let inner = self.inner.clone();
                    tokio::spawn(async move {
                        let generation = inner.generation.load(Ordering::SeqCst);
                        match read().await {
                            Ok(fresh) => inner.keep(generation, Arc::new(fresh)),
                            Err(e) => tracing::debug!("cannot refresh the replica counts: {e}"),
                        }
                        inner.refreshing.store(false, Ordering::SeqCst);
                    });
                }
                Ok(stale)
            }
            None => {
                let generation = self.inner.generation.load(Ordering::SeqCst);
                let fresh = Arc::new(read().await?);
                self.inner.keep(generation, fresh.clone());
                Ok(fresh)
            }
        }
    }

    /// The next read asks the engine and waits for it (something changed).
    pub fn forget(&self) {
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        *self.inner.lock() = None;
    }
}

impl<T> SnapshotInner<T> {
    fn lock(&self) -> MutexGuard<'_, Option<(Instant, Arc<T>)>> {
        self.value.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps a value read since `generation`, unless forgotten meanwhile.
    fn keep(&self, generation: u64, value: Arc<T>) {
        let mut current = self.lock();
        if generation == self.generation.load(Ordering::SeqCst) {
            *current = Some((Instant::now(), value));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Reads through `cache` with a reader that answers `replicas` and
    /// counts its calls in `reads`.
    async fn get(
        cache: &ReplicaCache,
        fresh: bool,
        replicas: &[Replica],
        reads: &AtomicUsize,
    ) -> Vec<Replica> {
        let read = || async {
            reads.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Infallible>(replicas.to_vec())
        };
        match cache.get("f", fresh, read).await {
            Ok(replicas) => replicas,
            Err(never) => match never {},
        }
    }

    fn one() -> Vec<Replica> {
        vec![Replica {
            id: "c1".into(),
            addr: "10.0.0.2:8080".into(),
            healthy: true,
        }]
    }

    #[tokio::test(start_paused = true)]
    async fn a_snapshot_answers_at_once_and_is_read_again_behind() {
        let snapshot = Snapshot::<usize>::default();
        let reads = Arc::new(AtomicUsize::new(0));
        let read = |reads: Arc<AtomicUsize>| {
            move || async move { Ok::<_, Infallible>(reads.fetch_add(1, Ordering::SeqCst) + 1) }
        };
        // The first read is waited for; within a second it is answered as it is.
        for _ in 0..3 {
            assert_eq!(*snapshot.get(read(reads.clone())).await.expect("read"), 1);
        }
        // Stale: answered at once while a read in the background replaces it.
        tokio::time::advance(CACHE_FOR).await;
        assert_eq!(*snapshot.get(read(reads.clone())).await.expect("read"), 1);
        tokio::task::yield_now().await;
        assert_eq!(*snapshot.get(read(reads.clone())).await.expect("read"), 2);
        // Forgotten: the next caller waits for a new read.
        snapshot.forget();
        assert_eq!(*snapshot.get(read(reads.clone())).await.expect("read"), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_list_is_trusted_for_a_second() {
        let (cache, reads) = (ReplicaCache::default(), AtomicUsize::new(0));
        assert_eq!(get(&cache, false, &one(), &reads).await, one());
        tokio::time::advance(Duration::from_millis(999)).await;
        assert_eq!(get(&cache, false, &[], &reads).await, one());
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(get(&cache, false, &[], &reads).await, []);
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn fresh_forgotten_and_empty_lists_are_read_again() {
        let (cache, reads) = (ReplicaCache::default(), AtomicUsize::new(0));
        get(&cache, false, &[], &reads).await;
        get(&cache, false, &one(), &reads).await;
        assert_eq!(reads.load(Ordering::SeqCst), 2, "an empty list is not kept");
        get(&cache, true, &one(), &reads).await;
        assert_eq!(reads.load(Ordering::SeqCst), 3, "fresh skips the cache");
        cache.forget("f");
        get(&cache, false, &one(), &reads).await;
        assert_eq!(reads.load(Ordering::SeqCst), 4, "a forgotten list is read");
    }

    #[tokio::test(start_paused = true)]
    async fn only_recent_lists_are_held() {
        let cache = ReplicaCache::default();
        let reads = AtomicUsize::new(0);
        get(&cache, false, &one(), &reads).await;
        tokio::time::advance(CACHE_FOR).await;
        let read = || async { Ok::<_, Infallible>(one()) };
        let _ = cache.get("g", false, read).await;
        assert_eq!(cache.lists().len(), 1);
    }
}
