//! Fresh calls as local processes, no containers: per-call functions run
//! `command`, service functions run `envProcess` split into words, each
//! call as a local process through the watchdog library's runner.

use std::collections::HashMap;
use std::sync::Mutex;

use watchdog::{Job, Outcome, OutputMode};

use crate::backend::{BackendError, Invocation};
use crate::function::{Function, Mode, Resources};

/// The gateway's own variables a function process also gets; nothing else
/// of the gateway's environment (its passwords, its `FAAS_*` settings)
/// reaches a function.
const INHERITED: [&str; 7] = ["PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR"];

/// What the calls of each function run, prepared once per deploy or
/// update.
pub struct ProcessBackend {
    table: Mutex<HashMap<String, Entry>>,
    /// The [`INHERITED`] variables that are set, read once.
    base_env: Vec<(String, String)>,
}

struct Entry {
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

/// Refuses what a local process cannot be given, rather than accepting
/// and ignoring it: a process runs as the gateway's user, with the
/// gateway's limits, root, network and capabilities. Empty values ask
/// for nothing and pass.
pub fn confinable(function: &Function) -> Result<(), BackendError> {
    let set = |r: &Option<Resources>, pick: fn(&Resources) -> &Option<String>| {
        r.as_ref().is_some_and(|r| pick(r).is_some())
    };
    let asked = [
        ("user", function.user.is_some()),
        ("limits.memory", set(&function.limits, |r| &r.memory)),
        ("limits.cpu", set(&function.limits, |r| &r.cpu)),
        ("requests.memory", set(&function.requests, |r| &r.memory)),
        ("requests.cpu", set(&function.requests, |r| &r.cpu)),
        ("readOnlyRootFilesystem", function.read_only_root_filesystem),
        (
            "network",
            function.network.as_deref().is_some_and(|n| !n.is_empty()),
        ),
        (
            "capabilities",
            function.capabilities.iter().any(|c| !c.is_empty()),
        ),
    ];
    match asked.into_iter().find(|(_, asked)| *asked) {
        Some((field, _)) => Err(BackendError::Invalid(format!(
            "\"{field}\" cannot be applied on the process backend: it runs functions as local processes of the gateway's own user, isolated from nothing; leave it out, or run the gateway with --backend docker or swarm"
        ))),
        None => Ok(()),
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

impl ProcessBackend {
    /// Checks a function can run as a local process, and prepares what its
    /// calls run.
    pub async fn deploy(&self, function: &Function) -> Result<(), BackendError> {
        if !function.secrets.is_empty() {
            return Err(BackendError::Invalid(
                "\"secrets\" cannot be mounted on the process backend: functions run as local processes, with no container to mount them in; leave \"secrets\" out, or run the gateway with --backend docker or swarm".into(),
            ));
        }
        let run = self.prepare(function)?;
        self.table().insert(function.name.clone(), Entry { run });
        Ok(())
    }

    /// Forgets what `name`'s calls run.
    pub fn remove(&self, name: &str) {
        self.table().remove(name);
    }

    /// Runs one call to its end. Dropping the future stops the run.
    pub async fn invoke(
        &self,
        function: &Function,
        call: Invocation,
    ) -> Result<Outcome, BackendError> {
        let prepared = self.table().get(&function.name).map(|e| e.run.clone());
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
