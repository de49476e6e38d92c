//! Networks: the functions network every function container joins (made
//! sure of at start, of the backend's driver), and the `network` a
//! deployment may name instead ([`check`]: the allow-list).

use std::collections::HashMap;

use bollard::models::{Network, NetworkCreateRequest};
use bollard::query_parameters::ListNetworksOptionsBuilder;
use bollard::Docker;

use super::error::EngineError;
use super::labels;
use super::labels::filter;
use super::setup::Isolation;
use crate::backend::BackendError;
use crate::function::{Function, Mode};

/// The `network` that means no network at all.
pub const NONE: &str = "none";

/// Makes sure one network called `name` exists, of the driver the backend
/// needs: `overlay` and attachable for Swarm, else `bridge`. A missing one
/// is created (labelled with the gateway `owner`); one of another driver
/// is refused with a line saying how to fix it (on a docker → swarm switch
/// the old bridge has another name, so this only meets a hand-made one).
/// Engines accept two networks of one name, so gateways starting together
/// may both create it: every gateway then keeps the one with the smallest
/// id and removes the others, so all agree.
pub async fn ensure(
    docker: &Docker,
    name: &str,
    overlay: bool,
    owner: &str,
) -> Result<(), EngineError> {
    let driver = if overlay { "overlay" } else { "bridge" };
    let found = named(docker, name).await?;
    if let Some(network) = found.first() {
        let has = network.driver.as_deref().unwrap_or("unknown");
        let attachable = network.attachable.unwrap_or(false);
        if has != driver || (overlay && !attachable) {
            let how = if overlay {
                format!("docker network create --driver overlay --attachable {name}")
            } else {
                format!("docker network create --driver bridge {name}")
            };
            return Err(EngineError::Misfit(format!(
                "the network {name} is a{} {has} network, but the functions network must be {}: remove it (docker network rm {name}) and create it with `{how}`, or give the gateway another with --network",
                if attachable { "n attachable" } else { "" },
                if overlay { "an attachable overlay" } else { "a bridge" },
            )));
        }
    } else {
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some(driver.into()),
            attachable: overlay.then_some(true),
            labels: Some(HashMap::from([
                (labels::NETWORK.to_string(), "true".to_string()),
                (labels::OWNER.to_string(), owner.to_string()),
            ])),
            ..Default::default()
        };
        docker
            .create_network(request)
            .await
            .map_err(|e| EngineError::refused(format!("create the network {name}"), e))?;
    }
    for duplicate in named(docker, name).await?.iter().skip(1) {
        if let Some(id) = &duplicate.id {
            let _ = docker.remove_network(id).await;
        }
    }
    Ok(())
}

/// Whether a network called exactly `name` exists.
pub async fn exists(docker: &Docker, name: &str) -> Result<bool, EngineError> {
    Ok(!named(docker, name).await?.is_empty())
}

/// Checks the `network` a deployment names, against the functions network
/// `functions` and the allow-list; `Ok(Some(name))` when it is a network
/// that must exist on the engine.
pub fn check(
    function: &Function,
    functions: &str,
    isolation: &Isolation,
) -> Result<Option<String>, BackendError> {
    let Some(name) = function.network.as_deref() else {
        return Ok(None);
    };
    if name == functions {
        return Ok(None);
    }
    if function.mode == Mode::Service {
        return Err(BackendError::Invalid(format!(
            "\"network\" {name:?}: a service function's replicas are on the functions network {functions}, where the gateway reaches them; leave \"network\" out"
        )));
    }
    if name == NONE {
        return Ok(None);
    }
    if !isolation.allow_networks.iter().any(|n| n == name) {
        return Err(BackendError::Invalid(format!(
            "\"network\" {name:?} is not allowed: leave it out for the functions network {functions}, give \"none\" for no network, or start the gateway with --allow-networks {name}"
        )));
    }
    let special = name == "host" || name.starts_with("container:");
    Ok((!special).then(|| name.to_string()))
}

/// The networks called exactly `name`, smallest id first.
async fn named(docker: &Docker, name: &str) -> Result<Vec<Network>, EngineError> {
    let options = ListNetworksOptionsBuilder::default()
        .filters(&filter("name", vec![name.to_string()]))
        .build();
    let networks = docker
        .list_networks(Some(options))
        .await
        .map_err(EngineError::unreachable("list networks"))?;
    let mut networks: Vec<Network> = networks
        .into_iter()
        .filter(|n| n.name.as_deref() == Some(name) && n.id.is_some())
        .collect();
    networks.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(networks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(network: &str, mode: &str) -> Function {
        let deployment = serde_json::json!({"service": "f", "image": "i", "command": ["cat"],
            "mode": mode, "envProcess": "cat", "network": network});
        Function::create(serde_json::from_value(deployment).expect("json"), 0).expect("function")
    }

    #[test]
    fn only_the_functions_network_none_and_the_listed_ones() {
        let strict = Isolation::default();
        let listed = Isolation {
            allow_networks: vec!["host".into(), "container:abc".into(), "other".into()],
            ..Isolation::default()
        };
        let check = |network: &str, mode: &str, isolation: &Isolation| {
            check(&function(network, mode), "fn-net", isolation)
        };
        assert!(matches!(check("fn-net", "per-call", &strict), Ok(None)));
        assert!(matches!(check("none", "per-call", &strict), Ok(None)));
        for refused in ["host", "container:abc", "bridge", "other"] {
            match check(refused, "per-call", &strict) {
                Err(BackendError::Invalid(line)) => assert!(line.contains("not allowed"), "{line}"),
                other => panic!("{refused}: {other:?}"),
            }
        }
        assert!(matches!(check("host", "per-call", &listed), Ok(None)));
        assert!(matches!(
            check("container:abc", "per-call", &listed),
            Ok(None)
        ));
        assert_eq!(
            check("other", "per-call", &listed).ok(),
            Some(Some("other".to_string()))
        );
        assert!(check("container:xyz", "per-call", &listed).is_err());
        assert!(check("host", "service", &listed).is_err());
        assert!(matches!(check("fn-net", "service", &strict), Ok(None)));
    }
}
