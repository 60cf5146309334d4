//! The typed request of each endpoint with a body, built from the
//! extractors in [`super::extract`]: [`TokenRequest`] (one [`Grant`] per
//! grant type), [`ChallengeRequest`] and [`AssociateRequest`], plus the
//! [`ClientCredentials`] the first two carry.
//!
//! The checks run in the order the API has always applied them: body,
//! `grant_type`, client credentials and the client's authentication, then
//! the endpoint's own parameters. So a request with a wrong client secret
//! is answered `invalid_client` whatever else is wrong with its grant.
//!
//! Not here: anything that needs the request's time (mfa_token expiry and
//! access tokens are checked by the handlers, with `now`), and what the
//! parameters mean to the engine.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde_json::Value;
use zeroize::Zeroizing;

use super::error::{ApiError, printable};
use super::extract::{BasicCredentials, Params};
pub use super::management::grant::ClientCredentialsGrant;
use super::{App, client_assertion, dpop, session};
use crate::credentials::{looks_like_mfa_token, mfa_token_hash};
use crate::db::TokenUserReads;

/// The `grant_type` of the mfa-otp grant.
pub const MFA_OTP: &str = "http://auth0.com/oauth/grant-type/mfa-otp";
/// The `grant_type` of the mfa-recovery-code grant.
pub const MFA_RECOVERY_CODE: &str = "http://auth0.com/oauth/grant-type/mfa-recovery-code";
/// The `grant_type` of the password-realm grant: the password grant that
/// names its connection (`realm`).
pub const PASSWORD_REALM: &str = "http://auth0.com/oauth/grant-type/password-realm";

/// The client credentials grant (RFC 6749 §4.4).
pub const CLIENT_CREDENTIALS: &str = "client_credentials";
/// The `grant_type` of the refresh-token grant (RFC 6749 §6).
pub const REFRESH_TOKEN: &str = "refresh_token";

/// Writes a `Debug` that shows only the named fields.
macro_rules! redacting_debug {
    ($type:ident { $($shown:ident),* }) => {
        impl std::fmt::Debug for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($type))
                    $(.field(stringify!($shown), &self.$shown))*
                    .finish_non_exhaustive()
            }
        }
    };
}

/// The client's claimed identity: an id and, unless it is a public client
/// (or the endpoint lets a confidential one omit it), its secret, from HTTP
/// Basic or from `client_id` / `client_secret` in the body, never both.
/// The extractors below check it against the database (`session.rs`).
pub struct ClientCredentials {
    pub(crate) id: String,
    pub(crate) secret: Option<Zeroizing<String>>,
}

redacting_debug!(ClientCredentials { id });

/// How the client authenticates on this request: a secret (or none), or a
/// Private Key JWT `client_assertion` ([`super::client_assertion`]).
pub(crate) enum ClientAuth {
    /// `client_secret_basic`, `client_secret_post` or a public client.
    Secret(ClientCredentials),
    /// `private_key_jwt`: the assertion and the body's `client_id`, if sent.
    Assertion {
        assertion: Zeroizing<String>,
        client_id: Option<String>,
    },
}

impl ClientAuth {
    /// Reads the Basic header (if any) and the body's client parameters.
    async fn read(parts: &mut Parts, params: &mut Params) -> Result<Self, ApiError> {
        let basic = <Option<BasicCredentials>>::from_request_parts(parts, &()).await?;
        let body_id = params.string("client_id")?;
        let body_secret = params.take_secret("client_secret")?;
        let assertion = params.take_secret("client_assertion")?;
        let assertion_type = params.string("client_assertion_type")?;
        if let Some(assertion) = assertion {
            if basic.is_some() || body_secret.is_some() {
                return Err(ApiError::invalid_request(
                    "Use one client authentication method, not two",
                ));
            }
            if assertion_type.as_deref() != Some(client_assertion::JWT_BEARER) {
                return Err(client_assertion::refused(format!(
                    "client_assertion_type must be {}",
                    client_assertion::JWT_BEARER
                )));
            }
            return Ok(Self::Assertion {
                assertion,
                client_id: body_id,
            });
        }
        if assertion_type.is_some() {
            return Err(ApiError::missing("client_assertion"));
        }
        match (basic, body_id, body_secret) {
            (Some(_), _, Some(_)) => Err(ApiError::invalid_request(
                "Use one client authentication method, not two",
            )),
            (Some(basic), Some(body), None) if body != basic.id => Err(ApiError::invalid_request(
                "client_id does not match the Basic credentials",
            )),
            (Some(basic), _, None) => Ok(Self::Secret(ClientCredentials {
                id: basic.id,
                secret: Some(basic.secret),
            })),
            (None, Some(id), secret) => Ok(Self::Secret(ClientCredentials { id, secret })),
            (None, None, _) => Err(ApiError::missing("client_id")),
        }
    }

    /// Checks the client's authentication for a request to `endpoint`;
    /// changes nothing but a secret's hash work. An assertion's jti is
    /// recorded by [`Authenticated::consume_reading`]. A secret's (or a
    /// public client's) row is read in one statement with the row of the
    /// mfa_token whose SHA-256 is `token_hash`, if given (see
    /// [`session::authenticate_client_reading_token`]).
    async fn check_reading(
        self,
        app: &App,
        secret_optional: bool,
        endpoint: &str,
        now: u64,
        token_hash: Option<([u8; 32], TokenUserReads)>,
    ) -> Result<Authenticated, ApiError> {
        match self {
            Self::Secret(credentials) => match token_hash {
                Some((hash, reads)) => {
                    let (id, token) = session::authenticate_client_reading_token(
                        app,
                        credentials,
                        secret_optional,
                        hash,
                        reads,
                    )
                    .await?;
                    Ok(Authenticated::Done(id, token))
                }
                _ => Ok(Authenticated::Done(
                    session::authenticate_client(app, credentials, secret_optional).await?,
                    None,
                )),
            },
            Self::Assertion {
                assertion,
                client_id,
            } => Ok(Authenticated::Pending(
                client_assertion::check(app, &assertion, client_id.as_deref(), endpoint, now)
                    .await?,
            )),
        }
    }
}

/// A checked client authentication, before an assertion's single use.
enum Authenticated {
    /// A secret (or a public client): nothing left to record; the
    /// mfa_token's row if it was read with the client's.
    Done(String, Option<session::PrefetchedToken>),
    /// An assertion whose jti is still to be recorded.
    Pending(client_assertion::Accepted),
}

impl Authenticated {
    /// Records what must be single-use; returns the client id, and the
    /// mfa_token's row if it was read with the client's.
    async fn consume_reading(
        self,
        app: &App,
        now: u64,
    ) -> Result<(String, Option<session::PrefetchedToken>), ApiError> {
        match self {
            Self::Done(id, token) => Ok((id, token)),
            Self::Pending(accepted) => Ok((accepted.consume(app, now).await?, None)),
        }
    }
}

/// `POST /oauth/token`: the grant, for an authenticated client.
#[derive(Debug)]
pub struct TokenRequest {
    /// The authenticated client.
    pub client_id: String,
    /// The grant and its parameters.
    pub grant: Grant,
    /// The checked DPoP proof (its jti already recorded): the tokens are
    /// bound to its key.
    pub(crate) dpop: Option<dpop::Proof>,
    /// A public client (no secret, no assertion): its refresh tokens are
    /// bound to a DPoP key when a proof came.
    pub(crate) public_client: bool,
    /// An MFA grant's mfa_token row and its user's authenticators, read
    /// with the client's row (one statement instead of three), for
    /// [`session::resolve_mfa_token_prefetched`].
    pub(crate) mfa_token_row: Option<session::PrefetchedToken>,
}

/// The grants `/oauth/token` serves.
#[derive(Debug)]
pub enum Grant {
    /// `password`, or `password-realm` naming the server's connection:
    /// the first factor.
    Password(PasswordGrant),
    /// `http://auth0.com/oauth/grant-type/mfa-otp`.
    MfaOtp(MfaOtpGrant),
    /// `http://auth0.com/oauth/grant-type/mfa-recovery-code`.
    MfaRecoveryCode(MfaRecoveryCodeGrant),
    /// `client_credentials`: a machine client's token for the Management
    /// API ([`crate::http::management::grant`]).
    ClientCredentials(ClientCredentialsGrant),
    /// `refresh_token` (RFC 6749 §6).
    RefreshToken(RefreshTokenGrant),
}

/// The password grant's parameters.
pub struct PasswordGrant {
    /// The username.
    pub username: String,
    /// The password.
    pub password: Zeroizing<String>,
    /// `scope`, empty when absent.
    pub scope: String,
    /// `audience`; the configured default audience when absent (see
    /// [`crate::audience::Audiences::grant`]).
    pub audience: Option<String>,
}

/// The mfa-otp grant's parameters.
pub struct MfaOtpGrant {
    /// The mfa_token from the password grant.
    pub mfa_token: Zeroizing<String>,
    /// The code from the authenticator app.
    pub otp: Zeroizing<String>,
}

/// The mfa-recovery-code grant's parameters.
pub struct MfaRecoveryCodeGrant {
    /// The mfa_token from the password grant.
    pub mfa_token: Zeroizing<String>,
    /// The recovery code.
    pub recovery_code: Zeroizing<String>,
}

/// The refresh_token grant's parameters.
pub struct RefreshTokenGrant {
    /// The refresh token.
    pub refresh_token: Zeroizing<String>,
    /// `scope`: at most the login's; the login's when absent.
    pub scope: Option<String>,
}

redacting_debug!(RefreshTokenGrant { scope });
redacting_debug!(PasswordGrant {
    username,
    scope,
    audience
});
redacting_debug!(MfaOtpGrant {});
redacting_debug!(MfaRecoveryCodeGrant {});

impl FromRequest<Arc<App>> for TokenRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let mut params = Params::read(&parts.headers, body).await?;
        let grant_type = params.require("grant_type")?.to_owned();
        if !matches!(
            grant_type.as_str(),
            "password"
                | PASSWORD_REALM
                | MFA_OTP
                | MFA_RECOVERY_CODE
                | REFRESH_TOKEN
                | CLIENT_CREDENTIALS
        ) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("Grant type '{}' is not supported.", printable(&grant_type)),
            ));
        }
        let mut token_hash = None;
        if matches!(
            grant_type.as_str(),
            MFA_OTP | MFA_RECOVERY_CODE | REFRESH_TOKEN
        ) {
            // Every statement of these grants, from the client row on, goes
            // through the request's one connection (see `one_connection`).
            totp_engine_sqlx::lease::hold();
        }
        if matches!(grant_type.as_str(), MFA_OTP | MFA_RECOVERY_CODE) {
            // The mfa_token's row (and its user's authenticators: the OTP
            // one alone for an OTP, which is all its check reads) is read
            // with the client's.
            let reads = if grant_type == MFA_OTP {
                TokenUserReads::Otp
            } else {
                TokenUserReads::All
            };
            token_hash = sent_mfa_token_hash(&params).map(|hash| (hash, reads));
        }
        let now = app.now();
        let auth = ClientAuth::read(&mut parts, &mut params).await?;
        let public_client = matches!(&auth, ClientAuth::Secret(c) if c.secret.is_none());
        let authenticated = auth
            .check_reading(app, false, "/oauth/token", now, token_hash)
            .await?;
        // The proof is checked before the assertion's jti is spent, and
        // both before the grant runs: nothing is consumed for a refusal.
        let place = dpop::Place::TokenEndpoint;
        let proof = match dpop::header(&parts.headers).map_err(|r| r.into_api(app, place, now))? {
            None => None,
            Some(proof) => {
                let htu = dpop::endpoint_url(app, "/oauth/token");
                Some(
                    dpop::check(app, &proof, "POST", &htu, None, now)
                        .map_err(|r| r.into_api(app, place, now))?,
                )
            }
        };
        let (client_id, mfa_token_row) = authenticated.consume_reading(app, now).await?;
        if let Some(proof) = &proof {
            proof
                .consume(app, now)
                .await
                .map_err(|e| e.into_api(app, place, now))?;
        }
        if grant_type == PASSWORD_REALM {
            check_realm(params.require("realm")?, app.settings().connection())?;
        }
        let grant = match grant_type.as_str() {
            // password-realm is the password grant once its `realm` names
            // the one connection: refused before anything is charged.
            "password" | PASSWORD_REALM => Grant::Password(PasswordGrant {
                username: params.require("username")?.to_owned(),
                password: params.require_secret("password")?,
                scope: params.string("scope")?.unwrap_or_default(),
                audience: params.string("audience")?,
            }),
            CLIENT_CREDENTIALS => Grant::ClientCredentials(ClientCredentialsGrant {
                audience: params.string("audience")?,
                scope: params.string("scope")?,
            }),
            MFA_OTP => Grant::MfaOtp(MfaOtpGrant {
                mfa_token: params.require_secret("mfa_token")?,
                otp: params.require_secret("otp")?,
            }),
            REFRESH_TOKEN => Grant::RefreshToken(RefreshTokenGrant {
                refresh_token: params.require_secret("refresh_token")?,
                scope: params.string("scope")?,
            }),
            _ => Grant::MfaRecoveryCode(MfaRecoveryCodeGrant {
                mfa_token: params.require_secret("mfa_token")?,
                recovery_code: params.require_secret("recovery_code")?,
            }),
        };
        Ok(Self {
            client_id,
            grant,
            dpop: proof,
            public_client,
            mfa_token_row,
        })
    }
}

/// The password-realm grant's `realm` must be the server's one database
/// connection (`--connection`); any other is 400 `invalid_request`
/// "connection not found".
fn check_realm(realm: &str, connection: &str) -> Result<(), ApiError> {
    if realm == connection {
        Ok(())
    } else {
        Err(ApiError::invalid_request("connection not found"))
    }
}

/// The SHA-256 of the request's `mfa_token`, if it sent one of the right
/// shape: the key its row is read by, with the client's.
fn sent_mfa_token_hash(params: &Params) -> Option<[u8; 32]> {
    params
        .get("mfa_token")
        .ok()
        .flatten()
        .filter(|t| looks_like_mfa_token(t))
        .map(mfa_token_hash)
}

/// `POST /mfa/challenge`, for an authenticated client. A confidential
/// client may omit its secret here (the seed's command does: the mfa_token
/// is the credential), but a secret that is sent must be right.
pub struct ChallengeRequest {
    /// The authenticated client.
    pub client_id: String,
    /// The mfa_token from the password grant.
    pub mfa_token: Zeroizing<String>,
    /// The challenge types the client accepts, space-separated; any if absent.
    pub challenge_type: Option<String>,
    /// The authenticator to challenge, if named.
    pub authenticator_id: Option<String>,
    /// The mfa_token's row, read with the client's row, for
    /// [`session::resolve_mfa_token_prefetched`].
    pub(crate) mfa_token_row: Option<session::PrefetchedToken>,
}

redacting_debug!(ChallengeRequest {
    client_id,
    challenge_type,
    authenticator_id
});

impl FromRequest<Arc<App>> for ChallengeRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let mut params = Params::read(&parts.headers, body).await?;
        let now = app.now();
        // One connection for the request's statements, and the mfa_token's
        // row (and its user's authenticators) read with the client's, as
        // for the MFA grants.
        totp_engine_sqlx::lease::hold();
        let token_hash = sent_mfa_token_hash(&params).map(|hash| (hash, TokenUserReads::All));
        let (client_id, mfa_token_row) = ClientAuth::read(&mut parts, &mut params)
            .await?
            .check_reading(app, true, "/mfa/challenge", now, token_hash)
            .await?
            .consume_reading(app, now)
            .await?;
        Ok(Self {
            client_id,
            mfa_token: params.require_secret("mfa_token")?,
            challenge_type: params.string("challenge_type")?,
            authenticator_id: params.string("authenticator_id")?,
            mfa_token_row,
        })
    }
}

/// `POST /mfa/associate` (its mfa_token comes as a [`super::extract::Bearer`]).
#[derive(Debug)]
pub struct AssociateRequest {
    /// What `authenticator_types` asked for.
    pub authenticator_types: AuthenticatorTypes,
}

/// The `authenticator_types` of an association request: a JSON array, or in
/// a form body (which cannot carry one) a space-separated string. Auth0
/// requires it; the handler answers its absence with 400 `invalid_request`
/// after checking the Bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthenticatorTypes {
    /// Not given (absent, `null` or an empty string).
    Missing,
    /// The list includes `otp`.
    IncludesOtp,
    /// A list without `otp`: nothing this server can associate.
    WithoutOtp,
}

impl<S: Send + Sync> FromRequest<S> for AssociateRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let params = Params::from_request(req, state).await?;
        let authenticator_types = match params.raw("authenticator_types") {
            None | Some(Value::Null) => AuthenticatorTypes::Missing,
            Some(Value::String(types)) if types.trim().is_empty() => AuthenticatorTypes::Missing,
            Some(Value::Array(types)) if types.iter().any(|t| t.as_str() == Some("otp")) => {
                AuthenticatorTypes::IncludesOtp
            }
            Some(Value::String(types)) if types.split_ascii_whitespace().any(|t| t == "otp") => {
                AuthenticatorTypes::IncludesOtp
            }
            Some(Value::Array(_) | Value::String(_)) => AuthenticatorTypes::WithoutOtp,
            Some(_) => {
                return Err(ApiError::invalid_request(
                    "authenticator_types must be an array such as [\"otp\"]",
                ));
            }
        };
        Ok(Self {
            authenticator_types,
        })
    }
}
