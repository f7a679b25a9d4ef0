//! Per-sample results of `transform` and `fit_transform`.

use psmi_core::statistics::Moments;

/// The standard error of a sample's mean PSMI over `directions` directions
/// whose population standard deviation is `std`: std / √m, as for
/// i.i.d. directions. The one place the scores and auto mode's target error
/// take it from.
pub(crate) fn standard_error(std: f64, directions: usize) -> f64 {
    std / (directions as f64).sqrt()
}

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
}

impl PsmiScores {
    pub(crate) fn from_summaries(summaries: &[Moments], full: Option<Vec<f32>>) -> Self {
        PsmiScores {
            mean: summaries.iter().map(|s| s.mean).collect(),
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

    /// Standard error of each sample's mean: std / √m.
    pub fn stderr(&self) -> Vec<f64> {
        self.std
            .iter()
            .map(|&s| standard_error(s, self.n_estimators))
            .collect()
    }

    /// Sliced mutual information of the data set: the mean PSMI over samples
    /// (summed in sample order, so it does not depend on threads).
    pub fn smi(&self) -> f64 {
        self.mean.iter().sum::<f64>() / self.mean.len() as f64
    }

    /// Standard error of the SMI as an estimate over the population the
    /// samples were drawn from: the sample standard deviation (ddof 1) of the
    /// per-sample means over √n. It treats the samples as independent draws
    /// and the directions as fixed; NaN for a single sample.
    ///
    /// ```
    /// # use psmi_std::{Features, NEstimators, Psmi};
    /// let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 0.2, 5.0, 5.2, 5.1, 4.9], 9, 1)?;
    /// let psmi = Psmi::builder().n_estimators(NEstimators::Fixed(8)).build()?;
    /// let (_, scores) = psmi.fit_transform(&x, &[0, 0, 0, 0, 0, 1, 1, 1, 1])?;
    /// let (n, smi) = (9.0, scores.smi());
    /// let spread: f64 = scores.mean().iter().map(|m| (m - smi).powi(2)).sum();
    /// assert!((scores.smi_stderr() - (spread / (n - 1.0)).sqrt() / n.sqrt()).abs() < 1e-12);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    pub fn smi_stderr(&self) -> f64 {
        let n = self.mean.len() as f64;
        let smi = self.smi();
        let squares: f64 = self.mean.iter().map(|m| (m - smi) * (m - smi)).sum();
        (squares / (n - 1.0)).sqrt() / n.sqrt()
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
