//! Fresh calls: a new process or container for every call, which runs it
//! and ends. One [`Runner`] for every backend: local processes
//! ([`process`]), or containers on the gateway's engine — a warm one from
//! the [`pool`] when one is ready, else a cold one ([`cold`]) — or on an
//! agent's node ([`agents`]) when agents answer. The docker and swarm
//! backends share the container runner.

pub mod agents;
mod attach;
mod cold;
mod launcher;
pub mod pool;
pub mod process;
mod warm;

use agents::{Agents, Dispatch};
use pool::Pool;
use process::ProcessBackend;

use crate::backend::{BackendError, Invocation, Outcome};
use crate::function::Function;

/// Whether a function is new to the backend or its spec changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    New,
    Changed,
}

/// What runs fresh calls.
pub enum Runner {
    /// Each call a local process.
    Processes(ProcessBackend),
    /// Each call a container: on an agent's node when agents answer, else
    /// in the pool of the gateway's own engine.
    Containers { pool: Pool, agents: Option<Agents> },
}

impl Runner {
    /// A per-call function is new or changed: its calls run `function` now
    /// (warm containers of an older spec go).
    pub async fn prepare(&self, function: &Function, change: Change) -> Result<(), BackendError> {
        match self {
            Runner::Processes(processes) => processes.deploy(function).await,
            Runner::Containers { pool, agents } => {
                pool.reset(function);
                if change == Change::Changed {
                    forget_on(agents.as_ref(), &function.name);
                }
                Ok(())
            }
        }
    }

    /// A service function is new or changed: where its calls come back to
    /// run fresh (local processes) they run `function`; where they never
    /// do, warm containers it had as a per-call function go.
    pub async fn serve(&self, function: &Function, change: Change) -> Result<(), BackendError> {
        match self {
            Runner::Processes(processes) => processes.deploy(function).await,
            Runner::Containers { .. } => {
                if change == Change::Changed {
                    self.forget(&function.name);
                }
                Ok(())
            }
        }
    }

    /// `name` is gone: so is what its calls ran, here and on the agents.
    pub fn forget(&self, name: &str) {
        match self {
            Runner::Processes(processes) => processes.remove(name),
            Runner::Containers { pool, agents } => {
                pool.forget(name);
                forget_on(agents.as_ref(), name);
            }
        }
    }

    /// Runs one call to its end: on an agent when there are agents, else
    /// (or when none answers) here. Dropping the future stops the run.
    pub async fn invoke(
        &self,
        function: &Function,
        call: Invocation,
    ) -> Result<Outcome, BackendError> {
        match self {
            Runner::Processes(processes) => processes.invoke(function, call).await,
            Runner::Containers { pool, agents } => {
                let call = match agents {
                    Some(agents) => {
                        match agents.invoke(function, pool.runtime(function), call).await {
                            Dispatch::Ran(result) => return result,
                            Dispatch::Local(call) => call,
                        }
                    }
                    None => call,
                };
                pool.invoke(function, call).await
            }
        }
    }

    /// The runner's own metrics, for the gateway's registry.
    pub fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        match self {
            Runner::Processes(_) => Vec::new(),
            Runner::Containers { pool, .. } => pool.collectors(),
        }
    }
}

/// Drains `name`'s warm containers on the agents, if there are any.
fn forget_on(agents: Option<&Agents>, name: &str) {
    if let Some(agents) = agents {
        agents.forget(name);
    }
}
