//! The engine's store conformance kit against `SqlStore` on SQLite (and, in
//! `tests/postgres.rs`, on PostgreSQL).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_alloc,
    missing_docs
)]

use std::sync::Arc;

use mfa_server::db::Db;
use mfa_server::store::SqlStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_passes_the_conformance_kit() {
    let dir = std::env::temp_dir().join(format!("mfa-conformance-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = Db::connect(&dir.join("c.db").to_string_lossy())
        .await
        .unwrap();
    let store = Arc::new(SqlStore::new(db));
    totp_engine::conformance::run_all(store, &mut rand::rng())
        .await
        .unwrap();
}
