//! Agreement with the PyPI package `psmi` 0.2.0, from fixtures it produced
//! (tests/fixtures/make_fixtures.py) with the directions we hand it, and auto
//! mode's accuracy on real data.

use psmi_std::io::{read_labels, FeatureMatrix, Input};
use psmi_std::{NEstimators, Psmi, PsmiFitter, PsmiModel};
use std::path::PathBuf;

fn fixture(case: &str, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(case)
        .join(name)
}

/// A little-endian float64 .npy file (as numpy writes the reference outputs):
/// its values and shape.
fn read_f64(case: &str, name: &str) -> (Vec<f64>, Vec<usize>) {
    let bytes = std::fs::read(fixture(case, name)).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(
        header.contains("'descr': '<f8'") && header.contains("'fortran_order': False"),
        "{header}"
    );
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape: Vec<usize> = shape_text
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let values = bytes[10 + header_len..]
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect::<Vec<_>>();
    assert_eq!(values.len(), shape.iter().product::<usize>());
    (values, shape)
}

struct Case {
    features: FeatureMatrix,
    labels: Vec<i64>,
    model: PsmiModel,
}

fn fit_reference_directions(case: &str) -> Case {
    let features = FeatureMatrix::open(&Input::parse(fixture(case, "features.npy"))).unwrap();
    let labels = read_labels(&Input::parse(fixture(case, "labels.npy"))).unwrap();
    let directions = FeatureMatrix::open(&Input::parse(fixture(case, "directions.npy"))).unwrap();
    assert_eq!(directions.cols(), features.cols());
    let x = features.features().unwrap();
    let mut fitter =
        PsmiFitter::with_directions(&directions.to_vec(), directions.cols(), None).unwrap();
    fitter.update(&x, &labels).unwrap();
    let model = fitter.finish().unwrap();
    Case {
        features,
        labels,
        model,
    }
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn max_rel_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1e-3))
        .fold(0.0, f64::max)
}

fn check_case(case: &str) {
    let Case {
        features,
        labels,
        model,
    } = fit_reference_directions(case);
    let x = features.features().unwrap();

    // Class statistics: f32 projections against the package's float64 ones.
    let (frequency, _) = read_f64(case, "frequency.npy");
    let (class_mean, shape) = read_f64(case, "class_mean.npy");
    let (class_std, _) = read_f64(case, "class_std.npy");
    assert_eq!(shape, [model.labels().len(), model.n_estimators()]);
    assert!(max_abs_diff(model.frequency(), &frequency) < 1e-15);
    let mean_err = max_rel_diff(model.mean(), &class_mean);
    let std_err = max_rel_diff(model.std(), &class_std);
    assert!(
        mean_err < 1e-4,
        "{case}: class means differ by {mean_err:e} (relative)"
    );
    assert!(
        std_err < 1e-4,
        "{case}: class stds differ by {std_err:e} (relative)"
    );

    // Per-sample PSMI, and the first rows of the full matrix.
    let scores = model.transform_with(&x, &labels, true).unwrap();
    let (mean, _) = read_f64(case, "psmi_mean.npy");
    let (std, _) = read_f64(case, "psmi_std.npy");
    let mean_err = max_abs_diff(scores.mean(), &mean);
    let std_err = max_abs_diff(scores.std(), &std);
    assert!(mean_err < 1e-3, "{case}: PSMI means differ by {mean_err:e}");
    assert!(std_err < 1e-3, "{case}: PSMI stds differ by {std_err:e}");
    let (head, head_shape) = read_f64(case, "psmi_full_head.npy");
    let m = model.n_estimators();
    let ours: Vec<f64> = scores.full().unwrap()[..head_shape[0] * m]
        .iter()
        .map(|&v| v as f64)
        .collect();
    let full_err = max_abs_diff(&ours, &head);
    assert!(
        full_err < 1e-3,
        "{case}: full PSMI matrix differs by {full_err:e}"
    );
}

#[test]
fn digits_agree_with_the_python_package() {
    check_case("digits");
}

#[test]
fn arbitrary_label_values_agree_with_the_python_package() {
    let case = fit_reference_directions("odd_labels");
    assert_eq!(case.model.labels(), &[-3, 7, 1000]);
    check_case("odd_labels");
}

/// The Python package's own bar for auto mode: against a ground truth of
/// 20 000 directions, the mean absolute difference of the per-sample mean and
/// std is below 0.01. Here on scikit-learn's digits (1797 × 64, 10 classes).
#[test]
fn auto_mode_meets_the_python_packages_accuracy_bar_on_digits() {
    let features = FeatureMatrix::open(&Input::parse(fixture("digits", "features.npy"))).unwrap();
    let labels = read_labels(&Input::parse(fixture("digits", "labels.npy"))).unwrap();
    let x = features.features().unwrap();
    let truth = Psmi::builder()
        .n_estimators(NEstimators::Fixed(20_000))
        .seed(1)
        .build()
        .unwrap()
        .fit_transform(&x, &labels)
        .unwrap()
        .1;
    let (model, auto) = Psmi::builder()
        .seed(2)
        .build()
        .unwrap()
        .fit_transform(&x, &labels)
        .unwrap();
    let report = model.auto_report().unwrap();
    assert!(report.converged, "{report:?}");
    let n = labels.len() as f64;
    let mean_mad = truth
        .mean()
        .iter()
        .zip(auto.mean())
        .map(|(a, b)| (a - b).abs())
        .sum::<f64>()
        / n;
    let std_mad = truth
        .std()
        .iter()
        .zip(auto.std())
        .map(|(a, b)| (a - b).abs())
        .sum::<f64>()
        / n;
    assert!(
        mean_mad < 0.01,
        "mean: {mean_mad} after {} directions",
        model.n_estimators()
    );
    assert!(
        std_mad < 0.01,
        "std: {std_mad} after {} directions",
        model.n_estimators()
    );
}
