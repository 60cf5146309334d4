#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// A std crate: sqlx needs it.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod error;
mod import;
pub mod lease;
mod migrate;
mod options;
mod outcome;
mod pool;
mod prefetch;
mod reseal;
mod rows;
mod sealing;
mod statements;
mod store;

pub use error::StoreError;
pub use migrate::{MIGRATIONS, Migration, run_migrations};
pub use options::{InvalidTablePrefix, StoreOptions};
pub use pool::{Backend, connect_pool};
pub use prefetch::Prefetched;
pub use reseal::Resealed;
pub use sealing::Keyring;
pub use store::SqlxStore;

/// Re-exported so callers name the same sqlx the store was built with.
pub use sqlx;
/// Re-exported so callers name the same engine the store implements.
pub use totp_engine;
