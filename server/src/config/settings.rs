//! Precedence and validation: [`Settings`], resolved key by key from the
//! flag-or-environment layer, the file and the defaults, and the
//! [`ConfigError`] that names the key and its [`Origin`].
//!
//! Not here: the clap and serde definitions of the keys ([`super::values`]).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use totp_engine::{MfaConfig, ThrottlePolicy};

use super::ServeArgs;
use super::values::{ConfigValues, DbUrl};
use crate::audience::{Audiences, AudiencesError, IssuerUrl};
use crate::db::LoginPolicy;
use crate::http::serve::ServeLimits;
use crate::tokens::SigningAlg;

/// The longest lifetime a token may be given: ten years, in seconds.
pub const MAX_TTL: u64 = 315_360_000;

/// The database connection's name unless `--connection` says otherwise:
/// Auth0's default database connection.
pub const DEFAULT_CONNECTION: &str = "Username-Password-Authentication";

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// Its command-line flag.
    Flag,
    /// Its `MFA_SERVER_*` environment variable.
    Env,
    /// The config file at this path.
    File(PathBuf),
    /// The built-in default.
    Default,
    /// Values handed to [`Settings::from_values`].
    Given,
}

impl Origin {
    /// Names this origin for `key`: `--mfa-token-ttl`, `environment
    /// variable MFA_SERVER_MFA_TOKEN_TTL`, `config file PATH`, …
    #[must_use]
    pub fn describe(&self, key: &str) -> String {
        match self {
            Self::Flag => format!("--{}", key.replace('_', "-")),
            Self::Env => format!(
                "environment variable MFA_SERVER_{}",
                key.to_ascii_uppercase()
            ),
            Self::File(path) => format!("config file {}", path.display()),
            Self::Default => "the default".to_owned(),
            Self::Given => "the given values".to_owned(),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value is out of range or unreadable.
    Invalid {
        /// The key, in snake_case.
        key: String,
        /// Where the value came from.
        origin: Origin,
        /// What is wrong with it.
        reason: String,
    },
    /// The config file is not valid TOML, or has an unknown key or a value
    /// of the wrong type (the reason names the key and the line).
    File {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
}

impl ConfigError {
    pub(super) fn invalid(key: &str, origin: Origin, reason: impl fmt::Display) -> Self {
        Self::Invalid {
            key: key.to_owned(),
            origin,
            reason: reason.to_string(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid {
                key,
                origin,
                reason,
            } => write!(f, "invalid {key} from {}: {reason}", origin.describe(key)),
            Self::File { path, reason } => {
                write!(f, "config file {}: {}", path.display(), reason.trim_end())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// The validated configuration of `serve`.
#[derive(Debug, Clone)]
pub struct Settings {
    listen: SocketAddr,
    db: DbUrl,
    issuer: String,
    issuer_url: IssuerUrl,
    audiences: Audiences,
    mfa_token_ttl: u64,
    access_token_ttl: u64,
    signing_alg: SigningAlg,
    connection: String,
    demo: bool,
    encryption_key_file: Option<PathBuf>,
    previous_encryption_key_file: Option<PathBuf>,
    mfa: MfaConfig,
    login: LoginPolicy,
    trust_forwarded_for: bool,
    hash_concurrency: usize,
    hash_queue: usize,
    limits: ServeLimits,
}

impl Settings {
    /// Resolves `serve`'s arguments: reads the config file they name (if
    /// any), takes each key from the flag, the environment, the file or the
    /// default, in that order, and validates the result.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for an unreadable file or a bad value,
    /// [`ConfigError::File`] for a file that does not parse.
    pub fn from_args(args: &ServeArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::invalid(
                        "config",
                        args.origin("config"),
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                let values =
                    toml::from_str::<ConfigValues>(&text).map_err(|e| ConfigError::File {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                Some((values, path.as_path()))
            }
        };
        let layers = Layers {
            given: &args.values,
            origin: &|key| args.origin(key),
            file: file.as_ref().map(|(values, path)| (values, *path)),
        };
        layers.resolve()
    }

    /// Validates `values` over the defaults, with no file and no
    /// environment: for tests and for servers embedding this one.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for a bad value.
    pub fn from_values(values: &ConfigValues) -> Result<Self, ConfigError> {
        let layers = Layers {
            given: values,
            origin: &|_| Origin::Given,
            file: None,
        };
        layers.resolve()
    }

    /// The address to listen on.
    #[must_use]
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// The database URL.
    #[must_use]
    pub fn db(&self) -> &DbUrl {
        &self.db
    }

    /// The name shown in authenticator apps (the otpauth issuer).
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The issuer URL: the `iss` of every token, exactly as configured.
    #[must_use]
    pub fn issuer_url(&self) -> &str {
        self.issuer_url.as_str()
    }

    /// The APIs tokens are issued for (the MFA API and `--api`), the
    /// default audience, and the scopes each grants.
    #[must_use]
    pub fn audiences(&self) -> &Audiences {
        &self.audiences
    }

    /// mfa_token lifetime in seconds.
    #[must_use]
    pub fn mfa_token_ttl(&self) -> u64 {
        self.mfa_token_ttl
    }

    /// Access token lifetime in seconds.
    #[must_use]
    pub fn access_token_ttl(&self) -> u64 {
        self.access_token_ttl
    }

    /// Whether to create the demo client and user at start.
    #[must_use]
    pub fn demo(&self) -> bool {
        self.demo
    }

    /// The encryption key file, if one was named.
    #[must_use]
    pub fn encryption_key_file(&self) -> Option<&Path> {
        self.encryption_key_file.as_deref()
    }

    /// The previous encryption key file (during a rotation), if named.
    #[must_use]
    pub fn previous_encryption_key_file(&self) -> Option<&Path> {
        self.previous_encryption_key_file.as_deref()
    }

    /// The engine's configuration: the issuer and the throttle policy.
    #[must_use]
    pub fn mfa_config(&self) -> &MfaConfig {
        &self.mfa
    }

    /// The password grant's brute-force protection and suspicious-address
    /// throttling.
    #[must_use]
    pub fn login_policy(&self) -> LoginPolicy {
        self.login
    }

    /// Whether the client address is taken from `X-Forwarded-For`.
    #[must_use]
    pub fn trust_forwarded_for(&self) -> bool {
        self.trust_forwarded_for
    }

    /// Password hashes computed at once.
    #[must_use]
    pub fn hash_concurrency(&self) -> usize {
        self.hash_concurrency
    }

    /// Requests that may wait for a password hash beyond those running.
    #[must_use]
    pub fn hash_queue(&self) -> usize {
        self.hash_queue
    }

    /// The JWS algorithm tokens are signed with.
    #[must_use]
    pub fn signing_alg(&self) -> SigningAlg {
        self.signing_alg
    }

    /// The database connection's name: the `realm` of the password-realm
    /// grant.
    #[must_use]
    pub fn connection(&self) -> &str {
        &self.connection
    }

    /// The connection limit and the header and request timeouts.
    #[must_use]
    pub fn serve_limits(&self) -> ServeLimits {
        self.limits
    }
}

/// The layers of one resolution: flag-or-environment values with their
/// origins, then the file.
struct Layers<'a> {
    given: &'a ConfigValues,
    origin: &'a dyn Fn(&str) -> Origin,
    file: Option<(&'a ConfigValues, &'a Path)>,
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

    fn resolve(&self) -> Result<Settings, ConfigError> {
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
        Ok(Settings {
            listen,
            db,
            issuer,
            issuer_url,
            audiences,
            mfa_token_ttl,
            access_token_ttl,
            signing_alg,
            connection,
            demo,
            encryption_key_file,
            previous_encryption_key_file,
            mfa: config.with_throttle(throttle),
            login,
            trust_forwarded_for,
            hash_concurrency,
            hash_queue,
            limits,
        })
    }
}
