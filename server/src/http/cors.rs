//! Cross-origin requests (CORS) from the browser apps an operator names:
//! Auth0's "Allowed Origins (CORS)", server-wide.
//!
//! A single-page app served from another origin (auth0-spa-js, auth0-auth-js
//! in a browser) calls `/oauth/token`, `/mfa/…`, `/userinfo`, the discovery
//! document and the JWKS with `fetch`. The browser sends those calls only if
//! the server says the page's origin may: a preflight `OPTIONS` for
//! requests with an `Authorization`, `DPoP` or JSON body, and
//! `Access-Control-Allow-Origin` on every answer.
//!
//! With no `--allowed-origin` (the default) the server sends no CORS header
//! at all, and browsers refuse every cross-origin call, as before. Origins
//! are matched exactly (scheme, host and port): no wildcards, no `null`,
//! no credentials mode (nothing here uses cookies). tower-http's
//! [`CorsLayer`] answers the preflights and adds `Vary: Origin`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use serde::Deserialize;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may cache a preflight's answer (Chromium caps it at
/// two hours; ten minutes keeps a removed origin's access short).
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The longest origin accepted (scheme, host and port).
const MAX_ORIGIN_LEN: usize = 255;

/// A web origin a browser may call from: `http(s)://host[:port]`, as
/// browsers write it in the `Origin` header (lower case, no path).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AllowedOrigin(String);

impl AllowedOrigin {
    /// The origin as browsers send it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AllowedOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for AllowedOrigin {
    type Err = String;

    /// Accepts `http://host[:port]` or `https://host[:port]` (one trailing
    /// `/` is dropped); refuses anything with a path, query, fragment or
    /// user info, a default port written out, `*` and `null`.
    fn from_str(s: &str) -> Result<Self, String> {
        const SHAPE: &str = "expected a web origin, http(s)://HOST[:PORT] (e.g. https://app.example.com), with no path";
        if s.len() > MAX_ORIGIN_LEN {
            return Err(format!("an origin is at most {MAX_ORIGIN_LEN} bytes"));
        }
        if s == "*" || s.eq_ignore_ascii_case("null") {
            return Err(format!("{s:?} is not allowed: name each origin ({SHAPE})"));
        }
        let trimmed = s.strip_suffix('/').unwrap_or(s);
        let lower = trimmed.to_ascii_lowercase();
        let (scheme, authority) = lower.split_once("://").ok_or_else(|| SHAPE.to_owned())?;
        let default_port = match scheme {
            "http" => ":80",
            "https" => ":443",
            _ => return Err(format!("the scheme must be http or https ({SHAPE})")),
        };
        if authority.is_empty()
            || !authority
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        {
            return Err(format!(
                "{s:?} has a path, query, user info or a character no host has ({SHAPE})"
            ));
        }
        if authority.ends_with(default_port) {
            return Err(format!(
                "leave out the default port {default_port}: browsers send {scheme}://{}",
                authority.trim_end_matches(default_port)
            ));
        }
        // The shape a browser sends must also parse as an absolute URI.
        let uri: axum::http::Uri = lower.parse().map_err(|_| SHAPE.to_owned())?;
        if uri.host().is_none_or(str::is_empty) {
            return Err(SHAPE.to_owned());
        }
        Ok(Self(lower))
    }
}

impl<'de> Deserialize<'de> for AllowedOrigin {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The CORS layer for `origins`, or `None` when there are none (no CORS
/// header is sent at all).
#[must_use]
pub fn layer(origins: &[AllowedOrigin]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.as_str()).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(list))
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("dpop"),
                // auth0-spa-js and auth0-auth-js identify themselves.
                HeaderName::from_static("auth0-client"),
            ])
            .expose_headers([
                HeaderName::from_static("dpop-nonce"),
                header::WWW_AUTHENTICATE,
                header::RETRY_AFTER,
            ])
            .max_age(PREFLIGHT_MAX_AGE),
    )
}

#[cfg(test)]
mod tests {
    use super::AllowedOrigin;

    #[test]
    fn origins_are_taken_as_browsers_write_them_and_nothing_else() {
        for (given, kept) in [
            ("https://app.example.com", "https://app.example.com"),
            ("https://App.Example.com/", "https://app.example.com"),
            ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
            ("http://[::1]:8080", "http://[::1]:8080"),
        ] {
            assert_eq!(given.parse::<AllowedOrigin>().unwrap().as_str(), kept);
        }
        for refused in [
            "*",
            "null",
            "app.example.com",
            "ftp://app.example.com",
            "https://app.example.com/path",
            "https://app.example.com?x=1",
            "https://user@app.example.com",
            "https://app.example.com:443",
            "http://app.example.com:80",
            "https://",
            "https://app example.com",
        ] {
            assert!(refused.parse::<AllowedOrigin>().is_err(), "{refused}");
        }
    }
}
