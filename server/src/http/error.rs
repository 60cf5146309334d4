//! The API's one error type, [`ApiError`]: an OAuth-style JSON answer
//! (`{"error", "error_description"}`) with its status and headers, and the
//! mappings into it from the engine's [`MfaError`] and the database's
//! [`DbError`].
//!
//! Not here: which request earns which error (the extractors in
//! [`super::extract`] and the handlers decide), and success bodies.

use axum::http::header::{CACHE_CONTROL, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use totp_engine::MfaError;

use crate::db::DbError;

/// An error answer: status, OAuth `error` code, description, and the
/// `Retry-After` / `WWW-Authenticate` headers some of them carry. Every
/// error answer is sent with `Cache-Control: no-store`.
///
/// The description may quote client text, shortened and stripped of
/// control characters; it never quotes a secret.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: &'static str,
    description: String,
    retry_after: Option<u64>,
    basic_challenge: bool,
}

impl ApiError {
    /// An error with no extra headers.
    pub(crate) fn new(
        status: StatusCode,
        error: &'static str,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            retry_after: None,
            basic_challenge: false,
        }
    }

    /// 400 `invalid_request`.
    pub(crate) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 400 `invalid_request` for a missing (or empty) parameter.
    pub(crate) fn missing(name: &str) -> Self {
        Self::invalid_request(format!("Missing required parameter: {name}"))
    }

    /// 401 `invalid_client`, with a Basic challenge (RFC 6749 §5.2).
    pub(crate) fn invalid_client() -> Self {
        Self {
            basic_challenge: true,
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed: unknown client or wrong client credentials.",
            )
        }
    }

    /// 503 `temporarily_unavailable` with `Retry-After: 1`; logs `what`,
    /// which the client does not see.
    pub(crate) fn unavailable(what: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %what, "storage unavailable");
        Self {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "The service is temporarily unavailable. Try again.",
            )
        }
    }

    /// 401 `invalid_token`: a Bearer access token that does not verify.
    pub(crate) fn invalid_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "The access token is invalid or expired.",
        )
    }

    /// 401 `invalid_request`: no usable `Authorization: Bearer` header.
    pub(crate) fn missing_bearer() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request",
            "Missing Authorization header with a Bearer token",
        )
    }

    /// 401 `invalid_grant`: an mfa_token of the wrong shape, or unknown.
    pub(crate) fn malformed_mfa_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_grant",
            "Malformed mfa_token",
        )
    }

    /// 401 `expired_token`: an mfa_token past its lifetime.
    pub(crate) fn expired_mfa_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "expired_token",
            "mfa_token is expired",
        )
    }

    /// 400 `unsupported_challenge_type`: /mfa/associate asked for a type
    /// other than `otp`.
    pub(crate) fn unsupported_authenticator_type() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_challenge_type",
            "Only otp authenticators can be associated.",
        )
    }

    /// 404 `not_found`.
    pub(crate) fn not_found(description: &'static str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", description)
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The OAuth `error` code.
    #[must_use]
    pub fn error(&self) -> &'static str {
        self.error
    }

    /// The `error_description`.
    #[must_use]
    pub fn description(&self) -> &str {
        &self.description
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(v) = self
            .retry_after
            .and_then(|secs| HeaderValue::from_str(&secs.to_string()).ok())
        {
            headers.insert(RETRY_AFTER, v);
        }
        if self.basic_challenge {
            headers.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"mfa-server\""),
            );
        }
        response
    }
}

/// The engine's errors carry their own status, OAuth code, description and
/// `Retry-After` ([`MfaError::http_status`]); storage failures are logged
/// here (the engine's text never names the cause).
impl<E: std::fmt::Display> From<MfaError<E>> for ApiError {
    fn from(e: MfaError<E>) -> Self {
        match &e {
            MfaError::Storage(inner) => tracing::error!(error = %inner, "storage unavailable"),
            MfaError::Contention => {
                tracing::warn!("contention: concurrent requests kept changing the state")
            }
            _ => {}
        }
        let status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        Self {
            retry_after: e.retry_after(),
            ..Self::new(status, e.error_code(), e.error_description())
        }
    }
}

/// A database failure is the service's, never the client's: 503.
impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        Self::unavailable(&e)
    }
}

/// Shortens and sanitizes client text before it is echoed in an error or
/// a log line: at most 64 characters, no control characters.
pub(crate) fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}
