//! Connections to the upstream, kept for the next request once a response
//! has been read to its end. A connection that is not handed back (a cut
//! request, a caller gone) is closed at once, so the upstream sees its
//! request end. Idle connections are kept briefly, as of-watchdog's client
//! keeps them, so one the upstream closed for idling is seldom picked.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::proxy::RequestBody;

/// How long an idle connection is kept (of-watchdog's `IdleConnTimeout`).
const IDLE_FOR: Duration = Duration::from_millis(500);
/// How long a connection whose response is read may take to be ready for
/// the next request (its request body still being sent) before it is
/// closed instead.
const READY_WITHIN: Duration = Duration::from_secs(1);

/// One HTTP/1.1 connection to the upstream; closed when dropped.
pub struct Conn {
    pub sender: SendRequest<RequestBody>,
    task: AbortHandle,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The idle connections to one upstream address.
pub struct Pool {
    addr: SocketAddr,
    idle: Mutex<Vec<(Conn, Instant)>>,
    /// Most connections kept idle.
    max_idle: usize,
}

impl Pool {
    pub fn new(addr: SocketAddr, max_idle: usize) -> Arc<Pool> {
        Arc::new(Pool {
            addr,
            idle: Mutex::new(Vec::new()),
            max_idle,
        })
    }

    /// An idle connection, or `None`.
    pub fn idle(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((conn, since)) = idle.pop() {
            if since.elapsed() < IDLE_FOR && conn.sender.is_ready() {
                return Some(conn);
            }
        }
        None
    }

    /// A new connection.
    pub async fn connect(&self) -> io::Result<Conn> {
        let stream = tokio::net::TcpStream::connect(self.addr).await?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(io::Error::other)?;
        let task = tokio::spawn(async move {
            let _ = connection.await;
        })
        .abort_handle();
        Ok(Conn { sender, task })
    }

    /// Takes `conn` back once it is ready for another request.
    pub fn put(self: &Arc<Self>, mut conn: Conn) {
        if conn.sender.is_ready() {
            return self.keep(conn);
        }
        let pool = self.clone();
        tokio::spawn(async move {
            let ready = tokio::time::timeout(READY_WITHIN, conn.sender.ready()).await;
            if matches!(ready, Ok(Ok(()))) {
                pool.keep(conn);
            }
        });
    }

    fn keep(&self, conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.max_idle {
            idle.push((conn, Instant::now()));
        }
    }
}
