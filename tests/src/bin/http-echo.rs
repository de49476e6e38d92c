//! `http-echo`: the sample function for the watchdog's http mode (the image
//! `faas/sample-http-echo`). A small HTTP/1.1 server that answers every
//! request with its body, streamed back as it arrives, and its
//! `Content-Type`: the http mode's `cat`.
//!
//! Usage: `http-echo [ADDRESS]` (default `127.0.0.1:5000`).
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{header, Request, Response};
use hyper_util::rt::TokioIo;

async fn echo(req: Request<Incoming>) -> Result<Response<Incoming>, Infallible> {
    let content_type = req.headers().get(header::CONTENT_TYPE).cloned();
    let mut response = Response::new(req.into_body());
    if let Some(value) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    Ok(response)
}

#[tokio::main]
async fn main() -> ExitCode {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5000".into());
    let Ok(address) = address.parse::<SocketAddr>() else {
        eprintln!("http-echo: {address:?} is not an address: give one like 127.0.0.1:5000");
        return ExitCode::from(2);
    };
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("http-echo: cannot listen on {address}: {err}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("http-echo: listening on {address}");
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors and the like: back off, keep serving.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(echo))
                .await;
        });
    }
}
