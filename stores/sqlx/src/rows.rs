//! Rows ⇄ the engine's records. Every column is TEXT, BIGINT or a byte
//! string; u64 values travel as the BIGINT with the same bits (so the whole
//! u64 range round-trips, `u64::MAX` included), and flags as 0/1.

use sqlx::Row;
use sqlx::any::AnyRow;
use totp_engine::{
    Algorithm, Attempts, AuthenticatorId, Digits, Drift, OtpAuthenticator, OtpProgress, Period,
    RecoveryAuthenticator, Secret, TotpParams, decode_recovery_slots,
};

use zeroize::Zeroizing;

use crate::sealing::otp_binding;
use crate::{Keyring, StoreError};

/// The BIGINT with the bits of `v`.
pub(crate) const fn bits(v: u64) -> i64 {
    v.cast_signed()
}

/// The u64 with the bits of a BIGINT.
pub(crate) const fn unbits(v: i64) -> u64 {
    v.cast_unsigned()
}

/// The four progress columns: `stepped` (0/1), `last_step`, `drift`, `active`.
/// "No step yet" is `stepped = 0` with `last_step = 0`, never NULL, so a
/// compare-and-set can compare every column with `=`.
pub(crate) fn progress_columns(p: &OtpProgress) -> [i64; 4] {
    [
        i64::from(p.last_step.is_some()),
        bits(p.last_step.unwrap_or(0)),
        i64::from(p.drift.steps()),
        i64::from(p.active),
    ]
}

/// Opens a stored secret: sealed under `key_id` (bound to user and
/// authenticator id), or plain when `key_id` is NULL. The plaintext goes
/// from a wiped heap buffer straight into a boxed `Secret`: no copy of the
/// key is left on a stack.
pub(crate) fn open_secret(
    stored: &[u8],
    key_id: Option<i64>,
    keyring: Option<&Keyring>,
    user: &str,
    id: &str,
    table: &str,
    sealed_only: bool,
) -> Result<Box<Secret>, StoreError> {
    let corrupt = || StoreError::Corrupt {
        table: table.to_owned(),
        what: "secret",
    };
    let Some(key_id) = key_id else {
        if sealed_only {
            // Every row was sealed at start: a plain one now was written
            // behind the store's back (a secret the writer knows).
            return Err(StoreError::Sealing {
                key_id: None,
                reason: "a plain secret in a store that seals every secret".into(),
            });
        }
        return Secret::boxed_from_bytes(stored).map_err(|_| corrupt());
    };
    let key_id = u32::try_from(key_id).map_err(|_| StoreError::Corrupt {
        table: table.to_owned(),
        what: "secret_key_id",
    })?;
    let key = keyring
        .and_then(|k| k.get(key_id))
        .ok_or_else(|| StoreError::Sealing {
            key_id: Some(key_id),
            reason: "sealed under a key this store was not given".into(),
        })?;
    totp_engine::sealed_key_id(stored).map_err(|e| StoreError::Sealing {
        key_id: Some(key_id),
        reason: e.to_string(),
    })?;
    let mut plain = Zeroizing::new(vec![0u8; Secret::MAX_LEN]);
    let opened = key
        .open_bytes_into(stored, &otp_binding(user, id), &mut plain)
        .map_err(|e| StoreError::Sealing {
            key_id: Some(key_id),
            reason: e.to_string(),
        })?;
    Secret::boxed_from_bytes(opened).map_err(|_| corrupt())
}

/// Reads a snapshot row's OTP columns (`otp_*`), if it has any.
pub(crate) fn otp_from_row(
    row: &AnyRow,
    table: &str,
    user: &str,
    keyring: Option<&Keyring>,
    sealed_only: bool,
) -> Result<Option<OtpAuthenticator>, StoreError> {
    let corrupt = |what| StoreError::Corrupt {
        table: table.to_owned(),
        what,
    };
    let Some(id) = row.try_get::<Option<String>, _>("otp_id")? else {
        return Ok(None);
    };
    let stored = Zeroizing::new(row.try_get::<Vec<u8>, _>("otp_secret")?);
    let key_id: Option<i64> = row.try_get("otp_secret_key_id")?;
    let secret = open_secret(&stored, key_id, keyring, user, &id, table, sealed_only)?;
    let algorithm: String = row.try_get("otp_algorithm")?;
    let algorithm = Algorithm::from_uri_name(&algorithm).ok_or_else(|| corrupt("algorithm"))?;
    let digits = u32::try_from(row.try_get::<i64, _>("otp_digits")?)
        .ok()
        .and_then(|d| Digits::try_from(d).ok())
        .ok_or_else(|| corrupt("digits"))?;
    let period = u64::try_from(row.try_get::<i64, _>("otp_period")?)
        .ok()
        .and_then(|p| Period::try_from(p).ok())
        .ok_or_else(|| corrupt("period"))?;
    let params = TotpParams::default()
        .with_algorithm(algorithm)
        .with_digits(digits)
        .with_period(period)
        .with_t0(unbits(row.try_get("otp_t0")?));
    let stepped = flag(row.try_get("otp_stepped")?).ok_or_else(|| corrupt("stepped"))?;
    let last_step: i64 = row.try_get("otp_last_step")?;
    let drift =
        Drift::try_from(row.try_get::<i64, _>("otp_drift")?).map_err(|_| corrupt("drift"))?;
    Ok(Some(OtpAuthenticator {
        id: AuthenticatorId::parse(&id).ok_or_else(|| corrupt("id"))?,
        secret,
        params,
        progress: OtpProgress {
            last_step: stepped.then_some(unbits(last_step)),
            drift,
            active: flag(row.try_get("otp_active")?).ok_or_else(|| corrupt("active"))?,
        },
        attempts: attempts(row, "otp_").ok_or_else(|| corrupt("attempts_used"))??,
        created_at: unbits(row.try_get("otp_created_at")?),
    }))
}

/// Reads a snapshot row's recovery columns (`rec_*`), if it has any.
pub(crate) fn recovery_from_row(
    row: &AnyRow,
    table: &str,
) -> Result<Option<RecoveryAuthenticator>, StoreError> {
    let corrupt = |what| StoreError::Corrupt {
        table: table.to_owned(),
        what,
    };
    let Some(id) = row.try_get::<Option<String>, _>("rec_id")? else {
        return Ok(None);
    };
    let slots: Vec<u8> = row.try_get("rec_slots")?;
    Ok(Some(RecoveryAuthenticator {
        id: AuthenticatorId::parse(&id).ok_or_else(|| corrupt("id"))?,
        active: flag(row.try_get("rec_active")?).ok_or_else(|| corrupt("active"))?,
        slots: decode_recovery_slots(&slots).map_err(|_| corrupt("slots"))?,
        attempts: attempts(row, "rec_").ok_or_else(|| corrupt("attempts_used"))??,
        created_at: unbits(row.try_get("rec_created_at")?),
    }))
}

fn flag(v: i64) -> Option<bool> {
    match v {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

/// `None` for a count outside u32; a database error as `Some(Err)`.
fn attempts(row: &AnyRow, prefix: &str) -> Option<Result<Attempts, StoreError>> {
    let used = match row.try_get::<i64, _>(format!("{prefix}attempts_used").as_str()) {
        Ok(v) => v,
        Err(e) => return Some(Err(e.into())),
    };
    let since = match row.try_get::<i64, _>(format!("{prefix}attempts_since").as_str()) {
        Ok(v) => v,
        Err(e) => return Some(Err(e.into())),
    };
    let used = u32::try_from(used).ok()?;
    Some(Ok(Attempts::from_parts(used, unbits(since))))
}
