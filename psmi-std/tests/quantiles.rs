//! `PsmiModel::quantiles` against `np.quantile` (linear method) of the rows of
//! the full n × m matrix, computed here from its definition on sorted rows,
//! in fixed and auto mode, on odd n and m, with fresh data each run.

mod common;

use common::{fresh_seed, mixture};
use psmi_std::{Features, NEstimators, Psmi, PsmiModel};
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
    let m = scores.n_estimators();
    let full = scores.full().unwrap();
    let quantiles = model.quantiles(&x, &labels, &LEVELS).unwrap();
    assert_eq!(quantiles.rows(), n);
    for i in 0..n {
        for (j, &q) in LEVELS.iter().enumerate() {
            let want = reference(&full[i * m..(i + 1) * m], q);
            let got = quantiles.row(i)[j];
            assert!(
                (got - want).abs() <= 1e-6,
                "seed {seed}: sample {i}, q = {q}: {got} vs {want}"
            );
        }
    }
    model
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
