//! Every route the gateway serves, in one table: method, path, who may call
//! it, and its handler. The router is built from this table only, and a test
//! holds the table and `openapi.json` to each other.

use axum::handler::Handler;
use axum::http::Method;
use axum::middleware;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;

use crate::api::{calls, functions, invoke, logs, samples, secrets, system, ui, AppState};
use crate::auth;
use crate::cross_site::{self, Guarded};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (health, metrics, and the UUID-guarded Hyper addresses).
    Open,
    /// The admin credentials.
    Admin,
    /// Open unless `FAAS_INVOKE_AUTH`.
    Invoke,
}

pub struct Route {
    #[cfg_attr(not(test), allow(dead_code))] // read by the OpenAPI test
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    handler: MethodRouter<AppState>,
}

fn route<H, T>(method: Method, path: &'static str, access: Access, handler: H) -> Route
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
    Route {
        method,
        path,
        access,
        handler: on(filter, handler),
    }
}

/// The same handler for GET, POST, PUT, PATCH and DELETE.
fn any<H, T>(table: &mut Vec<Route>, path: &'static str, access: Access, handler: H)
where
    H: Handler<T, AppState> + Clone,
    T: 'static,
{
    for method in invoke::METHODS {
        table.push(route(method, path, access, handler.clone()));
    }
}

/// The table.
#[rustfmt::skip]
pub fn table() -> Vec<Route> {
    use Access::*;
    use Method as M;
    let mut t = vec![
        route(M::GET,    "/healthz",                              Open,  system::healthz),
        route(M::GET,    "/metrics",                              Open,  system::metrics),
        route(M::GET,    "/system/openapi.json",                  Open,  system::openapi),
        route(M::GET,    "/system/info",                          Admin, system::info),
        route(M::GET,    "/system/namespaces",                    Admin, system::namespaces),
        route(M::POST,   "/system/alert",                         Admin, system::alert),
        route(M::GET,    "/system/functions",                     Admin, functions::list),
        route(M::POST,   "/system/functions",                     Admin, functions::deploy),
        route(M::PUT,    "/system/functions",                     Admin, functions::update),
        route(M::DELETE, "/system/functions",                     Admin, functions::remove),
        route(M::GET,    "/system/function/{name}",               Admin, functions::get),
        route(M::GET,    "/system/function/{name}/status",        Admin, functions::status),
        route(M::GET,    "/system/function/{name}/calls",         Admin, calls::list),
        route(M::GET,    "/system/function/{name}/samples",       Admin, samples::samples),
        route(M::POST,   "/system/scale-function/{name}",         Admin, functions::scale),
        route(M::GET,    "/system/secrets",                       Admin, secrets::list),
        route(M::POST,   "/system/secrets",                       Admin, secrets::create),
        route(M::PUT,    "/system/secrets",                       Admin, secrets::update),
        route(M::DELETE, "/system/secrets",                       Admin, secrets::remove),
        route(M::GET,    "/system/calls/{callId}",                Admin, calls::get),
        route(M::DELETE, "/system/calls/{callId}",                Admin, calls::cancel),
        route(M::GET,    "/system/calls/{callId}/output",         Admin, calls::output),
        route(M::GET,    "/system/logs",                          Admin, logs::logs),
        route(M::GET,    "/ui",                                   Admin, ui::index),
        route(M::GET,    "/ui/",                                  Admin, ui::index),
        route(M::GET,    "/ui/{file}",                            Admin, ui::file),
        route(M::POST,   "/",                                     Invoke, invoke::root),
        route(M::GET,    "/output/{name}/{uuid}/{callId}",        Open,  calls::hyper_output),
        route(M::GET,    "/output/{name}/{uuid}/{callId}/wait",   Open,  calls::hyper_output_wait),
    ];
    // Every method a function answers.
    let (sync, async_) = (invoke::call::<false>, invoke::call::<true>);
    any(&mut t, "/function/{name}",               Invoke, sync);
    any(&mut t, "/function/{name}/{*path}",       Invoke, sync);
    any(&mut t, "/async-function/{name}",         Invoke, async_);
    any(&mut t, "/async-function/{name}/{*path}", Invoke, async_);
    any(&mut t, "/call/{name}/{uuid}",            Open,   async_);
    any(&mut t, "/call/{name}/{uuid}/sync",       Open,   sync);
    t
}

/// Whether `path` is the portal's.
fn is_portal(path: &str) -> bool {
    path == "/ui" || path.starts_with("/ui/")
}

/// What the cross-site guard holds a route to: every admin route that
/// changes state, and the invocations that need the credentials.
fn cross_site_rule(r: &Route, invoke_auth: bool) -> Option<Guarded> {
    match r.access {
        Access::Admin if r.method != Method::GET && r.method != Method::HEAD => {
            Some(Guarded::Management)
        }
        Access::Invoke if invoke_auth => Some(Guarded::Invocation),
        _ => None,
    }
}

/// The router for `app`: the table, each route behind its access rule.
pub fn router(app: AppState) -> Router {
    let invoke_auth = app.config.auth.invoke;
    let mut router = Router::new();
    for r in table() {
        let guarded = match r.access {
            Access::Open => false,
            Access::Admin => true,
            Access::Invoke => invoke_auth,
        };
        let cross_site = cross_site_rule(&r, invoke_auth);
        let mut handler = if guarded {
            r.handler
                .route_layer(middleware::from_fn_with_state(app.clone(), auth::require))
        } else {
            r.handler
        };
        if let Some(rule) = cross_site {
            // Outside the auth check: another site's request gets no 401,
            // whose prompt would ask the admin to send it on.
            handler = handler.route_layer(middleware::from_fn(move |req, next| {
                cross_site::guard(rule, req, next)
            }));
        }
        if is_portal(r.path) {
            // Outside the auth check, so that its 401 carries them too.
            handler = handler.route_layer(middleware::map_response(ui::headers));
        }
        router = router.route(r.path, handler);
    }
    router
        .fallback(system::no_route)
        .method_not_allowed_fallback(system::method_not_allowed)
        .with_state(app)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// `{*path}` is OpenAPI's `{path}`.
    fn openapi_path(path: &str) -> String {
        path.replace("{*", "{")
    }

    #[test]
    fn the_table_and_openapi_json_agree() {
        let doc: serde_json::Value =
            serde_json::from_str(system::OPENAPI).expect("openapi.json parses");
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                if ["get", "post", "put", "patch", "delete", "head", "options"]
                    .contains(&method.as_str())
                {
                    documented.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        let served: BTreeSet<_> = table()
            .iter()
            .map(|r| (r.method.to_string(), openapi_path(r.path)))
            .collect();
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&served).collect();
        assert!(
            undocumented.is_empty(),
            "served but not in openapi.json: {undocumented:?}"
        );
        assert!(
            unserved.is_empty(),
            "in openapi.json but not served: {unserved:?}"
        );
    }

    #[test]
    fn admin_routes_are_the_management_and_inspection_ones_and_the_portal() {
        for r in table() {
            let admin = (r.path.starts_with("/system/") && r.path != "/system/openapi.json")
                || is_portal(r.path);
            assert_eq!(r.access == Access::Admin, admin, "{} {}", r.method, r.path);
        }
    }

    #[test]
    fn the_cross_site_guard_holds_every_change_and_guarded_call() {
        for r in table() {
            let changes = r.method != Method::GET;
            let expected = match r.access {
                Access::Admin if changes => Some(Guarded::Management),
                _ => None,
            };
            assert_eq!(
                cross_site_rule(&r, false),
                expected,
                "{} {}",
                r.method,
                r.path
            );
            let expected = match r.access {
                Access::Invoke => Some(Guarded::Invocation),
                _ => expected,
            };
            assert_eq!(
                cross_site_rule(&r, true),
                expected,
                "{} {}",
                r.method,
                r.path
            );
        }
    }
}
