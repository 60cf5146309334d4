//! mfa-server as a library: the pieces the binary wires together, public so
//! that tests (and servers built on them) can use the SQL store, the token
//! signer and the router directly.

#![forbid(unsafe_code)]
#![allow(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects,
    missing_docs,
    unreachable_pub,
    // An application crate: its modules are public for its own tests, not
    // a library API (the engine's API documents every error).
    clippy::missing_errors_doc,
    clippy::missing_panics_doc
)]

pub mod credentials;
pub mod db;
pub mod http;
pub mod tokens;
