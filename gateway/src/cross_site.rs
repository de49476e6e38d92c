//! The cross-site guard: nothing a page from another site makes a browser
//! send — with the admin's credentials the browser cached at `/ui/` — is
//! acted on. One rule ([`check`]) for every admin route that changes state
//! and, under `FAAS_INVOKE_AUTH`, every invocation:
//!
//! - a request a browser marks as another site's is 403: `Sec-Fetch-Site`
//!   other than `same-origin` or `none` (typed in, a bookmark), or an
//!   `Origin` that is not the gateway's own (`null` included);
//! - a body must say what it is in a type no cross-site form can send
//!   (415): JSON for management (`application/json`, `…+json`), anything
//!   but a form's (`application/x-www-form-urlencoded`,
//!   `multipart/form-data`, `text/plain`) for an invocation. A page can
//!   send another type only after a CORS preflight, which the gateway never
//!   grants. This holds for browsers that send neither header.
//!
//! Clients that are not browsers (curl, `faas-cli`, `faas`) send neither
//! header. Every browser marks what a page sends (`Origin` on every
//! cross-origin POST, `Sec-Fetch-*` on every request of current ones), so an
//! invocation with none of those marks is not a page's and keeps whatever
//! type its client gives (`faas-cli invoke`'s `text/plain`, `curl -d`'s
//! form type); management bodies are JSON from every client. GET and HEAD
//! carry no body a page could choose, so an invocation by GET passes on its
//! headers alone.

use axum::extract::Request;
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::Error;

/// What the guarded route does, which decides the types its body may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarded {
    /// A management request: its body is JSON.
    Management,
    /// A call of a function: its body is the function's input.
    Invocation,
}

/// The types a cross-site form (or a `no-cors` fetch) can send without a
/// preflight: the CORS-safelisted `Content-Type`s.
const FORM_TYPES: [&str; 3] = [
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "text/plain",
];

/// Middleware: the guard for a `guarded` route.
pub async fn guard(guarded: Guarded, request: Request, next: Next) -> Response {
    match check(guarded, request.method(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}

/// The rule: `Ok` when a request of `method` with `headers` may be acted
/// on, else the refusal (403 or 415) saying why.
pub fn check(guarded: Guarded, method: &Method, headers: &HeaderMap) -> Result<(), Error> {
    same_origin(headers)?;
    if method == Method::GET || method == Method::HEAD {
        return Ok(());
    }
    if guarded == Guarded::Invocation && !from_browser(headers) {
        return Ok(());
    }
    let content_type = match headers.get(header::CONTENT_TYPE) {
        Some(value) => Some(value.to_str().map_err(|_| {
            Error::MediaType(format!("the Content-Type is not text; {}", fix(guarded)))
        })?),
        // A request without a body carries nothing a form could have put
        // in it: the handler says what it misses.
        None if !has_body(headers) => return Ok(()),
        None => None,
    };
    let Some(content_type) = content_type else {
        return Err(Error::MediaType(format!(
            "a body without a Content-Type; {}",
            fix(guarded)
        )));
    };
    let essence = essence(content_type);
    let allowed = match guarded {
        Guarded::Management => is_json(&essence),
        Guarded::Invocation => !FORM_TYPES.contains(&essence.as_str()),
    };
    if allowed {
        Ok(())
    } else {
        Err(Error::MediaType(format!(
            "Content-Type {content_type} is refused here; {}",
            fix(guarded)
        )))
    }
}

/// How to fix a refused type, and why it is refused.
fn fix(guarded: Guarded) -> &'static str {
    match guarded {
        Guarded::Management => {
            "send Content-Type: application/json (a cross-site form cannot, so only JSON is acted on)"
        }
        Guarded::Invocation => {
            "name the input's type, e.g. Content-Type: application/octet-stream or application/json (with FAAS_INVOKE_AUTH a form's types, text/plain, application/x-www-form-urlencoded and multipart/form-data, are refused: a cross-site form can send them)"
        }
    }
}

/// 403 when a browser says the request comes from a page of another site.
fn same_origin(headers: &HeaderMap) -> Result<(), Error> {
    const WHY: &str =
        "the gateway acts only on its own pages' requests and on clients that are not browsers";
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("?");
        if !matches!(site, "same-origin" | "none") {
            return Err(Error::CrossSite(format!(
                "refused a request from another site (Sec-Fetch-Site: {site}): {WHY}"
            )));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("?");
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if !is_own(origin, host) {
            return Err(Error::CrossSite(format!(
                "refused a request from another origin (Origin: {origin}, this gateway is {}): {WHY}",
                host.unwrap_or("unnamed: no Host")
            )));
        }
    }
    Ok(())
}

/// Whether `origin` is the gateway's own: `http` (or `https`, through a
/// TLS proxy) and the request's `Host`, default ports aside.
fn is_own(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host else {
        return false;
    };
    let (scheme, authority) = match origin.split_once("://") {
        Some((scheme, authority)) => (scheme.to_ascii_lowercase(), authority),
        None => return false,
    };
    let default_port = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    let plain = |a: &str| {
        let a = a.to_ascii_lowercase();
        match a.strip_suffix(default_port) {
            Some(bare) => bare.to_string(),
            None => a,
        }
    };
    !authority.is_empty() && !authority.contains('/') && plain(authority) == plain(host)
}

/// Whether a browser marked the request as a page's: an `Origin`, or any
/// `Sec-Fetch-*` header.
fn from_browser(headers: &HeaderMap) -> bool {
    headers.contains_key(header::ORIGIN)
        || headers
            .keys()
            .any(|name| name.as_str().starts_with("sec-fetch-"))
}

/// Whether an HTTP/1.1 request has a body: only when it says so.
fn has_body(headers: &HeaderMap) -> bool {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim() != "0");
    length.unwrap_or(false) || headers.contains_key(header::TRANSFER_ENCODING)
}

/// A media type without its parameters, lower case (`Text/Plain; charset=x`
/// is `text/plain`).
fn essence(content_type: &str) -> String {
    let essence = content_type.split(';').next().unwrap_or_default();
    essence.trim().to_ascii_lowercase()
}

/// JSON: `application/json` or a `+json` type.
fn is_json(essence: &str) -> bool {
    essence == "application/json" || (essence.contains('/') && essence.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    fn status(guarded: Guarded, method: Method, pairs: &[(&'static str, &'static str)]) -> u16 {
        match check(guarded, &method, &headers(pairs)) {
            Ok(()) => 200,
            Err(e) => e.status().as_u16(),
        }
    }

    const JSON: (&str, &str) = ("content-type", "application/json");
    const BODY: (&str, &str) = ("content-length", "2");

    #[test]
    fn management_bodies_are_json() {
        let m = Guarded::Management;
        for (ct, want) in [
            ("application/json", 200),
            ("application/json; charset=utf-8", 200),
            ("Application/JSON", 200),
            ("application/merge-patch+json", 200),
            ("text/plain", 415),
            ("application/x-www-form-urlencoded", 415),
            ("multipart/form-data; boundary=x", 415),
            ("text/plain; charset=utf-8", 415),
            ("application/octet-stream", 415),
            ("+json", 415),
        ] {
            let typed = ("content-type", ct);
            assert_eq!(status(m, Method::POST, &[typed, BODY]), want, "{ct}");
        }
        assert_eq!(status(m, Method::POST, &[BODY]), 415, "a body, no type");
        let chunked = ("transfer-encoding", "chunked");
        assert_eq!(status(m, Method::PUT, &[chunked]), 415, "chunked, no type");
        // An empty form still names its type.
        let form = ("content-type", "text/plain");
        let empty = ("content-length", "0");
        assert_eq!(status(m, Method::POST, &[form, empty]), 415);
        // Nothing sent at all: the handler answers.
        assert_eq!(status(m, Method::DELETE, &[]), 200);
        assert_eq!(status(m, Method::DELETE, &[empty]), 200);
    }

    #[test]
    fn invocations_name_a_type_no_form_can_send() {
        let i = Guarded::Invocation;
        // What a page of the gateway's own sends: its browser marks it.
        let page = ("sec-fetch-site", "same-origin");
        let own = ("origin", "http://127.0.0.1:8080");
        for ok in ["application/octet-stream", "application/json", "image/png"] {
            let ct = ("content-type", ok);
            assert_eq!(status(i, Method::POST, &[ct, BODY, page]), 200, "{ok}");
        }
        for refused in [
            "text/plain",
            "TEXT/PLAIN ; charset=utf-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=b",
        ] {
            let ct = ("content-type", refused);
            for mark in [page, own, ("sec-fetch-mode", "navigate")] {
                assert_eq!(status(i, Method::POST, &[ct, BODY, mark]), 415, "{refused}");
            }
            // curl -d, faas-cli invoke: no browser's marks.
            assert_eq!(status(i, Method::POST, &[ct, BODY]), 200, "{refused}");
        }
        assert_eq!(status(i, Method::POST, &[BODY, page]), 415);
        assert_eq!(status(i, Method::POST, &[BODY]), 200, "not a browser");
        assert_eq!(status(i, Method::POST, &[page]), 200, "no body");
        assert_eq!(status(i, Method::GET, &[]), 200);
        let typed = ("content-type", "text/plain");
        assert_eq!(status(i, Method::GET, &[typed]), 200, "GET carries no form");
    }

    #[test]
    fn another_site_is_refused() {
        let cases: [(&str, &[&str], u16); 4] = [
            ("sec-fetch-site", &["cross-site", "same-site", "other"], 403),
            ("sec-fetch-site", &["same-origin", "none"], 200),
            (
                "origin",
                &[
                    "https://evil.example",
                    "null",
                    "http://127.0.0.1:8081",
                    "http://127.0.0.1",
                    "http://127.0.0.1:8080.evil.example",
                    "ftp://127.0.0.1:8080",
                    "127.0.0.1:8080",
                    "http://",
                ],
                403,
            ),
            (
                "origin",
                &[
                    "http://127.0.0.1:8080",
                    "HTTP://127.0.0.1:8080",
                    "https://127.0.0.1:8080",
                ],
                200,
            ),
        ];
        for g in [Guarded::Management, Guarded::Invocation] {
            for (name, values, want) in cases {
                for value in values {
                    let header = (name, *value);
                    let got = status(g, Method::POST, &[header, JSON, BODY]);
                    assert_eq!(got, want, "{name}: {value}");
                }
            }
            for site in ["cross-site", "same-site", "other"] {
                let s = ("sec-fetch-site", site);
                assert_eq!(status(g, Method::GET, &[s]), 403, "GET, {site}");
            }
        }
    }

    #[test]
    fn default_ports_are_the_same_origin() {
        assert!(is_own("http://gw.example", Some("gw.example:80")));
        assert!(is_own("http://gw.example:80", Some("gw.example")));
        assert!(is_own("https://gw.example", Some("gw.example")));
        assert!(!is_own("https://gw.example", Some("gw.example:80")));
        assert!(!is_own("http://gw.example", None));
    }
}
