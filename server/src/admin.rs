//! The administrator's subcommands that read and change users and
//! clients: `users list`, `users show`, `users regenerate-recovery-code`,
//! `clients list`, `clients remove`. Each takes a connected [`Db`] (SQLite
//! or PostgreSQL alike) and returns the text to print.
//!
//! Nothing printed here is a secret: no password or client-secret hash, no
//! TOTP secret, no recovery-code hash. The one exception is the point of
//! `users regenerate-recovery-code`: the new code, printed once.
//!
//! Not here: parsing the command line ([`crate::config`]), connecting and
//! finding the user (`main.rs`), `users reset-mfa`, `unblock`, `delete`.

use std::fmt::Write as _;

use totp_engine::{Mfa, MfaConfig, MfaStore, UserAuthenticators};

use crate::db::{Db, LoginFailureRow, LoginPolicy, UserRow};

/// Who is blocked: the brute-force protection's threshold and period, as
/// `serve` runs with them.
#[derive(Debug, Clone, Copy)]
pub struct BlockRule {
    /// `--login-max-failures`.
    pub max_failures: u32,
    /// `--login-block-secs`.
    pub block_secs: u64,
}

impl BlockRule {
    fn policy(self) -> LoginPolicy {
        LoginPolicy {
            max_failures: self.max_failures,
            block_secs: self.block_secs,
            ..LoginPolicy::default()
        }
    }

    fn blocked(self, failures: &[LoginFailureRow], now: u64) -> Vec<&LoginFailureRow> {
        let policy = self.policy();
        failures
            .iter()
            .filter(|row| policy.is_blocked(row, now))
            .collect()
    }
}

/// The MFA state of one user in a word: `none`, `pending` (associated,
/// never confirmed) or `otp`; and the recovery code's: `none`, `pending`,
/// `active`.
fn states(auths: &UserAuthenticators) -> (&'static str, &'static str) {
    let otp = match &auths.otp {
        None => "none",
        Some(o) if o.progress.active => "otp",
        Some(_) => "pending",
    };
    let recovery = match &auths.recovery {
        None => "none",
        Some(r) if r.active => "active",
        Some(_) => "pending",
    };
    (otp, recovery)
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// `users list`: one tab-separated line per user (username, user id, MFA,
/// recovery code, blocked client addresses), under a header.
pub async fn users_list(db: &Db, rule: BlockRule, now: u64) -> Result<String, String> {
    let store = db.store();
    let mut out = String::from("USERNAME\tUSER_ID\tMFA\tRECOVERY\tBLOCKED_ADDRESSES\n");
    for user in db.users().await.map_err(err)? {
        let auths = MfaStore::load(&store, &user.user_id).await.map_err(err)?;
        let (otp, recovery) = states(&auths);
        let failures = db.login_failures(&user.username).await.map_err(err)?;
        let blocked = rule.blocked(&failures, now).len();
        let _ = writeln!(
            out,
            "{}\t{}\t{otp}\t{recovery}\t{blocked}",
            user.username, user.user_id
        );
    }
    Ok(out)
}

/// `users show USER`: the user, their authenticators (ids, kinds, states,
/// attempts charged; never a secret) and their login failures by client
/// address, with which are blocked.
pub async fn users_show(
    db: &Db,
    user: &UserRow,
    rule: BlockRule,
    now: u64,
) -> Result<String, String> {
    let auths = MfaStore::load(&db.store(), &user.user_id)
        .await
        .map_err(err)?;
    let (otp_state, recovery_state) = states(&auths);
    let failures = db.login_failures(&user.username).await.map_err(err)?;
    let blocked = rule.blocked(&failures, now);
    let mut out = String::new();
    let _ = writeln!(out, "username: {}", user.username);
    let _ = writeln!(out, "user_id: {}", user.user_id);
    let _ = writeln!(out, "mfa: {otp_state}");
    let _ = writeln!(out, "recovery_code: {recovery_state}");
    let _ = writeln!(
        out,
        "blocked: {}",
        if blocked.is_empty() { "no" } else { "yes" }
    );
    let _ = writeln!(out, "authenticators:");
    if auths.otp.is_none() && auths.recovery.is_none() {
        let _ = writeln!(out, "  (none)");
    }
    if let Some(r) = &auths.recovery {
        let left = r.slots.iter().filter(|s| s.is_some()).count();
        let _ = writeln!(
            out,
            "  {} recovery-code active={} codes_left={left} failed_attempts={} created_at={}",
            r.id.as_str(),
            r.active,
            r.attempts.used(),
            r.created_at
        );
    }
    if let Some(o) = &auths.otp {
        let _ = writeln!(
            out,
            "  {} otp active={} algorithm={} digits={} period={} failed_attempts={} created_at={}",
            o.id.as_str(),
            o.progress.active,
            o.params.algorithm().uri_name(),
            o.params.digits().get(),
            o.params.period().secs(),
            o.attempts.used(),
            o.created_at
        );
    }
    let _ = writeln!(out, "login_failures:");
    if failures.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for row in &failures {
        let _ = writeln!(
            out,
            "  {} failures={} last_failed_at={} blocked={}",
            row.address,
            row.failures,
            row.last_failed_at,
            blocked.iter().any(|b| b.address == row.address)
        );
    }
    Ok(out)
}

/// `users regenerate-recovery-code USER`: replaces the user's recovery
/// code with a new one and returns it (to be printed once). Outstanding
/// tokens stay valid: the user keeps their session, only the old code dies.
///
/// # Errors
///
/// The user has no active recovery code (never enrolled, or reset).
pub async fn regenerate_recovery_code(db: &Db, user: &UserRow) -> Result<String, String> {
    // Recovery codes do not depend on the issuer: any valid one will do.
    let config = MfaConfig::new("mfa-server").map_err(err)?;
    let mfa = Mfa::new(db.store(), config);
    let codes = {
        let fut = mfa.regenerate_recovery_codes(&user.user_id, rand::rng());
        fut.await
    };
    match codes {
        Ok(codes) => codes
            .first()
            .map(|c| c.as_str().to_owned())
            .ok_or_else(|| "no recovery code was generated".to_owned()),
        Err(totp_engine::MfaError::NoRecoveryCode) => Err(format!(
            "user {} has no active recovery code (not enrolled); nothing changed",
            user.username
        )),
        Err(e) => Err(err(e)),
    }
}

/// `clients list`: one tab-separated line per client (id, kind, created
/// at), under a header.
pub async fn clients_list(db: &Db) -> Result<String, String> {
    let mut out = String::from("CLIENT_ID\tKIND\tCREATED_AT\n");
    for client in db.clients().await.map_err(err)? {
        let _ = writeln!(
            out,
            "{}\t{}\t{}",
            client.client_id, client.kind, client.created_at
        );
    }
    Ok(out)
}

/// `clients remove ID`: deletes the client and its mfa_tokens.
///
/// # Errors
///
/// No such client.
pub async fn clients_remove(db: &Db, client_id: &str) -> Result<String, String> {
    if db.delete_client(client_id).await.map_err(err)? {
        Ok(format!(
            "client {client_id} removed, with its outstanding mfa_tokens"
        ))
    } else {
        Err(format!("no client {client_id}"))
    }
}
