//! `DELETE /api/v2/guardian/enrollments/{id}`: removes a Guardian
//! enrollment (here: a TOTP authenticator) by its enrollment id, the
//! authentication method's id without `totp|` (as
//! `GET /api/v2/users/{id}/enrollments` lists it).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use totp_engine::MfaError;

use super::{DELETE_GUARDIAN_ENROLLMENTS, ManagementCaller, ManagementError};
use crate::http::App;

/// 404 `inexistent_enrollment`.
fn inexistent() -> ManagementError {
    ManagementError::new(
        StatusCode::NOT_FOUND,
        "The enrollment does not exist.",
        Some("inexistent_enrollment"),
    )
}

pub(super) async fn delete_enrollment(
    State(app): State<Arc<App>>,
    caller: ManagementCaller,
    Path(id): Path<String>,
) -> Result<Response, ManagementError> {
    caller.require(DELETE_GUARDIAN_ENROLLMENTS)?;
    let method = format!("totp|{id}");
    let Some(user_id) = app
        .db()
        .store()
        .otp_owner(&method)
        .await
        .map_err(|e| ManagementError::unavailable(&e))?
    else {
        return Err(inexistent());
    };
    match app.mfa().remove_authenticator(&user_id, &method).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(MfaError::AuthenticatorNotFound) => Err(inexistent()),
        Err(e) => Err(e.into()),
    }
}
