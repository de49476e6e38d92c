//! The agent's HTTP API, every route behind the gateway's token:
//! `GET /agent/status` (the node, slots, running calls, the pool),
//! `POST /agent/invoke` (one per-call call: its function's spec and the
//! call; the answer is its outcome; refused as [`wire::NO_RUNTIME`] when
//! the runtime it names is not one this node may give), `POST /agent/forget` (a function's
//! warm containers go) and `GET /agent/usage?owner=…` (what the service
//! replicas of the gateway `owner` use on this node). A refusal is one line
//! with its status and its kind in [`wire::ERROR_KIND`]. A call runs in the
//! span the gateway's runs in, `call{id=… function=…}`, from the id and
//! function it is sent.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use super::Agent;
use crate::backend::container::usage;
use crate::backend::percall::agents::wire;
use crate::backend::{BackendError, Invocation};
use crate::connection::{Admission, Admit};
use crate::function::{self, Deployment, Function, Mode};

/// What a request body may hold beyond the call's input (base64, 4/3 of
/// it): the spec, the headers and the JSON around them.
const SPEC_BYTES: u64 = 256 * 1024;

pub fn router(agent: Arc<Agent>) -> Router {
    Router::new()
        .route("/agent/status", get(status))
        .route("/agent/invoke", post(invoke))
        .route("/agent/forget", post(forget))
        .route("/agent/usage", get(usage))
        .fallback(no_route)
        .layer(axum::middleware::from_fn_with_state(agent.clone(), require))
        .with_state(agent)
}

/// A refusal: one line, its status, and its kind for the gateway.
fn refuse(status: StatusCode, kind: &'static str, line: String) -> Response {
    let mut response = (status, format!("{line}\n")).into_response();
    response
        .headers_mut()
        .insert(wire::ERROR_KIND, axum::http::HeaderValue::from_static(kind));
    response
}

fn invalid(line: String) -> Response {
    refuse(StatusCode::BAD_REQUEST, "invalid", line)
}

/// Middleware: 401 unless the request carries the gateway's token.
async fn require(State(agent): State<Arc<Agent>>, request: Request, next: Next) -> Response {
    if authorized(&agent, &request) {
        next.run(request).await
    } else {
        unauthorized()
    }
}

fn authorized(agent: &Agent, request: &Request) -> bool {
    let header = request.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
    wire::allows(header, &agent.token)
}

fn unauthorized() -> Response {
    refuse(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "the agent answers its gateway only: send the token derived from the gateway's admin password (Authorization: Bearer …)".into(),
    )
}

/// What a connection in the agent's reserved room may ask: anything, with
/// the gateway's token (the agent serves nobody else).
pub fn admit(agent: Arc<Agent>) -> Admit {
    Arc::new(move |request, _peer| {
        if authorized(&agent, request) {
            Admission::Trusted
        } else {
            Admission::Refused(unauthorized())
        }
    })
}

async fn no_route(request: Request) -> Response {
    refuse(
        StatusCode::NOT_FOUND,
        "not-found",
        format!(
            "no such route: {} {} (the agent serves GET /agent/status, POST /agent/invoke, POST /agent/forget and GET /agent/usage)",
            request.method(),
            request.uri().path()
        ),
    )
}

/// How long the agent's engine may take to answer a ping.
const PING_LIMIT: Duration = Duration::from_secs(1);

/// The refusal of a call that ran nothing for want of the agent's engine
/// (503): the gateway sends it to another agent.
fn unstarted(why: &str) -> Response {
    refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        wire::UNSTARTED,
        format!("the agent's Docker Engine does not answer ({why}); nothing was run"),
    )
}

async fn status(State(agent): State<Arc<Agent>>) -> Response {
    if let Err(why) = ping(&agent).await {
        return unstarted(&why);
    }
    let mut status = agent.node.clone();
    status.running = agent.config.slots - agent.slots.available_permits();
    let sum = |name: &str| -> u64 {
        agent
            .pool
            .collectors()
            .iter()
            .flat_map(|c| c.collect())
            .filter(|family| family.name() == name)
            .flat_map(|family| family.get_metric().to_vec())
            .map(|m| {
                if name.ends_with("_total") {
                    m.get_counter().get_value()
                } else {
                    m.get_gauge().get_value()
                }
            })
            .sum::<f64>() as u64
    };
    status.pool_ready = sum("faas_pool_ready");
    status.pool_hits = sum("faas_pool_hits_total");
    status.pool_misses = sum("faas_pool_misses_total");
    Json(status).into_response()
}

/// The longest owner id `GET /agent/usage` takes.
const MAX_OWNER: usize = 256;

#[derive(serde::Deserialize)]
struct UsageQuery {
    /// The gateway's id, the `com.faas.gateway` label of its replicas.
    owner: String,
}

/// What the service replicas of the gateway `owner` use on this node, per
/// function (Swarm runs them; the agent only reads their stats).
async fn usage(
    State(agent): State<Arc<Agent>>,
    query: Result<Query<UsageQuery>, QueryRejection>,
) -> Response {
    let owner = match query {
        Ok(Query(UsageQuery { owner })) => owner,
        Err(e) => {
            return invalid(format!(
                "the query is not ?owner=<the gateway's id>: {}",
                e.body_text()
            ))
        }
    };
    if owner.is_empty() || owner.len() > MAX_OWNER || owner.chars().any(char::is_control) {
        return invalid(format!(
            "owner is the gateway's id: 1 to {MAX_OWNER} bytes, none a control character"
        ));
    }
    match usage::replicas_usage(&agent.engine, &owner).await {
        Ok(functions) => Json(wire::NodeUsage {
            node_id: agent.node.node_id.clone(),
            functions,
        })
        .into_response(),
        Err(e) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            BackendError::Unreachable(String::new()).kind(),
            e.line(),
        ),
    }
}

/// The largest body the agent reads.
fn body_limit(agent: &Agent) -> u64 {
    agent.config.max_payload_bytes.div_ceil(3) * 4 + SPEC_BYTES
}

/// Reads a JSON body of at most `limit` bytes.
async fn read<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
) -> Result<T, Response> {
    let too_large = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid",
            format!("the request body is over the agent's limit of {limit} bytes (the input may be at most --max-payload-bytes)"),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let limited = http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    let bytes = match limited.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Err(e) => return Err(invalid(format!("the request body could not be read: {e}"))),
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        invalid(format!(
            "the request body is not the JSON the agent expects: {e}"
        ))
    })
}

async fn invoke(State(agent): State<Arc<Agent>>, headers: HeaderMap, body: Body) -> Response {
    let call: wire::Invoke = match read(&headers, body, body_limit(&agent)).await {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    let (function, call) = match call.invocation() {
        Ok(parts) => parts,
        Err(why) => return invalid(format!("the call is not readable: {why}")),
    };
    // The gateway's span of the call, under the same name and fields.
    let span = call.id.span(&function.name);
    run(agent, function, call).instrument(span).await
}

/// Checks the call the gateway sent and runs it in the pool, within a slot.
async fn run(agent: Arc<Agent>, function: Function, call: Invocation) -> Response {
    let max = agent.config.max_payload_bytes;
    if call.input.len() as u64 > max {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid",
            format!(
                "the input is {} bytes, over the agent's --max-payload-bytes of {max}",
                call.input.len()
            ),
        );
    }
    if call.max_output_bytes as u64 > max {
        return invalid(format!(
            "\"maxOutputBytes\" is {}, over the agent's --max-payload-bytes of {max}",
            call.max_output_bytes
        ));
    }
    let most = Duration::from_secs(function::MAX_TIMEOUT);
    if call.timeout.is_zero() || call.timeout > most {
        return invalid(format!(
            "\"timeoutMs\" is {}: use 1 ms to {} s",
            call.timeout.as_millis(),
            function::MAX_TIMEOUT
        ));
    }
    if let Some(refusal) = lacking(&agent, &function) {
        return refusal;
    }
    // No engine ping ahead of the call: an engine that fails before the
    // call reaches its function is told apart by `reached`, below.
    let function = match checked(&agent, function).await {
        Ok(function) => function,
        Err(BackendError::Unreachable(why)) => return unstarted(&why),
        Err(e) => return backend_refusal(&e),
    };
    let Ok(_slot) = agent.slots.clone().try_acquire_owned() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            wire::BUSY,
            format!(
                "the agent runs {} calls at once (--slots) and all are taken; the call did not run",
                agent.config.slots
            ),
        );
    };
    let reached = call.reached.clone();
    let result = tokio::select! {
        result = agent.pool.invoke(&function, call) => result.map_err(Failed::Backend),
        why = engine_lost(&agent) => Err(Failed::Engine(why)),
    };
    let ran_nothing = !reached.load(Ordering::SeqCst);
    let why = match result {
        Ok(outcome) => return Json(wire::Ran::of(&outcome)).into_response(),
        Err(Failed::Engine(why) | Failed::Backend(BackendError::Unreachable(why))) => why,
        Err(Failed::Backend(e)) => return backend_refusal(&e),
    };
    if ran_nothing {
        return unstarted(&why);
    }
    refuse(
        StatusCode::BAD_GATEWAY,
        BackendError::Lost(String::new()).kind(),
        format!(
            "the Docker Engine of node {} failed during the call ({why}); it may have run in part and was not run again",
            agent.node.hostname
        ),
    )
}

/// The refusal of a call whose function asks for a runtime this agent
/// cannot give (its engine lacks it, or its --allow-runtimes leaves it
/// out): the gateway sends it to another node.
fn lacking(agent: &Agent, function: &Function) -> Option<Response> {
    let asked = function.asked_runtime()?;
    let runtimes = &agent.engine.runtimes;
    if runtimes.has(asked) {
        return None;
    }
    Some(refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        wire::NO_RUNTIME,
        format!(
            "node {} cannot run containers under runtime {asked:?}: it has {} (its engine's registered runtimes its --allow-runtimes allows); nothing was run",
            agent.node.hostname,
            runtimes.allowed.join(", ")
        ),
    ))
}

/// Why a call the agent took did not end with an outcome.
enum Failed {
    Backend(BackendError),
    /// The agent's engine stopped answering during it.
    Engine(String),
}

/// How often the engine is pinged while a call runs, and how many pings in
/// a row may fail before the call is given up.
const WATCH_EVERY: Duration = Duration::from_secs(1);
const WATCH_MISSES: u32 = 2;

/// Ends when the agent's engine has stopped answering pings; why.
async fn engine_lost(agent: &Agent) -> String {
    let mut misses = 0;
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        match ping(agent).await {
            Ok(()) => misses = 0,
            Err(why) => {
                misses += 1;
                if misses >= WATCH_MISSES {
                    return why;
                }
            }
        }
    }
}

/// Pings the agent's engine; why it did not answer.
async fn ping(agent: &Agent) -> Result<(), String> {
    match tokio::time::timeout(PING_LIMIT, agent.engine.docker.ping()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer to a ping within {PING_LIMIT:?}")),
    }
}

/// A backend's refusal with the status the gateway would give it.
fn backend_refusal(e: &BackendError) -> Response {
    let status = crate::error::Error::Backend(e.clone()).status();
    refuse(status, e.kind(), e.to_string())
}

/// `function` as the gateway's deploy checks it, against the agent's own
/// allow-lists and limits; a spec new to the agent (or changed) is checked
/// once and drains the function's pool.
async fn checked(agent: &Agent, function: Function) -> Result<Function, BackendError> {
    let known = super::lock(&agent.specs).get(&function.name) == Some(&function);
    if known {
        return Ok(function);
    }
    function::check_name(&function.name).map_err(|e| BackendError::Invalid(e.0))?;
    // Re-runs the deployment's own checks on the spec as it is.
    let function = function
        .apply(Deployment::default())
        .map_err(|e| BackendError::Invalid(e.0))?;
    if !(1..=function::MAX_TIMEOUT).contains(&function.timeout) {
        return Err(BackendError::Invalid(format!(
            "\"timeout\" is {}: use 1 to {} seconds",
            function.timeout,
            function::MAX_TIMEOUT
        )));
    }
    if function.mode != Mode::PerCall {
        return Err(BackendError::Invalid(
            "an agent runs per-call functions only: service functions run as replicas".into(),
        ));
    }
    if !function.secrets.is_empty() {
        return Err(BackendError::Invalid(
            "an agent cannot mount \"secrets\": a per-call function with secrets runs on the gateway's own engine".into(),
        ));
    }
    agent.engine.runnable(&function).await?;
    agent.pool.reset(&function);
    super::lock(&agent.specs).insert(function.name.clone(), function.clone());
    Ok(function)
}

async fn forget(State(agent): State<Arc<Agent>>, headers: HeaderMap, body: Body) -> Response {
    let forget: wire::Forget = match read(&headers, body, SPEC_BYTES).await {
        Ok(forget) => forget,
        Err(refusal) => return refusal,
    };
    super::lock(&agent.specs).remove(&forget.name);
    agent.pool.forget(&forget.name);
    StatusCode::NO_CONTENT.into_response()
}
