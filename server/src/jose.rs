//! Public keys and signed JWTs from clients: the keys a Private Key JWT
//! client registers ([`ClientKeys`]: a JWK Set or one PEM public key), the
//! key in a DPoP proof's header ([`PublicJwk`]), the algorithms either may
//! sign with ([`ALLOWED_ALGS`]), and signature verification through
//! `jsonwebtoken` with one explicit algorithm ([`verify`]).
//!
//! Nothing here hand-rolls JOSE: signatures, key decoding and the JWT
//! format are `jsonwebtoken`'s. This module only reads the JOSE header as
//! JSON first, so that a refusal can name the rule (`alg` `none`, a
//! symmetric `alg`, private key members) before the library is asked.
//!
//! Not here: what the claims must say ([`crate::http`]'s
//! `client_assertion.rs` and `dpop.rs`), and storage (`crate::db`).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// The JWS algorithms a client assertion or a DPoP proof may use:
/// asymmetric only, never `none`, never HMAC.
pub const ALLOWED_ALGS: [&str; 7] = [
    "RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA",
];

/// At most this many keys in a client's JWK Set.
pub const MAX_CLIENT_KEYS: usize = 20;

/// The smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_MODULUS: usize = 256;

/// JWK members that only private (or symmetric) keys have.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// An algorithm of [`ALLOWED_ALGS`], as `jsonwebtoken` names it.
///
/// # Errors
///
/// The rule broken, for any other name (`none`, `HS256`, unknown ones).
pub fn allowed_alg(name: &str) -> Result<Algorithm, String> {
    let alg = match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => {
            return Err(format!(
                "alg must be one of {} (never none or HMAC)",
                ALLOWED_ALGS.join(" ")
            ));
        }
    };
    Ok(alg)
}

/// The JOSE header of a compact JWS as JSON, unverified: for choosing the
/// key and naming what is wrong. `None` for anything that is not three
/// dot-separated parts with a base64url JSON object first.
pub fn header(token: &str) -> Option<Map<String, Value>> {
    let mut parts = token.split('.');
    let (Some(head), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let bytes = URL_SAFE_NO_PAD.decode(head).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The key families, as far as the algorithm must fit them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Rsa,
    /// An EC key on P-256 or P-384; `None`: a PEM key, curve not read.
    Ec(Option<Curve>),
    Ed25519,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
}

impl Family {
    fn fits(self, alg: Algorithm) -> bool {
        matches!(
            (self, alg),
            (
                Self::Rsa,
                Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::PS256,
            ) | (Self::Ed25519, Algorithm::EdDSA)
                | (Self::Ec(None | Some(Curve::P256)), Algorithm::ES256)
                | (Self::Ec(None | Some(Curve::P384)), Algorithm::ES384)
        )
    }
}

/// A public key given as a JWK (RFC 7517), checked: `RSA` (at least 2048
/// bits), `EC` (P-256 or P-384) or `OKP` (Ed25519); no private members;
/// `use`, if given, `sig`; `alg`, if given, one of [`ALLOWED_ALGS`] that
/// fits the key.
#[derive(Clone)]
pub struct PublicJwk {
    kid: Option<String>,
    alg: Option<Algorithm>,
    family: Family,
    decoding: DecodingKey,
    /// The RFC 7638 thumbprint (base64url SHA-256 of the canonical JSON).
    thumbprint: String,
}

impl std::fmt::Debug for PublicJwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicJwk")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .finish_non_exhaustive()
    }
}

fn member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    jwk.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("member {name} is missing or not a string"))
}

impl PublicJwk {
    /// Checks and decodes a JWK.
    ///
    /// # Errors
    ///
    /// The rule the key breaks (never the key's material).
    pub fn from_json(jwk: &Value) -> Result<Self, String> {
        let Value::Object(jwk) = jwk else {
            return Err("a JWK must be a JSON object".to_owned());
        };
        if let Some(private) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
            return Err(format!(
                "holds private or symmetric key material (member {private}): give public keys only"
            ));
        }
        match jwk.get("use") {
            None => {}
            Some(Value::String(u)) if u == "sig" => {}
            Some(_) => return Err("use must be sig".to_owned()),
        }
        let kid = match jwk.get("kid") {
            None => None,
            Some(Value::String(k)) if !k.is_empty() && k.len() <= 256 => Some(k.clone()),
            Some(_) => return Err("kid must be a string of 1 to 256 bytes".to_owned()),
        };
        let alg = match jwk.get("alg") {
            None => None,
            Some(Value::String(a)) => Some(allowed_alg(a)?),
            Some(_) => return Err("alg must be a string".to_owned()),
        };
        let jwt = |e: jsonwebtoken::errors::Error| format!("not a valid public key ({e})");
        let kty = member(jwk, "kty")?;
        let mut canonical = BTreeMap::new();
        canonical.insert("kty", kty);
        let (family, decoding) = match kty {
            "RSA" => {
                let (n, e) = (member(jwk, "n")?, member(jwk, "e")?);
                let modulus = URL_SAFE_NO_PAD
                    .decode(n)
                    .map_err(|_| "n is not base64url".to_owned())?;
                let significant = modulus.iter().skip_while(|b| **b == 0).count();
                if significant < MIN_RSA_MODULUS {
                    return Err("an RSA key must have at least 2048 bits".to_owned());
                }
                canonical.insert("n", n);
                canonical.insert("e", e);
                (
                    Family::Rsa,
                    DecodingKey::from_rsa_components(n, e).map_err(jwt)?,
                )
            }
            "EC" => {
                let crv = member(jwk, "crv")?;
                let curve = match crv {
                    "P-256" => Curve::P256,
                    "P-384" => Curve::P384,
                    _ => return Err("an EC key must be on P-256 or P-384".to_owned()),
                };
                let (x, y) = (member(jwk, "x")?, member(jwk, "y")?);
                canonical.insert("crv", crv);
                canonical.insert("x", x);
                canonical.insert("y", y);
                (
                    Family::Ec(Some(curve)),
                    DecodingKey::from_ec_components(x, y).map_err(jwt)?,
                )
            }
            "OKP" => {
                let crv = member(jwk, "crv")?;
                if crv != "Ed25519" {
                    return Err("an OKP key must be Ed25519".to_owned());
                }
                let x = member(jwk, "x")?;
                if URL_SAFE_NO_PAD.decode(x).map(|b| b.len()).ok() != Some(32) {
                    return Err("an Ed25519 key's x must be 32 bytes, base64url".to_owned());
                }
                canonical.insert("crv", crv);
                canonical.insert("x", x);
                (
                    Family::Ed25519,
                    DecodingKey::from_ed_components(x).map_err(jwt)?,
                )
            }
            "oct" => return Err("symmetric keys (kty oct) are not accepted".to_owned()),
            _ => return Err("kty must be RSA, EC or OKP".to_owned()),
        };
        if let Some(alg) = alg
            && !family.fits(alg)
        {
            return Err("alg does not fit the key type".to_owned());
        }
        let canonical = serde_json::to_string(&canonical).map_err(|e| e.to_string())?;
        Ok(Self {
            kid,
            alg,
            family,
            decoding,
            thumbprint: crate::tokens::thumbprint(&canonical),
        })
    }

    /// Whether a JWS of `alg` may be verified with this key: the key type
    /// (and curve) fits, and the key's own `alg`, if any, is `alg`.
    #[must_use]
    pub fn fits(&self, alg: Algorithm) -> bool {
        self.family.fits(alg) && self.alg.is_none_or(|a| a == alg)
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url): DPoP's `jkt`.
    #[must_use]
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }
}

/// The public keys of a Private Key JWT client, as registered with
/// `add-client --jwks` (a JWK Set) or `--public-key` (one PEM public key),
/// and stored as that text.
#[derive(Clone)]
pub struct ClientKeys {
    stored: String,
    keys: Vec<PublicJwk>,
}

impl std::fmt::Debug for ClientKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKeys")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// Why a JWS was not verified with a client's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRefusal {
    /// The header's `kid` names none of the client's keys.
    UnknownKid,
    /// The key the `kid` names does not fit the header's `alg`.
    KidDoesNotFitAlg,
    /// Without a `kid`: no key of the client fits the `alg`.
    NoKeyFitsAlg,
    /// No candidate key verifies the signature (or the JWS is malformed).
    BadSignature,
}

impl ClientKeys {
    /// Parses what `add-client` stores: a JWK Set (JSON object with
    /// `keys`) or one PEM public key (SubjectPublicKeyInfo, or PKCS#1 for
    /// RSA).
    ///
    /// # Errors
    ///
    /// The rule the text breaks: not a set, no keys or more than
    /// [`MAX_CLIENT_KEYS`], a private key, a duplicate `kid`, a key of
    /// another type (see [`PublicJwk::from_json`]).
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if trimmed.starts_with("-----") {
            return Self::from_pem(trimmed);
        }
        let set: Value = serde_json::from_str(trimmed)
            .map_err(|_| "the JWK Set is not valid JSON".to_owned())?;
        let keys = set
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| "a JWK Set is a JSON object with a keys array".to_owned())?;
        if keys.is_empty() || keys.len() > MAX_CLIENT_KEYS {
            return Err(format!("a JWK Set must hold 1 to {MAX_CLIENT_KEYS} keys"));
        }
        let mut parsed = Vec::with_capacity(keys.len());
        for (i, jwk) in keys.iter().enumerate() {
            let key = PublicJwk::from_json(jwk).map_err(|e| format!("key {i}: {e}"))?;
            if key.kid.is_some() && parsed.iter().any(|k: &PublicJwk| k.kid == key.kid) {
                return Err(format!("key {i}: duplicate kid"));
            }
            parsed.push(key);
        }
        Ok(Self {
            stored: serde_json::to_string(&set).map_err(|e| e.to_string())?,
            keys: parsed,
        })
    }

    fn from_pem(pem: &str) -> Result<Self, String> {
        if pem.contains("PRIVATE KEY") {
            return Err("this is a private key: give the public key only".to_owned());
        }
        if !pem.starts_with("-----BEGIN PUBLIC KEY-----")
            && !pem.starts_with("-----BEGIN RSA PUBLIC KEY-----")
        {
            return Err("expected a PEM PUBLIC KEY".to_owned());
        }
        let bytes = pem.as_bytes();
        let (family, decoding) = if let Ok(key) = DecodingKey::from_rsa_pem(bytes) {
            (Family::Rsa, key)
        } else if let Ok(key) = DecodingKey::from_ec_pem(bytes) {
            (Family::Ec(None), key)
        } else if let Ok(key) = DecodingKey::from_ed_pem(bytes) {
            (Family::Ed25519, key)
        } else {
            return Err("not an RSA, EC or Ed25519 public key".to_owned());
        };
        Ok(Self {
            stored: format!("{pem}\n"),
            keys: vec![PublicJwk {
                kid: None,
                alg: None,
                family,
                decoding,
                thumbprint: String::new(),
            }],
        })
    }

    /// The text to store.
    #[must_use]
    pub fn as_stored(&self) -> &str {
        &self.stored
    }

    /// How many keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Never: a set has at least one key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies `token` signed with `alg` by the key its `kid` names, or
    /// without a `kid` by any key that fits `alg` (a PEM key has no kid: it
    /// is the one candidate whatever the header says); returns the claims.
    ///
    /// # Errors
    ///
    /// [`KeyRefusal`]: which step failed.
    pub fn verify(
        &self,
        token: &str,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Value, KeyRefusal> {
        let candidates: Vec<&PublicJwk> = match kid {
            Some(kid) => {
                let named: Vec<&PublicJwk> = self
                    .keys
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid) || self.is_pem())
                    .collect();
                if named.is_empty() {
                    return Err(KeyRefusal::UnknownKid);
                }
                if !named.iter().any(|k| k.fits(alg)) {
                    return Err(KeyRefusal::KidDoesNotFitAlg);
                }
                named.into_iter().filter(|k| k.fits(alg)).collect()
            }
            None => {
                let fitting: Vec<&PublicJwk> = self.keys.iter().filter(|k| k.fits(alg)).collect();
                if fitting.is_empty() {
                    return Err(KeyRefusal::NoKeyFitsAlg);
                }
                fitting
            }
        };
        candidates
            .into_iter()
            .find_map(|key| verify(token, alg, &key.decoding).ok())
            .ok_or(KeyRefusal::BadSignature)
    }

    fn is_pem(&self) -> bool {
        self.stored.starts_with("-----")
    }
}

/// Verifies a compact JWS with `key` and exactly `alg` (the header must
/// say `alg`); returns its claims, a JSON object. No claim is checked
/// here: times are checked by the caller against the request's `now`.
///
/// # Errors
///
/// `jsonwebtoken`'s error: a malformed JWS, another `alg`, a key of
/// another family, a bad signature, claims that are not a JSON object.
pub fn verify(
    token: &str,
    alg: Algorithm,
    key: &DecodingKey,
) -> Result<Value, jsonwebtoken::errors::Error> {
    let mut validation = Validation::new(alg);
    validation.algorithms = vec![alg];
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)?;
    Ok(Value::Object(data.claims))
}

/// The key of a DPoP proof's `jwk` header, for `alg`: a public key that
/// fits.
///
/// # Errors
///
/// The rule broken.
pub fn proof_key(jwk: Option<&Value>, alg: Algorithm) -> Result<PublicJwk, String> {
    let jwk = jwk.ok_or_else(|| "the jwk header is missing".to_owned())?;
    let key = PublicJwk::from_json(jwk).map_err(|e| format!("the jwk header {e}"))?;
    if !key.fits(alg) {
        return Err("the jwk header does not fit the alg".to_owned());
    }
    Ok(key)
}

/// Verifies a DPoP proof's signature with its own header key.
///
/// # Errors
///
/// As [`verify`].
pub fn verify_with(
    token: &str,
    alg: Algorithm,
    key: &PublicJwk,
) -> Result<Value, jsonwebtoken::errors::Error> {
    verify(token, alg, &key.decoding)
}
