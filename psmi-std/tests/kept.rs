//! Fitting a partition while keeping its projections, then scoring it from
//! them (`PsmiFitter::update_keeping`, `PsmiModel::transform_kept`,
//! `PsmiModel::score_running_kept`), against the paths that project the
//! features again: the same statistics and scores, bit for bit.

mod common;

use common::mixture;
use psmi_std::error_bars::RunningErrors;
use psmi_std::{Directions, Features, NEstimators, Precision, Psmi, PsmiError, PsmiFitter};

fn fresh_data_seed() -> u64 {
    let seed = common::fresh_seed();
    eprintln!("data seed {seed}");
    seed
}

/// Uneven partitions of 0..n, one of a single row.
const PARTS: [(usize, usize); 3] = [(0, 1), (1, 517), (517, 1031)];

#[test]
fn kept_projections_fit_and_score_as_the_features_do() {
    let (n, d) = (1031, 37);
    let (x, labels) = mixture(fresh_data_seed(), n, d, 4, 1.0);
    // 600 directions: three blocks, the last one narrower.
    for (directions, precision) in [
        (Directions::Orthogonal, Precision::F32),
        (Directions::Iid, Precision::Bf16),
    ] {
        let psmi = Psmi::builder()
            .n_estimators(NEstimators::Fixed(600))
            .directions(directions)
            .precision(precision)
            .seed(11)
            .build()
            .unwrap();
        let m = 600;
        let mut kept_parts = Vec::new();
        let (mut keeping, mut plain) = (Vec::new(), Vec::new());
        for &(a, b) in &PARTS {
            let rows = Features::new(&x[a * d..b * d], b - a, d).unwrap();
            let mut fitter = PsmiFitter::for_samples(&psmi, d, Some(n)).unwrap();
            let mut kept = vec![f32::NAN; (b - a) * m];
            fitter
                .update_keeping(&rows, &labels[a..b], &mut kept)
                .unwrap();
            let mut other = PsmiFitter::for_samples(&psmi, d, Some(n)).unwrap();
            other.update(&rows, &labels[a..b]).unwrap();
            assert_eq!(fitter.samples(), other.samples());
            // A partition too small to finish on its own fails alike.
            match (fitter.finish(), other.finish()) {
                (Ok(ours), Ok(theirs)) => assert_eq!(ours, theirs, "rows {a}..{b}"),
                (Err(ours), Err(theirs)) => assert_eq!(ours.to_string(), theirs.to_string()),
                (ours, theirs) => panic!("rows {a}..{b}: {ours:?} against {theirs:?}"),
            }
            kept_parts.push(kept);
            keeping.push(fitter);
            plain.push(other);
        }
        let merge = |fitters: &[PsmiFitter]| {
            let mut total = PsmiFitter::for_samples(&psmi, d, Some(n)).unwrap();
            for f in fitters {
                total.merge(f).unwrap();
            }
            total.finish().unwrap()
        };
        let model = merge(&keeping);
        assert_eq!(model, merge(&plain));
        let mut means = Vec::new();
        for (&(a, b), kept) in PARTS.iter().zip(&kept_parts) {
            let rows = Features::new(&x[a * d..b * d], b - a, d).unwrap();
            let before = kept.clone();
            let from_kept = model.transform_kept(kept, &labels[a..b]).unwrap();
            assert_eq!(kept, &before, "scoring left the projections as they were");
            let from_x = model.transform(&rows, &labels[a..b]).unwrap();
            assert_eq!(from_kept, from_x, "rows {a}..{b}");
            means.extend_from_slice(from_kept.mean());
        }
        // The partitions' scores are those of the whole data set, row by row.
        let all = model
            .transform(&Features::new(&x, n, d).unwrap(), &labels)
            .unwrap();
        assert_eq!(means, all.mean());
    }
}

#[test]
fn kept_projections_fold_auto_mode_blocks_into_running_errors_as_the_features_do() {
    let (n, d, size) = (403, 9, 13);
    let (x, labels) = mixture(fresh_data_seed(), n, d, 3, 1.2);
    let psmi = Psmi::builder()
        .min_n_estimators(size)
        .target_error(0.05)
        .directions(Directions::Orthogonal)
        .frame_size(5)
        .seed(3)
        .build()
        .unwrap();
    let scheme = psmi.scheme(Some(n), d).unwrap();
    // One partition, in two batches of uneven size.
    let batches = [(0, 150), (150, n)];
    let (mut from_kept, mut from_x) = (RunningErrors::new(scheme), RunningErrors::new(scheme));
    for first in [0, size, 2 * size] {
        let mut fitter = PsmiFitter::for_block(&psmi, d, Some(n), first, size).unwrap();
        let mut kept = Vec::new();
        for &(a, b) in &batches {
            let rows = Features::new(&x[a * d..b * d], b - a, d).unwrap();
            let mut part = vec![0.0f32; (b - a) * size];
            fitter
                .update_keeping(&rows, &labels[a..b], &mut part)
                .unwrap();
            kept.push(part);
        }
        let block = fitter.finish().unwrap();
        for (&(a, b), kept) in batches.iter().zip(&kept) {
            let rows = Features::new(&x[a * d..b * d], b - a, d).unwrap();
            block
                .score_running_kept(kept, &labels[a..b], first, a, &mut from_kept)
                .unwrap();
            block
                .score_running(&rows, &labels[a..b], first, a, &mut from_x)
                .unwrap();
        }
    }
    assert_eq!(from_kept.rows(), n);
    assert_eq!(from_kept.directions(), 3 * size);
    assert_eq!(from_kept.to_bytes(), from_x.to_bytes());
}

#[test]
fn kept_projections_of_the_wrong_shape_or_labels_are_refused() {
    let (n, d, m) = (40, 3, 7);
    let (x, labels) = mixture(fresh_data_seed(), n, d, 2, 2.0);
    let rows = Features::new(&x, n, d).unwrap();
    let psmi = Psmi::builder()
        .n_estimators(NEstimators::Fixed(m))
        .build()
        .unwrap();
    let mut fitter = PsmiFitter::new(&psmi, d).unwrap();
    let mut short = vec![0.0f32; n * m - 1];
    let err = fitter
        .update_keeping(&rows, &labels, &mut short)
        .unwrap_err();
    assert!(
        matches!(&err, PsmiError::Incompatible(s) if s.contains("279 values") && s.contains("expected 280")),
        "{err}"
    );
    assert_eq!(fitter.samples(), 0, "a refused chunk adds nothing");
    let mut kept = vec![0.0f32; n * m];
    fitter.update_keeping(&rows, &labels, &mut kept).unwrap();
    let model = fitter.finish().unwrap();
    let err = model.transform_kept(&kept[1..], &labels).unwrap_err();
    assert!(matches!(err, PsmiError::Incompatible(_)), "{err}");
    let err = model.transform_kept(&kept, &labels[1..]).unwrap_err();
    assert!(
        matches!(
            err,
            PsmiError::LabelCount {
                labels: 39,
                rows: 40
            }
        ),
        "{err}"
    );
    let mut unseen = labels.clone();
    unseen[5] = 99;
    let err = model.transform_kept(&kept, &unseen).unwrap_err();
    assert!(err.to_string().contains("99"), "{err}");
}
