//! Picking the backend at start. `auto` resolves to `swarm` when the engine
//! is a Swarm manager, else `docker` when an engine answers, else
//! `process`; an explicit `docker` or `swarm` with no engine is an error.

use std::path::Path;
use std::sync::Arc;

use super::agents::Agents;
use super::container::{engine, ReplicaKey};
use super::docker::DockerBackend;
use super::swarm::SwarmBackend;
use super::{Backend, ProcessBackend};
use crate::config::{BackendKind, Config, Isolation};

/// What `auto` means on this machine now; other kinds stay as they are.
pub async fn resolve(kind: BackendKind) -> BackendKind {
    if kind != BackendKind::Auto {
        return kind;
    }
    match engine::local().await {
        Ok(docker) if SwarmBackend::is_manager(&docker).await => BackendKind::Swarm,
        Ok(_) => BackendKind::Docker,
        Err(why) => {
            println!(
                "backend auto: {}; using process (functions run as local commands; images are recorded, not used)",
                why.line()
            );
            BackendKind::Process
        }
    }
}

/// Opens the backend `config` asks for; `password` (the admin password)
/// is what the agents' token is derived from.
pub async fn open(config: &Config, password: &str) -> anyhow::Result<Arc<dyn Backend>> {
    let owner = owner_id(&config.data_dir)?;
    let max = config.max_payload_bytes;
    let isolation = config.isolation.clone();
    let kind = resolve(config.backend).await;
    let network = config
        .network
        .clone()
        .unwrap_or_else(|| Isolation::default_network(kind == BackendKind::Swarm).to_string());
    let agents = match kind {
        BackendKind::Swarm | BackendKind::Docker => {
            let manager = match engine::local().await {
                Ok(docker) if SwarmBackend::is_manager(&docker).await => Some(docker),
                _ => None,
            };
            Agents::start(&config.agents, password, manager).await
        }
        BackendKind::Process | BackendKind::Auto => None,
    };
    let key = || ReplicaKey::open(&config.data_dir).map_err(anyhow::Error::msg);
    Ok(match kind {
        BackendKind::Swarm => Arc::new(
            SwarmBackend::connect(
                &network,
                &owner,
                max,
                isolation,
                config.pool.clone(),
                config.replicas,
                key()?,
            )
            .await
            .map_err(|e| anyhow::anyhow!(e.line()))?
            .with_agents(agents),
        ),
        BackendKind::Docker => Arc::new(
            DockerBackend::connect(
                &network,
                &owner,
                max,
                isolation,
                &config.data_dir,
                config.pool.clone(),
                config.replicas,
                key()?,
            )
            .await
            .map_err(|e| anyhow::anyhow!(e.line()))?
            .with_agents(agents),
        ),
        BackendKind::Process | BackendKind::Auto => {
            if config.agents.any() {
                println!("backend process: --agent and --agent-service are not used (agents run containers)");
            }
            if config.backend == BackendKind::Process {
                println!("backend process: functions run as local commands; images are recorded, not used");
            }
            Arc::new(ProcessBackend::new())
        }
    })
}

/// This gateway's id, kept in its data directory: the label on everything it
/// creates on a Docker Engine, so it removes only its own leftovers.
fn owner_id(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("gateway-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() {
            return Ok(id.to_string());
        }
    }
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    crate::files::create_file(&path, false)
        .and_then(|mut file| std::io::Write::write_all(&mut file, id.as_bytes()))
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(id)
}
