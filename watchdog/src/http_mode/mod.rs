//! Http mode (of-watchdog's `mode=http`): `fprocess` is started once, at
//! boot, and is an HTTP server at `upstream_url`; every request is passed
//! to it and its response passed back, both streamed.
//!
//! - [`address`]: parses `upstream_url`.
//! - `process`: starts `fprocess`, starts it again when it exits, copies
//!   its output to the log and knows whether it accepts connections.
//! - `pool`: the connections to it kept between requests.
//! - `proxy`: one request passed on, with its deadlines; 502 and 504.
//! - `hop`: the hop-by-hop headers that are not passed on.

mod address;
mod hop;
mod pool;
mod process;
mod proxy;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use address::UpstreamUrl;
pub use proxy::Streamed;

use crate::reply::Body;
use crate::server::Inflight;
use crate::Config;
use pool::Pool;
use process::{Command, Readiness, Supervisor};

/// Most idle connections kept to the upstream (of-watchdog's
/// `MaxIdleConnsPerHost`).
const MAX_IDLE: usize = 1024;

/// What every request is passed to.
pub struct Upstream {
    url: UpstreamUrl,
    pool: Arc<Pool>,
    readiness: Arc<Readiness>,
    /// Longest wait for the request body, from the request's start.
    read_timeout: Duration,
    /// The whole exchange's limit and the setting it comes from: the
    /// shorter of `exec_timeout` and `write_timeout`.
    limit: Option<(Duration, &'static str)>,
}

/// The task that keeps `fprocess` running.
pub struct Running {
    stop: oneshot::Sender<Duration>,
    task: JoinHandle<()>,
}

/// Starts `fprocess` (an error here stops the watchdog at start) and
/// returns what requests are passed to. `process_env`: its whole
/// environment, or `None` to inherit this one's.
pub fn start(
    config: &Config,
    url: &UpstreamUrl,
    process_env: Option<&[(String, String)]>,
) -> io::Result<(Upstream, Running)> {
    let readiness = Arc::new(Readiness::new(config.suppress_lock));
    let command = Command {
        argv: config.fprocess.clone(),
        env: process_env.map(<[_]>::to_vec).unwrap_or_default(),
        clear_env: process_env.is_some(),
        addr: url.addr,
    };
    let supervisor = Supervisor::start(command, readiness.clone()).map_err(|err| {
        io::Error::new(
            err.kind(),
            format!(
                "cannot start fprocess {:?}: {err} (check fprocess and PATH)",
                config.fprocess[0]
            ),
        )
    })?;
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(supervisor.run(stopped));
    let exec = config.timeouts.exec.map(|t| (t, "exec_timeout"));
    let write =
        (!config.timeouts.write.is_zero()).then_some((config.timeouts.write, "write_timeout"));
    let limit = match (exec, write) {
        (Some(exec), Some(write)) => Some(if write.0 < exec.0 { write } else { exec }),
        (one, other) => one.or(other),
    };
    let upstream = Upstream {
        url: url.clone(),
        pool: Pool::new(url.addr, MAX_IDLE),
        readiness,
        read_timeout: config.timeouts.read,
        limit,
    };
    Ok((upstream, Running { stop, task }))
}

impl Upstream {
    /// Whether `fprocess` accepts connections.
    pub fn is_ready(&self) -> bool {
        self.readiness.is_ready()
    }

    /// Passes `req` from `peer` on; the answer to give.
    pub async fn forward(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        inflight: Inflight,
    ) -> Response<Body> {
        proxy::forward(self, req, peer, inflight).await
    }
}

impl Running {
    /// Stops `fprocess`: SIGTERM to its group, SIGKILL after `grace`.
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(grace);
        let _ = self.task.await;
    }
}
