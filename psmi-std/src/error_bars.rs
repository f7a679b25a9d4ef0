//! Error bars: the standard error of each sample's mean PSMI, and of the SMI,
//! right for each scheme of directions.
//!
//! A sample's mean is an average over directions. With i.i.d. directions its
//! standard error is std/√m. Within an orthonormal frame directions are
//! dependent, and every pair of rows of a Haar frame has the same joint law,
//! so for one sample the scores along two directions of a frame have one
//! covariance c whatever the pair. With frames of sizes g_b (all f but a
//! partial last one), the variance of the mean over m directions is then
//!
//! ```text
//! Var(mean) = σ²/m + c·P/m² = (σ²/m)·D,   P = Σ_b g_b(g_b − 1),   D = 1 + ρ·P/m,
//! ```
//!
//! where σ² is the variance along one direction and ρ = c/σ² the correlation
//! of two directions of a frame. Frames are independent, so the spread of the
//! frame means (weighted by their sizes) and the spread of all scores give
//! two equations whose expectations are linear in (σ², c):
//!
//! ```text
//! E[between] = (B − 1)·σ² + (m − B − P/m)·c     (B frames)
//! E[within ] = (m − 1)·σ² − (P/m)·c
//! ```
//!
//! One sample has only B − 1 degrees of freedom between frames (3 for 2048
//! directions in frames of 512), so the two sums are pooled over all samples
//! and solved once for ρ; each sample's standard error is its std · √(D/m).
//! That is std/√m exactly for i.i.d. directions (P = 0), and for a single
//! frame (B = 1), where the data cannot tell c apart from the mean.
//!
//! The SMI, the mean over samples, has two errors: the samples are draws from
//! a population (the variance of the per-sample means over n), and the
//! directions are draws too (the variance over directions of the per-direction
//! mean over samples, a series of m values, with the samples' D). Its standard
//! error adds the two variances.
//!
//! What is gathered does not depend on the order in which the scores come,
//! as long as each sample's come in direction order: a block of directions
//! over all rows (`fit`, `transform`) or a chunk of rows over all directions
//! (the quantiles) fold into the same numbers, bit for bit.

use psmi_core::directions::Scheme;
use psmi_core::statistics::Moments;
use psmi_core::Error;

/// Bytes per sample that [`ErrorBars`] holds at most: its frame means, and
/// its share of a block's column sums (one f64 per direction and chunk of
/// rows, counted as one per row).
pub(crate) const BYTES_PER_SAMPLE: usize = std::mem::size_of::<FrameMeans>() + 8;

/// What the standard errors need, gathered as the samples are scored: for
/// orthonormal frames, each sample's frame means; for every scheme, the sum
/// over samples of the scores along every direction. Memory: two f64 and
/// two counts per sample for frames (nothing per sample for i.i.d.
/// directions), and one f64 per direction.
///
/// ```
/// use psmi_core::{directions::Scheme, statistics::Moments};
/// use psmi_std::error_bars::ErrorBars;
/// // One sample, i.i.d. directions: std / √m.
/// let bars = ErrorBars::new(Scheme::Iid, 1);
/// let summary = Moments::of(&[1.0, 2.0, 3.0, 4.0]);
/// assert_eq!(bars.stderr(&[summary]), vec![summary.std() / 2.0]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorBars {
    /// Directions per frame; 1 for i.i.d. directions.
    frame: usize,
    /// Each sample's frame means; empty for i.i.d. directions.
    samples: Vec<FrameMeans>,
    /// Sum over the samples of the scores along each direction so far.
    columns: Vec<f64>,
    /// Samples.
    rows: usize,
}

/// Frame means of one series of scores: the closed frames' means, each
/// weighted by its size, and the sum of the frame being filled.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct FrameMeans {
    closed: Moments,
    open_count: u64,
    open_sum: f64,
}

impl FrameMeans {
    /// Adds `count` scores summing to `sum`; `closes` if the frame ends with them.
    fn add(&mut self, sum: f64, count: usize, closes: bool) {
        self.open_sum += sum;
        self.open_count += count as u64;
        if closes {
            *self = self.closed();
        }
    }

    /// The frame means with the open frame (a partial last frame) closed.
    fn closed(&self) -> FrameMeans {
        if self.open_count == 0 {
            return *self;
        }
        let frame = Moments {
            count: self.open_count,
            mean: self.open_sum / self.open_count as f64,
            m2: 0.0,
        };
        FrameMeans {
            closed: self.closed.merge(frame),
            ..FrameMeans::default()
        }
    }

    /// Σ_b g_b (mean_b − mean)², the partial last frame included.
    fn between(&self) -> f64 {
        self.closed().closed.m2
    }
}

/// Where a block of scores lies among the samples and directions of
/// [`ErrorBars`]: its first row and first direction.
///
/// ```
/// use psmi_core::directions::Scheme;
/// use psmi_std::error_bars::{BarsTarget, ErrorBars};
/// let mut bars = ErrorBars::new(Scheme::Iid, 10);
/// let target = BarsTarget { bars: &mut bars, row: 4, direction: 0 };
/// assert_eq!(target.row, 4);
/// ```
#[derive(Debug)]
pub struct BarsTarget<'a> {
    /// Where the block is gathered.
    pub bars: &'a mut ErrorBars,
    /// The sample of the block's first row.
    pub row: usize,
    /// The block's first direction.
    pub direction: usize,
}

/// One task's share of [`ErrorBars`] for one block of directions: its rows'
/// frame means and its own sums of the block's columns.
#[derive(Debug)]
pub struct ChunkBars<'a> {
    frames: &'a mut [FrameMeans],
    column_sums: &'a mut [f64],
    first: usize,
    frame: usize,
}

impl ChunkBars<'_> {
    /// Folds the chunk's scores (row-major, one row per sample of the chunk,
    /// one column per direction of the block).
    pub fn fold(&mut self, scores: &[f32]) {
        let width = self.column_sums.len();
        for (row, scores) in scores.chunks_exact(width.max(1)).enumerate() {
            for (sum, &v) in self.column_sums.iter_mut().zip(scores) {
                *sum += v as f64;
            }
            let Some(frames) = self.frames.get_mut(row) else {
                continue;
            };
            let mut start = 0;
            while start < width {
                let end = width.min(start + self.frame - (self.first + start) % self.frame);
                let sum = scores[start..end].iter().map(|&v| v as f64).sum();
                frames.add(
                    sum,
                    end - start,
                    (self.first + end).is_multiple_of(self.frame),
                );
                start = end;
            }
        }
    }
}

impl ErrorBars {
    /// Nothing gathered yet, for `samples` samples scored along directions
    /// of `scheme`.
    ///
    /// ```
    /// use psmi_core::directions::Scheme;
    /// let bars = psmi_std::error_bars::ErrorBars::new(Scheme::Orthogonal { frame: 8 }, 100);
    /// assert_eq!(bars.directions(), 0);
    /// ```
    pub fn new(scheme: Scheme, samples: usize) -> ErrorBars {
        let frame = match scheme {
            Scheme::Orthogonal { frame } if frame > 1 => frame,
            _ => 1,
        };
        ErrorBars {
            frame,
            samples: vec![FrameMeans::default(); if frame > 1 { samples } else { 0 }],
            columns: Vec::new(),
            rows: samples,
        }
    }

    /// Directions folded so far.
    ///
    /// ```
    /// use psmi_core::directions::Scheme;
    /// use psmi_std::error_bars::ErrorBars;
    /// use psmi_std::error_bars::BarsTarget;
    /// let mut bars = ErrorBars::new(Scheme::Iid, 2);
    /// let mut target = BarsTarget { bars: &mut bars, row: 0, direction: 0 };
    /// ErrorBars::fold_block(Some(&mut target), 2, 3, 1, |chunks| {
    ///     chunks[0].as_mut().unwrap().fold(&[0.1, 0.2, 0.3]);
    ///     chunks[1].as_mut().unwrap().fold(&[0.4, 0.5, 0.6]);
    ///     Ok::<(), psmi_core::Error>(())
    /// }).unwrap();
    /// assert_eq!(bars.directions(), 3);
    /// ```
    pub fn directions(&self) -> usize {
        self.columns.len()
    }

    /// Runs `score` over one task's share per chunk of `chunk` rows of a
    /// block of `rows` samples scored along `width` directions, placed by
    /// `target` (`None` each when it is `None`), then adds the chunks' column
    /// sums in chunk order. Each sample's directions must come in order; the
    /// samples may come in any groups of whole chunks, and give the same
    /// numbers whatever the threads.
    ///
    /// # Errors
    ///
    /// [`Error::ShapeMismatch`] if the rows lie beyond the samples the bars
    /// were made for, or the directions leave a gap after those folded
    /// (nothing is gathered then); otherwise `score`'s.
    pub fn fold_block<E: From<Error>>(
        target: Option<&mut BarsTarget<'_>>,
        rows: usize,
        width: usize,
        chunk: usize,
        score: impl FnOnce(&mut [Option<ChunkBars<'_>>]) -> Result<(), E>,
    ) -> Result<(), E> {
        let chunk = chunk.max(1);
        let chunks = rows.div_ceil(chunk);
        let Some(BarsTarget {
            bars,
            row,
            direction,
        }) = target
        else {
            return score(&mut (0..chunks).map(|_| None).collect::<Vec<_>>());
        };
        let (rows, directions) = (*row..*row + rows, *direction..*direction + width);
        if rows.end > bars.rows {
            return Err(Error::ShapeMismatch {
                what: "error bars",
                expected: bars.rows,
                found: rows.end,
            }
            .into());
        }
        if directions.start > bars.columns.len() {
            return Err(Error::ShapeMismatch {
                what: "error bars' directions",
                expected: bars.columns.len(),
                found: directions.start,
            }
            .into());
        }
        let (first, width, frame) = (directions.start, directions.len(), bars.frame);
        let mut sums = vec![0.0f64; chunks * width];
        let samples = match bars.samples.get_mut(rows.clone()) {
            Some(samples) => samples,
            None => &mut [],
        };
        let mut frames = samples.chunks_mut(chunk);
        let mut column_sums = sums.chunks_mut(width.max(1));
        let mut views: Vec<_> = (0..chunks)
            .map(|_| {
                Some(ChunkBars {
                    frames: frames.next().unwrap_or_default(),
                    column_sums: column_sums.next().unwrap_or_default(),
                    first,
                    frame,
                })
            })
            .collect();
        score(&mut views)?;
        drop(views);
        if bars.columns.len() < directions.end {
            bars.columns.resize(directions.end, 0.0);
        }
        for chunk_sums in sums.chunks_exact(width.max(1)) {
            for (total, v) in bars.columns[directions.clone()].iter_mut().zip(chunk_sums) {
                *total += v;
            }
        }
        Ok(())
    }

    /// The design effect D: the variance of a sample's mean over the
    /// directions drawn, as a multiple of the i.i.d. formula's σ²/m (1 for
    /// i.i.d. directions and for a single frame; below 1 when frames help),
    /// from every sample's moments over the directions (`summaries`, in the
    /// order of the samples folded).
    ///
    /// ```
    /// use psmi_core::{directions::Scheme, statistics::Moments};
    /// use psmi_std::error_bars::ErrorBars;
    /// let bars = ErrorBars::new(Scheme::Iid, 1);
    /// assert_eq!(bars.design_effect(&[Moments::of(&[0.5, 1.5])]), 1.0);
    /// ```
    pub fn design_effect(&self, summaries: &[Moments]) -> f64 {
        let [between, within] = self.pooled(summaries);
        self.design_effect_of(between, within)
    }

    /// The two sums the design effect pools over the samples: the spread
    /// between frame means, and the spread of all scores (`summaries`' m2).
    fn pooled(&self, summaries: &[Moments]) -> [f64; 2] {
        let within = summaries.iter().map(|s| s.m2).sum();
        let between = self.samples.iter().map(FrameMeans::between).sum();
        [between, within]
    }

    /// D for pooled sums `between` and `within`, solving the two moment
    /// equations of the module's documentation.
    fn design_effect_of(&self, between: f64, within: f64) -> f64 {
        let (m, f) = (self.directions(), self.frame);
        let frames = m.div_ceil(f.max(1));
        if f <= 1 || frames < 2 {
            return 1.0;
        }
        let last = m - (frames - 1) * f;
        let pairs = ((frames - 1) * f * (f - 1) + last * (last.max(1) - 1)) as f64;
        let (m, b) = (m as f64, frames as f64);
        let per_direction = pairs / m;
        let det = -(b - 1.0) * per_direction - (m - b - per_direction) * (m - 1.0);
        let variance = (-between * per_direction - (m - b - per_direction) * within) / det;
        let covariance = ((b - 1.0) * within - (m - 1.0) * between) / det;
        if variance.is_nan() || variance <= 0.0 {
            return 1.0;
        }
        (1.0 + covariance / variance * per_direction).max(0.0)
    }

    /// Each sample's standard error: its std · √(D/m), D the
    /// [design effect](ErrorBars::design_effect); std/√m for i.i.d. directions.
    ///
    /// ```
    /// use psmi_core::{directions::Scheme, statistics::Moments};
    /// use psmi_std::error_bars::ErrorBars;
    /// let bars = ErrorBars::new(Scheme::Iid, 2);
    /// let summaries = [Moments::of(&[0.0, 2.0]), Moments::of(&[1.0, 1.0])];
    /// let stderr = bars.stderr(&summaries);
    /// assert!((stderr[0] - 0.5f64.sqrt()).abs() < 1e-15 && stderr[1] == 0.0);
    /// ```
    pub fn stderr(&self, summaries: &[Moments]) -> Vec<f64> {
        let d = self.design_effect(summaries);
        summaries.iter().map(|s| stderr_of(s, d)).collect()
    }

    /// Standard error of the SMI (the mean of `means`, the per-sample mean
    /// PSMI): the variance of the per-sample means (ddof 1) over n, for the
    /// samples drawn, plus the variance over directions of the per-direction
    /// mean over samples times D/m, for the directions drawn. With a single
    /// sample only the second.
    ///
    /// ```
    /// use psmi_core::{directions::Scheme, statistics::Moments};
    /// use psmi_std::error_bars::ErrorBars;
    /// // Nothing folded: only the samples' spread, std (ddof 1) / √n.
    /// let bars = ErrorBars::new(Scheme::Iid, 3);
    /// let se = bars.smi_stderr(&[0.0, 1.0, 2.0], &[Moments::default(); 3]);
    /// assert!((se - 1.0 / 3f64.sqrt()).abs() < 1e-12);
    /// ```
    pub fn smi_stderr(&self, means: &[f64], summaries: &[Moments]) -> f64 {
        let n = means.len();
        let samples = if n > 1 {
            Moments::of(means).m2 / (n - 1) as f64 / n as f64
        } else {
            0.0
        };
        let rows = self.rows.max(1) as f64;
        let series = self.columns.iter().fold(Moments::default(), |acc, &sum| {
            acc.merge(Moments {
                count: 1,
                mean: sum / rows,
                m2: 0.0,
            })
        });
        let m = series.count.max(1) as f64;
        let directions = series.variance() * self.design_effect(summaries) / m;
        (samples + directions).sqrt()
    }
}

/// A sample's standard error: its std · √(D/m) for design effect `d`.
fn stderr_of(summary: &Moments, d: f64) -> f64 {
    summary.std() * (d / summary.count.max(1) as f64).sqrt()
}

/// What one partition of a distributed auto-mode run keeps about its
/// samples between blocks for a target error
/// ([`Check::StandardError`](crate::Check::StandardError)): each sample's
/// moments over all directions so far and, for frames, its frame means
/// (64 bytes a sample). The driver pools every partition's
/// [`sums`](RunningErrors::sums), then each partition hands it its
/// [`lowest`](RunningErrors::lowest) samples: the numbers the one-machine
/// run gives [`AutoRule::observe`](crate::AutoRule::observe).
///
/// ```
/// use psmi_std::{error_bars::RunningErrors, Features, Psmi, PsmiFitter, Scheme};
/// let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9], 4, 2)?;
/// let psmi = Psmi::builder().seed(3).directions(psmi_std::Directions::Iid).build()?;
/// let mut fitter = PsmiFitter::for_block(&psmi, 2, Some(4), 0, 16)?;
/// fitter.update(&x, &[0, 0, 1, 1])?;
/// let model = fitter.finish()?;
/// // Two partitions of two rows each.
/// let (mut a, mut b) = (RunningErrors::new(Scheme::Iid), RunningErrors::new(Scheme::Iid));
/// model.score_running(&Features::new(&[0.0, 0.1, 0.3, 0.2], 2, 2)?, &[0, 0], 0, 0, &mut a)?;
/// model.score_running(&Features::new(&[5.0, 5.2, 5.1, 4.9], 2, 2)?, &[1, 1], 0, 0, &mut b)?;
/// let (sa, sb) = (a.sums(), b.sums());
/// let pooled = [sa[0] + sb[0], sa[1] + sb[1]];
/// let (mean, stderr) = a.lowest(1, pooled);
/// let one = model.transform(&x, &[0, 0, 1, 1])?;
/// let i = if one.mean()[0] <= one.mean()[1] { 0 } else { 1 };
/// assert!((mean[0] - one.mean()[i]).abs() < 1e-12);
/// assert!((stderr[0] - one.stderr()[i]).abs() < 1e-12);
/// # Ok::<(), psmi_std::PsmiError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RunningErrors {
    scheme: Scheme,
    summaries: Vec<Moments>,
    bars: ErrorBars,
}

/// Leads [`RunningErrors::to_bytes`].
const RUNNING_MAGIC: &[u8; 8] = b"PSMIRUN1";

impl RunningErrors {
    /// Nothing scored yet, along directions of `scheme` (the run's, frames
    /// sized for all its samples).
    ///
    /// ```
    /// let errors = psmi_std::error_bars::RunningErrors::new(psmi_std::Scheme::Iid);
    /// assert_eq!(errors.rows(), 0);
    /// ```
    pub fn new(scheme: Scheme) -> RunningErrors {
        RunningErrors {
            scheme,
            summaries: Vec::new(),
            bars: ErrorBars::new(scheme, 0),
        }
    }

    /// Samples held.
    ///
    /// ```
    /// assert_eq!(psmi_std::error_bars::RunningErrors::new(psmi_std::Scheme::Iid).rows(), 0);
    /// ```
    pub fn rows(&self) -> usize {
        self.summaries.len()
    }

    /// Directions scored so far.
    ///
    /// ```
    /// assert_eq!(psmi_std::error_bars::RunningErrors::new(psmi_std::Scheme::Iid).directions(), 0);
    /// ```
    pub fn directions(&self) -> usize {
        self.bars.directions()
    }

    /// Where `rows` samples from `row` on are scored along directions from
    /// `first` on: their moments and the bars, rows past those held added
    /// in the first block only.
    pub(crate) fn block(
        &mut self,
        row: usize,
        rows: usize,
        first: usize,
    ) -> Result<(&mut [Moments], &mut ErrorBars), crate::PsmiError> {
        let held = self.rows();
        let grows = row + rows > held;
        // A block starts at the partition's first row, just after the
        // directions held; its other batches follow within those directions.
        let follows = if row == 0 {
            first == self.directions()
        } else {
            first < self.directions()
        };
        if row > held || (grows && first != 0) || !follows {
            return Err(crate::PsmiError::Incompatible(format!(
                "running errors over {held} samples and {} directions of {:?} cannot take \
                 rows {row}..{} along directions {first}..",
                self.directions(),
                self.scheme,
                row + rows
            )));
        }
        if grows {
            self.summaries.resize(row + rows, Moments::default());
            let frames = if self.bars.frame > 1 { row + rows } else { 0 };
            self.bars.samples.resize(frames, FrameMeans::default());
            self.bars.rows = row + rows;
        }
        Ok((&mut self.summaries[row..row + rows], &mut self.bars))
    }

    /// The two sums the design effect pools over all samples (the spread
    /// between frame means, the spread of all scores), this partition's
    /// share: the driver adds every partition's.
    ///
    /// ```
    /// let errors = psmi_std::error_bars::RunningErrors::new(psmi_std::Scheme::Iid);
    /// assert_eq!(errors.sums(), [0.0, 0.0]);
    /// ```
    pub fn sums(&self) -> [f64; 2] {
        self.bars.pooled(&self.summaries)
    }

    /// The `watched` samples with the lowest mean (ties to the earlier
    /// sample), in sample order: their means and standard errors, for the
    /// `pooled` [`sums`](RunningErrors::sums) of all partitions.
    ///
    /// ```
    /// let errors = psmi_std::error_bars::RunningErrors::new(psmi_std::Scheme::Iid);
    /// assert_eq!(errors.lowest(3, [0.0, 0.0]), (vec![], vec![]));
    /// ```
    pub fn lowest(&self, watched: usize, pooled: [f64; 2]) -> (Vec<f64>, Vec<f64>) {
        let d = self.bars.design_effect_of(pooled[0], pooled[1]);
        let means: Vec<f64> = self.summaries.iter().map(|s| s.mean).collect();
        let mut keep = crate::auto::lowest(&means, watched.min(means.len()));
        keep.sort_unstable();
        keep.iter()
            .map(|&i| (means[i], stderr_of(&self.summaries[i], d)))
            .unzip()
    }

    /// The state as bytes, to keep between blocks or send (little-endian).
    ///
    /// ```
    /// use psmi_std::error_bars::RunningErrors;
    /// let errors = RunningErrors::new(psmi_std::Scheme::Orthogonal { frame: 4 });
    /// assert_eq!(RunningErrors::from_bytes(&errors.to_bytes())?, errors);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        let frame = match self.scheme {
            Scheme::Iid => 0,
            Scheme::Orthogonal { frame } => frame as u64,
        };
        let mut words = vec![frame, self.rows() as u64, self.directions() as u64];
        words.extend(self.bars.columns.iter().map(|v| v.to_bits()));
        let moments = |m: &Moments| [m.count, m.mean.to_bits(), m.m2.to_bits()];
        words.extend(self.summaries.iter().flat_map(moments));
        for f in &self.bars.samples {
            words.extend(moments(&f.closed));
            words.extend([f.open_count, f.open_sum.to_bits()]);
        }
        let mut out = RUNNING_MAGIC.to_vec();
        out.extend(words.iter().flat_map(|w| w.to_le_bytes()));
        out
    }

    /// Reads bytes written by [`RunningErrors::to_bytes`].
    ///
    /// # Errors
    ///
    /// [`PsmiError::Incompatible`](crate::PsmiError::Incompatible) for bytes
    /// of another kind or length.
    pub fn from_bytes(bytes: &[u8]) -> Result<RunningErrors, crate::PsmiError> {
        let bad = || {
            crate::PsmiError::Incompatible(
                "running errors: not bytes of RunningErrors::to_bytes".into(),
            )
        };
        let body = bytes.strip_prefix(RUNNING_MAGIC).ok_or_else(bad)?;
        let mut words = body
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes(w.try_into().unwrap()));
        let mut next = || words.next().ok_or_else(bad);
        let frame = next()? as usize;
        let scheme = if frame == 0 {
            Scheme::Iid
        } else {
            Scheme::Orthogonal { frame }
        };
        let (rows, directions) = (next()? as usize, next()? as usize);
        let framed = ErrorBars::new(scheme, 0).frame > 1;
        let per_row = if framed { 8 } else { 3 };
        let expected = rows
            .checked_mul(per_row)
            .and_then(|words| words.checked_add(3 + directions))
            .and_then(|words| words.checked_mul(8));
        if expected != Some(body.len()) {
            return Err(bad());
        }
        let mut errors = RunningErrors::new(scheme);
        errors.bars.columns = (0..directions)
            .map(|_| next().map(f64::from_bits))
            .collect::<Result<_, _>>()?;
        let moments = |next: &mut dyn FnMut() -> Result<u64, crate::PsmiError>| -> Result<Moments, crate::PsmiError> {
            Ok(Moments { count: next()?, mean: f64::from_bits(next()?), m2: f64::from_bits(next()?) })
        };
        for _ in 0..rows {
            errors.summaries.push(moments(&mut next)?);
        }
        if framed {
            for _ in 0..rows {
                let closed = moments(&mut next)?;
                errors.bars.samples.push(FrameMeans {
                    closed,
                    open_count: next()?,
                    open_sum: f64::from_bits(next()?),
                });
            }
        }
        errors.bars.rows = rows;
        Ok(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Folds a samples × m matrix of scores, one block of `block` directions
    /// at a time, and returns the bars and each sample's moments.
    fn folded(scheme: Scheme, scores: &[Vec<f64>], block: usize) -> (ErrorBars, Vec<Moments>) {
        let (n, m) = (scores.len(), scores[0].len());
        let mut bars = ErrorBars::new(scheme, n);
        for first in (0..m).step_by(block) {
            let width = block.min(m - first);
            let mut target = BarsTarget {
                bars: &mut bars,
                row: 0,
                direction: first,
            };
            ErrorBars::fold_block(Some(&mut target), n, width, 3, |chunks| {
                for (chunk, rows) in chunks.iter_mut().zip(scores.chunks(3)) {
                    let values: Vec<f32> = rows
                        .iter()
                        .flat_map(|r| r[first..first + width].iter().map(|&v| v as f32))
                        .collect();
                    chunk.as_mut().unwrap().fold(&values);
                }
                Ok::<(), Error>(())
            })
            .unwrap();
        }
        let moments = scores
            .iter()
            .map(|r| Moments::of(&r.iter().map(|&v| v as f32 as f64).collect::<Vec<_>>()))
            .collect();
        (bars, moments)
    }

    /// A small deterministic generator of standard normal draws.
    fn normals(seed: u64, count: usize) -> Vec<f64> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        (0..count)
            .map(|_| {
                let (u, v) = (uniform(), uniform());
                (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
            })
            .collect()
    }

    #[test]
    fn iid_directions_give_std_over_root_m() {
        let scores: Vec<Vec<f64>> = (0..7).map(|i| normals(i, 33)).collect();
        let (bars, moments) = folded(Scheme::Iid, &scores, 10);
        for (e, s) in bars.stderr(&moments).iter().zip(&moments) {
            assert!((e - s.std() / 33f64.sqrt()).abs() <= 1e-15 * e);
        }
    }

    /// Frames whose scores sum to the same total for a sample (a frame is a
    /// permutation of the same values): the frame means never move, so the
    /// mean over whole frames has no error at all.
    #[test]
    fn frames_with_exact_sums_have_no_error() {
        let f = 6;
        let scores: Vec<Vec<f64>> = (0..20)
            .map(|i| {
                let base = normals(100 + i, f);
                (0..5 * f).map(|j| base[(j * 5 + j / f) % f]).collect()
            })
            .collect();
        let (bars, moments) = folded(Scheme::Orthogonal { frame: f }, &scores, 4);
        let d = bars.design_effect(&moments);
        assert!(d < 1e-9, "{d}");
        assert!(bars.stderr(&moments).iter().all(|&e| e < 1e-5));
    }

    /// Independent scores cut into frames: the design effect is about 1.
    #[test]
    fn independent_scores_in_frames_have_a_design_effect_near_one() {
        // 7 frames of 8 and a partial one of 3.
        let scores: Vec<Vec<f64>> = (0..2000).map(|i| normals(7 + i, 59)).collect();
        let (bars, moments) = folded(Scheme::Orthogonal { frame: 8 }, &scores, 13);
        let d = bars.design_effect(&moments);
        assert!((d - 1.0).abs() < 0.1, "{d}");
    }

    /// Scores sharing a frame effect (correlation ρ within a frame): the
    /// design effect is 1 + ρ(f − 1), the textbook cluster formula.
    #[test]
    fn a_shared_frame_effect_gives_the_cluster_design_effect() {
        let (f, frames, rho) = (10, 12, 0.3f64);
        let scores: Vec<Vec<f64>> = (0..3000)
            .map(|i| {
                let shared = normals(50_000 + i, frames);
                let own = normals(90_000 + i, f * frames);
                (0..f * frames)
                    .map(|j| rho.sqrt() * shared[j / f] + (1.0 - rho).sqrt() * own[j])
                    .collect()
            })
            .collect();
        let (bars, moments) = folded(Scheme::Orthogonal { frame: f }, &scores, 7);
        let d = bars.design_effect(&moments);
        let expected = 1.0 + rho * (f - 1) as f64;
        assert!(
            (d - expected).abs() < 0.1 * expected,
            "{d} against {expected}"
        );
    }

    #[test]
    fn rows_beyond_the_samples_or_a_gap_in_directions_are_refused() {
        let mut bars = ErrorBars::new(Scheme::Iid, 4);
        let mut target = BarsTarget {
            bars: &mut bars,
            row: 3,
            direction: 0,
        };
        let beyond = ErrorBars::fold_block(Some(&mut target), 2, 1, 1, |_| Ok::<(), Error>(()));
        assert!(matches!(beyond, Err(Error::ShapeMismatch { .. })));
        let mut target = BarsTarget {
            bars: &mut bars,
            row: 0,
            direction: 2,
        };
        let gap = ErrorBars::fold_block(Some(&mut target), 4, 1, 1, |_| Ok::<(), Error>(()));
        assert!(matches!(gap, Err(Error::ShapeMismatch { .. })));
        assert_eq!(bars, ErrorBars::new(Scheme::Iid, 4));
    }
}
