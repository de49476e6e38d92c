//! The answer step: the one table from how a call ended to its HTTP status
//! ([`status`]), used by the sync answer, the output routes and the
//! callback alike, and the responses built from it.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use uuid::Uuid;

use crate::call::{End, How};
use crate::error::Error;

const CALL_ID: &str = "x-call-id";
const DURATION: &str = "x-duration-seconds";

/// The status a call that ended so answers.
pub fn status(how: &How) -> StatusCode {
    match how {
        How::Exited(exit) => exit.status(),
        How::QueueTimeout => StatusCode::GATEWAY_TIMEOUT,
        How::Removed => StatusCode::GONE,
        How::HungUp => StatusCode::BAD_REQUEST,
        How::Stopped => StatusCode::SERVICE_UNAVAILABLE,
        How::Backend(e) => Error::Backend(e.clone()).status(),
        How::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An async call's acknowledgement: 202, `{"CallId": …}`.
pub fn accepted(id: Uuid) -> Response {
    let body = axum::Json(serde_json::json!({ "CallId": id }));
    let mut response = (StatusCode::ACCEPTED, body).into_response();
    response.headers_mut().insert(CALL_ID, value(&id));
    response
}

/// A sync call's answer; a success keeps the request's `Content-Type`.
pub fn ended(id: Uuid, end: &End, content_type: Option<HeaderValue>) -> Response {
    let code = status(&end.how);
    let mut response = output(code, id, end.duration.as_secs_f64(), end.body());
    if let Some(content_type) = content_type.filter(|_| code == StatusCode::OK) {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    response
}

/// A call's output with its id and run time. Anything but a success is
/// text: the function's STDERR or why the call failed.
pub fn output(code: StatusCode, id: Uuid, seconds: f64, body: Bytes) -> Response {
    let mut response = (code, Body::from(body)).into_response();
    let headers: &mut HeaderMap = response.headers_mut();
    if code != StatusCode::OK {
        let text = HeaderValue::from_static("text/plain; charset=utf-8");
        headers.insert(header::CONTENT_TYPE, text);
    }
    headers.insert(CALL_ID, value(&id));
    headers.insert(DURATION, value(&format!("{seconds:.6}")));
    response
}

fn value(v: &impl ToString) -> HeaderValue {
    HeaderValue::from_str(&v.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}
