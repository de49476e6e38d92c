//! Finding the agents of a Swarm service from the manager's task list:
//! each running task's node and its address on the service's network (the
//! engine's `NetworksAttachments`, which bollard's typed task leaves out,
//! so the list is read as JSON over the engine's socket), and each node's
//! facts (`inspect_node`: host name, role, labels, platform) for
//! constraints.

use std::collections::BTreeMap;
use std::time::Duration;

use bollard::models::TaskState;
use bollard::Docker;

use super::constraint::Node;
use crate::backend::container::api;
use crate::backend::container::tasks::Task as SwarmTask;

/// A running task of the agents' service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub node_id: String,
    /// Its address on its first network that is not the ingress.
    pub address: String,
}

/// The running tasks of `service`, read from the manager within `limit`.
pub async fn tasks(docker: &Docker, service: &str, limit: Duration) -> Result<Vec<Task>, String> {
    let filters = serde_json::json!({"service": [service], "desired-state": ["running"]});
    let filters = filters.to_string();
    let query = [("filters", filters.as_str())];
    let listed = api::get_json::<Vec<SwarmTask>>(docker, "/tasks", &query);
    let tasks = tokio::time::timeout(limit, listed)
        .await
        .map_err(|_| format!("the engine did not list the tasks within {limit:?}"))?
        .map_err(|e| format!("the engine did not list the tasks: {e}"))?;
    Ok(tasks.iter().filter_map(running).collect())
}

/// The agent a task is, when it runs and has an address.
fn running(task: &SwarmTask) -> Option<Task> {
    let state = task.task.status.as_ref()?.state?;
    if state != TaskState::RUNNING {
        return None;
    }
    let node_id = task.task.node_id.clone()?;
    let address = task
        .networks
        .iter()
        .flatten()
        .filter(|a| !a.network.as_ref().is_some_and(|n| n.is_ingress()))
        .flat_map(|a| a.addresses.iter().flatten())
        .find_map(|cidr| cidr.split('/').next().map(str::to_string))?;
    Some(Task { node_id, address })
}

/// What the manager knows of node `id`.
pub async fn node(docker: &Docker, id: &str) -> Option<Node> {
    let node = docker.inspect_node(id).await.ok()?;
    let description = node.description.unwrap_or_default();
    let platform = description.platform.unwrap_or_default();
    let spec = node.spec.unwrap_or_default();
    Some(Node {
        id: node.id.unwrap_or_else(|| id.to_string()),
        hostname: description.hostname.unwrap_or_default(),
        role: spec.role.map(|r| r.to_string()).unwrap_or_default(),
        os: platform.os.unwrap_or_default(),
        arch: platform.architecture.unwrap_or_default(),
        labels: spec
            .labels
            .unwrap_or_default()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_tasks_give_their_node_and_address() {
        let list: Vec<SwarmTask> = serde_json::from_value(serde_json::json!([
            {"NodeID": "n1", "Status": {"State": "running"}, "NetworksAttachments": [
                {"Network": {"Spec": {"Name": "ingress", "Ingress": true}}, "Addresses": ["10.0.0.5/24"]},
                {"Network": {"Spec": {"Name": "faas_internal"}}, "Addresses": ["10.0.9.7/24"]}
            ]},
            {"NodeID": "n2", "Status": {"State": "starting"}, "NetworksAttachments": [
                {"Network": {"Spec": {"Name": "faas_internal"}}, "Addresses": ["10.0.9.8/24"]}
            ]},
            {"NodeID": "n3", "Status": {"State": "running"}}
        ]))
        .expect("tasks");
        assert_eq!(
            list.iter().filter_map(running).collect::<Vec<_>>(),
            [Task {
                node_id: "n1".into(),
                address: "10.0.9.7".into()
            }]
        );
    }
}
