//! The functions network: the one the gateway reaches service replicas on;
//! and whether a network a deployment names exists.

use std::collections::HashMap;

use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::ListNetworksOptionsBuilder;
use bollard::Docker;

use super::{labels, EngineError};

/// Makes sure one network called `name` exists (`overlay` and attachable
/// for Swarm, else `bridge`). Engines accept two networks of one name, so
/// gateways starting together may both create it: every gateway then keeps
/// the one with the smallest id and removes the others, so all agree.
pub async fn ensure(docker: &Docker, name: &str, overlay: bool) -> Result<(), EngineError> {
    if ids(docker, name).await?.is_empty() {
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some(if overlay { "overlay" } else { "bridge" }.into()),
            attachable: overlay.then_some(true),
            labels: Some(HashMap::from([(
                labels::NETWORK.to_string(),
                "true".to_string(),
            )])),
            ..Default::default()
        };
        docker
            .create_network(request)
            .await
            .map_err(|e| EngineError::refused(format!("create the network {name}"), e))?;
    }
    for duplicate in ids(docker, name).await?.iter().skip(1) {
        let _ = docker.remove_network(duplicate).await;
    }
    Ok(())
}

/// Whether a network called exactly `name` exists.
pub async fn exists(docker: &Docker, name: &str) -> Result<bool, EngineError> {
    Ok(!ids(docker, name).await?.is_empty())
}

/// Ids of the networks called exactly `name`, smallest first.
async fn ids(docker: &Docker, name: &str) -> Result<Vec<String>, EngineError> {
    let filters = HashMap::from([("name".to_string(), vec![name.to_string()])]);
    let options = ListNetworksOptionsBuilder::default()
        .filters(&filters)
        .build();
    let networks = docker
        .list_networks(Some(options))
        .await
        .map_err(EngineError::unreachable("list networks"))?;
    let mut ids: Vec<String> = networks
        .into_iter()
        .filter(|n| n.name.as_deref() == Some(name))
        .filter_map(|n| n.id)
        .collect();
    ids.sort();
    Ok(ids)
}
