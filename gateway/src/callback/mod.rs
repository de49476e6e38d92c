//! `X-Callback-Url`: a call's result POSTed to a URL of the caller's when
//! the call ends. The URL is checked when the call is accepted (`http` or
//! `https`, and a target the [`guard`] allows: by default only public
//! addresses ([`special`]) that are none of the gateway host's own
//! ([`own`])) and again at each delivery ([`deliver`]: bounded attempts
//! with backoff, no redirects followed).

mod deliver;
pub mod guard;
mod own;
mod special;

use std::path::PathBuf;

use axum::http::Uri;
use bytes::Bytes;

use crate::call_id::CallId;

pub use deliver::HttpNotifier;
pub use guard::Guard;

/// Where results may be delivered, and whom to trust there.
#[derive(Debug, Clone, Default)]
pub struct CallbackConfig {
    /// Targets allowed beyond the public internet: CIDRs, addresses or
    /// host names.
    pub allow: Vec<String>,
    /// PEM certificates trusted for `https` targets besides the public
    /// roots.
    pub ca_file: Option<PathBuf>,
}

/// One result to deliver.
#[derive(Debug)]
pub struct Callback {
    pub url: Uri,
    pub call_id: CallId,
    pub function: String,
    /// The HTTP status the call would have answered.
    pub status: u16,
    pub duration_seconds: f64,
    pub body: Bytes,
}

/// Delivers results; the seam a test or a queue-backed notifier can fill.
#[async_trait::async_trait]
pub trait Notifier: Send + Sync {
    /// Whether results may be delivered to `url` (checked at acceptance).
    async fn check(&self, url: &Uri) -> Result<(), UrlError>;
    /// Delivers `callback` within a bounded time; says how it went, for
    /// the call's events.
    async fn notify(&self, callback: Callback) -> String;
}

/// An `X-Callback-Url` that cannot be used; the text says why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UrlError(pub String);

/// Reads an `X-Callback-Url` value: an absolute `http://` or `https://` URL
/// with a host.
pub fn parse_url(value: &str) -> Result<Uri, UrlError> {
    let bad = |why: &str| UrlError(format!("invalid X-Callback-Url {value:?}: {why}"));
    let uri: Uri = value.parse().map_err(|_| bad("not a URL"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        Some(_) => return Err(bad("use an http:// or https:// URL")),
        None => return Err(bad("use an absolute URL such as https://host/path")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("the URL has no host"));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(parse_url("http://127.0.0.1:9/x").is_ok());
        assert!(parse_url("https://example.com/done").is_ok());
        for bad in ["", "nope", "/relative", "ftp://x/", "http://"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
