//! The one door to where functions run, and the one place a function's
//! run mode is decided: a per-call function's calls go to the fresh-call
//! [`Runner`], a service function's to its replicas ([`Services`]), and an
//! update that changes the mode moves the function from one to the other.
//! Secrets, replicas' logs and their usage sit beside, each behind its own
//! seam; a backend without one answers as it has none.

use std::sync::Arc;

use super::container::{Engine, UsageCache};
use super::percall::process;
use super::percall::{Change, Runner};
use super::secrets::Secrets;
use super::service::{ReplicaLogs, Served, Services};
use super::{
    no_secrets, BackendError, Invocation, LogQuery, Outcome, ReplicaCount, ReplicaLines, Usage,
};
use crate::function::{Defaults, Function, Mode};

/// Where functions run: one engine's runner and replicas, and the seams
/// beside them.
pub struct Backend {
    parts: Parts,
}

/// What a backend is made of (see [`super::open`]).
pub struct Parts {
    /// `process`, `docker` or `swarm`: shown by `/system/info`.
    pub name: &'static str,
    /// The Docker Engine, which checks a function can run on it; `None`
    /// for local processes.
    pub engine: Option<Engine>,
    pub runner: Runner,
    pub services: Arc<dyn Services>,
    /// `None`: replicas write nothing of their own (local processes).
    pub logs: Option<Arc<dyn ReplicaLogs>>,
    /// `None`: secrets cannot be mounted.
    pub secrets: Option<Arc<dyn Secrets>>,
    /// What replicas use, as last sampled; `None`: not known.
    pub usage: Option<Arc<UsageCache>>,
}

impl Backend {
    pub fn new(parts: Parts) -> Backend {
        Backend { parts }
    }

    /// `process`, `docker` or `swarm`: shown by `/system/info`.
    pub fn name(&self) -> &'static str {
        self.parts.name
    }

    /// What this backend fills in where a new deployment says nothing.
    pub fn defaults(&self) -> Defaults {
        match self.parts.engine {
            Some(_) => Defaults::CONTAINERS,
            None => Defaults::PROCESSES,
        }
    }

    /// Makes a new function runnable (checks what this backend needs).
    pub async fn deploy(&self, function: &Function) -> Result<(), BackendError> {
        self.apply(function, Change::New).await
    }

    /// Applies a changed spec, the mode among it.
    pub async fn update(&self, function: &Function) -> Result<(), BackendError> {
        self.apply(function, Change::Changed).await
    }

    /// A new or changed function, by its mode.
    async fn apply(&self, function: &Function, change: Change) -> Result<(), BackendError> {
        let Parts {
            runner, services, ..
        } = &self.parts;
        match function.mode {
            Mode::PerCall => {
                if let Some(secrets) = &self.parts.secrets {
                    secrets.check_per_call(function)?;
                }
                self.runnable(function).await?;
                services.claim(&function.name).await?;
                runner.prepare(function, change).await?;
                match change {
                    Change::New => Ok(()),
                    // A service function before: its replicas go.
                    Change::Changed => services.remove(&function.name).await,
                }
            }
            Mode::Service => {
                services.accepts(function)?;
                if let Some(secrets) = &self.parts.secrets {
                    secrets.check_service(function)?;
                }
                self.runnable(function).await?;
                runner.serve(function, change).await?;
                match change {
                    Change::New => services.deploy(function).await,
                    Change::Changed => services.update(function).await,
                }
            }
        }
    }

    /// Checks the engine can run `function` (its limits, settings,
    /// network and image), or that a local process can give it all it
    /// asks for.
    async fn runnable(&self, function: &Function) -> Result<(), BackendError> {
        match &self.parts.engine {
            Some(engine) => engine.runnable(function).await,
            None => process::confinable(function),
        }
    }

    /// The OCI runtime `function`'s containers are given: what it asks
    /// for, else the gateway's default; `None` where it gets none (local
    /// processes; a Swarm service, whose replicas run under their node's
    /// default).
    pub fn runtime(&self, function: &Function) -> Option<String> {
        let engine = self.parts.engine.as_ref()?;
        match function.mode {
            Mode::Service if !self.parts.services.names_runtime() => None,
            _ => Some(engine.runtimes.of(function).to_string()),
        }
    }

    /// The runtime each running replica of service function `name` runs
    /// under, as the engine reports it; `None` where replicas are no
    /// containers.
    pub async fn replica_runtimes(&self, name: &str) -> Result<Option<Vec<String>>, BackendError> {
        self.parts.services.runtimes(name).await
    }

    /// Tears a function down.
    pub async fn remove(&self, name: &str) -> Result<(), BackendError> {
        self.parts.runner.forget(name);
        self.parts.services.remove(name).await
    }

    /// Names of the functions the backend runs replicas of.
    pub async fn list(&self) -> Result<Vec<String>, BackendError> {
        self.parts.services.list().await
    }

    /// Sets the desired replicas (service mode).
    pub async fn scale(&self, name: &str, replicas: u64) -> Result<(), BackendError> {
        self.parts.services.scale(name, replicas).await
    }

    /// Desired and available replicas.
    pub async fn replicas(&self, name: &str) -> Result<ReplicaCount, BackendError> {
        self.parts.services.count(name).await
    }

    /// Desired replicas only: what the autoscaler reads every second.
    pub async fn desired(&self, name: &str) -> Result<u64, BackendError> {
        self.parts.services.desired(name).await
    }

    /// The secrets' seam, or the refusal of a backend without one.
    fn secret_store(&self) -> Result<&dyn Secrets, BackendError> {
        self.parts
            .secrets
            .as_deref()
            .ok_or_else(|| no_secrets(self.name()))
    }

    /// Names of the secrets functions may mount (those made through
    /// `/system/secrets`); a backend without secrets refuses.
    pub async fn secrets(&self) -> Result<Vec<String>, BackendError> {
        self.secret_store()?.names().await
    }

    /// Keeps `value` as the secret `name`: new when `create` (`Conflict`
    /// if it exists), else replacing it (`Absent` if it does not).
    pub async fn put_secret(
        &self,
        name: &str,
        value: &[u8],
        create: bool,
    ) -> Result<(), BackendError> {
        self.secret_store()?.put(name, value, create).await
    }

    /// Removes the secret `name` (`Absent` if there is none).
    pub async fn remove_secret(&self, name: &str) -> Result<(), BackendError> {
        self.secret_store()?.remove(name).await
    }

    /// What the replicas of service function `name` wrote; `None` where a
    /// backend has no replicas of its own (local processes).
    pub async fn replica_logs(
        &self,
        name: &str,
        query: LogQuery,
    ) -> Result<Option<ReplicaLines>, BackendError> {
        match &self.parts.logs {
            Some(logs) => Ok(Some(logs.logs(name, query).await?)),
            None => Ok(None),
        }
    }

    /// What the replicas of service function `name` use, as last sampled
    /// (cheap: never waits for the engine); `None` where not known.
    pub fn usage(&self, name: &str) -> Option<Usage> {
        self.parts.usage.as_ref().map(|usage| usage.get(name))
    }

    /// Runs one call to its end, by its function's mode. Dropping the
    /// future stops the run.
    pub async fn invoke(
        &self,
        function: &Function,
        call: Invocation,
    ) -> Result<Outcome, BackendError> {
        let call = match function.mode {
            Mode::PerCall => call,
            Mode::Service => match self.parts.services.invoke(function, call).await {
                Served::Ran(result) => return result,
                Served::Fresh(call) => call,
            },
        };
        self.parts.runner.invoke(function, call).await
    }

    /// The backend's own metrics, for the gateway's registry.
    pub fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        self.parts.runner.collectors()
    }
}
