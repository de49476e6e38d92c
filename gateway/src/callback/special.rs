//! Which addresses are on the public internet, for the callback guard:
//! none of IANA's special-purpose ranges that are not globally reachable
//! (loopback, private, shared, link-local, benchmarking, documentation,
//! reserved, multicast, broadcast, unspecified, unique-local, discard, ORCHID),
//! and IPv6 only in global unicast (`2000::/3`). An IPv6 address that
//! carries an IPv4 one (IPv4-mapped, -compatible and -translated, NAT64's
//! `64:ff9b::/96`, 6to4, Teredo's server and client) is judged by what it
//! carries: `::ffff:127.0.0.1` is the loopback, `2002:a00:1::` the private
//! 10.0.0.1.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match carried(v6) {
            Carries::V4(inner) => inner.into_iter().all(is_public_v4),
            Carries::Nothing => is_public_v6(v6),
            Carries::Unknown => false,
        },
    }
}

/// The IPv4 addresses `ip` stands for besides itself (none for an IPv4
/// address or a plain IPv6 one).
pub fn stands_for(ip: IpAddr) -> Vec<Ipv4Addr> {
    match ip {
        IpAddr::V6(v6) => match carried(v6) {
            Carries::V4(inner) => inner,
            Carries::Nothing | Carries::Unknown => Vec::new(),
        },
        IpAddr::V4(_) => Vec::new(),
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    let shared = a == 100 && (64..128).contains(&b);
    let this_network = a == 0;
    let protocol_assignments = a == 192 && b == 0 && c == 0;
    let benchmarking = a == 198 && (b & 0xfe) == 18;
    // 240.0.0.0/4, 255.255.255.255 (the broadcast) among them.
    let reserved = a >= 240;
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_multicast()
        || v4.is_documentation()
        || shared
        || this_network
        || protocol_assignments
        || benchmarking
        || reserved)
}

/// A plain IPv6 address (carrying no IPv4 one) on the public internet:
/// global unicast, less its documentation, benchmarking and ORCHID ranges.
fn is_public_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    let global_unicast = s[0] & 0xe000 == 0x2000;
    let documentation = (s[0] == 0x2001 && s[1] == 0x0db8) || s[0] & 0xfff0 == 0x3ff0;
    let benchmarking = s[0] == 0x2001 && s[1] == 0x0002 && s[2] == 0;
    // ORCHID (2001:10::/28) and ORCHIDv2 (2001:20::/28).
    let orchid = s[0] == 0x2001 && matches!(s[1] & 0xfff0, 0x0010 | 0x0020);
    global_unicast && !(documentation || benchmarking || orchid)
}

/// What an IPv6 address carries.
enum Carries {
    /// These IPv4 addresses: the address is judged by them.
    V4(Vec<Ipv4Addr>),
    /// No IPv4 address.
    Nothing,
    /// An IPv4 address placed where the operator chose (local-use NAT64):
    /// it cannot be judged, so it is refused.
    Unknown,
}

fn carried(v6: Ipv6Addr) -> Carries {
    let s = v6.segments();
    let o = v6.octets();
    let last = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    let first_96_zero = s[..6].iter().all(|&x| x == 0);
    match s {
        // IPv4-compatible (::a.b.c.d; :: and ::1 too, as 0.0.0.0 and
        // 0.0.0.1, which are refused either way), IPv4-mapped
        // (::ffff:a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d).
        _ if first_96_zero => Carries::V4(vec![last]),
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] => Carries::V4(vec![last]),
        // NAT64's well-known prefix (64:ff9b::/96).
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Carries::V4(vec![last]),
        // Local-use NAT64 (64:ff9b:1::/48): the embedding is the operator's.
        [0x64, 0xff9b, 1, ..] => Carries::Unknown,
        // 6to4 (2002:aabb:ccdd::/48): the IPv4 address of its router.
        [0x2002, ..] => Carries::V4(vec![Ipv4Addr::new(o[2], o[3], o[4], o[5])]),
        // Teredo (2001:0::/32): the server's address, and the client's
        // (its bits inverted).
        [0x2001, 0, ..] => Carries::V4(vec![
            Ipv4Addr::new(o[4], o[5], o[6], o[7]),
            Ipv4Addr::new(!o[12], !o[13], !o[14], !o[15]),
        ]),
        _ => Carries::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(s: &str) -> bool {
        is_public(s.parse().expect("an address"))
    }

    /// Asserts that none of `refused` is public and all of `allowed` are.
    fn judged(refused: &[&str], allowed: &[&str]) {
        for ip in refused {
            assert!(!public(ip), "{ip}");
        }
        for ip in allowed {
            assert!(public(ip), "{ip}");
        }
    }

    #[test]
    fn special_ipv4_ranges_are_not_public() {
        judged(
            &[
                "127.0.0.1",
                "10.1.2.3",
                "172.17.0.1",
                "192.168.1.1",
                "169.254.169.254",
                "100.64.0.1",
                "0.0.0.0",
                "0.1.2.3",
                "192.0.0.8",
                "192.0.2.1",
                "198.51.100.7",
                "203.0.113.9",
                "198.18.0.1",
                "198.19.255.254",
                "224.0.0.1",
                "240.0.0.1",
                "250.1.2.3",
                "255.255.255.254",
                "255.255.255.255",
            ],
            &["8.8.8.8", "1.1.1.1", "198.17.255.255", "198.20.0.1"],
        );
    }

    #[test]
    fn special_ipv6_ranges_are_not_public() {
        judged(
            &[
                "::1",
                "::",
                "fe80::1",
                "fd00::1",
                "fec0::1",
                "ff02::1",
                "100::1",
                "5f00::1",
                "2001:db8::1",
                "3fff::1",
                "2001:2::1",
                "2001:10::1",
                "2001:20::1",
            ],
            &["2606:4700::1111", "2a00:1450:4001::1", "2001:4860::8888"],
        );
    }

    #[test]
    fn an_ipv6_address_carrying_an_ipv4_one_is_judged_by_it() {
        judged(
            &[
                // IPv4-mapped, -compatible and -translated.
                "::ffff:127.0.0.1",
                "::ffff:10.0.0.1",
                "::127.0.0.1",
                "::192.168.0.1",
                "::ffff:0:127.0.0.1",
                // NAT64.
                "64:ff9b::127.0.0.1",
                "64:ff9b::a9fe:a9fe",
                "64:ff9b::198.18.0.1",
                // Local-use NAT64, whatever it carries.
                "64:ff9b:1::8.8.8.8",
                "64:ff9b:1:808:8:800::",
                // 6to4 of 10.0.0.1, 127.0.0.1, 192.168.1.1.
                "2002:a00:1::1",
                "2002:7f00:1::",
                "2002:c0a8:101::1",
                // Teredo: a private server, or a client at 127.0.0.1 (inverted:
                // 80ff:fffe).
                "2001:0:a00:1::fefe:fefe",
                "2001:0:808:808::80ff:fffe",
            ],
            &[
                "::ffff:8.8.8.8",
                "64:ff9b::8.8.8.8",
                "2002:808:808::1",
                // Teredo: server 8.8.8.8, client 1.1.1.1 (inverted: fefe:fefe).
                "2001:0:808:808::fefe:fefe",
            ],
        );
        let carried = stands_for("2002:a00:1::1".parse().expect("an address"));
        assert_eq!(carried, [Ipv4Addr::new(10, 0, 0, 1)]);
        assert!(stands_for("2606:4700::1111".parse().expect("an address")).is_empty());
    }
}
