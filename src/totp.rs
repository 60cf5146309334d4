//! TOTP (RFC 6238): time steps, code generation, and windowed constant-time
//! verification with the replay rule.
//!
//! Time is always an argument, in Unix seconds; nothing here reads a clock.

use crate::code::{Code, SubmittedCode};
use crate::mac::AnyKeyed;
use crate::params::{Algorithm, Digits, Drift, Period, Window};
use crate::scan::Refusal;
use crate::scan::{Preference, Scan, check_digits};
use crate::secret::Secret;

/// TOTP parameters: algorithm, digits, period, T0 and the verification window.
///
/// Defaults are those of every authenticator app: SHA-1, 6 digits, 30 s,
/// T0 = 0, a window of one step each way.
///
/// ```
/// use totp_engine::{Algorithm, Digits, Period, TotpParams, Window};
///
/// let params = TotpParams::default()
///     .with_algorithm(Algorithm::Sha256)
///     .with_digits(Digits::EIGHT)
///     .with_period(Period::new(60)?)
///     .with_window(Window::new(2, 1)?);
/// assert_eq!(params.step_at(120), Ok(2));
/// # Ok::<(), totp_engine::ParamError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TotpParams {
    algorithm: Algorithm,
    digits: Digits,
    period: Period,
    t0: u64,
    window: Window,
}

impl TotpParams {
    /// SHA-1, 6 digits, 30 s, T0 = 0, window ±1.
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

    /// Sets the period.
    #[must_use]
    pub fn with_period(mut self, period: Period) -> Self {
        self.period = period;
        self
    }

    /// Sets T0, the Unix time at which step 0 begins.
    #[must_use]
    pub fn with_t0(mut self, t0: u64) -> Self {
        self.t0 = t0;
        self
    }

    /// Sets the verification window.
    #[must_use]
    pub fn with_window(mut self, window: Window) -> Self {
        self.window = window;
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

    /// The period.
    #[must_use]
    pub fn period(&self) -> Period {
        self.period
    }

    /// T0 in Unix seconds.
    #[must_use]
    pub fn t0(&self) -> u64 {
        self.t0
    }

    /// The verification window.
    #[must_use]
    pub fn window(&self) -> Window {
        self.window
    }

    /// The time step T = ⌊(time − T0) / X⌋ of RFC 6238 §4.2.
    ///
    /// # Errors
    ///
    /// [`BeforeT0`] if `unix_time < t0`.
    pub fn step_at(&self, unix_time: u64) -> Result<u64, BeforeT0> {
        let elapsed = unix_time.checked_sub(self.t0).ok_or(BeforeT0)?;
        // The period is at least 1 s (validated), so the division cannot
        // fail. The default 30 s gets a division by a constant (a multiply
        // and a shift) instead of a hardware divide.
        let period = self.period.secs();
        Ok(if period == 30 {
            div_30(elapsed)
        } else {
            elapsed.checked_div(u64::from(period)).unwrap_or(elapsed)
        })
    }
}

/// `x / 30` for every `u64`, as a multiply by the rounded-up 2^68 / 30 and
/// a shift (the compiler's own constant division, written out so that it
/// is not merged back into the general division beside it).
#[inline(always)]
pub(crate) const fn div_30(x: u64) -> u64 {
    // 0x8888_8888_8888_8889 = ceil(2^68 / 30); the error term stays below
    // 1 / 30 for x < 2^64, so the floor is exact.
    ((x as u128).wrapping_mul(0x8888_8888_8888_8889) >> 68) as u64
}

/// A TOTP verification that succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    step: u64,
    offset: i64,
}

impl Verified {
    /// The time step whose code matched. Store it as the last accepted step:
    /// from now on, codes for this step and earlier ones are replays.
    #[must_use]
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The matched step minus the current step: negative when the
    /// authenticator's clock is behind, positive when it is ahead. Feed it to
    /// drift tracking.
    #[must_use]
    pub fn offset(&self) -> i64 {
        self.offset
    }
}

/// A TOTP generator and verifier, keyed once.
///
/// Holds the HMAC key schedule (wiped on drop), not the secret itself, so a
/// verifier can be built once per user and reused: every verification then
/// costs exactly two SHA compressions per step in the window.
///
/// ```
/// use totp_engine::{Refusal, Secret, Totp, TotpParams};
///
/// let secret = Secret::from_bytes(b"12345678901234567890")?;
/// let totp = Totp::new(&secret, TotpParams::default());
/// let now = 1_111_111_109;
/// let code = totp.generate(now)?; // RFC 6238: 081804 (8 digits: 07081804)
/// assert_eq!(code.as_str(), "081804");
///
/// let ok = totp.verify("081 804", now, None).unwrap();
/// assert_eq!(ok.offset(), 0);
/// // Store ok.step(); the same code is a replay from then on.
/// assert_eq!(totp.verify("081804", now, Some(ok.step())), Err(Refusal::Replayed));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Totp {
    key: AnyKeyed,
    params: TotpParams,
}

impl Totp {
    /// Keys the HMAC once for `secret`.
    #[must_use]
    pub fn new(secret: &Secret, params: TotpParams) -> Self {
        Self {
            key: AnyKeyed::new(params.algorithm, secret.expose_bytes()),
            params,
        }
    }

    /// The parameters.
    #[must_use]
    pub fn params(&self) -> &TotpParams {
        &self.params
    }

    /// The time step at `unix_time`.
    ///
    /// # Errors
    ///
    /// [`BeforeT0`] if `unix_time` is before T0.
    pub fn step_at(&self, unix_time: u64) -> Result<u64, BeforeT0> {
        self.params.step_at(unix_time)
    }

    /// The code at `unix_time`.
    ///
    /// # Errors
    ///
    /// [`BeforeT0`] if `unix_time` is before T0.
    pub fn generate(&self, unix_time: u64) -> Result<Code, BeforeT0> {
        Ok(self.generate_at_step(self.step_at(unix_time)?))
    }

    /// The code of time step `step`.
    #[must_use]
    pub fn generate_at_step(&self, step: u64) -> Code {
        Code::new(
            self.params.digits.reduce(self.key.truncated(step)),
            self.params.digits,
        )
    }

    /// Verifies submitted text at `unix_time`, over the configured window,
    /// refusing replays of `last_accepted_step` and earlier steps.
    ///
    /// What is constant-time: every step of the window is computed and
    /// compared with `subtle`, with no early exit, and the verdict is
    /// selected without branches, so the work does not depend on which step
    /// matched or whether any did. What is not: parsing the text (length,
    /// digits, separators) fails fast before any HMAC; the number of steps
    /// computed shrinks where the window would cross step 0 or `u64::MAX`;
    /// whether a step may be accepted at all (is it after
    /// `last_accepted_step`?) is branched on, being public; and the verdict,
    /// once reached, becomes `Ok` or `Err` by a branch, i.e. the answer
    /// itself, which the caller acts on anyway (which refusal, replay or no
    /// match, is selected without one). None of it involves the secret or
    /// tells which step matched.
    ///
    /// # Errors
    ///
    /// [`Refusal::Malformed`] for text that is not a code of the configured
    /// length, [`Refusal::BeforeT0`], [`Refusal::NoMatch`], and
    /// [`Refusal::Replayed`] when the code matches only steps at or before
    /// `last_accepted_step`.
    #[inline]
    pub fn verify(
        &self,
        submitted: &str,
        unix_time: u64,
        last_accepted_step: Option<u64>,
    ) -> Result<Verified, Refusal> {
        let code = SubmittedCode::parse(submitted, self.params.digits)?;
        self.verify_code(&code, unix_time, last_accepted_step, Drift::NONE)
    }

    /// As [`Totp::verify`], for a parsed code and with the window centred on
    /// the current step plus `drift` (clamped at step 0 and `u64::MAX`).
    /// The returned offset is relative to the current step, not the centre.
    ///
    /// # Errors
    ///
    /// As [`Totp::verify`]; [`Refusal::Malformed`] if `code` was parsed for
    /// another digit count.
    #[inline]
    pub fn verify_code(
        &self,
        code: &SubmittedCode,
        unix_time: u64,
        last_accepted_step: Option<u64>,
        drift: Drift,
    ) -> Result<Verified, Refusal> {
        let (verdict, step, offset) = self.verdict(code, unix_time, last_accepted_step, drift)?;
        // Accepted or not is the answer itself (the caller acts on it). Which
        // refusal it is, replay or no match, a server collapses into one
        // answer, so it is picked without a branch.
        if verdict == 0 {
            Ok(Verified { step, offset })
        } else {
            // `select_unpredictable` keeps the choice a `cmov`: on the
            // verdict alone, the compiler branches on it.
            Err(Refusal::miss(core::hint::select_unpredictable(
                verdict == 1,
                1,
                0,
            )))
        }
    }

    /// The constant-time core of [`Totp::verify_code`]: the verdict (0
    /// accepted, 1 replayed, 2 no match), the matched step and its offset.
    #[inline(always)]
    pub(crate) fn verdict(
        &self,
        code: &SubmittedCode,
        unix_time: u64,
        last_accepted_step: Option<u64>,
        drift: Drift,
    ) -> Result<(u8, u64, i64), Refusal> {
        check_digits(code, self.params.digits)?;
        let current = self.step_at(unix_time)?;
        let centre = current.saturating_add_signed(i64::from(drift.steps()));
        let window = self.params.window;
        let first = centre.saturating_sub(u64::from(window.past()));
        let last = centre.saturating_add(u64::from(window.future()));
        let scan = Scan::run(
            &self.key,
            self.params.digits,
            code.value(),
            first,
            last,
            last_accepted_step,
            Preference::Highest,
        );
        // Everything up to here runs the same whether, and where, the code
        // matched: the verdict is selected with `subtle`, not branched on.
        let (verdict, step) = scan.verdict();
        // |offset| <= MAX_STEPS + Drift::MAX_STEPS when accepted, far inside i64.
        let offset =
            i64::try_from(i128::from(step).saturating_sub(i128::from(current))).unwrap_or_default();
        Ok((verdict, step, offset))
    }
}

impl core::fmt::Debug for Totp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Totp")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// The time given is before the TOTP epoch T0, so it has no time step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeforeT0;

impl core::fmt::Display for BeforeT0 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the time is before the TOTP epoch T0")
    }
}

impl core::error::Error for BeforeT0 {}
