//! Unit tests of the configuration, by topic: precedence and the file
//! (`precedence.rs`), the knobs' flags, help and ranges (`knobs.rs`), and
//! the values of particular keys (`values.rs`). This file holds the
//! helpers they share.
//!
//! The process environment is never modified (that needs `unsafe`): tests
//! point each option's environment variable elsewhere with clap's
//! `mut_arg`, at unset names, or at `PATH` where a value from the
//! environment is wanted.

mod knobs;
mod precedence;
mod values;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use clap::{CommandFactory, FromArgMatches};

use super::*;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A TOML file with `text`.
pub(super) fn config_file(text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "mfa-server-config-{}-{}.toml",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::write(&path, text).unwrap();
    path
}

/// The command line with each `serve` option reading the environment
/// variable named in `env` (by key), and an unset one otherwise, so that the
/// caller's own `MFA_SERVER_*` variables do not leak in.
pub(super) fn command(env: &[(&str, &'static str)]) -> clap::Command {
    Cli::command().mut_subcommand("serve", |mut serve| {
        let ids: Vec<String> = serve
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .filter(|id| id != "help")
            .collect();
        for id in ids {
            let var: &'static str = match env.iter().find(|(key, _)| *key == id) {
                Some((_, var)) => var,
                None => Box::leak(format!("MFA_SERVER_TEST_UNSET_{id}").into_boxed_str()),
            };
            serve = serve.mut_arg(id, |a| a.env(var));
        }
        serve
    })
}

pub(super) fn parse(env: &[(&str, &'static str)], args: &[&str]) -> Result<ServeArgs, clap::Error> {
    let argv = ["mfa-server", "serve"].iter().chain(args);
    let matches = command(env).try_get_matches_from(argv)?;
    match Cli::from_arg_matches(&matches)?.command {
        Command::Serve(args) => Ok(args),
        other => panic!("parsed {other:?}"),
    }
}

pub(super) fn path_var() -> String {
    std::env::var("PATH").expect("PATH is set")
}
