//! The engine's store conformance kit against `SqlxStore` on SQLite and on
//! PostgreSQL, with and without a table prefix; the migration runner's
//! refusals.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    missing_docs
)]

use std::sync::Arc;

use totp_engine_sqlx::sqlx::{self, Row};
use totp_engine_sqlx::{Backend, MIGRATIONS, SqlxStore, StoreError, StoreOptions, connect_pool};

fn temp_db(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("totp-sqlx-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    format!("sqlite://{}", dir.join("store.db").display())
}

fn postgres_url() -> String {
    std::env::var("MFA_TEST_POSTGRES_URL").expect(
        "MFA_TEST_POSTGRES_URL is not set: run scripts/test.sh, which starts a throwaway \
         PostgreSQL cluster (this test does not skip)",
    )
}

async fn kit(store: SqlxStore) {
    totp_engine::conformance::run_all(Arc::new(store), &mut rand::rng())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_passes_the_conformance_kit() {
    let store = SqlxStore::connect(&temp_db("kit")).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    kit(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_with_a_table_prefix_passes_and_keeps_its_own_tables() {
    let (pool, _) = connect_pool(&temp_db("prefix")).await.unwrap();
    // The application's own table with a name the store also uses unprefixed.
    sqlx::query("CREATE TABLE otp_authenticators (app_column TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    let options = StoreOptions::default().with_table_prefix("mfa_").unwrap();
    let store = SqlxStore::new(pool.clone(), options).await.unwrap();
    kit(store).await;
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        tables,
        [
            "mfa_otp_authenticators",
            "mfa_recovery_authenticators",
            "mfa_totp_engine_migrations",
            "otp_authenticators"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_passes_the_conformance_kit() {
    let url = postgres_url();
    kit(SqlxStore::connect(&url).await.unwrap()).await;
    let (pool, backend) = connect_pool(&url).await.unwrap();
    assert_eq!(backend, Backend::Postgres);
    let options = StoreOptions::default().with_table_prefix("kit_").unwrap();
    kit(SqlxStore::new(pool, options).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_starts_apply_each_migration_once() {
    for url in [temp_db("race"), postgres_url()] {
        let (pool, _) = connect_pool(&url).await.unwrap();
        let options = StoreOptions::default().with_table_prefix("race_").unwrap();
        let starts: Vec<_> = (0..6)
            .map(|_| {
                let (pool, options) = (pool.clone(), options.clone());
                tokio::spawn(async move { SqlxStore::new(pool, options).await.map(drop) })
            })
            .collect();
        for start in starts {
            start.await.unwrap().unwrap();
        }
        let rows = sqlx::query("SELECT version FROM race_totp_engine_migrations")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(rows.len(), MIGRATIONS.len(), "{url}");
        assert_eq!(rows[0].try_get::<i64, _>(0).unwrap(), 1);
    }
}

#[tokio::test]
async fn changed_or_newer_schemas_are_refused() {
    let url = temp_db("refuse");
    let (pool, _) = connect_pool(&url).await.unwrap();
    SqlxStore::new(pool.clone(), StoreOptions::default())
        .await
        .unwrap();
    sqlx::query("UPDATE totp_engine_migrations SET checksum = $1 WHERE version = 1")
        .bind(vec![0u8; 32])
        .execute(&pool)
        .await
        .unwrap();
    match SqlxStore::new(pool.clone(), StoreOptions::default()).await {
        Err(StoreError::Migration { version: 1, reason }) => {
            assert!(reason.contains("changed"), "{reason}");
        }
        other => panic!("a changed migration was accepted: {other:?}"),
    }
    sqlx::query(
        "INSERT INTO totp_engine_migrations (version, name, checksum, applied_at) VALUES (999, 'future', $1, 0)",
    )
    .bind(vec![0u8; 32])
    .execute(&pool)
    .await
    .unwrap();
    match SqlxStore::new(pool, StoreOptions::default()).await {
        Err(StoreError::Migration { version: 999, .. }) => {}
        other => panic!("a newer schema was accepted: {other:?}"),
    }
}

#[tokio::test]
async fn history_table_names_are_plain_identifiers() {
    let (pool, _) = connect_pool(&temp_db("history")).await.unwrap();
    for bad in ["", "x; DROP TABLE y", "Upper", "a-b"] {
        let refused = totp_engine_sqlx::run_migrations(
            &pool,
            &StoreOptions::default(),
            bad,
            totp_engine_sqlx::MIGRATIONS,
        )
        .await;
        assert!(
            matches!(refused, Err(StoreError::Migration { version: 0, .. })),
            "{bad:?}: {refused:?}"
        );
    }
}

#[test]
fn table_prefixes_are_plain_identifiers() {
    for ok in ["", "mfa_", "_x", "app2_"] {
        assert_eq!(
            StoreOptions::default()
                .with_table_prefix(ok)
                .unwrap()
                .table_prefix(),
            ok
        );
    }
    for bad in ["2x", "Mfa_", "a-b", "a;", "a b", "\"x", &"a".repeat(33)] {
        assert!(
            StoreOptions::default().with_table_prefix(bad).is_err(),
            "{bad:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_kit_passes_with_one_held_connection_on_both_databases() {
    // As the server runs a grant: every statement of the kit's task on one
    // checkout (`lease`), on SQLite and on PostgreSQL.
    for url in [temp_db("held"), postgres_url()] {
        let (pool, _) = connect_pool(&url).await.unwrap();
        let options = StoreOptions::default().with_table_prefix("held_").unwrap();
        let store = SqlxStore::new(pool, options).await.unwrap();
        totp_engine_sqlx::lease::scope(async move {
            totp_engine_sqlx::lease::hold();
            kit(store).await;
        })
        .await;
    }
}

/// The 0/1 flags are checked where they are read: on PostgreSQL (schema
/// version 4) no CHECK constraint is left on the store's tables, even under
/// a prefix long enough that PostgreSQL shortened the constraints' names,
/// and on both databases a flag written outside the store with another
/// value makes `load` refuse the row as corrupt (SQLite's CHECK refuses the
/// write itself).
#[tokio::test]
async fn flags_other_than_zero_or_one_are_refused_as_corrupt() {
    use totp_engine::{Mfa, MfaConfig, MfaStore as _};
    // 32 characters: the longest prefix, past PostgreSQL's 63-byte names.
    let prefix = "flags_checked_on_read_0123456789";
    for url in [temp_db("flags"), postgres_url()] {
        let (pool, backend) = connect_pool(&url).await.unwrap();
        let options = StoreOptions::default().with_table_prefix(prefix).unwrap();
        let store = SqlxStore::new(pool.clone(), options).await.unwrap();
        let otp = format!("{prefix}otp_authenticators");
        let rec = format!("{prefix}recovery_authenticators");
        for table in [&otp, &rec] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&pool)
                .await
                .unwrap();
        }
        if backend == Backend::Postgres {
            let checks: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_constraint
                 WHERE contype = 'c' AND conrelid IN (CAST($1 AS regclass), CAST($2 AS regclass))",
            )
            .bind(&otp)
            .bind(&rec)
            .fetch_one(&pool)
            .await
            .unwrap();
            assert_eq!(checks, 0, "{url}");
        }
        let mfa = Mfa::new(store.clone(), MfaConfig::new("ACME").unwrap());
        mfa.associate("flag-user", "jane@example.com", rand::rng(), 1_700_000_000)
            .await
            .unwrap();
        assert!(store.load("flag-user").await.unwrap().otp.is_some());
        for column in ["active", "stepped"] {
            let written = sqlx::query(&format!(
                "UPDATE {otp} SET {column} = 2 WHERE user_id = 'flag-user'"
            ))
            .execute(&pool)
            .await;
            match backend {
                Backend::Sqlite => {
                    let error = written.unwrap_err().to_string();
                    assert!(error.contains("CHECK constraint failed"), "{error}");
                    continue;
                }
                Backend::Postgres => assert_eq!(written.unwrap().rows_affected(), 1),
            }
            match store.load("flag-user").await {
                Err(StoreError::Corrupt { what, .. }) => assert_eq!(what, column, "{url}"),
                other => panic!("{url}: a {column} of 2 was read as {other:?}"),
            }
            sqlx::query(&format!(
                "UPDATE {otp} SET {column} = 0 WHERE user_id = 'flag-user'"
            ))
            .execute(&pool)
            .await
            .unwrap();
        }
    }
}
