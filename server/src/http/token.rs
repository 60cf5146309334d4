//! `POST /oauth/token`, one function per grant (password, mfa-otp,
//! mfa-recovery-code) and the issuing of access and id tokens; and the
//! JWKS that verifies them.
//!
//! Not here: parsing and client authentication (the [`TokenRequest`]
//! extractor), mfa_token resolution ([`super::session`]), signing keys
//! ([`crate::tokens`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use totp_engine::RecoveryCode;

use super::error::ApiError;
use super::request::{Grant, MfaOtpGrant, MfaRecoveryCodeGrant, PasswordGrant, TokenRequest};
use super::{App, no_store, session};
use crate::credentials;
use crate::db::MfaTokenRow;
use crate::tokens::Claims;

/// `POST /oauth/token`.
pub(super) async fn token(
    State(app): State<Arc<App>>,
    request: TokenRequest,
) -> Result<Response, ApiError> {
    let now = app.now();
    let client_id = request.client_id;
    match request.grant {
        Grant::Password(grant) => password(&app, &client_id, grant, now).await,
        Grant::MfaOtp(grant) => mfa_otp(&app, &client_id, grant, now).await,
        Grant::MfaRecoveryCode(grant) => mfa_recovery_code(&app, &client_id, grant, now).await,
    }
}

/// The first factor: answers 403 `mfa_required` with a fresh mfa_token
/// (valid for the configured lifetime from `now`) and whether the user
/// must enroll or can be challenged. Unknown users cost a password hash
/// too, so that they look like wrong passwords.
async fn password(
    app: &App,
    client_id: &str,
    grant: PasswordGrant,
    now: u64,
) -> Result<Response, ApiError> {
    let PasswordGrant {
        username,
        password,
        scope,
        audience,
    } = grant;
    let audience = audience.unwrap_or_else(|| app.settings.issuer().to_owned());
    let (user_id, phc) = match app.db.user(&username).await? {
        Some(row) => (Some(row.user_id), row.password_hash),
        None => (None, app.dummy_hash.clone()),
    };
    let ok = tokio::task::spawn_blocking(move || credentials::verify_password(&password, &phc))
        .await
        .unwrap_or(false);
    let Some(user_id) = user_id.filter(|_| ok) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid_grant",
            "Wrong email or password.",
        ));
    };
    let (token, token_hash) = credentials::new_mfa_token();
    app.db
        .insert_mfa_token(
            &MfaTokenRow {
                token_hash,
                user_id: user_id.clone(),
                client_id: client_id.to_owned(),
                scope,
                audience,
                expires_at: now.saturating_add(app.settings.mfa_token_ttl()),
            },
            now,
        )
        .await?;
    let requirements = if app.mfa.is_enrolled(&user_id).await? {
        json!({ "challenge": [{ "type": "otp" }] })
    } else {
        json!({ "enroll": [{ "type": "otp" }] })
    };
    let body = json!({
        "error": "mfa_required",
        "error_description": "Multifactor authentication required",
        "mfa_token": token.as_str(),
        "mfa_requirements": requirements,
    });
    Ok(no_store(
        (StatusCode::FORBIDDEN, axum::Json(body)).into_response(),
    ))
}

/// The second factor by OTP; the first success confirms an enrollment.
async fn mfa_otp(
    app: &App,
    client_id: &str,
    grant: MfaOtpGrant,
    now: u64,
) -> Result<Response, ApiError> {
    let row = session::resolve_mfa_token(app, &grant.mfa_token, Some(client_id), now).await?;
    let verified = app.mfa.verify_otp(&row.user_id, &grant.otp, now).await?;
    if !verified.attempts_reset {
        // The code is consumed and the grant stands; only the bookkeeping
        // after it failed.
        tracing::warn!("attempt bucket not reset after an accepted otp");
    }
    issue_tokens(app, &row, "otp", None, now)
}

/// The second factor by recovery code, which is consumed; its replacement
/// (rotating policy) is returned once, beside the tokens.
async fn mfa_recovery_code(
    app: &App,
    client_id: &str,
    grant: MfaRecoveryCodeGrant,
    now: u64,
) -> Result<Response, ApiError> {
    let row = session::resolve_mfa_token(app, &grant.mfa_token, Some(client_id), now).await?;
    let verified = {
        // The generator is not `Send`: draw from it before awaiting.
        let fut =
            app.mfa
                .verify_recovery_code(&row.user_id, &grant.recovery_code, &mut rand::rng(), now);
        fut.await?
    };
    if !verified.attempts_reset {
        tracing::warn!("attempt bucket not reset after an accepted recovery code");
    }
    issue_tokens(app, &row, "recovery-code", verified.new_code.as_ref(), now)
}

/// The token response: an access token issued at `now` for the configured
/// lifetime, an id token when the scope asks for `openid`, and a new
/// recovery code when one replaced the code just used.
fn issue_tokens(
    app: &App,
    row: &MfaTokenRow,
    factor: &str,
    recovery_code: Option<&RecoveryCode>,
    now: u64,
) -> Result<Response, ApiError> {
    let ttl = app.settings.access_token_ttl();
    let access = Claims {
        iss: app.signer.issuer().to_owned(),
        sub: row.user_id.clone(),
        aud: row.audience.clone(),
        iat: now,
        exp: now.saturating_add(ttl),
        scope: row.scope.clone(),
        amr: vec!["pwd".to_owned(), factor.to_owned()],
        azp: Some(row.client_id.clone()),
    };
    let sign = |c: &Claims| app.signer.sign(c).map_err(|e| ApiError::unavailable(&e));
    let mut body = json!({
        "access_token": sign(&access)?,
        "expires_in": ttl,
        "token_type": "Bearer",
    });
    if !row.scope.is_empty() {
        body["scope"] = Value::String(row.scope.clone());
    }
    if row.scope.split_ascii_whitespace().any(|s| s == "openid") {
        let id = Claims {
            aud: row.client_id.clone(),
            scope: String::new(),
            azp: None,
            ..access
        };
        body["id_token"] = Value::String(sign(&id)?);
    }
    if let Some(code) = recovery_code {
        body["recovery_code"] = Value::String(code.as_str().to_owned());
    }
    Ok(no_store((StatusCode::OK, axum::Json(body)).into_response()))
}

/// `GET /.well-known/jwks.json`.
pub(super) async fn jwks(State(app): State<Arc<App>>) -> Response {
    axum::Json(app.signer.jwks()).into_response()
}
