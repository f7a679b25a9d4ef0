//! What the estimator, the streaming fitter and the model share around the
//! public [`stages`](crate::stages): the thread pool with its kernels, and a
//! block of directions, the unit of parallel work and of memory.

use crate::error::{PsmiError, Result};
use crate::stages;
use psmi_core::projection::{self, PackedDirections};
use psmi_core::Kernels;

/// Largest block of directions processed at once. Each block packs the rows
/// of X again, so wider blocks amortise that better.
pub(crate) const MAX_BLOCK: usize = 256;

/// Width of the passes of `fit_transform`, whose n × width projections are
/// kept between fitting and scoring: at most an eighth of the features'
/// n × d, and at least 64 so that packing X stays a small part of a pass.
pub(crate) fn pass_width(dim: usize) -> usize {
    (dim / 8).clamp(64, MAX_BLOCK)
}

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
        engine.install(|| stages::draw_directions(seed, first, dim, &mut theta))?;
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
    pub fn pack<'b>(
        &self,
        kernels: Kernels,
        buffer: &'b mut Vec<f32>,
    ) -> Result<PackedDirections<'b>> {
        buffer.resize(projection::packed_len(kernels, self.count(), self.dim), 0.0);
        Ok(projection::pack_directions(
            kernels,
            &self.theta,
            self.dim,
            buffer,
        )?)
    }
}
