//! Extractors: what turns the raw request into typed input, or into an
//! [`ApiError`], before a handler runs.
//!
//! - [`Params`]: the parameters of a form or JSON body, under one set of
//!   rules (16 KiB limit, content types, curl's form-labelled JSON, no
//!   duplicate keys, no NUL characters anywhere, empty strings count as
//!   absent, non-strings refused).
//! - [`Bearer`] and [`BasicCredentials`]: the `Authorization` header.
//!
//! Not here: the per-endpoint requests built from these
//! ([`super::request`]), anything that needs the time or the database
//! (`session.rs`), and the domain rules (the engine's).
//!
//! Secrets (passwords, client secrets, codes, tokens) are held in
//! [`Zeroizing`] strings, the parameter map wipes its values on drop, and no
//! type here prints one in `Debug`.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use zeroize::{Zeroize, Zeroizing};

use super::error::{ApiError, printable};

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The parameters of a form (`application/x-www-form-urlencoded`) or JSON
/// body. No content type at all reads as a form; a form-labelled body that
/// is a JSON object reads as JSON (curl labels `--data '{…}'` so, and the
/// seed's commands rely on it). An empty body is no parameters.
///
/// `Debug` shows the parameter names only; the values are wiped on drop.
pub struct Params(HashMap<String, Value>);

impl Params {
    /// Reads and parses a body of at most [`BODY_LIMIT`] bytes.
    pub(crate) async fn read(headers: &HeaderMap, body: Body) -> Result<Self, ApiError> {
        let bytes = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|e| {
            if is_body_timeout(&e) {
                return ApiError::body_timeout();
            }
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                format!("Request body exceeds {BODY_LIMIT} bytes"),
            )
        })?;
        // Best effort: the buffer is wiped unless another owner shares it.
        let bytes = Zeroizing::new(Vec::<u8>::from(bytes));
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
                "" | "application/json" | "application/x-www-form-urlencoded" => {
                    Ok(Self(HashMap::new()))
                }
                _ => Err(unsupported_media()),
            };
        };
        match content_type.as_str() {
            "application/json" => Self::from_json(&bytes),
            "application/x-www-form-urlencoded" | "" if first == b'{' => Self::from_json(&bytes),
            "application/x-www-form-urlencoded" | "" => Self::from_form(&bytes),
            _ => Err(unsupported_media()),
        }
    }

    fn from_json(bytes: &[u8]) -> Result<Self, ApiError> {
        let object: UniqueObject = serde_json::from_slice(bytes).map_err(|_| {
            ApiError::invalid_request("Malformed JSON body: expected one JSON object")
        })?;
        Self::from_pairs(object.0)
    }

    fn from_form(bytes: &[u8]) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
            .map_err(|_| ApiError::invalid_request("Malformed form body"))?;
        Self::from_pairs(
            pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        )
    }

    /// The parameters, refusing duplicates and values with NUL characters
    /// (which no parameter has a use for, and which PostgreSQL refuses in
    /// text: let through, they would be a storage error instead of the
    /// client's). Names are only ever compared, never stored.
    fn from_pairs(pairs: Vec<(String, Value)>) -> Result<Self, ApiError> {
        let mut params = Self(HashMap::with_capacity(pairs.len()));
        if let Some((k, _)) = pairs.iter().find(|(_, v)| has_nul(v)) {
            return Err(nul_in(k));
        }
        for (k, v) in pairs {
            if params.0.contains_key(&k) {
                return Err(ApiError::invalid_request(format!(
                    "Duplicate parameter: {}",
                    printable(&k)
                )));
            }
            params.0.insert(k, v);
        }
        Ok(params)
    }

    /// A string parameter: `None` when absent, `null` or empty.
    ///
    /// # Errors
    ///
    /// 400 `invalid_request` when the value is not a string.
    pub fn get(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(not_a_string(name)),
        }
    }

    /// A string parameter that must be present.
    ///
    /// # Errors
    ///
    /// As [`Params::get`], and 400 `invalid_request` when it is absent.
    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)?.ok_or_else(|| ApiError::missing(name))
    }

    /// The raw JSON value of a parameter (form values are strings).
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// Moves a secret out of the map, under the rules of [`Params::get`].
    pub(crate) fn take_secret(
        &mut self,
        name: &str,
    ) -> Result<Option<Zeroizing<String>>, ApiError> {
        match self.0.get_mut(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(Zeroizing::new(std::mem::take(s)))),
            Some(_) => Err(not_a_string(name)),
        }
    }

    /// Moves a secret that must be present out of the map.
    pub(crate) fn require_secret(&mut self, name: &str) -> Result<Zeroizing<String>, ApiError> {
        self.take_secret(name)?
            .ok_or_else(|| ApiError::missing(name))
    }

    /// An owned copy of a non-secret string parameter.
    pub(crate) fn string(&self, name: &str) -> Result<Option<String>, ApiError> {
        Ok(self.get(name)?.map(str::to_owned))
    }
}

impl Drop for Params {
    fn drop(&mut self) {
        for value in self.0.values_mut() {
            if let Value::String(s) = value {
                s.zeroize();
            }
        }
    }
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        Self::read(&parts.headers, body).await
    }
}

/// Whether a JSON value holds a NUL character in any string, at any depth.
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

fn nul_in(name: &str) -> ApiError {
    ApiError::invalid_request(format!(
        "Parameter {} must not contain NUL characters",
        printable(name)
    ))
}

/// Whether reading the body failed on the server's request timeout.
fn is_body_timeout(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<super::serve::BodyTimeout>() {
            return true;
        }
        source = err.source();
    }
    false
}

fn not_a_string(name: &str) -> ApiError {
    ApiError::invalid_request(format!("Parameter {name} must be a string"))
}

fn unsupported_media() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "invalid_request",
        "Unsupported Content-Type: send application/json or application/x-www-form-urlencoded",
    )
}

/// A JSON object that keeps duplicate keys, so that they can be refused.
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

/// `Authorization: Bearer <token>` (an mfa_token or an access token) or
/// `Authorization: DPoP <token>` (a DPoP-bound access token, RFC 9449 §7),
/// with what the request says about DPoP (its `DPoP` header, method and
/// path). Rejected with 401 `invalid_request` when absent or of another
/// scheme.
pub struct Bearer(Zeroizing<String>, DpopParts);

/// What [`Bearer`] keeps for the DPoP check: the scheme, the proof, the
/// request's method and path.
pub(crate) type DpopParts = super::dpop::ResourceRequest;

impl Bearer {
    /// The token.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The scheme, proof, method and path, for the DPoP check.
    pub(crate) fn dpop(&self) -> &DpopParts {
        &self.1
    }
}

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bearer(..)")
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(ApiError::missing_bearer)?
            .to_str()
            .map_err(|_| ApiError::missing_bearer())?;
        let (scheme, token) = value
            .trim()
            .split_once(' ')
            .ok_or_else(ApiError::missing_bearer)?;
        let token = token.trim();
        let dpop_scheme = scheme.eq_ignore_ascii_case("dpop");
        if !(dpop_scheme || scheme.eq_ignore_ascii_case("bearer")) || token.is_empty() {
            return Err(ApiError::missing_bearer());
        }
        let dpop = DpopParts {
            dpop_scheme,
            proof: super::dpop::header(&parts.headers).map_err(|_| ()),
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
        };
        Ok(Self(Zeroizing::new(token.to_owned()), dpop))
    }
}

/// HTTP Basic client credentials (RFC 6749 §2.3.1: the id and secret are
/// form-encoded before base64). As `Option<BasicCredentials>`: `None` when
/// there is no `Authorization` header or it has another scheme; a malformed
/// Basic header is rejected with 401 `invalid_client`.
pub struct BasicCredentials {
    pub(crate) id: String,
    pub(crate) secret: Zeroizing<String>,
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for BasicCredentials {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, ApiError> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
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
        let decoded = Zeroizing::new(String::from_utf8(decoded).map_err(|e| {
            let mut bytes = e.into_bytes();
            bytes.zeroize();
            ApiError::invalid_client()
        })?);
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(ApiError::invalid_client)?;

        let unescape = |s: &str| -> Result<Zeroizing<String>, ApiError> {
            let field = Zeroizing::new(format!("v={s}"));
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_str(&field).map_err(|_| ApiError::invalid_client())?;
            Ok(Zeroizing::new(
                pairs.into_iter().next().map(|(_, v)| v).unwrap_or_default(),
            ))
        };
        let (id, secret) = (unescape(id)?, unescape(secret)?);
        if id.contains('\0') || secret.contains('\0') {
            return Err(ApiError::invalid_request(
                "Client credentials must not contain NUL characters",
            ));
        }
        Ok(Some(Self {
            id: id.to_string(),
            secret,
        }))
    }
}
