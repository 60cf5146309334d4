//! TOTP/HOTP verification: the window, the replay rule, drift, the edges of
//! time, and every kind of malformed input. Property tests check that a code
//! generated at any time is accepted exactly inside the window.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects
)]

use proptest::prelude::*;
use totp_engine::{
    Digits, Drift, Hotp, HotpParams, LookAhead, MalformedCode, Period, Refusal, Secret,
    SubmittedCode, Totp, TotpParams, Window,
};

fn secret() -> Secret {
    Secret::from_bytes(b"12345678901234567890").unwrap()
}

fn totp(window: Window) -> Totp {
    Totp::new(&secret(), TotpParams::default().with_window(window))
}

#[test]
fn window_accepts_past_and_future_steps_and_reports_the_offset() {
    let totp = totp(Window::new(2, 1).unwrap());
    let now = 1_000_000_000;
    let current = totp.step_at(now).unwrap();
    for delta in -2i64..=1 {
        let step = current.checked_add_signed(delta).unwrap();
        let code = totp.generate_at_step(step);
        let ok = totp.verify(code.as_str(), now, None).unwrap();
        assert_eq!((ok.step(), ok.offset()), (step, delta));
    }
    for delta in [-4i64, -3, 2, 3] {
        let code = totp.generate_at_step(current.checked_add_signed(delta).unwrap());
        assert_eq!(
            totp.verify(code.as_str(), now, None),
            Err(Refusal::NoMatch),
            "delta {delta}"
        );
    }
}

#[test]
fn exact_window_accepts_only_the_current_step() {
    let totp = totp(Window::EXACT);
    let now = 1_234_567_890;
    let step = totp.step_at(now).unwrap();
    assert!(
        totp.verify(totp.generate_at_step(step).as_str(), now, None)
            .is_ok()
    );
    assert_eq!(
        totp.verify(totp.generate_at_step(step - 1).as_str(), now, None),
        Err(Refusal::NoMatch)
    );
}

#[test]
fn replay_rule_refuses_the_last_accepted_step_and_earlier_ones() {
    let totp = totp(Window::ONE_STEP);
    let now = 1_700_000_000;
    let step = totp.step_at(now).unwrap();
    let current = totp.generate_at_step(step);
    let accepted = totp.verify(current.as_str(), now, None).unwrap();
    assert_eq!(accepted.step(), step);
    // The same code again: replayed, even though it is otherwise correct.
    assert_eq!(
        totp.verify(current.as_str(), now, Some(step)),
        Err(Refusal::Replayed)
    );
    // The previous step's code, still inside the window: replayed too.
    let previous = totp.generate_at_step(step - 1);
    assert_eq!(
        totp.verify(previous.as_str(), now, Some(step)),
        Err(Refusal::Replayed)
    );
    // A later step inside the window is accepted, and moves the mark forward.
    let next = totp.generate_at_step(step + 1);
    let later = totp.verify(next.as_str(), now, Some(step)).unwrap();
    assert_eq!((later.step(), later.offset()), (step + 1, 1));
    // A last-accepted step far in the future (a clock that jumped) blocks everything.
    assert_eq!(
        totp.verify(next.as_str(), now, Some(u64::MAX)),
        Err(Refusal::Replayed)
    );
}

#[test]
fn replay_rule_prefers_an_eligible_match() {
    // last_accepted = step - 1: the current code is accepted, the previous is a replay.
    let totp = totp(Window::ONE_STEP);
    let now = 1_600_000_000;
    let step = totp.step_at(now).unwrap();
    let code = totp.generate_at_step(step);
    assert_eq!(
        totp.verify(code.as_str(), now, Some(step - 1))
            .unwrap()
            .step(),
        step
    );
}

#[test]
fn drift_centres_the_window_and_offsets_stay_relative_to_now() {
    let totp = totp(Window::ONE_STEP);
    let now = 1_500_000_000;
    let step = totp.step_at(now).unwrap();
    let code = totp.generate_at_step(step + 5);
    assert_eq!(totp.verify(code.as_str(), now, None), Err(Refusal::NoMatch));
    let parsed = SubmittedCode::parse(code.as_str(), Digits::SIX).unwrap();
    let ok = totp
        .verify_code(&parsed, now, None, Drift::new(5).unwrap())
        .unwrap();
    assert_eq!((ok.step(), ok.offset()), (step + 5, 5));
    let ok = totp
        .verify_code(&parsed, now, None, Drift::new(4).unwrap())
        .unwrap();
    assert_eq!(ok.offset(), 5);
    assert!(
        totp.verify_code(&parsed, now, None, Drift::new(3).unwrap())
            .is_err()
    );
    assert!(Drift::new(21).is_err());
    assert!(Drift::new(-21).is_err());
    assert_eq!(Drift::saturating(-1000).steps(), -20);
}

#[test]
fn time_edges_never_panic_or_wrap() {
    let params = TotpParams::default().with_t0(100);
    let totp = Totp::new(&secret(), params);
    // Before T0: a typed error, for generation and verification.
    assert!(totp.generate(99).is_err());
    assert!(totp.generate(0).is_err());
    assert_eq!(totp.verify("123456", 0, None), Err(Refusal::BeforeT0));
    // At T0: step 0, and the window does not reach below it.
    assert_eq!(totp.step_at(100).unwrap(), 0);
    let code0 = totp.generate(100).unwrap();
    let ok = totp.verify(code0.as_str(), 100, None).unwrap();
    assert_eq!((ok.step(), ok.offset()), (0, 0));
    let code1 = totp.generate_at_step(1);
    assert_eq!(totp.verify(code1.as_str(), 100, None).unwrap().offset(), 1);

    // Time 0 with T0 = 0.
    let totp0 = Totp::new(
        &secret(),
        TotpParams::default().with_period(Period::new(1).unwrap()),
    );
    assert_eq!(totp0.step_at(0).unwrap(), 0);
    let c = totp0.generate(0).unwrap();
    assert_eq!(totp0.verify(c.as_str(), 0, None).unwrap().step(), 0);
    // A window reaching below step 0 with drift: clamped, no wrap.
    let parsed = SubmittedCode::parse(c.as_str(), Digits::SIX).unwrap();
    assert_eq!(
        totp0
            .verify_code(&parsed, 0, None, Drift::new(-20).unwrap())
            .unwrap()
            .step(),
        0
    );

    // u64::MAX with a 1 s period: the step is u64::MAX and the window's future
    // side would overflow; it is clamped.
    let top = totp0.generate(u64::MAX).unwrap();
    let ok = totp0.verify(top.as_str(), u64::MAX, None).unwrap();
    assert_eq!((ok.step(), ok.offset()), (u64::MAX, 0));
    let below = totp0.generate_at_step(u64::MAX - 1);
    assert_eq!(
        totp0
            .verify(below.as_str(), u64::MAX, None)
            .unwrap()
            .offset(),
        -1
    );
    // Drift past u64::MAX clamps the centre at u64::MAX: the window holds
    // u64::MAX - 1 ..= u64::MAX, and the replay rule still applies there.
    let top_parsed = SubmittedCode::parse(top.as_str(), Digits::SIX).unwrap();
    let drifted = totp0
        .verify_code(
            &top_parsed,
            u64::MAX,
            Some(u64::MAX - 1),
            Drift::new(20).unwrap(),
        )
        .unwrap();
    assert_eq!(drifted.step(), u64::MAX);
    assert_eq!(
        totp0.verify_code(
            &top_parsed,
            u64::MAX,
            Some(u64::MAX),
            Drift::new(20).unwrap()
        ),
        Err(Refusal::Replayed)
    );
}

#[test]
fn hotp_look_ahead_resynchronizes_and_never_goes_back() {
    let hotp = Hotp::new(
        &secret(),
        HotpParams::default().with_look_ahead(LookAhead::new(3).unwrap()),
    );
    let c7 = hotp.generate(7);
    assert_eq!(hotp.verify(c7.as_str(), 4).unwrap().counter(), 7);
    assert_eq!(hotp.verify(c7.as_str(), 3), Err(Refusal::NoMatch)); // 7 > 3 + 3
    assert_eq!(hotp.verify(c7.as_str(), 8), Err(Refusal::NoMatch)); // already used
    // The counter space ends without wrapping.
    let last = hotp.generate(u64::MAX);
    let m = hotp.verify(last.as_str(), u64::MAX - 1).unwrap();
    assert_eq!((m.counter(), m.next_counter()), (u64::MAX, None));
    assert!(LookAhead::new(101).is_err());
}

#[test]
fn typed_forms_are_accepted() {
    let totp = totp(Window::EXACT);
    let now = 1_111_111_109;
    let code = totp.generate(now).unwrap(); // 081804
    assert_eq!(code.as_str(), "081804");
    for typed in [
        "081804",
        " 081804 ",
        "\t081804\n",
        "081 804",
        "081-804",
        "08 18 04",
        "0-8-1-8-0-4",
    ] {
        assert!(totp.verify(typed, now, None).is_ok(), "{typed:?}");
    }
}

#[test]
fn malformed_input_is_refused_before_any_hmac() {
    let totp = totp(Window::ONE_STEP);
    let now = 1_111_111_109;
    let cases: &[(&str, MalformedCode)] = &[
        ("", MalformedCode::Empty),
        ("   ", MalformedCode::Empty),
        (
            "08180",
            MalformedCode::WrongLength {
                expected: 6,
                found: 5,
            },
        ),
        (
            "0818044",
            MalformedCode::WrongLength {
                expected: 6,
                found: 7,
            },
        ),
        ("08180a", MalformedCode::InvalidCharacter),
        ("abcdef", MalformedCode::InvalidCharacter),
        ("０８１８０４", MalformedCode::InvalidCharacter), // full-width digits
        ("٠٨١٨٠٤", MalformedCode::InvalidCharacter),       // Arabic-Indic digits
        ("081  804", MalformedCode::InvalidCharacter),     // doubled separator
        ("-081804", MalformedCode::InvalidCharacter),
        ("081804-", MalformedCode::InvalidCharacter),
        ("081_804", MalformedCode::InvalidCharacter),
        ("+81804", MalformedCode::InvalidCharacter),
        ("081804\0", MalformedCode::InvalidCharacter),
        (
            "999999999999999999999",
            MalformedCode::WrongLength {
                expected: 6,
                found: 21,
            },
        ),
        ("1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7", MalformedCode::TooLong),
    ];
    for (text, expected) in cases {
        assert_eq!(
            totp.verify(text, now, None),
            Err(Refusal::Malformed(*expected)),
            "{text:?}"
        );
    }
    let huge = "1".repeat(1 << 20);
    assert_eq!(
        totp.verify(&huge, now, None),
        Err(Refusal::Malformed(MalformedCode::TooLong))
    );
    // A code parsed for another digit count is refused, not compared.
    let eight = SubmittedCode::parse("12345678", Digits::EIGHT).unwrap();
    assert!(matches!(
        totp.verify_code(&eight, now, None, Drift::NONE),
        Err(Refusal::Malformed(MalformedCode::WrongLength {
            expected: 6,
            found: 8
        }))
    ));
}

#[test]
fn constructors_take_the_getters_types_and_wider_integers_convert() {
    use totp_engine::{Drift, LookAhead, ParamError};
    // The constructor takes what the getter returns: a round trip.
    assert_eq!(Digits::new(Digits::EIGHT.get()), Ok(Digits::EIGHT));
    assert_eq!(Period::new(Period::MAX.secs()), Ok(Period::MAX));
    let w = Window::new(2, 3).unwrap();
    assert_eq!(Window::new(w.past(), w.future()), Ok(w));
    assert_eq!(
        LookAhead::new(LookAhead::default().get()),
        Ok(LookAhead::default())
    );
    let d = Drift::new(-3).unwrap();
    assert_eq!(Drift::new(d.steps()), Ok(d));
    // Config and database integers convert with the same checks, and the
    // error names the value given.
    assert_eq!(Digits::try_from(7u64), Ok(Digits::SEVEN));
    assert_eq!(
        Digits::try_from(256u32),
        Err(ParamError::Digits { given: 256 })
    );
    assert_eq!(
        Digits::try_from(-1i64),
        Err(ParamError::Digits { given: u32::MAX })
    );
    assert_eq!(Period::try_from(60u64), Ok(Period::new(60).unwrap()));
    assert_eq!(
        Period::try_from(u64::MAX),
        Err(ParamError::Period { given: u64::MAX })
    );
    assert_eq!(
        LookAhead::try_from(100usize),
        Ok(LookAhead::new(100).unwrap())
    );
    assert_eq!(
        LookAhead::try_from(1000u32),
        Err(ParamError::LookAhead { given: 1000 })
    );
    assert_eq!(Drift::try_from(-20i64), Ok(Drift::new(-20).unwrap()));
    assert_eq!(
        Drift::try_from(500i64),
        Err(ParamError::Drift { given: 500 })
    );
    assert_eq!(Drift::new(21), Err(ParamError::Drift { given: 21 }));
}

#[test]
fn parameters_are_validated_at_construction() {
    for d in [0, 1, 5, 9, 10, u32::MAX] {
        assert!(Digits::try_from(d).is_err(), "{d}");
    }
    for d in 6..=8 {
        assert_eq!(u32::from(Digits::try_from(d).unwrap().get()), d);
    }
    assert!(Period::new(0).is_err());
    assert!(Period::new(86_401).is_err());
    assert!(Period::try_from(u64::MAX).is_err());
    assert_eq!(Period::new(86_400).unwrap(), Period::MAX);
    assert!(Window::new(11, 0).is_err());
    assert!(Window::new(0, 11).is_err());
    assert_eq!(Window::default(), Window::ONE_STEP);
    // Messages name the problem.
    assert_eq!(
        Digits::new(5).unwrap_err().to_string(),
        "digits must be 6, 7 or 8, not 5"
    );
    assert_eq!(
        Period::new(0).unwrap_err().to_string(),
        "period must be 1 to 86400 seconds, not 0"
    );
}

#[test]
fn debug_output_never_contains_key_material() {
    let secret = secret();
    let totp = Totp::new(&secret, TotpParams::default());
    let hotp = Hotp::new(&secret, HotpParams::default());
    let code = totp.generate(59).unwrap();
    for text in [
        format!("{secret:?}"),
        format!("{totp:?}"),
        format!("{hotp:?}"),
        format!("{code:?}"),
        format!("{:?}", SubmittedCode::parse("287082", Digits::SIX).unwrap()),
    ] {
        assert!(!text.contains("1234567890"), "{text}");
        assert!(!text.contains("GEZDGNBV"), "{text}");
        assert!(!text.contains("287082"), "{text}");
    }
}

fn arb_params() -> impl Strategy<Value = TotpParams> {
    (1u32..=600, 6u8..=8, 0u8..=3, 0u8..=3, 0u64..1_000_000).prop_map(
        |(period, digits, past, future, t0)| {
            TotpParams::default()
                .with_period(Period::new(period).unwrap())
                .with_digits(Digits::new(digits).unwrap())
                .with_window(Window::new(past, future).unwrap())
                .with_t0(t0)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A code generated for step s is accepted exactly when s lies in the
    /// window around the verifier's step (barring a collision with another
    /// step's code, which is checked for) and refused outside it.
    #[test]
    fn generated_codes_are_accepted_exactly_inside_the_window(
        key in proptest::collection::vec(any::<u8>(), 16..=64),
        params in arb_params(),
        now_offset in 0u64..4_000_000_000,
        delta in -6i64..=6,
    ) {
        let totp = Totp::new(&Secret::from_bytes(&key).unwrap(), params);
        let now = params.t0() + now_offset;
        let current = totp.step_at(now).unwrap();
        let Some(step) = current.checked_add_signed(delta) else { return Ok(()); };
        let code = totp.generate_at_step(step);
        let window = params.window();
        let inside = delta >= -i64::from(window.past()) && delta <= i64::from(window.future());
        let first = current.saturating_sub(u64::from(window.past()));
        let last = current.saturating_add(u64::from(window.future()));
        let collides = (first..=last).any(|s| s != step && totp.generate_at_step(s) == code);
        match totp.verify(code.as_str(), now, None) {
            Ok(v) => {
                prop_assert!(inside || collides);
                if !collides {
                    prop_assert_eq!(v.step(), step);
                    prop_assert_eq!(v.offset(), delta);
                }
            }
            Err(r) => {
                prop_assert!(!inside);
                prop_assert_eq!(r, Refusal::NoMatch);
            }
        }
        // With that step recorded as accepted, the same code is never accepted again.
        if inside && !collides {
            prop_assert_eq!(totp.verify(code.as_str(), now, Some(step)), Err(Refusal::Replayed));
        }
    }

    /// Verification never panics, whatever the text, time and state.
    #[test]
    fn verify_never_panics(
        text in ".{0,40}",
        now in any::<u64>(),
        last in proptest::option::of(any::<u64>()),
        params in arb_params(),
    ) {
        let totp = Totp::new(&secret(), params);
        let _ = totp.verify(&text, now, last);
        let _ = totp.generate(now);
    }

    /// Submitted codes: the digits of any value round-trip, grouped or not.
    #[test]
    fn submitted_code_round_trip(value in 0u32..100_000_000, digits in 6u32..=8, sep in prop::sample::select(vec!["", " ", "-"])) {
        let digits = Digits::try_from(digits).unwrap();
        let n = usize::from(digits.get());
        let value = value % 10u32.pow(u32::from(digits.get()));
        let text = format!("{value:0n$}");
        let (a, b) = text.split_at(n / 2);
        let grouped = format!(" {a}{sep}{b}\n");
        prop_assert!(SubmittedCode::parse(&grouped, digits).is_ok());
        prop_assert_eq!(
            SubmittedCode::parse(&grouped, digits).unwrap(),
            SubmittedCode::parse(&text, digits).unwrap()
        );
    }
}

/// The 30 s period takes a division by a constant (a multiply and a
/// shift): the step agrees with plain division at the edges of the range
/// and around every multiple of 30 tried, and with other periods' general
/// division.
#[test]
fn steps_of_the_default_period_match_plain_division_everywhere() {
    let thirty = TotpParams::default();
    assert_eq!(thirty.period().secs(), 30);
    let mut times = vec![
        0,
        1,
        29,
        30,
        31,
        59,
        60,
        u64::MAX,
        u64::MAX - 1,
        u64::MAX - 29,
    ];
    for k in [
        1u64,
        2,
        3,
        1 << 20,
        1 << 32,
        (1 << 32) + 7,
        u64::MAX / 30 - 1,
        u64::MAX / 30,
    ] {
        let base = k * 30;
        times.extend([base - 1, base, base + 1]);
        times.extend(base.checked_add(29));
    }
    for t in times {
        assert_eq!(thirty.step_at(t).unwrap(), t / 30, "t = {t}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn the_default_period_divides_like_the_hardware(t in any::<u64>()) {
        prop_assert_eq!(TotpParams::default().step_at(t).unwrap(), t / 30);
    }
}
