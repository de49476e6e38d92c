//! The answer step: the one table from how a call ended to its HTTP status
//! ([`status`]), used by the sync answer, the output routes and the
//! callback alike, and the responses built from it ([`output`]). A
//! function's output is never a page of the gateway's origin: every answer
//! carrying one has a definite `Content-Type`, `nosniff`, and a
//! `Content-Security-Policy: sandbox` that gives it an opaque origin and
//! runs none of its scripts, even when a browser opens it.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::call::{End, How};
use crate::call_id::CallId;
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
        // Its output will never be.
        How::Cancelled => StatusCode::GONE,
        // Like a wait in the queue past the timeout.
        How::Expired => StatusCode::GATEWAY_TIMEOUT,
    }
}

/// An async call's acknowledgement: 202, `{"CallId": …}`.
pub fn accepted(id: CallId) -> Response {
    let body = axum::Json(serde_json::json!({ "CallId": id }));
    let mut response = (StatusCode::ACCEPTED, body).into_response();
    response.headers_mut().insert(CALL_ID, value(&id));
    response
}

/// What a success is without a type of its own.
const BYTES: &str = "application/octet-stream";

/// A sync call's answer; a success keeps the request's `Content-Type`.
pub fn ended(id: CallId, end: &End, content_type: Option<HeaderValue>) -> Response {
    let code = status(&end.how);
    output(
        code,
        id,
        end.duration.as_secs_f64(),
        end.body(),
        content_type,
    )
}

/// A call's output with its id and run time. A success is `content_type`,
/// or [`BYTES`] without one; anything else is text: the function's STDERR
/// or why the call failed.
pub fn output(
    code: StatusCode,
    id: CallId,
    seconds: f64,
    body: Bytes,
    content_type: Option<HeaderValue>,
) -> Response {
    let mut response = (code, Body::from(body)).into_response();
    let headers: &mut HeaderMap = response.headers_mut();
    let content_type = match content_type {
        Some(given) if code == StatusCode::OK => given,
        None if code == StatusCode::OK => HeaderValue::from_static(BYTES),
        _ => HeaderValue::from_static("text/plain; charset=utf-8"),
    };
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    headers.insert(CALL_ID, value(&id));
    headers.insert(DURATION, value(&format!("{seconds:.6}")));
    response
}

fn value(v: &impl ToString) -> HeaderValue {
    HeaderValue::from_str(&v.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(code: StatusCode, content_type: Option<&'static str>) -> HeaderMap {
        let given = content_type.map(HeaderValue::from_static);
        let id = CallId::new();
        output(code, id, 0.5, Bytes::from_static(b"<script>"), given)
            .headers()
            .clone()
    }

    #[test]
    fn an_output_is_never_a_page() {
        for (code, given, expected) in [
            (StatusCode::OK, None, BYTES),
            (StatusCode::OK, Some("image/png"), "image/png"),
            (StatusCode::OK, Some("text/html"), "text/html"),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Some("text/html"),
                "text/plain; charset=utf-8",
            ),
            (StatusCode::BAD_GATEWAY, None, "text/plain; charset=utf-8"),
        ] {
            let h = headers(code, given);
            assert_eq!(h[header::CONTENT_TYPE], expected, "{code} {given:?}");
            assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(h[header::CONTENT_SECURITY_POLICY], "sandbox");
        }
    }
}
