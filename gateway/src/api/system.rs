//! The rest: `/healthz`, `/metrics`, `/system/info`, `/system/namespaces`, `/system/alert`
//! (AlertManager's webhook, scaling as OpenFaaS does), the OpenAPI document,
//! and the answers for unknown routes and methods.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{json, json_body, AppState};
use crate::error::Error;
use crate::function::NAMESPACE;

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

/// OpenFaaS's `/system/info`: the provider (this gateway, orchestrating
/// with its backend) and the gateway's version, with the commit it was
/// built from.
pub async fn info(State(app): State<AppState>) -> Response {
    let (release, sha) = (env!("CARGO_PKG_VERSION"), env!("FAAS_GIT_SHA"));
    json(
        StatusCode::OK,
        &serde_json::json!({
            "provider": {
                "provider": "faas",
                "orchestration": app.backend.name(),
                "version": { "sha": sha, "release": release },
            },
            "version": {
                "sha": sha,
                "release": release,
                "commit_message": env!("FAAS_GIT_MESSAGE"),
            },
            "arch": std::env::consts::ARCH,
        }),
    )
}

/// OpenFaaS's `/system/namespaces`: the one namespace there is.
pub async fn namespaces() -> Response {
    json(StatusCode::OK, &[NAMESPACE])
}

/// AlertManager's webhook payload: an object with at least one alert,
/// each with its status and labels.
#[derive(Deserialize)]
struct Alerts {
    alerts: Vec<Alert>,
}

#[derive(Deserialize)]
struct Alert {
    status: AlertStatus,
    labels: AlertLabels,
}

#[derive(Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum AlertStatus {
    Firing,
    Resolved,
}

#[derive(Deserialize)]
struct AlertLabels {
    function_name: Option<String>,
}

/// Firing alerts add `ceil(max × factor / 100)` replicas up to the max;
/// resolved ones go back to the min (OpenFaaS's rule).
pub async fn alert(State(app): State<AppState>, req: Request) -> Result<Response, Error> {
    let alerts = parse_alerts(json_body(req, ALERTS).await?)?;
    for alert in alerts.alerts {
        let Some(name) = alert.labels.function_name else {
            continue;
        };
        let Some(deployed) = app.registry.get(&name) else {
            continue;
        };
        let scaling = deployed
            .function
            .scaling()
            .capped(app.config.scaling.max_replicas);
        let current = app.backend.desired(&name).await?;
        let target = if alert.status == AlertStatus::Firing {
            let step = (scaling.max * scaling.factor).div_ceil(100);
            (current + step).min(scaling.max)
        } else {
            scaling.min
        };
        app.backend.scale(&name, target).await?;
        // The gateway's own scaler keeps a firing alert's count until the
        // alert is resolved.
        if alert.status == AlertStatus::Firing {
            app.alert_floors.set(&name, target);
        } else {
            app.alert_floors.clear(&name);
        }
        app.metrics
            .service_count
            .with_label_values(&[&name])
            .set(target as i64);
    }
    Ok(StatusCode::OK.into_response())
}

/// What the alert body is called in errors, with the shape it must have.
const ALERTS: &str = r#"AlertManager webhook (expected {"alerts":[{"status":"firing"|"resolved","labels":{"function_name":…}}]})"#;

/// The webhook's alerts; 400 unless `body` is an object with at least one
/// alert, each with a status and labels.
fn parse_alerts(body: serde_json::Value) -> Result<Alerts, Error> {
    let invalid = |why: String| Error::BadRequest(format!("invalid {ALERTS}: {why}"));
    if !body.is_object() {
        return Err(invalid("not an object".into()));
    }
    let alerts: Alerts = serde_json::from_value(body).map_err(|e| invalid(e.to_string()))?;
    if alerts.alerts.is_empty() {
        return Err(invalid("no alerts".into()));
    }
    Ok(alerts)
}

pub async fn no_route(req: Request) -> Error {
    Error::NoRoute(format!("{} {}", req.method(), req.uri().path()))
}

pub async fn method_not_allowed(req: Request) -> Error {
    Error::MethodNotAllowed(format!("{} {}", req.method(), req.uri().path()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_need_an_object_with_statuses_and_labels() {
        let ok = serde_json::json!({"alerts": [
            {"status": "firing", "labels": {"function_name": "f"}},
            {"status": "resolved", "labels": {}},
        ]});
        assert_eq!(parse_alerts(ok).map(|a| a.alerts.len()).ok(), Some(2));
        for bad in [
            serde_json::json!([[]]),
            serde_json::json!({}),
            serde_json::json!({"alerts": []}),
            serde_json::json!({"alerts": [{"labels": {"function_name": "f"}}]}),
            serde_json::json!({"alerts": [{"status": "firing"}]}),
            serde_json::json!({"alerts": [{"status": "on", "labels": {}}]}),
        ] {
            match parse_alerts(bad.clone()) {
                Err(Error::BadRequest(line)) => {
                    assert!(line.starts_with("invalid AlertManager webhook"), "{line}");
                    assert!(!line.contains('\n'), "{line}");
                }
                other => panic!("{bad}: {:?}", other.map(|_| ())),
            }
        }
    }
}
