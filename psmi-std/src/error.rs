//! The error type of the estimator.

use std::path::PathBuf;

/// Everything that can go wrong in fitting, transforming, or saving and loading
/// a model. Each variant says what went wrong and where.
///
/// ```
/// use psmi_std::{Psmi, PsmiError};
/// let err = Psmi::builder().milestone(1.5).build().unwrap_err();
/// assert!(matches!(err, PsmiError::InvalidOption { option: "milestone", .. }));
/// assert_eq!(err.to_string(), "invalid option `milestone` = 1.5: must be in (0, 1)");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PsmiError {
    /// A hyper-parameter is out of its allowed range.
    #[error("invalid option `{option}` = {value}: {expected}")]
    InvalidOption {
        /// The option's name, as in the builder and the `psmi` program.
        option: &'static str,
        /// The value given.
        value: String,
        /// The allowed range.
        expected: &'static str,
    },
    /// An input has no rows or no columns.
    #[error("{what} is empty")]
    Empty {
        /// The input that is empty.
        what: &'static str,
    },
    /// The features' length is not rows × columns.
    #[error("features hold {len} values, which is not {rows} rows × {cols} columns")]
    FeatureShape {
        /// Values given.
        len: usize,
        /// Rows claimed.
        rows: usize,
        /// Columns claimed.
        cols: usize,
    },
    /// A shard of features whose dimension differs from the first shard's.
    #[error("shard {shard} has {cols} columns, the first shard has {expected}")]
    ShardDimension {
        /// Index of the shard (0 is the first).
        shard: usize,
        /// Its columns.
        cols: usize,
        /// The first shard's columns.
        expected: usize,
    },
    /// The number of labels differs from the number of feature rows.
    #[error("{labels} labels for {rows} feature rows")]
    LabelCount {
        /// Labels given.
        labels: usize,
        /// Feature rows given.
        rows: usize,
    },
    /// Features whose dimension differs from the model's.
    #[error("features have {found} columns, the model was fitted on {expected}")]
    DimensionMismatch {
        /// The model's dimension.
        expected: usize,
        /// The features' dimension.
        found: usize,
    },
    /// A NaN or infinity in the features.
    #[error("non-finite feature value at row {row}, column {column} (NaN, infinity, or beyond the f32 range)")]
    NonFinite {
        /// Row of the value.
        row: usize,
        /// Column of the value.
        column: usize,
    },
    /// A class with fewer than two samples.
    #[error("label {label} has {count} sample(s); every label needs at least 2")]
    TooFewSamples {
        /// The label.
        label: i64,
        /// Its number of samples.
        count: u64,
    },
    /// A class whose samples coincide along a direction.
    #[error(
        "label {label} has zero variance along direction {direction} (its samples coincide there)"
    )]
    ZeroVariance {
        /// The label.
        label: i64,
        /// The direction's index.
        direction: usize,
    },
    /// A label in `transform` that the model was not fitted on.
    #[error("label {label} at row {row} was not seen at fit (fitted labels: {known})")]
    UnseenLabel {
        /// The label.
        label: i64,
        /// Its row.
        row: usize,
        /// The fitted labels, listed.
        known: String,
    },
    /// Fitters or models that cannot be combined.
    #[error("incompatible: {0}")]
    Incompatible(String),
    /// A model file that cannot be read as a PSMI model.
    #[error("model file {path}: {reason}")]
    ModelFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An operating-system error on a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A failure inside the core kernels that input validation should have
    /// prevented; please report it.
    #[error("internal error: {0}")]
    Core(psmi_core::Error),
    /// The caller asked the run to stop (for example on Ctrl-C); nothing was
    /// fitted.
    #[error("interrupted{}", directions.map_or(String::new(), |m| format!(" after {m} directions")))]
    Interrupted {
        /// Directions done when the run stopped between passes of
        /// directions; `None` when it stopped within one (a streaming fit
        /// stopped between chunks of rows has every direction half done).
        directions: Option<usize>,
    },
    /// Bytes that do not hold a serialised model or fitter.
    #[error("cannot read the serialised {what}: {reason}")]
    Decode {
        /// What the bytes should hold (`model` or `fitter`).
        what: &'static str,
        /// What is wrong with them.
        reason: String,
    },
    /// The thread pool could not be started.
    #[error("cannot start {threads} threads: {reason}")]
    Threads {
        /// Threads requested.
        threads: usize,
        /// Why it failed.
        reason: String,
    },
}

impl PsmiError {
    /// Names the label (not the class index) and the global direction index
    /// in a core error about the classes of a block starting at `first_direction`.
    pub(crate) fn from_core(
        error: psmi_core::Error,
        labels: &[i64],
        first_direction: usize,
    ) -> Self {
        match error {
            psmi_core::Error::TooFewSamples { class, count } => PsmiError::TooFewSamples {
                label: labels[class],
                count,
            },
            psmi_core::Error::ZeroVariance { class, direction } => PsmiError::ZeroVariance {
                label: labels[class],
                direction: first_direction + direction,
            },
            other => other.into(),
        }
    }
}

impl From<psmi_core::Error> for PsmiError {
    fn from(error: psmi_core::Error) -> Self {
        match error {
            psmi_core::Error::NonFinite { row, column } => PsmiError::NonFinite { row, column },
            other => PsmiError::Core(other),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = PsmiError> = std::result::Result<T, E>;
