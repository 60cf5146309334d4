//! OpenID Connect: the discovery document at
//! `/.well-known/openid-configuration` and the `/userinfo` endpoint.
//!
//! Discovery is built from `--issuer-url` (its `issuer` is that URL
//! exactly; every endpoint is that URL plus its path, so a server reached
//! under a path prefix is described as it is reached) and the signing
//! algorithm. There is no authorization endpoint: tokens come only from
//! `/oauth/token`, by the grants listed.
//!
//! `/userinfo` (GET or POST, RFC 6750 Bearer header) takes an access token
//! signed by this server, unexpired, not revoked, whose `scope` has
//! `openid`, and answers `sub` plus the claims of the granted `profile`
//! (`name`, `nickname`) and `email` (`email`, `email_verified`, when the
//! username is an address) scopes: the username is all the server knows
//! about a user.
//!
//! Not here: signing and verification ([`crate::tokens`]), the audiences
//! ([`crate::audience`]).

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::App;
use super::error::ApiError;
use super::extract::Bearer;
use super::request::{MFA_OTP, MFA_RECOVERY_CODE, PASSWORD_REALM, REFRESH_TOKEN};
use crate::audience::{MFA_SCOPES, OIDC_SCOPES};
use crate::jose::ALLOWED_ALGS;

/// The claims a token or `/userinfo` may carry.
const CLAIMS: [&str; 12] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "azp",
    "amr",
    "scope",
    "name",
    "nickname",
    "email",
    "email_verified",
];

/// `GET /.well-known/openid-configuration`.
pub(super) async fn discovery(State(app): State<Arc<App>>) -> Response {
    let issuer = app.settings().issuer_url();
    let scopes: Vec<&str> = OIDC_SCOPES.iter().chain(&MFA_SCOPES).copied().collect();
    axum::Json(json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}oauth/token"),
        "userinfo_endpoint": format!("{issuer}userinfo"),
        "jwks_uri": format!("{issuer}.well-known/jwks.json"),
        "mfa_challenge_endpoint": format!("{issuer}mfa/challenge"),
        "grant_types_supported": [
            "password",
            PASSWORD_REALM,
            MFA_OTP,
            MFA_RECOVERY_CODE,
            REFRESH_TOKEN,
        ],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none",
        ],
        "token_endpoint_auth_signing_alg_values_supported": ALLOWED_ALGS,
        "dpop_signing_alg_values_supported": ALLOWED_ALGS,
        "id_token_signing_alg_values_supported": [app.signer().alg().as_str()],
        "scopes_supported": scopes,
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "claims_supported": CLAIMS,
    }))
    .into_response()
}

/// `GET` and `POST /userinfo`.
///
/// # Errors
///
/// 401 `invalid_request` without a Bearer token; 401 `invalid_token` for a
/// token that does not verify, has expired, was revoked or whose user is
/// gone (an mfa_token included); 403 `insufficient_scope` without
/// `openid`.
pub(super) async fn userinfo(
    State(app): State<Arc<App>>,
    bearer: Bearer,
) -> Result<Response, ApiError> {
    let now = app.now();
    let claims = app
        .signer()
        .verify(bearer.as_str(), now)
        .ok_or_else(ApiError::invalid_token)?;
    let has = |scope: &str| claims.scope.split_ascii_whitespace().any(|s| s == scope);
    if !has("openid") {
        return Err(ApiError::insufficient_scope("openid"));
    }
    match app.db().tokens_valid_from(&claims.sub).await? {
        Some(valid_from) if claims.iat >= valid_from => {}
        _ => return Err(ApiError::invalid_token()),
    }
    super::dpop::check_resource(&app, bearer.dpop(), bearer.as_str(), &claims, now).await?;
    let username = app
        .db()
        .username(&claims.sub)
        .await?
        .ok_or_else(ApiError::invalid_token)?;
    let mut body = json!({ "sub": claims.sub });
    add_profile_claims(&mut body, &username, has("profile"), has("email"));
    Ok(axum::Json(body).into_response())
}

/// The profile claims this server knows of a user, all from the username:
/// with `profile`, `name` (the username) and `nickname` (its part before
/// `@`); with `email`, `email` and `email_verified: false` when the
/// username is an address. `/userinfo` answers them, and id tokens carry
/// them (as Auth0's do for the scopes granted).
pub(super) fn add_profile_claims(body: &mut Value, username: &str, profile: bool, email: bool) {
    if profile {
        let nickname = username.split_once('@').map_or(username, |(n, _)| n);
        body["name"] = Value::String(username.to_owned());
        body["nickname"] = Value::String(nickname.to_owned());
    }
    if email && username.contains('@') {
        body["email"] = Value::String(username.to_owned());
        body["email_verified"] = Value::Bool(false);
    }
}
