//! Interoperability with an independent implementation: `oathtool` from
//! OATH Toolkit (Debian package `oathtool`, installed by `.ci/run`).
//!
//! For many random secrets, times, periods, T0s, algorithms and digit
//! counts, oathtool and the engine must produce the same code, and the engine
//! must accept oathtool's code. This test never skips: without oathtool it
//! fails and says how to install it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects
)]

use std::process::Command;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use totp_engine::{Algorithm, Digits, Hotp, HotpParams, Period, Secret, Totp, TotpParams};

fn oathtool(args: &[String]) -> String {
    let output = Command::new("oathtool")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "oathtool could not be run ({e}). Install it (Debian: apt-get install oathtool); \
             this interoperability test does not skip."
            )
        });
    assert!(
        output.status.success(),
        "oathtool {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

const ALGORITHMS: [(Algorithm, &str); 3] = [
    (Algorithm::Sha1, "sha1"),
    (Algorithm::Sha256, "sha256"),
    (Algorithm::Sha512, "sha512"),
];
const PERIODS: [u64; 7] = [1, 15, 30, 60, 90, 3600, 86_400];

#[test]
fn totp_agrees_with_oathtool_on_random_cases() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x0a7_4001);
    for case in 0..150 {
        let key_len = 16 + (rng.next_u32() as usize % 113); // 16..=128
        let mut key = vec![0u8; key_len];
        rng.fill_bytes(&mut key);
        let (algorithm, name) = ALGORITHMS[rng.next_u32() as usize % 3];
        let digits = 6 + rng.next_u32() % 3;
        let period = PERIODS[rng.next_u32() as usize % PERIODS.len()];
        let t0 = if case % 3 == 0 {
            u64::from(rng.next_u32())
        } else {
            0
        };
        // Up to the year 2500, always at or after T0.
        let now = t0 + rng.next_u64() % 16_725_225_600;
        let params = TotpParams::default()
            .with_algorithm(algorithm)
            .with_digits(Digits::try_from(digits).unwrap())
            .with_period(Period::try_from(period).unwrap())
            .with_t0(t0);
        let totp = Totp::new(&Secret::from_bytes(&key).unwrap(), params);
        let expected = oathtool(&[
            format!("--totp={name}"),
            format!("--digits={digits}"),
            format!("--time-step-size={period}s"),
            format!("--start-time=@{t0}"),
            format!("--now=@{now}"),
            hex::encode(&key),
        ]);
        let ours = totp.generate(now).unwrap();
        assert_eq!(
            ours.as_str(),
            expected,
            "case {case}: {name}, {digits} digits, period {period}, t0 {t0}, now {now}, key {key_len} bytes"
        );
        let verified = totp.verify(&expected, now, None).unwrap();
        assert_eq!(verified.step(), (now - t0) / period);
        // oathtool's code for the previous step is accepted with offset -1.
        if now - t0 >= period {
            let previous = oathtool(&[
                format!("--totp={name}"),
                format!("--digits={digits}"),
                format!("--time-step-size={period}s"),
                format!("--start-time=@{t0}"),
                format!("--now=@{}", now - period),
                hex::encode(&key),
            ]);
            let v = totp.verify(&previous, now, None).unwrap();
            assert!(v.offset() == -1 || previous == expected, "case {case}");
        }
    }
}

#[test]
fn totp_base32_secret_agrees_with_oathtool() {
    let mut rng = ChaCha20Rng::seed_from_u64(32);
    for _ in 0..30 {
        let secret = Secret::generate(&mut rng);
        let b32 = secret.to_base32();
        let now = rng.next_u64() % 4_000_000_000;
        let expected = oathtool(&[
            "--totp".into(),
            "--base32".into(),
            format!("--now=@{now}"),
            b32.to_string(),
        ]);
        let totp = Totp::new(&secret, TotpParams::default());
        assert_eq!(totp.generate(now).unwrap().as_str(), expected);
    }
}

#[test]
fn hotp_agrees_with_oathtool_on_random_cases() {
    let mut rng = ChaCha20Rng::seed_from_u64(4226);
    for case in 0..80 {
        let key_len = 16 + (rng.next_u32() as usize % 113);
        let mut key = vec![0u8; key_len];
        rng.fill_bytes(&mut key);
        let digits = 6 + rng.next_u32() % 3;
        let counter = match case % 4 {
            0 => u64::from(rng.next_u32() % 100),
            1 => u64::MAX - u64::from(rng.next_u32() % 5),
            _ => rng.next_u64(),
        };
        let hotp = Hotp::new(
            &Secret::from_bytes(&key).unwrap(),
            HotpParams::default().with_digits(Digits::try_from(digits).unwrap()),
        );
        let expected = oathtool(&[
            "--hotp".into(),
            format!("--digits={digits}"),
            format!("--counter={counter}"),
            hex::encode(&key),
        ]);
        assert_eq!(
            hotp.generate(counter).as_str(),
            expected,
            "case {case}, counter {counter}"
        );
        let from = counter.saturating_sub(3);
        let matched = hotp.verify(&expected, from).unwrap();
        // A collision inside the look-ahead could match an earlier counter.
        assert!(
            matched.counter() == counter || hotp.generate(matched.counter()).as_str() == expected
        );
    }
}
