//! Constant-time evidence, dudect-style (Reparaz, Balasch, Verbauwhede 2017):
//! Welch's t-test between the timing distributions of two input classes,
//! measured interleaved in random order on the same verifier.
//!
//! `cargo bench --bench ct` (add `-- --samples N` for more; default 2,000,000
//! per comparison). Each sample times a batch of 8 calls; the test is run on
//! the raw samples and on samples cropped at the 50th, 75th, 90th, 95th and
//! 99th percentile of the first class (dudect's cropping, against outliers
//! from interrupts); the largest |t| is reported. dudect's rule of thumb:
//! |t| < 4.5 shows no leak at this sample size, |t| > 10 is a leak.
//!
//! Not a unit test: timing on a shared machine is noisy, so this reports
//! numbers instead of failing a build.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::arithmetic_side_effects,
    missing_docs
)]

use std::hint::black_box;
use std::time::Instant;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use totp_engine::{
    Digits, Drift, RecoveryFormat, RecoveryHasher, Secret, SubmittedCode, Totp, TotpParams,
};

const BATCH: usize = 8;

/// Online Welch statistics for two classes.
#[derive(Default, Clone)]
struct Welch {
    n: [f64; 2],
    mean: [f64; 2],
    m2: [f64; 2],
}

impl Welch {
    fn push(&mut self, class: usize, x: f64) {
        self.n[class] += 1.0;
        let d = x - self.mean[class];
        self.mean[class] += d / self.n[class];
        self.m2[class] += d * (x - self.mean[class]);
    }
    fn t(&self) -> f64 {
        let var = |c: usize| self.m2[c] / (self.n[c] - 1.0);
        (self.mean[0] - self.mean[1]) / (var(0) / self.n[0] + var(1) / self.n[1]).sqrt()
    }
}

/// Measures `samples` samples, each of a class drawn at random, and returns
/// the largest |t| over the raw and cropped tests, with the class means.
fn test(samples: usize, rng: &mut ChaCha20Rng, mut run: impl FnMut(usize)) -> (f64, f64, f64) {
    let mut data: Vec<(usize, f64)> = Vec::with_capacity(samples);
    for _ in 0..samples / 100 {
        run(0);
        run(1); // warm up
    }
    for _ in 0..samples {
        let class = (rng.next_u32() & 1) as usize;
        let t = Instant::now();
        for _ in 0..BATCH {
            run(class);
        }
        data.push((class, t.elapsed().as_nanos() as f64 / BATCH as f64));
    }
    let mut first: Vec<f64> = data
        .iter()
        .filter(|(c, _)| *c == 0)
        .map(|(_, x)| *x)
        .collect();
    first.sort_by(f64::total_cmp);
    let mut crops = vec![f64::INFINITY];
    for p in [0.50, 0.75, 0.90, 0.95, 0.99] {
        crops.push(first[((first.len() - 1) as f64 * p) as usize]);
    }
    let mut worst = 0.0f64;
    let mut means = (0.0, 0.0);
    for (i, crop) in crops.iter().enumerate() {
        let mut w = Welch::default();
        for &(c, x) in &data {
            if x <= *crop {
                w.push(c, x);
            }
        }
        if i == 0 {
            means = (w.mean[0], w.mean[1]);
        }
        worst = worst.max(w.t().abs());
    }
    (worst, means.0, means.1)
}

fn main() {
    let samples = std::env::args()
        .skip_while(|a| a != "--samples")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000_000usize);
    let mut rng = ChaCha20Rng::seed_from_u64(0xdadec7);
    let secret = Secret::from_bytes(b"12345678901234567890").unwrap();
    let totp = Totp::new(&secret, TotpParams::default());
    let now = 1_111_111_109u64;
    let step = totp.step_at(now).unwrap();
    let code =
        |s: u64| SubmittedCode::parse(totp.generate_at_step(s).as_str(), Digits::SIX).unwrap();
    let window: Vec<_> = (step - 1..=step + 1)
        .map(|s| totp.generate_at_step(s).as_str().to_owned())
        .collect();
    let none_text = (0..1_000_000)
        .map(|v| format!("{v:06}"))
        .find(|c| !window.contains(c))
        .unwrap();
    let none = SubmittedCode::parse(&none_text, Digits::SIX).unwrap();
    let inputs = [
        ("step -1", code(step - 1)),
        ("step 0", code(step)),
        ("step +1", code(step + 1)),
        ("no step", none),
    ];

    println!(
        "dudect-style Welch t-test, {samples} samples per comparison, batches of {BATCH} calls"
    );
    println!();
    println!("| comparison | mean A (ns) | mean B (ns) | max \\|t\\| |");
    println!("| --- | --- | --- | --- |");
    let pairs = [(0, 3), (1, 3), (2, 3), (0, 2), (1, 0)];
    for (a, b) in pairs {
        let (ia, ib) = (&inputs[a].1, &inputs[b].1);
        let (t, ma, mb) = test(samples, &mut rng, |class| {
            let input = if class == 0 { ia } else { ib };
            black_box(
                totp.verify_code(black_box(input), black_box(now), None, Drift::NONE)
                    .is_ok(),
            );
        });
        println!(
            "| TOTP verify ±1: {} vs {} | {ma:.1} | {mb:.1} | {t:.2} |",
            inputs[a].0, inputs[b].0
        );
    }
    for (a, b) in pairs {
        let (ia, ib) = (&inputs[a].1, &inputs[b].1);
        let (t, ma, mb) = test(samples, &mut rng, |class| {
            let input = if class == 0 { ia } else { ib };
            black_box(
                totp_engine::__private::verdict(&totp, black_box(input), black_box(now))
                    .unwrap_or_default(),
            );
        });
        println!(
            "| verdict only (no `Result`): {} vs {} | {ma:.1} | {mb:.1} | {t:.2} |",
            inputs[a].0, inputs[b].0
        );
    }

    let format = RecoveryFormat::default();
    let hasher = RecoveryHasher::new();
    let codes: Vec<_> = (0..16).map(|_| format.generate(&mut rng)).collect();
    let stored: Vec<_> = codes
        .iter()
        .map(|c| hasher.hash(&format.normalize(c.as_str()).unwrap(), &mut rng))
        .collect();
    let first = format.normalize(codes[0].as_str()).unwrap();
    let last = format.normalize(codes[15].as_str()).unwrap();
    let stranger_code = format.generate(&mut rng);
    let stranger = format.normalize(stranger_code.as_str()).unwrap();
    let rec = [
        ("first of 16", &first),
        ("last of 16", &last),
        ("none of 16", &stranger),
    ];
    for (a, b) in [(0, 2), (1, 2), (0, 1)] {
        let (ia, ib) = (rec[a].1, rec[b].1);
        let (t, ma, mb) = test(samples / 10, &mut rng, |class| {
            let input = if class == 0 { ia } else { ib };
            black_box(hasher.find(black_box(input), black_box(&stored)));
        });
        println!(
            "| recovery check: {} vs {} | {ma:.1} | {mb:.1} | {t:.2} |",
            rec[a].0, rec[b].0
        );
    }
}
