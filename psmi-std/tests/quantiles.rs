//! `PsmiModel::quantiles` against `np.quantile` (linear method) of the rows of
//! the full n × m matrix, computed here from its definition on sorted rows,
//! in fixed and auto mode, on odd n and m, with fresh data each run.

mod common;

use common::{fresh_seed, mixture};
use psmi_std::{Features, NEstimators, Psmi, PsmiModel, PsmiScores, Quantiles};
use std::ops::ControlFlow;

/// Levels on both sides of the median, the median, and the extremes that
/// fall between order statistics.
const LEVELS: [f64; 5] = [0.01, 0.3, 0.5, 0.77, 0.99];

/// The textbook definition: sort, h = (m − 1)·q, a\[⌊h⌋\] + (h − ⌊h⌋)·(a\[⌊h⌋+1\] − a\[⌊h⌋\]).
fn reference(row: &[f32], q: f64) -> f64 {
    let mut sorted: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
    sorted.sort_by(f64::total_cmp);
    let h = (sorted.len() - 1) as f64 * q;
    let below = h.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    sorted[below] + (h - below as f64) * (sorted[above] - sorted[below])
}

/// Fits with the full matrix, then checks every sample's quantiles to 1e-6.
fn check(psmi: &Psmi, n: usize, d: usize, seed: u64) -> PsmiModel {
    let (x, labels) = mixture(seed, n, d, 3, 2.0);
    let x = Features::new(&x, n, d).unwrap();
    let (model, scores) = psmi
        .fit_transform_with(&x, &labels, true, |_| ControlFlow::Continue(()))
        .unwrap();
    let quantiles = model.quantiles(&x, &labels, &LEVELS).unwrap();
    assert_matches_the_full_matrix(&quantiles, &scores, &format!("seed {seed}"));
    model
}

/// Every sample's quantiles at [`LEVELS`] against the rows of `scores`'
/// full matrix, to 1e-6.
fn assert_matches_the_full_matrix(quantiles: &Quantiles, scores: &PsmiScores, what: &str) {
    let m = scores.n_estimators();
    let full = scores.full().unwrap();
    assert_eq!(quantiles.rows(), full.len() / m);
    for (i, row) in full.chunks(m).enumerate() {
        for (j, &q) in LEVELS.iter().enumerate() {
            let want = reference(row, q);
            let got = quantiles.row(i)[j];
            assert!(
                (got - want).abs() <= 1e-6,
                "{what}: sample {i}, q = {q}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn fixed_mode_matches_the_full_matrix() {
    let psmi = Psmi::builder()
        .n_estimators(NEstimators::Fixed(257))
        .seed(fresh_seed())
        .build()
        .unwrap();
    check(&psmi, 531, 7, fresh_seed());
}

#[test]
fn auto_mode_matches_the_full_matrix() {
    let psmi = Psmi::builder()
        .min_n_estimators(101)
        .max_n_estimators(707)
        .seed(fresh_seed())
        .build()
        .unwrap();
    let model = check(&psmi, 403, 5, fresh_seed());
    assert!(model.auto_report().is_some());
    assert_eq!(model.n_estimators() % 101, 0);
}

/// 8999 rows × 1001 directions are more than one chunk of 8 MiB of scores.
#[test]
fn rows_beyond_one_chunk_match_the_full_matrix() {
    let psmi = Psmi::builder()
        .n_estimators(NEstimators::Fixed(1001))
        .seed(fresh_seed())
        .build()
        .unwrap();
    check(&psmi, 8999, 3, fresh_seed());
}

#[test]
fn bad_levels_name_the_option_and_value() {
    let (x, labels) = mixture(3, 31, 2, 2, 3.0);
    let x = Features::new(&x, 31, 2).unwrap();
    let psmi = Psmi::builder()
        .n_estimators(NEstimators::Fixed(11))
        .build()
        .unwrap();
    let model = psmi.fit(&x, &labels).unwrap();
    for bad in [0.0, 1.0, 1.01, -0.5] {
        let err = model.quantiles(&x, &labels, &[0.5, bad]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("quantiles") && text.contains(&bad.to_string()),
            "{text}"
        );
    }
}

/// The quantiles of `fit_transform_with_quantiles` against the full matrix
/// of the same run, whether the single projection's scores were kept
/// (no memory limit) or not (no memory: a second pass), and its mean and
/// std the same bits as `fit_transform_with` gives.
fn check_fit_transform_with_quantiles(psmi: &Psmi, n: usize, d: usize, seed: u64) {
    let (x, labels) = mixture(seed, n, d, 3, 2.0);
    let x = Features::new(&x, n, d).unwrap();
    let go = |_: &_| ControlFlow::Continue(());
    let (_, with_full) = psmi.fit_transform_with(&x, &labels, true, go).unwrap();
    for memory in [None, Some(0)] {
        let (model, scores, quantiles) = psmi
            .fit_transform_with_quantiles(&x, &labels, false, &LEVELS, memory, go)
            .unwrap();
        assert!(scores.full().is_none());
        assert_eq!(
            scores,
            with_full.clone().without_full(),
            "memory {memory:?}"
        );
        let what = format!("seed {seed}, memory {memory:?}");
        assert_matches_the_full_matrix(&quantiles, &with_full, &what);
        let (again, again_quantiles) = model
            .transform_with_quantiles(&x, &labels, &LEVELS, false)
            .unwrap();
        assert_eq!(again, model.transform(&x, &labels).unwrap());
        assert_eq!(again_quantiles, quantiles);
    }
}

#[test]
fn fit_transform_with_quantiles_matches_the_full_matrix_kept_or_not() {
    let psmi = Psmi::builder()
        .n_estimators(NEstimators::Fixed(389))
        .seed(fresh_seed())
        .build()
        .unwrap();
    check_fit_transform_with_quantiles(&psmi, 677, 9, fresh_seed());
}

#[test]
fn fit_transform_with_quantiles_in_auto_mode_matches_the_full_matrix() {
    let psmi = Psmi::builder()
        .min_n_estimators(97)
        .max_n_estimators(485)
        .seed(fresh_seed())
        .build()
        .unwrap();
    check_fit_transform_with_quantiles(&psmi, 419, 6, fresh_seed());
}
