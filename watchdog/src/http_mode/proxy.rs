//! One request passed to the upstream and its response passed back, both
//! bodies streamed frame by frame as they come (nothing is read whole),
//! headers as they are but the hop-by-hop ones ([`super::hop`]), with
//! `X-Forwarded-For`, `-Host` and `-Proto` added as of-watchdog adds them.
//!
//! Deadlines, from the request's start: `read_timeout` for the request
//! body (400 when it stalls); the shorter of `exec_timeout` and
//! `write_timeout` for the whole exchange. One that passes before the
//! upstream's response head answers 504; one that passes while the
//! response streams cuts it. Either way the connection to the upstream is
//! closed, so the upstream's request ends too. An upstream that refuses
//! the connection or fails before its response head: 502.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName};
use http::{HeaderValue, Request, Response, StatusCode, Uri, Version};
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use super::pool::{Conn, Pool};
use super::{hop, Upstream};
use crate::reply::{duration_header, text, Body, BoxError};
use crate::server::Inflight;
use crate::token;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_DURATION: HeaderName = HeaderName::from_static("x-duration-seconds");

/// Passes `req` from `peer` to the upstream; the answer to give.
pub async fn forward(
    upstream: &Upstream,
    req: Request<Incoming>,
    peer: SocketAddr,
    inflight: Inflight,
) -> Response<Body> {
    let started = Instant::now();
    let deadline = upstream.limit.map(|(limit, setting)| Deadline {
        at: started + limit,
        limit,
        setting,
    });
    let (mut parts, body) = req.into_parts();
    hop::remove(&mut parts.headers);
    parts.headers.remove(token::HEADER);
    forwarded(&mut parts.headers, peer, &upstream.url.host);
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = match upstream.url.path_for(path).parse::<Uri>() {
        Ok(uri) => uri,
        Err(_) => {
            return text(
                StatusCode::BAD_REQUEST,
                "the request's path cannot be passed on\n",
            )
        }
    };
    parts.version = Version::HTTP_11;
    let body = RequestBody {
        inner: body,
        deadline: Box::pin(tokio::time::sleep_until(started + upstream.read_timeout)),
    };
    let request = Request::from_parts(parts, body);

    let exchange = send(&upstream.pool, request);
    let sent = match &deadline {
        Some(deadline) => match tokio::time::timeout_at(deadline.at, exchange).await {
            Ok(sent) => sent,
            Err(_) => return deadline.expired(started),
        },
        None => exchange.await,
    };
    let (response, conn) = match sent {
        Ok(sent) => sent,
        Err(err) => return failed(upstream, &err, started),
    };
    let (mut parts, body) = response.into_parts();
    hop::remove(&mut parts.headers);
    parts
        .headers
        .insert(X_DURATION, duration_header(started.elapsed().as_secs_f64()));
    let body = Streamed::new(body, conn, upstream.pool.clone(), deadline, inflight);
    Response::from_parts(parts, Body::Streamed(body))
}

/// Says who asked, as of-watchdog does: the caller's address joins
/// `X-Forwarded-For`, its `Host` becomes `X-Forwarded-Host` (unless a
/// proxy before set them) and `Host` names the upstream.
fn forwarded(headers: &mut HeaderMap, peer: SocketAddr, upstream_host: &HeaderValue) {
    let ip = peer.ip().to_string();
    let chain = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(before) => format!("{before}, {ip}"),
        None => ip,
    };
    if let Ok(value) = HeaderValue::from_str(&chain) {
        headers.insert(X_FORWARDED_FOR, value);
    }
    if let Some(host) = headers.remove(header::HOST) {
        headers.entry(X_FORWARDED_HOST).or_insert(host);
    }
    headers
        .entry(X_FORWARDED_PROTO)
        .or_insert(HeaderValue::from_static("http"));
    headers.insert(header::HOST, upstream_host.clone());
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
fn failed(upstream: &Upstream, err: &SendError, started: Instant) -> Response<Body> {
    let (status, message) = match err {
        SendError::Connect(err) => (
            StatusCode::BAD_GATEWAY,
            format!(
                "cannot connect to fprocess at {}: {err} (it is not listening there, or is starting again)\n",
                upstream.url.text
            ),
        ),
        SendError::Http(err) if caused_by::<ReadTimedOut>(err) => {
            (StatusCode::BAD_REQUEST, format!("{ReadTimedOut}\n"))
        }
        SendError::Http(err) => (
            StatusCode::BAD_GATEWAY,
            format!(
                "fprocess at {} failed before it answered: {}\n",
                upstream.url.text,
                chain(err)
            ),
        ),
    };
    eprintln!("fwatchdog: {}", message.trim_end());
    let mut answer = text(status, &message);
    answer
        .headers_mut()
        .insert(X_DURATION, duration_header(started.elapsed().as_secs_f64()));
    answer
}

/// Whether `err` or one of its causes is an `E`.
fn caused_by<E: StdError + 'static>(err: &hyper::Error) -> bool {
    let mut source = err.source();
    while let Some(cause) = source {
        if cause.is::<E>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// An error and its causes on one line.
fn chain(err: &dyn StdError) -> String {
    let causes: Vec<String> = std::iter::successors(Some(err), |e| (*e).source())
        .map(|e| e.to_string())
        .collect();
    causes.join(": ").replace('\n', " ")
}

/// When a request must be done by, and which setting says so.
#[derive(Clone, Copy)]
pub struct Deadline {
    at: Instant,
    limit: Duration,
    setting: &'static str,
}

impl Deadline {
    fn expired(&self, started: Instant) -> Response<Body> {
        let message = format!(
            "timed out after {:?} ({}); the request to fprocess was cut\n",
            self.limit, self.setting
        );
        eprintln!("fwatchdog: {}", message.trim_end());
        let mut answer = text(StatusCode::GATEWAY_TIMEOUT, &message);
        answer
            .headers_mut()
            .insert(X_DURATION, duration_header(started.elapsed().as_secs_f64()));
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

impl http_body::Body for RequestBody {
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

/// The upstream's response body on its connection, which goes back to
/// the pool once the body has been read to its end, and is closed if it
/// is dropped before (the caller gone) or the deadline passes. It counts
/// as in flight until then.
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
        if body.inner.is_end_stream() {
            body.release();
        }
        body
    }

    /// Gives the connection back: the body has been read to its end.
    fn release(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.put(conn);
        }
        self.deadline = None;
    }
}

impl http_body::Body for Streamed {
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
                let why = format!(
                    "timed out after {:?} ({}) while the response streamed; it was cut",
                    deadline.limit, deadline.setting
                );
                this.conn = None;
                this.deadline = None;
                eprintln!("fwatchdog: {why}");
                return Poll::Ready(Some(Err(why.into())));
            }
        };
        match frame {
            None => {
                this.release();
                Poll::Ready(None)
            }
            Some(Ok(frame)) => {
                if this.inner.is_end_stream() {
                    this.release();
                }
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
