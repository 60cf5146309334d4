//! The MFA flow of the seed guide against the in-memory store with an
//! injected clock: every step and every error, throttling, drift,
//! concurrency, the conformance kit (and the broken stores it must reject:
//! racy, split writes of an accepted OTP or recovery code, a recovery
//! accept that ignores the bucket, u64 saturated at i64::MAX, `NULL = NULL`, a torn
//! `load`, a removal that takes the recovery codes; these
//! tests need feature `conformance`, which `scripts/test.sh` enables),
//! and property tests over random sequences of operations.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects
)]

use std::collections::HashSet;
use std::sync::Arc;

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use totp_engine::{
    AuthenticatorKind, DriftTracking, MemoryStore, Mfa, MfaConfig, MfaError, MfaStore,
    ParsedKeyUri, RecoveryFormat, RecoveryPolicy, ThrottlePolicy, Totp, TotpParams,
};

const T0: u64 = 1_700_000_000;
type Flow = Mfa<Arc<MemoryStore>>;

fn flow(config: MfaConfig) -> Flow {
    Mfa::new(Arc::new(MemoryStore::new()), config)
}

fn config() -> MfaConfig {
    MfaConfig::new("ACME").unwrap()
}

/// The user's authenticator app: built from the barcode URI, as a real app is.
fn app(barcode_uri: &str) -> Totp {
    let uri = ParsedKeyUri::parse(barcode_uri).unwrap();
    Totp::new(uri.secret(), uri.totp_params())
}

fn code_at(app: &Totp, t: u64) -> String {
    app.generate(t).unwrap().as_str().to_owned()
}

fn wire<E>(e: &MfaError<E>) -> (&'static str, &'static str) {
    (e.error_code(), e.error_description())
}

#[tokio::test]
async fn seed_guide_end_to_end() {
    let mfa = flow(config());
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let user = "auth0|jane";

    // Before enrollment.
    let err = mfa.challenge(user, Some("otp"), None).await.unwrap_err();
    assert_eq!(err.error_code(), "association_required");
    let err = mfa.verify_otp(user, "123456", T0).await.unwrap_err();
    assert_eq!(
        wire(&err),
        (
            "unsupported_challenge_type",
            "User is not enrolled. You can use /mfa/associate endpoint to enroll the first authenticator."
        )
    );
    assert!(!mfa.is_enrolled(user).await.unwrap());

    // POST /mfa/associate
    let a = mfa
        .associate(user, "jane@example.com", &mut rng, T0)
        .await
        .unwrap();
    assert!(
        a.barcode_uri
            .starts_with("otpauth://totp/ACME:jane%40example.com?secret=")
    );
    assert!(
        a.barcode_uri
            .ends_with("&issuer=ACME&algorithm=SHA1&digits=6&period=30")
    );
    assert_eq!(a.secret.len(), 32);
    assert!(a.barcode_uri.contains(a.secret.as_str()));
    assert_eq!(a.recovery_codes.len(), 1);
    let recovery = a.recovery_codes[0].as_str().to_owned();
    assert_eq!(recovery.len(), 24);
    assert!(!format!("{a:?}").contains(a.secret.as_str()));

    // GET /mfa/authenticators: both pending.
    let list = mfa.list_authenticators(user).await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].kind, AuthenticatorKind::RecoveryCode);
    assert_eq!(list[1].kind, AuthenticatorKind::Otp);
    assert!(list.iter().all(|x| !x.active));
    let otp_id = list[1].id.clone();
    let rec_id = list[0].id.clone();
    for (id, prefix) in [(&otp_id, "totp|dev_"), (&rec_id, "recovery-code|dev_")] {
        let rest = id.as_str().strip_prefix(prefix).unwrap();
        assert_eq!(rest.len(), 16);
        assert!(rest.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
    assert_eq!(otp_id, a.authenticator_id);
    // Pending: challenge still asks for association; recovery codes are not usable yet.
    assert_eq!(
        mfa.challenge(user, None, None)
            .await
            .unwrap_err()
            .error_code(),
        "association_required"
    );
    let err = mfa
        .verify_recovery_code(user, &recovery, &mut rng, T0)
        .await
        .unwrap_err();
    assert_eq!(
        wire(&err),
        (
            "unsupported_challenge_type",
            "User does not have a recovery-code."
        )
    );

    // Confirm with the mfa-otp grant.
    let phone = app(&a.barcode_uri);
    let ok = mfa
        .verify_otp(user, &code_at(&phone, T0), T0)
        .await
        .unwrap();
    assert!(ok.confirmed_enrollment);
    assert_eq!(ok.authenticator_id, otp_id);
    let list = mfa.list_authenticators(user).await.unwrap();
    assert!(list.iter().all(|x| x.active), "{list:?}");
    assert!(mfa.is_enrolled(user).await.unwrap());

    // Associating again is refused, and changes nothing.
    let err = mfa
        .associate(user, "jane@example.com", &mut rng, T0)
        .await
        .unwrap_err();
    assert_eq!(wire(&err), ("access_denied", "User is already enrolled."));
    assert_eq!(mfa.list_authenticators(user).await.unwrap(), list);

    // Later login: POST /mfa/challenge, then the mfa-otp grant.
    let t1 = T0 + 3600;
    assert_eq!(
        mfa.challenge(user, Some("otp"), Some(otp_id.as_str()))
            .await
            .unwrap()
            .as_str(),
        "otp"
    );
    assert_eq!(
        mfa.challenge(user, Some("oob otp"), None)
            .await
            .unwrap()
            .as_str(),
        "otp"
    );
    assert_eq!(
        mfa.challenge(user, None, None).await.unwrap().as_str(),
        "otp"
    );
    assert_eq!(
        mfa.challenge(user, Some("oob"), None)
            .await
            .unwrap_err()
            .error_code(),
        "unsupported_challenge_type"
    );
    assert_eq!(
        mfa.challenge(user, Some("otp"), Some(rec_id.as_str()))
            .await
            .unwrap_err()
            .error_code(),
        "unsupported_challenge_type"
    );
    assert_eq!(
        mfa.challenge(user, Some("otp"), Some("totp|dev_AAAAAAAAAAAAAAAA"))
            .await
            .unwrap_err()
            .error_code(),
        "invalid_request"
    );
    let code = code_at(&phone, t1);
    let ok = mfa.verify_otp(user, &code, t1).await.unwrap();
    assert!(!ok.confirmed_enrollment);
    // Replayed, wrong, malformed: all the same answer.
    for bad in [code.as_str(), "000000", "12345", "abcdef", ""] {
        if bad == "000000" && code_at(&phone, t1 - 30) == bad {
            continue;
        }
        let err = mfa.verify_otp(user, bad, t1).await.unwrap_err();
        assert_eq!(
            wire(&err),
            ("invalid_grant", "Invalid otp_code."),
            "{bad:?}"
        );
    }
    // The next step's code is fine.
    assert!(
        mfa.verify_otp(user, &code_at(&phone, t1 + 30), t1 + 30)
            .await
            .is_ok()
    );

    // Lost device: the recovery code works once and is replaced.
    let used = mfa
        .verify_recovery_code(user, &recovery.to_lowercase(), &mut rng, t1)
        .await
        .unwrap();
    let new_code = used.new_code.unwrap().as_str().to_owned();
    assert_ne!(new_code, recovery);
    assert_eq!(used.authenticator_id, rec_id);
    let err = mfa
        .verify_recovery_code(user, &recovery, &mut rng, t1)
        .await
        .unwrap_err();
    assert_eq!(wire(&err), ("invalid_grant", "Invalid recovery_code."));
    assert!(
        mfa.verify_recovery_code(user, &new_code, &mut rng, t1)
            .await
            .is_ok()
    );

    // Remove the old device and enroll a new one: no new recovery codes.
    mfa.remove_authenticator(user, otp_id.as_str())
        .await
        .unwrap();
    let err = mfa
        .remove_authenticator(user, otp_id.as_str())
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), "not_found");
    assert_eq!(
        mfa.remove_authenticator(user, "nonsense")
            .await
            .unwrap_err()
            .error_code(),
        "not_found"
    );
    let again = mfa
        .associate(user, "jane@example.com", &mut rng, t1)
        .await
        .unwrap();
    assert!(again.recovery_codes.is_empty());
    assert_ne!(again.authenticator_id, otp_id);
    let phone2 = app(&again.barcode_uri);
    assert!(
        mfa.verify_otp(user, &code_at(&phone2, t1 + 60), t1 + 60)
            .await
            .unwrap()
            .confirmed_enrollment
    );
    // The old device's codes no longer work.
    assert!(
        mfa.verify_otp(user, &code_at(&phone, t1 + 90), t1 + 90)
            .await
            .is_err()
            || code_at(&phone, t1 + 90) == code_at(&phone2, t1 + 90)
    );
}

#[tokio::test]
async fn pending_enrollment_can_be_replaced_with_fresh_recovery_codes() {
    let mfa = flow(config());
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let first = mfa.associate("u", "u", &mut rng, T0).await.unwrap();
    let second = mfa.associate("u", "u", &mut rng, T0).await.unwrap();
    assert_ne!(first.secret.as_str(), second.secret.as_str());
    assert_eq!(
        second.recovery_codes.len(),
        1,
        "unconfirmed codes are reissued"
    );
    // The replaced enrollment's codes are refused; the new one confirms.
    let old = app(&first.barcode_uri);
    let new = app(&second.barcode_uri);
    if code_at(&old, T0) != code_at(&new, T0) {
        assert!(mfa.verify_otp("u", &code_at(&old, T0), T0).await.is_err());
    }
    assert!(mfa.verify_otp("u", &code_at(&new, T0), T0).await.is_ok());
}

#[tokio::test]
async fn throttling_locks_before_checking_and_refills() {
    let mfa = flow(config());
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let a = mfa.associate("u", "u", &mut rng, T0).await.unwrap();
    let phone = app(&a.barcode_uri);
    let wrong = |t: u64| {
        let c = code_at(&phone, t);
        let w = (c.parse::<u32>().unwrap() + 500_000) % 1_000_000;
        format!("{w:06}")
    };
    for i in 0..10 {
        let err = mfa.verify_otp("u", &wrong(T0), T0 + i).await.unwrap_err();
        assert_eq!(err.error_code(), "invalid_grant");
    }
    // Locked: even the right code is refused, before it is checked.
    let err = mfa
        .verify_otp("u", &code_at(&phone, T0 + 10), T0 + 10)
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), "too_many_attempts");
    let MfaError::TooManyAttempts(locked) = err else {
        unreachable!()
    };
    assert_eq!(locked.retry_after(), 350);
    // Malformed input while locked changes nothing and says invalid_grant.
    assert_eq!(
        mfa.verify_otp("u", "abc", T0 + 10)
            .await
            .unwrap_err()
            .error_code(),
        "invalid_grant"
    );
    // One attempt refills after 6 minutes; a wrong one uses it up again.
    let t = T0 + 360;
    assert_eq!(
        mfa.verify_otp("u", &wrong(t), t)
            .await
            .unwrap_err()
            .error_code(),
        "invalid_grant"
    );
    assert_eq!(
        mfa.verify_otp("u", &code_at(&phone, t), t)
            .await
            .unwrap_err()
            .error_code(),
        "too_many_attempts"
    );
    // After another refill the right code succeeds and resets the bucket.
    let t = T0 + 720;
    assert!(mfa.verify_otp("u", &code_at(&phone, t), t).await.is_ok());
    for i in 0..9 {
        assert_eq!(
            mfa.verify_otp("u", &wrong(t), t + i)
                .await
                .unwrap_err()
                .error_code(),
            "invalid_grant"
        );
    }
    assert!(
        mfa.verify_otp("u", &code_at(&phone, t + 30), t + 30)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn recovery_codes_are_throttled_too() {
    let mfa = flow(config());
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let a = mfa.associate("u", "u", &mut rng, T0).await.unwrap();
    mfa.verify_otp("u", &code_at(&app(&a.barcode_uri), T0), T0)
        .await
        .unwrap();
    let real = a.recovery_codes[0].as_str().to_owned();
    for _ in 0..10 {
        let err = mfa
            .verify_recovery_code("u", "ABCDEFGHIJKLMNOPQRSTUVWX", &mut rng, T0)
            .await
            .unwrap_err();
        assert_eq!(err.error_code(), "invalid_grant");
    }
    let err = mfa
        .verify_recovery_code("u", &real, &mut rng, T0)
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), "too_many_attempts");
    assert!(
        mfa.verify_recovery_code("u", &real, &mut rng, T0 + 360)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn drift_tracking_follows_a_fast_clock() {
    let params = TotpParams::default();
    for tracking in [DriftTracking::Off, DriftTracking::On] {
        let mfa = flow(config().with_totp(params).with_drift_tracking(tracking));
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let a = mfa.associate("u", "u", &mut rng, T0).await.unwrap();
        let phone = app(&a.barcode_uri);
        // The phone runs one step fast: accepted at offset +1.
        assert!(
            mfa.verify_otp("u", &code_at(&phone, T0 + 30), T0)
                .await
                .is_ok()
        );
        // Then it drifts to two steps fast.
        let now = T0 + 300;
        let result = mfa.verify_otp("u", &code_at(&phone, now + 60), now).await;
        match tracking {
            DriftTracking::Off => assert!(result.is_err()),
            _ => assert!(result.is_ok(), "the window follows the remembered drift"),
        }
    }
}

#[tokio::test]
async fn set_policy_issues_n_codes_each_usable_once() {
    let format = RecoveryFormat::default();
    let mfa = flow(config().with_recovery(format, RecoveryPolicy::Set { count: 5 }));
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let a = mfa.associate("u", "u", &mut rng, T0).await.unwrap();
    assert_eq!(a.recovery_codes.len(), 5);
    mfa.verify_otp("u", &code_at(&app(&a.barcode_uri), T0), T0)
        .await
        .unwrap();
    for (i, code) in a.recovery_codes.iter().enumerate() {
        let ok = mfa
            .verify_recovery_code("u", code.as_str(), &mut rng, T0)
            .await
            .unwrap();
        assert!(ok.new_code.is_none());
        assert_eq!(ok.remaining, 4 - i);
        assert!(
            mfa.verify_recovery_code("u", code.as_str(), &mut rng, T0)
                .await
                .is_err()
        );
    }
    let fresh = mfa.regenerate_recovery_codes("u", &mut rng).await.unwrap();
    assert_eq!(fresh.len(), 5);
    assert!(
        mfa.verify_recovery_code("u", fresh[3].as_str(), &mut rng, T0)
            .await
            .is_ok()
    );
    assert!(
        mfa.verify_recovery_code("u", a.recovery_codes[0].as_str(), &mut rng, T0)
            .await
            .is_err()
    );
    assert_eq!(
        mfa.regenerate_recovery_codes("nobody", &mut rng)
            .await
            .unwrap_err()
            .error_code(),
        "unsupported_challenge_type"
    );
}

#[tokio::test]
async fn stored_state_holds_hashes_never_codes() {
    let store = Arc::new(MemoryStore::new());
    let mfa = Mfa::new(store.clone(), config());
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let a = mfa.associate("u", "u", &mut rng, T0).await.unwrap();
    let code = a.recovery_codes[0].as_str().to_owned();
    let loaded = store.load("u").await.unwrap();
    let dump = format!("{loaded:?}");
    assert!(!dump.contains(&code));
    assert!(!dump.contains(a.secret.as_str()));
    let slots = loaded.recovery.unwrap().slots;
    for slot in slots.iter().flatten() {
        assert!(!slot.to_bytes().windows(24).any(|w| w == code.as_bytes()));
    }
}

#[test]
fn config_refuses_an_issuer_that_breaks_the_uri() {
    assert!(MfaConfig::new("ACME: Inc").is_err());
    assert!(MfaConfig::new("").is_err());
}

#[tokio::test]
async fn account_labels_that_break_the_uri_are_refused_without_storing() {
    let mfa = flow(config());
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let err = mfa.associate("u", "a:b", &mut rng, T0).await.unwrap_err();
    assert_eq!(err.error_code(), "invalid_request");
    assert!(mfa.list_authenticators("u").await.unwrap().is_empty());
}

async fn race<F, Fut>(n: usize, make: F) -> usize
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (barrier, fut) = (barrier.clone(), make());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    wins
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_uses_of_one_code_give_one_success() {
    let throttle = ThrottlePolicy::new(10_000, 1).unwrap();
    let mfa = Arc::new(flow(config().with_throttle(throttle)));
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let a = mfa.associate("u", "u", &mut rng, T0).await.unwrap();
    let phone = app(&a.barcode_uri);
    let recovery = a.recovery_codes[0].as_str().to_owned();
    // Confirmation itself, raced.
    let code = code_at(&phone, T0);
    let wins = race(64, || {
        let (mfa, code) = (mfa.clone(), code.clone());
        async move { mfa.verify_otp("u", &code, T0).await.is_ok() }
    })
    .await;
    assert_eq!(wins, 1);
    // A later code, raced.
    let code = code_at(&phone, T0 + 30);
    let wins = race(64, || {
        let (mfa, code) = (mfa.clone(), code.clone());
        async move { mfa.verify_otp("u", &code, T0 + 30).await.is_ok() }
    })
    .await;
    assert_eq!(wins, 1);
    // One recovery code, raced.
    let prepared: std::sync::Mutex<Vec<_>> =
        std::sync::Mutex::new((0..64).map(|_| mfa.prepare_recovery(&mut rng)).collect());
    let wins = race(64, || {
        let (mfa, code) = (mfa.clone(), recovery.clone());
        let p = prepared.lock().unwrap().pop().unwrap();
        async move {
            mfa.verify_recovery_code_prepared("u", &code, p, T0)
                .await
                .is_ok()
        }
    })
    .await;
    assert_eq!(wins, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_codes_lose_no_increment_and_never_exceed_the_bucket() {
    // Big bucket: every one of 64 concurrent failures is counted.
    let big = ThrottlePolicy::new(1000, 3600).unwrap();
    let store = Arc::new(MemoryStore::new());
    let mfa = Arc::new(Mfa::new(store.clone(), config().with_throttle(big)));
    let mut rng = ChaCha20Rng::seed_from_u64(10);
    let a = mfa.associate("u", "u", &mut rng, T0).await.unwrap();
    let phone = app(&a.barcode_uri);
    mfa.verify_otp("u", &code_at(&phone, T0), T0).await.unwrap();
    let wrong = format!(
        "{:06}",
        (code_at(&phone, T0 + 30).parse::<u32>().unwrap() + 1) % 1_000_000
    );
    // Each request is answered invalid_grant (checked, and charged), or,
    // having lost the compare-and-set MAX_RETRIES times to the others,
    // `Contention` (nothing learned about the code, nothing charged).
    let contended = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let refused = race(64, || {
        let (mfa, wrong, contended) = (mfa.clone(), wrong.clone(), contended.clone());
        async move {
            match mfa.verify_otp("u", &wrong, T0 + 30).await {
                Err(e) if e.error_code() == "invalid_grant" => true,
                Err(MfaError::Contention) => {
                    contended.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    false
                }
                other => panic!("a wrong code was answered {other:?}"),
            }
        }
    })
    .await;
    let contended = contended.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(refused + contended, 64);
    assert!(refused >= 32, "{contended} of 64 lost every retry");
    let used = store.load("u").await.unwrap().otp.unwrap().attempts.used();
    assert_eq!(
        used,
        u32::try_from(refused).unwrap(),
        "every failure answered is counted, once"
    );

    // Auth0's bucket of 10: of 64 concurrent guesses, exactly 10 are checked.
    let mfa = Arc::new(flow(config()));
    let a = mfa.associate("v", "v", &mut rng, T0).await.unwrap();
    let phone = app(&a.barcode_uri);
    mfa.verify_otp("v", &code_at(&phone, T0), T0).await.unwrap();
    let wrong = format!(
        "{:06}",
        (code_at(&phone, T0 + 30).parse::<u32>().unwrap() + 1) % 1_000_000
    );
    let checked = race(64, || {
        let (mfa, wrong) = (mfa.clone(), wrong.clone());
        async move {
            mfa.verify_otp("v", &wrong, T0 + 30)
                .await
                .unwrap_err()
                .error_code()
                == "invalid_grant"
        }
    })
    .await;
    assert_eq!(
        checked, 10,
        "concurrent guesses beyond the bucket were checked"
    );
}

#[cfg(feature = "conformance")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_passes_the_conformance_kit() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    totp_engine::conformance::run_all(Arc::new(MemoryStore::new()), &mut rng)
        .await
        .unwrap();
}

/// How a [`TestStore`] breaks the store contract, each the way a store
/// written without the contract's rules would; the kit must catch each.
#[cfg_attr(not(feature = "conformance"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Break {
    /// Its compare-and-sets read, yield, then write: the bug the kit
    /// exists to catch.
    ReadThenWrite,
    /// An accepted code's write split in two: the step advance and the
    /// bucket's reset as separate compare-and-sets (`reset_first`: the
    /// bucket's first), the three-write flow this crate used to run.
    SplitAccept { reset_first: bool },
    /// An accepted recovery code's write broken as [`RecoveryFault`] says.
    Recovery(RecoveryFault),
    /// One of the contract's other rules broken, as [`Fault`] says.
    Contract(Fault),
}

/// How [`Break::Recovery`] breaks the one-write rule of an accepted
/// recovery code.
#[cfg_attr(not(feature = "conformance"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RecoveryFault {
    /// Consumes the slot (a compare-and-set of the slots alone), then resets
    /// the bucket in a second compare-and-set: the old three-write flow.
    ConsumeThenReset,
    /// The same two writes, the bucket's reset first.
    ResetThenConsume,
    /// One write, conditioned on the slots but not on the bucket (it empties
    /// whatever the bucket holds now).
    IgnoresBucket,
}

/// How [`Break::Contract`] breaks the contract, each the way a SQL store
/// written without the contract's rules would.
#[cfg_attr(not(feature = "conformance"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Binds every u64 as `i64::try_from(v).unwrap_or(i64::MAX)`, reads it
    /// back as a u64: values above `i64::MAX` come back as `i64::MAX`.
    SaturatesAtI64Max,
    /// Compares a nullable `last_step` with `=`: `NULL = NULL` is not true,
    /// so no compare-and-set expecting "never used" matches.
    NullIsNeverEqual,
    /// Loads in two queries: the OTP bucket first, the rest after, so a
    /// write landing in between gives a snapshot of no single instant.
    TornLoad,
    /// Removing the OTP authenticator removes the recovery codes too
    /// (`ON DELETE CASCADE` from one table to the other).
    RemoveCascades,
    /// `load_otp` reads the OTP authenticator from a copy that the throttle's
    /// writes do not reach (a cache of the OTP row without the bucket).
    LoadOtpMissesTheBucket,
}

/// The memory store behind every store of these tests: it logs the name of
/// every call it gets; with `yields`, every call first yields to the
/// runtime, so that concurrent requests interleave between a load and the
/// write after it (each call stays one atomic step of the memory store);
/// with `fault`, it breaks the contract that way.
#[derive(Default)]
struct TestStore {
    inner: MemoryStore,
    calls: std::sync::Mutex<Vec<&'static str>>,
    yields: bool,
    fault: Option<Break>,
}

#[cfg_attr(not(feature = "conformance"), allow(dead_code))]
impl TestStore {
    /// The memory store broken as `fault` says.
    fn broken(fault: Break) -> Self {
        Self {
            fault: Some(fault),
            ..Self::default()
        }
    }
    async fn log(&self, call: &'static str) {
        self.calls.lock().unwrap().push(call);
        if self.yields {
            tokio::task::yield_now().await;
        }
    }
    fn take(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
    /// Whether the store breaks the contract as `fault` says.
    fn is(&self, fault: Fault) -> bool {
        self.fault == Some(Break::Contract(fault))
    }
    /// A u64 as the store stores it (saturated by [`Fault::SaturatesAtI64Max`]).
    fn int(&self, v: u64) -> u64 {
        if self.is(Fault::SaturatesAtI64Max) {
            v.min(i64::MAX.cast_unsigned())
        } else {
            v
        }
    }
    fn progress(&self, p: totp_engine::OtpProgress) -> totp_engine::OtpProgress {
        totp_engine::OtpProgress {
            last_step: p.last_step.map(|s| self.int(s)),
            ..p
        }
    }
    fn attempts(&self, a: totp_engine::Attempts) -> totp_engine::Attempts {
        totp_engine::Attempts::from_parts(a.used(), self.int(a.since()))
    }
    /// Whether a compare-and-set expecting `expected` can match at all.
    fn can_match(&self, expected: totp_engine::OtpProgress) -> bool {
        !self.is(Fault::NullIsNeverEqual) || expected.last_step.is_some()
    }
    /// The recovery bucket as it is now.
    async fn bucket(&self, user: &str) -> totp_engine::Attempts {
        let loaded = self.inner.load(user).await.unwrap();
        loaded.recovery.map(|r| r.attempts).unwrap_or_default()
    }
    /// A write of the slots alone, conditioned on the slots alone: the
    /// memory store's accept against the bucket as it is now, then that
    /// bucket put back.
    async fn consume_only(
        &self,
        user: &str,
        id: &totp_engine::AuthenticatorId,
        expected_slots: &[Option<totp_engine::RecoveryHash>],
        slot: usize,
        replacement: Option<totp_engine::RecoveryHash>,
    ) -> bool {
        let bucket = self.bucket(user).await;
        let consumed = self
            .inner
            .accept_recovery_code(user, id, expected_slots, bucket, slot, replacement)
            .await
            .unwrap();
        if consumed && bucket != totp_engine::Attempts::default() {
            let restored = self
                .inner
                .update_attempts(user, id, totp_engine::Attempts::default(), bucket)
                .await
                .unwrap();
            assert!(restored);
        }
        consumed
    }
    /// What the row holds now, read after a pause ([`Break::ReadThenWrite`]:
    /// the read of a read-then-write, and the value the write then
    /// overwrites), or `None` if it no longer matches `expected`.
    async fn read_then_pause<T: PartialEq>(
        &self,
        user: &str,
        read: impl Fn(totp_engine::UserAuthenticators) -> Option<T>,
        expected: &T,
    ) -> Option<T> {
        let current = read(self.inner.load(user).await.unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        if current.as_ref() != Some(expected) {
            return None;
        }
        read(self.inner.load(user).await.unwrap())
    }
}

impl MfaStore for TestStore {
    type Error = std::convert::Infallible;
    async fn load(&self, user: &str) -> Result<totp_engine::UserAuthenticators, Self::Error> {
        self.log("load").await;
        if !self.is(Fault::TornLoad) {
            return self.inner.load(user).await;
        }
        let bucket = self.inner.load(user).await?.otp.map(|o| o.attempts);
        tokio::task::yield_now().await;
        let mut rest = self.inner.load(user).await?;
        if let (Some(otp), Some(bucket)) = (rest.otp.as_mut(), bucket) {
            otp.attempts = bucket;
        }
        Ok(rest)
    }
    async fn load_otp(
        &self,
        user: &str,
    ) -> Result<Option<totp_engine::OtpAuthenticator>, Self::Error> {
        let mut otp = self.load(user).await?.otp;
        if let Some(otp) = otp.as_mut()
            && self.is(Fault::LoadOtpMissesTheBucket)
        {
            otp.attempts = totp_engine::Attempts::default();
        }
        Ok(otp)
    }
    async fn enroll(
        &self,
        user: &str,
        mut otp: totp_engine::OtpAuthenticator,
        recovery: Option<totp_engine::RecoveryAuthenticator>,
    ) -> Result<totp_engine::Enrolled, Self::Error> {
        self.log("enroll").await;
        otp.params = otp.params.with_t0(self.int(otp.params.t0()));
        otp.created_at = self.int(otp.created_at);
        otp.attempts = self.attempts(otp.attempts);
        otp.progress = self.progress(otp.progress);
        let recovery = recovery.map(|mut r| {
            r.created_at = self.int(r.created_at);
            r.attempts = self.attempts(r.attempts);
            r
        });
        self.inner.enroll(user, otp, recovery).await
    }
    async fn advance_otp(
        &self,
        user: &str,
        id: &totp_engine::AuthenticatorId,
        expected: totp_engine::OtpProgress,
        next: totp_engine::OtpProgress,
    ) -> Result<bool, Self::Error> {
        self.log("advance_otp").await;
        if matches!(self.fault, Some(Break::ReadThenWrite)) {
            let read = |a: totp_engine::UserAuthenticators| a.otp.map(|o| o.progress);
            let Some(now) = self.read_then_pause(user, read, &expected).await else {
                return Ok(false);
            };
            // Read-then-write: overwrite whatever is there now.
            return self.inner.advance_otp(user, id, now, next).await;
        }
        if !self.can_match(expected) {
            return Ok(false);
        }
        let (expected, next) = (self.progress(expected), self.progress(next));
        self.inner.advance_otp(user, id, expected, next).await
    }
    async fn accept_otp(
        &self,
        user: &str,
        id: &totp_engine::AuthenticatorId,
        expected: totp_engine::OtpProgress,
        expected_attempts: totp_engine::Attempts,
        next: totp_engine::OtpProgress,
    ) -> Result<bool, Self::Error> {
        self.log("accept_otp").await;
        let empty = totp_engine::Attempts::default();
        match self.fault {
            Some(Break::ReadThenWrite) => {
                let read =
                    |a: totp_engine::UserAuthenticators| a.otp.map(|o| (o.progress, o.attempts));
                let seen = (expected, expected_attempts);
                let Some((now, attempts)) = self.read_then_pause(user, read, &seen).await else {
                    return Ok(false);
                };
                // Read-then-write: overwrite whatever is there now.
                self.inner.accept_otp(user, id, now, attempts, next).await
            }
            Some(Break::SplitAccept { reset_first: true }) => {
                let reset = self
                    .inner
                    .update_attempts(user, id, expected_attempts, empty)
                    .await?;
                Ok(reset && self.inner.advance_otp(user, id, expected, next).await?)
            }
            Some(Break::SplitAccept { reset_first: false }) => {
                let advanced = self.inner.advance_otp(user, id, expected, next).await?;
                Ok(advanced
                    && self
                        .inner
                        .update_attempts(user, id, expected_attempts, empty)
                        .await?)
            }
            _ => {
                if !self.can_match(expected) {
                    return Ok(false);
                }
                let (expected, next) = (self.progress(expected), self.progress(next));
                let expected_attempts = self.attempts(expected_attempts);
                self.inner
                    .accept_otp(user, id, expected, expected_attempts, next)
                    .await
            }
        }
    }
    async fn accept_recovery_code(
        &self,
        user: &str,
        id: &totp_engine::AuthenticatorId,
        expected_slots: &[Option<totp_engine::RecoveryHash>],
        expected_attempts: totp_engine::Attempts,
        slot: usize,
        replacement: Option<totp_engine::RecoveryHash>,
    ) -> Result<bool, Self::Error> {
        self.log("accept_recovery_code").await;
        let empty = totp_engine::Attempts::default();
        Ok(match self.fault {
            Some(Break::ReadThenWrite) => {
                let read =
                    |a: totp_engine::UserAuthenticators| a.recovery.map(|r| (r.slots, r.attempts));
                let seen = (expected_slots.to_vec(), expected_attempts);
                let Some((now, attempts)) = self.read_then_pause(user, read, &seen).await else {
                    return Ok(false);
                };
                // Read-then-write: overwrite whatever is there now.
                self.inner
                    .accept_recovery_code(user, id, &now, attempts, slot, replacement)
                    .await?
            }
            Some(Break::Recovery(RecoveryFault::ConsumeThenReset)) => {
                self.consume_only(user, id, expected_slots, slot, replacement)
                    .await
                    && self
                        .inner
                        .update_attempts(user, id, expected_attempts, empty)
                        .await?
            }
            Some(Break::Recovery(RecoveryFault::ResetThenConsume)) => {
                self.inner
                    .update_attempts(user, id, expected_attempts, empty)
                    .await?
                    && self
                        .consume_only(user, id, expected_slots, slot, replacement)
                        .await
            }
            Some(Break::Recovery(RecoveryFault::IgnoresBucket)) => {
                let bucket = self.bucket(user).await;
                self.inner
                    .accept_recovery_code(user, id, expected_slots, bucket, slot, replacement)
                    .await?
            }
            _ => {
                self.inner
                    .accept_recovery_code(
                        user,
                        id,
                        expected_slots,
                        expected_attempts,
                        slot,
                        replacement,
                    )
                    .await?
            }
        })
    }
    async fn replace_recovery_codes(
        &self,
        user: &str,
        id: &totp_engine::AuthenticatorId,
        slots: Vec<Option<totp_engine::RecoveryHash>>,
    ) -> Result<bool, Self::Error> {
        self.log("replace_recovery_codes").await;
        self.inner.replace_recovery_codes(user, id, slots).await
    }
    async fn update_attempts(
        &self,
        user: &str,
        id: &totp_engine::AuthenticatorId,
        expected: totp_engine::Attempts,
        next: totp_engine::Attempts,
    ) -> Result<bool, Self::Error> {
        self.log("update_attempts").await;
        let (expected, next) = (self.attempts(expected), self.attempts(next));
        self.inner.update_attempts(user, id, expected, next).await
    }
    async fn remove(
        &self,
        user: &str,
        id: &totp_engine::AuthenticatorId,
    ) -> Result<bool, Self::Error> {
        self.log("remove").await;
        let recovery = self.inner.load(user).await?.recovery.map(|r| r.id);
        let removed = self.inner.remove(user, id).await?;
        if removed
            && self.is(Fault::RemoveCascades)
            && id.kind() == AuthenticatorKind::Otp
            && let Some(recovery) = recovery
        {
            self.inner.remove(user, &recovery).await?;
        }
        Ok(removed)
    }
}

#[cfg(feature = "conformance")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_kit_rejects_a_read_then_write_store() {
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let failure = totp_engine::conformance::run_all(
        Arc::new(TestStore::broken(Break::ReadThenWrite)),
        &mut rng,
    )
    .await
    .unwrap_err();
    assert!(
        failure.check.contains("concurrent") || failure.check.contains("flow_concurrent"),
        "{failure}"
    );
}

#[cfg(feature = "conformance")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_kit_rejects_a_store_that_splits_the_accepted_write() {
    for reset_first in [false, true] {
        let mut rng = ChaCha20Rng::seed_from_u64(13);
        let store = TestStore::broken(Break::SplitAccept { reset_first });
        let failure = totp_engine::conformance::run_all(Arc::new(store), &mut rng)
            .await
            .unwrap_err();
        assert_eq!(
            failure.check, "accept_is_one_compare_and_set",
            "reset first: {reset_first}: {failure}"
        );
        assert!(
            failure.message.contains("changed the state"),
            "reset first: {reset_first}: {failure}"
        );
    }
}

#[cfg(feature = "conformance")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_kit_rejects_a_store_that_splits_the_accepted_recovery_write() {
    for (fault, says) in [
        (RecoveryFault::ConsumeThenReset, "changed the state"),
        (RecoveryFault::ResetThenConsume, "changed the state"),
        (
            RecoveryFault::IgnoresBucket,
            "an accept with a stale bucket was applied",
        ),
    ] {
        let mut rng = ChaCha20Rng::seed_from_u64(14);
        let store = TestStore::broken(Break::Recovery(fault));
        let failure = totp_engine::conformance::run_all(Arc::new(store), &mut rng)
            .await
            .unwrap_err();
        assert_eq!(
            failure.check, "accept_recovery_is_one_compare_and_set",
            "{fault:?}: {failure}"
        );
        assert!(failure.message.contains(says), "{fault:?}: {failure}");
    }
}

#[cfg(feature = "conformance")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_kit_rejects_a_store_whose_otp_removal_takes_the_recovery_codes() {
    let mut rng = ChaCha20Rng::seed_from_u64(17);
    let store = TestStore::broken(Break::Contract(Fault::RemoveCascades));
    let failure = totp_engine::conformance::run_all(Arc::new(store), &mut rng)
        .await
        .unwrap_err();
    assert_eq!(
        failure.check, "remove_deletes_only_that_authenticator",
        "{failure}"
    );
    assert!(
        failure
            .message
            .starts_with("removing the OTP authenticator changed the recovery codes"),
        "{failure}"
    );
}

#[cfg(feature = "conformance")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_kit_rejects_a_store_that_saturates_u64_at_i64_max() {
    let mut rng = ChaCha20Rng::seed_from_u64(14);
    let store = TestStore::broken(Break::Contract(Fault::SaturatesAtI64Max));
    let failure = totp_engine::conformance::run_all(Arc::new(store), &mut rng)
        .await
        .unwrap_err();
    assert_eq!(failure.check, "whole_u64_range_round_trips", "{failure}");
    assert_eq!(
        failure.message,
        format!("t0 {} read back as {}", u64::MAX, i64::MAX),
        "{failure}"
    );
}

#[cfg(feature = "conformance")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_kit_rejects_a_store_that_compares_last_step_with_null_equals_null() {
    let mut rng = ChaCha20Rng::seed_from_u64(15);
    let store = TestStore::broken(Break::Contract(Fault::NullIsNeverEqual));
    let failure = totp_engine::conformance::run_all(Arc::new(store), &mut rng)
        .await
        .unwrap_err();
    assert_eq!(failure.check, "last_step_compares_null_safely", "{failure}");
    assert_eq!(
        failure.message, "an advance expecting a never-used authenticator (NULL) did not match it",
        "{failure}"
    );
}

#[cfg(feature = "conformance")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_kit_rejects_a_store_whose_load_is_torn() {
    let mut rng = ChaCha20Rng::seed_from_u64(16);
    let store = TestStore::broken(Break::Contract(Fault::TornLoad));
    let failure = totp_engine::conformance::run_all(Arc::new(store), &mut rng)
        .await
        .unwrap_err();
    assert_eq!(
        failure.check, "load_is_one_consistent_snapshot",
        "{failure}"
    );
    assert!(failure.message.starts_with("a torn snapshot"), "{failure}");
}

#[cfg(feature = "conformance")]
#[tokio::test]
async fn conformance_kit_rejects_a_store_whose_load_otp_differs_from_load() {
    let mut rng = ChaCha20Rng::seed_from_u64(17);
    let store = TestStore::broken(Break::Contract(Fault::LoadOtpMissesTheBucket));
    let failure = totp_engine::conformance::run_all(Arc::new(store), &mut rng)
        .await
        .unwrap_err();
    assert_eq!(failure.check, "load_otp_is_loads_otp", "{failure}");
    assert!(
        failure.message.starts_with("charged: load_otp reads"),
        "{failure}"
    );
}

#[derive(Debug, Clone)]
enum Op {
    /// Submit the app's code for the step `delta` away from now.
    Code(i8),
    /// Resubmit the last accepted code.
    Replay,
    /// Submit a wrong code.
    Wrong,
    /// Submit the current recovery code.
    Recover,
    /// Submit a recovery code that was already used.
    OldRecovery,
    /// Let time pass.
    Tick(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (-2i8..=2).prop_map(Op::Code),
        1 => Just(Op::Replay),
        3 => Just(Op::Wrong),
        1 => Just(Op::Recover),
        1 => Just(Op::OldRecovery),
        3 => (0u16..400).prop_map(Op::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Over random sequences, against a model built from the stored state
    /// before each operation: a valid code is accepted exactly when the
    /// model says so (not locked out, its step inside the window around the
    /// current step plus the stored drift, and after the last accepted
    /// step), and the current recovery code likewise (not locked out, the
    /// codes active); no step is accepted twice, no recovery code twice,
    /// a locked-out authenticator accepts nothing. A flow that refuses
    /// every code fails this as surely as one that accepts a replay.
    #[test]
    fn random_operations_keep_the_invariants(seed in any::<u64>(), ops in proptest::collection::vec(op(), 1..60)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let store = Arc::new(MemoryStore::new());
            let mfa = Mfa::new(store.clone(), config().with_drift_tracking(DriftTracking::On));
            let policy = *mfa.config().throttle();
            let window = mfa.config().totp().window();
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let mut now = T0;
            let a = mfa.associate("u", "u", &mut rng, now).await.unwrap();
            let phone = app(&a.barcode_uri);
            let mut recovery = a.recovery_codes[0].as_str().to_owned();
            let mut used_codes: Vec<String> = Vec::new();
            let mut accepted_steps = HashSet::new();
            let mut last_code: Option<String> = None;
            for op in ops {
                let before = store.load("u").await.unwrap();
                let otp = before.otp.as_ref().unwrap();
                let otp_locked = policy.is_locked(otp.attempts, now);
                let rec_locked = before.recovery.as_ref().is_some_and(|r| policy.is_locked(r.attempts, now));
                match op {
                    Op::Tick(s) => now += u64::from(s),
                    Op::Code(delta) => {
                        let t = now.checked_add_signed(i64::from(delta) * 30).unwrap();
                        let code = code_at(&phone, t);
                        // The model: the code's step, the window the flow
                        // must use (centred on the stored drift), the replay mark.
                        let step = t / 30;
                        let centre = (now / 30).checked_add_signed(i64::from(otp.progress.drift.steps())).unwrap();
                        let in_window = step + u64::from(window.past()) >= centre
                            && step <= centre + u64::from(window.future());
                        let fresh = otp.progress.last_step.is_none_or(|last| step > last);
                        let expected = !otp_locked && in_window && fresh;
                        match mfa.verify_otp("u", &code, now).await {
                            Ok(ok) => {
                                prop_assert!(!otp_locked, "a locked authenticator accepted a code");
                                prop_assert!(accepted_steps.insert(ok.step), "step {} accepted twice", ok.step);
                                // Another step of the window can share the digits (about
                                // one in 10^6): then its own code is the one submitted.
                                prop_assert!(
                                    expected || code_at(&phone, ok.step * 30) == code,
                                    "code for step {step} accepted as step {} though the model refuses it",
                                    ok.step
                                );
                                last_code = Some(code);
                            }
                            Err(e) => {
                                prop_assert!(
                                    !expected,
                                    "the valid code for step {step} (now step {}, drift {:?}, last {:?}) was refused: {e}",
                                    now / 30,
                                    otp.progress.drift,
                                    otp.progress.last_step
                                );
                                let want = if otp_locked { "too_many_attempts" } else { "invalid_grant" };
                                prop_assert_eq!(e.error_code(), want);
                            }
                        }
                    }
                    Op::Replay => {
                        if let Some(code) = &last_code
                            && let Ok(ok) = mfa.verify_otp("u", code, now).await
                        {
                            // Only possible if the same digits are a later step's code.
                            prop_assert!(accepted_steps.insert(ok.step), "replay accepted step {}", ok.step);
                            prop_assert_eq!(&code_at(&phone, ok.step * 30), code);
                        }
                    }
                    Op::Wrong => {
                        // Accepted only if it happens to be a window step's code.
                        if let Ok(ok) = mfa.verify_otp("u", "999 999", now).await {
                            prop_assert_eq!(code_at(&phone, ok.step * 30), "999999");
                            prop_assert!(accepted_steps.insert(ok.step), "step {} accepted twice", ok.step);
                        }
                    }
                    Op::Recover => {
                        let active = before.recovery.as_ref().is_some_and(|r| r.active);
                        let expected = active && !rec_locked;
                        match mfa.verify_recovery_code("u", &recovery, &mut rng, now).await {
                            Ok(ok) => {
                                prop_assert!(expected, "a recovery code was accepted (active: {active}, locked: {rec_locked})");
                                prop_assert!(!used_codes.contains(&recovery), "recovery code accepted twice");
                                used_codes.push(recovery.clone());
                                recovery = ok.new_code.unwrap().as_str().to_owned();
                            }
                            Err(e) => prop_assert!(!expected, "the current recovery code was refused: {e}"),
                        }
                    }
                    Op::OldRecovery => {
                        if let Some(old) = used_codes.last() {
                            prop_assert!(mfa.verify_recovery_code("u", old, &mut rng, now).await.is_err());
                        }
                    }
                }
            }
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn a_success_empties_the_bucket() {
    let store = Arc::new(MemoryStore::new());
    let mfa = Mfa::new(store.clone(), config());
    let mut rng = ChaCha20Rng::seed_from_u64(13);
    let a = mfa.associate("u", "u", &mut rng, T0).await.unwrap();
    let phone = app(&a.barcode_uri);
    let wrong = format!(
        "{:06}",
        (code_at(&phone, T0).parse::<u32>().unwrap() + 1) % 1_000_000
    );
    for _ in 0..5 {
        assert!(mfa.verify_otp("u", &wrong, T0).await.is_err());
    }
    assert_eq!(
        store.load("u").await.unwrap().otp.unwrap().attempts.used(),
        5
    );
    mfa.verify_otp("u", &code_at(&phone, T0), T0).await.unwrap();
    assert_eq!(
        store.load("u").await.unwrap().otp.unwrap().attempts,
        totp_engine::Attempts::default()
    );
}

#[tokio::test]
async fn verify_otp_explained_tells_the_server_why_and_the_client_nothing() {
    use totp_engine::InvalidOtpReason;
    let mfa = flow(config());
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let user = "auth0|explained";
    let a = mfa.associate(user, "x", &mut rng, T0).await.unwrap();
    let totp = app(&a.barcode_uri);
    let code = code_at(&totp, T0);
    let ok = mfa.verify_otp_explained(user, &code, T0).await.unwrap();
    assert!(ok.confirmed_enrollment);
    let reason = |r: Result<_, totp_engine::OtpRefused<_>>| {
        let refused = r.unwrap_err();
        assert_eq!(wire(&refused.error), ("invalid_grant", "Invalid otp_code."));
        refused.reason
    };
    // The same code again: a replay, to the server only.
    assert_eq!(
        reason(mfa.verify_otp_explained(user, &code, T0).await),
        Some(InvalidOtpReason::Replayed)
    );
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    assert_eq!(
        reason(mfa.verify_otp_explained(user, &wrong, T0 + 30).await),
        Some(InvalidOtpReason::NoMatch)
    );
    assert_eq!(
        reason(mfa.verify_otp_explained(user, "12ab56", T0 + 30).await),
        Some(InvalidOtpReason::Malformed)
    );
    // Other errors carry no reason; verify_otp answers the same errors.
    let refused = mfa
        .verify_otp_explained("auth0|nobody", &code, T0)
        .await
        .unwrap_err();
    assert_eq!(
        (refused.error.error_code(), refused.reason),
        ("unsupported_challenge_type", None)
    );
    let plain = mfa.verify_otp(user, &code, T0).await.unwrap_err();
    assert!(matches!(plain, MfaError::InvalidOtp));
}

#[tokio::test]
async fn each_submission_is_one_load_and_one_write() {
    let store = Arc::new(TestStore::default());
    let mfa = Mfa::new(store.clone(), config());
    let mut rng = ChaCha20Rng::seed_from_u64(15);
    let a = mfa.associate("u", "u", &mut rng, T0).await.unwrap();
    let phone = app(&a.barcode_uri);
    store.take();

    // An accepted OTP: the load, then one write (step and bucket).
    mfa.verify_otp("u", &code_at(&phone, T0), T0).await.unwrap();
    assert_eq!(store.take(), ["load", "accept_otp"]);
    // A wrong one (here a replay): the load, then one conditional charge.
    let err = mfa
        .verify_otp("u", &code_at(&phone, T0), T0)
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), "invalid_grant");
    assert_eq!(store.take(), ["load", "update_attempts"]);

    // A wrong recovery code: the load, then one conditional charge, and
    // the codes are as they were.
    let before = store.inner.load("u").await.unwrap().recovery.unwrap();
    assert_eq!(before.attempts, totp_engine::Attempts::default());
    let err = mfa
        .verify_recovery_code("u", "ABCDEFGHIJKLMNOPQRSTUVWX", &mut rng, T0)
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::InvalidRecoveryCode), "{err:?}");
    assert_eq!(store.take(), ["load", "update_attempts"]);
    let charged = store.inner.load("u").await.unwrap().recovery.unwrap();
    assert_eq!(charged.slots, before.slots, "no code consumed");
    assert_eq!(charged.attempts.used(), 1);

    // A malformed one is refused before anything is written.
    let err = mfa
        .verify_recovery_code("u", "not a code!", &mut rng, T0)
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::InvalidRecoveryCode), "{err:?}");
    assert_eq!(store.take(), ["load"]);

    // An accepted recovery code: the load, then ONE write that consumes it
    // (storing its replacement) and empties the bucket; no reset after it.
    let v = mfa
        .verify_recovery_code("u", a.recovery_codes[0].as_str(), &mut rng, T0)
        .await
        .unwrap();
    assert_eq!(store.take(), ["load", "accept_recovery_code"]);
    let after = store.inner.load("u").await.unwrap().recovery.unwrap();
    assert_eq!(after.attempts, totp_engine::Attempts::default());
    assert_ne!(after.slots, before.slots, "the code was consumed");
    assert!(v.new_code.is_some());

    // The used code again: one conditional charge, nothing consumed.
    let err = mfa
        .verify_recovery_code("u", a.recovery_codes[0].as_str(), &mut rng, T0)
        .await
        .unwrap_err();
    assert!(matches!(err, MfaError::InvalidRecoveryCode), "{err:?}");
    assert_eq!(store.take(), ["load", "update_attempts"]);
    let again = store.inner.load("u").await.unwrap().recovery.unwrap();
    assert_eq!(again.slots, after.slots);
    assert_eq!(again.attempts.used(), 1);
}

/// The kit once more on the memory store, with every call yielding first:
/// concurrent requests then interleave between each load and its write, so
/// the flow checks (one success per code, no more answers than the bucket
/// for wrong OTPs and wrong recovery codes) see real races, as on a
/// database.
#[cfg(feature = "conformance")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_with_interleaving_passes_the_conformance_kit() {
    let mut rng = ChaCha20Rng::seed_from_u64(16);
    let store = TestStore {
        yields: true,
        ..TestStore::default()
    };
    totp_engine::conformance::run_all(Arc::new(store), &mut rng)
        .await
        .unwrap();
}
