//! Precedence and validation: [`Layers`], the flag-or-environment values
//! with their origins over the file, resolved key by key (flag or
//! environment > file > default) and validated into [`Settings`].
//!
//! Every default and range of a knob lives here. Not here: the
//! [`Settings`] type, [`Origin`] and [`ConfigError`] (`settings.rs`), the
//! clap and serde definitions of the keys (`values.rs`), reading the file
//! (`Settings::from_args`).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use totp_engine::{MfaConfig, ThrottlePolicy};

use super::settings::{ConfigError, DEFAULT_CONNECTION, DpopPolicy, MAX_TTL, Origin, Settings};
use super::values::{ConfigValues, DbUrl};
use crate::audience::{Audiences, AudiencesError, IssuerUrl};
use crate::db::LoginPolicy;
use crate::http::serve::ServeLimits;
use crate::logging::LogFormat;
use crate::tokens::SigningAlg;

/// The layers of one resolution: flag-or-environment values with their
/// origins, then the file.
pub(super) struct Layers<'a> {
    pub(super) given: &'a ConfigValues,
    pub(super) origin: &'a dyn Fn(&str) -> Origin,
    pub(super) file: Option<(&'a ConfigValues, &'a Path)>,
}

impl Layers<'_> {
    /// The value of `key` from the first layer that has one, or `default`.
    fn pick<T: Clone>(
        &self,
        key: &str,
        get: fn(&ConfigValues) -> &Option<T>,
        default: T,
    ) -> (T, Origin) {
        if let Some(v) = get(self.given) {
            return (v.clone(), (self.origin)(key));
        }
        if let Some((file, path)) = self.file
            && let Some(v) = get(file)
        {
            return (v.clone(), Origin::File(path.to_owned()));
        }
        (default, Origin::Default)
    }

    /// The value of an optional key from the first layer that has one.
    fn pick_optional<T: Clone>(&self, get: fn(&ConfigValues) -> &Option<T>) -> Option<T> {
        get(self.given)
            .clone()
            .or_else(|| self.file.and_then(|(file, _)| get(file).clone()))
    }

    fn ttl(
        &self,
        key: &str,
        get: fn(&ConfigValues) -> &Option<u64>,
        default: u64,
    ) -> Result<u64, ConfigError> {
        match self.pick(key, get, default) {
            (ttl @ 1..=MAX_TTL, _) => Ok(ttl),
            (_, origin) => Err(ConfigError::invalid(
                key,
                origin,
                format!("must be 1 to {MAX_TTL} seconds"),
            )),
        }
    }

    /// The value of `key`, which must lie in `range`.
    fn ranged<T>(
        &self,
        key: &str,
        get: fn(&ConfigValues) -> &Option<T>,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: Clone + PartialOrd + fmt::Display,
    {
        match self.pick(key, get, default) {
            (v, _) if range.contains(&v) => Ok(v),
            (_, origin) => Err(ConfigError::invalid(
                key,
                origin,
                format!("must be {} to {}", range.start(), range.end()),
            )),
        }
    }

    /// The login throttle, the hash pool and the connection limits.
    #[allow(clippy::type_complexity)]
    fn limits(&self) -> Result<(LoginPolicy, bool, usize, usize, ServeLimits), ConfigError> {
        let login = LoginPolicy {
            max_failures: self.ranged(
                "login_max_failures",
                |v| &v.login_max_failures,
                10,
                1..=1000,
            )?,
            block_secs: self.ranged(
                "login_block_secs",
                |v| &v.login_block_secs,
                30 * 86_400,
                1..=MAX_TTL,
            )?,
            address_capacity: self.ranged(
                "ip_throttle_attempts",
                |v| &v.ip_throttle_attempts,
                100,
                1..=1_000_000,
            )?,
            address_refill_secs: self.ranged(
                "ip_throttle_refill_secs",
                |v| &v.ip_throttle_refill_secs,
                864,
                1..=86_400,
            )?,
        };
        let (trust_forwarded_for, _) =
            self.pick("trust_forwarded_for", |v| &v.trust_forwarded_for, false);
        let cores = std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(1024);
        let cores = u32::try_from(cores).unwrap_or(1);
        let hash_concurrency =
            self.ranged("hash_concurrency", |v| &v.hash_concurrency, cores, 1..=1024)?;
        let hash_queue = self.ranged(
            "hash_queue",
            |v| &v.hash_queue,
            hash_concurrency.saturating_mul(32).min(100_000),
            0..=100_000,
        )?;
        let max_connections = self.ranged(
            "max_connections",
            |v| &v.max_connections,
            1024,
            1..=1_000_000,
        )?;
        let secs = |key: &str,
                    get: fn(&ConfigValues) -> &Option<u64>,
                    default: u64|
         -> Result<std::time::Duration, ConfigError> {
            self.ranged(key, get, default, 1..=3600)
                .map(std::time::Duration::from_secs)
        };
        let limits = ServeLimits {
            max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
            header_read_timeout: secs(
                "header_read_timeout_secs",
                |v| &v.header_read_timeout_secs,
                10,
            )?,
            request_timeout: secs("request_timeout_secs", |v| &v.request_timeout_secs, 10)?,
            shutdown_timeout: secs("shutdown_timeout_secs", |v| &v.shutdown_timeout_secs, 30)?,
        };
        let to_usize = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        Ok((
            login,
            trust_forwarded_for,
            to_usize(hash_concurrency),
            to_usize(hash_queue),
            limits,
        ))
    }

    /// Every key, resolved and validated.
    pub(super) fn resolve(&self) -> Result<Settings, ConfigError> {
        let (listen, _) = self.pick(
            "listen",
            |v| &v.listen,
            SocketAddr::from(([127, 0, 0, 1], 8080)),
        );
        let (db, origin) = self.pick("db", |v| &v.db, DbUrl::new("mfa-server.db"));
        if db.as_str().is_empty() {
            return Err(ConfigError::invalid("db", origin, "must not be empty"));
        }
        let (issuer_url, _) = self.pick("issuer_url", |v| &v.issuer_url, IssuerUrl::default());
        let (issuer, origin) = self.pick("issuer", |v| &v.issuer, issuer_url.host().to_owned());
        let config = MfaConfig::new(issuer.clone()).map_err(|e| match origin {
            Origin::Default => ConfigError::invalid(
                "issuer",
                origin,
                format!("the host of issuer_url cannot name the service in authenticator apps ({e}); set issuer"),
            ),
            origin => ConfigError::invalid("issuer", origin, e),
        })?;
        let (apis, apis_origin) = self.pick("api", |v| &v.api, Vec::new());
        let (default_audience, default_origin) =
            self.pick("default_audience", |v| &v.default_audience, String::new());
        let default_audience = Some(default_audience).filter(|d| !d.is_empty());
        let audiences =
            Audiences::new(&issuer_url, apis, default_audience).map_err(|e| match e {
                AudiencesError::Api(reason) => ConfigError::invalid("api", apis_origin, reason),
                AudiencesError::DefaultAudience(reason) => {
                    ConfigError::invalid("default_audience", default_origin, reason)
                }
            })?;
        let mfa_token_ttl = self.ttl("mfa_token_ttl", |v| &v.mfa_token_ttl, 600)?;
        let access_token_ttl = self.ttl("access_token_ttl", |v| &v.access_token_ttl, 86_400)?;
        let refresh_token_ttl =
            self.ttl("refresh_token_ttl", |v| &v.refresh_token_ttl, 30 * 86_400)?;
        let refresh_token_idle_ttl = self.ttl(
            "refresh_token_idle_ttl",
            |v| &v.refresh_token_idle_ttl,
            15 * 86_400,
        )?;
        let (signing_alg, _) = self.pick("signing_alg", |v| &v.signing_alg, SigningAlg::default());
        let (connection, origin) = self.pick(
            "connection",
            |v| &v.connection,
            DEFAULT_CONNECTION.to_owned(),
        );
        if connection.is_empty()
            || connection.chars().count() > 128
            || connection.chars().any(char::is_control)
        {
            return Err(ConfigError::invalid(
                "connection",
                origin,
                "must be 1 to 128 printable characters",
            ));
        }
        let (demo, _) = self.pick("demo", |v| &v.demo, false);
        let encryption_key_file = self.pick_optional(|v| &v.encryption_key_file);
        let previous_encryption_key_file = self.pick_optional(|v| &v.previous_encryption_key_file);
        let (tls_cert, cert_origin) = self.pick("tls_cert", |v| &v.tls_cert, PathBuf::new());
        let (tls_key, key_origin) = self.pick("tls_key", |v| &v.tls_key, PathBuf::new());
        let tls = match (cert_origin, key_origin) {
            (Origin::Default, Origin::Default) => None,
            (origin, Origin::Default) => {
                return Err(ConfigError::invalid(
                    "tls_cert",
                    origin,
                    "needs tls_key as well",
                ));
            }
            (Origin::Default, origin) => {
                return Err(ConfigError::invalid(
                    "tls_key",
                    origin,
                    "needs tls_cert as well",
                ));
            }
            _ => Some((tls_cert, tls_key)),
        };
        let (attempts, attempts_origin) =
            self.pick("throttle_attempts", |v| &v.throttle_attempts, 10);
        let (refill, refill_origin) =
            self.pick("throttle_refill_secs", |v| &v.throttle_refill_secs, 360);
        let throttle = ThrottlePolicy::new(attempts, refill).map_err(|e| {
            if attempts == 0 {
                ConfigError::invalid("throttle_attempts", attempts_origin, e)
            } else {
                ConfigError::invalid("throttle_refill_secs", refill_origin, e)
            }
        })?;
        let (login, trust_forwarded_for, hash_concurrency, hash_queue, limits) = self.limits()?;
        let dpop = DpopPolicy {
            proof_window_secs: self.ranged(
                "dpop_proof_window_secs",
                |v| &v.dpop_proof_window_secs,
                300,
                1..=3600,
            )?,
            nonce_secs: self.ranged("dpop_nonce_secs", |v| &v.dpop_nonce_secs, 0, 0..=86_400)?,
        };
        Ok(Settings {
            listen,
            db,
            issuer,
            issuer_url,
            audiences,
            mfa_token_ttl,
            access_token_ttl,
            refresh_token_ttl,
            refresh_token_idle_ttl,
            signing_alg,
            connection,
            demo,
            encryption_key_file,
            previous_encryption_key_file,
            tls,
            mfa: config.with_throttle(throttle),
            login,
            trust_forwarded_for,
            hash_concurrency,
            dpop,
            hash_queue,
            limits,
            log_format: self
                .pick("log_format", |v| &v.log_format, LogFormat::default())
                .0,
            metrics_listen: self.pick_optional(|v| &v.metrics_listen),
            allowed_origins: {
                let mut origins = self
                    .pick("allowed_origin", |v| &v.allowed_origin, Vec::new())
                    .0;
                // Each origin once, in the order first given.
                let mut seen = std::collections::HashSet::new();
                origins.retain(|o| seen.insert(o.clone()));
                origins
            },
        })
    }
}
