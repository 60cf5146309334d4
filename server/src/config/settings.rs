//! The validated configuration, [`Settings`], and its accessors; where a
//! value came from, [`Origin`]; and the [`ConfigError`] that names the key
//! and its origin. [`Settings::from_args`] reads the config file.
//!
//! Not here: the precedence, defaults and ranges of the keys
//! (`layers.rs`), their clap and serde definitions ([`super::values`]).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use totp_engine::MfaConfig;

use super::ServeArgs;
use super::layers::Layers;
use super::values::{ConfigValues, DbUrl};
use crate::audience::{Audiences, IssuerUrl};
use crate::db::LoginPolicy;
use crate::http::cors::AllowedOrigin;
use crate::http::serve::ServeLimits;
use crate::logging::LogFormat;
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
    pub(super) listen: SocketAddr,
    pub(super) db: DbUrl,
    pub(super) issuer: String,
    pub(super) issuer_url: IssuerUrl,
    pub(super) audiences: Audiences,
    pub(super) mfa_token_ttl: u64,
    pub(super) access_token_ttl: u64,
    pub(super) refresh_token_ttl: u64,
    pub(super) refresh_token_idle_ttl: u64,
    pub(super) signing_alg: SigningAlg,
    pub(super) connection: String,
    pub(super) demo: bool,
    pub(super) encryption_key_file: Option<PathBuf>,
    pub(super) previous_encryption_key_file: Option<PathBuf>,
    pub(super) tls: Option<(PathBuf, PathBuf)>,
    pub(super) mfa: MfaConfig,
    pub(super) login: LoginPolicy,
    pub(super) trust_forwarded_for: bool,
    pub(super) hash_concurrency: usize,
    pub(super) hash_queue: usize,
    pub(super) limits: ServeLimits,
    pub(super) log_format: LogFormat,
    pub(super) metrics_listen: Option<SocketAddr>,
    pub(super) dpop: DpopPolicy,
    pub(super) allowed_origins: Vec<AllowedOrigin>,
}

/// DPoP's knobs: the proof window and the nonce lifetime (0: no nonce).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DpopPolicy {
    pub(super) proof_window_secs: u64,
    pub(super) nonce_secs: u64,
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

    /// A refresh token family's absolute lifetime from its login, seconds.
    #[must_use]
    pub fn refresh_token_ttl(&self) -> u64 {
        self.refresh_token_ttl
    }

    /// A refresh token's lifetime unless used (inactivity), seconds.
    #[must_use]
    pub fn refresh_token_idle_ttl(&self) -> u64 {
        self.refresh_token_idle_ttl
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

    /// The TLS certificate chain and key files (`--tls-cert`, `--tls-key`),
    /// if the server terminates TLS itself.
    #[must_use]
    pub fn tls(&self) -> Option<(&Path, &Path)> {
        self.tls.as_ref().map(|(c, k)| (c.as_path(), k.as_path()))
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

    /// How far a DPoP proof's `iat` may lie from now, in seconds (and how
    /// long its `jti` is remembered).
    #[must_use]
    pub fn dpop_proof_window_secs(&self) -> u64 {
        self.dpop.proof_window_secs
    }

    /// How long a DPoP nonce stays valid, in seconds; 0: nonces are off.
    #[must_use]
    pub fn dpop_nonce_secs(&self) -> u64 {
        self.dpop.nonce_secs
    }

    /// The connection limit, the header and request timeouts and the
    /// shutdown's bound.
    #[must_use]
    pub fn serve_limits(&self) -> ServeLimits {
        self.limits
    }

    /// The origins whose browser apps may call across origins (CORS);
    /// empty: none.
    #[must_use]
    pub fn allowed_origins(&self) -> &[AllowedOrigin] {
        &self.allowed_origins
    }

    /// How log lines are written.
    #[must_use]
    pub fn log_format(&self) -> LogFormat {
        self.log_format
    }

    /// The metrics listener's address, if metrics are on.
    #[must_use]
    pub fn metrics_listen(&self) -> Option<SocketAddr> {
        self.metrics_listen
    }
}
