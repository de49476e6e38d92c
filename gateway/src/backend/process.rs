//! The `process` backend: no containers. Per-call functions run `command`,
//! service functions run `envProcess` split into words, each call as a local
//! process through the watchdog library's runner.

use std::collections::HashMap;
use std::sync::Mutex;

use watchdog::{Job, Outcome, OutputMode};

use super::{Backend, BackendError, Invocation, Replicas};
use crate::model::{Function, Mode};

/// The gateway's own variables a function process also gets; nothing else
/// of the gateway's environment (its passwords, its `FAAS_*` settings)
/// reaches a function.
const INHERITED: [&str; 7] = ["PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR"];

/// Functions and their desired replicas (a number only: nothing runs
/// between calls).
pub struct ProcessBackend {
    replicas: Mutex<HashMap<String, u64>>,
    /// The [`INHERITED`] variables that are set, read once.
    base_env: Vec<(String, String)>,
}

impl ProcessBackend {
    pub fn new() -> ProcessBackend {
        let base_env = INHERITED
            .iter()
            .filter_map(|name| Some((name.to_string(), std::env::var(name).ok()?)))
            .collect();
        ProcessBackend {
            replicas: Mutex::default(),
            base_env,
        }
    }
}

impl Default for ProcessBackend {
    fn default() -> ProcessBackend {
        ProcessBackend::new()
    }
}

impl ProcessBackend {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.replicas.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The argv a function's calls run.
fn argv(function: &Function) -> Result<Vec<String>, BackendError> {
    let argv = match function.mode {
        Mode::PerCall => function.command.clone(),
        Mode::Service => shell_words::split(&function.env_process).map_err(|e| {
            BackendError::Invalid(format!("\"envProcess\" cannot be split into words: {e}"))
        })?,
    };
    if argv.is_empty() {
        let needs = match function.mode {
            Mode::PerCall => "a per-call function needs \"command\"",
            Mode::Service => "a service function on the process backend needs \"envProcess\" (the command to run)",
        };
        return Err(BackendError::Invalid(needs.into()));
    }
    Ok(argv)
}

#[async_trait::async_trait]
impl Backend for ProcessBackend {
    fn name(&self) -> &'static str {
        "process"
    }

    async fn deploy(&self, function: &Function) -> Result<(), BackendError> {
        argv(function)?;
        self.table().entry(function.name.clone()).or_insert(1);
        Ok(())
    }

    async fn update(&self, function: &Function) -> Result<(), BackendError> {
        self.deploy(function).await
    }

    async fn remove(&self, name: &str) -> Result<(), BackendError> {
        self.table().remove(name);
        Ok(())
    }

    async fn list(&self) -> Result<Vec<String>, BackendError> {
        Ok(self.table().keys().cloned().collect())
    }

    async fn scale(&self, name: &str, replicas: u64) -> Result<(), BackendError> {
        match self.table().get_mut(name) {
            Some(r) => {
                *r = replicas;
                Ok(())
            }
            None => Err(BackendError::NotFound(name.into())),
        }
    }

    async fn replicas(&self, name: &str) -> Result<Replicas, BackendError> {
        let desired = self
            .table()
            .get(name)
            .copied()
            .ok_or_else(|| BackendError::NotFound(name.into()))?;
        Ok(Replicas {
            desired,
            available: desired,
        })
    }

    async fn invoke(&self, function: &Function, call: Invocation) -> Result<Outcome, BackendError> {
        if function.mode == Mode::Service {
            // A call wakes a function scaled to zero, as replicas would start.
            if let Some(replicas) = self.table().get_mut(&function.name) {
                if *replicas == 0 {
                    *replicas = function.wake_replicas();
                }
            }
        }
        let mut env = self.base_env.clone();
        env.extend(
            function
                .env_vars
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        env.extend(call.env);
        let job = Job {
            argv: argv(function)?,
            env,
            clear_env: true,
            timeout: Some(call.timeout),
            max_input_bytes: call.input.len() as u64,
            max_output_bytes: call.max_output_bytes,
            output: OutputMode::Separate,
        };
        watchdog::runner::run_bytes(&job, call.input)
            .await
            .map_err(|e| BackendError::Start(e.to_string()))
    }
}
