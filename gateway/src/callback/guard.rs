//! Which callback targets the gateway may reach. By default none that is
//! not a public address ([`super::special`]: loopback, link-local,
//! private, shared, benchmarking, documentation, reserved, unique-local,
//! multicast, broadcast, unspecified, and IPv6 forms carrying such an IPv4
//! address), nor any address of the gateway's own host ([`super::own`]):
//! the host and its neighbours (the Docker API, a cloud's metadata
//! endpoint, the functions' networks, the gateway itself on a public
//! address) are not the caller's to reach. `--callback-allow` opens
//! networks (CIDRs or addresses) or host names, over all of these. A name
//! is resolved ([`crate::dns`]) at acceptance and again at each
//! delivery, and the connection goes only to the addresses just checked,
//! so a name cannot be re-pointed in between.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use hyper_util::client::legacy::connect::dns::Name;
use ipnet::IpNet;

use super::own::OwnAddresses;
use super::special;
use super::UrlError;

/// The callback targets allowed beyond the public internet, and the host's
/// own addresses, refused unless allowed.
#[derive(Debug, Clone)]
pub struct Guard {
    nets: Vec<IpNet>,
    /// Allowed host names, lowercase.
    hosts: Vec<String>,
    own: Arc<OwnAddresses>,
}

impl Default for Guard {
    /// Public addresses only, none of the host's own.
    fn default() -> Guard {
        Guard {
            nets: Vec::new(),
            hosts: Vec::new(),
            own: Arc::new(OwnAddresses::read()),
        }
    }
}

impl Guard {
    /// A guard opening `allow`: each a CIDR (`10.0.0.0/8`), an address, or
    /// a host name.
    pub fn new(allow: &[String]) -> Result<Guard, String> {
        let mut guard = Guard::default();
        for entry in allow.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            if let Ok(net) = entry.parse::<IpNet>() {
                guard.nets.push(net);
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                guard.nets.push(IpNet::from(ip));
            } else if valid_host_name(entry) {
                guard.hosts.push(entry.to_ascii_lowercase());
            } else {
                return Err(format!(
                    "--callback-allow {entry:?}: use a CIDR (10.0.0.0/8), an address or a host name"
                ));
            }
        }
        Ok(guard)
    }

    /// Whether the gateway may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.refusal(ip).is_none()
    }

    /// Why the gateway may not connect to `ip`, if it may not.
    fn refusal(&self, ip: IpAddr) -> Option<&'static str> {
        if self.nets.iter().any(|net| net.contains(&ip)) {
            return None;
        }
        if !special::is_public(ip) {
            return Some("it is not a public address");
        }
        let own = self.own.contains(ip)
            || special::stands_for(ip)
                .into_iter()
                .any(|v4| self.own.contains(IpAddr::V4(v4)));
        own.then_some("it is an address of the gateway's own host")
    }

    /// Whether `host` was allowed by name.
    fn allows_name(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// The addresses of `host` the gateway may connect to: all of them, or
    /// an error naming the first it may not.
    pub async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, UrlError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.check(host, vec![ip]);
        }
        let found = crate::dns::lookup(host, 0)
            .await
            .map_err(|e| UrlError(format!("the callback host {host} cannot be resolved: {e}")))?;
        let ips: Vec<IpAddr> = found.into_iter().map(|a| a.ip()).collect();
        if ips.is_empty() {
            return Err(UrlError(format!("the callback host {host} has no address")));
        }
        self.check(host, ips)
    }

    fn check(&self, host: &str, ips: Vec<IpAddr>) -> Result<Vec<IpAddr>, UrlError> {
        if self.allows_name(host) {
            return Ok(ips);
        }
        match ips
            .iter()
            .find_map(|ip| self.refusal(*ip).map(|why| (ip, why)))
        {
            Some((ip, why)) => Err(UrlError(format!(
                "callbacks to {host} ({ip}) are not allowed: {why} \
                 (allow it with --callback-allow / FAAS_CALLBACK_ALLOW)"
            ))),
            None => Ok(ips),
        }
    }
}

/// Letters, digits, dots and dashes: a DNS name.
fn valid_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// The callback client's resolver: only addresses the guard allows.
#[derive(Clone)]
pub struct Resolver(pub Arc<Guard>);

impl tower_service::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = UrlError;
    type Future = BoxFuture<'static, Result<Self::Response, UrlError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), UrlError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let guard = self.0.clone();
        Box::pin(async move {
            let ips = guard.resolve(name.as_str()).await?;
            let addrs: Vec<SocketAddr> = ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect();
            Ok(addrs.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn the_host_and_its_neighbours_are_refused_by_default() {
        let guard = Guard::default();
        // One of each kind; the ranges themselves are `special`'s tests.
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!guard.allows(ip(refused)), "{refused}");
        }
        for allowed in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
            assert!(guard.allows(ip(allowed)), "{allowed}");
        }
    }

    #[test]
    fn the_allow_list_opens_networks_and_names() {
        let allow = [
            "127.0.0.1".to_string(),
            "10.0.0.0/8".into(),
            "hooks.internal".into(),
        ];
        let guard = Guard::new(&allow).expect("a guard");
        assert!(guard.allows(ip("127.0.0.1")));
        assert!(guard.allows(ip("10.9.9.9")));
        assert!(!guard.allows(ip("127.0.0.2")));
        assert!(guard
            .check("HOOKS.internal", vec![ip("192.168.0.9")])
            .is_ok());
        assert!(guard
            .check("other.internal", vec![ip("192.168.0.9")])
            .is_err());
        assert!(Guard::new(&["not a host!".to_string()]).is_err());
    }

    #[test]
    fn the_allow_list_opens_the_new_refusals_too() {
        let guard =
            Guard::new(&["198.18.0.0/15".to_string(), "64:ff9b::/96".into()]).expect("a guard");
        assert!(guard.allows(ip("198.19.0.1")));
        assert!(guard.allows(ip("64:ff9b::10.0.0.1")));
        assert!(!Guard::default().allows(ip("64:ff9b::10.0.0.1")));
    }

    #[test]
    fn a_public_address_of_the_host_is_refused_in_every_form() {
        let own = ip("198.20.0.1");
        let guard = Guard {
            own: Arc::new(OwnAddresses::fixed(vec![own])),
            ..Guard::default()
        };
        for form in [
            "198.20.0.1",
            "::ffff:198.20.0.1",
            "64:ff9b::198.20.0.1",
            "2002:c614:1::1",
        ] {
            let refused = guard.check("me", vec![ip(form)]).expect_err(form);
            assert!(
                refused
                    .0
                    .contains("it is an address of the gateway's own host"),
                "{form}: {}",
                refused.0
            );
        }
        assert!(guard.allows(ip("198.20.0.2")));
        let allowed = Guard {
            own: Arc::new(OwnAddresses::fixed(vec![own])),
            ..Guard::new(&["198.20.0.1".to_string()]).expect("a guard")
        };
        assert!(allowed.allows(own), "--callback-allow overrides");
    }

    /// Each address of this host's interfaces (whatever they are): the guard
    /// refuses it, as the host's when no range does.
    #[test]
    fn the_host_s_own_addresses_are_refused() {
        let guard = Guard::default();
        let own: Vec<IpAddr> = nix::ifaddrs::getifaddrs()
            .expect("getifaddrs")
            .filter_map(|i| i.address)
            .filter_map(|a| a.as_sockaddr_in().map(|v4| IpAddr::V4(v4.ip())))
            .collect();
        for address in &own {
            assert!(!guard.allows(*address), "{address}");
            let refused = guard.check("me", vec![*address]).expect_err("refused");
            let why = if special::is_public(*address) {
                "it is an address of the gateway's own host"
            } else {
                "it is not a public address"
            };
            assert!(refused.0.contains(why), "{}", refused.0);
            // Carried in IPv6 forms too.
            if let IpAddr::V4(v4) = address {
                assert!(!guard.allows(IpAddr::V6(v4.to_ipv6_mapped())), "{v4}");
            }
            let allowed = Guard::new(&[address.to_string()]).expect("a guard");
            assert!(allowed.allows(*address), "{address}");
        }
        assert!(!own.is_empty(), "the host has at least its loopback");
    }

    #[tokio::test]
    async fn a_name_is_refused_when_any_of_its_addresses_is() {
        let guard = Guard::default();
        let refused = guard.resolve("localhost").await;
        assert!(refused.is_err_and(|e| e.0.contains("not allowed")));
        assert!(guard.resolve("[::1]").await.is_err());
        let allowed = Guard::new(&["localhost".to_string()]).expect("a guard");
        assert!(allowed.resolve("localhost").await.is_ok());
    }
}
