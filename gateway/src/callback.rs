//! `X-Callback-Url`: checking the URL when a call is accepted, and POSTing
//! the result there when it ends (one attempt, as OpenFaaS does).

use std::time::Duration;

use axum::http::{Request, Uri};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

/// How long a callback receiver gets to answer.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// One result to deliver.
#[derive(Debug)]
pub struct Callback {
    pub url: Uri,
    pub call_id: String,
    pub function: String,
    /// The HTTP status the call would have answered.
    pub status: u16,
    pub duration_seconds: f64,
    pub body: Bytes,
}

/// Delivers results; the seam a test or a queue-backed notifier can fill.
#[async_trait::async_trait]
pub trait Notifier: Send + Sync {
    /// Delivers `callback`, once, within a bounded time.
    async fn notify(&self, callback: Callback);
}

/// An `X-Callback-Url` that cannot be used; the text says why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UrlError(String);

/// Checks an `X-Callback-Url` value: an absolute `http://` URL.
pub fn parse_url(value: &str) -> Result<Uri, UrlError> {
    let bad = |why: &str| UrlError(format!("invalid X-Callback-Url {value:?}: {why}"));
    let uri: Uri = value.parse().map_err(|_| bad("not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(_) => return Err(bad("only http:// URLs are supported")),
        None => return Err(bad("use an absolute URL such as http://host:port/path")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("the URL has no host"));
    }
    Ok(uri)
}

/// POSTs results with hyper's client.
pub struct HttpNotifier {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Default for HttpNotifier {
    fn default() -> HttpNotifier {
        HttpNotifier {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

#[async_trait::async_trait]
impl Notifier for HttpNotifier {
    async fn notify(&self, cb: Callback) {
        let request = Request::post(cb.url.clone())
            .header("X-Call-Id", &cb.call_id)
            .header("X-Function-Name", &cb.function)
            .header("X-Function-Status", cb.status.to_string())
            .header("X-Duration-Seconds", format!("{:.6}", cb.duration_seconds))
            .body(Full::new(cb.body));
        let request = match request {
            Ok(request) => request,
            Err(e) => {
                tracing::warn!(call_id = %cb.call_id, "cannot build the callback request: {e}");
                return;
            }
        };
        match tokio::time::timeout(DELIVERY_TIMEOUT, self.client.request(request)).await {
            Ok(Ok(response)) if response.status().is_success() => {}
            Ok(Ok(response)) => {
                tracing::warn!(call_id = %cb.call_id, url = %cb.url, "the callback answered {}", response.status())
            }
            Ok(Err(e)) => {
                tracing::warn!(call_id = %cb.call_id, url = %cb.url, "the callback failed: {e}")
            }
            Err(_) => {
                tracing::warn!(call_id = %cb.call_id, url = %cb.url, "the callback timed out")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(parse_url("http://127.0.0.1:9/x").is_ok());
        for bad in [
            "",
            "nope",
            "/relative",
            "https://example.com/",
            "ftp://x/",
            "http://",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
