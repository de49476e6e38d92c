//! The `docker` backend: functions on a plain Docker Engine through its API.
//!
//! - per-call functions get a new container for every call (the shared
//!   `container::percall`), started ahead when it can be: a warm one from
//!   the shared `container::pool`; with agents, on an agent's node
//!   (`backend::agents`);
//! - service functions run as plain containers, one per replica, each running
//!   `fwatchdog` on a bridge network the gateway creates ([`service`]); calls
//!   go through the shared balancer to the replica with the fewest in flight;
//! - secrets are files the gateway keeps ([`secrets`]), mounted read-only.

pub mod secrets;
pub mod service;

use std::path::Path;
use std::sync::Arc;

use super::agents::{self, Agents};
use super::container::pool::Pool;
use super::container::{
    logs, usage, Engine, EngineError, Replica, ReplicaKey, ReplicaSource, UsageCache,
};
use super::{Backend, BackendError, Invocation, LogQuery, Outcome, ReplicaLines, Replicas, Usage};
use crate::config::{Isolation, PoolConfig, ReplicaConfig};
use crate::function::{Function, Mode};
use secrets::SecretFiles;
use service::ReplicaSet;

/// Functions on a Docker Engine.
pub struct DockerBackend {
    engine: Engine,
    replicas: ReplicaSet,
    secrets: SecretFiles,
    /// What the replicas use, as last sampled.
    usage: Arc<UsageCache>,
    /// Warm containers of per-call functions.
    pool: Pool,
    /// Agents that run per-call calls instead, when there are any.
    agents: Option<Agents>,
}

impl DockerBackend {
    /// Connects to the engine, removes the per-call and warm containers an
    /// earlier run of this gateway (`owner`) left behind, makes sure the
    /// functions bridge network and the launcher volume exist, and opens
    /// the secrets kept in `data_dir`; replicas' tokens come from `key`.
    #[allow(clippy::too_many_arguments)]
    pub async fn connect(
        network: &str,
        owner: &str,
        max_payload_bytes: u64,
        isolation: Isolation,
        data_dir: &Path,
        pool: PoolConfig,
        replicas: ReplicaConfig,
        key: ReplicaKey,
    ) -> Result<DockerBackend, EngineError> {
        // Containers mount the files by their absolute path on the host.
        let dir = std::path::absolute(data_dir.join("secrets"))
            .map_err(|e| EngineError::Misfit(format!("cannot find the data directory: {e}")))?;
        let secrets = SecretFiles::open(dir.clone()).map_err(|e| {
            EngineError::Misfit(format!("cannot open the secrets in {}: {e}", dir.display()))
        })?;
        let engine = Engine::connect(
            network,
            owner,
            max_payload_bytes,
            false,
            isolation,
            Some(dir),
        )
        .await?;
        Ok(DockerBackend {
            replicas: ReplicaSet::new(engine.clone(), replicas, key),
            usage: UsageCache::start(usage::Local(engine.clone())),
            pool: Pool::new(engine.clone(), pool).await?,
            engine,
            secrets,
            agents: None,
        })
    }

    /// Sends per-call calls to `agents` (when they answer).
    pub fn with_agents(mut self, agents: Option<Agents>) -> DockerBackend {
        self.agents = agents;
        self
    }

    /// Drains `name`'s warm containers on the agents.
    fn forget_on_agents(&self, name: &str) {
        if let Some(agents) = &self.agents {
            agents.forget(name);
        }
    }

    /// Checks every secret the function names is kept.
    fn has_secrets(&self, function: &Function) -> Result<(), BackendError> {
        match function.secrets.iter().find(|s| !self.secrets.has(s)) {
            Some(missing) => Err(BackendError::Invalid(format!(
                "no such secret: {missing} (create it with POST /system/secrets)"
            ))),
            None => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl Backend for DockerBackend {
    fn name(&self) -> &'static str {
        "docker"
    }

    async fn deploy(&self, function: &Function) -> Result<(), BackendError> {
        self.has_secrets(function)?;
        self.engine.runnable(function).await?;
        match function.mode {
            Mode::Service => self.replicas.deploy(function).await?,
            Mode::PerCall => self.pool.reset(function),
        }
        Ok(())
    }

    async fn update(&self, function: &Function) -> Result<(), BackendError> {
        self.has_secrets(function)?;
        self.engine.runnable(function).await?;
        match function.mode {
            Mode::Service => {
                self.pool.forget(&function.name);
                self.forget_on_agents(&function.name);
                self.replicas.update(function).await
            }
            Mode::PerCall => {
                self.pool.reset(function);
                self.forget_on_agents(&function.name);
                self.replicas.remove(&function.name).await
            }
        }
    }

    async fn remove(&self, name: &str) -> Result<(), BackendError> {
        self.pool.forget(name);
        self.forget_on_agents(name);
        self.replicas.remove(name).await
    }

    async fn list(&self) -> Result<Vec<String>, BackendError> {
        self.replicas.names().await
    }

    async fn scale(&self, name: &str, replicas: u64) -> Result<(), BackendError> {
        self.replicas.scale(name, replicas).await
    }

    async fn replicas(&self, name: &str) -> Result<Replicas, BackendError> {
        self.replicas.count(name).await
    }

    async fn desired(&self, name: &str) -> Result<u64, BackendError> {
        Ok(self.replicas.desired(name))
    }

    async fn secrets(&self) -> Result<Vec<String>, BackendError> {
        self.secrets.names()
    }

    async fn put_secret(&self, name: &str, value: &[u8], create: bool) -> Result<(), BackendError> {
        self.secrets.put(name, value, create)
    }

    async fn remove_secret(&self, name: &str) -> Result<(), BackendError> {
        self.secrets.remove(name)
    }

    async fn replica_logs(
        &self,
        name: &str,
        query: LogQuery,
    ) -> Result<Option<ReplicaLines>, BackendError> {
        let replicas = self.replicas.list(name, true).await?;
        Ok(Some(logs::read(&self.engine, replicas, query)))
    }

    fn usage(&self, name: &str) -> Option<Usage> {
        Some(self.usage.get(name))
    }

    async fn invoke(&self, function: &Function, call: Invocation) -> Result<Outcome, BackendError> {
        match function.mode {
            Mode::Service => self.replicas.balancer.invoke(self, function, call).await,
            Mode::PerCall => agents::run(self.agents.as_ref(), &self.pool, function, call).await,
        }
    }

    fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        self.pool.collectors()
    }
}

#[async_trait::async_trait]
impl ReplicaSource for DockerBackend {
    async fn running_replicas(
        &self,
        name: &str,
        fresh: bool,
    ) -> Result<Vec<Replica>, BackendError> {
        Ok(self.replicas.list(name, fresh).await?)
    }
}
