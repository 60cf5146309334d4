//! The SQL text of every statement [`SqlxStore`](crate::SqlxStore) runs,
//! with the table prefix spliced in once at open ([`Statements::new`]).
//!
//! One text serves SQLite and PostgreSQL (sqlx's `Any` driver, `$N`
//! placeholders). Not here: binding values and running the statements
//! (`store`, `outcome`, `reseal`), the schema (`migrations/`).

use crate::StoreOptions;

/// The OTP authenticator's columns, as `otp_*`, from the table joined as
/// `totp_engine_otp` (a macro so that the constants below can be joined at
/// compile time).
macro_rules! otp_columns {
    () => {
        "totp_engine_otp.id AS otp_id, totp_engine_otp.secret AS otp_secret,
        totp_engine_otp.algorithm AS otp_algorithm, totp_engine_otp.digits AS otp_digits,
        totp_engine_otp.period AS otp_period, totp_engine_otp.t0 AS otp_t0,
        totp_engine_otp.stepped AS otp_stepped, totp_engine_otp.last_step AS otp_last_step,
        totp_engine_otp.drift AS otp_drift, totp_engine_otp.secret_key_id AS otp_secret_key_id,
        totp_engine_otp.active AS otp_active, totp_engine_otp.attempts_used AS otp_attempts_used,
        totp_engine_otp.attempts_since AS otp_attempts_since,
        totp_engine_otp.created_at AS otp_created_at"
    };
}

/// The columns of [`Statements::load`] (and of an application's own
/// statement that reads the authenticators with its rows, see
/// [`SqlxStore::load_columns`](crate::SqlxStore::load_columns)): the OTP
/// authenticator's as `otp_*`, the recovery authenticator's as `rec_*`,
/// from the tables joined by [`load_joins`] as `totp_engine_otp` and
/// `totp_engine_rec`.
pub(crate) const LOAD_COLUMNS: &str = concat!(
    otp_columns!(),
    ",
        totp_engine_rec.id AS rec_id, totp_engine_rec.active AS rec_active,
        totp_engine_rec.slots AS rec_slots, totp_engine_rec.attempts_used AS rec_attempts_used,
        totp_engine_rec.attempts_since AS rec_attempts_since,
        totp_engine_rec.created_at AS rec_created_at"
);

/// The columns of [`Statements::load_otp`]: the OTP authenticator's alone,
/// as in [`LOAD_COLUMNS`], from the table joined by [`load_otp_join`].
pub(crate) const LOAD_OTP_COLUMNS: &str = otp_columns!();

/// The join that brings the OTP authenticator of the user named by the
/// column `user` into a statement, for [`LOAD_OTP_COLUMNS`].
pub(crate) fn load_otp_join(otp: &str, user: &str) -> String {
    format!("LEFT JOIN {otp} AS totp_engine_otp ON totp_engine_otp.user_id = {user}")
}

/// The joins that bring the authenticators of the user named by the
/// column `user` into a statement, for [`LOAD_COLUMNS`].
pub(crate) fn load_joins(otp: &str, rec: &str, user: &str) -> String {
    format!(
        "{}
         LEFT JOIN {rec} AS totp_engine_rec ON totp_engine_rec.user_id = {user}",
        load_otp_join(otp, user)
    )
}

/// The statements, with the table prefix spliced in once.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) otp: String,
    pub(crate) recovery: String,
    pub(crate) load: String,
    pub(crate) load_otp: String,
    pub(crate) enroll_otp: String,
    pub(crate) enroll_recovery: String,
    pub(crate) advance: String,
    pub(crate) accept: String,
    pub(crate) reread_otp: String,
    pub(crate) reread_slots: String,
    pub(crate) activate_recovery: String,
    pub(crate) accept_recovery: String,
    pub(crate) replace_slots: String,
    pub(crate) attempts_otp: String,
    pub(crate) attempts_recovery: String,
    pub(crate) remove_otp: String,
    pub(crate) remove_recovery: String,
    pub(crate) key_ids: String,
    pub(crate) unsealed_batch: String,
    pub(crate) reseal_one: String,
}

impl Statements {
    /// Every statement for the tables named by `options`.
    pub(crate) fn new(options: &StoreOptions) -> Self {
        let otp = options.table("otp_authenticators");
        let rec = options.table("recovery_authenticators");
        let attempts = |table: &str| {
            format!(
                "UPDATE {table} SET attempts_used = $1, attempts_since = $2
                 WHERE id = $3 AND user_id = $4 AND attempts_used = $5 AND attempts_since = $6"
            )
        };
        Self {
            load: format!(
                "SELECT {LOAD_COLUMNS}
                 FROM (SELECT CAST($1 AS TEXT) AS user_id) AS u {joins}",
                joins = load_joins(&otp, &rec, "u.user_id")
            ),
            load_otp: format!(
                "SELECT {LOAD_OTP_COLUMNS}
                 FROM (SELECT CAST($1 AS TEXT) AS user_id) AS u {join}",
                join = load_otp_join(&otp, "u.user_id")
            ),
            enroll_otp: format!(
                "INSERT INTO {otp} (id, user_id, secret, algorithm, digits, period, t0, stepped,
                    last_step, drift, active, attempts_used, attempts_since, created_at, secret_key_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                 ON CONFLICT (user_id) DO UPDATE SET id = excluded.id, secret = excluded.secret,
                    secret_key_id = excluded.secret_key_id,
                    algorithm = excluded.algorithm, digits = excluded.digits,
                    period = excluded.period, t0 = excluded.t0, stepped = excluded.stepped,
                    last_step = excluded.last_step, drift = excluded.drift,
                    active = excluded.active, attempts_used = excluded.attempts_used,
                    attempts_since = excluded.attempts_since, created_at = excluded.created_at
                 WHERE {otp}.active = 0"
            ),
            enroll_recovery: format!(
                "INSERT INTO {rec} (id, user_id, active, slots, attempts_used, attempts_since, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (user_id) DO UPDATE SET id = excluded.id, active = excluded.active,
                    slots = excluded.slots, attempts_used = excluded.attempts_used,
                    attempts_since = excluded.attempts_since, created_at = excluded.created_at
                 WHERE {rec}.active = 0"
            ),
            advance: format!(
                "UPDATE {otp} SET stepped = $1, last_step = $2, drift = $3, active = $4,
                    write_nonce = $11
                 WHERE id = $5 AND user_id = $6
                   AND stepped = $7 AND last_step = $8 AND drift = $9 AND active = $10"
            ),
            accept: format!(
                "UPDATE {otp} SET stepped = $1, last_step = $2, drift = $3, active = $4,
                    attempts_used = 0, attempts_since = 0, write_nonce = $11
                 WHERE id = $5 AND user_id = $6
                   AND stepped = $7 AND last_step = $8 AND drift = $9 AND active = $10
                   AND attempts_used = $12 AND attempts_since = $13"
            ),
            reread_otp: format!(
                "SELECT write_nonce, stepped, last_step, drift, active FROM {otp}
                 WHERE id = $1 AND user_id = $2"
            ),
            reread_slots: format!(
                "SELECT write_nonce, slots, attempts_used, attempts_since FROM {rec}
                 WHERE id = $1 AND user_id = $2"
            ),
            activate_recovery: format!(
                "UPDATE {rec} SET active = 1 WHERE user_id = $1 AND active = 0"
            ),
            accept_recovery: format!(
                "UPDATE {rec} SET slots = $1, attempts_used = 0, attempts_since = 0,
                    write_nonce = $2
                 WHERE id = $3 AND user_id = $4
                   AND slots = $5 AND attempts_used = $6 AND attempts_since = $7"
            ),
            replace_slots: format!(
                "UPDATE {rec} SET slots = $1, attempts_used = 0, attempts_since = 0
                 WHERE id = $2 AND user_id = $3"
            ),
            attempts_otp: attempts(&otp),
            attempts_recovery: attempts(&rec),
            remove_otp: format!("DELETE FROM {otp} WHERE id = $1 AND user_id = $2"),
            remove_recovery: format!("DELETE FROM {rec} WHERE id = $1 AND user_id = $2"),
            key_ids: format!(
                "SELECT DISTINCT secret_key_id FROM {otp} WHERE secret_key_id IS NOT NULL"
            ),
            unsealed_batch: format!(
                "SELECT id, user_id, secret, secret_key_id FROM {otp}
                 WHERE secret_key_id IS NULL OR secret_key_id <> $1
                 ORDER BY id LIMIT 100"
            ),
            reseal_one: format!(
                "UPDATE {otp} SET secret = $1, secret_key_id = $2
                 WHERE id = $3 AND user_id = $4 AND secret = $5"
            ),
            otp,
            recovery: rec,
        }
    }
}
