//! Refresh tokens: issued beside the MFA grants' tokens when the login
//! asked for `offline_access`, and the `refresh_token` grant that uses
//! them.
//!
//! A refresh token is 32 random bytes (base64url), stored only as its
//! SHA-256, bound to its user and client, and one of a family that descends
//! from one login. Every use rotates it: the presented token is marked used
//! and a new one is issued, in one transaction (`Db::rotate_refresh_token`).
//! A used token presented again, by anyone, means one of the two holders
//! is not the client: the whole family is deleted (RFC 9700 §4.14), so the
//! newest token dies too and the user logs in again. Each token expires
//! after the inactivity lifetime (`--refresh-token-idle-ttl`) and the
//! family after its absolute lifetime from the login
//! (`--refresh-token-ttl`), which rotation never extends. A refreshed
//! token keeps the login's `amr`. Revoking a user (`users reset-mfa`,
//! `users delete`, a new password) deletes their families, and a family
//! whose login predates the user's `tokens_valid_from` is refused even if
//! a rotation raced the revocation.
//!
//! Every refusal is Auth0's 403 `invalid_grant` "Unknown or invalid refresh
//! token.", whatever the reason: an unknown token, another client's, an
//! expired, revoked or reused one look alike.

use totp_engine::RecoveryCode;

use super::error::ApiError;
use super::request::RefreshTokenGrant;
use super::token::{Issue, issue_tokens};
use super::{App, dpop};
use crate::audience::Granted;
use crate::credentials;
use crate::db::{RefreshTokenRow, Rotation};

/// The scope that asks for a refresh token.
pub(super) const OFFLINE_ACCESS: &str = "offline_access";

/// After an MFA grant of `granted` at `now` for the login of `user_id`
/// through `client_id`: a new family's first refresh token if the login
/// asked for `offline_access`, else `None`. The code is already consumed,
/// so a database failure here does not fail the grant: it is logged and
/// the answer goes out without a refresh token (and without
/// `offline_access` in its scope).
pub(super) async fn new_family(
    app: &App,
    user_id: &str,
    client_id: &str,
    granted: &Granted,
    amr: &[String],
    dpop_jkt: Option<&str>,
    now: u64,
) -> Option<zeroize::Zeroizing<String>> {
    if !granted.has_scope(OFFLINE_ACCESS) {
        return None;
    }
    let (token, token_hash) = credentials::new_mfa_token();
    let mut family_id = [0u8; 16];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut family_id);
    let family_expires_at = now.saturating_add(app.settings().refresh_token_ttl());
    let row = RefreshTokenRow {
        token_hash,
        family_id,
        user_id: user_id.to_owned(),
        client_id: client_id.to_owned(),
        audience: granted.audience.clone(),
        scope: granted.scope.clone(),
        amr: amr.join(" "),
        auth_time: now,
        expires_at: now
            .saturating_add(app.settings().refresh_token_idle_ttl())
            .min(family_expires_at),
        family_expires_at,
        used_at: None,
        dpop_jkt: dpop_jkt.map(str::to_owned),
    };
    match app.db.insert_refresh_token(&row, now).await {
        Ok(()) => Some(token),
        Err(e) => {
            tracing::error!(error = %e, "refresh token not stored; answering without one");
            None
        }
    }
}

/// The `refresh_token` grant for the authenticated `client_id` at `now`.
pub(super) async fn refresh_token(
    app: &App,
    client_id: &str,
    grant: RefreshTokenGrant,
    bind: Option<&dpop::Binding>,
    now: u64,
) -> Result<axum::response::Response, ApiError> {
    let presented = credentials::mfa_token_hash(&grant.refresh_token);
    let Some((row, valid_from)) = app.db.refresh_token(&presented).await? else {
        return Err(ApiError::invalid_refresh_token());
    };
    if row.client_id != client_id {
        return Err(ApiError::invalid_refresh_token());
    }
    // A family bound to a DPoP key (RFC 9449 §5) is used only with a proof
    // by that key: checked before anything is marked or revoked.
    dpop::check_refresh_binding(app, row.dpop_jkt.as_deref(), bind, now)?;
    if row.used_at.is_some() {
        let revoked = app.db.revoke_refresh_family(&row.family_id).await?;
        tracing::warn!(
            revoked,
            "a used refresh token was presented again: its family is revoked"
        );
        return Err(ApiError::invalid_refresh_token());
    }
    if now >= row.expires_at || now >= row.family_expires_at || row.auth_time < valid_from {
        return Err(ApiError::invalid_refresh_token());
    }
    // At most the login's scope; the login's when none is asked for.
    let scope = match grant.scope.as_deref() {
        None => row.scope.clone(),
        Some(asked) => {
            let login: Vec<&str> = row.scope.split_ascii_whitespace().collect();
            if let Some(extra) = asked.split_ascii_whitespace().find(|s| !login.contains(s)) {
                return Err(ApiError::invalid_scope(format!(
                    "The scope '{}' was not granted to this refresh token.",
                    super::error::printable(extra)
                )));
            }
            asked.to_owned()
        }
    };
    let granted = super::token::grant_audience(app, Some(&row.audience), &scope)?;
    let (token, token_hash) = credentials::new_mfa_token();
    let child = RefreshTokenRow {
        token_hash,
        expires_at: now
            .saturating_add(app.settings().refresh_token_idle_ttl())
            .min(row.family_expires_at),
        used_at: None,
        ..row.clone()
    };
    match app.db.rotate_refresh_token(&presented, &child, now).await? {
        Rotation::Rotated => {}
        Rotation::Reused => {
            tracing::warn!("a refresh token was used twice at once: its family is revoked");
            return Err(ApiError::invalid_refresh_token());
        }
    }
    // Rotated: the request's connection goes back to the pool before the
    // signatures.
    totp_engine_sqlx::lease::release().await;
    let amr: Vec<String> = row
        .amr
        .split_ascii_whitespace()
        .map(str::to_owned)
        .collect();
    issue_tokens(
        app,
        &Issue {
            user_id: &row.user_id,
            client_id,
            granted: &granted,
            amr,
            recovery_code: None::<&RecoveryCode>,
            refresh_token: Some(&token),
            cnf: bind.map(dpop::Binding::confirmation),
        },
        now,
    )
}
