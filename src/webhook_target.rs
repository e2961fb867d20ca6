//! Where a webhook delivery may connect: public addresses and
//! `PATRON_WEBHOOK_ALLOWED_NETWORKS` (`domain::webhooks::address_allowed`).
//! The check that counts is made when the delivery connects, on the
//! addresses its host resolves to then: a name checked at creation (or
//! before the request) could resolve elsewhere a moment later (DNS
//! rebinding).
//!
//! Through a proxy (reqwest reads `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`
//! and `NO_PROXY`), the resolver resolves the proxy's host, not the
//! receiver's: a proxy whose name resolves to a private address must be
//! inside the allowed networks, and the proxy's own rules then decide where
//! deliveries may go. An IP-address receiver is refused either way.

use std::net::SocketAddr;
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::webhooks as rules;

/// Resolves as the system does (`getaddrinfo`, /etc/hosts included) and
/// keeps the allowed addresses only; none left is a failed connection.
pub struct AllowedResolver {
    allowed: Arc<[IpNet]>,
}

impl AllowedResolver {
    pub fn new(allowed: Arc<[IpNet]>) -> AllowedResolver {
        AllowedResolver { allowed }
    }
}

impl Resolve for AllowedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = self.allowed.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            // reqwest sets the URL's port on each address afterwards.
            let found: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), 0)).await {
                Ok(found) => found.collect(),
                Err(e) => {
                    log::warn!("webhook delivery to {host} not sent: it does not resolve: {e}");
                    return Err(Refused(no_allowed_address(&host)).into());
                }
            };
            let (kept, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = found
                .into_iter()
                .partition(|a| rules::address_allowed(a.ip(), &allowed));
            if kept.is_empty() {
                log_outside(&host, &refused);
                return Err(Refused(no_allowed_address(&host)).into());
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// The refusal the delivery log shows, the same for a name that resolves
/// only inside and one that does not resolve: the addresses listed there, or
/// two texts, told whoever could read the log (an admin) which internal
/// names exist and where they point, a map of the server's network that no
/// request had to be sent for (two reviews). The server's log says which.
fn no_allowed_address(host: &str) -> String {
    format!(
        "{host} has no address a delivery may use (it does not resolve, or only to addresses that are not public and not in PATRON_WEBHOOK_ALLOWED_NETWORKS; the server's log says which): nothing was sent"
    )
}

fn log_outside(host: &str, refused: &[SocketAddr]) {
    let mut addresses: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
    addresses.dedup();
    log::warn!(
        "webhook delivery to {host} not sent: it resolves only to {}, outside the allowed networks",
        addresses.join(", ")
    );
}

/// The resolver's refusal, as the delivery log shows it.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Why a delivery to `url` is not even attempted, or None. reqwest calls
/// no resolver for an IP-address host, so such a host is checked here: one
/// stored before the rule, or before the setting was narrowed. `localhost`
/// is refused here too (as at creation) unless loopback is allowed.
pub fn refusal(url: &str, allowed: &[IpNet]) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    let why = rules::host_refusal(url.host()?, allowed)?;
    Some(format!("not sent: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(allowed: &[&str]) -> AllowedResolver {
        let nets: Vec<IpNet> = allowed
            .iter()
            .map(|n| n.parse().unwrap_or_else(|e| panic!("{n}: {e}")))
            .collect();
        AllowedResolver::new(nets.into())
    }

    fn name(host: &str) -> Name {
        host.parse().unwrap_or_else(|_| panic!("{host}"))
    }

    /// `localhost` resolves through /etc/hosts, without a network: as a
    /// name that an attacker points at 127.0.0.1 would.
    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_unless_allowed() {
        let refused = resolver(&[]).resolve(name("localhost")).await;
        let error = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            error.starts_with("localhost has no address a delivery may use (")
                && error.contains("PATRON_WEBHOOK_ALLOWED_NETWORKS"),
            "{error}"
        );
        // Which addresses is for the server's log, not the delivery log.
        assert!(
            !error.contains("127.0.0.1") && !error.contains("::1"),
            "{error}"
        );
        let kept: Vec<SocketAddr> = resolver(&["127.0.0.0/8", "::1/128"])
            .resolve(name("localhost"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .collect();
        assert!(!kept.is_empty());
        assert!(kept.iter().all(|a| a.ip().is_loopback()), "{kept:?}");
        // Only the allowed family is kept.
        let v4: Vec<SocketAddr> = resolver(&["127.0.0.0/8"])
            .resolve(name("localhost"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .collect();
        assert!(v4.iter().all(|a| a.is_ipv4()) && !v4.is_empty(), "{v4:?}");
    }

    /// A name that does not resolve reads as one that resolves only
    /// inside: two texts told a log reader which internal names exist.
    #[tokio::test]
    async fn a_name_that_does_not_resolve_reads_as_one_refused() {
        let inside = resolver(&[]).resolve(name("localhost")).await;
        let inside = inside.err().map(|e| e.to_string()).unwrap_or_default();
        // `.invalid` never resolves (RFC 2606), on any resolver.
        let missing = resolver(&[]).resolve(name("no-such-host.invalid")).await;
        let missing = missing.err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            missing.replace("no-such-host.invalid", "localhost"),
            inside,
            "{missing}"
        );
    }

    #[test]
    fn an_address_host_is_checked_before_sending() {
        assert_eq!(
            refusal("http://127.0.0.1:5432/hooks", &[]),
            Some("not sent: 127.0.0.1 is not a public address (loopback, private, link-local or reserved) and not in PATRON_WEBHOOK_ALLOWED_NETWORKS: deliveries there could reach this server's own network".into())
        );
        assert!(refusal("http://[fe80::1]/", &[]).is_some());
        assert!(refusal("http://localhost:8080/", &[]).is_some());
        let loopback: Vec<IpNet> = vec!["127.0.0.0/8".parse().unwrap_or_else(|e| panic!("{e}"))];
        assert_eq!(refusal("http://127.0.0.1:5432/hooks", &loopback), None);
        assert_eq!(refusal("https://erp.example.com/hooks", &[]), None);
    }
}
