//! The Docker Engine as both container backends hold it ([`Engine`]):
//! connecting with API version negotiation, clearing what an earlier run
//! left behind, checking a function can run on it, finding containers by label, and removing a container (the
//! one way every container the gateway made goes).

use std::path::PathBuf;
use std::time::Duration;

use bollard::models::{ContainerCreateBody, ContainerSummary};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;

use super::error::EngineError;
use super::runtime::Runtimes;
use super::setup::Isolation;
use super::{image, labels, network, resources, setup};
use crate::backend::BackendError;
use crate::function::Function;

/// How long an engine gets to answer the first ping.
const PING_LIMIT: Duration = Duration::from_secs(3);

/// A Docker Engine and what every container the gateway creates on it
/// shares. Cheap to clone: the connection is shared.
#[derive(Clone)]
pub struct Engine {
    pub docker: Docker,
    /// This gateway's id, labelled on everything it creates.
    pub owner: String,
    /// The network the gateway reaches service replicas on.
    pub network: String,
    /// The payload limit, which every replica's watchdog also enforces.
    pub max_payload_bytes: u64,
    /// The engine's CPUs: the most a function may be given.
    pub cpus: u64,
    /// How function containers are confined.
    pub isolation: Isolation,
    /// The OCI runtimes function containers may be given, and the default.
    pub runtimes: Runtimes,
    /// Where the gateway keeps the secrets it mounts into containers (the
    /// `docker` backend); `None` where the engine keeps them (Swarm).
    pub secret_files: Option<PathBuf>,
}

/// Connects to the local engine (`DOCKER_HOST` or the default socket) and
/// negotiates the API version.
pub async fn local() -> Result<Docker, EngineError> {
    let reach = "reach the Docker Engine";
    let docker = Docker::connect_with_local_defaults().map_err(EngineError::unreachable(reach))?;
    let docker = tokio::time::timeout(PING_LIMIT, docker.negotiate_version())
        .await
        .map_err(|_| EngineError::NoAnswer(PING_LIMIT))?
        .map_err(EngineError::unreachable(reach))?;
    docker
        .ping()
        .await
        .map_err(EngineError::unreachable("ping the Docker Engine"))?;
    Ok(docker)
}

/// Whether the engine at hand is a Swarm manager.
pub async fn is_swarm_manager(docker: &Docker) -> bool {
    docker
        .info()
        .await
        .ok()
        .and_then(|info| info.swarm)
        .and_then(|swarm| swarm.control_available)
        .unwrap_or(false)
}

/// What the gateway's engine is opened with.
pub struct Settings {
    /// This gateway's id: the label on everything it creates.
    pub owner: String,
    /// The functions network.
    pub network: String,
    /// Whether the functions network is an attachable overlay (on a Swarm)
    /// rather than a bridge.
    pub overlay: bool,
    /// Largest STDIN and STDOUT of one call, as replicas are told.
    pub max_payload_bytes: u64,
    /// What function containers may be given beyond the secure defaults.
    pub isolation: Isolation,
    /// The runtimes function containers may be given, resolved at start.
    pub runtimes: Runtimes,
    /// Where the secret files of a plain engine are; `None` on a Swarm.
    pub secret_files: Option<PathBuf>,
}

impl Engine {
    /// The engine `docker` as the gateway uses it: removes the per-call
    /// containers an earlier run of this gateway left behind, and makes
    /// sure the functions network exists.
    pub async fn open(docker: Docker, settings: Settings) -> Result<Engine, EngineError> {
        let info = docker
            .info()
            .await
            .map_err(EngineError::unreachable("read the Docker Engine's info"))?;
        let cpus = resources::engine_cpus(&info);
        let Settings {
            owner,
            network,
            overlay,
            max_payload_bytes,
            isolation,
            runtimes,
            secret_files,
        } = settings;
        let engine = Engine {
            docker,
            owner: owner.clone(),
            network: network.clone(),
            max_payload_bytes,
            cpus,
            isolation,
            runtimes,
            secret_files,
        };
        let owner = owner.as_str();
        let network = network.as_str();
        let leftovers = [labels::CALL.to_string(), labels::owned_by(owner)];
        let removed = engine.remove_labelled(&leftovers).await?;
        if removed > 0 {
            tracing::info!("removed {removed} call containers left by an earlier run");
        }
        network::ensure(&engine.docker, network, overlay, owner).await?;
        Ok(engine)
    }

    /// Checks a function can run on the engine before a deploy or update:
    /// its runtime is registered and allowed, its limits parse and fit the
    /// engine, its capabilities and network are allowed and the network
    /// exists, and its image is there (pulled if missing).
    pub async fn runnable(&self, function: &Function) -> Result<(), BackendError> {
        self.runtimes.check(function)?;
        resources::check(function, self.cpus)?;
        setup::host_config(function, &self.isolation)?;
        setup::check_capabilities(function, &self.isolation)?;
        if let Some(name) = network::check(function, &self.network, &self.isolation)? {
            if !network::exists(&self.docker, &name).await? {
                return Err(BackendError::Invalid(format!(
                    "no such network: {name} (create it, or leave \"network\" out for the functions network)"
                )));
            }
        }
        image::ensure(&self.docker, &function.image).await?;
        Ok(())
    }

    /// The containers carrying all of `labels` (each `key` or `key=value`):
    /// running ones, and stopped ones too when `all`.
    pub async fn containers(
        &self,
        labels: Vec<String>,
        all: bool,
    ) -> Result<Vec<ContainerSummary>, EngineError> {
        let options = ListContainersOptionsBuilder::default()
            .all(all)
            .filters(&labels::filter("label", labels))
            .build();
        self.docker
            .list_containers(Some(options))
            .await
            .map_err(EngineError::unreachable("list containers"))
    }

    /// Creates a container named `base` and a random suffix, and returns
    /// its id: a name is unique on an engine, and gateways sharing one may
    /// create containers of the same base at once.
    pub async fn create_named(
        &self,
        base: &str,
        body: ContainerCreateBody,
    ) -> Result<String, bollard::errors::Error> {
        let name = format!(
            "{base}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        Ok(self.docker.create_container(Some(options), body).await?.id)
    }

    /// Removes a container, running or not, with its anonymous volumes. A
    /// failure is logged, not returned: whoever removes has nothing else to
    /// do about it. Returns whether it went; one already gone or being
    /// removed (auto-remove) counts as gone.
    pub async fn remove(&self, id: &str) -> bool {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404 | 409,
                ..
            }) => true,
            Err(err) => {
                tracing::warn!(container = %id, "cannot remove a container: {err}");
                false
            }
        }
    }

    /// Removes every container carrying all of `labels`; returns how many
    /// went.
    pub async fn remove_labelled(&self, labels: &[String]) -> Result<usize, EngineError> {
        let mut removed = 0;
        for container in self.containers(labels.to_vec(), true).await? {
            if let Some(id) = container.id {
                removed += usize::from(self.remove(&id).await);
            }
        }
        Ok(removed)
    }
}
