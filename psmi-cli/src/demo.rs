//! `psmi demo`: hidden-state-like features with a few flipped labels, and what
//! PSMI finds in them.

use crate::failure::{self, Failure};
use crate::report;
use psmi_std::{Features, Kernels, Psmi};
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::time::Instant;

const SAMPLES: usize = 3000;
const DIM: usize = 256;
const CLASSES: usize = 10;
/// Rank of the noise shared by all classes, as in the hidden states of a network,
/// whose variance concentrates in a few directions.
const SHARED_RANK: usize = 16;
const FLIPPED_PERCENT: usize = 2;

/// Runs the demo and prints what PSMI finds.
pub fn run(seed: u64, threads: Option<usize>, top: usize) -> Result<(), Failure> {
    let (features, labels, flipped) = hidden_states(seed);
    let x = Features::new(&features, SAMPLES, DIM).map_err(failure::options)?;
    let mut builder = Psmi::builder().seed(seed);
    if let Some(t) = threads {
        builder = builder.threads(t);
    }
    let psmi = builder.build().map_err(failure::options)?;
    let flipped_count = flipped.iter().filter(|f| **f).count();
    say!(
        "psmi demo: {SAMPLES} samples of {DIM}-dimensional features in {CLASSES} classes, \
         shaped like a network's hidden states; {flipped_count} labels ({FLIPPED_PERCENT}%) were flipped."
    );
    let started = Instant::now();
    let (model, scores) = psmi.fit_transform(&x, &labels).map_err(failure::options)?;
    let elapsed = started.elapsed().as_secs_f64();
    say!(
        "Fitted in auto mode: {} directions{}, SMI {:.3} nats, {:.2} s on {} threads ({} kernels).\n",
        model.n_estimators(),
        report::auto_outcome(&model),
        scores.smi(),
        elapsed,
        threads.unwrap_or_else(rayon_threads),
        Kernels::detect().isa().name()
    );
    report::print_lowest(&labels, &scores, top, Some(&flipped));
    let caught = scores
        .lowest(flipped_count)
        .iter()
        .filter(|&&i| flipped[i])
        .count();
    say!(
        "\nOf the {flipped_count} samples with the lowest PSMI, {caught} carry a flipped label \
         (precision {:.2}; picking at random would give {:.2}).",
        caught as f64 / flipped_count as f64,
        flipped_count as f64 / SAMPLES as f64
    );
    say!("On your data: psmi fit-transform --features X.npy --labels y.npy --out results --top 20 --plot");
    Ok(())
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Class centres, shared low-rank noise and isotropic noise; then a few labels
/// moved to another class. Returns features, labels and which were flipped.
fn hidden_states(seed: u64) -> (Vec<f32>, Vec<i64>, Vec<bool>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut normal = move || {
        // Box–Muller on two uniforms in (0, 1].
        let u = 1.0 - (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let v = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let centres: Vec<f64> = (0..CLASSES * DIM).map(|_| normal() * 1.0).collect();
    let shared: Vec<f64> = (0..SHARED_RANK * DIM)
        .map(|_| normal() / (DIM as f64).sqrt() * 4.0)
        .collect();
    let mut features = Vec::with_capacity(SAMPLES * DIM);
    let mut labels = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let class = i % CLASSES;
        let weights: Vec<f64> = (0..SHARED_RANK).map(|_| normal()).collect();
        for t in 0..DIM {
            let low_rank: f64 = weights
                .iter()
                .enumerate()
                .map(|(r, w)| w * shared[r * DIM + t])
                .sum();
            features.push((centres[class * DIM + t] + low_rank + normal()) as f32);
        }
        labels.push(class as i64);
    }
    let mut flipped = vec![false; SAMPLES];
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0xf11b);
    let target = SAMPLES * FLIPPED_PERCENT / 100;
    let mut count = 0;
    while count < target {
        let i = (rng.next_u64() % SAMPLES as u64) as usize;
        if !flipped[i] {
            let shift = 1 + rng.next_u64() % (CLASSES as u64 - 1);
            labels[i] = (labels[i] + shift as i64) % CLASSES as i64;
            flipped[i] = true;
            count += 1;
        }
    }
    (features, labels, flipped)
}
