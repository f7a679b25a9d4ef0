//! `psmi_std::evaluation` against direct computations: the AUROC as a count
//! over every (marked, unmarked) pair, the FPR at a TPR by trying every
//! threshold, Wilson's interval as the roots of its quadratic; fresh random
//! scores with many ties, odd sizes, and cases worked by hand.

mod common;

use common::ranking::pairs_auroc;
use common::{fresh_seed, TestRng};
use psmi_std::evaluation::{evaluate, target_from_values, EvaluationError, Proportion};

/// The FPR of the lowest threshold t (samples with mean ≤ t flagged) whose
/// TPR reaches `tpr`.
fn thresholds_fpr(mean: &[f64], target: &[bool], tpr: f64) -> f64 {
    let mut thresholds = mean.to_vec();
    thresholds.sort_by(f64::total_cmp);
    let positives = target.iter().filter(|&&t| t).count() as f64;
    let negatives = target.len() as f64 - positives;
    for t in thresholds {
        let flagged = |marked: bool| {
            mean.iter()
                .zip(target)
                .filter(|&(&m, &y)| m <= t && y == marked)
                .count() as f64
        };
        if flagged(true) >= tpr * positives {
            return flagged(false) / negatives;
        }
    }
    unreachable!("the highest threshold flags every sample")
}

#[test]
fn random_scores_with_ties_match_the_direct_counts() {
    let seed = fresh_seed();
    let mut rng = TestRng::new(seed);
    for case in 0..60 {
        let n = 2 + rng.below(157);
        // Few distinct values, so that ties are common, also across classes.
        let levels = 1 + rng.below(12);
        let mean: Vec<f64> = (0..n)
            .map(|_| rng.below(levels) as f64 * 0.25 - 1.0)
            .collect();
        let mut target: Vec<bool> = (0..n).map(|_| rng.uniform() < 0.3).collect();
        target[0] = true;
        target[n - 1] = false;
        for tpr in [0.75, 0.01, 0.5, 1.0, rng.uniform().max(1e-3)] {
            let e = evaluate(&mean, &target, tpr).unwrap();
            let what = format!("seed {seed}, case {case}, n {n}, tpr {tpr}");
            assert_eq!(e.auroc.value, pairs_auroc(&mean, &target), "{what}");
            assert_eq!(
                e.fpr_at_tpr.value,
                thresholds_fpr(&mean, &target, tpr),
                "{what}"
            );
            for p in [e.auroc, e.fpr_at_tpr] {
                assert!(0.0 <= p.low && p.low <= p.value && p.value <= p.high && p.high <= 1.0);
            }
            assert_eq!(e.positives + e.negatives, n);
        }
    }
}

#[test]
fn cases_worked_by_hand() {
    // Means 0.1 0.2 0.2 0.3 0.4, marked: 0.2 (one of the tied two) and 0.4.
    // Pairs (marked, unmarked): 0.2 vs 0.1 lost, vs 0.2 tied, vs 0.3 won;
    // 0.4 loses all three. AUROC = 1.5 / 6 = 0.25.
    let mean = [0.3, 0.2, 0.1, 0.2, 0.4];
    let target = [false, true, false, false, true];
    let e = evaluate(&mean, &target, 0.5).unwrap();
    assert_eq!(e.auroc.value, 0.25);
    // TPR 0.5 is reached at threshold 0.2, which flags 0.1 and both 0.2s:
    // two of the three unmarked samples.
    assert_eq!(e.fpr_at_tpr.value, 2.0 / 3.0);
    // TPR 1 needs every sample flagged.
    assert_eq!(evaluate(&mean, &target, 1.0).unwrap().fpr_at_tpr.value, 1.0);
    // All tied: chance.
    let e = evaluate(&[1.0; 4], &[true, false, true, false], 0.75).unwrap();
    assert_eq!((e.auroc.value, e.fpr_at_tpr.value), (0.5, 1.0));
    // Marked samples lowest: perfect.
    let e = evaluate(&[-3.0, -2.0, 0.0, 1.0], &[true, true, false, false], 0.75).unwrap();
    assert_eq!((e.auroc.value, e.fpr_at_tpr.value), (1.0, 0.0));
    assert_eq!(e.fpr_at_tpr.low, 0.0);
}

#[test]
fn wilson_intervals_are_the_roots_of_their_quadratic() {
    // The Wilson interval of p̂ over n trials: the p with (p̂ − p)² = z² p (1 − p) / n.
    let z: f64 = 1.959_963_984_540_054;
    let mut rng = TestRng::new(fresh_seed());
    for _ in 0..200 {
        let n = 1 + rng.below(500);
        let x = rng.below(n + 1);
        let value = x as f64 / n as f64;
        let p = Proportion::wilson(value, n as f64);
        for end in [p.low, p.high] {
            let gap = (value - end).powi(2) - z * z * end * (1.0 - end) / n as f64;
            assert!(gap.abs() < 1e-12, "n {n}, x {x}: {p:?}");
        }
        assert!(p.low <= value && value <= p.high);
    }
    // A textbook case: 8 of 10 gives [0.4902, 0.9433].
    let p = Proportion::wilson(0.8, 10.0);
    assert!(
        (p.low - 0.4902).abs() < 1e-4 && (p.high - 0.9433).abs() < 1e-4,
        "{p:?}"
    );
}

#[test]
fn bad_targets_are_named() {
    assert_eq!(
        target_from_values(&[0, 1, -1, 2]),
        Err(EvaluationError::NotBinary { row: 2, value: -1 })
    );
    let mean = [0.0, 1.0, 2.0];
    assert_eq!(
        evaluate(&mean, &[true, false], 0.75),
        Err(EvaluationError::Length {
            target: 2,
            samples: 3
        })
    );
    assert!(matches!(
        evaluate(&mean, &[false; 3], 0.75),
        Err(EvaluationError::OneClass { positives: 0, .. })
    ));
    for tpr in [0.0, -0.5, 1.5, f64::NAN] {
        assert!(matches!(
            evaluate(&mean, &[true, false, false], tpr),
            Err(EvaluationError::Rate(_))
        ));
    }
    assert_eq!(
        evaluate(&[0.0, f64::NAN], &[true, false], 0.75),
        Err(EvaluationError::NotANumber { row: 1 })
    );
}
