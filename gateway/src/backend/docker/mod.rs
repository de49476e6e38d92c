//! The `docker` backend: functions on a plain Docker Engine through its API.
//!
//! - per-call functions get a new container for every call (the shared
//!   `container::percall`), started ahead when it can be: a warm one from
//!   the shared `container::pool`;
//! - service functions run as plain containers, one per replica, each running
//!   `fwatchdog` on a bridge network the gateway creates ([`service`]); calls
//!   go through the shared balancer to the replica with the fewest in flight.

pub mod service;

use super::container::pool::Pool;
use super::container::{Engine, EngineError, Replica, ReplicaSource};
use super::{Backend, BackendError, Invocation, Outcome, Replicas};
use crate::config::PoolConfig;
use crate::function::{Function, Mode};
use service::ReplicaSet;

/// Functions on a Docker Engine.
pub struct DockerBackend {
    engine: Engine,
    replicas: ReplicaSet,
    /// Warm containers of per-call functions.
    pool: Pool,
}

impl DockerBackend {
    /// Connects to the engine, removes the per-call and warm containers an
    /// earlier run of this gateway (`owner`) left behind, and makes sure the
    /// functions bridge network and the launcher volume exist.
    pub async fn connect(
        network: &str,
        owner: &str,
        max_payload_bytes: u64,
        pool: PoolConfig,
    ) -> Result<DockerBackend, EngineError> {
        let engine = Engine::connect(network, owner, max_payload_bytes, false).await?;
        Ok(DockerBackend {
            replicas: ReplicaSet::new(engine.clone()),
            pool: Pool::new(engine.clone(), pool).await?,
            engine,
        })
    }
}

#[async_trait::async_trait]
impl Backend for DockerBackend {
    fn name(&self) -> &'static str {
        "docker"
    }

    async fn deploy(&self, function: &Function) -> Result<(), BackendError> {
        self.engine.runnable(function).await?;
        match function.mode {
            Mode::Service => self.replicas.deploy(function).await?,
            Mode::PerCall => self.pool.reset(function),
        }
        Ok(())
    }

    async fn update(&self, function: &Function) -> Result<(), BackendError> {
        self.engine.runnable(function).await?;
        match function.mode {
            Mode::Service => {
                self.pool.forget(&function.name);
                self.replicas.update(function).await
            }
            Mode::PerCall => {
                self.pool.reset(function);
                self.replicas.remove(&function.name).await
            }
        }
    }

    async fn remove(&self, name: &str) -> Result<(), BackendError> {
        self.pool.forget(name);
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

    async fn invoke(&self, function: &Function, call: Invocation) -> Result<Outcome, BackendError> {
        match function.mode {
            Mode::Service => self.replicas.balancer.invoke(self, function, call).await,
            Mode::PerCall => self.pool.invoke(function, call).await,
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
