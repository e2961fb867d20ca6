//! Webhook rules: event names and filters, the signature, the retry delay,
//! and which addresses a delivery may go to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hmac::{Hmac, Mac};
use ipnet::IpNet;
use sha2::Sha256;

/// Entity types and operations of the change feed (`db::changes` holds the
/// same lists for storage; a test keeps them equal).
pub const ENTITY_TYPES: &[&str] = &[
    "customer",
    "contact",
    "interaction",
    "transaction",
    "need",
    "stage_change",
    "survey",
    "survey_response",
    "account_plan",
    "segment",
];
pub const OPERATIONS: &[&str] = &["created", "updated", "deleted", "restored"];
pub const MAX_EVENT_FILTERS: usize = 50;

/// A delivery attempt's outcome: a 2xx answer, or anything else.
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";
pub const DELIVERY_OUTCOMES: &[&str] = &[DELIVERED, FAILED];

/// The event name of a change: `<entity_type>.<operation>`.
pub fn event_name(entity_type: &str, operation: &str) -> String {
    format!("{entity_type}.{operation}")
}

/// Why a filter is not valid, or None: `*`, `<type>.<operation>`, and either
/// half may be `*` (`transaction.*`, `*.deleted`).
pub fn filter_error(filter: &str) -> Option<String> {
    if filter == "*" {
        return None;
    }
    let Some((entity, op)) = filter.split_once('.') else {
        return Some(format!(
            "{filter:?} is not an event filter: use `*`, `<type>.<operation>`, `<type>.*` or `*.<operation>`"
        ));
    };
    if entity != "*" && !ENTITY_TYPES.contains(&entity) {
        return Some(format!(
            "unknown entity type {entity:?}; one of: {}",
            ENTITY_TYPES.join(", ")
        ));
    }
    if op != "*" && !OPERATIONS.contains(&op) {
        return Some(format!(
            "unknown operation {op:?}; one of: {}",
            OPERATIONS.join(", ")
        ));
    }
    if entity != "*" && op != "*" && !operations_of(entity).contains(&op) {
        return Some(format!(
            "{filter:?} never fires: the feed records {entity} changes as {} only",
            operations_of(entity).join(", ")
        ));
    }
    None
}

/// The operations the change feed records for an entity type: a stage
/// change and a survey response are only ever created, and only a card is
/// restored. A filter naming another (`survey_response.updated`) was taken
/// and silently never delivered anything (a review).
pub fn operations_of(entity: &str) -> &'static [&'static str] {
    match entity {
        "customer" => OPERATIONS,
        "stage_change" | "survey_response" => &["created"],
        _ => &["created", "updated", "deleted"],
    }
}

/// Two filter lists select the same events when they hold the same filters,
/// whatever their order or repeats: a client re-sending its list in another
/// order changed nothing (it reset the failure count and skipped the
/// back-off, a review).
pub fn same_filters(a: &[String], b: &[String]) -> bool {
    use std::collections::BTreeSet;
    a.iter().collect::<BTreeSet<_>>() == b.iter().collect::<BTreeSet<_>>()
}

/// Does any of `filters` select the event `<entity_type>.<operation>`?
pub fn matches(filters: &[String], entity_type: &str, operation: &str) -> bool {
    filters.iter().any(|f| {
        if f == "*" {
            return true;
        }
        match f.split_once('.') {
            Some((e, o)) => (e == "*" || e == entity_type) && (o == "*" || o == operation),
            None => false,
        }
    })
}

/// The entity types `filters` can select, or none when one of them selects
/// every type (`*`, `*.<operation>`): a subscription's position is expired
/// only when a change of these types after it was purged.
pub fn entity_types(filters: &[String]) -> Vec<String> {
    let mut types: Vec<String> = Vec::new();
    for f in filters {
        let entity = f.split_once('.').map_or(f.as_str(), |(e, _)| e);
        if entity == "*" {
            return Vec::new();
        }
        if !types.iter().any(|t| t == entity) {
            types.push(entity.to_string());
        }
    }
    types
}

/// `Patron-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, body))
}

fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// What a receiver does: recompute and compare in constant time.
pub fn verify(secret: &str, header: &str, body: &str) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.verify_slice(&v1).is_ok()
}

/// The delay before the next attempt after `failures` consecutive failures:
/// base, 2×base, 4×base, … capped at `max_ms`.
pub fn backoff_ms(failures: i64, base_ms: u64, max_ms: u64) -> u64 {
    let exp = failures.clamp(1, 40) as u32 - 1;
    base_ms.saturating_mul(1u64 << exp.min(40)).min(max_ms)
}

/// Is `ip` an address on the public internet? Not: the networks of this
/// server and its neighbours (loopback, private, carrier-grade NAT,
/// link-local with the cloud metadata service at 169.254.169.254), and
/// addresses no one answers on the internet (this network, benchmarking,
/// IETF protocol assignments, multicast, reserved, broadcast). An IPv6
/// address that carries an IPv4 one (IPv4-mapped `::ffff:0:0/96`,
/// IPv4-translated `::ffff:0:0:0/96`, NAT64 `64:ff9b::/96`, 6to4
/// `2002::/16`, Teredo `2001::/32`, ISATAP's `::5efe:a.b.c.d` interface
/// ids) reaches that IPv4 address, through a
/// translator, relay or tunnel that may sit in this server's network, and is
/// judged by it (`address_allowed` with no network allowed).
pub fn is_public(ip: IpAddr) -> bool {
    address_allowed(ip, &[])
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let not_public = a == 0 // 0.0.0.0/8, "this network" (0.0.0.0 is this host)
        || a == 10
        || (a == 100 && (64..128).contains(&b)) // 100.64.0.0/10, carrier-grade NAT
        || a == 127
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 168)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 224; // multicast 224/4, reserved 240/4, broadcast
    !not_public
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let not_public = ip.is_unspecified()
        || ip.is_loopback()
        || first & 0xfe00 == 0xfc00 // unique local fc00::/7
        || first & 0xffc0 == 0xfe80 // link-local fe80::/10
        || first & 0xffc0 == 0xfec0 // site-local fec0::/10 (deprecated, still private)
        || first & 0xff00 == 0xff00 // multicast ff00::/8
        // The rest of 64:ff9b::/32 beside the well-known /96 (judged by its
        // IPv4 address): the local-use 64:ff9b:1::/48 (RFC 8215) reaches
        // whatever IPv4 network the local translator serves, its own 10.x
        // hosts included, with the IPv4 address split around a reserved
        // octet (RFC 6052); nothing on the internet answers on the rest.
        || ip.segments()[..2] == [0x64, 0xff9b];
    !not_public
}

/// The IPv4 address whose route an IPv6 address's prefix stands for, when
/// it has one: the address is reached through it, and judged by it. Also
/// the deprecated IPv4-compatible `::a.b.c.d` (`::/96`, `::` and `::1`
/// aside), which an outside review found judged as public.
fn translated_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    let last = last_32_bits(ip);
    let mapped = s[..6] == [0, 0, 0, 0, 0, 0xffff];
    // SIIT's IPv4-translated form (RFC 2765), ::ffff:0:a.b.c.d.
    let translated = s[..6] == [0, 0, 0, 0, 0xffff, 0];
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    let compatible = s[..6] == [0; 6] && !ip.is_unspecified() && !ip.is_loopback();
    if mapped || translated || nat64 || compatible {
        return Some(last);
    }
    match s[..2] {
        // 6to4 (RFC 3056): 2002:aabb:ccdd::/48 is the site at a.b.c.d; a
        // 6to4 relay sends the packet there over IPv4.
        [0x2002, _] => Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])),
        // Teredo (RFC 4380): the client's IPv4 address is the last 32 bits,
        // inverted; the relay sends the packet there over IPv4 (UDP). The
        // Teredo server's own address (bits 32–63) is not where it goes.
        [0x2001, 0] => Some(!last),
        _ => None,
    }
}

/// ISATAP (RFC 5214): under any /64, the interface id 0:5efe:a.b.c.d
/// (200:5efe: the address is global) is the node's IPv4 address, which an
/// ISATAP router of the prefix's site reaches over IPv4. A condition on top
/// of the prefix's own (a unique-local prefix stays private whatever its
/// interface id).
fn isatap_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    (s[4] & 0xfdff == 0 && s[5] == 0x5efe).then(|| last_32_bits(ip))
}

fn last_32_bits(ip: Ipv6Addr) -> Ipv4Addr {
    let [.., a, b, c, d] = ip.octets();
    Ipv4Addr::new(a, b, c, d)
}

/// May a delivery connect to `ip`: public, or in one of the `allowed`
/// networks (`PATRON_WEBHOOK_ALLOWED_NETWORKS`). An IPv6 address carrying
/// IPv4 ones is allowed by a network of its own, or when its prefix's route
/// (the IPv4 address it stands for, or else the IPv6 prefix) and its ISATAP
/// interface id's address are each public or allowed.
pub fn address_allowed(ip: IpAddr, allowed: &[IpNet]) -> bool {
    let listed = |ip: IpAddr| allowed.iter().any(|net| net.contains(&ip));
    let v4_ok = |v4: Ipv4Addr| is_public_v4(v4) || listed(IpAddr::V4(v4));
    match ip {
        IpAddr::V4(v4) => v4_ok(v4),
        IpAddr::V6(_) if listed(ip) => true,
        IpAddr::V6(v6) => {
            let routed = translated_v4(v6).map_or_else(|| is_public_v6(v6), v4_ok);
            routed && isatap_v4(v6).is_none_or(v4_ok)
        }
    }
}

/// Why a delivery to `host` is refused before any name is resolved, or
/// None: an IP address outside the allowed networks, or `localhost` (and
/// `*.localhost`, RFC 6761: always this machine) unless loopback is allowed.
/// Any other name is judged when a delivery connects, by the addresses it
/// resolves to then (`webhook_target`): DNS can change after this check.
pub fn host_refusal(host: url::Host<&str>, allowed: &[IpNet]) -> Option<String> {
    match host {
        url::Host::Ipv4(ip) => address_refusal(IpAddr::V4(ip), allowed),
        url::Host::Ipv6(ip) => address_refusal(IpAddr::V6(ip), allowed),
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let local = name == "localhost" || name.ends_with(".localhost");
            let loopback_allowed = address_allowed(Ipv4Addr::LOCALHOST.into(), allowed)
                || address_allowed(Ipv6Addr::LOCALHOST.into(), allowed);
            (local && !loopback_allowed).then(|| {
                format!(
                    "{name} names this server itself (loopback), which is not in PATRON_WEBHOOK_ALLOWED_NETWORKS: deliveries there could reach this server's own services"
                )
            })
        }
    }
}

fn address_refusal(ip: IpAddr, allowed: &[IpNet]) -> Option<String> {
    (!address_allowed(ip, allowed)).then(|| {
        format!(
            "{ip} is not a public address (loopback, private, link-local or reserved) and not in PATRON_WEBHOOK_ALLOWED_NETWORKS: deliveries there could reach this server's own network"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|n| n.parse().unwrap_or_else(|e| panic!("{n}: {e}")))
            .collect()
    }

    /// The first and last address of each range, and one just outside it
    /// where that is public.
    #[test]
    fn ipv4_ranges_that_are_not_public() {
        for (range, inside, outside) in [
            (
                "0.0.0.0/8",
                &["0.0.0.0", "0.255.255.255"][..],
                &["1.0.0.0"][..],
            ),
            (
                "10/8",
                &["10.0.0.0", "10.1.2.3", "10.255.255.255"],
                &["11.0.0.0", "9.255.255.255"],
            ),
            (
                "100.64/10",
                &["100.64.0.0", "100.127.255.255"],
                &["100.63.255.255", "100.128.0.0"],
            ),
            (
                "127/8",
                &["127.0.0.1", "127.255.255.255"],
                &["128.0.0.0", "126.255.255.255"],
            ),
            (
                "169.254/16",
                &["169.254.0.0", "169.254.169.254"],
                &["169.253.255.255", "169.255.0.0"],
            ),
            (
                "172.16/12",
                &["172.16.0.0", "172.31.255.255"],
                &["172.15.255.255", "172.32.0.0"],
            ),
            ("192.0.0/24", &["192.0.0.0", "192.0.0.255"], &["192.0.1.0"]),
            (
                "192.168/16",
                &["192.168.0.0", "192.168.255.255"],
                &["192.167.255.255", "192.169.0.0"],
            ),
            (
                "198.18/15",
                &["198.18.0.0", "198.19.255.255"],
                &["198.17.255.255", "198.20.0.0"],
            ),
            (
                "224/4",
                &["224.0.0.0", "239.255.255.255"],
                &["223.255.255.255"],
            ),
            (
                "240/4",
                &["240.0.0.0", "255.255.255.254", "255.255.255.255"],
                &[],
            ),
        ] {
            for a in inside {
                assert!(!is_public(ip(a)), "{a} is in {range}");
            }
            for a in outside {
                assert!(is_public(ip(a)), "{a} is outside {range}");
            }
        }
        for public in ["8.8.8.8", "1.1.1.1", "93.184.216.34"] {
            assert!(is_public(ip(public)), "{public}");
        }
    }

    #[test]
    fn ipv6_ranges_that_are_not_public() {
        for (range, inside) in [
            ("::/128", &["::"][..]),
            ("::1/128", &["::1"]),
            (
                "fc00::/7",
                &[
                    "fc00::",
                    "fd12:3456::1",
                    "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                ],
            ),
            ("fe80::/10", &["fe80::1", "febf:ffff::1"]),
            ("fec0::/10", &["fec0::1"]),
            ("ff00::/8", &["ff02::1", "ffff::1"]),
        ] {
            for a in inside {
                assert!(!is_public(ip(a)), "{a} is in {range}");
            }
        }
        for public in [
            "2001:4860:4860::8888",
            "2a00:1450::1",
            "fbff::1",
            "fe7f::1",
            // Beside 64:ff9b::/32.
            "64:fe9b::1",
            "64:ff9c::1",
        ] {
            assert!(is_public(ip(public)), "{public}");
        }
    }

    #[test]
    fn ipv6_carrying_ipv4_is_judged_by_the_ipv4_address() {
        for private in [
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.1.2.3",
            "::ffff:0.0.0.0",
            "64:ff9b::127.0.0.1",
            "64:ff9b::192.168.1.1",
            "64:ff9b::a9fe:a9fe",
            // IPv4-compatible (deprecated) and the local-use NAT64 prefix.
            "::10.1.2.3",
            "::127.0.0.1",
            "64:ff9b:1::a00:5",
            "64:ff9b:1:ffff::808:808",
            // IPv4-translated (SIIT), 6to4 (the site's address in bits
            // 16–47) and Teredo (the client's address inverted at the end).
            "::ffff:0:127.0.0.1",
            "::ffff:0:a9fe:a9fe",
            "2002:7f00:1::",
            "2002:a00:5:1::1",
            "2002:a9fe:a9fe::",
            "2002:c0a8:101:ffff:ffff:ffff:ffff:ffff",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "2001:0:808:808::f5ff:fffa",
            // ISATAP under a global prefix, and 64:ff9b::/32 beyond the /96.
            "2001:db8:1:2:0:5efe:10.0.0.5",
            "2a00:1450:1:2:200:5efe:169.254.169.254",
            "64:ff9b:a00:5::",
            "64:ff9b:ffff::1",
            // 6to4 to a public site, with an ISATAP interface id inside.
            "2002:808:808:1:0:5efe:10.0.0.5",
            // A private prefix stays private whatever its interface id.
            "fd00::5efe:8.8.8.8",
            "fe80::200:5efe:8.8.8.8",
            "64:ff9b:1:a00:0:5efe:808:808",
        ] {
            assert!(!is_public(ip(private)), "{private}");
        }
        for public in [
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "::ffff:0:8.8.8.8",
            "2002:808:808::1",
            "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
            // Beside Teredo: 2001:1::/32 and on are not Teredo.
            "2001:1::a00:5",
            "2a00:1450:1:2:200:5efe:8.8.8.8",
            // Not an ISATAP interface id.
            "2a00:1450:1:2:100:5efe:a00:5",
        ] {
            assert!(is_public(ip(public)), "{public}");
        }
    }

    #[test]
    fn the_allowed_networks_let_private_addresses_through() {
        let none: Vec<IpNet> = Vec::new();
        assert!(address_allowed(ip("8.8.8.8"), &none));
        assert!(!address_allowed(ip("10.1.2.3"), &none));
        let erp = nets(&["10.0.0.0/8", "::1/128"]);
        assert!(address_allowed(ip("10.1.2.3"), &erp));
        assert!(address_allowed(ip("::ffff:10.1.2.3"), &erp));
        assert!(address_allowed(ip("::1"), &erp));
        assert!(!address_allowed(ip("127.0.0.1"), &erp));
        assert!(!address_allowed(ip("169.254.169.254"), &erp));
        // An IPv6 network allows its mapped addresses.
        let mapped = nets(&["::ffff:192.168.0.0/112"]);
        assert!(address_allowed(ip("::ffff:192.168.3.4"), &mapped));
        assert!(address_allowed(ip("2002:a01:203::1"), &erp));
        assert!(!address_allowed(ip("2002:c0a8:304::1"), &erp));
        // An ISATAP interface id does not open a private prefix.
        assert!(!address_allowed(ip("fd00::5efe:10.0.0.5"), &erp));
        assert!(!address_allowed(
            ip("2a00:1450:1:2:0:5efe:192.168.1.1"),
            &erp
        ));
        assert!(address_allowed(ip("2a00:1450:1:2:0:5efe:10.0.0.5"), &erp));
    }

    #[test]
    fn hosts_refused_before_resolving() {
        let host = |s: &str| -> Option<String> {
            let url = url::Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            let host = url.host().unwrap_or_else(|| panic!("{s}: no host"));
            host_refusal(host, &[])
        };
        for refused in [
            "http://169.254.169.254/latest/meta-data/",
            "http://127.0.0.1:5432/",
            "http://10.0.0.5/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[2002:7f00:1::]/",
            "http://0.0.0.0/",
            // The URL parser reads these as 127.0.0.1, as browsers do.
            "http://2130706433/",
            "http://0x7f.1/",
            "http://localhost:6379/",
            "http://LOCALHOST./",
            "http://api.localhost/",
        ] {
            let why = host(refused).unwrap_or_else(|| panic!("{refused} is allowed"));
            assert!(why.contains("PATRON_WEBHOOK_ALLOWED_NETWORKS"), "{why}");
        }
        assert_eq!(
            host("http://[::ffff:7f00:1]/"),
            Some("::ffff:127.0.0.1 is not a public address (loopback, private, link-local or reserved) and not in PATRON_WEBHOOK_ALLOWED_NETWORKS: deliveries there could reach this server's own network".into())
        );
        for allowed in [
            "https://erp.example.com/",
            "http://8.8.8.8/",
            "http://notlocalhost/",
        ] {
            assert_eq!(host(allowed), None, "{allowed}");
        }
        let loopback = nets(&["127.0.0.0/8"]);
        let url = url::Url::parse("http://localhost/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(url.host().and_then(|h| host_refusal(h, &loopback)), None);
    }

    #[test]
    fn filters_are_validated() {
        for ok in [
            "*",
            "customer.created",
            "transaction.*",
            "*.deleted",
            "*.*",
            "stage_change.created",
        ] {
            assert_eq!(filter_error(ok), None, "{ok}");
        }
        for bad in [
            "",
            "customer",
            "customers.created",
            "customer.made",
            "customer.",
            ".created",
            "a.b.c",
        ] {
            assert!(filter_error(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn the_types_a_subscription_follows() {
        let of = |f: &[&str]| entity_types(&f.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            of(&["need.created", "need.*", "segment.deleted"]),
            ["need", "segment"]
        );
        assert!(of(&["need.created", "*.deleted"]).is_empty(), "every type");
        assert!(of(&["*"]).is_empty(), "every type");
    }

    #[test]
    fn filters_name_operations_their_type_has() {
        for good in [
            "*",
            "*.*",
            "*.restored",
            "customer.restored",
            "stage_change.created",
            "stage_change.*",
            "survey_response.created",
            "contact.deleted",
        ] {
            assert_eq!(filter_error(good), None, "{good}");
        }
        for never in [
            "survey_response.updated",
            "survey_response.deleted",
            "stage_change.deleted",
            "contact.restored",
            "segment.restored",
        ] {
            let why = filter_error(never).unwrap_or_default();
            assert!(why.contains("never fires"), "{never}: {why}");
        }
        for entity in ENTITY_TYPES {
            assert!(operations_of(entity).iter().all(|o| OPERATIONS.contains(o)));
        }
    }

    #[test]
    fn filter_lists_compare_as_sets() {
        let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(same_filters(
            &f(&["customer.*", "transaction.created"]),
            &f(&["transaction.created", "customer.*", "customer.*"])
        ));
        assert!(!same_filters(
            &f(&["customer.*"]),
            &f(&["customer.created"])
        ));
    }

    #[test]
    fn filters_select_events() {
        let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(matches(&f(&["*"]), "need", "deleted"));
        assert!(matches(&f(&["transaction.*"]), "transaction", "updated"));
        assert!(!matches(&f(&["transaction.*"]), "customer", "updated"));
        assert!(matches(&f(&["customer.created"]), "customer", "created"));
        assert!(!matches(&f(&["customer.created"]), "customer", "updated"));
        assert!(matches(&f(&["*.deleted"]), "contact", "deleted"));
        assert!(!matches(&f(&[]), "contact", "deleted"));
    }

    #[test]
    fn signature_round_trip_and_known_value() {
        let header = signature("s3cret-s3cret-s3cret", 1_700_000_000, "{\"a\":1}");
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(header.len(), "t=1700000000,v1=".len() + 64);
        assert!(verify("s3cret-s3cret-s3cret", &header, "{\"a\":1}"));
        assert!(!verify("other-secret-other", &header, "{\"a\":1}"));
        assert!(!verify("s3cret-s3cret-s3cret", &header, "{\"a\":2}"));
        assert!(!verify("s3cret-s3cret-s3cret", "t=1,v1=zz", "{}"));
        // RFC 4231 test case 2 with our "<t>.<body>" message layout.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap_or_else(|e| panic!("{e}"));
        mac.update(b"1.x");
        assert_eq!(
            sign("Jefe", 1, "x"),
            hex::encode(mac.finalize().into_bytes())
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(1, 1000, 60_000), 1000);
        assert_eq!(backoff_ms(2, 1000, 60_000), 2000);
        assert_eq!(backoff_ms(3, 1000, 60_000), 4000);
        assert_eq!(backoff_ms(7, 1000, 60_000), 60_000);
        assert_eq!(backoff_ms(0, 1000, 60_000), 1000);
        assert_eq!(backoff_ms(1000, u64::MAX, u64::MAX), u64::MAX);
    }

    #[test]
    fn lists_match_the_feed() {
        assert_eq!(ENTITY_TYPES, crate::db::changes::ENTITY_TYPES);
        assert_eq!(OPERATIONS, crate::db::changes::OPERATIONS);
    }
}
