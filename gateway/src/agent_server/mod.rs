//! `gateway agent`: the same binary run on one node of a Swarm (a `global`
//! service), running per-call calls — with their warm pool — on its own
//! node's engine for the gateway, which keeps the one queue, quota and
//! store (the gateway's side is `backend::percall::agents`).
//!
//! - its flags are `flags::agent`'s (with the gateway's environment fallbacks);
//! - `backend::percall::agents::wire`: what the gateway and an agent say to each other;
//! - [`api`]: its HTTP API, every route behind the gateway's token:
//!   `GET /agent/status`, `POST /agent/invoke`, `POST /agent/forget`,
//!   `GET /agent/usage`.
//!
//! An agent runs containers, so it trusts nothing it is sent: the token is
//! derived from the gateway's admin password, bodies are bounded, and a
//! function's spec is checked as the gateway's deploy checks it, against
//! the agent's own allow-lists, before anything runs.

pub mod api;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::backend::container::{engine, labels, network, resources, Engine};
use crate::backend::open::resolve_runtimes;
use crate::backend::percall::agents::wire;
use crate::backend::percall::pool::Pool;
use crate::config::{Connections, Isolation, PoolConfig, RuntimeFlags};
use crate::function::Function;

/// The agent's configuration.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub listen: SocketAddr,
    pub connections: Connections,
    /// The gateway's admin password, which the token is derived from.
    pub password_file: PathBuf,
    /// Calls it runs at once; more are refused (503).
    pub slots: usize,
    pub max_payload_bytes: u64,
    /// How it makes the calls' containers.
    pub containers: CallContainers,
}

/// How an agent makes the containers of the calls it runs.
#[derive(Debug, Clone)]
pub struct CallContainers {
    /// The owner label of its containers; `None`: one per engine.
    pub owner: Option<String>,
    /// The functions network; `None`: as the gateway's default.
    pub network: Option<String>,
    /// The runtimes it may give containers; a call naming another is
    /// refused, and goes to another node.
    pub runtimes: RuntimeFlags,
    pub isolation: Isolation,
    pub pool: PoolConfig,
}

/// What every handler of the agent holds.
pub struct Agent {
    pub engine: Engine,
    pub pool: Pool,
    pub token: String,
    pub config: AgentConfig,
    pub slots: Arc<Semaphore>,
    /// What `GET /agent/status` says of the node.
    pub node: wire::Status,
    /// The spec each function's pool was made from: a changed one is
    /// checked again and drains the pool.
    pub specs: Mutex<HashMap<String, Function>>,
}

/// Serves the agent on `listener` until `shutdown`.
pub async fn run(
    listener: TcpListener,
    config: AgentConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let agent = Arc::new(open(config).await?);
    let address = listener.local_addr()?;
    // On STDOUT, not through `tracing`, as the gateway's own: how whatever
    // started the agent learns its address, whatever `RUST_LOG` says.
    println!(
        "agent listening on http://{address} (node {} {}, owner {})",
        agent.node.hostname, agent.node.node_id, agent.engine.owner
    );
    let limits = agent.config.connections;
    let admit = api::admit(agent.clone());
    crate::connection::serve(listener, api::router(agent), limits, admit, shutdown).await;
    Ok(())
}

/// Connects to the node's engine, removes the per-call and warm
/// containers an earlier agent on it left, and opens the pool.
async fn open(config: AgentConfig) -> anyhow::Result<Agent> {
    let password = crate::auth::read(&config.password_file)?;
    let docker = engine::local()
        .await
        .map_err(|e| anyhow::anyhow!(e.line()))?;
    let info = docker
        .info()
        .await
        .context("cannot read the Docker Engine's info")?;
    let swarm = info.swarm.as_ref();
    let node_id = swarm.and_then(|s| s.node_id.clone()).unwrap_or_default();
    let in_swarm = !node_id.is_empty();
    // One owner per engine: a restarted agent removes what the last left.
    let owner = config.containers.owner.clone().unwrap_or_else(|| {
        format!(
            "agent-{}",
            info.id.clone().unwrap_or_else(|| node_id.clone())
        )
    });
    let network = config
        .containers
        .network
        .clone()
        .unwrap_or_else(|| Isolation::default_network(in_swarm).to_string());
    let cpus = resources::engine_cpus(&info);
    let runtimes = resolve_runtimes(&docker, &config.containers.runtimes).await?;
    let engine = Engine {
        docker,
        owner: owner.clone(),
        network: network.clone(),
        max_payload_bytes: config.max_payload_bytes,
        cpus,
        isolation: config.containers.isolation.clone(),
        runtimes: runtimes.clone(),
        secret_files: None,
    };
    let leftovers = [labels::CALL.to_string(), labels::owned_by(&owner)];
    let removed = engine
        .remove_labelled(&leftovers)
        .await
        .map_err(|e| anyhow::anyhow!(e.line()))?;
    if removed > 0 {
        tracing::info!("removed {removed} call containers left by an earlier agent");
    }
    // The gateway made the network (of its backend's driver); a missing
    // one is made here, but a worker cannot create an overlay: it attaches
    // containers to the manager's by name.
    let exists = network::exists(&engine.docker, &network)
        .await
        .map_err(|e| anyhow::anyhow!(e.line()))?;
    if !exists {
        if let Err(e) = network::ensure(&engine.docker, &network, in_swarm, &owner).await {
            if in_swarm {
                tracing::info!("the functions network {network}: {}", e.line());
            } else {
                anyhow::bail!(e.line());
            }
        }
    }
    let pool = Pool::new(engine.clone(), config.containers.pool.clone())
        .await
        .map_err(|e| anyhow::anyhow!(e.line()))?;
    let node = wire::Status {
        node_id,
        hostname: info.name.clone().unwrap_or_default(),
        os: info.os_type.clone().unwrap_or_default(),
        arch: info.architecture.clone().unwrap_or_default(),
        slots: config.slots,
        runtimes: runtimes.allowed,
        node_default_runtime: info.default_runtime.clone().unwrap_or_default(),
        ..Default::default()
    };
    Ok(Agent {
        engine,
        pool,
        token: wire::token(&password),
        slots: Arc::new(Semaphore::new(config.slots)),
        config,
        node,
        specs: Mutex::default(),
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
