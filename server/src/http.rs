//! HTTP: the Auth0-compatible endpoints, request parsing and error mapping.
//!
//! Every response is JSON, errors included (`{"error", "error_description"}`),
//! for client mistakes of every kind: bad bodies, unknown routes, wrong
//! methods. A panic in a handler becomes a 500 JSON answer and is logged;
//! client mistakes never produce one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine as _;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Value, json};
use totp_engine::{AuthenticatorInfo, Mfa, MfaError};

use crate::credentials::{self, StoredClientSecret, looks_like_mfa_token, mfa_token_hash};
use crate::db::{Db, MfaTokenRow};
use totp_engine::Clock as _;

fn now() -> u64 {
    totp_engine::SystemClock.unix_time()
}
use crate::tokens::{Claims, Signer};
use totp_engine_sqlx::SqlxStore as SqlStore;

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 16 * 1024;

const MFA_OTP: &str = "http://auth0.com/oauth/grant-type/mfa-otp";
const MFA_RECOVERY: &str = "http://auth0.com/oauth/grant-type/mfa-recovery-code";

/// Settings of a running server.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mfa_token_ttl: u64,
    pub access_token_ttl: u64,
    pub default_audience: String,
}

/// Shared state of the handlers.
pub struct App {
    pub db: Db,
    pub mfa: Mfa<SqlStore>,
    pub signer: Signer,
    pub settings: Settings,
    /// A real Argon2id hash that unknown usernames are checked against, so
    /// that a wrong username costs as much as a wrong password.
    pub dummy_hash: String,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("backend", &self.db.backend)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

type Shared = Arc<App>;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: &'static str,
    description: String,
    retry_after: Option<u64>,
    basic_challenge: bool,
}

impl ApiError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            retry_after: None,
            basic_challenge: false,
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn missing(name: &str) -> Self {
        Self::invalid_request(format!("Missing required parameter: {name}"))
    }

    fn invalid_client() -> Self {
        Self {
            basic_challenge: true,
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed: unknown client or wrong client credentials.",
            )
        }
    }

    fn unavailable(what: &dyn std::fmt::Display) -> Self {
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

    fn invalid_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "The access token is invalid or expired.",
        )
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

impl<E: std::fmt::Display> From<MfaError<E>> for ApiError {
    fn from(e: MfaError<E>) -> Self {
        let status = match &e {
            MfaError::AlreadyEnrolled => StatusCode::FORBIDDEN,
            MfaError::AuthenticatorNotFound => StatusCode::NOT_FOUND,
            MfaError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            MfaError::Storage(inner) => return Self::unavailable(inner),
            MfaError::Contention => return Self::unavailable(&"contention"),
            _ => StatusCode::BAD_REQUEST,
        };
        let retry_after = match &e {
            MfaError::TooManyAttempts(locked) => Some(locked.retry_after()),
            _ => None,
        };
        Self {
            retry_after,
            ..Self::new(status, e.error_code(), e.error_description())
        }
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        Self::unavailable(&e)
    }
}

/// A JSON object that refuses duplicate keys.
struct UniqueObject(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UniqueObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueObject, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    out.push((k, v));
                }
                Ok(UniqueObject(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Request parameters from a form or JSON body.
#[derive(Debug, Default)]
struct Params(HashMap<String, Value>);

impl Params {
    fn from_pairs(pairs: Vec<(String, Value)>) -> Result<Self, ApiError> {
        let mut map = HashMap::with_capacity(pairs.len());
        for (k, v) in pairs {
            if map.contains_key(&k) {
                return Err(ApiError::invalid_request(format!(
                    "Duplicate parameter: {}",
                    printable(&k)
                )));
            }
            map.insert(k, v);
        }
        Ok(Self(map))
    }

    /// A string parameter; empty strings count as absent.
    fn get(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::invalid_request(format!(
                "Parameter {name} must be a string"
            ))),
        }
    }

    fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)?.ok_or_else(|| ApiError::missing(name))
    }
}

/// Shortens and sanitizes client text before it is echoed in an error.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

async fn read_params(headers: &HeaderMap, body: Body) -> Result<Params, ApiError> {
    let bytes = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            format!("Request body exceeds {BODY_LIMIT} bytes"),
        )
    })?;
    let content_type = match headers.get(CONTENT_TYPE) {
        None => String::new(),
        Some(v) => v
            .to_str()
            .map_err(|_| unsupported_media())?
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    };
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let Some(first) = first else {
        return match content_type.as_str() {
            "" | "application/json" | "application/x-www-form-urlencoded" => Ok(Params::default()),
            _ => Err(unsupported_media()),
        };
    };
    match content_type.as_str() {
        "application/json" => parse_json(&bytes),
        // curl labels `--data '{…}'` as form-encoded: a body that is a JSON
        // object is read as JSON, as the seed's own commands expect.
        "application/x-www-form-urlencoded" | "" if first == b'{' => parse_json(&bytes),
        "application/x-www-form-urlencoded" | "" => parse_form(&bytes),
        _ => Err(unsupported_media()),
    }
}

fn unsupported_media() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "invalid_request",
        "Unsupported Content-Type: send application/json or application/x-www-form-urlencoded",
    )
}

fn parse_json(bytes: &[u8]) -> Result<Params, ApiError> {
    let object: UniqueObject = serde_json::from_slice(bytes)
        .map_err(|_| ApiError::invalid_request("Malformed JSON body: expected one JSON object"))?;
    Params::from_pairs(object.0)
}

fn parse_form(bytes: &[u8]) -> Result<Params, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
        .map_err(|_| ApiError::invalid_request("Malformed form body"))?;
    Params::from_pairs(
        pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    )
}

/// `Authorization: Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let missing = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request",
            "Missing Authorization header with a Bearer token",
        )
    };
    let value = headers
        .get(AUTHORIZATION)
        .ok_or_else(missing)?
        .to_str()
        .map_err(|_| missing())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(missing());
    }
    Ok(token.trim())
}

/// HTTP Basic client credentials (RFC 6749 §2.3.1: form-encoded id and secret).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ApiError::invalid_client())?;
    let Some((scheme, encoded)) = value.trim().split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| ApiError::invalid_client())?;
    let decoded = String::from_utf8(decoded).map_err(|_| ApiError::invalid_client())?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(ApiError::invalid_client)?;
    let unescape = |s: &str| -> Result<String, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={s}"))
            .map_err(|_| ApiError::invalid_client())?;
        Ok(pairs.into_iter().next().map(|(_, v)| v).unwrap_or_default())
    };
    Ok(Some((unescape(id)?, unescape(secret)?)))
}

/// Authenticates the client. With `secret_optional`, a confidential client
/// may omit its secret (the /mfa/challenge seed command does: the mfa_token
/// is the credential there), but a secret that is sent must be right.
async fn authenticate_client(
    app: &App,
    headers: &HeaderMap,
    params: &Params,
    secret_optional: bool,
) -> Result<String, ApiError> {
    let basic = basic_credentials(headers)?;
    let body_id = params.get("client_id")?;
    let body_secret = params.get("client_secret")?;
    if params.get("client_assertion")?.is_some() {
        return Err(ApiError::invalid_request(
            "client_assertion is not supported; use client_secret",
        ));
    }
    let (client_id, secret) = match (&basic, body_id, body_secret) {
        (Some(_), _, Some(_)) => {
            return Err(ApiError::invalid_request(
                "Use one client authentication method, not two",
            ));
        }
        (Some((id, _)), Some(body), _) if body != id => {
            return Err(ApiError::invalid_request(
                "client_id does not match the Basic credentials",
            ));
        }
        (Some((id, secret)), _, _) => (id.as_str(), Some(secret.as_str())),
        (None, Some(id), secret) => (id, secret),
        (None, None, _) => return Err(ApiError::missing("client_id")),
    };
    match (app.db.client(client_id).await?.map(|c| c.secret), secret) {
        (None, _) => Err(ApiError::invalid_client()),
        (Some(StoredClientSecret::Public), None) => Ok(client_id.to_owned()),
        (Some(StoredClientSecret::Public), Some(_)) => Err(ApiError::invalid_client()),
        (Some(_), None) if secret_optional => Ok(client_id.to_owned()),
        (Some(_), None) => Err(ApiError::invalid_client()),
        (Some(stored @ StoredClientSecret::Argon2(_)), Some(secret)) => {
            let secret = secret.to_owned();
            let ok = tokio::task::spawn_blocking(move || stored.verify(&secret))
                .await
                .unwrap_or(false);
            if ok {
                Ok(client_id.to_owned())
            } else {
                Err(ApiError::invalid_client())
            }
        }
        (Some(stored), Some(secret)) if stored.verify(secret) => Ok(client_id.to_owned()),
        (Some(_), Some(_)) => Err(ApiError::invalid_client()),
    }
}

/// Resolves an mfa_token, checking shape, existence, expiry and (when given)
/// the client it was issued to.
async fn resolve_mfa_token(
    app: &App,
    token: &str,
    client_id: Option<&str>,
) -> Result<MfaTokenRow, ApiError> {
    let malformed = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_grant",
            "Malformed mfa_token",
        )
    };
    if !looks_like_mfa_token(token) {
        return Err(malformed());
    }
    let row = app
        .db
        .mfa_token(&mfa_token_hash(token))
        .await?
        .ok_or_else(malformed)?;
    if row.expires_at <= now() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "expired_token",
            "mfa_token is expired",
        ));
    }
    if client_id.is_some_and(|c| c != row.client_id) {
        return Err(ApiError::invalid_request(
            "mfa_token not issued to this client",
        ));
    }
    Ok(row)
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// `POST /oauth/token`.
async fn token(
    State(app): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let params = read_params(&headers, body).await?;
    let grant_type = params.require("grant_type")?;
    if !matches!(grant_type, "password" | MFA_OTP | MFA_RECOVERY) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("Grant type '{}' is not supported.", printable(grant_type)),
        ));
    }
    let client_id = authenticate_client(&app, &headers, &params, false).await?;
    match grant_type {
        "password" => password_grant(&app, &params, &client_id).await,
        MFA_OTP => {
            let token = params.require("mfa_token")?;
            let otp = params.require("otp")?;
            let row = resolve_mfa_token(&app, token, Some(&client_id)).await?;
            app.mfa.verify_otp(&row.user_id, otp, now()).await?;
            issue_tokens(&app, &row, "otp", None)
        }
        _ => {
            let token = params.require("mfa_token")?;
            let code = params.require("recovery_code")?;
            let row = resolve_mfa_token(&app, token, Some(&client_id)).await?;
            let verified = {
                let fut = app
                    .mfa
                    .verify_recovery_code(&row.user_id, code, &mut rand::rng(), now());
                fut.await?
            };
            let new_code = verified.new_code.as_ref().map(|c| c.as_str().to_owned());
            issue_tokens(&app, &row, "recovery-code", new_code)
        }
    }
}

async fn password_grant(app: &App, params: &Params, client_id: &str) -> Result<Response, ApiError> {
    let username = params.require("username")?;
    let password = params.require("password")?.to_owned();
    let scope = params.get("scope")?.unwrap_or("").to_owned();
    let audience = params
        .get("audience")?
        .unwrap_or(&app.settings.default_audience)
        .to_owned();
    let user = app.db.user(username).await?;
    let (user_id, phc) = match &user {
        Some(row) => (Some(row.user_id.clone()), row.password_hash.clone()),
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
                expires_at: now().saturating_add(app.settings.mfa_token_ttl),
            },
            now(),
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
        "mfa_token": token,
        "mfa_requirements": requirements,
    });
    Ok(no_store(
        (StatusCode::FORBIDDEN, axum::Json(body)).into_response(),
    ))
}

fn issue_tokens(
    app: &App,
    row: &MfaTokenRow,
    factor: &str,
    recovery_code: Option<String>,
) -> Result<Response, ApiError> {
    let iat = now();
    let amr = vec!["pwd".to_owned(), factor.to_owned()];
    let access = Claims {
        iss: app.signer.issuer().to_owned(),
        sub: row.user_id.clone(),
        aud: row.audience.clone(),
        iat,
        exp: iat.saturating_add(app.settings.access_token_ttl),
        scope: row.scope.clone(),
        amr: amr.clone(),
        azp: Some(row.client_id.clone()),
    };
    let sign = |c: &Claims| app.signer.sign(c).map_err(|e| ApiError::unavailable(&e));
    let mut body = json!({
        "access_token": sign(&access)?,
        "expires_in": app.settings.access_token_ttl,
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
        body["recovery_code"] = Value::String(code);
    }
    Ok(no_store((StatusCode::OK, axum::Json(body)).into_response()))
}

/// `POST /mfa/associate`.
async fn associate(
    State(app): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let token = bearer(&headers)?.to_owned();
    let params = read_params(&headers, body).await?;
    let row = resolve_mfa_token(&app, &token, None).await?;
    match params.0.get("authenticator_types") {
        None => {}
        Some(Value::Array(types)) if types.iter().any(|t| t.as_str() == Some("otp")) => {}
        // A form body cannot carry an array: `authenticator_types=otp`.
        Some(Value::String(types)) if types.split_ascii_whitespace().any(|t| t == "otp") => {}
        Some(Value::Array(_) | Value::String(_)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_challenge_type",
                "Only otp authenticators can be associated.",
            ));
        }
        Some(_) => {
            return Err(ApiError::invalid_request(
                "authenticator_types must be an array such as [\"otp\"]",
            ));
        }
    }
    let account = app
        .db
        .username(&row.user_id)
        .await?
        .unwrap_or_else(|| row.user_id.clone());
    let association = {
        let fut = app
            .mfa
            .associate(&row.user_id, &account, &mut rand::rng(), now());
        fut.await?
    };
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

/// The user behind a Bearer mfa_token or access token.
async fn bearer_user(app: &App, headers: &HeaderMap) -> Result<String, ApiError> {
    let token = bearer(headers)?;
    if looks_like_mfa_token(token) {
        return Ok(resolve_mfa_token(app, token, None).await?.user_id);
    }
    app.signer
        .verify(token)
        .map(|c| c.sub)
        .ok_or_else(ApiError::invalid_token)
}

fn authenticator_json(list: &[AuthenticatorInfo]) -> Value {
    list.iter()
        .map(|a| {
            json!({
                "id": a.id.as_str(),
                "authenticator_type": a.kind.authenticator_type(),
                "active": a.active,
            })
        })
        .collect()
}

/// `GET /mfa/authenticators`.
async fn list_authenticators(
    State(app): State<Shared>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let user = bearer_user(&app, &headers).await?;
    let list = app.mfa.list_authenticators(&user).await?;
    Ok((StatusCode::OK, axum::Json(authenticator_json(&list))).into_response())
}

/// `POST /mfa/challenge`.
async fn challenge(
    State(app): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let params = read_params(&headers, body).await?;
    let client_id = authenticate_client(&app, &headers, &params, true).await?;
    let token = params.require("mfa_token")?;
    let row = resolve_mfa_token(&app, token, Some(&client_id)).await?;
    let challenge = app
        .mfa
        .challenge(
            &row.user_id,
            params.get("challenge_type")?,
            params.get("authenticator_id")?,
        )
        .await?;
    Ok((
        StatusCode::OK,
        axum::Json(json!({ "challenge_type": challenge.as_str() })),
    )
        .into_response())
}

/// `DELETE /mfa/authenticators/{id}`.
async fn remove_authenticator(
    State(app): State<Shared>,
    headers: HeaderMap,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Response, ApiError> {
    let token = bearer(&headers)?;
    let claims = app
        .signer
        .verify(token)
        .ok_or_else(ApiError::invalid_token)?;
    let Ok(Path(id)) = id else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Authenticator not found.",
        ));
    };
    app.mfa.remove_authenticator(&claims.sub, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /.well-known/jwks.json`.
async fn jwks(State(app): State<Shared>) -> Response {
    axum::Json(app.signer.jwks()).into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such endpoint.")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        "Method not allowed on this endpoint.",
    )
}

/// One log line per request: method, path, status, duration. No query
/// strings, bodies, headers, codes or tokens.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        method = %method,
        path = %printable(&path),
        status = response.status().as_u16(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "Internal error.",
    )
    .into_response()
}

/// The router.
pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/oauth/token", post(token))
        .route("/mfa/associate", post(associate))
        .route("/mfa/authenticators", get(list_authenticators))
        .route("/mfa/authenticators/{id}", delete(remove_authenticator))
        .route("/mfa/challenge", post(challenge))
        .route("/.well-known/jwks.json", get(jwks))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(middleware::from_fn(log_request))
}
