//! Where a mentor's CalDAV server may be. The server URL is typed in by a user, so it could name
//! this service's own network (a database port, a cloud metadata address): unless
//! `CALDAV_ALLOW_LOCAL` is on (development, the tests' Radicale), the URL must be https and its
//! host must reach only public addresses. Names are checked by the client's own resolver, at every
//! connection, so a name that later resolves elsewhere (DNS rebinding) is refused too; an address
//! written in the URL is checked here, as it is never resolved.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is on the public internet: not loopback, private, link-local, shared, reserved,
/// documentation, multicast or unspecified (IPv4-mapped IPv6 addresses as their IPv4 one).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => public_v4(v4),
            None => public_v6(v6),
        },
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        // Shared address space (carrier-grade NAT), 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments, 192.0.0.0/24; benchmarking, 198.18.0.0/15.
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        // Reserved, 240.0.0.0/4.
        || a >= 240)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local fc00::/7, link-local fe80::/10, documentation 2001:db8::/32.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
}

/// Why a server URL is refused, in words for the mentor; `None` when it may be used.
pub fn refused(url: &url::Url, allow_local: bool) -> Option<&'static str> {
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Some("the server URL must be an https URL");
    }
    if allow_local {
        return None;
    }
    if url.scheme() != "https" {
        return Some("the server URL must be https (the password must not travel in clear)");
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        _ => None,
    };
    if literal.is_some_and(|ip| !is_public(ip)) {
        return Some("the server must be on the public internet");
    }
    None
}

/// A resolver that hands the client public addresses only.
pub(super) struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err("the server's name does not lead to a public address".into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_and_https_pass() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "240.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["17.253.144.10", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert_eq!(refused(&u("https://caldav.icloud.com/"), false), None);
        assert!(refused(&u("http://caldav.icloud.com/"), false).is_some());
        assert!(refused(&u("https://169.254.169.254/"), false).is_some());
        assert!(refused(&u("https://[::1]:5232/"), false).is_some());
        assert!(refused(&u("ftp://example.com/"), true).is_some());
        assert_eq!(refused(&u("http://127.0.0.1:5232/"), true), None);
    }
}
