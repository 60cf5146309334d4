//! Import an exported `otpauth://` URI (from an authenticator app's export
//! or a QR code) and show what it holds, never the secret, with the
//! current code.
//!
//! ```sh
//! cargo run --example parse_uri -- 'otpauth://totp/ACME:jane@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME'
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use totp_engine::{Clock as _, ParsedKeyUri, SystemClock, Totp};

const EXAMPLE: &str =
    "otpauth://totp/ACME:jane%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME";

fn main() -> ExitCode {
    let text = std::env::args()
        .nth(1)
        .unwrap_or_else(|| EXAMPLE.to_owned());
    let uri = match ParsedKeyUri::parse(&text) {
        Ok(uri) => uri,
        Err(e) => {
            // The error names the problem, never the secret.
            eprintln!("not a usable otpauth URI: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("type:      {:?}", uri.kind());
    println!("issuer:    {}", uri.issuer().unwrap_or_default());
    println!("account:   {}", uri.account());
    println!("algorithm: {}", uri.algorithm());
    println!("digits:    {}", uri.digits().get());
    println!(
        "secret:    {} bytes ({uri:?} shows no key)",
        uri.secret().len()
    );
    if let Some(period) = uri.period() {
        println!("period:    {} s", period.secs());
        let now = SystemClock.unix_time();
        match Totp::new(uri.secret(), uri.totp_params()).generate(now) {
            Ok(code) => println!("code now:  {code}"),
            Err(e) => println!("no code at this time: {e}"),
        }
    }
    ExitCode::SUCCESS
}
