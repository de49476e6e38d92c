//! Failed logins, per client address: after `attempts` wrong credentials
//! an address is locked for `lockout`, and each further failure doubles
//! it up to `lockout_max`. While locked, every request needing credentials
//! is refused (429 with `Retry-After`) without looking at them, so a
//! brute-forcer learns nothing more however fast it sends; a correct login
//! forgets the address's failures. No login is ever delayed: an address
//! that is not locked is answered at once.
//!
//! The address is the connection's peer, never `X-Forwarded-For` or the
//! like, which any client can write. IPv6 addresses count by their /64, the
//! block one host is usually given, so cycling addresses within it buys
//! nothing. The table is bounded ([`MAX_ADDRESSES`]).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::LoginLimits;

/// Addresses kept at most. An entry is a few dozen bytes, so the table
/// stays under a megabyte; when it is full the entry nearest to being
/// forgotten goes. An attacker with more addresses than this gains at
/// most each one's free attempts again, which a fresh address has anyway.
pub const MAX_ADDRESSES: usize = 10_000;

/// An address with no failure for this long (and not locked) is forgotten:
/// long enough that waiting out the lockouts buys few free attempts.
pub const FORGET: Duration = Duration::from_secs(3600);

/// A client as counted: an IPv4 address (IPv4-mapped IPv6 as IPv4), or an
/// IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Client(IpAddr);

impl Client {
    pub fn of(ip: IpAddr) -> Client {
        match ip {
            IpAddr::V4(v4) => Client(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Client(IpAddr::V4(v4)),
                None => {
                    let bits = u128::from(v6) & !((1u128 << 64) - 1);
                    Client(IpAddr::V6(Ipv6Addr::from(bits)))
                }
            },
        }
    }
}

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

struct Entry {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

impl Entry {
    fn forgotten_at(&self) -> Instant {
        let at = self.last_failure + FORGET;
        self.locked_until.map_or(at, |until| until.max(at))
    }
}

pub struct Logins {
    limits: LoginLimits,
    table: Mutex<HashMap<Client, Entry>>,
}

impl Logins {
    pub fn new(limits: LoginLimits) -> Logins {
        Logins {
            limits,
            table: Mutex::new(HashMap::new()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<Client, Entry>> {
        // Each change leaves the table whole: a panic elsewhere leaves it usable.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long `client` stays locked, if it is.
    pub fn locked(&self, client: Client) -> Option<Duration> {
        let now = Instant::now();
        let until = self.table().get(&client)?.locked_until?;
        (until > now).then(|| until - now)
    }

    /// `client` sent the right credentials: its failures are forgotten.
    pub fn succeeded(&self, client: Client) {
        let mut table = self.table();
        if !table.is_empty() {
            table.remove(&client);
        }
    }

    /// `client` sent wrong credentials (while not locked): counted, and
    /// locked once past the free attempts. Returns the lockout it got.
    pub fn failed(&self, client: Client) -> Option<Duration> {
        let now = Instant::now();
        let mut table = self.table();
        if !table.contains_key(&client) && table.len() >= MAX_ADDRESSES {
            table.retain(|_, e| e.forgotten_at() > now);
            if table.len() >= MAX_ADDRESSES {
                let nearest = table
                    .iter()
                    .min_by_key(|(_, e)| e.forgotten_at())
                    .map(|(c, _)| *c);
                if let Some(nearest) = nearest {
                    table.remove(&nearest);
                }
            }
        }
        let entry = table.entry(client).or_insert(Entry {
            failures: 0,
            last_failure: now,
            locked_until: None,
        });
        if entry.forgotten_at() <= now {
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last_failure = now;
        let over = entry.failures.checked_sub(self.limits.attempts)?;
        let lockout = self
            .limits
            .lockout
            .saturating_mul(2u32.saturating_pow(over.min(31)))
            .min(self.limits.lockout_max);
        entry.locked_until = Some(now + lockout);
        Some(lockout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: LoginLimits = LoginLimits {
        attempts: 3,
        lockout: Duration::from_secs(1),
        lockout_max: Duration::from_secs(5),
    };

    fn client(text: &str) -> Client {
        Client::of(text.parse().expect("an address"))
    }

    #[tokio::test(start_paused = true)]
    async fn locked_after_the_free_attempts_with_doubling_lockouts() {
        let logins = Logins::new(LIMITS);
        let a = client("192.0.2.1");
        assert_eq!(logins.failed(a), None);
        assert_eq!(logins.failed(a), None);
        assert_eq!(logins.locked(a), None, "two failures are free");
        assert_eq!(logins.failed(a), Some(Duration::from_secs(1)));
        assert_eq!(logins.locked(a), Some(Duration::from_secs(1)));
        assert_eq!(logins.locked(client("192.0.2.2")), None, "others are not");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(logins.locked(a), Some(Duration::from_millis(600)));
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(logins.locked(a), None);
        for expected in [2, 4, 5, 5] {
            assert_eq!(logins.failed(a), Some(Duration::from_secs(expected)));
            tokio::time::sleep(Duration::from_secs(expected)).await;
        }
        logins.succeeded(a);
        assert_eq!(logins.failed(a), None, "a correct login forgets");
    }

    #[tokio::test(start_paused = true)]
    async fn failures_are_forgotten_after_an_hour() {
        let logins = Logins::new(LIMITS);
        let a = client("192.0.2.1");
        logins.failed(a);
        logins.failed(a);
        tokio::time::sleep(FORGET).await;
        assert_eq!(logins.failed(a), None);
        assert_eq!(logins.failed(a), None);
        assert!(logins.failed(a).is_some());
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(client("2001:db8:1:2:a::1"), client("2001:db8:1:2:ffff::9"));
        assert_ne!(client("2001:db8:1:2::1"), client("2001:db8:1:3::1"));
        assert_eq!(client("::ffff:192.0.2.1"), client("192.0.2.1"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_table_is_bounded() {
        let logins = Logins::new(LIMITS);
        for i in 0..(MAX_ADDRESSES as u32 + 10) {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            logins.failed(Client::of(IpAddr::V4(ip)));
        }
        assert_eq!(logins.table().len(), MAX_ADDRESSES);
    }
}
