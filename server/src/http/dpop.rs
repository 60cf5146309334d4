//! DPoP (RFC 9449): proofs of possession on `POST /oauth/token` and on the
//! resources that take this server's access tokens, and the `DPoP-Nonce`
//! the server may require (`--dpop-nonce-secs`).
//!
//! A proof is a JWS in the one `DPoP` header, checked in this order:
//!
//! | rule | `error_description` starts with |
//! | --- | --- |
//! | one header, at most 8 KiB, a compact JWS | `DPoP proof is not` / `Exactly one DPoP header` |
//! | `typ` `dpop+jwt` | `DPoP proof typ must be dpop+jwt` |
//! | `alg` one of [`ALLOWED_ALGS`] | `DPoP proof alg must be one of` |
//! | `jwk` a public RSA/EC/Ed25519 key that fits `alg` | `DPoP proof: the jwk header` |
//! | signature by that key | `DPoP proof signature does not verify` |
//! | `htm` = the request's method | `DPoP proof htm` |
//! | `htu` = the endpoint URL under `--issuer-url` (query, fragment ignored) | `DPoP proof htu` |
//! | `iat` within `--dpop-proof-window-secs` of now | `DPoP proof iat` |
//! | `jti` present | `DPoP proof jti` |
//! | `ath` = base64url(SHA-256(access token)) at resources | `DPoP proof ath` |
//! | `nonce` current, when nonces are on | `use_dpop_nonce` |
//! | `jti` unused (across instances, for the window) | `DPoP proof jti has already been used` |
//!
//! At the token endpoint a refusal is 400 `invalid_dpop_proof` (or
//! `use_dpop_nonce`, with a fresh `DPoP-Nonce` header); at a resource it
//! is 401 with `WWW-Authenticate: DPoP error="invalid_dpop_proof"`.
//! [`check`] changes nothing; [`Proof::consume`] records the jti.
//!
//! A nonce is the issue time sealed (XChaCha20-Poly1305) under the
//! server's encryption key: every instance with the key accepts every
//! instance's nonces, and nothing is stored.

use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::Digest;

use super::App;
use super::error::ApiError;
use crate::db::JtiKind;
use crate::jose::{self, ALLOWED_ALGS};
use crate::tokens::{Claims, Confirmation};

/// The `DPoP` request header.
pub const DPOP: HeaderName = HeaderName::from_static("dpop");
/// The `DPoP-Nonce` response header.
pub const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");
/// Proofs longer than this are refused.
const MAX_PROOF_LEN: usize = 8 * 1024;
/// The longest `jti` accepted, in bytes.
const MAX_JTI_LEN: usize = 256;
/// What sealed nonces are bound to.
const NONCE_BINDING: &[u8] = b"mfa-server dpop-nonce v1";

/// Where a proof is checked: the answer's status and headers differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// `POST /oauth/token`: 400.
    TokenEndpoint,
    /// A resource taking an access token: 401 with a DPoP challenge.
    Resource,
}

/// Why a proof was refused.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// `invalid_dpop_proof`, naming the rule.
    Invalid(String),
    /// `use_dpop_nonce`: the proof lacks the current nonce.
    UseNonce,
}

impl Refusal {
    /// The API's answer at `place`; `use_dpop_nonce` carries a fresh nonce.
    pub(crate) fn into_api(self, app: &App, place: Place, now: u64) -> ApiError {
        let (error, description) = match self {
            Self::Invalid(d) => ("invalid_dpop_proof", d),
            Self::UseNonce => (
                "use_dpop_nonce",
                "Authorization server requires nonce in DPoP proof".to_owned(),
            ),
        };
        let status = match place {
            Place::TokenEndpoint => StatusCode::BAD_REQUEST,
            Place::Resource => StatusCode::UNAUTHORIZED,
        };
        let mut e = ApiError::new(status, error, description);
        if place == Place::Resource {
            let challenge = format!(
                "DPoP error=\"{error}\", algs=\"{}\"",
                ALLOWED_ALGS.join(" ")
            );
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                e = e.with_header(WWW_AUTHENTICATE, v);
            }
        }
        if error == "use_dpop_nonce"
            && let Some(nonce) = new_nonce(app, now)
        {
            e = e.with_header(DPOP_NONCE, nonce);
        }
        e
    }
}

fn invalid(rule: impl Into<String>) -> Refusal {
    Refusal::Invalid(rule.into())
}

/// A proof that passed every check but the jti's single use.
#[derive(Debug)]
pub(crate) struct Proof {
    /// The RFC 7638 thumbprint of the proof key.
    pub(crate) jkt: String,
    jti: String,
    expires_at: u64,
}

impl Proof {
    /// Records the jti (for the proof window): the proof's one use.
    ///
    /// # Errors
    ///
    /// `invalid_dpop_proof` when it was used before (here or on another
    /// instance); a database failure is 503.
    pub(crate) async fn consume(&self, app: &App, now: u64) -> Result<(), ConsumeError> {
        let fresh = app
            .db()
            .use_jti(
                JtiKind::DpopProof,
                &self.jkt,
                &self.jti,
                self.expires_at,
                now,
            )
            .await
            .map_err(|e| ConsumeError::Api(e.into()))?;
        if fresh {
            Ok(())
        } else {
            Err(ConsumeError::Refused(invalid(
                "DPoP proof jti has already been used",
            )))
        }
    }
}

/// Why [`Proof::consume`] failed.
#[derive(Debug)]
pub(crate) enum ConsumeError {
    /// The proof is a replay.
    Refused(Refusal),
    /// The database failed.
    Api(ApiError),
}

impl ConsumeError {
    /// The API's answer at `place`.
    pub(crate) fn into_api(self, app: &App, place: Place, now: u64) -> ApiError {
        match self {
            Self::Refused(r) => r.into_api(app, place, now),
            Self::Api(e) => e,
        }
    }
}

/// The one `DPoP` header's value: `None` without one.
///
/// # Errors
///
/// `invalid_dpop_proof` for several headers or one that is not text.
pub(crate) fn header(headers: &HeaderMap) -> Result<Option<String>, Refusal> {
    let mut values = headers.get_all(DPOP).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid("Exactly one DPoP header is allowed"));
    }
    value
        .to_str()
        .map(|v| Some(v.trim().to_owned()))
        .map_err(|_| invalid("DPoP proof is not a JWT"))
}

/// The `htu` of an endpoint: `--issuer-url` plus its path.
pub(crate) fn endpoint_url(app: &App, path: &str) -> String {
    format!(
        "{}{}",
        app.settings().issuer_url(),
        path.trim_start_matches('/')
    )
}

/// Equality of token- and key-derived values (`ath`, thumbprints) in
/// constant time (`subtle`).
fn same(a: &str, b: &str) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(a.as_bytes(), b.as_bytes()))
}

/// base64url(SHA-256(access token)): the `ath` of a proof.
pub(crate) fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(token.as_bytes()))
}

/// Checks `proof` for a request of `method` to `htu` at `now` (with
/// `access_token` at a resource: its `ath`); changes nothing.
///
/// # Errors
///
/// [`Refusal`] naming the rule (see the module's table).
pub(crate) fn check(
    app: &App,
    proof: &str,
    method: &str,
    htu: &str,
    access_token: Option<&str>,
    now: u64,
) -> Result<Proof, Refusal> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(invalid(format!("DPoP proof exceeds {MAX_PROOF_LEN} bytes")));
    }
    let header = jose::header(proof)
        .ok_or_else(|| invalid("DPoP proof is not a JWT (JWS compact serialization)"))?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(invalid("DPoP proof typ must be dpop+jwt"));
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(|a| jose::allowed_alg(a).ok())
        .ok_or_else(|| {
            invalid(format!(
                "DPoP proof alg must be one of {} (never none or HMAC)",
                ALLOWED_ALGS.join(" ")
            ))
        })?;
    let key =
        jose::proof_key(header.get("jwk"), alg).map_err(|e| invalid(format!("DPoP proof: {e}")))?;
    let claims = jose::verify_with(proof, alg, &key)
        .map_err(|_| invalid("DPoP proof signature does not verify with its jwk"))?;
    if claims.get("htm").and_then(Value::as_str) != Some(method) {
        return Err(invalid(format!("DPoP proof htm must be {method}")));
    }
    let claimed = claims.get("htu").and_then(Value::as_str).unwrap_or("");
    let claimed = claimed.split(['?', '#']).next().unwrap_or("");
    if claimed != htu {
        return Err(invalid(format!("DPoP proof htu must be {htu}")));
    }
    let window = app.settings().dpop_proof_window_secs();
    let iat = claims
        .get("iat")
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid("DPoP proof iat is missing or not a NumericDate"))?;
    if iat.abs_diff(now) > window {
        return Err(invalid(format!(
            "DPoP proof iat must be within {window} seconds of the server's time"
        )));
    }
    let jti = match claims.get("jti") {
        Some(Value::String(jti)) if !jti.is_empty() && jti.len() <= MAX_JTI_LEN => jti.clone(),
        _ => {
            return Err(invalid(format!(
                "DPoP proof jti must be a string of 1 to {MAX_JTI_LEN} bytes"
            )));
        }
    };
    if let Some(token) = access_token
        && !claims
            .get("ath")
            .and_then(Value::as_str)
            .is_some_and(|ath| same(ath, &token_hash(token)))
    {
        return Err(invalid(
            "DPoP proof ath must be the base64url SHA-256 of the access token",
        ));
    }
    if app.settings().dpop_nonce_secs() > 0 {
        let nonce = claims.get("nonce").and_then(Value::as_str);
        if !nonce.is_some_and(|n| nonce_is_current(app, n, now)) {
            return Err(Refusal::UseNonce);
        }
    }
    Ok(Proof {
        jkt: key.thumbprint().to_owned(),
        jti,
        expires_at: iat.saturating_add(window).saturating_add(1),
    })
}

/// A fresh nonce, when nonces are on: the time (and 8 zero bytes) sealed
/// under the current encryption key, base64url.
pub(crate) fn new_nonce(app: &App, now: u64) -> Option<HeaderValue> {
    if app.settings().dpop_nonce_secs() == 0 {
        return None;
    }
    // The time and 8 zero bytes: sealed values are at least 16 bytes.
    let mut plain = [0u8; 16];
    plain[..8].copy_from_slice(&now.to_be_bytes());
    let mut out = [0u8; 128];
    let len = app
        .db()
        .keyring()
        .current()
        .seal_bytes_into(&plain, NONCE_BINDING, &mut rand::rng(), &mut out)
        .ok()?;
    HeaderValue::from_str(&URL_SAFE_NO_PAD.encode(out.get(..len)?)).ok()
}

/// Whether `nonce` was issued by an instance with this keyring within the
/// last `--dpop-nonce-secs` seconds.
fn nonce_is_current(app: &App, nonce: &str, now: u64) -> bool {
    let Ok(sealed) = URL_SAFE_NO_PAD.decode(nonce) else {
        return false;
    };

    let Ok(id) = totp_engine::sealed_key_id(&sealed) else {
        return false;
    };
    let Some(key) = app.db().keyring().get(id) else {
        return false;
    };
    let mut plain = [0u8; 16];
    let Ok(opened) = key.open_bytes_into(&sealed, NONCE_BINDING, &mut plain) else {
        return false;
    };
    let Some(Ok(issued)) = opened.get(..8).map(<[u8; 8]>::try_from) else {
        return false;
    };
    let issued = u64::from_be_bytes(issued);
    issued <= now && now - issued <= app.settings().dpop_nonce_secs()
}

/// At a resource: an access token bound to a key (`cnf.jkt`) must come
/// as `Authorization: DPoP` with a proof by that key for this request;
/// an unbound one must come as Bearer (RFC 9449 §7.1). Records the
/// proof's jti.
///
/// # Errors
///
/// 401 `invalid_token` (with a DPoP challenge) for a bound token sent as
/// Bearer or an unbound one sent as DPoP; 401 `invalid_dpop_proof` /
/// `use_dpop_nonce` for the proof.
pub(crate) async fn check_resource(
    app: &App,
    request: &ResourceRequest,
    token: &str,
    claims: &Claims,
    now: u64,
) -> Result<(), ApiError> {
    let challenge = |description: &str| {
        let e = ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", description);
        match HeaderValue::from_str(&format!(
            "DPoP error=\"invalid_token\", algs=\"{}\"",
            ALLOWED_ALGS.join(" ")
        )) {
            Ok(v) => e.with_header(WWW_AUTHENTICATE, v),
            Err(_) => e,
        }
    };
    match (&claims.cnf, request.dpop_scheme) {
        (None, false) => {
            if !matches!(request.proof, Ok(None)) {
                // A proof beside a Bearer token proves nothing; refuse the
                // confusion rather than ignore it.
                return Err(ApiError::invalid_token());
            }
            Ok(())
        }
        (None, true) => Err(challenge(
            "This access token is not DPoP-bound: send it as Authorization: Bearer",
        )),
        (Some(_), false) => Err(challenge(
            "This access token is DPoP-bound: send it as Authorization: DPoP with a DPoP proof",
        )),
        (Some(cnf), true) => {
            let place = Place::Resource;
            let proof = match &request.proof {
                Ok(Some(proof)) => proof,
                Ok(None) => {
                    return Err(invalid("A DPoP proof is required").into_api(app, place, now));
                }
                Err(()) => {
                    return Err(
                        invalid("Exactly one DPoP header is allowed").into_api(app, place, now)
                    );
                }
            };
            let htu = endpoint_url(app, &request.path);
            let proof = check(app, proof, &request.method, &htu, Some(token), now)
                .map_err(|r| r.into_api(app, place, now))?;
            if !same(&proof.jkt, &cnf.jkt) {
                return Err(invalid("DPoP proof key does not match the token's cnf.jkt")
                    .into_api(app, place, now));
            }
            proof
                .consume(app, now)
                .await
                .map_err(|e| e.into_api(app, place, now))
        }
    }
}

/// What a resource request says about DPoP, read off its parts by the
/// `Authorization` extractor ([`super::extract::Bearer`]).
#[derive(Debug, Clone)]
pub(crate) struct ResourceRequest {
    /// The scheme was `DPoP` (not `Bearer`).
    pub(crate) dpop_scheme: bool,
    /// The one `DPoP` header, if one was sent (`Err`: several, or not
    /// text).
    pub(crate) proof: Result<Option<String>, ()>,
    /// The request's method.
    pub(crate) method: String,
    /// The request's path.
    pub(crate) path: String,
}

/// Adds a fresh `DPoP-Nonce` to a token endpoint answer, when nonces are
/// on (RFC 9449 §8.2: the client uses it in its next proof).
pub(crate) fn with_nonce(
    app: &App,
    answer: Result<axum::response::Response, ApiError>,
    now: u64,
) -> Result<axum::response::Response, ApiError> {
    let Some(nonce) = new_nonce(app, now) else {
        return answer;
    };
    match answer {
        Ok(mut response) => {
            response.headers_mut().insert(DPOP_NONCE, nonce);
            Ok(response)
        }
        Err(e) => Err(e.with_header(DPOP_NONCE, nonce)),
    }
}

/// What a token request's DPoP proof binds: the access token always, the
/// refresh token family of a public client too (RFC 9449 §5: a
/// confidential client's refresh tokens are bound to its authentication).
#[derive(Debug)]
pub(crate) struct Binding {
    jkt: String,
    public_client: bool,
}

impl Binding {
    /// The binding of a checked proof (if any) for a public or
    /// confidential client.
    pub(crate) fn of(proof: Option<&Proof>, public_client: bool) -> Option<Self> {
        proof.map(|p| Self {
            jkt: p.jkt.clone(),
            public_client,
        })
    }

    /// The access token's `cnf`.
    pub(crate) fn confirmation(&self) -> Confirmation {
        Confirmation {
            jkt: self.jkt.clone(),
        }
    }

    /// The key a new refresh token family is bound to: a public client's.
    pub(crate) fn refresh_jkt(&self) -> Option<&str> {
        self.public_client.then_some(self.jkt.as_str())
    }
}

/// A refresh token bound to `bound` (a jkt) needs a proof by that key.
///
/// # Errors
///
/// 400 `invalid_dpop_proof` without a proof or with one by another key.
pub(crate) fn check_refresh_binding(
    app: &App,
    bound: Option<&str>,
    bind: Option<&Binding>,
    now: u64,
) -> Result<(), ApiError> {
    let place = Place::TokenEndpoint;
    match (bound, bind) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(invalid(
            "This refresh token is DPoP-bound: send a DPoP proof by its key",
        )
        .into_api(app, place, now)),
        (Some(jkt), Some(b)) if same(&b.jkt, jkt) => Ok(()),
        (Some(_), Some(_)) => Err(invalid(
            "DPoP proof key does not match the refresh token's binding",
        )
        .into_api(app, place, now)),
    }
}
