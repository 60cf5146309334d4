//! mfa-server as a library: the pieces the binary wires together, public so
//! that tests (and servers built on them) can use them directly.
//!
//! - [`audience`]: the issuer URL, the APIs tokens are issued for and
//!   the scopes each grants.
//! - [`config`]: the command line, environment and config file, validated
//!   into [`config::Settings`].
//! - [`http`]: the router, its state [`http::App`] and the endpoints.
//! - [`db`]: the pool, the server's tables and the engine's store.
//! - [`demo`]: the web app `serve --demo` serves at `/`, and QR codes.
//! - [`tokens`]: the JWT signer and JWKS.
//! - [`credentials`]: password and client-secret hashes, mfa_tokens.
//! - [`jose`]: clients' public keys (Private Key JWT, DPoP) and JWS
//!   verification.
//! - [`hashing`]: the bounded pool every Argon2id verification runs in.

#![forbid(unsafe_code)]
#![allow(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects,
    unreachable_pub,
    // An application crate: its modules are public for its own tests, not
    // a library API (the engine's API documents every error).
    clippy::missing_errors_doc,
    clippy::missing_panics_doc
)]

pub mod audience;
pub mod config;
pub mod credentials;
pub mod db;
pub mod demo;
pub mod hashing;
pub mod http;
pub mod jose;
pub mod keys;
pub mod tokens;
