//! Inputs: a row-major feature matrix, and the mapping from labels to classes.

use crate::error::{PsmiError, Result};
use psmi_core::projection::{self, PackedDirections, Rows};
use rayon::prelude::*;
use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

/// A row-major n × d matrix of features: f32 borrowed or converted, or f16 /
/// bf16 read in place, possibly in several shards of rows (concatenated
/// without copying, each in its own type).
///
/// ```
/// use psmi_std::{Features, Rows};
/// let data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let x = Features::new(&data, 3, 2)?;
/// assert_eq!((x.rows(), x.cols()), (3, 2));
/// let y = Features::from_f64(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3, 2)?;
/// assert_eq!(x.as_slice(), y.as_slice());
/// assert!(Features::new(&[1.0, f32::NAN], 1, 2).is_err());
/// // Two rows in f32, then one in bf16 (5.0, 6.0).
/// let bf16 = [0x40A0u16, 0x40C0];
/// let z = Features::concat([
///     Features::new(&data[..4], 2, 2)?,
///     Features::from_rows(Rows::Bf16(&bf16), 1, 2)?,
/// ])?;
/// assert_eq!((z.rows(), z.cols(), z.shards()), (3, 2, 2));
/// assert_eq!(z.as_slice(), None); // no single f32 slice holds them
/// # Ok::<(), psmi_std::PsmiError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Features<'a> {
    shards: Vec<Shard<'a>>,
    rows: usize,
    cols: usize,
    /// Set while NaN and infinities are yet to be ruled out.
    pending_check: PendingCheck,
}

/// When features read from a file are checked for NaN and infinities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// At once, in a pass over them.
    Now,
    /// By the first projection of every row, which reads them anyway.
    WhenProjected,
}

/// Whether features read in place still have to be checked for NaN and
/// infinities: every projection of them checks the rows it packs (at no cost
/// of its own), until one that covered every row has found none.
#[derive(Debug)]
struct PendingCheck(AtomicBool);

impl PendingCheck {
    fn new(pending: bool) -> Self {
        PendingCheck(AtomicBool::new(pending))
    }

    fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, pending: bool) {
        self.0.store(pending, Ordering::Relaxed);
    }
}

impl Clone for PendingCheck {
    fn clone(&self) -> Self {
        PendingCheck::new(self.get())
    }
}

/// Consecutive rows in one element type.
#[derive(Clone, Debug)]
struct Shard<'a> {
    values: Values<'a>,
    /// Global index of the shard's first row.
    first_row: usize,
    rows: usize,
    /// What holds the values, when its memory is to be let go of as soon as
    /// a chunk of rows has been used (streaming).
    release: Option<&'a dyn ReleasePages>,
}

/// Memory behind features that can be let go of once rows have been used,
/// such as the pages of a mapped file (supplied by `io`): the estimator asks
/// for it chunk by chunk, knowing nothing of files. The values must read
/// the same afterwards.
pub(crate) trait ReleasePages: Sync + fmt::Debug {
    /// Lets go of the memory holding `bytes`, values that this source holds.
    fn release_pages(&self, bytes: &[u8]);
}

#[derive(Clone, Debug)]
enum Values<'a> {
    F32(Cow<'a, [f32]>),
    F16(&'a [u16]),
    Bf16(&'a [u16]),
}

impl Values<'_> {
    fn rows(&self) -> Rows<'_> {
        match self {
            Values::F32(x) => Rows::F32(x),
            Values::F16(x) => Rows::F16(x),
            Values::Bf16(x) => Rows::Bf16(x),
        }
    }
}

impl<'a> Features<'a> {
    /// Borrows `data` as `rows × cols`, after checking the shape and that
    /// every value is finite.
    ///
    /// # Errors
    ///
    /// [`PsmiError::Empty`], [`PsmiError::FeatureShape`], or
    /// [`PsmiError::NonFinite`] naming the first bad value's row and column.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Result<Self> {
        Self::checked(Values::F32(Cow::Borrowed(data)), rows, cols)
    }

    /// Converts f64 features to f32 (one copy), with the same checks as [`Features::new`].
    ///
    /// # Errors
    ///
    /// As [`Features::new`]; a finite f64 beyond the f32 range is reported as non-finite.
    pub fn from_f64(data: &[f64], rows: usize, cols: usize) -> Result<Features<'static>> {
        let converted: Vec<f32> = data.iter().map(|&v| v as f32).collect();
        Features::from_vec(converted, rows, cols)
    }

    /// Takes ownership of f32 features, with the same checks as [`Features::new`].
    ///
    /// # Errors
    ///
    /// As [`Features::new`].
    pub fn from_vec(data: Vec<f32>, rows: usize, cols: usize) -> Result<Features<'static>> {
        Features::checked(Values::F32(Cow::Owned(data)), rows, cols)
    }

    /// Borrows features of any [`Rows`] type (f16 and bf16 as bits) in
    /// place: they are widened to f32 only as rows are packed for the
    /// projection, with the same results as the widened values given as f32.
    ///
    /// ```
    /// use psmi_std::{Features, Rows};
    /// let f16 = [0x3C00u16, 0x4000, 0x7C00]; // 1.0, 2.0, +inf
    /// assert_eq!(Features::from_rows(Rows::F16(&f16[..2]), 1, 2)?.rows(), 1);
    /// assert!(Features::from_rows(Rows::F16(&f16[1..]), 1, 2).is_err());
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Features::new`].
    pub fn from_rows(data: Rows<'a>, rows: usize, cols: usize) -> Result<Self> {
        Self::checked(Values::of(data), rows, cols)
    }

    /// Features read in place from memory that `release` (which holds
    /// `data`), when given, lets go of after each use of a chunk of rows,
    /// checked for NaN and infinities as `check` says.
    pub(crate) fn in_place(
        data: Rows<'a>,
        rows: usize,
        cols: usize,
        release: Option<&'a dyn ReleasePages>,
        check: Check,
    ) -> Result<Self> {
        Self::unchecked(Values::of(data), rows, cols, release)?.checked_as(check)
    }

    /// These features, checked for NaN and infinities as `check` says.
    pub(crate) fn checked_as(self, check: Check) -> Result<Self> {
        match check {
            Check::Now => self.check_finite()?,
            Check::WhenProjected => self.pending_check.set(true),
        }
        Ok(self)
    }

    /// Concatenates features by rows, without copying: each part keeps its
    /// element type.
    ///
    /// # Errors
    ///
    /// [`PsmiError::Empty`] for no parts, [`PsmiError::ShardDimension`]
    /// naming the first part whose columns differ from the first part's.
    pub fn concat(parts: impl IntoIterator<Item = Features<'a>>) -> Result<Self> {
        let mut parts = parts.into_iter();
        let mut all = parts.next().ok_or(PsmiError::Empty {
            what: "features (no shards)",
        })?;
        for (index, part) in parts.enumerate() {
            if part.cols != all.cols {
                return Err(PsmiError::ShardDimension {
                    shard: index + 1,
                    cols: part.cols,
                    expected: all.cols,
                });
            }
            if part.pending_check.get() {
                all.pending_check = PendingCheck::new(true);
            }
            for mut shard in part.shards {
                shard.first_row = all.rows;
                all.rows += shard.rows;
                all.shards.push(shard);
            }
        }
        Ok(all)
    }

    /// One shard of values held in memory, checked at once.
    fn checked(values: Values<'a>, rows: usize, cols: usize) -> Result<Self> {
        let features = Self::unchecked(values, rows, cols, None)?;
        features.check_finite()?;
        Ok(features)
    }

    /// One shard of `rows × cols` values, of the right shape, not yet
    /// checked for NaN and infinities.
    fn unchecked(
        values: Values<'a>,
        rows: usize,
        cols: usize,
        release: Option<&'a dyn ReleasePages>,
    ) -> Result<Self> {
        if rows == 0 {
            return Err(PsmiError::Empty {
                what: "features (no rows)",
            });
        }
        if cols == 0 {
            return Err(PsmiError::Empty {
                what: "features (no columns)",
            });
        }
        let len = values.rows().len();
        if rows.checked_mul(cols) != Some(len) {
            return Err(PsmiError::FeatureShape { len, rows, cols });
        }
        let features = Features {
            shards: vec![Shard {
                values,
                first_row: 0,
                rows,
                release,
            }],
            rows,
            cols,
            pending_check: PendingCheck::new(false),
        };
        Ok(features)
    }

    /// Checks every value, naming the first NaN or infinity in row-major order.
    fn check_finite(&self) -> Result<()> {
        match self.first_non_finite() {
            Some((row, column)) => Err(PsmiError::NonFinite { row, column }),
            None => Ok(()),
        }
    }

    /// The row and column of the first non-finite value, found chunk by
    /// chunk in parallel (each chunk released after it is read, when streaming).
    fn first_non_finite(&self) -> Option<(usize, usize)> {
        let chunks = self.rows.div_ceil(CHECK_CHUNK);
        (0..chunks).into_par_iter().find_map_first(|c| {
            let range = c * CHECK_CHUNK..self.rows.min((c + 1) * CHECK_CHUNK);
            let mut bad = None;
            self.for_each_piece(range.clone(), |first_row, rows| {
                if bad.is_none() {
                    if let Err(psmi_core::Error::NonFinite { row, column }) =
                        projection::check_finite_rows(rows, self.cols)
                    {
                        bad = Some((first_row + row, column));
                    }
                }
                Ok::<(), psmi_core::Error>(())
            })
            .ok()?;
            bad
        })
    }

    /// Number of samples n.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Dimension d.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Number of shards of rows (1 unless made by [`Features::concat`]).
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// The values, row-major, when they are one f32 slice (a single f32 shard).
    pub fn as_slice(&self) -> Option<&[f32]> {
        match &self.shards[..] {
            [Shard {
                values: Values::F32(x),
                ..
            }] => Some(x),
            _ => None,
        }
    }

    /// Z = X Θᵀ for rows `range` (`z` holds `range.len() × m`), shard by
    /// shard; each row's projection does not depend on the others, so the
    /// numbers do not depend on where shards begin. Pages of a streamed
    /// shard are released once used.
    pub(crate) fn project(
        &self,
        range: Range<usize>,
        packed: &PackedDirections<'_>,
        z: &mut [f32],
        scratch: &mut [f32],
    ) -> std::result::Result<(), psmi_core::Error> {
        let (start, m) = (range.start, packed.directions());
        let check = self.pending_check.get();
        self.for_each_piece(range, |first_row, rows| {
            let local = first_row - start;
            let z = &mut z[local * m..(local + rows.len() / self.cols) * m];
            if !check {
                return projection::project_rows(rows, packed, z, scratch);
            }
            projection::project_rows_checked(rows, packed, z, scratch).map_err(|e| match e {
                psmi_core::Error::NonFinite { row, column } => psmi_core::Error::NonFinite {
                    row: first_row + row,
                    column,
                },
                e => e,
            })
        })
    }

    /// The outcome of a stage that projected every row with [`Self::project`]
    /// (the check of features read in place rides on it): if it met a NaN or
    /// infinity, the error names the first in row-major order, whichever
    /// task met one first; if it succeeded, no value is left to check.
    pub(crate) fn projected_all<T>(
        &self,
        outcome: std::result::Result<T, psmi_core::Error>,
    ) -> std::result::Result<T, psmi_core::Error> {
        match outcome {
            Err(found @ psmi_core::Error::NonFinite { .. }) => {
                Err(self.first_non_finite().map_or(found, |(row, column)| {
                    psmi_core::Error::NonFinite { row, column }
                }))
            }
            Ok(value) => {
                self.pending_check.set(false);
                Ok(value)
            }
            other => other,
        }
    }

    /// Rows `range` as features of their own, borrowing the same shards
    /// (not checked again), for work done on a chunk of
    /// rows at a time, such as a streaming fit.
    ///
    /// ```
    /// use psmi_std::Features;
    /// let x = Features::new(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3, 2)?;
    /// let tail = x.slice_rows(1..3);
    /// assert_eq!((tail.rows(), tail.as_slice()), (2, Some(&[3.0f32, 4.0, 5.0, 6.0][..])));
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    ///
    /// # Panics
    ///
    /// If `range` is not within `0..rows()` or is empty.
    pub fn slice_rows(&self, range: Range<usize>) -> Features<'_> {
        assert!(
            range.start < range.end && range.end <= self.rows,
            "rows {range:?} of {} rows",
            self.rows
        );
        let d = self.cols;
        let shards = self
            .shards
            .iter()
            .filter(|s| s.first_row < range.end && s.first_row + s.rows > range.start)
            .map(|shard| {
                let lo = range.start.max(shard.first_row) - shard.first_row;
                let hi = range.end.min(shard.first_row + shard.rows) - shard.first_row;
                let values = match &shard.values {
                    Values::F32(x) => Values::F32(Cow::Borrowed(&x[lo * d..hi * d])),
                    Values::F16(x) => Values::F16(&x[lo * d..hi * d]),
                    Values::Bf16(x) => Values::Bf16(&x[lo * d..hi * d]),
                };
                Shard {
                    values,
                    first_row: shard.first_row + lo - range.start,
                    rows: hi - lo,
                    release: shard.release,
                }
            })
            .collect();
        Features {
            shards,
            rows: range.len(),
            cols: d,
            pending_check: self.pending_check.clone(),
        }
    }

    /// Calls `work(first global row, rows)` on the part of `range` in each
    /// shard, in order, then releases those rows' pages when streaming.
    fn for_each_piece<E>(
        &self,
        range: Range<usize>,
        mut work: impl FnMut(usize, Rows<'_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let d = self.cols;
        // The first shard ending after range.start.
        let first = self
            .shards
            .partition_point(|s| s.first_row + s.rows <= range.start);
        for shard in &self.shards[first..] {
            if shard.first_row >= range.end {
                break;
            }
            let lo = range.start.max(shard.first_row) - shard.first_row;
            let hi = range.end.min(shard.first_row + shard.rows) - shard.first_row;
            let rows = shard.values.rows().slice(lo * d, hi * d);
            work(shard.first_row + lo, rows)?;
            if let Some(source) = shard.release {
                source.release_pages(bytes_of(rows));
            }
        }
        Ok(())
    }
}

/// Rows per task of the finiteness check.
const CHECK_CHUNK: usize = 1024;

/// The memory holding `rows`.
fn bytes_of<'r>(rows: Rows<'r>) -> &'r [u8] {
    match rows {
        Rows::F32(x) => bytemuck::cast_slice(x),
        Rows::F16(x) | Rows::Bf16(x) => bytemuck::cast_slice(x),
    }
}

impl<'a> Values<'a> {
    fn of(rows: Rows<'a>) -> Self {
        match rows {
            Rows::F32(x) => Values::F32(Cow::Borrowed(x)),
            Rows::F16(x) => Values::F16(x),
            Rows::Bf16(x) => Values::Bf16(x),
        }
    }
}

#[cfg(feature = "ndarray")]
impl<'a> TryFrom<ndarray::ArrayView2<'a, f32>> for Features<'a> {
    type Error = PsmiError;

    /// Borrows a standard-layout (C order) view, or copies any other layout.
    ///
    /// ```
    /// use psmi_std::Features;
    /// let a = ndarray::array![[1.0f32, 2.0], [3.0, 4.0]];
    /// let x = Features::try_from(a.view())?;
    /// assert_eq!(x.as_slice(), Some(&[1.0, 2.0, 3.0, 4.0][..]));
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    fn try_from(view: ndarray::ArrayView2<'a, f32>) -> Result<Self> {
        let (rows, cols) = view.dim();
        match view.to_slice() {
            Some(data) => Features::new(data, rows, cols),
            None => Features::from_vec(view.iter().copied().collect(), rows, cols),
        }
    }
}

#[cfg(feature = "ndarray")]
impl TryFrom<ndarray::ArrayView2<'_, f64>> for Features<'static> {
    type Error = PsmiError;

    /// Converts an f64 view to f32, row-major.
    ///
    /// ```
    /// use psmi_std::Features;
    /// let a = ndarray::array![[1.0f64, 2.0], [3.0, 4.0]];
    /// let x = Features::try_from(a.view())?;
    /// assert_eq!(x.as_slice(), Some(&[1.0, 2.0, 3.0, 4.0][..]));
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    fn try_from(view: ndarray::ArrayView2<'_, f64>) -> Result<Self> {
        let (rows, cols) = view.dim();
        Features::from_vec(view.iter().map(|&v| v as f32).collect(), rows, cols)
    }
}
