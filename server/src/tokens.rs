//! Signed tokens: access and id tokens are EdDSA (Ed25519) JWTs, signed
//! with a key generated on first start and kept in the database, and
//! published at `/.well-known/jwks.json` (RFC 8037 OKP keys).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use zeroize::Zeroize;

use crate::db::{Db, DbError, SigningKeyRow};

/// The server's signing key.
pub struct Signer {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    public_x: String,
    issuer: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Claims of the access token (and, with `nonce`-free OIDC, the id token).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The issuer: the server's `--issuer-url`, exactly as configured.
    pub iss: String,
    /// The user id.
    pub sub: String,
    /// The audience: for an access token the API granted at the password
    /// grant (the MFA API, an `--api`, or `<issuer_url>userinfo`; see
    /// [`crate::audience`]), for an id token the client.
    pub aud: String,
    /// Issued at, Unix seconds: the request's time.
    pub iat: u64,
    /// Expires at, Unix seconds: the token is refused from this second on.
    pub exp: u64,
    /// The granted scope, filtered to what the audience defines (access
    /// token only; omitted when empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// Authentication methods: `pwd` and the second factor (`otp` or `recovery-code`).
    pub amr: Vec<String>,
    /// The client the access token was issued to (absent from id tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
}

/// Why a token could not be signed or the signing key loaded.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The generated key could not be encoded.
    #[error("signing key: {0}")]
    Key(String),
    /// The JWT library refused the key or the claims.
    #[error("jwt: {0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
}

impl Signer {
    /// Loads the signing key, generating and storing one on first start.
    pub async fn load_or_create(db: &Db, issuer: &str, now: u64) -> Result<Self, TokenError> {
        let mut seed = [0u8; 32];
        rand::rng().fill_bytes(&mut seed);
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        seed.zeroize();
        let pkcs8 = key
            .to_pkcs8_der()
            .map_err(|e| TokenError::Key(e.to_string()))?;
        let public = key.verifying_key().to_bytes();
        let kid = URL_SAFE_NO_PAD.encode(&sha2::Sha256::digest(public)[..12]);
        let candidate = SigningKeyRow {
            kid,
            private_pkcs8: zeroize::Zeroizing::new(pkcs8.as_bytes().to_vec()),
            public_key: public.to_vec(),
        };
        let stored = db.signing_key(&candidate, now).await?;
        let public_x = URL_SAFE_NO_PAD.encode(&stored.public_key);
        Ok(Self {
            kid: stored.kid.clone(),
            encoding: EncodingKey::from_ed_der(&stored.private_pkcs8),
            decoding: DecodingKey::from_ed_components(&public_x)?,
            public_x,
            issuer: issuer.to_owned(),
        })
    }

    /// Signs claims as a JWT.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }

    /// Verifies an access token at `now`: its signature, its issuer, and
    /// that it has not expired (RFC 7519 §4.1.4: it is refused from its
    /// `exp` on). Only access tokens (which carry an `azp`) are accepted;
    /// id tokens are for the client, not bearer credentials here. The
    /// audience is not checked here: each resource checks its own
    /// (`crate::http`'s MFA endpoints require the MFA API's).
    pub fn verify(&self, token: &str, now: u64) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.validate_aud = false;
        // `exp` is still required; it is checked below against the
        // request's time rather than the library's clock.
        validation.validate_exp = false;
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).ok()?;
        (data.claims.exp > now && data.claims.azp.is_some()).then_some(data.claims)
    }

    /// The JWKS document.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "x": self.public_x,
                "kid": self.kid,
                "alg": "EdDSA",
                "use": "sig",
            }]
        })
    }

    /// The issuer (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}
