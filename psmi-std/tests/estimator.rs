//! Properties of the estimator: determinism, streaming, saved models, auto
//! mode, and the errors users see.

mod common;

use common::{mixture, TestRng};
use psmi_std::error_bars::RunningErrors;
use psmi_std::{
    AutoRule, Check, Directions, Features, NEstimators, Psmi, PsmiError, PsmiFitter, PsmiModel,
    Step,
};
use std::ops::ControlFlow;

fn fixed(m: usize) -> Psmi {
    Psmi::builder()
        .n_estimators(NEstimators::Fixed(m))
        .build()
        .unwrap()
}

fn with_threads(m: usize, threads: usize) -> Psmi {
    Psmi::builder()
        .n_estimators(NEstimators::Fixed(m))
        .threads(threads)
        .seed(99)
        .build()
        .unwrap()
}

fn assert_close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + x.abs().max(y.abs())),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

#[test]
fn one_seed_gives_bit_identical_results_on_any_number_of_threads() {
    // Odd sizes: more than one row group, a partial last chunk, two blocks.
    let (x, labels) = mixture(1, 3001, 37, 3, 3.0);
    let x = Features::new(&x, 3001, 37).unwrap();
    let (model_1, scores_1) = with_threads(530, 1).fit_transform(&x, &labels).unwrap();
    for threads in [2, 3, 16] {
        let (model, scores) = with_threads(530, threads)
            .fit_transform(&x, &labels)
            .unwrap();
        assert!(model == model_1, "{threads} threads: model differs");
        assert!(scores == scores_1, "{threads} threads: scores differ");
    }
    let auto = |threads| {
        Psmi::builder()
            .min_n_estimators(100)
            .threads(threads)
            .build()
            .unwrap()
            .fit_transform(&x, &labels)
            .unwrap()
    };
    assert!(
        auto(1) == auto(2),
        "auto mode differs between 1 and 2 threads"
    );
}

#[test]
fn fit_then_transform_equals_fit_transform() {
    let (x, labels) = mixture(2, 700, 19, 4, 2.0);
    let x = Features::new(&x, 700, 19).unwrap();
    let psmi = fixed(600);
    let (model, scores) = psmi.fit_transform(&x, &labels).unwrap();
    let fitted = psmi.fit(&x, &labels).unwrap();
    assert_eq!(fitted.directions(), model.directions());
    assert_close(fitted.mean(), model.mean(), 1e-12, "class means");
    assert_close(fitted.std(), model.std(), 1e-12, "class stds");
    let again = fitted.transform(&x, &labels).unwrap();
    assert_close(again.mean(), scores.mean(), 1e-9, "psmi mean");
    assert_close(again.std(), scores.std(), 1e-9, "psmi std");
}

#[test]
fn full_matrix_agrees_with_the_summaries() {
    let (x, labels) = mixture(3, 301, 11, 3, 2.0);
    let x = Features::new(&x, 301, 11).unwrap();
    let m = 700; // two blocks
    let (model, scores) = fixed(m)
        .fit_transform_with(&x, &labels, true, |_| ControlFlow::Continue(()))
        .unwrap();
    let full = scores.full().unwrap();
    assert_eq!(full.len(), 301 * m);
    for i in 0..301 {
        let row: Vec<f64> = full[i * m..(i + 1) * m].iter().map(|&v| v as f64).collect();
        let mean = row.iter().sum::<f64>() / m as f64;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / m as f64;
        assert!((mean - scores.mean()[i]).abs() < 1e-9);
        assert!((var.sqrt() - scores.std()[i]).abs() < 1e-9);
    }
    let transformed = model.transform_with(&x, &labels, true).unwrap();
    assert_eq!(transformed.full().unwrap(), full);
    // Auto mode assembles the full matrix from its blocks.
    let auto = Psmi::builder().min_n_estimators(64).build().unwrap();
    let (model, scores) = auto
        .fit_transform_with(&x, &labels, true, |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!(scores.full().unwrap().len(), 301 * model.n_estimators());
    assert_eq!(
        model.transform_with(&x, &labels, true).unwrap().full(),
        scores.full()
    );
}

#[test]
fn streaming_fit_equals_one_shot_in_every_chunk_order() {
    let (x, labels) = mixture(4, 600, 13, 3, 2.0);
    let psmi = fixed(70);
    let one_shot = psmi
        .fit(&Features::new(&x, 600, 13).unwrap(), &labels)
        .unwrap();
    let cuts = [0usize, 37, 250, 251, 600];
    let chunks: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
    // Every order of the four chunks.
    let mut orders = vec![vec![0usize, 1, 2, 3]];
    let mut perm = vec![0usize, 1, 2, 3];
    while next_permutation(&mut perm) {
        orders.push(perm.clone());
    }
    assert_eq!(orders.len(), 24);
    for order in orders {
        let mut fitter = PsmiFitter::new(&psmi, 13).unwrap();
        for &c in &order {
            let (a, b) = chunks[c];
            let chunk = Features::new(&x[a * 13..b * 13], b - a, 13).unwrap();
            fitter.update(&chunk, &labels[a..b]).unwrap();
        }
        let model = fitter.finish().unwrap();
        assert_eq!(model.labels(), one_shot.labels());
        assert_eq!(model.frequency(), one_shot.frequency());
        assert_eq!(model.directions(), one_shot.directions());
        assert_close(model.mean(), one_shot.mean(), 1e-12, "mean");
        assert_close(model.std(), one_shot.std(), 1e-12, "std");
    }
    // Fitters merged from two "machines", each seeing a different label first.
    let mut left = PsmiFitter::new(&psmi, 13).unwrap();
    let mut right = PsmiFitter::new(&psmi, 13).unwrap();
    left.update(
        &Features::new(&x[..300 * 13], 300, 13).unwrap(),
        &labels[..300],
    )
    .unwrap();
    let tail: Vec<usize> = (300..600).rev().collect();
    let tail_x: Vec<f32> = tail
        .iter()
        .flat_map(|&i| x[i * 13..(i + 1) * 13].to_vec())
        .collect();
    let tail_labels: Vec<i64> = tail.iter().map(|&i| labels[i]).collect();
    right
        .update(&Features::new(&tail_x, 300, 13).unwrap(), &tail_labels)
        .unwrap();
    left.merge(&right).unwrap();
    // A fitter with no samples adds nothing, to an empty fitter or not.
    let mut empty = PsmiFitter::new(&psmi, 13).unwrap();
    empty.merge(&PsmiFitter::new(&psmi, 13).unwrap()).unwrap();
    assert_eq!(empty.samples(), 0);
    left.merge(&empty).unwrap();
    let merged = left.finish().unwrap();
    assert_close(merged.mean(), one_shot.mean(), 1e-12, "merged mean");
    assert_close(merged.std(), one_shot.std(), 1e-12, "merged std");
}

fn next_permutation(p: &mut [usize]) -> bool {
    let Some(i) = (0..p.len() - 1).rev().find(|&i| p[i] < p[i + 1]) else {
        return false;
    };
    let j = (i + 1..p.len()).rev().find(|&j| p[j] > p[i]).unwrap();
    p.swap(i, j);
    p[i + 1..].reverse();
    true
}

#[test]
fn a_saved_model_loads_back_to_identical_transforms() {
    let (x, labels) = mixture(5, 400, 21, 3, 2.0);
    let labels: Vec<i64> = labels.iter().map(|&l| [-3, 7, 1000][l as usize]).collect();
    let x = Features::new(&x, 400, 21).unwrap();
    let psmi = Psmi::builder()
        .min_n_estimators(50)
        .seed(5)
        .build()
        .unwrap();
    let (model, scores) = psmi.fit_transform(&x, &labels).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    model.save(&path).unwrap();
    let loaded = PsmiModel::load(&path).unwrap();
    assert_eq!(loaded.labels(), &[-3, 7, 1000]);
    assert_eq!(loaded.seed(), Some(5));
    assert_eq!(loaded.auto_report(), model.auto_report());
    assert_eq!(loaded.directions(), model.directions());
    assert_eq!(
        loaded.transform(&x, &labels).unwrap(),
        model.transform(&x, &labels).unwrap()
    );
    assert_close(
        loaded.transform(&x, &labels).unwrap().mean(),
        scores.mean(),
        1e-9,
        "mean",
    );
}

#[test]
fn model_files_with_wrong_shapes_are_refused_with_the_tensor_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    std::fs::write(&path, b"not a model").unwrap();
    let err = PsmiModel::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("bad.safetensors") && err.contains("not a safetensors file"),
        "{err}"
    );
    let missing = dir.path().join("missing.safetensors");
    let err = PsmiModel::load(&missing).unwrap_err().to_string();
    assert!(err.contains("missing.safetensors"), "{err}");

    // A real model, then the same file with `std` of the wrong shape.
    let (x, labels) = mixture(6, 60, 5, 2, 2.0);
    let model = fixed(8)
        .fit(&Features::new(&x, 60, 5).unwrap(), &labels)
        .unwrap();
    model.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8(bytes[8..8 + header_len].to_vec()).unwrap();
    let broken = header.replacen(
        "\"std\":{\"dtype\":\"F64\",\"shape\":[2,8]",
        "\"std\":{\"dtype\":\"F64\",\"shape\":[8,2]",
        1,
    );
    assert_ne!(broken, header, "the header names std's shape");
    let mut patched = bytes[..8].to_vec();
    patched.extend_from_slice(broken.as_bytes());
    patched.extend_from_slice(&bytes[8 + header_len..]);
    std::fs::write(&path, patched).unwrap();
    let err = PsmiModel::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("`std` has shape [8, 2], expected [2, 8]"),
        "{err}"
    );
}

#[test]
fn flipped_labels_have_the_lowest_psmi() {
    // A separable mixture: 10 classes in 32 dimensions, 3% of labels flipped.
    let (n, d, k) = (2000, 32, 10);
    let (x, mut labels) = mixture(7, n, d, k, 6.0);
    let mut rng = TestRng::new(77);
    let flipped_count = n * 3 / 100;
    let mut flipped = Vec::new();
    while flipped.len() < flipped_count {
        let i = rng.below(n);
        if !flipped.contains(&i) {
            labels[i] = ((labels[i] as usize + 1 + rng.below(k - 1)) % k) as i64;
            flipped.push(i);
        }
    }
    let x = Features::new(&x, n, d).unwrap();
    let (_, scores) = Psmi::default().fit_transform(&x, &labels).unwrap();
    let lowest = scores.lowest(flipped_count);
    let hits = lowest.iter().filter(|i| flipped.contains(i)).count();
    let precision = hits as f64 / flipped_count as f64;
    assert!(precision >= 0.95, "precision {precision}");
}

#[test]
fn auto_mode_terminates_on_tiny_inputs() {
    // floor(0.05 · n) = 0 here: the Python package loops forever.
    for n in [4usize, 7, 19] {
        let (x, labels) = mixture(8, n, 3, 2, 1.0);
        let x = Features::new(&x, n, 3).unwrap();
        let psmi = Psmi::builder()
            .min_n_estimators(20)
            .max_n_estimators(400)
            .build()
            .unwrap();
        let (model, scores) = psmi.fit_transform(&x, &labels).unwrap();
        let report = model.auto_report().unwrap();
        assert!(report.blocks >= 2, "a comparison needs two blocks");
        assert!(report.blocks <= 20);
        assert_eq!(model.n_estimators(), report.blocks * 20);
        assert_eq!(scores.n_estimators(), model.n_estimators());
        assert!(scores.mean().iter().all(|v| v.is_finite()));
    }
}

#[test]
fn auto_mode_stops_at_the_bound_and_says_it_did_not_converge() {
    let (x, labels) = mixture(9, 200, 8, 2, 0.5);
    let x = Features::new(&x, 200, 8).unwrap();
    let psmi = Psmi::builder()
        .min_n_estimators(10)
        .max_n_estimators(35)
        .max_variation_of_the_lowest(1e-9)
        .build()
        .unwrap();
    let mut seen = Vec::new();
    let (model, _) = psmi
        .fit_transform_with(&x, &labels, false, |p| {
            seen.push(*p);
            ControlFlow::Continue(())
        })
        .unwrap();
    let report = model.auto_report().unwrap();
    assert_eq!((report.blocks, report.converged), (3, false));
    assert_eq!(model.n_estimators(), 30);
    assert!(report.variation.unwrap() > 1e-9);
    // One report per pass, and one per block's check.
    let checks: Vec<_> = seen.iter().filter(|p| p.target.is_some()).collect();
    assert_eq!(checks.len(), 3);
    assert_eq!(checks[0].variation, None);
    assert_eq!(checks[2].target, Some(1e-9));
    assert_eq!(seen.last().unwrap().directions, 30);
}

#[test]
fn far_away_points_get_finite_scores() {
    let (x, labels) = mixture(10, 200, 6, 2, 3.0);
    let model = fixed(64)
        .fit(&Features::new(&x, 200, 6).unwrap(), &labels)
        .unwrap();
    let far = Features::new(
        &[
            1e6f32, -1e6, 1e6, 3e5, -2e6, 1e6, 1e6, -1e6, 1e6, 3e5, -2e6, 1e6,
        ],
        2,
        6,
    )
    .unwrap();
    let scores = model.transform(&far, &[0, 1]).unwrap();
    assert!(
        scores
            .mean()
            .iter()
            .chain(scores.std())
            .all(|v| v.is_finite()),
        "{scores:?}"
    );
    // Far from both classes, one of them is still far less likely than the other.
    assert!(scores.mean().iter().any(|&v| v < -10.0));
}

#[test]
fn errors_name_the_input_at_fault() {
    let (x, labels) = mixture(11, 40, 4, 2, 2.0);
    let features = Features::new(&x, 40, 4).unwrap();
    let psmi = fixed(8);
    let msg = |e: PsmiError| e.to_string();

    // Features.
    let mut bad = x.clone();
    bad[2 * 4 + 3] = f32::NAN;
    assert_eq!(
        msg(Features::new(&bad, 40, 4).unwrap_err()),
        "non-finite feature value at row 2, column 3 (NaN, infinity, or beyond the f32 range)"
    );
    bad[2 * 4 + 3] = f32::INFINITY;
    assert!(matches!(
        Features::new(&bad, 40, 4),
        Err(PsmiError::NonFinite { row: 2, column: 3 })
    ));
    assert!(matches!(
        Features::new(&[], 0, 4),
        Err(PsmiError::Empty { .. })
    ));
    assert!(matches!(
        Features::new(&x, 40, 0),
        Err(PsmiError::Empty { .. })
    ));
    assert!(matches!(
        Features::new(&x, 41, 4),
        Err(PsmiError::FeatureShape { .. })
    ));

    // Labels.
    assert_eq!(
        msg(psmi.fit(&features, &labels[..39]).unwrap_err()),
        "39 labels for 40 feature rows"
    );
    let mut lonely = labels.clone();
    lonely[5] = 42;
    assert_eq!(
        msg(psmi.fit(&features, &lonely).unwrap_err()),
        "label 42 has 1 sample(s); every label needs at least 2"
    );
    assert!(matches!(
        psmi.fit_transform(&features, &lonely),
        Err(PsmiError::TooFewSamples {
            label: 42,
            count: 1
        })
    ));

    // Zero variance: every sample of label 1 at the same point.
    let mut flat = x.clone();
    for (i, row) in flat.chunks_mut(4).enumerate() {
        if labels[i] == 1 {
            row.copy_from_slice(&[1.0, 2.0, 3.0, 4.0]);
        }
    }
    let flat = Features::new(&flat, 40, 4).unwrap();
    for err in [
        psmi.fit(&flat, &labels).unwrap_err(),
        psmi.fit_transform(&flat, &labels).unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                PsmiError::ZeroVariance {
                    label: 1,
                    direction: 0
                }
            ),
            "{err}"
        );
    }

    // Transform.
    let model = psmi.fit(&features, &labels).unwrap();
    let mut unseen = labels.clone();
    unseen[7] = -5;
    assert_eq!(
        msg(model.transform(&features, &unseen).unwrap_err()),
        "label -5 at row 7 was not seen at fit (fitted labels: [0, 1])"
    );
    let narrow = Features::new(&x[..39 * 3], 39, 3).unwrap();
    assert_eq!(
        msg(model.transform(&narrow, &labels[..39]).unwrap_err()),
        "features have 3 columns, the model was fitted on 4"
    );

    // Streaming.
    let auto = Psmi::default();
    assert!(matches!(
        PsmiFitter::new(&auto, 4),
        Err(PsmiError::InvalidOption {
            option: "n_estimators",
            ..
        })
    ));
    let mut fitter = PsmiFitter::new(&psmi, 4).unwrap();
    assert!(matches!(fitter.finish(), Err(PsmiError::Empty { .. })));
    assert!(fitter.update(&narrow, &labels[..39]).is_err());
    fitter.update(&features, &labels).unwrap();
    let other = PsmiFitter::new(&fixed(9), 4).unwrap();
    assert!(matches!(
        fitter.merge(&other),
        Err(PsmiError::Incompatible(_))
    ));
}

#[test]
fn options_out_of_range_are_named() {
    let cases: Vec<(psmi_std::PsmiBuilder, &str)> = vec![
        (
            Psmi::builder().n_estimators(NEstimators::Fixed(0)),
            "n_estimators",
        ),
        (Psmi::builder().min_n_estimators(0), "min_n_estimators"),
        (
            Psmi::builder().lowest_psmi_quantile(1.5),
            "lowest_psmi_quantile",
        ),
        (
            Psmi::builder().lowest_psmi_quantile(f64::NAN),
            "lowest_psmi_quantile",
        ),
        (
            Psmi::builder().max_variation_of_the_lowest(-1.0),
            "max_variation_of_the_lowest",
        ),
        (Psmi::builder().milestone(0.0), "milestone"),
        (Psmi::builder().milestone(1.0), "milestone"),
        (Psmi::builder().max_n_estimators(10), "max_n_estimators"),
        (Psmi::builder().threads(0), "threads"),
    ];
    for (builder, option) in cases {
        match builder.build() {
            Err(PsmiError::InvalidOption { option: named, .. }) => assert_eq!(named, option),
            other => panic!("{option}: {other:?}"),
        }
    }
    assert!("many".parse::<NEstimators>().is_err());
    assert!("0".parse::<NEstimators>().is_err());
}

/// Auto mode driven from outside, block by block, as a distributed run does
/// it: a fitter per block, the block's scores, the stopping rule on
/// candidates only, the blocks joined. One machine's run is the reference.
#[test]
fn auto_mode_block_by_block_equals_fit_transform() {
    auto_mode_block_by_block(Directions::Iid);
}

/// Blocks of 23 directions start and end inside frames of 9.
#[test]
fn auto_mode_block_by_block_equals_fit_transform_with_frames() {
    auto_mode_block_by_block(Directions::Orthogonal);
}

fn auto_mode_block_by_block(directions: Directions) {
    let (n, d, k, size) = (613, 9, 3, 23);
    let (x, labels) = mixture(41, n, d, k, 1.5);
    let x = Features::new(&x, n, d).unwrap();
    let psmi = Psmi::builder()
        .min_n_estimators(size)
        .max_n_estimators(size * 30)
        .max_variation_of_the_lowest(0.02)
        .directions(directions)
        .seed(17)
        .build()
        .unwrap();
    let scheme = psmi.scheme(Some(n), d).unwrap();
    let (reference, _) = psmi.fit_transform(&x, &labels).unwrap();
    let expected = reference.auto_report().unwrap();

    let (mut blocks, mut sums): (Vec<PsmiModel>, Vec<Vec<f64>>) = (Vec::new(), Vec::new());
    let mut rule = AutoRule::new(&psmi, n);
    let report = loop {
        match rule.step() {
            Step::Block(directions) => {
                assert_eq!(directions.start, blocks.len() * size);
                let mut fitter =
                    PsmiFitter::for_block(&psmi, d, Some(n), directions.start, directions.len())
                        .unwrap();
                fitter.update(&x, &labels).unwrap();
                let block = fitter.finish().unwrap();
                let means = block.transform(&x, &labels).unwrap().mean().to_vec();
                sums.push(match sums.last() {
                    Some(previous) => previous.iter().zip(&means).map(|(s, m)| s + m).collect(),
                    None => means,
                });
                blocks.push(block);
                rule.block_scored().unwrap();
            }
            Step::Gather(Check::Variation {
                blocks: done,
                half_blocks,
                watched,
            }) => {
                assert_eq!(done, blocks.len());
                let mean_over =
                    |b: usize| -> Vec<f64> { sums[b - 1].iter().map(|s| s / b as f64).collect() };
                let (full, half) = (mean_over(done), mean_over(half_blocks));
                // Two "partitions", each giving only its own lowest `watched`,
                // decide as all samples do.
                let mut candidates = Vec::new();
                for part in [0..200, 200..n] {
                    let mut order: Vec<usize> = part.collect();
                    order.sort_by(|&a, &b| full[a].total_cmp(&full[b]).then(a.cmp(&b)));
                    order.truncate(watched);
                    order.sort_unstable();
                    candidates.extend(order);
                }
                let pick =
                    |values: &[f64]| candidates.iter().map(|&i| values[i]).collect::<Vec<_>>();
                let mut on_all = rule.clone();
                on_all.observe(&full, &half).unwrap();
                rule.observe(&pick(&full), &pick(&half)).unwrap();
                assert_eq!(on_all.statistic(), rule.statistic());
            }
            Step::Gather(other) => panic!("the package's rule asked for {other:?}"),
            Step::Stop(report) => break report.unwrap(),
        }
    };
    let variation = report.variation;
    let joined = PsmiModel::concat(&blocks, 17, scheme, Some(report)).unwrap();
    assert_eq!(
        (report.blocks, report.converged),
        (expected.blocks, expected.converged)
    );
    assert_close(
        &[variation.unwrap()],
        &[expected.variation.unwrap()],
        1e-12,
        "variation",
    );
    // One update over all rows groups them as one machine does: bit for bit.
    assert_eq!(joined.mean(), reference.mean());
    assert_eq!(joined.std(), reference.std());
    assert_eq!(joined.directions(), reference.directions());
    assert_eq!(joined.scheme(), reference.scheme());
    assert_eq!(
        (joined.labels(), joined.frequency()),
        (reference.labels(), reference.frequency())
    );

    // Blocks out of order, or of another seed, are refused.
    let swapped = [blocks[1].clone(), blocks[0].clone()];
    assert!(matches!(
        PsmiModel::concat(&swapped, 17, scheme, None),
        Err(PsmiError::Incompatible(_))
    ));
    assert!(matches!(
        PsmiModel::concat(&blocks, 18, scheme, None),
        Err(PsmiError::Incompatible(_))
    ));
    assert!(matches!(
        PsmiModel::concat(&[], 17, scheme, None),
        Err(PsmiError::Empty { .. })
    ));
}

/// Each sample's mean and population std over the first `m` columns of the
/// row-major `rows × width` matrix, by two passes in f64.
fn moments_of_prefix(full: &[f32], width: usize, m: usize) -> (Vec<f64>, Vec<f64>) {
    full.chunks(width)
        .map(|row| {
            let values = &row[..m];
            let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / m as f64;
            let var = values
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / m as f64;
            (mean, var.sqrt())
        })
        .unzip()
}

/// Each sample's standard error over the first `m` columns of the
/// row-major `rows × width` matrix, directions in frames of `frame` (1 for
/// i.i.d. directions), from the whole matrix at once: the frame means'
/// spread and all scores' spread, summed over the samples, solved for the
/// variance and the covariance within a frame (two equations in two
/// unknowns), then std · √(D/m) with D = 1 + ρ·Σg(g − 1)/m.
fn scheme_stderr(full: &[f32], width: usize, m: usize, frame: usize) -> Vec<f64> {
    let (mean, std) = moments_of_prefix(full, width, m);
    let sizes: Vec<usize> = (0..m).step_by(frame).map(|s| frame.min(m - s)).collect();
    let (b, pairs) = (
        sizes.len() as f64,
        sizes.iter().map(|&g| (g * (g - 1)) as f64).sum::<f64>(),
    );
    let (mut between, mut within) = (0.0, 0.0);
    for ((row, &mu), &sd) in full.chunks(width).zip(&mean).zip(&std) {
        within += sd * sd * m as f64;
        for (start, &g) in (0..m).step_by(frame).zip(&sizes) {
            let frame_mean = row[start..start + g]
                .iter()
                .map(|&v| f64::from(v))
                .sum::<f64>()
                / g as f64;
            between += g as f64 * (frame_mean - mu).powi(2);
        }
    }
    let mf = m as f64;
    let design_effect = if frame > 1 && sizes.len() > 1 {
        // [b − 1, m − b − P/m; m − 1, −P/m] · [σ², c] = [between, within].
        let (a11, a12, a21, a22) = (b - 1.0, mf - b - pairs / mf, mf - 1.0, -pairs / mf);
        let det = a11 * a22 - a12 * a21;
        let variance = (between * a22 - a12 * within) / det;
        let covariance = (a11 * within - a21 * between) / det;
        (1.0 + covariance / variance * pairs / mf).max(0.0)
    } else {
        1.0
    };
    std.iter()
        .map(|s| s * (design_effect / mf).sqrt())
        .collect()
}

/// The largest of `stderr` among the `watched` samples with the lowest
/// mean, ties to the earlier sample.
fn largest_watched(mean: &[f64], stderr: &[f64], watched: usize) -> f64 {
    let mut order: Vec<usize> = (0..mean.len()).collect();
    order.sort_by(|&a, &b| mean[a].total_cmp(&mean[b]).then(a.cmp(&b)));
    order[..watched]
        .iter()
        .map(|&i| stderr[i])
        .fold(f64::NEG_INFINITY, f64::max)
}

/// With a target error, auto mode stops at the first block after which every
/// watched sample's standard error (right for the scheme) is within the
/// target (or at the bound): checked against the f64 moments of the full
/// matrix after every block.
#[test]
fn target_error_stops_when_and_only_when_the_watched_stderr_is_within_it() {
    let (n, d, k, size) = (509, 7, 3, 17);
    let (x, labels) = mixture(23, n, d, k, 1.2);
    let x = Features::new(&x, n, d).unwrap();
    let watched = (0.05 * n as f64) as usize;
    let mut stopped_early = false;
    for (target, directions) in [
        (0.08, Directions::Iid),
        (0.03, Directions::Iid),
        (0.03, Directions::Orthogonal),
        (0.01, Directions::Orthogonal),
        (1e-6, Directions::Iid),
    ] {
        let psmi = Psmi::builder()
            .min_n_estimators(size)
            .max_n_estimators(size * 12)
            .target_error(target)
            .directions(directions)
            .seed(4)
            .build()
            .unwrap();
        let (model, scores) = psmi.fit_transform(&x, &labels).unwrap();
        let report = model.auto_report().unwrap();
        let m = model.n_estimators();
        assert_eq!(m, report.blocks * size);
        let full = model.transform_with(&x, &labels, true).unwrap();
        let full = full.full().unwrap();
        let frame = model.scheme().frame_size().unwrap_or(1);
        let after = |blocks: usize| {
            let (mean, _) = moments_of_prefix(full, m, blocks * size);
            largest_watched(
                &mean,
                &scheme_stderr(full, m, blocks * size, frame),
                watched,
            )
        };
        for blocks in 1..report.blocks {
            assert!(
                after(blocks) > target,
                "{target}: should have stopped after {blocks} blocks"
            );
        }
        let last = after(report.blocks);
        assert_eq!(report.converged, last <= target, "{target}: {last}");
        if !report.converged {
            assert_eq!(m, psmi.max_n_estimators(), "unconverged before the bound");
        }
        stopped_early |= report.converged && report.blocks > 1;
        assert_close(
            &[report.variation.unwrap()],
            &[last],
            1e-9,
            "largest watched stderr",
        );
        // The scores' own standard errors say the same.
        let stderr = scores.stderr();
        let lowest = scores.lowest(watched);
        let largest = lowest
            .iter()
            .map(|&i| stderr[i])
            .fold(f64::NEG_INFINITY, f64::max);
        assert_close(&[largest], &[last], 1e-9, "PsmiScores::stderr");

        // Block by block, as a distributed run drives the rule: a fitter per
        // block, the rule fed each sample's mean and standard error over the
        // blocks so far.
        let mut rule = AutoRule::new(&psmi, n);
        let mut columns: Vec<Vec<f32>> = vec![Vec::new(); n];
        let mut blocks = 0;
        let outside = loop {
            match rule.step() {
                Step::Block(range) => {
                    let mut fitter =
                        PsmiFitter::for_block(&psmi, d, Some(n), range.start, range.len()).unwrap();
                    fitter.update(&x, &labels).unwrap();
                    let block = fitter.finish().unwrap();
                    let scored = block.transform_with(&x, &labels, true).unwrap();
                    for (row, new) in columns
                        .iter_mut()
                        .zip(scored.full().unwrap().chunks(range.len()))
                    {
                        row.extend_from_slice(new);
                    }
                    blocks += 1;
                    rule.block_scored().unwrap();
                }
                Step::Gather(check) => {
                    assert_eq!(check, Check::StandardError { watched });
                    let width = blocks * size;
                    let flat: Vec<f32> = columns.concat();
                    let (mean, _) = moments_of_prefix(&flat, width, width);
                    rule.observe(&mean, &scheme_stderr(&flat, width, width, frame))
                        .unwrap();
                }
                Step::Stop(report) => break report.unwrap(),
            }
        };
        assert_eq!(
            (outside.blocks, outside.converged),
            (report.blocks, report.converged)
        );
    }
    assert!(
        stopped_early,
        "no target stopped the run between its first block and the bound"
    );
}

/// A distributed run with a target error: each partition (uneven, one of
/// them scored in two batches) keeps its running errors, the driver pools
/// their sums and hands the rule every partition's lowest samples. Each
/// check sees the means and standard errors an independent computation from
/// the full matrix gives, and the run stops where `fit_transform` does.
#[test]
fn partitions_running_errors_stop_a_target_error_run_as_one_machine_does() {
    let (n, d, size) = (403, 7, 13);
    let (x, labels) = mixture(fresh_data_seed(), n, d, 3, 1.2);
    let all = Features::new(&x, n, d).unwrap();
    // Partitions of rows, each a list of batches (first, end).
    let parts: [&[(usize, usize)]; 3] = [&[(0, 1)], &[(1, 150)], &[(150, 211), (211, 403)]];
    for (target, directions) in [(0.02, Directions::Orthogonal), (0.03, Directions::Iid)] {
        let psmi = Psmi::builder()
            .min_n_estimators(size)
            .max_n_estimators(size * 12)
            .target_error(target)
            .directions(directions)
            .frame_size(5)
            .seed(8)
            .build()
            .unwrap();
        let scheme = psmi.scheme(Some(n), d).unwrap();
        let frame = scheme.frame_size().unwrap_or(1);
        let (model, _) = psmi.fit_transform(&all, &labels).unwrap();
        let report = model.auto_report().unwrap();
        let full = model.transform_with(&all, &labels, true).unwrap();
        let full = full.full().unwrap();
        let m = model.n_estimators();
        let mut errors = vec![RunningErrors::new(scheme); parts.len()];
        let mut rule = AutoRule::new(&psmi, n);
        let outside = loop {
            match rule.step() {
                Step::Block(range) => {
                    let mut fitter =
                        PsmiFitter::for_block(&psmi, d, Some(n), range.start, range.len()).unwrap();
                    fitter.update(&all, &labels).unwrap();
                    let block = fitter.finish().unwrap();
                    for (batches, errors) in parts.iter().zip(&mut errors) {
                        for &(first, end) in batches.iter() {
                            let rows =
                                Features::new(&x[first * d..end * d], end - first, d).unwrap();
                            let row = first - batches[0].0;
                            block
                                .score_running(&rows, &labels[first..end], range.start, row, errors)
                                .unwrap();
                        }
                    }
                    rule.block_scored().unwrap();
                }
                Step::Gather(Check::StandardError { watched }) => {
                    let sums: Vec<[f64; 2]> = errors.iter().map(RunningErrors::sums).collect();
                    let pooled = [
                        sums.iter().map(|s| s[0]).sum(),
                        sums.iter().map(|s| s[1]).sum(),
                    ];
                    let (mut mean, mut stderr) = (Vec::new(), Vec::new());
                    for e in &errors {
                        let (a, b) = e.lowest(watched, pooled);
                        mean.extend(a);
                        stderr.extend(b);
                    }
                    let width = errors[0].directions();
                    let (all_mean, _) = moments_of_prefix(full, m, width);
                    let all_stderr = scheme_stderr(full, m, width, frame);
                    let mut order: Vec<usize> = (0..n).collect();
                    order.sort_by(|&a, &b| all_mean[a].total_cmp(&all_mean[b]).then(a.cmp(&b)));
                    let mut lowest = order[..watched].to_vec();
                    lowest.sort_unstable();
                    let (mut expected_mean, mut expected_stderr) = (Vec::new(), Vec::new());
                    for &i in &lowest {
                        expected_mean.push(all_mean[i]);
                        expected_stderr.push(all_stderr[i]);
                    }
                    // Each partition's lowest hold the lowest overall.
                    let chosen = largest_watched(&mean, &stderr, watched);
                    assert_close(
                        &[chosen],
                        &[largest_watched(&expected_mean, &expected_stderr, watched)],
                        1e-9,
                        "largest watched stderr",
                    );
                    rule.observe(&mean, &stderr).unwrap();
                }
                Step::Gather(other) => panic!("{other:?}"),
                Step::Stop(report) => break report.unwrap(),
            }
        };
        assert_eq!(
            (outside.blocks, outside.converged),
            (report.blocks, report.converged),
            "{target} {directions:?}"
        );
        assert!(report.blocks > 1, "{target}: stopped at the first block");
        assert_close(
            &[outside.variation.unwrap()],
            &[report.variation.unwrap()],
            1e-9,
            "statistic",
        );
        // A block scored twice, or one skipped: refused.
        let (rows, block) = (Features::new(&x[..d], 1, d).unwrap(), model.clone());
        for first in [0, m + size] {
            let err = block.score_running(&rows, &labels[..1], first, 0, &mut errors[0]);
            assert!(matches!(err, Err(PsmiError::Incompatible(_))), "{first}");
        }
        let bytes = errors[2].to_bytes();
        assert_eq!(RunningErrors::from_bytes(&bytes).unwrap(), errors[2]);
        // Cut short, or claiming more rows than it holds: refused, named.
        let mut huge = bytes.clone();
        huge[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        for bad in [
            &bytes[..bytes.len() - 8],
            &bytes[..20],
            &huge[..],
            b"not it",
        ] {
            let err = RunningErrors::from_bytes(bad).unwrap_err();
            assert!(err.to_string().contains("running errors"), "{err}");
        }
    }
}

#[test]
fn target_error_is_checked_and_needs_auto_mode() {
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let err = Psmi::builder().target_error(bad).build().unwrap_err();
        assert!(
            matches!(
                err,
                PsmiError::InvalidOption {
                    option: "target_error",
                    ..
                }
            ),
            "{err}"
        );
    }
    let fixed = Psmi::builder()
        .n_estimators(NEstimators::Fixed(10))
        .target_error(0.01)
        .build();
    assert!(matches!(
        fixed,
        Err(PsmiError::InvalidOption {
            option: "target_error",
            ..
        })
    ));
}

/// Every path that scores gives the same standard errors: `fit_transform`
/// (fixed, and auto mode stopped at the same m), `transform` with and
/// without the full matrix, the quantile paths (which score a chunk of rows
/// along all directions: 3500 rows are two chunks at m = 600), and a model
/// fitted in a stream; for frames the design effect moves them off std/√m.
#[test]
fn every_path_gives_the_same_standard_errors() {
    let (n, d, k, m) = (3500, 12, 3, 600);
    let (x, labels) = mixture(fresh_data_seed(), n, d, k, 1.0);
    let x = Features::new(&x, n, d).unwrap();
    let levels = [0.1, 0.9];
    let same = |a: &psmi_std::PsmiScores, b: &psmi_std::PsmiScores, tolerance: f64, what: &str| {
        assert_close(&a.stderr(), &b.stderr(), tolerance, what);
        assert_close(&[a.smi_stderr()], &[b.smi_stderr()], tolerance, what);
    };
    for directions in [Directions::Iid, Directions::Orthogonal] {
        let psmi = Psmi::builder()
            .n_estimators(NEstimators::Fixed(m))
            .directions(directions)
            .frame_size(8)
            .seed(11)
            .build()
            .unwrap();
        let (model, fitted) = psmi.fit_transform(&x, &labels).unwrap();
        let root_m = (m as f64).sqrt();
        let iid_formula: Vec<f64> = fitted.std().iter().map(|s| s / root_m).collect();
        match directions {
            Directions::Iid => assert_close(&fitted.stderr(), &iid_formula, 1e-15, "std/√m"),
            Directions::Orthogonal => {
                let d_eff = fitted.design_effect();
                assert!(d_eff > 0.0 && d_eff < 0.9, "design effect {d_eff}");
                let frame = model.scheme().frame_size().unwrap();
                let full = model.transform_with(&x, &labels, true).unwrap();
                let reference = scheme_stderr(full.full().unwrap(), m, m, frame);
                assert_close(&fitted.stderr(), &reference, 1e-6, "the matrix's formula");
            }
        }

        let transformed = model.transform(&x, &labels).unwrap();
        same(&transformed, &fitted, 1e-12, "transform");
        let with_full = model.transform_with(&x, &labels, true).unwrap();
        assert_eq!(with_full.stderr(), transformed.stderr(), "transform, full");
        let (chunked, _) = model
            .transform_with_quantiles(&x, &labels, &levels, false)
            .unwrap();
        assert_eq!(chunked.stderr(), transformed.stderr(), "quantiles");
        assert_eq!(chunked.smi_stderr(), transformed.smi_stderr(), "quantiles");
        for memory in [None, Some(0)] {
            let (_, kept, _) = psmi
                .fit_transform_with_quantiles(&x, &labels, false, &levels, memory, |_| {
                    ControlFlow::Continue(())
                })
                .unwrap();
            same(&kept, &fitted, 1e-12, "fit_transform_with_quantiles");
        }

        let mut fitter = PsmiFitter::for_samples(&psmi, d, Some(n)).unwrap();
        for rows in [0..1000, 1000..n] {
            let part = x.slice_rows(rows.clone());
            fitter.update(&part, &labels[rows]).unwrap();
        }
        let streamed = fitter.finish().unwrap().transform(&x, &labels).unwrap();
        same(&streamed, &fitted, 1e-9, "streaming fitter");

        let auto = Psmi::builder()
            .min_n_estimators(200)
            .max_n_estimators(m)
            .target_error(1e-9)
            .directions(directions)
            .frame_size(8)
            .seed(11)
            .build()
            .unwrap();
        let (auto_model, auto_scores) = auto.fit_transform(&x, &labels).unwrap();
        assert_eq!(auto_model.n_estimators(), m);
        same(&auto_scores, &fitted, 1e-12, "auto mode");
    }
}

fn fresh_data_seed() -> u64 {
    let seed = common::fresh_seed();
    eprintln!("data seed {seed}");
    seed
}
