//! `serde` for what a store persists (feature `serde`): the parameters,
//! the throttle bucket, and with `flow` the authenticator records.
//!
//! Every value is checked on the way in, exactly as its constructor checks
//! it (digits 6 to 8, a known algorithm, a drift within range, an id of
//! Auth0's shape, a recovery hash of the right length), so a tampered or
//! corrupt document is an error, never an invalid value.
//!
//! **A secret is never serialized by accident.** [`Secret`] and
//! `OtpAuthenticator` (which holds one) implement neither `Serialize` nor
//! `Deserialize`; they go through the explicitly named [`WithSecret`]
//! wrapper, which writes the key as base32: seal it before it is stored
//! (feature `seal`).

use core::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::params::{Algorithm, Digits, Drift, Period, Window};
use crate::policy::Attempts;
use crate::secret::{MAX_BASE32_LEN, Secret};
use crate::totp::TotpParams;

/// Serializes and deserializes the secret of a [`Secret`] or an
/// `OtpAuthenticator`: the only way a key enters or leaves a serde format,
/// named so that every place that does it stands out in review. The key
/// is written as unpadded base32 (the intermediate text is wiped).
///
/// ```
/// # #[cfg(feature = "alloc")] {
/// use totp_engine::{Secret, WithSecret};
///
/// let secret = Secret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")?;
/// let json = serde_json::to_string(&WithSecret(&secret))?;
/// assert_eq!(json, r#""GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ""#);
/// let WithSecret(back): WithSecret<Secret> = serde_json::from_str(&json)?;
/// assert_eq!(back, secret);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WithSecret<T>(pub T);

impl<T> fmt::Debug for WithSecret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WithSecret(..)")
    }
}

impl Serialize for WithSecret<&Secret> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; MAX_BASE32_LEN];
        let result = match self.0.encode_base32(&mut buf) {
            Ok(text) => serializer.serialize_str(text),
            Err(_) => Err(serde::ser::Error::custom("secret does not fit its buffer")),
        };
        zeroize::Zeroize::zeroize(&mut buf);
        result
    }
}

impl<'de> Deserialize<'de> for WithSecret<Secret> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Base32;
        impl serde::de::Visitor<'_> for Base32 {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base32 secret key")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Secret, E> {
                // The error names the problem, never the text.
                Secret::from_base32(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Base32).map(WithSecret)
    }
}

macro_rules! via_repr {
    ($type:ty, $repr:ty, |$v:ident| $to:expr, |$r:ident| $from:expr) => {
        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let $v = self;
                let repr: $repr = $to;
                repr.serialize(serializer)
            }
        }
        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let $r = <$repr>::deserialize(deserializer)?;
                $from.map_err(D::Error::custom)
            }
        }
    };
}

impl Serialize for Algorithm {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.uri_name())
    }
}

impl<'de> Deserialize<'de> for Algorithm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = Algorithm;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("SHA1, SHA256 or SHA512")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Algorithm, E> {
                name.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Name)
    }
}

via_repr!(Digits, u8, |v| v.get(), |r| Digits::new(r));
via_repr!(Period, u32, |v| v.secs(), |r| Period::new(r));
via_repr!(Drift, i8, |v| v.steps(), |r| Drift::new(r));

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowRepr {
    past: u8,
    future: u8,
}

via_repr!(
    Window,
    WindowRepr,
    |v| WindowRepr {
        past: v.past(),
        future: v.future()
    },
    |r| Window::new(r.past, r.future)
);

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttemptsRepr {
    used: u32,
    since: u64,
}

via_repr!(
    Attempts,
    AttemptsRepr,
    |v| AttemptsRepr {
        used: v.used(),
        since: v.since()
    },
    |r| Ok::<_, core::convert::Infallible>(Attempts::from_parts(r.used, r.since))
);

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TotpParamsRepr {
    algorithm: Algorithm,
    digits: Digits,
    period: Period,
    t0: u64,
    window: Window,
}

via_repr!(
    TotpParams,
    TotpParamsRepr,
    |v| TotpParamsRepr {
        algorithm: v.algorithm(),
        digits: v.digits(),
        period: v.period(),
        t0: v.t0(),
        window: v.window(),
    },
    |r| Ok::<_, core::convert::Infallible>(
        TotpParams::default()
            .with_algorithm(r.algorithm)
            .with_digits(r.digits)
            .with_period(r.period)
            .with_t0(r.t0)
            .with_window(r.window)
    )
);

#[cfg(feature = "flow")]
mod records {
    //! The authenticator records of the flow's store.

    use alloc::boxed::Box;
    use alloc::string::String;
    use alloc::vec::Vec;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::WithSecret;
    use crate::params::Drift;
    use crate::policy::Attempts;
    use crate::recovery::RecoveryHash;
    use crate::secret::Secret;
    use crate::store::{
        AuthenticatorId, AuthenticatorKind, OtpAuthenticator, OtpProgress, RecoveryAuthenticator,
    };
    use crate::totp::TotpParams;

    impl Serialize for AuthenticatorKind {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_str(self.authenticator_type())
        }
    }

    impl<'de> Deserialize<'de> for AuthenticatorKind {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            match String::deserialize(deserializer)?.as_str() {
                "otp" => Ok(Self::Otp),
                "recovery-code" => Ok(Self::RecoveryCode),
                _ => Err(D::Error::custom(
                    "authenticator kind must be otp or recovery-code",
                )),
            }
        }
    }

    impl Serialize for AuthenticatorId {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_str(self.as_str())
        }
    }

    impl<'de> Deserialize<'de> for AuthenticatorId {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let text = String::deserialize(deserializer)?;
            Self::parse(&text).ok_or_else(|| D::Error::custom("not an authenticator id"))
        }
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct OtpProgressRepr {
        last_step: Option<u64>,
        drift: Drift,
        active: bool,
    }

    impl Serialize for OtpProgress {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            OtpProgressRepr {
                last_step: self.last_step,
                drift: self.drift,
                active: self.active,
            }
            .serialize(serializer)
        }
    }

    impl<'de> Deserialize<'de> for OtpProgress {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let r = OtpProgressRepr::deserialize(deserializer)?;
            Ok(Self {
                last_step: r.last_step,
                drift: r.drift,
                active: r.active,
            })
        }
    }

    /// A recovery hash as its stored bytes.
    struct Hash(RecoveryHash);

    impl Serialize for Hash {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(&self.0.to_bytes())
        }
    }

    impl<'de> Deserialize<'de> for Hash {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let bytes: Vec<u8> = serde_bytes_compat(deserializer)?;
            RecoveryHash::from_bytes(&bytes)
                .map(Hash)
                .map_err(|_| D::Error::custom("not a recovery-code hash"))
        }
    }

    /// Bytes from formats that write them as a byte string or as a sequence
    /// of numbers (JSON).
    fn serde_bytes_compat<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    if out.len() >= 256 {
                        return Err(A::Error::custom("too many bytes"));
                    }
                    out.push(b);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_bytes(V)
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RecoveryRepr {
        id: AuthenticatorId,
        active: bool,
        slots: Vec<Option<Hash>>,
        attempts: Attempts,
        created_at: u64,
    }

    impl Serialize for RecoveryAuthenticator {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            RecoveryRepr {
                id: self.id.clone(),
                active: self.active,
                slots: self.slots.iter().map(|s| s.map(Hash)).collect(),
                attempts: self.attempts,
                created_at: self.created_at,
            }
            .serialize(serializer)
        }
    }

    impl<'de> Deserialize<'de> for RecoveryAuthenticator {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let r = RecoveryRepr::deserialize(deserializer)?;
            if r.id.kind() != AuthenticatorKind::RecoveryCode {
                return Err(D::Error::custom("not a recovery-code authenticator id"));
            }
            Ok(Self {
                id: r.id,
                active: r.active,
                slots: r.slots.into_iter().map(|s| s.map(|Hash(h)| h)).collect(),
                attempts: r.attempts,
                created_at: r.created_at,
            })
        }
    }

    #[derive(Serialize)]
    struct OtpOut<'a> {
        id: &'a AuthenticatorId,
        secret: WithSecret<&'a Secret>,
        params: TotpParams,
        progress: OtpProgress,
        attempts: Attempts,
        created_at: u64,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct OtpIn {
        id: AuthenticatorId,
        secret: WithSecret<Secret>,
        params: TotpParams,
        progress: OtpProgress,
        attempts: Attempts,
        created_at: u64,
    }

    /// The whole OTP authenticator, secret included (base32).
    impl Serialize for WithSecret<&OtpAuthenticator> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let a = self.0;
            OtpOut {
                id: &a.id,
                secret: WithSecret(&a.secret),
                params: a.params,
                progress: a.progress,
                attempts: a.attempts,
                created_at: a.created_at,
            }
            .serialize(serializer)
        }
    }

    impl<'de> Deserialize<'de> for WithSecret<OtpAuthenticator> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let r = OtpIn::deserialize(deserializer)?;
            if r.id.kind() != AuthenticatorKind::Otp {
                return Err(D::Error::custom("not an otp authenticator id"));
            }
            let WithSecret(secret) = r.secret;
            Ok(WithSecret(OtpAuthenticator {
                id: r.id,
                secret: Box::new(secret),
                params: r.params,
                progress: r.progress,
                attempts: r.attempts,
                created_at: r.created_at,
            }))
        }
    }
}
