//! The Management API's user endpoints: authentication methods,
//! enrollments, recovery-code regeneration and user blocks. Users are
//! named by their user id (`auth0|jane`, percent-encoded in the path as
//! Auth0's SDKs send it).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use totp_engine::{MfaError, MfaStore as _};

use super::{
    DELETE_AUTHENTICATION_METHODS, ManagementCaller, ManagementError, READ_AUTHENTICATION_METHODS,
    READ_USERS, UPDATE_USERS,
};
use crate::db::UserRow;
use crate::http::App;

/// A Unix time as Auth0 writes dates: RFC 3339 in UTC with milliseconds.
pub(super) fn date(unix: u64) -> Value {
    let written = i64::try_from(unix)
        .ok()
        .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].000Z"
            ))
            .ok()
        });
    written.map_or(Value::Null, Value::String)
}

/// The user with this id; 404 `inexistent_user` otherwise.
async fn user(app: &App, user_id: &str) -> Result<UserRow, ManagementError> {
    let Some(username) = app.db().username(user_id).await? else {
        return Err(ManagementError::inexistent_user());
    };
    app.db()
        .user(&username)
        .await?
        .ok_or_else(ManagementError::inexistent_user)
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /api/v2/users/{id}/authentication-methods`: the user's TOTP
/// authenticator (`totp`) and recovery code (`recovery-code`), confirmed
/// or not.
pub(super) async fn authentication_methods(
    State(app): State<Arc<App>>,
    caller: ManagementCaller,
    Path(id): Path<String>,
) -> Result<Response, ManagementError> {
    caller.require(READ_AUTHENTICATION_METHODS)?;
    let user = user(&app, &id).await?;
    let found = app
        .db()
        .store()
        .load(&user.user_id)
        .await
        .map_err(|e| ManagementError::unavailable(&e))?;
    let mut methods = Vec::new();
    if let Some(otp) = &found.otp {
        methods.push(json!({
            "id": otp.id.as_str(),
            "type": "totp",
            "confirmed": otp.progress.active,
            "created_at": date(otp.created_at),
        }));
    }
    if let Some(recovery) = &found.recovery {
        methods.push(json!({
            "id": recovery.id.as_str(),
            "type": "recovery-code",
            "confirmed": recovery.active,
            "created_at": date(recovery.created_at),
        }));
    }
    Ok(axum::Json(Value::Array(methods)).into_response())
}

/// `DELETE /api/v2/users/{id}/authentication-methods`: every method, as
/// `users reset-mfa` (outstanding tokens revoked first, so that no
/// mfa_token can enroll in between); 204.
pub(super) async fn delete_authentication_methods(
    State(app): State<Arc<App>>,
    caller: ManagementCaller,
    Path(id): Path<String>,
) -> Result<Response, ManagementError> {
    caller.require(DELETE_AUTHENTICATION_METHODS)?;
    let user = user(&app, &id).await?;
    app.db().revoke_tokens(&user.user_id, app.now()).await?;
    let store = app.db().store();
    let found = store
        .load(&user.user_id)
        .await
        .map_err(|e| ManagementError::unavailable(&e))?;
    let ids = found
        .otp
        .map(|o| o.id)
        .into_iter()
        .chain(found.recovery.map(|r| r.id));
    for method in ids {
        store
            .remove(&user.user_id, &method)
            .await
            .map_err(|e| ManagementError::unavailable(&e))?;
    }
    Ok(no_content())
}

/// `DELETE /api/v2/users/{id}/authentication-methods/{method_id}`: 204, or
/// 404 `inexistent_authentication_method`.
pub(super) async fn delete_authentication_method(
    State(app): State<Arc<App>>,
    caller: ManagementCaller,
    Path((id, method_id)): Path<(String, String)>,
) -> Result<Response, ManagementError> {
    caller.require(DELETE_AUTHENTICATION_METHODS)?;
    let user = user(&app, &id).await?;
    match app
        .mfa()
        .remove_authenticator(&user.user_id, &method_id)
        .await
    {
        Ok(()) => Ok(no_content()),
        Err(MfaError::AuthenticatorNotFound) => Err(ManagementError::new(
            StatusCode::NOT_FOUND,
            "The authentication method does not exist.",
            Some("inexistent_authentication_method"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// `GET /api/v2/users/{id}/enrollments`: the user's Guardian enrollments,
/// here their TOTP authenticator (`auth_method` `authenticator`), whose
/// enrollment id is the authentication method's id without `totp|`.
pub(super) async fn enrollments(
    State(app): State<Arc<App>>,
    caller: ManagementCaller,
    Path(id): Path<String>,
) -> Result<Response, ManagementError> {
    caller.require(READ_USERS)?;
    let user = user(&app, &id).await?;
    let found = app
        .db()
        .store()
        .load(&user.user_id)
        .await
        .map_err(|e| ManagementError::unavailable(&e))?;
    let list: Vec<Value> = found
        .otp
        .iter()
        .map(|otp| {
            let id = otp.id.as_str();
            json!({
                "id": id.strip_prefix("totp|").unwrap_or(id),
                "status": if otp.progress.active { "confirmed" } else { "pending" },
                "type": "authenticator",
                "auth_method": "authenticator",
                "enrolled_at": date(otp.created_at),
            })
        })
        .collect();
    Ok(axum::Json(Value::Array(list)).into_response())
}

/// `POST /api/v2/users/{id}/recovery-code-regeneration`: `{"recovery_code"}`,
/// shown once; the old code stops working. 400 `mfa_not_enrolled` for a
/// user without an active recovery code.
pub(super) async fn regenerate_recovery_code(
    State(app): State<Arc<App>>,
    caller: ManagementCaller,
    Path(id): Path<String>,
) -> Result<Response, ManagementError> {
    caller.require(UPDATE_USERS)?;
    let user = user(&app, &id).await?;
    match app
        .mfa()
        .regenerate_recovery_codes(&user.user_id, rand::rng())
        .await
    {
        Ok(codes) => {
            let code = codes
                .first()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default();
            Ok(crate::http::no_store(
                axum::Json(json!({ "recovery_code": code })).into_response(),
            ))
        }
        Err(MfaError::NoRecoveryCode) => Err(ManagementError::new(
            StatusCode::BAD_REQUEST,
            "The user is not enrolled in multi-factor authentication: there is no recovery code to regenerate.",
            Some("mfa_not_enrolled"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// `GET /api/v2/user-blocks/{id}`: `{"blocked_for": [{"identifier", "ip",
/// "connection"}]}`, the client addresses the user is blocked from by the
/// brute-force protection now.
pub(super) async fn user_blocks(
    State(app): State<Arc<App>>,
    caller: ManagementCaller,
    Path(id): Path<String>,
) -> Result<Response, ManagementError> {
    caller.require(READ_USERS)?;
    let user = user(&app, &id).await?;
    let policy = app.settings().login_policy();
    let now = app.now();
    let blocked: Vec<Value> = app
        .db()
        .login_failures(&user.username)
        .await?
        .iter()
        .filter(|row| policy.is_blocked(row, now))
        .map(|row| {
            json!({
                "identifier": user.username,
                "ip": row.address,
                "connection": app.settings().connection(),
            })
        })
        .collect();
    Ok(axum::Json(json!({ "blocked_for": blocked })).into_response())
}

/// `DELETE /api/v2/user-blocks/{id}`: lifts every block of the user, as
/// `users unblock`; 204.
pub(super) async fn unblock(
    State(app): State<Arc<App>>,
    caller: ManagementCaller,
    Path(id): Path<String>,
) -> Result<Response, ManagementError> {
    caller.require(UPDATE_USERS)?;
    let user = user(&app, &id).await?;
    app.db().clear_login_failures(&user.username).await?;
    Ok(no_content())
}
