//! In-process tests of the operator endpoints: `GET /health` and
//! `GET /ready` on SQLite and on PostgreSQL (the test cluster of
//! `scripts/test.sh`), ready and not ready (a migration missing, the
//! database gone), and that neither needs credentials.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects,
    missing_docs
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
use common::inproc::{Answer, TestClock, call, request};
use common::{db_path, temp_dir};
use mfa_server::config::{ConfigValues, Settings};
use mfa_server::db::Db;
use mfa_server::http::{App, router};
use serde_json::json;

async fn app_on(url: &str) -> (Arc<App>, Router) {
    let db = Db::connect(url, common::test_keyring()).await.unwrap();
    let settings = Settings::from_values(&ConfigValues {
        issuer: Some("ACME".to_owned()),
        ..ConfigValues::default()
    })
    .unwrap();
    let clock = Arc::new(TestClock(Arc::new(AtomicU64::new(2_000_000_000))));
    let app = Arc::new(App::new(db, settings, clock).await.unwrap());
    (app.clone(), router(app))
}

async fn get(router: &Router, path: &str) -> Answer {
    call(router, request("GET", path, &[], Vec::new())).await
}

async fn health_and_readiness(url: &str) {
    let (app, router) = app_on(url).await;
    let health = get(&router, "/health").await;
    assert_eq!(
        (health.status, &health.json),
        (200, &json!({ "status": "ok" }))
    );
    assert_eq!(health.header("cache-control"), Some("no-store"));
    let ready = get(&router, "/ready").await;
    assert_eq!(
        (ready.status, &ready.json),
        (200, &json!({ "status": "ready" }))
    );
    // Only GET: other methods get the JSON 405.
    let post = call(&router, request("POST", "/ready", &[], Vec::new())).await;
    assert_eq!(post.status, 405);

    // A migration the build knows but the database lacks: not ready.
    sqlx::query("DELETE FROM mfa_server_migrations WHERE version = 5")
        .execute(&app.db().pool)
        .await
        .unwrap();
    let ready = get(&router, "/ready").await;
    assert_eq!(ready.status, 503, "{}", ready.json);
    assert_eq!(
        ready.json,
        json!({
            "status": "unavailable",
            "reason": "migration 5 (token_revocation) of mfa_server_migrations is not applied"
        })
    );
    assert_eq!(ready.header("retry-after"), Some("1"));
    // Liveness does not depend on the database.
    assert_eq!(get(&router, "/health").await.status, 200);

    // The database gone (the pool closed): not ready, and the driver's text
    // (which could name the URL) is not shown.
    app.db().pool.close().await;
    let ready = get(&router, "/ready").await;
    assert_eq!(ready.status, 503);
    assert_eq!(
        ready.json,
        json!({ "status": "unavailable", "reason": "the database is unreachable" })
    );
    assert_eq!(get(&router, "/health").await.status, 200);
}

#[tokio::test]
async fn health_and_readiness_on_sqlite() {
    let dir = temp_dir("operations");
    health_and_readiness(&db_path(&dir)).await;
}

#[tokio::test]
async fn health_and_readiness_on_postgres() {
    let url = common::fresh_pg_database("ready").await;
    health_and_readiness(&url).await;
}
