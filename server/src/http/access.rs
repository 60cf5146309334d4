//! Who may call the MFA API, and with what: the Bearer token of `/mfa/…`
//! resolved into a [`Caller`], and the scope checks of each endpoint.
//!
//! A Bearer token is either an mfa_token (by its shape: the session
//! between the password grant and the MFA grant) or an access token signed
//! by this server. An access token is accepted here only if its `aud` is
//! the MFA API (`<issuer_url>mfa/`); what it may do is its `scope`:
//!
//! | endpoint | mfa_token | MFA-API access token |
//! | --- | --- | --- |
//! | `GET /mfa/authenticators` | yes | with `read:authenticators` |
//! | `DELETE /mfa/authenticators/{id}` | no (403) | with `remove:authenticators` |
//! | `POST /mfa/associate` | only while the user has no active authenticator | with `enroll` |
//!
//! Every check here reads and writes nothing but the mfa_token's row: the
//! handlers run them before the engine is called.
//!
//! Not here: mfa_token resolution itself ([`super::session`]), signature
//! and expiry checks ([`crate::tokens`]), the audience registry
//! ([`crate::audience`]).

use std::convert::Infallible;

use totp_engine::MfaError;

use super::App;
use super::error::ApiError;
use super::extract::Bearer;
use super::{dpop, session};
use crate::audience::ENROLL;
use crate::credentials::looks_like_mfa_token;
use crate::db::MfaTokenRow;
use crate::tokens::Claims;

/// The holder of a Bearer token on the MFA API.
#[derive(Debug)]
pub(crate) enum Caller {
    /// An mfa_token, unexpired.
    MfaToken(MfaTokenRow),
    /// An access token for the MFA API, verified and unexpired.
    AccessToken(Claims),
}

impl Caller {
    /// The user the token was issued for.
    pub(crate) fn user(&self) -> &str {
        match self {
            Self::MfaToken(row) => &row.user_id,
            Self::AccessToken(claims) => &claims.sub,
        }
    }

    /// Refuses an access token without `scope` (403 `insufficient_scope`);
    /// an mfa_token passes (the endpoint decides what it may do).
    pub(crate) fn mfa_token_or_scope(&self, scope: &'static str) -> Result<(), ApiError> {
        match self {
            Self::MfaToken(_) => Ok(()),
            Self::AccessToken(claims) if has_scope(claims, scope) => Ok(()),
            Self::AccessToken(_) => Err(ApiError::insufficient_scope(scope)),
        }
    }

    /// Requires an access token with `scope` and returns its claims: an
    /// mfa_token is refused with 403 `insufficient_scope` too.
    pub(crate) fn access_token_with(&self, scope: &'static str) -> Result<&Claims, ApiError> {
        match self {
            Self::AccessToken(claims) if has_scope(claims, scope) => Ok(claims),
            Self::MfaToken(_) | Self::AccessToken(_) => Err(ApiError::insufficient_scope(scope)),
        }
    }
}

/// Whether the token's space-separated `scope` includes `scope`.
fn has_scope(claims: &Claims, scope: &str) -> bool {
    claims.scope.split_ascii_whitespace().any(|s| s == scope)
}

/// Resolves the Bearer token at `now`: an mfa_token (by its shape; see
/// [`session::resolve_mfa_token`] for its errors), or an access token that
/// verifies (else 401 `invalid_token`) and whose audience is the MFA API
/// (else 401 `invalid_token` naming the audience it needs).
pub(crate) async fn caller(app: &App, bearer: &Bearer, now: u64) -> Result<Caller, ApiError> {
    let token = bearer.as_str();
    if looks_like_mfa_token(token) {
        if bearer.dpop().dpop_scheme {
            return Err(ApiError::missing_bearer());
        }
        return Ok(Caller::MfaToken(
            session::resolve_mfa_token(app, token, None, now).await?,
        ));
    }
    let claims = app
        .signer()
        .verify(token, now)
        .ok_or_else(ApiError::invalid_token)?;
    let mfa = app.settings().audiences().mfa();
    if claims.aud != mfa {
        return Err(ApiError::wrong_audience(mfa));
    }
    // Revoked by a password reset, `users reset-mfa` or the user's deletion.
    match app.db().tokens_valid_from(&claims.sub).await? {
        Some(valid_from) if claims.iat >= valid_from => {}
        _ => return Err(ApiError::invalid_token()),
    }
    // Last: the proof's jti is spent only for a token that is otherwise good.
    dpop::check_resource(app, bearer.dpop(), token, &claims, now).await?;
    Ok(Caller::AccessToken(claims))
}

/// May this caller associate a new authenticator? An access token needs
/// `enroll` (the engine then refuses a user whose OTP authenticator is
/// active: one per user). An mfa_token proves only the password, so it
/// may associate only while the user has no active authenticator at all,
/// neither OTP nor recovery code (Auth0's rule): otherwise 403
/// `access_denied` "User is already enrolled.", and the user must pass the
/// second factor (a recovery code, if the OTP authenticator is gone) for
/// an `enroll` token first.
///
/// The check reads the authenticators before the engine's enrollment
/// writes. That enrollment is itself conditional (the store refuses it
/// while an OTP authenticator is active), and a recovery code becomes
/// active only together with an OTP authenticator (confirming one), so a
/// state read as "nothing active" can turn into "only a recovery code
/// active" before the write only if a concurrent request also deletes the
/// newly confirmed OTP authenticator, which takes a `remove:authenticators`
/// token: a second factor the mfa_token's holder has not shown.
pub(crate) async fn may_associate(app: &App, caller: &Caller) -> Result<(), ApiError> {
    match caller {
        Caller::AccessToken(_) => caller.access_token_with(ENROLL).map(|_| ()),
        Caller::MfaToken(row) => {
            let list = app.mfa().list_authenticators(&row.user_id).await?;
            if list.iter().any(|a| a.active) {
                Err(MfaError::<Infallible>::AlreadyEnrolled.into())
            } else {
                Ok(())
            }
        }
    }
}
