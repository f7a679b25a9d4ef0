//! `fit` and `fit_transform`: the blocks of directions, fixed or auto.

use crate::auto::{variation_of_the_lowest, AutoReport};
use crate::error::Result;
use crate::features::{Classes, Features};
use crate::fitter::PsmiFitter;
use crate::model::{merge_summaries, PsmiModel};
use crate::options::{NEstimators, Psmi};
use crate::pipeline::{self, ClassParameters, DirectionBlock, Engine, FullMatrix, MAX_BLOCK};
use crate::scores::PsmiScores;
use psmi_core::statistics::Moments;

/// What a run reports after each block of directions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Blocks done.
    pub blocks: usize,
    /// Directions done.
    pub directions: usize,
    /// Directions in all, in fixed mode; `None` in auto mode.
    pub total_directions: Option<usize>,
    /// In auto mode, the last variation of the lowest samples (if computed).
    pub variation: Option<f64>,
    /// In auto mode, the variation at which it stops.
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
                let mut fitter = PsmiFitter::new(self, x.cols())?;
                fitter.update(x, labels)?;
                fitter.finish()
            }
            NEstimators::Auto => Ok(self.run(x, labels, false, &mut |_| {})?.0),
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
        self.run(x, labels, false, &mut |_| {})
    }

    /// As [`Psmi::fit_transform`], also returning the full n × m matrix if
    /// `full`, and calling `progress` after each block of directions.
    ///
    /// ```
    /// use psmi_std::{Features, NEstimators, Psmi};
    /// let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9], 4, 2)?;
    /// let psmi = Psmi::builder().n_estimators(NEstimators::Fixed(600)).build()?;
    /// let mut blocks = 0;
    /// let (_, scores) = psmi.fit_transform_with(&x, &[0, 0, 1, 1], true, |p| blocks = p.blocks)?;
    /// assert_eq!(scores.full().unwrap().len(), 4 * 600);
    /// assert_eq!(blocks, 2);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Psmi::fit`].
    pub fn fit_transform_with(
        &self,
        x: &Features<'_>,
        labels: &[i64],
        full: bool,
        mut progress: impl FnMut(&Progress),
    ) -> Result<(PsmiModel, PsmiScores)> {
        self.run(x, labels, full, &mut progress)
    }

    fn run(
        &self,
        x: &Features<'_>,
        labels: &[i64],
        full: bool,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<(PsmiModel, PsmiScores)> {
        let classes = Classes::of(labels, x.rows())?;
        let engine = Engine::new(self.threads)?;
        let (n, d, k) = (x.rows(), x.cols(), classes.labels.len());
        let (block_size, max_directions, total_directions) = match self.n_estimators {
            NEstimators::Fixed(m) => (MAX_BLOCK, m, Some(m)),
            NEstimators::Auto => {
                let size = self.min_n_estimators;
                (size, self.max_n_estimators / size * size, None)
            }
        };
        let mut fixed_full = match (full, total_directions) {
            (true, Some(m)) => Some(vec![0.0f32; n * m]),
            _ => None,
        };
        let mut auto_full: Vec<Vec<f32>> = Vec::new();
        let mut projections = Vec::new();
        let mut table_buffer = Vec::new();
        let mut summaries = vec![Moments::default(); n];
        let mut block_means: Vec<Vec<f64>> = Vec::new();
        let mut blocks = Vec::new();
        let mut auto = None;
        let mut first = 0;
        while first < max_directions {
            let width = block_size.min(max_directions - first);
            let block = DirectionBlock::draw(&engine, self.seed, first, width, d)?;
            projections.resize(n * width, 0.0);
            let moments = pipeline::fit_block(
                &engine,
                x,
                &classes.index,
                k,
                &block,
                Some(&mut projections),
            )?;
            let params = ClassParameters::from_moments(moments, &classes.labels, first)?;
            let table = params.table(&classes.labels, first, &mut table_buffer)?;
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
            let block_summaries = pipeline::score_projected(
                &engine,
                &table,
                &classes.index,
                &block,
                &mut projections,
                target.as_mut(),
            )?;
            merge_summaries(&mut summaries, &block_summaries);
            first += width;
            blocks.push((block, params));
            let mut variation = None;
            if self.n_estimators == NEstimators::Auto {
                block_means.push(block_summaries.iter().map(|s| s.mean).collect());
                variation = variation_of_the_lowest(
                    &block_means,
                    self.lowest_psmi_quantile,
                    self.milestone,
                );
                let converged = variation.is_some_and(|v| v <= self.max_variation_of_the_lowest);
                auto = Some(AutoReport {
                    blocks: blocks.len(),
                    variation,
                    converged,
                });
            }
            progress(&Progress {
                blocks: blocks.len(),
                directions: first,
                total_directions,
                variation,
                target: auto.map(|_| self.max_variation_of_the_lowest),
            });
            if auto.is_some_and(|a| a.converged) {
                break;
            }
        }
        drop(projections);
        let full_values = fixed_full.or_else(|| full.then(|| interleave_columns(&auto_full, n)));
        let model = PsmiModel::assemble(
            d,
            &classes.labels,
            blocks,
            Some(self.seed),
            self.threads,
            auto,
        );
        Ok((model, PsmiScores::from_summaries(&summaries, full_values)))
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
