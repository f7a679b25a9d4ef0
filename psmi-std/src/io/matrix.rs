//! Features and labels read from an [`Input`].

use super::array::{map_file, to_f32, to_i64, Elem, RawArray, FEATURE_DTYPES, LABEL_DTYPES};
use super::error::{IoError, IoErrorKind};
use super::{npy, tensors, Input};
use memmap2::Mmap;
use std::fmt;

/// Maps the input's file and finds its array, with errors naming file and tensor.
fn open(input: &Input, supported: &'static str) -> Result<(Mmap, RawArray), IoError> {
    let map = map_file(input.path(), true).map_err(|e| input.error(IoErrorKind::Open(e)))?;
    let raw = match input {
        Input::Npy(_) => npy::parse(&map, supported),
        Input::Safetensors { tensor, .. } => tensors::locate(&map, tensor.as_deref(), supported),
    };
    raw.map(|raw| (map, raw)).map_err(|kind| input.error(kind))
}

/// A row-major `rows × cols` matrix of f32 features read from a file.
///
/// Little-endian f32 data aligned to 4 bytes is used in place, straight from the
/// memory-mapped file; any other type or byte order is converted once into a `Vec<f32>`.
///
/// ```
/// use psmi_std::io::{write_npy_f32_2d, FeatureMatrix, Input};
/// let path = std::env::temp_dir().join("psmi-doc-feature-matrix.npy");
/// write_npy_f32_2d(&path, 3, 2, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])?;
/// let x = FeatureMatrix::open(&Input::parse(&path))?;
/// assert_eq!((x.rows(), x.cols()), (3, 2));
/// assert_eq!(x.row(1), &[3.0, 4.0]);
/// assert!(x.is_mapped());
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FeatureMatrix {
    rows: usize,
    cols: usize,
    storage: Storage,
}

enum Storage {
    /// `len` f32 values at byte `offset` of the map, checked aligned at construction.
    Mapped {
        map: Mmap,
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
        let (map, raw) = open(input, FEATURE_DTYPES)?;
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
        let storage = if raw.f32_in_place(&map).is_some() {
            Storage::Mapped {
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

    /// All values, row after row (`rows × cols` of them).
    ///
    /// ```
    /// # use psmi_std::io::{write_npy_f32_2d, FeatureMatrix, Input};
    /// # let path = std::env::temp_dir().join("psmi-doc-slice.npy");
    /// # write_npy_f32_2d(&path, 2, 2, &[1.0, 2.0, 3.0, 4.0])?;
    /// let x = FeatureMatrix::open(&Input::parse(&path))?;
    /// assert_eq!(x.as_slice(), &[1.0, 2.0, 3.0, 4.0]);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_slice(&self) -> &[f32] {
        match &self.storage {
            // Alignment was checked when the map was made, and a map never moves.
            Storage::Mapped { map, offset, len } => {
                bytemuck::cast_slice(&map[*offset..*offset + len * 4])
            }
            Storage::Owned(values) => values,
        }
    }

    /// Row `i` (`cols` values); an empty slice past the last row.
    ///
    /// ```
    /// # use psmi_std::io::{write_npy_f32_2d, FeatureMatrix, Input};
    /// # let path = std::env::temp_dir().join("psmi-doc-row.npy");
    /// # write_npy_f32_2d(&path, 2, 2, &[1.0, 2.0, 3.0, 4.0])?;
    /// let x = FeatureMatrix::open(&Input::parse(&path))?;
    /// assert_eq!(x.row(1), &[3.0, 4.0]);
    /// assert!(x.row(2).is_empty());
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn row(&self, i: usize) -> &[f32] {
        let start = i.saturating_mul(self.cols);
        self.as_slice()
            .get(start..start.saturating_add(self.cols))
            .unwrap_or(&[])
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
    let (map, raw) = open(input, LABEL_DTYPES)?;
    if matches!(raw.elem, Elem::F16 | Elem::Bf16 | Elem::F32 | Elem::F64) {
        return Err(input.error(IoErrorKind::UnsupportedDtype {
            found: raw.dtype_name,
            supported: LABEL_DTYPES,
        }));
    }
    if raw.shape.len() != 1 {
        return Err(input.error(IoErrorKind::NotVector { shape: raw.shape }));
    }
    to_i64(&raw, raw.bytes(&map)).map_err(|kind| input.error(kind))
}
