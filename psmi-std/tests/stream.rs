//! The core's stream scorer against the batch estimator and the f64
//! reference: fit with psmi-std, then score every sample alone through
//! `psmi_core::stream`, drawing the directions again from the model's seed.

mod common;

use common::{mixture, TestRng};
use psmi_core::scoring::{table_len, ScoringTable};
use psmi_core::stream::{rows_len, scratch_len, StreamScorer};
use psmi_core::{projection, reference};
use psmi_std::{Directions, Features, Kernels, NEstimators, Psmi, PsmiModel, PsmiScores, Scheme};

/// f32's unit roundoff, 2⁻²⁴.
const U: f64 = f32::EPSILON as f64 / 2.0;

/// Fits a model of `m` directions, i.i.d. or in frames of `frame`.
fn fit(
    x: &[f32],
    labels: &[i64],
    dim: usize,
    m: usize,
    frame: Option<usize>,
    seed: u64,
) -> PsmiModel {
    let builder = Psmi::builder()
        .n_estimators(NEstimators::Fixed(m))
        .seed(seed);
    let builder = match frame {
        Some(f) => builder.directions(Directions::Orthogonal).frame_size(f),
        None => builder.directions(Directions::Iid),
    };
    let x = Features::new(x, labels.len(), dim).unwrap();
    builder.build().unwrap().fit(&x, labels).unwrap()
}

/// For one sample of class `class` and each direction j: the f64 PSMI of its
/// exact projection (by `reference::psmi`), and a bound on how far an f32
/// evaluation (projection, then the scoring kernel on the f32 table) can be
/// from it.
///
/// - Projection: any f32 dot product of length d, in any order, with or
///   without fused multiply-adds, is within e = γ_d Σ|x_t θ_t| of the exact
///   one, γ_d = dU/(1 − dU) (Higham, *Accuracy and Stability*, 3.1).
/// - On [z − e, z + e], |∂psmi/∂z| = |−(z − μ_y)/σ_y² + Σ_c p_c (z − μ_c)/σ_c²|
///   is at most L = (|z − μ_y| + e)/σ_y² + max_c (|z − μ_c| + e)/σ_c², the p_c
///   being posterior weights; the projection moves psmi by at most e·L.
/// - Scoring: the table rounds μ, s = 1/(σ√2) and o = ln π − ln σ to f32, and
///   w = (z − μ)s and t = o − w² are formed in f32, so each log term t_c is
///   off by at most U(2|w_c| s_c |μ_c| + 6w_c² + |t_c| + |o_c|) to first
///   order; the log-sum-exp adds the rounding of its subtractions,
///   U(|t_y| + |ln π_y| + max|t| ), and that of k exponentials and a logarithm
///   accurate to 2 ulp, 4kU. Four times their sum covers second-order terms.
fn reference_and_bound(
    sample: &[f32],
    theta: &[f32],
    class: usize,
    frequency: &[f64],
    mean: &[f64],
    std: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let (dim, k) = (sample.len(), frequency.len());
    let m = theta.len() / dim;
    let x64: Vec<f64> = sample.iter().map(|&v| v as f64).collect();
    let theta64: Vec<f64> = theta.iter().map(|&v| v as f64).collect();
    let mut z = vec![0.0f64; m];
    reference::project(&x64, &theta64, dim, &mut z).unwrap();
    let mut exact = vec![0.0f64; m];
    reference::psmi(&z, &[class as u32], frequency, mean, std, &mut exact).unwrap();
    let gamma = dim as f64 * U / (1.0 - dim as f64 * U);
    let bound = (0..m)
        .map(|j| {
            let row = &theta[j * dim..(j + 1) * dim];
            let abs: f64 = sample
                .iter()
                .zip(row)
                .map(|(&a, &b)| (a as f64 * b as f64).abs())
                .sum();
            let e = gamma * abs;
            let (mut slope, mut term_error, mut t_max) = (0.0f64, 0.0f64, f64::NEG_INFINITY);
            let mut t_own = 0.0;
            for c in 0..k {
                let (mu, sigma) = (mean[c * m + j], std[c * m + j]);
                let s = std::f64::consts::FRAC_1_SQRT_2 / sigma;
                let o = frequency[c].ln() - sigma.ln();
                let w = (z[j] - mu) * s;
                let t = o - w * w;
                slope = slope.max(((z[j] - mu).abs() + e) / (sigma * sigma));
                term_error =
                    term_error.max(2.0 * w.abs() * s * mu.abs() + 6.0 * w * w + t.abs() + o.abs());
                t_max = t_max.max(t);
                if c == class {
                    t_own = t;
                }
            }
            let (mu_y, sigma_y) = (mean[class * m + j], std[class * m + j]);
            slope += ((z[j] - mu_y).abs() + e) / (sigma_y * sigma_y);
            let scoring = term_error
                + t_own.abs()
                + frequency[class].ln().abs()
                + t_max.abs()
                + 4.0 * k as f64;
            e * slope + 4.0 * U * scoring
        })
        .collect();
    (exact, bound)
}

/// Mean and population std of `values`, in f64.
fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Streams every sample of `x` through the core scorer of `model` (drawing
/// its directions again, reading them as rows, and packed for the projection
/// kernel), with `kernels`, and checks each against the batch
/// transform and the f64 reference. Two evaluations each within b_j of the
/// exact score along direction j differ by at most 2b_j there, so their means
/// by at most the mean of 2b_j, and their population stds by at most max 2b_j
/// (the std is 1-Lipschitz in the root mean square of the differences).
fn check_stream(model: &PsmiModel, x: &[f32], labels: &[i64], kernels: Kernels) {
    let (dim, m, k) = (model.dim(), model.n_estimators(), model.labels().len());
    let scheme = model.scheme();
    let batch = model
        .transform(&Features::new(x, labels.len(), dim).unwrap(), labels)
        .unwrap();
    let mut table_buf = vec![0.0f32; table_len(k, m)];
    let table = ScoringTable::new(
        k,
        m,
        model.frequency(),
        model.mean(),
        model.std(),
        &mut table_buf,
    )
    .unwrap();
    let (mut rows, mut scratch) = (
        vec![0.0f32; rows_len(scheme, dim)],
        vec![0.0f64; scratch_len(scheme, dim)],
    );
    let seed = model.seed().unwrap();
    let drawn =
        StreamScorer::new(kernels, table, seed, scheme, dim, &mut rows, &mut scratch).unwrap();
    check_scorer(drawn, "drawn", model, x, labels, kernels, &batch);
    let cached = StreamScorer::cached(kernels, table, dim, model.directions()).unwrap();
    check_scorer(cached, "cached", model, x, labels, kernels, &batch);
    let mut packed_buf = vec![0.0f32; projection::packed_len(kernels, m, dim)];
    let packed =
        projection::pack_directions(kernels, model.directions(), dim, &mut packed_buf).unwrap();
    let mut projections = vec![0.0f32; m];
    let mut projection_scratch = vec![0.0f32; projection::scratch_len(kernels, dim)];
    let packed = StreamScorer::packed(
        kernels,
        table,
        packed,
        &mut projections,
        &mut projection_scratch,
    )
    .unwrap();
    check_scorer(packed, "packed", model, x, labels, kernels, &batch);
}

/// Checks every sample's score by `scorer` against the reference and `batch`.
fn check_scorer(
    mut scorer: StreamScorer<'_>,
    source: &str,
    model: &PsmiModel,
    x: &[f32],
    labels: &[i64],
    kernels: Kernels,
    batch: &PsmiScores,
) {
    let (dim, m, scheme) = (model.dim(), model.n_estimators(), model.scheme());
    for (i, (sample, label)) in x.chunks_exact(dim).zip(labels).enumerate() {
        let class = model.labels().binary_search(label).unwrap();
        let got = scorer.score(sample, class as u32).unwrap();
        assert_eq!(got.count, m as u64);
        let (exact, bound) = reference_and_bound(
            sample,
            model.directions(),
            class,
            model.frequency(),
            model.mean(),
            model.std(),
        );
        let (exact_mean, exact_std) = mean_std(&exact);
        let mean_tol = bound.iter().sum::<f64>() / m as f64;
        let std_tol = bound.iter().cloned().fold(0.0, f64::max);
        let what = format!(
            "{scheme:?} {source} {} d {dim} m {m}, sample {i}",
            kernels.isa().name()
        );
        // Against the reference: one evaluation's distance, plus the f64
        // summaries' own rounding.
        assert!(
            (got.mean - exact_mean).abs() <= mean_tol + 1e-12,
            "{what}: mean {} vs reference {exact_mean} (tol {mean_tol:e})",
            got.mean
        );
        assert!(
            (got.std() - exact_std).abs() <= std_tol + 1e-12,
            "{what}: std {} vs reference {exact_std} (tol {std_tol:e})",
            got.std()
        );
        // Against the batch path: two evaluations' distance.
        let (batch_mean, batch_std) = (batch.mean()[i], batch.std()[i]);
        assert!(
            (got.mean - batch_mean).abs() <= 2.0 * mean_tol + 1e-12,
            "{what}: mean {} vs batch {batch_mean} (tol {:e})",
            got.mean,
            2.0 * mean_tol
        );
        assert!(
            (got.std() - batch_std).abs() <= 2.0 * std_tol + 1e-12,
            "{what}: std {} vs batch {batch_std} (tol {:e})",
            got.std(),
            2.0 * std_tol
        );
    }
}

/// Random mixtures in odd dimensions, m not a multiple of any vector width
/// (8, 16, 32) or of the frame size, for both schemes and every kernel set.
#[test]
fn stream_matches_batch_and_reference() {
    let mut rng = TestRng::new(0x5747_7265_616d);
    for (dim, m, k, frame) in [
        (37usize, 45usize, 3usize, 7usize),
        (5, 71, 2, 3),
        (129, 33, 4, 129),
    ] {
        let seed = rng.next_u64();
        let (x, labels) = mixture(seed, 40 * k, dim, k, 1.5);
        for frame in [None, Some(frame)] {
            let model = fit(&x, &labels, dim, m, frame, seed ^ 1);
            assert_eq!(
                model.scheme(),
                frame.map_or(Scheme::Iid, |frame| Scheme::Orthogonal { frame })
            );
            for isa in psmi_std::Isa::ALL {
                if let Some(kernels) = Kernels::for_isa(isa) {
                    check_stream(&model, &x, &labels, kernels);
                }
            }
        }
    }
}

/// The tolerance is tight enough to catch a scorer one direction off: the
/// same samples scored against direction j + 1's parameters miss it.
#[test]
fn tolerance_detects_a_shifted_direction() {
    let (dim, m, k) = (11usize, 19usize, 2usize);
    let (x, labels) = mixture(3, 40, dim, k, 1.5);
    let model = fit(&x, &labels, dim, m, None, 9);
    // Parameters rotated by one direction.
    let rotate = |values: &[f64]| -> Vec<f64> {
        values
            .chunks_exact(m)
            .flat_map(|row| row[1..].iter().chain(&row[..1]).copied())
            .collect()
    };
    let (mean, std) = (rotate(model.mean()), rotate(model.std()));
    let mut table_buf = vec![0.0f32; table_len(k, m)];
    let table = ScoringTable::new(k, m, model.frequency(), &mean, &std, &mut table_buf).unwrap();
    let mut rows = vec![0.0f32; rows_len(Scheme::Iid, dim)];
    let mut scorer = StreamScorer::new(
        Kernels::detect(),
        table,
        9,
        Scheme::Iid,
        dim,
        &mut rows,
        &mut [],
    )
    .unwrap();
    let mut missed = 0;
    for (sample, label) in x.chunks_exact(dim).zip(&labels) {
        let class = model.labels().binary_search(label).unwrap();
        let got = scorer.score(sample, class as u32).unwrap();
        let (exact, bound) = reference_and_bound(
            sample,
            model.directions(),
            class,
            model.frequency(),
            model.mean(),
            model.std(),
        );
        let tol = bound.iter().sum::<f64>() / m as f64;
        missed += usize::from((got.mean - mean_std(&exact).0).abs() > tol);
    }
    assert!(
        missed > labels.len() / 2,
        "only {missed} of {} samples told apart",
        labels.len()
    );
}
