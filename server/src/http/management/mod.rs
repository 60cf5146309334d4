//! Auth0's Management API calls for MFA, under `/api/v2/`, so that tooling
//! written for Auth0 (its SDKs' management clients, scripts) works here:
//!
//! | endpoint | scope |
//! | --- | --- |
//! | `GET /api/v2/users/{id}/authentication-methods` | `read:authentication_methods` |
//! | `DELETE /api/v2/users/{id}/authentication-methods` | `delete:authentication_methods` |
//! | `DELETE /api/v2/users/{id}/authentication-methods/{method_id}` | `delete:authentication_methods` |
//! | `GET /api/v2/users/{id}/enrollments` | `read:users` |
//! | `DELETE /api/v2/guardian/enrollments/{id}` | `delete:guardian_enrollments` |
//! | `POST /api/v2/users/{id}/recovery-code-regeneration` | `update:users` |
//! | `GET /api/v2/user-blocks/{id}` | `read:users` |
//! | `DELETE /api/v2/user-blocks/{id}` | `update:users` |
//!
//! Callers are machine clients with an access token from the
//! `client_credentials` grant for the audience `<issuer_url>api/v2/`
//! ([`grant`]), which a client gets only if an administrator allowed it
//! (`add-client ID --management-scopes "…"`), and only with the scopes
//! allowed. Every request checks, in this order: the Bearer token (401),
//! that its client still has its grant (401), the endpoint's scope (403),
//! then the user or enrollment (404). Errors have Auth0's Management API
//! shape, [`ManagementError`]: `{"statusCode", "error", "message",
//! "errorCode"}`.
//!
//! The handlers are in `users.rs` (authentication methods, enrollments,
//! recovery codes, user blocks) and `guardian.rs`.

pub mod grant;
mod guardian;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::json;

use super::App;
use crate::db::DbError;

/// The scopes a Management API client grant may hold: those the endpoints
/// here check.
pub const MANAGEMENT_SCOPES: [&str; 5] = [
    READ_USERS,
    UPDATE_USERS,
    READ_AUTHENTICATION_METHODS,
    DELETE_AUTHENTICATION_METHODS,
    DELETE_GUARDIAN_ENROLLMENTS,
];
/// Read users, their enrollments and blocks.
pub const READ_USERS: &str = "read:users";
/// Regenerate recovery codes, lift blocks.
pub const UPDATE_USERS: &str = "update:users";
/// List authentication methods.
pub const READ_AUTHENTICATION_METHODS: &str = "read:authentication_methods";
/// Delete authentication methods.
pub const DELETE_AUTHENTICATION_METHODS: &str = "delete:authentication_methods";
/// Delete Guardian enrollments.
pub const DELETE_GUARDIAN_ENROLLMENTS: &str = "delete:guardian_enrollments";

/// The `audience` key of Management API grants in the `client_grants`
/// table: the Management API of whatever `--issuer-url` the server runs
/// with (`add-client` does not know it).
pub const GRANT_KEY: &str = "management-api";

/// The Management API's audience under `issuer_url`: `<issuer_url>api/v2/`.
#[must_use]
pub fn audience(issuer_url: &str) -> String {
    format!("{issuer_url}api/v2/")
}

/// Checks a `--management-scopes` value: space-separated scopes of
/// [`MANAGEMENT_SCOPES`]; returns them normalized (one space between).
///
/// # Errors
///
/// A scope this server does not know, or none.
pub fn parse_scopes(scopes: &str) -> Result<String, String> {
    let mut kept: Vec<&str> = Vec::new();
    for scope in scopes.split_ascii_whitespace() {
        if !MANAGEMENT_SCOPES.contains(&scope) {
            return Err(format!(
                "unknown management scope {scope:?}; known: {}",
                MANAGEMENT_SCOPES.join(" ")
            ));
        }
        if !kept.contains(&scope) {
            kept.push(scope);
        }
    }
    if kept.is_empty() {
        return Err("no management scope given".to_owned());
    }
    Ok(kept.join(" "))
}

/// The Management API's routes.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route(
            "/api/v2/users/{id}/authentication-methods",
            get(users::authentication_methods).delete(users::delete_authentication_methods),
        )
        .route(
            "/api/v2/users/{id}/authentication-methods/{method_id}",
            delete(users::delete_authentication_method),
        )
        .route("/api/v2/users/{id}/enrollments", get(users::enrollments))
        .route(
            "/api/v2/users/{id}/recovery-code-regeneration",
            post(users::regenerate_recovery_code),
        )
        .route(
            "/api/v2/user-blocks/{id}",
            get(users::user_blocks).delete(users::unblock),
        )
        .route(
            "/api/v2/guardian/enrollments/{id}",
            delete(guardian::delete_enrollment),
        )
}

/// An error of the Management API, in its shape.
#[derive(Debug)]
pub struct ManagementError {
    status: StatusCode,
    message: String,
    error_code: Option<&'static str>,
    /// The `WWW-Authenticate` challenge of a refused token.
    challenge: Option<&'static str>,
}

impl ManagementError {
    fn new(
        status: StatusCode,
        message: impl Into<String>,
        error_code: Option<&'static str>,
    ) -> Self {
        Self {
            status,
            message: message.into(),
            error_code,
            challenge: None,
        }
    }

    /// 401: no Bearer token.
    fn missing_authentication() -> Self {
        Self {
            challenge: Some("Bearer"),
            ..Self::new(StatusCode::UNAUTHORIZED, "Missing authentication", None)
        }
    }

    /// 401: a token that does not verify, is expired, is for another
    /// audience, or whose client lost its grant.
    fn invalid_token(message: &str) -> Self {
        Self {
            challenge: Some("Bearer error=\"invalid_token\""),
            ..Self::new(StatusCode::UNAUTHORIZED, message, Some("invalid_token"))
        }
    }

    /// 403: the token lacks the endpoint's scope.
    fn insufficient_scope(scope: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            format!("Insufficient scope, expected any of: {scope}"),
            Some("insufficient_scope"),
        )
    }

    /// 404: no such user.
    fn inexistent_user() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "The user does not exist.",
            Some("inexistent_user"),
        )
    }

    /// 503: the database failed (logged; not the client's fault).
    fn unavailable(e: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %e, "storage unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is temporarily unavailable. Try again.",
            Some("temporarily_unavailable"),
        )
    }
}

impl From<DbError> for ManagementError {
    fn from(e: DbError) -> Self {
        Self::unavailable(&e)
    }
}

impl<E: std::fmt::Display> From<totp_engine::MfaError<E>> for ManagementError {
    fn from(e: totp_engine::MfaError<E>) -> Self {
        match e {
            totp_engine::MfaError::Storage(inner) => Self::unavailable(&inner),
            other => Self::unavailable(&other),
        }
    }
}

impl IntoResponse for ManagementError {
    fn into_response(self) -> Response {
        let reason = self.status.canonical_reason().unwrap_or("Error");
        let mut body = json!({
            "statusCode": self.status.as_u16(),
            "error": reason,
            "message": self.message,
        });
        if let Some(code) = self.error_code {
            body["errorCode"] = code.into();
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = self.challenge {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

/// A verified Management API token: its client and the scopes it has now
/// (those of the token that the client's grant still holds).
#[derive(Debug)]
pub struct ManagementCaller {
    /// The machine client.
    pub client_id: String,
    scopes: Vec<String>,
}

impl ManagementCaller {
    /// Refuses a token without `scope` (403 `insufficient_scope`).
    fn require(&self, scope: &'static str) -> Result<(), ManagementError> {
        if self.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            Err(ManagementError::insufficient_scope(scope))
        }
    }
}

impl FromRequestParts<Arc<App>> for ManagementCaller {
    type Rejection = ManagementError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, ManagementError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or_else(ManagementError::missing_authentication)?;
        let now = app.now();
        let claims = app
            .signer()
            .verify(token, now)
            .ok_or_else(|| ManagementError::invalid_token("Invalid token"))?;
        let audience = audience(app.settings().issuer_url());
        if claims.aud != audience {
            return Err(ManagementError::invalid_token(&format!(
                "Bad audience: {}",
                super::error::printable(&claims.aud)
            )));
        }
        let client_id = claims
            .sub
            .strip_suffix("@clients")
            .ok_or_else(|| ManagementError::invalid_token("Invalid token"))?
            .to_owned();
        // A client removed, or its grant withdrawn, since the token was
        // issued: refused; scopes withdrawn since are no longer granted.
        let granted = app
            .db()
            .client_grant(&client_id, GRANT_KEY)
            .await?
            .ok_or_else(|| ManagementError::invalid_token("Invalid token"))?;
        let granted: Vec<&str> = granted.split_ascii_whitespace().collect();
        let scopes = claims
            .scope
            .split_ascii_whitespace()
            .filter(|s| granted.contains(s))
            .map(str::to_owned)
            .collect();
        Ok(Self { client_id, scopes })
    }
}
