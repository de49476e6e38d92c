//! Service functions as Docker Swarm services running `fwatchdog`
//! (labelled as OpenFaaS's Swarm provider labels them) on an attachable
//! overlay network.
//!
//! Replicas are found through the manager's view of the service's tasks, on
//! every node (each running task's address on the functions overlay), so
//! no Swarm virtual IP or routing mesh is needed: the services use
//! `endpoint_mode: dnsrr` and the gateway balances calls itself through
//! the shared [`Balancer`]. Their logs are the service's, gathered from
//! every node by the manager.

mod spec;

use std::collections::HashMap;

use bollard::models::{
    Service, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, TaskState,
};
use bollard::query_parameters::{
    InspectServiceOptionsBuilder, ListServicesOptionsBuilder, ListTasksOptionsBuilder,
    UpdateServiceOptionsBuilder,
};
use futures_util::StreamExt;

use super::balancer::{Balancer, ReplicaConfig};
use super::replicas::{ReplicaLogs, Replicas, Served, Services};
use crate::backend::container::labels::filter;
use crate::backend::container::replica::Snapshot;
use crate::backend::container::{labels, logs, replica, secrets, setup, tasks};
use crate::backend::container::{Engine, EngineError, Replica, ReplicaCache, ReplicaKey};
use crate::backend::{BackendError, Invocation, LogQuery, ReplicaCount, ReplicaLines};
use crate::function::Function;

/// Service functions on a Docker Swarm.
pub struct SwarmServices {
    /// The engine of a Swarm manager; its network is the attachable overlay
    /// network of the functions (and the gateway).
    engine: Engine,
    balancer: Balancer,
    /// Replicas per function as last read from the engine.
    cache: ReplicaCache,
    /// Desired and running replicas of every function's service, for listing.
    services: Snapshot<HashMap<String, ReplicaCount>>,
    /// What each function's replica token is derived from.
    key: ReplicaKey,
}

impl SwarmServices {
    /// The services on the Swarm manager of `engine`; replicas' tokens
    /// come from `key`.
    pub fn new(engine: Engine, config: ReplicaConfig, key: ReplicaKey) -> SwarmServices {
        SwarmServices {
            engine,
            balancer: Balancer::new(config, key.clone()),
            cache: ReplicaCache::default(),
            services: Snapshot::default(),
            key,
        }
    }

    /// The service `name`'s version and spec when this gateway created it;
    /// `None` when there is none; `Conflict` when it is another's.
    async fn inspect(&self, name: &str) -> Result<Option<(u64, ServiceSpec)>, BackendError> {
        let found = self.inspect_any(name).await?;
        if let Some((_, spec)) = &found {
            let owner = spec.labels.as_ref().and_then(|l| l.get(labels::OWNER));
            if owner != Some(&self.engine.owner) {
                return Err(BackendError::Conflict(format!(
                    "a Swarm service named {name} exists that this gateway did not create: remove it (docker service rm {name}) or give the function another name"
                )));
            }
        }
        Ok(found)
    }

    /// The service `name`'s version and spec, whoever made it.
    async fn inspect_any(&self, name: &str) -> Result<Option<(u64, ServiceSpec)>, EngineError> {
        let options = InspectServiceOptionsBuilder::default().build();
        match self
            .engine
            .docker
            .inspect_service(name, Some(options))
            .await
        {
            Ok(service) => {
                let version = service.version.and_then(|v| v.index).unwrap_or(0);
                Ok(service.spec.map(|spec| (version, spec)))
            }
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(source) => Err(EngineError::Unreachable {
                action: format!("inspect the service {name}"),
                source,
            }),
        }
    }
}

/// The services the gateway of `engine` made.
async fn owned_services(engine: &Engine) -> Result<Vec<Service>, EngineError> {
    let options = ListServicesOptionsBuilder::default()
        .filters(&filter("label", vec![labels::owned_by(&engine.owner)]))
        .build();
    engine
        .docker
        .list_services(Some(options))
        .await
        .map_err(EngineError::unreachable("list services"))
}

/// Desired and running replicas of every service the gateway of `engine`
/// made: two engine calls for them all.
async fn read_services(engine: Engine) -> Result<HashMap<String, ReplicaCount>, EngineError> {
    {
        let services = owned_services(&engine).await?;
        let options = ListTasksOptionsBuilder::default()
            .filters(&filter("desired-state", vec!["running".to_string()]))
            .build();
        let tasks = engine
            .docker
            .list_tasks(Some(options))
            .await
            .map_err(EngineError::unreachable("list tasks"))?;
        let mut by_id: HashMap<String, (String, ReplicaCount)> = HashMap::new();
        for service in services {
            let (Some(id), Some(spec)) = (service.id, service.spec) else {
                continue;
            };
            let Some(name) = spec.name.clone() else {
                continue;
            };
            let desired = replicas_of(&spec).unwrap_or(0);
            by_id.insert(
                id,
                (
                    name,
                    ReplicaCount {
                        desired,
                        available: 0,
                    },
                ),
            );
        }
        // A task with a HEALTHCHECK is "running" only once it is healthy.
        for task in tasks {
            let running = task.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING);
            if let (true, Some(service)) = (running, task.service_id) {
                if let Some((_, replicas)) = by_id.get_mut(&service) {
                    replicas.available += 1;
                }
            }
        }
        Ok(by_id.into_values().collect())
    }
}

impl SwarmServices {
    /// Replaces the spec of the service `name` at `version`.
    async fn apply(&self, name: &str, version: u64, spec: ServiceSpec) -> Result<(), BackendError> {
        self.cache.forget(name);
        self.services.forget();
        let version = i32::try_from(version).map_err(|_| {
            BackendError::Unreachable(format!(
                "the service {name} has an unusable version {version}"
            ))
        })?;
        let options = UpdateServiceOptionsBuilder::default()
            .version(version)
            .build();
        self.engine
            .docker
            .update_service(name, spec, options, None)
            .await
            .map_err(|e| EngineError::refused(format!("update the service {name}"), e))?;
        Ok(())
    }

    /// The service spec of `function` with `replicas` tasks.
    fn spec(
        &self,
        function: &Function,
        replicas: u64,
        secrets: Vec<(String, String)>,
    ) -> Result<ServiceSpec, BackendError> {
        let engine = &self.engine;
        spec::service(
            function,
            &engine.owner,
            &engine.network,
            engine.max_payload_bytes,
            replicas,
            secrets,
            &engine.isolation,
            &self.key,
        )
    }

    /// Gives the existing service of `function` the function's current
    /// token when its spec lacks it (made by a gateway before replicas had
    /// one, or under another key): Swarm then rolls its tasks onto it.
    async fn refresh_token(
        &self,
        function: &Function,
        version: u64,
        mut spec: ServiceSpec,
    ) -> Result<(), BackendError> {
        let entry = self.key.env_entry(&function.name);
        let container = spec
            .task_template
            .as_mut()
            .and_then(|t| t.container_spec.as_mut());
        let Some(container) = container else {
            return Ok(());
        };
        let env = container.env.get_or_insert_with(Vec::new);
        if env.contains(&entry) {
            return Ok(());
        }
        env.retain(|e| !setup::is_token_entry(e));
        env.push(entry);
        tracing::info!(
            "updating the service {} to carry its current replica token",
            function.name
        );
        self.apply(&function.name, version, spec).await
    }

    /// Creates the service of a new service function.
    async fn create(&self, function: &Function) -> Result<(), BackendError> {
        let secrets = secrets::mountable(&self.engine, &function.secrets).await?;
        let spec = self.spec(function, function.scaling().min, secrets)?;
        self.services.forget();
        self.engine
            .docker
            .create_service(spec, None)
            .await
            .map_err(|e| {
                EngineError::refused(format!("create the service {}", function.name), e)
            })?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Replicas for SwarmServices {
    async fn desired(&self, name: &str) -> Result<u64, BackendError> {
        let current = self.inspect(name).await?;
        Ok(current
            .and_then(|(_, spec)| replicas_of(&spec))
            .unwrap_or(0))
    }

    async fn scale(&self, name: &str, replicas: u64) -> Result<(), BackendError> {
        let (version, mut spec) = self
            .inspect(name)
            .await?
            .ok_or_else(|| BackendError::NotFound(name.to_string()))?;
        if replicas_of(&spec) == Some(replicas) {
            return Ok(());
        }
        spec.mode = Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(replicas as i64),
            }),
            ..Default::default()
        });
        self.apply(name, version, spec).await
    }

    async fn ready(&self, name: &str, fresh: bool) -> Result<Vec<Replica>, BackendError> {
        let read = || tasks::replicas(&self.engine, name);
        Ok(self.cache.get(name, fresh, read).await?)
    }
}

#[async_trait::async_trait]
impl Services for SwarmServices {
    async fn claim(&self, name: &str) -> Result<(), BackendError> {
        self.inspect(name).await.map(|_| ())
    }

    async fn deploy(&self, function: &Function) -> Result<(), BackendError> {
        // An existing service of this gateway's (an earlier run's) is
        // adopted as it is, but for its token; another's is a conflict.
        match self.inspect(&function.name).await? {
            None => self.create(function).await,
            Some((version, spec)) => self.refresh_token(function, version, spec).await,
        }
    }

    async fn update(&self, function: &Function) -> Result<(), BackendError> {
        match self.inspect(&function.name).await? {
            Some((version, old)) => {
                let replicas = replicas_of(&old).unwrap_or_else(|| function.scaling().min);
                let secrets = secrets::mountable(&self.engine, &function.secrets).await?;
                let spec = self.spec(function, replicas, secrets)?;
                self.apply(&function.name, version, spec).await
            }
            None => self.create(function).await,
        }
    }

    async fn remove(&self, name: &str) -> Result<(), BackendError> {
        // Another's service of that name is left alone.
        if matches!(
            self.inspect(name).await,
            Err(BackendError::Conflict(_)) | Ok(None)
        ) {
            return Ok(());
        }
        self.services.forget();
        match self.engine.docker.delete_service(name).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(source) => Err(EngineError::Unreachable {
                action: format!("remove the service {name}"),
                source,
            }
            .into()),
        }
    }

    async fn list(&self) -> Result<Vec<String>, BackendError> {
        let services = owned_services(&self.engine).await?;
        Ok(services
            .into_iter()
            .filter_map(|s| s.spec.and_then(|spec| spec.name))
            .collect())
    }

    /// A running task on the gateway's own node is a container its
    /// engine inspects; one on another node is [`replica::UNKNOWN_RUNTIME`].
    async fn runtimes(&self, name: &str) -> Result<Option<Vec<String>>, BackendError> {
        let running: Vec<Replica> = self
            .ready(name, false)
            .await?
            .into_iter()
            .filter(|r| r.healthy)
            .collect();
        Ok(Some(replica::runtimes(&self.engine, &running).await))
    }

    fn names_runtime(&self) -> bool {
        false
    }

    /// A Swarm service cannot name a runtime (the engine's service API has
    /// no such field): its replicas run under their node's default.
    fn accepts(&self, function: &Function) -> Result<(), BackendError> {
        match function.asked_runtime() {
            None => Ok(()),
            Some(asked) => Err(BackendError::Invalid(format!(
                "runtime {asked:?} cannot be given to a service function on Swarm: a Swarm service cannot name a runtime, its replicas run under their node's default (dockerd --default-runtime, see docs/backends.md); leave \"runtime\" out, or deploy it per-call"
            ))),
        }
    }

    async fn count(&self, name: &str) -> Result<ReplicaCount, BackendError> {
        let engine = self.engine.clone();
        let services = self.services.get(|| read_services(engine)).await?;
        Ok(services.get(name).copied().unwrap_or_default())
    }

    async fn invoke(&self, function: &Function, call: Invocation) -> Served {
        Served::Ran(self.balancer.invoke(self, function, call).await)
    }
}

#[async_trait::async_trait]
impl ReplicaLogs for SwarmServices {
    async fn logs(&self, name: &str, query: LogQuery) -> Result<ReplicaLines, BackendError> {
        if self.inspect(name).await?.is_none() {
            return Ok(futures_util::stream::empty().boxed());
        }
        Ok(logs::read_service(&self.engine, name, query))
    }
}

/// The replica count a service spec asks for.
fn replicas_of(spec: &ServiceSpec) -> Option<u64> {
    spec.mode
        .as_ref()
        .and_then(|m| m.replicated.as_ref())
        .and_then(|r| r.replicas)
        .and_then(|r| u64::try_from(r).ok())
}
