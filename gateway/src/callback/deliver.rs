//! Delivering results: POST to the callback URL with hyper's client over
//! `http` or `https` (rustls, the public roots plus `--callback-ca-file`),
//! connecting only to addresses the guard allows, following no redirect.
//! At most [`ATTEMPTS`] attempts of [`ATTEMPT_LIMIT`] each, [`BACKOFF`]
//! apart; a connection failure, a timeout, 429 or a 5xx is retried, another
//! answer is final.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::http::{Request, Uri};
use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::guard::{Guard, Resolver};
use super::{Callback, CallbackConfig, Notifier, UrlError};

/// Attempts per result.
pub const ATTEMPTS: usize = 3;
/// How long one attempt may take, connecting included.
pub const ATTEMPT_LIMIT: Duration = Duration::from_secs(10);
/// The waits before the second and the third attempt.
pub const BACKOFF: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(4)];

type Connector = HttpsConnector<HttpConnector<Resolver>>;

/// POSTs results with hyper's client.
pub struct HttpNotifier {
    client: Client<Connector, Full<Bytes>>,
    guard: Arc<Guard>,
}

impl HttpNotifier {
    /// A notifier as `config` says: its guard and its trusted roots.
    pub fn open(config: &CallbackConfig) -> anyhow::Result<HttpNotifier> {
        let guard = Guard::new(&config.allow).map_err(anyhow::Error::msg)?;
        HttpNotifier::new(guard, config.ca_file.as_deref())
    }

    /// A notifier reaching what `guard` allows, trusting the public roots
    /// and the PEM certificates in `ca_file`.
    pub fn new(guard: Guard, ca_file: Option<&Path>) -> anyhow::Result<HttpNotifier> {
        let guard = Arc::new(guard);
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(file) = ca_file {
            let certs = CertificateDer::pem_file_iter(file)
                .with_context(|| format!("cannot read the callback CA file {}", file.display()))?;
            for cert in certs {
                let cert =
                    cert.with_context(|| format!("{}: not PEM certificates", file.display()))?;
                roots
                    .add(cert)
                    .with_context(|| format!("{}: a certificate is unusable", file.display()))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new_with_resolver(Resolver(guard.clone()));
        http.enforce_http(false);
        http.set_connect_timeout(Some(ATTEMPT_LIMIT));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(HttpNotifier {
            client: Client::builder(TokioExecutor::new()).build(connector),
            guard,
        })
    }

    /// One attempt: `Ok` with a final answer, `Err` with a retryable reason.
    async fn attempt(&self, cb: &Callback) -> Result<u16, String> {
        let host = cb.url.host().unwrap_or_default();
        // The connector resolves names through the guard; an address in
        // the URL it takes as it is, so it is checked here.
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if literal.parse::<std::net::IpAddr>().is_ok() {
            self.guard.resolve(literal).await.map_err(|e| e.0)?;
        }
        let request = Request::post(cb.url.clone())
            .header("X-Call-Id", cb.call_id.to_string())
            .header("X-Function-Name", &cb.function)
            .header("X-Function-Status", cb.status.to_string())
            .header("X-Duration-Seconds", format!("{:.6}", cb.duration_seconds))
            .body(Full::new(cb.body.clone()))
            .map_err(|e| format!("the request cannot be built: {e}"))?;
        match tokio::time::timeout(ATTEMPT_LIMIT, self.client.request(request)).await {
            Err(_) => Err(format!("no answer within {ATTEMPT_LIMIT:?}")),
            Ok(Err(e)) => Err(reason(&e)),
            Ok(Ok(response)) => {
                let status = response.status();
                if status.is_server_error() || status.as_u16() == 429 {
                    Err(format!("answered {status}"))
                } else {
                    Ok(status.as_u16())
                }
            }
        }
    }
}

/// The deepest cause of a client error: what went wrong, not where.
fn reason(e: &hyper_util::client::legacy::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[async_trait::async_trait]
impl Notifier for HttpNotifier {
    async fn check(&self, url: &Uri) -> Result<(), UrlError> {
        self.guard
            .resolve(url.host().unwrap_or_default())
            .await
            .map(|_| ())
    }

    async fn notify(&self, cb: Callback) -> String {
        let mut why = String::new();
        for attempt in 1..=ATTEMPTS {
            match self.attempt(&cb).await {
                Ok(status) => {
                    return format!(
                        "callback to {} answered {status} (attempt {attempt})",
                        cb.url
                    )
                }
                Err(e) => why = e,
            }
            if let Some(wait) = BACKOFF.get(attempt - 1) {
                tokio::time::sleep(*wait).await;
            }
        }
        tracing::warn!(url = %cb.url, "the callback failed: {why}");
        format!(
            "callback to {} failed after {ATTEMPTS} attempts: {why}",
            cb.url
        )
    }
}
