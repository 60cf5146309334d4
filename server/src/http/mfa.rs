//! The `/mfa` resource: associate an authenticator, challenge one, list
//! them, remove one. Each handler reads the clock once and passes `now`
//! down.
//!
//! Who may call which endpoint with which token (an mfa_token, or an
//! access token for the MFA API with `enroll`, `read:authenticators` or
//! `remove:authenticators`) is decided by [`super::access`], before the
//! engine reads or writes anything.
//!
//! Not here: parsing ([`super::request`], [`super::extract`]), token and
//! client checks ([`super::access`], [`super::session`]), the rules
//! themselves (the engine's `Mfa`).

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use totp_engine::AuthenticatorInfo;

use super::access;
use super::error::ApiError;
use super::extract::Bearer;
use super::request::{AssociateRequest, AuthenticatorTypes, ChallengeRequest};
use super::{App, no_store, session};
use crate::audience::{READ_AUTHENTICATORS, REMOVE_AUTHENTICATORS};

/// `POST /mfa/associate`: enrolls a (pending) OTP authenticator for the
/// user of the Bearer token (an mfa_token while the user has no active
/// authenticator, else an MFA-API access token with `enroll`); recovery
/// codes on the first association. `authenticator_types` is required and
/// must include `otp`.
pub(super) async fn associate(
    State(app): State<Arc<App>>,
    bearer: Bearer,
    request: AssociateRequest,
) -> Result<Response, ApiError> {
    let now = app.now();
    let caller = access::caller(&app, &bearer, now).await?;
    access::may_associate(&app, &caller).await?;
    match request.authenticator_types {
        AuthenticatorTypes::Missing => return Err(ApiError::missing("authenticator_types")),
        AuthenticatorTypes::WithoutOtp => return Err(ApiError::unsupported_authenticator_type()),
        AuthenticatorTypes::IncludesOtp => {}
    }
    let user = caller.user();
    let account = app
        .db
        .username(user)
        .await?
        .unwrap_or_else(|| user.to_owned());
    let association = app.mfa.associate(user, &account, rand::rng(), now).await?;
    let mut body = json!({
        "authenticator_type": "otp",
        "secret": association.secret.as_str(),
        "barcode_uri": association.barcode_uri.as_str(),
    });
    if !association.recovery_codes.is_empty() {
        body["recovery_codes"] = association
            .recovery_codes
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .into();
    }
    Ok(no_store((StatusCode::OK, axum::Json(body)).into_response()))
}

/// `POST /mfa/challenge`: which challenge the user will answer (`otp`).
pub(super) async fn challenge(
    State(app): State<Arc<App>>,
    request: ChallengeRequest,
) -> Result<Response, ApiError> {
    let now = app.now();
    let row = session::resolve_mfa_token_prefetched(
        &app,
        &request.mfa_token,
        Some(&request.client_id),
        now,
        request.mfa_token_row,
    )
    .await?;
    let challenge = app
        .mfa
        .challenge(
            &row.user_id,
            request.challenge_type.as_deref(),
            request.authenticator_id.as_deref(),
        )
        .await?;
    Ok((
        StatusCode::OK,
        axum::Json(json!({ "challenge_type": challenge.as_str() })),
    )
        .into_response())
}

/// `GET /mfa/authenticators`, with a Bearer mfa_token or an MFA-API
/// access token with `read:authenticators`.
pub(super) async fn list_authenticators(
    State(app): State<Arc<App>>,
    bearer: Bearer,
) -> Result<Response, ApiError> {
    let now = app.now();
    let caller = access::caller(&app, &bearer, now).await?;
    caller.mfa_token_or_scope(READ_AUTHENTICATORS)?;
    let list = app.mfa.list_authenticators(caller.user()).await?;
    Ok((StatusCode::OK, axum::Json(authenticator_json(&list))).into_response())
}

/// `DELETE /mfa/authenticators/{id}`, with a Bearer MFA-API access token
/// with `remove:authenticators` (an mfa_token proves only the password).
pub(super) async fn remove_authenticator(
    State(app): State<Arc<App>>,
    bearer: Bearer,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let now = app.now();
    let caller = access::caller(&app, &bearer, now).await?;
    let claims = caller.access_token_with(REMOVE_AUTHENTICATORS)?;
    let Ok(Path(id)) = id else {
        return Err(ApiError::not_found("Authenticator not found."));
    };
    app.mfa.remove_authenticator(&claims.sub, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The list in Auth0's shape: `id`, `authenticator_type`, `active`, and
/// `type` as Auth0's current API sends it (`otp`, `recovery-code`; the
/// SDKs match it against the `mfa_requirements` challenge types).
fn authenticator_json(list: &[AuthenticatorInfo]) -> Value {
    list.iter()
        .map(|a| {
            json!({
                "id": a.id.as_str(),
                "authenticator_type": a.kind.authenticator_type(),
                "active": a.active,
                "type": a.kind.authenticator_type(),
            })
        })
        .collect()
}
