//! Scoring a stream, one sample at a time, with no m × d directions held.
//!
//! A fitted model is its seed, its [`Scheme`] and k × m class parameters.
//! [`StreamScorer`] scores one incoming sample by drawing each direction again
//! from `(seed, scheme, j)` as it goes, projecting the sample on it, and
//! scoring the projections with the batch kernel ([`scoring`]) in small
//! groups, folded into the sample's [`Moments`] over the m directions. It
//! needs, besides the [`ScoringTable`] (3km + k f32):
//!
//! - for [`Scheme::Iid`], one direction: [`rows_len`] = d f32, and no f64 scratch;
//! - for frames of f rows, one whole frame (a frame is formed at once):
//!   [`rows_len`] = f·d f32, and [`scratch_len`] = f·d + 2f + 8d f64 for its QR;
//! - or, when there is room, the m × d directions themselves, drawn once by
//!   [`directions::fill`], which skips drawing them again for every sample:
//!   as plain rows ([`StreamScorer::cached`]), or packed for the projection
//!   kernel ([`StreamScorer::packed`], which also needs m f32 for the
//!   projections and [`projection::scratch_len`]), the fastest on a CPU with
//!   wide vectors.
//!
//! [`LowestScores`] keeps the K samples of lowest mean PSMI seen so far (the
//! most suspicious: their label explains them least) in a fixed-capacity heap.
//!
//! ```
//! use psmi_core::directions::Scheme;
//! use psmi_core::scoring::{table_len, ScoringTable};
//! use psmi_core::stream::{rows_len, scratch_len, LowestScores, StreamScorer};
//! use psmi_core::Kernels;
//!
//! // A fitted model: two classes along M directions of D features.
//! const D: usize = 5; const M: usize = 7; const K: usize = 2;
//! const SCHEME: Scheme = Scheme::Orthogonal { frame: 3 };
//! let (seed, frequency) = (17, [0.5, 0.5]);
//! let mut mean = [0.0f64; K * M];
//! mean[M..].fill(1.0);
//! let std = [0.5f64; K * M];
//!
//! let mut table_buf = [0.0f32; table_len(K, M)];
//! let table = ScoringTable::new(K, M, &frequency, &mean, &std, &mut table_buf)?;
//! let mut rows = [0.0f32; rows_len(SCHEME, D)];
//! let mut scratch = [0.0f64; scratch_len(SCHEME, D)];
//! let mut scorer = StreamScorer::new(Kernels::compiled(), table, seed, SCHEME, D, &mut rows, &mut scratch)?;
//!
//! // Samples arrive one by one; keep the two least explained by their label.
//! let mut lowest = LowestScores::<2>::new();
//! for i in 0..10u64 {
//!     let sample = [i as f32 * 0.1; D];
//!     let class = (i % 2) as u32;
//!     let score = scorer.score(&sample, class)?;
//!     assert_eq!(score.count, M as u64);
//!     lowest.push(i, score.mean);
//! }
//! let worst = lowest.sorted();
//! assert_eq!(worst.len(), 2);
//! assert!(worst[0].mean <= worst[1].mean);
//! # Ok::<(), psmi_core::Error>(())
//! ```

use crate::directions::{self, Scheme};
use crate::dispatch::Kernels;
use crate::dot::dot;
use crate::error::{ensure_len, ensure_shape, Error};
use crate::projection::{self, check_finite, PackedDirections};
use crate::scoring::{self, ScoringTable};
use crate::statistics::{two_pass, Moments};
use core::cmp::Ordering;
use heapless::binary_heap::{BinaryHeap, Max};

/// Directions scored together: the widest vector the scoring kernels use
/// (two AVX-512 registers), so every group but the last is whole vectors.
const GROUP: usize = 32;

/// Length of the f32 rows [`StreamScorer::new`] needs: one direction (`dim`)
/// for [`Scheme::Iid`], one frame (`frame · dim`) for [`Scheme::Orthogonal`].
///
/// ```
/// use psmi_core::{directions::Scheme, stream::rows_len};
/// assert_eq!(rows_len(Scheme::Iid, 100), 100);
/// assert_eq!(rows_len(Scheme::Orthogonal { frame: 8 }, 100), 800);
/// ```
pub const fn rows_len(scheme: Scheme, dim: usize) -> usize {
    match scheme {
        Scheme::Iid => dim,
        Scheme::Orthogonal { frame } => frame * dim,
    }
}

/// Length of the f64 scratch [`StreamScorer::new`] needs: that of
/// [`directions::scratch_len`] (0 for [`Scheme::Iid`], a frame's QR otherwise).
///
/// ```
/// use psmi_core::{directions::Scheme, stream::scratch_len};
/// assert_eq!(scratch_len(Scheme::Iid, 100), 0);
/// assert_eq!(scratch_len(Scheme::Orthogonal { frame: 8 }, 100), 8 * 100 + 2 * 8 + 8 * 100);
/// ```
pub const fn scratch_len(scheme: Scheme, dim: usize) -> usize {
    directions::scratch_len(scheme, dim)
}

/// Scores one sample at a time against a fitted model: its PSMI mean and
/// spread over the model's m directions, equal to the batch path's within
/// f32 rounding of the projections (see the [module](self) documentation).
///
/// ```
/// use psmi_core::{directions::{fill, Scheme}, scoring::{table_len, ScoringTable}};
/// use psmi_core::{stream::StreamScorer, Kernels};
/// // One class-0 sample along 3 directions drawn once and held.
/// let (kernels, dim) = (Kernels::compiled(), 4);
/// let mut theta = [0.0f32; 3 * 4];
/// fill(kernels, 5, Scheme::Iid, 0, dim, &mut theta, &mut [])?;
/// let mut buf = [0.0f32; table_len(2, 3)];
/// let table = ScoringTable::new(2, 3, &[0.5, 0.5], &[0.0, 0.0, 0.0, 9.0, 9.0, 9.0], &[1.0; 6], &mut buf)?;
/// let mut scorer = StreamScorer::cached(kernels, table, dim, &theta)?;
/// let score = scorer.score(&[0.1, -0.2, 0.0, 0.3], 0)?;
/// // Near class 0, far from class 1: PSMI ≈ ln 2 along every direction.
/// assert!((score.mean - 2f64.ln()).abs() < 1e-3 && score.std() < 1e-3);
/// # Ok::<(), psmi_core::Error>(())
/// ```
#[derive(Debug)]
pub struct StreamScorer<'a> {
    kernels: Kernels,
    table: ScoringTable<'a>,
    dim: usize,
    source: Source<'a>,
}

/// Where the scorer's directions come from.
#[derive(Debug)]
enum Source<'a> {
    /// One row at a time.
    Rows(Rows<'a>),
    /// All m directions, packed for the projection kernel, and room for the
    /// sample's m projections.
    Packed {
        packed: PackedDirections<'a>,
        projections: &'a mut [f32],
        scratch: &'a mut [f32],
    },
}

/// Directions read one row at a time.
#[derive(Debug)]
enum Rows<'a> {
    /// Drawn again for every sample: `rows` holds one direction or frame.
    Drawn {
        seed: u64,
        scheme: Scheme,
        rows: &'a mut [f32],
        scratch: &'a mut [f64],
    },
    /// All m × d directions, held by the caller.
    Cached(&'a [f32]),
}

impl<'a> StreamScorer<'a> {
    /// A scorer that draws direction j of `(seed, scheme)` again for every
    /// sample, in `rows` (at least [`rows_len`]) and `scratch` (at least
    /// [`scratch_len`]); `table` gives the number of directions m.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyInput`] for `dim` 0, [`Error::FrameSize`] for a frame of
    /// 0 or more than `dim` rows, [`Error::BufferTooSmall`] for short `rows`
    /// or `scratch`.
    pub fn new(
        kernels: Kernels,
        table: ScoringTable<'a>,
        seed: u64,
        scheme: Scheme,
        dim: usize,
        rows: &'a mut [f32],
        scratch: &'a mut [f64],
    ) -> Result<Self, Error> {
        scheme.check(dim)?;
        ensure_len("rows", rows, rows_len(scheme, dim))?;
        ensure_len("scratch", scratch, scratch_len(scheme, dim))?;
        Ok(StreamScorer {
            kernels,
            table,
            dim,
            source: Source::Rows(Rows::Drawn {
                seed,
                scheme,
                rows,
                scratch,
            }),
        })
    }

    /// A scorer over directions held by the caller: row-major m × `dim`, as
    /// [`directions::fill`] draws them from the model's seed and scheme.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyInput`] for `dim` 0, [`Error::ShapeMismatch`] unless
    /// `directions` holds `table.directions()` rows of `dim`.
    pub fn cached(
        kernels: Kernels,
        table: ScoringTable<'a>,
        dim: usize,
        directions: &'a [f32],
    ) -> Result<Self, Error> {
        if dim == 0 {
            return Err(Error::EmptyInput { what: "dim" });
        }
        ensure_shape("directions", directions, table.directions() * dim)?;
        Ok(StreamScorer {
            kernels,
            table,
            dim,
            source: Source::Rows(Rows::Cached(directions)),
        })
    }

    /// A scorer over directions packed by [`projection::pack_directions`]
    /// (from rows drawn by [`directions::fill`]): it projects each sample on
    /// all of them at once with the projection kernel, into `projections`
    /// (at least m) with `scratch` (at least [`projection::scratch_len`] for
    /// the packed kernels).
    ///
    /// ```
    /// use psmi_core::{directions::{fill, Scheme}, projection, scoring::{table_len, ScoringTable}};
    /// use psmi_core::{stream::StreamScorer, Kernels};
    /// let (kernels, dim) = (Kernels::compiled(), 4);
    /// let mut theta = [0.0f32; 3 * 4];
    /// fill(kernels, 5, Scheme::Iid, 0, dim, &mut theta, &mut [])?;
    /// let mut packed_buf = [0.0f32; 1024];
    /// let packed = projection::pack_directions(kernels, &theta, dim, &mut packed_buf)?;
    /// let (mut projections, mut scratch) = ([0.0f32; 3], [0.0f32; 4096]);
    /// let mut buf = [0.0f32; table_len(2, 3)];
    /// let table = ScoringTable::new(2, 3, &[0.5, 0.5], &[0.0, 0.0, 0.0, 9.0, 9.0, 9.0], &[1.0; 6], &mut buf)?;
    /// let mut scorer = StreamScorer::packed(kernels, table, packed, &mut projections, &mut scratch)?;
    /// let score = scorer.score(&[0.1, -0.2, 0.0, 0.3], 0)?;
    /// assert!((score.mean - 2f64.ln()).abs() < 1e-3);
    /// # Ok::<(), psmi_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::ShapeMismatch`] unless `packed` holds `table.directions()`
    /// directions, [`Error::BufferTooSmall`] for short `projections` or `scratch`.
    pub fn packed(
        kernels: Kernels,
        table: ScoringTable<'a>,
        packed: PackedDirections<'a>,
        projections: &'a mut [f32],
        scratch: &'a mut [f32],
    ) -> Result<Self, Error> {
        let m = table.directions();
        if packed.directions() != m {
            return Err(Error::ShapeMismatch {
                what: "packed directions",
                expected: m,
                found: packed.directions(),
            });
        }
        ensure_len("projections", projections, m)?;
        let dim = packed.dim();
        ensure_len(
            "projection scratch",
            scratch,
            projection::scratch_len(packed.kernels(), dim),
        )?;
        Ok(StreamScorer {
            kernels,
            table,
            dim,
            source: Source::Packed {
                packed,
                projections,
                scratch,
            },
        })
    }

    /// The moments of `sample`'s PSMI over the m directions, for its class
    /// index `class`: `mean` and `std()` (population) are what the batch
    /// path reports for the sample.
    ///
    /// # Errors
    ///
    /// [`Error::ShapeMismatch`] unless `sample` holds `dim` values,
    /// [`Error::NonFinite`] (row 0) naming the first non-finite feature,
    /// [`Error::LabelOutOfRange`] (row 0) for a class ≥ `table.classes()`.
    pub fn score(&mut self, sample: &[f32], class: u32) -> Result<Moments, Error> {
        ensure_shape("sample", sample, self.dim)?;
        check_finite(sample, self.dim)?;
        let m = self.table.directions();
        if class as usize >= self.table.classes() {
            return Err(Error::LabelOutOfRange {
                row: 0,
                label: class,
                classes: self.table.classes(),
            });
        }
        let (kernels, table) = (self.kernels, &self.table);
        // Scores `span`, the projections on directions `first ..`, in place,
        // and merges their moments into `summary`.
        let fold = |summary: Moments, first: usize, span: &mut [f32]| {
            scoring::score_span(kernels, table, class, first, span)?;
            Ok::<_, Error>(summary.merge(two_pass(span)))
        };
        let mut summary = Moments::default();
        match &mut self.source {
            Source::Packed {
                packed,
                projections,
                scratch,
            } => {
                let z = &mut projections[..m];
                projection::project(sample, packed, z, scratch)?;
                for (first, span) in (0..m).step_by(GROUP).zip(z.chunks_mut(GROUP)) {
                    summary = fold(summary, first, span)?;
                }
            }
            Source::Rows(rows) => {
                let mut group = [0.0f32; GROUP];
                for first in (0..m).step_by(GROUP) {
                    let span = &mut group[..GROUP.min(m - first)];
                    for (j, z) in (first..).zip(span.iter_mut()) {
                        *z = dot(sample, rows.direction(kernels, self.dim, m, j)?);
                    }
                    summary = fold(summary, first, span)?;
                }
            }
        }
        Ok(summary)
    }
}

impl Rows<'_> {
    /// Direction j of m, drawing its frame when j starts one.
    fn direction(
        &mut self,
        kernels: Kernels,
        dim: usize,
        m: usize,
        j: usize,
    ) -> Result<&[f32], Error> {
        match self {
            Rows::Cached(theta) => Ok(&theta[j * dim..(j + 1) * dim]),
            Rows::Drawn {
                seed,
                scheme: Scheme::Iid,
                rows,
                ..
            } => {
                let row = &mut rows[..dim];
                directions::fill_directions(*seed, j, dim, row)?;
                Ok(row)
            }
            Rows::Drawn {
                seed,
                scheme: Scheme::Orthogonal { frame },
                rows,
                scratch,
            } => {
                let frame = *frame;
                let (start, row) = (j - j % frame, j % frame);
                if row == 0 {
                    let count = frame.min(m - start);
                    let block = &mut rows[..count * dim];
                    let scheme = Scheme::Orthogonal { frame };
                    directions::fill(kernels, *seed, scheme, start, dim, block, scratch)?;
                }
                Ok(&rows[row * dim..(row + 1) * dim])
            }
        }
    }
}

/// A sample kept by [`LowestScores`]: the caller's index and its mean PSMI.
///
/// ```
/// use psmi_core::stream::{LowestScores, Suspect};
/// let mut lowest = LowestScores::<1>::new();
/// lowest.push(7, -0.25);
/// assert_eq!(lowest.sorted()[0], Suspect { index: 7, mean: -0.25 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Suspect {
    /// The index the caller gave the sample.
    pub index: u64,
    /// Its mean PSMI over the directions.
    pub mean: f64,
}

impl Suspect {
    /// Lower mean first, then lower index: a total order (by
    /// [`f64::total_cmp`], so a NaN mean ranks above every number).
    fn rank(&self, other: &Self) -> Ordering {
        self.mean
            .total_cmp(&other.mean)
            .then(self.index.cmp(&other.index))
    }
}

/// [`Suspect`]s ordered by [`Suspect::rank`], for the heap.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Ranked(Suspect);

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.rank(&other.0)
    }
}

/// The `K` samples of lowest mean PSMI pushed so far, in fixed memory (a
/// max-heap of `K` entries, its top the first to leave). Equal means keep
/// the lower index, so the result does not depend on the order of pushes.
///
/// ```
/// use psmi_core::stream::LowestScores;
/// let mut lowest = LowestScores::<3>::new();
/// for (i, mean) in [0.4, -0.1, 0.7, 0.2, -0.1, 0.3].into_iter().enumerate() {
///     lowest.push(i as u64, mean);
/// }
/// let kept: Vec<u64> = lowest.sorted().iter().map(|s| s.index).collect();
/// assert_eq!(kept, [1, 4, 3]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct LowestScores<const K: usize> {
    heap: BinaryHeap<Ranked, Max, K>,
}

impl<const K: usize> LowestScores<K> {
    /// An empty tracker.
    pub const fn new() -> Self {
        LowestScores {
            heap: BinaryHeap::new(),
        }
    }

    /// Offers sample `index` of mean PSMI `mean`; it is kept if it ranks
    /// among the `K` lowest so far. Returns whether it was kept.
    ///
    /// ```
    /// use psmi_core::stream::LowestScores;
    /// let mut lowest = LowestScores::<2>::new();
    /// assert!(lowest.push(0, 0.3) && lowest.push(1, 0.1));
    /// assert!(!lowest.push(2, 0.5)); // full, and above both
    /// assert!(lowest.push(3, 0.1)); // ties 1 and evicts 0
    /// assert!(!lowest.push(4, 0.1)); // ties 1 and 3, but a higher index
    /// assert_eq!(lowest.len(), 2);
    /// ```
    pub fn push(&mut self, index: u64, mean: f64) -> bool {
        let entry = Ranked(Suspect { index, mean });
        match self.heap.push(entry) {
            Ok(()) => true,
            Err(entry) => match self.heap.peek_mut() {
                Some(mut top) if entry < *top => {
                    *top = entry;
                    true
                }
                _ => false,
            },
        }
    }

    /// Samples kept (at most `K`).
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no sample has been kept.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The kept samples, lowest mean first (ties: lower index first).
    pub fn sorted(&self) -> heapless::Vec<Suspect, K> {
        let mut out: heapless::Vec<Suspect, K> = self.heap.iter().map(|r| r.0).collect();
        out.sort_unstable_by(Suspect::rank);
        out
    }

    /// Forgets every sample.
    pub fn clear(&mut self) {
        self.heap.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    /// Drawing again and reading a cache give the same bits: the same
    /// directions, projected and scored alike, on every instruction set.
    #[test]
    fn drawn_equals_cached() {
        let (classes, m, dim) = (3, 71, 13);
        let mut buf = vec![0.0f32; scoring::table_len(classes, m)];
        let frequency = [0.2, 0.3, 0.5];
        let mean: Vec<f64> = (0..classes * m).map(|i| (i % 5) as f64 - 2.0).collect();
        let std: Vec<f64> = (0..classes * m).map(|i| 0.5 + (i % 3) as f64).collect();
        let table = ScoringTable::new(classes, m, &frequency, &mean, &std, &mut buf).unwrap();
        let sample: Vec<f32> = (0..dim).map(|t| (t as f32 * 0.37).sin() * 2.0).collect();
        for isa in crate::Isa::ALL {
            let Some(kernels) = Kernels::for_isa(isa) else {
                continue;
            };
            for scheme in [Scheme::Iid, Scheme::Orthogonal { frame: 5 }] {
                let mut theta = vec![0.0f32; m * dim];
                let mut scratch = vec![0.0f64; scratch_len(scheme, dim)];
                directions::fill(kernels, 3, scheme, 0, dim, &mut theta, &mut scratch).unwrap();
                let mut cached = StreamScorer::cached(kernels, table, dim, &theta).unwrap();
                let mut rows = vec![0.0f32; rows_len(scheme, dim)];
                let mut drawn =
                    StreamScorer::new(kernels, table, 3, scheme, dim, &mut rows, &mut scratch)
                        .unwrap();
                for class in 0..classes as u32 {
                    let a = cached.score(&sample, class).unwrap();
                    let b = drawn.score(&sample, class).unwrap();
                    assert_eq!(a, b, "{} {scheme:?} class {class}", isa.name());
                    assert_eq!(a.count, m as u64);
                }
            }
        }
    }

    #[test]
    fn rejects_bad_input() {
        let (m, dim) = (4, 3);
        let mut buf = [0.0f32; scoring::table_len(2, 4)];
        let table = ScoringTable::new(2, m, &[0.5, 0.5], &[0.0; 8], &[1.0; 8], &mut buf).unwrap();
        let kernels = Kernels::portable();
        let frames = Scheme::Orthogonal { frame: 2 };
        let mut rows = [0.0f32; 6];
        let mut scratch = [0.0f64; 64];
        assert_eq!(
            StreamScorer::new(kernels, table, 0, frames, 0, &mut rows, &mut scratch).err(),
            Some(Error::EmptyInput { what: "dim" })
        );
        assert_eq!(
            StreamScorer::new(
                kernels,
                table,
                0,
                Scheme::Orthogonal { frame: 4 },
                dim,
                &mut rows,
                &mut scratch
            )
            .err(),
            Some(Error::FrameSize { frame: 4, dim })
        );
        assert!(matches!(
            StreamScorer::new(kernels, table, 0, frames, dim, &mut rows[..5], &mut scratch),
            Err(Error::BufferTooSmall { buffer: "rows", .. })
        ));
        assert!(matches!(
            StreamScorer::new(
                kernels,
                table,
                0,
                frames,
                dim,
                &mut rows,
                &mut scratch[..10]
            ),
            Err(Error::BufferTooSmall {
                buffer: "scratch",
                ..
            })
        ));
        assert!(matches!(
            StreamScorer::cached(kernels, table, dim, &[0.0; 11]),
            Err(Error::ShapeMismatch {
                what: "directions",
                ..
            })
        ));
        let theta = [0.0f32; 5 * 3];
        let mut packed_buf = vec![0.0f32; projection::packed_len(kernels, 5, dim)];
        let packed = projection::pack_directions(kernels, &theta, dim, &mut packed_buf).unwrap();
        let mut z = [0.0f32; 5];
        let mut z_scratch = vec![0.0f32; projection::scratch_len(kernels, dim)];
        assert!(matches!(
            StreamScorer::packed(kernels, table, packed, &mut z, &mut z_scratch),
            Err(Error::ShapeMismatch {
                what: "packed directions",
                ..
            })
        ));
        let packed =
            projection::pack_directions(kernels, &theta[..m * dim], dim, &mut packed_buf).unwrap();
        assert!(matches!(
            StreamScorer::packed(kernels, table, packed, &mut z[..3], &mut z_scratch),
            Err(Error::BufferTooSmall {
                buffer: "projections",
                ..
            })
        ));
        assert!(matches!(
            StreamScorer::packed(kernels, table, packed, &mut z, &mut []),
            Err(Error::BufferTooSmall {
                buffer: "projection scratch",
                ..
            })
        ));
        let mut scorer =
            StreamScorer::packed(kernels, table, packed, &mut z, &mut z_scratch).unwrap();
        assert_eq!(
            scorer.score(&[0.0, f32::NAN, 0.0], 0),
            Err(Error::NonFinite { row: 0, column: 1 })
        );
        assert!(scorer.score(&[0.0; 3], 1).is_ok());
        let mut scorer =
            StreamScorer::new(kernels, table, 0, frames, dim, &mut rows, &mut scratch).unwrap();
        assert!(matches!(
            scorer.score(&[0.0; 4], 0),
            Err(Error::ShapeMismatch { what: "sample", .. })
        ));
        assert_eq!(
            scorer.score(&[0.0, f32::INFINITY, 0.0], 0),
            Err(Error::NonFinite { row: 0, column: 1 })
        );
        assert_eq!(
            scorer.score(&[0.0; 3], 2),
            Err(Error::LabelOutOfRange {
                row: 0,
                label: 2,
                classes: 2
            })
        );
        assert!(scorer.score(&[0.0; 3], 1).is_ok());
    }

    proptest! {
        /// The tracker keeps what sorting every value and taking the first K
        /// keeps, means drawn from few values so that ties are common.
        #[test]
        fn lowest_equals_sorting_all(values in prop::collection::vec(-4i32..4, 0..60)) {
            let mut lowest = LowestScores::<7>::new();
            for (i, &v) in values.iter().enumerate() {
                lowest.push(i as u64, v as f64 * 0.25);
            }
            let mut all: Vec<Suspect> = values
                .iter()
                .enumerate()
                .map(|(i, &v)| Suspect { index: i as u64, mean: v as f64 * 0.25 })
                .collect();
            all.sort_by(Suspect::rank);
            all.truncate(7);
            prop_assert_eq!(lowest.len(), all.len());
            prop_assert_eq!(&lowest.sorted()[..], &all[..]);
        }
    }

    #[test]
    fn lowest_does_not_depend_on_push_order() {
        let means = [0.5, -1.0, 0.5, 2.0, -1.0, 0.5, 0.0, -3.0];
        let mut forward = LowestScores::<4>::new();
        let mut backward = LowestScores::<4>::new();
        for (i, &m) in means.iter().enumerate() {
            forward.push(i as u64, m);
        }
        for (i, &m) in means.iter().enumerate().rev() {
            backward.push(i as u64, m);
        }
        assert_eq!(forward.sorted(), backward.sorted());
        let kept: Vec<u64> = forward.sorted().iter().map(|s| s.index).collect();
        assert_eq!(kept, [7, 1, 4, 6]);
        forward.clear();
        assert!(forward.is_empty());
    }
}
