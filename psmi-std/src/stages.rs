//! The stages of the estimator's data flow for one block of directions, each on
//! the current rayon pool: directions → projection → class statistics →
//! scoring → per-sample summaries.
//!
//! Call them inside [`rayon::ThreadPool::install`] to choose the threads. The
//! estimator is built from these functions, and the `throughput` benchmark
//! times them one by one, so both run the same decomposition:
//!
//! - rows are cut into chunks of [`ROW_CHUNK`] rows, one task per chunk
//!   ([`project`] alone, whose rows are independent, cuts them into equal
//!   chunks per thread: see there);
//! - class statistics are accumulated over at most [`ROW_GROUPS`] contiguous
//!   groups of whole chunks, whose partial moments are merged in group order.
//!
//! Neither depends on the number of threads, nor on how the features are cut
//! into shards (the cuts follow the global row index; a chunk that spans two
//! shards is projected piece by piece, and each row's projection is its own),
//! so one input gives bit-identical results on any pool and in any shards.
//! Errors name classes by index (`0..classes`), as [`psmi_core::Error`] does.
//!
//! ```
//! use psmi_core::{projection, statistics::Moments, Kernels};
//! use psmi_std::stages::{self, ClassStatistics};
//! let (n, d, m) = (6, 2, 3);
//! let x = [0.0f32, 0.1, 0.3, 0.2, 0.2, 0.4, 5.0, 5.2, 5.1, 4.9, 4.8, 5.3];
//! let labels = [0, 0, 0, 1, 1, 1];
//! let kernels = Kernels::detect();
//!
//! let mut theta = vec![0.0f32; m * d];
//! stages::draw_directions(7, psmi_core::directions::Scheme::Iid, 0, d, &mut theta)?;
//! let mut packed_buffer = vec![0.0f32; projection::packed_len(kernels, m, d)];
//! let packed = projection::pack_directions(kernels, &theta, d, &mut packed_buffer)?;
//! let features = psmi_std::Features::new(&x, n, d)?;
//! let mut z = vec![0.0f32; n * m];
//! stages::project(&features, &packed, &mut z)?;
//! let parameters = ClassStatistics::of_projections(&z, &labels, 2, m)?.parameters()?;
//! let mut table_buffer = Vec::new();
//! let table = parameters.table(&mut table_buffer)?;
//! stages::score(kernels, &table, &labels, &mut z)?;
//! let mut summaries = vec![Moments::default(); n];
//! stages::summarize(&z, m, &mut summaries)?;
//!
//! // The fused path of `transform` gives the same numbers.
//! let mut fused = vec![Moments::default(); n];
//! stages::project_and_score(&features, &packed, &table, &labels, &mut fused, None, None)?;
//! assert_eq!(fused, summaries);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::class_table::ClassTable;
use crate::error_bars::{BarsTarget, ChunkBars, ErrorBars};
use crate::features::Features;
use psmi_core::directions::{self, FactoredFrame, FrameQr, Panel, Scheme};
use psmi_core::projection::{self, PackedDirections};
use psmi_core::scoring::{self, ScoringTable};
use psmi_core::statistics::{ClassMoments, Moments};
use psmi_core::{Error, Kernels};
use rayon::prelude::*;
use std::ops::Range;

/// Rows handled by one task: large enough to amortise packing rows of X,
/// small enough that a chunk's projections stay in L2.
pub const ROW_CHUNK: usize = 256;

/// Most row groups whose class moments are merged, in group order.
pub const ROW_GROUPS: usize = 64;

/// Most rows in one task of [`project`]. Every task streams all its packed
/// directions from memory into L2 once per coordinate block, so a long chunk
/// spreads that over more rows (2000 directions at d = 4096 are 32 MB).
const PROJECTION_CHUNK: usize = 2048;

/// Fills `theta` (row-major `count × dim`) with directions
/// `first .. first + count` of `seed` and `scheme`: one task per 32
/// directions, or per [`directions::batch_frames`] frames of orthonormal
/// directions (a frame the block only partly covers is computed whole), so
/// that the CPU's vector lanes draw several together. A frame of more than
/// 64 rows is one task whose QR is itself shared among the threads
/// ([`directions::FrameQr`]).
///
/// ```
/// use psmi_core::directions::{self, Scheme};
/// let mut theta = vec![0.0f32; 4 * 3];
/// psmi_std::stages::draw_directions(1, Scheme::Iid, 10, 3, &mut theta)?;
/// let mut serial = vec![0.0f32; 4 * 3];
/// directions::fill_directions(1, 10, 3, &mut serial)?;
/// assert_eq!(theta, serial);
/// // Frames of 2 rows: directions 10 and 11 form frame 5.
/// psmi_std::stages::draw_directions(1, Scheme::Orthogonal { frame: 2 }, 10, 3, &mut theta)?;
/// let dot: f32 = theta[..3].iter().zip(&theta[3..6]).map(|(a, b)| a * b).sum();
/// assert!(dot.abs() < 1e-6);
/// # Ok::<(), psmi_core::Error>(())
/// ```
///
/// # Errors
///
/// As [`directions::fill`].
pub fn draw_directions(
    seed: u64,
    scheme: Scheme,
    first: usize,
    dim: usize,
    theta: &mut [f32],
) -> Result<(), Error> {
    let kernels = Kernels::detect();
    // `max(1)`: rayon's chunks may not be empty; `fill` reports dim 0 and bad frames.
    let Scheme::Orthogonal { frame } = scheme else {
        return theta
            .par_chunks_mut(DIRECTION_CHUNK * dim.max(1))
            .enumerate()
            .try_for_each(|(c, rows)| {
                let start = first + c * DIRECTION_CHUNK;
                directions::fill(kernels, seed, scheme, start, dim, rows, &mut [])
            });
    };
    if dim == 0 || frame == 0 || frame > dim {
        return directions::fill(kernels, seed, scheme, first, dim, theta, &mut []);
    }
    // Cut at frame boundaries: the first piece ends where frame first / f
    // does, the others hold a batch of frames each.
    let lead = ((frame - first % frame) * dim).min(theta.len());
    let (head, tail) = theta.split_at_mut(lead);
    let piece = directions::batch_frames(scheme) * frame;
    let pieces = std::iter::once((first, head)).chain(
        tail.chunks_mut(piece * dim)
            .enumerate()
            .map(|(p, rows)| (first + lead / dim + p * piece, rows)),
    );
    pieces
        .collect::<Vec<_>>()
        .into_par_iter()
        .try_for_each(|(start, rows)| {
            let mut scratch = vec![0.0f64; directions::batch_scratch_len(scheme, dim)];
            if directions::batch_frames(scheme) > 1 {
                return directions::fill(kernels, seed, scheme, start, dim, rows, &mut scratch);
            }
            // A piece is one large frame, or part of one: its QR is shared
            // among the threads.
            let row = start % frame;
            let columns = row + rows.len() / dim;
            let qr = FrameQr::draw(
                kernels,
                seed,
                frame,
                start / frame,
                dim,
                columns,
                &mut scratch,
            )?;
            frame_rows(qr, row, dim, rows)
        })
}

/// Factors a frame with each panel's reflectors applied to the later
/// columns on every thread, then forms its rows `row ..` into `rows`, groups
/// of rows on every thread: the bits of [`directions::fill`].
fn frame_rows(mut qr: FrameQr<'_>, row: usize, dim: usize, rows: &mut [f32]) -> Result<(), Error> {
    while let Some((panel, later)) = qr.next_panel() {
        later
            .par_chunks_mut(Panel::COLUMNS * dim)
            .try_for_each(|columns| panel.apply(columns))?;
    }
    let factored = qr.factored();
    rows.par_chunks_mut(FactoredFrame::ROWS * dim)
        .enumerate()
        .try_for_each_init(
            || vec![0.0f64; FactoredFrame::work_len(dim)],
            |work, (g, out)| factored.rows(row + g * FactoredFrame::ROWS, out, work),
        )
}

/// Independent directions per task of [`draw_directions`]: a multiple of
/// the eight rows drawn together in AVX-512 lanes.
const DIRECTION_CHUNK: usize = 32;

/// Z = X Θᵀ: `x` is `n × packed.dim()`, `z` row-major
/// `n × packed.directions()`; one task per chunk of rows, the rows shared
/// equally among the pool's threads in chunks of at most 2048 rows, each a
/// whole number of the kernel's register tiles. Each row's projection is the
/// same however the rows are cut.
///
/// # Errors
///
/// [`Error::ShapeMismatch`] if `z` does not hold one row per row of `x` or
/// the dimensions differ; otherwise as [`projection::project`].
pub fn project(
    x: &Features<'_>,
    packed: &PackedDirections<'_>,
    z: &mut [f32],
) -> Result<(), Error> {
    let (d, m) = (packed.dim(), packed.directions());
    ensure_dim(x, d)?;
    ensure_rows("projections", z, x.rows(), m)?;
    let scratch_len = projection::scratch_len(packed.kernels(), d);
    let chunk = projection_chunk(
        x.rows(),
        rayon::current_num_threads(),
        packed.rows_per_tile(),
    );
    x.projected_all(
        row_chunks(x.rows(), chunk)
            .zip(z.par_chunks_mut(chunk * m))
            .try_for_each_init(
                || vec![0.0f32; scratch_len],
                |scratch, (rows, z)| x.project(rows, packed, z, scratch),
            ),
    )
}

/// Z = X Θᵀ into `z`, as [`project`] gives it, and the class statistics of
/// those projections, as [`ClassStatistics::of_projections`] gives them: one
/// task per row group, each chunk's moments accumulated while its
/// projections are still in cache (the path of `fit_transform`, which keeps
/// Z to score it).
///
/// ```
/// use psmi_core::{projection, Kernels};
/// use psmi_std::stages::{self, ClassStatistics};
/// let x = [0.0f32, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9];
/// let kernels = Kernels::detect();
/// let mut buffer = vec![0.0f32; projection::packed_len(kernels, 2, 2)];
/// let packed = projection::pack_directions(kernels, &[0.6, 0.8, 1.0, 0.0], 2, &mut buffer)?;
/// let x = psmi_std::Features::new(&x, 4, 2)?;
/// let (mut fused, mut apart) = (vec![0.0f32; 4 * 2], vec![0.0f32; 4 * 2]);
/// let statistics = stages::project_with_statistics(&x, &packed, &[0, 0, 1, 1], 2, &mut fused)?;
/// stages::project(&x, &packed, &mut apart)?;
/// assert_eq!(fused, apart);
/// let two_passes = ClassStatistics::of_projections(&apart, &[0, 0, 1, 1], 2, 2)?;
/// assert_eq!(statistics.parameters()?, two_passes.parameters()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`ClassStatistics::of_features`], and [`Error::ShapeMismatch`] if `z`
/// does not hold one row of projections per label.
pub fn project_with_statistics(
    x: &Features<'_>,
    packed: &PackedDirections<'_>,
    labels: &[u32],
    classes: usize,
    z: &mut [f32],
) -> Result<ClassStatistics, Error> {
    ClassStatistics::of_projected(x, packed, labels, classes, Some(z))
}

/// Rows per task of [`project`] for `n` rows on `threads` threads: as few
/// chunks as keep each under [`PROJECTION_CHUNK`] rows, a multiple of
/// `threads` of them so that every thread gets as many, each rounded up to
/// whole tiles of `tile_rows`.
fn projection_chunk(n: usize, threads: usize, tile_rows: usize) -> usize {
    let threads = threads.max(1);
    let rounds = n.div_ceil(threads * PROJECTION_CHUNK).max(1);
    let rows = n.div_ceil(threads * rounds).max(1);
    rows.div_ceil(tile_rows) * tile_rows
}

/// Rows `0..n` cut into ranges of `size` rows (the last shorter), by the
/// global row index only: the same cuts whatever the shards.
fn row_chunks(n: usize, size: usize) -> impl IndexedParallelIterator<Item = Range<usize>> {
    (0..n.div_ceil(size))
        .into_par_iter()
        .map(move |c| c * size..n.min((c + 1) * size))
}

/// Checks that the features have the directions' dimension.
fn ensure_dim(x: &Features<'_>, dim: usize) -> Result<(), Error> {
    if x.cols() == dim {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            what: "feature columns",
            expected: dim,
            found: x.cols(),
        })
    }
}

/// Count, mean and M2 of every class along every direction, owned:
/// mergeable across chunks of rows, threads and processes.
#[derive(Clone, Debug)]
pub struct ClassStatistics {
    counts: Vec<u64>,
    mean: ClassTable,
    m2: ClassTable,
}

impl ClassStatistics {
    /// No samples yet.
    pub(crate) fn zeros(classes: usize, directions: usize) -> Self {
        ClassStatistics {
            counts: vec![0; classes],
            mean: ClassTable::zeros(classes, directions),
            m2: ClassTable::zeros(classes, directions),
        }
    }

    /// Statistics laid out as [`ClassStatistics::parts`] gives them.
    pub(crate) fn from_parts(counts: Vec<u64>, mean: ClassTable, m2: ClassTable) -> Self {
        ClassStatistics { counts, mean, m2 }
    }

    /// Each class's count, and its means and M2s along every direction.
    pub(crate) fn parts(&self) -> (&[u64], &ClassTable, &ClassTable) {
        (&self.counts, &self.mean, &self.m2)
    }

    /// Number of directions.
    pub(crate) fn directions(&self) -> usize {
        self.mean.directions()
    }

    /// Appends a class with no samples.
    pub(crate) fn add_class(&mut self) {
        self.counts.push(0);
        self.mean.add_class();
        self.m2.add_class();
    }

    /// These statistics over `classes` classes, class c moved to `rows[c]`
    /// (classes no row maps to have no samples): another fitter's classes
    /// in this fitter's order.
    pub(crate) fn moved_to(&self, rows: &[usize], classes: usize) -> Self {
        let mut moved = Self::zeros(classes, self.directions());
        for (c, &row) in rows.iter().enumerate() {
            moved.counts[row] = self.counts[c];
        }
        moved.mean.scatter(0, &self.mean, Some(rows));
        moved.m2.scatter(0, &self.m2, Some(rows));
        moved
    }

    fn view(&mut self) -> Result<ClassMoments<'_>, Error> {
        ClassMoments::from_parts(
            self.mean.directions(),
            &mut self.counts,
            self.mean.values_mut(),
            self.m2.values_mut(),
        )
    }

    /// The statistics of the projections `z` (row-major `labels.len() ×
    /// directions`) of samples of classes `labels` (each below `classes`).
    ///
    /// # Errors
    ///
    /// [`Error::EmptyInput`] for no classes or directions; otherwise as
    /// [`ClassMoments::accumulate`].
    pub fn of_projections(
        z: &[f32],
        labels: &[u32],
        classes: usize,
        directions: usize,
    ) -> Result<Self, Error> {
        if directions == 0 {
            return Err(Error::EmptyInput { what: "directions" });
        }
        let rows = group_rows(labels.len());
        Self::by_groups(
            classes,
            directions,
            z.par_chunks(rows * directions).zip(labels.par_chunks(rows)),
            |(z, labels), moments| moments.accumulate(z, labels),
        )
    }

    /// The statistics of the projections of `x` (row-major `labels.len() ×
    /// packed.dim()`) on the packed directions, without ever holding more
    /// than one chunk's projections per task: the path of a fit that does not
    /// score. The same numbers as [`project`] then [`Self::of_projections`].
    ///
    /// ```
    /// use psmi_core::{projection, Kernels};
    /// use psmi_std::stages::{self, ClassStatistics};
    /// let x = [0.0f32, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9];
    /// let theta = [0.6f32, 0.8, 1.0, 0.0];
    /// let kernels = Kernels::detect();
    /// let mut buffer = vec![0.0f32; projection::packed_len(kernels, 2, 2)];
    /// let packed = projection::pack_directions(kernels, &theta, 2, &mut buffer)?;
    /// let x = psmi_std::Features::new(&x, 4, 2)?;
    /// let fused = ClassStatistics::of_features(&x, &packed, &[0, 0, 1, 1], 2)?;
    /// let mut z = vec![0.0f32; 4 * 2];
    /// stages::project(&x, &packed, &mut z)?;
    /// let two_passes = ClassStatistics::of_projections(&z, &[0, 0, 1, 1], 2, 2)?;
    /// assert_eq!(fused.parameters()?, two_passes.parameters()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::ShapeMismatch`] if `x` does not hold one row per label;
    /// otherwise as [`projection::project`] and [`ClassMoments::accumulate`].
    pub fn of_features(
        x: &Features<'_>,
        packed: &PackedDirections<'_>,
        labels: &[u32],
        classes: usize,
    ) -> Result<Self, Error> {
        Self::of_projected(x, packed, labels, classes, None)
    }

    /// The statistics of the projections of `x` on the packed directions,
    /// one task per row group, each projecting a chunk of rows at a time
    /// and accumulating its moments at once: into `z` (row-major
    /// `labels.len() × packed.directions()`) if given, else into a buffer of
    /// one chunk per task.
    fn of_projected(
        x: &Features<'_>,
        packed: &PackedDirections<'_>,
        labels: &[u32],
        classes: usize,
        z: Option<&mut [f32]>,
    ) -> Result<Self, Error> {
        let (d, m) = (packed.dim(), packed.directions());
        ensure_dim(x, d)?;
        ensure_rows("labels", labels, x.rows(), 1)?;
        let rows = group_rows(labels.len());
        // One optional destination per group, so that groups can be zipped with it.
        let mut z_groups: Vec<Option<&mut [f32]>> = match z {
            Some(z) => {
                ensure_rows("projections", z, labels.len(), m)?;
                z.chunks_mut(rows * m.max(1)).map(Some).collect()
            }
            None => (0..labels.len().div_ceil(rows)).map(|_| None).collect(),
        };
        let scratch_len = projection::scratch_len(packed.kernels(), d);
        let statistics = Self::by_groups(
            classes,
            m,
            row_chunks(labels.len(), rows)
                .zip(labels.par_chunks(rows))
                .zip(z_groups.par_iter_mut()),
            |((group, labels), z_group), moments| {
                let mut scratch = vec![0.0f32; scratch_len];
                let own_rows = if z_group.is_some() { 0 } else { ROW_CHUNK };
                let mut own = vec![0.0f32; labels.len().min(own_rows) * m];
                let chunks = group.step_by(ROW_CHUNK).zip(labels.chunks(ROW_CHUNK));
                for (i, (start, labels)) in chunks.enumerate() {
                    let z = match z_group.as_deref_mut() {
                        Some(kept) => &mut kept[i * ROW_CHUNK * m..][..labels.len() * m],
                        None => &mut own[..labels.len() * m],
                    };
                    x.project(start..start + labels.len(), packed, z, &mut scratch)?;
                    moments.accumulate(z, labels)?;
                }
                Ok(())
            },
        );
        x.projected_all(statistics)
    }

    /// One set of moments per group, accumulated by `accumulate` in
    /// parallel, then merged in group order: the fixed reduction order.
    fn by_groups<G: Send>(
        classes: usize,
        directions: usize,
        groups: impl IndexedParallelIterator<Item = G>,
        accumulate: impl Fn(G, &mut ClassMoments<'_>) -> Result<(), Error> + Sync,
    ) -> Result<Self, Error> {
        let partials = groups
            .map(|group| {
                let mut partial = Self::zeros(classes, directions);
                accumulate(group, &mut partial.view()?)?;
                Ok(partial)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Self::merged_in_order(classes, directions, &partials))
    }

    /// The partials merged in order into zeros, one task per class: each
    /// cell is folded over the partials exactly as merging them one after
    /// another does ([`Moments::merge`] is the arithmetic of
    /// [`ClassMoments::merge`]), so the bits do not depend on the threads.
    /// On one thread, a merge of 64 groups would idle the others.
    fn merged_in_order(classes: usize, directions: usize, partials: &[Self]) -> Self {
        let mut total = Self::zeros(classes, directions);
        let ClassStatistics { mean, m2, .. } = &mut total;
        mean.values_mut()
            .par_chunks_mut(directions)
            .zip(m2.values_mut().par_chunks_mut(directions))
            .enumerate()
            .for_each(|(class, (mean, m2))| {
                let cells = class * directions..(class + 1) * directions;
                let mut count = 0;
                for partial in partials {
                    let added = partial.counts[class];
                    let sources = partial.mean.values()[cells.clone()]
                        .iter()
                        .zip(&partial.m2.values()[cells.clone()]);
                    for ((mean, m2), (&other_mean, &other_m2)) in
                        mean.iter_mut().zip(m2.iter_mut()).zip(sources)
                    {
                        let merged = Moments {
                            count,
                            mean: *mean,
                            m2: *m2,
                        }
                        .merge(Moments {
                            count: added,
                            mean: other_mean,
                            m2: other_m2,
                        });
                        (*mean, *m2) = (merged.mean, merged.m2);
                    }
                    count += added;
                }
            });
        for partial in partials {
            for (total, added) in total.counts.iter_mut().zip(&partial.counts) {
                *total += added;
            }
        }
        total
    }

    /// Adds the samples summarised by `other` (same classes and directions).
    ///
    /// # Errors
    ///
    /// [`Error::EmptyInput`] for no classes, [`Error::ShapeMismatch`] if the
    /// shapes differ.
    pub fn merge(&mut self, mut other: ClassStatistics) -> Result<(), Error> {
        // By value: the core reads `other` through a view, which borrows it mutably.
        self.view()?.merge(&other.view()?)
    }

    /// Class frequencies, means and population standard deviations.
    ///
    /// # Errors
    ///
    /// [`Error::TooFewSamples`] for a class with fewer than two samples.
    pub fn parameters(mut self) -> Result<ClassParameters, Error> {
        let mut frequency = vec![0.0; self.counts.len()];
        let mut std = vec![0.0; self.mean.values().len()];
        self.view()?.finish(&mut frequency, &mut std)?;
        let directions = self.directions();
        Ok(ClassParameters {
            frequency,
            mean: self.mean,
            std: ClassTable::from_values(directions, std),
        })
    }
}

/// Rows per group, a multiple of [`ROW_CHUNK`], so that there are at most
/// [`ROW_GROUPS`] groups. Depends on n only.
fn group_rows(n: usize) -> usize {
    let chunks = n.div_ceil(ROW_CHUNK);
    chunks.div_ceil(ROW_GROUPS).max(1) * ROW_CHUNK
}

/// The Gaussian fit of every class along every direction: frequencies (k),
/// means and standard deviations (k × directions, class-major).
#[derive(Clone, Debug, PartialEq)]
pub struct ClassParameters {
    pub(crate) frequency: Vec<f64>,
    pub(crate) mean: ClassTable,
    pub(crate) std: ClassTable,
}

impl ClassParameters {
    /// The table the scoring kernels read, in `buffer` (resized to fit).
    ///
    /// # Errors
    ///
    /// As [`ScoringTable::new`]: [`Error::ZeroVariance`] for a class whose
    /// samples coincide along a direction.
    pub fn table<'b>(&self, buffer: &'b mut Vec<f32>) -> Result<ScoringTable<'b>, Error> {
        let (classes, directions) = (self.frequency.len(), self.directions());
        buffer.resize(scoring::table_len(classes, directions), 0.0);
        ScoringTable::new(
            classes,
            directions,
            &self.frequency,
            self.mean.values(),
            self.std.values(),
            buffer,
        )
    }

    /// Number of directions.
    pub(crate) fn directions(&self) -> usize {
        self.mean.directions()
    }
}

/// Replaces the projections `z` (row-major `labels.len() ×
/// table.directions()`) by their PSMI, one task per chunk of rows.
///
/// # Errors
///
/// As [`scoring::score_in_place`].
pub fn score(
    kernels: Kernels,
    table: &ScoringTable<'_>,
    labels: &[u32],
    z: &mut [f32],
) -> Result<(), Error> {
    let m = table.directions();
    ensure_rows("projections", z, labels.len(), m)?;
    z.par_chunks_mut(ROW_CHUNK * m)
        .zip(labels.par_chunks(ROW_CHUNK))
        .try_for_each(|(z, labels)| scoring::score_in_place(kernels, table, labels, z))
}

/// Each row's mean and M2 over its `m` scores (`scores` row-major
/// `out.len() × m`), one task per chunk of rows.
///
/// # Errors
///
/// As [`scoring::summarize_rows`].
pub fn summarize(scores: &[f32], m: usize, out: &mut [Moments]) -> Result<(), Error> {
    if m == 0 {
        return Err(Error::EmptyInput { what: "directions" });
    }
    ensure_rows("scores", scores, out.len(), m)?;
    scores
        .par_chunks(ROW_CHUNK * m)
        .zip(out.par_chunks_mut(ROW_CHUNK))
        .try_for_each(|(scores, out)| scoring::summarize_rows(scores, m, out))
}

/// Where one block's scores go beyond the per-sample summaries: columns
/// `column .. column + m` of the row-major matrix `values`, `width` wide.
///
/// ```
/// use psmi_std::stages::FullMatrix;
/// let mut values = vec![0.0f32; 2 * 3];
/// // Two samples' scores along directions 1 and 2 of 3 go to columns 1 and 2
/// // (`score_and_merge` writes them).
/// let full = FullMatrix { values: &mut values, width: 3, column: 1 };
/// assert_eq!(full.values.len(), 2 * full.width);
/// ```
#[derive(Debug)]
pub struct FullMatrix<'a> {
    /// Row-major, one row per sample.
    pub values: &'a mut [f32],
    /// Columns of `values`.
    pub width: usize,
    /// The block's first column.
    pub column: usize,
}

impl FullMatrix<'_> {
    /// The matrix cut into the row chunks of the scoring tasks, after
    /// checking the shapes once, so that no task's copy can go out of bounds.
    fn chunks(&mut self, rows: usize, m: usize) -> Result<Vec<FullRows<'_>>, Error> {
        if m == 0 {
            return Err(Error::EmptyInput { what: "directions" });
        }
        if self.column + m > self.width {
            return Err(Error::ShapeMismatch {
                what: "full matrix width",
                expected: self.column + m,
                found: self.width,
            });
        }
        ensure_rows("full matrix", self.values, rows, self.width)?;
        let (width, column) = (self.width, self.column);
        Ok(self
            .values
            .chunks_mut(ROW_CHUNK * width)
            .map(|rows| FullRows {
                rows,
                width,
                column,
            })
            .collect())
    }
}

/// One task's rows of a [`FullMatrix`].
struct FullRows<'a> {
    rows: &'a mut [f32],
    width: usize,
    column: usize,
}

/// One optional [`FullRows`] per chunk of `n` rows, so that chunks can be zipped with them.
fn full_chunks<'a>(
    full: Option<&'a mut FullMatrix<'_>>,
    n: usize,
    m: usize,
) -> Result<Vec<Option<FullRows<'a>>>, Error> {
    Ok(match full {
        Some(full) => full.chunks(n, m)?.into_iter().map(Some).collect(),
        None => (0..n.div_ceil(ROW_CHUNK)).map(|_| None).collect(),
    })
}

/// Replaces the projections `z` (row-major `labels.len() ×
/// table.directions()`) by their PSMI, merges each row's moments over them
/// into `running` and copies them into `full` if given: the same numbers as
/// [`score`], then [`summarize`] and merging, in one task per chunk of rows.
///
/// ```
/// use psmi_core::{scoring::ScoringTable, statistics::Moments, Kernels};
/// use psmi_std::stages::{self, FullMatrix};
/// let mut table_buffer = vec![0.0f32; psmi_core::scoring::table_len(2, 1)];
/// let table = ScoringTable::new(2, 1, &[0.5, 0.5], &[-1.0, 1.0], &[1.0, 1.0], &mut table_buffer)?;
/// let (kernels, labels) = (Kernels::detect(), [0, 1, 1]);
/// let mut z = [-1.0f32, 1.0, -1.0];
/// let mut running = [Moments::default(); 3];
/// let mut values = vec![0.0f32; 3 * 2];
/// let mut full = FullMatrix { values: &mut values, width: 2, column: 1 };
/// stages::score_and_merge(kernels, &table, &labels, &mut z, &mut running, Some(&mut full), None)?;
/// assert_eq!(running[0].count, 1);
/// assert!(running[0].mean > 0.0 && running[2].mean < 0.0); // the third is on the other side
/// assert_eq!([values[1], values[3], values[5]], z);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`score`] and [`summarize`], [`Error::ShapeMismatch`] unless `running`
/// has a row per label and the block's columns fit in `full`.
pub fn score_and_merge(
    kernels: Kernels,
    table: &ScoringTable<'_>,
    labels: &[u32],
    z: &mut [f32],
    running: &mut [Moments],
    full: Option<&mut FullMatrix<'_>>,
    bars: Option<&mut BarsTarget<'_>>,
) -> Result<(), Error> {
    let (n, m) = (labels.len(), table.directions());
    ensure_rows("projections", z, n, m)?;
    ensure_rows("summaries", running, n, 1)?;
    let mut full_chunks = full_chunks(full, n, m)?;
    ErrorBars::fold_block(bars, n, m, ROW_CHUNK, |bar_chunks| {
        z.par_chunks_mut(ROW_CHUNK * m.max(1))
            .zip(labels.par_chunks(ROW_CHUNK))
            .zip(running.par_chunks_mut(ROW_CHUNK))
            .zip(full_chunks.par_iter_mut())
            .zip(bar_chunks.par_iter_mut())
            .try_for_each(|((((z, labels), running), full), bars)| {
                let outputs = (running, full.as_mut(), bars.as_mut());
                score_chunk(kernels, table, labels, z, outputs)
            })
    })
}

/// Where one chunk's scores go: its rows' running moments, its rows of the
/// full matrix and its share of the error bars.
type ChunkOutputs<'r, 'f, 'b> = (
    &'r mut [Moments],
    Option<&'r mut FullRows<'f>>,
    Option<&'r mut ChunkBars<'b>>,
);

/// Scores one chunk's projections in place, merges its rows' moments into
/// `running`, copies the scores into `full` and folds them into `bars`.
fn score_chunk(
    kernels: Kernels,
    table: &ScoringTable<'_>,
    labels: &[u32],
    z: &mut [f32],
    (running, full, bars): ChunkOutputs<'_, '_, '_>,
) -> Result<(), Error> {
    let m = table.directions();
    scoring::score_in_place(kernels, table, labels, z)?;
    let mut moments = [Moments::default(); ROW_CHUNK];
    let moments = &mut moments[..labels.len()];
    scoring::summarize_rows(z, m, moments)?;
    merge_summaries(running, moments);
    if let Some(bars) = bars {
        bars.fold(z);
    }
    if let Some(full) = full {
        copy_rows(z, m, full.column, full.rows, full.width);
    }
    Ok(())
}

/// Projects, scores and summarises chunk by chunk, never holding more than a
/// chunk's projections per task (the path of `transform`): the same numbers
/// as [`project`] then [`score_and_merge`] (each row's moments merged into
/// `running`, the error bars gathered into `bars`), with the kernels
/// `packed` was packed for.
///
/// # Errors
///
/// As those functions.
pub fn project_and_score(
    x: &Features<'_>,
    packed: &PackedDirections<'_>,
    table: &ScoringTable<'_>,
    labels: &[u32],
    running: &mut [Moments],
    full: Option<&mut FullMatrix<'_>>,
    bars: Option<&mut BarsTarget<'_>>,
) -> Result<(), Error> {
    let d = packed.dim();
    ensure_dim(x, d)?;
    ensure_rows("labels", labels, x.rows(), 1)?;
    let kernels = packed.kernels();
    let scratch_len = projection::scratch_len(kernels, d);
    let outputs = (running, full, bars);
    x.projected_all(score_filled(
        kernels,
        table,
        labels,
        outputs,
        || vec![0.0f32; scratch_len],
        |rows, z, scratch| x.project(rows, packed, z, scratch),
    ))
}

/// Scores projections kept from a fit, chunk by chunk: columns `column ..
/// column + table.directions()` of `kept` (row-major, one row of `width`
/// projections per label), copied a chunk at a time so that `kept` is left
/// as it was. The same numbers as [`project_and_score`] on the features the
/// projections were made from, which are not needed.
///
/// ```
/// use psmi_core::{projection, statistics::Moments, Kernels};
/// use psmi_std::stages::{self, ClassStatistics};
/// let x = psmi_std::Features::new(&[0.0f32, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9], 4, 2)?;
/// let labels = [0, 0, 1, 1];
/// let kernels = Kernels::detect();
/// let mut buffer = vec![0.0f32; projection::packed_len(kernels, 2, 2)];
/// let packed = projection::pack_directions(kernels, &[0.6, 0.8, 1.0, 0.0], 2, &mut buffer)?;
/// let mut kept = vec![0.0f32; 4 * 2];
/// let statistics = stages::project_with_statistics(&x, &packed, &labels, 2, &mut kept)?;
/// let mut table_buffer = Vec::new();
/// let table = statistics.parameters()?.table(&mut table_buffer)?;
/// let (mut from_kept, mut from_x) = (vec![Moments::default(); 4], vec![Moments::default(); 4]);
/// stages::score_kept(kernels, &kept, 2, 0, &table, &labels, &mut from_kept, None, None)?;
/// stages::project_and_score(&x, &packed, &table, &labels, &mut from_x, None, None)?;
/// assert_eq!(from_kept, from_x);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`score_and_merge`]; [`Error::ShapeMismatch`] unless `kept` holds
/// `width` values per label and the table's columns lie within them.
#[allow(clippy::too_many_arguments)] // the outputs of `project_and_score`, and where the input lies
pub fn score_kept(
    kernels: Kernels,
    kept: &[f32],
    width: usize,
    column: usize,
    table: &ScoringTable<'_>,
    labels: &[u32],
    running: &mut [Moments],
    full: Option<&mut FullMatrix<'_>>,
    bars: Option<&mut BarsTarget<'_>>,
) -> Result<(), Error> {
    let m = table.directions();
    ensure_rows("kept projections", kept, labels.len(), width)?;
    if column + m > width {
        return Err(Error::ShapeMismatch {
            what: "kept projections' width",
            expected: column + m,
            found: width,
        });
    }
    score_filled(
        kernels,
        table,
        labels,
        (running, full, bars),
        || (),
        |rows, z, _| {
            let source = &kept[rows.start * width..rows.end * width];
            for (to, from) in z.chunks_exact_mut(m).zip(source.chunks_exact(width)) {
                to.copy_from_slice(&from[column..column + m]);
            }
            Ok(())
        },
    )
}

/// The outputs of a scoring pass: each row's running moments, the full
/// matrix if asked for, the error bars if gathered.
type Outputs<'a, 'f, 'b> = (
    &'a mut [Moments],
    Option<&'a mut FullMatrix<'f>>,
    Option<&'a mut BarsTarget<'b>>,
);

/// Scores the rows of `labels` chunk by chunk, one task per chunk of
/// [`ROW_CHUNK`] rows: `fill(rows, z, scratch)` puts the chunk's
/// projections in `z` (with a per-task `scratch` made by `init`), which are
/// then scored as [`score_and_merge`] scores them.
fn score_filled<S>(
    kernels: Kernels,
    table: &ScoringTable<'_>,
    labels: &[u32],
    (running, full, bars): Outputs<'_, '_, '_>,
    init: impl Fn() -> S + Sync + Send,
    fill: impl Fn(Range<usize>, &mut [f32], &mut S) -> Result<(), Error> + Sync + Send,
) -> Result<(), Error> {
    let (n, m) = (labels.len(), table.directions());
    ensure_rows("summaries", running, n, 1)?;
    let mut full_chunks = full_chunks(full, n, m)?;
    ErrorBars::fold_block(bars, n, m, ROW_CHUNK, |bar_chunks| {
        row_chunks(n, ROW_CHUNK)
            .zip(labels.par_chunks(ROW_CHUNK))
            .zip(running.par_chunks_mut(ROW_CHUNK))
            .zip(full_chunks.par_iter_mut())
            .zip(bar_chunks.par_iter_mut())
            .try_for_each_init(
                || (init(), vec![0.0f32; ROW_CHUNK * m]),
                |(scratch, z), ((((rows, labels), running), full), bars)| {
                    let z = &mut z[..labels.len() * m];
                    fill(rows, z, scratch)?;
                    let outputs = (running, full.as_mut(), bars.as_mut());
                    score_chunk(kernels, table, labels, z, outputs)
                },
            )
    })
}

/// Adds a block's per-sample moments to the running ones.
pub(crate) fn merge_summaries(running: &mut [Moments], block: &[Moments]) {
    for (r, b) in running.iter_mut().zip(block) {
        *r = r.merge(*b);
    }
}

/// Copies rows of `m` scores into columns `column .. column + m` of rows of `width`.
fn copy_rows(src: &[f32], m: usize, column: usize, dst: &mut [f32], width: usize) {
    for (src_row, dst_row) in src.chunks_exact(m).zip(dst.chunks_exact_mut(width)) {
        dst_row[column..column + m].copy_from_slice(src_row);
    }
}

/// Checks that `values` holds `rows × width` elements: chunks zipped with a
/// shorter slice would silently drop rows.
fn ensure_rows<T>(
    what: &'static str,
    values: &[T],
    rows: usize,
    width: usize,
) -> Result<(), Error> {
    if values.len() == rows * width {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            what,
            expected: rows * width,
            found: values.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Odd sizes: three row groups, a partial last chunk; labels cycle over
    /// `k` classes and shift the features, so every class has spread.
    fn data(n: usize, d: usize, k: usize) -> (Vec<f32>, Vec<u32>) {
        let mut state = 12345u64;
        let x = (0..n * d)
            .map(|i| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 40) as f32 / (1u64 << 24) as f32 + (i / d % k) as f32
            })
            .collect();
        (x, (0..n).map(|i| (i % k) as u32).collect())
    }

    #[test]
    fn projection_chunks_are_whole_tiles_shared_among_the_threads() {
        assert_eq!(projection_chunk(2000, 2, 14), 1008);
        assert_eq!(projection_chunk(2000, 1, 14), 2002);
        assert_eq!(projection_chunk(10000, 2, 14), 1680); // 6 chunks, 3 per thread
        assert_eq!(projection_chunk(0, 4, 6), 6);
        for n in [1, 5, 13, 255, 4097, 10001, 100_003] {
            for threads in 1..=5 {
                for tile in [1, 6, 14] {
                    let chunk = projection_chunk(n, threads, tile);
                    assert_eq!(chunk % tile, 0, "{n} {threads} {tile}");
                    assert!(chunk < PROJECTION_CHUNK + tile, "{n} {threads} {tile}");
                    let rounds = n.div_ceil(threads * PROJECTION_CHUNK);
                    assert!(
                        n.div_ceil(chunk) <= threads * rounds,
                        "{n} {threads} {tile}"
                    );
                }
            }
        }
    }

    fn on_threads<R: Send>(threads: usize, work: impl FnOnce() -> R + Send) -> R {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(work)
    }

    /// Every stage alone, then the fused paths, on `threads` threads, the
    /// rows cut into shards of `shards` rows: the summaries, the full matrix,
    /// the class parameters and the error bars of both.
    fn run_all(
        threads: usize,
        shards: &[usize],
    ) -> (Vec<Moments>, Vec<f32>, ClassParameters, ErrorBars) {
        let (n, d, m, k) = (700, 37, 29, 3);
        let (x, labels) = data(n, d, k);
        let mut rest = &x[..];
        let parts = shards.iter().map(|&rows| {
            let (shard, tail) = rest.split_at(rows * d);
            rest = tail;
            Features::new(shard, rows, d).unwrap()
        });
        let features = Features::concat(parts.collect::<Vec<_>>()).unwrap();
        assert_eq!((features.rows(), features.shards()), (n, shards.len()));
        let kernels = Kernels::detect();
        on_threads(threads, || {
            let mut theta = vec![0.0f32; m * d];
            draw_directions(5, Scheme::Iid, 0, d, &mut theta).unwrap();
            let mut serial = vec![0.0f32; m * d];
            directions::fill_directions(5, 0, d, &mut serial).unwrap();
            assert_eq!(theta, serial);

            let mut packed_buffer = vec![0.0f32; projection::packed_len(kernels, m, d)];
            let packed =
                projection::pack_directions(kernels, &theta, d, &mut packed_buffer).unwrap();
            let mut z = vec![0.0f32; n * m];
            project(&features, &packed, &mut z).unwrap();
            let mut serial = vec![0.0f32; n * m];
            let mut scratch = vec![0.0f32; projection::scratch_len(kernels, d)];
            for (x, z) in x
                .chunks(ROW_CHUNK * d)
                .zip(serial.chunks_mut(ROW_CHUNK * m))
            {
                projection::project(x, &packed, z, &mut scratch).unwrap();
            }
            assert_eq!(z, serial);

            let parameters = ClassStatistics::of_projections(&z, &labels, k, m)
                .unwrap()
                .parameters()
                .unwrap();
            let fused = ClassStatistics::of_features(&features, &packed, &labels, k)
                .unwrap()
                .parameters()
                .unwrap();
            assert_eq!(parameters, fused);
            let mut kept = vec![0.0f32; n * m];
            let fused = project_with_statistics(&features, &packed, &labels, k, &mut kept)
                .unwrap()
                .parameters()
                .unwrap();
            assert_eq!((&parameters, &kept), (&fused, &z));

            let mut table_buffer = Vec::new();
            let table = parameters.table(&mut table_buffer).unwrap();
            score(kernels, &table, &labels, &mut z).unwrap();
            assert!(z.iter().all(|v| v.is_finite()));
            let mut summaries = vec![Moments::default(); n];
            summarize(&z, m, &mut summaries).unwrap();
            let mut values = vec![0.0f32; n * (m + 2)];
            for (row, scores) in values.chunks_mut(m + 2).zip(z.chunks(m)) {
                row[1..=m].copy_from_slice(scores);
            }
            // Moments of earlier directions, which the fused paths merge into.
            let earlier: Vec<Moments> = (0..n)
                .map(|i| Moments {
                    count: 3,
                    mean: 0.01 * i as f64 - 2.0,
                    m2: 0.5,
                })
                .collect();
            let merged: Vec<Moments> = earlier
                .iter()
                .zip(&summaries)
                .map(|(e, s)| e.merge(*s))
                .collect();

            fn fused_full(values: &mut [f32], width: usize) -> FullMatrix<'_> {
                FullMatrix {
                    values,
                    width,
                    column: 1,
                }
            }
            // Frames of 4 over 29 directions: a partial last frame.
            let frames = Scheme::Orthogonal { frame: 4 };
            fn at(bars: &mut ErrorBars, row: usize) -> BarsTarget<'_> {
                BarsTarget {
                    bars,
                    row,
                    direction: 0,
                }
            }
            let mut running = earlier.clone();
            let mut fused_values = vec![0.0f32; n * (m + 2)];
            let mut bars = ErrorBars::new(frames, n);
            score_and_merge(
                kernels,
                &table,
                &labels,
                &mut kept,
                &mut running,
                Some(&mut fused_full(&mut fused_values, m + 2)),
                Some(&mut at(&mut bars, 0)),
            )
            .unwrap();
            assert_eq!((&running, &fused_values, &kept), (&merged, &values, &z));

            let mut running = earlier.clone();
            let mut fused_values = vec![0.0f32; n * (m + 2)];
            let mut projected_bars = ErrorBars::new(frames, n);
            project_and_score(
                &features,
                &packed,
                &table,
                &labels,
                &mut running,
                Some(&mut fused_full(&mut fused_values, m + 2)),
                Some(&mut at(&mut projected_bars, 0)),
            )
            .unwrap();
            assert_eq!((&running, &fused_values), (&merged, &values));
            assert_eq!((projected_bars.directions(), &projected_bars), (m, &bars));

            // The rows in two groups of whole chunks, as the quantiles score
            // a group of rows along all directions before the next.
            let mut grouped = ErrorBars::new(frames, n);
            let split = 2 * ROW_CHUNK;
            let mut running = earlier.clone();
            for rows in [0..split, split..n] {
                let start = rows.start;
                project_and_score(
                    &features.slice_rows(rows.clone()),
                    &packed,
                    &table,
                    &labels[rows.clone()],
                    &mut running[rows],
                    None,
                    Some(&mut at(&mut grouped, start)),
                )
                .unwrap();
            }
            assert_eq!((&running, &grouped), (&merged, &bars));
            (summaries, values, parameters, bars)
        })
    }

    #[test]
    fn stages_and_fused_paths_agree_bit_for_bit_on_any_number_of_threads() {
        let one = run_all(1, &[700]);
        assert!(run_all(3, &[700]) == one);
    }

    /// Shards that cut row chunks and row groups anywhere, one of a single row.
    #[test]
    fn shards_give_the_same_bits_as_one_matrix() {
        let one = run_all(2, &[700]);
        assert!(run_all(2, &[1, 300, 99, 300]) == one);
        assert!(run_all(3, &[257, 1, 442]) == one);
    }

    #[test]
    fn short_outputs_are_refused_rather_than_left_partly_unwritten() {
        let kernels = Kernels::portable();
        let mut buffer = vec![0.0f32; projection::packed_len(kernels, 1, 1)];
        let packed = projection::pack_directions(kernels, &[1.0], 1, &mut buffer).unwrap();
        let x = vec![1.0f32; 2 * ROW_CHUNK];
        let x = Features::new(&x, 2 * ROW_CHUNK, 1).unwrap();
        let mut z = vec![0.0f32; ROW_CHUNK];
        assert!(matches!(
            project(&x, &packed, &mut z),
            Err(Error::ShapeMismatch { .. })
        ));
        // Two directions do not fit in columns 1.. of a matrix 2 wide.
        let mut table_buffer = vec![0.0f32; scoring::table_len(1, 2)];
        let table =
            ScoringTable::new(1, 2, &[1.0], &[0.0, 0.0], &[1.0, 1.0], &mut table_buffer).unwrap();
        let mut values = vec![0.0f32; 4];
        let mut full = FullMatrix {
            values: &mut values,
            width: 2,
            column: 1,
        };
        let (mut z, mut running) = ([1.0f32; 4], [Moments::default(); 2]);
        let narrow = score_and_merge(
            kernels,
            &table,
            &[0, 0],
            &mut z,
            &mut running,
            Some(&mut full),
            None,
        );
        assert!(matches!(narrow, Err(Error::ShapeMismatch { .. })));
        assert_eq!(
            (z, running, values),
            ([1.0; 4], [Moments::default(); 2], vec![0.0; 4])
        );
    }
}
