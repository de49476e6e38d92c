//! A service function's replicas as the Swarm manager sees them: the
//! service's tasks meant to run, on every node, each a watchdog at its
//! address on the functions overlay network. The manager's task list is the
//! one view of every node (the engine's own containers are only its node's).
//! A task with a `HEALTHCHECK` stays `starting` until it is healthy, so a
//! `running` task is ready for calls.

use std::net::{IpAddr, SocketAddr};

use bollard::models::TaskState;
use serde::Deserialize;

use super::api;
use super::engine::Engine;
use super::error::EngineError;
use super::labels::{FUNCTION, OWNER};
use super::replica::Replica;
use super::replica::WATCHDOG_PORT;

/// A task as the engine answers it, with what bollard's model leaves out:
/// the networks it is attached to and its addresses there.
#[derive(Debug, Deserialize)]
pub struct Task {
    #[serde(flatten)]
    pub task: bollard::models::Task,
    #[serde(rename = "NetworksAttachments", default)]
    pub networks: Option<Vec<Attachment>>,
}

/// One network a task is attached to. (A field the engine leaves out is
/// `None`, as serde reads a missing `Option`.)
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attachment {
    pub network: Option<AttachedNetwork>,
    /// CIDRs: the task's address and the network's prefix length.
    pub addresses: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttachedNetwork {
    #[serde(rename = "ID")]
    pub id: Option<String>,
    pub spec: Option<NetworkName>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkName {
    pub name: Option<String>,
    /// Whether it is the swarm's routing-mesh network.
    pub ingress: Option<bool>,
}

impl AttachedNetwork {
    /// Whether this is the swarm's routing-mesh network.
    pub fn is_ingress(&self) -> bool {
        self.spec.as_ref().and_then(|s| s.ingress) == Some(true)
    }
}

/// The replicas of the service `name` of the gateway `engine.owner`, on
/// every node: one engine call. A service that does not exist has none.
pub async fn replicas(engine: &Engine, name: &str) -> Result<Vec<Replica>, EngineError> {
    let filters = serde_json::json!({"service": [name], "desired-state": ["running"]});
    let filters = filters.to_string();
    let tasks: Vec<Task> =
        match api::get_json(&engine.docker, "/tasks", &[("filters", &filters)]).await {
            Ok(tasks) => tasks,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(Vec::new()),
            Err(source) => {
                return Err(EngineError::Unreachable {
                    action: format!("list the tasks of the service {name}"),
                    source,
                })
            }
        };
    Ok(tasks
        .iter()
        .filter(|task| is_of(task, name, &engine.owner))
        .filter_map(|task| replica(task, &engine.network))
        .collect())
}

/// Whether `task` is a replica of the function `name` the gateway `owner`
/// made (the engine's `service` filter falls back to a service id prefix
/// when no service has the name).
fn is_of(task: &Task, name: &str, owner: &str) -> bool {
    let labels = task
        .task
        .spec
        .as_ref()
        .and_then(|s| s.container_spec.as_ref())
        .and_then(|c| c.labels.as_ref());
    labels.is_some_and(|l| {
        l.get(FUNCTION).map(String::as_str) == Some(name)
            && l.get(OWNER).map(String::as_str) == Some(owner)
    })
}

/// The replica a task is: its container (or, before it has one, the task)
/// and its address on `network` (a name or an id); ready when `running`.
/// `None` for a task that has no address there yet, or is past running.
pub fn replica(task: &Task, network: &str) -> Option<Replica> {
    let status = task.task.status.as_ref()?;
    let healthy = match status.state? {
        TaskState::RUNNING => true,
        TaskState::STARTING => false,
        _ => return None,
    };
    let ip = address(task, network)?;
    let id = status
        .container_status
        .as_ref()
        .and_then(|c| c.container_id.clone())
        .filter(|id| !id.is_empty())
        .or_else(|| task.task.id.clone())?;
    Some(Replica {
        id,
        addr: SocketAddr::new(ip, WATCHDOG_PORT).to_string(),
        healthy,
    })
}

/// The task's address on `network`.
fn address(task: &Task, network: &str) -> Option<IpAddr> {
    let attachment = task.networks.as_ref()?.iter().find(|a| {
        a.network.as_ref().is_some_and(|n| {
            n.id.as_deref() == Some(network)
                || n.spec.as_ref().and_then(|s| s.name.as_deref()) == Some(network)
        })
    })?;
    attachment
        .addresses
        .as_ref()?
        .iter()
        .find_map(|cidr| cidr.split('/').next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task as Docker 20.10 answers `GET /tasks`, trimmed.
    fn task(state: &str, container: Option<&str>) -> Task {
        let mut value = serde_json::json!({
            "ID": "qy192xbof0ay3enpptztyec6u",
            "Version": {"Index": 4955},
            "CreatedAt": "2026-11-25T19:56:28.018702094Z",
            "UpdatedAt": "2026-11-25T19:56:31.486958837Z",
            "Labels": {},
            "Spec": {
                "ContainerSpec": {
                    "Image": "faas/sample-cat:latest",
                    "Labels": {"com.faas.function": "f", "com.faas.gateway": "me"}
                },
                "Networks": [{"Target": "njsuzb0p3zetb2y2974mww5fn"}]
            },
            "ServiceID": "anjl3wsi0m7tlf96aa6sgnskb",
            "Slot": 1,
            "NodeID": "pomyzy19en80635litn33pb9o",
            "Status": {
                "Timestamp": "2026-11-25T19:56:31.381509389Z",
                "State": state,
                "Message": state,
                "PortStatus": {}
            },
            "DesiredState": "running",
            "NetworksAttachments": [
                {
                    "Network": {"ID": "uox64pzd02o3", "Spec": {"Name": "ingress"}},
                    "Addresses": ["10.0.0.9/24"]
                },
                {
                    "Network": {
                        "ID": "njsuzb0p3zetb2y2974mww5fn",
                        "Spec": {"Name": "faas-functions", "Attachable": true, "Scope": "swarm"}
                    },
                    "Addresses": ["10.0.1.3/24"]
                }
            ]
        });
        if let Some(id) = container {
            value["Status"]["ContainerStatus"] =
                serde_json::json!({"ContainerID": id, "PID": 0, "ExitCode": 0});
        }
        serde_json::from_value(value).expect("a task")
    }

    #[test]
    fn a_running_task_is_a_ready_replica_at_its_overlay_address() {
        let t = task("running", Some("19ed54e705c6"));
        assert_eq!(t.task.desired_state, Some(TaskState::RUNNING));
        let expected = Replica {
            id: "19ed54e705c6".into(),
            addr: "10.0.1.3:8080".into(),
            healthy: true,
        };
        assert_eq!(replica(&t, "faas-functions"), Some(expected.clone()));
        // The network by its id too.
        assert_eq!(replica(&t, "njsuzb0p3zetb2y2974mww5fn"), Some(expected));
        // Not attached to another network: no replica there.
        assert_eq!(replica(&t, "elsewhere"), None);
    }

    #[test]
    fn a_starting_task_is_not_ready_and_others_are_no_replica() {
        let starting = replica(&task("starting", Some("c1")), "faas-functions");
        assert_eq!(starting.map(|r| r.healthy), Some(false));
        // Before its container exists a task is named by its own id.
        let named = replica(&task("starting", None), "faas-functions");
        assert_eq!(
            named.map(|r| r.id).as_deref(),
            Some("qy192xbof0ay3enpptztyec6u")
        );
        for state in [
            "pending",
            "assigned",
            "preparing",
            "complete",
            "failed",
            "shutdown",
        ] {
            assert_eq!(
                replica(&task(state, Some("c1")), "faas-functions"),
                None,
                "{state}"
            );
        }
    }

    #[test]
    fn only_the_gateway_s_own_function_tasks_count() {
        let t = task("running", Some("c1"));
        assert!(is_of(&t, "f", "me"));
        assert!(!is_of(&t, "g", "me"));
        assert!(!is_of(&t, "f", "another"));
    }

    #[test]
    fn a_task_with_no_address_yet_is_no_replica() {
        let mut t = task("running", Some("c1"));
        t.networks = None;
        assert_eq!(replica(&t, "faas-functions"), None);
        let v6 =
            serde_json::json!({"Network": {"Spec": {"Name": "n6"}}, "Addresses": ["fd00::5/64"]});
        t.networks = Some(vec![serde_json::from_value(v6).expect("an attachment")]);
        assert_eq!(
            replica(&t, "n6").map(|r| r.addr).as_deref(),
            Some("[fd00::5]:8080")
        );
    }
}
