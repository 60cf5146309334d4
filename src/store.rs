//! What the MFA flow remembers, and the storage trait any database
//! implements to remember it.
//!
//! The flow never holds a lock across requests: it reads a snapshot
//! ([`MfaStore::load`]) and writes back with **compare-and-set** operations
//! that succeed only if the state is still what was read. Those operations
//! are what make a code one-time across threads, processes and servers that
//! share a database, so each method documents the atomicity it must provide;
//! the conformance kit (feature `conformance`) checks it.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;

use rand_core::CryptoRng;

use crate::params::Drift;
use crate::policy::Attempts;
use crate::recovery::RecoveryHash;
use crate::secret::Secret;
use crate::totp::TotpParams;

/// The two kinds of authenticator the flow manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthenticatorKind {
    /// A TOTP app.
    Otp,
    /// Recovery codes.
    RecoveryCode,
}

impl AuthenticatorKind {
    /// Auth0's `authenticator_type`: `otp` or `recovery-code`.
    #[must_use]
    pub const fn authenticator_type(self) -> &'static str {
        match self {
            Self::Otp => "otp",
            Self::RecoveryCode => "recovery-code",
        }
    }

    const fn prefix(self) -> &'static str {
        match self {
            Self::Otp => "totp|dev_",
            Self::RecoveryCode => "recovery-code|dev_",
        }
    }
}

/// An authenticator id in Auth0's shape: `totp|dev_` or
/// `recovery-code|dev_` followed by 16 random alphanumerics.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AuthenticatorId(String);

const ID_ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

impl AuthenticatorId {
    /// A fresh random id (95 bits).
    pub fn generate<R: CryptoRng + ?Sized>(kind: AuthenticatorKind, rng: &mut R) -> Self {
        let mut id = String::with_capacity(34);
        id.push_str(kind.prefix());
        let mut n = 0usize;
        let mut pool = [0u8; 32];
        while n < 16 {
            rng.fill_bytes(&mut pool);
            for &b in &pool {
                // 248 = 4 · 62: rejection sampling keeps the draw uniform.
                if n < 16 && b < 248 {
                    id.push(char::from(ID_ALPHABET[usize::from(b % 62)]));
                    n = n.saturating_add(1);
                }
            }
        }
        Self(id)
    }

    /// Parses an id; `None` unless it has one of the two prefixes and 16
    /// ASCII alphanumerics.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let kind = Self::kind_of(text)?;
        let rest = text.strip_prefix(kind.prefix())?;
        (rest.len() == 16 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| Self(String::from(text)))
    }

    fn kind_of(text: &str) -> Option<AuthenticatorKind> {
        if text.starts_with(AuthenticatorKind::Otp.prefix()) {
            Some(AuthenticatorKind::Otp)
        } else if text.starts_with(AuthenticatorKind::RecoveryCode.prefix()) {
            Some(AuthenticatorKind::RecoveryCode)
        } else {
            None
        }
    }

    /// Which kind of authenticator this id names.
    #[must_use]
    pub fn kind(&self) -> AuthenticatorKind {
        Self::kind_of(&self.0).unwrap_or(AuthenticatorKind::Otp)
    }

    /// The id text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthenticatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for AuthenticatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The part of an OTP authenticator that every accepted code moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct OtpProgress {
    /// The last accepted time step; codes for it and earlier steps are replays.
    pub last_step: Option<u64>,
    /// The remembered clock drift (zero unless drift tracking is on).
    pub drift: Drift,
    /// Whether enrollment was confirmed by a first valid code.
    pub active: bool,
}

/// A TOTP authenticator as stored.
///
/// `Debug` shows no key material. Stores should encrypt the secret at rest.
#[derive(Clone)]
pub struct OtpAuthenticator {
    /// Its id.
    pub id: AuthenticatorId,
    /// The shared secret, boxed: moving the record (through a store's rows,
    /// the flow's futures) moves a pointer, never the key, so no stale copy
    /// of it is left behind in freed memory; the box is wiped on drop.
    pub secret: alloc::boxed::Box<Secret>,
    /// Algorithm, digits, period and T0; the window comes from the flow's
    /// configuration at verification time.
    pub params: TotpParams,
    /// Replay mark, drift and activation.
    pub progress: OtpProgress,
    /// The throttle bucket.
    pub attempts: Attempts,
    /// Unix time of enrollment.
    pub created_at: u64,
}

impl fmt::Debug for OtpAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtpAuthenticator")
            .field("id", &self.id)
            .field("secret", &self.secret)
            .field("params", &self.params)
            .field("progress", &self.progress)
            .field("attempts", &self.attempts)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A recovery-code authenticator as stored: only hashes, one slot per code;
/// `None` marks a code that was used (set policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryAuthenticator {
    /// Its id.
    pub id: AuthenticatorId,
    /// Active once the user's first OTP enrollment is confirmed.
    pub active: bool,
    /// The stored hashes; `None` for a used slot.
    pub slots: Vec<Option<RecoveryHash>>,
    /// The throttle bucket.
    pub attempts: Attempts,
    /// Unix time of creation.
    pub created_at: u64,
}

/// Everything the flow knows about one user.
#[derive(Debug, Clone, Default)]
pub struct UserAuthenticators {
    /// The OTP authenticator, active or pending confirmation (at most one).
    pub otp: Option<OtpAuthenticator>,
    /// The recovery codes (at most one set).
    pub recovery: Option<RecoveryAuthenticator>,
}

/// What [`MfaStore::enroll`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enrolled {
    /// The new OTP authenticator was stored (replacing a pending one).
    Created {
        /// Whether the new recovery authenticator was stored too.
        recovery_stored: bool,
    },
    /// The user already has an active OTP authenticator; nothing changed.
    AlreadyEnrolled,
}

/// Storage for the MFA flow. Implement it over your database.
///
/// Every method returns a `Send` future so the flow runs on a multi-threaded
/// async runtime (tokio, axum) without blocking it; implement them with
/// `async fn` or by returning `async move` blocks. A store that talks to a
/// blocking database should use its runtime's `spawn_blocking`.
///
/// The `user` argument scopes every call: an id that belongs to another user
/// is treated as absent.
///
/// # The contract
///
/// Each rule below is checked by the conformance kit (feature
/// `conformance`, `conformance::run_all`);
/// the check's name is given with each rule. `MemoryStore` and
/// `totp-engine-sqlx` (SQLite and PostgreSQL) pass it.
///
/// **Atomicity.** Each compare-and-set method checks and writes in one
/// atomic step (a single conditional `UPDATE … WHERE <columns> =
/// <expected>`, or a serializable transaction), never read then write, so
/// that of any number of concurrent callers passing the same `expected`
/// state at most one gets `true`. A method that returns `false` changes
/// nothing. (`advance_is_compare_and_set`,
/// `accept_is_one_compare_and_set`, `accept_recovery_is_one_compare_and_set`,
/// `attempts_are_compare_and_set` and the `concurrent_*` races.)
///
/// **One write per submission.** The flow writes once per checked
/// submission: a wrong code is one conditional charge of the bucket
/// ([`update_attempts`](Self::update_attempts)); an accepted one is one
/// conditional write that consumes it and empties the bucket together
/// ([`accept_otp`](Self::accept_otp),
/// [`accept_recovery_code`](Self::accept_recovery_code)), against the
/// state its check saw. (`accept_is_one_compare_and_set`,
/// `accept_recovery_is_one_compare_and_set`.)
///
/// **The whole `u64` range round-trips.** Every stored time and step —
/// `created_at`, [`Attempts::since`], [`TotpParams::t0`],
/// [`OtpProgress::last_step`] — is any `u64`, `u64::MAX` included, and is
/// read back exactly and compared exactly. A database whose integers are
/// signed 64-bit (SQL `BIGINT`) stores the same bits (`u64::cast_signed`,
/// read back with `i64::cast_unsigned`: `u64::MAX` is stored as -1);
/// saturating at `i64::MAX`, refusing larger values or using a narrower
/// column is not conforming. Compare such columns only with `=`: bit-cast
/// values above `i64::MAX` sort below zero, so an ordering guard such as
/// `WHERE last_step < $next` is wrong there. (`whole_u64_range_round_trips`.)
///
/// **Never used is not step 0.** [`OtpProgress::last_step`] `None` (no code
/// accepted yet) and `Some(0)` are different states, and every
/// compare-and-set tells them apart in both directions. In SQL, `last_step
/// = NULL` is never true, so a nullable column compared with `=` refuses
/// every first code, and mapping `None` to 0 makes the two states one.
/// Use a `NOT NULL` column with a flag (`totp-engine-sqlx` stores "no
/// step" as `stepped = 0, last_step = 0`) or a NULL-safe comparison (`IS
/// NOT DISTINCT FROM` on PostgreSQL, `IS` on SQLite).
/// (`last_step_compares_null_safely`.)
///
/// **Removing one authenticator keeps the other.** [`remove`](Self::remove)
/// deletes exactly the authenticator it names. Removing the OTP
/// authenticator does **not** remove the recovery codes: an active
/// recovery authenticator keeps its codes, its bucket and its activation,
/// so the user can still sign in with a recovery code and enroll a new
/// device (Auth0's lost-device path; that enrollment then issues no new
/// codes, see [`enroll`](Self::enroll)); an inactive one stays until the
/// next enrollment replaces it. Removing the recovery authenticator leaves
/// the OTP authenticator as it is. To remove everything, remove both.
/// (`remove_deletes_only_that_authenticator`, `remove_and_isolation`.)
///
/// **How strict `load`'s snapshot must be.** [`load`](Self::load) returns
/// both records as they were at **one instant** between the call and its
/// return: every field of a record written by the same write (never the
/// progress of one write with the bucket of another, never one
/// enrollment's id with another's secret), and the two records from the
/// same moment (an OTP authenticator shown active with its recovery codes
/// still inactive is a torn read: the confirmation changes both in one
/// step). One `SELECT`, or one transaction on one snapshot, gives this.
/// The snapshot must include every write that completed before `load` was
/// called (read your own writes: no lagging replica, no cache), because
/// the flow answers some requests from it alone (locked out, not enrolled,
/// no recovery code) and, after losing a compare-and-set, reloads to check
/// again: a stale reload would lose again until the flow gives up with
/// `Contention`. It **may** be overtaken by concurrent writes as soon as it
/// is read: the flow never relies on it being current, since every write
/// it makes is a compare-and-set against the snapshot.
/// (`load_is_one_consistent_snapshot`.) One exception a store may offer:
/// answering the first `load` of a request from a snapshot the application
/// read moments earlier in the same request, in one statement with its own
/// rows (`totp-engine-sqlx`'s `Prefetched`): the request then behaves as if
/// it had arrived that much earlier, and a lost compare-and-set still
/// reloads from the database.
pub trait MfaStore: Send + Sync {
    /// The store's own error (connection lost, corrupt row, …). It is never
    /// shown to end users.
    type Error: core::error::Error + Send + Sync + 'static;

    /// Reads a snapshot of the user's authenticators, consistent and no
    /// older than the call (see "How strict `load`'s snapshot must be"
    /// above). An unknown user has none.
    fn load(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<UserAuthenticators, Self::Error>> + Send;

    /// The user's OTP authenticator alone, read as [`load`](Self::load)
    /// reads it (every field from one write, no older than the call): all
    /// that an OTP verification ([`Mfa::verify_otp`](crate::Mfa::verify_otp))
    /// reads. It must answer what `load(user).otp` would answer at the same
    /// instant. The default does exactly that; a store whose OTP record is
    /// cheaper to read alone overrides it (a SQL store then skips the join
    /// of the recovery table). (`load_otp_is_loads_otp`.)
    fn load_otp(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<Option<OtpAuthenticator>, Self::Error>> + Send {
        let load = self.load(user);
        async move { Ok(load.await?.otp) }
    }

    /// Stores a new OTP enrollment, atomically:
    ///
    /// - if the user has an **active** OTP authenticator, change nothing and
    ///   return [`Enrolled::AlreadyEnrolled`];
    /// - otherwise delete the user's pending (inactive) OTP authenticator,
    ///   insert `otp`, and if `recovery` is given: replace the user's
    ///   *inactive* recovery authenticator with it, or insert it if there is
    ///   none; keep an *active* one and drop `recovery`. Report in
    ///   `recovery_stored` whether `recovery` was stored.
    fn enroll(
        &self,
        user: &str,
        otp: OtpAuthenticator,
        recovery: Option<RecoveryAuthenticator>,
    ) -> impl Future<Output = Result<Enrolled, Self::Error>> + Send;

    /// Compare-and-set of an OTP authenticator's progress: if its progress is
    /// exactly `expected`, set it to `next` and return `true`; otherwise
    /// change nothing and return `false`. When `next.active` and not
    /// `expected.active` (the enrollment is being confirmed), the same atomic
    /// step also activates the user's inactive recovery authenticator.
    fn advance_otp(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected: OtpProgress,
        next: OtpProgress,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// The write of an accepted code, as **one** compare-and-set: if the
    /// OTP authenticator's progress is exactly `expected` **and** its
    /// attempt bucket is exactly `expected_attempts` (the state the code
    /// was checked against), set the progress to `next` and empty the
    /// bucket (`Attempts::default()`) in the same atomic step, and return
    /// `true`; otherwise change nothing and return `false`. As in
    /// [`advance_otp`](Self::advance_otp), confirming an enrollment
    /// (`next.active` and not `expected.active`) also activates the user's
    /// inactive recovery authenticator in that step.
    ///
    /// Both conditions are needed: the progress makes the code one-time
    /// (two submissions of one code cannot both match it), the bucket makes
    /// the success answer for the bucket the check saw, so that no attempt
    /// charged in between is erased unseen. Splitting it into an advance
    /// and a reset is not conforming: between the two, a failure or a
    /// concurrent request sees a consumed code with a charged bucket.
    fn accept_otp(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected: OtpProgress,
        expected_attempts: Attempts,
        next: OtpProgress,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// The write of an accepted recovery code, as **one** compare-and-set:
    /// if recovery authenticator `id`'s slots are exactly `expected_slots`
    /// **and** its attempt bucket is exactly `expected_attempts` (the state
    /// the code was checked against), and slot `slot` of `expected_slots`
    /// holds a hash (the code is unused), set that slot to `replacement`
    /// (`None` marks it used), empty the bucket (`Attempts::default()`) in
    /// the same atomic step, and return `true`; otherwise change nothing
    /// and return `false`.
    ///
    /// All of the slots are compared, not just the one consumed: a SQL
    /// store does it as one `UPDATE … SET slots = <new>, <bucket> = 0 WHERE
    /// slots = <as read> AND <bucket> = <as read>`
    /// ([`encode_recovery_slots`](crate::encode_recovery_slots) is unique,
    /// so equal bytes mean equal slots). As with
    /// [`accept_otp`](Self::accept_otp), both conditions are needed and
    /// splitting it into a consumption and a reset is not conforming:
    /// between the two, a failure or a concurrent request sees a consumed
    /// code with a charged bucket. (`accept_recovery_is_one_compare_and_set`,
    /// `concurrent_recovery_accepts_have_one_winner`.)
    fn accept_recovery_code(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected_slots: &[Option<RecoveryHash>],
        expected_attempts: Attempts,
        slot: usize,
        replacement: Option<RecoveryHash>,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Replaces all slots of recovery authenticator `id` (regeneration).
    /// Returns `false` if there is no such authenticator.
    fn replace_recovery_codes(
        &self,
        user: &str,
        id: &AuthenticatorId,
        slots: Vec<Option<RecoveryHash>>,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Compare-and-set of an authenticator's attempt bucket (either kind):
    /// if it is exactly `expected`, set it to `next` and return `true`;
    /// otherwise change nothing and return `false`. Concurrent failures
    /// therefore never lose an increment: the loser re-reads and retries.
    fn update_attempts(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected: Attempts,
        next: Attempts,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Deletes authenticator `id` of `user`, and nothing else: removing the
    /// OTP authenticator keeps the recovery codes (see "Removing one
    /// authenticator keeps the other" above). Returns `false` if there was
    /// none.
    fn remove(
        &self,
        user: &str,
        id: &AuthenticatorId,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;
}

/// A shared store is a store.
impl<T: MfaStore + ?Sized> MfaStore for alloc::sync::Arc<T> {
    type Error = T::Error;

    fn load(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<UserAuthenticators, Self::Error>> + Send {
        (**self).load(user)
    }

    fn load_otp(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<Option<OtpAuthenticator>, Self::Error>> + Send {
        (**self).load_otp(user)
    }

    fn enroll(
        &self,
        user: &str,
        otp: OtpAuthenticator,
        recovery: Option<RecoveryAuthenticator>,
    ) -> impl Future<Output = Result<Enrolled, Self::Error>> + Send {
        (**self).enroll(user, otp, recovery)
    }

    fn advance_otp(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected: OtpProgress,
        next: OtpProgress,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        (**self).advance_otp(user, id, expected, next)
    }

    fn accept_otp(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected: OtpProgress,
        expected_attempts: Attempts,
        next: OtpProgress,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        (**self).accept_otp(user, id, expected, expected_attempts, next)
    }

    fn accept_recovery_code(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected_slots: &[Option<RecoveryHash>],
        expected_attempts: Attempts,
        slot: usize,
        replacement: Option<RecoveryHash>,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        (**self).accept_recovery_code(
            user,
            id,
            expected_slots,
            expected_attempts,
            slot,
            replacement,
        )
    }

    fn replace_recovery_codes(
        &self,
        user: &str,
        id: &AuthenticatorId,
        slots: Vec<Option<RecoveryHash>>,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        (**self).replace_recovery_codes(user, id, slots)
    }

    fn update_attempts(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected: Attempts,
        next: Attempts,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        (**self).update_attempts(user, id, expected, next)
    }

    fn remove(
        &self,
        user: &str,
        id: &AuthenticatorId,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        (**self).remove(user, id)
    }
}
