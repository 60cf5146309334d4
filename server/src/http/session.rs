//! Who is asking: client authentication against the stored client
//! secrets, and the resolution of an mfa_token (shape, existence, expiry at
//! the request's `now`, the client it was issued to) or of a Bearer access
//! token into a user.
//!
//! Not here: reading credentials off the request ([`super::extract`] and
//! [`super::request`]) and issuing tokens ([`super::token`]).

use super::App;
use super::error::ApiError;
use super::extract::Bearer;
use super::request::ClientCredentials;
use crate::credentials::{StoredClientSecret, looks_like_mfa_token, mfa_token_hash};
use crate::db::MfaTokenRow;

/// Authenticates the client; returns its id. With `secret_optional`, a
/// confidential client may omit its secret (but one that is sent must be
/// right). A public client must send none. Short secrets are checked with
/// Argon2id off the async threads; long ones in constant time.
pub(crate) async fn authenticate_client(
    app: &App,
    credentials: ClientCredentials,
    secret_optional: bool,
) -> Result<String, ApiError> {
    let ClientCredentials { id, secret } = credentials;
    match (app.db.client(&id).await?.map(|row| row.secret), secret) {
        (None, _) => Err(ApiError::invalid_client()),
        (Some(StoredClientSecret::Public), None) => Ok(id),
        (Some(StoredClientSecret::Public), Some(_)) => Err(ApiError::invalid_client()),
        (Some(_), None) if secret_optional => Ok(id),
        (Some(_), None) => Err(ApiError::invalid_client()),
        (Some(stored @ StoredClientSecret::Argon2(_)), Some(secret)) => {
            let ok = tokio::task::spawn_blocking(move || stored.verify(&secret))
                .await
                .unwrap_or(false);
            if ok {
                Ok(id)
            } else {
                Err(ApiError::invalid_client())
            }
        }
        (Some(stored), Some(secret)) if stored.verify(&secret) => Ok(id),
        (Some(_), Some(_)) => Err(ApiError::invalid_client()),
    }
}

/// Resolves an mfa_token at `now`: it must have the shape of one, exist,
/// not have expired (it expires at exactly `expires_at`) and, when
/// `client_id` is given, have been issued to that client.
pub(crate) async fn resolve_mfa_token(
    app: &App,
    token: &str,
    client_id: Option<&str>,
    now: u64,
) -> Result<MfaTokenRow, ApiError> {
    if !looks_like_mfa_token(token) {
        return Err(ApiError::malformed_mfa_token());
    }
    let row = app
        .db
        .mfa_token(&mfa_token_hash(token))
        .await?
        .ok_or_else(ApiError::malformed_mfa_token)?;
    if row.expires_at <= now {
        return Err(ApiError::expired_mfa_token());
    }
    if client_id.is_some_and(|c| c != row.client_id) {
        return Err(ApiError::invalid_request(
            "mfa_token not issued to this client",
        ));
    }
    Ok(row)
}

/// The user behind a Bearer token at `now`: an mfa_token (by its shape) or
/// an access token signed by this server.
pub(crate) async fn bearer_user(app: &App, bearer: &Bearer, now: u64) -> Result<String, ApiError> {
    let token = bearer.as_str();
    if looks_like_mfa_token(token) {
        return Ok(resolve_mfa_token(app, token, None, now).await?.user_id);
    }
    app.signer
        .verify(token, now)
        .map(|c| c.sub)
        .ok_or_else(ApiError::invalid_token)
}
