//! Private Key JWT client authentication (RFC 7523 §2.2 and §3, OpenID
//! Connect Core §9): a `client_assertion` of type
//! `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, signed with a
//! key the client registered (`add-client --jwks` / `--public-key`).
//!
//! The rules, in the order they are checked; each refusal is 401
//! `invalid_client` with a description that names the rule (never the
//! key):
//!
//! | rule | description starts with |
//! | --- | --- |
//! | at most [`MAX_ASSERTION_LEN`] bytes | `client_assertion exceeds` |
//! | a compact JWS | `client_assertion is not a signed JWT` |
//! | `alg` one of [`ALLOWED_ALGS`] | `client_assertion alg must be one of` |
//! | `iss` = `sub` | `client_assertion iss and sub must both be the client_id` |
//! | body `client_id`, if sent, = `sub` | `client_assertion sub does not match client_id` |
//! | a `private_key_jwt` client | `client_assertion: unknown client` |
//! | `kid` names a key (or, without, a key fits `alg`) | `client_assertion kid` / `client_assertion alg fits none` |
//! | signature | `client_assertion signature does not verify` |
//! | `aud` has the issuer URL or the endpoint's URL | `client_assertion aud must contain` |
//! | `exp` present, in the future | `client_assertion exp` / `client_assertion has expired` |
//! | lifetime (`exp` − `iat`, or − now) ≤ [`MAX_LIFETIME`] s | `client_assertion lifetime exceeds` |
//! | `iat`, `nbf` not after now + [`LEEWAY`] s | `client_assertion iat` / `nbf` |
//! | `jti` present | `client_assertion jti is missing` |
//! | `jti` unused (across instances, until `exp`) | `client_assertion jti has already been used` |
//!
//! Everything up to the jti's use is checked by [`check`], which changes
//! nothing; [`Accepted::consume`] then records the jti. The token endpoint
//! checks the DPoP proof between the two, so that a refused proof does not
//! burn the assertion.

use axum::http::StatusCode;
use serde_json::Value;

use super::App;
use super::error::ApiError;
use crate::db::JtiKind;
use crate::jose::{self, ALLOWED_ALGS, KeyRefusal};

/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Assertions longer than this are refused.
pub const MAX_ASSERTION_LEN: usize = 8 * 1024;
/// The longest lifetime an assertion may have, in seconds.
pub const MAX_LIFETIME: u64 = 300;
/// The clock skew allowed on `iat` and `nbf`, in seconds.
pub const LEEWAY: u64 = 60;
/// The longest `jti` accepted, in bytes.
const MAX_JTI_LEN: usize = 256;

/// 401 `invalid_client` naming the rule broken.
pub(crate) fn refused(rule: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_client", rule)
}

/// An assertion that passed every check but the jti's single use.
#[derive(Debug)]
pub(crate) struct Accepted {
    /// The authenticated client.
    pub(crate) client_id: String,
    jti: String,
    exp: u64,
}

impl Accepted {
    /// Records the jti (until `exp`): the assertion's one use.
    ///
    /// # Errors
    ///
    /// 401 `invalid_client` when it was used before (here or on another
    /// instance); 503 when the database fails.
    pub(crate) async fn consume(self, app: &App, now: u64) -> Result<String, ApiError> {
        let fresh = app
            .db()
            .use_jti(
                JtiKind::ClientAssertion,
                &self.client_id,
                &self.jti,
                self.exp,
                now,
            )
            .await?;
        if fresh {
            Ok(self.client_id)
        } else {
            Err(refused("client_assertion jti has already been used"))
        }
    }
}

/// The claims part of a JWS, unverified: only to find the client whose
/// keys verify it.
fn unverified_claims(token: &str) -> Option<serde_json::Map<String, Value>> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A NumericDate claim: absent, a non-negative number (fractions are cut),
/// or an error naming it.
fn numeric_date(claims: &Value, name: &str) -> Result<Option<u64>, ApiError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| f.is_finite() && *f >= 0.0)
                    .map(|f| f as u64)
            })
            .map(Some)
            .ok_or_else(|| refused(format!("client_assertion {name} must be a NumericDate"))),
    }
}

/// Checks a client assertion sent to `endpoint` (a path such as
/// `/oauth/token`) at `now`, with the body's `client_id` if one was sent;
/// changes nothing.
///
/// # Errors
///
/// 401 `invalid_client` naming the rule (see the module's table); 503
/// when the database fails.
pub(crate) async fn check(
    app: &App,
    assertion: &str,
    body_client_id: Option<&str>,
    endpoint: &str,
    now: u64,
) -> Result<Accepted, ApiError> {
    if assertion.len() > MAX_ASSERTION_LEN {
        return Err(refused(format!(
            "client_assertion exceeds {MAX_ASSERTION_LEN} bytes"
        )));
    }
    let not_a_jws = || refused("client_assertion is not a signed JWT (JWS compact serialization)");
    let header = jose::header(assertion).ok_or_else(not_a_jws)?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(|a| jose::allowed_alg(a).ok())
        .ok_or_else(|| {
            refused(format!(
                "client_assertion alg must be one of {} (never none or HMAC)",
                ALLOWED_ALGS.join(" ")
            ))
        })?;
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(refused("client_assertion kid must be a string")),
    };
    let unverified = unverified_claims(assertion).ok_or_else(not_a_jws)?;
    let iss_sub = || refused("client_assertion iss and sub must both be the client_id");
    let sub = unverified
        .get("sub")
        .and_then(Value::as_str)
        .ok_or_else(iss_sub)?;
    if unverified.get("iss").and_then(Value::as_str) != Some(sub) {
        return Err(iss_sub());
    }
    if body_client_id.is_some_and(|id| id != sub) {
        return Err(refused("client_assertion sub does not match client_id"));
    }
    let keys = app
        .db()
        .client(sub)
        .await?
        .and_then(|row| row.public_keys)
        .ok_or_else(|| {
            refused(
                "client_assertion: unknown client, or a client that does not authenticate with private_key_jwt",
            )
        })?;
    let claims = keys.verify(assertion, alg, kid).map_err(|e| match e {
        KeyRefusal::UnknownKid => refused("client_assertion kid names none of the client's keys"),
        KeyRefusal::KidDoesNotFitAlg => {
            refused("client_assertion kid names a key that does not fit its alg")
        }
        KeyRefusal::NoKeyFitsAlg => refused("client_assertion alg fits none of the client's keys"),
        KeyRefusal::BadSignature => {
            refused("client_assertion signature does not verify with the client's keys")
        }
    })?;
    check_claims(app, &claims, sub, endpoint, now)?;
    let jti = match claims.get("jti") {
        Some(Value::String(jti)) if !jti.is_empty() && jti.len() <= MAX_JTI_LEN => jti.clone(),
        None => return Err(refused("client_assertion jti is missing")),
        Some(_) => {
            return Err(refused(format!(
                "client_assertion jti must be a string of 1 to {MAX_JTI_LEN} bytes"
            )));
        }
    };
    let exp = numeric_date(&claims, "exp")?.unwrap_or(now);
    Ok(Accepted {
        client_id: sub.to_owned(),
        jti,
        exp,
    })
}

/// The verified claims: issuer and subject, audience, times.
fn check_claims(
    app: &App,
    claims: &Value,
    client_id: &str,
    endpoint: &str,
    now: u64,
) -> Result<(), ApiError> {
    if claims.get("iss").and_then(Value::as_str) != Some(client_id)
        || claims.get("sub").and_then(Value::as_str) != Some(client_id)
    {
        return Err(refused(
            "client_assertion iss and sub must both be the client_id",
        ));
    }
    let issuer = app.settings().issuer_url();
    let accepted = [
        issuer.to_owned(),
        format!("{issuer}oauth/token"),
        format!("{issuer}{}", endpoint.trim_start_matches('/')),
    ];
    let aud_ok = match claims.get("aud") {
        Some(Value::String(aud)) => accepted.contains(aud),
        Some(Value::Array(auds)) => auds
            .iter()
            .filter_map(Value::as_str)
            .any(|a| accepted.iter().any(|x| x == a)),
        _ => false,
    };
    if !aud_ok {
        return Err(refused(format!(
            "client_assertion aud must contain the issuer URL ({issuer}) or the token endpoint URL ({issuer}oauth/token)"
        )));
    }
    let exp =
        numeric_date(claims, "exp")?.ok_or_else(|| refused("client_assertion exp is missing"))?;
    if exp <= now {
        return Err(refused("client_assertion has expired (exp)"));
    }
    let iat = numeric_date(claims, "iat")?;
    if iat.is_some_and(|iat| iat > now.saturating_add(LEEWAY)) {
        return Err(refused(format!(
            "client_assertion iat is in the future (more than {LEEWAY} s)"
        )));
    }
    let lifetime = exp.saturating_sub(iat.unwrap_or(now));
    if lifetime > MAX_LIFETIME {
        return Err(refused(format!(
            "client_assertion lifetime exceeds {MAX_LIFETIME} seconds (exp - iat, or exp - now)"
        )));
    }
    if numeric_date(claims, "nbf")?.is_some_and(|nbf| nbf > now.saturating_add(LEEWAY)) {
        return Err(refused(format!(
            "client_assertion nbf is in the future (more than {LEEWAY} s)"
        )));
    }
    Ok(())
}
