//! `gateway agent`'s flags, with environment fallbacks (the gateway's own
//! names where they mean the same, so a stack sets them once); the doc
//! comments are `gateway agent --help`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use super::groups::{SharedArgs, MIB};
use crate::agent_server::{AgentConfig, CallContainers};

#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// Address to listen on: one of a network only the gateway shares, never one functions reach (the stack gives 0.0.0.0 in a container on its agents network only)
    #[arg(long, env = "FAAS_AGENT_BIND", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to listen on (0: any free port, printed at start)
    #[arg(long, env = "FAAS_AGENT_PORT", default_value_t = 8081)]
    port: u16,
    /// The gateway's admin password file: the agent answers only requests carrying the token derived from it
    #[arg(long, env = "FAAS_BASIC_AUTH_PASSWORD_FILE")]
    basic_auth_password_file: PathBuf,
    /// The functions network per-call containers join (as the gateway's --network; default faas-functions on a Swarm node, else faas-functions-bridge)
    #[arg(long, env = "FAAS_NETWORK")]
    network: Option<String>,
    /// Largest STDIN and STDOUT of one call; a larger request body is refused (413)
    #[arg(long, env = "FAAS_MAX_PAYLOAD_BYTES", default_value_t = MIB)]
    max_payload_bytes: u64,
    /// Calls the agent runs at once; the gateway sends no more, and the agent refuses more (503)
    #[arg(long, env = "FAAS_AGENT_SLOTS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    slots: u32,
    /// The owner label of its containers, whose leftovers it removes at start [default: agent-<the engine's id>, one per engine]; set it only to run several agents on one engine
    #[arg(long, env = "FAAS_AGENT_OWNER")]
    owner: Option<String>,
    #[command(flatten)]
    shared: SharedArgs,
}

impl AgentArgs {
    pub fn into_config(self) -> anyhow::Result<AgentConfig> {
        let shared = self.shared.into_parts()?;
        Ok(AgentConfig {
            listen: SocketAddr::new(self.bind, self.port),
            connections: shared.connections,
            password_file: self.basic_auth_password_file,
            slots: self.slots as usize,
            max_payload_bytes: self.max_payload_bytes,
            containers: CallContainers {
                owner: self.owner.filter(|o| !o.trim().is_empty()),
                network: self.network.filter(|n| !n.trim().is_empty()),
                runtimes: shared.runtimes,
                isolation: shared.isolation,
                pool: shared.pool,
            },
        })
    }
}
