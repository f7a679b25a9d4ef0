//! The rules of a sweep over runs (checkpoints of a model) × layers, apart
//! from files and flags: which runs can be compared, and each sample's change
//! against the first run. The `psmi` program's `--runs` and, later, the
//! Python package's sweep call these rather than restating them.
//!
//! ```
//! use psmi_std::sweep::{check_layers, check_samples, delta_mean};
//! let layers = ["l.8".to_string(), "l.16".to_string()];
//! check_layers(&[("ckpt-1", &layers[..]), ("ckpt-2", &layers[..])])?;
//! check_samples(("ckpt-1", &[3, 5, 3]), ("ckpt-2", &[3, 5, 3]))?;
//! assert_eq!(delta_mean(&[0.5, 1.0], &[0.25, 2.0]), [0.25, -1.0]);
//! # Ok::<(), psmi_std::sweep::SweepError>(())
//! ```

/// Runs that cannot be compared, naming the runs, the layer or the row.
///
/// ```
/// use psmi_std::sweep::{check_samples, SweepError};
/// let err = check_samples(("a", &[1, 2]), ("b", &[1, 2, 3])).unwrap_err();
/// assert_eq!(err.to_string(), "run b has 3 samples, run a has 2; every run needs the same samples");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SweepError {
    /// A layer that one run has and another lacks.
    #[error(
        "run {run} has no layer {layer}, which run {other} has; every run needs the same layers"
    )]
    MissingLayer {
        /// The run without the layer.
        run: String,
        /// The layer.
        layer: String,
        /// A run that has it.
        other: String,
    },
    /// A run whose number of samples differs from the first run's.
    #[error("run {run} has {samples} samples, run {first} has {first_samples}; every run needs the same samples")]
    SampleCount {
        /// The run.
        run: String,
        /// Its samples.
        samples: usize,
        /// The first run.
        first: String,
        /// The first run's samples.
        first_samples: usize,
    },
    /// A run whose label of a sample differs from the first run's.
    #[error("run {run} labels row {row} {label}, run {first} labels it {first_label}; every run needs the same labels")]
    Labels {
        /// The run.
        run: String,
        /// The row.
        row: usize,
        /// Its label there.
        label: i64,
        /// The first run.
        first: String,
        /// The first run's label there.
        first_label: i64,
    },
}

/// Checks that every run has the same layers (names, in any order), naming
/// the first run that lacks one another run has.
///
/// # Errors
///
/// [`SweepError::MissingLayer`].
///
/// ```
/// use psmi_std::sweep::check_layers;
/// let (all, fewer) = (["a".to_string(), "b".to_string()], ["a".to_string()]);
/// let err = check_layers(&[("r1", &all[..]), ("r2", &fewer[..])]).unwrap_err();
/// assert!(err.to_string().starts_with("run r2 has no layer b, which run r1 has"));
/// ```
pub fn check_layers(runs: &[(&str, &[String])]) -> Result<(), SweepError> {
    for &(run, layers) in runs {
        for &(other, other_layers) in runs {
            if let Some(layer) = other_layers.iter().find(|l| !layers.contains(l)) {
                return Err(SweepError::MissingLayer {
                    run: run.to_owned(),
                    layer: layer.clone(),
                    other: other.to_owned(),
                });
            }
        }
    }
    Ok(())
}

/// Checks that `run` (name, labels) has the samples of `first`: as many, with
/// the same labels row for row, so that the deltas compare like with like.
///
/// # Errors
///
/// [`SweepError::SampleCount`] or [`SweepError::Labels`] naming the first
/// differing row.
///
/// ```
/// use psmi_std::sweep::{check_samples, SweepError};
/// let err = check_samples(("a", &[1, 2, 3]), ("b", &[1, 2, 4])).unwrap_err();
/// assert!(matches!(err, SweepError::Labels { row: 2, label: 4, first_label: 3, .. }));
/// ```
pub fn check_samples(first: (&str, &[i64]), run: (&str, &[i64])) -> Result<(), SweepError> {
    let ((first, first_labels), (run, labels)) = (first, run);
    if labels.len() != first_labels.len() {
        return Err(SweepError::SampleCount {
            run: run.to_owned(),
            samples: labels.len(),
            first: first.to_owned(),
            first_samples: first_labels.len(),
        });
    }
    match labels.iter().zip(first_labels).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(row) => Err(SweepError::Labels {
            run: run.to_owned(),
            row,
            label: labels[row],
            first: first.to_owned(),
            first_label: first_labels[row],
        }),
    }
}

/// Each sample's change of mean PSMI against the first run: `mean − first`.
///
/// ```
/// use psmi_std::sweep::delta_mean;
/// assert_eq!(delta_mean(&[1.0, -1.0], &[1.0, 0.5]), [0.0, -1.5]);
/// ```
///
/// # Panics
///
/// If the two are not as long (a sweep checks its runs with
/// [`check_samples`] first).
pub fn delta_mean(mean: &[f64], first: &[f64]) -> Vec<f64> {
    assert_eq!(mean.len(), first.len(), "runs of different samples");
    mean.iter().zip(first).map(|(m, f)| m - f).collect()
}
