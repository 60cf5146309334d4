//! The sealing-key administration of the stored secrets: refusing, at
//! open, a database holding secrets sealed under a key not in the keyring
//! (`SqlxStore::check_keys`), and re-sealing every secret under the
//! current key ([`SqlxStore::reseal`], reporting [`Resealed`]).
//!
//! Not here: sealing and opening a secret as it is written or read
//! (`store`, `rows`), the keyring itself (`sealing`).

use sqlx::Row as _;
use zeroize::Zeroizing;

use crate::rows::open_secret;
use crate::sealing::otp_binding;
use crate::{SqlxStore, StoreError};

/// What [`SqlxStore::reseal`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Secrets sealed under the current key by this run (plain ones and
    /// ones under previous keys).
    pub resealed: u64,
    /// Secrets a concurrent write replaced before this run could re-seal
    /// them (the new value is sealed under the current key by its writer).
    pub skipped: u64,
}

impl SqlxStore {
    /// Refuses a database holding secrets sealed under a key that is not in
    /// the keyring (or any sealed secret, without a keyring).
    pub(crate) async fn check_keys(&self) -> Result<(), StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(&self.sql.key_ids)
            .fetch_all(&self.pool)
            .await?;
        let keyring = self.options.keyring();
        for id in ids {
            let id = u32::try_from(id).ok();
            if id.is_none_or(|id| keyring.and_then(|k| k.get(id)).is_none()) {
                return Err(StoreError::Sealing {
                    key_id: id,
                    reason: match keyring {
                        None => {
                            "the database holds sealed secrets and no sealing key was given".into()
                        }
                        Some(k) => format!(
                            "the database holds secrets sealed under a key that is not among \
                             the given ones ({})",
                            k.ids()
                                .map(|i| format!("{i:#010x}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    },
                });
            }
        }
        Ok(())
    }

    /// Seals every plain secret, and re-seals every secret sealed under a
    /// previous key, under the keyring's current key: one row at a time,
    /// each a compare-and-set on the stored bytes, so it runs online beside
    /// serving instances (which must have the current key in their
    /// keyrings). Safe to interrupt and to run again. Once a run leaves
    /// nothing to seal, this store refuses plain secrets from then on (a
    /// plain row can then only have been written behind its back).
    ///
    /// # Errors
    ///
    /// [`StoreError::Sealing`] without a keyring or for a secret that does
    /// not open; [`StoreError::Database`].
    pub async fn reseal(&self) -> Result<Resealed, StoreError> {
        let keyring = self.options.keyring().ok_or_else(|| StoreError::Sealing {
            key_id: None,
            reason: "resealing needs a keyring".into(),
        })?;
        let current = keyring.current();
        let mut done = Resealed::default();
        let mut stalled = 0u8;
        loop {
            let rows = sqlx::query(&self.sql.unsealed_batch)
                .bind(i64::from(current.id()))
                .fetch_all(&self.pool)
                .await?;
            if rows.is_empty() {
                self.sealed_only
                    .store(true, std::sync::atomic::Ordering::Release);
                return Ok(done);
            }
            let mut progressed = false;
            for row in &rows {
                let id: String = row.try_get("id")?;
                let user: String = row.try_get("user_id")?;
                let stored = Zeroizing::new(row.try_get::<Vec<u8>, _>("secret")?);
                let key_id: Option<i64> = row.try_get("secret_key_id")?;
                let secret = open_secret(
                    &stored,
                    key_id,
                    Some(keyring),
                    &user,
                    &id,
                    &self.sql.otp,
                    false,
                )?;
                let sealed = current.seal(&secret, &otp_binding(&user, &id), &mut rand::rng());
                let updated = sqlx::query(&self.sql.reseal_one)
                    .bind(sealed.as_bytes().to_vec())
                    .bind(i64::from(current.id()))
                    .bind(&id)
                    .bind(&user)
                    .bind(stored.to_vec())
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                if updated == 1 {
                    done.resealed = done.resealed.saturating_add(1);
                    progressed = true;
                } else {
                    done.skipped = done.skipped.saturating_add(1);
                }
            }
            if progressed {
                stalled = 0;
            } else {
                // Every row of the batch changed under us. Writers with the
                // keyring seal under the current key, so those rows leave
                // the selection; a writer without it would keep them there.
                stalled = stalled.saturating_add(1);
                if stalled >= 3 {
                    return Err(StoreError::Sealing {
                        key_id: None,
                        reason:
                            "another writer keeps storing secrets not sealed under the current key"
                                .into(),
                    });
                }
            }
        }
    }
}
