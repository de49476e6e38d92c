//! The portal at `/ui/`: one page, its script and its style sheet, built
//! into the binary (nothing to install, nothing fetched from elsewhere).
//! The page reads the same API as everyone, with the browser's basic-auth
//! credentials. Every `/ui` answer carries [`headers`]: a
//! Content-Security-Policy that lets the page load and connect to the
//! gateway only and run no inline script, `nosniff`, and no framing.

use axum::extract::Path;
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::error::Error;

/// A file of the portal.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../ui/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../ui/app.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../ui/style.css"),
    },
];

/// What the page may load, run and connect to: the gateway only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; \
form-action 'none'; frame-ancestors 'none'";

/// `GET /ui` and `GET /ui/`: the page (its links are absolute, so both work).
pub async fn index() -> Response {
    serve(&ASSETS[0])
}

/// `GET /ui/<file>`: the page's script, style sheet, or the page itself.
pub async fn file(Path(file): Path<String>) -> Result<Response, Error> {
    ASSETS
        .iter()
        .find(|a| a.name == file)
        .map(serve)
        .ok_or_else(|| Error::NoRoute(format!("GET /ui/{file}")))
}

fn serve(asset: &Asset) -> Response {
    ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
}

/// Adds the portal's security headers to an answer under `/ui`.
pub async fn headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    let set = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in set {
        h.insert::<HeaderName>(name, HeaderValue::from_static(value));
    }
    response
}
