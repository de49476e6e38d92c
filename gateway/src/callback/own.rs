//! The gateway host's own addresses: every address (and broadcast
//! address) of every interface, public ones included, read with
//! `getifaddrs` at start and again, at most every [`REFRESH`], when a
//! check finds the list older: a callback to one of them would reach the
//! gateway itself or whatever else listens on its host.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::socket::SockaddrStorage;

/// How long a read of the interfaces' addresses is trusted.
pub const REFRESH: Duration = Duration::from_secs(5);

/// The host's addresses as last read.
#[derive(Debug)]
pub struct OwnAddresses {
    read: Mutex<(Instant, Vec<IpAddr>)>,
}

impl OwnAddresses {
    /// Reads the addresses now.
    pub fn read() -> OwnAddresses {
        OwnAddresses {
            read: Mutex::new((Instant::now(), interface_addresses(&[]))),
        }
    }

    /// A host with `addresses`, as if just read.
    #[cfg(test)]
    pub fn fixed(addresses: Vec<IpAddr>) -> OwnAddresses {
        OwnAddresses {
            read: Mutex::new((Instant::now(), addresses)),
        }
    }

    /// Whether `ip` is an address of the host, as read within [`REFRESH`].
    pub fn contains(&self, ip: IpAddr) -> bool {
        let mut read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        if read.0.elapsed() >= REFRESH {
            let fresh = interface_addresses(&read.1);
            *read = (Instant::now(), fresh);
        }
        read.1.contains(&ip)
    }
}

/// Every interface's addresses and broadcast addresses; `last` when they
/// cannot be read (logged).
fn interface_addresses(last: &[IpAddr]) -> Vec<IpAddr> {
    match nix::ifaddrs::getifaddrs() {
        Ok(interfaces) => {
            let mut found: Vec<IpAddr> = interfaces
                .flat_map(|i| [i.address, i.broadcast])
                .flatten()
                .filter_map(|a| ip_of(&a))
                .collect();
            found.sort();
            found.dedup();
            found
        }
        Err(e) => {
            tracing::warn!("cannot read the host's interface addresses (getifaddrs: {e}); callbacks are checked against the last ones read");
            last.to_vec()
        }
    }
}

fn ip_of(address: &SockaddrStorage) -> Option<IpAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(IpAddr::V4(v4.ip()));
    }
    address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loopback_is_one_of_them() {
        let own = OwnAddresses::read();
        assert!(own.contains("127.0.0.1".parse().expect("an address")));
        assert!(!own.contains("192.0.2.77".parse().expect("an address")));
    }
}
