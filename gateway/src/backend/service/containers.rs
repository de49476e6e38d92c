//! Service mode on a plain Docker Engine: one container per replica running
//! the image's `fwatchdog` on the gateway's bridge network. The engine is the
//! record of what runs (containers labelled with the function); the gateway
//! keeps the specs, the desired counts and the calls in flight per replica,
//! and proxies each call to the healthy replica with the fewest in flight,
//! moving to another when a connection is refused before anything was sent.
//! Each replica's watchdog is given the function's token and answers only
//! calls carrying it (`container::token`).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HostConfig, RestartPolicy, RestartPolicyNameEnum};

use super::balancer::{Balancer, ReplicaConfig};
use super::replicas::{ReplicaLogs, Replicas, Served, Services};
use crate::backend::container::replica::Snapshot;
use crate::backend::container::{labels, logs, replica, setup};
use crate::backend::container::{Engine, EngineError, Replica, ReplicaCache, ReplicaKey};
use crate::backend::{BackendError, Invocation, LogQuery, ReplicaCount, ReplicaLines};
use crate::function::Function;

/// How long an updated function's new replicas get to become healthy.
const ROLLOUT_LIMIT: Duration = Duration::from_secs(60);

/// Replicas of every service function.
pub struct ReplicaSet {
    engine: Engine,
    /// Spec and desired replica count of each service function.
    specs: Mutex<HashMap<String, (Function, u64)>>,
    /// Replicas as last read from the engine.
    cache: ReplicaCache,
    /// Healthy replicas of every function, for listing.
    healthy: Snapshot<HashMap<String, u64>>,
    /// Proxies calls and counts them per replica.
    balancer: Balancer,
    /// What each function's replica token is derived from.
    key: ReplicaKey,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ReplicaSet {
    pub fn new(engine: Engine, replicas: ReplicaConfig, key: ReplicaKey) -> ReplicaSet {
        ReplicaSet {
            engine,
            specs: Mutex::default(),
            cache: ReplicaCache::default(),
            healthy: Snapshot::default(),
            balancer: Balancer::new(replicas, key.clone()),
            key,
        }
    }

    /// Records the function and brings it to its minimum replicas, adopting
    /// replicas an earlier run of the gateway left running. Those made
    /// without the function's current token (by a gateway before replicas
    /// had one, or under another key) would answer anyone, or refuse the
    /// gateway, and those under another runtime are not isolated as the
    /// function now is: they are replaced.
    async fn deploy_replicas(&self, function: &Function) -> Result<(), BackendError> {
        let running = self.running(&function.name, true).await?;
        let desired = (running.len() as u64).max(function.scaling().min);
        lock(&self.specs).insert(function.name.clone(), (function.clone(), desired));
        let stale = self.stale(function, &running).await;
        if !stale.is_empty() {
            tracing::info!(
                "replacing {} replicas of {} made without its current replica token or runtime",
                stale.len(),
                function.name
            );
            for id in &stale {
                self.engine.remove(id).await;
            }
            self.cache.forget(&function.name);
        }
        self.reconcile(&function.name).await
    }

    /// The ids of `replicas` whose environment lacks `function`'s current
    /// token, or that run under another runtime than it now asks. One the
    /// engine cannot inspect (gone meanwhile) is left to the reconciling.
    async fn stale(&self, function: &Function, replicas: &[Replica]) -> Vec<String> {
        let entry = self.key.env_entry(&function.name);
        let runtime = self.engine.runtimes.of(function);
        let mut stale = Vec::new();
        for replica in replicas {
            let Ok(inspected) = self
                .engine
                .docker
                .inspect_container(&replica.id, None)
                .await
            else {
                continue;
            };
            let env = inspected.config.and_then(|c| c.env).unwrap_or_default();
            let ran = inspected.host_config.and_then(|h| h.runtime);
            if !env.contains(&entry) || ran.as_deref().is_some_and(|r| r != runtime) {
                stale.push(replica.id.clone());
            }
        }
        stale
    }

    /// Rolls a function onto a new spec: new replicas first, then, once they
    /// are healthy, the old ones go. If the new ones never become healthy
    /// they are removed and the old spec stays.
    async fn roll(&self, function: &Function) -> Result<(), BackendError> {
        let old = self.running(&function.name, true).await?;
        let previous = lock(&self.specs).get(&function.name).cloned();
        let desired = previous
            .as_ref()
            .map(|(_, d)| *d)
            .unwrap_or_else(|| function.scaling().min)
            .max(function.scaling().min);
        let mut fresh = Vec::new();
        for _ in 0..desired {
            fresh.push(self.create(function).await?);
        }
        let deadline = Instant::now() + ROLLOUT_LIMIT;
        loop {
            let now = self.running(&function.name, true).await?;
            let healthy = now
                .iter()
                .filter(|r| r.healthy && fresh.contains(&r.id))
                .count() as u64;
            if healthy >= desired {
                break;
            }
            if Instant::now() > deadline {
                for id in &fresh {
                    self.engine.remove(id).await;
                }
                self.cache.forget(&function.name);
                return Err(BackendError::Start(format!(
                    "the updated replicas of {} did not become healthy within {}s; rolled back",
                    function.name,
                    ROLLOUT_LIMIT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        lock(&self.specs).insert(function.name.clone(), (function.clone(), desired));
        for replica in old {
            self.engine.remove(&replica.id).await;
        }
        self.cache.forget(&function.name);
        self.healthy.forget();
        Ok(())
    }

    /// Removes every replica of the function.
    async fn remove_all(&self, name: &str) -> Result<(), BackendError> {
        lock(&self.specs).remove(name);
        self.cache.forget(name);
        self.healthy.forget();
        let replicas = [
            labels::of_function(name),
            labels::owned_by(&self.engine.owner),
        ];
        self.engine.remove_labelled(&replicas).await?;
        Ok(())
    }

    /// Desired replicas of `name` and how many are healthy.
    async fn healthy(&self, name: &str) -> Result<ReplicaCount, BackendError> {
        let desired = match lock(&self.specs).get(name) {
            Some((_, desired)) => *desired,
            None => return Ok(ReplicaCount::default()),
        };
        let every = vec![
            labels::REPLICA.to_string(),
            labels::owned_by(&self.engine.owner),
        ];
        let engine = self.engine.clone();
        let read = || async move { replica::healthy_per_function(&engine, every).await };
        let healthy = self.healthy.get(read).await?;
        let available = healthy.get(name).copied().unwrap_or(0);
        Ok(ReplicaCount { desired, available })
    }

    /// Running replicas of `name`, from the cache unless `fresh`.
    async fn running(&self, name: &str, fresh: bool) -> Result<Vec<Replica>, EngineError> {
        let filter = vec![
            labels::of_function(name),
            labels::REPLICA.to_string(),
            labels::owned_by(&self.engine.owner),
        ];
        let read = || replica::running(&self.engine, filter);
        self.cache.get(name, fresh, read).await
    }

    /// Adds or removes containers until the running count is the desired one.
    async fn reconcile(&self, name: &str) -> Result<(), BackendError> {
        let (function, desired) = lock(&self.specs)
            .get(name)
            .cloned()
            .ok_or_else(|| BackendError::NotFound(name.into()))?;
        let running = self.running(name, true).await?;
        let have = running.len() as u64;
        if have < desired {
            for _ in have..desired {
                self.create(&function).await?;
            }
        } else {
            let mut extra: Vec<Replica> = running;
            // Unhealthy first, then the least busy.
            extra.sort_by_key(|r| (r.healthy, self.balancer.load(&r.addr)));
            for replica in extra.into_iter().take((have - desired) as usize) {
                self.engine.remove(&replica.id).await;
            }
        }
        self.cache.forget(name);
        self.healthy.forget();
        Ok(())
    }

    /// Creates and starts one replica; returns its container id.
    async fn create(&self, function: &Function) -> Result<String, BackendError> {
        let body = ContainerCreateBody {
            image: Some(function.image.clone()),
            env: Some(setup::watchdog_env(
                function,
                self.engine.max_payload_bytes,
                &self.key,
            )),
            labels: Some(HashMap::from([
                (labels::FUNCTION.to_string(), function.name.clone()),
                (labels::REPLICA.to_string(), "true".to_string()),
                (labels::OWNER.to_string(), self.engine.owner.clone()),
            ])),
            user: function.user.clone(),
            host_config: Some(HostConfig {
                network_mode: Some(self.engine.network.clone()),
                mounts: self
                    .engine
                    .secret_files
                    .as_deref()
                    .map(|dir| setup::secret_mounts(function, dir))
                    .filter(|mounts| !mounts.is_empty()),
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                runtime: Some(self.engine.runtimes.of(function).to_string()),
                ..setup::host_config(function, &self.engine.isolation)?
            }),
            ..Default::default()
        };
        let base = format!("faas-{}", function.name);
        let id = self.engine.create_named(&base, body).await.map_err(|e| {
            EngineError::refused(format!("create a replica of {}", function.name), e)
        })?;
        if let Err(e) = self.engine.docker.start_container(&id, None).await {
            self.engine.remove(&id).await;
            let action = format!("start a replica of {}", function.name);
            return Err(EngineError::refused(action, e).into());
        }
        Ok(id)
    }
}

#[async_trait::async_trait]
impl Replicas for ReplicaSet {
    async fn desired(&self, name: &str) -> Result<u64, BackendError> {
        Ok(lock(&self.specs)
            .get(name)
            .map_or(0, |(_, desired)| *desired))
    }

    async fn scale(&self, name: &str, replicas: u64) -> Result<(), BackendError> {
        match lock(&self.specs).get_mut(name) {
            Some((_, desired)) => *desired = replicas,
            None => return Err(BackendError::NotFound(name.into())),
        }
        self.reconcile(name).await
    }

    async fn ready(&self, name: &str, fresh: bool) -> Result<Vec<Replica>, BackendError> {
        Ok(self.running(name, fresh).await?)
    }
}

#[async_trait::async_trait]
impl Services for ReplicaSet {
    async fn deploy(&self, function: &Function) -> Result<(), BackendError> {
        self.deploy_replicas(function).await
    }

    async fn update(&self, function: &Function) -> Result<(), BackendError> {
        self.roll(function).await
    }

    async fn remove(&self, name: &str) -> Result<(), BackendError> {
        self.remove_all(name).await
    }

    async fn list(&self) -> Result<Vec<String>, BackendError> {
        Ok(lock(&self.specs).keys().cloned().collect())
    }

    async fn count(&self, name: &str) -> Result<ReplicaCount, BackendError> {
        self.healthy(name).await
    }

    async fn runtimes(&self, name: &str) -> Result<Option<Vec<String>>, BackendError> {
        let running = self.running(name, false).await?;
        Ok(Some(replica::runtimes(&self.engine, &running).await))
    }

    async fn invoke(&self, function: &Function, call: Invocation) -> Served {
        Served::Ran(self.balancer.invoke(self, function, call).await)
    }
}

#[async_trait::async_trait]
impl ReplicaLogs for ReplicaSet {
    async fn logs(&self, name: &str, query: LogQuery) -> Result<ReplicaLines, BackendError> {
        let replicas = self.running(name, true).await?;
        Ok(logs::read(&self.engine, replicas, query))
    }
}
