//! Invariances of PSMI for fixed directions, end to end through the core
//! pipeline (directions → packing → projection → class statistics → scoring
//! table → scores → per-sample summaries), on every supported instruction
//! set and on sizes that are not multiples of any lane count.
//!
//! Relabelling the classes, translating every sample by one vector and
//! scaling every feature by one positive constant leave each class's
//! standardised distance (z − μ_c)/σ_c unchanged, and shift every class's
//! log density by the same amount, so PSMI does not change. What does change
//! is f32 rounding, which the tolerances below account for.

use proptest::prelude::*;
use psmi_core::statistics::{ClassMoments, Moments};
use psmi_core::{directions, projection, scoring, Isa, Kernels};

/// Every kernel set this CPU can run.
fn supported() -> Vec<Kernels> {
    Isa::ALL.into_iter().filter_map(Kernels::for_isa).collect()
}

/// Features (n × d, row-major) of k classes around random centres, with
/// every class holding at least two samples.
#[derive(Debug, Clone)]
struct Data {
    dim: usize,
    classes: usize,
    x: Vec<f32>,
    labels: Vec<u32>,
}

fn data() -> impl Strategy<Value = Data> {
    (37usize..60, 13usize..30, 2usize..5).prop_flat_map(|(n, dim, classes)| {
        (
            prop::collection::vec(-2.0f32..2.0, classes * dim),
            prop::collection::vec(-1.0f32..1.0, n * dim),
            prop::collection::vec(0..classes as u32, n),
        )
            .prop_map(move |(centres, noise, mut labels)| {
                for (i, label) in labels.iter_mut().take(2 * classes).enumerate() {
                    *label = (i % classes) as u32;
                }
                let x = noise
                    .iter()
                    .enumerate()
                    .map(|(index, &e)| {
                        let (i, t) = (index / dim, index % dim);
                        centres[labels[i] as usize * dim + t] + e
                    })
                    .collect();
                Data {
                    dim,
                    classes,
                    x,
                    labels,
                }
            })
    })
}

/// PSMI of every sample along `m` directions drawn from `seed`, and each
/// sample's summary over them.
fn psmi(kernels: Kernels, data: &Data, m: usize, seed: u64) -> (Vec<f32>, Vec<Moments>) {
    let (dim, k, n) = (data.dim, data.classes, data.labels.len());
    let mut theta = vec![0.0f32; m * dim];
    directions::fill_directions(seed, 0, dim, &mut theta).unwrap();
    let mut packed_buf = vec![0.0f32; projection::packed_len(kernels, m, dim)];
    let packed = projection::pack_directions(kernels, &theta, dim, &mut packed_buf).unwrap();
    let mut z = vec![0.0f32; n * m];
    let mut scratch = vec![0.0f32; projection::scratch_len(kernels, dim)];
    projection::project(&data.x, &packed, &mut z, &mut scratch).unwrap();

    let (mut counts, mut mean, mut m2) = (vec![0u64; k], vec![0.0; k * m], vec![0.0; k * m]);
    let mut moments = ClassMoments::new(k, m, &mut counts, &mut mean, &mut m2).unwrap();
    moments.accumulate(&z, &data.labels).unwrap();
    let (mut frequency, mut std) = (vec![0.0; k], vec![0.0; k * m]);
    moments.finish(&mut frequency, &mut std).unwrap();
    let class_mean: Vec<f64> = (0..k).flat_map(|c| moments.mean(c).to_vec()).collect();

    let mut table_buf = vec![0.0f32; scoring::table_len(k, m)];
    let table =
        scoring::ScoringTable::new(k, m, &frequency, &class_mean, &std, &mut table_buf).unwrap();
    scoring::score_in_place(kernels, &table, &data.labels, &mut z).unwrap();
    let mut summaries = vec![Moments::default(); n];
    scoring::summarize_rows(&z, m, &mut summaries).unwrap();
    (z, summaries)
}

/// Checks that two runs agree: every score within `tolerance(score)`, and
/// every per-sample mean within the largest such tolerance.
fn assert_same(
    kernels: Kernels,
    what: &str,
    (a, sa): &(Vec<f32>, Vec<Moments>),
    (b, sb): &(Vec<f32>, Vec<Moments>),
    tolerance: impl Fn(f32) -> f32,
) -> Result<(), TestCaseError> {
    let mut largest = 0.0f32;
    for (index, (&x, &y)) in a.iter().zip(b).enumerate() {
        let bound = tolerance(x);
        largest = largest.max(bound);
        prop_assert!(
            (x - y).abs() <= bound,
            "{what}, {:?}, score {index}: {x} vs {y}",
            kernels.isa()
        );
    }
    for (i, (x, y)) in sa.iter().zip(sb).enumerate() {
        prop_assert!(
            (x.mean - y.mean).abs() <= largest as f64,
            "{what}, {:?}, mean of sample {i}: {} vs {}",
            kernels.isa(),
            x.mean,
            y.mean
        );
    }
    Ok(())
}

/// Directions that are not multiples of 8, 16 or 32, and a few that are.
fn directions_count() -> impl Strategy<Value = usize> {
    prop_oneof![Just(65usize), Just(33), Just(64), 1usize..100]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// A permutation of class indices permutes the class statistics exactly
    /// (each class sees the same samples in the same order); only the order
    /// of the k terms in the log-sum-exp changes, which moves ln Σ by a few
    /// roundings of a sum of at most k terms in [0, 1]: ≤ 2k ε.
    #[test]
    fn relabelling_classes_leaves_psmi_unchanged(
        d in data(), m in directions_count(), seed in any::<u64>(), shift in 1usize..4,
    ) {
        let k = d.classes;
        let relabelled = Data {
            labels: d.labels.iter().map(|&l| ((l as usize + shift) % k) as u32).collect(),
            ..d.clone()
        };
        for kernels in supported() {
            let before = psmi(kernels, &d, m, seed);
            let after = psmi(kernels, &relabelled, m, seed);
            assert_same(kernels, "relabelled", &before, &after, |_| 2.0 * k as f32 * f32::EPSILON)?;
        }
    }

    /// Translating by v changes each projection by ⟨v, θ⟩, computed in f32:
    /// the projection rounds at the scale of |x| (≤ 5 here), so z moves by
    /// ~√d · ε · 5 ≈ 4e-6 relative to class spreads of order 1, and the
    /// statistics follow. A score moves by that times the standardised
    /// distances involved (|u| ≲ 10), plus the f32 rounding of scores of
    /// magnitude |psmi|: 1e-4 · (1 + |psmi|) bounds it.
    #[test]
    fn translating_samples_leaves_psmi_unchanged(
        d in data(), m in directions_count(), seed in any::<u64>(),
        v in prop::collection::vec(-2.0f32..2.0, 30),
    ) {
        let translated = Data {
            x: d.x.iter().enumerate().map(|(index, &x)| x + v[index % d.dim]).collect(),
            ..d.clone()
        };
        for kernels in supported() {
            let before = psmi(kernels, &d, m, seed);
            let after = psmi(kernels, &translated, m, seed);
            assert_same(kernels, "translated", &before, &after, |p| 1e-4 * (1.0 + p.abs()))?;
        }
    }

    /// Scaling by c > 0 scales projections, means and spreads by c (exactly
    /// for a power of two, else to an f32 rounding), so the standardised
    /// distances are unchanged, and ln σ_c moves by ln c for every class
    /// alike. The scores see the rounding of z·c and of the table's
    /// ln π − ln σ: same bound as a translation.
    #[test]
    fn scaling_features_leaves_psmi_unchanged(
        d in data(), m in directions_count(), seed in any::<u64>(),
        c in prop_oneof![Just(0.125f32), Just(8.0), 0.01f32..100.0],
    ) {
        let scaled = Data { x: d.x.iter().map(|&x| x * c).collect(), ..d.clone() };
        for kernels in supported() {
            let before = psmi(kernels, &d, m, seed);
            let after = psmi(kernels, &scaled, m, seed);
            assert_same(kernels, "scaled", &before, &after, |p| 1e-4 * (1.0 + p.abs()))?;
        }
    }
}
