//! `/system/secrets` in OpenFaaS's shapes (`faas-provider`'s `Secret`):
//! `GET` lists the names, `POST` creates and `PUT` replaces
//! `{"name", "value"}` (or `"rawValue"`, base64 bytes), `DELETE {"name"}`
//! removes. Values are never answered, logged or stored in the database:
//! the backend keeps them (Docker secrets on Swarm, 0600 files on docker).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::{json, json_body, AppState};
use crate::backend::BackendError;
use crate::error::Error;
use crate::function::check_secret_name;

/// The largest secret value: Docker's own bound on a secret.
pub const MAX_SECRET_BYTES: usize = 500 * 1024;

/// A secret as OpenFaaS's clients send it. `namespace` is accepted and
/// ignored: the gateway has one.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    name: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    raw_value: Option<String>,
}

/// A secret as listed: its name only.
#[derive(Serialize)]
struct Listed {
    name: String,
}

pub async fn list(State(app): State<AppState>) -> Result<Response, Error> {
    let names = app.backend.secrets().await?;
    let listed: Vec<Listed> = names.into_iter().map(|name| Listed { name }).collect();
    Ok(json(StatusCode::OK, &listed))
}

pub async fn create(State(app): State<AppState>, req: Request) -> Result<Response, Error> {
    let (name, value) = read(req).await?;
    app.backend.put_secret(&name, &value, true).await?;
    Ok(StatusCode::CREATED.into_response())
}

pub async fn update(State(app): State<AppState>, req: Request) -> Result<Response, Error> {
    let (name, value) = read(req).await?;
    app.backend.put_secret(&name, &value, false).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn remove(State(app): State<AppState>, req: Request) -> Result<Response, Error> {
    let what = "secret (expected {\"name\": \"<secret>\"})";
    let name = json_body::<Removal>(req, what).await?.name;
    check_secret_name(&name)?;
    let users: Vec<String> = app
        .registry
        .all()
        .iter()
        .filter(|d| d.function.secrets.contains(&name))
        .map(|d| d.function.name.clone())
        .collect();
    if !users.is_empty() {
        return Err(BackendError::Conflict(format!(
            "secret {name} is used by {}: remove it from their \"secrets\" first",
            users.join(", ")
        ))
        .into());
    }
    app.backend.remove_secret(&name).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

#[derive(Deserialize)]
struct Removal {
    name: String,
}

/// The name and value of a POST or PUT, checked.
async fn read(req: Request) -> Result<(String, Vec<u8>), Error> {
    let what = "secret (expected {\"name\": \"<secret>\", \"value\": \"<value>\"})";
    let body: Body = json_body(req, what).await?;
    check_secret_name(&body.name)?;
    let value = match (body.value, body.raw_value) {
        (Some(value), _) if !value.is_empty() => value.into_bytes(),
        (_, Some(raw)) if !raw.is_empty() => base64::engine::general_purpose::STANDARD
            .decode(raw.as_bytes())
            .map_err(|_| {
                Error::BadRequest("\"rawValue\" is not base64: encode the bytes with base64".into())
            })?,
        _ => {
            return Err(Error::BadRequest(format!(
                "secret {} needs a \"value\" (text) or a \"rawValue\" (base64), not empty",
                body.name
            )))
        }
    };
    if value.len() > MAX_SECRET_BYTES {
        return Err(Error::BadRequest(format!(
            "secret {} is {} bytes: at most {MAX_SECRET_BYTES} fit in a secret",
            body.name,
            value.len()
        )));
    }
    Ok((body.name, value))
}
