//! Flag groups the gateway and `gateway agent` both take, with the same
//! environment variables, and the parsers of their values.

use std::time::Duration;

use crate::config::{Connections, Isolation, PoolConfig, RuntimeFlags};
use crate::function::capability;

pub const MIB: u64 = 1024 * 1024;

/// The groups below, which the gateway and an agent both flatten in.
#[derive(Debug, clap::Args)]
pub struct SharedArgs {
    #[command(flatten)]
    isolation: IsolationArgs,
    #[command(flatten)]
    runtimes: RuntimeArgs,
    #[command(flatten)]
    connections: ConnectionArgs,
    #[command(flatten)]
    pool: PoolArgs,
}

/// What the shared groups become.
pub struct Shared {
    pub isolation: Isolation,
    pub runtimes: RuntimeFlags,
    pub connections: Connections,
    pub pool: PoolConfig,
}

impl SharedArgs {
    /// What function containers may be given and run under, the bounds on
    /// client connections and the warm containers.
    pub fn into_parts(self) -> anyhow::Result<Shared> {
        Ok(Shared {
            connections: self.connections.into_connections()?,
            isolation: self.isolation.into_isolation(),
            runtimes: self.runtimes.into_flags(),
            pool: self.pool.into_pool(),
        })
    }
}

/// The OCI runtimes function containers run under: the gateway's and an
/// agent's.
#[derive(Debug, clap::Args)]
struct RuntimeArgs {
    /// The OCI runtime of function containers whose deployment names none: auto picks runsc (gVisor: a kernel of its own in each container) when the Docker Engine has it registered, else runc (the host's kernel); or a runtime the engine has registered, among --allow-runtimes
    #[arg(long, env = "FAAS_RUNTIME", default_value = "auto")]
    runtime: String,
    /// Runtimes a deployment's "runtime" may name, comma-separated, each registered on the Docker Engine [default: every runtime the engine has registered]
    #[arg(long, env = "FAAS_ALLOW_RUNTIMES", value_delimiter = ',')]
    allow_runtimes: Vec<String>,
}

impl RuntimeArgs {
    fn into_flags(self) -> RuntimeFlags {
        RuntimeFlags {
            default: self.runtime.trim().to_string(),
            allow: items(self.allow_runtimes),
        }
    }
}

/// What function containers may be given: the gateway's and an agent's.
#[derive(Debug, clap::Args)]
struct IsolationArgs {
    /// Networks a deployment's "network" may name besides the functions network and "none", comma-separated ("host" and "container:<id>" only when listed)
    #[arg(long, env = "FAAS_ALLOW_NETWORKS", value_delimiter = ',')]
    allow_networks: Vec<String>,
    /// Capabilities a deployment's "capabilities" may add back; every other one is dropped from function containers (comma-separated, without CAP_)
    #[arg(
        long,
        env = "FAAS_ALLOW_CAPABILITIES",
        value_delimiter = ',',
        default_value = "CHOWN,DAC_OVERRIDE,FOWNER,KILL,NET_BIND_SERVICE,SETGID,SETUID"
    )]
    allow_capabilities: Vec<String>,
    /// Processes a function container may hold at once
    #[arg(long, env = "FAAS_PIDS_LIMIT", default_value_t = 512, value_parser = clap::value_parser!(i64).range(8..))]
    pids_limit: i64,
    /// Memory limit of a function whose deployment gives no limits.memory (e.g. 256Mi, 1g)
    #[arg(long, env = "FAAS_DEFAULT_MEMORY_LIMIT", default_value = "256Mi", value_parser = memory)]
    default_memory_limit: i64,
}

/// Bounds on client connections: the gateway's and an agent's.
#[derive(Debug, clap::Args)]
struct ConnectionArgs {
    /// A client that has not sent a whole request head this long after connecting (or after the first byte of its next request) is disconnected; seconds or units (1m30s)
    #[arg(long, env = "FAAS_HEADER_TIMEOUT", default_value = "10s", value_parser = duration)]
    header_timeout: Duration,
    /// A request body that sends nothing for this long ends with 408 and nothing recorded
    #[arg(long, env = "FAAS_BODY_IDLE_TIMEOUT", default_value = "30s", value_parser = duration)]
    body_idle_timeout: Duration,
    /// Bytes per second a request body must keep up (averaged over the time it is waited for, once --body-min-rate-grace has passed); slower: 408 and nothing recorded
    #[arg(long, env = "FAAS_BODY_MIN_RATE", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    body_min_rate: u64,
    /// How long a request body may be waited for before --body-min-rate counts: a body must be whole within this plus its length at that rate
    #[arg(long, env = "FAAS_BODY_MIN_RATE_GRACE", default_value = "10s", value_parser = duration)]
    body_min_rate_grace: Duration,
    /// A kept-alive connection with no request for this long is closed
    #[arg(long, env = "FAAS_IDLE_TIMEOUT", default_value = "60s", value_parser = duration)]
    idle_timeout: Duration,
    /// Open connections at most, --reserved-connections among them; further ones are closed at once [default: the open-files limit less 256, at least half of it, at most 16384]
    #[arg(long, env = "FAAS_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: Option<u32>,
    /// Of --max-connections, those kept for /healthz and requests with the right credentials, so slow clients holding the rest lock neither out [default: a tenth of --max-connections, 1 to 256]
    #[arg(long, env = "FAAS_RESERVED_CONNECTIONS")]
    reserved_connections: Option<u32>,
}

/// Warm containers: the gateway's and an agent's.
#[derive(Debug, clap::Args)]
struct PoolArgs {
    /// Warm containers (docker and swarm backends, agents): a per-call function not called for this long keeps none
    #[arg(long, env = "FAAS_POOL_IDLE", default_value = "5m", value_parser = duration)]
    pool_idle: Duration,
    /// Most warm containers of one per-call function (0: calls always start a container)
    #[arg(long, env = "FAAS_POOL_PER_FUNCTION", default_value_t = 4)]
    pool_per_function: usize,
    /// Most warm containers across functions
    #[arg(long, env = "FAAS_POOL_MAX", default_value_t = 32)]
    pool_max: usize,
    /// Most memory of warm containers across functions, each counted at its memory limit (--default-memory-limit without one)
    #[arg(long, env = "FAAS_POOL_MAX_MEMORY_BYTES", default_value_t = 2048 * MIB)]
    pool_max_memory_bytes: u64,
    /// The image whose /fwatchdog is copied into a volume and runs each warm container's one call
    #[arg(
        long,
        env = "FAAS_LAUNCHER_IMAGE",
        default_value = "faas/fwatchdog:latest"
    )]
    launcher_image: String,
}

impl IsolationArgs {
    fn into_isolation(self) -> Isolation {
        Isolation {
            allow_networks: self
                .allow_networks
                .into_iter()
                .filter(|n| !n.trim().is_empty())
                .collect(),
            allow_capabilities: self
                .allow_capabilities
                .iter()
                .map(|c| capability(c))
                .filter(|c| !c.is_empty())
                .collect(),
            pids_limit: self.pids_limit,
            default_memory: self.default_memory_limit,
        }
    }
}

impl ConnectionArgs {
    fn into_connections(self) -> anyhow::Result<Connections> {
        let max_connections = match self.max_connections {
            Some(max) => max as usize,
            None => Connections::default_max(open_files_limit()),
        };
        let reserved_connections = match self.reserved_connections {
            Some(reserved) => reserved as usize,
            None => Connections::default_reserved(max_connections),
        };
        anyhow::ensure!(
            reserved_connections < max_connections,
            "--reserved-connections {reserved_connections} must be below --max-connections {max_connections}, which counts them: lower it or raise --max-connections"
        );
        Ok(Connections {
            header_timeout: self.header_timeout,
            body_idle_timeout: self.body_idle_timeout,
            body_min_rate: self.body_min_rate,
            body_min_rate_grace: self.body_min_rate_grace,
            idle_timeout: self.idle_timeout,
            max_connections,
            reserved_connections,
        })
    }
}

impl PoolArgs {
    fn into_pool(self) -> PoolConfig {
        PoolConfig {
            idle: self.pool_idle,
            per_function: self.pool_per_function,
            total: self.pool_max,
            memory_bytes: self.pool_max_memory_bytes,
            launcher_image: self.launcher_image,
        }
    }
}

/// A list flag's items, trimmed, without the empty ones.
pub fn items(values: Vec<String>) -> Vec<String> {
    values
        .into_iter()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// A connection timeout: seconds (`30`) or units (`1m30s`, `500ms`), above
/// zero and at most a day.
pub fn duration(text: &str) -> Result<Duration, String> {
    match crate::function::parse_duration(text) {
        Some(d) => Ok(d),
        None => Err(format!(
            "{text:?} is not a duration above zero and at most a day: use seconds (30) or units (1m30s, 500ms)"
        )),
    }
}

/// A memory amount (`256Mi`, `1g`, bytes) of at least 4 MiB.
pub fn memory(text: &str) -> Result<i64, String> {
    match crate::backend::container::resources::memory_bytes(text) {
        Some(bytes) if bytes >= crate::backend::container::resources::MIN_MEMORY => Ok(bytes),
        _ => Err(format!(
            "{text:?} is not a memory amount of at least 4Mi: use e.g. 256Mi or 1g"
        )),
    }
}

/// The soft limit on this process's open files.
pub fn open_files_limit() -> u64 {
    use nix::sys::resource::{getrlimit, Resource};
    // Unknown: assume the common default.
    getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _hard)| soft)
}
