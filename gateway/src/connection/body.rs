//! A request body that fails with [`io::ErrorKind::TimedOut`] when the
//! client is too slow; the handler reading it answers 408 (see
//! `api::read_body`). Two limits, both on the time the body is waited for:
//! - *idle*: nothing arrives for the body idle timeout;
//! - *rate*: the waits so far add up to more than the grace period plus the
//!   bytes received at the minimum rate. A body trickling a byte every few
//!   seconds never idles, but falls behind the rate and is cut; a body
//!   that keeps up may take as long as its size asks, and its size is
//!   bounded by the route's limit.
//!
//! The time runs only while the body is read and waits for data: a handler
//! that is done with it, or never reads it, is not timed, nor is the time a
//! handler spends between reads.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Buf;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::config::Connections;

/// Which limit the current wait runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    Idle,
    Rate,
}

pub struct Timed<B> {
    body: B,
    idle: Duration,
    rate: u64,
    grace: Duration,
    /// Data bytes received so far.
    received: u64,
    /// The time spent waiting for data in earlier waits.
    waited: Duration,
    /// The current wait: when it began, and the limit its deadline is.
    wait: Option<(Instant, Limit)>,
    /// The deadline of the current wait (kept for the next wait).
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<B> Timed<B> {
    pub fn new(body: B, limits: &Connections) -> Timed<B> {
        Timed {
            body,
            idle: limits.body_idle_timeout,
            rate: limits.body_min_rate.max(1),
            grace: limits.body_min_rate_grace,
            received: 0,
            waited: Duration::ZERO,
            wait: None,
            deadline: None,
        }
    }

    /// The wait left before the body falls behind the minimum rate.
    fn allowance(&self) -> Duration {
        let earned = Duration::from_secs_f64(self.received as f64 / self.rate as f64);
        (self.grace + earned).saturating_sub(self.waited)
    }

    /// Begins a wait for data, against the nearer of the two limits.
    fn begin_wait(&mut self) {
        let now = Instant::now();
        let allowance = self.allowance();
        let (limit, left) = if allowance < self.idle {
            (Limit::Rate, allowance)
        } else {
            (Limit::Idle, self.idle)
        };
        match self.deadline.as_mut() {
            Some(deadline) => deadline.as_mut().reset(now + left),
            None => self.deadline = Some(Box::pin(tokio::time::sleep_until(now + left))),
        }
        self.wait = Some((now, limit));
    }

    /// Ends the current wait, adding its time to the waits so far.
    fn end_wait(&mut self) {
        if let Some((began, _)) = self.wait.take() {
            self.waited += began.elapsed();
        }
    }

    fn error(&self, limit: Limit) -> io::Error {
        let line = match limit {
            Limit::Idle => format!(
                "the request body sent nothing for {}s (--body-idle-timeout)",
                self.idle.as_secs_f64()
            ),
            Limit::Rate => format!(
                "the request body came slower than {} bytes/s once its first {}s had passed (--body-min-rate, --body-min-rate-grace)",
                self.rate,
                self.grace.as_secs_f64()
            ),
        };
        io::Error::new(io::ErrorKind::TimedOut, line)
    }
}

impl<B> HttpBody for Timed<B>
where
    B: HttpBody + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, io::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.end_wait();
                if let Some(Ok(data)) = frame.as_ref().map(|f| f.as_ref().map(Frame::data_ref)) {
                    let bytes = data.map_or(0, |d| d.remaining());
                    this.received = this.received.saturating_add(bytes as u64);
                }
                Poll::Ready(frame.map(|frame| frame.map_err(io::Error::other)))
            }
            Poll::Pending => {
                if this.wait.is_none() {
                    this.begin_wait();
                }
                let Some(deadline) = this.deadline.as_mut() else {
                    return Poll::Pending;
                };
                match deadline.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) => {
                        let limit = this.wait.map_or(Limit::Idle, |(_, limit)| limit);
                        this.end_wait();
                        Poll::Ready(Some(Err(this.error(limit))))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use tokio::sync::mpsc;

    use super::*;

    const LIMITS: Connections = Connections {
        header_timeout: Duration::from_secs(10),
        body_idle_timeout: Duration::from_secs(5),
        body_min_rate: 100,
        body_min_rate_grace: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        max_connections: 10,
        reserved_connections: 1,
    };

    type Chunk = Result<Frame<Bytes>, io::Error>;
    /// How a read ended (the bytes read, or the error), and when.
    type Read = (Result<usize, String>, Duration);

    /// A body of what the test sends on a channel.
    struct Fed(mpsc::Receiver<Chunk>);

    impl HttpBody for Fed {
        type Data = Bytes;
        type Error = io::Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
            self.get_mut().0.poll_recv(cx)
        }
    }

    /// A body of what `rx` is sent, timed by `LIMITS`.
    fn fed(rx: mpsc::Receiver<Chunk>) -> Timed<Fed> {
        Timed::new(Fed(rx), &LIMITS)
    }

    /// A body fed by the test, read whole by a task: the sender, and the
    /// task's [`Read`].
    fn timed() -> (mpsc::Sender<Chunk>, tokio::task::JoinHandle<Read>) {
        let (tx, rx) = mpsc::channel::<Chunk>(16);
        let body = fed(rx);
        let read = tokio::spawn(async move {
            let start = Instant::now();
            let read = body.collect().await;
            let took = start.elapsed();
            (
                read.map(|c| c.to_bytes().len()).map_err(|e| e.to_string()),
                took,
            )
        });
        (tx, read)
    }

    async fn send(tx: &mpsc::Sender<Chunk>, bytes: &'static [u8]) {
        let frame = Frame::data(Bytes::from_static(bytes));
        tx.send(Ok(frame)).await.expect("the reader waits");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_body_is_cut_at_the_idle_timeout() {
        let (tx, read) = timed();
        send(&tx, b"a").await;
        let (read, took) = read.await.expect("the read");
        let err = read.expect_err("cut");
        assert!(err.contains("--body-idle-timeout"), "{err}");
        assert_eq!(took.as_secs(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_that_never_idles_is_cut_once_behind_the_rate() {
        let (tx, read) = timed();
        let feeding = tokio::spawn(async move {
            // A byte every 4 s: never idle for the 5 s idle timeout.
            loop {
                tokio::time::sleep(Duration::from_secs(4)).await;
                let frame = Frame::data(Bytes::from_static(b"x"));
                if tx.send(Ok(frame)).await.is_err() {
                    return;
                }
            }
        });
        let (read, took) = read.await.expect("the read");
        feeding.abort();
        let err = read.expect_err("cut");
        assert!(err.contains("--body-min-rate"), "{err}");
        // 10 s of grace, and 2 bytes earn 20 ms more.
        assert!(
            took >= Duration::from_secs(10) && took < Duration::from_secs(11),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_keeps_up_is_read_however_long_it_takes() {
        let (tx, read) = timed();
        tokio::spawn(async move {
            // 200 bytes/s for 60 s: twice the minimum rate.
            for _ in 0..60 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let frame = Frame::data(Bytes::from(vec![b'x'; 200]));
                if tx.send(Ok(frame)).await.is_err() {
                    return;
                }
            }
        });
        let (read, took) = read.await.expect("the read");
        assert_eq!(read, Ok(12_000));
        assert_eq!(took.as_secs(), 60);
    }

    #[tokio::test(start_paused = true)]
    async fn time_the_reader_spends_elsewhere_is_not_counted() {
        let (tx, rx) = mpsc::channel::<Chunk>(16);
        let mut body = fed(rx);
        send(&tx, b"a").await;
        assert!(body.frame().await.is_some_and(|f| f.is_ok()));
        // The handler is busy for far longer than every limit, and the
        // client's bytes wait for it.
        tokio::time::sleep(Duration::from_secs(600)).await;
        send(&tx, b"b").await;
        drop(tx);
        let rest = body.collect().await.expect("not cut");
        assert_eq!(rest.to_bytes(), Bytes::from_static(b"b"));
    }
}
