//! The data flow of DESIGN.md for one block of directions, on a thread pool:
//! directions → projection → class statistics → scoring → per-sample summaries.
//!
//! Every reduction has a fixed order that does not depend on the number of
//! threads: rows are cut into [`ROW_CHUNK`]-row chunks and, for class
//! statistics, into at most [`ROW_GROUPS`] contiguous groups whose partial
//! moments are merged in group order. One seed therefore gives bit-identical
//! results on any number of threads.

use crate::error::{PsmiError, Result};
use crate::features::Features;
use psmi_core::projection::{self, PackedDirections};
use psmi_core::scoring::{self, ScoringTable};
use psmi_core::statistics::{ClassMoments, Moments};
use psmi_core::{directions, Kernels};
use rayon::prelude::*;

/// Rows handled by one task: large enough to amortise packing, small enough
/// that a chunk's projections stay in L2.
pub(crate) const ROW_CHUNK: usize = 256;

/// Fixed number of row groups whose class moments are merged in order.
pub(crate) const ROW_GROUPS: usize = 64;

/// Largest block of directions processed at once: bounds the n × block
/// projections that `fit_transform` keeps (10 MB for n = 10 000).
pub(crate) const MAX_BLOCK: usize = 256;

/// The chosen kernels and the thread pool they run on.
#[derive(Debug)]
pub(crate) struct Engine {
    pub kernels: Kernels,
    pool: rayon::ThreadPool,
}

impl Engine {
    /// Detects the CPU's kernels and starts `threads` workers (all cores if `None`).
    pub fn new(threads: Option<usize>) -> Result<Engine> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.unwrap_or(0))
            .build()
            .map_err(|e| PsmiError::Threads {
                threads: threads.unwrap_or(0),
                reason: e.to_string(),
            })?;
        Ok(Engine {
            kernels: Kernels::detect(),
            pool,
        })
    }

    /// Runs `work` inside the pool.
    pub fn install<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        self.pool.install(work)
    }
}

/// A block of directions, row-major.
#[derive(Clone, Debug)]
pub(crate) struct DirectionBlock {
    /// Index of the block's first direction.
    pub first: usize,
    /// Row-major `count × dim`.
    pub theta: Vec<f32>,
    dim: usize,
}

impl DirectionBlock {
    /// Draws directions `first .. first + count` from `seed`, in parallel.
    pub fn draw(
        engine: &Engine,
        seed: u64,
        first: usize,
        count: usize,
        dim: usize,
    ) -> Result<Self> {
        let mut theta = vec![0.0f32; count * dim];
        engine.install(|| {
            theta
                .par_chunks_mut(dim)
                .enumerate()
                .try_for_each(|(j, row)| directions::fill_directions(seed, first + j, dim, row))
        })?;
        Ok(DirectionBlock { first, theta, dim })
    }

    /// Wraps given directions (row-major `count × dim`).
    pub fn from_theta(first: usize, theta: Vec<f32>, dim: usize) -> Self {
        DirectionBlock { first, theta, dim }
    }

    /// Number of directions in the block.
    pub fn count(&self) -> usize {
        self.theta.len() / self.dim
    }

    /// Packs the block for `kernels` into `buffer`, once per pass over the data.
    fn pack<'b>(&self, kernels: Kernels, buffer: &'b mut Vec<f32>) -> Result<PackedDirections<'b>> {
        buffer.resize(projection::packed_len(kernels, self.count(), self.dim), 0.0);
        Ok(projection::pack_directions(
            kernels,
            &self.theta,
            self.dim,
            buffer,
        )?)
    }
}

/// Owned per-class, per-direction moments of one block.
#[derive(Clone, Debug)]
pub(crate) struct BlockMoments {
    pub counts: Vec<u64>,
    pub mean: Vec<f64>,
    pub m2: Vec<f64>,
    pub directions: usize,
}

impl BlockMoments {
    pub fn zeros(classes: usize, directions: usize) -> Self {
        BlockMoments {
            counts: vec![0; classes],
            mean: vec![0.0; classes * directions],
            m2: vec![0.0; classes * directions],
            directions,
        }
    }

    pub fn view(&mut self) -> ClassMoments<'_> {
        ClassMoments::from_parts(
            self.directions,
            &mut self.counts,
            &mut self.mean,
            &mut self.m2,
        )
        .expect("shapes fixed at construction")
    }
}

/// Class parameters of a block: frequencies (k), means and standard
/// deviations (k × directions, class-major).
#[derive(Clone, Debug)]
pub(crate) struct ClassParameters {
    pub frequency: Vec<f64>,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    pub directions: usize,
}

impl ClassParameters {
    /// Frequencies and population standard deviations of accumulated moments.
    pub fn from_moments(mut moments: BlockMoments, labels: &[i64], first: usize) -> Result<Self> {
        let classes = moments.counts.len();
        let mut frequency = vec![0.0; classes];
        let mut std = vec![0.0; moments.mean.len()];
        moments
            .view()
            .finish(&mut frequency, &mut std)
            .map_err(|e| PsmiError::from_core(e, labels, first))?;
        Ok(ClassParameters {
            frequency,
            mean: moments.mean,
            std,
            directions: moments.directions,
        })
    }

    /// The table the scoring kernels read, in `buffer`; checks for zero variances.
    pub fn table<'b>(
        &self,
        labels: &[i64],
        first: usize,
        buffer: &'b mut Vec<f32>,
    ) -> Result<ScoringTable<'b>> {
        let classes = self.frequency.len();
        buffer.resize(scoring::table_len(classes, self.directions), 0.0);
        ScoringTable::new(
            classes,
            self.directions,
            &self.frequency,
            &self.mean,
            &self.std,
            buffer,
        )
        .map_err(|e| PsmiError::from_core(e, labels, first))
    }
}

/// Rows per group, a multiple of [`ROW_CHUNK`], so that there are at most
/// [`ROW_GROUPS`] groups. Depends on n only.
fn group_rows(n: usize) -> usize {
    let chunks = n.div_ceil(ROW_CHUNK);
    chunks.div_ceil(ROW_GROUPS).max(1) * ROW_CHUNK
}

/// Class moments of every sample along the block's directions. When
/// `projections` is given (n × count), the projections are kept there for
/// scoring; otherwise each chunk's projections are dropped once counted.
pub(crate) fn fit_block(
    engine: &Engine,
    x: &Features<'_>,
    class_index: &[u32],
    classes: usize,
    block: &DirectionBlock,
    projections: Option<&mut [f32]>,
) -> Result<BlockMoments> {
    let (d, m) = (x.cols(), block.count());
    let rows = group_rows(x.rows());
    let mut packed_buffer = Vec::new();
    let packed = block.pack(engine.kernels, &mut packed_buffer)?;
    let scratch_len = projection::scratch_len(engine.kernels, d);
    let fit_group = |(x_rows, labels, z): (&[f32], &[u32], Option<&mut [f32]>)| {
        let mut moments = BlockMoments::zeros(classes, m);
        let mut scratch = vec![0.0f32; scratch_len];
        let mut local = Vec::new();
        let z = match z {
            Some(z) => z,
            None => {
                local.resize(labels.len().min(ROW_CHUNK) * m, 0.0);
                &mut local[..]
            }
        };
        let keep = z.len() == labels.len() * m;
        for (chunk, (x_chunk, label_chunk)) in x_rows
            .chunks(ROW_CHUNK * d)
            .zip(labels.chunks(ROW_CHUNK))
            .enumerate()
        {
            let offset = if keep { chunk * ROW_CHUNK * m } else { 0 };
            let z_chunk = &mut z[offset..offset + label_chunk.len() * m];
            projection::project(x_chunk, &packed, z_chunk, &mut scratch)?;
            moments.view().accumulate(z_chunk, label_chunk)?;
        }
        Ok::<_, psmi_core::Error>(moments)
    };
    let x_groups = x.as_slice().par_chunks(rows * d);
    let label_groups = class_index.par_chunks(rows);
    let partials: Vec<_> = engine.install(|| match projections {
        Some(z) => x_groups
            .zip(label_groups)
            .zip(z.par_chunks_mut(rows * m))
            .map(|((x, l), z)| fit_group((x, l, Some(z))))
            .collect::<std::result::Result<Vec<_>, _>>(),
        None => x_groups
            .zip(label_groups)
            .map(|(x, l)| fit_group((x, l, None)))
            .collect(),
    })?;
    let mut total = BlockMoments::zeros(classes, m);
    for mut partial in partials {
        total.view().merge(&partial.view())?;
    }
    Ok(total)
}

/// Where one block's scores go beyond the per-sample summaries: the columns
/// `column .. column + count` of an n × `width` matrix.
pub(crate) struct FullMatrix<'a> {
    pub values: &'a mut [f32],
    pub width: usize,
    pub column: usize,
}

/// Scores projections already computed (n × count, overwritten by PSMI), and
/// returns each sample's moments over the block's directions.
pub(crate) fn score_projected(
    engine: &Engine,
    table: &ScoringTable<'_>,
    class_index: &[u32],
    block: &DirectionBlock,
    projections: &mut [f32],
    full: Option<&mut FullMatrix<'_>>,
) -> Result<Vec<Moments>> {
    let m = block.count();
    let mut summaries = vec![Moments::default(); class_index.len()];
    engine.install(|| {
        projections
            .par_chunks_mut(ROW_CHUNK * m)
            .zip(class_index.par_chunks(ROW_CHUNK))
            .zip(summaries.par_chunks_mut(ROW_CHUNK))
            .try_for_each(|((z, labels), out)| {
                scoring::score_in_place(engine.kernels, table, labels, z)?;
                scoring::summarize_rows(z, m, out)
            })
    })?;
    if let Some(full) = full {
        let (width, column) = (full.width, full.column);
        engine.install(|| {
            projections
                .par_chunks(ROW_CHUNK * m)
                .zip(full.values.par_chunks_mut(ROW_CHUNK * width))
                .for_each(|(src, dst)| copy_rows(src, m, column, dst, width));
        });
    }
    Ok(summaries)
}

/// Projects, scores and summarises chunk by chunk, never holding more than a
/// chunk's projections per thread (the path of `transform`).
pub(crate) fn project_and_score(
    engine: &Engine,
    x: &Features<'_>,
    table: &ScoringTable<'_>,
    class_index: &[u32],
    block: &DirectionBlock,
    full: Option<&mut FullMatrix<'_>>,
) -> Result<Vec<Moments>> {
    let (d, m) = (x.cols(), block.count());
    let mut packed_buffer = Vec::new();
    let packed = block.pack(engine.kernels, &mut packed_buffer)?;
    let scratch_len = projection::scratch_len(engine.kernels, d);
    let mut summaries = vec![Moments::default(); class_index.len()];
    let chunks = class_index.len().div_ceil(ROW_CHUNK);
    let mut full_chunks: Vec<Option<(&mut [f32], usize, usize)>> = match full {
        Some(full) => {
            let (width, column) = (full.width, full.column);
            full.values
                .chunks_mut(ROW_CHUNK * width)
                .map(|rows| Some((rows, width, column)))
                .collect()
        }
        None => (0..chunks).map(|_| None).collect(),
    };
    engine.install(|| {
        x.as_slice()
            .par_chunks(ROW_CHUNK * d)
            .zip(class_index.par_chunks(ROW_CHUNK))
            .zip(summaries.par_chunks_mut(ROW_CHUNK))
            .zip(full_chunks.par_iter_mut())
            .try_for_each_init(
                || (vec![0.0f32; scratch_len], vec![0.0f32; ROW_CHUNK * m]),
                |(scratch, z), (((x_chunk, labels), out), full_chunk)| {
                    let z = &mut z[..labels.len() * m];
                    projection::project(x_chunk, &packed, z, scratch)?;
                    scoring::score_in_place(engine.kernels, table, labels, z)?;
                    scoring::summarize_rows(z, m, out)?;
                    if let Some((rows, width, column)) = full_chunk {
                        copy_rows(z, m, *column, rows, *width);
                    }
                    Ok::<_, psmi_core::Error>(())
                },
            )
    })?;
    Ok(summaries)
}

/// Copies rows of `m` scores into columns `column .. column + m` of rows of `width`.
fn copy_rows(src: &[f32], m: usize, column: usize, dst: &mut [f32], width: usize) {
    for (src_row, dst_row) in src.chunks_exact(m).zip(dst.chunks_exact_mut(width)) {
        dst_row[column..column + m].copy_from_slice(src_row);
    }
}
