//! otpauth key URIs (Google Authenticator's Key Uri Format), the
//! `barcode_uri` that enrollment shows as a QR code.
//!
//! [`KeyUri`] writes a URI into any [`core::fmt::Write`] with no heap;
//! [`ParsedKeyUri::parse`] reads one from the wild, its text decoded into
//! inline buffers (no heap either). Percent-encoding is the `percent-encoding` crate's; spaces are
//! written as `%20`, never `+`.
//!
//! A URI carries the secret, so neither type implements `Display`, and
//! `Debug` never shows the secret.

use core::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use zeroize::Zeroize;

use crate::hotp::HotpParams;
use crate::params::{Algorithm, Digits, Period};
use crate::secret::SecretError;
use crate::secret::{MAX_BASE32_LEN, Secret};
use crate::totp::TotpParams;

/// Everything but RFC 3986 unreserved characters is percent-encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// URIs longer than this are refused unread.
pub const MAX_URI_LEN: usize = 4096;

/// Decoded text components (issuer, account) longer than this are refused.
pub const MAX_TEXT_LEN: usize = 256;

/// Which kind of OTP a URI describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpKind {
    /// `otpauth://totp/…`
    Totp,
    /// `otpauth://hotp/…`
    Hotp,
}

/// An otpauth URI to write.
///
/// ```
/// use totp_engine::{KeyUri, Secret, TotpParams};
///
/// let secret = Secret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")?;
/// let params = TotpParams::default();
/// let mut uri = String::new();
/// KeyUri::totp(&secret, &params, "jane doe@example.com")?
///     .with_issuer("ACME Co")?
///     .write_to(&mut uri)?;
/// assert_eq!(
///     uri,
///     "otpauth://totp/ACME%20Co:jane%20doe%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\
///      &issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct KeyUri<'a> {
    secret: &'a Secret,
    issuer: Option<&'a str>,
    account: &'a str,
    algorithm: Algorithm,
    digits: Digits,
    kind: KindParam,
}

#[derive(Clone, Copy)]
enum KindParam {
    Totp(Period),
    Hotp(u64),
}

impl<'a> KeyUri<'a> {
    /// A TOTP URI. T0 and the window are not part of the format: an app
    /// always assumes T0 = 0.
    ///
    /// # Errors
    ///
    /// [`UriError::ColonInLabel`] if `account` contains `:`, which the format
    /// reserves as the issuer separator, or [`UriError::InvalidText`] if it
    /// is empty or longer than [`MAX_TEXT_LEN`] bytes.
    pub fn totp(
        secret: &'a Secret,
        params: &TotpParams,
        account: &'a str,
    ) -> Result<Self, UriError> {
        check_label_part(account, "account")?;
        Ok(Self {
            secret,
            issuer: None,
            account,
            algorithm: params.algorithm(),
            digits: params.digits(),
            kind: KindParam::Totp(params.period()),
        })
    }

    /// An HOTP URI whose `counter` is the next counter the app should use
    /// (the arguments in [`KeyUri::totp`]'s order, then the counter).
    ///
    /// # Errors
    ///
    /// As [`KeyUri::totp`].
    pub fn hotp(
        secret: &'a Secret,
        params: &HotpParams,
        account: &'a str,
        counter: u64,
    ) -> Result<Self, UriError> {
        check_label_part(account, "account")?;
        Ok(Self {
            secret,
            issuer: None,
            account,
            algorithm: params.algorithm(),
            digits: params.digits(),
            kind: KindParam::Hotp(counter),
        })
    }

    /// Sets the issuer, written both as the label prefix and as the `issuer`
    /// parameter, as the format recommends.
    ///
    /// # Errors
    ///
    /// [`UriError::ColonInLabel`] if `issuer` contains `:`;
    /// [`UriError::InvalidText`] if it is empty or longer than
    /// [`MAX_TEXT_LEN`] bytes.
    pub fn with_issuer(mut self, issuer: &'a str) -> Result<Self, UriError> {
        check_label_part(issuer, "issuer")?;
        self.issuer = Some(issuer);
        Ok(self)
    }

    /// Writes the URI. Allocates nothing; the base32 secret passes through a
    /// stack buffer that is wiped afterwards.
    ///
    /// # Errors
    ///
    /// Only what `w` returns.
    pub fn write_to<W: fmt::Write + ?Sized>(&self, w: &mut W) -> fmt::Result {
        let kind = match self.kind {
            KindParam::Totp(_) => "totp",
            KindParam::Hotp(_) => "hotp",
        };
        write!(w, "otpauth://{kind}/")?;
        if let Some(issuer) = self.issuer {
            write!(w, "{}:", utf8_percent_encode(issuer, COMPONENT))?;
        }
        write!(
            w,
            "{}?secret=",
            utf8_percent_encode(self.account, COMPONENT)
        )?;
        let mut buf = [0u8; MAX_BASE32_LEN];
        let written = match self.secret.encode_base32(&mut buf) {
            Ok(text) => w.write_str(text),
            Err(_) => Err(fmt::Error),
        };
        buf.zeroize();
        written?;
        if let Some(issuer) = self.issuer {
            write!(w, "&issuer={}", utf8_percent_encode(issuer, COMPONENT))?;
        }
        write!(
            w,
            "&algorithm={}&digits={}",
            self.algorithm.uri_name(),
            self.digits.get()
        )?;
        match self.kind {
            KindParam::Totp(period) => write!(w, "&period={}", period.secs()),
            KindParam::Hotp(counter) => write!(w, "&counter={counter}"),
        }
    }

    /// The URI in a `String` that is wiped on drop.
    #[cfg(feature = "alloc")]
    #[must_use]
    pub fn to_uri_string(&self) -> zeroize::Zeroizing<alloc::string::String> {
        let mut s = zeroize::Zeroizing::new(alloc::string::String::with_capacity(160));
        // Writing into a String cannot fail.
        let _ = self.write_to(&mut *s);
        s
    }
}

impl fmt::Debug for KeyUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyUri")
            .field("issuer", &self.issuer)
            .field("account", &self.account)
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .finish_non_exhaustive()
    }
}

/// Why an otpauth URI could not be parsed. Never contains the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UriError {
    /// Longer than [`MAX_URI_LEN`].
    TooLong,
    /// Does not start with `otpauth://`.
    NotOtpauth,
    /// The type is neither `totp` nor `hotp`.
    UnknownType,
    /// No label (account name) after the type.
    MissingLabel,
    /// A component is not valid percent-encoded UTF-8, or decodes to more
    /// than [`MAX_TEXT_LEN`] bytes; when building, an issuer or account that
    /// is empty, too long or starts with a space.
    InvalidText {
        /// Which component: `"issuer"`, `"account"` or a parameter name.
        component: &'static str,
    },
    /// An issuer or account to write contains `:`, the label separator,
    /// which the format forbids in either part.
    ColonInLabel {
        /// `"issuer"` or `"account"`.
        component: &'static str,
    },
    /// A known parameter appears twice.
    DuplicateParameter {
        /// Its name.
        name: &'static str,
    },
    /// There is no `secret` parameter.
    MissingSecret,
    /// The `secret` parameter is not a usable base32 key.
    InvalidSecret(SecretError),
    /// The `algorithm` parameter is unknown, or its hash family was compiled out.
    InvalidAlgorithm,
    /// The `digits` parameter is not 6, 7 or 8.
    InvalidDigits,
    /// The `period` parameter is not 1 to [`Period::MAX_SECS`].
    InvalidPeriod,
    /// An HOTP URI without a `counter` parameter.
    MissingCounter,
    /// The `counter` parameter is not an unsigned 64-bit integer.
    InvalidCounter,
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong => write!(f, "otpauth URI is longer than {MAX_URI_LEN} bytes"),
            Self::NotOtpauth => f.write_str("URI does not start with otpauth://"),
            Self::UnknownType => f.write_str("otpauth URI type must be totp or hotp"),
            Self::MissingLabel => f.write_str("otpauth URI has no account label"),
            Self::InvalidText { component } => write!(
                f,
                "otpauth URI {component} is not valid percent-encoded UTF-8 of at most {MAX_TEXT_LEN} bytes"
            ),
            Self::ColonInLabel { component } => write!(
                f,
                "otpauth URI {component} must not contain ':', the label separator"
            ),
            Self::DuplicateParameter { name } => {
                write!(f, "otpauth URI has the {name} parameter twice")
            }
            Self::MissingSecret => f.write_str("otpauth URI has no secret (or an empty one)"),
            Self::InvalidSecret(e) => write!(f, "otpauth URI secret is invalid: {e}"),
            Self::InvalidAlgorithm => {
                f.write_str("otpauth URI algorithm must be SHA1, SHA256 or SHA512")
            }
            Self::InvalidDigits => f.write_str("otpauth URI digits must be 6, 7 or 8"),
            Self::InvalidPeriod => write!(
                f,
                "otpauth URI period must be 1 to {} seconds",
                Period::MAX_SECS
            ),
            Self::MissingCounter => f.write_str("otpauth hotp URI has no counter parameter"),
            Self::InvalidCounter => {
                f.write_str("otpauth URI counter must be an unsigned 64-bit integer")
            }
        }
    }
}

impl core::error::Error for UriError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::InvalidSecret(e) => Some(e),
            _ => None,
        }
    }
}

/// Percent-decodes `raw` (and, where `plus_is_space`, `+` as a space) into
/// `buf`; `None` if `buf` is too small or the result is not UTF-8.
fn decode_into<'b>(raw: &str, plus_is_space: bool, buf: &'b mut [u8]) -> Option<&'b str> {
    let mut pieces = raw.split(move |c| plus_is_space && c == '+');
    let first = pieces.next().unwrap_or_default();
    let bytes = percent_decode_str(first)
        .chain(pieces.flat_map(|piece| core::iter::once(b' ').chain(percent_decode_str(piece))));
    let mut n = 0usize;
    for b in bytes {
        *buf.get_mut(n)? = b;
        n = n.saturating_add(1);
    }
    core::str::from_utf8(buf.get(..n)?).ok()
}

/// A decoded text component (issuer, account) of a parsed URI, held inline:
/// at most [`MAX_TEXT_LEN`] bytes of UTF-8, no heap.
#[derive(Clone, Copy)]
struct Text {
    bytes: [u8; MAX_TEXT_LEN],
    len: u16,
}

impl Text {
    fn decode(raw: &str, plus_is_space: bool, component: &'static str) -> Result<Self, UriError> {
        let invalid = UriError::InvalidText { component };
        let mut bytes = [0u8; MAX_TEXT_LEN];
        let len = decode_into(raw, plus_is_space, &mut bytes)
            .ok_or(invalid)?
            .len();
        let len = u16::try_from(len).map_err(|_| invalid)?;
        Ok(Self { bytes, len })
    }

    fn as_str(&self) -> &str {
        // Checked as UTF-8 when decoded; checked again here (at most
        // MAX_TEXT_LEN bytes) rather than trusted without `unsafe`.
        self.bytes
            .get(..usize::from(self.len))
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or_default()
    }
}

/// An otpauth URI read from the wild.
///
/// Tolerates what real issuers emit: a `%3A`-encoded label separator, an
/// issuer only in the label or only in the parameter, a label issuer that
/// differs from the `issuer` parameter (both are kept), lowercase, spaced or
/// padded secrets, `+` for spaces in parameters, parameters in any order and
/// unknown parameters (ignored). Refuses known parameters given twice.
///
/// The text accessors ([`issuer`](Self::issuer), [`account`](Self::account),
/// …) give the **decoded** text as `&str`: `Contoso%3Ajane%40contoso.com`
/// gives the issuer `Contoso` and the account `jane@contoso.com`. A parsed
/// URI owns that text, decoded once at parse time into inline buffers of
/// [`MAX_TEXT_LEN`] bytes each (no heap: the value is under 1 KiB, the
/// secret included), and borrows nothing from the input.
///
/// ```
/// use totp_engine::{Algorithm, OtpKind, ParsedKeyUri};
///
/// let uri = ParsedKeyUri::parse(
///     "otpauth://totp/Contoso%3Ajane%40contoso.com?issuer=Microsoft\
///      &secret=jbsw%20y3dp%20ehpk%203pxp%20jbsw%20y3dp%20ehpk%203pxp&foo=bar",
/// )?;
/// assert_eq!(uri.kind(), OtpKind::Totp);
/// assert_eq!(uri.label_issuer(), Some("Contoso"));
/// assert_eq!(uri.issuer_parameter(), Some("Microsoft"));
/// assert_eq!(uri.issuer(), Some("Microsoft"), "the parameter wins");
/// assert_eq!(uri.account(), "jane@contoso.com");
/// assert_eq!(uri.algorithm(), Algorithm::Sha1);
/// # Ok::<(), totp_engine::UriError>(())
/// ```
pub struct ParsedKeyUri {
    kind: OtpKind,
    label_issuer: Option<Text>,
    account: Text,
    issuer_parameter: Option<Text>,
    secret: Secret,
    algorithm: Algorithm,
    digits: Digits,
    period: Period,
    counter: Option<u64>,
}

impl ParsedKeyUri {
    /// Parses `uri`, decoding its text components.
    ///
    /// # Errors
    ///
    /// A [`UriError`] naming what is wrong; it never contains the secret.
    pub fn parse(uri: &str) -> Result<Self, UriError> {
        if uri.len() > MAX_URI_LEN {
            return Err(UriError::TooLong);
        }
        let uri = uri.split('#').next().unwrap_or_default();
        let rest = strip_prefix_ignore_case(uri, "otpauth://").ok_or(UriError::NotOtpauth)?;
        let (kind_text, rest) = rest.split_once('/').ok_or(UriError::MissingLabel)?;
        let kind = if kind_text.eq_ignore_ascii_case("totp") {
            OtpKind::Totp
        } else if kind_text.eq_ignore_ascii_case("hotp") {
            OtpKind::Hotp
        } else {
            return Err(UriError::UnknownType);
        };
        let (label, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (label_issuer, account) = split_label(label);
        let account = skip_leading_spaces(account);
        if account.is_empty() {
            return Err(UriError::MissingLabel);
        }
        let account = Text::decode(account, false, "account")?;
        let label_issuer = match label_issuer {
            Some(raw) if !raw.is_empty() => Some(Text::decode(raw, false, "issuer")?),
            _ => None,
        };

        let mut secret_raw = None;
        let mut issuer_raw = None;
        let mut algorithm_raw = None;
        let mut digits_raw = None;
        let mut period_raw = None;
        let mut counter_raw = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (slot, name) = if key.eq_ignore_ascii_case("secret") {
                (&mut secret_raw, "secret")
            } else if key.eq_ignore_ascii_case("issuer") {
                (&mut issuer_raw, "issuer")
            } else if key.eq_ignore_ascii_case("algorithm") {
                (&mut algorithm_raw, "algorithm")
            } else if key.eq_ignore_ascii_case("digits") {
                (&mut digits_raw, "digits")
            } else if key.eq_ignore_ascii_case("period") {
                (&mut period_raw, "period")
            } else if key.eq_ignore_ascii_case("counter") {
                (&mut counter_raw, "counter")
            } else {
                continue;
            };
            if slot.replace(value).is_some() {
                return Err(UriError::DuplicateParameter { name });
            }
        }

        let secret = parse_secret(secret_raw.ok_or(UriError::MissingSecret)?)?;
        let issuer_parameter = match issuer_raw {
            Some(raw) if !raw.is_empty() => Some(Text::decode(raw, true, "issuer")?),
            _ => None,
        };
        let algorithm = match algorithm_raw {
            None => Algorithm::Sha1,
            Some(raw) => {
                let name = Text::decode(raw, true, "algorithm")?;
                Algorithm::from_uri_name(name.as_str()).ok_or(UriError::InvalidAlgorithm)?
            }
        };
        let digits = match digits_raw {
            None => Digits::SIX,
            Some(raw) => parse_number(raw)
                .and_then(|n| Digits::try_from(n).ok())
                .ok_or(UriError::InvalidDigits)?,
        };
        let period = match period_raw {
            None => Period::THIRTY_SECONDS,
            Some(raw) => parse_number(raw)
                .and_then(|n| Period::try_from(n).ok())
                .ok_or(UriError::InvalidPeriod)?,
        };
        let counter = match (kind, counter_raw) {
            (_, Some(raw)) => Some(parse_number(raw).ok_or(UriError::InvalidCounter)?),
            (OtpKind::Hotp, None) => return Err(UriError::MissingCounter),
            (OtpKind::Totp, None) => None,
        };
        Ok(Self {
            kind,
            label_issuer,
            account,
            issuer_parameter,
            secret,
            algorithm,
            digits,
            period,
            counter,
        })
    }

    /// TOTP or HOTP.
    #[must_use]
    pub fn kind(&self) -> OtpKind {
        self.kind
    }

    /// The issuer, decoded: the `issuer` parameter if present, else the
    /// label prefix.
    #[must_use]
    pub fn issuer(&self) -> Option<&str> {
        self.issuer_parameter().or(self.label_issuer())
    }

    /// The issuer prefix of the label (`Issuer` in `Issuer:account`), decoded.
    #[must_use]
    pub fn label_issuer(&self) -> Option<&str> {
        self.label_issuer.as_ref().map(Text::as_str)
    }

    /// The `issuer` parameter, decoded (`+` read as a space).
    #[must_use]
    pub fn issuer_parameter(&self) -> Option<&str> {
        self.issuer_parameter.as_ref().map(Text::as_str)
    }

    /// The account name, decoded (leading spaces after the `:` skipped).
    #[must_use]
    pub fn account(&self) -> &str {
        self.account.as_str()
    }

    /// The decoded secret key.
    #[must_use]
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// The algorithm (SHA-1 when absent).
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The number of digits (6 when absent).
    #[must_use]
    pub fn digits(&self) -> Digits {
        self.digits
    }

    /// The TOTP period (30 s when absent); `None` for an HOTP URI, which
    /// has none.
    #[must_use]
    pub fn period(&self) -> Option<Period> {
        (self.kind == OtpKind::Totp).then_some(self.period)
    }

    /// The counter (always present for HOTP).
    #[must_use]
    pub fn counter(&self) -> Option<u64> {
        self.counter
    }

    /// TOTP parameters with T0 = 0 and the default window.
    #[must_use]
    pub fn totp_params(&self) -> TotpParams {
        TotpParams::default()
            .with_algorithm(self.algorithm)
            .with_digits(self.digits)
            .with_period(self.period)
    }

    /// HOTP parameters with the default look-ahead.
    #[must_use]
    pub fn hotp_params(&self) -> HotpParams {
        HotpParams::default()
            .with_algorithm(self.algorithm)
            .with_digits(self.digits)
    }
}

impl fmt::Debug for ParsedKeyUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedKeyUri")
            .field("kind", &self.kind)
            .field("label_issuer", &self.label_issuer())
            .field("account", &self.account())
            .field("issuer_parameter", &self.issuer_parameter())
            .field("secret", &self.secret)
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .field("period", &self.period)
            .field("counter", &self.counter)
            .finish()
    }
}

pub(crate) fn check_label_part(text: &str, component: &'static str) -> Result<(), UriError> {
    if text.contains(':') {
        Err(UriError::ColonInLabel { component })
    } else if text.is_empty() || text.len() > MAX_TEXT_LEN || text.starts_with(' ') {
        Err(UriError::InvalidText { component })
    } else {
        Ok(())
    }
}

fn strip_prefix_ignore_case<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// Splits `Issuer:account` at the first `:` or `%3A`.
fn split_label(label: &str) -> (Option<&str>, &str) {
    let colon = label.find(':').map(|i| (i, 1));
    let encoded = label
        .as_bytes()
        .windows(3)
        .position(|w| w[0] == b'%' && w[1] == b'3' && (w[2] == b'A' || w[2] == b'a'))
        .map(|i| (i, 3));
    let first = match (colon, encoded) {
        (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
        (a, b) => a.or(b),
    };
    match first {
        Some((i, len)) => (
            label.get(..i),
            label.get(i.saturating_add(len)..).unwrap_or_default(),
        ),
        None => (None, label),
    }
}

/// The format allows spaces before the account name (`Issuer: account`).
fn skip_leading_spaces(mut s: &str) -> &str {
    loop {
        if let Some(rest) = s.strip_prefix(' ') {
            s = rest;
        } else if let Some(rest) = s.strip_prefix("%20") {
            s = rest;
        } else {
            return s;
        }
    }
}

fn parse_number(raw: &str) -> Option<u64> {
    if raw.is_empty() || raw.len() > 20 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

fn parse_secret(raw: &str) -> Result<Secret, UriError> {
    let mut buf = [0u8; 1024];
    let (secret, used) = match decode_into(raw, true, &mut buf) {
        // `secret=` with nothing in it is a missing secret, not a short one.
        Some(decoded) if decoded.trim().is_empty() => (Err(UriError::MissingSecret), decoded.len()),
        Some(decoded) => (
            Secret::from_base32(decoded).map_err(UriError::InvalidSecret),
            decoded.len(),
        ),
        None => (
            Err(UriError::InvalidSecret(SecretError::TooLong {
                len: raw.len().saturating_mul(5) / 8,
            })),
            buf.len(),
        ),
    };
    // Only the decoded prefix holds secret text.
    buf.get_mut(..used).unwrap_or_default().zeroize();
    secret
}
