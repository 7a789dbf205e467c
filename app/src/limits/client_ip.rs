//! Which address a request's per-IP limit belongs to.
//!
//! Behind a proxy the peer is the proxy; the client's address is in a
//! forwarding header, but only the entries the trusted proxies appended are
//! trustworthy: everything to their left was written by the client and is
//! whatever it likes. So the address is taken from the right — a configured
//! number of hops (as Envoy's `xff_num_trusted_hops`), or past every address
//! in the trusted proxy ranges (as nginx's `real_ip_recursive`) — never from
//! the left.

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::{self, HeaderMap};
use ipnet::IpNet;

use crate::config::ForwardedHeader;

/// How the client address is found.
#[derive(Debug, Clone)]
pub enum ClientIpPolicy {
    /// The peer address; forwarding headers are ignored.
    Peer,
    /// The entry `hops` places from the right of `header` (1 = the right-most,
    /// which the one trusted proxy appended); the peer when the header is shorter.
    Hops {
        /// The header the proxies append to.
        header: ForwardedHeader,
        /// How many proxies append to it.
        hops: usize,
    },
    /// When the peer is a trusted proxy, the right-most entry of `header` that
    /// is not one; the peer otherwise.
    Trusted {
        /// The header the proxies append to.
        header: ForwardedHeader,
        /// The proxies' address ranges.
        proxies: Vec<IpNet>,
    },
}

impl ClientIpPolicy {
    /// The policy the settings describe; `Err` names a range that does not parse.
    pub fn from_settings(
        trust_forwarded: bool,
        header: ForwardedHeader,
        hops: usize,
        proxies: &str,
    ) -> Result<Self, String> {
        if !trust_forwarded {
            return Ok(Self::Peer);
        }
        let proxies = proxies
            .split(',')
            .map(str::trim)
            .filter(|cidr| !cidr.is_empty())
            .map(|cidr| parse_range(cidr).ok_or_else(|| format!("REPLENISH_TRUSTED_PROXIES: {cidr:?} is not a CIDR")))
            .collect::<Result<Vec<_>, _>>()?;
        if proxies.is_empty() {
            Ok(Self::Hops { header, hops: hops.max(1) })
        } else {
            Ok(Self::Trusted { header, proxies })
        }
    }

    /// The client address of a request from `peer` with `headers`.
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        match self {
            Self::Peer => peer,
            Self::Hops { header, hops } => {
                let chain = forwarded_chain(*header, headers);
                // A chain shorter than the proxies in front did not come through all of them.
                chain.len().checked_sub(*hops).and_then(|i| chain.get(i).copied()).or(peer)
            }
            Self::Trusted { header, proxies } => {
                let trusted = |ip: &IpAddr| proxies.iter().any(|range| range.contains(ip));
                match peer {
                    Some(ip) if trusted(&ip) => {
                        let chain = forwarded_chain(*header, headers);
                        chain.iter().rev().find(|ip| !trusted(ip)).or(chain.first()).copied().or(peer)
                    }
                    other => other,
                }
            }
        }
    }
}

fn parse_range(cidr: &str) -> Option<IpNet> {
    cidr.parse().ok().or_else(|| cidr.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Every address of the header, left to right, across repeated header lines.
/// An entry that is not an address (`unknown`, an obfuscated identifier, garbage)
/// ends the trustworthy part: nothing left of it is used.
fn forwarded_chain(header: ForwardedHeader, headers: &HeaderMap) -> Vec<IpAddr> {
    let name = match header {
        ForwardedHeader::XForwardedFor => header::HeaderName::from_static("x-forwarded-for"),
        ForwardedHeader::Forwarded => header::FORWARDED,
    };
    let entries: Vec<Option<IpAddr>> = headers
        .get_all(name)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|entry| match header {
            ForwardedHeader::XForwardedFor => parse_address(entry),
            ForwardedHeader::Forwarded => forwarded_for(entry).and_then(parse_address),
        })
        .collect();
    let usable = entries.iter().rposition(Option::is_none).map_or(0, |i| i + 1);
    entries[usable..].iter().flatten().copied().collect()
}

/// The `for=` parameter of one RFC 7239 element.
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        key.trim().eq_ignore_ascii_case("for").then_some(value.trim())
    })
}

/// `1.2.3.4`, `1.2.3.4:5678`, `[::1]:80`, `"[::1]"`, `::1`.
fn parse_address(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim().trim_matches('"');
    raw.parse::<IpAddr>()
        .ok()
        .or_else(|| raw.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')).and_then(|r| r.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(header::HeaderName::from_static(name), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const PROXY: &str = "10.0.0.5";

    #[test]
    fn a_client_cannot_choose_its_address_by_prepending_entries() {
        let policy = ClientIpPolicy::Hops { header: ForwardedHeader::XForwardedFor, hops: 1 };
        // The client sent "1.1.1.1"; the proxy appended the address it saw.
        let spoofed = headers("x-forwarded-for", &["1.1.1.1, 203.0.113.7"]);
        assert_eq!(policy.client_ip(Some(ip(PROXY)), &spoofed), Some(ip("203.0.113.7")));
        // Repeated header lines are one list.
        let split = headers("x-forwarded-for", &["1.1.1.1", "203.0.113.7"]);
        assert_eq!(policy.client_ip(Some(ip(PROXY)), &split), Some(ip("203.0.113.7")));
    }

    #[test]
    fn two_hops_take_the_second_from_the_right() {
        let policy = ClientIpPolicy::Hops { header: ForwardedHeader::XForwardedFor, hops: 2 };
        let chain = headers("x-forwarded-for", &["9.9.9.9, 198.51.100.1, 10.0.0.9"]);
        assert_eq!(policy.client_ip(Some(ip(PROXY)), &chain), Some(ip("198.51.100.1")));
        let short = headers("x-forwarded-for", &["10.0.0.9"]);
        assert_eq!(policy.client_ip(Some(ip(PROXY)), &short), Some(ip(PROXY)), "bypassed a proxy: the peer");
    }

    #[test]
    fn trusted_ranges_skip_every_proxy_and_ignore_untrusted_peers() {
        let policy =
            ClientIpPolicy::from_settings(true, ForwardedHeader::XForwardedFor, 1, "10.0.0.0/8, 192.0.2.1").unwrap();
        let chain = headers("x-forwarded-for", &["6.6.6.6, 203.0.113.7, 192.0.2.1, 10.1.2.3"]);
        assert_eq!(policy.client_ip(Some(ip(PROXY)), &chain), Some(ip("203.0.113.7")));
        // Straight from the internet: the header is the client's own invention.
        assert_eq!(policy.client_ip(Some(ip("203.0.113.9")), &chain), Some(ip("203.0.113.9")));
        assert!(ClientIpPolicy::from_settings(true, ForwardedHeader::Forwarded, 1, "10.0.0.0/33").is_err());
    }

    #[test]
    fn forwarded_elements_with_ports_quotes_and_ipv6() {
        let policy = ClientIpPolicy::Hops { header: ForwardedHeader::Forwarded, hops: 1 };
        let chain = headers("forwarded", &[r#"for=1.1.1.1, for="[2001:db8::1]:4711";proto=https"#]);
        assert_eq!(policy.client_ip(Some(ip(PROXY)), &chain), Some(ip("2001:db8::1")));
        // The other header is not the proxy's: ignored.
        let other = headers("x-forwarded-for", &["1.1.1.1"]);
        assert_eq!(policy.client_ip(Some(ip(PROXY)), &other), Some(ip(PROXY)));
    }

    #[test]
    fn garbage_cuts_the_chain_and_peer_only_ignores_headers() {
        let policy = ClientIpPolicy::Hops { header: ForwardedHeader::XForwardedFor, hops: 2 };
        let chain = headers("x-forwarded-for", &["1.1.1.1, unknown, 10.0.0.9"]);
        assert_eq!(policy.client_ip(Some(ip(PROXY)), &chain), Some(ip(PROXY)));
        let peer = ClientIpPolicy::Peer;
        assert_eq!(peer.client_ip(Some(ip(PROXY)), &headers("x-forwarded-for", &["1.1.1.1"])), Some(ip(PROXY)));
    }
}
