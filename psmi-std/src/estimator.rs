//! `fit` and `fit_transform`: the blocks of directions, fixed or auto.

use crate::auto::{AutoRule, BlockMeans, Check, Step};
use crate::classes::Classes;
use crate::error::{PsmiError, Result};
use crate::error_bars::{BarsTarget, ErrorBars};
use crate::features::Features;
use crate::fitter::PsmiFitter;
use crate::model::PsmiModel;
use crate::options::{NEstimators, Psmi};
use crate::pipeline::{pass_width, DirectionBlock, DirectionSource, Engine};
use crate::scores::PsmiScores;
use crate::stages::{self, merge_summaries, ClassParameters, FullMatrix};
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
        let engine = Engine::new(self.threads, self.precision)?;
        let (n, d) = (x.rows(), x.cols());
        // Fixed mode is one block, auto mode blocks of `min_n_estimators`
        // directions until the rule stops. Either is worked through in
        // passes of `pass_width` directions, whose n × width projections are
        // all the memory that grows with n beyond the results.
        let mut rule = AutoRule::new(self, n);
        let total_directions = match self.n_estimators {
            NEstimators::Fixed(m) => Some(m),
            NEstimators::Auto => None,
        };
        let scheme = self.scheme(Some(n), d)?;
        let mut pass = Pass {
            engine: &engine,
            x,
            classes: &classes,
            source: DirectionSource::new(self.seed, scheme, d, rule.bound()),
            ahead: None,
            packed: Vec::new(),
            // Allocated zeroed by the system, so its pages are first touched
            // by the projection's threads rather than by one memset here.
            projections: vec![0.0f32; n * pass_width(d).min(rule.bound())],
            table: Vec::new(),
        };
        let mut summaries = vec![Moments::default(); n];
        let mut bars = ErrorBars::new(scheme, n);
        let mut block_means = BlockMeans::default();
        // The full matrix, one n × width matrix per block.
        let mut full_blocks = Vec::new();
        let mut passes = Vec::new();
        let interrupted = |directions| PsmiError::Interrupted {
            directions: Some(directions),
        };
        while let Step::Block(block) = rule.step() {
            let mut block_summaries = vec![Moments::default(); n];
            let mut values = full.then(|| vec![0.0f32; n * block.len()]);
            // The directions of the pass starting at `start`, within the block.
            let pass_from = |start: usize| start..(start + pass_width(d)).min(block.end);
            let mut directions = pass_from(block.start);
            loop {
                // The next pass of this block, whose directions are drawn
                // while this one scores (past the block, auto mode may stop).
                let next = (directions.end < block.end).then(|| pass_from(directions.end));
                let mut target = values.as_deref_mut().map(|values| FullMatrix {
                    values,
                    width: block.len(),
                    column: directions.start - block.start,
                });
                let mut bars = BarsTarget {
                    bars: &mut bars,
                    row: 0,
                    direction: directions.start,
                };
                let (drawn, params) = pass.run(
                    directions.clone(),
                    next.clone(),
                    &mut block_summaries,
                    target.as_mut(),
                    &mut bars,
                )?;
                // The model draws its directions again from the seed when
                // asked: the pass's own are dropped here.
                passes.push((drawn.first, params));
                let flow = progress(&Progress {
                    blocks: rule.blocks(),
                    directions: directions.end,
                    total_directions,
                    variation: rule.statistic(),
                    target: None,
                });
                if flow.is_break() {
                    return Err(interrupted(directions.end));
                }
                match next {
                    Some(next) => directions = next,
                    None => break,
                }
            }
            merge_summaries(&mut summaries, &block_summaries);
            full_blocks.extend(values);
            if total_directions.is_none() {
                block_means.push(block_summaries.iter().map(|s| s.mean));
            }
            rule.block_scored()?;
            if let Step::Gather(check) = rule.step() {
                let (running, other) = match check {
                    Check::Variation {
                        blocks,
                        half_blocks,
                        ..
                    } => (
                        block_means.mean_over(blocks),
                        block_means.mean_over(half_blocks),
                    ),
                    Check::StandardError { .. } => (
                        summaries.iter().map(|s| s.mean).collect(),
                        bars.stderr(&summaries),
                    ),
                };
                rule.observe(&running, &other)?;
            }
            if let Some(target) = rule.target() {
                let flow = progress(&Progress {
                    blocks: rule.blocks(),
                    directions: rule.directions(),
                    total_directions,
                    variation: rule.statistic(),
                    target: Some(target),
                });
                if flow.is_break() {
                    return Err(interrupted(rule.directions()));
                }
            }
        }
        let Step::Stop(auto) = rule.step() else {
            unreachable!("each block's check is observed as soon as it is asked for")
        };
        drop(pass);
        let full_values = full.then(|| join_columns(full_blocks, n));
        let model = PsmiModel::assemble(
            d,
            &classes.labels,
            passes,
            None,
            (Some(self.seed), scheme, self.precision),
            self.threads,
            auto,
        );
        let scores = PsmiScores::from_summaries(&summaries, &bars, full_values);
        Ok((model, scores))
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
    /// sample's moments over its scores are merged into `running`, the
    /// scores copied into `full` and gathered into `bars`. The directions
    /// `next`, if given, are drawn while the samples are scored, for the
    /// next call.
    fn run(
        &mut self,
        directions: Range<usize>,
        next: Option<Range<usize>>,
        running: &mut [Moments],
        full: Option<&mut FullMatrix<'_>>,
        bars: &mut BarsTarget<'_>,
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
            let packed = block.pack(engine, packed)?;
            let z = &mut projections[..x.rows() * width];
            let statistics = stages::project_with_statistics(x, &packed, index, labels.len(), z)?;
            let params = statistics.parameters().map_err(named)?;
            let table = params.table(table).map_err(named)?;
            let (scored, drawn) = rayon::join(
                || {
                    let kernels = engine.kernels;
                    stages::score_and_merge(kernels, &table, index, z, running, full, Some(bars))
                },
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

/// Joins per-block n × width matrices side by side into one n × Σwidth
/// matrix (a single block as it is).
fn join_columns(mut blocks: Vec<Vec<f32>>, n: usize) -> Vec<f32> {
    if blocks.len() == 1 {
        return blocks.remove(0);
    }
    let widths: Vec<usize> = blocks.iter().map(|b| b.len() / n.max(1)).collect();
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
            + crate::error_bars::BYTES_PER_SAMPLE
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
