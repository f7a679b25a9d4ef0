//! Stage 1: random directions θ_j, uniform on the unit sphere S^{d-1}.
//!
//! Two [`Scheme`]s draw them:
//!
//! - [`Scheme::Iid`]: θ_j is a deterministic function of `(seed, j)`: its own
//!   xoshiro256++ generator, seeded from the SplitMix64 stream of `seed` at
//!   offset `4 j`, draws `d` standard normals (the ziggurat method of Marsaglia
//!   and Tsang 2000, in the form of Doornik 2005, in f64) that are then
//!   normalised (Marsaglia 1972).
//! - [`Scheme::Orthogonal`]: directions come in frames of `f` orthonormal
//!   rows; direction j is row `j mod f` of frame `j / f`. Frame q is the first
//!   f rows of a Haar-random orthogonal matrix: the Householder QR, in f64, of a
//!   d × f standard normal matrix drawn by the generator of `(seed, q)` in a
//!   stream of its own, with the signs of R's diagonal moved into Q (Mezzadri
//!   2007). Every row is exactly uniform on the sphere; the rows of a frame are
//!   negatively dependent, which lowers the variance of the Monte Carlo mean.
//!
//! Either way direction j is a pure function of `(seed, scheme, j)`: any block
//! of directions can be drawn alone, in any order, on any thread, and equals
//! the same rows drawn at once, bit for bit (a block that starts or ends inside
//! a frame computes that frame whole). With AVX-512, eight streams (rows, or
//! frames) are drawn at once, one per vector lane, with the same bits.

#[cfg(target_arch = "x86_64")]
mod lanes;

use crate::dispatch::{Isa, Kernels};
use crate::dot::dots;
use crate::error::{ensure_len, ensure_shape, Error};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// SplitMix64's increment: the seeds of consecutive directions are four
/// SplitMix64 steps apart, so their xoshiro256++ states never share a word.
const SPLITMIX_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// How directions are drawn: independently, or in orthonormal frames.
///
/// ```
/// use psmi_core::directions::Scheme;
/// let scheme = Scheme::Orthogonal { frame: 64 };
/// assert_eq!(scheme.frame_size(), Some(64));
/// assert_eq!(Scheme::Iid.frame_size(), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Independent normalised Gaussian vectors (the Python package's scheme).
    Iid,
    /// Frames of `frame` orthonormal rows, `1 ≤ frame ≤ dim`.
    Orthogonal {
        /// Rows per frame.
        frame: usize,
    },
}

impl Scheme {
    /// Rows per frame, or `None` for independent directions.
    pub fn frame_size(self) -> Option<usize> {
        match self {
            Scheme::Iid => None,
            Scheme::Orthogonal { frame } => Some(frame),
        }
    }

    /// Checks the frame size against `dim`.
    pub(crate) fn check(self, dim: usize) -> Result<(), Error> {
        if dim == 0 {
            return Err(Error::EmptyInput { what: "dim" });
        }
        match self {
            Scheme::Orthogonal { frame } if frame == 0 || frame > dim => {
                Err(Error::FrameSize { frame, dim })
            }
            _ => Ok(()),
        }
    }
}

/// Length of the f64 scratch [`fill`] needs for `scheme` in dimension `dim`:
/// 0 for [`Scheme::Iid`], `f·d + 2f + 8d` for frames of `f` (the Householder
/// vectors, their coefficients, the signs of R's diagonal, and 8 rows being
/// formed).
///
/// ```
/// use psmi_core::directions::{scratch_len, Scheme};
/// assert_eq!(scratch_len(Scheme::Iid, 100), 0);
/// assert_eq!(scratch_len(Scheme::Orthogonal { frame: 10 }, 100), 10 * 100 + 2 * 10 + 8 * 100);
/// ```
pub const fn scratch_len(scheme: Scheme, dim: usize) -> usize {
    match scheme {
        Scheme::Iid => 0,
        Scheme::Orthogonal { frame } => frames_scratch_len(frame, dim, 1),
    }
}

/// Frames whose normals [`fill`] draws at once, one per AVX-512 lane.
const FRAME_BATCH: usize = 8;

/// Most rows per frame for which frames are drawn in batches: drawing the
/// normals costs O(d) per row and the QR O(d·f), so batching larger frames
/// saves little for its memory.
const BATCH_MAX_FRAME: usize = 64;

/// Frames whose normals [`fill`] draws at once (one per AVX-512 lane, the
/// same bits as one by one) when its scratch holds [`batch_scratch_len`]
/// values: 8 for frames of at most 64 rows, otherwise (and for
/// [`Scheme::Iid`]) 1.
///
/// ```
/// use psmi_core::directions::{batch_frames, Scheme};
/// assert_eq!(batch_frames(Scheme::Orthogonal { frame: 3 }), 8);
/// assert_eq!(batch_frames(Scheme::Orthogonal { frame: 100 }), 1);
/// ```
pub const fn batch_frames(scheme: Scheme) -> usize {
    match scheme {
        Scheme::Orthogonal { frame } if frame <= BATCH_MAX_FRAME => FRAME_BATCH,
        _ => 1,
    }
}

/// Length of the f64 scratch with which [`fill`] draws [`batch_frames`]
/// frames' normals at once: `b·f·d + 2f + 8d` for b frames of f rows (0
/// for [`Scheme::Iid`]).
///
/// ```
/// use psmi_core::directions::{batch_scratch_len, scratch_len, Scheme};
/// let small = Scheme::Orthogonal { frame: 3 };
/// assert_eq!(batch_scratch_len(small, 100), 8 * 3 * 100 + 2 * 3 + 8 * 100);
/// let large = Scheme::Orthogonal { frame: 100 };
/// assert_eq!(batch_scratch_len(large, 100), scratch_len(large, 100));
/// ```
pub const fn batch_scratch_len(scheme: Scheme, dim: usize) -> usize {
    match scheme {
        Scheme::Iid => 0,
        Scheme::Orthogonal { frame } => frames_scratch_len(frame, dim, batch_frames(scheme)),
    }
}

/// Scratch for the normals of `frames` frames and one frame's QR.
const fn frames_scratch_len(frame: usize, dim: usize, frames: usize) -> usize {
    frames * frame * dim + 2 * frame + BLOCK * dim
}

/// Fills `out` (row-major, `count × dim`) with directions `first .. first +
/// count` of `scheme`, using `scratch` (at least [`scratch_len`] values;
/// [`batch_scratch_len`] lets small frames be drawn several at once) and
/// `kernels`' instruction set (every one gives the same bits; AVX-512 draws
/// eight streams at once, one per vector lane).
///
/// Every row has unit norm; with frames, the rows of one frame are orthonormal
/// (in f64, then rounded to f32). A frame the block only partly covers is
/// computed whole, so any block equals the same rows of a larger one.
///
/// ```
/// use psmi_core::directions::{fill, scratch_len, Scheme};
/// let kernels = psmi_core::Kernels::compiled();
/// let (dim, scheme) = (6, Scheme::Orthogonal { frame: 4 });
/// let mut scratch = [0.0f64; scratch_len(Scheme::Orthogonal { frame: 4 }, 6)];
/// let mut all = [0.0f32; 6 * 10];
/// fill(kernels, 9, scheme, 0, dim, &mut all, &mut scratch)?;
/// // Directions 3..5 straddle frames 0 and 1, drawn alone.
/// let mut part = [0.0f32; 6 * 2];
/// fill(kernels, 9, scheme, 3, dim, &mut part, &mut scratch)?;
/// assert_eq!(&all[3 * dim..5 * dim], &part[..]);
/// // Rows 0 and 1 of a frame are orthogonal.
/// let dot: f32 = all[..dim].iter().zip(&all[dim..2 * dim]).map(|(a, b)| a * b).sum();
/// assert!(dot.abs() < 1e-6);
/// # Ok::<(), psmi_core::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::EmptyInput`] if `dim` is 0, [`Error::FrameSize`] for a frame of 0
/// or more than `dim` rows, [`Error::ShapeMismatch`] if `out.len()` is not a
/// multiple of `dim`, [`Error::BufferTooSmall`] for a short `scratch`.
pub fn fill(
    kernels: Kernels,
    seed: u64,
    scheme: Scheme,
    first: usize,
    dim: usize,
    out: &mut [f32],
    scratch: &mut [f64],
) -> Result<(), Error> {
    scheme.check(dim)?;
    let count = out.len() / dim;
    ensure_shape("directions buffer", out, count * dim)?;
    let Scheme::Orthogonal { frame } = scheme else {
        fill_iid(kernels, seed, first, dim, out);
        return Ok(());
    };
    ensure_len("scratch", scratch, scratch_len(scheme, dim))?;
    let job = FrameJob {
        seed,
        frame,
        first,
        dim,
    };
    let products = Products::of(kernels);
    on_isa(
        kernels,
        FillFrames {
            job,
            out,
            scratch,
            products,
        },
    );
    Ok(())
}

/// Independent directions `first ..` into the whole rows of `out`: with
/// AVX-512, eight rows at once, one per lane; the rest one by one.
fn fill_iid(kernels: Kernels, seed: u64, first: usize, dim: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if kernels.isa() == Isa::Avx512 {
        let mut groups = out.chunks_exact_mut(lanes::LANES * dim);
        let mut index = first;
        for group in &mut groups {
            // SAFETY: a `Kernels` token names only instruction sets the CPU has.
            unsafe { lanes::fill_rows(seed, index as u64, dim, group) };
            index += lanes::LANES;
        }
        return fill_rows(seed, index, dim, groups.into_remainder());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = kernels;
    fill_rows(seed, first, dim, out);
}

/// Independent directions `first ..` into the whole rows of `out`, one by one.
fn fill_rows(seed: u64, first: usize, dim: usize, out: &mut [f32]) {
    for (offset, row) in out.chunks_exact_mut(dim).enumerate() {
        fill_direction(seed, (first + offset) as u64, row);
    }
}

/// Directions `first ..` of frames of `frame` rows, into whole rows of `out`.
struct FrameJob {
    seed: u64,
    frame: usize,
    first: usize,
    dim: usize,
}

impl FrameJob {
    /// Every frame's work, compiled once per instruction set through
    /// [`on_isa`] so that the f64 loops are vectorised as wide as the CPU
    /// allows. Every variant performs the same IEEE operations in the same
    /// order (no fused multiply-add; the dot products' eight partial sums are
    /// combined in a fixed order), so all give the same bits.
    ///
    /// With `products.lanes` (AVX-512) and room in `scratch` for [`FRAME_BATCH`]
    /// frames (of at most [`BATCH_MAX_FRAME`] rows), the normals of up to
    /// that many frames are drawn at once, one frame per lane.
    #[inline(always)]
    fn run(&self, out: &mut [f32], scratch: &mut [f64], products: Products) {
        let (frame, dim) = (self.frame, self.dim);
        let batched = products.lanes
            && frame <= BATCH_MAX_FRAME
            && scratch.len() >= frames_scratch_len(frame, dim, FRAME_BATCH);
        let batch = if batched { FRAME_BATCH } else { 1 };
        let (matrices, rest) = scratch.split_at_mut(batch * frame * dim);
        let mut index = self.first;
        let mut rows = out;
        while !rows.is_empty() {
            // Frames q .. q + frames hold the next rows.
            let q = index / frame;
            let end = index + rows.len() / dim;
            let frames = ((end - 1) / frame + 1 - q).min(batch);
            // Row j of a frame depends on its first j + 1 columns alone, so a
            // frame is drawn and factored no further than its last row asked for.
            let columns = |i: usize| (end - (q + i) * frame).min(frame);
            if batched && frames > 1 {
                // The spare lanes draw the frames after, unused.
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `products.lanes` is set on the AVX-512 path alone.
                unsafe {
                    lanes::fill_frames(self.seed ^ FRAME_STREAM, q as u64, matrices)
                };
            } else {
                for (i, a) in matrices
                    .chunks_exact_mut(frame * dim)
                    .take(frames)
                    .enumerate()
                {
                    frame_normals(self.seed, (q + i) as u64, &mut a[..columns(i) * dim]);
                }
            }
            for (i, a) in matrices
                .chunks_exact_mut(frame * dim)
                .take(frames)
                .enumerate()
            {
                let row = index % frame;
                let take = (frame - row).min(rows.len() / dim);
                let (block, next) = core::mem::take(&mut rows).split_at_mut(take * dim);
                let (coefficients, work) = rest.split_at_mut(2 * frame);
                let mut qr = FrameScratch::new(a, coefficients, frame, dim, products);
                qr.factor(columns(i));
                qr.into_factored().rows(row, block, work);
                index += take;
                rows = next;
            }
        }
    }
}

/// [`FrameJob::run`] with its buffers, as one step of [`on_isa`].
struct FillFrames<'a> {
    job: FrameJob,
    out: &'a mut [f32],
    scratch: &'a mut [f64],
    products: Products,
}

impl FrameStep for FillFrames<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        self.job.run(self.out, self.scratch, self.products)
    }
}

/// A frame's Householder QR, in caller-provided f64 memory.
struct FrameScratch<'a> {
    /// Column-major d × f: column k holds the k-th Householder vector in rows
    /// `k + 1 ..` (its leading 1 is implied) once reduced.
    a: &'a mut [f64],
    /// The reflectors' coefficients τ_k: H_k = I − τ_k v_k v_kᵀ.
    tau: &'a mut [f64],
    /// Signs of R's diagonal, moved into Q.
    sign: &'a mut [f64],
    dim: usize,
    products: Products,
}

impl<'a> FrameScratch<'a> {
    /// `a` holds the frame's normals; `rest` the coefficients and signs.
    fn new(
        a: &'a mut [f64],
        rest: &'a mut [f64],
        frame: usize,
        dim: usize,
        products: Products,
    ) -> Self {
        let (tau, rest) = rest.split_at_mut(frame);
        let sign = &mut rest[..frame];
        FrameScratch {
            a,
            tau,
            sign,
            dim,
            products,
        }
    }

    /// Factors the first `columns` columns of the frame's d × f Gaussian
    /// matrix: all that rows `.. columns` of Q need, since column k is
    /// reduced by reflectors 0 … k − 1 alone.
    ///
    /// In panels of [`BLOCK`] columns: each column of a panel is reduced and
    /// its reflector applied to the rest of the panel, then the panel's
    /// reflectors to each later column in turn, while it is in cache. Every
    /// column still receives H_0, H_1, … in that order, so the arithmetic is
    /// that of the unblocked algorithm, with a BLOCK-th of its memory traffic.
    #[inline(always)]
    fn factor(&mut self, columns: usize) {
        for panel in (0..columns).step_by(BLOCK) {
            let (reflectors, later) = self.reduce_panel(panel, columns);
            reflectors.apply(later);
        }
    }

    /// Reduces columns `panel .. panel + BLOCK` (at most `columns`), which
    /// have received every earlier panel's reflectors, and lends their
    /// reflectors with the later columns `.. columns` they must still reach.
    #[inline(always)]
    fn reduce_panel(&mut self, panel: usize, columns: usize) -> (Reflectors<'_>, &mut [f64]) {
        let d = self.dim;
        let end = (panel + BLOCK).min(columns);
        for k in panel..end {
            self.reflector(k);
            let (done, rest) = self.a.split_at_mut((k + 1) * d);
            let v = &done[k * d + k + 1..];
            let mut columns: Columns<'_> = rest[..(end - k - 1) * d]
                .chunks_exact_mut(d)
                .map(|next| &mut next[k..])
                .collect();
            self.products.reflect_all(v, self.tau[k], &mut columns);
        }
        let (done, later) = self.a[..columns * d].split_at_mut(end * d);
        let reflectors = Reflectors {
            a: done,
            tau: &self.tau[..end],
            first: panel,
            dim: d,
            products: self.products,
        };
        (reflectors, later)
    }

    /// Turns column k, which has received H_0 … H_(k−1), into the Householder
    /// vector of H_k (LAPACK's dlarfg), with R_kk's sign kept apart.
    #[inline(always)]
    fn reflector(&mut self, k: usize) {
        let d = self.dim;
        let column = &mut self.a[k * d + k..(k + 1) * d];
        let (alpha, tail) = column.split_first_mut().expect("k < d");
        let tail_sq = self.products.dots(tail, [&*tail])[0];
        if tail_sq == 0.0 {
            // Already a multiple of e_k: H_k = I, R_kk = α.
            self.tau[k] = 0.0;
            self.sign[k] = if *alpha < 0.0 { -1.0 } else { 1.0 };
            return;
        }
        let norm = libm::sqrt(*alpha * *alpha + tail_sq);
        // β = −sign(α)‖x‖ avoids cancellation in α − β.
        let beta = if *alpha >= 0.0 { -norm } else { norm };
        self.tau[k] = (beta - *alpha) / beta;
        let scale = 1.0 / (*alpha - beta);
        for v in tail.iter_mut() {
            *v *= scale;
        }
        *alpha = beta;
        self.sign[k] = if beta < 0.0 { -1.0 } else { 1.0 };
    }

    /// The factored frame, read-only: its rows can be formed on any thread.
    fn into_factored(self) -> Factored<'a> {
        Factored {
            a: self.a,
            tau: self.tau,
            sign: self.sign,
            dim: self.dim,
            products: self.products,
        }
    }
}

/// One panel's reflectors H_first … H_(end−1), to apply to later columns.
#[derive(Clone, Copy)]
struct Reflectors<'a> {
    /// The reduced columns `.. end`, whole.
    a: &'a [f64],
    tau: &'a [f64],
    first: usize,
    dim: usize,
    products: Products,
}

impl Reflectors<'_> {
    /// Applies the panel's reflectors in order to each whole column of
    /// `columns`, four columns at a time while they are in cache; a column's
    /// bits do not depend on the others it is grouped with.
    #[inline(always)]
    fn apply(self, columns: &mut [f64]) {
        let d = self.dim;
        for group in columns.chunks_mut(COLUMNS_TOGETHER * d) {
            for k in self.first..self.tau.len() {
                let mut columns: Columns<'_> = group
                    .chunks_exact_mut(d)
                    .map(|next| &mut next[k..])
                    .collect();
                let v = &self.a[k * d + k + 1..(k + 1) * d];
                self.products.reflect_all(v, self.tau[k], &mut columns);
            }
        }
    }
}

/// A factored frame's reflectors and signs, from which rows are formed.
#[derive(Clone, Copy)]
struct Factored<'a> {
    a: &'a [f64],
    tau: &'a [f64],
    sign: &'a [f64],
    dim: usize,
    products: Products,
}

impl Factored<'_> {
    /// Writes rows `row ..` of the factored frame into `out` (row-major,
    /// whole rows), with `work` (at least [`BLOCK`] rows): row j is Q e_j =
    /// H_0 ⋯ H_j e_j, times the sign of R_jj. [`BLOCK`] rows are formed
    /// together, so each reflector is read once for all of them; each row
    /// receives its reflectors in the same order, so its bits do not depend
    /// on the rows formed with it.
    #[inline(always)]
    fn rows(self, row: usize, out: &mut [f32], work: &mut [f64]) {
        let d = self.dim;
        for (g, group) in out.chunks_mut(BLOCK * d).enumerate() {
            let first = row + g * BLOCK;
            let count = group.len() / d;
            let work = &mut work[..count * d];
            work.fill(0.0);
            for (r, w) in work.chunks_exact_mut(d).enumerate() {
                w[first + r] = 1.0;
            }
            for k in (0..first + count).rev() {
                let v = &self.a[k * d + k + 1..(k + 1) * d];
                let mut rows: Columns<'_> = work
                    .chunks_exact_mut(d)
                    .skip(k.saturating_sub(first))
                    .map(|w| &mut w[k..])
                    .collect();
                self.products.reflect_all(v, self.tau[k], &mut rows);
            }
            for (r, (o, w)) in group
                .chunks_exact_mut(d)
                .zip(work.chunks_exact(d))
                .enumerate()
            {
                let sign = self.sign[first + r];
                for (o, w) in o.iter_mut().zip(w) {
                    *o = (w * sign) as f32;
                }
            }
        }
    }
}

/// One frame of [`Scheme::Orthogonal`] drawn and factored in steps, so that
/// a caller can share a large frame's QR among threads (the std crate's
/// `draw_directions` does). The rows equal those [`fill`] gives, bit for bit,
/// however the steps are spread.
///
/// [`FrameQr::draw`] draws the normals of the frame's first columns;
/// [`FrameQr::next_panel`] reduces the next [`FrameQr::PANEL`] columns and
/// lends their reflectors with the later columns, each of which may receive
/// them on any thread; [`FrameQr::factored`] finishes what panels are left
/// and gives the [`FactoredFrame`], whose rows may be formed on any thread.
///
/// ```
/// use psmi_core::directions::{fill, scratch_len, FactoredFrame, FrameQr, Panel, Scheme};
/// let kernels = psmi_core::Kernels::detect();
/// let (dim, frame, seed) = (20, 16, 7);
/// let scheme = Scheme::Orthogonal { frame };
/// // Directions 16 .. 26 are rows 0 .. 10 of frame 1.
/// let mut whole = vec![0.0f32; 10 * dim];
/// let mut scratch = vec![0.0f64; scratch_len(scheme, dim)];
/// fill(kernels, seed, scheme, 16, dim, &mut whole, &mut scratch)?;
///
/// let mut qr = FrameQr::draw(kernels, seed, frame, 1, dim, 10, &mut scratch)?;
/// while let Some((panel, later)) = qr.next_panel() {
///     // Any split of the later columns into whole columns, on any thread.
///     for columns in later.chunks_mut(Panel::COLUMNS * dim) {
///         panel.apply(columns)?;
///     }
/// }
/// let factored = qr.factored();
/// let mut rows = vec![0.0f32; 10 * dim];
/// let mut work = vec![0.0f64; FactoredFrame::work_len(dim)];
/// for (g, out) in rows.chunks_mut(FactoredFrame::ROWS * dim).enumerate() {
///     factored.rows(g * FactoredFrame::ROWS, out, &mut work)?;
/// }
/// assert_eq!(rows, whole);
/// # Ok::<(), psmi_core::Error>(())
/// ```
pub struct FrameQr<'a> {
    qr: FrameScratch<'a>,
    kernels: Kernels,
    /// Columns drawn, and to be factored.
    columns: usize,
    /// Columns reduced so far.
    reduced: usize,
}

impl<'a> FrameQr<'a> {
    /// Columns reduced by one [`FrameQr::next_panel`].
    pub const PANEL: usize = BLOCK;

    /// Draws the normals of the first `columns` columns of frame `q` (of
    /// `frame` rows, directions `q · frame ..`): all that its first `columns`
    /// rows need. `scratch` holds at least [`scratch_len`] values.
    ///
    /// # Errors
    ///
    /// As [`fill`] for `dim`, `frame` and `scratch`;
    /// [`Error::FrameSize`] if `columns` is 0 or more than `frame`.
    pub fn draw(
        kernels: Kernels,
        seed: u64,
        frame: usize,
        q: usize,
        dim: usize,
        columns: usize,
        scratch: &'a mut [f64],
    ) -> Result<Self, Error> {
        let scheme = Scheme::Orthogonal { frame };
        scheme.check(dim)?;
        if columns == 0 || columns > frame {
            return Err(Error::FrameSize {
                frame: columns,
                dim: frame,
            });
        }
        ensure_len("scratch", scratch, scratch_len(scheme, dim))?;
        let (a, rest) = scratch.split_at_mut(frame * dim);
        frame_normals(seed, q as u64, &mut a[..columns * dim]);
        Ok(FrameQr {
            qr: FrameScratch::new(a, rest, frame, dim, Products::of(kernels)),
            kernels,
            columns,
            reduced: 0,
        })
    }

    /// Reduces the next [`FrameQr::PANEL`] columns (or those left) and lends
    /// their reflectors with the later columns (whole columns of `dim`
    /// values, column-major), which must each receive them through
    /// [`Panel::apply`] before the next panel; `None` once every column is
    /// reduced.
    pub fn next_panel(&mut self) -> Option<(Panel<'_>, &mut [f64])> {
        if self.reduced >= self.columns {
            return None;
        }
        let panel = self.reduced;
        self.reduced = (panel + BLOCK).min(self.columns);
        let kernels = self.kernels;
        let (reflectors, later) = on_isa(
            kernels,
            ReducePanel {
                qr: &mut self.qr,
                panel,
                columns: self.columns,
            },
        );
        Some((
            Panel {
                reflectors,
                kernels,
            },
            later,
        ))
    }

    /// Reduces the panels left, each applied to the later columns here, and
    /// gives the factored frame.
    pub fn factored(mut self) -> FactoredFrame<'a> {
        while let Some((panel, later)) = self.next_panel() {
            on_isa(
                panel.kernels,
                ApplyPanel {
                    reflectors: panel.reflectors,
                    columns: later,
                },
            );
        }
        FactoredFrame {
            factored: self.qr.into_factored(),
            kernels: self.kernels,
            columns: self.columns,
        }
    }
}

/// One panel's reflectors, lent by [`FrameQr::next_panel`].
pub struct Panel<'a> {
    reflectors: Reflectors<'a>,
    kernels: Kernels,
}

impl Panel<'_> {
    /// Columns that receive the reflectors together, while they are in cache:
    /// a good unit for sharing the later columns among threads.
    pub const COLUMNS: usize = COLUMNS_TOGETHER;

    /// Applies the panel's reflectors, in order, to each whole column of
    /// `columns` (any run of the later columns [`FrameQr::next_panel`]
    /// lent). A column's bits do not depend on the others passed with it.
    ///
    /// # Errors
    ///
    /// [`Error::ShapeMismatch`] if `columns` is not whole columns.
    pub fn apply(&self, columns: &mut [f64]) -> Result<(), Error> {
        let dim = self.reflectors.dim;
        ensure_shape("frame columns", columns, columns.len() / dim * dim)?;
        on_isa(
            self.kernels,
            ApplyPanel {
                reflectors: self.reflectors,
                columns,
            },
        );
        Ok(())
    }
}

/// A frame factored by [`FrameQr`]; its rows may be formed on any thread.
pub struct FactoredFrame<'a> {
    factored: Factored<'a>,
    kernels: Kernels,
    columns: usize,
}

impl FactoredFrame<'_> {
    /// Rows formed together by [`FactoredFrame::rows`]: a good unit for
    /// sharing them among threads.
    pub const ROWS: usize = BLOCK;

    /// Length of the f64 `work` [`FactoredFrame::rows`] needs in dimension `dim`.
    pub const fn work_len(dim: usize) -> usize {
        BLOCK * dim
    }

    /// Writes rows `row ..` of the frame into `out` (whole rows, row-major),
    /// with `work` of at least [`FactoredFrame::work_len`] values.
    ///
    /// # Errors
    ///
    /// [`Error::ShapeMismatch`] if `out` is not whole rows,
    /// [`Error::BufferTooSmall`] for a short `work`, or for rows past those
    /// drawn ("factored columns").
    pub fn rows(&self, row: usize, out: &mut [f32], work: &mut [f64]) -> Result<(), Error> {
        let dim = self.factored.dim;
        let count = out.len() / dim;
        ensure_shape("directions buffer", out, count * dim)?;
        ensure_len("work", work, Self::work_len(dim))?;
        if row + count > self.columns {
            return Err(Error::BufferTooSmall {
                buffer: "factored columns",
                required: row + count,
                provided: self.columns,
            });
        }
        on_isa(
            self.kernels,
            FormRows {
                factored: self.factored,
                row,
                out,
                work,
            },
        );
        Ok(())
    }
}

/// Work compiled once per instruction set by [`on_isa`]: `run` is inlined
/// into a function with that set's features, so its f64 loops are
/// vectorised as wide as the CPU allows (every set gives the same bits).
trait FrameStep {
    type Output;
    fn run(self) -> Self::Output;
}

/// Runs `step` compiled for `kernels`' instruction set.
fn on_isa<S: FrameStep>(kernels: Kernels, step: S) -> S::Output {
    match kernels.isa() {
        // SAFETY: a `Kernels` token names only instruction sets the CPU has.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { on_avx512(step) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { on_avx2(step) },
        _ => step.run(),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl")]
fn on_avx512<S: FrameStep>(step: S) -> S::Output {
    step.run()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn on_avx2<S: FrameStep>(step: S) -> S::Output {
    step.run()
}

/// [`FrameScratch::reduce_panel`] as a step.
struct ReducePanel<'s, 'a> {
    qr: &'s mut FrameScratch<'a>,
    panel: usize,
    columns: usize,
}

impl<'s> FrameStep for ReducePanel<'s, '_> {
    type Output = (Reflectors<'s>, &'s mut [f64]);

    #[inline(always)]
    fn run(self) -> Self::Output {
        self.qr.reduce_panel(self.panel, self.columns)
    }
}

/// [`Reflectors::apply`] as a step.
struct ApplyPanel<'s> {
    reflectors: Reflectors<'s>,
    columns: &'s mut [f64],
}

impl FrameStep for ApplyPanel<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        self.reflectors.apply(self.columns)
    }
}

/// [`Factored::rows`] as a step.
struct FormRows<'s> {
    factored: Factored<'s>,
    row: usize,
    out: &'s mut [f32],
    work: &'s mut [f64],
}

impl FrameStep for FormRows<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        self.factored.rows(self.row, self.out, self.work)
    }
}

/// Later columns that receive a panel's reflectors together, while they are
/// in cache.
const COLUMNS_TOGETHER: usize = 4;

/// Columns per panel of the factorisation, and rows formed together.
const BLOCK: usize = 8;

/// The vectors one reflector acts on together: at most a panel's columns or
/// the rows formed together.
type Columns<'a> = heapless::Vec<&'a mut [f64], BLOCK>;

/// Fills `a` (column-major d × f, or its first columns) with frame `q`'s
/// standard normals, column by column, from a stream apart from the i.i.d. directions', so that frame q
/// and direction q do not share their normals.
fn frame_normals(seed: u64, q: u64, a: &mut [f64]) {
    let mut rng = direction_rng(seed ^ FRAME_STREAM, q);
    for value in a.iter_mut() {
        *value = standard_normal(&mut rng);
    }
}

/// Offsets the frames' generators from those of the i.i.d. directions.
const FRAME_STREAM: u64 = 0x6672_616d_6573_2121; // "frames!!"

/// How the frames' dot products are taken: by the generic [`dots`], or with
/// AVX-512 registers of partial sums (`lanes`); the same sums either way.
#[derive(Clone, Copy)]
struct Products {
    lanes: bool,
}

impl Products {
    /// AVX-512 registers where `kernels` has them.
    fn of(kernels: Kernels) -> Self {
        Products {
            lanes: kernels.isa() == Isa::Avx512,
        }
    }

    /// [`dots`] of `a` with each of `bs`.
    #[inline(always)]
    fn dots<const R: usize>(self, a: &[f64], bs: [&[f64]; R]) -> [f64; R] {
        #[cfg(target_arch = "x86_64")]
        if self.lanes {
            // SAFETY: `lanes` is set on the AVX-512 path alone.
            return unsafe { lanes::dots(a, bs) };
        }
        dots(a, bs)
    }

    /// Applies H = I − τ v vᵀ (with v's leading 1 implied, `v` the rest) to
    /// each of `xs`, each with the bits of applying it to that vector alone:
    /// the dot products of up to four at a time in one pass.
    #[inline(always)]
    fn reflect_all(self, v: &[f64], tau: f64, xs: &mut [&mut [f64]]) {
        if tau == 0.0 {
            return;
        }
        for group in xs.chunks_mut(4) {
            match group.len() {
                4 => self.reflect_group::<4>(v, tau, group),
                3 => self.reflect_group::<3>(v, tau, group),
                2 => self.reflect_group::<2>(v, tau, group),
                _ => self.reflect_group::<1>(v, tau, group),
            }
        }
    }

    /// [`Products::reflect_all`] on exactly R vectors.
    #[inline(always)]
    fn reflect_group<const R: usize>(self, v: &[f64], tau: f64, xs: &mut [&mut [f64]]) {
        let products = self.dots(v, core::array::from_fn::<_, R, _>(|r| &xs[r][1..]));
        for (x, product) in xs.iter_mut().zip(products) {
            let (head, tail) = x.split_first_mut().expect("a reflector acts on ≥ 1 row");
            let s = tau * (*head + product);
            *head -= s;
            for (t, vi) in tail.iter_mut().zip(v) {
                *t -= s * vi;
            }
        }
    }
}

/// Fills `out` (row-major, `count × dim`) with directions `first .. first + count`.
///
/// Each row has unit Euclidean norm (computed in f64, rounded to f32).
///
/// ```
/// use psmi_core::directions::fill_directions;
/// let (dim, count) = (5, 3);
/// let mut all = [0.0f32; 5 * 3];
/// fill_directions(42, 0, dim, &mut all).unwrap();
/// // Direction 2 alone equals the third row of the block.
/// let mut third = [0.0f32; 5];
/// fill_directions(42, 2, dim, &mut third).unwrap();
/// assert_eq!(&all[2 * dim..], &third[..]);
/// let norm: f32 = third.iter().map(|v| v * v).sum::<f32>().sqrt();
/// assert!((norm - 1.0).abs() < 1e-6);
/// ```
///
/// # Errors
///
/// [`Error::EmptyInput`] if `dim` is 0, [`Error::ShapeMismatch`] if
/// `out.len()` is not a multiple of `dim`.
pub fn fill_directions(seed: u64, first: usize, dim: usize, out: &mut [f32]) -> Result<(), Error> {
    if dim == 0 {
        return Err(Error::EmptyInput { what: "dim" });
    }
    let count = out.len() / dim;
    ensure_shape("directions buffer", out, count * dim)?;
    fill_rows(seed, first, dim, out);
    Ok(())
}

/// The generator of direction `index`.
fn direction_rng(seed: u64, index: u64) -> Xoshiro256PlusPlus {
    let stream_offset = index.wrapping_mul(4).wrapping_mul(SPLITMIX_GAMMA);
    Xoshiro256PlusPlus::seed_from_u64(seed.wrapping_add(stream_offset))
}

fn fill_direction(seed: u64, index: u64, row: &mut [f32]) {
    let mut rng = direction_rng(seed, index);
    let mut sum_sq = 0.0f64;
    for value in row.iter_mut() {
        let v = standard_normal(&mut rng);
        sum_sq += v * v;
        *value = v as f32;
    }
    normalise(row, sum_sq);
}

/// Scales a row of normals (rounded to f32) whose f64 squares sum to
/// `sum_sq` to unit norm. The norm is taken of the f64 draws; scaling the
/// stored values in f64 keeps each row's norm within an f32 rounding of 1.
#[inline(always)]
fn normalise(row: &mut [f32], sum_sq: f64) {
    let inv_norm = 1.0 / libm::sqrt(sum_sq);
    for value in row.iter_mut() {
        *value = (*value as f64 * inv_norm) as f32;
    }
}

/// Right edge of the base layer's tail.
const ZIGGURAT_R: f64 = 3.442619855899;
/// Layer edges of the ziggurat, 128 layers of equal area V = 9.91256303526217e-3
/// under the density: `ZIGGURAT_X[0] = V / f(R)` (the base layer's virtual width),
/// `[1] = R`, `[i + 1] = sqrt(-2 ln(V / [i] + f([i])))`, `[128] = 0`, with
/// f(x) = exp(-x²/2). Generated in f64 by that recursion; the test
/// `ziggurat_table_follows_its_recursion` recomputes it.
const ZIGGURAT_X: [f64; 129] = [
    3.7130862467425505,
    3.442619855899,
    3.2230849845811416,
    3.0832288582168683,
    2.9786962526477803,
    2.894344007021529,
    2.8231253505489105,
    2.761169372387177,
    2.7061135731218195,
    2.6564064112613597,
    2.6109722484318474,
    2.569033625924938,
    2.5300096723888275,
    2.493454522095372,
    2.4590181774118305,
    2.42642064553375,
    2.3954342780110625,
    2.3658713701176386,
    2.3375752413392368,
    2.310413683698763,
    2.2842740596774718,
    2.2590595738691985,
    2.2346863955909795,
    2.2110814088787034,
    2.188180432076049,
    2.165926793748922,
    2.1442701823603953,
    2.1231657086739766,
    2.1025731351892385,
    2.082456237992017,
    2.0627822745083084,
    2.0435215366550676,
    2.0246469733773855,
    2.006133869963472,
    1.98795957412762,
    1.9701032608543265,
    1.9525457295535567,
    1.9352692282966228,
    1.9182573008645099,
    1.901494653105151,
    1.884967035707759,
    1.8686611409944887,
    1.8525645117280911,
    1.836665460258446,
    1.8209529965961255,
    1.8054167642192285,
    1.7900469825998586,
    1.7748343955860695,
    1.7597702248995934,
    1.7448461281138004,
    1.7300541605637305,
    1.7153867407136676,
    1.7008366185699169,
    1.6863968467791681,
    1.672060754097601,
    1.6578219209540241,
    1.6436741568628686,
    1.6296114794706347,
    1.615628095043161,
    1.6017183802213781,
    1.5878768648905761,
    1.5740982160230008,
    1.560377222366169,
    1.5467087798599104,
    1.5330878776740433,
    1.5195095847659401,
    1.5059690368632033,
    1.492461423781354,
    1.4789819769899242,
    1.4655259573427108,
    1.4520886428892246,
    1.4386653166845635,
    1.42525125451406,
    1.4118417124470577,
    1.3984319141310053,
    1.3850170377326518,
    1.3715922024273426,
    1.3581524543301435,
    1.344692751753547,
    1.3312079496656273,
    1.317692783209414,
    1.3041418501286168,
    1.2905495919261964,
    1.2769102735601556,
    1.263217961454621,
    1.2494664995730682,
    1.2356494832633627,
    1.2217602305399964,
    1.2077917504159497,
    1.1937367078331287,
    1.1795873846639882,
    1.1653356361647524,
    1.1509728421488674,
    1.1364898520131608,
    1.1218769225825422,
    1.107123647534036,
    1.0922188769072774,
    1.0771506248928957,
    1.0619059636948243,
    1.0464709007640454,
    1.0308302360681956,
    1.0149673952513305,
    0.9988642334929836,
    0.982500803515429,
    0.9658550794011499,
    0.9489026255113064,
    0.9316161966151508,
    0.9139652510230323,
    0.8959153525809377,
    0.8774274291129234,
    0.8584568431938132,
    0.8389522142975774,
    0.8188539067003573,
    0.7980920606440569,
    0.7765839878947599,
    0.7542306644540556,
    0.7309119106424888,
    0.7064796113354365,
    0.6807479186691546,
    0.6534786387399752,
    0.6243585973360507,
    0.5929629424714483,
    0.5586921784081852,
    0.5206560387620606,
    0.4774378372966898,
    0.4265479863554235,
    0.36287143109703196,
    0.27232086481396467,
    0.0,
];

/// A standard normal variate by the ziggurat method; most samples take one
/// 64-bit draw.
fn standard_normal(rng: &mut Xoshiro256PlusPlus) -> f64 {
    loop {
        let bits = rng.next_u64();
        let (x, layer) = ziggurat_point(bits);
        // Inside the layer's rectangle that lies wholly under the density.
        if x.abs() < ZIGGURAT_X[layer + 1] {
            return x;
        }
        if let Some(x) = outside_rectangle(rng, x, layer) {
            return x;
        }
    }
}

/// The point of the ziggurat a 64-bit draw picks: its top 53 bits give u
/// uniform in [-1, 1), its low 7 bits the layer; x = u times the layer's width.
#[inline(always)]
fn ziggurat_point(bits: u64) -> (f64, usize) {
    let u = 2.0 * unit_f64(bits) - 1.0;
    let layer = (bits & 0x7f) as usize;
    (u * ZIGGURAT_X[layer], layer)
}

/// Carries on from a draw whose point x fell outside its layer's
/// rectangle: a sample of the tail for the base layer, otherwise x if it
/// lies under the density in the layer's wedge (one more draw), or `None`
/// to start again.
#[inline(always)]
fn outside_rectangle(rng: &mut Xoshiro256PlusPlus, x: f64, layer: usize) -> Option<f64> {
    if layer == 0 {
        // x has u's sign (the base layer's width is positive).
        return Some(normal_tail(rng, x < 0.0));
    }
    // In the wedge: accept under the density, between f at the
    // layer's two edges.
    let (outer, inner) = (ZIGGURAT_X[layer], ZIGGURAT_X[layer + 1]);
    let f_outer = libm::exp(-0.5 * (outer * outer - x * x));
    let f_inner = libm::exp(-0.5 * (inner * inner - x * x));
    (f_inner + unit_f64(rng.next_u64()) * (f_outer - f_inner) < 1.0).then_some(x)
}

/// Finishes the normal [`standard_normal`] would return from `rng` had its
/// last draw been `bits` and that draw's point fallen outside its
/// rectangle (the vector samplers' lanes that leave the fast path).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn finish_normal(rng: &mut Xoshiro256PlusPlus, bits: u64) -> f64 {
    let (x, layer) = ziggurat_point(bits);
    match outside_rectangle(rng, x, layer) {
        Some(x) => x,
        None => standard_normal(rng),
    }
}

/// A sample of the normal tail beyond R (Marsaglia 1964), with the sign asked for.
fn normal_tail(rng: &mut Xoshiro256PlusPlus, negative: bool) -> f64 {
    loop {
        // 1 - unit is in (0, 1], so the logarithms are finite.
        let x = libm::log(1.0 - unit_f64(rng.next_u64())) / ZIGGURAT_R;
        let y = libm::log(1.0 - unit_f64(rng.next_u64()));
        if -2.0 * y >= x * x {
            return if negative {
                x - ZIGGURAT_R
            } else {
                ZIGGURAT_R - x
            };
        }
    }
}

/// The top 53 bits of `bits` as a uniform f64 in [0, 1).
fn unit_f64(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn rows_have_unit_norm() {
        for dim in [1usize, 2, 7, 63, 65, 513] {
            let mut out = vec![0.0f32; dim * 9];
            fill_directions(7, 11, dim, &mut out).unwrap();
            for row in out.chunks_exact(dim) {
                let norm: f64 = row
                    .iter()
                    .map(|&v| (v as f64) * (v as f64))
                    .sum::<f64>()
                    .sqrt();
                assert!((norm - 1.0).abs() < 1e-6, "dim {dim}: norm {norm}");
            }
        }
    }

    #[test]
    fn blocks_equal_rows_drawn_at_once() {
        let dim = 33;
        let mut all = vec![0.0f32; dim * 40];
        fill_directions(123, 0, dim, &mut all).unwrap();
        // Drawn in uneven blocks, out of order.
        for (first, count) in [(30usize, 10usize), (0, 7), (7, 23)] {
            let mut block = vec![0.0f32; dim * count];
            fill_directions(123, first, dim, &mut block).unwrap();
            assert_eq!(block, all[first * dim..(first + count) * dim]);
        }
    }

    #[test]
    fn seeds_give_different_directions() {
        let mut a = [0.0f32; 16];
        let mut b = [0.0f32; 16];
        fill_directions(1, 0, 16, &mut a).unwrap();
        fill_directions(2, 0, 16, &mut b).unwrap();
        assert_ne!(a, b);
    }

    /// Uniform on the sphere: E[θ] = 0 and E[θθᵀ] = I/d. With m draws, each
    /// entry of the sample mean has standard deviation sqrt(1/(d m)), and each
    /// entry of the sample second moment about sqrt(2/(d² m)) on the diagonal
    /// and sqrt(1/(d² m)) off it; 5 standard deviations is the bound.
    fn assert_isotropic(theta: &[f32], dim: usize) {
        let m = theta.len() / dim;
        let mut mean = vec![0.0f64; dim];
        let mut second = vec![0.0f64; dim * dim];
        for row in theta.chunks_exact(dim) {
            for a in 0..dim {
                mean[a] += row[a] as f64;
                for b in 0..dim {
                    second[a * dim + b] += row[a] as f64 * row[b] as f64;
                }
            }
        }
        let (d, mf) = (dim as f64, m as f64);
        for value in &mean {
            assert!((value / mf).abs() < 5.0 * (1.0 / (d * mf)).sqrt());
        }
        for a in 0..dim {
            for b in 0..dim {
                let expected = if a == b { 1.0 / d } else { 0.0 };
                let sd = if a == b {
                    (2.0 / (d * d * mf)).sqrt()
                } else {
                    (1.0 / (d * d * mf)).sqrt()
                };
                let got = second[a * dim + b] / mf;
                assert!((got - expected).abs() < 5.0 * sd, "E[θθᵀ][{a},{b}] = {got}");
            }
        }
    }

    #[test]
    fn directions_are_isotropic() {
        let (dim, m) = (8usize, 40_000usize);
        let mut theta = vec![0.0f32; dim * m];
        fill_directions(2024, 0, dim, &mut theta).unwrap();
        assert_isotropic(&theta, dim);
    }

    /// Draws directions `first .. first + count` of `scheme`.
    fn draw(seed: u64, scheme: Scheme, first: usize, count: usize, dim: usize) -> Vec<f32> {
        let mut out = vec![0.0f32; count * dim];
        let mut scratch = vec![0.0f64; scratch_len(scheme, dim)];
        fill(
            Kernels::portable(),
            seed,
            scheme,
            first,
            dim,
            &mut out,
            &mut scratch,
        )
        .unwrap();
        out
    }

    /// Rows of frames are exchangeable, and flipping the sign of any row
    /// leaves a frame's law unchanged, so the sum over a frame of each entry
    /// of θ and θθᵀ has at most the variance of the same sum over independent
    /// rows (a full frame's θθᵀ sums to I exactly): the i.i.d. bounds hold.
    #[test]
    fn frame_rows_are_isotropic() {
        for (dim, frame) in [(8usize, 5usize), (8, 8), (7, 1)] {
            let scheme = Scheme::Orthogonal { frame };
            let theta = draw(31, scheme, 0, 40_000 / frame * frame, dim);
            assert_isotropic(&theta, dim);
        }
    }

    #[test]
    fn iid_scheme_is_fill_directions() {
        let mut scratch = [];
        let mut a = vec![0.0f32; 13 * 5];
        fill(
            Kernels::portable(),
            77,
            Scheme::Iid,
            3,
            13,
            &mut a,
            &mut scratch,
        )
        .unwrap();
        let mut b = vec![0.0f32; 13 * 5];
        fill_directions(77, 3, 13, &mut b).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn frame_rows_are_orthonormal() {
        for (dim, frame) in [
            (1usize, 1usize),
            (2, 2),
            (7, 3),
            (33, 33),
            (65, 17),
            (130, 127),
        ] {
            let scheme = Scheme::Orthogonal { frame };
            let theta = draw(5, scheme, 0, 3 * frame, dim);
            for rows in theta.chunks_exact(frame * dim) {
                for (a, ra) in rows.chunks_exact(dim).enumerate() {
                    for (b, rb) in rows.chunks_exact(dim).enumerate() {
                        let dot: f64 = ra.iter().zip(rb).map(|(x, y)| *x as f64 * *y as f64).sum();
                        let expected = if a == b { 1.0 } else { 0.0 };
                        assert!(
                            (dot - expected).abs() < 1e-6,
                            "d {dim} f {frame}: <{a},{b}> = {dot}"
                        );
                    }
                }
            }
        }
    }

    /// Householder with R's signs moved into Q gives the Q of Gram–Schmidt
    /// (the QR whose R has a positive diagonal), on the frame's own normals.
    #[test]
    fn frames_match_gram_schmidt() {
        for (dim, frame) in [(1usize, 1usize), (7, 3), (33, 33), (65, 17)] {
            let scheme = Scheme::Orthogonal { frame };
            let theta = draw(99, scheme, 0, 3 * frame, dim);
            for q in 0..3 {
                let mut gaussian = vec![0.0f64; frame * dim];
                frame_normals(99, q as u64, &mut gaussian);
                let mut expected = vec![0.0f64; frame * dim];
                crate::reference::orthonormal_frame(&gaussian, dim, &mut expected).unwrap();
                let got = &theta[q * frame * dim..(q + 1) * frame * dim];
                for (g, e) in got.iter().zip(&expected) {
                    assert!((*g as f64 - e).abs() < 1e-6, "d {dim} f {frame} frame {q}");
                }
            }
        }
    }

    #[test]
    fn frame_blocks_equal_rows_drawn_at_once() {
        let (dim, frame) = (19, 7);
        let scheme = Scheme::Orthogonal { frame };
        let all = draw(123, scheme, 0, 40, dim);
        // Uneven blocks, out of order, starting and ending inside frames.
        for (first, count) in [(30usize, 10usize), (0, 7), (7, 23), (3, 1), (13, 2), (6, 9)] {
            let block = draw(123, scheme, first, count, dim);
            assert_eq!(block, all[first * dim..(first + count) * dim]);
        }
        // Gram–Schmidt is causal: frame 0 shares its first rows across frame
        // sizes, but later frames differ.
        let other = draw(123, Scheme::Orthogonal { frame: 6 }, 0, 8, dim);
        assert_eq!(other[..6 * dim], all[..6 * dim]);
        assert_ne!(other[7 * dim..], all[7 * dim..8 * dim]);
    }

    /// The first row of a frame is G e_0 / ‖G e_0‖ for a Gaussian G, so it
    /// is distributed as an i.i.d. direction: a few moments of the two,
    /// over 20 000 seeds each, agree within 5 standard errors.
    #[test]
    fn first_row_of_a_frame_is_distributed_as_an_iid_direction() {
        let (dim, seeds) = (5usize, 20_000u64);
        let scheme = Scheme::Orthogonal { frame: 3 };
        let moments = |t: &[f32]| {
            let (a, b) = (t[0] as f64, t[1] as f64);
            [a, a * a, a.powi(4), a * b, a.abs(), (a * b).powi(2)]
        };
        let mut sums = [[0.0f64; 6]; 2];
        let mut sq = [[0.0f64; 6]; 2];
        for seed in 0..seeds {
            let rows = [
                draw(seed, scheme, 0, 1, dim),
                draw(seed, Scheme::Iid, 0, 1, dim),
            ];
            for (s, row) in rows.iter().enumerate() {
                for (k, v) in moments(row).into_iter().enumerate() {
                    sums[s][k] += v;
                    sq[s][k] += v * v;
                }
            }
        }
        let n = seeds as f64;
        for k in 0..6 {
            let mean = [sums[0][k] / n, sums[1][k] / n];
            let var = [
                sq[0][k] / n - mean[0] * mean[0],
                sq[1][k] / n - mean[1] * mean[1],
            ];
            let se = ((var[0] + var[1]) / n).sqrt();
            assert!(
                (mean[0] - mean[1]).abs() < 5.0 * se,
                "moment {k}: {mean:?} ± {se}"
            );
        }
        // E[θ_0²] = 1/d and E[θ_0⁴] = 3/(d(d+2)) on the sphere.
        let d = dim as f64;
        assert!((sums[0][1] / n - 1.0 / d).abs() < 5.0 * (sq[0][1] / n).sqrt() / n.sqrt());
        assert!(
            (sums[0][2] / n - 3.0 / (d * (d + 2.0))).abs() < 5.0 * (sq[0][2] / n).sqrt() / n.sqrt()
        );
    }

    #[test]
    fn every_instruction_set_draws_the_same_frames() {
        let (dim, frame) = (77, 45);
        let scheme = Scheme::Orthogonal { frame };
        let expected = draw(3, scheme, 10, 60, dim);
        for isa in crate::Isa::ALL {
            let Some(kernels) = Kernels::for_isa(isa) else {
                continue;
            };
            let mut out = vec![0.0f32; 60 * dim];
            let mut scratch = vec![0.0f64; scratch_len(scheme, dim)];
            fill(kernels, 3, scheme, 10, dim, &mut out, &mut scratch).unwrap();
            assert_eq!(out, expected, "{}", isa.name());
        }
    }

    /// Bits of f32 values, so that -0 and 0 differ.
    fn bits(values: &[f32]) -> Vec<u32> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    /// Every instruction set draws the scalar sampler's i.i.d. directions,
    /// bit for bit: odd dimensions, groups of eight rows and the rest,
    /// seeds and first indices far apart.
    #[test]
    fn every_instruction_set_draws_the_same_directions() {
        for dim in [1usize, 7, 17, 4097] {
            for (seed, first) in [(0u64, 0usize), (42, 5), (u64::MAX, 1 << 40), (0x5eed, 77)] {
                let count = 19;
                let mut expected = vec![0.0f32; count * dim];
                fill_directions(seed, first, dim, &mut expected).unwrap();
                for isa in crate::Isa::ALL {
                    let Some(kernels) = Kernels::for_isa(isa) else {
                        continue;
                    };
                    let mut out = vec![0.0f32; count * dim];
                    fill(kernels, seed, Scheme::Iid, first, dim, &mut out, &mut []).unwrap();
                    assert_eq!(
                        bits(&out),
                        bits(&expected),
                        "{} d {dim} seed {seed} first {first}",
                        isa.name()
                    );
                }
            }
        }
    }

    /// Drawn in batches of frames, one per lane, frames equal those drawn
    /// one by one: frames of 1 to 64 rows (65 is not batched), blocks that
    /// start and end inside frames and batches.
    #[test]
    fn batched_frames_equal_frames_drawn_one_by_one() {
        for (dim, frame) in [(7usize, 1usize), (17, 3), (130, 7), (65, 64), (66, 65)] {
            let scheme = Scheme::Orthogonal { frame };
            let (first, count) = (frame / 2 + 1, 11 * frame + 3);
            let expected = draw(8, scheme, first, count, dim);
            for isa in crate::Isa::ALL {
                let Some(kernels) = Kernels::for_isa(isa) else {
                    continue;
                };
                let mut out = vec![0.0f32; count * dim];
                let mut scratch = vec![0.0f64; batch_scratch_len(scheme, dim)];
                fill(kernels, 8, scheme, first, dim, &mut out, &mut scratch).unwrap();
                assert_eq!(
                    bits(&out),
                    bits(&expected),
                    "{} d {dim} f {frame}",
                    isa.name()
                );
            }
        }
    }

    /// Rows asked for in part of a frame are drawn from the frame's first
    /// columns alone, and are the bits of the same rows of the whole frame,
    /// on every instruction set.
    #[test]
    fn a_frame_drawn_in_part_gives_the_rows_of_the_whole_frame() {
        for (dim, frame) in [(131usize, 130usize), (70, 70), (9, 5)] {
            let scheme = Scheme::Orthogonal { frame };
            let whole = draw(21, scheme, 0, frame, dim);
            for (first, count) in [
                (0, 1),
                (0, 9.min(frame)),
                (3, frame / 2),
                (frame - 1, 1),
                (1, frame - 1),
            ] {
                for isa in crate::Isa::ALL {
                    let Some(kernels) = Kernels::for_isa(isa) else {
                        continue;
                    };
                    let mut out = vec![0.0f32; count * dim];
                    let mut scratch = vec![0.0f64; scratch_len(scheme, dim)];
                    fill(kernels, 21, scheme, first, dim, &mut out, &mut scratch).unwrap();
                    assert_eq!(
                        bits(&out),
                        bits(&whole[first * dim..(first + count) * dim]),
                        "{} d {dim} f {frame} rows {first}..{}",
                        isa.name(),
                        first + count
                    );
                }
            }
        }
    }

    /// FNV-1a over the bits of `values`.
    fn fnv(values: &[f32]) -> u64 {
        values.iter().fold(0xcbf2_9ce4_8422_2325, |h, v| {
            (h ^ v.to_bits() as u64).wrapping_mul(0x0100_0000_01b3)
        })
    }

    /// The directions of a W3-sized model (seed 7, d 4096, 2000 directions,
    /// i.i.d. and frames of 3) hash to fixed values, those the saved models
    /// were drawn with, on every instruction set.
    #[test]
    fn directions_are_those_saved_models_were_fitted_with() {
        let (dim, count) = (4096usize, 2000usize);
        let frames = Scheme::Orthogonal { frame: 3 };
        for (scheme, expected) in [
            (Scheme::Iid, 0x44e4_2d47_dfa2_bae8u64),
            (frames, 0x7cfd_65b7_3236_1fdb),
        ] {
            for isa in crate::Isa::ALL {
                let Some(kernels) = Kernels::for_isa(isa) else {
                    continue;
                };
                let mut out = vec![0.0f32; count * dim];
                let mut scratch = vec![0.0f64; batch_scratch_len(scheme, dim)];
                fill(kernels, 7, scheme, 0, dim, &mut out, &mut scratch).unwrap();
                assert_eq!(fnv(&out), expected, "{scheme:?} {}", isa.name());
            }
        }
    }

    /// A frame factored and formed in steps, the later columns and the rows
    /// cut into uneven runs (as threads would take them), in an odd order.
    fn stepwise(
        kernels: Kernels,
        seed: u64,
        frame: usize,
        first: usize,
        count: usize,
        dim: usize,
        cut: usize,
    ) -> Vec<f32> {
        let (q, row) = (first / frame, first % frame);
        let mut scratch = vec![0.0f64; scratch_len(Scheme::Orthogonal { frame }, dim)];
        let mut qr =
            FrameQr::draw(kernels, seed, frame, q, dim, row + count, &mut scratch).unwrap();
        while let Some((panel, later)) = qr.next_panel() {
            let mut runs: Vec<&mut [f64]> = later.chunks_mut(cut * dim).collect();
            runs.reverse();
            for run in runs {
                panel.apply(run).unwrap();
            }
        }
        let factored = qr.factored();
        let mut out = vec![0.0f32; count * dim];
        let mut work = vec![0.0f64; FactoredFrame::work_len(dim)];
        let rows_per_run = cut % FactoredFrame::ROWS + 1;
        let mut runs: Vec<(usize, &mut [f32])> =
            out.chunks_mut(rows_per_run * dim).enumerate().collect();
        runs.reverse();
        for (r, run) in runs {
            factored
                .rows(row + r * rows_per_run, run, &mut work)
                .unwrap();
        }
        out
    }

    #[test]
    fn a_frame_factored_in_steps_gives_the_rows_fill_gives() {
        for (dim, frame, first, count) in [
            (131usize, 130usize, 0usize, 130usize),
            (70, 70, 3, 50),
            (97, 65, 65 + 17, 48),
            (9, 5, 1, 3),
        ] {
            let scheme = Scheme::Orthogonal { frame };
            let expected = draw(8, scheme, first, count, dim);
            for isa in crate::Isa::ALL {
                let Some(kernels) = Kernels::for_isa(isa) else {
                    continue;
                };
                for cut in [1, 3, 4, 11] {
                    let rows = stepwise(kernels, 8, frame, first, count, dim, cut);
                    assert_eq!(
                        bits(&rows),
                        bits(&expected),
                        "{} d {dim} f {frame} rows {first}.. cut {cut}",
                        isa.name()
                    );
                }
            }
        }
    }

    #[test]
    fn a_frame_factored_in_steps_refuses_bad_sizes() {
        let kernels = Kernels::portable();
        let mut scratch = vec![0.0f64; scratch_len(Scheme::Orthogonal { frame: 4 }, 6)];
        for (frame, dim, columns, expected) in [
            (0, 6, 1, Error::FrameSize { frame: 0, dim: 6 }),
            (7, 6, 1, Error::FrameSize { frame: 7, dim: 6 }),
            (4, 6, 0, Error::FrameSize { frame: 0, dim: 4 }),
            (4, 6, 5, Error::FrameSize { frame: 5, dim: 4 }),
            (4, 0, 1, Error::EmptyInput { what: "dim" }),
        ] {
            let refused = FrameQr::draw(kernels, 1, frame, 0, dim, columns, &mut scratch);
            assert_eq!(refused.err(), Some(expected));
        }
        assert!(matches!(
            FrameQr::draw(kernels, 1, 4, 0, 6, 4, &mut scratch[..10]).err(),
            Some(Error::BufferTooSmall {
                buffer: "scratch",
                ..
            })
        ));
        let mut qr = FrameQr::draw(kernels, 1, 4, 0, 6, 3, &mut scratch).unwrap();
        {
            let (panel, later) = qr.next_panel().unwrap();
            assert!(later.is_empty());
            let mut part = [0.0f64; 5];
            assert!(matches!(
                panel.apply(&mut part),
                Err(Error::ShapeMismatch {
                    what: "frame columns",
                    ..
                })
            ));
        }
        assert!(qr.next_panel().is_none());
        let factored = qr.factored();
        let mut work = vec![0.0f64; FactoredFrame::work_len(6)];
        let mut out = [0.0f32; 2 * 6];
        assert!(factored.rows(1, &mut out, &mut work).is_ok());
        assert_eq!(
            factored.rows(2, &mut out, &mut work),
            Err(Error::BufferTooSmall {
                buffer: "factored columns",
                required: 4,
                provided: 3
            })
        );
        assert!(matches!(
            factored.rows(0, &mut out[..7], &mut work),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            factored.rows(0, &mut out, &mut work[..6]),
            Err(Error::BufferTooSmall { buffer: "work", .. })
        ));
    }

    #[test]
    fn rejects_bad_frames() {
        let mut out = [0.0f32; 8];
        let mut scratch = [0.0f64; 64];
        assert_eq!(
            fill(
                Kernels::portable(),
                0,
                Scheme::Orthogonal { frame: 0 },
                0,
                4,
                &mut out,
                &mut scratch
            ),
            Err(Error::FrameSize { frame: 0, dim: 4 })
        );
        assert_eq!(
            fill(
                Kernels::portable(),
                0,
                Scheme::Orthogonal { frame: 5 },
                0,
                4,
                &mut out,
                &mut scratch
            ),
            Err(Error::FrameSize { frame: 5, dim: 4 })
        );
        assert!(matches!(
            fill(
                Kernels::portable(),
                0,
                Scheme::Orthogonal { frame: 4 },
                0,
                4,
                &mut out,
                &mut scratch[..10]
            ),
            Err(Error::BufferTooSmall { .. })
        ));
    }

    #[test]
    fn ziggurat_table_follows_its_recursion() {
        const ZIGGURAT_V: f64 = 9.91256303526217e-3;
        let f = |x: f64| libm::exp(-0.5 * x * x);
        assert_eq!(ZIGGURAT_X[1], ZIGGURAT_R);
        assert_eq!(ZIGGURAT_X[128], 0.0);
        assert!((ZIGGURAT_X[0] - ZIGGURAT_V / f(ZIGGURAT_R)).abs() < 1e-14);
        for i in 1..127 {
            let next = libm::sqrt(-2.0 * libm::log(ZIGGURAT_V / ZIGGURAT_X[i] + f(ZIGGURAT_X[i])));
            assert!(
                (ZIGGURAT_X[i + 1] - next).abs() < 1e-12 * next,
                "x[{}]",
                i + 1
            );
        }
        // Every layer has area V: the top one, x[127] (1 - f(x[127])), too.
        let top = ZIGGURAT_X[127] * (1.0 - f(ZIGGURAT_X[127]));
        assert!((top - ZIGGURAT_V).abs() < 1e-9, "top layer area {top}");
    }

    /// The sampler's moments and tail frequencies match N(0, 1) within five
    /// standard errors over a million draws.
    #[test]
    fn samples_are_standard_normal() {
        let count = 1_000_000usize;
        let mut rng = direction_rng(5, 0);
        let (mut sum, mut sum_sq, mut sum_4) = (0.0f64, 0.0f64, 0.0f64);
        let mut beyond = [0usize; 4]; // |z| > 1, 2, 3, R
        for _ in 0..count {
            let z = standard_normal(&mut rng);
            sum += z;
            sum_sq += z * z;
            sum_4 += z * z * z * z;
            for (k, edge) in [1.0, 2.0, 3.0, ZIGGURAT_R].iter().enumerate() {
                beyond[k] += (z.abs() > *edge) as usize;
            }
        }
        let n = count as f64;
        assert!((sum / n).abs() < 5.0 / n.sqrt());
        assert!((sum_sq / n - 1.0).abs() < 5.0 * (2.0 / n).sqrt());
        assert!((sum_4 / n - 3.0).abs() < 5.0 * (96.0 / n).sqrt());
        // P(|z| > t) = erfc(t / √2).
        for (k, t) in [1.0, 2.0, 3.0, ZIGGURAT_R].iter().enumerate() {
            let p = libm::erfc(t / core::f64::consts::SQRT_2);
            let observed = beyond[k] as f64 / n;
            assert!(
                (observed - p).abs() < 5.0 * (p * (1.0 - p) / n).sqrt(),
                "P(|z| > {t}): {observed} vs {p}"
            );
        }
    }

    #[test]
    fn rejects_bad_shapes() {
        let mut out = [0.0f32; 10];
        assert_eq!(
            fill_directions(0, 0, 0, &mut out),
            Err(Error::EmptyInput { what: "dim" })
        );
        assert!(matches!(
            fill_directions(0, 0, 3, &mut out),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}
