//! The management API in OpenFaaS's shapes: list, deploy (POST), update
//! (PUT; fields left out keep their values), remove (DELETE, waiting for
//! running calls or with `?force=true` killing them) — each parsed here and
//! done by [`crate::lifecycle`] — describe one, its call counts, and scale (400 over `com.openfaas.scale.max` or the gateway's
//! `--max-replicas`).

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

use super::{
    base_url, check_namespace, deployed, flag, json, json_body, AppState, NamespacedQuery,
};
use crate::app::App;
use crate::backend::Usage;
use crate::clock;
use crate::error::Error;
use crate::function::NAMESPACE;
use crate::function::{check_name, Deployment, Function, Mode, Resources};
use crate::lifecycle::Lifecycle;

/// What a deployment body is called in errors.
const DEPLOYMENT: &str = "deployment";

pub async fn list(
    State(app): State<AppState>,
    _: NamespacedQuery,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let counts = app.store.invocation_counts().await?;
    let base = base_url(&headers, &app);
    let all = app.registry.all();
    // Each function's replicas are asked for at once, not one after another.
    let listed = futures_util::future::join_all(all.iter().map(|deployed| {
        let count = counts.get(&deployed.function.name).copied().unwrap_or(0);
        describe(&app, &deployed.function, count, &base)
    }))
    .await;
    Ok(json(StatusCode::OK, &listed))
}

pub async fn get(
    State(app): State<AppState>,
    Path(name): Path<String>,
    _: NamespacedQuery,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let deployed = deployed(&app, &name)?;
    let count = app.store.counts(&name).await?.total;
    Ok(json(
        StatusCode::OK,
        &describe(&app, &deployed.function, count, &base_url(&headers, &app)).await,
    ))
}

pub async fn status(
    State(app): State<AppState>,
    Path(name): Path<String>,
    _: NamespacedQuery,
) -> Result<Response, Error> {
    deployed(&app, &name)?;
    let counts = app.store.counts(&name).await?;
    Ok(json(StatusCode::OK, &counts))
}

pub async fn deploy(State(app): State<AppState>, req: Request) -> Result<Response, Error> {
    let base = base_url(req.headers(), &app);
    let deployment = json_body(req, DEPLOYMENT).await?;
    let function = Function::create_with(deployment, clock::now_ms(), app.backend.defaults())?;
    lifecycle(&app).deploy(function.clone()).await?;
    let listed = describe(&app, &function, 0, &base).await;
    Ok(json(StatusCode::ACCEPTED, &listed))
}

pub async fn update(State(app): State<AppState>, req: Request) -> Result<Response, Error> {
    let base = base_url(req.headers(), &app);
    let deployment: Deployment = json_body(req, DEPLOYMENT).await?;
    check_namespace(deployment.namespace.as_deref())?;
    let name = deployment.service.clone().ok_or_else(|| {
        Error::BadRequest("the deployment needs \"service\": the function's name".into())
    })?;
    let function = lifecycle(&app).update(&name, deployment).await?;
    let count = app.store.counts(&name).await?.total;
    Ok(json(
        StatusCode::ACCEPTED,
        &describe(&app, &function, count, &base).await,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Removal {
    function_name: String,
    namespace: Option<String>,
}

pub async fn remove(
    State(app): State<AppState>,
    NamespacedQuery(query): NamespacedQuery,
    req: Request,
) -> Result<Response, Error> {
    let what = "removal (expected {\"functionName\": \"<name>\"})";
    let removal = json_body::<Removal>(req, what).await?;
    check_namespace(removal.namespace.as_deref())?;
    let force = flag(&query, "force")?;
    lifecycle(&app)
        .remove(&removal.function_name, force)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// The lifecycle's handles in the gateway's state.
fn lifecycle(app: &App) -> Lifecycle<'_> {
    Lifecycle {
        registry: &app.registry,
        backend: &*app.backend,
        store: &*app.store,
        metrics: &app.metrics,
        floors: &app.alert_floors,
        max_replicas: app.config.scaling.max_replicas,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Scale {
    replicas: u64,
    namespace: Option<String>,
    /// Ignored, as OpenFaaS ignores it (the path names the function), but
    /// typed: a body that is not a scale request is 400.
    #[serde(rename = "serviceName")]
    _service_name: Option<String>,
}

pub async fn scale(
    State(app): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    req: Request,
) -> Result<Response, Error> {
    check_name(&name)?;
    check_namespace(query.get("namespace").map(String::as_str))?;
    let what = "scale (expected {\"serviceName\", \"replicas\"})";
    let request: Scale = json_body(req, what).await?;
    check_namespace(request.namespace.as_deref())?;
    // The path names the function; "serviceName" is ignored, as OpenFaaS
    // ignores it.
    let deployed = deployed(&app, &name)?;
    check_replicas(&app, &deployed.function, request.replicas)?;
    app.backend.scale(&name, request.replicas).await?;
    // A count set by hand overrides a firing alert's.
    app.alert_floors.clear(&name);
    app.metrics
        .service_count
        .with_label_values(&[&name])
        .set(request.replicas as i64);
    Ok(StatusCode::ACCEPTED.into_response())
}

/// 400 when `replicas` is over the function's cap: its
/// `com.openfaas.scale.max` under the gateway's `--max-replicas`.
fn check_replicas(app: &App, function: &Function, replicas: u64) -> Result<(), Error> {
    let (max, most) = (function.scaling().max, app.config.scaling.max_replicas);
    let cap = max.min(most);
    if replicas > cap {
        return Err(Error::BadRequest(format!(
            "{replicas} replicas is over the cap of {}: {cap} (com.openfaas.scale.max {max}, gateway --max-replicas {most})",
            function.name
        )));
    }
    Ok(())
}

/// A function as listed by `GET /system/functions`: every field of
/// OpenFaaS's `FunctionStatus` under its own JSON name, then faas's.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listed {
    pub name: String,
    pub image: String,
    pub namespace: &'static str,
    pub invocation_count: u64,
    pub replicas: u64,
    pub available_replicas: u64,
    pub env_process: String,
    pub env_vars: BTreeMap<String, String>,
    pub constraints: Vec<String>,
    pub secrets: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Resources>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<Resources>,
    pub read_only_root_filesystem: bool,
    /// When it was deployed, RFC 3339 (OpenFaaS's name for `created`).
    pub created_at: String,
    /// What its service replicas use (container backends only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    pub uuid: Uuid,
    pub address: String,
    pub mode: Mode,
    pub command: Vec<String>,
    pub timeout: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    /// The OCI runtime its containers are given (what it names, else the
    /// gateway's `--runtime`); absent where they are given none (local
    /// processes, a Swarm service's replicas).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// A service function's: the runtime each running replica runs under,
    /// as the engine reports it (`unknown` for one it cannot inspect).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_runtimes: Option<Vec<String>>,
    /// Its maximum call age as given (`maxAge`, else its annotation);
    /// absent: the gateway's `--max-call-age`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
    pub created: String,
}

/// A function as listed, with its replicas and their usage from the backend.
async fn describe(app: &App, f: &Function, invocation_count: u64, base: &str) -> Listed {
    let replicas = app.backend.replicas(&f.name).await.unwrap_or_default();
    app.metrics
        .service_count
        .with_label_values(&[&f.name])
        .set(replicas.desired as i64);
    let (usage, replica_runtimes) = match f.mode {
        Mode::Service => {
            let runtimes = app.backend.replica_runtimes(&f.name).await;
            (app.backend.usage(&f.name), runtimes.unwrap_or_default())
        }
        Mode::PerCall => (None, None),
    };
    Listed {
        name: f.name.clone(),
        image: f.image.clone(),
        namespace: NAMESPACE,
        invocation_count,
        replicas: replicas.desired,
        available_replicas: replicas.available,
        env_process: f.env_process.clone(),
        env_vars: f.env_vars.clone(),
        constraints: f.constraints.clone(),
        secrets: f.secrets.clone(),
        labels: f.labels.clone(),
        annotations: f.annotations.clone(),
        limits: f.limits.clone(),
        requests: f.requests.clone(),
        read_only_root_filesystem: f.read_only_root_filesystem,
        created_at: clock::millis(f.created),
        usage,
        uuid: f.uuid,
        address: f.address(base),
        mode: f.mode,
        command: f.command.clone(),
        timeout: f.timeout,
        max_concurrency: f.max_concurrency,
        runtime: app.backend.runtime(f),
        replica_runtimes,
        max_age: f.asked_max_age().map(str::to_string),
        created: clock::millis(f.created),
    }
}
