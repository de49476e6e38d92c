//! One call as an HTTP exchange with a replica's watchdog: the request it
//! is forwarded as, and the [`Outcome`] its answer becomes.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use watchdog::runner::{Exit, Outcome};

use crate::backend::{BackendError, Invocation};

/// The HTTP request to a replica's watchdog: the call's own request, with
/// its call id and the function's replica `token` (in place of any the
/// caller sent), less what belongs to the hop (host, length, connection).
pub fn build_request(
    addr: &str,
    call: &Invocation,
    token: &str,
) -> Result<hyper::Request<Full<Bytes>>, BackendError> {
    let request = &call.request;
    let uri = match &request.query {
        Some(query) => format!("http://{addr}{}?{query}", request.path),
        None => format!("http://{addr}{}", request.path),
    };
    let mut builder = hyper::Request::builder()
        .method(request.method.clone())
        .uri(uri);
    if let Some(headers) = builder.headers_mut() {
        for (name, value) in &request.headers {
            if !HOP_HEADERS.contains(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        if let Ok(id) = http::HeaderValue::from_str(&call.id.to_string()) {
            headers.insert("x-call-id", id);
        }
        let token = http::HeaderValue::from_str(token)
            .map_err(|_| BackendError::Invalid("the replica token is not a header value".into()))?;
        headers.insert(watchdog::token::HEADER, token);
    }
    builder
        .body(Full::new(call.input.clone()))
        .map_err(|e| BackendError::Invalid(format!("the call cannot be forwarded: {e}")))
}

/// Headers that describe the caller's connection, not the call.
const HOP_HEADERS: [http::HeaderName; 5] = [
    http::header::HOST,
    http::header::CONTENT_LENGTH,
    http::header::CONNECTION,
    http::header::TRANSFER_ENCODING,
    http::header::TE,
];

/// A watchdog's answer as an [`Outcome`].
pub fn outcome(status: u16, body: Bytes, duration: Duration, max_output: usize) -> Outcome {
    let (exit, stdout) = watchdog::answer::read(status, body, max_output);
    Outcome {
        exit,
        stdout,
        stderr: Bytes::new(),
        duration,
    }
}

pub fn timed_out(started: Instant) -> Outcome {
    Outcome {
        exit: Exit::TimedOut,
        stdout: Bytes::new(),
        stderr: Bytes::new(),
        duration: started.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_answers_become_outcomes() {
        let o = outcome(200, Bytes::from_static(b"hi"), Duration::ZERO, 10);
        assert_eq!((o.exit, &o.stdout[..]), (Exit::Code(0), &b"hi"[..]));
        let o = outcome(
            500,
            Bytes::from_static(b"exit status 3\npartial"),
            Duration::ZERO,
            100,
        );
        assert_eq!((o.exit, &o.stdout[..]), (Exit::Code(3), &b"partial"[..]));
        assert_eq!(
            outcome(504, Bytes::new(), Duration::ZERO, 1).exit,
            Exit::TimedOut
        );
        assert_eq!(
            outcome(502, Bytes::new(), Duration::ZERO, 1).exit,
            Exit::OutputTooLarge
        );
        assert_eq!(
            outcome(200, Bytes::from_static(b"toolong"), Duration::ZERO, 3).exit,
            Exit::OutputTooLarge
        );
    }

    #[test]
    fn the_call_s_own_request_is_forwarded() {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", http::HeaderValue::from_static("ignored"));
        headers.insert("x-custom", http::HeaderValue::from_static("kept"));
        headers.insert(
            "x-faas-gateway-token",
            http::HeaderValue::from_static("the caller's"),
        );
        let call = Invocation {
            id: crate::call_id::CallId::from(uuid::Uuid::nil()),
            request: crate::backend::Request {
                method: http::Method::PUT,
                path: "/a/b".into(),
                query: Some("x=1".into()),
                headers,
            },
            input: Bytes::from_static(b"body"),
            timeout: Duration::from_secs(1),
            max_output_bytes: 10,
            placed: Default::default(),
            reached: Default::default(),
        };
        let req = build_request("10.1.2.3:8080", &call, "the-token").expect("request");
        assert_eq!(req.method(), "PUT");
        assert_eq!(req.uri(), "http://10.1.2.3:8080/a/b?x=1");
        assert_eq!(req.headers()["x-call-id"], uuid::Uuid::nil().to_string());
        assert_eq!(req.headers()["x-custom"], "kept");
        assert!(!req.headers().contains_key("host"));
        let tokens: Vec<_> = req
            .headers()
            .get_all("x-faas-gateway-token")
            .iter()
            .collect();
        assert_eq!(tokens, ["the-token"], "the gateway's, never the caller's");
    }
}
