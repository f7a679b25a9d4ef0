//! What the estimator, the streaming fitter and the model share around the
//! public [`stages`](crate::stages): the thread pool with its kernels, and a
//! block of directions, the unit of parallel work and of memory.

use crate::error::{PsmiError, Result};
use crate::stages;
use psmi_core::directions::Scheme;
use psmi_core::projection::{self, CacheSizes, PackedDirections, Precision};
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

/// The chosen kernels, the arithmetic of the projection, and the thread
/// pool they run on.
#[derive(Debug)]
pub(crate) struct Engine {
    pub kernels: Kernels,
    pub precision: Precision,
    pool: rayon::ThreadPool,
}

impl Engine {
    /// Detects the CPU's kernels and starts `threads` workers (all cores if
    /// `None`), to project in `precision`.
    pub fn new(threads: Option<usize>, precision: Precision) -> Result<Engine> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.unwrap_or(0))
            .build()
            .map_err(|e| PsmiError::Threads {
                threads: threads.unwrap_or(0),
                reason: e.to_string(),
            })?;
        Ok(Engine {
            kernels: Kernels::detect(),
            precision,
            pool,
        })
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
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

/// Draws blocks of directions in increasing order. Frames of orthonormal
/// directions are drawn whole, one per worker thread at a time, and kept
/// until a block starts past them: a pass usually covers part of a frame, and
/// one frame alone would keep one thread busy while the others wait.
#[derive(Debug)]
pub(crate) struct DirectionSource {
    seed: u64,
    scheme: Scheme,
    dim: usize,
    /// No direction at or past this is ever asked for.
    end: usize,
    /// Frames drawn ahead: the index of the first, and their rows.
    frames: (usize, Vec<f32>),
}

impl DirectionSource {
    /// Directions `0 .. end` of `seed` and `scheme`, of dimension `dim`.
    pub fn new(seed: u64, scheme: Scheme, dim: usize, end: usize) -> Self {
        DirectionSource {
            seed,
            scheme,
            dim,
            end,
            frames: (0, Vec::new()),
        }
    }

    /// Draws directions `first .. first + count`, in parallel.
    pub fn draw(&mut self, engine: &Engine, first: usize, count: usize) -> Result<DirectionBlock> {
        let (seed, scheme, dim) = (self.seed, self.scheme, self.dim);
        let draw = |first: usize, rows: usize| -> Result<Vec<f32>> {
            let mut theta = vec![0.0f32; rows * dim];
            engine.install(|| stages::draw_directions(seed, scheme, first, dim, &mut theta))?;
            Ok(theta)
        };
        let Scheme::Orthogonal { frame } = scheme else {
            return Ok(DirectionBlock::from_theta(first, draw(first, count)?, dim));
        };
        let (q0, q1) = (first / frame, (first + count.max(1) - 1) / frame);
        let frame_len = frame * dim;
        let (held_first, held) = &mut self.frames;
        // Keep the frames from q0 on, if q0 is held; otherwise none.
        if (*held_first..*held_first + held.len().div_ceil(frame_len)).contains(&q0) {
            held.drain(..(q0 - *held_first) * frame_len);
        } else {
            held.clear();
        }
        *held_first = q0;
        if q0 * frame + held.len() / dim < first + count {
            // Frames from the first not held whole through q1, and more
            // ahead so that every thread draws one; none past `end`, where
            // the last frame stops short (its rows past `end` would cost
            // their QR for nothing).
            held.truncate(held.len() / frame_len * frame_len);
            let held_end = q0 + held.len() / frame_len;
            let last = (self.end.max(1) - 1) / frame;
            let ahead = (held_end + engine.threads()).min(last + 1).max(q1 + 1);
            let end = (ahead * frame).min(self.end.max(first + count));
            held.extend(draw(held_end * frame, end - held_end * frame)?);
        }
        let offset = (first - q0 * frame) * dim;
        let rows = held[offset..offset + count * dim].to_vec();
        Ok(DirectionBlock::from_theta(first, rows, dim))
    }
}

impl DirectionBlock {
    /// Wraps given directions (row-major `count × dim`).
    pub fn from_theta(first: usize, theta: Vec<f32>, dim: usize) -> Self {
        DirectionBlock { first, theta, dim }
    }

    /// Number of directions in the block.
    pub fn count(&self) -> usize {
        self.theta.len() / self.dim
    }

    /// Packs the block for the engine's kernels and precision into
    /// `buffer`, once per pass over the data.
    pub fn pack<'b>(
        &self,
        engine: &Engine,
        buffer: &'b mut Vec<f32>,
    ) -> Result<PackedDirections<'b>> {
        let kernels = engine.kernels;
        buffer.resize(projection::packed_len(kernels, self.count(), self.dim), 0.0);
        Ok(projection::pack_directions_as(
            kernels,
            engine.precision,
            CacheSizes::detect(),
            &self.theta,
            self.dim,
            buffer,
        )?)
    }
}
