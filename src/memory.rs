//! [`MemoryStore`]: a thread-safe in-memory [`MfaStore`] for tests,
//! single-process servers and as a reference for database implementations.
//!
//! Every method takes one mutex for the duration of a map lookup and update
//! and never awaits while holding it, so each compare-and-set is atomic and
//! the async runtime is never blocked for longer than that.

use alloc::string::String;
use alloc::vec::Vec;
use core::convert::Infallible;
use core::future::Future;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::policy::Attempts;
use crate::recovery::RecoveryHash;
use crate::store::{
    AuthenticatorId, AuthenticatorKind, Enrolled, MfaStore, OtpAuthenticator, OtpProgress,
    RecoveryAuthenticator, UserAuthenticators,
};

/// A thread-safe in-memory store. Cloning shares nothing; wrap it in an
/// `Arc` to share it.
#[derive(Debug, Default)]
pub struct MemoryStore {
    users: Mutex<HashMap<String, UserAuthenticators>>,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, UserAuthenticators>> {
        // A panic while holding the lock cannot leave a half-written record
        // (every update is a single assignment), so poisoning is ignored.
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on an existing user's record; `false` for an unknown user
    /// (which is never created by a lookup).
    fn with_user(&self, user: &str, f: impl FnOnce(&mut UserAuthenticators) -> bool) -> bool {
        self.lock().get_mut(user).is_some_and(f)
    }
}

impl MfaStore for MemoryStore {
    type Error = Infallible;

    fn load(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<UserAuthenticators, Infallible>> + Send {
        let snapshot = self.lock().get(user).cloned().unwrap_or_default();
        core::future::ready(Ok(snapshot))
    }

    fn enroll(
        &self,
        user: &str,
        otp: OtpAuthenticator,
        recovery: Option<RecoveryAuthenticator>,
    ) -> impl Future<Output = Result<Enrolled, Infallible>> + Send {
        let mut users = self.lock();
        let u = users.entry(String::from(user)).or_default();
        let outcome = if u.otp.as_ref().is_some_and(|o| o.progress.active) {
            Enrolled::AlreadyEnrolled
        } else {
            u.otp = Some(otp);
            let keep_active = u.recovery.as_ref().is_some_and(|r| r.active);
            let recovery_stored = match recovery {
                Some(new) if !keep_active => {
                    u.recovery = Some(new);
                    true
                }
                _ => false,
            };
            Enrolled::Created { recovery_stored }
        };
        drop(users);
        core::future::ready(Ok(outcome))
    }

    fn advance_otp(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected: OtpProgress,
        next: OtpProgress,
    ) -> impl Future<Output = Result<bool, Infallible>> + Send {
        let done = self.with_user(user, |u| {
            let Some(otp) = u.otp.as_mut().filter(|o| &o.id == id) else {
                return false;
            };
            if otp.progress != expected {
                return false;
            }
            otp.progress = next;
            if next.active
                && !expected.active
                && let Some(r) = u.recovery.as_mut()
            {
                r.active = true;
            }
            true
        });
        core::future::ready(Ok(done))
    }

    fn accept_otp(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected: OtpProgress,
        expected_attempts: Attempts,
        next: OtpProgress,
    ) -> impl Future<Output = Result<bool, Infallible>> + Send {
        let done = self.with_user(user, |u| {
            let Some(otp) = u.otp.as_mut().filter(|o| &o.id == id) else {
                return false;
            };
            if otp.progress != expected || otp.attempts != expected_attempts {
                return false;
            }
            otp.progress = next;
            otp.attempts = Attempts::default();
            if next.active
                && !expected.active
                && let Some(r) = u.recovery.as_mut()
            {
                r.active = true;
            }
            true
        });
        core::future::ready(Ok(done))
    }

    fn accept_recovery_code(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected_slots: &[Option<RecoveryHash>],
        expected_attempts: Attempts,
        slot: usize,
        replacement: Option<RecoveryHash>,
    ) -> impl Future<Output = Result<bool, Infallible>> + Send {
        let done = self.with_user(user, |u| {
            let Some(rec) = u.recovery.as_mut().filter(|r| &r.id == id) else {
                return false;
            };
            if rec.slots != expected_slots || rec.attempts != expected_attempts {
                return false;
            }
            match rec.slots.get_mut(slot) {
                Some(current @ Some(_)) => {
                    *current = replacement;
                    rec.attempts = Attempts::default();
                    true
                }
                _ => false,
            }
        });
        core::future::ready(Ok(done))
    }

    fn replace_recovery_codes(
        &self,
        user: &str,
        id: &AuthenticatorId,
        slots: Vec<Option<RecoveryHash>>,
    ) -> impl Future<Output = Result<bool, Infallible>> + Send {
        let done = self.with_user(user, |u| {
            match u.recovery.as_mut().filter(|r| &r.id == id) {
                Some(rec) => {
                    rec.slots = slots;
                    rec.attempts = Attempts::default();
                    true
                }
                None => false,
            }
        });
        core::future::ready(Ok(done))
    }

    fn update_attempts(
        &self,
        user: &str,
        id: &AuthenticatorId,
        expected: Attempts,
        next: Attempts,
    ) -> impl Future<Output = Result<bool, Infallible>> + Send {
        let done = self.with_user(user, |u| {
            let slot = match id.kind() {
                AuthenticatorKind::Otp => u
                    .otp
                    .as_mut()
                    .filter(|o| &o.id == id)
                    .map(|o| &mut o.attempts),
                AuthenticatorKind::RecoveryCode => u
                    .recovery
                    .as_mut()
                    .filter(|r| &r.id == id)
                    .map(|r| &mut r.attempts),
            };
            match slot {
                Some(attempts) if *attempts == expected => {
                    *attempts = next;
                    true
                }
                _ => false,
            }
        });
        core::future::ready(Ok(done))
    }

    fn remove(
        &self,
        user: &str,
        id: &AuthenticatorId,
    ) -> impl Future<Output = Result<bool, Infallible>> + Send {
        let done = self.with_user(user, |u| {
            if u.otp.as_ref().is_some_and(|o| &o.id == id) {
                u.otp = None;
                true
            } else if u.recovery.as_ref().is_some_and(|r| &r.id == id) {
                u.recovery = None;
                true
            } else {
                false
            }
        });
        core::future::ready(Ok(done))
    }
}
