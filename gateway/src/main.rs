//! `gateway`: parse the flags, pick the backend (its default listen address
//! follows it; with the process backend, its supervisor is started), bind,
//! and serve until SIGTERM or Ctrl-C; `gateway agent` serves an agent
//! instead, and the hidden `gateway supervise` is that supervisor. See the
//! library's map in `lib.rs`.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use faas_gateway::backend::open::Kind;
use faas_gateway::backend::percall::process::supervisor::{self, Supervisor};
use faas_gateway::{agent_server, backend, config::Config, flags, server};

fn main() -> ExitCode {
    log_to_stderr();
    // A function running as the same user can then neither read this
    // process's environment (the password file's path) nor trace it.
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        tracing::warn!("cannot keep other processes of this user out of this one: {e}");
    }
    let run = match flags::parse() {
        Ok(run) => run,
        Err(err) => {
            eprintln!("gateway: {err:#}");
            return ExitCode::from(2);
        }
    };
    if let flags::Run::Supervise(data_dir) = &run {
        supervisor::supervise(data_dir);
        return ExitCode::SUCCESS;
    }
    let started = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| {
            runtime.block_on(async {
                match run {
                    flags::Run::Gateway(config) => serve(*config).await,
                    flags::Run::Agent(config) => serve_agent(*config).await,
                    flags::Run::Supervise(_) => Ok(()),
                }
            })
        });
    match started {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("gateway: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The log: `RUST_LOG`'s filter (`info` when unset or unreadable), on
/// STDERR, coloured only on a terminal. The line a failed run ends with
/// (`gateway: <why>`) is written directly instead, whatever the filter: it
/// is the program's answer, not its log.
fn log_to_stderr() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

async fn serve(mut config: Config) -> anyhow::Result<()> {
    let found = backend::open::Found::probe(config.backend.asked()).await?;
    config.backend = found.kind().into();
    if !config.bind_given {
        config.listen.set_ip(Config::default_bind(config.backend));
    }
    let supervisor = match found.kind() {
        Kind::Process => match Supervisor::start(&config.data_dir) {
            Ok(supervisor) => Some(supervisor),
            Err(e) => {
                tracing::warn!("cannot start the supervisor of function processes ({e}): calls running if the gateway is killed will run on until its next start");
                None
            }
        },
        Kind::Docker | Kind::Swarm => None,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let served = server::run_on(listener, config, found, server::signals()).await;
    if let Some(supervisor) = supervisor {
        supervisor.stop().await;
    }
    served
}

async fn serve_agent(config: agent_server::AgentConfig) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    agent_server::run(listener, config, server::signals()).await
}
