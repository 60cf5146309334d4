//! Submitted-code parsing and TOTP/HOTP verification with arbitrary
//! parameters, secrets, times and replay state: never panics; an accepted
//! step lies in the window and after the last accepted one; the code of a
//! step is accepted at that step unless it is a replay.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use totp_engine::{
    Algorithm, Digits, Drift, Hotp, HotpParams, LookAhead, Period, Refusal, Secret, SubmittedCode,
    Totp, TotpParams, Window,
};

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let algorithm = *u.choose(&[Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512])?;
    let digits = Digits::new(u.int_in_range(6..=8)?).expect("6..=8");
    let period = Period::new(u.int_in_range(1..=86_400)?).expect("1..=86400");
    let window = Window::new(u.int_in_range(0..=10)?, u.int_in_range(0..=10)?).expect("0..=10");
    let drift = Drift::new(u.int_in_range(-20..=20)?).expect("-20..=20");
    let t0: u64 = u.arbitrary()?;
    let now: u64 = u.arbitrary()?;
    let last: Option<u64> = u.arbitrary()?;
    let key_len = u.int_in_range(16..=128)?;
    let key = u.bytes(key_len)?;
    let text: &str = u.arbitrary()?;
    let params = TotpParams::default()
        .with_algorithm(algorithm)
        .with_digits(digits)
        .with_period(period)
        .with_t0(t0)
        .with_window(window);
    let secret = Secret::from_bytes(key).expect("16..=128 bytes");
    let totp = Totp::new(&secret, params);

    // Arbitrary text: any outcome but a panic; an accepted step obeys the rules.
    if let Ok(code) = SubmittedCode::parse(text, digits) {
        if let Ok(v) = totp.verify_code(&code, now, last, drift) {
            let current = totp.step_at(now).expect("verified, so not before T0");
            assert!(last.is_none_or(|l| v.step() > l));
            let reach = i128::from(window.past().max(window.future())) + 20;
            assert!((i128::from(v.step()) - i128::from(current)).abs() <= reach);
        }
    }

    // The genuine code of the current step.
    if let Ok(step) = totp.step_at(now) {
        let code = totp.generate_at_step(step);
        match totp.verify(code.as_str(), now, last) {
            Ok(v) => assert!(last.is_none_or(|l| v.step() > l)),
            Err(Refusal::Replayed) => assert!(last.is_some()),
            Err(other) => panic!("the current code was refused: {other:?}"),
        }
    } else {
        assert!(now < t0);
    }

    // HOTP with a look-ahead.
    let hotp = Hotp::new(&secret, HotpParams::default().with_algorithm(algorithm).with_digits(digits).with_look_ahead(LookAhead::new(u.int_in_range(0..=100)?).expect("0..=100")));
    let counter: u64 = u.arbitrary()?;
    let code = hotp.generate(counter);
    let m = hotp.verify(code.as_str(), counter).expect("the expected counter's code");
    assert_eq!(m.counter(), counter);
    let _ = hotp.verify(text, counter);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
