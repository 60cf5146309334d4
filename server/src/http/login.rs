//! The first factor's guard: the password check of the password grant,
//! behind Auth0's two login shields and the bounded hash pool.
//!
//! - **Brute-force protection**: consecutive failed logins are counted per
//!   (username, client address); at `--login-max-failures` (Auth0: 10) the
//!   pair is blocked, `429 too_many_attempts` "Your account has been
//!   blocked after multiple consecutive login attempts.", without its
//!   password being checked. As Auth0 documents it, the block ends when an
//!   administrator removes it (`mfa-server users unblock USER`), when the
//!   password is changed (`add-user` on an existing user), after
//!   `--login-block-secs` from the last failure (Auth0: 30 days), or when
//!   the user logs in successfully from another address (a success
//!   clears every pair of the user: Auth0's counter is "consecutive", and
//!   its user blocks are lifted by the next successful login).
//! - **Suspicious-IP throttling**: failed logins from one address across
//!   all accounts drain a bucket of `--ip-throttle-attempts` (Auth0: 100)
//!   refilled one every `--ip-throttle-refill-secs` (Auth0: 864 s, i.e.
//!   100 a day); an empty bucket answers `429 too_many_attempts` "We have
//!   detected suspicious login behavior and further attempts will be
//!   blocked. Please contact the administrator." with `Retry-After`.
//!
//! Charge, then check (as the OTP bucket does): both counters are charged
//! before the password hash is computed, each with one conditional
//! statement, so concurrent guesses, on one instance or many, can never
//! get more checks than the limits allow. A success clears the pair counts
//! and refunds the address's charge; a failure keeps both.
//!
//! An unknown username is charged and checked exactly like a known one
//! (against a reference Argon2id hash of the same parameters) and gets the
//! same answer, so neither the timing, the text nor a block tells them
//! apart. A request the hash pool has no room for is refused with 503
//! before anything is charged.

use zeroize::Zeroizing;

use super::App;
use super::client_ip::ClientAddress;
use super::error::ApiError;
use crate::db::{AddressCharge, PairCharge};

/// Checks `username`'s `password` for a login from `address` at `now`;
/// returns the user id.
///
/// # Errors
///
/// 503 `temporarily_unavailable` when the hash pool is full; 429
/// `too_many_attempts` when the address is throttled or the pair is
/// blocked; 403 `invalid_grant` "Wrong email or password." for an unknown
/// user or a wrong password; 503 when the database fails.
pub(crate) async fn check_password(
    app: &App,
    username: &str,
    password: Zeroizing<String>,
    address: &ClientAddress,
    now: u64,
) -> Result<String, ApiError> {
    let admission = app.hashes.admit().map_err(|_| ApiError::busy())?;
    let policy = app.settings.login_policy();
    if let AddressCharge::Throttled(retry_after) = app
        .db
        .charge_login_address(address.key(), &policy, now)
        .await?
    {
        return Err(ApiError::suspicious_address(retry_after));
    }
    let pair = app
        .db
        .charge_login_failure(username, address.key(), &policy, now)
        .await?;
    if pair == PairCharge::Blocked {
        // Refused unchecked: not a failed login of this address.
        if let Err(e) = app.db.refund_login_address(address.key(), &policy).await {
            tracing::warn!(error = %e, "login throttle: address charge not refunded");
        }
        return Err(ApiError::login_blocked());
    }
    let (user_id, phc) = match app.db.user(username).await? {
        Some(row) => (Some(row.user_id), row.password_hash),
        None => (None, app.dummy_hash.clone()),
    };
    let verified = admission.verify(password, phc).await;
    let Some(user_id) = user_id.filter(|_| verified) else {
        return Err(ApiError::wrong_password());
    };
    // The password is right: the login stands even if this bookkeeping
    // fails (the counts then stay as charged).
    if let Err(e) = app.db.clear_login_failures(username).await {
        tracing::warn!(error = %e, "login throttle: failures not cleared after a login");
    }
    if let Err(e) = app.db.refund_login_address(address.key(), &policy).await {
        tracing::warn!(error = %e, "login throttle: address charge not refunded");
    }
    Ok(user_id)
}
