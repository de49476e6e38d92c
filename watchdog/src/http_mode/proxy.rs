//! One request passed to the upstream and its response passed back, both
//! bodies streamed frame by frame as they come (nothing is read whole),
//! headers as they are but the hop-by-hop ones ([`super::hop`]).
//!
//! Deadlines, from the request's start: `read_timeout` for the request
//! body; the shorter of `exec_timeout` (or a shorter `X-Timeout`) and
//! `write_timeout` for the whole exchange. A deadline that passes before
//! the upstream's response head answers 504 (or 400 for the request
//! body); one that passes while the response streams cuts it. Either way
//! the connection to the upstream is closed, so the upstream's request
//! ends too.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode, Uri, Version};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use super::pool::{Conn, Pool};
use super::{hop, State};
use crate::{duration, token};

type BoxError = Box<dyn StdError + Send + Sync>;

/// The header that shortens `exec_timeout` for one request, as in
/// of-watchdog.
const X_TIMEOUT: &str = "x-timeout";

/// Decrements the in-flight count when the response is done, however it
/// ends.
pub struct Inflight(pub Arc<AtomicUsize>);

impl Drop for Inflight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Passes `req` to the upstream; the answer to give the caller.
pub async fn forward(
    state: &State,
    req: Request<Incoming>,
    started: Instant,
    inflight: Inflight,
) -> Response<ResponseBody> {
    let deadline = Deadline::of(state, req.headers(), started);
    let (mut parts, body) = req.into_parts();
    hop::remove(&mut parts.headers);
    parts.headers.remove(token::HEADER);
    if !parts.headers.contains_key(header::HOST) {
        if let Ok(host) = HeaderValue::from_str(&state.upstream.addr.to_string()) {
            parts.headers.insert(header::HOST, host);
        }
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = match state.upstream.path_for(path).parse::<Uri>() {
        Ok(uri) => uri,
        Err(_) => return text(StatusCode::BAD_REQUEST, "the request's path cannot be passed on\n"),
    };
    parts.version = Version::HTTP_11;
    let body = RequestBody {
        inner: body,
        deadline: Box::pin(tokio::time::sleep_until(started + state.read_timeout)),
    };
    let request = Request::from_parts(parts, body);

    let wait_until = deadline.as_ref().map(|d| d.at);
    if !state.readiness.is_ready() && !state.readiness.wait(wait_until).await {
        let mut answer = text(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "fprocess does not accept connections on {} yet (it is starting or restarting): try again\n",
                state.upstream.text
            ),
        );
        answer
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return answer;
    }
    let exchange = send(&state.pool, request);
    let sent = match &deadline {
        Some(deadline) => match tokio::time::timeout_at(deadline.at, exchange).await {
            Ok(sent) => sent,
            Err(_) => return deadline.expired(started),
        },
        None => exchange.await,
    };
    let (response, conn) = match sent {
        Ok(sent) => sent,
        Err(err) => return failed(state, &err, started),
    };
    let (mut parts, body) = response.into_parts();
    hop::remove(&mut parts.headers);
    parts
        .headers
        .insert("x-duration-seconds", duration_header(started));
    let body = Streamed::new(body, conn, state.pool.clone(), deadline, inflight);
    Response::from_parts(parts, ResponseBody::Streamed(body))
}

/// Sends `request` on an idle connection, or a new one; once more on a
/// new one when an idle one turns out closed before it took the request.
async fn send(
    pool: &Arc<Pool>,
    request: Request<RequestBody>,
) -> Result<(Response<Incoming>, Conn), SendError> {
    let (mut conn, request) = match pool.idle() {
        Some(mut conn) => match conn.sender.try_send_request(request).await {
            Ok(response) => return Ok((response, conn)),
            Err(mut err) => match err.take_message() {
                Some(request) => (pool.connect().await.map_err(SendError::Connect)?, request),
                None => return Err(SendError::Http(err.into_error())),
            },
        },
        None => (pool.connect().await.map_err(SendError::Connect)?, request),
    };
    match conn.sender.send_request(request).await {
        Ok(response) => Ok((response, conn)),
        Err(err) => Err(SendError::Http(err)),
    }
}

enum SendError {
    Connect(std::io::Error),
    Http(hyper::Error),
}

/// The answer when the exchange failed before the response head.
fn failed(state: &State, err: &SendError, started: Instant) -> Response<ResponseBody> {
    let (status, message) = match err {
        SendError::Connect(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "cannot connect to fprocess at {}: {err}\n",
                state.upstream.text
            ),
        ),
        SendError::Http(err) if caused_by_read_timeout(err) => (
            StatusCode::BAD_REQUEST,
            format!("{ReadTimedOut}\n"),
        ),
        SendError::Http(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "fprocess at {} failed to answer: {}\n",
                state.upstream.text,
                chain(err)
            ),
        ),
    };
    eprintln!("fwatchdog: {}", message.trim_end());
    let mut answer = text(status, &message);
    answer
        .headers_mut()
        .insert("x-duration-seconds", duration_header(started));
    answer
}

fn caused_by_read_timeout(err: &hyper::Error) -> bool {
    let mut source = err.source();
    while let Some(cause) = source {
        if cause.is::<ReadTimedOut>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// An error and its causes on one line.
fn chain(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// When a request must be done by, and which setting says so.
struct Deadline {
    at: Instant,
    limit: Duration,
    setting: &'static str,
}

impl Deadline {
    /// The shorter of `exec_timeout` (or a shorter `X-Timeout`) and
    /// `write_timeout`; `None` when neither is set.
    fn of(state: &State, headers: &http::HeaderMap, started: Instant) -> Option<Deadline> {
        let asked = headers
            .get(X_TIMEOUT)
            .and_then(|v| v.to_str().ok())
            .and_then(duration::parse);
        let exec = state.exec_timeout.map(|exec| match asked {
            Some(asked) if asked < exec => (asked, "X-Timeout"),
            _ => (exec, "exec_timeout"),
        });
        let write = state.write_timeout.map(|write| (write, "write_timeout"));
        let (limit, setting) = match (exec, write) {
            (Some(exec), Some(write)) => {
                if write < exec {
                    write
                } else {
                    exec
                }
            }
            (one, other) => one.or(other)?,
        };
        Some(Deadline {
            at: started + limit,
            limit,
            setting,
        })
    }

    fn expired(&self, started: Instant) -> Response<ResponseBody> {
        let message = format!(
            "timed out after {:?} ({}); the request to fprocess was cut\n",
            self.limit, self.setting
        );
        eprintln!("fwatchdog: {}", message.trim_end());
        let mut answer = text(StatusCode::GATEWAY_TIMEOUT, &message);
        answer
            .headers_mut()
            .insert("x-duration-seconds", duration_header(started));
        answer
    }
}

/// The request body as it arrives, failing once `read_timeout` passes.
pub struct RequestBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
}

/// The request body did not arrive within `read_timeout`.
#[derive(Debug)]
struct ReadTimedOut;

impl fmt::Display for ReadTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("read_timeout expired while reading the request body")
    }
}

impl StdError for ReadTimedOut {}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(BoxError::from)));
        }
        ready!(self.deadline.as_mut().poll(cx));
        Poll::Ready(Some(Err(Box::new(ReadTimedOut))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body: the upstream's, or the watchdog's own text.
pub enum ResponseBody {
    Streamed(Streamed),
    Text(Option<Bytes>),
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ResponseBody::Streamed(body) => Pin::new(body).poll_frame(cx),
            ResponseBody::Text(text) => Poll::Ready(text.take().map(|t| Ok(Frame::data(t)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Streamed(body) => body.inner.is_end_stream(),
            ResponseBody::Text(text) => text.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Streamed(body) => body.inner.size_hint(),
            ResponseBody::Text(text) => {
                SizeHint::with_exact(text.as_ref().map_or(0, |t| t.len() as u64))
            }
        }
    }
}

/// The upstream's response body on its connection, which goes back to
/// the pool once the body has been read to its end, and is closed if it
/// is dropped before (the caller gone) or the deadline passes.
pub struct Streamed {
    inner: Incoming,
    conn: Option<Conn>,
    pool: Arc<Pool>,
    deadline: Option<(Pin<Box<Sleep>>, Deadline)>,
    _inflight: Inflight,
}

impl Streamed {
    fn new(
        inner: Incoming,
        conn: Conn,
        pool: Arc<Pool>,
        deadline: Option<Deadline>,
        inflight: Inflight,
    ) -> Streamed {
        let mut body = Streamed {
            inner,
            conn: Some(conn),
            pool,
            deadline: deadline.map(|d| (Box::pin(tokio::time::sleep_until(d.at)), d)),
            _inflight: inflight,
        };
        body.release_if_done();
        body
    }

    /// Gives the connection back once the body is read to its end.
    fn release_if_done(&mut self) {
        if self.inner.is_end_stream() {
            if let Some(conn) = self.conn.take() {
                self.pool.put(conn);
            }
            self.deadline = None;
        }
    }
}

impl Body for Streamed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => frame,
            Poll::Pending => {
                let Some((timer, deadline)) = &mut this.deadline else {
                    return Poll::Pending;
                };
                ready!(timer.as_mut().poll(cx));
                this.conn = None;
                let why = format!(
                    "timed out after {:?} ({}) while the response streamed; it was cut",
                    deadline.limit, deadline.setting
                );
                eprintln!("fwatchdog: {why}");
                return Poll::Ready(Some(Err(why.into())));
            }
        };
        match frame {
            None => {
                // The end, seen before `is_end_stream` said so (chunked).
                if let Some(conn) = this.conn.take() {
                    this.pool.put(conn);
                }
                this.deadline = None;
                Poll::Ready(None)
            }
            Some(Ok(frame)) => {
                this.release_if_done();
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(err)) => {
                this.conn = None;
                Poll::Ready(Some(Err(err.into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The watchdog's own answer: one line of text.
pub fn text(status: StatusCode, body: &str) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::Text(Some(Bytes::copy_from_slice(
        body.as_bytes(),
    ))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn duration_header(started: Instant) -> HeaderValue {
    HeaderValue::from_str(&format!("{:.6}", started.elapsed().as_secs_f64()))
        .unwrap_or(HeaderValue::from_static("0"))
}
