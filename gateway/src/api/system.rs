//! The rest: `/healthz`, `/metrics`, `/system/info`, `/system/alert`
//! (AlertManager's webhook, scaling as OpenFaaS does), the OpenAPI document,
//! and the answers for unknown routes and methods.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{json, json_body, AppState};
use crate::error::Error;

/// The OpenAPI 3 document of every route, kept in the repository.
pub const OPENAPI: &str = include_str!("../../openapi.json");

pub async fn healthz() -> &'static str {
    "OK\n"
}

pub async fn metrics(State(app): State<AppState>) -> Response {
    match app.metrics.render() {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot render the metrics: {e}\n"),
        )
            .into_response(),
    }
}

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

pub async fn info(State(app): State<AppState>) -> Response {
    let version = env!("CARGO_PKG_VERSION");
    json(
        StatusCode::OK,
        &serde_json::json!({
            "provider": {
                "provider": "faas",
                "orchestration": app.backend.name(),
                "version": { "sha": "", "release": version },
            },
            "version": { "sha": "", "release": version, "commit_message": "" },
            "arch": std::env::consts::ARCH,
        }),
    )
}

#[derive(Deserialize)]
struct Alerts {
    #[serde(default)]
    alerts: Vec<Alert>,
}

#[derive(Deserialize)]
struct Alert {
    status: String,
    labels: AlertLabels,
}

#[derive(Deserialize)]
struct AlertLabels {
    function_name: Option<String>,
}

/// Firing alerts add `ceil(max × factor / 100)` replicas up to the max;
/// resolved ones go back to the min (OpenFaaS's rule).
pub async fn alert(State(app): State<AppState>, req: Request) -> Result<Response, Error> {
    let alerts: Alerts = json_body(req, "AlertManager webhook").await?;
    for alert in alerts.alerts {
        let Some(name) = alert.labels.function_name else {
            continue;
        };
        let Some(deployed) = app.registry.get(&name) else {
            continue;
        };
        let scaling = deployed.function.scaling();
        let current = app.backend.desired(&name).await?;
        let target = if alert.status == "firing" {
            let step = (scaling.max * scaling.factor).div_ceil(100);
            (current + step).min(scaling.max)
        } else {
            scaling.min
        };
        app.backend.scale(&name, target).await?;
        app.metrics
            .service_count
            .with_label_values(&[&name])
            .set(target as i64);
    }
    Ok(StatusCode::OK.into_response())
}

pub async fn no_route(req: Request) -> Error {
    Error::NoRoute(format!("{} {}", req.method(), req.uri().path()))
}

pub async fn method_not_allowed(req: Request) -> Error {
    Error::MethodNotAllowed(format!("{} {}", req.method(), req.uri().path()))
}
