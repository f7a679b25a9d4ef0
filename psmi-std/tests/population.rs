//! Against a truth free of estimation error: with x | y ~ N(μ_y, I) every
//! projection θᵀx is exactly Gaussian, N(θᵀμ_y, 1), so a sample's PSMI along
//! θ follows from θᵀx, θᵀμ_c and the class frequencies alone. Its average
//! over directions (here 2^16 uniform directions of the test's own
//! generator, whose Monte Carlo error is accounted for) is the estimator's
//! large-n target. Both schemes must converge to it, and their error bars
//! must cover it at the nominal 95 %.

mod common;

use common::{fresh_seed, TestRng};
use psmi_std::{Directions, Features, NEstimators, Psmi};

const D: usize = 6;
const CLASSES: usize = 3;
/// Samples per class: the fit's own error along a direction, ~1/√(n_c), and
/// on a sample's mean over directions, ~1/√(n_c·d) = 0.0037, small against
/// the standard errors at m = 150 (≥ 0.016 here). Sized so that the test
/// takes seconds.
const PER_CLASS: usize = 12_500;
const M: usize = 150;
const SEEDS: u64 = 6;
/// Samples whose truth is computed, and the truth's directions.
const WATCHED: usize = 400;
const TRUTH_DIRECTIONS: usize = 1 << 16;

/// ln Σ_c exp(v_c).
fn log_sum_exp(values: &[f64]) -> f64 {
    let top = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    top + values.iter().map(|v| (v - top).exp()).sum::<f64>().ln()
}

/// Population PSMI of `x` (class `label`) averaged over `TRUTH_DIRECTIONS`
/// uniform directions, and its Monte Carlo standard error. Equal class
/// frequencies and unit variances: the constants cancel but ln k.
fn truth(x: &[f64], label: usize, means: &[f64], directions: &[f64]) -> (f64, f64) {
    let (mut sum, mut squares) = (0.0, 0.0);
    for theta in directions.chunks_exact(D) {
        let z: f64 = theta.iter().zip(x).map(|(t, v)| t * v).sum();
        let mut log_density = [0.0; CLASSES];
        for (c, value) in log_density.iter_mut().enumerate() {
            let centre: f64 = theta
                .iter()
                .zip(&means[c * D..(c + 1) * D])
                .map(|(t, v)| t * v)
                .sum();
            *value = -0.5 * (z - centre).powi(2);
        }
        let psmi = log_density[label] - log_sum_exp(&log_density) + (CLASSES as f64).ln();
        sum += psmi;
        squares += psmi * psmi;
    }
    let count = directions.len() as f64 / D as f64;
    let mean = sum / count;
    (
        mean,
        ((squares / count - mean * mean).max(0.0) / count).sqrt(),
    )
}

#[test]
fn both_schemes_converge_to_the_population_truth_and_their_error_bars_cover_it() {
    let seed = fresh_seed();
    eprintln!("data seed {seed}");
    let mut rng = TestRng::new(seed);
    let means: Vec<f64> = (0..CLASSES * D).map(|_| 1.2 * rng.normal()).collect();
    let n = CLASSES * PER_CLASS;
    let mut x = Vec::with_capacity(n * D);
    let labels: Vec<i64> = (0..n).map(|i| (i % CLASSES) as i64).collect();
    for &label in &labels {
        let centre = &means[label as usize * D..(label as usize + 1) * D];
        x.extend(centre.iter().map(|mu| (mu + rng.normal()) as f32));
    }
    let features = Features::new(&x, n, D).unwrap();

    let mut directions = Vec::with_capacity(TRUTH_DIRECTIONS * D);
    for _ in 0..TRUTH_DIRECTIONS {
        let theta: Vec<f64> = (0..D).map(|_| rng.normal()).collect();
        let norm = theta.iter().map(|v| v * v).sum::<f64>().sqrt();
        directions.extend(theta.iter().map(|v| v / norm));
    }
    let watched: Vec<usize> = (0..WATCHED)
        .map(|w| w * (n / WATCHED) + w % CLASSES)
        .collect();
    let truths: Vec<(f64, f64)> = watched
        .iter()
        .map(|&i| {
            let row: Vec<f64> = x[i * D..(i + 1) * D].iter().map(|&v| v as f64).collect();
            truth(&row, labels[i] as usize, &means, &directions)
        })
        .collect();

    for scheme in [Directions::Iid, Directions::Orthogonal] {
        // Per seed: the fraction of watched samples covered, and their mean error.
        let (mut coverage, mut bias) = (Vec::new(), Vec::new());
        let mut mean_stderr = 0.0;
        for run in 0..SEEDS {
            let psmi = Psmi::builder()
                .n_estimators(NEstimators::Fixed(M))
                .directions(scheme)
                .seed(seed ^ (run + 1))
                .build()
                .unwrap();
            let (_, scores) = psmi.fit_transform(&features, &labels).unwrap();
            let stderr = scores.stderr();
            let (mut hits, mut error) = (0, 0.0);
            for (&i, &(truth, truth_stderr)) in watched.iter().zip(&truths) {
                let deviation = scores.mean()[i] - truth;
                // The truth's own Monte Carlo error adds to the estimate's.
                if deviation.abs() <= 1.96 * stderr[i].hypot(truth_stderr) {
                    hits += 1;
                }
                error += deviation;
                mean_stderr += stderr[i] / (WATCHED as u64 * SEEDS) as f64;
            }
            coverage.push(hits as f64 / WATCHED as f64);
            bias.push(error / WATCHED as f64);
        }
        // Seeds are independent (the samples of one seed share directions):
        // the spread over seeds gives the standard errors of the two averages,
        // the coverage's never below the binomial one of independent samples.
        let spread = |values: &[f64]| {
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let var =
                values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64;
            (mean, (var / values.len() as f64).sqrt())
        };
        let (covered, covered_se) = spread(&coverage);
        let covered_se = covered_se.max((0.95 * 0.05 / (WATCHED as f64 * SEEDS as f64)).sqrt());
        let (bias, bias_se) = spread(&bias);
        // The fit's own error on a sample's mean, 1/√(n_c·d), is the scale of
        // what neither the error bars nor the seeds account for. Against
        // stderr² ≥ 2.5e-4 it inflates the variance by < 6 %, which lowers
        // the coverage of a 95 % interval by < 0.01.
        let fit_error = 1.0 / ((PER_CLASS * D) as f64).sqrt();
        eprintln!(
            "{scheme}: coverage {covered:.3} ± {covered_se:.3}, bias {bias:.5} ± {bias_se:.5}, \
             mean stderr {mean_stderr:.4}, fit error scale {fit_error:.4}"
        );
        assert!(
            (covered - 0.95).abs() <= 3.0 * covered_se + 0.01,
            "{scheme}: coverage {covered} ± {covered_se}, seed {seed}"
        );
        assert!(
            bias.abs() <= 4.0 * bias_se + fit_error,
            "{scheme}: bias {bias} ± {bias_se}, seed {seed}"
        );
        assert!(
            mean_stderr > 0.0 && mean_stderr < 0.1,
            "{scheme}: stderr {mean_stderr}"
        );
    }
}
