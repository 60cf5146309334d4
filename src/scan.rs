//! The constant-time window scan that HOTP and TOTP verification share:
//! every counter of a public range is computed and compared, with no early
//! exit ([`Scan`]), and the choice among several matches ([`Preference`]).
//! `totp.rs` and `hotp.rs` sit side by side above it.

use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::code::SubmittedCode;
use crate::error::Refusal;
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

/// The outcome of a constant-time scan over a counter range.
pub(crate) struct Scan {
    found: Choice,
    counter: u64,
    replayed: Choice,
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
        let none = Choice::from(0);
        let mut scan = Self {
            found: none,
            counter: 0,
            replayed: none,
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
        let mut verdict = u8::conditional_select(&2, &1, self.replayed);
        verdict.conditional_assign(&0, self.found);
        (verdict, self.counter)
    }

    /// The accepted counter, if any.
    pub(crate) fn accepted(&self) -> Option<u64> {
        if bool::from(self.found) {
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
                    Preference::Lowest => matches & !scan.found,
                    Preference::Highest => matches,
                };
                scan.counter.conditional_assign(&counter, take);
                scan.found |= matches;
            } else {
                scan.replayed |= matches;
            }
        }
    }
}
