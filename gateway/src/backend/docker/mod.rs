//! The `docker` backend: functions on a Docker Engine through its API.
//!
//! - per-call functions get a new container for every call ([`percall`]);
//! - service functions run as plain containers, one per replica, each running
//!   `fwatchdog` on a bridge network the gateway creates; calls are proxied to
//!   the replica with the fewest calls in flight ([`service`]).
//!
//! [`balancer`] proxies calls to replicas (the `swarm` backend uses it too);
//! [`engine`] holds the connection, images, labels and clean-up;
//! [`resources`] converts OpenFaaS resource strings.

pub mod balancer;
pub mod engine;
pub mod percall;
pub mod resources;
pub mod service;

use std::collections::HashMap;

use bollard::models::HostConfig;
use bollard::Docker;

use super::{Backend, BackendError, Invocation, Outcome, Replicas};
use crate::function::{Function, Mode};
use service::Replicas as ReplicaSet;

/// Functions on a Docker Engine.
pub struct DockerBackend {
    docker: Docker,
    /// This gateway's id, on every container it creates.
    owner: String,
    replicas: ReplicaSet,
}

impl DockerBackend {
    /// Connects to the engine, removes the per-call containers an earlier run
    /// of this gateway (`owner`) left behind, and makes sure the functions
    /// network exists.
    pub async fn connect(
        network: &str,
        owner: &str,
        max_payload_bytes: u64,
    ) -> Result<DockerBackend, String> {
        let docker = engine::connect().await?;
        let leftovers = [
            engine::LABEL_CALL.to_string(),
            format!("{}={owner}", engine::LABEL_OWNER),
        ];
        let removed = engine::remove_labelled(&docker, &leftovers).await?;
        if removed > 0 {
            tracing::info!("removed {removed} call containers left by an earlier run");
        }
        let replicas = ReplicaSet::new(
            docker.clone(),
            network.to_string(),
            owner.to_string(),
            max_payload_bytes,
        );
        replicas.ensure_network().await?;
        Ok(DockerBackend {
            docker,
            owner: owner.to_string(),
            replicas,
        })
    }
}

/// Checks a function can run on the engine before a deploy or update: its
/// limits parse and its image is there (pulled if missing).
pub async fn runnable(docker: &Docker, function: &Function) -> Result<(), BackendError> {
    host_config(function)?;
    engine::ensure_image(docker, &function.image)
        .await
        .map_err(BackendError::Invalid)
}

/// The host settings every function container gets: limits, requests,
/// a read-only root with a writable `/tmp` when asked, and never the Docker
/// socket (no binds at all).
pub fn host_config(function: &Function) -> Result<HostConfig, BackendError> {
    let bad = |what: &str, value: &str| {
        BackendError::Invalid(format!(
            "{what} {value:?} is not understood: use memory like \"128m\" and cpu like \"0.5\" or \"500m\""
        ))
    };
    let mut config = HostConfig {
        security_opt: Some(vec!["no-new-privileges".into()]),
        ..Default::default()
    };
    if let Some(limits) = &function.limits {
        if let Some(memory) = &limits.memory {
            config.memory =
                Some(resources::memory_bytes(memory).ok_or_else(|| bad("limits.memory", memory))?);
        }
        if let Some(cpu) = &limits.cpu {
            config.nano_cpus =
                Some(resources::nano_cpus(cpu).ok_or_else(|| bad("limits.cpu", cpu))?);
        }
    }
    if let Some(requests) = &function.requests {
        if let Some(memory) = &requests.memory {
            config.memory_reservation = Some(
                resources::memory_bytes(memory).ok_or_else(|| bad("requests.memory", memory))?,
            );
        }
        if let Some(cpu) = &requests.cpu {
            let nano = resources::nano_cpus(cpu).ok_or_else(|| bad("requests.cpu", cpu))?;
            // Relative weight: 1024 shares per requested core.
            config.cpu_shares = Some((nano / 1_000_000_000 * 1024).max(2));
        }
    }
    if function.read_only_root_filesystem {
        config.readonly_rootfs = Some(true);
        config.tmpfs = Some(HashMap::from([("/tmp".to_string(), "rw,exec".to_string())]));
    }
    Ok(config)
}

/// `KEY=value` entries of the function's env followed by the call's.
pub fn env_entries<'a>(
    function: &'a Function,
    call: impl IntoIterator<Item = &'a (String, String)>,
) -> Vec<String> {
    function
        .env_vars
        .iter()
        .chain(call.into_iter().map(|(k, v)| (k, v)))
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

#[async_trait::async_trait]
impl Backend for DockerBackend {
    fn name(&self) -> &'static str {
        "docker"
    }

    async fn deploy(&self, function: &Function) -> Result<(), BackendError> {
        runnable(&self.docker, function).await?;
        if function.mode == Mode::Service {
            self.replicas.deploy(function).await?;
        }
        Ok(())
    }

    async fn update(&self, function: &Function) -> Result<(), BackendError> {
        runnable(&self.docker, function).await?;
        match function.mode {
            Mode::Service => self.replicas.update(function).await,
            Mode::PerCall => self.replicas.remove(&function.name).await,
        }
    }

    async fn remove(&self, name: &str) -> Result<(), BackendError> {
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
            Mode::Service => self.replicas.invoke(function, call).await,
            Mode::PerCall => per_call(&self.docker, &self.owner, function, call).await,
        }
    }
}

/// Runs one call of a per-call function in a new container labelled with
/// the function, the call and the gateway (`owner`).
pub async fn per_call(
    docker: &Docker,
    owner: &str,
    function: &Function,
    call: Invocation,
) -> Result<Outcome, BackendError> {
    let call_id = call.id.to_string();
    let container = percall::ContainerCall {
        name: format!("faas-{}-{call_id}", function.name),
        image: function.image.clone(),
        command: function.command.clone(),
        env: env_entries(function, &call.request.env(call.id)),
        labels: HashMap::from([
            (engine::LABEL_FUNCTION.to_string(), function.name.clone()),
            (engine::LABEL_CALL.to_string(), call_id.clone()),
            (engine::LABEL_OWNER.to_string(), owner.to_string()),
        ]),
        host_config: HostConfig {
            network_mode: function.network.clone(),
            ..host_config(function)?
        },
        timeout: Some(call.timeout),
        max_input_bytes: call.input.len() as u64,
        max_output_bytes: call.max_output_bytes,
    };
    percall::run(docker, container, call.input)
        .await
        .map_err(|e| match e {
            percall::ContainerError::NoSuchImage(image) => {
                BackendError::Start(format!("No such image: {image}"))
            }
            other => BackendError::Unreachable(other.to_string()),
        })
}
