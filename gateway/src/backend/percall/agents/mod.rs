//! The gateway's side of the agents (`gateway agent` on each node): where
//! a per-call call runs when agents exist. The gateway keeps the one
//! queue, quota and store; [`Agents::invoke`] sends a call to the agent
//! with the most free slots (its slots less the gateway's own calls in
//! flight to it) among those whose node satisfies the function's
//! `constraints` ([`constraint`]).
//!
//! What the two say to each other is [`wire`]. Agents are the `--agent`
//! addresses and the tasks of `--agent-service`
//! ([`discover`]: the manager's task list), asked for their status every
//! `--agent-poll`; one that does not answer, or refuses a connection, gets
//! no call until it answers again. An agent lost during a call fails that
//! call (502) and never runs it again anywhere. With no agent answering,
//! calls run on the gateway's own engine; with agents answering but none
//! on a node the constraints allow, a call fails (503) saying so. A call
//! goes only to an agent whose node may give its function's runtime (as
//! its status says, and as it refuses otherwise, [`wire::NO_RUNTIME`]);
//! when none may, it runs on the gateway's own engine, or fails when its
//! function has constraints.

pub mod constraint;
pub mod discover;
pub mod spread;
pub mod wire;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use bollard::Docker;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::backend::peer;
use crate::backend::{BackendError, Invocation, Outcome};
use crate::function::Function;
use constraint::Node;

/// Where the agents are (`gateway agent` on each node), which run
/// per-call calls for the gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentsConfig {
    /// Agents at fixed addresses, `host:port`.
    pub addresses: Vec<String>,
    /// The Swarm service of the agents, found from the manager's tasks.
    pub service: Option<AgentService>,
    /// How often agents are found and asked for their status.
    pub poll: Duration,
}

impl AgentsConfig {
    /// Whether any agent may exist.
    pub fn any(&self) -> bool {
        !self.addresses.is_empty() || self.service.is_some()
    }
}

/// A Swarm service whose tasks are agents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentService {
    pub name: String,
    /// The port its agents listen on.
    pub port: u16,
}

/// How long a connection to an agent may take.
const CONNECT_LIMIT: Duration = Duration::from_secs(2);
/// How long an agent may take past the call's own timeout to answer.
const ANSWER_GRACE: Duration = Duration::from_secs(10);
/// How long an agent may take to read its replicas' stats (the engine
/// takes two samples a second apart).
const USAGE_LIMIT: Duration = Duration::from_secs(8);

/// The agents per-call calls go to. Cheap to clone.
#[derive(Clone)]
pub struct Agents {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client<HttpConnector, Full<Bytes>>,
    token: String,
    config: AgentsConfig,
    /// A Swarm manager's engine: the agents' tasks and their nodes' facts.
    manager: Option<Docker>,
    /// By address.
    known: Mutex<HashMap<String, Arc<Agent>>>,
    /// Why the agents' service could not be read last time: said once.
    discovery: Mutex<Option<String>>,
}

/// One agent as the gateway sees it.
struct Agent {
    address: String,
    /// The gateway's calls in flight to it.
    in_flight: AtomicUsize,
    seen: Mutex<Seen>,
}

#[derive(Debug, Clone, Default)]
struct Seen {
    /// Answering: it may be given calls.
    up: bool,
    slots: usize,
    node: Node,
    /// The runtimes its node may give containers; empty: not said (an
    /// older agent), tried anyway.
    runtimes: Vec<String>,
}

/// Where a call went.
pub enum Dispatch {
    /// An agent ran it (or it failed there, or no agent could take it).
    Ran(Result<Outcome, BackendError>),
    /// No agent answers: the gateway runs it on its own engine.
    Local(Invocation),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Holds a call's place in an agent's count of calls in flight.
struct InFlight(Arc<Agent>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Agents {
    /// The agents `config` names, asked for their status once before this
    /// returns and then every poll; `None` when it names none.
    /// `manager`: the engine of a Swarm manager, when the gateway has one.
    pub async fn start(
        config: &AgentsConfig,
        password: &str,
        manager: Option<Docker>,
    ) -> Option<Agents> {
        if !config.any() {
            return None;
        }
        let connector = peer::connector(CONNECT_LIMIT);
        let agents = Agents {
            inner: Arc::new(Inner {
                client: Client::builder(TokioExecutor::new()).build(connector),
                token: wire::token(password),
                config: config.clone(),
                manager,
                known: Mutex::default(),
                discovery: Mutex::default(),
            }),
        };
        agents.inner.refresh().await;
        tokio::spawn(poll(Arc::downgrade(&agents.inner), config.poll));
        Some(agents)
    }

    /// Runs `call` on an agent, its containers under `runtime` (the
    /// function's, resolved on the gateway), or hands it back to run
    /// locally when no agent answers, or none may give that runtime. A
    /// function with secrets always runs locally (an agent has none to
    /// mount).
    pub async fn invoke(&self, function: &Function, runtime: &str, call: Invocation) -> Dispatch {
        if !function.secrets.is_empty() {
            return Dispatch::Local(call);
        }
        let inner = &self.inner;
        // What agents are sent: the runtime named, so that each gives the
        // gateway's, never its own default.
        let function = Function {
            runtime: Some(runtime.to_string()),
            ..function.clone()
        };
        // Agents that declined this call (all their slots taken), and
        // those that cannot give its runtime.
        let mut declined: Vec<Arc<Agent>> = Vec::new();
        let mut lacking: Vec<Arc<Agent>> = Vec::new();
        loop {
            let agent = match inner.pick(&function, runtime, &declined, &lacking) {
                Ok(Some(agent)) => agent,
                Ok(None) => return Dispatch::Local(call),
                Err(e) => return Dispatch::Ran(Err(e)),
            };
            match inner.send(&agent, &function, &call).await {
                Sent::Answered(result) => return Dispatch::Ran(result),
                // Nothing ran there: another may run it.
                Sent::Unreached(why) => agent.down(why),
                Sent::Declined => declined.push(agent),
                Sent::Lacking(why) => {
                    tracing::debug!(agent = %agent.address, "not there: {why}");
                    lacking.push(agent);
                }
            }
        }
    }

    /// What the service replicas of the gateway `owner` use on the node of
    /// each answering agent; one that does not answer is left out.
    pub async fn usage(&self, owner: &str) -> Vec<wire::NodeUsage> {
        let inner = &self.inner;
        let agents: Vec<Arc<Agent>> = lock(&inner.known)
            .values()
            .filter(|agent| lock(&agent.seen).up)
            .cloned()
            .collect();
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("owner", owner)
            .finish();
        let path = format!("/agent/usage?{query}");
        let asks = agents
            .iter()
            .map(|agent| inner.get::<wire::NodeUsage>(&agent.address, &path, USAGE_LIMIT));
        let mut reports = Vec::new();
        for (agent, report) in agents
            .iter()
            .zip(futures_util::future::join_all(asks).await)
        {
            match report {
                Ok(report) => reports.push(report),
                Err(why) => tracing::debug!(agent = %agent.address, "no usage: {why}"),
            }
        }
        reports
    }

    /// Tells every answering agent that `name`'s warm containers are to
    /// go (its spec changed or it was removed); off the caller's path.
    pub fn forget(&self, name: &str) {
        let inner = self.inner.clone();
        let name = name.to_string();
        tokio::spawn(async move {
            let agents: Vec<Arc<Agent>> = lock(&inner.known).values().cloned().collect();
            let body = serde_json::json!({ "name": name }).to_string();
            for agent in agents.iter().filter(|a| lock(&a.seen).up) {
                let request =
                    inner.request("/agent/forget", &agent.address, Bytes::from(body.clone()));
                if let Ok(request) = request {
                    let sent = inner.client.request(request);
                    let _ = tokio::time::timeout(inner.config.poll, sent).await;
                }
            }
        });
    }
}

/// How sending a call to an agent went.
enum Sent {
    Answered(Result<Outcome, BackendError>),
    /// The connection was refused or never made, or the agent's engine
    /// does not answer: the call did not start, and the agent gets no
    /// calls until it answers its status again.
    Unreached(String),
    /// Every slot of the agent was taken: the call did not start there.
    Declined,
    /// The agent's node cannot give the call's runtime: it did not start
    /// there.
    Lacking(String),
}

impl Agent {
    fn down(&self, why: String) {
        let mut seen = lock(&self.seen);
        if seen.up {
            tracing::warn!(agent = %self.address, "the agent gets no calls until it answers again: {why}");
        }
        seen.up = false;
    }

    /// How messages name it.
    fn name(&self) -> String {
        let seen = lock(&self.seen);
        match seen.node.name() {
            "" => format!("the agent at {}", self.address),
            node => format!("the agent on node {node} ({})", self.address),
        }
    }
}

impl Inner {
    /// The answering agent with the most free slots whose node satisfies
    /// `function`'s constraints and may give `runtime`, other than those
    /// that `declined` the call or are `lacking` the runtime; `None` when
    /// no agent answers, or (for a function without constraints) none may
    /// give the runtime.
    fn pick(
        &self,
        function: &Function,
        runtime: &str,
        declined: &[Arc<Agent>],
        lacking: &[Arc<Agent>],
    ) -> Result<Option<Arc<Agent>>, BackendError> {
        let known: Vec<Arc<Agent>> = lock(&self.known).values().cloned().collect();
        let mut up = 0;
        let mut best: Option<(usize, Arc<Agent>)> = None;
        let mut full = 0;
        let mut without_runtime = 0;
        let mut nodes = Vec::new();
        for agent in known {
            let seen = lock(&agent.seen).clone();
            if !seen.up {
                continue;
            }
            up += 1;
            nodes.push(seen.node.name().to_string());
            let fits = constraint::satisfies(&seen.node, &function.constraints)
                .map_err(BackendError::Invalid)?;
            if !fits {
                continue;
            }
            let lacks = !seen.runtimes.is_empty() && !seen.runtimes.iter().any(|r| r == runtime);
            if lacks || lacking.iter().any(|l| Arc::ptr_eq(l, &agent)) {
                without_runtime += 1;
                continue;
            }
            let free = seen
                .slots
                .saturating_sub(agent.in_flight.load(Ordering::Relaxed));
            if free == 0 || declined.iter().any(|d| Arc::ptr_eq(d, &agent)) {
                full += 1;
                continue;
            }
            if best.as_ref().is_none_or(|(most, _)| free > *most) {
                best = Some((free, agent));
            }
        }
        if up == 0 {
            return Ok(None);
        }
        match best {
            Some((_, agent)) => Ok(Some(agent)),
            None if full > 0 => Err(BackendError::Unreachable(format!(
                "every agent that may run {} has all its slots taken; retry later",
                function.name
            ))),
            // The gateway's own engine has every runtime a deploy allowed.
            None if without_runtime > 0 && function.constraints.is_empty() => Ok(None),
            None if without_runtime > 0 => Err(BackendError::Unreachable(format!(
                "no agent on a node that satisfies the constraints of {} ({}) may give its runtime {runtime}: register it on their engines, or change the constraints",
                function.name,
                function.constraints.join(", ")
            ))),
            None => Err(BackendError::Unreachable(format!(
                "no agent runs on a node that satisfies the constraints of {} ({}): the agents answering are on {}; change the constraints or run an agent on such a node",
                function.name,
                function.constraints.join(", "),
                nodes.join(", ")
            ))),
        }
    }

    /// A POST of `body` to `path` on the agent at `address`.
    fn request(
        &self,
        path: &str,
        address: &str,
        body: Bytes,
    ) -> Result<hyper::Request<Full<Bytes>>, String> {
        hyper::Request::post(format!("http://{address}{path}"))
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .body(Full::new(body))
            .map_err(|e| format!("the agent's address {address} is not usable: {e}"))
    }

    /// Sends `call` to `agent` and reads its answer. The call is recorded
    /// as the agent's from the moment the request may have reached it.
    async fn send(&self, agent: &Arc<Agent>, function: &Function, call: &Invocation) -> Sent {
        agent.in_flight.fetch_add(1, Ordering::Relaxed);
        let _in_flight = InFlight(agent.clone());
        let body = match serde_json::to_vec(&wire::Invoke::new(function, call)) {
            Ok(body) => Bytes::from(body),
            Err(e) => {
                let why = format!("the call cannot be sent to an agent: {e}");
                return Sent::Answered(Err(BackendError::Invalid(why)));
            }
        };
        let request = match self.request("/agent/invoke", &agent.address, body) {
            Ok(request) => request,
            Err(why) => return Sent::Unreached(why),
        };
        let name = agent.name();
        tracing::debug!(agent = %agent.address, "sending the call");
        let lost = |why: String| {
            agent.down(why.clone());
            let _ = call.placed.set(format!("{name}: lost during the call"));
            Sent::Answered(Err(BackendError::Lost(format!(
                "{name} was lost during the call; it was not run again ({why})"
            ))))
        };
        let limit = call.timeout + ANSWER_GRACE;
        // `Err((true, _))`: the connection was never made.
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| (e.is_connect(), chain(&e)))?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| (false, chain(&e)))?;
            Ok::<_, (bool, String)>((parts, body.to_bytes()))
        };
        let (parts, body) = match tokio::time::timeout(limit, exchange).await {
            Err(_) => return lost(format!("no answer within {}s", limit.as_secs())),
            Ok(Err((true, why))) => return Sent::Unreached(why),
            Ok(Err((false, why))) => return lost(why),
            Ok(Ok(answer)) => answer,
        };
        let kind = parts
            .headers
            .get(wire::ERROR_KIND)
            .and_then(|v| v.to_str().ok());
        let line = String::from_utf8_lossy(&body);
        let line = line.lines().next().unwrap_or("").trim();
        if !parts.status.is_success() {
            match kind {
                Some(wire::UNSTARTED) => return Sent::Unreached(line.to_string()),
                Some(wire::BUSY) => return Sent::Declined,
                Some(wire::NO_RUNTIME) => return Sent::Lacking(line.to_string()),
                _ => {}
            }
        }
        // Only a call that ended, or whose node's engine failed during it,
        // ran there; a refused one (not ready in time, not startable) did not.
        let ran =
            parts.status.is_success() || kind == Some(BackendError::Lost(String::new()).kind());
        let placed = if ran {
            format!("ran by {name}")
        } else {
            format!("sent to {name}, which did not run it")
        };
        let _ = call.placed.set(placed);
        if parts.status.is_success() {
            return Sent::Answered(
                serde_json::from_slice::<wire::Ran>(&body)
                    .ok()
                    .and_then(wire::Ran::outcome)
                    .ok_or_else(|| {
                        BackendError::Unreachable(format!("{name} answered what is not an outcome"))
                    }),
            );
        }
        Sent::Answered(Err(wire::refusal(kind, line, &agent.address)))
    }

    /// Finds the agents and asks each for its status.
    async fn refresh(&self) {
        let mut addresses: Vec<String> = self.config.addresses.clone();
        if let Some(service) = &self.config.service {
            let found = match &self.manager {
                Some(manager) => discover::tasks(manager, &service.name, self.config.poll).await,
                None => Err("the gateway's engine is not a Swarm manager".to_string()),
            };
            let mut last = lock(&self.discovery);
            match found {
                Ok(tasks) => {
                    *last = None;
                    let port = service.port;
                    addresses.extend(tasks.iter().map(|t| format!("{}:{port}", t.address)));
                }
                Err(e) => {
                    if last.as_deref() != Some(e.as_str()) {
                        tracing::warn!("cannot find the agents of {}: {e}", service.name);
                    }
                    *last = Some(e);
                }
            }
        }
        let agents: Vec<Arc<Agent>> = {
            let mut known = lock(&self.known);
            known.retain(|address, _| addresses.contains(address));
            addresses
                .iter()
                .map(|address| {
                    known
                        .entry(address.clone())
                        .or_insert_with(|| {
                            Arc::new(Agent {
                                address: address.clone(),
                                in_flight: AtomicUsize::new(0),
                                seen: Mutex::default(),
                            })
                        })
                        .clone()
                })
                .collect()
        };
        let asks = agents.iter().map(|agent| self.ask(agent));
        futures_util::future::join_all(asks).await;
    }

    /// Asks `agent` for its status, and the manager for its node's facts.
    async fn ask(&self, agent: &Agent) {
        let status = match self.status(&agent.address).await {
            Ok(status) => status,
            Err(why) => return agent.down(why),
        };
        let mut node = Node {
            id: status.node_id.clone(),
            hostname: status.hostname.clone(),
            os: status.os.clone(),
            arch: status.arch.clone(),
            ..Node::default()
        };
        if let (Some(manager), false) = (&self.manager, status.node_id.is_empty()) {
            if let Some(facts) = discover::node(manager, &status.node_id).await {
                node = facts;
            }
        }
        let mut seen = lock(&agent.seen);
        if !seen.up {
            let runtimes = status.runtimes.join(",");
            tracing::info!(agent = %agent.address, node = %node.name(), slots = status.slots, runtimes = %runtimes, "the agent answers");
        }
        *seen = Seen {
            up: true,
            slots: status.slots,
            node,
            runtimes: status.runtimes,
        };
    }

    /// `GET /agent/status` within the poll interval.
    async fn status(&self, address: &str) -> Result<wire::Status, String> {
        self.get(address, "/agent/status", self.config.poll).await
    }

    /// `GET path` of the agent at `address`, read as JSON within `limit`.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        address: &str,
        path: &str,
        limit: Duration,
    ) -> Result<T, String> {
        let request = hyper::Request::get(format!("http://{address}{path}"))
            .header("authorization", format!("Bearer {}", self.token))
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("the agent's address {address} is not usable: {e}"))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| chain(&e))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            if !status.is_success() {
                let line = String::from_utf8_lossy(&body);
                return Err(format!("it answered {status}: {}", line.trim()));
            }
            serde_json::from_slice(&body).map_err(|e| format!("its answer is not readable: {e}"))
        };
        tokio::time::timeout(limit, exchange)
            .await
            .map_err(|_| format!("no answer to {path} within {limit:?}"))?
    }
}

/// An error with its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let causes: Vec<String> = std::iter::successors(Some(e), |e| (*e).source())
        .map(ToString::to_string)
        .collect();
    causes.join(": ")
}

/// Refreshes the agents every `every` while they are in use.
async fn poll(inner: Weak<Inner>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        inner.refresh().await;
    }
}
