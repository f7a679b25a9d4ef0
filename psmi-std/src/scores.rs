//! Per-sample results of `transform` and `fit_transform`.

use crate::error_bars::ErrorBars;
use psmi_core::statistics::Moments;

/// PSMI of every sample: mean and spread over the directions, and the full
/// n × m matrix when it was asked for.
///
/// ```
/// use psmi_std::{Features, NEstimators, Psmi};
/// let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9], 4, 2)?;
/// let psmi = Psmi::builder().n_estimators(NEstimators::Fixed(16)).build()?;
/// let (_model, scores) = psmi.fit_transform(&x, &[0, 0, 1, 1])?;
/// assert_eq!(scores.mean().len(), 4);
/// assert_eq!(scores.n_estimators(), 16);
/// assert!(scores.full().is_none());
/// // SMI, the data set's mean PSMI, is at most ln 2 for two balanced classes.
/// assert!(scores.smi() <= 2f64.ln() + 1e-6);
/// # Ok::<(), psmi_std::PsmiError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct PsmiScores {
    mean: Vec<f64>,
    std: Vec<f64>,
    n_estimators: usize,
    full: Option<Vec<f32>>,
    /// See [`ErrorBars::design_effect`].
    design_effect: f64,
    smi_stderr: f64,
}

impl PsmiScores {
    pub(crate) fn from_summaries(
        summaries: &[Moments],
        bars: &ErrorBars,
        full: Option<Vec<f32>>,
    ) -> Self {
        let mean: Vec<f64> = summaries.iter().map(|s| s.mean).collect();
        PsmiScores {
            smi_stderr: bars.smi_stderr(&mean, summaries),
            design_effect: bars.design_effect(summaries),
            mean,
            std: summaries.iter().map(Moments::std).collect(),
            n_estimators: summaries.first().map_or(0, |s| s.count as usize),
            full,
        }
    }

    /// Mean PSMI of each sample over the directions.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// Population standard deviation (ddof = 0, as numpy) of each sample's PSMI
    /// over the directions.
    pub fn std(&self) -> &[f64] {
        &self.std
    }

    /// Standard error of each sample's mean over the directions, right for
    /// the scheme they were drawn in: std / √m for i.i.d. directions, and
    /// std · √(D/m) for orthonormal frames, D the design effect pooled over
    /// the samples ([`ErrorBars`]; the README derives it). Nominal 95 %
    /// intervals are mean ± 1.96 · stderr.
    ///
    /// ```
    /// use psmi_std::{Directions, Features, NEstimators, Psmi};
    /// let data: Vec<f32> = (0..400).map(|i| ((i * 37 % 101) as f32) / 50.0 + (i / 200) as f32).collect();
    /// let labels: Vec<i64> = (0..100).map(|i| i / 50).collect();
    /// let x = Features::new(&data, 100, 4)?;
    /// let run = |directions| {
    ///     Psmi::builder().n_estimators(NEstimators::Fixed(64)).directions(directions)
    ///         .frame_size(4).build()?.fit_transform(&x, &labels)
    /// };
    /// let (_, iid) = run(Directions::Iid)?;
    /// assert_eq!(iid.stderr()[0], iid.std()[0] / 8.0);
    /// let (_, frames) = run(Directions::Orthogonal)?;
    /// assert!(frames.stderr().iter().all(|e| e.is_finite()));
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    pub fn stderr(&self) -> Vec<f64> {
        let scale = (self.design_effect / self.n_estimators.max(1) as f64).sqrt();
        self.std.iter().map(|s| s * scale).collect()
    }

    /// The design effect D of the directions: the variance of a sample's
    /// mean as a multiple of the i.i.d. formula's (1 for i.i.d. directions,
    /// below 1 where frames help); [`PsmiScores::stderr`] is std · √(D/m).
    ///
    /// ```
    /// use psmi_std::{Directions, Features, NEstimators, Psmi};
    /// let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9], 4, 2)?;
    /// let psmi = Psmi::builder().n_estimators(NEstimators::Fixed(16)).directions(Directions::Iid).build()?;
    /// assert_eq!(psmi.fit_transform(&x, &[0, 0, 1, 1])?.1.design_effect(), 1.0);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    pub fn design_effect(&self) -> f64 {
        self.design_effect
    }

    /// Sliced mutual information of the data set: the mean PSMI over samples
    /// (summed in sample order, so it does not depend on threads).
    pub fn smi(&self) -> f64 {
        self.mean.iter().sum::<f64>() / self.mean.len() as f64
    }

    /// Standard error of the [SMI](PsmiScores::smi) as an estimate of the
    /// sliced mutual information of the population the samples come from:
    /// the samples' share (std of the per-sample means, ddof 1, over √n) and
    /// the directions' share (as [`PsmiScores::stderr`] for the series of
    /// per-direction means over samples), added as variances.
    ///
    /// ```
    /// use psmi_std::{Features, NEstimators, Psmi};
    /// let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 0.1, 5.0, 5.2, 5.1, 4.9, 5.3], 5, 2)?;
    /// let psmi = Psmi::builder().n_estimators(NEstimators::Fixed(50)).build()?;
    /// let (_, scores) = psmi.fit_transform(&x, &[0, 0, 1, 1, 1])?;
    /// let samples_only = {
    ///     let (n, smi) = (5.0, scores.smi());
    ///     let var = scores.mean().iter().map(|m| (m - smi).powi(2)).sum::<f64>() / (n - 1.0);
    ///     (var / n).sqrt()
    /// };
    /// assert!(scores.smi_stderr() >= samples_only * (1.0 - 1e-12));
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    pub fn smi_stderr(&self) -> f64 {
        self.smi_stderr
    }

    /// Number of directions m.
    pub fn n_estimators(&self) -> usize {
        self.n_estimators
    }

    /// The full n × m matrix (row-major, f32), if it was asked for.
    pub fn full(&self) -> Option<&[f32]> {
        self.full.as_deref()
    }

    /// The same scores without the full matrix, to keep the summaries of
    /// many runs without their n × m matrices.
    ///
    /// ```
    /// # use psmi_std::{Features, NEstimators, Psmi};
    /// # let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9], 4, 2)?;
    /// # let psmi = Psmi::builder().n_estimators(NEstimators::Fixed(8)).build()?;
    /// let (_, scores) = psmi.fit_transform_with(&x, &[0, 0, 1, 1], true, |_| {
    ///     std::ops::ControlFlow::Continue(())
    /// })?;
    /// let kept = scores.clone().without_full();
    /// assert!(kept.full().is_none());
    /// assert_eq!((kept.mean(), kept.std()), (scores.mean(), scores.std()));
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    pub fn without_full(self) -> PsmiScores {
        PsmiScores { full: None, ..self }
    }

    /// The per-sample means and standard deviations and the full matrix, by
    /// value (no copy), for callers that hand them on, such as the Python bindings.
    ///
    /// ```
    /// # use psmi_std::{Features, NEstimators, Psmi};
    /// # let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9], 4, 2)?;
    /// let psmi = Psmi::builder().n_estimators(NEstimators::Fixed(8)).build()?;
    /// let (_, scores) = psmi.fit_transform_with(&x, &[0, 0, 1, 1], true, |_| std::ops::ControlFlow::Continue(()))?;
    /// let (mean, std, full) = scores.clone().into_parts();
    /// assert_eq!((&mean[..], &std[..]), (scores.mean(), scores.std()));
    /// assert_eq!(full.unwrap().len(), 4 * 8);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    pub fn into_parts(self) -> (Vec<f64>, Vec<f64>, Option<Vec<f32>>) {
        (self.mean, self.std, self.full)
    }

    /// Indices of the `k` samples with the lowest mean PSMI, lowest first
    /// (ties broken by index).
    ///
    /// ```
    /// # use psmi_std::{Features, NEstimators, Psmi};
    /// # let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9], 4, 2)?;
    /// # let psmi = Psmi::builder().n_estimators(NEstimators::Fixed(8)).build()?;
    /// # let (_, scores) = psmi.fit_transform(&x, &[0, 0, 1, 1])?;
    /// let lowest = scores.lowest(2);
    /// assert_eq!(lowest.len(), 2);
    /// assert!(scores.mean()[lowest[0]] <= scores.mean()[lowest[1]]);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    pub fn lowest(&self, k: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.mean.len()).collect();
        order.sort_by(|&a, &b| self.mean[a].total_cmp(&self.mean[b]).then(a.cmp(&b)));
        order.truncate(k);
        order
    }
}
