//! The rules that make one-time codes one-time, as pure functions of the
//! state and the time passed in: throttling of failed attempts and
//! clock-drift tracking. (The replay rule lives in [`Totp::verify`], which
//! takes the last accepted step.)
//!
//! Nothing here reads a clock or touches storage; the flow persists the
//! states these functions return with compare-and-set operations.
//!
//! [`Totp::verify`]: crate::Totp::verify

use core::fmt;

use crate::params::Drift;
use crate::totp::Verified;

/// An authenticator's attempt bucket: how many attempts are charged against
/// it, and the time from which the next refill is counted.
///
/// `Attempts::default()` is an untouched bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Attempts {
    used: u32,
    since: u64,
}

impl Attempts {
    /// Rebuilds a state read from storage.
    #[must_use]
    pub const fn from_parts(used: u32, since: u64) -> Self {
        Self { used, since }
    }

    /// Attempts charged (before any refill due since [`Attempts::since`]).
    #[must_use]
    pub const fn used(&self) -> u32 {
        self.used
    }

    /// Unix time from which refills are counted.
    #[must_use]
    pub const fn since(&self) -> u64 {
        self.since
    }
}

/// Refused: the bucket is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockedOut {
    retry_after: u64,
}

impl LockedOut {
    /// Seconds until one attempt is available again.
    #[must_use]
    pub const fn retry_after(&self) -> u64 {
        self.retry_after
    }
}

impl fmt::Display for LockedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "too many failed attempts; retry in {} seconds",
            self.retry_after
        )
    }
}

impl core::error::Error for LockedOut {}

/// A token bucket of attempts per authenticator.
///
/// Each verification attempt is charged *before* its code is checked, so
/// concurrent guesses can never exceed the bucket; a success resets it. The
/// default is Auth0's: 10 attempts, refilled one every 6 minutes.
///
/// ```
/// use totp_engine::{Attempts, ThrottlePolicy};
///
/// let policy = ThrottlePolicy::default();
/// let mut state = Attempts::default();
/// for _ in 0..10 {
///     state = policy.charge(state, 1_000).unwrap();
/// }
/// assert_eq!(policy.charge(state, 1_000).unwrap_err().retry_after(), 360);
/// assert!(policy.charge(state, 1_360).is_ok()); // one attempt refilled
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ThrottlePolicy {
    capacity: u32,
    refill_secs: u64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            capacity: 10,
            refill_secs: 360,
        }
    }
}

/// Why a throttle policy was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidThrottlePolicy;

impl fmt::Display for InvalidThrottlePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a throttle policy needs a capacity of at least 1 and a refill period of at least 1 second")
    }
}

impl core::error::Error for InvalidThrottlePolicy {}

impl ThrottlePolicy {
    /// A bucket of `capacity` attempts, refilled one every `refill_secs`.
    ///
    /// # Errors
    ///
    /// [`InvalidThrottlePolicy`] for a capacity or refill period of 0.
    pub const fn new(capacity: u32, refill_secs: u64) -> Result<Self, InvalidThrottlePolicy> {
        if capacity == 0 || refill_secs == 0 {
            Err(InvalidThrottlePolicy)
        } else {
            Ok(Self {
                capacity,
                refill_secs,
            })
        }
    }

    /// Attempts in a full bucket.
    #[must_use]
    pub const fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Seconds per refilled attempt.
    #[must_use]
    pub const fn refill_secs(&self) -> u64 {
        self.refill_secs
    }

    /// The state at `now` after the refills due since `state.since()`.
    /// Partial refill progress is kept; a clock that went backwards refills
    /// nothing.
    #[must_use]
    pub fn refill(&self, state: Attempts, now: u64) -> Attempts {
        if state.used == 0 {
            return Attempts {
                used: 0,
                since: now,
            };
        }
        let elapsed = now.saturating_sub(state.since);
        // `refill_secs` >= 1 by construction.
        let refills = elapsed.checked_div(self.refill_secs).unwrap_or(elapsed);
        if refills >= u64::from(state.used) {
            Attempts {
                used: 0,
                since: now,
            }
        } else {
            // refills < used <= u32::MAX, so both conversions are exact.
            let refills32 = u32::try_from(refills).unwrap_or(u32::MAX);
            Attempts {
                used: state.used.saturating_sub(refills32),
                since: state
                    .since
                    .saturating_add(refills.saturating_mul(self.refill_secs)),
            }
        }
    }

    /// Whether no attempt is available at `now`.
    #[must_use]
    pub fn is_locked(&self, state: Attempts, now: u64) -> bool {
        self.refill(state, now).used >= self.capacity
    }

    /// Charges one attempt at `now`, returning the state to store.
    ///
    /// # Errors
    ///
    /// [`LockedOut`] if the bucket is empty; the state is then unchanged.
    pub fn charge(&self, state: Attempts, now: u64) -> Result<Attempts, LockedOut> {
        let current = self.refill(state, now);
        if current.used >= self.capacity {
            let next = current.since.saturating_add(self.refill_secs);
            return Err(LockedOut {
                retry_after: next.saturating_sub(now).max(1),
            });
        }
        Ok(Attempts {
            used: current.used.saturating_add(1),
            since: current.since,
        })
    }
}

/// Whether to follow each user's clock drift.
///
/// With tracking on, the offset of every accepted code (relative to the
/// server's current step) is remembered and later windows are centred on it,
/// as django-otp and privacyIDEA do, so an authenticator whose clock runs
/// steadily fast or slow keeps working with a narrow window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DriftTracking {
    /// Windows are always centred on the current step.
    #[default]
    Off,
    /// Windows are centred on the last accepted offset.
    On,
}

impl DriftTracking {
    /// The drift to centre the next window on, given the stored one.
    #[must_use]
    pub fn centre(self, stored: Drift) -> Drift {
        match self {
            Self::Off => Drift::NONE,
            Self::On => stored,
        }
    }

    /// The drift to store after a successful verification.
    #[must_use]
    pub fn after(self, verified: &Verified) -> Drift {
        match self {
            Self::Off => Drift::NONE,
            Self::On => Drift::saturating(verified.offset()),
        }
    }
}
