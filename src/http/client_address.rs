//! The client's address, for the login throttle: the TCP peer, or, when the
//! peer is a trusted proxy (`PATRON_TRUSTED_PROXIES`), the address the
//! proxies recorded in `X-Forwarded-For`.
//!
//! Behind a reverse proxy every request comes from the proxy's address; keyed
//! by it, 20 failed logins from anyone locked everyone out. The header is
//! read from the right: each trusted proxy appends the address it was
//! connected from, so the rightmost entry that is not itself a trusted proxy
//! is the client. Entries to the left of it are whatever the client sent (a
//! spoofed `X-Forwarded-For`) and are never read.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use actix_web::HttpRequest;
use ipnet::IpNet;

/// The address requests of this client are counted under; None when the
/// connection has no peer address (not a TCP connection).
pub fn of(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    // Each entry on its own: a byte that is not text in what the client
    // sent spoils its own entry only, not the address a proxy appended to
    // the same line (read whole, the line was one bad entry, and the walk
    // stopped at the proxy: a review).
    let lines: Vec<String> = req
        .headers()
        .get_all("x-forwarded-for")
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect();
    let forwarded: Vec<&str> = lines.iter().map(String::as_str).collect();
    Some(through_proxies(peer, &forwarded, trusted))
}

/// The key a client is counted under by the login throttle: an IPv4
/// address as it is (an IPv4-mapped IPv6 one as the IPv4 it maps), an IPv6
/// address by its /64. A site, even a single host, is routed a whole /64 and
/// may use any of its 2^64 addresses: keyed by the full address, each guess
/// could come from a fresh one, and the per-client limits held no one (an
/// outside review).
pub fn throttle_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let prefix = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{prefix}/64")
        }
    }
}

/// Walks `X-Forwarded-For` (all its header lines, in order) from the right
/// while the hop that wrote the entry is trusted. An entry that is not an
/// address stops the walk at the hop that wrote it: a trusted proxy writes
/// addresses, so it came from the client and tells nothing.
fn through_proxies(peer: IpAddr, forwarded: &[&str], trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer.to_canonical();
    let entries = forwarded.iter().flat_map(|line| line.split(','));
    for entry in entries.rev() {
        if !is_trusted(&client) {
            break;
        }
        match address(entry.trim()) {
            Some(ip) => client = ip,
            None => break,
        }
    }
    client
}

/// An entry as proxies write it: an address, or an address with a port
/// (`203.0.113.7:51234`, `[2001:db8::1]:443`). IPv4-mapped IPv6 addresses
/// (a dual-stack listener's) are read as the IPv4 address they map.
fn address(entry: &str) -> Option<IpAddr> {
    let ip = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))?;
    Some(ip.to_canonical())
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().expect("a range")).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let peer = ip("198.51.100.5");
        assert_eq!(through_proxies(peer, &["203.0.113.7"], &[]), peer);
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(through_proxies(peer, &["203.0.113.7"], &trusted), peer);
    }

    #[test]
    fn the_rightmost_untrusted_entry_is_the_client() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1/32"]);
        let proxy = ip("127.0.0.1");
        for (header, client) in [
            (vec!["203.0.113.7"], "203.0.113.7"),
            // The client sent a spoofed entry; the proxy appended the real one.
            (vec!["1.1.1.1, 203.0.113.7"], "203.0.113.7"),
            // Two proxies: the inner one appended the outer one's address.
            (vec!["1.1.1.1, 203.0.113.7, 10.1.2.3"], "203.0.113.7"),
            // The same, as two header lines.
            (vec!["1.1.1.1, 203.0.113.7", "10.1.2.3"], "203.0.113.7"),
            (vec!["203.0.113.7:51234"], "203.0.113.7"),
            (vec!["[2001:db8::1]:443"], "2001:db8::1"),
            (vec!["::ffff:203.0.113.7"], "203.0.113.7"),
            // Every entry a proxy: the farthest one.
            (vec!["10.9.9.9, 10.1.2.3"], "10.9.9.9"),
            // Not an address: the hop that passed it on.
            (vec!["unknown, 10.1.2.3"], "10.1.2.3"),
            (vec!["203.0.113.7, garbage"], "127.0.0.1"),
            (vec![""], "127.0.0.1"),
            (vec![], "127.0.0.1"),
        ] {
            assert_eq!(
                through_proxies(proxy, &header, &trusted),
                ip(client),
                "{header:?}"
            );
        }
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let key = |s: &str| throttle_key(ip(s));
        assert_eq!(key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("::1"), "::/64");
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_ne!(key("203.0.113.7"), key("203.0.113.8"));
    }

    #[test]
    fn a_mapped_peer_is_matched_as_ipv4() {
        let trusted = nets(&["127.0.0.1/32"]);
        let peer = ip("::ffff:127.0.0.1");
        assert_eq!(
            through_proxies(peer, &["203.0.113.7"], &trusted),
            ip("203.0.113.7")
        );
    }
}
