//! `Prefetched`: a user's authenticators read by the application's own
//! statement answer the next `load` of that user in the request's scope,
//! once, without a statement; a stale one never lets a code through twice.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    missing_docs
)]

use totp_engine::{InvalidOtpReason, Mfa, MfaConfig, MfaError, MfaStore, ParsedKeyUri, Totp};
use totp_engine_sqlx::sqlx::{self, Row as _};
use totp_engine_sqlx::{Prefetched, SqlxStore, StoreOptions, connect_pool, lease};

const NOW: u64 = 1_700_000_010;

fn temp_db(name: &str) -> String {
    let dir =
        std::env::temp_dir().join(format!("totp-sqlx-prefetch-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("store.db").display().to_string()
}

fn postgres_url() -> String {
    std::env::var("MFA_TEST_POSTGRES_URL")
        .expect("MFA_TEST_POSTGRES_URL is not set: run scripts/test.sh (this test does not skip)")
}

/// A SQLite and a PostgreSQL store, with tables of their own (`prefix`:
/// one per test, as the tests of this file run at once).
async fn stores(prefix: &str) -> Vec<SqlxStore> {
    let mut out = Vec::new();
    for url in [temp_db(prefix), postgres_url()] {
        let (pool, _) = connect_pool(&url).await.unwrap();
        let options = StoreOptions::default().with_table_prefix(prefix).unwrap();
        let store = SqlxStore::new(pool, options).await.unwrap();
        // A previous run's rows (PostgreSQL keeps them).
        for table in ["otp_authenticators", "recovery_authenticators"] {
            sqlx::query(&format!("DELETE FROM {prefix}{table}"))
                .execute(store.pool())
                .await
                .unwrap();
        }
        out.push(store);
    }
    out
}

/// The application's own statement: here a one-row "session" naming the
/// user, with the store's columns and joins.
async fn read_with_own_row(store: &SqlxStore, user: &str) -> Prefetched {
    let sql = format!(
        "SELECT s.user_id AS session_user, {}
         FROM (SELECT CAST($1 AS TEXT) AS user_id) AS s {}",
        store.load_columns(),
        store.load_joins("s.user_id").unwrap()
    );
    let row = sqlx::query(&sql)
        .bind(user)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(row.try_get::<String, _>("session_user").unwrap(), user);
    store.prefetched(&row, user).unwrap()
}

/// Enrolls and confirms `user`; returns the flow and a generator of codes.
async fn enrolled(store: &SqlxStore, user: &str) -> (Mfa<SqlxStore>, Totp) {
    let mfa = Mfa::new(store.clone(), MfaConfig::new("ACME").unwrap());
    let association = mfa
        .associate(user, "jane@example.com", rand::rng(), NOW)
        .await
        .unwrap();
    let uri = ParsedKeyUri::parse(&association.barcode_uri).unwrap();
    let totp = Totp::new(uri.secret(), uri.totp_params());
    let first = totp.generate(NOW).unwrap();
    assert!(
        mfa.verify_otp(user, first.as_str(), NOW)
            .await
            .unwrap()
            .confirmed_enrollment
    );
    (mfa, totp)
}

async fn attempts_used(store: &SqlxStore, user: &str) -> i64 {
    sqlx::query_scalar("SELECT attempts_used FROM pfs_otp_authenticators WHERE user_id = $1")
        .bind(user)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefetched_snapshot_answers_one_load_of_its_user_in_its_scope() {
    for store in stores("pfa_").await {
        let (_mfa, _) = enrolled(&store, "alice").await;
        let (_mfa, _) = enrolled(&store, "bob").await;
        let prefetched = read_with_own_row(&store, "alice").await;
        assert_eq!(prefetched.user(), "alice");
        let shown = format!("{prefetched:?}");
        assert!(
            shown.contains("alice") && !shown.contains("secret"),
            "{shown}"
        );
        // The row changes after the snapshot was read.
        sqlx::query("UPDATE pfa_otp_authenticators SET attempts_used = 3 WHERE user_id = $1")
            .bind("alice")
            .execute(store.pool())
            .await
            .unwrap();
        let s = store.clone();
        let (first, second, other) = lease::scope(async move {
            s.use_prefetched(prefetched);
            // Another user's load reads the database and leaves alice's
            // snapshot in place.
            let other = s.load("bob").await.unwrap();
            let first = s.load("alice").await.unwrap();
            let second = s.load("alice").await.unwrap();
            (first, second, other)
        })
        .await;
        // The first load answered the snapshot: no statement ran (the
        // database already said 3); the second read the database.
        assert_eq!(first.otp.unwrap().attempts.used(), 0);
        assert_eq!(second.otp.unwrap().attempts.used(), 3);
        assert_eq!(other.otp.unwrap().attempts.used(), 0);
        // Outside a scope a prefetched snapshot is dropped.
        let prefetched = read_with_own_row(&store, "alice").await;
        sqlx::query("UPDATE pfa_otp_authenticators SET attempts_used = 5 WHERE user_id = $1")
            .bind("alice")
            .execute(store.pool())
            .await
            .unwrap();
        store.use_prefetched(prefetched);
        let loaded = store.load("alice").await.unwrap();
        assert_eq!(loaded.otp.unwrap().attempts.used(), 5);
        // Only plain column references are spliced.
        for bad in ["s.user_id; DROP TABLE x", "s.user_id OR 1=1", "", "a.b.c"] {
            assert!(store.load_joins(bad).is_none(), "{bad}");
        }
        // A user without authenticators prefetches as none.
        let nobody = read_with_own_row(&store, "nobody").await;
        let s = store.clone();
        let loaded = lease::scope(async move {
            s.use_prefetched(nobody);
            s.load("nobody").await.unwrap()
        })
        .await;
        assert!(loaded.otp.is_none() && loaded.recovery.is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_prefetched_snapshot_never_accepts_a_code_twice() {
    for store in stores("pfs_").await {
        let (mfa, totp) = enrolled(&store, "carol").await;
        let later = NOW + 30;
        let code = totp.generate(later).unwrap();
        // Read before the code is accepted by another request.
        let stale = read_with_own_row(&store, "carol").await;
        let ok = mfa.verify_otp("carol", code.as_str(), later).await.unwrap();
        assert_eq!(attempts_used(&store, "carol").await, 0);
        // The same code on the stale snapshot: the accepting write fails on
        // the moved step, the flow reloads from the database, and the code
        // is a replay, charged once.
        let s = store.clone();
        let code_text = code.as_str().to_owned();
        let refused = lease::scope(async move {
            s.use_prefetched(stale);
            let mfa = Mfa::new(s, MfaConfig::new("ACME").unwrap());
            mfa.verify_otp_explained("carol", &code_text, later).await
        })
        .await
        .unwrap_err();
        assert!(matches!(refused.error, MfaError::InvalidOtp));
        assert_eq!(refused.reason, Some(InvalidOtpReason::Replayed));
        let progress = store.load("carol").await.unwrap().otp.unwrap();
        assert_eq!(progress.progress.last_step, Some(ok.step));
        assert_eq!(attempts_used(&store, "carol").await, 1);

        // A stale snapshot's empty-bucket answer is the state it saw; the
        // next code, on a fresh snapshot, is accepted and resets the bucket.
        let next = totp.generate(later + 30).unwrap();
        let fresh = read_with_own_row(&store, "carol").await;
        let s = store.clone();
        let next_text = next.as_str().to_owned();
        let accepted = lease::scope(async move {
            s.use_prefetched(fresh);
            let mfa = Mfa::new(s, MfaConfig::new("ACME").unwrap());
            mfa.verify_otp("carol", &next_text, later + 30).await
        })
        .await
        .unwrap();
        assert_eq!(accepted.step, ok.step + 1);
        assert_eq!(attempts_used(&store, "carol").await, 0);
    }
}

/// The application's own statement reading the OTP authenticator alone
/// ([`SqlxStore::load_otp_columns`], [`SqlxStore::load_otp_join`]).
async fn read_otp_with_own_row(store: &SqlxStore, user: &str) -> Prefetched {
    let sql = format!(
        "SELECT s.user_id AS session_user, {}
         FROM (SELECT CAST($1 AS TEXT) AS user_id) AS s {}",
        store.load_otp_columns(),
        store.load_otp_join("s.user_id").unwrap()
    );
    assert!(!sql.contains("recovery_authenticators"), "{sql}");
    let row = sqlx::query(&sql)
        .bind(user)
        .fetch_one(store.pool())
        .await
        .unwrap();
    store.prefetched_otp(&row, user).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_otp_only_snapshot_answers_one_load_otp_and_no_load() {
    for store in stores("pfo_").await {
        let (_mfa, _) = enrolled(&store, "dave").await;
        let set_used = |used: i64| {
            let pool = store.pool().clone();
            async move {
                sqlx::query(
                    "UPDATE pfo_otp_authenticators SET attempts_used = $1 WHERE user_id = $2",
                )
                .bind(used)
                .bind("dave")
                .execute(&pool)
                .await
                .unwrap();
            }
        };
        // load_otp: the snapshot once, then the database.
        let prefetched = read_otp_with_own_row(&store, "dave").await;
        let shown = format!("{prefetched:?}");
        assert!(
            shown.contains("recovery: None") && !shown.contains("secret"),
            "{shown}"
        );
        set_used(2).await;
        let s = store.clone();
        let (first, second) = lease::scope(async move {
            s.use_prefetched(prefetched);
            (
                s.load_otp("dave").await.unwrap(),
                s.load_otp("dave").await.unwrap(),
            )
        })
        .await;
        assert_eq!(first.unwrap().attempts.used(), 0);
        assert_eq!(second.unwrap().attempts.used(), 2);
        // load: never answered from it (it has no recovery record), read
        // from the database with both records.
        let prefetched = read_otp_with_own_row(&store, "dave").await;
        set_used(4).await;
        let s = store.clone();
        let loaded = lease::scope(async move {
            s.use_prefetched(prefetched);
            s.load("dave").await.unwrap()
        })
        .await;
        assert_eq!(loaded.otp.unwrap().attempts.used(), 4);
        assert!(loaded.recovery.is_some_and(|r| r.active));
        // A full snapshot answers load_otp too.
        let prefetched = read_with_own_row(&store, "dave").await;
        set_used(6).await;
        let s = store.clone();
        let otp = lease::scope(async move {
            s.use_prefetched(prefetched);
            s.load_otp("dave").await.unwrap()
        })
        .await;
        assert_eq!(otp.unwrap().attempts.used(), 4);
        // Without a snapshot, load_otp reads the database; unknown users
        // have none.
        assert_eq!(
            store
                .load_otp("dave")
                .await
                .unwrap()
                .unwrap()
                .attempts
                .used(),
            6
        );
        assert!(store.load_otp("nobody").await.unwrap().is_none());
        for bad in ["s.user_id; DROP TABLE x", "", "a.b.c"] {
            assert!(store.load_otp_join(bad).is_none(), "{bad}");
        }
    }
}
