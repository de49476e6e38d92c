//! Service mode on a plain Docker Engine: one container per replica running
//! the image's `fwatchdog` on the gateway's bridge network. The engine is the
//! record of what runs (containers labelled with the function); the gateway
//! keeps the specs, the desired counts and the calls in flight per replica,
//! and proxies each call to the healthy replica with the fewest in flight,
//! moving to another when a connection is refused before anything was sent.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HostConfig, RestartPolicy, RestartPolicyNameEnum};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use bollard::Docker;
use watchdog::runner::Outcome;

use super::balancer::{Balancer, Endpoint, ReplicaSource, WATCHDOG_PORT};
use super::engine::{self, LABEL_FUNCTION, LABEL_OWNER, LABEL_REPLICA};
use super::{env_entries, host_config};
use crate::backend::{BackendError, Invocation, Replicas as Counts};
use crate::function::Function;

/// How long a replica list read from the engine is trusted.
const CACHE_FOR: Duration = Duration::from_millis(1000);
/// How long an updated function's new replicas get to become healthy.
const ROLLOUT_LIMIT: Duration = Duration::from_secs(60);

/// One running replica.
#[derive(Debug, Clone)]
struct Replica {
    id: String,
    /// `ip:port` on the functions network.
    addr: String,
    healthy: bool,
}

/// Replicas of every service function.
pub struct Replicas {
    docker: Docker,
    network: String,
    /// This gateway's id, on every replica it creates.
    owner: String,
    max_payload_bytes: u64,
    /// Spec and desired replica count of each service function.
    specs: Mutex<HashMap<String, (Function, u64)>>,
    /// Replicas as last read from the engine, and when.
    cache: Mutex<HashMap<String, (Instant, Vec<Replica>)>>,
    /// Proxies calls and counts them per replica.
    balancer: Balancer,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The environment of a replica: the function's `envVars`, then what its
/// watchdog needs: `fprocess`, timeouts as long as the function's (so no
/// layer cuts a long call short), the payload limits, and STDERR kept out of
/// the answer.
pub fn watchdog_env(function: &Function, max_payload_bytes: u64) -> Vec<String> {
    let timeout = format!("{}s", function.timeout);
    let limit = max_payload_bytes.to_string();
    let mut vars = vec![
        ("exec_timeout".to_string(), timeout.clone()),
        ("read_timeout".to_string(), timeout.clone()),
        ("write_timeout".to_string(), timeout),
        ("max_input_bytes".to_string(), limit.clone()),
        ("max_output_bytes".to_string(), limit),
        ("combine_output".to_string(), "false".to_string()),
    ];
    if !function.env_process.is_empty() {
        vars.push(("fprocess".to_string(), function.env_process.clone()));
    }
    env_entries(function, &vars)
}

impl Replicas {
    pub fn new(docker: Docker, network: String, owner: String, max_payload_bytes: u64) -> Replicas {
        Replicas {
            docker,
            network,
            owner,
            max_payload_bytes,
            specs: Mutex::default(),
            cache: Mutex::default(),
            balancer: Balancer::default(),
        }
    }

    /// Creates the functions network unless it exists.
    pub async fn ensure_network(&self) -> Result<(), String> {
        engine::ensure_network(&self.docker, &self.network, false).await
    }

    /// Records the function and brings it to its minimum replicas, adopting
    /// replicas an earlier run of the gateway left running.
    pub async fn deploy(&self, function: &Function) -> Result<(), BackendError> {
        let running = self.list(&function.name, true).await?.len() as u64;
        let desired = running.max(function.scaling().min);
        lock(&self.specs).insert(function.name.clone(), (function.clone(), desired));
        self.reconcile(&function.name).await
    }

    /// Rolls a function onto a new spec: new replicas first, then, once they
    /// are healthy, the old ones go. If the new ones never become healthy
    /// they are removed and the old spec stays.
    pub async fn update(&self, function: &Function) -> Result<(), BackendError> {
        let old = self.list(&function.name, true).await?;
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
            let now = self.list(&function.name, true).await?;
            let healthy = now
                .iter()
                .filter(|r| r.healthy && fresh.contains(&r.id))
                .count() as u64;
            if healthy >= desired {
                break;
            }
            if Instant::now() > deadline {
                for id in &fresh {
                    self.remove_container(id).await;
                }
                self.forget_cache(&function.name);
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
            self.remove_container(&replica.id).await;
        }
        self.forget_cache(&function.name);
        Ok(())
    }

    /// Removes every replica of the function.
    pub async fn remove(&self, name: &str) -> Result<(), BackendError> {
        lock(&self.specs).remove(name);
        self.forget_cache(name);
        engine::remove_labelled(
            &self.docker,
            &[format!("{LABEL_FUNCTION}={name}"), self.owner_label()],
        )
        .await
        .map(|_| ())
        .map_err(BackendError::Unreachable)
    }

    pub async fn names(&self) -> Result<Vec<String>, BackendError> {
        Ok(lock(&self.specs).keys().cloned().collect())
    }

    pub async fn scale(&self, name: &str, replicas: u64) -> Result<(), BackendError> {
        match lock(&self.specs).get_mut(name) {
            Some((_, desired)) => *desired = replicas,
            None => return Err(BackendError::NotFound(name.into())),
        }
        self.reconcile(name).await
    }

    /// The desired replicas of `name` (0 when unknown).
    pub fn desired(&self, name: &str) -> u64 {
        lock(&self.specs)
            .get(name)
            .map_or(0, |(_, desired)| *desired)
    }

    pub async fn count(&self, name: &str) -> Result<Counts, BackendError> {
        let desired = match lock(&self.specs).get(name) {
            Some((_, desired)) => *desired,
            None => return Ok(Counts::default()),
        };
        let available = self
            .list(name, false)
            .await?
            .iter()
            .filter(|r| r.healthy)
            .count() as u64;
        Ok(Counts { desired, available })
    }

    /// Proxies one call to the least busy healthy replica.
    pub async fn invoke(
        &self,
        function: &Function,
        call: Invocation,
    ) -> Result<Outcome, BackendError> {
        self.balancer.invoke(self, function, call).await
    }

    fn owner_label(&self) -> String {
        format!("{LABEL_OWNER}={}", self.owner)
    }

    fn forget_cache(&self, name: &str) {
        lock(&self.cache).remove(name);
    }

    /// Running replicas of `name`, from the cache unless `fresh`.
    async fn list(&self, name: &str, fresh: bool) -> Result<Vec<Replica>, BackendError> {
        if !fresh {
            if let Some((at, replicas)) = lock(&self.cache).get(name) {
                if at.elapsed() < CACHE_FOR {
                    return Ok(replicas.clone());
                }
            }
        }
        let labels = vec![
            format!("{LABEL_FUNCTION}={name}"),
            LABEL_REPLICA.to_string(),
            self.owner_label(),
        ];
        let replicas: Vec<Replica> =
            engine::running_replicas(&self.docker, labels, &self.network, WATCHDOG_PORT)
                .await
                .map_err(BackendError::Unreachable)?
                .into_iter()
                .map(|r| Replica {
                    id: r.id,
                    addr: r.addr,
                    healthy: r.healthy,
                })
                .collect();
        lock(&self.cache).insert(name.to_string(), (Instant::now(), replicas.clone()));
        Ok(replicas)
    }

    /// Adds or removes containers until the running count is the desired one.
    async fn reconcile(&self, name: &str) -> Result<(), BackendError> {
        let (function, desired) = lock(&self.specs)
            .get(name)
            .cloned()
            .ok_or_else(|| BackendError::NotFound(name.into()))?;
        let running = self.list(name, true).await?;
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
                self.remove_container(&replica.id).await;
            }
        }
        self.forget_cache(name);
        Ok(())
    }

    /// Creates and starts one replica; returns its container id.
    async fn create(&self, function: &Function) -> Result<String, BackendError> {
        let env = watchdog_env(function, self.max_payload_bytes);
        let body = ContainerCreateBody {
            image: Some(function.image.clone()),
            env: Some(env),
            labels: Some(HashMap::from([
                (LABEL_FUNCTION.to_string(), function.name.clone()),
                (LABEL_REPLICA.to_string(), "true".to_string()),
                (LABEL_OWNER.to_string(), self.owner.clone()),
            ])),
            host_config: Some(HostConfig {
                network_mode: Some(self.network.clone()),
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                ..host_config(function)?
            }),
            ..Default::default()
        };
        let name = format!(
            "faas-{}-{}",
            function.name,
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| {
                BackendError::Start(format!("cannot create a replica of {}: {e}", function.name))
            })?;
        if let Err(err) = self.docker.start_container(&created.id, None).await {
            self.remove_container(&created.id).await;
            return Err(BackendError::Start(format!(
                "cannot start a replica of {}: {err}",
                function.name
            )));
        }
        Ok(created.id)
    }

    async fn remove_container(&self, id: &str) {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        if let Err(err) = self.docker.remove_container(id, Some(options)).await {
            tracing::warn!(container = %id, "cannot remove a replica: {err}");
        }
    }
}

#[async_trait::async_trait]
impl ReplicaSource for Replicas {
    async fn endpoints(&self, name: &str, fresh: bool) -> Result<Vec<Endpoint>, BackendError> {
        Ok(self
            .list(name, fresh)
            .await?
            .into_iter()
            .map(|r| Endpoint {
                addr: r.addr,
                healthy: r.healthy,
            })
            .collect())
    }

    async fn wake(&self, function: &Function) -> Result<(), BackendError> {
        let wanted = lock(&self.specs).get(&function.name).map(|(_, d)| *d);
        match wanted {
            Some(0) => self.scale(&function.name, function.scaling().wake()).await,
            Some(_) => Ok(()),
            None => Err(BackendError::NotFound(function.name.clone())),
        }
    }
}
