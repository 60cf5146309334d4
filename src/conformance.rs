//! The store conformance kit (feature `conformance`): checks that an
//! [`MfaStore`] implementation keeps the contract the flow relies on,
//! including atomicity under real concurrency.
//!
//! Run it from a test of your store, on a multi-threaded tokio runtime:
//!
//! ```
//! # #[cfg(feature = "conformance")] {
//! use std::sync::Arc;
//! use totp_engine::{MemoryStore, conformance};
//!
//! # let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
//! # rt.block_on(async {
//! let report = conformance::run_all(Arc::new(MemoryStore::new()), &mut rand::rng()).await;
//! assert!(report.is_ok(), "{report:?}");
//! # });
//! # }
//! ```
//!
//! Every check works on fresh random user ids, so a persistent database can
//! be used as it is. The concurrency checks spawn [`CONCURRENCY`] tokio
//! tasks that race on one state; a store that reads then writes fails them.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use core::future::Future;

use rand_core::CryptoRng;

use crate::flow::{Mfa, MfaConfig, MfaError};
use crate::params::Drift;
use crate::policy::Attempts;
use crate::recovery::{RecoveryFormat, RecoveryHash, RecoveryHasher};
use crate::secret::Secret;
use crate::store::{
    AuthenticatorId, AuthenticatorKind, Enrolled, MfaStore, OtpAuthenticator, OtpProgress,
    RecoveryAuthenticator,
};
use crate::totp::{Totp, TotpParams};

/// Tasks racing in each concurrency check.
pub const CONCURRENCY: usize = 64;

/// A failed conformance check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The check's name.
    pub check: &'static str,
    /// What went wrong.
    pub message: String,
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "store conformance check `{}` failed: {}",
            self.check, self.message
        )
    }
}

impl core::error::Error for Failure {}

macro_rules! ensure {
    ($check:expr, $cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(Failure { check: $check, message: format!($($msg)+) });
        }
    };
}

/// Maps any displayable error to a failure of `check`.
fn failed<E: core::fmt::Display>(check: &'static str) -> impl Fn(E) -> Failure {
    move |e| Failure {
        check,
        message: e.to_string(),
    }
}

fn storage<E: core::fmt::Display>(check: &'static str) -> impl Fn(E) -> Failure {
    move |e| Failure {
        check,
        message: format!("store error: {e}"),
    }
}

/// Material drawn from the caller's generator before any task runs.
struct Fixture {
    user: String,
    otp: OtpAuthenticator,
    recovery: RecoveryAuthenticator,
    hashes: Vec<RecoveryHash>,
}

fn fixture<R: CryptoRng + ?Sized>(rng: &mut R, label: &str) -> Fixture {
    let suffix = AuthenticatorId::generate(AuthenticatorKind::Otp, rng);
    let user = format!("conformance-{label}-{}", &suffix.as_str()[9..]);
    let format = RecoveryFormat::default();
    let hasher = RecoveryHasher::new();
    let hashes: Vec<RecoveryHash> = (0..3)
        .filter_map(|_| {
            let code = format.generate(rng);
            format
                .normalize(code.as_str())
                .ok()
                .map(|n| hasher.hash(&n, rng))
        })
        .collect();
    Fixture {
        user,
        otp: OtpAuthenticator {
            id: AuthenticatorId::generate(AuthenticatorKind::Otp, rng),
            secret: alloc::boxed::Box::new(Secret::generate(rng)),
            params: TotpParams::default(),
            progress: OtpProgress::default(),
            attempts: Attempts::default(),
            created_at: 1_700_000_000,
        },
        recovery: RecoveryAuthenticator {
            id: AuthenticatorId::generate(AuthenticatorKind::RecoveryCode, rng),
            active: false,
            slots: hashes.iter().copied().map(Some).collect(),
            attempts: Attempts::default(),
            created_at: 1_700_000_000,
        },
        hashes,
    }
}

/// Runs every check; returns the first failure.
///
/// # Errors
///
/// The first [`Failure`].
pub async fn run_all<S, R>(store: Arc<S>, rng: &mut R) -> Result<(), Failure>
where
    S: MfaStore + 'static,
    R: CryptoRng + ?Sized,
{
    enroll_round_trip(&*store, fixture(rng, "enroll")).await?;
    enroll_rules(&*store, fixture(rng, "rules"), fixture(rng, "rules2")).await?;
    advance_is_compare_and_set(&*store, fixture(rng, "advance")).await?;
    accept_is_one_compare_and_set(&*store, fixture(rng, "accept")).await?;
    consume_is_compare_and_set(&*store, fixture(rng, "consume")).await?;
    attempts_are_compare_and_set(&*store, fixture(rng, "attempts")).await?;
    remove_and_isolation(&*store, fixture(rng, "remove"), fixture(rng, "other")).await?;
    concurrent_advance_has_one_winner(store.clone(), fixture(rng, "race-step")).await?;
    concurrent_consume_has_one_winner(store.clone(), fixture(rng, "race-code")).await?;
    concurrent_failures_lose_no_increment(store.clone(), fixture(rng, "race-fail")).await?;
    concurrent_accepts_have_one_winner(store.clone(), fixture(rng, "race-accept")).await?;
    flow_concurrent_wrong_codes_stay_within_the_bucket(store.clone(), rng).await?;
    flow_concurrent_same_code_one_success(store, rng).await?;
    Ok(())
}

/// What is stored is what is loaded: secret, parameters, progress, hashes.
///
/// # Errors
///
/// A [`Failure`] describing the difference.
async fn enroll_round_trip<S: MfaStore>(store: &S, f: Fixture) -> Result<(), Failure> {
    const C: &str = "enroll_round_trip";
    let empty = store.load(&f.user).await.map_err(storage(C))?;
    ensure!(
        C,
        empty.otp.is_none() && empty.recovery.is_none(),
        "an unknown user has authenticators"
    );
    let params = TotpParams::default()
        .with_digits(crate::Digits::EIGHT)
        .with_period(crate::Period::new(45).map_err(failed(C))?)
        .with_t0(17);
    let mut otp = f.otp.clone();
    otp.params = params;
    let outcome = store
        .enroll(&f.user, otp.clone(), Some(f.recovery.clone()))
        .await
        .map_err(storage(C))?;
    ensure!(
        C,
        outcome
            == Enrolled::Created {
                recovery_stored: true
            },
        "enroll returned {outcome:?}"
    );
    let loaded = store.load(&f.user).await.map_err(storage(C))?;
    let lo = loaded.otp.ok_or_else(|| Failure {
        check: C,
        message: "OTP authenticator not loaded".into(),
    })?;
    ensure!(C, lo.id == otp.id, "id changed");
    ensure!(C, lo.secret == otp.secret, "secret changed");
    ensure!(
        C,
        lo.params.digits() == params.digits()
            && lo.params.period() == params.period()
            && lo.params.t0() == 17
            && lo.params.algorithm() == params.algorithm(),
        "parameters changed: {:?}",
        lo.params
    );
    ensure!(
        C,
        lo.progress == OtpProgress::default(),
        "progress of a new enrollment is {:?}",
        lo.progress
    );
    ensure!(
        C,
        lo.attempts == Attempts::default(),
        "attempts of a new enrollment are {:?}",
        lo.attempts
    );
    let lr = loaded.recovery.ok_or_else(|| Failure {
        check: C,
        message: "recovery authenticator not loaded".into(),
    })?;
    ensure!(
        C,
        lr.id == f.recovery.id && !lr.active,
        "recovery authenticator changed: {lr:?}"
    );
    ensure!(C, lr.slots == f.recovery.slots, "recovery hashes changed");
    Ok(())
}

/// Enrollment replaces a pending OTP authenticator, refuses a second active
/// one, and keeps an active recovery authenticator.
///
/// # Errors
///
/// A [`Failure`].
async fn enroll_rules<S: MfaStore>(store: &S, f: Fixture, g: Fixture) -> Result<(), Failure> {
    const C: &str = "enroll_rules";
    store
        .enroll(&f.user, f.otp.clone(), Some(f.recovery.clone()))
        .await
        .map_err(storage(C))?;
    // A second pending enrollment replaces the first, with its recovery codes.
    let outcome = store
        .enroll(&f.user, g.otp.clone(), Some(g.recovery.clone()))
        .await
        .map_err(storage(C))?;
    ensure!(
        C,
        outcome
            == Enrolled::Created {
                recovery_stored: true
            },
        "re-enrolling a pending user returned {outcome:?}"
    );
    let loaded = store.load(&f.user).await.map_err(storage(C))?;
    ensure!(
        C,
        loaded.otp.as_ref().map(|o| &o.id) == Some(&g.otp.id),
        "the pending enrollment was not replaced"
    );
    ensure!(
        C,
        loaded.recovery.as_ref().map(|r| &r.id) == Some(&g.recovery.id),
        "the inactive recovery codes were not replaced"
    );
    // Confirm it: the recovery authenticator becomes active in the same step.
    let confirmed = OtpProgress {
        last_step: Some(10),
        drift: Drift::NONE,
        active: true,
    };
    let ok = store
        .advance_otp(&f.user, &g.otp.id, OtpProgress::default(), confirmed)
        .await
        .map_err(storage(C))?;
    ensure!(C, ok, "confirming the enrollment failed");
    let loaded = store.load(&f.user).await.map_err(storage(C))?;
    ensure!(
        C,
        loaded.recovery.as_ref().is_some_and(|r| r.active),
        "confirming did not activate the recovery codes"
    );
    // Now enrolled: a new enrollment changes nothing.
    let outcome = store
        .enroll(&f.user, f.otp.clone(), Some(f.recovery.clone()))
        .await
        .map_err(storage(C))?;
    ensure!(
        C,
        outcome == Enrolled::AlreadyEnrolled,
        "enrolling an enrolled user returned {outcome:?}"
    );
    let after = store.load(&f.user).await.map_err(storage(C))?;
    ensure!(
        C,
        after.otp.as_ref().map(|o| &o.id) == Some(&g.otp.id),
        "a refused enrollment changed the OTP authenticator"
    );
    // Remove the OTP authenticator and enroll again: the active recovery codes stay.
    ensure!(
        C,
        store.remove(&f.user, &g.otp.id).await.map_err(storage(C))?,
        "remove failed"
    );
    let outcome = store
        .enroll(&f.user, f.otp.clone(), Some(f.recovery.clone()))
        .await
        .map_err(storage(C))?;
    ensure!(
        C,
        outcome
            == Enrolled::Created {
                recovery_stored: false
            },
        "re-enrolling with active recovery codes returned {outcome:?}"
    );
    let loaded = store.load(&f.user).await.map_err(storage(C))?;
    ensure!(
        C,
        loaded.recovery.as_ref().map(|r| &r.id) == Some(&g.recovery.id),
        "active recovery codes were replaced"
    );
    Ok(())
}

/// `advance_otp` writes only when the progress is exactly as expected.
///
/// # Errors
///
/// A [`Failure`].
async fn advance_is_compare_and_set<S: MfaStore>(store: &S, f: Fixture) -> Result<(), Failure> {
    const C: &str = "advance_is_compare_and_set";
    store
        .enroll(&f.user, f.otp.clone(), None)
        .await
        .map_err(storage(C))?;
    let p1 = OtpProgress {
        last_step: Some(100),
        drift: Drift::saturating(-2),
        active: true,
    };
    let stale = OtpProgress {
        last_step: Some(99),
        drift: Drift::NONE,
        active: true,
    };
    ensure!(
        C,
        !store
            .advance_otp(&f.user, &f.otp.id, stale, p1)
            .await
            .map_err(storage(C))?,
        "a stale expected state was accepted"
    );
    ensure!(
        C,
        store
            .advance_otp(&f.user, &f.otp.id, OtpProgress::default(), p1)
            .await
            .map_err(storage(C))?,
        "the current expected state was refused"
    );
    ensure!(
        C,
        !store
            .advance_otp(&f.user, &f.otp.id, OtpProgress::default(), p1)
            .await
            .map_err(storage(C))?,
        "the same transition succeeded twice"
    );
    let p2 = OtpProgress {
        last_step: Some(u64::MAX),
        drift: Drift::saturating(20),
        active: true,
    };
    ensure!(
        C,
        store
            .advance_otp(&f.user, &f.otp.id, p1, p2)
            .await
            .map_err(storage(C))?,
        "advancing to u64::MAX failed"
    );
    let loaded = store.load(&f.user).await.map_err(storage(C))?;
    ensure!(
        C,
        loaded.otp.as_ref().map(|o| o.progress) == Some(p2),
        "progress read back as {:?}",
        loaded.otp.map(|o| o.progress)
    );
    let other = AuthenticatorId::parse("totp|dev_0000000000000000").ok_or_else(|| Failure {
        check: C,
        message: "id parse".into(),
    })?;
    ensure!(
        C,
        !store
            .advance_otp(&f.user, &other, p2, p1)
            .await
            .map_err(storage(C))?,
        "an unknown id was advanced"
    );
    Ok(())
}

/// `accept_otp` is one compare-and-set over the progress **and** the
/// bucket: it writes only when both are as expected, then both at once
/// (the step advanced, the bucket empty), and a refused call changes
/// neither. A store that splits it into an advance and a reset fails here,
/// whichever half it runs first.
///
/// # Errors
///
/// A [`Failure`].
async fn accept_is_one_compare_and_set<S: MfaStore>(store: &S, f: Fixture) -> Result<(), Failure> {
    const C: &str = "accept_is_one_compare_and_set";
    store
        .enroll(&f.user, f.otp.clone(), Some(f.recovery.clone()))
        .await
        .map_err(storage(C))?;
    let id = &f.otp.id;
    let p0 = OtpProgress::default();
    let a0 = Attempts::default();
    let a1 = Attempts::from_parts(1, 1_700_000_000);
    let a2 = Attempts::from_parts(2, 1_700_000_000);
    let p1 = OtpProgress {
        last_step: Some(100),
        drift: Drift::NONE,
        active: true,
    };
    let p2 = OtpProgress {
        last_step: Some(101),
        ..p1
    };
    ensure!(
        C,
        store
            .update_attempts(&f.user, id, a0, a1)
            .await
            .map_err(storage(C))?,
        "charging the bucket failed"
    );
    let state = |loaded: crate::store::UserAuthenticators| {
        (
            loaded.otp.map(|o| (o.progress, o.attempts)),
            loaded.recovery.map(|r| r.active),
        )
    };
    let before = (Some((p0, a1)), Some(false));
    // The bucket moved since the check: refused, nothing written.
    ensure!(
        C,
        !store
            .accept_otp(&f.user, id, p0, a0, p1)
            .await
            .map_err(storage(C))?,
        "an accept with a stale bucket was applied"
    );
    let now = state(store.load(&f.user).await.map_err(storage(C))?);
    ensure!(
        C,
        now == before,
        "a refused accept (stale bucket) changed the state to {now:?}"
    );
    // The step moved since the check: refused, nothing written.
    ensure!(
        C,
        !store
            .accept_otp(&f.user, id, p2, a1, p1)
            .await
            .map_err(storage(C))?,
        "an accept with a stale progress was applied"
    );
    let now = state(store.load(&f.user).await.map_err(storage(C))?);
    ensure!(
        C,
        now == before,
        "a refused accept (stale progress) changed the state to {now:?}"
    );
    // As the check saw it: the step advances, the bucket empties and the
    // confirmation activates the recovery codes, together.
    ensure!(
        C,
        store
            .accept_otp(&f.user, id, p0, a1, p1)
            .await
            .map_err(storage(C))?,
        "the current expected state was refused"
    );
    let now = state(store.load(&f.user).await.map_err(storage(C))?);
    ensure!(
        C,
        now == (Some((p1, a0)), Some(true)),
        "after an accept the state reads {now:?}"
    );
    ensure!(
        C,
        !store
            .accept_otp(&f.user, id, p0, a1, p1)
            .await
            .map_err(storage(C))?,
        "the same accept succeeded twice"
    );
    // A later login, from a charged bucket.
    ensure!(
        C,
        store
            .update_attempts(&f.user, id, a0, a2)
            .await
            .map_err(storage(C))?,
        "charging the bucket again failed"
    );
    ensure!(
        C,
        store
            .accept_otp(&f.user, id, p1, a2, p2)
            .await
            .map_err(storage(C))?,
        "a later accept was refused"
    );
    let now = state(store.load(&f.user).await.map_err(storage(C))?);
    ensure!(
        C,
        now == (Some((p2, a0)), Some(true)),
        "after a later accept the state reads {now:?}"
    );
    let other = AuthenticatorId::parse("totp|dev_0000000000000000").ok_or_else(|| Failure {
        check: C,
        message: "id parse".into(),
    })?;
    ensure!(
        C,
        !store
            .accept_otp(&f.user, &other, p2, a0, p1)
            .await
            .map_err(storage(C))?,
        "an unknown id was accepted"
    );
    Ok(())
}

/// `consume_recovery_code` writes only while the slot holds the expected hash.
///
/// # Errors
///
/// A [`Failure`].
async fn consume_is_compare_and_set<S: MfaStore>(store: &S, f: Fixture) -> Result<(), Failure> {
    const C: &str = "consume_is_compare_and_set";
    store
        .enroll(&f.user, f.otp.clone(), Some(f.recovery.clone()))
        .await
        .map_err(storage(C))?;
    let id = &f.recovery.id;
    let (h0, h1) = match f.hashes.as_slice() {
        [a, b, ..] => (*a, *b),
        _ => {
            return Err(Failure {
                check: C,
                message: "fixture has too few hashes".into(),
            });
        }
    };
    ensure!(
        C,
        !store
            .consume_recovery_code(&f.user, id, 0, h1, None)
            .await
            .map_err(storage(C))?,
        "a slot was consumed with the wrong expected hash"
    );
    ensure!(
        C,
        store
            .consume_recovery_code(&f.user, id, 0, h0, Some(h1))
            .await
            .map_err(storage(C))?,
        "consuming slot 0 failed"
    );
    ensure!(
        C,
        !store
            .consume_recovery_code(&f.user, id, 0, h0, None)
            .await
            .map_err(storage(C))?,
        "a used code was consumed twice"
    );
    ensure!(
        C,
        store
            .consume_recovery_code(&f.user, id, 1, h1, None)
            .await
            .map_err(storage(C))?,
        "consuming slot 1 failed"
    );
    ensure!(
        C,
        !store
            .consume_recovery_code(&f.user, id, 99, h0, None)
            .await
            .map_err(storage(C))?,
        "a slot out of range was consumed"
    );
    let loaded = store.load(&f.user).await.map_err(storage(C))?;
    let slots = loaded.recovery.map(|r| r.slots).unwrap_or_default();
    ensure!(
        C,
        slots.first() == Some(&Some(h1)) && slots.get(1) == Some(&None),
        "slots read back wrong"
    );
    ensure!(
        C,
        store
            .replace_recovery_codes(&f.user, id, f.recovery.slots.clone())
            .await
            .map_err(storage(C))?,
        "replacing codes failed"
    );
    let loaded = store.load(&f.user).await.map_err(storage(C))?;
    ensure!(
        C,
        loaded.recovery.map(|r| r.slots) == Some(f.recovery.slots.clone()),
        "replaced codes read back wrong"
    );
    Ok(())
}

/// `update_attempts` writes only when the bucket is exactly as expected, for
/// both kinds of authenticator.
///
/// # Errors
///
/// A [`Failure`].
async fn attempts_are_compare_and_set<S: MfaStore>(store: &S, f: Fixture) -> Result<(), Failure> {
    const C: &str = "attempts_are_compare_and_set";
    store
        .enroll(&f.user, f.otp.clone(), Some(f.recovery.clone()))
        .await
        .map_err(storage(C))?;
    for id in [&f.otp.id, &f.recovery.id] {
        let one = Attempts::from_parts(1, 1_700_000_000);
        let two = Attempts::from_parts(2, u64::MAX);
        ensure!(
            C,
            !store
                .update_attempts(&f.user, id, one, two)
                .await
                .map_err(storage(C))?,
            "a stale bucket was accepted for {id}"
        );
        ensure!(
            C,
            store
                .update_attempts(&f.user, id, Attempts::default(), one)
                .await
                .map_err(storage(C))?,
            "the current bucket was refused for {id}"
        );
        ensure!(
            C,
            store
                .update_attempts(&f.user, id, one, two)
                .await
                .map_err(storage(C))?,
            "the second update was refused for {id}"
        );
        let loaded = store.load(&f.user).await.map_err(storage(C))?;
        let got = match id.kind() {
            AuthenticatorKind::Otp => loaded.otp.map(|o| o.attempts),
            AuthenticatorKind::RecoveryCode => loaded.recovery.map(|r| r.attempts),
        };
        ensure!(C, got == Some(two), "bucket read back as {got:?} for {id}");
    }
    Ok(())
}

/// Removal is scoped to the user, and users never see each other's state.
///
/// # Errors
///
/// A [`Failure`].
async fn remove_and_isolation<S: MfaStore>(
    store: &S,
    f: Fixture,
    g: Fixture,
) -> Result<(), Failure> {
    const C: &str = "remove_and_isolation";
    store
        .enroll(&f.user, f.otp.clone(), Some(f.recovery.clone()))
        .await
        .map_err(storage(C))?;
    store
        .enroll(&g.user, g.otp.clone(), None)
        .await
        .map_err(storage(C))?;
    ensure!(
        C,
        !store.remove(&g.user, &f.otp.id).await.map_err(storage(C))?,
        "a user removed another user's authenticator"
    );
    ensure!(
        C,
        !store
            .advance_otp(
                &g.user,
                &f.otp.id,
                OtpProgress::default(),
                OtpProgress {
                    last_step: Some(1),
                    drift: Drift::NONE,
                    active: true
                }
            )
            .await
            .map_err(storage(C))?,
        "a user advanced another user's authenticator"
    );
    ensure!(
        C,
        store
            .load(&g.user)
            .await
            .map_err(storage(C))?
            .recovery
            .is_none(),
        "recovery codes leaked across users"
    );
    ensure!(
        C,
        store
            .remove(&f.user, &f.recovery.id)
            .await
            .map_err(storage(C))?,
        "removing the recovery authenticator failed"
    );
    ensure!(
        C,
        !store
            .remove(&f.user, &f.recovery.id)
            .await
            .map_err(storage(C))?,
        "removing twice succeeded"
    );
    let loaded = store.load(&f.user).await.map_err(storage(C))?;
    ensure!(
        C,
        loaded.recovery.is_none() && loaded.otp.is_some(),
        "remove changed the wrong authenticator"
    );
    Ok(())
}

/// [`CONCURRENCY`] tasks race to advance the same progress: exactly one wins.
///
/// # Errors
///
/// A [`Failure`].
async fn concurrent_advance_has_one_winner<S: MfaStore + 'static>(
    store: Arc<S>,
    f: Fixture,
) -> Result<(), Failure> {
    const C: &str = "concurrent_advance_has_one_winner";
    store
        .enroll(&f.user, f.otp.clone(), None)
        .await
        .map_err(storage(C))?;
    let tasks = (0..CONCURRENCY).map(|i| {
        let (store, user, id) = (store.clone(), f.user.clone(), f.otp.id.clone());
        async move {
            let next = OtpProgress {
                last_step: Some(1000u64.saturating_add(i as u64)),
                drift: Drift::NONE,
                active: true,
            };
            store
                .advance_otp(&user, &id, OtpProgress::default(), next)
                .await
                .map_err(|e| e.to_string())
        }
    });
    let wins = race(C, tasks).await?;
    ensure!(
        C,
        wins == 1,
        "{wins} of {CONCURRENCY} concurrent compare-and-sets succeeded"
    );
    Ok(())
}

/// [`CONCURRENCY`] tasks race to consume the same recovery code: exactly one wins.
///
/// # Errors
///
/// A [`Failure`].
async fn concurrent_consume_has_one_winner<S: MfaStore + 'static>(
    store: Arc<S>,
    f: Fixture,
) -> Result<(), Failure> {
    const C: &str = "concurrent_consume_has_one_winner";
    store
        .enroll(&f.user, f.otp.clone(), Some(f.recovery.clone()))
        .await
        .map_err(storage(C))?;
    let expected = *f.hashes.first().ok_or_else(|| Failure {
        check: C,
        message: "no hash".into(),
    })?;
    let tasks = (0..CONCURRENCY).map(|_| {
        let (store, user, id) = (store.clone(), f.user.clone(), f.recovery.id.clone());
        async move {
            store
                .consume_recovery_code(&user, &id, 0, expected, None)
                .await
                .map_err(|e| e.to_string())
        }
    });
    let wins = race(C, tasks).await?;
    ensure!(
        C,
        wins == 1,
        "{wins} of {CONCURRENCY} concurrent consumptions succeeded"
    );
    Ok(())
}

/// [`CONCURRENCY`] tasks each add one failure with a read / compare-and-set
/// retry loop: the final count is exactly [`CONCURRENCY`].
///
/// # Errors
///
/// A [`Failure`].
async fn concurrent_failures_lose_no_increment<S: MfaStore + 'static>(
    store: Arc<S>,
    f: Fixture,
) -> Result<(), Failure> {
    const C: &str = "concurrent_failures_lose_no_increment";
    store
        .enroll(&f.user, f.otp.clone(), None)
        .await
        .map_err(storage(C))?;
    let tasks = (0..CONCURRENCY).map(|_| {
        let (store, user) = (store.clone(), f.user.clone());
        async move {
            loop {
                let current = store.load(&user).await.map_err(|e| e.to_string())?;
                let Some(otp) = current.otp else {
                    return Err("authenticator vanished".to_string());
                };
                let next =
                    Attempts::from_parts(otp.attempts.used().saturating_add(1), 1_700_000_000);
                if store
                    .update_attempts(&user, &otp.id, otp.attempts, next)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    return Ok(true);
                }
                tokio::task::yield_now().await;
            }
        }
    });
    let done = race(C, tasks).await?;
    ensure!(C, done == CONCURRENCY, "only {done} increments completed");
    let loaded = store.load(&f.user).await.map_err(storage(C))?;
    let used = loaded.otp.map(|o| o.attempts.used());
    ensure!(
        C,
        used == Some(CONCURRENCY as u32),
        "the counter reads {used:?} after {CONCURRENCY} concurrent increments"
    );
    Ok(())
}

/// [`CONCURRENCY`] simultaneous accepts of one expected state (the same
/// code checked by concurrent requests): exactly one is applied.
///
/// # Errors
///
/// A [`Failure`].
async fn concurrent_accepts_have_one_winner<S: MfaStore + 'static>(
    store: Arc<S>,
    f: Fixture,
) -> Result<(), Failure> {
    const C: &str = "concurrent_accepts_have_one_winner";
    store
        .enroll(&f.user, f.otp.clone(), None)
        .await
        .map_err(storage(C))?;
    let next = OtpProgress {
        last_step: Some(7),
        drift: Drift::NONE,
        active: true,
    };
    let tasks = (0..CONCURRENCY).map(|_| {
        let (store, user, id) = (store.clone(), f.user.clone(), f.otp.id.clone());
        async move {
            store
                .accept_otp(
                    &user,
                    &id,
                    OtpProgress::default(),
                    Attempts::default(),
                    next,
                )
                .await
                .map_err(|e| e.to_string())
        }
    });
    let wins = race(C, tasks).await?;
    ensure!(
        C,
        wins == 1,
        "{wins} of {CONCURRENCY} concurrent accepts of one state were applied"
    );
    Ok(())
}

/// Through the flow: [`CONCURRENCY`] simultaneous wrong codes against a
/// bucket of 5 get at most 5 answers of `invalid_grant` (each spent one
/// attempt, and the bucket reads exactly that many), the rest
/// `too_many_attempts` (or contention); no wrong guess is checked unpaid.
///
/// # Errors
///
/// A [`Failure`].
pub async fn flow_concurrent_wrong_codes_stay_within_the_bucket<S, R>(
    store: Arc<S>,
    rng: &mut R,
) -> Result<(), Failure>
where
    S: MfaStore + 'static,
    R: CryptoRng + ?Sized,
{
    const C: &str = "flow_concurrent_wrong_codes_stay_within_the_bucket";
    const CAPACITY: u32 = 5;
    let throttle = crate::ThrottlePolicy::new(CAPACITY, 3600).map_err(failed(C))?;
    let config = MfaConfig::new("Conformance")
        .map_err(failed(C))?
        .with_throttle(throttle);
    let mfa = Arc::new(Mfa::new(store.clone(), config));
    let f = fixture(rng, "flow-wrong");
    let now = 1_700_000_000u64;
    let association = mfa
        .associate(&f.user, "guess@example.com", rng, now)
        .await
        .map_err(failed(C))?;
    let secret = Secret::from_base32(&association.secret).map_err(failed(C))?;
    let totp = Totp::new(&secret, TotpParams::default());
    // A six-digit code that is none of the window's.
    let window: Vec<String> = [now.saturating_sub(30), now, now.saturating_add(30)]
        .iter()
        .filter_map(|&t| totp.generate(t).ok().map(|c| String::from(c.as_str())))
        .collect();
    let wrong = (0..1000u32)
        .map(|n| format!("{n:06}"))
        .find(|c| !window.contains(c))
        .ok_or_else(|| Failure {
            check: C,
            message: "no wrong code found".into(),
        })?;
    let tasks = (0..CONCURRENCY).map(|_| {
        let (mfa, user, wrong) = (mfa.clone(), f.user.clone(), wrong.clone());
        async move {
            match mfa.verify_otp(&user, &wrong, now).await {
                Err(MfaError::InvalidOtp) => Ok(true),
                Err(MfaError::TooManyAttempts(_) | MfaError::Contention) => Ok(false),
                Ok(_) => Err("a wrong code was accepted".to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
    });
    let answered = race(C, tasks).await?;
    ensure!(
        C,
        answered <= CAPACITY as usize,
        "{answered} of {CONCURRENCY} concurrent wrong codes were checked against a bucket of {CAPACITY}"
    );
    let used = store
        .load(&f.user)
        .await
        .map_err(storage(C))?
        .otp
        .map(|o| o.attempts.used());
    ensure!(
        C,
        used == Some(u32::try_from(answered).unwrap_or(u32::MAX)),
        "{answered} wrong codes were answered but the bucket reads {used:?}"
    );
    Ok(())
}

/// Through the flow: [`CONCURRENCY`] simultaneous verifications of one valid
/// code give exactly one success; the same for one recovery code.
///
/// # Errors
///
/// A [`Failure`].
pub async fn flow_concurrent_same_code_one_success<S, R>(
    store: Arc<S>,
    rng: &mut R,
) -> Result<(), Failure>
where
    S: MfaStore + 'static,
    R: CryptoRng + ?Sized,
{
    const C: &str = "flow_concurrent_same_code_one_success";
    let throttle = crate::ThrottlePolicy::new(1000, 1).map_err(failed(C))?;
    let config = MfaConfig::new("Conformance")
        .map_err(failed(C))?
        .with_throttle(throttle);
    let mfa = Arc::new(Mfa::new(store, config));
    let f = fixture(rng, "flow");
    let now = 1_700_000_000u64;
    let association = mfa
        .associate(&f.user, "race@example.com", &mut *rng, now)
        .await
        .map_err(failed(C))?;
    let secret = Secret::from_base32(&association.secret).map_err(failed(C))?;
    let recovery = association
        .recovery_codes
        .first()
        .map(|c| String::from(c.as_str()))
        .ok_or_else(|| Failure {
            check: C,
            message: "no recovery code issued".into(),
        })?;
    let totp = Totp::new(&secret, TotpParams::default());
    let code = totp.generate(now).map_err(failed(C))?;
    let code = String::from(code.as_str());

    let tasks = (0..CONCURRENCY).map(|_| {
        let (mfa, user, code) = (mfa.clone(), f.user.clone(), code.clone());
        async move {
            match mfa.verify_otp(&user, &code, now).await {
                Ok(_) => Ok(true),
                Err(MfaError::InvalidOtp | MfaError::Contention) => Ok(false),
                Err(e) => Err(e.to_string()),
            }
        }
    });
    let wins = race(C, tasks).await?;
    ensure!(
        C,
        wins == 1,
        "{wins} of {CONCURRENCY} concurrent verifications of one OTP succeeded"
    );

    // Draw each task's replacement code here: the futures hold no generator.
    let replacements: Vec<_> = (0..CONCURRENCY)
        .map(|_| mfa.prepare_recovery(&mut *rng))
        .collect();
    let tasks = replacements.into_iter().map(|prepared| {
        let (mfa, user, recovery) = (mfa.clone(), f.user.clone(), recovery.clone());
        async move {
            match mfa
                .verify_recovery_code_prepared(&user, &recovery, prepared, now)
                .await
            {
                Ok(_) => Ok(true),
                Err(MfaError::InvalidRecoveryCode | MfaError::Contention) => Ok(false),
                Err(e) => Err(e.to_string()),
            }
        }
    });
    let wins = race(C, tasks).await?;
    ensure!(
        C,
        wins == 1,
        "{wins} of {CONCURRENCY} concurrent uses of one recovery code succeeded"
    );
    Ok(())
}

/// Spawns every task on the runtime behind one barrier, so that they start
/// together, and counts those that return `Ok(true)`.
async fn race<F>(check: &'static str, tasks: impl IntoIterator<Item = F>) -> Result<usize, Failure>
where
    F: Future<Output = Result<bool, String>> + Send + 'static,
{
    let tasks: Vec<F> = tasks.into_iter().collect();
    let barrier = Arc::new(tokio::sync::Barrier::new(tasks.len()));
    let handles: Vec<_> = tasks
        .into_iter()
        .map(|task| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                task.await
            })
        })
        .collect();
    let mut wins = 0usize;
    for handle in handles {
        match handle.await {
            Ok(Ok(true)) => wins = wins.saturating_add(1),
            Ok(Ok(false)) => {}
            Ok(Err(message)) => return Err(Failure { check, message }),
            Err(e) => {
                return Err(Failure {
                    check,
                    message: format!("task failed: {e}"),
                });
            }
        }
    }
    Ok(wins)
}
