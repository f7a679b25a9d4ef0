//! Each sample's quantiles of PSMI over the directions: exact, as
//! `np.quantile` computes them. In fixed mode from the scores of the run's
//! single projection while they fit the memory given; otherwise by one more
//! pass, chunk of rows by chunk of rows, never holding the n × m matrix.

use crate::error::{PsmiError, Result};
use crate::estimator::Progress;
use crate::features::Features;
use crate::model::PsmiModel;
use crate::options::{NEstimators, Psmi};
use crate::pipeline::Engine;
use crate::scores::PsmiScores;
use crate::stages::ROW_CHUNK;
use psmi_core::statistics::Moments;
use rayon::prelude::*;
use std::ops::ControlFlow;

/// Bytes of scores held at once by [`PsmiModel::quantiles`]: one chunk of
/// rows across all m directions. Large enough that a chunk spans many row
/// tasks, small enough to be no concern beside the inputs.
const CHUNK_BYTES: usize = 8 << 20;

/// Each sample's quantiles of PSMI over the directions, at the levels asked
/// for: row-major n × q, row i for sample i, column j for `levels()[j]`.
///
/// ```
/// use psmi_std::{Features, NEstimators, Psmi};
/// let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 0.2, 0.4, 5.0, 5.2, 5.1, 4.9], 5, 2)?;
/// let labels = [0, 0, 1, 1, 1];
/// let psmi = Psmi::builder().n_estimators(NEstimators::Fixed(31)).build()?;
/// let (model, scores) = psmi.fit_transform_with(&x, &labels, true, |_| {
///     std::ops::ControlFlow::Continue(())
/// })?;
/// let quantiles = model.quantiles(&x, &labels, &[0.01, 0.5, 0.99])?;
/// assert_eq!((quantiles.rows(), quantiles.levels()), (5, &[0.01, 0.5, 0.99][..]));
/// // The median of sample 2's 31 scores is the 16th smallest.
/// let mut row: Vec<f32> = scores.full().unwrap()[2 * 31..3 * 31].to_vec();
/// row.sort_by(f32::total_cmp);
/// assert_eq!(quantiles.row(2)[1], f64::from(row[15]));
/// assert_eq!(quantiles.values()[2 * 3 + 1], quantiles.row(2)[1]);
/// # Ok::<(), psmi_std::PsmiError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Quantiles {
    levels: Vec<f64>,
    values: Vec<f64>,
}

impl Quantiles {
    /// `np.quantile(values, levels)` with numpy's default (linear) method,
    /// computed in f64: for a level q, the virtual index h = (m − 1)·q between
    /// the sorted values a\[⌊h⌋\] and a\[⌊h⌋ + 1\], interpolated as numpy's
    /// `_lerp` does (from the nearer end).
    ///
    /// ```
    /// use psmi_std::Quantiles;
    /// // h = 3 × 0.25 = 0.75 between 1 and 2 (sorted: 1, 2, 4, 8).
    /// let q = Quantiles::of_values(&[8.0, 1.0, 4.0, 2.0], &[0.25, 0.5])?;
    /// assert_eq!(q, vec![1.75, 3.0]);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PsmiError::Empty`] for no values, [`PsmiError::InvalidOption`]
    /// (option `quantiles`) for a level outside (0, 1) or no level.
    pub fn of_values(values: &[f32], levels: &[f64]) -> Result<Vec<f64>> {
        Self::check(levels)?;
        if values.is_empty() {
            return Err(PsmiError::Empty { what: "values" });
        }
        let mut values = values.to_vec();
        let mut out = vec![0.0; levels.len()];
        fill_row(&mut values, levels, &mut out);
        Ok(out)
    }

    /// Checks quantile levels: at least one, each in (0, 1).
    ///
    /// ```
    /// use psmi_std::{PsmiError, Quantiles};
    /// assert!(Quantiles::check(&[0.01, 0.99]).is_ok());
    /// let err = Quantiles::check(&[0.5, 1.0]).unwrap_err();
    /// assert_eq!(err.to_string(), "invalid option `quantiles` = 1: each must be in (0, 1)");
    /// ```
    ///
    /// # Errors
    ///
    /// [`PsmiError::InvalidOption`] naming the option `quantiles` and the first bad level.
    pub fn check(levels: &[f64]) -> Result<()> {
        let bad = |value: String| PsmiError::InvalidOption {
            option: "quantiles",
            value,
            expected: "each must be in (0, 1)",
        };
        if levels.is_empty() {
            return Err(bad("(none)".to_owned()));
        }
        match levels.iter().find(|q| !(**q > 0.0 && **q < 1.0)) {
            Some(q) => Err(bad(q.to_string())),
            None => Ok(()),
        }
    }

    /// The levels, in the order given.
    pub fn levels(&self) -> &[f64] {
        &self.levels
    }

    /// Number of samples n.
    pub fn rows(&self) -> usize {
        self.values.len() / self.levels.len()
    }

    /// All quantiles, row-major n × q.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Sample `i`'s quantiles, one per level.
    ///
    /// # Panics
    ///
    /// If `i` is not below [`Quantiles::rows`].
    pub fn row(&self, i: usize) -> &[f64] {
        let q = self.levels.len();
        &self.values[i * q..(i + 1) * q]
    }
}

/// Writes the quantiles of `values` (reordered in place) at `levels` into `out`.
fn fill_row(values: &mut [f32], levels: &[f64], out: &mut [f64]) {
    let last = values.len() - 1;
    for (q, out) in levels.iter().zip(out) {
        let h = last as f64 * q;
        let below = (h.floor() as usize).min(last);
        let (_, &mut a, above) = values.select_nth_unstable_by(below, f32::total_cmp);
        let a = f64::from(a);
        // The next order statistic is the smallest of those after it.
        let b = above
            .iter()
            .copied()
            .min_by(f32::total_cmp)
            .map_or(a, f64::from);
        let t = h - below as f64;
        *out = if t >= 0.5 {
            b - (b - a) * (1.0 - t)
        } else {
            a + (b - a) * t
        };
    }
}

/// Each row's quantiles at `levels` of the row-major `out.len() / q × m`
/// matrix `scores` (left as it is), into `out` (row-major, q per row).
fn quantiles_of_rows(engine: &Engine, scores: &[f32], m: usize, levels: &[f64], out: &mut [f64]) {
    engine.install(|| {
        scores
            .par_chunks(m)
            .zip(out.par_chunks_mut(levels.len()))
            .for_each_init(
                || vec![0.0f32; m],
                |row, (scores, out)| {
                    row.copy_from_slice(scores);
                    fill_row(row, levels, out);
                },
            );
    });
}

impl Quantiles {
    /// Each sample's quantiles at `levels` of the full matrix `scores` holds,
    /// on `engine`'s threads; `None` if it holds none.
    fn of_full(engine: &Engine, scores: &PsmiScores, levels: &[f64]) -> Option<Quantiles> {
        let matrix = scores.full()?;
        let mut values = vec![0.0f64; scores.mean().len() * levels.len()];
        quantiles_of_rows(engine, matrix, scores.n_estimators(), levels, &mut values);
        Some(Quantiles {
            levels: levels.to_vec(),
            values,
        })
    }
}

impl PsmiModel {
    /// Each sample's quantiles of PSMI over the model's m directions at
    /// `levels` (each in (0, 1)), exactly as `np.quantile` of the rows of the
    /// full n × m matrix (linear method), without that matrix.
    ///
    /// Cost: one more pass of projection and scoring over the data, as
    /// [`PsmiModel::transform`], with [`PsmiModel::transform_with_quantiles`]
    /// (which gives the scores of that pass too). After
    /// [`Psmi::fit_transform`](crate::Psmi::fit_transform), fixed or auto,
    /// this pass on the same data gives the quantiles of the fitted model;
    /// [`Psmi::fit_transform_with_quantiles`] saves the pass in fixed mode.
    ///
    /// ```
    /// use psmi_std::{Features, NEstimators, Psmi};
    /// let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 0.2, 0.4, 5.0, 5.2, 5.1, 4.9], 5, 2)?;
    /// let labels = [0, 0, 1, 1, 1];
    /// let psmi = Psmi::builder().n_estimators(NEstimators::Fixed(40)).build()?;
    /// let model = psmi.fit(&x, &labels)?;
    /// let q = model.quantiles(&x, &labels, &[0.05, 0.95])?;
    /// // Each sample's quantiles lie within its scores, in order.
    /// let scores = model.transform_with(&x, &labels, true)?;
    /// for (i, row) in scores.full().unwrap().chunks(40).enumerate() {
    ///     let min = row.iter().copied().fold(f32::INFINITY, f32::min);
    ///     let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    ///     let (low, high) = (q.row(i)[0], q.row(i)[1]);
    ///     assert!(f64::from(min) <= low && low <= high && high <= f64::from(max));
    /// }
    /// assert!(model.quantiles(&x, &labels, &[1.0]).is_err());
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PsmiError::InvalidOption`] (option `quantiles`) for a level outside
    /// (0, 1) or no level; otherwise as [`PsmiModel::transform`].
    pub fn quantiles(&self, x: &Features<'_>, labels: &[i64], levels: &[f64]) -> Result<Quantiles> {
        Ok(self.transform_with_quantiles(x, labels, levels, false)?.1)
    }

    /// [`PsmiModel::transform_with`] and [`PsmiModel::quantiles`] in one
    /// pass over the data. With `full`, the quantiles are taken from the full
    /// matrix. Otherwise the rows go through in chunks, each scored along all
    /// m directions (at most 8 MiB of scores, or 256 rows × m if that is
    /// more), its rows' moments and quantiles taken, then dropped; every
    /// block of directions is drawn (or copied) and packed once for the
    /// whole call and held until its end: m × d floats.
    ///
    /// ```
    /// use psmi_std::{Features, NEstimators, Psmi};
    /// let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 0.2, 0.4, 5.0, 5.2, 5.1, 4.9], 5, 2)?;
    /// let labels = [0, 0, 1, 1, 1];
    /// let model = Psmi::builder().n_estimators(NEstimators::Fixed(40)).build()?.fit(&x, &labels)?;
    /// let (scores, quantiles) = model.transform_with_quantiles(&x, &labels, &[0.5], false)?;
    /// assert_eq!(scores, model.transform(&x, &labels)?);
    /// assert_eq!(quantiles, model.quantiles(&x, &labels, &[0.5])?);
    /// // With the full matrix, the same quantiles from it.
    /// let (scores, again) = model.transform_with_quantiles(&x, &labels, &[0.5], true)?;
    /// assert_eq!(scores.full().map(|f| f.len()), Some(5 * 40));
    /// assert_eq!(again, quantiles);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`PsmiModel::quantiles`].
    pub fn transform_with_quantiles(
        &self,
        x: &Features<'_>,
        labels: &[i64],
        levels: &[f64],
        full: bool,
    ) -> Result<(PsmiScores, Quantiles)> {
        Quantiles::check(levels)?;
        let engine = self.engine()?;
        if full {
            let scores = self.transform_with(x, labels, true)?;
            if let Some(quantiles) = Quantiles::of_full(&engine, &scores, levels) {
                return Ok((scores, quantiles));
            }
        }
        let class_index = self.class_index(x, labels)?;
        let (n, m, q) = (x.rows(), self.n_estimators(), levels.len());
        let mut source = self.direction_source();
        let mut buffers: Vec<(Vec<f32>, Vec<f32>)> =
            self.block_starts().map(|_| Default::default()).collect();
        let blocks = self
            .block_starts()
            .zip(&mut buffers)
            .map(|(first, (packed, table))| {
                self.prepare_block(&engine, source.as_mut(), first, packed, table)
            })
            .collect::<Result<Vec<_>>>()?;
        let rows = (CHUNK_BYTES / (4 * m) / ROW_CHUNK).max(1) * ROW_CHUNK;
        let mut scores = vec![0.0f32; rows.min(n) * m];
        let mut values = vec![0.0f64; n * q];
        let mut summaries = vec![Moments::default(); n];
        let mut bars = self.error_bars(n);
        let chunks = (0..n)
            .step_by(rows)
            .zip(values.chunks_mut(rows * q))
            .zip(summaries.chunks_mut(rows));
        for ((start, out), summaries) in chunks {
            let end = start + summaries.len();
            let chunk = &mut scores[..(end - start) * m];
            let rows_x = x.slice_rows(start..end);
            for block in &blocks {
                let class_index = &class_index[start..end];
                let outputs = (&mut *summaries, Some(&mut *chunk), &mut bars);
                block.score(&engine, &rows_x, class_index, start, outputs)?;
            }
            quantiles_of_rows(&engine, chunk, m, levels, out);
        }
        let quantiles = Quantiles {
            levels: levels.to_vec(),
            values,
        };
        Ok((
            PsmiScores::from_summaries(&summaries, &bars, None),
            quantiles,
        ))
    }
}

impl Psmi {
    /// [`Psmi::fit_transform_with`], and each sample's quantiles at `levels`
    /// as [`PsmiModel::quantiles`] gives them. In fixed mode the n × m
    /// scores of the run's single projection are kept when they fit in
    /// `scores_memory` bytes (`None`: no limit; always with `full`, which
    /// keeps them anyway), and the quantiles are taken from them: no second
    /// pass over the data. Otherwise, and in auto mode without `full` (its
    /// number of directions is not known in advance), the quantiles take one more pass
    /// ([`PsmiModel::quantiles`]), each block of directions drawn once.
    ///
    /// ```
    /// use psmi_std::{Features, NEstimators, Psmi};
    /// use std::ops::ControlFlow;
    /// let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 0.2, 0.4, 5.0, 5.2, 5.1, 4.9], 5, 2)?;
    /// let labels = [0, 0, 1, 1, 1];
    /// let psmi = Psmi::builder().n_estimators(NEstimators::Fixed(40)).build()?;
    /// let levels = [0.01, 0.99];
    /// let (model, scores, quantiles) =
    ///     psmi.fit_transform_with_quantiles(&x, &labels, false, &levels, None, |_| ControlFlow::Continue(()))?;
    /// assert!(scores.full().is_none());
    /// assert_eq!(quantiles, model.quantiles(&x, &labels, &levels)?);
    /// // Within no memory for the scores: the same numbers from a second pass.
    /// let (_, _, again) =
    ///     psmi.fit_transform_with_quantiles(&x, &labels, false, &levels, Some(0), |_| ControlFlow::Continue(()))?;
    /// assert_eq!(again, quantiles);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Psmi::fit_transform_with`] and [`PsmiModel::quantiles`].
    pub fn fit_transform_with_quantiles(
        &self,
        x: &Features<'_>,
        labels: &[i64],
        full: bool,
        levels: &[f64],
        scores_memory: Option<u64>,
        progress: impl FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<(PsmiModel, PsmiScores, Quantiles)> {
        Quantiles::check(levels)?;
        let keep = match self.n_estimators {
            NEstimators::Fixed(m) => {
                let bytes = (x.rows() as u64).saturating_mul(m as u64 * 4);
                full || scores_memory.is_none_or(|limit| bytes <= limit)
            }
            NEstimators::Auto => full,
        };
        let (model, scores) = self.fit_transform_with(x, labels, keep, progress)?;
        let quantiles = match Quantiles::of_full(&model.engine()?, &scores, levels) {
            Some(quantiles) => quantiles,
            None => model.quantiles(x, labels, levels)?,
        };
        let scores = if full { scores } else { scores.without_full() };
        Ok((model, scores, quantiles))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values derived by hand from numpy's definition (linear method:
    /// h = (m − 1)·q, a + (b − a)·(h − ⌊h⌋) between neighbours in sorted order).
    #[test]
    fn linear_interpolation_matches_numpys_definition_by_hand() {
        // Sorted: 1, 3, 7. h = 2q.
        let v = [7.0f32, 1.0, 3.0];
        // q = 0.25: h = 0.5 → halfway between 1 and 3.
        // q = 0.5:  h = 1   → 3 exactly.
        // q = 0.9:  h = 1.8 → 3 + 0.8 × 4 = 6.2.
        // q = 0.01: h = 0.02 → 1 + 0.02 × 2 = 1.04.
        let got = Quantiles::of_values(&v, &[0.25, 0.5, 0.9, 0.01]).unwrap();
        for (g, want) in got.iter().zip([2.0, 3.0, 6.2, 1.04]) {
            assert!((g - want).abs() < 1e-12, "{got:?}");
        }
        // One value: every quantile is that value.
        assert_eq!(Quantiles::of_values(&[-2.5], &[0.3]).unwrap(), [-2.5]);
        // Ties and negative values: sorted −4, −4, 0, 5, 5; h = 4q.
        // q = 0.3: h = 1.2 → −4 + 0.2 × (0 − (−4)) = −3.2. q = 0.6: h = 2.4 → 0 + 0.4 × 5 = 2.
        // q = 0.875: h = 3.5 → 5.
        let got = Quantiles::of_values(&[5.0, -4.0, 0.0, 5.0, -4.0], &[0.3, 0.6, 0.875]).unwrap();
        for (g, want) in got.iter().zip([-3.2, 2.0, 5.0]) {
            assert!((g - want).abs() < 1e-12, "{got:?}");
        }
    }

    #[test]
    fn levels_outside_the_open_unit_interval_are_refused_naming_the_option() {
        for bad in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
            let err = Quantiles::of_values(&[1.0, 2.0], &[0.5, bad]).unwrap_err();
            assert!(
                matches!(err, PsmiError::InvalidOption { option: "quantiles", ref value, .. } if *value == bad.to_string()),
                "{err}"
            );
        }
        assert!(Quantiles::of_values(&[1.0], &[]).is_err());
        assert!(matches!(
            Quantiles::of_values(&[], &[0.5]),
            Err(PsmiError::Empty { .. })
        ));
    }
}
