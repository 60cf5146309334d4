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

/// The longest lifetime a token may be given: ten years, in seconds.
pub const MAX_TTL: u64 = 315_360_000;

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
    mfa_token_ttl: u64,
    access_token_ttl: u64,
    demo: bool,
    mfa: MfaConfig,
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

    /// The issuer, also the default audience of access tokens.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
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

    /// The engine's configuration: the issuer and the throttle policy.
    #[must_use]
    pub fn mfa_config(&self) -> &MfaConfig {
        &self.mfa
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
        let (issuer, origin) = self.pick("issuer", |v| &v.issuer, "mfa-server".to_owned());
        let config = MfaConfig::new(issuer.clone())
            .map_err(|e| ConfigError::invalid("issuer", origin, e))?;
        let mfa_token_ttl = self.ttl("mfa_token_ttl", |v| &v.mfa_token_ttl, 600)?;
        let access_token_ttl = self.ttl("access_token_ttl", |v| &v.access_token_ttl, 86_400)?;
        let (demo, _) = self.pick("demo", |v| &v.demo, false);
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
        Ok(Settings {
            listen,
            db,
            issuer,
            mfa_token_ttl,
            access_token_ttl,
            demo,
            mfa: config.with_throttle(throttle),
        })
    }
}
