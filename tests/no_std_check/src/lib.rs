//! Generates and verifies SHA-1 TOTP codes with no std and no heap, the way
//! firmware would: the secret and time come from the caller, the code goes
//! into a caller buffer.

#![no_std]
#![forbid(unsafe_code)]

use totp_engine::{Secret, Totp, TotpParams};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

/// Writes the 6-digit code for `unix_time` into `out`; returns 0 on success.
pub extern "C" fn totp_generate(key: &[u8; 20], unix_time: u64, out: &mut [u8; 6]) -> i32 {
    let Ok(secret) = Secret::from_bytes(key) else {
        return -1;
    };
    let totp = Totp::new(&secret, TotpParams::default());
    match totp.generate(unix_time) {
        Ok(code) => {
            out.copy_from_slice(code.as_str().as_bytes());
            0
        }
        Err(_) => -2,
    }
}

/// Verifies `code` at `unix_time` (window ±1) with the replay rule; returns
/// the matched step, or -1 if refused.
pub extern "C" fn totp_verify(key: &[u8; 20], code: &[u8; 6], unix_time: u64, last_step: u64) -> i64 {
    let (Ok(secret), Ok(text)) = (Secret::from_bytes(key), core::str::from_utf8(code)) else {
        return -1;
    };
    let totp = Totp::new(&secret, TotpParams::default());
    let last = if last_step == u64::MAX { None } else { Some(last_step) };
    match totp.verify(text, unix_time, last) {
        Ok(v) => i64::try_from(v.step()).unwrap_or(-1),
        Err(_) => -1,
    }
}

/// Keeps both entry points in the archive (a firmware image would call them);
/// `#[used]` needs no `unsafe`, unlike `#[no_mangle]`.
#[used]
static ENTRY_POINTS: (
    extern "C" fn(&[u8; 20], u64, &mut [u8; 6]) -> i32,
    extern "C" fn(&[u8; 20], &[u8; 6], u64, u64) -> i64,
) = (totp_generate, totp_verify);
