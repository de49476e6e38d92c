//! The gateway's configuration as the rest of the program sees it: a plain
//! struct, with no knowledge of flags or environment variables.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub use crate::autoscale::ScalingLimits;
pub use crate::backend::container::runtime::RuntimeFlags;
pub use crate::backend::container::setup::Isolation;
use crate::backend::open::{Asked, Kind};
pub use crate::backend::percall::agents::{AgentService, AgentsConfig};
pub use crate::backend::percall::pool::PoolConfig;
pub use crate::backend::service::ReplicaConfig;
pub use crate::callback::CallbackConfig;
pub use crate::store::Caps;

/// Where functions run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// Swarm if the engine is a Swarm manager, else Docker if one answers,
    /// else Process (decided at start).
    Auto,
    /// Local processes through the watchdog library; no Docker.
    Process,
    /// Containers on a Docker Engine.
    Docker,
    /// Swarm services and containers on a Docker Swarm manager.
    Swarm,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The address and port to listen on.
    pub listen: SocketAddr,
    /// Whether the listen address was given; if not, it follows the backend.
    pub bind_given: bool,
    /// Where the SQLite database and the generated password live.
    pub data_dir: PathBuf,
    pub backend: BackendKind,
    /// Calls executing at once across the gateway.
    pub quota: usize,
    /// Waiting calls per function before 429.
    pub max_queue: usize,
    /// How old a queued async call may get before it starts, for
    /// functions without a `maxAge`; `None`: unbounded.
    pub max_call_age: Option<Duration>,
    /// What the store keeps before the oldest rotates out: per function
    /// (outputs; events and call records) and in all.
    pub caps: Caps,
    /// Largest STDIN and STDOUT of one call.
    pub max_payload_bytes: u64,
    /// Largest total of a call's request headers (names and values).
    pub max_header_bytes: u64,
    /// What bounds the autoscaler.
    pub scaling: ScalingLimits,
    /// Who may do what: the admin password, invocation, failed logins.
    pub auth: AuthConfig,
    /// The functions network (and, on Swarm, the gateway's); `None`: the
    /// backend's default ([`Isolation::default_network`]).
    pub network: Option<String>,
    /// What function containers may be given beyond the secure defaults.
    pub isolation: Isolation,
    /// The OCI runtime of function containers (`--runtime`) and those a
    /// deployment may name (`--allow-runtimes`), resolved at start.
    pub runtimes: RuntimeFlags,
    /// Where `X-Callback-Url` results may go, and the roots trusted there.
    pub callbacks: CallbackConfig,
    /// How long clients may hold connections, and how many.
    pub connections: Connections,
    /// How often each function's figures are sampled for the portal's
    /// plots (the last [`crate::samples::WINDOW`] are kept).
    pub sample_interval: Duration,
    /// Warm single-use containers of per-call functions.
    pub pool: PoolConfig,
    /// How calls reach service replicas.
    pub replicas: ReplicaConfig,
    /// The agents per-call calls are sent to.
    pub agents: AgentsConfig,
}

impl BackendKind {
    /// What the backend is asked to be, for [`crate::backend::open`].
    pub fn asked(self) -> Asked {
        match self {
            BackendKind::Auto => Asked::Auto,
            BackendKind::Process => Asked::Is(Kind::Process),
            BackendKind::Docker => Asked::Is(Kind::Docker),
            BackendKind::Swarm => Asked::Is(Kind::Swarm),
        }
    }
}

impl From<Kind> for BackendKind {
    fn from(kind: Kind) -> BackendKind {
        match kind {
            Kind::Process => BackendKind::Process,
            Kind::Docker => BackendKind::Docker,
            Kind::Swarm => BackendKind::Swarm,
        }
    }
}

impl Config {
    /// The backend's parts' own configurations, composed.
    pub fn backend(&self) -> crate::backend::open::Config {
        crate::backend::open::Config {
            network: self.network.clone(),
            isolation: self.isolation.clone(),
            runtimes: self.runtimes.clone(),
            pool: self.pool.clone(),
            replicas: self.replicas,
            agents: self.agents.clone(),
            data_dir: self.data_dir.clone(),
            max_payload_bytes: self.max_payload_bytes,
        }
    }

    /// The default listen address: loopback for the process backend, which
    /// runs commands on the host (and until `auto` is resolved).
    pub fn default_bind(backend: BackendKind) -> IpAddr {
        match backend {
            BackendKind::Process | BackendKind::Auto => IpAddr::from([127, 0, 0, 1]),
            BackendKind::Docker | BackendKind::Swarm => IpAddr::from([0, 0, 0, 0]),
        }
    }
}

/// Bounds on client connections, so that slow or idle clients cannot hold
/// the gateway's sockets and file descriptors. None of them bounds the
/// time a call takes: that is the function's own timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connections {
    /// A request head not complete this long after the connection opened,
    /// or after its first byte arrived on a kept-alive connection: closed.
    pub header_timeout: Duration,
    /// A request body that sends nothing for this long: 408, connection
    /// closed, nothing recorded.
    pub body_idle_timeout: Duration,
    /// Bytes per second a request body must keep up, on average over the
    /// time it was waited for, once `body_min_rate_grace` has passed.
    pub body_min_rate: u64,
    /// The wait a request body is allowed before `body_min_rate` counts:
    /// a body must be whole within this plus its length at the minimum
    /// rate.
    pub body_min_rate_grace: Duration,
    /// A kept-alive connection with no request for this long: closed.
    pub idle_timeout: Duration,
    /// Open connections at most, `reserved_connections` among them;
    /// further ones are closed at once.
    pub max_connections: usize,
    /// Of `max_connections`, those kept for `/healthz` and requests with
    /// the right credentials (see `connection`): the rest may all be held
    /// by slow clients without locking those out.
    pub reserved_connections: usize,
}

impl Connections {
    /// The default cap for a process that may open `open_files` files: what
    /// is left once 256 are kept back for the store, the backend and the
    /// pipes of running functions, but at least half the limit, and at most
    /// 16384.
    pub fn default_max(open_files: u64) -> usize {
        let left = open_files.saturating_sub(256);
        let max = left.max(open_files / 2).clamp(1, 16_384);
        usize::try_from(max).unwrap_or(usize::MAX)
    }

    /// The default reserve of a cap of `max` connections: a tenth, at
    /// least one and at most 256, always leaving one ordinary connection.
    pub fn default_reserved(max: usize) -> usize {
        (max / 10).clamp(1, 256).min(max.saturating_sub(1))
    }
}

/// Who may do what.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// A file holding the admin password; unset: generated into the data
    /// directory.
    pub password_file: Option<PathBuf>,
    /// Whether `/function/…` and `/async-function/…` need credentials.
    pub invoke: bool,
    /// How failed logins are throttled.
    pub logins: LoginLimits,
}

/// How failed logins are throttled, per client address (see `logins`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failed logins an address may make before it is locked.
    pub attempts: u32,
    /// The first lockout; each further failure doubles it.
    pub lockout: Duration,
    /// The longest lockout.
    pub lockout_max: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            attempts: 10,
            lockout: Duration::from_secs(1),
            lockout_max: Duration::from_secs(300),
        }
    }
}
