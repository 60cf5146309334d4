//! [`IssuerUrl`]: the `--issuer-url`, an absolute http(s) URL ending in
//! `/`, the `iss` of every token exactly as written, and the parsing of its
//! authority (host, optional port).
//!
//! Not here: the audiences built from it (`super`), the `--api` specs
//! (`super::api`).

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// The longest issuer URL accepted, in bytes.
const MAX_ISSUER_URL_LEN: usize = 256;

/// The issuer URL: `http://` or `https://`, a host (name, IPv4 or `[IPv6]`)
/// with an optional port, an optional path, and a final `/`; no user
/// information, query or fragment. It is used exactly as written (a URL
/// without the final `/` is refused, not completed, since `iss` must match
/// what SDKs build from it: Auth0 issues `https://DOMAIN/`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct IssuerUrl {
    url: String,
    host: String,
}

impl IssuerUrl {
    /// The URL as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The host, without port or IPv6 brackets (`auth.example.com`).
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }
}

/// The demo default: `http://127.0.0.1:8080/`, which works on loopback.
impl Default for IssuerUrl {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8080/".to_owned(),
            host: "127.0.0.1".to_owned(),
        }
    }
}

impl FromStr for IssuerUrl {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, String> {
        if url.len() > MAX_ISSUER_URL_LEN {
            return Err(format!("must be at most {MAX_ISSUER_URL_LEN} bytes"));
        }
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or("must be an absolute URL starting with https:// or http://")?;
        if !url.ends_with('/') {
            return Err(format!(
                "must end with '/' (it is the `iss` exactly as written; Auth0's is https://DOMAIN/): {url}/"
            ));
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.contains('@') {
            return Err("must not contain user information (user@)".to_owned());
        }
        let host = parse_authority(authority)?;
        let path_ok = path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b));
        if !path_ok {
            return Err(
                "must not contain a query, a fragment, spaces or characters outside a URL path"
                    .to_owned(),
            );
        }
        Ok(Self {
            url: url.to_owned(),
            host,
        })
    }
}

impl TryFrom<String> for IssuerUrl {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl fmt::Display for IssuerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// The host of `host[:port]` or `[v6][:port]`.
fn parse_authority(authority: &str) -> Result<String, String> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or("has an unclosed '[' in its host")?;
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b":.".contains(&b))
        {
            return Err("has an invalid IPv6 host".to_owned());
        }
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or("has text after its IPv6 host")?,
                ),
            ),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("must name a host".to_owned());
    }
    if !authority.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        return Err("has an invalid host".to_owned());
    }
    if let Some(port) = port
        && !(port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p > 0))
    {
        return Err("has an invalid port".to_owned());
    }
    Ok(host.to_owned())
}
