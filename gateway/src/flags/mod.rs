//! Command-line flags with environment fallbacks; the doc comments are
//! `gateway --help` and `gateway agent --help` ([`agent`]). The flag groups
//! both take are in [`groups`]. Nothing past [`parse`] knows clap.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

mod agent;
mod groups;

use crate::config::{
    AgentService, AgentsConfig, AuthConfig, BackendKind, CallbackConfig, Caps, Config, LoginLimits,
    ReplicaConfig, ScalingLimits,
};
use groups::{duration, items, SharedArgs, MIB};

/// The faas gateway: routes calls to functions, queues them FIFO under a
/// quota, keeps their results and logs, and serves the management API.
#[derive(Debug, Parser)]
#[command(name = "gateway", version)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address to listen on [default: 127.0.0.1 with the process backend, else 0.0.0.0]
    #[arg(long, env = "FAAS_BIND")]
    bind: Option<IpAddr>,
    /// Port to listen on (0: any free port, printed at start)
    #[arg(long, env = "FAAS_PORT", default_value_t = 8080)]
    port: u16,
    /// Directory of the SQLite database and the generated admin password
    #[arg(long, env = "FAAS_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Where functions run: auto picks swarm on a Swarm manager, else docker if an engine answers, else process
    #[arg(long, env = "FAAS_BACKEND", value_enum, default_value_t = Backend::Auto)]
    backend: Backend,
    /// Calls executing at once across the gateway
    #[arg(long, env = "FAAS_QUOTA", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    quota: u32,
    /// Waiting calls per function; beyond it calls get 429 with Retry-After
    #[arg(long, env = "FAAS_MAX_QUEUE", default_value_t = 1000)]
    max_queue: usize,
    /// Bytes of async outputs kept per function; the oldest rotate out (410)
    #[arg(long, env = "FAAS_OUTPUT_CACHE_BYTES", default_value_t = 50 * MIB)]
    output_cache_bytes: u64,
    /// Bytes of call events and records kept per function; the oldest ended calls rotate out
    #[arg(long, env = "FAAS_LOG_CACHE_BYTES", default_value_t = 50 * MIB)]
    log_cache_bytes: u64,
    /// Bytes of the whole database; beyond them the oldest ended calls of every function are removed
    #[arg(long, env = "FAAS_MAX_DB_BYTES", default_value_t = 1024 * MIB)]
    max_db_bytes: u64,
    /// Largest STDIN (413 beyond) and STDOUT of one call
    #[arg(long, env = "FAAS_MAX_PAYLOAD_BYTES", default_value_t = MIB)]
    max_payload_bytes: u64,
    /// Largest total size of a call's request headers; beyond it, 431
    #[arg(long, env = "FAAS_MAX_HEADER_BYTES", default_value_t = 64 * 1024)]
    max_header_bytes: u64,
    /// Most replicas of any function, above its com.openfaas.scale.max too
    #[arg(long, env = "FAAS_MAX_REPLICAS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    max_replicas: u64,
    /// How long the autoscaler must want fewer replicas of a service function before it scales it down (seconds or units: 10, 30s, 1m)
    #[arg(long, env = "FAAS_SCALE_DOWN_DELAY", default_value = "10s", value_parser = duration)]
    scale_down_delay: Duration,
    /// How old a queued async call may get before it starts; still queued at that age, it ends EXPIRED without running (a function's maxAge wins); unset: unbounded (seconds or units: 30, 30s, 5m)
    #[arg(long, env = "FAAS_MAX_CALL_AGE", value_parser = duration)]
    max_call_age: Option<Duration>,
    /// Put /function/… and /async-function/… behind the admin credentials
    #[arg(long, env = "FAAS_INVOKE_AUTH", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    invoke_auth: bool,
    /// File holding the admin password [default: generated into the data dir]
    #[arg(long, env = "FAAS_BASIC_AUTH_PASSWORD_FILE")]
    basic_auth_password_file: Option<PathBuf>,
    /// The functions network: every function container joins it unless its deployment says otherwise (an attachable overlay on swarm, default faas-functions; a bridge on docker, default faas-functions-bridge; created when missing)
    #[arg(long, env = "FAAS_NETWORK")]
    network: Option<String>,
    /// Callback targets allowed besides public addresses: CIDRs, addresses or host names, comma-separated (loopback and private networks are refused unless listed)
    #[arg(long, env = "FAAS_CALLBACK_ALLOW", value_delimiter = ',')]
    callback_allow: Vec<String>,
    /// PEM file of CA certificates trusted for https callbacks, besides the public roots
    #[arg(long, env = "FAAS_CALLBACK_CA_FILE")]
    callback_ca_file: Option<PathBuf>,
    #[command(flatten)]
    shared: SharedArgs,
    /// An agent to run per-call calls on, host:port (repeatable, or comma-separated in the variable); see also --agent-service
    #[arg(long = "agent", env = "FAAS_AGENTS", value_delimiter = ',')]
    agents: Vec<String>,
    /// The Swarm service of the agents (the stack's global `agent` service, e.g. faas_agent): found from the manager's task list
    #[arg(long, env = "FAAS_AGENT_SERVICE")]
    agent_service: Option<String>,
    /// The port the agents of --agent-service listen on
    #[arg(long, env = "FAAS_AGENT_PORT", default_value_t = 8081)]
    agent_port: u16,
    /// How often the agents are found and asked for their status; one that does not answer gets no calls until it does
    #[arg(long, env = "FAAS_AGENT_POLL", default_value = "2s", value_parser = duration)]
    agent_poll: Duration,
    /// A connection to a service replica not made within this time fails and the call moves to another replica (nothing was sent yet)
    #[arg(long, env = "FAAS_REPLICA_CONNECT_TIMEOUT", default_value = "2s", value_parser = duration)]
    replica_connect_timeout: Duration,
    /// A service replica that failed to connect is skipped by new calls this long, unless no other is ready
    #[arg(long, env = "FAAS_REPLICA_QUARANTINE", default_value = "5s", value_parser = duration)]
    replica_quarantine: Duration,
    /// Failed logins (wrong credentials) a client address may make before it is locked out: 429 with Retry-After, the credentials not even checked
    #[arg(long, env = "FAAS_LOGIN_ATTEMPTS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    login_attempts: u32,
    /// The first lockout of an address after --login-attempts failures; each further failure doubles it
    #[arg(long, env = "FAAS_LOGIN_LOCKOUT", default_value = "1s", value_parser = duration)]
    login_lockout: Duration,
    /// The longest lockout (at least --login-lockout)
    #[arg(long, env = "FAAS_LOGIN_LOCKOUT_MAX", default_value = "5m", value_parser = duration)]
    login_lockout_max: Duration,
    /// How often each function's calls, latency, queue and replicas are sampled for the portal's plots (the last 15 minutes are kept); 1s to 1m
    #[arg(long, env = "FAAS_SAMPLE_INTERVAL", default_value = "5s", value_parser = sample_interval)]
    sample_interval: Duration,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run as an agent: per-call calls (and their warm containers) on this node's engine, for the gateway
    Agent(Box<agent::AgentArgs>),
    /// The gateway's own supervisor of its function processes, started by it
    #[command(hide = true)]
    Supervise(SuperviseArgs),
}

#[derive(Debug, clap::Args)]
struct SuperviseArgs {
    /// The data directory whose records of running calls it clears
    #[arg(long)]
    data_dir: PathBuf,
}

/// What the binary is asked to be.
pub enum Run {
    Gateway(Box<Config>),
    Agent(Box<crate::agent_server::AgentConfig>),
    /// The supervisor of the function processes of the gateway that
    /// started it, over this data directory.
    Supervise(PathBuf),
}

/// A sampling interval: from a second to a minute.
fn sample_interval(text: &str) -> Result<Duration, String> {
    match watchdog::duration::parse(text) {
        Some(d) if d >= Duration::from_secs(1) && d <= Duration::from_secs(60) => Ok(d),
        _ => Err(format!(
            "{text:?} is not a duration from 1s to 1m: use seconds (5) or units (30s, 1m)"
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    Auto,
    Process,
    Docker,
    Swarm,
}

/// Parses the process's arguments and environment: the gateway's
/// [`Config`], or an agent's.
pub fn parse() -> anyhow::Result<Run> {
    let mut args = Args::parse();
    match args.command.take() {
        Some(Command::Agent(agent)) => Ok(Run::Agent(Box::new((*agent).into_config()?))),
        Some(Command::Supervise(args)) => Ok(Run::Supervise(args.data_dir)),
        None => Ok(Run::Gateway(Box::new(args.into_config()?))),
    }
}

impl Args {
    fn logins(&self) -> anyhow::Result<LoginLimits> {
        anyhow::ensure!(
            self.login_lockout_max >= self.login_lockout,
            "--login-lockout-max {:?} is shorter than --login-lockout {:?}: raise it",
            self.login_lockout_max,
            self.login_lockout
        );
        Ok(LoginLimits {
            attempts: self.login_attempts,
            lockout: self.login_lockout,
            lockout_max: self.login_lockout_max,
        })
    }

    fn into_config(self) -> anyhow::Result<Config> {
        let logins = self.logins()?;
        let shared = self.shared.into_parts()?;
        let backend = match self.backend {
            Backend::Auto => BackendKind::Auto,
            Backend::Process => BackendKind::Process,
            Backend::Docker => BackendKind::Docker,
            Backend::Swarm => BackendKind::Swarm,
        };
        let bind = self.bind.unwrap_or_else(|| Config::default_bind(backend));
        Ok(Config {
            listen: SocketAddr::new(bind, self.port),
            bind_given: self.bind.is_some(),
            data_dir: self.data_dir,
            backend,
            quota: self.quota as usize,
            max_queue: self.max_queue,
            caps: Caps {
                output_bytes: self.output_cache_bytes,
                log_bytes: self.log_cache_bytes,
                database_bytes: self.max_db_bytes,
            },
            max_payload_bytes: self.max_payload_bytes,
            max_header_bytes: self.max_header_bytes,
            scaling: ScalingLimits {
                max_replicas: self.max_replicas,
                down_after: self.scale_down_delay,
            },
            auth: AuthConfig {
                password_file: self.basic_auth_password_file,
                invoke: self.invoke_auth,
                logins,
            },
            max_call_age: self.max_call_age,
            network: self.network,
            isolation: shared.isolation,
            runtimes: shared.runtimes,
            callbacks: CallbackConfig {
                allow: self.callback_allow,
                ca_file: self.callback_ca_file,
            },
            connections: shared.connections,
            sample_interval: self.sample_interval,
            pool: shared.pool,
            agents: AgentsConfig {
                addresses: items(self.agents),
                service: self
                    .agent_service
                    .filter(|s| !s.trim().is_empty())
                    .map(|name| AgentService {
                        name,
                        port: self.agent_port,
                    }),
                poll: self.agent_poll,
            },
            replicas: ReplicaConfig {
                connect_timeout: self.replica_connect_timeout,
                quarantine: self.replica_quarantine,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::groups::open_files_limit;
    use super::*;
    use crate::config::{Connections, Isolation, RuntimeFlags};

    /// The config of `gateway` given these flags and their values.
    fn config(flags: &[(&str, &str)]) -> Config {
        let args = flags.iter().flat_map(|&(flag, value)| [flag, value]);
        let argv = std::iter::once("gateway").chain(args);
        Args::try_parse_from(argv)
            .expect("args")
            .into_config()
            .expect("config")
    }

    #[test]
    fn defaults_and_flags() {
        let c = config(&[("--backend", "process")]);
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.quota, 10);
        assert_eq!(c.max_queue, 1000);
        assert_eq!(c.max_payload_bytes, MIB);
        assert_eq!(
            (c.max_header_bytes, c.scaling.max_replicas),
            (64 * 1024, 100)
        );
        assert!(!c.auth.invoke);
        let c = config(&[
            ("--backend", "process"),
            ("--bind", "0.0.0.0"),
            ("--port", "9"),
        ]);
        assert_eq!(c.listen.to_string(), "0.0.0.0:9");
        let bare = Args::try_parse_from(["gateway", "--invoke-auth"]).expect("args");
        assert!(bare.invoke_auth, "a bare --invoke-auth is true");
        let c = config(&[("--backend", "process"), ("--invoke-auth", "false")]);
        assert!(!c.auth.invoke);
        let c = config(&[("--max-header-bytes", "100"), ("--max-replicas", "3")]);
        assert_eq!((c.max_header_bytes, c.scaling.max_replicas), (100, 3));
        assert!(Args::try_parse_from(["gateway", "--max-replicas", "0"]).is_err());
        assert_eq!(c.sample_interval, Duration::from_secs(5));
        let c = config(&[("--sample-interval", "1s")]);
        assert_eq!(c.sample_interval, Duration::from_secs(1));
        for bad in ["500ms", "2m", "soon"] {
            assert!(Args::try_parse_from(["gateway", "--sample-interval", bad]).is_err());
        }
    }

    #[test]
    fn max_call_age() {
        assert_eq!(config(&[]).max_call_age, None);
        let c = config(&[("--max-call-age", "1m30s")]);
        assert_eq!(c.max_call_age, Some(Duration::from_secs(90)));
        assert!(Args::try_parse_from(["gateway", "--max-call-age", "0"]).is_err());
    }

    #[test]
    fn scale_down_delay() {
        assert_eq!(config(&[]).scaling.down_after, Duration::from_secs(10));
        for (text, delay) in [("10", 10), ("30s", 30), ("1m", 60), ("24h", 86_400)] {
            let c = config(&[("--scale-down-delay", text)]);
            assert_eq!(c.scaling.down_after, Duration::from_secs(delay), "{text}");
        }
        for bad in ["0", "0s", "25h", "soon", "10x"] {
            let err = Args::try_parse_from(["gateway", "--scale-down-delay", bad])
                .expect_err(bad)
                .to_string();
            assert!(err.contains("not a duration above zero"), "{bad}: {err}");
        }
    }

    #[test]
    fn replica_timeouts() {
        assert_eq!(config(&[]).replicas, ReplicaConfig::default());
        let c = config(&[
            ("--replica-connect-timeout", "500ms"),
            ("--replica-quarantine", "1m"),
        ]);
        assert_eq!(
            (c.replicas.connect_timeout, c.replicas.quarantine),
            (Duration::from_millis(500), Duration::from_secs(60))
        );
        for flag in ["--replica-connect-timeout", "--replica-quarantine"] {
            assert!(Args::try_parse_from(["gateway", flag, "0"]).is_err());
        }
    }

    #[test]
    fn runtimes_are_asked_not_resolved() {
        let c = config(&[]);
        assert_eq!(c.runtimes, RuntimeFlags::default());
        assert!(!c.runtimes.names_one(), "auto until the engine is found");
        let c = config(&[("--runtime", "runc"), ("--allow-runtimes", "runc, runsc,")]);
        assert_eq!(c.runtimes.default, "runc");
        assert_eq!(c.runtimes.allow, ["runc", "runsc"]);
        assert!(c.backend().runtimes.names_one());
    }

    #[test]
    fn backends_and_quota_zero_rejected() {
        assert_eq!(
            config(&[("--backend", "docker")]).backend,
            BackendKind::Docker
        );
        assert_eq!(
            config(&[("--backend", "swarm")]).backend,
            BackendKind::Swarm
        );
        assert_eq!(config(&[]).backend, BackendKind::Auto);
        assert!(!config(&[]).bind_given);
        assert_eq!(config(&[]).network, None);
        assert_eq!(config(&[]).isolation, Isolation::default());
        let c = config(&[
            ("--allow-networks", "host,other"),
            ("--allow-capabilities", "cap_net_raw"),
            ("--pids-limit", "64"),
            ("--default-memory-limit", "1g"),
        ]);
        assert_eq!(c.isolation.allow_networks, ["host", "other"]);
        assert_eq!(c.isolation.allow_capabilities, ["NET_RAW"]);
        assert_eq!(
            (c.isolation.pids_limit, c.isolation.default_memory),
            (64, 1_000_000_000)
        );
        assert!(Args::try_parse_from(["gateway", "--default-memory-limit", "1k"]).is_err());
        assert!(Args::try_parse_from(["gateway", "--pids-limit", "0"]).is_err());
        let none = config(&[("--allow-capabilities", ""), ("--allow-networks", "")]);
        assert!(none.isolation.allow_capabilities.is_empty());
        assert!(none.isolation.allow_networks.is_empty());
        assert!(Args::try_parse_from(["gateway", "--backend", "kubernetes"]).is_err());
        assert!(Args::try_parse_from(["gateway", "--quota", "0"]).is_err());
    }

    #[test]
    fn connection_bounds() {
        let c = config(&[]).connections;
        assert_eq!(c.header_timeout, Duration::from_secs(10));
        assert_eq!(c.body_idle_timeout, Duration::from_secs(30));
        assert_eq!(c.idle_timeout, Duration::from_secs(60));
        assert_eq!(
            c.max_connections,
            Connections::default_max(open_files_limit())
        );
        let c = config(&[
            ("--header-timeout", "1"),
            ("--body-idle-timeout", "500ms"),
            ("--idle-timeout", "1m30s"),
            ("--max-connections", "20"),
        ])
        .connections;
        assert_eq!(c.header_timeout, Duration::from_secs(1));
        assert_eq!(c.body_idle_timeout, Duration::from_millis(500));
        assert_eq!(c.idle_timeout, Duration::from_secs(90));
        assert_eq!(c.max_connections, 20);
        assert_eq!(c.reserved_connections, 2, "a tenth by default");
        assert_eq!(c.body_min_rate, 1024);
        assert_eq!(c.body_min_rate_grace, Duration::from_secs(10));
        let c = config(&[
            ("--max-connections", "10"),
            ("--reserved-connections", "0"),
            ("--body-min-rate", "100"),
            ("--body-min-rate-grace", "2s"),
        ])
        .connections;
        assert_eq!(c.reserved_connections, 0);
        assert_eq!(
            (c.body_min_rate, c.body_min_rate_grace),
            (100, Duration::from_secs(2))
        );
        for bad in [
            ["--header-timeout", "0"],
            ["--idle-timeout", "soon"],
            ["--body-idle-timeout", "1e15"],
            ["--max-connections", "0"],
            ["--body-min-rate", "0"],
            ["--body-min-rate-grace", "0"],
        ] {
            assert!(Args::try_parse_from(["gateway", bad[0], bad[1]]).is_err());
        }
        let args = ["--max-connections", "5", "--reserved-connections", "5"];
        let argv = std::iter::once("gateway").chain(args);
        let err = Args::try_parse_from(argv).expect("args").into_config();
        let err = err.expect_err("no ordinary room").to_string();
        assert!(
            err.contains("--reserved-connections 5 must be below --max-connections 5"),
            "{err}"
        );
    }

    #[test]
    fn reserved_connections_scale_with_the_cap() {
        for (max, reserved) in [(1, 0), (2, 1), (10, 1), (768, 76), (16_384, 256)] {
            assert_eq!(Connections::default_reserved(max), reserved, "of {max}");
        }
    }

    #[test]
    fn login_limits() {
        let l = config(&[]).auth.logins;
        assert_eq!(l, crate::config::LoginLimits::default());
        assert_eq!(l.attempts, 10);
        let l = config(&[
            ("--login-attempts", "3"),
            ("--login-lockout", "2s"),
            ("--login-lockout-max", "1m"),
        ])
        .auth
        .logins;
        assert_eq!(
            (l.attempts, l.lockout, l.lockout_max),
            (3, Duration::from_secs(2), Duration::from_secs(60))
        );
        assert!(Args::try_parse_from(["gateway", "--login-attempts", "0"]).is_err());
        let argv = [
            "gateway",
            "--login-lockout",
            "1m",
            "--login-lockout-max",
            "1s",
        ];
        let err = Args::try_parse_from(argv).expect("args").into_config();
        assert!(err.is_err(), "a longest lockout below the first");
    }

    #[test]
    fn warm_container_bounds() {
        let p = config(&[]).pool;
        assert_eq!(p.idle, Duration::from_secs(300));
        assert_eq!((p.per_function, p.total), (4, 32));
        assert_eq!(p.memory_bytes, 2048 * MIB);
        assert_eq!(p.launcher_image, "faas/fwatchdog:latest");
        let p = config(&[("--pool-idle", "2s"), ("--pool-per-function", "0")]).pool;
        assert_eq!((p.idle, p.per_function), (Duration::from_secs(2), 0));
        assert!(Args::try_parse_from(["gateway", "--pool-idle", "0"]).is_err());
    }

    #[test]
    fn agents_and_the_agent_mode() {
        let a = config(&[]).agents;
        assert!(!a.any());
        assert_eq!(a.poll, Duration::from_secs(2));
        let a = config(&[
            ("--agent", "a:1"),
            ("--agent", "b:2,c:3"),
            ("--agent-service", "faas_agent"),
        ])
        .agents;
        assert_eq!(a.addresses, ["a:1", "b:2", "c:3"]);
        let service = a.service.expect("the agents' service");
        assert_eq!((service.name.as_str(), service.port), ("faas_agent", 8081));
        let agent = |args: &[&str]| {
            let argv = ["gateway", "agent", "--basic-auth-password-file", "/pw"];
            let mut args_ = Args::try_parse_from(argv.iter().chain(args)).expect("args");
            match args_.command.take() {
                Some(Command::Agent(agent)) => (*agent).into_config().expect("config"),
                _ => panic!("not the agent mode"),
            }
        };
        let c = agent(&[]);
        assert_eq!(c.listen.to_string(), "127.0.0.1:8081");
        assert_eq!((c.slots, c.containers.owner.as_deref()), (16, None));
        assert_eq!(c.max_payload_bytes, MIB);
        assert_eq!(c.containers.isolation, Isolation::default());
        assert_eq!(c.containers.pool, config(&[]).pool);
        let c = agent(&[
            "--slots",
            "2",
            "--owner",
            "x",
            "--allow-networks",
            "host",
            "--pool-max",
            "3",
        ]);
        assert_eq!((c.slots, c.containers.owner.as_deref()), (2, Some("x")));
        assert_eq!(
            (
                c.containers.isolation.allow_networks.as_slice(),
                c.containers.pool.total
            ),
            (&["host".to_string()][..], 3)
        );
        assert!(Args::try_parse_from([
            "gateway",
            "agent",
            "--basic-auth-password-file",
            "/pw",
            "--slots",
            "0"
        ])
        .is_err());
    }

    #[test]
    fn the_supervisor_is_a_hidden_mode() {
        let argv = ["gateway", "supervise", "--data-dir", "/d"];
        let args = Args::try_parse_from(argv).expect("args");
        match args.command {
            Some(Command::Supervise(s)) => assert_eq!(s.data_dir, PathBuf::from("/d")),
            _ => panic!("not the supervisor"),
        }
        let help = <Args as clap::CommandFactory>::command()
            .render_help()
            .to_string();
        assert!(
            help.contains("agent") && !help.contains("supervise"),
            "{help}"
        );
    }

    #[test]
    fn default_connection_cap_leaves_files_for_the_rest() {
        for (open_files, max) in [(1024, 768), (256, 128), (20_000, 16_384), (1, 1)] {
            assert_eq!(Connections::default_max(open_files), max, "of {open_files}");
        }
    }
}
