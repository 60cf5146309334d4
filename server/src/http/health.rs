//! `GET /health` and `GET /ready`: the probes an orchestrator (a load
//! balancer, Kubernetes, systemd) polls. Both are unauthenticated, cheap
//! and say nothing about users, clients or keys.
//!
//! - `/health` (liveness): the process is up and its HTTP stack answers;
//!   it touches nothing else, so a slow database never gets the process
//!   restarted. Always `200 {"status":"ok"}`.
//! - `/ready` (readiness): the database answers one small query within
//!   [`READY_TIMEOUT`] and every migration this build knows (the server's
//!   and the store's) is recorded as applied. `200 {"status":"ready"}`, or
//!   `503 {"status":"unavailable","reason":"…"}` with `Retry-After: 1`:
//!   the reason names what is missing (the database, a migration), never
//!   the error text of the driver (which could quote the URL).
//!
//! Not here: the metrics (their own listener, [`crate::metrics`]).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::App;
use crate::db::{Db, MIGRATION_HISTORY, MIGRATIONS};

/// How long `/ready` waits for the database before answering 503.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /health`.
pub(super) async fn health() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

/// `GET /ready`.
pub(super) async fn ready(State(app): State<Arc<App>>) -> Response {
    let verdict = match tokio::time::timeout(READY_TIMEOUT, readiness(app.db())).await {
        Ok(verdict) => verdict,
        Err(_) => Err("the database did not answer in time".to_owned()),
    };
    match verdict {
        Ok(()) => axum::Json(json!({ "status": "ready" })).into_response(),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(RETRY_AFTER, "1")],
                axum::Json(json!({ "status": "unavailable", "reason": reason })),
            )
                .into_response()
        }
    }
}

/// Whether `db` is reachable and migrated; the reason otherwise.
pub async fn readiness(db: &Db) -> Result<(), String> {
    let tables = [
        (MIGRATION_HISTORY, MIGRATIONS),
        ("totp_engine_migrations", totp_engine_sqlx::MIGRATIONS),
    ];
    for (table, migrations) in tables {
        // The table name is a constant of this build, never input.
        let applied: Vec<i64> = sqlx::query_scalar(&format!("SELECT version FROM {table}"))
            .fetch_all(&db.pool)
            .await
            .map_err(|e| match e {
                sqlx::Error::Database(_) => format!("the migration history {table} is missing"),
                _ => "the database is unreachable".to_owned(),
            })?;
        let applied: BTreeSet<i64> = applied.into_iter().collect();
        if let Some(missing) = migrations.iter().find(|m| !applied.contains(&m.version)) {
            return Err(format!(
                "migration {} ({}) of {table} is not applied",
                missing.version, missing.name
            ));
        }
    }
    Ok(())
}
