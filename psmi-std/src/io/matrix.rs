//! Features and labels read from an [`Input`].

use super::array::{to_f32, to_i64, Elem, RawArray, FEATURE_DTYPES, LABEL_DTYPES, TARGET_DTYPES};
use super::error::{IoError, IoErrorKind};
use super::pages::MappedFile;
use super::{npy, tensors, Input};
use crate::error::PsmiError;
use crate::features::{Check, Features, ReleasePages};
use psmi_core::projection::Rows;
use std::fmt;

/// Maps the input's file and finds its array, with errors naming file and
/// tensor. Only the file's header is read: the array's pages are filled in
/// when `populate` is set, and no other part of the file is read at all.
pub(super) fn open(
    input: &Input,
    supported: &'static str,
    populate: bool,
) -> Result<(MappedFile, RawArray), IoError> {
    let map = MappedFile::open(input.path()).map_err(|e| input.error(IoErrorKind::Open(e)))?;
    let raw = match input {
        Input::Npy(_) => npy::parse(&map, supported),
        Input::Safetensors { tensor, .. } => tensors::locate(&map, tensor.as_deref(), supported),
    }
    .map_err(|kind| input.error(kind))?;
    if populate {
        map.populate(raw.byte_range());
    }
    Ok((map, raw))
}

/// A row-major `rows × cols` matrix of features read from a file.
///
/// Little-endian f32, f16 and bf16 data aligned to its element size is used in
/// place, straight from the memory-mapped file (f16 and bf16 are widened to f32
/// only as the projection packs rows); any other type or byte order is
/// converted once into a `Vec<f32>`.
///
/// ```
/// use psmi_std::io::{write_npy_f32_2d, FeatureMatrix, Input};
/// let path = std::env::temp_dir().join("psmi-doc-feature-matrix.npy");
/// write_npy_f32_2d(&path, 3, 2, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])?;
/// let x = FeatureMatrix::open(&Input::parse(&path))?;
/// assert_eq!((x.rows(), x.cols()), (3, 2));
/// assert_eq!(x.to_vec()[2..4], [3.0, 4.0]);
/// assert!(x.is_mapped());
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FeatureMatrix {
    rows: usize,
    cols: usize,
    storage: Storage,
    /// Pages are dropped after use, chunk by chunk (an input larger than memory).
    streamed: bool,
}

enum Storage {
    /// `len` values of type `elem` (F32, F16 or Bf16) at byte `offset` of the
    /// map, checked aligned at construction.
    Mapped {
        map: MappedFile,
        elem: Elem,
        offset: usize,
        len: usize,
    },
    Owned(Vec<f32>),
}

impl FeatureMatrix {
    /// Reads features from an .npy file (C order; f32, f64 or f16 in either byte
    /// order) or a safetensors tensor (F32, F64, F16, BF16).
    ///
    /// # Errors
    ///
    /// An [`IoError`] naming the file (and tensor): the file cannot be opened, is not
    /// an .npy or safetensors file, is truncated, is in Fortran order, has an
    /// unsupported dtype, is not 2-D or is empty, or lacks the tensor asked for.
    ///
    /// ```
    /// use psmi_std::io::{write_npy_f64, FeatureMatrix, Input, IoErrorKind};
    /// let path = std::env::temp_dir().join("psmi-doc-open-1d.npy");
    /// write_npy_f64(&path, &[1.0, 2.0])?;
    /// let err = FeatureMatrix::open(&Input::parse(&path)).unwrap_err();
    /// assert!(matches!(err.kind(), IoErrorKind::NotMatrix { .. }));
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(input: &Input) -> Result<Self, IoError> {
        Self::open_with(input, false)
    }

    /// As [`FeatureMatrix::open`], for an input larger than the memory to
    /// spare: the file's pages are read as rows are used, and dropped from
    /// the process once a chunk of rows has been used, so the resident
    /// memory of the input stays a few chunks whatever its size. The numbers
    /// are the same.
    ///
    /// ```
    /// use psmi_std::io::{write_npy_f32_2d, FeatureMatrix, Input};
    /// let path = std::env::temp_dir().join("psmi-doc-streamed.npy");
    /// write_npy_f32_2d(&path, 2, 2, &[1.0, 2.0, 3.0, 4.0])?;
    /// let x = FeatureMatrix::open_streamed(&Input::parse(&path))?;
    /// assert_eq!(x.features()?.rows(), 2);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`FeatureMatrix::open`].
    pub fn open_streamed(input: &Input) -> Result<Self, IoError> {
        Self::open_with(input, true)
    }

    fn open_with(input: &Input, streamed: bool) -> Result<Self, IoError> {
        let (map, raw) = open(input, FEATURE_DTYPES, !streamed)?;
        if !matches!(raw.elem, Elem::F16 | Elem::Bf16 | Elem::F32 | Elem::F64) {
            return Err(input.error(IoErrorKind::UnsupportedDtype {
                found: raw.dtype_name,
                supported: FEATURE_DTYPES,
            }));
        }
        let (rows, cols) = match raw.shape[..] {
            [rows, cols] => (rows, cols),
            _ => return Err(input.error(IoErrorKind::NotMatrix { shape: raw.shape })),
        };
        if rows == 0 || cols == 0 {
            return Err(input.error(IoErrorKind::Empty { rows, cols }));
        }
        let storage = if raw.in_place(&map).is_some() {
            Storage::Mapped {
                elem: raw.elem,
                offset: raw.offset,
                len: raw.len(),
                map,
            }
        } else {
            Storage::Owned(to_f32(&raw, raw.bytes(&map)).map_err(|kind| input.error(kind))?)
        };
        Ok(FeatureMatrix {
            rows,
            cols,
            storage,
            streamed,
        })
    }

    /// Number of samples.
    ///
    /// ```
    /// # use psmi_std::io::{write_npy_f32_2d, FeatureMatrix, Input};
    /// # let path = std::env::temp_dir().join("psmi-doc-rows.npy");
    /// # write_npy_f32_2d(&path, 3, 2, &[0.0; 6])?;
    /// assert_eq!(FeatureMatrix::open(&Input::parse(&path))?.rows(), 3);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Dimension of each sample.
    ///
    /// ```
    /// # use psmi_std::io::{write_npy_f32_2d, FeatureMatrix, Input};
    /// # let path = std::env::temp_dir().join("psmi-doc-cols.npy");
    /// # write_npy_f32_2d(&path, 3, 2, &[0.0; 6])?;
    /// assert_eq!(FeatureMatrix::open(&Input::parse(&path))?.cols(), 2);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// All values, row after row (`rows × cols` of them), in their stored
    /// type.
    ///
    /// ```
    /// # use psmi_std::io::{write_npy_f32_2d, FeatureMatrix, Input};
    /// # let path = std::env::temp_dir().join("psmi-doc-values.npy");
    /// # write_npy_f32_2d(&path, 2, 2, &[1.0, 2.0, 3.0, 4.0])?;
    /// let x = FeatureMatrix::open(&Input::parse(&path))?;
    /// assert!(matches!(x.values(), psmi_std::Rows::F32(&[1.0, 2.0, 3.0, 4.0])));
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn values(&self) -> Rows<'_> {
        match &self.storage {
            // Alignment was checked when the map was made, and a map never moves.
            Storage::Mapped {
                map,
                elem,
                offset,
                len,
            } => {
                let bytes = &map[*offset..*offset + len * elem.size()];
                match elem {
                    Elem::F16 => Rows::F16(bytemuck::cast_slice(bytes)),
                    Elem::Bf16 => Rows::Bf16(bytemuck::cast_slice(bytes)),
                    _ => Rows::F32(bytemuck::cast_slice(bytes)),
                }
            }
            Storage::Owned(values) => Rows::F32(values),
        }
    }

    /// All values widened to f32, row after row (a copy).
    ///
    /// ```
    /// # use psmi_std::io::{write_npy_f32_2d, FeatureMatrix, Input};
    /// # let path = std::env::temp_dir().join("psmi-doc-slice.npy");
    /// # write_npy_f32_2d(&path, 2, 2, &[1.0, 2.0, 3.0, 4.0])?;
    /// let x = FeatureMatrix::open(&Input::parse(&path))?;
    /// assert_eq!(x.to_vec(), [1.0, 2.0, 3.0, 4.0]);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_vec(&self) -> Vec<f32> {
        let values = self.values();
        let mut out = vec![0.0f32; values.len()];
        values.widen_into(0, &mut out);
        out
    }

    /// The matrix as [`Features`] (checked finite), borrowing the map: no
    /// copy. Rows of a streamed matrix are released once used.
    ///
    /// ```
    /// # use psmi_std::io::{write_npy_f32_2d, FeatureMatrix, Input};
    /// # let path = std::env::temp_dir().join("psmi-doc-features.npy");
    /// write_npy_f32_2d(&path, 1, 2, &[1.0, f32::INFINITY])?;
    /// let x = FeatureMatrix::open(&Input::parse(&path))?;
    /// assert!(x.features().is_err());
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PsmiError::NonFinite`] naming the first NaN or infinity.
    pub fn features(&self) -> Result<Features<'_>, PsmiError> {
        self.features_with(Check::Now)
    }

    /// The values as [`Features`], checked for NaN and infinities as `check`
    /// says, borrowed from the map or from the converted copy.
    pub(crate) fn features_with(&self, check: Check) -> Result<Features<'_>, PsmiError> {
        let release = match &self.storage {
            Storage::Mapped { map, .. } if self.streamed => Some(map as &dyn ReleasePages),
            _ => None,
        };
        Features::in_place(self.values(), self.rows, self.cols, release, check)
    }

    /// Whether the values are read in place from the mapped file (no copy was made).
    ///
    /// ```
    /// # use psmi_std::io::{write_npy_f32_2d, FeatureMatrix, Input};
    /// # let path = std::env::temp_dir().join("psmi-doc-mapped.npy");
    /// write_npy_f32_2d(&path, 1, 2, &[1.0, 2.0])?;
    /// assert!(FeatureMatrix::open(&Input::parse(&path))?.is_mapped());
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_mapped(&self) -> bool {
        matches!(self.storage, Storage::Mapped { .. })
    }
}

impl fmt::Debug for FeatureMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeatureMatrix")
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("mapped", &self.is_mapped())
            .finish_non_exhaustive()
    }
}

/// Reads integer labels from an .npy file (i1 … i8, u1 … u8, either byte order) or a
/// safetensors tensor (I8 … I64, U8 … U64), as i64.
///
/// # Errors
///
/// An [`IoError`] naming the file (and tensor): as for [`FeatureMatrix::open`], or
/// labels that are not 1-D, not integers, or a u64 above `i64::MAX` (naming its row).
///
/// ```
/// use psmi_std::io::{read_labels, write_npy_f64, Input, IoErrorKind};
/// let path = std::env::temp_dir().join("psmi-doc-float-labels.npy");
/// write_npy_f64(&path, &[0.0, 1.0])?;
/// let err = read_labels(&Input::parse(&path)).unwrap_err();
/// assert!(matches!(err.kind(), IoErrorKind::UnsupportedDtype { .. }));
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_labels(input: &Input) -> Result<Vec<i64>, IoError> {
    read_integers(input, LABEL_DTYPES, false)
}

/// Reads a per-sample 0/1 target (what `psmi --against` and
/// [`crate::evaluation`] take): integers as [`read_labels`] reads them, or
/// bool (npy `|b1`, safetensors `BOOL`) as 0 and 1.
///
/// # Errors
///
/// As [`read_labels`].
///
/// ```
/// use psmi_std::io::{read_target, Input};
/// let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/io");
/// let y = read_target(&Input::parse(format!("{fixtures}/labels_i8.npy")))?;
/// assert!(!y.is_empty());
/// # Ok::<(), psmi_std::io::IoError>(())
/// ```
pub fn read_target(input: &Input) -> Result<Vec<i64>, IoError> {
    read_integers(input, TARGET_DTYPES, true)
}

/// A 1-D array of integers (and of bools, if `bools`) as i64.
fn read_integers(input: &Input, supported: &'static str, bools: bool) -> Result<Vec<i64>, IoError> {
    let (map, raw) = open(input, supported, true)?;
    let integers = match raw.elem {
        Elem::F16 | Elem::Bf16 | Elem::F32 | Elem::F64 => false,
        Elem::Bool => bools,
        _ => true,
    };
    if !integers {
        return Err(input.error(IoErrorKind::UnsupportedDtype {
            found: raw.dtype_name,
            supported,
        }));
    }
    if raw.shape.len() != 1 {
        return Err(input.error(IoErrorKind::NotVector { shape: raw.shape }));
    }
    to_i64(&raw, raw.bytes(&map)).map_err(|kind| input.error(kind))
}
