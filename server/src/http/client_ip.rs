//! Which client is asking, for the login throttle: [`ClientAddress`], the
//! TCP peer's address, which the server's accept loop (`serve.rs`) puts in
//! every request as axum's [`ConnectInfo<SocketAddr>`].
//!
//! `X-Forwarded-For` is read only with `--trust-forwarded-for`, for a
//! server that only a reverse proxy can reach: the proxy must append the
//! address it saw, and the rightmost valid entry is taken. Anyone who can
//! reach the server directly could otherwise pick any address per request
//! and walk around every per-address limit.
//!
//! IPv6 clients are counted by their /64 (a host usually holds a whole
//! /64, so per-address counting would give it 2^64 fresh addresses);
//! IPv4-mapped IPv6 addresses count as the IPv4 address.
//!
//! Tests of the router without a socket set the address as axum lets
//! them: a `ConnectInfo(SocketAddr)` (or `MockConnectInfo`) in the
//! request's extensions. A request with neither (a router served without
//! connect info) counts as coming from `0.0.0.0`, all together.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::App;
use super::error::ApiError;

/// The client's address as the login throttle counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddress {
    ip: IpAddr,
    key: String,
}

impl ClientAddress {
    /// The address of `ip`: itself for IPv4, its /64 for IPv6.
    #[must_use]
    pub fn new(ip: IpAddr) -> Self {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        let key = match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        };
        Self { ip, key }
    }

    /// The client's IP address.
    #[must_use]
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The key its counters are stored under: the IPv4 address, or the
    /// IPv6 /64 (`2001:db8:0:1::/64`).
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// The rightmost address in the `X-Forwarded-For` headers, if valid.
fn forwarded_for(parts: &Parts) -> Option<IpAddr> {
    let last = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()?;
    let entry = last.to_str().ok()?.rsplit(',').next()?.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

impl FromRequestParts<Arc<App>> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let peer = ConnectInfo::<SocketAddr>::from_request_parts(parts, app)
            .await
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(addr)| {
                addr.ip()
            });
        let ip = if app.settings().trust_forwarded_for() {
            forwarded_for(parts).unwrap_or(peer)
        } else {
            peer
        };
        Ok(Self::new(ip))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        let key = |s: &str| ClientAddress::new(s.parse().unwrap()).key().to_owned();
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("2001:db8:0:1::5"), "2001:db8:0:1::/64");
        assert_eq!(key("2001:db8:0:1:ffff::9"), "2001:db8:0:1::/64");
        assert_eq!(key("::1"), "0:0:0:0::/64");
    }

    #[test]
    fn the_rightmost_forwarded_entry_counts() {
        let parts = |values: &[&str]| {
            let mut request = axum::http::Request::builder();
            for v in values {
                request = request.header("x-forwarded-for", *v);
            }
            request.body(()).unwrap().into_parts().0
        };
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(
            forwarded_for(&parts(&["203.0.113.9, 198.51.100.2"])),
            ip("198.51.100.2")
        );
        assert_eq!(
            forwarded_for(&parts(&["1.1.1.1", "198.51.100.3:4711"])),
            ip("198.51.100.3")
        );
        assert_eq!(
            forwarded_for(&parts(&["[2001:db8::1]:80"])),
            ip("2001:db8::1")
        );
        assert_eq!(forwarded_for(&parts(&["unknown"])), None);
        assert_eq!(forwarded_for(&parts(&[])), None);
    }
}
