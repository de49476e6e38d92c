//! `GET /system/function/<name>/samples`: the function's figures over the
//! last 15 minutes, as the gateway sampled them ([`crate::samples`]), for
//! the portal's plots.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::{deployed, json, AppState};
use crate::error::Error;
use crate::samples::{Sample, WINDOW};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct History {
    name: String,
    interval_seconds: f64,
    window_seconds: u64,
    samples: Vec<Sample>,
}

pub async fn samples(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, Error> {
    deployed(&app, &name)?;
    let history = History {
        samples: app.samples.history(&name),
        interval_seconds: app.samples.interval.as_secs_f64(),
        window_seconds: WINDOW.as_secs(),
        name,
    };
    Ok(json(StatusCode::OK, &history))
}
