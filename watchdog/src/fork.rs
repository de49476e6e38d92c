//! Fork mode, the default: every request spawns `fprocess` through
//! [`crate::runner`], with the request body on STDIN and STDOUT as the
//! answer.
//!
//! Status codes: 200 exit 0; 500 non-zero exit (a line naming the status,
//! then the output); 405 other methods; 413 input over `max_input_bytes`;
//! 502 output over `max_output_bytes`; 504 `exec_timeout`.

use std::io;
use std::pin::pin;

use futures_util::StreamExt;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::reply::{duration_header, text, Body};
use crate::runner::{self, Exit, Job, OutputMode};
use crate::{answer, cgi, token, Config};

/// Runs `fprocess` for `req`. `process_env`: the whole environment of
/// every process (with a gateway token: this one's less the token), or
/// `None` to inherit this one's.
pub async fn handle(
    config: &Config,
    process_env: Option<&[(String, String)]>,
    req: Request<Incoming>,
) -> Response<Body> {
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
    let mut env = process_env.map(<[_]>::to_vec).unwrap_or_default();
    if config.cgi_headers {
        env.extend(cgi::request_env(&parts.method, &parts.uri, &parts.headers));
    }
    let job = Job {
        argv: config.fprocess.clone(),
        env,
        clear_env: process_env.is_some(),
        timeout: config.timeouts.exec,
        max_input_bytes: config.max_input_bytes,
        max_output_bytes: config.max_output_bytes,
        output: if config.combine_output {
            OutputMode::Combined
        } else {
            OutputMode::Separate
        },
    };
    let deadline = tokio::time::Instant::now() + config.timeouts.read;
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
        None => Response::new(Body::whole(outcome.stdout.clone())),
        // The output follows the reason of a failed exit, as OpenFaaS's
        // watchdog answers; a killed run's partial output is dropped.
        Some(reason) if matches!(outcome.exit, Exit::Code(_) | Exit::Signal(_)) => {
            let mut body = Vec::with_capacity(reason.len() + 1 + outcome.stdout.len());
            body.extend_from_slice(reason.as_bytes());
            body.push(b'\n');
            body.extend_from_slice(&outcome.stdout);
            let mut response = Response::new(Body::whole(body));
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
    headers.insert(
        "x-duration-seconds",
        duration_header(outcome.duration.as_secs_f64()),
    );
    response
}

fn too_large(config: &Config) -> Response<Body> {
    let reason = Exit::InputTooLarge
        .reason(&limits(config))
        .unwrap_or_default();
    text(StatusCode::PAYLOAD_TOO_LARGE, &format!("{reason}\n"))
}

/// The limits the reasons of a failed run name.
fn limits(config: &Config) -> answer::Limits {
    answer::Limits {
        timeout: config.timeouts.exec,
        timeout_setting: "exec_timeout",
        max_input_bytes: config.max_input_bytes,
        input_setting: "max_input_bytes",
        max_output_bytes: config.max_output_bytes,
        output_setting: "max_output_bytes",
    }
}
