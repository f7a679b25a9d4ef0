//! `fit` and `fit_transform`: the blocks of directions, fixed or auto.

use crate::auto::{AutoReport, BlockMeans};
use crate::classes::Classes;
use crate::error::{PsmiError, Result};
use crate::features::Features;
use crate::fitter::PsmiFitter;
use crate::model::{merge_summaries, PsmiModel};
use crate::options::{NEstimators, Psmi};
use crate::pipeline::{pass_width, DirectionBlock, DirectionSource, Engine};
use crate::scores::PsmiScores;
use crate::stages::{self, ClassParameters, FullMatrix};
use psmi_core::statistics::Moments;
use std::ops::{ControlFlow, Range};

/// What a run reports as it goes: after each pass over the data and, in auto
/// mode, after each block's convergence check.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Auto mode's blocks done (0 in fixed mode).
    pub blocks: usize,
    /// Directions done.
    pub directions: usize,
    /// Directions in all, in fixed mode; `None` in auto mode.
    pub total_directions: Option<usize>,
    /// In auto mode, the last variation of the lowest samples (if computed).
    pub variation: Option<f64>,
    /// In auto mode, on the report of a block's check: the variation at which it stops.
    pub target: Option<f64>,
}

impl Psmi {
    /// Fits the estimator: draws the directions and fits a Gaussian to every
    /// class along each. In auto mode, this scores the samples to decide how
    /// many directions to draw, as [`Psmi::fit_transform`] does.
    ///
    /// ```
    /// use psmi_std::{Features, NEstimators, Psmi};
    /// let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9], 4, 2)?;
    /// let model = Psmi::builder().n_estimators(NEstimators::Fixed(20)).build()?.fit(&x, &[0, 0, 1, 1])?;
    /// assert_eq!(model.n_estimators(), 20);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PsmiError::LabelCount`](crate::PsmiError::LabelCount),
    /// [`PsmiError::TooFewSamples`](crate::PsmiError::TooFewSamples) and
    /// [`PsmiError::ZeroVariance`](crate::PsmiError::ZeroVariance) naming the label.
    pub fn fit(&self, x: &Features<'_>, labels: &[i64]) -> Result<PsmiModel> {
        match self.n_estimators {
            NEstimators::Fixed(_) => {
                let mut fitter = PsmiFitter::for_samples(self, x.cols(), Some(x.rows()))?;
                fitter.update(x, labels)?;
                fitter.finish()
            }
            NEstimators::Auto => Ok(self
                .run(x, labels, false, &mut |_| ControlFlow::Continue(()))?
                .0),
        }
    }

    /// Fits the estimator and scores every sample, projecting the data once.
    ///
    /// ```
    /// use psmi_std::{Features, NEstimators, Psmi};
    /// let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9], 4, 2)?;
    /// let psmi = Psmi::builder().n_estimators(NEstimators::Fixed(20)).seed(3).build()?;
    /// let (model, scores) = psmi.fit_transform(&x, &[0, 0, 1, 1])?;
    /// // The same numbers as fitting, then transforming.
    /// let again = model.transform(&x, &[0, 0, 1, 1])?;
    /// for (a, b) in scores.mean().iter().zip(again.mean()) {
    ///     assert!((a - b).abs() < 1e-9);
    /// }
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Psmi::fit`].
    pub fn fit_transform(
        &self,
        x: &Features<'_>,
        labels: &[i64],
    ) -> Result<(PsmiModel, PsmiScores)> {
        self.run(x, labels, false, &mut |_| ControlFlow::Continue(()))
    }

    /// As [`Psmi::fit_transform`], also returning the full n × m matrix if
    /// `full`, and calling `progress` after each pass over the data (at most
    /// 256 directions). `progress` returns [`ControlFlow::Break`] to stop the
    /// run there, for example on Ctrl-C.
    ///
    /// ```
    /// use psmi_std::{Features, NEstimators, Psmi, PsmiError};
    /// use std::ops::ControlFlow;
    /// let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9], 4, 2)?;
    /// let psmi = Psmi::builder().n_estimators(NEstimators::Fixed(600)).build()?;
    /// let mut done = Vec::new();
    /// let (_, scores) = psmi.fit_transform_with(&x, &[0, 0, 1, 1], true, |p| {
    ///     done.push(p.directions);
    ///     ControlFlow::Continue(())
    /// })?;
    /// assert_eq!(scores.full().unwrap().len(), 4 * 600);
    /// assert_eq!(done.last(), Some(&600));
    /// // Stopping after the first pass.
    /// let stopped = psmi.fit_transform_with(&x, &[0, 0, 1, 1], false, |_| ControlFlow::Break(()));
    /// assert!(matches!(stopped, Err(PsmiError::Interrupted { .. })));
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Psmi::fit`], and [`PsmiError::Interrupted`] when `progress` breaks.
    pub fn fit_transform_with(
        &self,
        x: &Features<'_>,
        labels: &[i64],
        full: bool,
        mut progress: impl FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<(PsmiModel, PsmiScores)> {
        self.run(x, labels, full, &mut progress)
    }

    fn run(
        &self,
        x: &Features<'_>,
        labels: &[i64],
        full: bool,
        progress: &mut dyn FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<(PsmiModel, PsmiScores)> {
        let classes = Classes::of(labels, x.rows())?;
        let engine = Engine::new(self.threads)?;
        let (n, d) = (x.rows(), x.cols());
        // Auto mode's unit is a block of `min_n_estimators` directions; fixed
        // mode is one block. Either is worked through in passes of
        // `pass_width` directions, whose n × width projections are all the
        // memory that grows with n beyond the results.
        let (block_size, max_directions, total_directions) = match self.n_estimators {
            NEstimators::Fixed(m) => (m, m, Some(m)),
            NEstimators::Auto => {
                let size = self.min_n_estimators;
                (size, self.max_n_estimators / size * size, None)
            }
        };
        let scheme = self.scheme(Some(n), d)?;
        let mut pass = Pass {
            engine: &engine,
            x,
            classes: &classes,
            source: DirectionSource::new(self.seed, scheme, d, max_directions),
            ahead: None,
            packed: Vec::new(),
            // Allocated zeroed by the system, so its pages are first touched
            // by the projection's threads rather than by one memset here.
            projections: vec![0.0f32; n * pass_width(d).min(max_directions)],
            table: Vec::new(),
        };
        let mut fixed_full = match (full, total_directions) {
            (true, Some(m)) => Some(vec![0.0f32; n * m]),
            _ => None,
        };
        let mut auto_full: Vec<Vec<f32>> = Vec::new();
        let mut summaries = vec![Moments::default(); n];
        let mut block_means = BlockMeans::default();
        let mut passes = Vec::new();
        let mut auto = None;
        let mut first = 0;
        while first < max_directions {
            let block_end = first + block_size.min(max_directions - first);
            let mut block_summaries = vec![Moments::default(); n];
            // The directions of the pass starting at `start`, within the block.
            let pass_from = |start: usize| start..(start + pass_width(d)).min(block_end);
            while first < block_end {
                let directions = pass_from(first);
                let width = directions.len();
                let mut target = match (&mut fixed_full, full) {
                    (Some(values), _) => Some(FullMatrix {
                        values,
                        width: max_directions,
                        column: first,
                    }),
                    (None, true) => {
                        auto_full.push(vec![0.0f32; n * width]);
                        auto_full.last_mut().map(|values| FullMatrix {
                            values,
                            width,
                            column: 0,
                        })
                    }
                    (None, false) => None,
                };
                // The next pass of this block, whose directions are drawn
                // while this one scores (past the block, auto mode may stop).
                let next = (directions.end < block_end).then(|| pass_from(directions.end));
                let (block, params) =
                    pass.run(directions, next, &mut block_summaries, target.as_mut())?;
                // The model draws its directions again from the seed when
                // asked: the block's own are dropped here.
                passes.push((block.first, params));
                first += width;
                let flow = progress(&Progress {
                    blocks: block_means.len(),
                    directions: first,
                    total_directions,
                    variation: auto.and_then(|a: AutoReport| a.variation),
                    target: None,
                });
                if flow.is_break() {
                    return Err(PsmiError::Interrupted {
                        directions: Some(first),
                    });
                }
            }
            merge_summaries(&mut summaries, &block_summaries);
            if self.n_estimators == NEstimators::Auto {
                block_means.push(block_summaries.iter().map(|s| s.mean));
                let variation =
                    block_means.variation_of_the_lowest(self.lowest_psmi_quantile, self.milestone);
                let converged = variation.is_some_and(|v| v <= self.max_variation_of_the_lowest);
                auto = Some(AutoReport {
                    blocks: block_means.len(),
                    variation,
                    converged,
                });
                let flow = progress(&Progress {
                    blocks: block_means.len(),
                    directions: first,
                    total_directions,
                    variation,
                    target: Some(self.max_variation_of_the_lowest),
                });
                if flow.is_break() {
                    return Err(PsmiError::Interrupted {
                        directions: Some(first),
                    });
                }
                if converged {
                    break;
                }
            }
        }
        drop(pass);
        let full_values = fixed_full.or_else(|| full.then(|| interleave_columns(&auto_full, n)));
        let model = PsmiModel::assemble(
            d,
            &classes.labels,
            passes,
            None,
            (Some(self.seed), scheme),
            self.threads,
            auto,
        );
        Ok((model, PsmiScores::from_summaries(&summaries, full_values)))
    }
}

/// One pass of `fit_transform` over all samples: directions, projections kept
/// for scoring, class statistics, scores. Reuses its buffers from pass to pass.
/// The projections are made once and read twice, hence the stages one by one
/// rather than the fused paths of `fit` and `transform`.
struct Pass<'a> {
    engine: &'a Engine,
    x: &'a Features<'a>,
    classes: &'a Classes,
    source: DirectionSource,
    /// Directions of the next pass, drawn while the last one scored.
    ahead: Option<DirectionBlock>,
    packed: Vec<f32>,
    projections: Vec<f32>,
    table: Vec<f32>,
}

impl Pass<'_> {
    /// Directions `directions`: their block and class parameters; each
    /// sample's moments over its scores are merged into `running` and the
    /// scores copied into `full`. The directions `next`, if given, are drawn
    /// while the samples are scored, for the next call.
    fn run(
        &mut self,
        directions: Range<usize>,
        next: Option<Range<usize>>,
        running: &mut [Moments],
        full: Option<&mut FullMatrix<'_>>,
    ) -> Result<(DirectionBlock, ClassParameters)> {
        let (labels, index) = (&self.classes.labels, &self.classes.index);
        let (engine, x) = (self.engine, self.x);
        let (first, width) = (directions.start, directions.len());
        let named = |e| PsmiError::from_core(e, labels, first);
        let Pass {
            source,
            ahead,
            packed,
            projections,
            table,
            ..
        } = self;
        // The whole pass on the pool, in one hand-over rather than three:
        // the serial steps between its stages (packing, class parameters)
        // are short enough to run on one of its threads.
        engine.install(|| {
            let block = match ahead.take() {
                Some(block) if block.first == first && block.count() == width => block,
                _ => source.draw(engine, first, width)?,
            };
            let packed = block.pack(engine.kernels, packed)?;
            let z = &mut projections[..x.rows() * width];
            let statistics = stages::project_with_statistics(x, &packed, index, labels.len(), z)?;
            let params = statistics.parameters().map_err(named)?;
            let table = params.table(table).map_err(named)?;
            let (scored, drawn) = rayon::join(
                || stages::score_and_merge(engine.kernels, &table, index, z, running, full),
                || {
                    next.map(|next| source.draw(engine, next.start, next.len()))
                        .transpose()
                },
            );
            scored?;
            *ahead = drawn?;
            Ok((block, params))
        })
    }
}

/// Joins per-block n × width matrices side by side into one n × Σwidth matrix.
fn interleave_columns(blocks: &[Vec<f32>], n: usize) -> Vec<f32> {
    let widths: Vec<usize> = blocks.iter().map(|b| b.len() / n).collect();
    let mut out = Vec::with_capacity(n * widths.iter().sum::<usize>());
    for i in 0..n {
        for (block, &w) in blocks.iter().zip(&widths) {
            out.extend_from_slice(&block[i * w..(i + 1) * w]);
        }
    }
    out
}

impl Psmi {
    /// Bytes that [`Psmi::fit_transform`] holds beyond the features
    /// themselves on `rows × cols` inputs (with the full matrix if `full`):
    /// the projections of one pass, the per-sample summaries, the labels,
    /// auto mode's block means, the packed directions, each thread's buffers,
    /// and the few chunks of rows in use at once when the features are
    /// streamed. `fit` and `transform` need less. The threads are the
    /// estimator's, or every core.
    ///
    /// ```
    /// use psmi_std::{NEstimators, Psmi};
    /// let psmi = Psmi::builder().n_estimators(NEstimators::Fixed(500)).build()?;
    /// let bytes = psmi.working_memory(400_000, 4096, false);
    /// // The projections of one pass of 256 directions dominate.
    /// assert!(bytes > 400_000 * 256 * 4 && bytes < 600 << 20);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    pub fn working_memory(&self, rows: usize, cols: usize, full: bool) -> u64 {
        let (max_directions, blocks) = match self.n_estimators {
            NEstimators::Fixed(m) => (m, 1),
            NEstimators::Auto => (
                self.max_n_estimators,
                self.max_n_estimators / self.min_n_estimators.max(1),
            ),
        };
        let threads = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let width = pass_width(cols).min(max_directions);
        let moments = std::mem::size_of::<Moments>();
        let per_row = width * 4 // one pass's projections
            + 3 * moments // running, block and pass summaries
            + 2 * 8 // mean and std out
            + 8 + 8 + 4 // labels, their sorted copy, class indices
            + if blocks > 1 { blocks * 8 } else { 0 } // auto mode's block means
            + if full { max_directions * 4 * 2 } else { 0 }; // the full matrix, interleaved
        let directions = 2 * crate::pipeline::MAX_BLOCK * cols * 4; // drawn and packed
        let per_thread = stages::ROW_CHUNK * (width + 2 * cols) * 4 // scores, streamed rows
            + psmi_core::projection::scratch_len(psmi_core::Kernels::detect(), cols) * 4;
        (rows * per_row + directions + threads * per_thread) as u64
    }
}
