//! Client connections: [`serve`] accepts them under the connection cap and
//! serves each with hyper's HTTP/1, the router as its service.
//!
//! - Beyond `max_connections` a new connection is closed at once: the file
//!   descriptors the store, the backend and function pipes need stay free.
//! - [`deadline`] closes a connection whose request head is late or that
//!   idles between requests too long; never one with a request in progress.
//! - [`body`] ends a request body that sends nothing for too long (408).
//!
//! On shutdown nothing more is accepted, open connections finish the
//! request they are serving and close, and [`serve`] returns when all have.

mod body;
mod deadline;

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Connections;
use deadline::{Busy, Clock, Watched};

/// Serves `router` on `listener` within `limits` until `shutdown`, then
/// waits for the open connections to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Connections,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let open = TaskTracker::new();
    let draining = CancellationToken::new();
    let service = TowerToHyperService::new(router);
    let mut shutdown = pin!(shutdown);
    let mut full = false;
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of descriptors and the like: back off, keep serving.
                    tracing::warn!("accepting a connection failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            if !full {
                let max = limits.max_connections;
                tracing::warn!("{max} connections are open (--max-connections): closing new ones");
                full = true;
            }
            continue;
        };
        full = false;
        let _ = stream.set_nodelay(true);
        let connection = connection(stream, permit, service.clone(), limits, draining.clone());
        open.spawn(connection);
    }
    drop(listener);
    draining.cancel();
    open.close();
    open.wait().await;
}

/// Serves one connection until the client closes it, its deadline passes,
/// or, once `draining`, it has finished the request in progress.
async fn connection(
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    router: TowerToHyperService<Router>,
    limits: Connections,
    draining: CancellationToken,
) {
    let clock = Arc::new(Clock::new());
    let io = TokioIo::new(Watched::new(stream, clock.clone()));
    let requests = clock.clone();
    let service = service_fn(move |request: Request<Incoming>| {
        let busy = Busy::new(requests.clone());
        let idle = limits.body_idle_timeout;
        let request = request.map(|incoming| Body::new(body::IdleTimeout::new(incoming, idle)));
        let response = hyper::service::Service::call(&router, request);
        async move {
            let response = response.await?;
            Ok::<_, Infallible>(response.map(|body| busy.until_sent(body)))
        }
    });
    let mut conn = pin!(http1::Builder::new()
        // The head's time is kept by `deadline`, which tells it from the idle time.
        .header_read_timeout(None)
        .serve_connection(io, service));
    let mut stopping = pin!(draining.cancelled());
    let mut expired = pin!(clock.expired(limits));
    let mut closing = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            // Nothing is in progress: dropping the connection closes it.
            () = &mut expired => return,
            () = &mut stopping, if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}
