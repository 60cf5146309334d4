//! Configuration: the command line of every subcommand ([`Cli`]) and, for
//! `serve`, one set of knobs ([`ConfigValues`]) read from flags,
//! `MFA_SERVER_<FLAG>` environment variables and an optional TOML file
//! (`--config`), validated once at start-up into [`Settings`].
//!
//! Precedence, key by key: flag > environment variable > file > default.
//! The file takes the same keys in snake_case (`throttle_attempts = 10`) and
//! refuses unknown ones. Every error names the key and where its value came
//! from ([`Origin`]).
//!
//! The keys are defined once, in `values.rs` (clap and serde read the same
//! struct); precedence, defaults and validation are in `layers.rs`; the
//! validated [`Settings`] and the errors are in `settings.rs`; this file
//! holds the subcommands and `serve`'s arguments; the unit tests are under
//! `tests/`. Not here: what the subcommands do (`main.rs`), and the
//! engine's other defaults (only its issuer and throttle are knobs).

mod layers;
mod settings;
mod values;

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand};

pub use self::settings::{ConfigError, DEFAULT_CONNECTION, MAX_TTL, Origin, Settings};
pub use self::values::{ConfigValues, DbUrl};

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "mfa-server",
    version,
    about = "Auth0-compatible MFA authorization server (TOTP) on totp-engine"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once at start-up; `serve`'s knobs are most of it and boxing them buys nothing"
)]
pub enum Command {
    /// Run the server.
    ///
    /// Every option can also be set with the environment variable shown
    /// beside it, or as a snake_case key in the --config file; a flag beats
    /// the environment, which beats the file, which beats the default.
    Serve(ServeArgs),
    /// Create or update a client; reads its secret from standard input (one
    /// line), unless it is public or authenticates with Private Key JWT
    /// (--jwks, --public-key).
    AddClient {
        /// The client id: 1 to 128 printable characters.
        client_id: String,
        /// SQLite file (or sqlite://PATH), or postgres://USER@HOST:PORT/DB.
        #[arg(long, env = "MFA_SERVER_DB", default_value = "mfa-server.db")]
        db: DbUrl,
        /// A public client: no secret is read or required.
        #[arg(long, conflicts_with_all = ["jwks", "public_key"])]
        public: bool,
        /// A private_key_jwt client: the JWK Set (JSON, public keys only:
        /// RSA of 2048 bits or more, EC P-256/P-384, Ed25519) whose keys
        /// sign its client_assertion. It can no longer use a secret; run
        /// again with a new set to rotate the keys.
        #[arg(long, value_name = "PATH", conflicts_with = "public_key")]
        jwks: Option<PathBuf>,
        /// A private_key_jwt client with one PEM public key (SPKI "PUBLIC
        /// KEY", or PKCS#1 for RSA) instead of a JWK Set.
        #[arg(long, value_name = "PATH")]
        public_key: Option<PathBuf>,
        /// The encryption key file, as for `serve`.
        #[arg(long, env = "MFA_SERVER_ENCRYPTION_KEY_FILE")]
        encryption_key_file: Option<PathBuf>,
    },
    /// Create or update a user; reads the password from standard input (one line).
    AddUser {
        /// The username: 1 to 256 printable characters, no ':'.
        username: String,
        /// SQLite file (or sqlite://PATH), or postgres://USER@HOST:PORT/DB.
        #[arg(long, env = "MFA_SERVER_DB", default_value = "mfa-server.db")]
        db: DbUrl,
        /// The encryption key file, as for `serve`.
        #[arg(long, env = "MFA_SERVER_ENCRYPTION_KEY_FILE")]
        encryption_key_file: Option<PathBuf>,
    },
    /// Manage users (`users unblock USER`).
    #[command(subcommand)]
    Users(UsersCommand),
    /// Print the QR code of an otpauth URI (a `barcode_uri` of
    /// /mfa/associate) in the terminal, in Unicode half blocks, for a phone
    /// to scan. The URI holds the secret: give `-` (the default) to read it
    /// from standard input, so that neither the process list nor the shell
    /// history shows it.
    Qr {
        /// The otpauth:// URI, or `-` to read one line from standard input.
        #[arg(default_value = "-", value_name = "URI")]
        uri: SecretArg,
        /// For dark text on a light background: draw the dark modules as
        /// blocks (by default the light ones are, which suits a terminal
        /// with light text on a dark background).
        #[arg(long)]
        light_background: bool,
    },
    /// Replace the signing key: a new key signs on every instance within a
    /// second (no restart); the old one stays in the JWKS, and keeps
    /// verifying, until the tokens it signed have expired.
    RotateSigningKey {
        /// SQLite file (or sqlite://PATH), or postgres://USER@HOST:PORT/DB.
        #[arg(long, env = "MFA_SERVER_DB", default_value = "mfa-server.db")]
        db: DbUrl,
        /// The encryption key file, as for `serve`.
        #[arg(long, env = "MFA_SERVER_ENCRYPTION_KEY_FILE")]
        encryption_key_file: Option<PathBuf>,
        /// The algorithm whose key to replace: the servers' --signing-alg.
        #[arg(long, env = "MFA_SERVER_SIGNING_ALG", default_value = "RS256")]
        signing_alg: crate::tokens::SigningAlg,
    },
    /// Re-seal every secret (TOTP secrets and the signing key) under a new
    /// encryption key, online: instances keep serving if each already has
    /// the new key (see server/README.md, "Rotating the encryption key").
    RotateEncryptionKey {
        /// SQLite file (or sqlite://PATH), or postgres://USER@HOST:PORT/DB.
        #[arg(long, env = "MFA_SERVER_DB", default_value = "mfa-server.db")]
        db: DbUrl,
        /// The key the secrets are sealed under now.
        #[arg(long, env = "MFA_SERVER_ENCRYPTION_KEY_FILE")]
        encryption_key_file: Option<PathBuf>,
        /// The key to seal them under from now on.
        #[arg(long)]
        new_key_file: PathBuf,
    },
}

/// A secret given on the command line: wiped on drop, never shown by
/// `Debug`.
#[derive(Clone)]
pub struct SecretArg(pub zeroize::Zeroizing<String>);

impl std::fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretArg(..)")
    }
}

impl std::str::FromStr for SecretArg {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(zeroize::Zeroizing::new(s.to_owned())))
    }
}

/// The `users` subcommands.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Lift a user's login blocks from every client address (blocks after
    /// consecutive failed logins) and clear their failure counts.
    Unblock {
        /// The username.
        username: String,
        /// SQLite file (or sqlite://PATH), or postgres://USER@HOST:PORT/DB.
        #[arg(long, env = "MFA_SERVER_DB", default_value = "mfa-server.db")]
        db: DbUrl,
        /// The encryption key file, as for `serve`.
        #[arg(long, env = "MFA_SERVER_ENCRYPTION_KEY_FILE")]
        encryption_key_file: Option<PathBuf>,
    },
    /// Remove every authenticator of a user (they enroll again at their
    /// next login) and revoke their outstanding mfa_tokens and access tokens.
    ResetMfa {
        /// The username.
        username: String,
        /// SQLite file (or sqlite://PATH), or postgres://USER@HOST:PORT/DB.
        #[arg(long, env = "MFA_SERVER_DB", default_value = "mfa-server.db")]
        db: DbUrl,
        /// The encryption key file, as for `serve`.
        #[arg(long, env = "MFA_SERVER_ENCRYPTION_KEY_FILE")]
        encryption_key_file: Option<PathBuf>,
    },
    /// Delete a user, their authenticators and their outstanding tokens.
    Delete {
        /// The username.
        username: String,
        /// SQLite file (or sqlite://PATH), or postgres://USER@HOST:PORT/DB.
        #[arg(long, env = "MFA_SERVER_DB", default_value = "mfa-server.db")]
        db: DbUrl,
        /// The encryption key file, as for `serve`.
        #[arg(long, env = "MFA_SERVER_ENCRYPTION_KEY_FILE")]
        encryption_key_file: Option<PathBuf>,
    },
}

/// `serve`'s arguments: the config file (if any), the knobs given by flag
/// or environment variable, and which of them came from the environment.
#[derive(Debug, Clone, Default)]
pub struct ServeArgs {
    /// `--config`: the TOML file to read.
    pub config: Option<PathBuf>,
    /// The knobs given by flag or environment variable.
    pub values: ConfigValues,
    from_env: Vec<String>,
}

/// What clap sees of `serve`: [`ServeArgs`] adds the values' origins.
#[derive(Args)]
struct ServeFlags {
    /// TOML file with any of the options below as snake_case keys
    /// (`listen = "127.0.0.1:8080"`, `throttle_attempts = 10`); unknown keys
    /// are refused. Default: none.
    #[arg(long, env = "MFA_SERVER_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(flatten)]
    values: ConfigValues,
}

impl ServeArgs {
    /// Where the value of `key` given here came from: its flag or its
    /// environment variable.
    #[must_use]
    pub fn origin(&self, key: &str) -> Origin {
        if self.from_env.iter().any(|k| k == key) {
            Origin::Env
        } else {
            Origin::Flag
        }
    }
}

impl FromArgMatches for ServeArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let flags = ServeFlags::from_arg_matches(matches)?;
        let from_env = matches
            .ids()
            .map(|id| id.as_str())
            .filter(|id| matches.value_source(id) == Some(ValueSource::EnvVariable))
            .map(str::to_owned)
            .collect();
        Ok(Self {
            config: flags.config,
            values: flags.values,
            from_env,
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for ServeArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        ServeFlags::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        ServeFlags::augment_args_for_update(cmd)
    }
}

#[cfg(test)]
mod tests;
