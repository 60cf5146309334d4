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
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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

/// Runs every check; returns the first failure. The checks of the value
/// rules (`last_step` NULL-safety, the `u64` range, removal) run first, so
/// a store that breaks one is reported by that rule's check rather than by
/// a later check that happens to trip over it.
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
    last_step_compares_null_safely(&*store, fixture(rng, "null")).await?;
    whole_u64_range_round_trips(&*store, fixture(rng, "u64")).await?;
    remove_deletes_only_that_authenticator(
        &*store,
        fixture(rng, "remove-otp"),
        fixture(rng, "remove-pending"),
    )
    .await?;
    enroll_rules(&*store, fixture(rng, "rules"), fixture(rng, "rules2")).await?;
    advance_is_compare_and_set(&*store, fixture(rng, "advance")).await?;
    accept_is_one_compare_and_set(&*store, fixture(rng, "accept")).await?;
    accept_recovery_is_one_compare_and_set(
        &*store,
        fixture(rng, "accept-rec"),
        fixture(rng, "accept-rec2"),
    )
    .await?;
    attempts_are_compare_and_set(&*store, fixture(rng, "attempts")).await?;
    remove_and_isolation(&*store, fixture(rng, "remove"), fixture(rng, "other")).await?;
    load_otp_is_loads_otp(&*store, fixture(rng, "load-otp")).await?;
    load_is_one_consistent_snapshot(store.clone(), fixture(rng, "snapshot")).await?;
    concurrent_advance_has_one_winner(store.clone(), fixture(rng, "race-step")).await?;
    concurrent_recovery_accepts_have_one_winner(store.clone(), fixture(rng, "race-code")).await?;
    concurrent_failures_lose_no_increment(store.clone(), fixture(rng, "race-fail")).await?;
    concurrent_accepts_have_one_winner(store.clone(), fixture(rng, "race-accept")).await?;
    flow_concurrent_wrong_codes_stay_within_the_bucket(store.clone(), rng).await?;
    flow_concurrent_wrong_recovery_codes_stay_within_the_bucket(store.clone(), rng).await?;
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

/// Every stored time and step round-trips over the whole `u64` range, at
/// and around the edges of `i64` (where a signed 64-bit column needs the
/// bit-cast), and compare-and-sets match on such values exactly.
///
/// # Errors
///
/// A [`Failure`] naming the value that came back different.
async fn whole_u64_range_round_trips<S: MfaStore>(store: &S, f: Fixture) -> Result<(), Failure> {
    const C: &str = "whole_u64_range_round_trips";
    const HALF: u64 = 1 << 63;
    let mut otp = f.otp.clone();
    otp.params = otp.params.with_t0(u64::MAX);
    otp.created_at = u64::MAX;
    otp.attempts = Attempts::from_parts(u32::MAX, HALF);
    let mut recovery = f.recovery.clone();
    recovery.created_at = HALF;
    recovery.attempts = Attempts::from_parts(u32::MAX, u64::MAX);
    store
        .enroll(&f.user, otp.clone(), Some(recovery.clone()))
        .await
        .map_err(storage(C))?;
    let loaded = store.load(&f.user).await.map_err(storage(C))?;
    let (lo, lr) = loaded.otp.zip(loaded.recovery).ok_or_else(|| Failure {
        check: C,
        message: "the enrollment was not loaded".into(),
    })?;
    ensure!(
        C,
        lo.params.t0() == u64::MAX,
        "t0 {} read back as {}",
        u64::MAX,
        lo.params.t0()
    );
    ensure!(
        C,
        lo.created_at == u64::MAX,
        "created_at {} read back as {}",
        u64::MAX,
        lo.created_at
    );
    ensure!(
        C,
        lo.attempts == otp.attempts,
        "the OTP bucket {:?} read back as {:?}",
        otp.attempts,
        lo.attempts
    );
    ensure!(
        C,
        lr.created_at == HALF && lr.attempts == recovery.attempts,
        "the recovery record's created_at {HALF} and bucket {:?} read back as {} and {:?}",
        recovery.attempts,
        lr.created_at,
        lr.attempts
    );
    // Steps across the i64 boundary and up to u64::MAX, each one written
    // by a compare-and-set that expects the previous one.
    let steps = [
        Some(HALF - 1),
        Some(HALF),
        Some(HALF + 1),
        Some(u64::MAX - 1),
        Some(u64::MAX),
    ];
    let mut current = OtpProgress::default();
    for step in steps {
        let next = OtpProgress {
            last_step: step,
            drift: Drift::saturating(i64::MAX),
            active: false,
        };
        ensure!(
            C,
            store
                .advance_otp(&f.user, &f.otp.id, current, next)
                .await
                .map_err(storage(C))?,
            "advancing from {:?} to {step:?} was refused",
            current.last_step
        );
        let got = store
            .load(&f.user)
            .await
            .map_err(storage(C))?
            .otp
            .map(|o| o.progress);
        ensure!(
            C,
            got == Some(next),
            "progress {next:?} read back as {got:?}"
        );
        current = next;
    }
    // Buckets, and the accepted write, compare on such values too.
    let big = Attempts::from_parts(1, u64::MAX);
    ensure!(
        C,
        store
            .update_attempts(&f.user, &f.otp.id, otp.attempts, big)
            .await
            .map_err(storage(C))?,
        "the bucket {:?} did not match itself",
        otp.attempts
    );
    let last = OtpProgress {
        last_step: Some(HALF),
        drift: Drift::saturating(i64::MIN),
        active: true,
    };
    ensure!(
        C,
        store
            .accept_otp(&f.user, &f.otp.id, current, big, last)
            .await
            .map_err(storage(C))?,
        "accepting from step {:?} with the bucket {big:?} was refused",
        current.last_step
    );
    let got = store
        .load(&f.user)
        .await
        .map_err(storage(C))?
        .otp
        .map(|o| (o.progress, o.attempts));
    ensure!(
        C,
        got == Some((last, Attempts::default())),
        "after the accept the state reads {got:?}"
    );
    let big = Attempts::from_parts(7, u64::MAX);
    ensure!(
        C,
        store
            .update_attempts(&f.user, &f.recovery.id, recovery.attempts, big)
            .await
            .map_err(storage(C))?,
        "the recovery bucket {:?} did not match itself",
        recovery.attempts
    );
    let got = store
        .load(&f.user)
        .await
        .map_err(storage(C))?
        .recovery
        .map(|r| r.attempts);
    ensure!(
        C,
        got == Some(big),
        "the recovery bucket {big:?} read back as {got:?}"
    );
    Ok(())
}

/// `last_step: None` (never used) and `Some(0)` are two states: a
/// compare-and-set expecting one never matches the other, expecting `None`
/// matches a never-used authenticator, and `Some(0)` reads back as itself.
/// A SQL store comparing a nullable column with `=` (`NULL = NULL` is not
/// true) fails here, and so does one that stores `None` as 0.
///
/// # Errors
///
/// A [`Failure`].
async fn last_step_compares_null_safely<S: MfaStore>(store: &S, f: Fixture) -> Result<(), Failure> {
    const C: &str = "last_step_compares_null_safely";
    store
        .enroll(&f.user, f.otp.clone(), None)
        .await
        .map_err(storage(C))?;
    let id = &f.otp.id;
    let never = OtpProgress::default();
    let zero = OtpProgress {
        last_step: Some(0),
        ..never
    };
    let one = OtpProgress {
        last_step: Some(1),
        ..never
    };
    let progress = |loaded: crate::store::UserAuthenticators| loaded.otp.map(|o| o.progress);
    // Never used: expecting step 0 matches nothing.
    ensure!(
        C,
        !store
            .advance_otp(&f.user, id, zero, one)
            .await
            .map_err(storage(C))?,
        "an advance expecting step 0 matched a never-used authenticator"
    );
    ensure!(
        C,
        !store
            .accept_otp(&f.user, id, zero, Attempts::default(), one)
            .await
            .map_err(storage(C))?,
        "an accept expecting step 0 matched a never-used authenticator"
    );
    let got = progress(store.load(&f.user).await.map_err(storage(C))?);
    ensure!(
        C,
        got == Some(never),
        "a never-used authenticator reads {got:?}"
    );
    // Expecting "never used" matches it: the first code ever is step 0.
    ensure!(
        C,
        store
            .advance_otp(&f.user, id, never, zero)
            .await
            .map_err(storage(C))?,
        "an advance expecting a never-used authenticator (NULL) did not match it"
    );
    let got = progress(store.load(&f.user).await.map_err(storage(C))?);
    ensure!(C, got == Some(zero), "step 0 read back as {got:?}");
    // Step 0 used: expecting "never used" matches nothing.
    ensure!(
        C,
        !store
            .advance_otp(&f.user, id, never, one)
            .await
            .map_err(storage(C))?,
        "an advance expecting a never-used authenticator matched one at step 0"
    );
    ensure!(
        C,
        !store
            .accept_otp(&f.user, id, never, Attempts::default(), one)
            .await
            .map_err(storage(C))?,
        "an accept expecting a never-used authenticator matched one at step 0"
    );
    let got = progress(store.load(&f.user).await.map_err(storage(C))?);
    ensure!(
        C,
        got == Some(zero),
        "a refused write changed step 0 to {got:?}"
    );
    ensure!(
        C,
        store
            .accept_otp(&f.user, id, zero, Attempts::default(), one)
            .await
            .map_err(storage(C))?,
        "an accept expecting step 0 did not match it"
    );
    let got = progress(store.load(&f.user).await.map_err(storage(C))?);
    ensure!(C, got == Some(one), "step 1 read back as {got:?}");
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

/// `accept_recovery_code` is one compare-and-set over the slots **and**
/// the bucket: it writes only when both are exactly as the check saw them
/// (and the slot holds a code), then both at once (the slot consumed or
/// replaced, the bucket empty); a refused call changes nothing, byte for
/// byte; another user's and the other authenticator's state are never
/// touched. A store that splits it into a consumption and a reset fails
/// here, whichever half it runs first, and so does one that ignores the
/// bucket or compares only the one slot.
///
/// # Errors
///
/// A [`Failure`].
async fn accept_recovery_is_one_compare_and_set<S: MfaStore>(
    store: &S,
    f: Fixture,
    g: Fixture,
) -> Result<(), Failure> {
    const C: &str = "accept_recovery_is_one_compare_and_set";
    store
        .enroll(&f.user, f.otp.clone(), Some(f.recovery.clone()))
        .await
        .map_err(storage(C))?;
    store
        .enroll(&g.user, g.otp.clone(), Some(g.recovery.clone()))
        .await
        .map_err(storage(C))?;
    let id = &f.recovery.id;
    let (h0, h1, fresh) = match (f.hashes.as_slice(), g.hashes.first()) {
        ([a, b, ..], Some(r)) => (*a, *b, *r),
        _ => {
            return Err(Failure {
                check: C,
                message: "fixture has too few hashes".into(),
            });
        }
    };
    let a0 = Attempts::default();
    let a1 = Attempts::from_parts(1, 1_700_000_000);
    let a2 = Attempts::from_parts(2, u64::MAX);
    // Both buckets charged, so that emptying the wrong one shows.
    ensure!(
        C,
        store
            .update_attempts(&f.user, id, a0, a1)
            .await
            .map_err(storage(C))?
            && store
                .update_attempts(&f.user, &f.otp.id, a0, a1)
                .await
                .map_err(storage(C))?,
        "charging the buckets failed"
    );
    let state = |loaded: crate::store::UserAuthenticators| {
        (
            loaded.recovery.map(|r| (r.slots, r.attempts)),
            loaded.otp.map(|o| (o.progress, o.attempts)),
        )
    };
    let otp_before = Some((OtpProgress::default(), a1));
    let s0 = f.recovery.slots.clone();
    let with = |slots: &[Option<RecoveryHash>], i: usize, v: Option<RecoveryHash>| {
        let mut slots = slots.to_vec();
        if let Some(s) = slots.get_mut(i) {
            *s = v;
        }
        slots
    };
    let before = (Some((s0.clone(), a1)), otp_before);
    // Each refusal: the expectation that is stale, and what is refused.
    let refusals: [(&str, Vec<Option<RecoveryHash>>, Attempts, usize); 5] = [
        ("a stale bucket", s0.clone(), a0, 0),
        ("stale slots (another slot used)", with(&s0, 1, None), a1, 0),
        (
            "stale slots (another hash in the slot)",
            with(&s0, 0, Some(h1)),
            a1,
            0,
        ),
        ("a slot already used", with(&s0, 0, None), a1, 0),
        ("a slot out of range", s0.clone(), a1, 99),
    ];
    for (what, slots, attempts, slot) in &refusals {
        ensure!(
            C,
            !store
                .accept_recovery_code(&f.user, id, slots, *attempts, *slot, Some(fresh))
                .await
                .map_err(storage(C))?,
            "an accept with {what} was applied"
        );
        let now = state(store.load(&f.user).await.map_err(storage(C))?);
        ensure!(
            C,
            now == before,
            "a refused accept ({what}) changed the state to {now:?}"
        );
    }
    // As the check saw it: the slot takes its replacement and the bucket
    // empties, together; the OTP authenticator is left as it was.
    ensure!(
        C,
        store
            .accept_recovery_code(&f.user, id, &s0, a1, 0, Some(fresh))
            .await
            .map_err(storage(C))?,
        "the current expected state was refused"
    );
    let s1 = with(&s0, 0, Some(fresh));
    let now = state(store.load(&f.user).await.map_err(storage(C))?);
    ensure!(
        C,
        now == (Some((s1.clone(), a0)), otp_before),
        "after an accept the state reads {now:?}"
    );
    ensure!(
        C,
        !store
            .accept_recovery_code(&f.user, id, &s0, a1, 0, Some(fresh))
            .await
            .map_err(storage(C))?,
        "the same accept succeeded twice"
    );
    // A later use (set policy: the slot marked used), from a charged bucket.
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
            .accept_recovery_code(&f.user, id, &s1, a2, 1, None)
            .await
            .map_err(storage(C))?,
        "a later accept was refused"
    );
    let s2 = with(&s1, 1, None);
    let now = state(store.load(&f.user).await.map_err(storage(C))?);
    ensure!(
        C,
        now == (Some((s2.clone(), a0)), otp_before),
        "after a later accept the state reads {now:?}"
    );
    ensure!(
        C,
        !store
            .accept_recovery_code(&f.user, id, &s2, a0, 1, Some(h0))
            .await
            .map_err(storage(C))?,
        "a used slot was accepted again"
    );
    // Another user's row, and ids that are not this user's, stay untouched.
    let g_before = store.load(&g.user).await.map_err(storage(C))?.recovery;
    let unknown =
        AuthenticatorId::parse("recovery-code|dev_0000000000000000").ok_or_else(|| Failure {
            check: C,
            message: "id parse".into(),
        })?;
    for (user, id, slots) in [
        (&g.user, &f.recovery.id, &s2),
        (&g.user, &f.recovery.id, &g.recovery.slots),
        (&f.user, &g.recovery.id, &g.recovery.slots),
        (&f.user, &unknown, &s2),
    ] {
        ensure!(
            C,
            !store
                .accept_recovery_code(user, id, slots, a0, 2, None)
                .await
                .map_err(storage(C))?,
            "an accept of {id} for {user} was applied"
        );
    }
    let g_after = store.load(&g.user).await.map_err(storage(C))?.recovery;
    ensure!(
        C,
        g_after == g_before && g_after.as_ref() == Some(&g.recovery),
        "another user's recovery codes changed to {g_after:?}"
    );
    let now = state(store.load(&f.user).await.map_err(storage(C))?);
    ensure!(
        C,
        now == (Some((s2, a0)), otp_before),
        "accepts for other ids changed the state to {now:?}"
    );
    // Regeneration replaces every slot and empties the bucket.
    ensure!(
        C,
        store
            .replace_recovery_codes(&f.user, id, s0.clone())
            .await
            .map_err(storage(C))?,
        "replacing codes failed"
    );
    let loaded = store.load(&f.user).await.map_err(storage(C))?;
    ensure!(
        C,
        loaded.recovery.map(|r| (r.slots, r.attempts)) == Some((s0, a0)),
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

/// `remove` deletes exactly the authenticator it names: removing the OTP
/// authenticator keeps the recovery authenticator as it was (active or
/// not, its codes, its bucket), and its codes still work; removing the
/// recovery authenticator keeps the OTP authenticator's progress and bucket.
///
/// # Errors
///
/// A [`Failure`].
async fn remove_deletes_only_that_authenticator<S: MfaStore>(
    store: &S,
    f: Fixture,
    g: Fixture,
) -> Result<(), Failure> {
    const C: &str = "remove_deletes_only_that_authenticator";
    // A confirmed enrollment whose recovery codes were tried once.
    store
        .enroll(&f.user, f.otp.clone(), Some(f.recovery.clone()))
        .await
        .map_err(storage(C))?;
    let confirmed = OtpProgress {
        last_step: Some(42),
        drift: Drift::NONE,
        active: true,
    };
    let a1 = Attempts::from_parts(1, 1_700_000_000);
    ensure!(
        C,
        store
            .accept_otp(
                &f.user,
                &f.otp.id,
                OtpProgress::default(),
                Attempts::default(),
                confirmed
            )
            .await
            .map_err(storage(C))?
            && store
                .update_attempts(&f.user, &f.recovery.id, Attempts::default(), a1)
                .await
                .map_err(storage(C))?,
        "setting up a confirmed enrollment failed"
    );
    let before = store
        .load(&f.user)
        .await
        .map_err(storage(C))?
        .recovery
        .ok_or_else(|| Failure {
            check: C,
            message: "no recovery authenticator after the confirmation".into(),
        })?;
    ensure!(
        C,
        store.remove(&f.user, &f.otp.id).await.map_err(storage(C))?,
        "removing the OTP authenticator failed"
    );
    let after = store.load(&f.user).await.map_err(storage(C))?;
    ensure!(
        C,
        after.otp.is_none(),
        "the removed OTP authenticator is still loaded"
    );
    ensure!(
        C,
        after.recovery.as_ref() == Some(&before),
        "removing the OTP authenticator changed the recovery codes from {before:?} to {:?}",
        after.recovery
    );
    ensure!(
        C,
        store
            .accept_recovery_code(
                &f.user,
                &f.recovery.id,
                &before.slots,
                before.attempts,
                0,
                None
            )
            .await
            .map_err(storage(C))?,
        "a recovery code no longer works once the OTP authenticator is removed"
    );
    ensure!(
        C,
        !store.remove(&f.user, &f.otp.id).await.map_err(storage(C))?,
        "removing the OTP authenticator twice succeeded"
    );
    // A pending enrollment: its inactive recovery codes stay too.
    store
        .enroll(&g.user, g.otp.clone(), Some(g.recovery.clone()))
        .await
        .map_err(storage(C))?;
    ensure!(
        C,
        store.remove(&g.user, &g.otp.id).await.map_err(storage(C))?,
        "removing a pending OTP authenticator failed"
    );
    let after = store.load(&g.user).await.map_err(storage(C))?;
    ensure!(
        C,
        after.otp.is_none() && after.recovery.as_ref() == Some(&g.recovery),
        "removing a pending OTP authenticator left {:?} as the recovery codes",
        after.recovery
    );
    // And the other way round: the OTP authenticator keeps its state.
    store
        .enroll(&g.user, g.otp.clone(), None)
        .await
        .map_err(storage(C))?;
    ensure!(
        C,
        store
            .update_attempts(&g.user, &g.otp.id, Attempts::default(), a1)
            .await
            .map_err(storage(C))?
            && store
                .advance_otp(&g.user, &g.otp.id, OtpProgress::default(), confirmed)
                .await
                .map_err(storage(C))?,
        "setting up the second enrollment failed"
    );
    ensure!(
        C,
        store
            .remove(&g.user, &g.recovery.id)
            .await
            .map_err(storage(C))?,
        "removing the recovery authenticator failed"
    );
    let after = store.load(&g.user).await.map_err(storage(C))?;
    ensure!(
        C,
        after.recovery.is_none()
            && after.otp.as_ref().map(|o| (&o.id, o.progress, o.attempts))
                == Some((&g.otp.id, confirmed, a1)),
        "removing the recovery authenticator changed the OTP authenticator to {:?}",
        after.otp
    );
    Ok(())
}

/// Rounds the writer of [`load_is_one_consistent_snapshot`] runs.
const SNAPSHOT_ROUNDS: u64 = 100;

/// Readers racing the writer in [`load_is_one_consistent_snapshot`].
const SNAPSHOT_READERS: usize = 8;

/// `load` returns one instant, no older than the call. A writer moves one
/// user through rounds (an accepted code at step `k` empties the bucket;
/// then one failure charges it to `k` attempts since time `k`; the first
/// accept also confirms the enrollment and activates the recovery codes)
/// and reads its own writes back after each; concurrent readers check that
/// every snapshot is a state those writes produce (the bucket belongs to
/// the step beside it; active OTP means active recovery codes) and that
/// no reader ever sees the step go backwards. The writer starts once every
/// reader has loaded, and waits for [`SNAPSHOT_READERS`] more loads after
/// each write, so that writes land while loads are under way.
///
/// # Errors
///
/// A [`Failure`] with the torn or stale snapshot.
async fn load_is_one_consistent_snapshot<S: MfaStore + 'static>(
    store: Arc<S>,
    f: Fixture,
) -> Result<(), Failure> {
    const C: &str = "load_is_one_consistent_snapshot";
    store
        .enroll(&f.user, f.otp.clone(), Some(f.recovery.clone()))
        .await
        .map_err(storage(C))?;
    let pace = Arc::new(Pace::default());
    let readers: Vec<_> = (0..SNAPSHOT_READERS)
        .map(|_| {
            let (store, user, pace) = (store.clone(), f.user.clone(), pace.clone());
            tokio::spawn(async move {
                let read = read_until_done(&*store, &user, &pace).await;
                if read.is_err() {
                    pace.stop.store(true, Ordering::Release);
                }
                read
            })
        })
        .collect();
    let writer = {
        let (store, pace) = (store.clone(), pace.clone());
        tokio::spawn(async move {
            let written = write_rounds(&*store, &f, &pace).await;
            pace.stop.store(true, Ordering::Release);
            written
        })
    };
    for reader in readers {
        match reader.await {
            Ok(Ok(())) => {}
            Ok(Err(message)) => return Err(Failure { check: C, message }),
            Err(e) => {
                return Err(Failure {
                    check: C,
                    message: format!("reader failed: {e}"),
                });
            }
        }
    }
    match writer.await {
        Ok(written) => written.map_err(|message| Failure { check: C, message }),
        Err(e) => Err(Failure {
            check: C,
            message: format!("writer failed: {e}"),
        }),
    }
}

/// Whether two reads of one OTP authenticator agree on every field (the
/// secret compared in constant time).
fn same_otp(a: Option<&OtpAuthenticator>, b: Option<&OtpAuthenticator>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.id == b.id
                && a.secret == b.secret
                && a.params == b.params
                && a.progress == b.progress
                && a.attempts == b.attempts
                && a.created_at == b.created_at
        }
        _ => false,
    }
}

/// [`load_otp_is_loads_otp`]'s comparison in one state: `load_otp`'s
/// answer, once it is the same as `load`'s.
async fn agree<S: MfaStore>(
    store: &S,
    user: &str,
    state: &'static str,
) -> Result<Option<OtpAuthenticator>, Failure> {
    const C: &str = "load_otp_is_loads_otp";
    let alone = store.load_otp(user).await.map_err(storage(C))?;
    let both = store.load(user).await.map_err(storage(C))?;
    ensure!(
        C,
        same_otp(alone.as_ref(), both.otp.as_ref()),
        "{state}: load_otp reads {alone:?}, load reads {:?}",
        both.otp
    );
    Ok(alone)
}

/// [`MfaStore::load_otp`] answers what [`MfaStore::load`]'s `otp` answers,
/// in every state: unknown user, pending, confirmed, charged, removed (with
/// the recovery codes kept), and for no other user.
///
/// # Errors
///
/// A [`Failure`] naming the state in which the two reads differ.
async fn load_otp_is_loads_otp<S: MfaStore>(store: &S, f: Fixture) -> Result<(), Failure> {
    const C: &str = "load_otp_is_loads_otp";
    ensure!(
        C,
        agree(store, &f.user, "unknown user").await?.is_none(),
        "an unknown user has an OTP authenticator"
    );
    store
        .enroll(&f.user, f.otp.clone(), Some(f.recovery.clone()))
        .await
        .map_err(storage(C))?;
    let pending = agree(store, &f.user, "pending").await?;
    ensure!(
        C,
        same_otp(pending.as_ref(), Some(&f.otp)),
        "pending: load_otp reads {pending:?}, enrolled {:?}",
        f.otp
    );
    let next = OtpProgress {
        last_step: Some(u64::MAX),
        drift: Drift::NONE,
        active: true,
    };
    let accepted = store
        .accept_otp(&f.user, &f.otp.id, f.otp.progress, f.otp.attempts, next)
        .await
        .map_err(storage(C))?;
    ensure!(C, accepted, "the accept was refused");
    let confirmed = agree(store, &f.user, "confirmed").await?;
    ensure!(
        C,
        confirmed.as_ref().map(|o| o.progress) == Some(next),
        "confirmed: load_otp reads {confirmed:?} (a stale read)"
    );
    let bucket = Attempts::from_parts(3, u64::MAX);
    let charged = store
        .update_attempts(&f.user, &f.otp.id, Attempts::default(), bucket)
        .await
        .map_err(storage(C))?;
    ensure!(C, charged, "the charge was refused");
    let after = agree(store, &f.user, "charged").await?;
    ensure!(
        C,
        after.as_ref().map(|o| o.attempts) == Some(bucket),
        "charged: load_otp reads {after:?} (a stale read)"
    );
    let other = store
        .load_otp(&format!("{}-other", f.user))
        .await
        .map_err(storage(C))?;
    ensure!(
        C,
        other.is_none(),
        "another user reads this user's OTP authenticator"
    );
    let removed = store.remove(&f.user, &f.otp.id).await.map_err(storage(C))?;
    ensure!(C, removed, "the removal found nothing");
    ensure!(
        C,
        agree(store, &f.user, "removed").await?.is_none(),
        "a removed OTP authenticator is read"
    );
    store
        .remove(&f.user, &f.recovery.id)
        .await
        .map_err(storage(C))?;
    Ok(())
}

/// What the readers and the writer of [`load_is_one_consistent_snapshot`]
/// share: loads completed so far, and whether to stop (the writer is done,
/// or a reader failed).
#[derive(Default)]
struct Pace {
    loads: AtomicUsize,
    stop: AtomicBool,
}

impl Pace {
    /// Waits (boundedly) until `more` loads have completed since the call.
    async fn loads_after(&self, more: usize) {
        let target = self.loads.load(Ordering::Acquire).saturating_add(more);
        for _ in 0..100_000 {
            if self.loads.load(Ordering::Acquire) >= target || self.stop.load(Ordering::Acquire) {
                return;
            }
            tokio::task::yield_now().await;
        }
    }
}

/// One reader of [`load_is_one_consistent_snapshot`]: loads until told to
/// stop, checking every snapshot.
async fn read_until_done<S: MfaStore>(store: &S, user: &str, pace: &Pace) -> Result<(), String> {
    let mut seen = None;
    while !pace.stop.load(Ordering::Acquire) {
        let snapshot = store.load(user).await.map_err(|e| e.to_string())?;
        consistent(&snapshot)?;
        let step = snapshot.otp.as_ref().and_then(|o| o.progress.last_step);
        if step < seen {
            return Err(format!(
                "a later load went back from step {seen:?} to {step:?}"
            ));
        }
        seen = step;
        pace.loads.fetch_add(1, Ordering::AcqRel);
        tokio::task::yield_now().await;
    }
    Ok(())
}

/// The states [`write_rounds`] produces, for one snapshot.
fn consistent(snapshot: &crate::store::UserAuthenticators) -> Result<(), String> {
    let (Some(otp), Some(rec)) = (&snapshot.otp, &snapshot.recovery) else {
        return Err(format!("a snapshot lost a record: {snapshot:?}"));
    };
    let step = otp.progress.last_step;
    let bucket_fits = otp.attempts == Attempts::default()
        || step.is_some_and(|k| otp.attempts == Attempts::from_parts(charged(k), k));
    if !bucket_fits || otp.progress.active != step.is_some() {
        return Err(format!(
            "a torn snapshot: progress {:?} with the bucket {:?}",
            otp.progress, otp.attempts
        ));
    }
    if otp.progress.active && !rec.active {
        return Err(
            "a torn snapshot: the OTP authenticator is confirmed, its recovery codes are not"
                .into(),
        );
    }
    Ok(())
}

/// Attempts charged in round `k`.
fn charged(k: u64) -> u32 {
    u32::try_from(k).unwrap_or(u32::MAX)
}

/// The writer of [`load_is_one_consistent_snapshot`]: every write must
/// succeed, and a load right after it must show it.
async fn write_rounds<S: MfaStore>(store: &S, f: &Fixture, pace: &Pace) -> Result<(), String> {
    let (user, id) = (&f.user, &f.otp.id);
    // Every reader is under way first.
    pace.loads_after(SNAPSHOT_READERS).await;
    let mut progress = OtpProgress::default();
    let mut attempts = Attempts::default();
    for k in 1..=SNAPSHOT_ROUNDS {
        if pace.stop.load(Ordering::Acquire) {
            // A reader failed; it reports why.
            return Ok(());
        }
        let next = OtpProgress {
            last_step: Some(k),
            drift: Drift::NONE,
            active: true,
        };
        if !store
            .accept_otp(user, id, progress, attempts, next)
            .await
            .map_err(|e| e.to_string())?
        {
            return Err(format!("round {k}: the accept was refused"));
        }
        // Let the readers in between every two writes.
        pace.loads_after(SNAPSHOT_READERS).await;
        let read = store.load(user).await.map_err(|e| e.to_string())?;
        let got = read.otp.as_ref().map(|o| (o.progress, o.attempts));
        if got != Some((next, Attempts::default())) {
            return Err(format!(
                "round {k}: a load after the accept reads {got:?} (a stale read)"
            ));
        }
        let bucket = Attempts::from_parts(charged(k), k);
        if !store
            .update_attempts(user, id, Attempts::default(), bucket)
            .await
            .map_err(|e| e.to_string())?
        {
            return Err(format!("round {k}: the charge was refused"));
        }
        pace.loads_after(SNAPSHOT_READERS).await;
        let read = store.load(user).await.map_err(|e| e.to_string())?;
        let alone = store.load_otp(user).await.map_err(|e| e.to_string())?;
        if alone.as_ref().map(|o| (o.progress, o.attempts)) != Some((next, bucket)) {
            return Err(format!(
                "round {k}: load_otp after the charge reads {alone:?} (a stale read)"
            ));
        }
        let got = read.otp.as_ref().map(|o| o.attempts);
        if got != Some(bucket) {
            return Err(format!(
                "round {k}: a load after the charge reads the bucket {got:?} (a stale read)"
            ));
        }
        (progress, attempts) = (next, bucket);
    }
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

/// [`CONCURRENCY`] tasks race to accept the same recovery code from one
/// snapshot: exactly one wins, and the slot is consumed once, the others
/// kept, the bucket empty.
///
/// # Errors
///
/// A [`Failure`].
async fn concurrent_recovery_accepts_have_one_winner<S: MfaStore + 'static>(
    store: Arc<S>,
    f: Fixture,
) -> Result<(), Failure> {
    const C: &str = "concurrent_recovery_accepts_have_one_winner";
    store
        .enroll(&f.user, f.otp.clone(), Some(f.recovery.clone()))
        .await
        .map_err(storage(C))?;
    let charged = Attempts::from_parts(3, 1_700_000_000);
    ensure!(
        C,
        store
            .update_attempts(&f.user, &f.recovery.id, Attempts::default(), charged)
            .await
            .map_err(storage(C))?,
        "charging the bucket failed"
    );
    let slots = Arc::new(f.recovery.slots.clone());
    let tasks = (0..CONCURRENCY).map(|_| {
        let (store, user, id) = (store.clone(), f.user.clone(), f.recovery.id.clone());
        let slots = slots.clone();
        async move {
            store
                .accept_recovery_code(&user, &id, &slots, charged, 0, None)
                .await
                .map_err(|e| e.to_string())
        }
    });
    let wins = race(C, tasks).await?;
    ensure!(
        C,
        wins == 1,
        "{wins} of {CONCURRENCY} concurrent accepts of one recovery code were applied"
    );
    let mut expected = f.recovery.slots.clone();
    if let Some(first) = expected.first_mut() {
        *first = None;
    }
    let now = store
        .load(&f.user)
        .await
        .map_err(storage(C))?
        .recovery
        .map(|r| (r.slots, r.attempts));
    ensure!(
        C,
        now == Some((expected, Attempts::default())),
        "after the race the recovery codes read {now:?}"
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

/// Through the flow: [`CONCURRENCY`] simultaneous wrong recovery codes
/// against a bucket of 5 get at most 5 answers of `invalid_grant` (each
/// spent one attempt, and the bucket reads exactly that many), the rest
/// `too_many_attempts` (or contention); no code is consumed.
///
/// # Errors
///
/// A [`Failure`].
pub async fn flow_concurrent_wrong_recovery_codes_stay_within_the_bucket<S, R>(
    store: Arc<S>,
    rng: &mut R,
) -> Result<(), Failure>
where
    S: MfaStore + 'static,
    R: CryptoRng + ?Sized,
{
    const C: &str = "flow_concurrent_wrong_recovery_codes_stay_within_the_bucket";
    const CAPACITY: u32 = 5;
    let throttle = crate::ThrottlePolicy::new(CAPACITY, 3600).map_err(failed(C))?;
    let config = MfaConfig::new("Conformance")
        .map_err(failed(C))?
        .with_throttle(throttle);
    let mfa = Arc::new(Mfa::new(store.clone(), config));
    let f = fixture(rng, "flow-wrong-rec");
    let now = 1_700_000_000u64;
    let association = mfa
        .associate(&f.user, "lost@example.com", &mut *rng, now)
        .await
        .map_err(failed(C))?;
    // Confirming the enrollment activates the recovery codes.
    let secret = Secret::from_base32(&association.secret).map_err(failed(C))?;
    let code = Totp::new(&secret, TotpParams::default())
        .generate(now)
        .map_err(failed(C))?;
    mfa.verify_otp(&f.user, code.as_str(), now)
        .await
        .map_err(failed(C))?;
    // A well-formed code that was never issued.
    let wrong = String::from(RecoveryFormat::default().generate(rng).as_str());
    let before = store
        .load(&f.user)
        .await
        .map_err(storage(C))?
        .recovery
        .map(|r| r.slots);
    let replacements: Vec<_> = (0..CONCURRENCY)
        .map(|_| mfa.prepare_recovery(&mut *rng))
        .collect();
    let tasks = replacements.into_iter().map(|prepared| {
        let (mfa, user, wrong) = (mfa.clone(), f.user.clone(), wrong.clone());
        async move {
            match mfa
                .verify_recovery_code_prepared(&user, &wrong, prepared, now)
                .await
            {
                Err(MfaError::InvalidRecoveryCode) => Ok(true),
                Err(MfaError::TooManyAttempts(_) | MfaError::Contention) => Ok(false),
                Ok(_) => Err("a wrong recovery code was accepted".to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
    });
    let answered = race(C, tasks).await?;
    ensure!(
        C,
        answered <= CAPACITY as usize,
        "{answered} of {CONCURRENCY} concurrent wrong recovery codes were checked against a bucket of {CAPACITY}"
    );
    let after = store
        .load(&f.user)
        .await
        .map_err(storage(C))?
        .recovery
        .map(|r| (r.slots, r.attempts.used()));
    ensure!(
        C,
        after == before.map(|s| (s, u32::try_from(answered).unwrap_or(u32::MAX))),
        "{answered} wrong recovery codes were answered but the recovery codes read {after:?}"
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
    let again = mfa
        .verify_recovery_code_prepared(&f.user, &recovery, mfa.prepare_recovery(&mut *rng), now)
        .await;
    ensure!(
        C,
        matches!(again, Err(MfaError::InvalidRecoveryCode)),
        "the recovery code used in the race answers {again:?} afterwards"
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
