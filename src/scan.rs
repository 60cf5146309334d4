//! The constant-time window scan that HOTP and TOTP verification share:
//! every counter of a public range is computed and compared, with no early
//! exit ([`Scan`]), and the choice among several matches ([`Preference`]);
//! and the error both verifications return, [`Refusal`]. `totp.rs` and
//! `hotp.rs` sit side by side above it.
//!
//! Every error type lives next to its operation: `Refusal` here,
//! `BeforeT0` with TOTP, `SecretError` with secrets, `ParamError` with the
//! parameters, `MalformedCode` with submitted codes, `UriError` with URIs,
//! `MfaError` with the flow. None carries secret material: a secret that
//! failed to decode is described by a position or a length, never by its
//! text; a submitted code that failed to parse is described by its shape,
//! never echoed. Every enum is `#[non_exhaustive]`, has a hand-written
//! `Display` and implements [`core::error::Error`].

use core::fmt;

use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::code::{MalformedCode, SubmittedCode};
use crate::mac::{AnyKeyed, BATCH};
use crate::params::Digits;

/// Refuses a submitted code whose length is not the parameters' digit
/// count, before any HMAC is computed.
pub(crate) fn check_digits(code: &SubmittedCode, digits: Digits) -> Result<(), Refusal> {
    if code.digits() == digits {
        Ok(())
    } else {
        Err(Refusal::Malformed(crate::MalformedCode::WrongLength {
            expected: digits.get(),
            found: usize::from(code.digits().get()),
        }))
    }
}

/// Which of several matching counters to report (a 6-digit code collides
/// with another step of the window about once in 10⁶ / window).
#[derive(Clone, Copy)]
pub(crate) enum Preference {
    /// HOTP: the smallest, so the fewest counters are skipped.
    Lowest,
    /// TOTP: the largest, so the most earlier steps become unusable.
    Highest,
}

/// The outcome of a constant-time scan over a counter range: whether a
/// counter that may be accepted matched, the one taken, and whether one
/// that may not matched.
///
/// The flags are the 0/1 bytes of `subtle` comparisons
/// (`Choice::unwrap_u8`), combined with a plain `|` (no branch, no table)
/// and made `Choice`s again only where the verdict is selected: every
/// `Choice` operation passes its result through `subtle`'s optimization
/// barrier, an out-of-line call, so flags kept as `Choice`s cost one more
/// barrier per counter.
pub(crate) struct Scan {
    found: u8,
    counter: u64,
    replayed: u8,
}

impl Scan {
    /// Computes the code of every counter in `first..=last` and compares each
    /// with `submitted` using `subtle`, with no early exit: the work done
    /// depends only on the range (public), not on which counter matched or
    /// whether one did. Counters at or before `last_accepted` may match but
    /// are not accepted; they set the `replayed` flag.
    #[inline(always)]
    pub(crate) fn run(
        key: &AnyKeyed,
        digits: Digits,
        submitted: u32,
        first: u64,
        last: u64,
        last_accepted: Option<u64>,
        preference: Preference,
    ) -> Self {
        let mut scan = Self {
            found: 0,
            counter: 0,
            replayed: 0,
        };
        let scan_with = Candidates {
            key,
            digits,
            submitted,
            last_accepted,
            preference,
        };
        // Counters go to the HMAC in batches of up to `BATCH` (all inner
        // compressions, then all outer ones), sized to what is left so that
        // a ±1 window is one batch of exactly three.
        let mut next = Some(first).filter(|f| *f <= last);
        while let Some(start) = next {
            let after_start = last.saturating_sub(start);
            next = None;
            match after_start {
                0 => scan_with.batch::<1>(&mut scan, start),
                1 => scan_with.batch::<2>(&mut scan, start),
                2 => scan_with.batch::<3>(&mut scan, start),
                _ => {
                    scan_with.batch::<BATCH>(&mut scan, start);
                    next = start.checked_add(BATCH as u64).filter(|c| *c <= last);
                }
            }
        }
        scan
    }

    /// The outcome as one value computed without branches: 0 accepted,
    /// 1 replayed (matched only at or before the last accepted counter),
    /// 2 no match; and the accepted counter (0 unless accepted).
    #[inline(always)]
    pub(crate) fn verdict(&self) -> (u8, u64) {
        let mut verdict = u8::conditional_select(&2, &1, Choice::from(self.replayed));
        verdict.conditional_assign(&0, Choice::from(self.found));
        (verdict, self.counter)
    }

    /// The accepted counter, if any.
    pub(crate) fn accepted(&self) -> Option<u64> {
        if self.found == 1 {
            Some(self.counter)
        } else {
            None
        }
    }
}

/// What a scan compares its counters' codes with.
struct Candidates<'a> {
    key: &'a AnyKeyed,
    digits: Digits,
    submitted: u32,
    last_accepted: Option<u64>,
    preference: Preference,
}

impl Candidates<'_> {
    /// Computes and compares the `N` counters from `start` (all at most the
    /// scan's last counter).
    #[inline(always)]
    fn batch<const N: usize>(&self, scan: &mut Scan, start: u64) {
        let mut counters = [start; N];
        for (offset, counter) in (0u64..).zip(counters.iter_mut()) {
            *counter = start.saturating_add(offset);
        }
        let values = self.key.truncated_n(&counters);
        for (&counter, &value) in counters.iter().zip(&values) {
            let matches = self.digits.reduce(value).ct_eq(&self.submitted);
            // Whether a counter may be accepted depends on public state only
            // (the counter and the last accepted one), so it is branched on;
            // `matches`, which depends on the secret, never is.
            if self.last_accepted.is_none_or(|l| counter > l) {
                let take = match self.preference {
                    Preference::Lowest => matches & !Choice::from(scan.found),
                    Preference::Highest => matches,
                };
                scan.counter.conditional_assign(&counter, take);
                scan.found |= matches.unwrap_u8();
            } else {
                scan.replayed |= matches.unwrap_u8();
            }
        }
    }
}

/// Why a submitted code was not accepted.
///
/// A server that answers a remote user should collapse every variant into one
/// message ("Invalid code"): the variants exist for logs, metrics and local
/// devices, and the difference between [`Refusal::NoMatch`] and
/// [`Refusal::Replayed`] tells an attacker that a code was valid once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The text is not a code of the expected shape; no HMAC was computed.
    Malformed(MalformedCode),
    /// No time step (or counter) in the window produced this code.
    NoMatch,
    /// The code is correct only for a step at or before the last accepted one.
    Replayed,
    /// The time is before T0.
    BeforeT0,
}

impl Refusal {
    /// The refusal of a scan's verdict ([`Scan::verdict`]): 1 is
    /// [`Refusal::Replayed`], anything else [`Refusal::NoMatch`]. A map of
    /// a register value onto the two data-less variants' tags, which
    /// compiles to arithmetic on the tag, with no branch. (Choosing between
    /// two `Refusal` values with `select_unpredictable` went through
    /// memory: a one-byte tag store, then a 16-byte load of the whole value
    /// that cannot be forwarded from it.)
    #[inline(always)]
    pub(crate) fn miss(replayed: u8) -> Self {
        match replayed {
            1 => Self::Replayed,
            _ => Self::NoMatch,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(m) => write!(f, "malformed code: {m}"),
            Self::NoMatch => f.write_str("the code matches no step in the window"),
            Self::Replayed => f.write_str("the code was already used"),
            Self::BeforeT0 => crate::totp::BeforeT0.fmt(f),
        }
    }
}

impl core::error::Error for Refusal {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Malformed(m) => Some(m),
            _ => None,
        }
    }
}

impl From<MalformedCode> for Refusal {
    fn from(m: MalformedCode) -> Self {
        Self::Malformed(m)
    }
}

impl From<crate::totp::BeforeT0> for Refusal {
    fn from(_: crate::totp::BeforeT0) -> Self {
        Self::BeforeT0
    }
}
