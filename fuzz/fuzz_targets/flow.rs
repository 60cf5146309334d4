//! The MFA flow over the in-memory store, driven by random sequences of
//! associate / verify / recover / remove / challenge / clock moves. Asserts
//! that nothing panics, that no (authenticator, step) is ever accepted
//! twice, that no recovery code is ever accepted twice, and that a
//! locked-out authenticator accepts nothing.
#![no_main]

use std::collections::HashSet;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use totp_engine::{MemoryStore, Mfa, MfaConfig, MfaStore, ParsedKeyUri, Totp};

/// The in-memory store never waits, so its futures finish on the first polls.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let mfa = Mfa::new(MemoryStore::new(), MfaConfig::new("Fuzz").expect("issuer"));
    let policy = *mfa.config().throttle();
    let mut rng = ChaCha20Rng::seed_from_u64(u.arbitrary()?);
    let mut now: u64 = u.int_in_range(0..=4_000_000_000)?;
    let users = ["alice", "bob"];
    let mut apps: [Option<Totp>; 2] = [None, None];
    let mut recovery: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    let mut used_codes: HashSet<String> = HashSet::new();
    let mut accepted: HashSet<(String, u64)> = HashSet::new();
    for _ in 0..u.int_in_range(0..=64)? {
        let who = u.choose_index(2)?;
        let user = users[who];
        let before = block_on(mfa.store().load(user)).expect("infallible");
        let otp_locked = before.otp.as_ref().is_some_and(|o| policy.is_locked(o.attempts, now));
        let rec_locked = before.recovery.as_ref().is_some_and(|r| policy.is_locked(r.attempts, now));
        match u.int_in_range(0..=7)? {
            0 => {
                if let Ok(a) = block_on(mfa.associate(user, user, &mut rng, now)) {
                    let uri = ParsedKeyUri::parse(&a.barcode_uri).expect("own URI");
                    apps[who] = Some(Totp::new(uri.secret(), uri.totp_params()));
                    recovery[who].extend(a.recovery_codes.iter().map(|c| c.as_str().to_owned()));
                }
            }
            1 | 2 => {
                let delta: i8 = u.int_in_range(-2..=2)?;
                let code = match &apps[who] {
                    Some(app) if op_is_real(u)? => now
                        .checked_add_signed(i64::from(delta) * 30)
                        .and_then(|t| app.generate(t).ok())
                        .map(|c| c.as_str().to_owned())
                        .unwrap_or_default(),
                    _ => u.arbitrary::<String>()?,
                };
                if let Ok(ok) = block_on(mfa.verify_otp(user, &code, now)) {
                    assert!(!otp_locked, "a locked authenticator accepted a code");
                    assert!(accepted.insert((ok.authenticator_id.to_string(), ok.step)), "step accepted twice");
                }
            }
            3 => {
                let code = match recovery[who].last() {
                    Some(c) if op_is_real(u)? => c.clone(),
                    _ => u.arbitrary::<String>()?,
                };
                if let Ok(ok) = block_on(mfa.verify_recovery_code(user, &code, &mut rng, now)) {
                    assert!(!rec_locked, "a locked authenticator accepted a recovery code");
                    let canonical = code.trim().to_ascii_uppercase().replace([' ', '-'], "");
                    assert!(used_codes.insert(canonical), "recovery code accepted twice");
                    if let Some(new) = ok.new_code {
                        recovery[who].push(new.as_str().to_owned());
                    }
                }
            }
            4 => {
                if let Some(old) = used_codes.iter().next().cloned() {
                    assert!(block_on(mfa.verify_recovery_code(user, &old, &mut rng, now)).is_err());
                }
            }
            5 => {
                let list = block_on(mfa.list_authenticators(user)).expect("infallible");
                if let Some(a) = list.get(u.choose_index(list.len().max(1))?) {
                    let _ = block_on(mfa.remove_authenticator(user, a.id.as_str()));
                }
            }
            6 => {
                let types: Option<String> = u.arbitrary()?;
                let id: Option<String> = u.arbitrary()?;
                let _ = block_on(mfa.challenge(user, types.as_deref(), id.as_deref()));
            }
            _ => now = now.saturating_add(u.int_in_range(0..=900)?),
        }
    }
    Ok(())
}

fn op_is_real(u: &mut Unstructured<'_>) -> Result<bool> {
    Ok(u.int_in_range(0..=3)? != 0)
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
