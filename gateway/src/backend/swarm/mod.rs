//! The `swarm` backend: service functions are Docker Swarm services running
//! `fwatchdog` (labelled as OpenFaaS's Swarm provider labels them) on an
//! attachable overlay network; per-call functions get a new container per
//! call on the engine the gateway talks to, as in the `docker` backend.
//!
//! Replicas are found through the Docker API (the running task containers on
//! the functions network), so no Swarm virtual IP or routing mesh is needed:
//! the services use `endpoint_mode: dnsrr` and the gateway balances calls
//! itself through the shared [`Balancer`].

mod spec;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::models::{ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, TaskState};
use bollard::query_parameters::{
    InspectServiceOptionsBuilder, ListServicesOptionsBuilder, ListTasksOptionsBuilder,
    UpdateServiceOptionsBuilder,
};
use bollard::Docker;

use super::docker::balancer::{Balancer, Endpoint, ReplicaSource, WATCHDOG_PORT};
use super::docker::engine::{self, LABEL_OWNER};
use super::docker::per_call;
use super::{Backend, BackendError, Invocation, Outcome, Replicas};
use crate::function::{Function, Mode};

/// How long a replica list read from the engine is trusted (a refused
/// connection or a scale reads it again at once).
const CACHE_FOR: Duration = Duration::from_secs(1);

/// The Swarm label every task container carries: its service's name.
const LABEL_SERVICE: &str = "com.docker.swarm.service.name";

/// Functions on a Docker Swarm.
pub struct SwarmBackend {
    docker: Docker,
    /// This gateway's id, on every service and container it creates.
    owner: String,
    /// The attachable overlay network of the functions (and the gateway).
    network: String,
    max_payload_bytes: u64,
    balancer: Balancer,
    /// Replicas per function as last read from the engine, and when.
    cache: Mutex<HashMap<String, (Instant, Vec<Endpoint>)>>,
}

impl SwarmBackend {
    /// Connects to a Swarm manager, removes per-call containers an earlier
    /// run left behind, and makes sure the overlay network exists.
    pub async fn connect(
        network: &str,
        owner: &str,
        max_payload_bytes: u64,
    ) -> Result<SwarmBackend, String> {
        let docker = engine::connect().await?;
        let leftovers = [
            engine::LABEL_CALL.to_string(),
            format!("{LABEL_OWNER}={owner}"),
        ];
        engine::remove_labelled(&docker, &leftovers).await?;
        engine::ensure_network(&docker, network, true).await?;
        Ok(SwarmBackend {
            docker,
            owner: owner.to_string(),
            network: network.to_string(),
            max_payload_bytes,
            balancer: Balancer::default(),
            cache: Mutex::default(),
        })
    }

    /// Whether the engine at hand is a Swarm manager.
    pub async fn is_manager(docker: &Docker) -> bool {
        docker
            .info()
            .await
            .ok()
            .and_then(|info| info.swarm)
            .and_then(|swarm| swarm.control_available)
            .unwrap_or(false)
    }

    async fn inspect(&self, name: &str) -> Result<Option<(u64, ServiceSpec)>, BackendError> {
        let options = InspectServiceOptionsBuilder::default().build();
        match self.docker.inspect_service(name, Some(options)).await {
            Ok(service) => {
                let version = service.version.and_then(|v| v.index).unwrap_or(0);
                Ok(service.spec.map(|spec| (version, spec)))
            }
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(err) => Err(BackendError::Unreachable(format!(
                "cannot inspect the service {name}: {err}"
            ))),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Vec<Endpoint>)>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn apply(&self, name: &str, version: u64, spec: ServiceSpec) -> Result<(), BackendError> {
        self.cache().remove(name);
        let version = i32::try_from(version).map_err(|_| {
            BackendError::Unreachable(format!(
                "the service {name} has an unusable version {version}"
            ))
        })?;
        let options = UpdateServiceOptionsBuilder::default()
            .version(version)
            .build();
        self.docker
            .update_service(name, spec, options, None)
            .await
            .map(|_| ())
            .map_err(|e| BackendError::Start(format!("cannot update the service {name}: {e}")))
    }

    async fn secret_ids(&self, names: &[String]) -> Result<Vec<(String, String)>, BackendError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let secrets = self
            .docker
            .list_secrets(None::<bollard::query_parameters::ListSecretsOptions>)
            .await
            .map_err(|e| BackendError::Unreachable(format!("cannot list secrets: {e}")))?;
        names
            .iter()
            .map(|name| {
                secrets
                    .iter()
                    .find(|s| s.spec.as_ref().and_then(|spec| spec.name.as_deref()) == Some(name))
                    .and_then(|s| s.id.clone())
                    .map(|id| (id, name.clone()))
                    .ok_or_else(|| {
                        BackendError::Invalid(format!(
                            "no such secret: {name} (create it with `docker secret create {name} -`)"
                        ))
                    })
            })
            .collect()
    }

    fn spec(
        &self,
        function: &Function,
        replicas: u64,
        secrets: Vec<(String, String)>,
    ) -> Result<ServiceSpec, BackendError> {
        spec::service(
            function,
            &self.owner,
            &self.network,
            self.max_payload_bytes,
            replicas,
            secrets,
        )
    }
}

#[async_trait::async_trait]
impl Backend for SwarmBackend {
    fn name(&self) -> &'static str {
        "swarm"
    }

    async fn deploy(&self, function: &Function) -> Result<(), BackendError> {
        super::docker::runnable(&self.docker, function).await?;
        if function.mode != Mode::Service || self.inspect(&function.name).await?.is_some() {
            // Per-call functions need no service; an existing service (an
            // earlier run's) is adopted as it is.
            return Ok(());
        }
        let secrets = self.secret_ids(&function.secrets).await?;
        let spec = self.spec(function, function.scaling().min, secrets)?;
        self.docker
            .create_service(spec, None)
            .await
            .map(|_| ())
            .map_err(|e| {
                BackendError::Start(format!("cannot create the service {}: {e}", function.name))
            })
    }

    async fn update(&self, function: &Function) -> Result<(), BackendError> {
        super::docker::runnable(&self.docker, function).await?;
        let current = self.inspect(&function.name).await?;
        match (function.mode, current) {
            (Mode::Service, Some((version, old))) => {
                let replicas = replicas_of(&old).unwrap_or_else(|| function.scaling().min);
                let secrets = self.secret_ids(&function.secrets).await?;
                let spec = self.spec(function, replicas, secrets)?;
                self.apply(&function.name, version, spec).await
            }
            (Mode::Service, None) => self.deploy(function).await,
            (Mode::PerCall, Some(_)) => self.remove(&function.name).await,
            (Mode::PerCall, None) => Ok(()),
        }
    }

    async fn remove(&self, name: &str) -> Result<(), BackendError> {
        match self.docker.delete_service(name).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(err) => Err(BackendError::Unreachable(format!(
                "cannot remove the service {name}: {err}"
            ))),
        }
    }

    async fn list(&self) -> Result<Vec<String>, BackendError> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{LABEL_OWNER}={}", self.owner)],
        )]);
        let options = ListServicesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let services = self
            .docker
            .list_services(Some(options))
            .await
            .map_err(|e| BackendError::Unreachable(format!("cannot list services: {e}")))?;
        Ok(services
            .into_iter()
            .filter_map(|s| s.spec.and_then(|spec| spec.name))
            .collect())
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

    async fn desired(&self, name: &str) -> Result<u64, BackendError> {
        let current = self.inspect(name).await?;
        Ok(current
            .and_then(|(_, spec)| replicas_of(&spec))
            .unwrap_or(0))
    }

    async fn replicas(&self, name: &str) -> Result<Replicas, BackendError> {
        let Some((_, spec)) = self.inspect(name).await? else {
            return Ok(Replicas::default());
        };
        let filters = HashMap::from([
            ("service".to_string(), vec![name.to_string()]),
            ("desired-state".to_string(), vec!["running".to_string()]),
        ]);
        let options = ListTasksOptionsBuilder::default().filters(&filters).build();
        let tasks = self.docker.list_tasks(Some(options)).await.map_err(|e| {
            BackendError::Unreachable(format!("cannot list the tasks of {name}: {e}"))
        })?;
        // A task with a HEALTHCHECK is "running" only once it is healthy.
        let available = tasks
            .iter()
            .filter(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING))
            .count() as u64;
        Ok(Replicas {
            desired: replicas_of(&spec).unwrap_or(0),
            available,
        })
    }

    async fn invoke(&self, function: &Function, call: Invocation) -> Result<Outcome, BackendError> {
        match function.mode {
            Mode::Service => self.balancer.invoke(self, function, call).await,
            Mode::PerCall => per_call(&self.docker, &self.owner, function, call).await,
        }
    }
}

#[async_trait::async_trait]
impl ReplicaSource for SwarmBackend {
    async fn endpoints(&self, name: &str, fresh: bool) -> Result<Vec<Endpoint>, BackendError> {
        if !fresh {
            if let Some((at, endpoints)) = self.cache().get(name) {
                if at.elapsed() < CACHE_FOR && !endpoints.is_empty() {
                    return Ok(endpoints.clone());
                }
            }
        }
        let labels = vec![format!("{LABEL_SERVICE}={name}")];
        let replicas = engine::running_replicas(&self.docker, labels, &self.network, WATCHDOG_PORT)
            .await
            .map_err(BackendError::Unreachable)?;
        let endpoints: Vec<Endpoint> = replicas
            .into_iter()
            .map(|r| Endpoint {
                addr: r.addr,
                healthy: r.healthy,
            })
            .collect();
        self.cache()
            .insert(name.to_string(), (Instant::now(), endpoints.clone()));
        Ok(endpoints)
    }

    async fn wake(&self, function: &Function) -> Result<(), BackendError> {
        let current = self.inspect(&function.name).await?;
        match current.as_ref().and_then(|(_, spec)| replicas_of(spec)) {
            Some(0) => self.scale(&function.name, function.scaling().wake()).await,
            Some(_) => Ok(()),
            None => Err(BackendError::NotFound(function.name.clone())),
        }
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
