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
//! This file holds the registry and the grant; [`IssuerUrl`] is parsed in
//! `issuer.rs`, [`ApiSpec`] in `api.rs`.
//!
//! Not here: reading the knobs (`crate::config`), the HTTP errors and the
//! checks on bearer tokens (`crate::http`).

mod api;
mod issuer;

use std::fmt;

pub use self::api::ApiSpec;
pub use self::issuer::IssuerUrl;

/// The scopes of the MFA API (`<issuer_url>mfa/`), as Auth0 defines them.
pub const MFA_SCOPES: [&str; 3] = [ENROLL, READ_AUTHENTICATORS, REMOVE_AUTHENTICATORS];
/// MFA API scope: associate an authenticator for an enrolled user.
pub const ENROLL: &str = "enroll";
/// MFA API scope: list the user's authenticators.
pub const READ_AUTHENTICATORS: &str = "read:authenticators";
/// MFA API scope: delete one of the user's authenticators.
pub const REMOVE_AUTHENTICATORS: &str = "remove:authenticators";

/// The OpenID Connect scopes every audience may be granted. `openid` adds
/// an id token to the answer, `offline_access` a refresh token (the MFA
/// grants drop it from the answer's `scope` when none could be issued).
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// The longest lifetime of an access token for the MFA API, in seconds:
/// ten minutes, as Auth0's (which cannot be configured there); shorter if
/// `--access-token-ttl` is.
pub const MFA_API_TOKEN_TTL: u64 = 600;

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

    /// The same grant without `scope`.
    #[must_use]
    pub fn without(&self, scope: &str) -> Self {
        Self {
            scope: self
                .scope
                .split_ascii_whitespace()
                .filter(|s| *s != scope)
                .collect::<Vec<_>>()
                .join(" "),
            ..self.clone()
        }
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
mod tests;
