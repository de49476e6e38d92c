//! Start-up: the engine functions run on is found once — `auto` is Swarm
//! when the local engine is a Swarm manager, else Docker when an engine
//! answers, else local processes; an explicit `docker` or `swarm` with no
//! engine is an error — and the backend is composed from its parts, each
//! with its own configuration. The runtime's `auto` is resolved here too,
//! against the engine's registered runtimes. Nothing past this module
//! knows `auto`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bollard::Docker;

use super::container::engine::{self, Settings};
use super::container::runtime::{self, RuntimeFlags, Runtimes};
use super::container::setup::Isolation;
use super::container::{usage, Engine, EngineError, ReplicaKey, UsageCache};
use super::front::{Backend, Parts};
use super::percall::agents::{spread::Spread, Agents, AgentsConfig};
use super::percall::pool::{Pool, PoolConfig};
use super::percall::process::ProcessBackend;
use super::percall::Runner;
use super::secrets::files::SecretFiles;
use super::secrets::swarm::SwarmSecrets;
use super::service::containers::ReplicaSet;
use super::service::processes::ProcessCounts;
use super::service::swarm::SwarmServices;
use super::service::ReplicaConfig;

/// Where functions run, once decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Local processes through the watchdog library; no Docker.
    Process,
    /// Containers on a Docker Engine.
    Docker,
    /// Swarm services and containers on a Docker Swarm manager.
    Swarm,
}

/// What the gateway asks for (`--backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// Decided at start from the engine found.
    Auto,
    Is(Kind),
}

/// The engine found at start, opened once and handed to the backend.
pub struct Found {
    kind: Kind,
    docker: Option<Docker>,
    /// Whether `docker` is a Swarm manager (whose task list finds agents).
    manager: bool,
    asked: Asked,
}

impl Found {
    /// Finds what `asked` means on this machine now.
    pub async fn probe(asked: Asked) -> anyhow::Result<Found> {
        let docker = match asked {
            Asked::Is(Kind::Process) => None,
            Asked::Is(_) => Some(
                engine::local()
                    .await
                    .map_err(|e| anyhow::anyhow!(e.line()))?,
            ),
            Asked::Auto => match engine::local().await {
                Ok(docker) => Some(docker),
                Err(why) => {
                    tracing::info!(
                        "backend auto: {}; using process (functions run as local commands; images are recorded, not used)",
                        why.line()
                    );
                    None
                }
            },
        };
        let manager = match &docker {
            Some(docker) => engine::is_swarm_manager(docker).await,
            None => false,
        };
        let kind = match (asked, &docker) {
            (Asked::Is(kind), _) => kind,
            (Asked::Auto, None) => Kind::Process,
            (Asked::Auto, Some(_)) if manager => Kind::Swarm,
            (Asked::Auto, Some(_)) => Kind::Docker,
        };
        Ok(Found {
            kind,
            docker,
            manager,
            asked,
        })
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }
}

/// What the backend is built from: each part's own configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The functions network (and, on Swarm, the gateway's); `None`: the
    /// engine's default ([`Isolation::default_network`]).
    pub network: Option<String>,
    /// How function containers are confined.
    pub isolation: Isolation,
    /// The OCI runtimes function containers may be given, as asked.
    pub runtimes: RuntimeFlags,
    /// Warm single-use containers of per-call functions.
    pub pool: PoolConfig,
    /// How calls reach service replicas.
    pub replicas: ReplicaConfig,
    /// The agents per-call calls are sent to.
    pub agents: AgentsConfig,
    /// Where the gateway's id, the replicas' key and a plain engine's
    /// secret files are kept.
    pub data_dir: PathBuf,
    /// Largest STDIN and STDOUT of one call.
    pub max_payload_bytes: u64,
}

/// Opens the backend on the engine `found`; `password` (the admin
/// password) is what the agents' token is derived from.
pub async fn open(found: Found, config: &Config, password: &str) -> anyhow::Result<Backend> {
    let owner = owner_id(&config.data_dir)?;
    let Found {
        kind,
        docker,
        manager,
        asked,
    } = found;
    let docker = match (kind, docker) {
        (Kind::Process, _) | (_, None) => return processes(config, asked),
        (_, Some(docker)) => docker,
    };
    let swarm = kind == Kind::Swarm;
    let runtimes = resolve_runtimes(&docker, &config.runtimes).await?;
    let network = config
        .network
        .clone()
        .unwrap_or_else(|| Isolation::default_network(swarm).to_string());
    let agents = Agents::start(&config.agents, password, manager.then(|| docker.clone())).await;
    let key = ReplicaKey::open(&config.data_dir).map_err(anyhow::Error::msg)?;
    let line = |e: EngineError| anyhow::anyhow!(e.line());
    let secret_files = match swarm {
        true => None,
        false => Some(secret_files(&config.data_dir).map_err(line)?),
    };
    let settings = Settings {
        owner,
        network,
        overlay: swarm,
        max_payload_bytes: config.max_payload_bytes,
        isolation: config.isolation.clone(),
        runtimes,
        secret_files: secret_files.as_ref().map(|s| s.dir().to_path_buf()),
    };
    let engine = Engine::open(docker, settings).await.map_err(line)?;
    let pool = Pool::new(engine.clone(), config.pool.clone())
        .await
        .map_err(line)?;
    let usage = match (&agents, swarm) {
        (Some(agents), true) => UsageCache::start(Spread {
            engine: engine.clone(),
            agents: agents.clone(),
            own_node: Default::default(),
        }),
        _ => UsageCache::start(usage::Local(engine.clone())),
    };
    let runner = Runner::Containers { pool, agents };
    let parts = match secret_files {
        Some(files) => {
            let replicas = Arc::new(ReplicaSet::new(engine.clone(), config.replicas, key));
            Parts {
                name: "docker",
                engine: Some(engine),
                runner,
                services: replicas.clone(),
                logs: Some(replicas),
                secrets: Some(Arc::new(files)),
                usage: Some(usage),
            }
        }
        None => {
            let services = Arc::new(SwarmServices::new(engine.clone(), config.replicas, key));
            Parts {
                name: "swarm",
                engine: Some(engine.clone()),
                runner,
                services: services.clone(),
                logs: Some(services),
                secrets: Some(Arc::new(SwarmSecrets { engine })),
                usage: Some(usage),
            }
        }
    };
    Ok(Backend::new(parts))
}

/// The runtimes of `docker` as `flags` allow them, `auto` resolved; says
/// in one line at start what isolates function containers.
pub async fn resolve_runtimes(docker: &Docker, flags: &RuntimeFlags) -> anyhow::Result<Runtimes> {
    let registered = runtime::registered(docker)
        .await
        .map_err(|e| anyhow::anyhow!(e.line()))?;
    let runtimes = Runtimes::resolve(flags, &registered).map_err(anyhow::Error::msg)?;
    let line = runtimes.start_line(flags);
    match runtimes.default.as_str() {
        runtime::GVISOR => tracing::info!("{line}"),
        _ => tracing::warn!("{line}"),
    }
    Ok(runtimes)
}

/// The backend of local processes. An explicit `--runtime` is refused: no
/// container runs, so nothing can be given one.
fn processes(config: &Config, asked: Asked) -> anyhow::Result<Backend> {
    if config.runtimes.names_one() {
        anyhow::bail!(
            "--runtime {}: the process backend runs functions as local commands, in no container, so no runtime can be given; leave --runtime out (auto) or run with --backend docker or swarm",
            config.runtimes.default
        );
    }
    if !config.runtimes.allow.is_empty() {
        tracing::warn!(
            "backend process: --allow-runtimes is not used (no container runs; a deployment naming a runtime is refused)"
        );
    }
    if config.agents.any() {
        tracing::warn!(
            "backend process: --agent and --agent-service are not used (agents run containers)"
        );
    }
    if asked == Asked::Is(Kind::Process) {
        tracing::info!(
            "backend process: functions run as local commands; images are recorded, not used"
        );
    }
    let runner = ProcessBackend::new(&config.data_dir).map_err(|e| {
        let dir = config.data_dir.join("processes");
        anyhow::anyhow!(
            "cannot keep the records of running calls in {}: {e}",
            dir.display()
        )
    })?;
    Ok(Backend::new(Parts {
        name: "process",
        engine: None,
        runner: Runner::Processes(runner),
        services: Arc::new(ProcessCounts::default()),
        logs: None,
        secrets: None,
        usage: None,
    }))
}

/// The secret files a plain engine's containers mount, kept in
/// `data_dir`; containers mount them by their absolute path on the host.
fn secret_files(data_dir: &Path) -> Result<SecretFiles, EngineError> {
    let dir = std::path::absolute(data_dir.join("secrets"))
        .map_err(|e| EngineError::Misfit(format!("cannot find the data directory: {e}")))?;
    SecretFiles::open(dir.clone()).map_err(|e| {
        EngineError::Misfit(format!("cannot open the secrets in {}: {e}", dir.display()))
    })
}

/// This gateway's id, kept in its data directory: the label on everything it
/// creates on a Docker Engine, so it removes only its own leftovers.
fn owner_id(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("gateway-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() {
            return Ok(id.to_string());
        }
    }
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    crate::files::create_file(&path, false)
        .and_then(|mut file| std::io::Write::write_all(&mut file, id.as_bytes()))
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(id)
}
