//! Inputs in shards: a glob over file names (`DIR/part-*.npy`,
//! `shard-*.safetensors:hidden`), taken in natural order and concatenated by rows.

use super::array::FEATURE_DTYPES;
use super::error::{IoError, IoErrorKind};
use super::matrix::{read_labels, FeatureMatrix};
use super::names::{matches, natural_order};
use super::Input;
use crate::error::PsmiError;
use crate::features::{Check, Features};
use std::path::{Path, PathBuf};

/// The files an input names: itself when its file name holds no `*` or `?`,
/// otherwise the files of its directory whose names match, in natural order
/// (`part-2` before `part-10`), each with the input's tensor.
///
/// ```
/// use psmi_std::io::{shard_inputs, write_npy_f64, Input};
/// let dir = std::env::temp_dir().join("psmi-doc-shard-inputs");
/// std::fs::create_dir_all(&dir)?;
/// for name in ["part-10.npy", "part-2.npy", "other.npy"] {
///     write_npy_f64(dir.join(name), &[0.0])?;
/// }
/// let found = shard_inputs(&Input::parse(dir.join("part-*.npy")))?;
/// let names: Vec<_> = found.iter().map(|i| i.path().file_name().unwrap().to_owned()).collect();
/// assert_eq!(names, ["part-2.npy", "part-10.npy"]);
/// assert!(shard_inputs(&Input::parse(dir.join("none-*.npy"))).is_err());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// An [`IoError`] naming the pattern: its directory cannot be read, or no
/// file matches.
pub fn shard_inputs(input: &Input) -> Result<Vec<Input>, IoError> {
    let path = input.path();
    let Some(pattern) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(vec![input.clone()]);
    };
    if !pattern.contains(['*', '?']) {
        return Ok(vec![input.clone()]);
    }
    Ok(matching(path, pattern, false)
        .map_err(|kind| input.error(kind))?
        .into_iter()
        .map(|path| input.with_path(path))
        .collect())
}

/// The directories a glob over directory names matches (`ckpts/checkpoint-*`),
/// in natural order: the runs of a sweep.
///
/// ```
/// use psmi_std::io::matching_directories;
/// let root = std::env::temp_dir().join("psmi-doc-matching-directories");
/// for name in ["ckpt-10", "ckpt-2", "other"] {
///     std::fs::create_dir_all(root.join(name))?;
/// }
/// let found = matching_directories(&root.join("ckpt-*"))?;
/// assert_eq!(found, [root.join("ckpt-2"), root.join("ckpt-10")]);
/// # std::fs::remove_dir_all(&root)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// An [`IoError`] naming the pattern: its parent cannot be read, or no
/// directory matches.
pub fn matching_directories(pattern: &Path) -> Result<Vec<PathBuf>, IoError> {
    let name = pattern.file_name().and_then(|n| n.to_str()).unwrap_or("");
    matching(pattern, name, true).map_err(|kind| IoError::new(pattern, kind))
}

/// The entries beside `path` (directories if `dirs`, else other files) whose
/// names match `pattern`, in natural order.
fn matching(path: &Path, pattern: &str, dirs: bool) -> Result<Vec<PathBuf>, IoErrorKind> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let entries = std::fs::read_dir(&dir).map_err(IoErrorKind::Open)?;
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().is_dir() == dirs)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| matches(pattern.as_bytes(), name.as_bytes()))
        .collect();
    if names.is_empty() {
        return Err(IoErrorKind::NoMatch);
    }
    names.sort_by(|a, b| natural_order(a, b));
    Ok(names
        .into_iter()
        .map(|name| path.with_file_name(name))
        .collect())
}

/// Features read from one file or from shards of rows, each mapped in place.
///
/// ```
/// use psmi_std::io::{write_npy_f32_2d, FeatureShards, Input};
/// let dir = std::env::temp_dir().join("psmi-doc-feature-shards");
/// std::fs::create_dir_all(&dir)?;
/// write_npy_f32_2d(dir.join("x-1.npy"), 1, 2, &[1.0, 2.0])?;
/// write_npy_f32_2d(dir.join("x-2.npy"), 2, 2, &[3.0, 4.0, 5.0, 6.0])?;
/// let shards = FeatureShards::open(&Input::parse(dir.join("x-*.npy")), false)?;
/// let x = shards.features()?;
/// assert_eq!((x.rows(), x.cols(), x.shards()), (3, 2, 2));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct FeatureShards {
    shards: Vec<(Input, FeatureMatrix)>,
}

impl FeatureShards {
    /// Opens every file `input` names ([`shard_inputs`]), streamed
    /// ([`FeatureMatrix::open_streamed`]) when `streamed` is set.
    ///
    /// # Errors
    ///
    /// As [`shard_inputs`] and [`FeatureMatrix::open`], and a shard whose
    /// dimension differs from the first's, naming it.
    pub fn open(input: &Input, streamed: bool) -> Result<Self, IoError> {
        let mut shards: Vec<(Input, FeatureMatrix)> = Vec::new();
        for input in shard_inputs(input)? {
            let matrix = if streamed {
                FeatureMatrix::open_streamed(&input)?
            } else {
                FeatureMatrix::open(&input)?
            };
            if let Some((first, head)) = shards.first() {
                if matrix.cols() != head.cols() {
                    return Err(input.error(IoErrorKind::ShardDimension {
                        cols: matrix.cols(),
                        expected: head.cols(),
                        first: first.to_string(),
                    }));
                }
            }
            shards.push((input, matrix));
        }
        Ok(FeatureShards { shards })
    }

    /// The files, in order.
    pub fn inputs(&self) -> impl Iterator<Item = &Input> {
        self.shards.iter().map(|(input, _)| input)
    }

    /// Rows of each shard, in order.
    pub fn shard_rows(&self) -> impl Iterator<Item = usize> + '_ {
        self.shards.iter().map(|(_, matrix)| matrix.rows())
    }

    /// The first shard that is not read in place but converted into memory
    /// (f64, big-endian or misaligned data), and the bytes of its f32 copy.
    pub fn converted(&self) -> Option<(&Input, u64)> {
        self.shards
            .iter()
            .find(|(_, matrix)| !matrix.is_mapped())
            .map(|(input, m)| (input, (m.rows() * m.cols() * 4) as u64))
    }

    /// Rows of all shards.
    pub fn rows(&self) -> usize {
        self.shard_rows().sum()
    }

    /// The dimension.
    pub fn cols(&self) -> usize {
        self.shards[0].1.cols()
    }

    /// All shards as one [`Features`], without copying.
    ///
    /// # Errors
    ///
    /// An [`IoError`] naming the shard holding the first NaN or infinity, with
    /// its row among all rows.
    pub fn features(&self) -> Result<Features<'_>, IoError> {
        self.features_with(Check::Now)
    }

    /// All shards as one [`Features`], without copying or reading them yet:
    /// NaN and infinities are found by the first projection of every row,
    /// which reads them anyway, rather than by a pass of their own. An
    /// estimator then fails with [`PsmiError::NonFinite`], whose row is among
    /// all rows; [`Self::non_finite`] names its shard.
    ///
    /// ```
    /// # use psmi_std::io::{write_npy_f32_2d, FeatureShards, Input};
    /// # use psmi_std::{Psmi, PsmiError};
    /// # let path = std::env::temp_dir().join("psmi-doc-checked-when-projected.npy");
    /// write_npy_f32_2d(&path, 3, 2, &[1.0, 2.0, 3.0, f32::NAN, 5.0, 6.0])?;
    /// let shards = FeatureShards::open(&Input::parse(&path), false)?;
    /// let x = shards.features_checked_when_projected()?; // not read yet
    /// let found = Psmi::builder().build()?.fit(&x, &[0, 0, 1]).unwrap_err();
    /// assert!(matches!(found, PsmiError::NonFinite { row: 1, column: 1 }));
    /// assert!(shards.non_finite(1, 1).to_string().contains("psmi-doc-checked-when-projected.npy"));
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// An [`IoError`] if a shard cannot be read as features.
    pub fn features_checked_when_projected(&self) -> Result<Features<'_>, IoError> {
        self.features_with(Check::WhenProjected)
    }

    fn features_with(&self, check: Check) -> Result<Features<'_>, IoError> {
        let mut parts = Vec::with_capacity(self.shards.len());
        for (input, matrix) in &self.shards {
            let part = matrix.features_with(Check::WhenProjected);
            parts.push(part.map_err(|e| input.error(IoErrorKind::Features(e)))?);
        }
        // The dimensions were checked as the shards were opened; the values
        // are checked as one, so that a bad row is named among all rows.
        let first = &self.shards[0].0;
        let all = Features::concat(parts).map_err(|e| first.error(IoErrorKind::Features(e)))?;
        all.checked_as(check).map_err(|e| match e {
            PsmiError::NonFinite { row, column } => self.non_finite(row, column),
            other => first.error(IoErrorKind::Features(other)),
        })
    }

    /// The error for a NaN or infinity at `row` (among the rows of all
    /// shards) and `column`, naming the shard that holds it (the last, for a
    /// row past the end).
    pub fn non_finite(&self, row: usize, column: usize) -> IoError {
        let mut ends = self.shard_rows().scan(0, |end, rows| {
            *end += rows;
            Some(*end)
        });
        let shard = ends
            .position(|end| row < end)
            .unwrap_or(self.shards.len() - 1);
        self.shards[shard]
            .0
            .error(IoErrorKind::Features(PsmiError::NonFinite { row, column }))
    }

    /// Labels for these features from one file (one per row of all shards)
    /// or from as many label shards, each as long as its feature shard.
    ///
    /// # Errors
    ///
    /// As [`read_labels`]; label shards that do not line up with the feature
    /// shards, naming both files.
    pub fn labels(&self, labels: &Input) -> Result<Vec<i64>, IoError> {
        let shards: Vec<(&Input, usize)> = self
            .shards
            .iter()
            .map(|(input, matrix)| (input, matrix.rows()))
            .collect();
        shard_labels(labels, &shards)
    }
}

/// Labels for features in `shards` (each file and its rows), from one file
/// (one per row of all shards) or from as many label shards, each as long as
/// its feature shard.
///
/// ```
/// use psmi_std::io::{shard_labels, Input};
/// let missing = Input::parse("no-such-labels-*.npy");
/// let shard = Input::parse("x-1.npy");
/// assert!(shard_labels(&missing, &[(&shard, 3)]).is_err());
/// ```
///
/// # Errors
///
/// As [`read_labels`]; label shards that do not line up with the feature
/// shards, naming both files.
pub fn shard_labels(labels: &Input, shards: &[(&Input, usize)]) -> Result<Vec<i64>, IoError> {
    let inputs = shard_inputs(labels)?;
    if inputs.len() == 1 {
        return read_labels(&inputs[0]);
    }
    if inputs.len() != shards.len() {
        return Err(labels.error(IoErrorKind::ShardCount {
            labels: inputs.len(),
            features: shards.len(),
        }));
    }
    let mut all = Vec::with_capacity(shards.iter().map(|(_, rows)| rows).sum());
    for (input, &(features, rows)) in inputs.iter().zip(shards) {
        let part = read_labels(input)?;
        if part.len() != rows {
            return Err(input.error(IoErrorKind::ShardRows {
                labels: part.len(),
                rows,
                features: features.to_string(),
            }));
        }
        all.extend(part);
    }
    Ok(all)
}

/// The bytes of the arrays that the files `input` names hold: for a
/// safetensors tensor, that tensor's bytes, not the whole file's (only they
/// are read). Only the files' headers are read here.
///
/// ```
/// use psmi_std::io::{input_bytes, write_npy_f32_2d, Input};
/// let path = std::env::temp_dir().join("psmi-doc-input-bytes.npy");
/// write_npy_f32_2d(&path, 3, 2, &[0.0; 6])?;
/// assert_eq!(input_bytes(&Input::parse(&path))?, 24);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`shard_inputs`], and a file that cannot be opened or holds no such
/// array.
pub fn input_bytes(input: &Input) -> Result<u64, IoError> {
    shard_inputs(input)?
        .iter()
        .map(|input| {
            let (_, raw) = super::matrix::open(input, FEATURE_DTYPES, false)?;
            Ok(raw.byte_range().len() as u64)
        })
        .sum()
}

impl Input {
    /// The same input (tensor) in another file.
    fn with_path(&self, path: impl AsRef<Path>) -> Input {
        let path = path.as_ref().to_path_buf();
        match self {
            Input::Npy(_) => Input::Npy(path),
            Input::Safetensors { tensor, .. } => Input::Safetensors {
                path,
                tensor: tensor.clone(),
            },
        }
    }
}
