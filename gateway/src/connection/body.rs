//! A request body that fails with [`io::ErrorKind::TimedOut`] when the
//! client sends nothing for the body idle timeout; the handler reading it
//! answers 408 (see `api::read_body`). The time runs only while the body is
//! read and waits for data: a handler that is done with it, or never reads
//! it, is not timed.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

pub struct IdleTimeout {
    body: Incoming,
    idle: Duration,
    /// The deadline of the current wait for data (kept for the next wait).
    deadline: Option<Pin<Box<Sleep>>>,
    /// Whether a wait for data is running against `deadline`.
    waiting: bool,
}

impl IdleTimeout {
    pub fn new(body: Incoming, idle: Duration) -> IdleTimeout {
        IdleTimeout {
            body,
            idle,
            deadline: None,
            waiting: false,
        }
    }
}

impl HttpBody for IdleTimeout {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.waiting = false;
                Poll::Ready(frame.map(|frame| frame.map_err(io::Error::other)))
            }
            Poll::Pending => {
                let idle = this.idle;
                if !this.waiting {
                    let at = Instant::now() + idle;
                    match this.deadline.as_mut() {
                        Some(deadline) => deadline.as_mut().reset(at),
                        None => this.deadline = Some(Box::pin(tokio::time::sleep_until(at))),
                    }
                    this.waiting = true;
                }
                let deadline = this
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                match deadline.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) => {
                        this.waiting = false;
                        Poll::Ready(Some(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!(
                                "the request body sent nothing for {}s (--body-idle-timeout)",
                                idle.as_secs_f64()
                            ),
                        ))))
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
