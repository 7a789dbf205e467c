//! Calls to URLs a merchant chose (webhook orders and cancellations): which
//! URLs may be called, and an HTTP client that enforces it when it connects.
//!
//! A merchant could otherwise point its store at the service's own network
//! (a database, a cloud metadata endpoint) and have the service call it:
//! server-side request forgery. So a URL must be `https` and its host must
//! resolve outside private, loopback, link-local, unique-local and
//! unspecified ranges. It is checked when the store is saved (a clear 422)
//! and again on every connection, through the client's DNS resolver, because
//! what a name resolves to can change after it was checked.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use commerce_http::dns::{Addrs, Name, Resolve, Resolving};

/// Which merchant URLs may be called.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Also plain `http` and hosts in private or loopback ranges: tests and
    /// local development only (`REPLENISH_COMMERCE_ALLOW_PRIVATE_URLS`).
    pub allow_private: bool,
}

/// Whether `ip` is an address on the public internet (not private, loopback,
/// link-local, unique-local, unspecified, multicast, shared or documentation).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b); // 100.64.0.0/10, carrier-grade NAT
    let this_network = a == 0; // 0.0.0.0/8
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || shared
        || this_network)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let unique_local = first & 0xfe00 == 0xfc00; // fc00::/7
    let link_local = first & 0xffc0 == 0xfe80; // fe80::/10
    let documentation = first == 0x2001 && ip.segments()[1] == 0x0db8;
    // 64:ff9b::/96 (NAT64) embeds an IPv4 address: judge that one.
    let nat64 = ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if nat64 {
        let [.., a, b, c, d] = ip.octets();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || unique_local || link_local || documentation)
}

impl UrlPolicy {
    /// Checks what can be checked without DNS: the scheme, no credentials in
    /// the URL, and an IP-literal host. The reason when the URL is not allowed.
    pub fn check_shape(&self, url: &str) -> Result<commerce_http::Url, String> {
        let parsed = commerce_http::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        let plain_allowed = self.allow_private && parsed.scheme() == "http";
        if !(parsed.scheme() == "https" || plain_allowed) {
            return Err("must be an https URL".into());
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("must not carry credentials".into());
        }
        if let Some(ip) = ip_literal(&parsed) {
            self.check_ip(ip)?;
        } else if parsed.host_str().is_none_or(str::is_empty) {
            return Err("must name a host".into());
        }
        Ok(parsed)
    }

    /// Checks `url` fully: its shape, then every address its host resolves to
    /// now. A host that does not resolve (yet) passes here; the call-time
    /// check refuses to connect to it until it resolves to public addresses.
    pub async fn check(&self, url: &str) -> Result<(), String> {
        let parsed = self.check_shape(url)?;
        if let (None, Some(host)) = (ip_literal(&parsed), parsed.host_str())
            && let Ok(addrs) = tokio::net::lookup_host((host, 0)).await
        {
            for addr in addrs {
                self.check_ip(addr.ip())?;
            }
        }
        Ok(())
    }

    fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        if self.allow_private || is_public(ip) {
            Ok(())
        } else {
            Err(format!("must not point at a private, loopback or link-local address ({ip})"))
        }
    }

    /// The client for merchant calls: it follows no redirects (a store's URL
    /// reaches only the host it names), ignores proxy variables, and its DNS
    /// resolver drops every address this policy does not allow, so a name
    /// that starts resolving to a private address is not connected to.
    pub fn client(&self) -> commerce_http::Client {
        commerce_http::Client::builder()
            .redirect(commerce_http::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { policy: *self }))
            .build()
            .unwrap_or_default()
    }
}

/// The URL's host when it is an IP address rather than a name.
fn ip_literal(url: &commerce_http::Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// The system resolver, keeping only the addresses a [`UrlPolicy`] allows.
struct GuardedResolver {
    policy: UrlPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found.into_iter().filter(|a| policy.check_ip(a.ip()).is_ok()).collect();
            if allowed.is_empty() {
                let refused = format!("{host} resolves to no address merchant calls may reach");
                return Err(refused.into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        for private in
            ["10.1.2.3", "172.16.0.1", "192.168.1.1", "127.0.0.1", "169.254.169.254", "0.0.0.0", "100.64.0.1"]
        {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for private in ["::1", "::", "fd00::1", "fe80::1", "::ffff:127.0.0.1", "64:ff9b::a00:1"] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn the_resolver_drops_forbidden_addresses() {
        let strict = GuardedResolver { policy: UrlPolicy::default() };
        let localhost = || "localhost".parse::<Name>().unwrap();
        assert!(strict.resolve(localhost()).await.is_err(), "localhost is loopback");
        let open = GuardedResolver { policy: UrlPolicy { allow_private: true } };
        assert!(open.resolve(localhost()).await.is_ok());
    }

    #[test]
    fn shapes() {
        let strict = UrlPolicy::default();
        assert!(strict.check_shape("https://shop.example/orders").is_ok());
        assert!(strict.check_shape("http://shop.example/orders").is_err());
        assert!(strict.check_shape("https://127.0.0.1/orders").is_err());
        assert!(strict.check_shape("https://[::1]/orders").is_err());
        assert!(strict.check_shape("https://user:pw@shop.example/").is_err());
        let open = UrlPolicy { allow_private: true };
        assert!(open.check_shape("http://127.0.0.1:8080/orders").is_ok());
    }
}
