//! `lease`: one connection held across a request's statements, parked
//! clean for the next scope (no ping on its way back), and reads that
//! survive connections that died while idle (the pool does not ping on
//! acquire).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    missing_docs
)]

use std::sync::Arc;

use totp_engine::{
    Attempts, AuthenticatorId, AuthenticatorKind, Enrolled, MfaStore, OtpAuthenticator,
    OtpProgress, Secret, TotpParams,
};
use totp_engine_sqlx::sqlx::{self, Connection as _};
use totp_engine_sqlx::{SqlxStore, StoreOptions, connect_pool, lease};

fn otp() -> OtpAuthenticator {
    let mut rng = rand::rng();
    OtpAuthenticator {
        id: AuthenticatorId::generate(AuthenticatorKind::Otp, &mut rng),
        secret: Box::new(Secret::generate(&mut rng)),
        params: TotpParams::default(),
        progress: OtpProgress::default(),
        attempts: Attempts::default(),
        created_at: 1,
    }
}

/// Several idle connections in the pool, so that checkouts of their own
/// would land on different ones.
async fn warm(pool: &sqlx::AnyPool, n: usize) {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(pool.acquire().await.unwrap());
    }
    drop(held);
    for _ in 0..200 {
        if pool.num_idle() >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the pool did not get {n} idle connections back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_scope_runs_every_statement_on_one_checkout() {
    let (pool, dir) = sqlite_pool("lease").await;
    let store = SqlxStore::new(pool.clone(), StoreOptions::default())
        .await
        .unwrap();
    let auth = otp();
    let id = auth.id.clone();
    assert!(matches!(
        store.enroll("alice", auth, None).await.unwrap(),
        Enrolled::Created { .. }
    ));
    warm(&pool, 4).await;
    let store = Arc::new(store);
    let (s, p) = (Arc::clone(&store), pool.clone());
    lease::scope(async move {
        lease::hold();
        // A TEMP table lives on one connection only: every later statement
        // that sees it ran on the connection that created it.
        sqlx::query("CREATE TEMP TABLE mark (x INTEGER)")
            .execute(&mut *lease::connection(&p).await.unwrap())
            .await
            .unwrap();
        for round in 0..8i64 {
            let auths = s.load("alice").await.unwrap();
            let attempts = auths.otp.unwrap().attempts;
            assert!(
                s.update_attempts("alice", &id, attempts, Attempts::from_parts(1, 1))
                    .await
                    .unwrap()
            );
            sqlx::query("INSERT INTO mark (x) VALUES ($1)")
                .bind(round)
                .execute(&mut *lease::connection(&p).await.unwrap())
                .await
                .unwrap();
            assert_eq!(p.size() as usize - p.num_idle(), 1, "one checkout held");
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mark")
            .fetch_one(&mut *lease::connection(&p).await.unwrap())
            .await
            .unwrap();
        assert_eq!(n, 8);
        // Released: the next statement is a checkout of its own, and the
        // held one is parked for the next scope.
        lease::release().await;
        let seen = sqlx::query("SELECT COUNT(*) FROM mark")
            .execute(&mut *lease::connection(&p).await.unwrap())
            .await;
        assert!(seen.is_err(), "a connection without the TEMP table");
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ends every backend of database `name` but the caller's.
async fn kill(admin: &mut sqlx::AnyConnection, name: &str) {
    sqlx::query(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    ))
    .execute(admin)
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
}

/// A fresh PostgreSQL database on the test cluster: the admin connection,
/// the database's name and its URL.
async fn pg_database(prefix: &str) -> (sqlx::AnyConnection, String, String) {
    let admin_url = std::env::var("MFA_TEST_POSTGRES_URL")
        .expect("MFA_TEST_POSTGRES_URL is not set: run scripts/test.sh (this test does not skip)");
    let name = format!("{prefix}_{}", std::process::id());
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(&admin_url).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    (admin, name, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_on_connections_killed_while_idle_run_again_and_writes_are_not_retried() {
    let (mut admin, name, url) = pg_database("lease").await;
    let (pool, _) = connect_pool(&url).await.unwrap();
    let store = SqlxStore::new(pool.clone(), StoreOptions::default())
        .await
        .unwrap();
    let auth = otp();
    let id = auth.id.clone();
    store.enroll("bob", auth, None).await.unwrap();
    // Every pooled connection dies while idle; no ping notices.
    warm(&pool, 6).await;
    kill(&mut admin, &name).await;
    let before = pool.num_idle();
    assert!(before >= 6, "{before} idle");
    // A held scope: its reads run again until a live connection answers,
    // and the dead ones are dropped rather than returned.
    let (s, i) = (store.clone(), id.clone());
    let loaded = lease::scope(async move {
        lease::hold();
        let auths = s.load("bob").await.unwrap();
        let otp = auths.otp.unwrap();
        assert_eq!(otp.id, i);
        // The connection the read found alive serves the write.
        s.update_attempts("bob", &i, otp.attempts, Attempts::from_parts(1, 5))
            .await
            .unwrap()
    })
    .await;
    assert!(loaded, "the charge landed");
    // Without a scope too.
    warm(&pool, 6).await;
    kill(&mut admin, &name).await;
    let auths = store.load("bob").await.unwrap();
    assert_eq!(auths.otp.unwrap().attempts, Attempts::from_parts(1, 5));
    // A write on a dead connection is not run again: it fails, and changes
    // nothing.
    warm(&pool, 6).await;
    kill(&mut admin, &name).await;
    let charged = lease::scope(async {
        lease::hold();
        store
            .update_attempts(
                "bob",
                &id,
                Attempts::from_parts(1, 5),
                Attempts::from_parts(2, 6),
            )
            .await
    })
    .await;
    assert!(charged.is_err(), "{charged:?}");
    let auths = store.load("bob").await.unwrap();
    assert_eq!(auths.otp.unwrap().attempts, Attempts::from_parts(1, 5));
    pool.close().await;
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
}

/// A SQLite pool in a fresh directory of its own.
async fn sqlite_pool(name: &str) -> (sqlx::AnyPool, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("totp-sqlx-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (pool, _) = connect_pool(&dir.join("store.db").display().to_string())
        .await
        .unwrap();
    (pool, dir)
}

/// Runs `sql` in a held scope of its own.
async fn in_scope(pool: &sqlx::AnyPool, sql: &'static str) -> Result<(), sqlx::Error> {
    let p = pool.clone();
    lease::scope(async move {
        lease::hold();
        sqlx::query(sql)
            .execute(&mut *lease::connection(&p).await?)
            .await
            .map(drop)
    })
    .await
}

/// Whether a scope's connection has the TEMP table `mark` (made on one
/// connection only).
async fn has_mark(pool: &sqlx::AnyPool) -> bool {
    in_scope(pool, "SELECT COUNT(*) FROM mark").await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_connection_is_parked_for_the_next_scope_and_one_in_a_transaction_is_not() {
    let (pool, dir) = sqlite_pool("park").await;
    warm(&pool, 4).await;
    let idle = pool.num_idle();
    in_scope(&pool, "CREATE TEMP TABLE mark (x INTEGER)")
        .await
        .unwrap();
    // Parked: not back in sqlx's pool (no ping on the way), and the next
    // scope runs on it.
    assert_eq!(pool.num_idle(), idle - 1, "parked, not returned");
    for _ in 0..3 {
        assert!(has_mark(&pool).await, "the next scope took the parked one");
    }
    // A checkout of its own never gets a parked connection.
    let own = sqlx::query("SELECT COUNT(*) FROM mark")
        .execute(&mut *lease::connection(&pool).await.unwrap())
        .await;
    assert!(own.is_err(), "outside a scope: the pool's own connections");

    // A scope that ends with its transaction dropped unfinished: the
    // connection, parked or handed back to sqlx, has it rolled back before
    // its next statement, so no later scope sees the row or the transaction.
    let p = pool.clone();
    lease::scope(async move {
        lease::hold();
        let mut conn = lease::connection(&p).await.unwrap();
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("INSERT INTO mark (x) VALUES (1)")
            .execute(&mut *tx)
            .await
            .unwrap();
        drop(tx);
    })
    .await;
    for _ in 0..3 {
        let p = pool.clone();
        let (in_tx, rows) = lease::scope(async move {
            lease::hold();
            let mut conn = lease::connection(&p).await.unwrap();
            let rows: Result<i64, _> = sqlx::query_scalar("SELECT COUNT(*) FROM mark")
                .fetch_one(&mut *conn)
                .await;
            (conn.is_in_transaction(), rows.ok())
        })
        .await;
        assert!(!in_tx, "no transaction left open");
        assert!(matches!(rows, None | Some(0)), "rolled back: {rows:?}");
    }
    pool.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_half_the_pool_is_parked_and_close_takes_the_parked_back() {
    let (pool, dir) = sqlite_pool("park-bound").await;
    let max = pool.options().get_max_connections() as usize;
    // `max` scopes at once, each holding its own connection until all have
    // one, then ending together.
    let barrier = Arc::new(tokio::sync::Barrier::new(max));
    let scopes: Vec<_> = (0..max)
        .map(|_| {
            let (p, b) = (pool.clone(), Arc::clone(&barrier));
            tokio::spawn(lease::scope(async move {
                lease::hold();
                sqlx::query("SELECT 1")
                    .execute(&mut *lease::connection(&p).await.unwrap())
                    .await
                    .unwrap();
                b.wait().await;
            }))
        })
        .collect();
    for scope in scopes {
        scope.await.unwrap();
    }
    assert_eq!(pool.size() as usize, max);
    for _ in 0..200 {
        if pool.num_idle() >= max - max / 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        pool.num_idle(),
        max - max / 2,
        "half parked, the rest back in the pool"
    );
    // Scopes one after another take a parked connection and park it again:
    // the other parked ones stay parked, none goes back to sqlx.
    for _ in 0..3 {
        in_scope(&pool, "SELECT 1").await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(
            pool.num_idle(),
            max - max / 2,
            "taking one parked connection leaves the others parked"
        );
    }
    // Every connection is checked out or parked: close waits for the
    // parked ones, which go back on its close event.
    tokio::time::timeout(std::time::Duration::from_secs(10), pool.close())
        .await
        .expect("close does not wait forever on parked connections");
    // The last ones close in sqlx's own tasks, just after.
    for _ in 0..200 {
        if pool.size() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(pool.size(), 0, "every connection closed");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_dropped_on_postgres_is_rolled_back_at_once_not_parked_with_its_locks() {
    let (mut admin, name, url) = pg_database("lease_tx").await;
    let (pool, _) = connect_pool(&url).await.unwrap();
    sqlx::query("CREATE TABLE t (id BIGINT PRIMARY KEY, x BIGINT NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO t (id, x) VALUES (1, 0)")
        .execute(&pool)
        .await
        .unwrap();
    // A scope whose transaction locks row 1 and inserts row 2, then is
    // dropped unfinished: its ROLLBACK is only queued on the connection.
    let p = pool.clone();
    lease::scope(async move {
        lease::hold();
        let mut conn = lease::connection(&p).await.unwrap();
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("UPDATE t SET x = 1 WHERE id = 1")
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t (id, x) VALUES (2, 0)")
            .execute(&mut *tx)
            .await
            .unwrap();
        drop(tx);
        assert!(
            sqlx::Connection::should_flush(&*conn),
            "the rollback waits to be sent"
        );
    })
    .await;
    // Not parked: sqlx's ping on return sends the rollback, so another
    // session gets the row lock at once and sees neither change.
    let mut other = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query("SET lock_timeout = '5s'")
        .execute(&mut other)
        .await
        .unwrap();
    let updated = sqlx::query("UPDATE t SET x = x + 10 WHERE id = 1")
        .execute(&mut other)
        .await
        .expect("the row lock was released: the transaction is gone");
    assert_eq!(updated.rows_affected(), 1);
    let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT id, x FROM t ORDER BY id")
        .fetch_all(&mut other)
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![(1, 10)],
        "rolled back, then only the other session's write"
    );
    other.close().await.unwrap();
    pool.close().await;
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
}
