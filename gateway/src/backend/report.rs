//! What the backend tells of a function's replicas: their counts, the
//! lines they wrote and what they use.

use serde::{Deserialize, Serialize};

/// What `/system/logs` asks of a backend: its replicas' own lines.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogQuery {
    /// Unix milliseconds: only lines written at or after it.
    pub since: Option<i64>,
    /// The newest this many lines of each replica; `None`: all.
    pub tail: Option<u64>,
    /// Go on with new lines as they are written.
    pub follow: bool,
}

/// A line a service function's replica wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaLine {
    /// Its container's id.
    pub instance: String,
    /// Unix milliseconds.
    pub at: i64,
    pub text: String,
}

/// Lines of a function's replicas, each replica's in time order.
pub type ReplicaLines = futures_util::stream::BoxStream<'static, ReplicaLine>;

/// What a function's replicas use, summed over them, as OpenFaaS's
/// `FunctionUsage` has it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// CPU in use, in cores (1.0 is one core busy).
    pub cpu: f64,
    /// Memory in use, in bytes.
    pub total_memory_bytes: f64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, more: Usage) {
        self.cpu += more.cpu;
        self.total_memory_bytes += more.total_memory_bytes;
    }
}

/// Replica counts of a function.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplicaCount {
    pub desired: u64,
    pub available: u64,
}
