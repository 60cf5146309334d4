//! [`ApiSpec`]: one `--api AUDIENCE=SCOPE,SCOPE…`, an API this server
//! issues tokens for and the scopes it defines, and the RFC 6749 scope-token
//! check.
//!
//! Not here: the registry of audiences and the filtering of a login's
//! scopes (`super`), the issuer URL (`super::issuer`).

use std::str::FromStr;

use serde::Deserialize;

/// The longest audience accepted, in bytes.
const MAX_AUDIENCE_LEN: usize = 256;

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
