//! Host names to addresses without the C library: a pure-Rust resolver
//! (hickory) reading `/etc/resolv.conf` and `/etc/hosts`, so the static
//! gateway resolves names in its `FROM scratch` image too, where glibc's
//! `getaddrinfo` has no NSS to load (Docker writes both files into every
//! container, its embedded DNS `127.0.0.11` in the first). Every name the
//! gateway resolves goes through [`lookup`]. Each lookup reads the files
//! afresh and keeps no answer: a name is resolved again every time (Docker's
//! DNS gives service names a TTL of 600 s, while their tasks come and go).

use std::io;
use std::net::{IpAddr, SocketAddr};

use hickory_resolver::config::{LookupIpStrategy, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;

/// The addresses of `host` (a name, an address, or an IPv6 address in
/// brackets) at `port`. An address is answered as it is; a name is looked
/// up in `/etc/hosts`, then through the name servers of `/etc/resolv.conf`.
/// A name with no address is `NotFound`, with a line saying so.
pub async fn lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let resolver = resolver().map_err(io::Error::other)?;
    match resolver.lookup_ip(host).await {
        Ok(found) => {
            let addrs: Vec<SocketAddr> = found.iter().map(|ip| SocketAddr::new(ip, port)).collect();
            if addrs.is_empty() {
                return Err(no_address(host));
            }
            Ok(addrs)
        }
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Err(no_address(host)),
        Err(e) => Err(io::Error::other(format!("cannot resolve {host}: {e}"))),
    }
}

fn no_address(host: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("no such host: {host} has no address"),
    )
}

/// A resolver made from the system's files as they are now.
fn resolver() -> Result<TokioResolver, String> {
    let mut builder = match TokioResolver::builder_tokio() {
        Ok(builder) => builder,
        Err(e) => {
            // No usable /etc/resolv.conf: /etc/hosts still answers.
            tracing::warn!(
                "cannot read /etc/resolv.conf ({e}): host names resolve through /etc/hosts only"
            );
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, Vec::new(), Vec::new()),
                TokioRuntimeProvider::default(),
            )
        }
    };
    let options = builder.options_mut();
    options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    builder
        .build()
        .map_err(|e| format!("cannot make a resolver: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn addresses_are_answered_as_they_are() {
        let v4 = lookup("10.1.2.3", 80).await.expect("an address");
        assert_eq!(v4, ["10.1.2.3:80".parse::<SocketAddr>().expect("addr")]);
        let v6 = lookup("[::1]", 8080).await.expect("an address");
        assert_eq!(v6, ["[::1]:8080".parse::<SocketAddr>().expect("addr")]);
    }

    #[tokio::test]
    async fn localhost_comes_from_the_hosts_file() {
        let found = lookup("localhost", 9).await.expect("localhost");
        assert!(
            found.iter().all(|a| a.ip().is_loopback() && a.port() == 9),
            "{found:?}"
        );
        assert!(found.contains(&"127.0.0.1:9".parse().expect("addr")));
    }

    #[tokio::test]
    async fn a_name_that_does_not_exist_says_so() {
        // `.invalid` never resolves (RFC 6761); with no name server reachable
        // the lookup fails too, with the resolver's reason.
        let err = lookup("no-such-host.invalid", 80)
            .await
            .expect_err("no address");
        let text = err.to_string();
        assert!(text.contains("no-such-host.invalid"), "{text}");
        eprintln!("{text}");
        assert!(!text.contains('\n'), "one line: {text}");
    }
}
