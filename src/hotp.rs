//! HOTP (RFC 4226): counter-based codes, and verification over a look-ahead
//! window that returns the matched counter (resynchronization).
//!
//! The constant-time window scan it shares with TOTP is in `scan.rs`.

use crate::code::{Code, SubmittedCode};
use crate::mac::AnyKeyed;
use crate::params::{Algorithm, Digits, LookAhead};
use crate::scan::Refusal;
use crate::scan::{Preference, Scan, check_digits};
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
            key: AnyKeyed::new(params.algorithm, secret.expose_bytes()),
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
