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
use totp_engine::{AuthenticatorKind, RecoveryCode};

use super::client_ip::ClientAddress;
use super::error::ApiError;
use super::request::{Grant, MfaOtpGrant, MfaRecoveryCodeGrant, PasswordGrant, TokenRequest};
use super::{App, dpop, login, no_store, outcome, refresh, session};
use crate::audience::{AudienceKind, Granted, MFA_API_TOKEN_TTL, UnknownAudience};
use crate::credentials;
use crate::db::MfaTokenRow;
use crate::tokens::{Claims, Confirmation};
use zeroize::Zeroizing;

/// `POST /oauth/token`.
pub(super) async fn token(
    State(app): State<Arc<App>>,
    address: ClientAddress,
    request: TokenRequest,
) -> Result<Response, ApiError> {
    let now = app.now();
    let client_id = request.client_id;
    let bind = dpop::Binding::of(request.dpop.as_ref(), request.public_client);
    let bind = bind.as_ref();
    let token_row = request.mfa_token_row;
    let answer = match request.grant {
        Grant::Password(grant) => password(&app, &client_id, grant, &address, now).await,
        Grant::MfaOtp(grant) => mfa_otp(&app, &client_id, grant, token_row, bind, now).await,
        Grant::MfaRecoveryCode(grant) => {
            mfa_recovery_code(&app, &client_id, grant, token_row, bind, now).await
        }
        Grant::ClientCredentials(grant) => {
            super::management::grant::client_credentials(&app, &client_id, grant, now).await
        }
        Grant::RefreshToken(grant) => {
            refresh::refresh_token(&app, &client_id, grant, bind, now).await
        }
    };
    dpop::with_nonce(&app, answer, now)
}

/// The first factor: answers 403 `mfa_required` with a fresh mfa_token
/// (valid for the configured lifetime from `now`) and whether the user
/// must enroll or can be challenged. The password is checked behind the
/// brute-force protection of [`login::check_password`], which also makes
/// unknown users look like wrong passwords.
async fn password(
    app: &App,
    client_id: &str,
    grant: PasswordGrant,
    address: &ClientAddress,
    now: u64,
) -> Result<Response, ApiError> {
    let PasswordGrant {
        username,
        password,
        scope,
        audience,
    } = grant;
    // The audience must be one this server knows, and only the scopes it
    // grants are kept: refused or filtered here, before the password is
    // checked and long before a code is spent.
    let granted = grant_audience(app, audience.as_deref(), &scope)?;
    let user_id = login::check_password(app, &username, password, address, now).await?;
    let (token, token_hash) = credentials::new_mfa_token();
    app.db
        .insert_mfa_token(
            &MfaTokenRow {
                token_hash,
                user_id: user_id.clone(),
                client_id: client_id.to_owned(),
                scope: granted.scope,
                audience: granted.audience,
                expires_at: now.saturating_add(app.settings.mfa_token_ttl()),
            },
            now,
        )
        .await?;
    let requirements = mfa_requirements(app, &user_id).await?;
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
    token_row: Option<session::PrefetchedToken>,
    bind: Option<&dpop::Binding>,
    now: u64,
) -> Result<Response, ApiError> {
    let row = session::resolve_mfa_token_prefetched(
        app,
        &grant.mfa_token,
        Some(client_id),
        now,
        token_row,
    )
    .await?;
    let granted = grant_audience(app, Some(&row.audience), &row.scope)?;
    outcome::verify_otp(app, &row.user_id, &grant.otp, now).await?;
    second_factor_tokens(app, &row, &granted, "otp", None, bind, now).await
}

/// The second factor by recovery code, which is consumed; its replacement
/// (rotating policy) is returned once, beside the tokens.
async fn mfa_recovery_code(
    app: &App,
    client_id: &str,
    grant: MfaRecoveryCodeGrant,
    token_row: Option<session::PrefetchedToken>,
    bind: Option<&dpop::Binding>,
    now: u64,
) -> Result<Response, ApiError> {
    let row = session::resolve_mfa_token_prefetched(
        app,
        &grant.mfa_token,
        Some(client_id),
        now,
        token_row,
    )
    .await?;
    let granted = grant_audience(app, Some(&row.audience), &row.scope)?;
    let verified =
        outcome::verify_recovery_code(app, &row.user_id, &grant.recovery_code, now).await?;
    second_factor_tokens(
        app,
        &row,
        &granted,
        "recovery-code",
        verified.new_code.as_ref(),
        bind,
        now,
    )
    .await
}

/// The answer of an MFA grant whose code was accepted: the tokens of the
/// login `row`, with a new refresh token family if it asked for
/// `offline_access`. With a DPoP proof (`bind`) the access token is bound
/// to its key, and so is a public client's refresh token family.
async fn second_factor_tokens(
    app: &App,
    row: &MfaTokenRow,
    granted: &Granted,
    factor: &str,
    recovery_code: Option<&RecoveryCode>,
    bind: Option<&dpop::Binding>,
    now: u64,
) -> Result<Response, ApiError> {
    // The code is checked: the request's connection goes back to the pool
    // before the refresh token's own statements and the signatures.
    totp_engine_sqlx::lease::release().await;
    let amr = vec!["pwd".to_owned(), factor.to_owned()];
    let refresh_jkt = bind.and_then(dpop::Binding::refresh_jkt);
    let refresh_token = refresh::new_family(
        app,
        &row.user_id,
        &row.client_id,
        granted,
        &amr,
        refresh_jkt,
        now,
    )
    .await;
    let granted = match &refresh_token {
        Some(_) => granted.clone(),
        // Not issued (not asked for, or not stored): not granted either.
        None => granted.without(refresh::OFFLINE_ACCESS),
    };
    issue_tokens(
        app,
        &Issue {
            user_id: &row.user_id,
            client_id: &row.client_id,
            granted: &granted,
            amr,
            recovery_code,
            refresh_token: refresh_token.as_ref(),
            cnf: bind.map(dpop::Binding::confirmation),
        },
        now,
    )
}

/// What a login asking for `audience` (or none) and `scope` is granted
/// ([`crate::audience::Audiences::grant`]); an unknown audience (another
/// client's id, an API this server does not issue tokens for) is 403
/// `access_denied` "Service not found: AUD", as on Auth0. The password
/// grant calls it before the password is checked; the MFA grants call it
/// again on what the mfa_token recorded, before the code is checked, so
/// that a configuration changed in between refuses the login while the
/// code is still unspent.
pub(super) fn grant_audience(
    app: &App,
    audience: Option<&str>,
    scope: &str,
) -> Result<Granted, ApiError> {
    app.settings
        .audiences()
        .grant(audience, scope)
        .map_err(|UnknownAudience(a)| ApiError::service_not_found(&a))
}

/// The `mfa_requirements` of the password grant's `mfa_required`:
/// `challenge` `otp` for a user with an active OTP authenticator,
/// `challenge` `recovery-code` for one whose OTP authenticator was deleted
/// but whose recovery code is active (an mfa_token cannot associate for
/// them: the recovery code is the way back in), `enroll` `otp` otherwise.
async fn mfa_requirements(app: &App, user_id: &str) -> Result<Value, ApiError> {
    let list = app.mfa.list_authenticators(user_id).await?;
    let active = |kind| list.iter().any(|a| a.active && a.kind == kind);
    Ok(if active(AuthenticatorKind::Otp) {
        json!({ "challenge": [{ "type": "otp" }] })
    } else if active(AuthenticatorKind::RecoveryCode) {
        json!({ "challenge": [{ "type": "recovery-code" }] })
    } else {
        json!({ "enroll": [{ "type": "otp" }] })
    })
}

/// What a token response is for.
pub(super) struct Issue<'a> {
    /// The user (`sub`).
    pub(super) user_id: &'a str,
    /// The client (`azp`, and the id token's `aud`).
    pub(super) client_id: &'a str,
    /// The audience and scopes.
    pub(super) granted: &'a Granted,
    /// The login's authentication methods.
    pub(super) amr: Vec<String>,
    /// A new recovery code that replaced the one just used.
    pub(super) recovery_code: Option<&'a RecoveryCode>,
    /// A refresh token to hand out.
    pub(super) refresh_token: Option<&'a Zeroizing<String>>,
    /// The DPoP key the access token is bound to (then its type is
    /// `DPoP`).
    pub(super) cnf: Option<Confirmation>,
}

/// The token response: an access token issued at `now` for the granted
/// audience and scopes (for the configured lifetime; at most
/// [`MFA_API_TOKEN_TTL`] for the MFA API, as on Auth0; the id token always
/// gets the configured lifetime), an id token when `openid` was granted,
/// the refresh token and the new recovery code if there are any.
pub(super) fn issue_tokens(app: &App, issue: &Issue<'_>, now: u64) -> Result<Response, ApiError> {
    let granted = issue.granted;
    let ttl = match granted.kind {
        AudienceKind::Mfa => app.settings.access_token_ttl().min(MFA_API_TOKEN_TTL),
        AudienceKind::Api | AudienceKind::Userinfo => app.settings.access_token_ttl(),
    };
    let access = Claims {
        iss: app.signer.issuer().to_owned(),
        sub: issue.user_id.to_owned(),
        aud: granted.audience.clone(),
        iat: now,
        exp: now.saturating_add(ttl),
        scope: granted.scope.clone(),
        amr: issue.amr.clone(),
        azp: Some(issue.client_id.to_owned()),
        jti: Some(credentials::new_token_id()),
        cnf: issue.cnf.clone(),
        profile: serde_json::Map::new(),
    };
    let sign = |c: &Claims| app.signer.sign(c).map_err(|e| ApiError::unavailable(&e));
    let mut body = json!({
        "access_token": sign(&access)?,
        "expires_in": ttl,
        "token_type": if issue.cnf.is_some() { "DPoP" } else { "Bearer" },
    });
    if !granted.scope.is_empty() {
        body["scope"] = Value::String(granted.scope.clone());
    }
    if granted.has_scope("openid") {
        // The username is all this server knows of a user (ids are
        // `auth0|USERNAME`): the claims /userinfo answers.
        let mut profile = Value::Object(serde_json::Map::new());
        if let Some(username) = issue.user_id.strip_prefix("auth0|") {
            super::oidc::add_profile_claims(
                &mut profile,
                username,
                granted.has_scope("profile"),
                granted.has_scope("email"),
            );
        }
        let id = Claims {
            aud: issue.client_id.to_owned(),
            exp: now.saturating_add(app.settings.access_token_ttl()),
            scope: String::new(),
            azp: None,
            jti: None,
            cnf: None,
            profile: match profile {
                Value::Object(map) => map,
                _ => serde_json::Map::new(),
            },
            ..access
        };
        body["id_token"] = Value::String(sign(&id)?);
    }
    if let Some(token) = issue.refresh_token {
        body["refresh_token"] = Value::String(token.as_str().to_owned());
    }
    if let Some(code) = issue.recovery_code {
        body["recovery_code"] = Value::String(code.as_str().to_owned());
    }
    Ok(no_store((StatusCode::OK, axum::Json(body)).into_response()))
}

/// `GET /.well-known/jwks.json`.
pub(super) async fn jwks(State(app): State<Arc<App>>) -> Response {
    axum::Json(app.signer.jwks()).into_response()
}
