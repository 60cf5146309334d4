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
        let mut scan = Self {
            found: Choice::from(0),
            counter: 0,
            replayed: Choice::from(0),
        };
        // Counters go to the HMAC in batches (all inner compressions, then
        // all outer ones); the comparisons then run over every candidate.
        let mut next = Some(first).filter(|f| *f <= last);
        while let Some(start) = next {
            let mut counters = [0u64; BATCH];
            let mut n = 0usize;
            let mut c = start;
            next = None;
            while n < BATCH {
                counters[n] = c;
                n = n.saturating_add(1);
                match c.checked_add(1).filter(|c| *c <= last) {
                    Some(following) => c = following,
                    None => break,
                }
                if n == BATCH {
                    next = Some(c);
                }
            }
            let mut values = [0u32; BATCH];
            key.truncated_batch(&counters[..n], &mut values[..n]);
            for (&counter, &value) in counters[..n].iter().zip(&values[..n]) {
                let candidate = digits.reduce(value);
                let matches = candidate.ct_eq(&submitted);
                // Eligibility depends on public state only.
                let eligible = Choice::from(u8::from(last_accepted.is_none_or(|l| counter > l)));
                let accept = matches & eligible;
                let take = match preference {
                    Preference::Lowest => accept & !scan.found,
                    Preference::Highest => accept,
                };
                scan.counter.conditional_assign(&counter, take);
                scan.found |= accept;
                scan.replayed |= matches & !eligible;
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
