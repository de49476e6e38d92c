//! `upstream_url`, where the http mode's `fprocess` listens: `http://`, an
//! IP address (or `localhost`) and a port, and an optional path that every
//! request's path is appended to. The server runs beside the watchdog, so
//! no name is looked up: a `FROM scratch` image has no resolver.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use http::HeaderValue;

/// A parsed `upstream_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    /// What the watchdog connects to.
    pub addr: SocketAddr,
    /// The `Host` header requests are passed on with.
    pub host: HeaderValue,
    /// The path prefix, without a trailing `/` (empty for none).
    pub base: String,
    /// As it was written, for messages.
    pub text: String,
}

impl UpstreamUrl {
    /// Parses `text`; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<UpstreamUrl, String> {
        let rest = text
            .trim()
            .strip_prefix("http://")
            .ok_or("it does not start with http://")?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if path.contains(['?', '#']) {
            return Err("it has a query or fragment; give only a path".into());
        }
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or("it has no port, as in http://127.0.0.1:5000")?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{port:?} is not a port"))?;
        let ip = match host {
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            _ => host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| format!("{host:?} is not an IP address (or localhost)"))?,
        };
        let addr = SocketAddr::new(ip, port);
        let host = HeaderValue::from_str(&addr.to_string())
            .map_err(|_| format!("{addr} cannot be a Host header"))?;
        Ok(UpstreamUrl {
            addr,
            host,
            base: path.trim_end_matches('/').to_string(),
            text: text.trim().to_string(),
        })
    }

    /// The upstream path for a request's `path_and_query`.
    pub fn path_for(&self, path_and_query: &str) -> String {
        let mut path = String::with_capacity(self.base.len() + path_and_query.len());
        path.push_str(&self.base);
        path.push_str(path_and_query);
        if path.is_empty() {
            path.push('/');
        }
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_ports_and_paths() {
        let url = UpstreamUrl::parse("http://127.0.0.1:5000").expect("valid");
        assert_eq!(url.addr, "127.0.0.1:5000".parse().expect("an address"));
        assert_eq!(url.path_for("/a?b=1"), "/a?b=1");
        let url = UpstreamUrl::parse("http://localhost:3000/api/").expect("valid");
        assert_eq!(url.addr, "127.0.0.1:3000".parse().expect("an address"));
        assert_eq!(url.path_for("/x"), "/api/x");
        let url = UpstreamUrl::parse("http://[::1]:80").expect("valid");
        assert_eq!(url.addr, "[::1]:80".parse().expect("an address"));
        assert_eq!(url.host, "[::1]:80");
    }

    #[test]
    fn what_is_wrong_is_said() {
        for (bad, says) in [
            ("https://127.0.0.1:1", "http://"),
            ("http://127.0.0.1", "no port"),
            ("http://127.0.0.1:0", "not a port"),
            ("http://function:5000", "not an IP address"),
            ("http://127.0.0.1:5000/?a=1", "query"),
        ] {
            let err = UpstreamUrl::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
