//! The knobs of `serve` as one struct, [`ConfigValues`], that clap reads
//! from flags and environment variables and serde reads from the file; the
//! [`DbUrl`] newtype; and the value parser that makes clap's errors name
//! the key and its origin.
//!
//! Not here: precedence and validation ([`super::settings`]).

use std::ffi::OsStr;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use clap::Args;
use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use clap::parser::ValueSource;
use serde::Deserialize;

use super::settings::{ConfigError, Origin};
use crate::audience::{ApiSpec, IssuerUrl};
use crate::http::cors::AllowedOrigin;
use crate::logging::LogFormat;
use crate::tokens::SigningAlg;

/// The knobs of `serve`, every one optional: one layer of configuration,
/// as given by flags and environment variables (clap) or by the file
/// (serde, unknown keys refused).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigValues {
    /// Address to listen on; port 0 picks a free port (the chosen address
    /// is printed). Default: 127.0.0.1:8080.
    #[arg(
        long,
        env = "MFA_SERVER_LISTEN",
        value_name = "ADDR",
        value_parser = Sourced::<SocketAddr>::parsed()
    )]
    pub listen: Option<SocketAddr>,
    /// Database: a SQLite file (or sqlite://PATH), created if missing, or
    /// postgres://USER@HOST:PORT/DB. Default: mfa-server.db.
    #[arg(
        long,
        env = "MFA_SERVER_DB",
        value_name = "URL",
        value_parser = Sourced::<DbUrl>::parsed()
    )]
    pub db: Option<DbUrl>,
    /// The name shown in authenticator apps (the otpauth issuer and label
    /// prefix); no ':'. Default: the host of --issuer-url.
    #[arg(
        long,
        env = "MFA_SERVER_ISSUER",
        value_name = "NAME",
        value_parser = Sourced::<String>::parsed()
    )]
    pub issuer: Option<String>,
    /// Issuer URL: the `iss` of every token exactly as written, an
    /// absolute http(s) URL that must end with '/' (Auth0's is
    /// https://DOMAIN/); the MFA API's audience is <issuer-url>mfa/.
    /// Default: http://127.0.0.1:8080/.
    #[arg(
        long,
        env = "MFA_SERVER_ISSUER_URL",
        value_name = "URL",
        value_parser = Sourced::<IssuerUrl>::parsed()
    )]
    pub issuer_url: Option<IssuerUrl>,
    /// An API this server issues access tokens for, and the scopes it
    /// defines: AUDIENCE=SCOPE,SCOPE… (e.g.
    /// https://api.example.com/=read:items,write:items); repeat the flag
    /// for several, separate them with spaces in the environment variable,
    /// list them in the file (api = ["…", "…"]). A login may ask only for
    /// these audiences or the MFA API. Default: none.
    #[arg(
        long,
        env = "MFA_SERVER_API",
        value_name = "AUDIENCE=SCOPES",
        value_delimiter = ' ',
        value_parser = Sourced::<ApiSpec>::parsed()
    )]
    pub api: Option<Vec<ApiSpec>>,
    /// The audience of a login that names none (Auth0's tenant default
    /// audience): the MFA API's or one given with --api. Default: none
    /// (such tokens are for <issuer-url>userinfo, with OpenID Connect
    /// scopes only).
    #[arg(
        long,
        env = "MFA_SERVER_DEFAULT_AUDIENCE",
        value_name = "AUDIENCE",
        value_parser = Sourced::<String>::parsed()
    )]
    pub default_audience: Option<String>,
    /// mfa_token lifetime in seconds, 1 to 315360000. Default: 600.
    #[arg(
        long,
        env = "MFA_SERVER_MFA_TOKEN_TTL",
        value_name = "SECS",
        value_parser = Sourced::<u64>::parsed()
    )]
    pub mfa_token_ttl: Option<u64>,
    /// Access token lifetime in seconds, 1 to 315360000. Default: 86400.
    #[arg(
        long,
        env = "MFA_SERVER_ACCESS_TOKEN_TTL",
        value_name = "SECS",
        value_parser = Sourced::<u64>::parsed()
    )]
    pub access_token_ttl: Option<u64>,
    /// Refresh token lifetime in seconds from the login it descends from
    /// (Auth0's absolute lifetime): rotation never extends it, 1 to
    /// 315360000. Default: 2592000 (30 days).
    #[arg(
        long,
        env = "MFA_SERVER_REFRESH_TOKEN_TTL",
        value_name = "SECS",
        value_parser = Sourced::<u64>::parsed()
    )]
    pub refresh_token_ttl: Option<u64>,
    /// Seconds a refresh token stays usable unless it is used (Auth0's
    /// inactivity lifetime): each rotation issues one valid this long, at
    /// most until the absolute lifetime, 1 to 315360000. Default: 1296000
    /// (15 days).
    #[arg(
        long,
        env = "MFA_SERVER_REFRESH_TOKEN_IDLE_TTL",
        value_name = "SECS",
        value_parser = Sourced::<u64>::parsed()
    )]
    pub refresh_token_idle_ttl: Option<u64>,
    /// The JWS algorithm of access and id tokens: RS256 (an RSA 2048 key,
    /// as Auth0 signs) or EdDSA (Ed25519). Each is generated on the first
    /// start that uses it and kept sealed in the database. Default: RS256.
    #[arg(
        long,
        env = "MFA_SERVER_SIGNING_ALG",
        value_name = "ALG",
        value_parser = Sourced::<SigningAlg>::parsed()
    )]
    pub signing_alg: Option<SigningAlg>,
    /// The name of the one database connection: the `realm` the
    /// password-realm grant must name (1 to 128 printable characters).
    /// Default: Username-Password-Authentication.
    #[arg(
        long,
        env = "MFA_SERVER_CONNECTION",
        value_name = "NAME",
        value_parser = Sourced::<String>::parsed()
    )]
    pub connection: Option<String>,
    /// Create (or reset) a demo client and user at start and print how to
    /// use them, and serve the demo page at / (sign in and enroll a phone
    /// in a browser); `--demo=false` overrides the file. Default: false.
    #[arg(
        long,
        env = "MFA_SERVER_DEMO",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = Sourced::<bool>::boolean()
    )]
    pub demo: Option<bool>,
    /// File holding the key that seals secrets at rest: 32 random bytes as
    /// 64 hex digits or base64. Default: <database>.key beside a SQLite
    /// file, created (mode 0600) on first start; required for PostgreSQL.
    #[arg(
        long,
        env = "MFA_SERVER_ENCRYPTION_KEY_FILE",
        value_name = "PATH",
        value_parser = Sourced::<PathBuf>::parsed()
    )]
    pub encryption_key_file: Option<PathBuf>,
    /// A previous encryption key, accepted for opening secrets sealed under
    /// it during a key rotation (they are re-sealed under the current key
    /// at start). Default: none.
    #[arg(
        long,
        env = "MFA_SERVER_PREVIOUS_ENCRYPTION_KEY_FILE",
        value_name = "PATH",
        value_parser = Sourced::<PathBuf>::parsed()
    )]
    pub previous_encryption_key_file: Option<PathBuf>,
    /// Serve HTTPS: the certificate chain, PEM, leaf first (with
    /// --tls-key). Default: none (plain HTTP; terminate TLS in front).
    #[arg(
        long,
        env = "MFA_SERVER_TLS_CERT",
        value_name = "PATH",
        value_parser = Sourced::<PathBuf>::parsed()
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert, PEM (PKCS#8, PKCS#1 RSA or SEC1 EC).
    /// Default: none.
    #[arg(
        long,
        env = "MFA_SERVER_TLS_KEY",
        value_name = "PATH",
        value_parser = Sourced::<PathBuf>::parsed()
    )]
    pub tls_key: Option<PathBuf>,
    /// Failed attempts allowed per authenticator before lockout, at least 1
    /// (Auth0: 10). Default: 10.
    #[arg(
        long,
        env = "MFA_SERVER_THROTTLE_ATTEMPTS",
        value_name = "N",
        value_parser = Sourced::<u32>::parsed()
    )]
    pub throttle_attempts: Option<u32>,
    /// Seconds until a locked-out authenticator gets one more attempt, at
    /// least 1 (Auth0: 360). Default: 360.
    #[arg(
        long,
        env = "MFA_SERVER_THROTTLE_REFILL_SECS",
        value_name = "SECS",
        value_parser = Sourced::<u64>::parsed()
    )]
    pub throttle_refill_secs: Option<u64>,
    /// Consecutive failed logins of one user from one client address that
    /// block that pair (Auth0's brute-force protection), 1 to 1000 (Auth0:
    /// 10). Default: 10.
    #[arg(
        long,
        env = "MFA_SERVER_LOGIN_MAX_FAILURES",
        value_name = "N",
        value_parser = Sourced::<u32>::parsed()
    )]
    pub login_max_failures: Option<u32>,
    /// Seconds a blocked (user, address) pair stays blocked after its last
    /// failed login unless unblocked sooner (`users unblock`, a new
    /// password, a login from another address), 1 to 315360000 (Auth0: 30
    /// days). Default: 2592000.
    #[arg(
        long,
        env = "MFA_SERVER_LOGIN_BLOCK_SECS",
        value_name = "SECS",
        value_parser = Sourced::<u64>::parsed()
    )]
    pub login_block_secs: Option<u64>,
    /// Failed logins one client address may make across all accounts in a
    /// burst (Auth0's suspicious-IP throttling), 1 to 1000000 (Auth0: 100).
    /// Default: 100.
    #[arg(
        long,
        env = "MFA_SERVER_IP_THROTTLE_ATTEMPTS",
        value_name = "N",
        value_parser = Sourced::<u32>::parsed()
    )]
    pub ip_throttle_attempts: Option<u32>,
    /// Seconds until a client address throttled for failed logins gets one
    /// more attempt, 1 to 86400 (Auth0: 864, i.e. 100 a day). Default: 864.
    #[arg(
        long,
        env = "MFA_SERVER_IP_THROTTLE_REFILL_SECS",
        value_name = "SECS",
        value_parser = Sourced::<u64>::parsed()
    )]
    pub ip_throttle_refill_secs: Option<u64>,
    /// Take the client address from the last X-Forwarded-For entry instead
    /// of the TCP peer: only behind a reverse proxy that appends it and is
    /// the only way to reach the server. Default: false.
    #[arg(
        long,
        env = "MFA_SERVER_TRUST_FORWARDED_FOR",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = Sourced::<bool>::boolean()
    )]
    pub trust_forwarded_for: Option<bool>,
    /// Password hashes (Argon2id, 19 MiB of memory each) computed at once,
    /// 1 to 1024. Default: the number of CPU cores.
    #[arg(
        long,
        env = "MFA_SERVER_HASH_CONCURRENCY",
        value_name = "N",
        value_parser = Sourced::<u32>::parsed()
    )]
    pub hash_concurrency: Option<u32>,
    /// Requests that may wait for a password hash beyond those running;
    /// more are answered 503 with Retry-After, 0 to 100000. Default: 32 per
    /// concurrent hash.
    #[arg(
        long,
        env = "MFA_SERVER_HASH_QUEUE",
        value_name = "N",
        value_parser = Sourced::<u32>::parsed()
    )]
    pub hash_queue: Option<u32>,
    /// Open connections at most, 1 to 1000000 (lowered to fit the process's
    /// open-file limit); at the limit a new connection closes the oldest
    /// idle one. Default: 1024.
    #[arg(
        long,
        env = "MFA_SERVER_MAX_CONNECTIONS",
        value_name = "N",
        value_parser = Sourced::<u32>::parsed()
    )]
    pub max_connections: Option<u32>,
    /// Seconds a connection may take to send a request's headers, from its
    /// start or its previous response (so also the keep-alive idle
    /// timeout), 1 to 3600. Default: 10.
    #[arg(
        long,
        env = "MFA_SERVER_HEADER_READ_TIMEOUT_SECS",
        value_name = "SECS",
        value_parser = Sourced::<u64>::parsed()
    )]
    pub header_read_timeout_secs: Option<u64>,
    /// Seconds a request may take to send its body once its headers are in
    /// (slower ones get 408), 1 to 3600. Default: 10.
    #[arg(
        long,
        env = "MFA_SERVER_REQUEST_TIMEOUT_SECS",
        value_name = "SECS",
        value_parser = Sourced::<u64>::parsed()
    )]
    pub request_timeout_secs: Option<u64>,
    /// Seconds a DPoP proof's iat may lie before or after the server's
    /// time (RFC 9449 §11.1); its jti is remembered that long, across
    /// instances. 1 to 3600. Default: 300.
    #[arg(
        long,
        env = "MFA_SERVER_DPOP_PROOF_WINDOW_SECS",
        value_name = "SECS",
        value_parser = Sourced::<u64>::parsed()
    )]
    pub dpop_proof_window_secs: Option<u64>,
    /// Require a server nonce in DPoP proofs (RFC 9449 §8): each nonce is
    /// valid this many seconds, and a proof without a current one is
    /// answered use_dpop_nonce with a fresh DPoP-Nonce. 0 (off) to 86400.
    /// Default: 0.
    #[arg(
        long,
        env = "MFA_SERVER_DPOP_NONCE_SECS",
        value_name = "SECS",
        value_parser = Sourced::<u64>::parsed()
    )]
    pub dpop_nonce_secs: Option<u64>,
    /// A web origin whose browser apps may call this server across origins
    /// (CORS; Auth0's "Allowed Origins"), as browsers write it:
    /// http(s)://HOST[:PORT], no path, no wildcard; repeat the flag for
    /// several, separate them with spaces in the environment variable, list
    /// them in the file (allowed_origin = ["…"]). Default: none (no CORS
    /// header is sent; browsers refuse cross-origin calls).
    #[arg(
        long,
        env = "MFA_SERVER_ALLOWED_ORIGIN",
        value_name = "ORIGIN",
        value_delimiter = ' ',
        value_parser = Sourced::<AllowedOrigin>::parsed()
    )]
    pub allowed_origin: Option<Vec<AllowedOrigin>>,
    /// How log lines are written to standard error: text (human-readable)
    /// or json (one object per line). `RUST_LOG` filters them. Default:
    /// text.
    #[arg(
        long,
        env = "MFA_SERVER_LOG_FORMAT",
        value_name = "FORMAT",
        value_parser = Sourced::<LogFormat>::parsed()
    )]
    pub log_format: Option<LogFormat>,
    /// Seconds a shutdown (SIGTERM, SIGINT) waits for requests in flight
    /// to finish once it stopped accepting, 1 to 3600; connections still
    /// busy then are cut. Default: 30.
    #[arg(
        long,
        env = "MFA_SERVER_SHUTDOWN_TIMEOUT_SECS",
        value_name = "SECS",
        value_parser = Sourced::<u64>::parsed()
    )]
    pub shutdown_timeout_secs: Option<u64>,
    /// Address of a separate listener serving Prometheus metrics at
    /// /metrics (e.g. 127.0.0.1:9100; keep it off the public network).
    /// Default: none (no metrics are collected).
    #[arg(
        long,
        env = "MFA_SERVER_METRICS_LISTEN",
        value_name = "ADDR",
        value_parser = Sourced::<SocketAddr>::parsed()
    )]
    pub metrics_listen: Option<SocketAddr>,
}

/// A database URL or SQLite path. `Debug` hides a password in it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct DbUrl(String);

impl DbUrl {
    /// A URL or path, as given.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL as given, password included: for connecting only.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`: for messages.
    #[must_use]
    pub fn redacted(&self) -> String {
        let url = &self.0;
        let Some((scheme, rest)) = url.split_once("://") else {
            return url.clone();
        };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let authority = match authority.rsplit_once('@') {
            Some((userinfo, host)) if userinfo.contains(':') => {
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{user}:***@{host}")
            }
            _ => authority.to_owned(),
        };
        let tail = match tail.split_once('?') {
            Some((path, query)) if query.to_ascii_lowercase().contains("password") => {
                format!("{path}?***")
            }
            _ => tail.to_owned(),
        };
        format!("{scheme}://{authority}{tail}")
    }
}

impl FromStr for DbUrl {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DbUrl").field(&self.redacted()).finish()
    }
}

/// A clap value parser whose errors name the key and whether the value
/// came from the flag or the environment variable.
pub(super) struct Sourced<T> {
    parse: fn(&str) -> Result<T, String>,
}

impl<T> Clone for Sourced<T> {
    fn clone(&self) -> Self {
        Self { parse: self.parse }
    }
}

impl<T: FromStr> Sourced<T>
where
    T::Err: fmt::Display,
{
    fn parsed() -> Self {
        Self {
            parse: |s| s.parse::<T>().map_err(|e| e.to_string()),
        }
    }
}

impl Sourced<bool> {
    fn boolean() -> Self {
        Self {
            parse: |s| match s.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err("expected true or false".to_owned()),
            },
        }
    }
}

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Sourced<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        self.parse_ref_(cmd, arg, value, ValueSource::CommandLine)
    }

    fn parse_ref_(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
        source: ValueSource,
    ) -> Result<T, clap::Error> {
        let parsed = value
            .to_str()
            .ok_or_else(|| "not valid UTF-8".to_owned())
            .and_then(self.parse);
        parsed.map_err(|reason| {
            let key = arg.map_or("value", |a| a.get_id().as_str());
            let origin = match source {
                ValueSource::EnvVariable => Origin::Env,
                _ => Origin::Flag,
            };
            let error = ConfigError::invalid(key, origin, reason);
            clap::Error::raw(ErrorKind::ValueValidation, format!("{error}\n")).with_cmd(cmd)
        })
    }
}
