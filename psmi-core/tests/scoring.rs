//! The scoring kernels of every instruction set the CPU supports, against
//! the float64 reference, on shapes that are not multiples of the lanes.

use proptest::prelude::*;
use psmi_core::scoring::{score_in_place, summarize_rows, table_len, ScoringTable};
use psmi_core::statistics::Moments;
use psmi_core::{reference, Error, Isa, Kernels};

/// Every kernel set this CPU can run.
fn supported() -> Vec<Kernels> {
    Isa::ALL.into_iter().filter_map(Kernels::for_isa).collect()
}

/// Class parameters and samples of one scoring problem.
#[derive(Debug, Clone)]
struct Problem {
    m: usize,
    frequency: Vec<f64>,
    mean: Vec<f64>,
    std: Vec<f64>,
    labels: Vec<u32>,
    z: Vec<f32>,
}

impl Problem {
    fn classes(&self) -> usize {
        self.frequency.len()
    }

    /// The kernel's scores of `z`, checking that nothing past the end of
    /// `values` is written (a guard zone after the matrix).
    fn score(&self, kernels: Kernels) -> Vec<f32> {
        let (k, m, n) = (self.classes(), self.m, self.labels.len());
        let mut buffer = vec![0.0f32; table_len(k, m)];
        let table =
            ScoringTable::new(k, m, &self.frequency, &self.mean, &self.std, &mut buffer).unwrap();
        let mut values = self.z.clone();
        values.extend([f32::MAX; 40]);
        score_in_place(kernels, &table, &self.labels, &mut values[..n * m]).unwrap();
        assert!(
            values[n * m..].iter().all(|&v| v == f32::MAX),
            "wrote past the end"
        );
        values.truncate(n * m);
        values
    }

    fn reference(&self) -> Vec<f64> {
        let z: Vec<f64> = self.z.iter().map(|&v| v as f64).collect();
        let mut out = vec![0.0; z.len()];
        reference::psmi(
            &z,
            &self.labels,
            &self.frequency,
            &self.mean,
            &self.std,
            &mut out,
        )
        .unwrap();
        out
    }

    /// The error the f32 kernels may make at sample `i`, direction `j`.
    ///
    /// Every f32 rounding is relative, ε = 2^-24 (or a few ulp, for exp and
    /// ln), so the error of a log term t_c = ln π_c − ln σ_c − u_c²/2 is a small
    /// multiple of ε times its parts: u_c² (the square), |u_c| · |μ_c| / σ_c (μ_c
    /// rounded to f32 moves u_c by ε |μ_c| / σ_c) and |ln π_c − ln σ_c|. The
    /// result t_y − ln π_y − max_c t_c − ln Σ_c exp(t_c − max) inherits the
    /// errors of t_y and of the terms near the maximum (one more than 30 below
    /// it changes the sum by less than e^-30 ≪ ε), plus the k-term sum and the
    /// logarithm: a few ε each. So: 8 ε (k + max over those classes of the
    /// parts), the factor 8 covering the handful of roundings per term.
    fn tolerance(&self, i: usize, j: usize) -> f64 {
        let (k, m) = (self.classes(), self.m);
        let z = self.z[i * m + j] as f64;
        let parts = |c: usize| {
            let (mu, sigma) = (self.mean[c * m + j], self.std[c * m + j]);
            let u = (z - mu) / sigma;
            let offset = self.frequency[c].ln() - sigma.ln();
            (
                offset - 0.5 * u * u,
                u * u + u.abs() * (1.0 + mu.abs() / sigma) + offset.abs(),
            )
        };
        let max = (0..k).map(|c| parts(c).0).fold(f64::NEG_INFINITY, f64::max);
        let own = self.labels[i] as usize;
        let worst = (0..k)
            .filter(|&c| c == own || parts(c).0 > max - 30.0)
            .map(|c| parts(c).1)
            .fold(0.0, f64::max);
        8.0 * f32::EPSILON as f64 * (k as f64 + worst)
    }

    fn check(&self, kernels: Kernels) -> Result<(), TestCaseError> {
        let got = self.score(kernels);
        let want = self.reference();
        for (index, (&g, &w)) in got.iter().zip(&want).enumerate() {
            let (i, j) = (index / self.m, index % self.m);
            let tolerance = self.tolerance(i, j);
            prop_assert!(
                g.is_finite() && (g as f64 - w).abs() <= tolerance,
                "{:?} at ({i}, {j}): {g} vs {w}, tolerance {tolerance}",
                kernels.isa()
            );
        }
        Ok(())
    }
}

/// Directions that are and are not multiples of 8, 16 and 32 lanes.
const AWKWARD_M: [usize; 12] = [1, 7, 8, 15, 16, 17, 31, 33, 63, 65, 300, 513];

/// A valid problem: `k` classes of random positive frequency, means in
/// [−3, 3], standard deviations in [0.2, 3], and projections up to `spread`
/// class standard deviations from their own class's mean.
fn problem(
    k: impl Strategy<Value = usize>,
    m: impl Strategy<Value = usize>,
    spread: f64,
) -> impl Strategy<Value = Problem> {
    (k, m, 1usize..9).prop_flat_map(move |(k, m, n)| {
        (
            prop::collection::vec(0.01f64..1.0, k),
            prop::collection::vec(-3.0f64..3.0, k * m),
            prop::collection::vec(0.2f64..3.0, k * m),
            prop::collection::vec(0..k as u32, n),
            prop::collection::vec(-spread..spread, n * m),
        )
            .prop_map(move |(weights, mean, std, labels, offsets)| {
                let total: f64 = weights.iter().sum();
                let z = offsets
                    .iter()
                    .enumerate()
                    .map(|(index, &offset)| {
                        let cell = labels[index / m] as usize * m + index % m;
                        (mean[cell] + offset * std[cell]) as f32
                    })
                    .collect();
                Problem {
                    m,
                    frequency: weights.iter().map(|w| w / total).collect(),
                    mean,
                    std,
                    labels,
                    z,
                }
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn kernels_match_the_reference_on_awkward_sizes(
        p in problem(1usize..12, prop::sample::select(AWKWARD_M.to_vec()), 6.0),
    ) {
        for kernels in supported() {
            p.check(kernels)?;
        }
    }

    #[test]
    fn kernels_match_the_reference_on_random_sizes(p in problem(1usize..12, 1usize..200, 40.0)) {
        for kernels in supported() {
            p.check(kernels)?;
        }
    }

    /// More classes than the kernels buffer at once (16): the running sum is
    /// rescaled to each new group's maximum.
    #[test]
    fn kernels_match_the_reference_with_many_classes(p in problem(15usize..40, 1usize..40, 10.0)) {
        for kernels in supported() {
            p.check(kernels)?;
        }
    }

    /// The AVX2 and AVX-512 kernels perform the same operations lane by lane.
    #[test]
    fn avx2_and_avx512_agree_bit_for_bit(p in problem(1usize..40, 1usize..100, 10.0)) {
        if let (Some(avx2), Some(avx512)) =
            (Kernels::for_isa(Isa::Avx2Fma), Kernels::for_isa(Isa::Avx512))
        {
            let (a, b) = (p.score(avx2), p.score(avx512));
            prop_assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }
}

/// Points 10⁴ standard deviations from every class: the densities underflow
/// (numpy's psmi gives 0/0 = NaN), the log-space kernels stay finite and
/// agree with the reference to the tolerance above (relative ≈ 10⁻⁶ here).
#[test]
fn far_away_points_are_finite_and_match_the_reference() {
    let (k, m) = (3, 37);
    let mut mean = vec![0.0; k * m];
    let mut std = vec![0.0; k * m];
    for c in 0..k {
        for j in 0..m {
            mean[c * m + j] = c as f64 - 1.0 + 0.01 * j as f64;
            std[c * m + j] = 0.5 + 0.25 * c as f64;
        }
    }
    let mut labels = Vec::new();
    let mut z = Vec::new();
    for (sign, label) in [(1.0, 0u32), (-1.0, 1), (1.0, 2), (-1.0, 2)] {
        labels.push(label);
        // 10⁴ of the largest σ beyond every mean.
        z.extend((0..m).map(|j| (0.01 * j as f64 + sign * (1.0 + 1e4)) as f32));
    }
    let p = Problem {
        m,
        frequency: vec![0.2, 0.3, 0.5],
        mean,
        std,
        labels,
        z,
    };
    for kernels in supported() {
        p.check(kernels).unwrap();
    }
}

#[test]
fn labels_out_of_range_name_their_row() {
    let mut buffer = vec![0.0f32; table_len(2, 3)];
    let table = ScoringTable::new(2, 3, &[0.5, 0.5], &[0.0; 6], &[1.0; 6], &mut buffer).unwrap();
    let mut values = [0.0f32; 9];
    for kernels in supported() {
        assert_eq!(
            score_in_place(kernels, &table, &[0, 1, 2], &mut values),
            Err(Error::LabelOutOfRange {
                row: 2,
                label: 2,
                classes: 2
            })
        );
        assert!(matches!(
            score_in_place(kernels, &table, &[0, 1], &mut values),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}

#[test]
fn degenerate_tables_are_rejected() {
    let mut buffer = vec![0.0f32; table_len(2, 3)];
    let mut std = [1.0; 6];
    std[4] = 0.0;
    assert_eq!(
        ScoringTable::new(2, 3, &[0.5, 0.5], &[0.0; 6], &std, &mut buffer).unwrap_err(),
        Error::ZeroVariance {
            class: 1,
            direction: 1
        }
    );
    // A spread whose inverse does not fit in f32 is as good as zero.
    std[4] = 1e-300;
    assert_eq!(
        ScoringTable::new(2, 3, &[0.5, 0.5], &[0.0; 6], &std, &mut buffer).unwrap_err(),
        Error::ZeroVariance {
            class: 1,
            direction: 1
        }
    );
    assert_eq!(
        ScoringTable::new(2, 3, &[1.0, 0.0], &[0.0; 6], &[1.0; 6], &mut buffer).unwrap_err(),
        Error::TooFewSamples { class: 1, count: 0 }
    );
    let mut short = vec![0.0f32; table_len(2, 3) - 1];
    assert!(matches!(
        ScoringTable::new(2, 3, &[0.5, 0.5], &[0.0; 6], &[1.0; 6], &mut short),
        Err(Error::BufferTooSmall { .. })
    ));
}

proptest! {
    /// Per-row summaries equal a plain two-pass f64 computation.
    #[test]
    fn summaries_match_two_passes(
        (m, values) in (1usize..70).prop_flat_map(|m| (Just(m), prop::collection::vec(-50.0f32..50.0, m * 5))),
    ) {
        let mut out = vec![Moments::default(); 5];
        summarize_rows(&values, m, &mut out).unwrap();
        for (row, s) in values.chunks_exact(m).zip(&out) {
            let row: Vec<f64> = row.iter().map(|&v| v as f64).collect();
            let mean = row.iter().sum::<f64>() / m as f64;
            let m2: f64 = row.iter().map(|v| (v - mean) * (v - mean)).sum();
            prop_assert_eq!(s.count, m as u64);
            // Different summation orders: a few ε of the sum of magnitudes.
            prop_assert!((s.mean - mean).abs() <= 1e-14 * 50.0);
            prop_assert!((s.m2 - m2).abs() <= 1e-13 * (m2 + 1.0));
        }
    }
}
