//! Audiences and scopes: which APIs the server issues access tokens for,
//! and which scopes a login may get for each.
//!
//! - [`IssuerUrl`]: the `--issuer-url`, an absolute http(s) URL ending in
//!   `/`, the `iss` of every token exactly as written.
//! - [`ApiSpec`]: one `--api AUDIENCE=SCOPE,SCOPE…`, an API this server
//!   issues tokens for and the scopes it defines.
//! - [`Audiences`]: the registry built from both at start: the MFA API
//!   (`<issuer_url>mfa/`, scopes [`MFA_SCOPES`]), the configured APIs, and
//!   the default audience of a login that names none. [`Audiences::grant`]
//!   turns a requested `audience` and `scope` into what is granted.
//!
//! The rule (Auth0's): the audience must be one the server knows, else the
//! login is refused (`access_denied`, "Service not found: AUD"); the scopes
//! are filtered to those the audience defines plus the OpenID Connect
//! scopes [`OIDC_SCOPES`], silently dropping the rest, and the token
//! response's `scope` says what was granted.
//!
//! Not here: reading the knobs (`crate::config`), the HTTP errors and the
//! checks on bearer tokens (`crate::http`).

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// The scopes of the MFA API (`<issuer_url>mfa/`), as Auth0 defines them.
pub const MFA_SCOPES: [&str; 3] = [ENROLL, READ_AUTHENTICATORS, REMOVE_AUTHENTICATORS];
/// MFA API scope: associate an authenticator for an enrolled user.
pub const ENROLL: &str = "enroll";
/// MFA API scope: list the user's authenticators.
pub const READ_AUTHENTICATORS: &str = "read:authenticators";
/// MFA API scope: delete one of the user's authenticators.
pub const REMOVE_AUTHENTICATORS: &str = "remove:authenticators";

/// The OpenID Connect scopes every audience may be granted. `openid` adds
/// an id token to the answer. `offline_access` is not among them: this
/// server issues no refresh tokens, so it is never granted (and the
/// answer's `scope` says so).
pub const OIDC_SCOPES: [&str; 3] = ["openid", "profile", "email"];

/// The longest lifetime of an access token for the MFA API, in seconds:
/// ten minutes, as Auth0's (which cannot be configured there); shorter if
/// `--access-token-ttl` is.
pub const MFA_API_TOKEN_TTL: u64 = 600;

/// The longest audience accepted, in bytes.
const MAX_AUDIENCE_LEN: usize = 256;
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

/// One API the server issues access tokens for: `AUDIENCE=SCOPE,SCOPE…`
/// (as `--api` and in the config file's `api` list). The audience is 1 to
/// 256 printable ASCII characters without spaces or `=`; each scope is an
/// RFC 6749 scope token without `,`. `AUDIENCE=` defines an API with no
/// scopes of its own (its tokens carry only OpenID Connect scopes).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ApiSpec {
    audience: String,
    scopes: Vec<String>,
}

impl ApiSpec {
    /// The audience (the API's identifier, the `aud` of its tokens).
    #[must_use]
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The scopes it defines, in the order given, without duplicates.
    #[must_use]
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
}

impl FromStr for ApiSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (audience, scopes) = s
            .split_once('=')
            .ok_or("expected AUDIENCE=SCOPE,SCOPE… (e.g. https://api.example.com/=read:items)")?;
        if audience.is_empty() || audience.len() > MAX_AUDIENCE_LEN {
            return Err(format!(
                "the audience must be 1 to {MAX_AUDIENCE_LEN} bytes"
            ));
        }
        if !audience.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the audience must be printable ASCII without spaces".to_owned());
        }
        let mut list: Vec<String> = Vec::new();
        for scope in scopes.split(',').filter(|s| !s.is_empty()) {
            if !is_scope_token(scope) {
                return Err(format!(
                    "scope {scope:?} is not an RFC 6749 scope token (printable ASCII without spaces, '\"' or '\\\\')"
                ));
            }
            if !list.iter().any(|s| s == scope) {
                list.push(scope.to_owned());
            }
        }
        Ok(Self {
            audience: audience.to_owned(),
            scopes: list,
        })
    }
}

impl TryFrom<String> for ApiSpec {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// Which kind of audience a grant is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudienceKind {
    /// The MFA API, `<issuer_url>mfa/`.
    Mfa,
    /// An API configured with `--api`.
    Api,
    /// No API: `<issuer_url>userinfo`, the audience of a login that names
    /// none when no default audience is configured (OpenID Connect scopes
    /// only, as Auth0's tokens without an audience are).
    Userinfo,
}

/// What a login is granted: the audience of its access token and the
/// scopes, space-separated in the order requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    /// The `aud` of the access token.
    pub audience: String,
    /// The granted scopes (may be empty).
    pub scope: String,
    /// What the audience is.
    pub kind: AudienceKind,
}

impl Granted {
    /// Whether `scope` was granted.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split_ascii_whitespace().any(|s| s == scope)
    }
}

/// The audience a login asked for is not one this server knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAudience(pub String);

/// Why an audience registry cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudiencesError {
    /// An `--api` cannot be used (the reason names it).
    Api(String),
    /// The default audience is not a known API.
    DefaultAudience(String),
}

impl fmt::Display for AudiencesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api(reason) | Self::DefaultAudience(reason) => f.write_str(reason),
        }
    }
}

/// The APIs this server issues tokens for. See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audiences {
    mfa: String,
    userinfo: String,
    apis: Vec<ApiSpec>,
    default: Option<String>,
}

impl Audiences {
    /// The registry for `issuer_url` with the configured `apis` and
    /// `default` audience (the MFA API or one of `apis`).
    ///
    /// # Errors
    ///
    /// [`AudiencesError::Api`] if an API is given twice or takes the MFA
    /// API's or the userinfo audience, [`AudiencesError::DefaultAudience`]
    /// if `default` is not a known API.
    pub fn new(
        issuer_url: &IssuerUrl,
        apis: Vec<ApiSpec>,
        default: Option<String>,
    ) -> Result<Self, AudiencesError> {
        let mfa = format!("{issuer_url}mfa/");
        let userinfo = format!("{issuer_url}userinfo");
        for (i, api) in apis.iter().enumerate() {
            let a = api.audience();
            if a == mfa || a == mfa.trim_end_matches('/') {
                return Err(AudiencesError::Api(format!(
                    "{a} is the MFA API, which is built in (its scopes are {})",
                    MFA_SCOPES.join(" ")
                )));
            }
            if a == userinfo {
                return Err(AudiencesError::Api(format!(
                    "{a} is reserved for logins that name no audience"
                )));
            }
            if apis[..i].iter().any(|b| b.audience() == a) {
                return Err(AudiencesError::Api(format!("{a} is given twice")));
            }
        }
        let this = Self {
            mfa,
            userinfo,
            apis,
            default: None,
        };
        let default = match default {
            None => None,
            Some(d) => match this.lookup(&d) {
                Some((audience, AudienceKind::Mfa | AudienceKind::Api)) => {
                    Some(audience.to_owned())
                }
                _ => {
                    return Err(AudiencesError::DefaultAudience(format!(
                        "{d} is neither the MFA API ({}) nor an API given with api",
                        this.mfa
                    )));
                }
            },
        };
        Ok(Self { default, ..this })
    }

    /// The MFA API's audience, `<issuer_url>mfa/`.
    #[must_use]
    pub fn mfa(&self) -> &str {
        &self.mfa
    }

    /// The audience of logins that name none when no default is
    /// configured: `<issuer_url>userinfo`.
    #[must_use]
    pub fn userinfo(&self) -> &str {
        &self.userinfo
    }

    /// The configured APIs.
    #[must_use]
    pub fn apis(&self) -> &[ApiSpec] {
        &self.apis
    }

    /// The configured default audience, if any.
    #[must_use]
    pub fn default_audience(&self) -> Option<&str> {
        self.default.as_deref()
    }

    /// The canonical audience and kind of `audience`, if known. The MFA
    /// API is also known without its final `/` (`<issuer_url>mfa`, as
    /// older Auth0 documents write it); its tokens carry the canonical one.
    fn lookup<'a>(&'a self, audience: &str) -> Option<(&'a str, AudienceKind)> {
        if audience == self.mfa || audience == self.mfa.trim_end_matches('/') {
            return Some((&self.mfa, AudienceKind::Mfa));
        }
        if audience == self.userinfo {
            return Some((&self.userinfo, AudienceKind::Userinfo));
        }
        self.apis
            .iter()
            .find(|a| a.audience() == audience)
            .map(|a| (a.audience(), AudienceKind::Api))
    }

    /// What a login that asks for `audience` (or none) and `scope` (space
    /// separated) is granted: the audience (or the default one), and the
    /// requested scopes that it defines or that are OpenID Connect scopes,
    /// each once, in the order requested.
    ///
    /// # Errors
    ///
    /// [`UnknownAudience`] if `audience` is not the MFA API, a configured
    /// API or the userinfo audience.
    pub fn grant(&self, audience: Option<&str>, scope: &str) -> Result<Granted, UnknownAudience> {
        let asked = audience.or(self.default.as_deref());
        let (audience, kind) = match asked {
            None => (self.userinfo.as_str(), AudienceKind::Userinfo),
            Some(a) => self
                .lookup(a)
                .ok_or_else(|| UnknownAudience(a.to_owned()))?,
        };
        let defined: &[String] = match kind {
            AudienceKind::Api => self
                .apis
                .iter()
                .find(|a| a.audience() == audience)
                .map_or(&[], |a| a.scopes()),
            AudienceKind::Mfa | AudienceKind::Userinfo => &[],
        };
        let allowed = |s: &str| {
            OIDC_SCOPES.contains(&s)
                || (kind == AudienceKind::Mfa && MFA_SCOPES.contains(&s))
                || defined.iter().any(|d| d == s)
        };
        let mut granted: Vec<&str> = Vec::new();
        for s in scope.split_ascii_whitespace() {
            if allowed(s) && !granted.contains(&s) {
                granted.push(s);
            }
        }
        Ok(Granted {
            audience: audience.to_owned(),
            scope: granted.join(" "),
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn url(s: &str) -> IssuerUrl {
        s.parse().unwrap()
    }

    #[test]
    fn issuer_urls() {
        for (ok, host) in [
            ("http://127.0.0.1:8080/", "127.0.0.1"),
            ("https://auth.example.com/", "auth.example.com"),
            ("https://auth.example.com:8443/tenant/", "auth.example.com"),
            ("http://[::1]:8080/", "::1"),
            ("https://localhost/", "localhost"),
        ] {
            let parsed = url(ok);
            assert_eq!((parsed.as_str(), parsed.host()), (ok, host));
        }
        for (bad, says) in [
            ("https://auth.example.com", "must end with '/'"),
            ("auth.example.com/", "starting with https://"),
            ("ftp://auth.example.com/", "starting with https://"),
            ("HTTPS://auth.example.com/", "starting with https://"),
            ("https:///", "must name a host"),
            ("https://user@auth.example.com/", "user information"),
            ("https://auth.example.com/?a=1/", "query"),
            ("https://auth.example.com/#x/", "fragment"),
            ("https://auth example.com/", "invalid host"),
            ("https://auth.example.com:0/", "invalid port"),
            ("https://auth.example.com:99999/", "invalid port"),
            ("https://auth.example.com:/", "invalid port"),
            ("https://[::1/", "unclosed"),
            ("https://[zz]/", "IPv6"),
            ("https://a.example.com/\u{0}/", "query"),
        ] {
            let e = bad.parse::<IssuerUrl>().unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let long = format!("https://{}.example.com/", "a".repeat(300));
        assert!(long.parse::<IssuerUrl>().is_err());
        assert_eq!(
            IssuerUrl::default(),
            url("http://127.0.0.1:8080/"),
            "the default is what parsing it gives"
        );
    }

    #[test]
    fn api_specs() {
        let api: ApiSpec =
            "https://payments.example.com/=read:payments,write:payments,read:payments"
                .parse()
                .unwrap();
        assert_eq!(api.audience(), "https://payments.example.com/");
        assert_eq!(api.scopes(), ["read:payments", "write:payments"]);
        let bare: ApiSpec = "urn:billing=".parse().unwrap();
        assert!(bare.scopes().is_empty());
        for bad in [
            "no-equals-sign",
            "=read",
            "a b=read",
            "api=read \"x\"",
            "api=re\\ad",
            "api=caf\u{e9}",
        ] {
            assert!(bad.parse::<ApiSpec>().is_err(), "{bad}");
        }
    }

    fn registry() -> Audiences {
        Audiences::new(
            &url("https://auth.example.com/"),
            vec![
                "https://payments.example.com/=read:payments,admin:all"
                    .parse()
                    .unwrap(),
            ],
            None,
        )
        .unwrap()
    }

    #[test]
    fn grants_filter_scopes_to_the_audience() {
        let a = registry();
        assert_eq!(a.mfa(), "https://auth.example.com/mfa/");
        let g = a
            .grant(
                Some("https://auth.example.com/mfa/"),
                "openid enroll admin:all read:authenticators offline_access enroll remove:authenticators",
            )
            .unwrap();
        assert_eq!(
            (g.audience.as_str(), g.scope.as_str(), g.kind),
            (
                "https://auth.example.com/mfa/",
                "openid enroll read:authenticators remove:authenticators",
                AudienceKind::Mfa
            )
        );
        assert!(g.has_scope("enroll") && !g.has_scope("admin:all"));
        // Without the final slash: the same API, the canonical audience.
        let g = a
            .grant(Some("https://auth.example.com/mfa"), "enroll")
            .unwrap();
        assert_eq!(g.audience, "https://auth.example.com/mfa/");
        let g = a
            .grant(
                Some("https://payments.example.com/"),
                "openid admin:all delete:users enroll profile",
            )
            .unwrap();
        assert_eq!(g.scope, "openid admin:all profile");
        assert_eq!(g.kind, AudienceKind::Api);
        // No audience: the userinfo audience, OpenID Connect scopes only.
        let g = a.grant(None, "openid email enroll read:payments").unwrap();
        assert_eq!(
            (g.audience.as_str(), g.scope.as_str(), g.kind),
            (
                "https://auth.example.com/userinfo",
                "openid email",
                AudienceKind::Userinfo
            )
        );
        for unknown in [
            "https://other.example.com/",
            "seed-app",
            "https://auth.example.com/",
            "",
        ] {
            assert_eq!(
                a.grant(Some(unknown), "openid"),
                Err(UnknownAudience(unknown.to_owned()))
            );
        }
    }

    #[test]
    fn the_default_audience_must_be_known() {
        let issuer = url("https://auth.example.com/");
        let apis = || {
            vec![
                "https://payments.example.com/=read:payments"
                    .parse()
                    .unwrap(),
            ]
        };
        let a = Audiences::new(
            &issuer,
            apis(),
            Some("https://payments.example.com/".into()),
        )
        .unwrap();
        let g = a.grant(None, "read:payments openid").unwrap();
        assert_eq!(
            (g.audience.as_str(), g.scope.as_str()),
            ("https://payments.example.com/", "read:payments openid")
        );
        let a =
            Audiences::new(&issuer, apis(), Some("https://auth.example.com/mfa".into())).unwrap();
        assert_eq!(a.default_audience(), Some("https://auth.example.com/mfa/"));
        for bad in [
            "https://unknown.example.com/",
            "https://auth.example.com/userinfo",
        ] {
            assert!(matches!(
                Audiences::new(&issuer, apis(), Some(bad.into())),
                Err(AudiencesError::DefaultAudience(_))
            ));
        }
    }

    #[test]
    fn apis_cannot_shadow_the_built_in_audiences() {
        let issuer = url("https://auth.example.com/");
        for api in [
            "https://auth.example.com/mfa/=admin",
            "https://auth.example.com/mfa=admin",
            "https://auth.example.com/userinfo=admin",
        ] {
            assert!(matches!(
                Audiences::new(&issuer, vec![api.parse().unwrap()], None),
                Err(AudiencesError::Api(_))
            ));
        }
        let twice = vec!["a=x".parse().unwrap(), "a=y".parse().unwrap()];
        assert!(matches!(
            Audiences::new(&issuer, twice, None),
            Err(AudiencesError::Api(_))
        ));
    }
}
