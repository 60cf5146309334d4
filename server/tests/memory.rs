//! Secrets do not linger in the server's memory (issue 13, F11): after an
//! enrollment, its confirmation and further verifications, the raw TOTP
//! secret appears at most three times, usually not at all, in the process's
//! writable memory (read from /proc/PID/mem, as an attacker with the
//! process's privileges would).
//!
//! The secret is sealed in the database; it is opened into a boxed,
//! zeroizing `Secret` that the records move by pointer, and the HMAC key
//! schedules are wiped after use. What the HTTP layer's buffers held (the
//! base32 secret of the enrollment answer, request bodies with the client
//! secret, mfa_tokens) is freed without being wiped and may remain until
//! the memory is reused: this test prints those counts, it does not
//! assert them.

#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects,
    missing_docs
)]

mod common;

use std::io::{Read as _, Seek as _, SeekFrom};

use common::*;

/// Occurrences of each needle in the writable mappings of process `pid`.
fn count_in_memory(pid: u32, needles: &[&[u8]]) -> Vec<usize> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    let mut counts = vec![0; needles.len()];
    for line in maps.lines() {
        let mut parts = line.split_whitespace();
        let (range, perms) = (parts.next().unwrap(), parts.next().unwrap());
        if !perms.starts_with("rw") {
            continue;
        }
        let (start, end) = range.split_once('-').unwrap();
        let start = u64::from_str_radix(start, 16).unwrap();
        let end = u64::from_str_radix(end, 16).unwrap();
        let mut data = vec![0u8; (end - start) as usize];
        if mem.seek(SeekFrom::Start(start)).is_err() || mem.read_exact(&mut data).is_err() {
            continue; // a guard page or a mapping that went away
        }
        for (i, (count, needle)) in counts.iter_mut().zip(needles).enumerate() {
            for (at, _) in data
                .windows(needle.len())
                .enumerate()
                .filter(|(_, w)| w == needle)
            {
                *count += 1;
                if i == 0 {
                    let lo = at.saturating_sub(32);
                    let hi = (at + needle.len() + 32).min(data.len());
                    eprintln!("raw copy in {line} at +{at:#x}: {:02x?}", &data[lo..hi]);
                }
            }
        }
    }
    counts
}

#[tokio::test]
async fn no_raw_totp_secret_remains_in_server_memory_after_verifications() {
    let dir = temp_dir("memory");
    let db = db_path(&dir);
    provision(&db);
    let server = Server::start(&db, &[]);
    let http = client();
    let (_, secret, _, _) = enrolled(&http, &server).await;
    for _ in 0..10 {
        let (token, _) = password_grant(&http, &server).await;
        let (status, _) = otp_grant(&http, &server, &token, "000000").await;
        assert_eq!(status, 400);
    }
    let raw = totp_engine::Secret::from_base32(&secret).unwrap();
    let needles: [&[u8]; 3] = [
        raw.expose_bytes(),
        secret.as_bytes(),
        CLIENT_SECRET.as_bytes(),
    ];
    let counts = count_in_memory(server.pid(), &needles);
    eprintln!(
        "copies in server memory: raw TOTP secret {}, base32 secret {}, client secret {}",
        counts[0], counts[1], counts[2]
    );
    assert_eq!(
        counts[0], 0,
        "the raw TOTP secret lingers in the server's memory"
    );
}
