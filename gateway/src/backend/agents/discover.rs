//! Finding the agents of a Swarm service from the manager's task list:
//! each running task's node and its address on the service's network (the
//! engine's `NetworksAttachments`, which bollard's typed task leaves out,
//! so the list is read as JSON over the engine's socket), and each node's
//! facts (`inspect_node`: host name, role, labels, platform) for
//! constraints.

use std::collections::BTreeMap;
use std::time::Duration;

use bollard::Docker;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

use super::constraint::Node;

/// The engine's socket when `DOCKER_HOST` names none.
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// The most of the task list read.
const MOST_BYTES: usize = 16 << 20;

/// A running task of the agents' service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub node_id: String,
    /// Its address on its first network that is not the ingress.
    pub address: String,
}

/// The running tasks of `service`, read from the manager within `limit`.
pub async fn tasks(service: &str, limit: Duration) -> Result<Vec<Task>, String> {
    let filters = serde_json::json!({"service": [service], "desired-state": ["running"]});
    let path = format!("/tasks?filters={}", encode(&filters.to_string()));
    let body = tokio::time::timeout(limit, get(&path))
        .await
        .map_err(|_| format!("the engine did not list the tasks within {limit:?}"))??;
    let tasks: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| format!("the engine's task list is not JSON: {e}"))?;
    Ok(parse(&tasks))
}

/// The running tasks in the engine's task list, with an address.
fn parse(tasks: &serde_json::Value) -> Vec<Task> {
    let mut found = Vec::new();
    for task in tasks.as_array().into_iter().flatten() {
        if task.pointer("/Status/State").and_then(|s| s.as_str()) != Some("running") {
            continue;
        }
        let Some(node_id) = task.get("NodeID").and_then(|n| n.as_str()) else {
            continue;
        };
        let attachments = task.get("NetworksAttachments").and_then(|a| a.as_array());
        let address = attachments
            .into_iter()
            .flatten()
            .filter(|a| a.pointer("/Network/Spec/Ingress").and_then(|i| i.as_bool()) != Some(true))
            .flat_map(|a| a.get("Addresses").and_then(|a| a.as_array()).cloned())
            .flatten()
            .find_map(|a| {
                a.as_str()
                    .map(|a| a.split('/').next().unwrap_or(a).to_string())
            });
        if let Some(address) = address {
            found.push(Task {
                node_id: node_id.to_string(),
                address,
            });
        }
    }
    found
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

/// `GET path` on the engine's unix socket.
async fn get(path: &str) -> Result<Bytes, String> {
    let socket = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
        .unwrap_or_else(|| DEFAULT_SOCKET.to_string());
    let stream = tokio::net::UnixStream::connect(&socket)
        .await
        .map_err(|e| format!("cannot reach the engine at {socket}: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("cannot speak to the engine: {e}"))?;
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header("host", "docker")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("cannot ask the engine: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("the engine did not answer: {e}"))?;
    let status = response.status();
    let body = http_body_util::Limited::new(response.into_body(), MOST_BYTES)
        .collect()
        .await
        .map_err(|e| format!("the engine's answer could not be read: {e}"))?
        .to_bytes();
    if !status.is_success() {
        return Err(format!(
            "the engine answered {status}: {}",
            String::from_utf8_lossy(&body).trim()
        ));
    }
    Ok(body)
}

/// Percent-encodes a query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_tasks_give_their_node_and_address() {
        let list = serde_json::json!([
            {"NodeID": "n1", "Status": {"State": "running"}, "NetworksAttachments": [
                {"Network": {"Spec": {"Name": "ingress", "Ingress": true}}, "Addresses": ["10.0.0.5/24"]},
                {"Network": {"Spec": {"Name": "faas_internal"}}, "Addresses": ["10.0.9.7/24"]}
            ]},
            {"NodeID": "n2", "Status": {"State": "starting"}, "NetworksAttachments": [
                {"Network": {"Spec": {"Name": "faas_internal"}}, "Addresses": ["10.0.9.8/24"]}
            ]},
            {"NodeID": "n3", "Status": {"State": "running"}}
        ]);
        assert_eq!(
            parse(&list),
            [Task {
                node_id: "n1".into(),
                address: "10.0.9.7".into()
            }]
        );
        assert_eq!(encode("{\"a\": [1]}"), "%7B%22a%22%3A%20%5B1%5D%7D");
    }
}
