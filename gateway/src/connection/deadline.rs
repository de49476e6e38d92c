//! When a connection is closed for being slow or idle. A connection is in
//! one of three states:
//! - *head*: opened, or a byte of the next request arrived; its request head
//!   must be complete within the header timeout;
//! - *busy*: a request was read and its response is not yet sent; no
//!   deadline (the body has its own, the call its function's timeout);
//! - *idle*: between requests; closed after the idle timeout.
//!
//! [`Watched`] sees the bytes arrive, [`Busy`] lives from a request's head
//! until its response is sent, and [`Clock::expired`] completes when the
//! state's deadline passes.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Body as HttpBody;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::config::Connections;

/// One connection's state.
pub struct Clock {
    /// When the connection opened: `since` counts from it.
    opened: Instant,
    /// Requests whose response is not yet sent (more than one when pipelined).
    busy: AtomicUsize,
    /// Whether a request head is awaited against the header timeout
    /// (rather than the idle timeout), when not busy.
    head: AtomicBool,
    /// When the current state began, in milliseconds since `opened`.
    since: AtomicU64,
}

impl Clock {
    /// A connection just opened: its first head is awaited.
    pub fn new() -> Clock {
        Clock {
            opened: Instant::now(),
            busy: AtomicUsize::new(0),
            head: AtomicBool::new(true),
            since: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Bytes arrived: on an idle connection, a request head has begun.
    fn received(&self) {
        if self.busy.load(Ordering::SeqCst) == 0 && !self.head.load(Ordering::SeqCst) {
            self.since.store(self.now(), Ordering::SeqCst);
            self.head.store(true, Ordering::SeqCst);
        }
    }

    /// A response was sent: idle from now, unless another request is served.
    fn sent(&self) {
        if self.busy.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.since.store(self.now(), Ordering::SeqCst);
            self.head.store(false, Ordering::SeqCst);
        }
    }

    /// Completes when the connection is not busy and its head or idle
    /// deadline has passed.
    pub async fn expired(&self, limits: Connections) {
        loop {
            if self.busy.load(Ordering::SeqCst) > 0 {
                // Look again later; a busy connection has no deadline.
                tokio::time::sleep(limits.idle_timeout.min(limits.header_timeout)).await;
                continue;
            }
            let limit = if self.head.load(Ordering::SeqCst) {
                limits.header_timeout
            } else {
                limits.idle_timeout
            };
            let since = Duration::from_millis(self.since.load(Ordering::SeqCst));
            let deadline = self.opened + since + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// A request between its head and its response sent.
pub struct Busy(Arc<Clock>);

impl Busy {
    pub fn new(clock: Arc<Clock>) -> Busy {
        clock.busy.fetch_add(1, Ordering::SeqCst);
        Busy(clock)
    }

    /// `body`, keeping the request busy until hyper has sent it whole (or
    /// dropped it): the guard lives in the body's frame mapping.
    pub fn until_sent<B: HttpBody>(
        self,
        body: B,
    ) -> impl HttpBody<Data = B::Data, Error = B::Error> {
        body.map_frame(move |frame| {
            let _busy = &self;
            frame
        })
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.sent();
    }
}

/// The client's socket, telling the [`Clock`] when bytes arrive.
pub struct Watched {
    stream: TcpStream,
    clock: Arc<Clock>,
}

impl Watched {
    pub fn new(stream: TcpStream, clock: Arc<Clock>) -> Watched {
        Watched { stream, clock }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.clock.received();
        }
        read
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, data)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Connections = Connections {
        header_timeout: Duration::from_secs(10),
        body_idle_timeout: Duration::from_secs(30),
        body_min_rate: 1024,
        body_min_rate_grace: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        max_connections: 1,
        reserved_connections: 0,
    };

    /// How long until `clock` expires, to the second.
    async fn expires_after(clock: &Clock) -> u64 {
        let start = Instant::now();
        clock.expired(LIMITS).await;
        start.elapsed().as_secs()
    }

    #[tokio::test(start_paused = true)]
    async fn head_then_busy_then_idle() {
        let clock = Arc::new(Clock::new());
        assert_eq!(expires_after(&clock).await, 10, "the first head");

        let clock = Arc::new(Clock::new());
        let busy = Busy::new(clock.clone());
        let waiting = tokio::spawn({
            let clock = clock.clone();
            async move { expires_after(&clock).await }
        });
        // A call far longer than every timeout.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(!waiting.is_finished(), "a busy connection has no deadline");
        drop(busy);
        let waited = waiting.await.expect("the wait");
        assert!(
            (3660..3670).contains(&waited),
            "idle after the response: {waited}"
        );

        let clock = Arc::new(Clock::new());
        drop(Busy::new(clock.clone()));
        tokio::time::sleep(Duration::from_secs(30)).await;
        clock.received();
        assert_eq!(expires_after(&clock).await, 10, "a head begun while idle");
    }
}
