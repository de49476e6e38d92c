//! What a function's replicas use on every node of a Swarm: Swarm places
//! them anywhere, and a node's container stats are its own engine's. Each
//! agent reads its node's ([`Agents::usage`]); the gateway's own engine
//! counts for its node when no agent there answers (or there are none).

use std::collections::{HashMap, HashSet};

use tokio::sync::OnceCell;

use super::{wire::NodeUsage, Agents};
use crate::backend::container::usage::{self, Source};
use crate::backend::container::{Engine, EngineError};
use crate::backend::Usage;

/// The usage source of a Swarm gateway with agents.
pub struct Spread {
    /// The gateway's engine: its owner label, and its node's replicas when
    /// no agent there answers.
    pub engine: Engine,
    /// Each asked for its node's replicas.
    pub agents: Agents,
    /// The Swarm node id of the gateway's engine, once read.
    pub own_node: OnceCell<String>,
}

#[async_trait::async_trait]
impl Source for Spread {
    async fn read(&self) -> Result<HashMap<String, Usage>, EngineError> {
        let reports = self.agents.usage(&self.engine.owner).await;
        let answered = !reports.is_empty();
        let (mut sum, nodes) = per_node(reports);
        let own = self.own_node().await?;
        if !nodes.contains(&own) {
            match usage::Local(self.engine.clone()).read().await {
                Ok(local) => usage::add(&mut sum, local),
                // The agents' figures are still worth showing.
                Err(e) if answered => tracing::debug!("cannot read the local replicas' usage: {e}"),
                Err(e) => return Err(e),
            }
        }
        Ok(sum)
    }
}

impl Spread {
    /// The node id of the gateway's engine (it is a Swarm manager).
    async fn own_node(&self) -> Result<String, EngineError> {
        let read = || async {
            let info = self
                .engine
                .docker
                .info()
                .await
                .map_err(EngineError::unreachable("read the engine's info"))?;
            Ok::<_, EngineError>(info.swarm.and_then(|s| s.node_id).unwrap_or_default())
        };
        self.own_node.get_or_try_init(read).await.cloned()
    }
}

/// The reports summed, one per node (two agents on a node report the
/// same containers), and the nodes they cover. Reports without a node id
/// (agents off Swarm) cannot be told apart, so each counts.
fn per_node(reports: Vec<NodeUsage>) -> (HashMap<String, Usage>, HashSet<String>) {
    let mut sum = HashMap::new();
    let mut nodes = HashSet::new();
    for report in reports {
        if report.node_id.is_empty() || nodes.insert(report.node_id) {
            usage::add(&mut sum, report.functions);
        }
    }
    (sum, nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(node: &str, functions: &[(&str, f64, f64)]) -> NodeUsage {
        NodeUsage {
            node_id: node.into(),
            functions: functions
                .iter()
                .map(|(name, cpu, memory)| {
                    let usage = Usage {
                        cpu: *cpu,
                        total_memory_bytes: *memory,
                    };
                    (name.to_string(), usage)
                })
                .collect(),
        }
    }

    #[test]
    fn nodes_add_up_once_each() {
        let (sum, nodes) = per_node(vec![
            report("n1", &[("a", 0.5, 100.0), ("b", 0.1, 10.0)]),
            report("n2", &[("a", 0.25, 50.0)]),
            // A second agent on n1 reports the same containers.
            report("n1", &[("a", 0.5, 100.0)]),
            // Agents off Swarm: each its own host.
            report("", &[("c", 0.0, 1.0)]),
            report("", &[("c", 0.0, 2.0)]),
        ]);
        assert_eq!(
            sum["a"],
            Usage {
                cpu: 0.75,
                total_memory_bytes: 150.0
            }
        );
        assert_eq!(sum["b"].total_memory_bytes, 10.0);
        assert_eq!(sum["c"].total_memory_bytes, 3.0);
        assert_eq!(nodes, HashSet::from(["n1".to_string(), "n2".to_string()]));
    }
}
