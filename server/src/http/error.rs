//! The API's one error type, [`ApiError`]: an OAuth-style JSON answer
//! (`{"error", "error_description"}`) with its status and headers, and the
//! mappings into it from the engine's [`MfaError`] and the database's
//! [`DbError`].
//!
//! Not here: which request earns which error (the extractors in
//! [`super::extract`] and the handlers decide), and success bodies.

use axum::http::header::{CACHE_CONTROL, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
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
    /// The `WWW-Authenticate: Bearer …` parameters of a refused Bearer
    /// token (RFC 6750 §3).
    bearer_challenge: Option<String>,
    /// Further headers (DPoP's challenge and nonce), set last.
    headers: Vec<(HeaderName, HeaderValue)>,
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
            bearer_challenge: None,
            headers: Vec::new(),
        }
    }

    /// The error with a header added (replacing one of that name).
    pub(crate) fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
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

    /// 503 `temporarily_unavailable` with `Retry-After: 1`: the password
    /// hash pool is full. Not an error of the service: not logged.
    pub(crate) fn busy() -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "The server is busy. Try again.",
            )
        }
    }

    /// 403 `invalid_grant` "Wrong email or password.": an unknown user or a
    /// wrong password (one answer for both, as on Auth0).
    pub(crate) fn wrong_password() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "invalid_grant",
            "Wrong email or password.",
        )
    }

    /// 429 `too_many_attempts`: this user is blocked from this address
    /// after consecutive failed logins (Auth0's brute-force protection).
    pub(crate) fn login_blocked() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "Your account has been blocked after multiple consecutive login attempts.",
        )
    }

    /// 429 `too_many_attempts` with `Retry-After`: too many failed logins
    /// from this address across accounts (Auth0's suspicious-IP throttling).
    pub(crate) fn suspicious_address(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "We have detected suspicious login behavior and further attempts will be blocked. Please contact the administrator.",
            )
        }
    }

    /// 408 `invalid_request`: the body did not arrive within the request
    /// timeout.
    pub(crate) fn body_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request",
            "Request body not received in time.",
        )
    }

    /// 401 `invalid_token`: a Bearer access token that does not verify.
    pub(crate) fn invalid_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "The access token is invalid or expired.",
        )
        .with_bearer_challenge("error=\"invalid_token\"".to_owned())
    }

    /// 401 `invalid_token`: a valid access token for another audience than
    /// `expected` (the MFA API).
    pub(crate) fn wrong_audience(expected: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            format!("The access token is not for this API: its audience must be {expected}"),
        )
        .with_bearer_challenge("error=\"invalid_token\"".to_owned())
    }

    /// 403 `insufficient_scope` (RFC 6750 §3.1) with the Auth0 APIs'
    /// wording: the token does not carry `scope`, which the endpoint needs.
    pub(crate) fn insufficient_scope(scope: &'static str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("Insufficient scope, expected any of: {scope}"),
        )
        .with_bearer_challenge(format!("error=\"insufficient_scope\", scope=\"{scope}\""))
    }

    /// 403 `access_denied` "Service not found: AUD" (Auth0's answer to an
    /// audience it does not know).
    pub(crate) fn service_not_found(audience: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            format!("Service not found: {}", printable(audience)),
        )
    }

    fn with_bearer_challenge(self, params: String) -> Self {
        Self {
            bearer_challenge: Some(params),
            ..self
        }
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

    /// 403 `invalid_grant` "Unknown or invalid refresh token." (Auth0's
    /// answer): an unknown, expired, revoked, reused or another client's
    /// refresh token, all alike.
    pub(crate) fn invalid_refresh_token() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "invalid_grant",
            "Unknown or invalid refresh token.",
        )
    }

    /// 400 `invalid_scope` (RFC 6749 §5.2): a refresh asked for more than
    /// the login was granted.
    pub(crate) fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
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
        if let Some(v) = self
            .bearer_challenge
            .and_then(|params| HeaderValue::from_str(&format!("Bearer {params}")).ok())
        {
            headers.insert(WWW_AUTHENTICATE, v);
        }
        for (name, value) in self.headers {
            headers.insert(name, value);
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
