//! The `used_jtis` table: the JWT ids (`jti`) of accepted client
//! assertions and DPoP proofs, each single-use until the JWT would be
//! refused anyway.
//!
//! A use is one conditional insert keyed by the SHA-256 of the kind, the
//! issuer (client id or proof key thumbprint) and the jti: of two
//! concurrent uses, on one instance or on several sharing the database,
//! exactly one inserts the row. An entry whose `expires_at` has passed no
//! longer blocks (the JWT carrying it is refused by its own time checks)
//! and is pruned at the next use.

use sha2::Digest;
use totp_engine_sqlx::lease;

use super::{Db, DbError, bits};

/// What a jti belongs to: the two namespaces never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JtiKind {
    /// A client assertion (`client_assertion`), scoped by client id.
    ClientAssertion,
    /// A DPoP proof, scoped by the proof key's RFC 7638 thumbprint.
    DpopProof,
}

impl JtiKind {
    fn tag(self) -> &'static [u8] {
        match self {
            Self::ClientAssertion => b"client_assertion",
            Self::DpopProof => b"dpop",
        }
    }
}

/// The storage key of a jti: SHA-256 over the kind, the issuer and the jti,
/// each length-prefixed so that no two triples share an encoding.
fn jti_hash(kind: JtiKind, issuer: &str, jti: &str) -> Vec<u8> {
    let mut h = sha2::Sha256::new();
    for part in [kind.tag(), issuer.as_bytes(), jti.as_bytes()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().to_vec()
}

impl Db {
    /// Records the first use of `jti` (of `kind`, from `issuer`), to be
    /// remembered until `expires_at`; prunes the entries expired at `now`.
    /// Returns `false` when the jti was already used and its entry has not
    /// expired: the JWT is a replay. Through the request's connection
    /// ([`lease::connection`]).
    ///
    /// # Errors
    ///
    /// [`DbError`] if the database fails.
    pub async fn use_jti(
        &self,
        kind: JtiKind,
        issuer: &str,
        jti: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<bool, DbError> {
        sqlx::query("DELETE FROM used_jtis WHERE expires_at <= $1")
            .bind(bits(now))
            .execute(&mut *lease::connection(&self.pool).await?)
            .await?;
        // An expired entry that survived the prune (another instance's
        // clock) is taken over; a live one is left alone.
        let inserted = sqlx::query(
            "INSERT INTO used_jtis (jti_hash, expires_at) VALUES ($1, $2)
             ON CONFLICT (jti_hash) DO UPDATE SET expires_at = excluded.expires_at
             WHERE used_jtis.expires_at <= $3",
        )
        .bind(jti_hash(kind, issuer, jti))
        .bind(bits(expires_at))
        .bind(bits(now))
        .execute(&mut *lease::connection(&self.pool).await?)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }
}
