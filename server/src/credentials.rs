//! Credentials: Argon2id password hashes, salted client-secret hashes, and
//! opaque mfa_tokens.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;
use sha2::Digest;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The Argon2id parameters: OWASP's first recommendation (19 MiB, 2
/// passes, 1 lane). They make the password grant deliberately slow.
pub fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// Hashes a password (PHC string).
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Verifies a password against a PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => argon2().verify_password(password.as_bytes(), &hash).is_ok(),
        Err(_) => false,
    }
}

/// Client secrets at least this long are machine credentials, hashed with
/// salted SHA-256 so that the mfa-otp grant is not dominated by a password
/// hash (their length makes offline guessing hopeless). Shorter ones are
/// hashed with Argon2id, like passwords, at a password hash's cost per
/// request.
pub const STRONG_CLIENT_SECRET_LEN: usize = 16;

/// How a client authenticates, as stored. `Debug` names the kind only.
#[derive(Clone, PartialEq, Eq)]
pub enum StoredClientSecret {
    /// A public client: no secret.
    Public,
    /// Salted SHA-256 of a strong secret.
    Sha256 {
        /// The 16-byte salt.
        salt: Vec<u8>,
        /// SHA-256 of the salt followed by the secret.
        hash: Vec<u8>,
    },
    /// Argon2id PHC string of a short secret.
    Argon2(String),
}

impl std::fmt::Debug for StoredClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Public => "Public",
            Self::Sha256 { .. } => "Sha256(..)",
            Self::Argon2(_) => "Argon2(..)",
        })
    }
}

impl StoredClientSecret {
    /// Hashes `secret` the way its length calls for.
    pub fn new(secret: &str) -> Result<Self, String> {
        if secret.chars().count() >= STRONG_CLIENT_SECRET_LEN {
            let salt = salt();
            Ok(Self::Sha256 {
                salt: salt.to_vec(),
                hash: hash_client_secret(secret, &salt).to_vec(),
            })
        } else {
            hash_password(secret).map(Self::Argon2)
        }
    }

    /// Checks a presented secret (constant-time for SHA-256; Argon2's
    /// verifier for short secrets).
    pub fn verify(&self, secret: &str) -> bool {
        match self {
            Self::Public => false,
            Self::Sha256 { salt, hash } => verify_client_secret(secret, salt, hash),
            Self::Argon2(phc) => verify_password(secret, phc),
        }
    }
}

/// Salted SHA-256 of a client secret.
pub fn hash_client_secret(secret: &str, salt: &[u8; 16]) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    h.update(salt);
    h.update(secret.as_bytes());
    h.finalize().into()
}

/// Constant-time check of a client secret against its stored hash.
pub fn verify_client_secret(secret: &str, salt: &[u8], stored: &[u8]) -> bool {
    let Ok(salt) = <[u8; 16]>::try_from(salt) else {
        return false;
    };
    bool::from(hash_client_secret(secret, &salt).ct_eq(stored))
}

/// A fresh random salt.
pub fn salt() -> [u8; 16] {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    salt
}

/// A fresh mfa_token: 256 random bits as 43 URL-safe characters (wiped on
/// drop), and the SHA-256 under which it is stored.
pub fn new_mfa_token() -> (Zeroizing<String>, [u8; 32]) {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(bytes.as_mut_slice());
    let token = Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_slice()));
    let hash = mfa_token_hash(&token);
    (token, hash)
}

/// A fresh token identifier (an access token's `jti`): 128 random bits ([`salt`]) as
/// 22 URL-safe characters. Not a secret: it names a token, it does not
/// grant anything.
pub fn new_token_id() -> String {
    URL_SAFE_NO_PAD.encode(salt())
}

/// The storage key of an mfa_token.
pub fn mfa_token_hash(token: &str) -> [u8; 32] {
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// Whether text has the shape of an mfa_token (43 URL-safe characters).
pub fn looks_like_mfa_token(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A random printable credential for the demo.
pub fn random_secret(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::rng().fill_bytes(&mut bytes);
    let mut s = URL_SAFE_NO_PAD.encode(bytes);
    s.truncate(len);
    s
}
