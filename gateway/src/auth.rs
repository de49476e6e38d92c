//! Basic auth (user `admin`) for management and call-inspection routes,
//! and for invocation with `FAAS_INVOKE_AUTH`. The password comes from
//! `FAAS_BASIC_AUTH_PASSWORD_FILE`, or is generated at first start into the
//! data directory and printed once. Wrong credentials count against the
//! client's address, which [`crate::logins`] locks out after a few.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::app::App;
use crate::config::Config;
use crate::error::Error;
use crate::logins::Client;

pub const USER: &str = "admin";
const GENERATED: &str = "admin-password";

/// The admin password for `config`.
pub fn load(config: &Config) -> anyhow::Result<String> {
    if let Some(file) = &config.auth.password_file {
        return read(file);
    }
    let file = config.data_dir.join(GENERATED);
    if file.exists() {
        return read(&file);
    }
    let password = uuid::Uuid::new_v4().simple().to_string();
    write_private(&file, &password).with_context(|| format!("cannot write {}", file.display()))?;
    tracing::info!(
        "admin password: {password} (user admin; saved in {}; shown only this once)",
        file.display()
    );
    Ok(password)
}

/// The admin password kept in `file` (the gateway's, and its agents').
pub fn read(file: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the password file {}", file.display()))?;
    let password = text.trim_end_matches(['\n', '\r']).to_string();
    anyhow::ensure!(
        !password.is_empty(),
        "the password file {} is empty",
        file.display()
    );
    Ok(password)
}

fn write_private(file: &Path, password: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = crate::files::create_file(file, true)?;
    f.write_all(password.as_bytes())?;
    f.write_all(b"\n")
}

/// Whether an `Authorization` header value carries the admin credentials.
pub fn allows(header: Option<&[u8]>, password: &str) -> bool {
    let Some(encoded) = header.and_then(|h| h.strip_prefix(b"Basic ")) else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim_ascii()) else {
        return false;
    };
    crate::secret::matches(&decoded, format!("{USER}:{password}").as_bytes())
}

/// Whether `headers` carry the admin credentials, counting a wrong try
/// against `client` (when known): 429 while `client` is locked, without
/// looking at the credentials; 401 without them or with wrong ones. A
/// request with no `Authorization` at all is not a try.
pub fn check(app: &App, headers: &HeaderMap, client: Option<Client>) -> Result<(), Error> {
    if let Some(wait) = client.and_then(|c| app.logins.locked(c)) {
        app.metrics.login_throttled.inc();
        return Err(Error::LoginsLocked(wait));
    }
    let header = headers.get(AUTHORIZATION).map(|v| v.as_bytes());
    if allows(header, &app.password) {
        if let Some(client) = client {
            app.logins.succeeded(client);
        }
        return Ok(());
    }
    if header.is_some() {
        app.metrics.login_failures.inc();
        if let Some(lockout) = client.and_then(|c| app.logins.failed(c)) {
            tracing::warn!(
                "failed logins from {}: locked for {}s",
                client.map_or_else(String::new, |c| c.to_string()),
                lockout.as_secs_f64()
            );
        }
    }
    Err(Error::Unauthorized)
}

/// The client a request came from (set by `connection` on each request).
pub fn client(request: &Request) -> Option<Client> {
    let ConnectInfo(peer) = request.extensions().get::<ConnectInfo<SocketAddr>>()?;
    Some(Client::of(peer.ip()))
}

/// Who made `request`, for the records: the admin and the address it
/// came from.
pub fn who(request: &Request) -> String {
    match request.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(peer)) => format!("{USER} from {}", peer.ip()),
        None => USER.to_string(),
    }
}

/// Middleware: 401 unless the request carries the admin credentials (429
/// while its address is locked).
pub async fn require(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    match check(&app, request.headers(), client(&request)) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials() {
        let good = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("admin:pw")
        );
        assert!(allows(Some(good.as_bytes()), "pw"));
        assert!(!allows(Some(good.as_bytes()), "px"));
        assert!(!allows(Some(b"Basic !!"), "pw"));
        assert!(!allows(None, "pw"));
        let other = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("root:pw")
        );
        assert!(!allows(Some(other.as_bytes()), "pw"));
    }
}
