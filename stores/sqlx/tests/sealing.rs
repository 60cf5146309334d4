//! Secrets sealed at rest: the conformance kit with a keyring on both
//! databases; nothing plain on disk; a secret moved to another row does not
//! open; a store refuses a database sealed under keys it was not given;
//! plain rows are sealed and old keys rotated out online by `reseal`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects,
    missing_docs
)]

use std::sync::Arc;

use totp_engine::{Mfa, MfaConfig, MfaStore, ParsedKeyUri, SealingKey, Totp};
use totp_engine_sqlx::sqlx::{self, AnyPool};
use totp_engine_sqlx::{Keyring, Resealed, SqlxStore, StoreError, StoreOptions, connect_pool};

const T: u64 = 1_800_000_000;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("totp-sqlx-seal-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn key(id: u32, byte: u8) -> SealingKey {
    SealingKey::new(id, &[byte; 32])
}

fn sealed(keyring: Keyring) -> StoreOptions {
    StoreOptions::default().with_keyring(keyring)
}

/// Enrolls `user` through the flow; returns the raw secret bytes.
async fn enroll(store: &SqlxStore, user: &str) -> Vec<u8> {
    let mfa = Mfa::new(store.clone(), MfaConfig::new("ACME").unwrap());
    let a = {
        let mut rng = rand::rng();
        mfa.associate(user, user, &mut rng, T)
    }
    .await
    .unwrap();
    let uri = ParsedKeyUri::parse(&a.barcode_uri).unwrap();
    let totp = Totp::new(uri.secret(), uri.totp_params());
    let code = totp.generate(T).unwrap();
    mfa.verify_otp(user, code.as_str(), T).await.unwrap();
    uri.secret().expose_bytes().to_vec()
}

async fn stored(pool: &AnyPool, user: &str) -> (Vec<u8>, Option<i64>) {
    sqlx::query_as("SELECT secret, secret_key_id FROM otp_authenticators WHERE user_id = $1")
        .bind(user)
        .fetch_one(pool)
        .await
        .unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sealed_stores_pass_the_conformance_kit_on_both_databases() {
    let dir = temp_dir("kit");
    let url = format!("sqlite://{}", dir.join("s.db").display());
    let pg = std::env::var("MFA_TEST_POSTGRES_URL")
        .expect("MFA_TEST_POSTGRES_URL is not set: run scripts/test.sh (this test does not skip)");
    for (url, prefix) in [(url, ""), (pg, "sealed_")] {
        let (pool, _) = connect_pool(&url).await.unwrap();
        let options = sealed(Keyring::new(key(1, 1)))
            .with_table_prefix(prefix)
            .unwrap();
        let store = SqlxStore::new(pool, options).await.unwrap();
        totp_engine::conformance::run_all(Arc::new(store), &mut rand::rng())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn no_secret_reaches_the_disk_in_plain() {
    let dir = temp_dir("disk");
    let url = format!("sqlite://{}", dir.join("s.db").display());
    let (pool, _) = connect_pool(&url).await.unwrap();
    let store = SqlxStore::new(pool.clone(), sealed(Keyring::new(key(7, 7))))
        .await
        .unwrap();
    let mut secrets = Vec::new();
    for user in ["a", "b", "c"] {
        secrets.push(enroll(&store, user).await);
    }
    // Delete one authenticator: its secret must not linger either.
    let gone = store.load("b").await.unwrap().otp.unwrap().id;
    assert!(store.remove("b", &gone).await.unwrap());
    let (bytes, key_id) = stored(&pool, "a").await;
    assert_eq!(key_id, Some(7));
    assert_eq!(bytes.len(), secrets[0].len() + totp_engine::SEALED_OVERHEAD);
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
    }
    assert!(
        files.iter().any(|(p, _)| p.ends_with("-wal")),
        "WAL present"
    );
    for (path, content) in &files {
        for secret in &secrets {
            assert!(!contains(content, secret), "a raw secret is in {path}");
            let text = totp_engine::Secret::from_bytes(secret).unwrap().to_base32();
            assert!(
                !contains(content, text.as_bytes()),
                "a base32 secret is in {path}"
            );
        }
    }
}

#[tokio::test]
async fn a_sealed_secret_copied_to_another_row_does_not_open() {
    let dir = temp_dir("copy");
    let url = format!("sqlite://{}", dir.join("s.db").display());
    let (pool, _) = connect_pool(&url).await.unwrap();
    let store = SqlxStore::new(pool.clone(), sealed(Keyring::new(key(1, 1))))
        .await
        .unwrap();
    enroll(&store, "victim").await;
    enroll(&store, "mallory").await;
    let (victim_secret, _) = stored(&pool, "victim").await;
    sqlx::query("UPDATE otp_authenticators SET secret = $1 WHERE user_id = 'mallory'")
        .bind(victim_secret)
        .execute(&pool)
        .await
        .unwrap();
    match store.load("mallory").await {
        Err(StoreError::Sealing {
            key_id: Some(1),
            reason,
        }) => assert!(reason.contains("authenticate"), "{reason}"),
        other => panic!("a moved secret opened: {other:?}"),
    }
    assert!(store.load("victim").await.unwrap().otp.is_some());

    // After a reseal found nothing left to seal, a plain secret planted in a
    // row (one the attacker knows) is refused, not used.
    store.reseal().await.unwrap();
    sqlx::query(
        "UPDATE otp_authenticators SET secret = $1, secret_key_id = NULL WHERE user_id = 'victim'",
    )
    .bind(vec![7u8; 20])
    .execute(&pool)
    .await
    .unwrap();
    match store.load("victim").await {
        Err(StoreError::Sealing {
            key_id: None,
            reason,
        }) => {
            assert!(reason.contains("plain secret"), "{reason}");
        }
        other => panic!("a planted plain secret was used: {other:?}"),
    }
}

#[tokio::test]
async fn a_database_sealed_under_unknown_keys_is_refused_at_start() {
    let dir = temp_dir("refuse");
    let url = format!("sqlite://{}", dir.join("s.db").display());
    let (pool, _) = connect_pool(&url).await.unwrap();
    let store = SqlxStore::new(pool.clone(), sealed(Keyring::new(key(1, 1))))
        .await
        .unwrap();
    enroll(&store, "u").await;
    match SqlxStore::new(pool.clone(), StoreOptions::default()).await {
        Err(
            e @ StoreError::Sealing {
                key_id: Some(1), ..
            },
        ) => {
            assert!(e.to_string().contains("no sealing key"), "{e}");
        }
        other => panic!("started without the key: {other:?}"),
    }
    match SqlxStore::new(pool.clone(), sealed(Keyring::new(key(2, 2)))).await {
        Err(
            e @ StoreError::Sealing {
                key_id: Some(1), ..
            },
        ) => {
            assert!(e.to_string().contains("0x00000002"), "{e}");
        }
        other => panic!("started with another key: {other:?}"),
    }
    // The right key with the wrong bytes starts, but does not open.
    let wrong = SqlxStore::new(pool, sealed(Keyring::new(key(1, 9))))
        .await
        .unwrap();
    assert!(matches!(
        wrong.load("u").await,
        Err(StoreError::Sealing { .. })
    ));
}

#[tokio::test]
async fn plain_rows_are_sealed_and_old_keys_rotated_out_online() {
    let dir = temp_dir("rotate");
    let url = format!("sqlite://{}", dir.join("s.db").display());
    let (pool, _) = connect_pool(&url).await.unwrap();
    // A database from before sealing: plain secrets.
    let plain = SqlxStore::new(pool.clone(), StoreOptions::default())
        .await
        .unwrap();
    let secret_a = enroll(&plain, "a").await;
    assert_eq!(stored(&pool, "a").await, (secret_a.clone(), None));

    // First start with a key: plain rows still load, and reseal seals them.
    let k1 = SealingKey::generate(1, &mut rand::rng());
    let s1 = SqlxStore::new(pool.clone(), sealed(Keyring::new(k1.clone())))
        .await
        .unwrap();
    assert!(s1.load("a").await.unwrap().otp.is_some());
    enroll(&s1, "b").await;
    assert_eq!(
        s1.reseal().await.unwrap(),
        Resealed {
            resealed: 1,
            skipped: 0
        }
    );
    let (bytes, key_id) = stored(&pool, "a").await;
    assert_eq!(key_id, Some(1));
    assert!(!contains(&bytes, &secret_a));
    assert_eq!(s1.reseal().await.unwrap(), Resealed::default());

    // Rotation: instances get k2 as current and k1 as previous; while the
    // rotation runs, an instance still on k1 alone serves k1 rows.
    let k2 = SealingKey::generate(2, &mut rand::rng());
    let s2 = SqlxStore::new(
        pool.clone(),
        sealed(Keyring::new(k2.clone()).with_previous(k1.clone())),
    )
    .await
    .unwrap();
    enroll(&s2, "c").await; // sealed under k2 at once
    assert!(s1.load("a").await.unwrap().otp.is_some());
    assert_eq!(s2.reseal().await.unwrap().resealed, 2);
    for user in ["a", "b", "c"] {
        assert_eq!(stored(&pool, user).await.1, Some(2), "{user}");
        assert!(s2.load(user).await.unwrap().otp.is_some());
    }
    // k1 can go: a store with k2 alone starts and opens everything.
    let only_k2 = SqlxStore::new(pool, sealed(Keyring::new(k2)))
        .await
        .unwrap();
    assert!(only_k2.load("a").await.unwrap().otp.is_some());
    // The codes still verify after the rotation.
    let mfa = Mfa::new(only_k2, MfaConfig::new("ACME").unwrap());
    let totp = Totp::new(
        &totp_engine::Secret::from_bytes(&secret_a).unwrap(),
        totp_engine::TotpParams::default(),
    );
    let code = totp.generate(T + 60).unwrap();
    mfa.verify_otp("a", code.as_str(), T + 60).await.unwrap();
}
