//! The `process` backend: no containers. Per-call functions run `command`,
//! service functions run `envProcess` split into words, each call as a local
//! process through the watchdog library's runner.

use std::collections::HashMap;
use std::sync::Mutex;

use watchdog::{Job, Outcome, OutputMode};

use super::container::resources;
use super::{Backend, BackendError, Invocation, Replicas};
use crate::function::{Function, Mode};

/// The gateway's own variables a function process also gets; nothing else
/// of the gateway's environment (its passwords, its `FAAS_*` settings)
/// reaches a function.
const INHERITED: [&str; 7] = ["PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR"];

/// Functions, their desired replicas (a number only: nothing runs between
/// calls) and what their calls run, prepared once per deploy or update.
pub struct ProcessBackend {
    table: Mutex<HashMap<String, Entry>>,
    /// The [`INHERITED`] variables that are set, read once.
    base_env: Vec<(String, String)>,
}

struct Entry {
    replicas: u64,
    run: Run,
}

/// What a call of a function runs.
#[derive(Clone)]
struct Run {
    /// The argv, its program looked up in the function's `PATH`.
    argv: Vec<String>,
    /// The base variables, then the function's `envVars`.
    env: Vec<(String, String)>,
}

impl ProcessBackend {
    pub fn new() -> ProcessBackend {
        let base_env = INHERITED
            .iter()
            .filter_map(|name| Some((name.to_string(), std::env::var(name).ok()?)))
            .collect();
        ProcessBackend {
            table: Mutex::default(),
            base_env,
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What a call of `function` runs.
    fn prepare(&self, function: &Function) -> Result<Run, BackendError> {
        let mut env = self.base_env.clone();
        env.extend(
            function
                .env_vars
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        let mut argv = argv(function)?;
        argv[0] = watchdog::runner::resolve(&argv[0], &env)
            .to_string_lossy()
            .into_owned();
        Ok(Run { argv, env })
    }
}

impl Default for ProcessBackend {
    fn default() -> ProcessBackend {
        ProcessBackend::new()
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
        // Not applied to processes, but checked as a container backend
        // would, so a deployment means the same on every backend.
        resources::check(function, resources::machine_cpus())?;
        if !function.secrets.is_empty() {
            return Err(BackendError::Invalid(
                "\"secrets\" cannot be mounted on the process backend: functions run as local processes, with no container to mount them in; leave \"secrets\" out, or run the gateway with --backend docker or swarm".into(),
            ));
        }
        let run = self.prepare(function)?;
        let mut table = self.table();
        let replicas = table.get(&function.name).map_or(1, |e| e.replicas);
        table.insert(function.name.clone(), Entry { replicas, run });
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
            Some(entry) => {
                entry.replicas = replicas;
                Ok(())
            }
            None => Err(BackendError::NotFound(name.into())),
        }
    }

    async fn replicas(&self, name: &str) -> Result<Replicas, BackendError> {
        let desired = self
            .table()
            .get(name)
            .map(|e| e.replicas)
            .ok_or_else(|| BackendError::NotFound(name.into()))?;
        Ok(Replicas {
            desired,
            available: desired,
        })
    }

    async fn invoke(&self, function: &Function, call: Invocation) -> Result<Outcome, BackendError> {
        let prepared = {
            let mut table = self.table();
            match table.get_mut(&function.name) {
                Some(entry) => {
                    // A call wakes a function scaled to zero, as replicas would start.
                    if function.mode == Mode::Service && entry.replicas == 0 {
                        entry.replicas = function.scaling().wake();
                    }
                    Some(entry.run.clone())
                }
                None => None,
            }
        };
        let Run { argv, mut env } = match prepared {
            Some(run) => run,
            None => self.prepare(function)?,
        };
        env.extend(call.request.env(call.id));
        let job = Job {
            argv,
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
