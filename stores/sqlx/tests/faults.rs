//! A connection cut during a one-time write, through a TCP proxy in front
//! of PostgreSQL: a write that committed before the cut is re-read and
//! recognized (the success stands: the step is advanced, the recovery code
//! consumed, its replacement stored and its bucket emptied); a write cut
//! before it reached the
//! database is provably not applied and says so; nothing is guessed.

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
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use totp_engine::{
    AuthenticatorId, AuthenticatorKind, Drift, Enrolled, MfaStore, OtpAuthenticator, OtpProgress,
    RecoveryAuthenticator, RecoveryFormat, RecoveryHasher, Secret, TotpParams,
};
use totp_engine_sqlx::{SqlxStore, StoreError, StoreOptions, connect_pool};

/// Pass everything.
const PASS: u8 = 0;
/// Cut both sides on the server's answer that carries `UPDATE 1`: the
/// statement ran (and, outside a transaction, committed) but the client
/// never hears so.
const CUT_AFTER_UPDATE: u8 = 1;
/// Cut on the server's `COMMIT` answer: the transaction committed.
const CUT_AFTER_COMMIT: u8 = 2;
/// Cut on the client's next bytes that carry the test user's id (the
/// write's parameters), before they reach the database; a pool's ping on
/// acquire passes.
const CUT_BEFORE_SEND: u8 = 3;

struct Proxy {
    mode: Arc<AtomicU8>,
    url: String,
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn proxy(target: &str, needle: &str) -> Proxy {
    let needle = needle.as_bytes().to_vec();
    let (base, rest) = target.split_once("://").unwrap();
    let (auth_host, db) = rest.split_once('/').unwrap();
    let (auth, host) = auth_host.rsplit_once('@').unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap();
    let mode = Arc::new(AtomicU8::new(PASS));
    let upstream = host.to_owned();
    let m = mode.clone();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let server = TcpStream::connect(&upstream).await.unwrap();
            let mode = m.clone();
            let needle = needle.clone();
            tokio::spawn(async move {
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up_mode = mode.clone();
                let up = tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if contains(&buf[..n], &needle)
                            && up_mode.load(Ordering::SeqCst) == CUT_BEFORE_SEND
                            && up_mode
                                .compare_exchange(
                                    CUT_BEFORE_SEND,
                                    PASS,
                                    Ordering::SeqCst,
                                    Ordering::SeqCst,
                                )
                                .is_ok()
                        {
                            return; // drops both halves of this direction
                        }
                        if sw.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match sr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let chunk = &buf[..n];
                    let cut = (contains(chunk, b"UPDATE 1\0")
                        && mode
                            .compare_exchange(
                                CUT_AFTER_UPDATE,
                                PASS,
                                Ordering::SeqCst,
                                Ordering::SeqCst,
                            )
                            .is_ok())
                        || (contains(chunk, b"COMMIT\0")
                            && mode
                                .compare_exchange(
                                    CUT_AFTER_COMMIT,
                                    PASS,
                                    Ordering::SeqCst,
                                    Ordering::SeqCst,
                                )
                                .is_ok());
                    if cut || cw.write_all(chunk).await.is_err() {
                        break;
                    }
                }
                up.abort();
            });
        }
    });
    Proxy {
        mode,
        url: format!("{base}://{auth}@{local}/{db}"),
    }
}

fn fixture(user: &str) -> (OtpAuthenticator, RecoveryAuthenticator, Vec<String>) {
    let mut rng = rand::rng();
    let format = RecoveryFormat::default();
    let hasher = RecoveryHasher::new();
    let codes: Vec<String> = (0..2)
        .map(|_| format.generate(&mut rng).as_str().to_owned())
        .collect();
    let slots = codes
        .iter()
        .map(|c| Some(hasher.hash(&format.normalize(c).unwrap(), &mut rng)))
        .collect();
    let _ = user;
    (
        OtpAuthenticator {
            id: AuthenticatorId::generate(AuthenticatorKind::Otp, &mut rng),
            secret: Box::new(Secret::generate(&mut rng)),
            params: TotpParams::default(),
            progress: OtpProgress::default(),
            attempts: totp_engine::Attempts::default(),
            created_at: 1,
        },
        RecoveryAuthenticator {
            id: AuthenticatorId::generate(AuthenticatorKind::RecoveryCode, &mut rng),
            active: false,
            slots,
            attempts: totp_engine::Attempts::default(),
            created_at: 1,
        },
        codes,
    )
}

fn step(n: u64, active: bool) -> OtpProgress {
    OtpProgress {
        last_step: Some(n),
        drift: Drift::NONE,
        active,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_cut_after_it_committed_is_recognized_and_one_cut_before_is_not_applied() {
    let target = std::env::var("MFA_TEST_POSTGRES_URL")
        .expect("MFA_TEST_POSTGRES_URL is not set: run scripts/test.sh (this test does not skip)");
    let user = format!("faults-{}-{}", std::process::id(), rand::random::<u32>());
    let proxy = proxy(&target, &user).await;
    let (pool, _) = connect_pool(&proxy.url).await.unwrap();
    let options = StoreOptions::default()
        .with_table_prefix("faults_")
        .unwrap();
    let store = SqlxStore::new(pool, options).await.unwrap();
    let (otp, rec, _) = fixture(&user);
    let (otp_id, rec_id) = (otp.id.clone(), rec.id.clone());
    assert_eq!(
        store.enroll(&user, otp, Some(rec.clone())).await.unwrap(),
        Enrolled::Created {
            recovery_stored: true
        }
    );

    // Confirmation (a transaction), cut as COMMIT's answer comes back.
    proxy.mode.store(CUT_AFTER_COMMIT, Ordering::SeqCst);
    let confirmed = store
        .advance_otp(&user, &otp_id, OtpProgress::default(), step(10, true))
        .await;
    assert_eq!(proxy.mode.load(Ordering::SeqCst), PASS, "the cut happened");
    assert!(matches!(confirmed, Ok(true)), "{confirmed:?}");
    let now = store.load(&user).await.unwrap();
    assert_eq!(now.otp.unwrap().progress, step(10, true));
    assert!(now.recovery.unwrap().active, "activated in the same commit");

    // A later login (one autocommit UPDATE), cut on its answer.
    proxy.mode.store(CUT_AFTER_UPDATE, Ordering::SeqCst);
    let advanced = store
        .advance_otp(&user, &otp_id, step(10, true), step(11, true))
        .await;
    assert_eq!(proxy.mode.load(Ordering::SeqCst), PASS, "the cut happened");
    assert!(matches!(advanced, Ok(true)), "{advanced:?}");
    assert_eq!(
        store.load(&user).await.unwrap().otp.unwrap().progress,
        step(11, true)
    );

    // Cut before the write reaches the database: provably not applied.
    proxy.mode.store(CUT_BEFORE_SEND, Ordering::SeqCst);
    let lost = store
        .advance_otp(&user, &otp_id, step(11, true), step(12, true))
        .await;
    assert!(matches!(lost, Err(StoreError::NotApplied)), "{lost:?}");
    assert_eq!(
        store.load(&user).await.unwrap().otp.unwrap().progress,
        step(11, true),
        "nothing changed"
    );

    // A recovery code accepted (one UPDATE of the slots and the bucket),
    // its answer cut: consumed, replacement stored, bucket empty.
    let mut rng = rand::rng();
    let format = RecoveryFormat::default();
    let replacement = RecoveryHasher::new().hash(
        &format
            .normalize(format.generate(&mut rng).as_str())
            .unwrap(),
        &mut rng,
    );
    let charged = totp_engine::Attempts::from_parts(2, 1_700_000_000);
    let empty = totp_engine::Attempts::default();
    let recovery = |a: totp_engine::UserAuthenticators| {
        let r = a.recovery.unwrap();
        (r.slots, r.attempts)
    };
    assert!(
        store
            .update_attempts(&user, &rec_id, empty, charged)
            .await
            .unwrap()
    );
    let slots = rec.slots.clone();
    proxy.mode.store(CUT_AFTER_UPDATE, Ordering::SeqCst);
    let accepted = store
        .accept_recovery_code(&user, &rec_id, &slots, charged, 0, Some(replacement))
        .await;
    assert_eq!(proxy.mode.load(Ordering::SeqCst), PASS, "the cut happened");
    assert!(matches!(accepted, Ok(true)), "{accepted:?}");
    let mut consumed = slots.clone();
    consumed[0] = Some(replacement);
    assert_eq!(
        recovery(store.load(&user).await.unwrap()),
        (consumed.clone(), empty)
    );

    // One cut before it is sent (there is no read before it): provably not
    // applied, the code still there and the bucket as it was.
    assert!(
        store
            .update_attempts(&user, &rec_id, empty, charged)
            .await
            .unwrap()
    );
    proxy.mode.store(CUT_BEFORE_SEND, Ordering::SeqCst);
    let lost = store
        .accept_recovery_code(&user, &rec_id, &consumed, charged, 1, None)
        .await;
    assert!(matches!(lost, Err(StoreError::NotApplied)), "{lost:?}");
    assert_eq!(
        recovery(store.load(&user).await.unwrap()),
        (consumed.clone(), charged),
        "nothing changed"
    );

    // The same write cut on its answer (set policy: no replacement, so only
    // the nonce tells): applied.
    proxy.mode.store(CUT_AFTER_UPDATE, Ordering::SeqCst);
    let accepted = store
        .accept_recovery_code(&user, &rec_id, &consumed, charged, 1, None)
        .await;
    assert_eq!(proxy.mode.load(Ordering::SeqCst), PASS, "the cut happened");
    assert!(matches!(accepted, Ok(true)), "{accepted:?}");
    let mut used = consumed.clone();
    used[1] = None;
    assert_eq!(recovery(store.load(&user).await.unwrap()), (used, empty));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_code_write_cut_after_commit_is_recognized_and_one_cut_before_changes_nothing()
{
    let target = std::env::var("MFA_TEST_POSTGRES_URL")
        .expect("MFA_TEST_POSTGRES_URL is not set: run scripts/test.sh (this test does not skip)");
    let user = format!(
        "faults-accept-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    );
    let proxy = proxy(&target, &user).await;
    let (pool, _) = connect_pool(&proxy.url).await.unwrap();
    let options = StoreOptions::default()
        .with_table_prefix("faults_")
        .unwrap();
    let store = SqlxStore::new(pool, options).await.unwrap();
    let (otp, rec, _) = fixture(&user);
    let otp_id = otp.id.clone();
    store.enroll(&user, otp, Some(rec)).await.unwrap();
    let charged = totp_engine::Attempts::from_parts(1, 1_700_000_000);
    let empty = totp_engine::Attempts::default();
    let state = |a: totp_engine::UserAuthenticators| {
        let otp = a.otp.unwrap();
        (otp.progress, otp.attempts, a.recovery.unwrap().active)
    };

    // Confirmation (a transaction) from a charged bucket, cut as COMMIT's
    // answer comes back: applied, the bucket empty, recovery active.
    assert!(
        store
            .update_attempts(&user, &otp_id, empty, charged)
            .await
            .unwrap()
    );
    proxy.mode.store(CUT_AFTER_COMMIT, Ordering::SeqCst);
    let confirmed = store
        .accept_otp(
            &user,
            &otp_id,
            OtpProgress::default(),
            charged,
            step(10, true),
        )
        .await;
    assert_eq!(proxy.mode.load(Ordering::SeqCst), PASS, "the cut happened");
    assert!(matches!(confirmed, Ok(true)), "{confirmed:?}");
    assert_eq!(
        state(store.load(&user).await.unwrap()),
        (step(10, true), empty, true)
    );

    // A later login (one autocommit UPDATE), cut on its answer.
    assert!(
        store
            .update_attempts(&user, &otp_id, empty, charged)
            .await
            .unwrap()
    );
    proxy.mode.store(CUT_AFTER_UPDATE, Ordering::SeqCst);
    let accepted = store
        .accept_otp(&user, &otp_id, step(10, true), charged, step(11, true))
        .await;
    assert_eq!(proxy.mode.load(Ordering::SeqCst), PASS, "the cut happened");
    assert!(matches!(accepted, Ok(true)), "{accepted:?}");
    assert_eq!(
        state(store.load(&user).await.unwrap()),
        (step(11, true), empty, true)
    );

    // Cut before the write reaches the database: provably not applied, and
    // neither the step nor the bucket moved.
    assert!(
        store
            .update_attempts(&user, &otp_id, empty, charged)
            .await
            .unwrap()
    );
    proxy.mode.store(CUT_BEFORE_SEND, Ordering::SeqCst);
    let lost = store
        .accept_otp(&user, &otp_id, step(11, true), charged, step(12, true))
        .await;
    assert!(matches!(lost, Err(StoreError::NotApplied)), "{lost:?}");
    assert_eq!(
        state(store.load(&user).await.unwrap()),
        (step(11, true), charged, true),
        "nothing changed"
    );
}
