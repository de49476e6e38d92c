//! The `fwatchdog` HTTP server: the accept loop, shutdown, and what every
//! request goes through in either mode before the mode serves it
//! ([`crate::fork`] or [`crate::http_mode`]): `/_/health`, the gateway's
//! token (403 without it, [`crate::token`]; `/_/health` stays open for
//! readiness probes) and `max_inflight` (429 above it).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::config::Mode;
use crate::http_mode::{self, Upstream};
use crate::reply::{text, Body};
use crate::{fork, lock, token, Config};

/// Shared by every request.
struct State {
    config: Config,
    /// Requests being handled now, for `max_inflight`.
    inflight: Arc<AtomicUsize>,
    /// False once shutdown began: health answers 503.
    accepting: AtomicBool,
    /// With a gateway token: the whole environment of every process, this
    /// one's less the token. Without: `None`, the process inherits this
    /// one's.
    process_env: Option<Vec<(String, String)>>,
    /// In http mode, the process requests are passed to.
    upstream: Option<Upstream>,
}

/// Serves requests on `listener` until `shutdown` completes. Then health
/// answers 503 and the lock goes; after `healthcheck_interval` it stops
/// accepting and lets in-flight requests finish (up to `write_timeout`);
/// in http mode it then stops `fprocess`.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let process_env: Option<Vec<(String, String)>> = config.gateway_token.is_some().then(|| {
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k != token::VARIABLE)
            .collect()
    });
    let (upstream, supervisor) = match &config.mode {
        Mode::Fork => (None, None),
        Mode::Http(url) => {
            let (upstream, supervisor) = http_mode::start(&config, url, process_env.as_deref())?;
            (Some(upstream), Some(supervisor))
        }
    };
    // With port=0 the system picks the port: name the one bound.
    let bound = listener.local_addr().map_or(config.port, |a| a.port());
    let mode = match &config.mode {
        Mode::Fork => String::new(),
        Mode::Http(url) => format!(", mode=http, upstream_url={}", url.text),
    };
    eprintln!(
        "fwatchdog: listening on :{bound}, fprocess={:?}{mode}",
        config.fprocess
    );
    let state = Arc::new(State {
        config,
        inflight: Arc::new(AtomicUsize::new(0)),
        accepting: AtomicBool::new(true),
        process_env,
        upstream,
    });
    let graceful = GracefulShutdown::new();
    let mut closing = pin!(async {
        shutdown.await;
        state.accepting.store(false, Ordering::SeqCst);
        if !state.config.suppress_lock {
            lock::remove();
        }
        tokio::time::sleep(state.config.timeouts.healthcheck_interval).await;
    });
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors and the like: back off, keep serving.
                    eprintln!("fwatchdog: accept failed: {err}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut closing => break,
        };
        let _ = stream.set_nodelay(true);
        let handler_state = state.clone();
        let service = service_fn(move |req| {
            let state = handler_state.clone();
            async move { Ok::<_, Infallible>(handle(&state, req, peer).await) }
        });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(state.config.timeouts.read);
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    drop(listener);
    if tokio::time::timeout(state.config.timeouts.write, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!("fwatchdog: write_timeout expired with requests still in flight");
    }
    if let Some(supervisor) = supervisor {
        supervisor.stop(state.config.timeouts.write).await;
    }
    Ok(())
}

/// Counts a request in flight until dropped, however it ends (in http
/// mode, with the response body it streams).
pub struct Inflight(Arc<AtomicUsize>);

impl Drop for Inflight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(state: &State, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let config = &state.config;
    if req.uri().path() == "/_/health" {
        let healthy = state.accepting.load(Ordering::SeqCst)
            && state.upstream.as_ref().is_none_or(Upstream::is_ready)
            && (config.suppress_lock || lock::exists());
        return if healthy {
            text(StatusCode::OK, "OK")
        } else {
            text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
        };
    }
    if let Some(expected) = &config.gateway_token {
        let given = req.headers().get(token::HEADER).map(HeaderValue::as_bytes);
        if !expected.admits(given) {
            return text(
                StatusCode::FORBIDDEN,
                "this replica answers only the gateway: call the function through the gateway\n",
            );
        }
    }
    let count = state.inflight.fetch_add(1, Ordering::SeqCst) + 1;
    let inflight = Inflight(state.inflight.clone());
    if config.max_inflight.is_some_and(|max| count > max) {
        return text(
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests in flight (max_inflight): try again later\n",
        );
    }
    match &state.upstream {
        Some(upstream) => upstream.forward(req, peer, inflight).await,
        None => fork::handle(config, state.process_env.as_deref(), req).await,
    }
}
