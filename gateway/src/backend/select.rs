//! Picking the backend at start. `auto` takes `swarm` when the engine is a
//! Swarm manager, else `docker` when an engine answers, else `process`; an
//! explicit `docker` or `swarm` with no engine is an error.

use std::path::Path;
use std::sync::Arc;

use super::docker::{engine, DockerBackend};
use super::swarm::SwarmBackend;
use super::{Backend, ProcessBackend};
use crate::config::{BackendKind, Config};

/// Opens the backend `config` asks for.
pub async fn open(config: &Config) -> Result<Arc<dyn Backend>, String> {
    let kind = match config.backend {
        BackendKind::Auto => match engine::connect().await {
            Ok(docker) if SwarmBackend::is_manager(&docker).await => BackendKind::Swarm,
            Ok(_) => BackendKind::Docker,
            Err(why) => {
                println!(
                    "backend auto: {why}; using process (functions run as local commands; images are recorded, not used)"
                );
                BackendKind::Process
            }
        },
        kind => kind,
    };
    let owner = owner_id(&config.data_dir)?;
    let max = config.max_payload_bytes;
    Ok(match kind {
        BackendKind::Swarm => Arc::new(SwarmBackend::connect(&config.network, &owner, max).await?),
        BackendKind::Docker => {
            Arc::new(DockerBackend::connect(&config.network, &owner, max).await?)
        }
        BackendKind::Process | BackendKind::Auto => {
            if config.backend == BackendKind::Process {
                println!("backend process: functions run as local commands; images are recorded, not used");
            }
            Arc::new(ProcessBackend::new())
        }
    })
}

/// This gateway's id, kept in its data directory: the label on everything it
/// creates on a Docker Engine, so it removes only its own leftovers.
fn owner_id(data_dir: &Path) -> Result<String, String> {
    let path = data_dir.join("gateway-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() {
            return Ok(id.to_string());
        }
    }
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    std::fs::write(&path, &id).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(id)
}
