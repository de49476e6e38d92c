//! The `fwatchdog` HTTP server: every request spawns `fprocess` through
//! [`crate::runner`], with the request body on STDIN and STDOUT as the answer.
//!
//! Status codes: 200 exit 0; 500 non-zero exit (a line naming the status, then
//! the output); 405 other methods; 413 input over `max_input_bytes`; 429 over
//! `max_inflight`; 502 output over `max_output_bytes`; 504 `exec_timeout`;
//! 403 a request without the gateway's token when `gateway_token` is set
//! ([`crate::token`]; `/_/health` stays open for readiness probes).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::runner::{self, Exit, Job, OutputMode};
use crate::{answer, cgi, lock, token, Config};

/// Shared by every request.
struct State {
    config: Config,
    /// Requests being handled now, for `max_inflight`.
    inflight: AtomicUsize,
    /// False once shutdown began: health answers 503.
    accepting: AtomicBool,
    /// With a gateway token: the whole environment of every process, this
    /// one's less the token. Without: `None`, the process inherits this
    /// one's.
    process_env: Option<Vec<(String, String)>>,
}

/// Serves requests on `listener` until `shutdown` completes, then removes the
/// lock, stops accepting and lets in-flight requests finish (up to
/// `write_timeout`).
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let process_env = config.gateway_token.is_some().then(|| {
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k != token::VARIABLE)
            .collect()
    });
    let state = Arc::new(State {
        config,
        inflight: AtomicUsize::new(0),
        accepting: AtomicBool::new(true),
        process_env,
    });
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of descriptors and the like: back off, keep serving.
                    eprintln!("fwatchdog: accept failed: {err}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let handler_state = state.clone();
        let service = service_fn(move |req| {
            let state = handler_state.clone();
            async move { Ok::<_, Infallible>(handle(&state, req).await) }
        });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(state.config.read_timeout);
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    state.accepting.store(false, Ordering::SeqCst);
    if !state.config.suppress_lock {
        lock::remove();
    }
    drop(listener);
    if tokio::time::timeout(state.config.write_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!("fwatchdog: write_timeout expired with requests still in flight");
    }
    Ok(())
}

/// Decrements the in-flight count when a request ends, however it ends.
struct Inflight<'a>(&'a AtomicUsize);

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let config = &state.config;
    if req.uri().path() == "/_/health" {
        let healthy =
            state.accepting.load(Ordering::SeqCst) && (config.suppress_lock || lock::exists());
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
    if !matches!(
        *req.method(),
        Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!(
                "method {} is not allowed: use GET, POST, PUT, PATCH or DELETE\n",
                req.method()
            ),
        );
    }
    let count = state.inflight.fetch_add(1, Ordering::SeqCst) + 1;
    let _inflight = Inflight(&state.inflight);
    if config.max_inflight.is_some_and(|max| count > max) {
        return text(
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests in flight (max_inflight): try again later\n",
        );
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > config.max_input_bytes) {
        return too_large(config);
    }

    let (mut parts, body) = req.into_parts();
    parts.headers.remove(token::HEADER);
    let mut env = state.process_env.clone().unwrap_or_default();
    if config.cgi_headers {
        env.extend(cgi::request_env(&parts.method, &parts.uri, &parts.headers));
    }
    let job = Job {
        argv: config.fprocess.clone(),
        env,
        clear_env: state.process_env.is_some(),
        timeout: config.exec_timeout,
        max_input_bytes: config.max_input_bytes,
        max_output_bytes: config.max_output_bytes,
        output: if config.combine_output {
            OutputMode::Combined
        } else {
            OutputMode::Separate
        },
    };
    let deadline = tokio::time::Instant::now() + config.read_timeout;
    let debug = config.write_debug;
    let input = body
        .into_data_stream()
        .map(|chunk| chunk.map_err(|e| io::Error::other(format!("reading the request body: {e}"))));
    let input = futures_util::stream::unfold(input, move |mut input| async move {
        match tokio::time::timeout_at(deadline, input.next()).await {
            Ok(Some(chunk)) => {
                if debug {
                    if let Ok(bytes) = &chunk {
                        eprintln!("fwatchdog: input: {}", String::from_utf8_lossy(bytes));
                    }
                }
                Some((chunk, input))
            }
            Ok(None) => None,
            Err(_) => Some((
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "read_timeout expired while reading the request body",
                )),
                input,
            )),
        }
    });
    let outcome = match runner::run(&job, pin!(input)).await {
        Ok(outcome) => outcome,
        Err(err) => {
            eprintln!("fwatchdog: {err}");
            return text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{err}\n"));
        }
    };
    if debug {
        eprintln!(
            "fwatchdog: output: {}",
            String::from_utf8_lossy(&outcome.stdout)
        );
    }
    if !outcome.stderr.is_empty() {
        eprintln!(
            "fwatchdog: stderr: {}",
            String::from_utf8_lossy(&outcome.stderr)
        );
    }
    let mut response = match outcome.exit.reason(&limits(config)) {
        None => Response::new(Full::new(outcome.stdout.clone())),
        // The output follows the reason of a failed exit, as OpenFaaS's
        // watchdog answers; a killed run's partial output is dropped.
        Some(reason) if matches!(outcome.exit, Exit::Code(_) | Exit::Signal(_)) => {
            let mut body = Vec::with_capacity(reason.len() + 1 + outcome.stdout.len());
            body.extend_from_slice(reason.as_bytes());
            body.push(b'\n');
            body.extend_from_slice(&outcome.stdout);
            let mut response = Response::new(Full::new(Bytes::from(body)));
            *response.status_mut() = outcome.exit.status();
            response
        }
        Some(reason) => text(outcome.exit.status(), &format!("{reason}\n")),
    };
    let headers = response.headers_mut();
    let content_type = match &config.content_type {
        Some(fixed) => HeaderValue::from_str(fixed).ok(),
        None => parts.headers.get(header::CONTENT_TYPE).cloned(),
    };
    if let (Some(value), true) = (content_type, outcome.exit == Exit::Code(0)) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&format!("{:.6}", outcome.duration.as_secs_f64())) {
        headers.insert("x-duration-seconds", value);
    }
    response
}

fn too_large(config: &Config) -> Response<Full<Bytes>> {
    let reason = Exit::InputTooLarge
        .reason(&limits(config))
        .unwrap_or_default();
    text(StatusCode::PAYLOAD_TOO_LARGE, &format!("{reason}\n"))
}

/// The limits the reasons of a failed run name.
fn limits(config: &Config) -> answer::Limits {
    answer::Limits {
        timeout: config.exec_timeout,
        timeout_setting: "exec_timeout",
        max_input_bytes: config.max_input_bytes,
        input_setting: "max_input_bytes",
        max_output_bytes: config.max_output_bytes,
        output_setting: "max_output_bytes",
    }
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::copy_from_slice(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
