//! Who the client is, by network address: the socket peer, unless the peer
//! is one of the configured `TRUSTED_PROXIES`; then the client is the
//! rightmost address of `X-Forwarded-For` (or, when a request has none,
//! of `Forwarded`) that is not itself a trusted proxy. The rate limits key
//! on it.
//!
//! A client can put anything into these headers, but each proxy appends the
//! address it saw; so, read from the right, every address up to the first
//! untrusted one was written by a trusted proxy, and that first one is the
//! client as far as the trusted proxies know it. What lies left of it is the
//! client's own word and is ignored. A proxy that sets only `Forwarded` must
//! drop a client's `X-Forwarded-For`, which is read first.

use std::net::{IpAddr, SocketAddr};

use actix_web::dev::Payload;
use actix_web::http::header::{HeaderMap, FORWARDED};
use actix_web::{web, FromRequest, HttpRequest};
use futures::future::{ready, Ready};
use ipnet::IpNet;

use crate::error::ApiError;

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// `TRUSTED_PROXIES`: the peers whose forwarded headers count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Reads a comma-separated list of addresses (`10.0.0.7`, `::1`) and
    /// networks (`10.0.0.0/8`, `fd00::/8`); empty trusts no one.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in list.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let net = match item.parse::<IpNet>() {
                Ok(net) => net.trunc(),
                Err(_) => match item.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(canonical(ip)),
                    Err(_) => {
                        return Err(format!(
                            "{item:?} is neither an IP address (10.0.0.7, ::1) nor a network \
                             (10.0.0.0/8, fd00::/8)"
                        ))
                    }
                },
            };
            nets.push(net);
        }
        Ok(Self(nets))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from `peer` with these headers (see the
    /// module's documentation). Without a peer (a request built in a test),
    /// the unspecified address.
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
        let Some(peer) = peer.map(canonical) else {
            return IpAddr::from([0, 0, 0, 0]);
        };
        if !self.contains(peer) {
            return peer;
        }
        let chain = forwarded_for(headers);
        let mut client = peer;
        for hop in chain.iter().rev() {
            match hop {
                // An address a trusted proxy wrote that is not a proxy of ours.
                Some(ip) if !self.contains(*ip) => return *ip,
                Some(ip) => client = *ip,
                // `unknown`, an obfuscated name or garbage: nothing to the left
                // of it can be trusted; the nearest trusted hop is the client.
                None => return client,
            }
        }
        client
    }
}

/// The addresses a request's forwarding headers list, left to right: those
/// of `X-Forwarded-For` (every such header, in order), or if it has none,
/// those of `Forwarded`'s `for=` parameters. `None` for an entry that is no
/// address.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name| {
        headers
            .get_all(name)
            .flat_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
    };
    let xff: Vec<Option<IpAddr>> = values(X_FORWARDED_FOR).map(address).collect();
    if !xff.is_empty() {
        return xff;
    }
    values(FORWARDED.as_str())
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim().eq_ignore_ascii_case("for").then(|| address(value))
            })
        })
        .collect()
}

/// An address as the headers write it: `192.0.2.7`, `192.0.2.7:4711`,
/// `2001:db8::1`, `[2001:db8::1]:4711`, possibly quoted.
fn address(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Some(canonical(socket.ip()));
    }
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<IpAddr>().ok().map(canonical)
}

/// An IPv4 client seen through an IPv6 socket (`::ffff:192.0.2.7`) as the
/// IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// The request's client address (see the module's documentation); the
/// trusted proxies come from the app's data (none if it has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    pub fn of(req: &HttpRequest) -> Self {
        let peer = req.peer_addr().map(|a| a.ip());
        let ip = match req.app_data::<web::Data<TrustedProxies>>() {
            Some(trusted) => trusted.client_ip(peer, req.headers()),
            None => TrustedProxies::default().client_ip(peer, req.headers()),
        };
        Self(ip)
    }
}

impl FromRequest for ClientIp {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        map
    }

    fn trusted(list: &str) -> TrustedProxies {
        TrustedProxies::parse(list).expect("valid")
    }

    #[test]
    fn the_list_takes_addresses_and_networks_and_refuses_the_rest() {
        let list = trusted(" 10.0.0.0/8, 192.0.2.1,::1 , fd00::/8,");
        assert!(list.contains(ip("10.1.2.3")));
        assert!(list.contains(ip("192.0.2.1")));
        assert!(!list.contains(ip("192.0.2.2")));
        assert!(list.contains(ip("::1")));
        assert!(list.contains(ip("fd12::5")));
        assert!(list.contains(ip("::ffff:10.9.9.9")), "IPv4 seen through an IPv6 socket");
        assert!(trusted("").is_empty());
        for bad in ["10.0.0.0/33", "localhost", "10.0.0.1-10.0.0.9", "*"] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")]);
        assert_eq!(trusted("").client_ip(Some(ip("198.51.100.9")), &h), ip("198.51.100.9"));
        assert_eq!(
            trusted("10.0.0.0/8").client_ip(Some(ip("198.51.100.9")), &h),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_client_is_the_rightmost_untrusted_address() {
        let list = trusted("10.0.0.0/8");
        // The client forged the first entry; the proxy appended what it saw.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7")]);
        assert_eq!(list.client_ip(Some(ip("10.0.0.2")), &h), ip("203.0.113.7"));
        // Two proxies of ours: the inner one's address is skipped.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.0.0.5")]);
        assert_eq!(list.client_ip(Some(ip("10.0.0.2")), &h), ip("203.0.113.7"));
        // Several headers are one list, in order.
        let h =
            headers(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "203.0.113.7:51000")]);
        assert_eq!(list.client_ip(Some(ip("10.0.0.2")), &h), ip("203.0.113.7"));
        // IPv6, bracketed with a port.
        let h = headers(&[("x-forwarded-for", "[2001:db8::7]:443")]);
        assert_eq!(list.client_ip(Some(ip("::ffff:10.0.0.2")), &h), ip("2001:db8::7"));
    }

    #[test]
    fn forwarded_counts_when_there_is_no_x_forwarded_for() {
        let list = trusted("10.0.0.0/8");
        let h = headers(&[(
            "forwarded",
            "for=6.6.6.6, for=\"[2001:db8::7]:4711\";proto=https, For=10.0.0.9;by=10.0.0.2",
        )]);
        assert_eq!(list.client_ip(Some(ip("10.0.0.2")), &h), ip("2001:db8::7"));
        let both = headers(&[("forwarded", "for=5.6.7.8"), ("x-forwarded-for", "203.0.113.7")]);
        assert_eq!(list.client_ip(Some(ip("10.0.0.2")), &both), ip("203.0.113.7"));
    }

    #[test]
    fn when_every_hop_is_trusted_or_one_is_unreadable_the_nearest_trusted_hop_is_the_client() {
        let list = trusted("10.0.0.0/8");
        let h = headers(&[("x-forwarded-for", "10.0.0.8, 10.0.0.9")]);
        assert_eq!(list.client_ip(Some(ip("10.0.0.2")), &h), ip("10.0.0.8"));
        let h = headers(&[("x-forwarded-for", "203.0.113.7, unknown, 10.0.0.9")]);
        assert_eq!(list.client_ip(Some(ip("10.0.0.2")), &h), ip("10.0.0.9"));
        let h = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(list.client_ip(Some(ip("10.0.0.2")), &h), ip("10.0.0.2"));
        assert_eq!(list.client_ip(Some(ip("10.0.0.2")), &HeaderMap::new()), ip("10.0.0.2"));
    }
}
