//! Who is asking: client authentication against the stored client
//! secrets, and the resolution of an mfa_token (shape, existence, expiry at
//! the request's `now`, the client it was issued to). Bearer tokens on the
//! MFA API are resolved in [`super::access`].
//!
//! Not here: reading credentials off the request ([`super::extract`] and
//! [`super::request`]) and issuing tokens ([`super::token`]).

use subtle::ConstantTimeEq as _;

use super::App;
use super::error::ApiError;
use super::request::ClientCredentials;
use crate::credentials::{
    STRONG_CLIENT_SECRET_LEN, StoredClientSecret, looks_like_mfa_token, mfa_token_hash,
};
use crate::db::{MfaTokenRow, TokenUserReads};
use totp_engine_sqlx::sqlx::any::AnyRow;

/// Authenticates the client by its secret; returns its id. With
/// `secret_optional`, a confidential client (a `private_key_jwt` one too)
/// may omit its secret or assertion (but one that is sent must be right).
/// A public client must send none; a `private_key_jwt` client never
/// authenticates with a secret (see [`super::client_assertion`]).
///
/// The work spent on a sent secret depends only on its length, which the
/// sender knows anyway, never on the stored client (F9): a secret shorter
/// than [`STRONG_CLIENT_SECRET_LEN`] characters costs one Argon2id
/// verification in the hash pool, against the client's hash if it has a
/// short secret and against the reference hash otherwise (unknown, public
/// or long-secret clients); a longer one costs one constant-time salted
/// SHA-256, against the client's or a reference one (it cannot match a
/// short stored secret). So an unknown client id and a wrong secret of an
/// existing one take the same time and get the same answer.
pub(crate) async fn authenticate_client(
    app: &App,
    credentials: ClientCredentials,
    secret_optional: bool,
) -> Result<String, ApiError> {
    authenticate(app, credentials, secret_optional, None)
        .await
        .map(|(id, _)| id)
}

/// What the database held for an mfa_token (by its SHA-256) when the
/// client was authenticated: read in the same statement as the client's
/// row ([`authenticate_client_reading_token`]), and used by
/// [`resolve_mfa_token_prefetched`] for that same token only.
pub(crate) struct PrefetchedToken {
    hash: [u8; 32],
    reads: TokenUserReads,
    row: Option<(MfaTokenRow, Box<AnyRow>)>,
}

impl std::fmt::Debug for PrefetchedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrefetchedToken")
            .field("found", &self.row.is_some())
            .finish_non_exhaustive()
    }
}

/// [`authenticate_client`], reading the row of the mfa_token whose SHA-256
/// is `token_hash` (and its user's authenticators) in the same statement
/// as the client's row: the first statement of the MFA grants and of
/// `/mfa/challenge`; `secret_optional` as for [`authenticate_client`]. The
/// row is kept only when no password hash ran in between (a long secret or
/// none: a short secret's Argon2id may wait in the hash pool, so its row is
/// read again afterwards).
pub(crate) async fn authenticate_client_reading_token(
    app: &App,
    credentials: ClientCredentials,
    secret_optional: bool,
    token_hash: [u8; 32],
    reads: TokenUserReads,
) -> Result<(String, Option<PrefetchedToken>), ApiError> {
    authenticate(app, credentials, secret_optional, Some((token_hash, reads))).await
}

async fn authenticate(
    app: &App,
    credentials: ClientCredentials,
    secret_optional: bool,
    token_hash: Option<([u8; 32], TokenUserReads)>,
) -> Result<(String, Option<PrefetchedToken>), ApiError> {
    let ClientCredentials { id, secret } = credentials;
    let (row, mut prefetched) = match token_hash {
        Some((hash, reads)) => {
            let (client, token) = app.db.client_and_mfa_token(&id, &hash, reads).await?;
            (
                client,
                Some(PrefetchedToken {
                    hash,
                    reads,
                    row: token,
                }),
            )
        }
        None => (app.db.client(&id).await?, None),
    };
    // A private_key_jwt client has no secret: one sent is checked against
    // the reference hash (and fails) like an unknown client's.
    let keyed = row.as_ref().is_some_and(|r| r.public_keys.is_some());
    let stored = row.map(|row| row.secret);
    let Some(secret) = secret else {
        return match stored {
            Some(_) if keyed && secret_optional => Ok((id, prefetched)),
            Some(_) if keyed => Err(ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "invalid_client",
                "This client authenticates with private_key_jwt: send a client_assertion",
            )),
            Some(StoredClientSecret::Public) => Ok((id, prefetched)),
            Some(_) if secret_optional => Ok((id, prefetched)),
            _ => Err(ApiError::invalid_client()),
        };
    };
    let verified = if secret.chars().count() < STRONG_CLIENT_SECRET_LEN {
        let (phc, real) = match &stored {
            Some(StoredClientSecret::Argon2(phc)) => (phc.clone(), true),
            _ => (app.dummy_hash.clone(), false),
        };
        let admission = app.hashes.admit().map_err(|_| ApiError::busy())?;
        // The hash may wait for a slot: the token's row is read afresh.
        prefetched = None;
        admission.verify(secret, phc).await && real
    } else {
        let (reference, real) = match &stored {
            Some(sha @ StoredClientSecret::Sha256 { .. }) => (sha, true),
            _ => (&app.dummy_client_secret, false),
        };
        reference.verify(&secret) && real
    };
    if verified {
        Ok((id, prefetched))
    } else {
        Err(ApiError::invalid_client())
    }
}

/// Resolves an mfa_token at `now`: it must have the shape of one, exist,
/// not have expired (it expires at exactly `expires_at`) and, when
/// `client_id` is given, have been issued to that client.
pub(crate) async fn resolve_mfa_token(
    app: &App,
    token: &str,
    client_id: Option<&str>,
    now: u64,
) -> Result<MfaTokenRow, ApiError> {
    resolve_mfa_token_prefetched(app, token, client_id, now, None).await
}

/// [`resolve_mfa_token`], on the row `prefetched` read for this token (if
/// it was for this token; otherwise the row is read now). A prefetched row
/// also carries the token user's authenticators: once the token is
/// checked, they are decoded and handed to the store for the flow's first
/// `load` in this request ([`totp_engine_sqlx::SqlxStore::use_prefetched`]).
pub(crate) async fn resolve_mfa_token_prefetched(
    app: &App,
    token: &str,
    client_id: Option<&str>,
    now: u64,
    prefetched: Option<PrefetchedToken>,
) -> Result<MfaTokenRow, ApiError> {
    if !looks_like_mfa_token(token) {
        return Err(ApiError::malformed_mfa_token());
    }
    let hash = mfa_token_hash(token);
    let (row, authenticators) = match prefetched {
        Some(p) if bool::from(p.hash.ct_eq(&hash)) => {
            p.row.map(|(row, read)| (row, Some((read, p.reads))))
        }
        _ => app.db.mfa_token(&hash).await?.map(|row| (row, None)),
    }
    .ok_or_else(ApiError::malformed_mfa_token)?;
    if row.expires_at <= now {
        return Err(ApiError::expired_mfa_token());
    }
    if client_id.is_some_and(|c| c != row.client_id) {
        return Err(ApiError::invalid_request(
            "mfa_token not issued to this client",
        ));
    }
    // The user's authenticators were read with the token: decoded now
    // that the token is checked, they answer the flow's first load of this
    // user (`Prefetched`).
    if let Some(prefetched) = authenticators
        .and_then(|(read, reads)| app.db.prefetched_authenticators(&read, &row.user_id, reads))
    {
        app.db.store_ref().use_prefetched(prefetched);
    }
    Ok(row)
}
