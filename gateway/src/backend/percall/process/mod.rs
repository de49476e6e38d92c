//! Fresh calls as local processes, no containers: per-call functions run
//! `command`, service functions run `envProcess` split into words, each
//! call as a local process through the watchdog library's runner, its
//! process group recorded in the data directory while it runs
//! ([`records`]) so that none outlives the gateway: its [`supervisor`]
//! kills them when it dies, and the next start kills what is still left
//! ([`leftovers`]).

pub mod leftovers;
mod records;
pub mod supervisor;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use watchdog::{Job, Outcome, OutputMode};

use records::Records;

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
    /// Where each running call's process group is recorded.
    records: Records,
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
    /// The backend whose calls are recorded in `data_dir`.
    pub fn new(data_dir: &Path) -> std::io::Result<ProcessBackend> {
        let base_env = INHERITED
            .iter()
            .filter_map(|name| Some((name.to_string(), std::env::var(name).ok()?)))
            .collect();
        Ok(ProcessBackend {
            table: Mutex::default(),
            base_env,
            records: Records::open(data_dir)?,
        })
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
        ("runtime", function.asked_runtime().is_some()),
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
        let input = futures_util::stream::iter([Ok(call.input)]);
        // Held until the run ends or is dropped, then its group killed.
        let mut record = None;
        let spawned = |pid| {
            tracing::debug!(pid, "a process runs the call");
            record = self.records.write(pid);
        };
        let outcome = watchdog::runner::run_with(&job, input, spawned).await;
        drop(record);
        outcome.map_err(|e| BackendError::Start(e.to_string()))
    }
}
