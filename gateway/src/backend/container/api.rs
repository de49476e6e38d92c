//! The engine's HTTP API for what bollard does not model (a Swarm task's
//! network attachments): a GET answered with JSON, over the local socket
//! bollard talks to (`DOCKER_HOST` when it is `unix://…`, else
//! `/var/run/docker.sock`), at the API version bollard negotiated.

use std::time::Duration;

use bollard::errors::Error;
use bollard::Docker;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::de::DeserializeOwned;

/// How long the engine gets to answer.
const ANSWER_LIMIT: Duration = Duration::from_secs(30);
/// The largest answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// `GET <path>?<query>` on the engine, its JSON answer read as `T`. An
/// answer other than 2xx is the engine's error, as bollard reports one.
pub async fn get_json<T: DeserializeOwned>(
    docker: &Docker,
    path: &str,
    query: &[(&str, &str)],
) -> Result<T, Error> {
    let body = tokio::time::timeout(ANSWER_LIMIT, get(docker, path, query))
        .await
        .map_err(|_| Error::IOError {
            err: std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the Docker Engine did not answer GET {path} within {ANSWER_LIMIT:?}"),
            ),
        })??;
    serde_json::from_slice(&body).map_err(|err| Error::JsonSerdeError { err })
}

async fn get(docker: &Docker, path: &str, query: &[(&str, &str)]) -> Result<Bytes, Error> {
    let stream = tokio::net::UnixStream::connect(socket_path()).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("the Docker Engine connection ended: {e}");
        }
    });
    let version = docker.client_version();
    let query: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let uri = format!(
        "/v{}.{}{path}?{}",
        version.major_version,
        version.minor_version,
        query.join("&")
    );
    let request = hyper::Request::get(uri)
        .header(hyper::header::HOST, "docker")
        .body(Empty::<Bytes>::new())
        .map_err(|e| Error::HttpClientError { err: e })?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|e| Error::IOError {
            err: std::io::Error::other(format!("reading the Docker Engine's answer: {e}")),
        })?
        .to_bytes();
    if !status.is_success() {
        #[derive(serde::Deserialize)]
        struct Message {
            message: String,
        }
        let message = serde_json::from_slice::<Message>(&body)
            .map(|m| m.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
        return Err(Error::DockerResponseServerError {
            status_code: status.as_u16(),
            message,
        });
    }
    Ok(body)
}

/// The engine's socket, as bollard's local connection finds it.
fn socket_path() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|host| host.strip_prefix("unix://").map(str::to_string))
        .unwrap_or_else(|| "/var/run/docker.sock".to_string())
}

/// Every byte but RFC 3986's unreserved ones (`A-Z a-z 0-9 - . _ ~`).
const RESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` percent-encoded for a query string.
fn encode(text: &str) -> String {
    utf8_percent_encode(text, RESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode(r#"{"service":["a b"]}"#),
            "%7B%22service%22%3A%5B%22a%20b%22%5D%7D"
        );
        assert_eq!(encode("plain-1_2.3~"), "plain-1_2.3~");
    }
}
