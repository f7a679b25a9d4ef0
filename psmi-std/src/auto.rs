//! How many directions to draw: auto mode's stopping rule as a state
//! machine that a driver (one machine's run, or a distributed one) steps
//! block by block. It asks for the next block of directions, then for what
//! it needs to know about the samples, and stops with its report.

use crate::error::{PsmiError, Result};
use crate::options::{NEstimators, Psmi};
use std::ops::Range;

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
    /// The rule's last statistic, or `None` if it was never computed (a
    /// single block under the package's rule): the mean relative variation
    /// of the lowest samples, or with a target error
    /// ([`PsmiBuilder::target_error`](crate::PsmiBuilder::target_error)) the
    /// largest standard error among them.
    pub variation: Option<f64>,
    /// Whether the statistic fell to its target (`max_variation_of_the_lowest`
    /// or the target error) before `max_n_estimators` was reached.
    pub converged: bool,
}

/// What a driver gathers about the samples after a block, for
/// [`AutoRule::observe`]: the candidates, any subset of the samples that
/// holds the `watched` ones with the lowest running mean (the whole data
/// set, or each partition's own lowest `watched`), in sample order.
///
/// ```
/// use psmi_std::Check;
/// let check = Check::Variation { blocks: 4, half_blocks: 2, watched: 50 };
/// assert_eq!(check.watched(), 50);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// The package's rule: each candidate's mean of its per-block means over
    /// all `blocks` blocks so far (the running mean, by which the watched
    /// samples are chosen) and over the first `half_blocks` blocks.
    Variation {
        /// Blocks so far.
        blocks: usize,
        /// The first blocks the running mean is compared with.
        half_blocks: usize,
        /// Samples watched: those with the lowest running mean.
        watched: usize,
    },
    /// A target error: each candidate's mean over all directions so far
    /// (by which the watched samples are chosen) and its standard error
    /// ([`PsmiScores::stderr`](crate::PsmiScores::stderr)'s, right for the
    /// scheme of directions).
    StandardError {
        /// Samples watched: those with the lowest mean.
        watched: usize,
    },
}

impl Check {
    /// Samples watched: those with the lowest running mean.
    pub fn watched(&self) -> usize {
        match *self {
            Check::Variation { watched, .. } | Check::StandardError { watched } => watched,
        }
    }
}

/// What an [`AutoRule`] waits for.
///
/// ```
/// use psmi_std::{AutoRule, NEstimators, Psmi, Step};
/// let psmi = Psmi::builder().n_estimators(NEstimators::Fixed(30)).build()?;
/// let mut rule = AutoRule::new(&psmi, 100);
/// assert_eq!(rule.step(), Step::Block(0..30));
/// rule.block_scored()?;
/// assert_eq!(rule.step(), Step::Stop(None)); // fixed mode: one block, no report
/// # Ok::<(), psmi_std::PsmiError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Fit and score directions `range`, then call [`AutoRule::block_scored`].
    Block(Range<usize>),
    /// Gather the candidates the check names, then call [`AutoRule::observe`].
    Gather(Check),
    /// Done: auto mode's report (`None` in fixed mode).
    Stop(Option<AutoReport>),
}

/// What stops the run.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    /// Fixed mode: one block.
    Fixed,
    /// The package's rule: the variation of the lowest at most `max`.
    Variation { max: f64, milestone: f64 },
    /// Every watched sample's standard error at most this.
    StandardError(f64),
}

/// The number of directions, decided block by block: fixed mode's single
/// block, the Python package's rule (bounded by `max_n_estimators`), or a
/// target standard error of the watched samples.
///
/// A driver loops over [`AutoRule::step`]: it scores each
/// [`Step::Block`] of directions and calls [`AutoRule::block_scored`]; on
/// [`Step::Gather`] it hands [`AutoRule::observe`] the candidates' numbers;
/// [`Step::Stop`] ends the run with the report. The rule sees only what a
/// distributed run can gather: per sample, two numbers, for candidates only.
/// For a target error the second is the candidate's standard error. With
/// i.i.d. directions a partition computes it alone (std/√m); with
/// orthonormal frames it is std · √(D/m), and the design effect D is pooled
/// over all samples ([`ErrorBars`](crate::error_bars::ErrorBars)): each
/// partition keeps its samples' frame means where they are (two f64 and
/// two counts a sample) and sends two sums per block, not one number per
/// sample.
///
/// ```
/// use psmi_std::{AutoRule, Check, Psmi, Step};
/// let psmi = Psmi::builder().min_n_estimators(10).max_n_estimators(40).build()?;
/// let mut rule = AutoRule::new(&psmi, 3);
/// assert_eq!(rule.step(), Step::Block(0..10));
/// rule.block_scored()?; // one block: nothing to compare with yet
/// assert_eq!(rule.step(), Step::Block(10..20));
/// rule.block_scored()?;
/// assert_eq!(rule.step(), Step::Gather(Check::Variation { blocks: 2, half_blocks: 1, watched: 1 }));
/// // Sample 1 has the lowest running mean, -2, against -1.95 over the first block.
/// rule.observe(&[1.0, -2.0, 3.0], &[1.0, -1.95, 3.0])?;
/// let Step::Stop(Some(report)) = rule.step() else { panic!() };
/// assert!(report.converged && (report.variation.unwrap() - 0.025).abs() < 1e-12);
/// # Ok::<(), psmi_std::PsmiError>(())
/// ```
#[derive(Clone, Debug)]
pub struct AutoRule {
    target: Target,
    block_size: usize,
    /// Whole blocks only.
    max_directions: usize,
    watched: usize,
    blocks: usize,
    statistic: Option<f64>,
    converged: bool,
    /// A check asked for and not yet observed.
    pending: Option<Check>,
}

impl AutoRule {
    /// The rule of `psmi` over `n` samples.
    pub fn new(psmi: &Psmi, n: usize) -> AutoRule {
        let (target, block_size, max_directions) = match psmi.n_estimators {
            NEstimators::Fixed(m) => (Target::Fixed, m, m),
            NEstimators::Auto => {
                let size = psmi.min_n_estimators;
                let target = match psmi.target_error {
                    Some(error) => Target::StandardError(error),
                    None => Target::Variation {
                        max: psmi.max_variation_of_the_lowest,
                        milestone: psmi.milestone,
                    },
                };
                (target, size, psmi.max_n_estimators / size * size)
            }
        };
        AutoRule {
            target,
            block_size,
            max_directions,
            // The Python package watches floor(q · n) samples and loops forever at 0.
            watched: ((psmi.lowest_psmi_quantile * n as f64) as usize).clamp(1, n.max(1)),
            blocks: 0,
            statistic: None,
            converged: false,
            pending: None,
        }
    }

    /// What the driver does next.
    pub fn step(&self) -> Step {
        if let Some(check) = self.pending {
            return Step::Gather(check);
        }
        let first = self.blocks * self.block_size;
        if self.converged || first >= self.max_directions {
            let report = (self.target != Target::Fixed).then_some(AutoReport {
                blocks: self.blocks,
                variation: self.statistic,
                converged: self.converged,
            });
            return Step::Stop(report);
        }
        Step::Block(first..(first + self.block_size).min(self.max_directions))
    }

    /// The block [`Step::Block`] asked for has been scored.
    ///
    /// # Errors
    ///
    /// [`PsmiError::Incompatible`] unless the rule was waiting for a block.
    pub fn block_scored(&mut self) -> Result<()> {
        if !matches!(self.step(), Step::Block(_)) {
            return Err(out_of_step("a block", self.step()));
        }
        self.blocks += 1;
        self.pending = match self.target {
            Target::Fixed => None,
            Target::Variation { milestone, .. } => {
                // floor(milestone · B) blocks; no check while that is 0.
                let half_blocks = (milestone * self.blocks as f64) as usize;
                (half_blocks > 0).then_some(Check::Variation {
                    blocks: self.blocks,
                    half_blocks,
                    watched: self.watched,
                })
            }
            Target::StandardError(_) => Some(Check::StandardError {
                watched: self.watched,
            }),
        };
        Ok(())
    }

    /// The candidates of the pending [`Check`], in sample order: their
    /// running means `full`, and `other`, the means over the first blocks
    /// ([`Check::Variation`]) or the standard errors over all directions so
    /// far ([`Check::StandardError`]). Ties between equal
    /// running means go to the earlier candidate.
    ///
    /// # Errors
    ///
    /// [`PsmiError::Incompatible`] unless a check is pending and there are as
    /// many of both as at least the watched samples.
    pub fn observe(&mut self, full: &[f64], other: &[f64]) -> Result<()> {
        let Some(check) = self.pending else {
            return Err(out_of_step("candidates", self.step()));
        };
        if full.len() != other.len() || full.len() < check.watched() {
            return Err(PsmiError::Incompatible(format!(
                "auto mode's rule watches {} samples and was given {} running means and {} others",
                check.watched(),
                full.len(),
                other.len()
            )));
        }
        let watched = lowest(full, check.watched());
        let (statistic, target) = match self.target {
            Target::Variation { max, .. } => {
                let total: f64 = watched
                    .iter()
                    .map(|&i| ((other[i] - full[i]) / full[i]).abs())
                    .sum();
                (total / watched.len() as f64, max)
            }
            Target::StandardError(target) => {
                let largest = watched
                    .iter()
                    .map(|&i| other[i])
                    .fold(f64::NEG_INFINITY, f64::max);
                (largest, target)
            }
            Target::Fixed => unreachable!("fixed mode asks for no check"),
        };
        self.statistic = Some(statistic);
        self.converged = statistic <= target;
        self.pending = None;
        Ok(())
    }

    /// Directions the run never goes past.
    pub(crate) fn bound(&self) -> usize {
        self.max_directions
    }

    /// Directions scored so far.
    pub fn directions(&self) -> usize {
        (self.blocks * self.block_size).min(self.max_directions)
    }

    /// Blocks scored so far.
    pub fn blocks(&self) -> usize {
        self.blocks
    }

    /// The value the rule's statistic must fall to (`None` in fixed mode).
    pub fn target(&self) -> Option<f64> {
        match self.target {
            Target::Fixed => None,
            Target::Variation { max, .. } => Some(max),
            Target::StandardError(error) => Some(error),
        }
    }

    /// The last value of the rule's statistic, if computed yet.
    pub fn statistic(&self) -> Option<f64> {
        self.statistic
    }
}

/// Indices of the `count` lowest values (ties to the earlier index).
pub(crate) fn lowest(values: &[f64], count: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]).then(a.cmp(&b)));
    order.truncate(count);
    order
}

fn out_of_step(given: &str, step: Step) -> PsmiError {
    PsmiError::Incompatible(format!(
        "auto mode's rule was given {given} while its next step is {step:?}"
    ))
}

/// Each sample's running sum of its per-block means, one vector per block
/// (`sums[b][i]` = the sum of sample i's means in blocks 0..=b), so that the
/// mean over the first B blocks costs O(n) however many blocks there are.
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

    /// Each sample's mean of its means over the first `blocks` blocks.
    pub fn mean_over(&self, blocks: usize) -> Vec<f64> {
        self.sums[blocks - 1]
            .iter()
            .map(|s| s / blocks as f64)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The package's rule over the per-block means `blocks` of every sample.
    fn variation_of_the_lowest(blocks: &[Vec<f64>], quantile: f64, milestone: f64) -> Option<f64> {
        let n = blocks[0].len();
        let psmi = Psmi::builder()
            .min_n_estimators(1)
            .lowest_psmi_quantile(quantile)
            .milestone(milestone)
            .build()
            .unwrap();
        let mut rule = AutoRule::new(&psmi, n);
        let mut means = BlockMeans::default();
        for block in blocks {
            assert!(matches!(rule.step(), Step::Block(_)));
            means.push(block.iter().copied());
            rule.block_scored().unwrap();
            if let Step::Gather(Check::Variation {
                blocks,
                half_blocks,
                ..
            }) = rule.step()
            {
                rule.observe(&means.mean_over(blocks), &means.mean_over(half_blocks))
                    .unwrap();
            }
        }
        rule.statistic()
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

    #[test]
    fn steps_out_of_order_are_refused() {
        let psmi = Psmi::builder().min_n_estimators(5).build().unwrap();
        let mut rule = AutoRule::new(&psmi, 10);
        assert!(rule.observe(&[0.0], &[0.0]).is_err());
        rule.block_scored().unwrap();
        rule.block_scored().unwrap();
        // A check is pending: a block is not what it waits for.
        assert!(rule.block_scored().is_err());
        assert!(matches!(
            rule.observe(&[1.0; 3], &[1.0; 2]),
            Err(PsmiError::Incompatible(_))
        ));
    }
}
