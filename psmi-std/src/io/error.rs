//! The error of every file operation: which file (and tensor), and what is wrong.

use crate::PsmiError;
use std::fmt;
use std::path::{Path, PathBuf};

/// A failed read or write, naming the file (and, for safetensors inputs, the tensor).
///
/// `Display` gives one line, `FILE[:TENSOR]: what is wrong`, fit for the `psmi`
/// program's `error:` line.
///
/// ```
/// use psmi_std::io::{FeatureMatrix, Input, IoErrorKind};
/// let err = FeatureMatrix::open(&Input::parse("no/such/file.npy")).unwrap_err();
/// assert!(matches!(err.kind(), IoErrorKind::Open(_)));
/// assert!(err.to_string().starts_with("no/such/file.npy: cannot open"));
/// assert!(err.is_input_error());
/// ```
#[derive(Debug)]
pub struct IoError {
    path: PathBuf,
    tensor: Option<String>,
    kind: IoErrorKind,
}

impl IoError {
    /// The error `kind` about the file `path`: also for callers that write files of
    /// their own (the `psmi` program's output directory), so that one rule,
    /// [`IoError::is_input_error`], classes every file error.
    ///
    /// ```
    /// use psmi_std::io::{IoError, IoErrorKind};
    /// let err = IoError::new("out", IoErrorKind::NotADirectory);
    /// assert_eq!(err.to_string(), "out: exists and is not a directory");
    /// assert!(!err.is_input_error());
    /// ```
    pub fn new(path: impl Into<PathBuf>, kind: IoErrorKind) -> Self {
        IoError {
            path: path.into(),
            tensor: None,
            kind,
        }
    }

    pub(crate) fn in_tensor(mut self, tensor: Option<&str>) -> Self {
        self.tensor = tensor.map(str::to_owned);
        self
    }

    /// The file at fault.
    ///
    /// ```
    /// use psmi_std::io::{read_labels, Input};
    /// let err = read_labels(&Input::parse("missing.npy")).unwrap_err();
    /// assert_eq!(err.path(), std::path::Path::new("missing.npy"));
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The safetensors tensor at fault, if the error concerns one.
    ///
    /// ```
    /// use psmi_std::io::{read_labels, Input};
    /// let err = read_labels(&Input::parse("missing.safetensors:y")).unwrap_err();
    /// assert_eq!(err.tensor(), Some("y"));
    /// ```
    pub fn tensor(&self) -> Option<&str> {
        self.tensor.as_deref()
    }

    /// What is wrong.
    ///
    /// ```
    /// use psmi_std::io::{read_labels, Input, IoErrorKind};
    /// let err = read_labels(&Input::parse("missing.npy")).unwrap_err();
    /// assert!(matches!(err.kind(), IoErrorKind::Open(_)));
    /// ```
    pub fn kind(&self) -> &IoErrorKind {
        &self.kind
    }

    /// Whether the fault lies in an input (exit status 2 in the `psmi` program) rather
    /// than in writing the results.
    ///
    /// ```
    /// use psmi_std::io::write_npy_f64;
    /// let dir = std::env::temp_dir().join("psmi-doc-no-such-dir");
    /// let err = write_npy_f64(dir.join("x/y.npy"), &[1.0]).unwrap_err();
    /// assert!(!err.is_input_error());
    /// ```
    pub fn is_input_error(&self) -> bool {
        !matches!(
            self.kind,
            IoErrorKind::Write(_)
                | IoErrorKind::Output(_)
                | IoErrorKind::NotADirectory
                | IoErrorKind::Length { .. }
        )
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(tensor) = &self.tensor {
            write!(f, ":{tensor}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

// The kind's text already includes any underlying `std::io::Error`, so no `source()`:
// reporters that walk the chain would print it twice.
impl std::error::Error for IoError {}

/// What went wrong in an [`IoError`].
///
/// ```
/// use psmi_std::io::IoErrorKind;
/// let kind = IoErrorKind::LabelOverflow { row: 2, value: u64::MAX };
/// assert_eq!(
///     kind.to_string(),
///     "the label at row 2 is 18446744073709551615, above the largest i64"
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IoErrorKind {
    /// The file is missing or cannot be opened or mapped.
    #[error("cannot open: {0}")]
    Open(std::io::Error),
    /// The file is not an .npy file, or its header is malformed.
    #[error("not a valid .npy file: {0}")]
    NotNpy(String),
    /// The file is not a valid safetensors file.
    #[error("not a valid safetensors file: {0}")]
    NotSafetensors(String),
    /// The file ends before the header or the data it announces.
    #[error("truncated file: {0}")]
    Truncated(String),
    /// An .npy array stored in Fortran (column-major) order.
    #[error(
        "Fortran-order (column-major) array; save a C-order one, e.g. np.save(path, np.ascontiguousarray(x))"
    )]
    FortranOrder,
    /// An element type this input cannot take.
    #[error("unsupported dtype {found}; supported: {supported}")]
    UnsupportedDtype {
        /// The dtype as the file spells it.
        found: String,
        /// The dtypes this input accepts.
        supported: &'static str,
    },
    /// Features that are not a 2-D array.
    #[error("features must be 2-D (samples, dimensions), found shape {shape:?}")]
    NotMatrix {
        /// The array's shape.
        shape: Vec<usize>,
    },
    /// Labels that are not a 1-D array.
    #[error("labels must be 1-D (samples,), found shape {shape:?}")]
    NotVector {
        /// The array's shape.
        shape: Vec<usize>,
    },
    /// Features with no rows or no columns.
    #[error("features are empty: shape ({rows}, {cols})")]
    Empty {
        /// Rows in the file.
        rows: usize,
        /// Columns in the file.
        cols: usize,
    },
    /// A safetensors tensor name that the file does not hold.
    #[error("no tensor of that name; the file holds: {}", listing(available))]
    TensorNotFound {
        /// The tensors the file holds, sorted.
        available: Vec<String>,
    },
    /// A tensor pattern that no tensor of the file matches.
    #[error(
        "no tensor matches this pattern; the file holds: {}",
        listing(available)
    )]
    NoTensorMatches {
        /// The tensors the file holds, sorted.
        available: Vec<String>,
    },
    /// A layer whose number of rows differs from the first layer's.
    #[error(
        "{rows} rows, but layer {first} has {first_rows}; every layer needs one row per label"
    )]
    LayerRows {
        /// This layer's rows.
        rows: usize,
        /// The first layer's name.
        first: String,
        /// The first layer's rows.
        first_rows: usize,
    },
    /// A safetensors input given without `:TENSOR`.
    #[error(
        "name the tensor as FILE.safetensors:TENSOR; the file holds: {}",
        listing(available)
    )]
    TensorNameMissing {
        /// The tensors the file holds, sorted.
        available: Vec<String>,
    },
    /// An unsigned 64-bit label too large for `i64`.
    #[error("the label at row {row} is {value}, above the largest i64")]
    LabelOverflow {
        /// Row of the label (0-based).
        row: usize,
        /// Its value.
        value: u64,
    },
    /// A writer given data whose length does not match the shape.
    #[error("{len} values cannot form a {rows} × {cols} array")]
    Length {
        /// Values given.
        len: usize,
        /// Rows asked for.
        rows: usize,
        /// Columns asked for.
        cols: usize,
    },
    /// A glob of shards that matches no file.
    #[error("no file matches this pattern")]
    NoMatch,
    /// A shard whose dimension differs from the first shard's.
    #[error("shard has {cols} columns, the first shard ({first}) has {expected}")]
    ShardDimension {
        /// Its columns.
        cols: usize,
        /// The first shard's columns.
        expected: usize,
        /// The first shard.
        first: String,
    },
    /// A shard of layers whose layers are not the first shard's.
    #[error("its layers differ from those of the first shard ({first}): {difference}")]
    ShardLayers {
        /// The first shard.
        first: String,
        /// What differs, naming the layer.
        difference: String,
    },
    /// Label shards that are not as many as the feature shards.
    #[error("{labels} label shards for {features} feature shards")]
    ShardCount {
        /// Label shards found.
        labels: usize,
        /// Feature shards found.
        features: usize,
    },
    /// A label shard whose length differs from its feature shard's rows.
    #[error("{labels} labels for the {rows} rows of {features}")]
    ShardRows {
        /// Labels in the shard.
        labels: usize,
        /// Rows of the feature shard.
        rows: usize,
        /// The feature shard.
        features: String,
    },
    /// Features the estimator refuses, such as a NaN or infinity
    /// ([`PsmiError::NonFinite`], its row among the rows of all shards).
    #[error("{0}")]
    Features(PsmiError),
    /// Writing an output file failed.
    #[error("cannot write: {0}")]
    Write(std::io::Error),
    /// Creating, filling or committing the output directory failed.
    #[error("cannot write the output directory: {0}")]
    Output(std::io::Error),
    /// The output path exists and is not a directory.
    #[error("exists and is not a directory")]
    NotADirectory,
}

/// Tensor names an error lists: a checkpoint can hold thousands, which would not
/// make one readable line.
const LISTED: usize = 20;

/// The first [`LISTED`] names, and how many more there are.
fn listing(names: &[String]) -> String {
    let shown = names[..names.len().min(LISTED)].join(", ");
    match names.len().checked_sub(LISTED) {
        Some(more) if more > 0 => format!("{shown}, and {more} more"),
        _ => shown,
    }
}
