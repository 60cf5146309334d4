//! Signed tokens: access and id tokens are JWTs signed with a key
//! generated on first start and kept (sealed) in the database, and
//! published at `/.well-known/jwks.json`.
//!
//! [`SigningAlg`] (`--signing-alg`) picks the key: RS256 by default (RSA
//! 2048, RSASSA-PKCS1-v1_5 with SHA-256, as Auth0 signs), generated and
//! signed with aws-lc-rs (constant-time, blinded; never the pure-Rust `rsa`
//! crate, RUSTSEC-2023-0071), or EdDSA (Ed25519, RFC 8037). The key is
//! parsed once when the server starts, never per token; its `kid` is its
//! RFC 7638 JWK thumbprint. Verification goes through `jsonwebtoken`.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, PoisonError, RwLock};

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use zeroize::Zeroize;

use crate::db::{Db, DbError, SigningKeyRow};

/// The JWS algorithm tokens are signed with: `--signing-alg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "String")]
pub enum SigningAlg {
    /// `RS256`: RSASSA-PKCS1-v1_5 with SHA-256 over an RSA 2048 key
    /// (Auth0's default, the one its SDKs verify).
    #[default]
    Rs256,
    /// `EdDSA`: Ed25519 (RFC 8037).
    EdDsa,
}

impl SigningAlg {
    /// The JWS name: `RS256` or `EdDSA`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::EdDsa => "EdDSA",
        }
    }

    fn jwt(self) -> Algorithm {
        match self {
            Self::Rs256 => Algorithm::RS256,
            Self::EdDsa => Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "RS256" => Ok(Self::Rs256),
            "EdDSA" => Ok(Self::EdDsa),
            _ => Err("expected RS256 or EdDSA".to_owned()),
        }
    }
}

impl TryFrom<String> for SigningAlg {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

/// The smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_MODULUS: usize = 256;

/// The private key, parsed once (when the key set is built: at start and
/// at each rotation [`Signer::refresh`] picks up), never per token.
enum PrivateKey {
    Rsa(RsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A published key: what verifies the tokens it signed.
struct Verifier {
    kid: String,
    alg: SigningAlg,
    decoding: DecodingKey,
}

/// The keys in use at one moment: the one that signs, every published
/// one, and the JWKS that lists them.
struct KeySet {
    kid: String,
    key: PrivateKey,
    verifiers: Vec<Verifier>,
    jwks: serde_json::Value,
    /// (kid, retired_at, next) of the published keys, as the database
    /// listed them: what [`Signer::refresh`] compares.
    published: Vec<(String, Option<u64>, bool)>,
}

/// The server's signing keys: the current key of its algorithm signs;
/// every key still published (the current and next keys of every
/// algorithm, and the keys retired less than a token lifetime ago)
/// verifies and is in the JWKS. The next key is published from the
/// rotation (or first start) before the one that makes it sign, so that
/// verifiers hold it before its first token. [`Signer::refresh`] picks up
/// a rotation made by any process.
pub struct Signer {
    alg: SigningAlg,
    issuer: String,
    /// Seconds a retired key stays published: the longest lifetime of a
    /// token this server signs.
    retention: u64,
    keys: RwLock<Arc<KeySet>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("alg", &self.alg)
            .field("kid", &self.keys().kid)
            .finish_non_exhaustive()
    }
}

/// The parsed key of a stored row: its private half (when `private`), its
/// verifier and its JWK.
fn key_material(
    row: &SigningKeyRow,
    private: bool,
) -> Result<(Option<PrivateKey>, Verifier, serde_json::Value), TokenError> {
    let (key, decoding, jwk) = match row.alg {
        SigningAlg::Rs256 => {
            let pair = RsaKeyPair::from_pkcs8(&row.private_pkcs8)
                .map_err(|e| TokenError::Key(e.to_string()))?;
            if pair.public_modulus_len() < MIN_RSA_MODULUS {
                return Err(TokenError::Key(
                    "the stored RSA key is shorter than 2048 bits".to_owned(),
                ));
            }
            let (n, e) = rsa_components(&pair);
            let decoding = DecodingKey::from_rsa_components(&n, &e)?;
            let jwk = serde_json::json!({
                "kty": "RSA",
                "n": n,
                "e": e,
                "kid": row.kid,
                "alg": row.alg.as_str(),
                "use": "sig",
            });
            (private.then_some(PrivateKey::Rsa(pair)), decoding, jwk)
        }
        SigningAlg::EdDsa => {
            let x = URL_SAFE_NO_PAD.encode(&row.public_key);
            let decoding = DecodingKey::from_ed_components(&x)?;
            let jwk = serde_json::json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": x,
                "kid": row.kid,
                "alg": row.alg.as_str(),
                "use": "sig",
            });
            let key = if private {
                let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&row.private_pkcs8)
                    .map_err(|e| TokenError::Key(e.to_string()))?;
                Some(PrivateKey::Ed(pair))
            } else {
                None
            };
            (key, decoding, jwk)
        }
    };
    let verifier = Verifier {
        kid: row.kid.clone(),
        alg: row.alg,
        decoding,
    };
    Ok((key, verifier, jwk))
}

/// The key set signing with `current`, publishing `published` (which
/// should hold `current`; it is added if not).
fn key_set(current: &SigningKeyRow, published: &[SigningKeyRow]) -> Result<KeySet, TokenError> {
    let (key, verifier, jwk) = key_material(current, true)?;
    let key = key.ok_or_else(|| TokenError::Key("no private key".to_owned()))?;
    let mut verifiers = vec![verifier];
    let mut jwks = vec![jwk];
    let mut listed = Vec::new();
    for row in published {
        listed.push((row.kid.clone(), row.retired_at, row.next));
        if row.kid == current.kid {
            continue;
        }
        let (_, verifier, jwk) = key_material(row, false)?;
        verifiers.push(verifier);
        jwks.push(jwk);
    }
    Ok(KeySet {
        kid: current.kid.clone(),
        key,
        verifiers,
        jwks: serde_json::json!({ "keys": jwks }),
        published: listed,
    })
}

/// The RFC 7638 thumbprint of a JWK given as its canonical JSON (the
/// required members, sorted, no whitespace): base64url of its SHA-256.
pub(crate) fn thumbprint(canonical: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()))
}

/// The canonical JSON of an RSA JWK (RFC 7638 §3.2).
fn rsa_canonical(n: &str, e: &str) -> String {
    format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#)
}

/// The canonical JSON of an Ed25519 JWK (RFC 8037 §2).
fn okp_canonical(x: &str) -> String {
    format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#)
}

/// One JWT part: base64url of the JSON of `value`.
fn json_part<T: Serialize>(value: &T) -> Result<String, TokenError> {
    serde_json::to_vec(value)
        .map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
        .map_err(|e| TokenError::Sign(e.to_string()))
}

/// `n` and `e` of an RSA key pair, base64url.
fn rsa_components(pair: &RsaKeyPair) -> (String, String) {
    let public = pair.public_key();
    (
        URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
        URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
    )
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
    /// The token's unique identifier (RFC 9068 §2.2, RFC 7519 §4.1.7): 128
    /// random bits, URL-safe ([`crate::credentials::new_token_id`]), on
    /// every access token; absent from id tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The key the token is bound to (RFC 9449 §6: `cnf.jkt`, the RFC 7638
    /// thumbprint of the DPoP proof key); absent from Bearer tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// Profile claims of an id token (`name`, `nickname`, `email`,
    /// `email_verified`, for the scopes granted); empty in access tokens.
    #[serde(flatten, default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub profile: serde_json::Map<String, serde_json::Value>,
}

/// The `cnf` claim of a DPoP-bound token (RFC 7800, RFC 9449 §6.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The JWK SHA-256 thumbprint of the key the token is bound to.
    pub jkt: String,
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
    /// A token could not be encoded or signed.
    #[error("signing: {0}")]
    Sign(String),
    /// The JWT library refused the key or the claims.
    #[error("jwt: {0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
}

impl Signer {
    /// Loads the current signing key of `alg`, generating and storing one
    /// on the first start that signs with it, and every published key
    /// (keys retired within `retention` seconds stay published), each
    /// parsed once. Stores a next key of `alg` if it has none (the first
    /// start, or the first after an upgrade to next keys).
    pub async fn load_or_create(
        db: &Db,
        alg: SigningAlg,
        issuer: &str,
        retention: u64,
        now: u64,
    ) -> Result<Self, TokenError> {
        let current = match db.find_signing_key(alg).await? {
            Some(stored) => stored,
            None => {
                let candidate = new_signing_key(alg)?;
                db.signing_key(&candidate, now).await?
            }
        };
        let mut published = db
            .published_signing_keys(now.saturating_sub(retention))
            .await?;
        if !published.iter().any(|row| row.alg == alg && row.next) {
            db.next_signing_key(&new_signing_key(alg)?, now).await?;
            published = db
                .published_signing_keys(now.saturating_sub(retention))
                .await?;
        }
        let signer = Self {
            alg,
            issuer: issuer.to_owned(),
            retention,
            keys: RwLock::new(Arc::new(key_set(&current, &published)?)),
        };
        signer.self_check(&signer.keys(), now)?;
        Ok(signer)
    }

    /// Re-reads the published keys at `now` and, if they changed (a
    /// rotation by any process, a retired key's time running out), switches
    /// to the new set: the new current key signs from now on. Cheap when
    /// nothing changed (one query listing kids; no key is opened). Whether
    /// anything changed.
    ///
    /// # Errors
    ///
    /// [`TokenError`] if the database fails or a new key does not parse or
    /// verify its own signature; the keys in use are kept.
    pub async fn refresh(&self, db: &Db, now: u64) -> Result<bool, TokenError> {
        let retired_by = now.saturating_sub(self.retention);
        let listed = db.published_signing_kids(retired_by).await?;
        if listed == self.keys().published {
            return Ok(false);
        }
        let published = db.published_signing_keys(retired_by).await?;
        let current = published
            .iter()
            .find(|row| row.alg == self.alg && row.retired_at.is_none() && !row.next);
        let Some(current) = current else {
            // Its algorithm has no current key (never happens through
            // rotate-signing-key, which retires and promotes at once).
            return Err(TokenError::Key(format!(
                "no current {} signing key in the database",
                self.alg
            )));
        };
        let set = key_set(current, &published)?;
        self.self_check(&set, now)?;
        let changed_kid = set.kid != self.keys().kid;
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
        if changed_kid {
            tracing::info!(kid = %current.kid, "signing with a new key");
        }
        Ok(true)
    }

    /// The keys in use now.
    fn keys(&self) -> Arc<KeySet> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Signs a probe token with `set` and verifies it with `set`'s
    /// published key: refuses a private key that does not parse or a
    /// public key that does not match it (a corrupted or tampered row),
    /// rather than finding out at a grant, after its code was consumed.
    fn self_check(&self, set: &KeySet, now: u64) -> Result<(), TokenError> {
        let probe = Claims {
            iss: self.issuer.clone(),
            sub: "mfa-server-self-check".to_owned(),
            aud: "mfa-server-self-check".to_owned(),
            iat: now,
            exp: now.saturating_add(60),
            scope: String::new(),
            amr: Vec::new(),
            azp: Some("mfa-server-self-check".to_owned()),
            jti: None,
            cnf: None,
            profile: serde_json::Map::new(),
        };
        let token = self.sign_with(set, &probe)?;
        match self.verify_with(set, &token, now) {
            Some(claims) if claims.sub == probe.sub => Ok(()),
            _ => Err(TokenError::Key(
                "the stored signing key's public half does not verify its own signature".into(),
            )),
        }
    }

    /// Signs claims as a JWT with the current key.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        self.sign_with(&self.keys(), claims)
    }

    fn sign_with(&self, set: &KeySet, claims: &Claims) -> Result<String, TokenError> {
        let mut header = Header::new(self.alg.jwt());
        header.kid = Some(set.kid.clone());
        let mut jwt = json_part(&header)?;
        jwt.push('.');
        jwt.push_str(&json_part(claims)?);
        match &set.key {
            PrivateKey::Ed(pair) => {
                let signature = pair.sign(jwt.as_bytes());
                jwt.push('.');
                jwt.push_str(&URL_SAFE_NO_PAD.encode(signature.as_ref()));
                Ok(jwt)
            }
            PrivateKey::Rsa(pair) => {
                let mut signature = vec![0u8; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    jwt.as_bytes(),
                    &mut signature,
                )
                .map_err(|_| TokenError::Sign("RSA signing failed".to_owned()))?;
                jwt.push('.');
                jwt.push_str(&URL_SAFE_NO_PAD.encode(&signature));
                Ok(jwt)
            }
        }
    }

    /// Verifies an access token at `now`: signed by a published key (the
    /// one its `kid` names, with that key's algorithm), its issuer, and
    /// that it has not expired (RFC 7519 §4.1.4: it is refused from its
    /// `exp` on). Only access tokens (which carry an `azp`) are accepted;
    /// id tokens are for the client, not bearer credentials here. The
    /// audience is not checked here: each resource checks its own
    /// (`crate::http`'s MFA endpoints require the MFA API's).
    pub fn verify(&self, token: &str, now: u64) -> Option<Claims> {
        self.verify_with(&self.keys(), token, now)
    }

    fn verify_with(&self, set: &KeySet, token: &str, now: u64) -> Option<Claims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let kid = header.kid?;
        let verifier = set
            .verifiers
            .iter()
            .find(|v| v.kid == kid && v.alg.jwt() == header.alg)?;
        let mut validation = Validation::new(verifier.alg.jwt());
        validation.set_issuer(&[&self.issuer]);
        validation.validate_aud = false;
        // `exp` is still required; it is checked below against the
        // request's time rather than the library's clock.
        validation.validate_exp = false;
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<Claims>(token, &verifier.decoding, &validation).ok()?;
        (data.claims.exp > now && data.claims.azp.is_some()).then_some(data.claims)
    }

    /// The JWKS document: every published key.
    pub fn jwks(&self) -> serde_json::Value {
        self.keys().jwks.clone()
    }

    /// The kid of the key that signs now.
    #[must_use]
    pub fn kid(&self) -> String {
        self.keys().kid.clone()
    }

    /// The algorithm tokens are signed with.
    #[must_use]
    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// The issuer (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}

/// A new key of `alg`, not yet stored.
///
/// # Errors
///
/// [`TokenError::Key`] if the key cannot be generated or encoded.
pub fn new_signing_key(alg: SigningAlg) -> Result<SigningKeyRow, TokenError> {
    match alg {
        SigningAlg::Rs256 => new_rsa_key(),
        SigningAlg::EdDsa => new_ed25519_key(),
    }
}

/// A new RSA 2048 key (aws-lc-rs), PKCS#8, its kid the RFC 7638 thumbprint.
fn new_rsa_key() -> Result<SigningKeyRow, TokenError> {
    let pair =
        RsaKeyPair::generate(KeySize::Rsa2048).map_err(|e| TokenError::Key(e.to_string()))?;
    let pkcs8 = pair.as_der().map_err(|e| TokenError::Key(e.to_string()))?;
    let (n, e) = rsa_components(&pair);
    Ok(SigningKeyRow {
        alg: SigningAlg::Rs256,
        kid: thumbprint(&rsa_canonical(&n, &e)),
        private_pkcs8: zeroize::Zeroizing::new(pkcs8.as_ref().to_vec()),
        public_key: pair.public_key().as_ref().to_vec(),
        retired_at: None,
        next: false,
    })
}

/// A new Ed25519 key, PKCS#8, its kid the RFC 7638 thumbprint.
fn new_ed25519_key() -> Result<SigningKeyRow, TokenError> {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    seed.zeroize();
    let pkcs8 = key
        .to_pkcs8_der()
        .map_err(|e| TokenError::Key(e.to_string()))?;
    let public = key.verifying_key().to_bytes();
    Ok(SigningKeyRow {
        alg: SigningAlg::EdDsa,
        kid: thumbprint(&okp_canonical(&URL_SAFE_NO_PAD.encode(public))),
        private_pkcs8: zeroize::Zeroizing::new(pkcs8.as_bytes().to_vec()),
        public_key: public.to_vec(),
        retired_at: None,
        next: false,
    })
}
