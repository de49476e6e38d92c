//! Client connections: [`serve`] accepts them under the connection cap and
//! serves each with hyper's HTTP/1, the router as its service. Each request
//! carries its peer's address as axum's `ConnectInfo<SocketAddr>` (what
//! login throttling counts by; `X-Forwarded-For` is never trusted).
//!
//! - [`deadline`] closes a connection whose request head is late (however
//!   it trickles: the header timeout counts from its first byte) or that
//!   idles between requests too long; never one with a request in progress.
//! - [`body`] ends a request body that sends nothing for too long, or comes
//!   slower than the minimum rate once its grace has passed (408).
//! - [`room`]: of `max_connections`, `reserved_connections` are kept for
//!   `/healthz` and requests with the right credentials. Slow clients can
//!   hold every ordinary connection — a body kept just above the minimum
//!   rate takes as long as its size allows — but not the reserve: a
//!   connection that finds the ordinary room full takes a reserved seat,
//!   and its requests are then admitted only as [`Admission`] says (the
//!   gateway's: `/healthz`, answered once and closed, or valid admin
//!   credentials; anything else is answered 503, or 401/429 for wrong
//!   credentials, and closed). A seat not yet admitted is given to the
//!   next newcomer that needs one (the oldest from the newcomer's own
//!   address first), so an attacker opening connections as fast as it
//!   likes only churns its own, and a client that sends its request at
//!   once gets in. Only when every connection is full and every seat
//!   admitted is a new connection closed at once: the file descriptors the
//!   store, the backend and function pipes need stay free.
//!
//! On shutdown nothing more is accepted, open connections finish the
//! request they are serving and close, and [`serve`] returns when all have.

mod body;
mod deadline;
mod room;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Connections;
use deadline::{Busy, Clock, Watched};
use room::{Room, Rooms};

/// What a request on a reserved connection may be served for.
pub enum Admission {
    /// This request, then the connection closes (`/healthz`).
    Once,
    /// This request, and the connection keeps its seat (the admin).
    Trusted,
    /// Not here: this answer, then the connection closes.
    Refused(Response),
}

/// Decides a reserved connection's requests: the request (its head; the
/// body is not read yet) and its peer.
pub type Admit = Arc<dyn Fn(&axum::extract::Request, SocketAddr) -> Admission + Send + Sync>;

/// Serves `router` on `listener` within `limits` until `shutdown`, then
/// waits for the open connections to finish; `admit` decides what a
/// connection in the reserved room may ask.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Connections,
    admit: Admit,
    shutdown: impl Future<Output = ()>,
) {
    let rooms = Rooms::new(&limits);
    let open = TaskTracker::new();
    let draining = CancellationToken::new();
    let service = TowerToHyperService::new(router);
    let mut shutdown = pin!(shutdown);
    let mut full = false;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors and the like: back off, keep serving.
                    tracing::warn!("accepting a connection failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(room) = rooms.enter(peer.ip()) else {
            if !full {
                let max = limits.max_connections;
                tracing::warn!(
                    "{max} connections are open (--max-connections), the reserved ones admitted: closing new ones"
                );
                full = true;
            }
            continue;
        };
        full = false;
        let _ = stream.set_nodelay(true);
        let served = Served {
            router: service.clone(),
            limits,
            admit: admit.clone(),
            peer,
        };
        open.spawn(connection(stream, room, served, draining.clone()));
    }
    drop(listener);
    draining.cancel();
    open.close();
    open.wait().await;
}

/// What a connection is served with.
struct Served {
    router: TowerToHyperService<Router>,
    limits: Connections,
    admit: Admit,
    peer: SocketAddr,
}

/// Serves one connection until the client closes it, its deadline passes,
/// its reserved seat is given to another, or, once `draining`, it has
/// finished the request in progress.
async fn connection(stream: TcpStream, room: Room, served: Served, draining: CancellationToken) {
    let room = Arc::new(room);
    let clock = Arc::new(Clock::new());
    let io = TokioIo::new(Watched::new(stream, clock.clone()));
    let requests = clock.clone();
    let limits = served.limits;
    let seated = room.clone();
    let service = service_fn(move |request: Request<Incoming>| {
        let busy = Busy::new(requests.clone());
        let mut request = request.map(|incoming| Body::new(body::Timed::new(incoming, &limits)));
        request.extensions_mut().insert(ConnectInfo(served.peer));
        let (refusal, close) = match seated.seat() {
            None => (None, false),
            Some(seat) => match (served.admit)(&request, served.peer) {
                Admission::Once => {
                    seat.admitted();
                    (None, true)
                }
                Admission::Trusted => {
                    seat.admitted();
                    (None, false)
                }
                Admission::Refused(response) => (Some(response), true),
            },
        };
        let response = match refusal {
            Some(refusal) => Err(refusal),
            None => Ok(hyper::service::Service::call(&served.router, request)),
        };
        async move {
            let mut response = match response {
                Ok(response) => response.await?,
                Err(refusal) => refusal,
            };
            if close {
                let close = HeaderValue::from_static("close");
                response.headers_mut().insert(header::CONNECTION, close);
            }
            Ok::<_, Infallible>(response.map(|body| busy.until_sent(body)))
        }
    });
    let mut conn = pin!(http1::Builder::new()
        // The head's time is kept by `deadline`, which tells it from the idle time.
        .header_read_timeout(None)
        .serve_connection(io, service));
    let mut stopping = pin!(draining.cancelled());
    let mut expired = pin!(clock.expired(limits));
    let mut evicted = pin!(async {
        match room.seat() {
            Some(seat) => seat.evicted().await,
            None => std::future::pending().await,
        }
    });
    let mut closing = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            // Nothing is in progress: dropping the connection closes it.
            () = &mut expired => return,
            // Its seat went to a newer connection: it had not shown a request.
            () = &mut evicted => return,
            () = &mut stopping, if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}
