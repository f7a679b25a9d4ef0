//! Auto mode's stopping rule, as in the Python package `psmi` 0.2.0, bounded.

use crate::options::Psmi;

/// How auto mode ended.
///
/// ```
/// use psmi_std::{Features, Psmi};
/// let data: Vec<f32> = (0..40).map(|i| (i % 7) as f32 + if i >= 20 { 9.0 } else { 0.0 }).collect();
/// let x = Features::new(&data, 20, 2)?;
/// let labels: Vec<i64> = (0..20).map(|i| (i >= 10) as i64).collect();
/// let psmi = Psmi::builder().min_n_estimators(50).max_n_estimators(1000).build()?;
/// let model = psmi.fit(&x, &labels)?;
/// let report = model.auto_report().expect("auto mode");
/// assert_eq!(model.n_estimators(), report.blocks * 50);
/// # Ok::<(), psmi_std::PsmiError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AutoReport {
    /// Blocks of `min_n_estimators` directions drawn.
    pub blocks: usize,
    /// The last mean relative variation of the lowest samples, or `None` if
    /// no comparison was possible (a single block).
    pub variation: Option<f64>,
    /// Whether the variation fell to `max_variation_of_the_lowest` before
    /// `max_n_estimators` was reached.
    pub converged: bool,
}

/// Each sample's mean PSMI in every block so far, kept as running sums over
/// the blocks (`sums[b][i]` = the sum of sample i's means in blocks 0..=b),
/// so that a check costs O(n) however many blocks there are.
#[derive(Debug, Default)]
pub(crate) struct BlockMeans {
    sums: Vec<Vec<f64>>,
}

impl BlockMeans {
    /// Adds one block's per-sample means.
    pub fn push(&mut self, means: impl Iterator<Item = f64>) {
        let sums = match self.sums.last() {
            Some(previous) => previous.iter().zip(means).map(|(s, m)| s + m).collect(),
            None => means.collect(),
        };
        self.sums.push(sums);
    }

    /// Blocks so far.
    pub fn len(&self) -> usize {
        self.sums.len()
    }

    /// The stopping statistic, or `None` while floor(milestone · B) = 0 for
    /// B blocks: full_i = mean of sample i's block means, half_i = the same
    /// over the first floor(milestone · B) blocks; over the max(1, floor(q · n))
    /// samples with the lowest full_i, the mean of |half_i − full_i| / |full_i|.
    pub fn variation_of_the_lowest(&self, quantile: f64, milestone: f64) -> Option<f64> {
        let blocks = self.sums.len();
        let half_blocks = milestone_blocks(milestone, blocks);
        if half_blocks == 0 {
            return None;
        }
        let mean_over = |count: usize, i: usize| self.sums[count - 1][i] / count as f64;
        let n = self.sums[0].len();
        let full: Vec<f64> = (0..n).map(|i| mean_over(blocks, i)).collect();
        let half: Vec<f64> = (0..n).map(|i| mean_over(half_blocks, i)).collect();
        Some(variation_of_candidates(
            &full,
            &half,
            watched_samples(quantile, n),
        ))
    }
}

/// floor(milestone · B): the blocks the running mean is compared against.
fn milestone_blocks(milestone: f64, blocks: usize) -> usize {
    (milestone * blocks as f64) as usize
}

/// max(1, floor(q · n)) samples watched out of n (at most n).
fn watched_samples(quantile: f64, n: usize) -> usize {
    // The Python package watches floor(q · n) samples and loops forever at 0.
    ((quantile * n as f64) as usize).clamp(1, n.max(1))
}

/// Over the `watched` candidates with the lowest `full` (ties to the earlier
/// candidate), the mean of |half − full| / |full|. Candidates are any subset
/// holding the watched samples, in sample order.
fn variation_of_candidates(full: &[f64], half: &[f64], watched: usize) -> f64 {
    let watched = watched.min(full.len());
    let mut order: Vec<usize> = (0..full.len()).collect();
    order.sort_by(|&a, &b| full[a].total_cmp(&full[b]).then(a.cmp(&b)));
    let total: f64 = order[..watched]
        .iter()
        .map(|&i| ((half[i] - full[i]) / full[i]).abs())
        .sum();
    total / watched as f64
}

impl Psmi {
    /// Auto mode's stopping rule, for a driver that keeps the block means
    /// itself (a distributed run): after `blocks` blocks, the number of first
    /// blocks whose running mean (`half`) is compared with the mean over all
    /// of them (`full`); 0 means no check yet.
    ///
    /// ```
    /// let psmi = psmi_std::Psmi::builder().milestone(0.5).build()?;
    /// assert_eq!((psmi.milestone_blocks(1), psmi.milestone_blocks(5)), (0, 2));
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    pub fn milestone_blocks(&self, blocks: usize) -> usize {
        milestone_blocks(self.milestone, blocks)
    }

    /// The number of samples, out of `n`, whose PSMI auto mode watches: those
    /// with the lowest running mean.
    ///
    /// ```
    /// let psmi = psmi_std::Psmi::builder().lowest_psmi_quantile(0.05).build()?;
    /// assert_eq!((psmi.watched_samples(1000), psmi.watched_samples(3)), (50, 1));
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    pub fn watched_samples(&self, n: usize) -> usize {
        watched_samples(self.lowest_psmi_quantile, n)
    }

    /// The variation auto mode compares with `max_variation_of_the_lowest`:
    /// over the `watched` samples with the lowest `full` mean, the mean of
    /// |half − full| / |full|. `full` and `half` may hold only candidates
    /// (any subset, in sample order, that contains the watched samples, such
    /// as each partition's own lowest `watched`): the result is the same as
    /// over all samples. Ties go to the earlier sample.
    ///
    /// ```
    /// let psmi = psmi_std::Psmi::builder().build()?;
    /// // The lowest full mean is -3 (half -1): |(-1 + 3) / -3| = 2/3.
    /// let v = psmi.variation_of_the_lowest(&[2.0, -3.0, 4.0], &[1.0, -1.0, 4.0], 1);
    /// assert!((v - 2.0 / 3.0).abs() < 1e-15);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    pub fn variation_of_the_lowest(&self, full: &[f64], half: &[f64], watched: usize) -> f64 {
        variation_of_candidates(full, half, watched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variation_of_the_lowest(blocks: &[Vec<f64>], quantile: f64, milestone: f64) -> Option<f64> {
        let mut means = BlockMeans::default();
        for block in blocks {
            means.push(block.iter().copied());
        }
        means.variation_of_the_lowest(quantile, milestone)
    }

    #[test]
    fn no_check_until_the_milestone_has_a_block() {
        assert_eq!(variation_of_the_lowest(&[vec![1.0, 2.0]], 0.5, 0.5), None);
        assert!(variation_of_the_lowest(&[vec![1.0], vec![1.0]], 0.5, 0.5).is_some());
    }

    #[test]
    fn matches_a_hand_computation() {
        // Three samples, four blocks; milestone 0.5 → first 2 blocks.
        let blocks = vec![
            vec![1.0, -1.0, 4.0],
            vec![3.0, -3.0, 4.0],
            vec![2.0, -2.0, 4.0],
            vec![2.0, -2.0, 4.0],
        ];
        // full = [2, -2, 4]; half = [2, -2, 4] → variation 0 for any watched set.
        assert_eq!(variation_of_the_lowest(&blocks, 0.4, 0.5), Some(0.0));
        let blocks = vec![vec![1.0, -1.0, 4.0], vec![3.0, -5.0, 4.0]];
        // full = [2, -3, 4], half (1 block) = [1, -1, 4]; q·n = 0.9 → 1 watched
        // sample, the lowest (index 1): |(-1 - -3) / -3| = 2/3.
        let v = variation_of_the_lowest(&blocks, 0.3, 0.5).unwrap();
        assert!((v - 2.0 / 3.0).abs() < 1e-15);
        // q·n = 2 → samples 1 and 0: (2/3 + 1/2) / 2.
        let v = variation_of_the_lowest(&blocks, 0.7, 0.5).unwrap();
        assert!((v - (2.0 / 3.0 + 0.5) / 2.0).abs() < 1e-15);
    }
}
