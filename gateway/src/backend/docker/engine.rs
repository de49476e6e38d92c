//! The Docker Engine as the gateway uses it: connecting with API version
//! negotiation, making sure an image is present (pulling it when a registry
//! answers), the labels on everything the gateway creates, and removing what
//! an earlier run left behind.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::{
    CreateImageOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;

/// Label on every container and network the gateway creates: the function.
pub const LABEL_FUNCTION: &str = "com.faas.function";
/// Label on per-call containers: the call id.
pub const LABEL_CALL: &str = "com.faas.call";
/// Label on service replicas: the replica's generation and index.
pub const LABEL_REPLICA: &str = "com.faas.replica";
/// Label on everything a gateway creates: which gateway (its data
/// directory's id), so one gateway never removes another's containers.
pub const LABEL_OWNER: &str = "com.faas.gateway";
/// Label on the network the gateway creates for service replicas.
pub const LABEL_NETWORK: &str = "com.faas.network";

/// How long an engine gets to answer the first ping.
const PING_LIMIT: Duration = Duration::from_secs(3);

/// Connects to the local engine (`DOCKER_HOST` or the default socket) and
/// negotiates the API version; `None` when no engine answers.
pub async fn connect() -> Result<Docker, String> {
    let docker = Docker::connect_with_local_defaults()
        .map_err(|e| format!("cannot reach the Docker Engine: {e}"))?;
    let docker = tokio::time::timeout(PING_LIMIT, docker.negotiate_version())
        .await
        .map_err(|_| "the Docker Engine did not answer within 3 s".to_string())?
        .map_err(|e| format!("cannot reach the Docker Engine: {e}"))?;
    docker
        .ping()
        .await
        .map_err(|e| format!("the Docker Engine does not answer: {e}"))?;
    Ok(docker)
}

/// `image` with `:latest` added when it names no tag or digest, so a pull
/// never fetches every tag.
pub fn with_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || last.contains('@') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// Makes sure `image` is on the engine, pulling it if it is not. `Err` is
/// `No such image: <image>` with the engine's reason.
pub async fn ensure_image(docker: &Docker, image: &str) -> Result<(), String> {
    if docker.inspect_image(image).await.is_ok() {
        return Ok(());
    }
    let options = CreateImageOptionsBuilder::default()
        .from_image(&with_tag(image))
        .build();
    let mut pull = docker.create_image(Some(options), None, None);
    while let Some(progress) = pull.next().await {
        if let Err(err) = progress {
            return Err(format!("No such image: {image} (pulling it failed: {err})"));
        }
    }
    match docker.inspect_image(image).await {
        Ok(_) => Ok(()),
        Err(_) => Err(format!("No such image: {image}")),
    }
}

/// Removes every container carrying all of `labels` (each `key` or
/// `key=value`).
pub async fn remove_labelled(docker: &Docker, labels: &[String]) -> Result<usize, String> {
    let filters = HashMap::from([("label".to_string(), labels.to_vec())]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let containers = docker
        .list_containers(Some(options))
        .await
        .map_err(|e| format!("cannot list containers: {e}"))?;
    let remove = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    let mut removed = 0;
    for id in containers.into_iter().filter_map(|c| c.id) {
        match docker.remove_container(&id, Some(remove.clone())).await {
            Ok(()) => removed += 1,
            Err(err) => {
                tracing::warn!(container = %id, "cannot remove a leftover container: {err}")
            }
        }
    }
    Ok(removed)
}

/// Makes sure one network called `name` exists (`overlay` and attachable
/// for Swarm, else `bridge`). Engines accept two networks of one name, so
/// gateways starting together may both create it: every gateway then keeps
/// the one with the smallest id and removes the others, so all agree.
pub async fn ensure_network(docker: &Docker, name: &str, overlay: bool) -> Result<(), String> {
    let find = || async {
        let filters = HashMap::from([("name".to_string(), vec![name.to_string()])]);
        let options = ListNetworksOptionsBuilder::default()
            .filters(&filters)
            .build();
        docker
            .list_networks(Some(options))
            .await
            .map(|networks| {
                let mut ids: Vec<String> = networks
                    .into_iter()
                    .filter(|n| n.name.as_deref() == Some(name))
                    .filter_map(|n| n.id)
                    .collect();
                ids.sort();
                ids
            })
            .map_err(|e| format!("cannot list networks: {e}"))
    };
    if find().await?.is_empty() {
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some(if overlay { "overlay" } else { "bridge" }.into()),
            attachable: overlay.then_some(true),
            labels: Some(HashMap::from([(
                LABEL_NETWORK.to_string(),
                "true".to_string(),
            )])),
            ..Default::default()
        };
        docker
            .create_network(request)
            .await
            .map_err(|e| format!("cannot create the network {name}: {e}"))?;
    }
    for duplicate in find().await?.iter().skip(1) {
        let _ = docker.remove_network(duplicate).await;
    }
    Ok(())
}

/// A running container of a service function: its id, its watchdog's
/// address on `network`, and whether it is ready (with a HEALTHCHECK the
/// engine says "(healthy)"; without one a running container counts as ready).
#[derive(Debug, Clone)]
pub struct RunningReplica {
    pub id: String,
    pub addr: String,
    pub healthy: bool,
}

/// The running containers carrying all of `labels`, with their address on
/// `network` (containers not on it are left out).
pub async fn running_replicas(
    docker: &Docker,
    labels: Vec<String>,
    network: &str,
    port: u16,
) -> Result<Vec<RunningReplica>, String> {
    let filters = HashMap::from([("label".to_string(), labels)]);
    let options = ListContainersOptionsBuilder::default()
        .filters(&filters)
        .build();
    let containers = docker
        .list_containers(Some(options))
        .await
        .map_err(|e| format!("cannot list replicas: {e}"))?;
    Ok(containers
        .into_iter()
        .filter_map(|c| {
            let ip = c
                .network_settings
                .as_ref()?
                .networks
                .as_ref()?
                .get(network)?
                .ip_address
                .clone()
                .filter(|ip| !ip.is_empty())?;
            let status = c.status.unwrap_or_default();
            let healthy = status.contains("(healthy)") || !status.contains('(');
            Some(RunningReplica {
                id: c.id?,
                addr: format!("{ip}:{port}"),
                healthy,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert_eq!(with_tag("alpine"), "alpine:latest");
        assert_eq!(with_tag("alpine:3"), "alpine:3");
        assert_eq!(with_tag("localhost:5000/x"), "localhost:5000/x:latest");
        assert_eq!(with_tag("faas/sample-cat:latest"), "faas/sample-cat:latest");
        assert_eq!(with_tag("x@sha256:abc"), "x@sha256:abc");
    }
}
