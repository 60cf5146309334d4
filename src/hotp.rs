//! HOTP (RFC 4226): counter-based codes, and verification over a look-ahead
//! window that returns the matched counter (resynchronization).
//!
//! Also home of the constant-time window scan that TOTP shares.

use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::code::{Code, SubmittedCode};
use crate::error::Refusal;
use crate::mac::{AnyKeyed, BATCH};
use crate::params::{Algorithm, Digits, LookAhead};
use crate::secret::Secret;

/// HOTP parameters: algorithm, digits and look-ahead.
///
/// ```
/// use totp_engine::{Algorithm, Digits, HotpParams, LookAhead};
///
/// let params = HotpParams::default()
///     .with_algorithm(Algorithm::Sha1)
///     .with_digits(Digits::EIGHT)
///     .with_look_ahead(LookAhead::new(5)?);
/// assert_eq!(params.digits(), Digits::EIGHT);
/// # Ok::<(), totp_engine::ParamError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HotpParams {
    algorithm: Algorithm,
    digits: Digits,
    look_ahead: LookAhead,
}

impl HotpParams {
    /// SHA-1, 6 digits, look-ahead 10.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the algorithm.
    #[must_use]
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Sets the number of digits.
    #[must_use]
    pub fn with_digits(mut self, digits: Digits) -> Self {
        self.digits = digits;
        self
    }

    /// Sets the look-ahead.
    #[must_use]
    pub fn with_look_ahead(mut self, look_ahead: LookAhead) -> Self {
        self.look_ahead = look_ahead;
        self
    }

    /// The algorithm.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The number of digits.
    #[must_use]
    pub fn digits(&self) -> Digits {
        self.digits
    }

    /// The look-ahead.
    #[must_use]
    pub fn look_ahead(&self) -> LookAhead {
        self.look_ahead
    }
}

/// A counter that HOTP verification accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HotpMatch {
    counter: u64,
}

impl HotpMatch {
    /// The counter whose code matched.
    #[must_use]
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// The counter to expect next: store it. `None` once the counter space is
    /// exhausted (`u64::MAX` was used): the key must be replaced.
    #[must_use]
    pub fn next_counter(&self) -> Option<u64> {
        self.counter.checked_add(1)
    }
}

/// An HOTP generator and verifier, keyed once.
///
/// Holds the HMAC key schedule (wiped on drop), not the secret itself.
///
/// ```
/// use totp_engine::{Hotp, HotpParams, Refusal, Secret};
///
/// let secret = Secret::from_bytes(b"12345678901234567890")?;
/// let hotp = Hotp::new(&secret, HotpParams::default());
/// // The server expects counter 3; the token has advanced to 5 (RFC 4226 value 254676).
/// let matched = hotp.verify("254676", 3).unwrap();
/// assert_eq!(matched.counter(), 5);
/// assert_eq!(matched.next_counter(), Some(6));
/// // Counters before the expected one are never accepted again.
/// assert_eq!(hotp.verify("254676", 6), Err(Refusal::NoMatch));
/// # Ok::<(), totp_engine::SecretError>(())
/// ```
#[derive(Clone)]
pub struct Hotp {
    key: AnyKeyed,
    params: HotpParams,
}

impl Hotp {
    /// Keys the HMAC once for `secret`.
    #[must_use]
    pub fn new(secret: &Secret, params: HotpParams) -> Self {
        Self {
            key: key_for(params.algorithm, secret),
            params,
        }
    }

    /// The parameters.
    #[must_use]
    pub fn params(&self) -> &HotpParams {
        &self.params
    }

    /// The code for `counter`.
    #[must_use]
    pub fn generate(&self, counter: u64) -> Code {
        Code::new(
            self.params.digits.reduce(self.key.truncated(counter)),
            self.params.digits,
        )
    }

    /// Verifies submitted text against counters `next_counter ..=
    /// next_counter + look_ahead` (fewer near `u64::MAX`).
    ///
    /// Every counter in that range is computed and compared in constant
    /// time, whether or not one matched; the smallest matching counter is
    /// returned. Malformed text fails fast, before any HMAC.
    ///
    /// # Errors
    ///
    /// [`Refusal::Malformed`] for text that is not a code of the configured
    /// length; [`Refusal::NoMatch`] if no counter in the range matches.
    pub fn verify(&self, submitted: &str, next_counter: u64) -> Result<HotpMatch, Refusal> {
        let code = SubmittedCode::parse(submitted, self.params.digits)?;
        self.verify_code(&code, next_counter)
    }

    /// As [`Hotp::verify`], for an already parsed code.
    ///
    /// # Errors
    ///
    /// [`Refusal::Malformed`] if `code` was parsed for another digit count;
    /// [`Refusal::NoMatch`].
    pub fn verify_code(
        &self,
        code: &SubmittedCode,
        next_counter: u64,
    ) -> Result<HotpMatch, Refusal> {
        check_digits(code, self.params.digits)?;
        let last = next_counter.saturating_add(u64::from(self.params.look_ahead.get()));
        let scan = Scan::run(
            &self.key,
            self.params.digits,
            code.value(),
            next_counter,
            last,
            None,
            Preference::Lowest,
        );
        match scan.accepted() {
            Some(counter) => Ok(HotpMatch { counter }),
            None => Err(Refusal::NoMatch),
        }
    }
}

impl core::fmt::Debug for Hotp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Hotp")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// Keys the HMAC for `algorithm` with `secret`.
pub(crate) fn key_for(algorithm: Algorithm, secret: &Secret) -> AnyKeyed {
    AnyKeyed::new(algorithm, secret.expose_bytes())
}

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
