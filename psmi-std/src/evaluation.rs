//! How well low PSMI picks out a known set of samples (memorised, relabelled):
//! the AUROC of −mean and the false-positive rate at a given true-positive
//! rate, each with a 95 % Wilson interval.
//!
//! The target marks with `true` the samples expected to score low; the score
//! that ranks them is −mean, so a higher score means "more likely marked".
//!
//! ```
//! use psmi_std::evaluation::{evaluate, target_from_values};
//! let mean = [-2.0, 0.5, -1.0, 0.8, 0.1, 0.9];
//! let target = target_from_values(&[1, 0, 1, 0, 0, 0])?;
//! let e = evaluate(&mean, &target, 0.75)?;
//! assert_eq!(e.auroc.value, 1.0); // every marked sample scores below every other
//! assert_eq!(e.fpr_at_tpr.value, 0.0);
//! assert!(e.auroc.low < 1.0 && e.auroc.high == 1.0);
//! # Ok::<(), psmi_std::evaluation::EvaluationError>(())
//! ```

use std::cmp::Ordering;

/// The normal quantile of a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// What makes an evaluation impossible.
///
/// ```
/// use psmi_std::evaluation::{target_from_values, EvaluationError};
/// let err = target_from_values(&[0, 1, 2]).unwrap_err();
/// assert!(matches!(err, EvaluationError::NotBinary { row: 2, value: 2 }));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EvaluationError {
    /// A target value other than 0 and 1.
    #[error("the target at row {row} is {value}; it must be 0 or 1 (or bool)")]
    NotBinary {
        /// Its row.
        row: usize,
        /// Its value.
        value: i64,
    },
    /// A target whose length is not the number of samples.
    #[error("the target has {target} values for {samples} samples")]
    Length {
        /// Values of the target.
        target: usize,
        /// Samples scored.
        samples: usize,
    },
    /// A target with no 1 or no 0: neither rate is defined.
    #[error(
        "the target marks {positives} of {samples} samples; it needs at least one 1 and one 0"
    )]
    OneClass {
        /// Samples marked 1.
        positives: usize,
        /// Samples in all.
        samples: usize,
    },
    /// A true-positive rate outside (0, 1].
    #[error("the true-positive rate {0} is not in (0, 1]")]
    Rate(f64),
    /// A score that is NaN.
    #[error("the mean PSMI of sample {row} is NaN")]
    NotANumber {
        /// Its row.
        row: usize,
    },
}

/// A proportion and its 95 % interval.
///
/// ```
/// use psmi_std::evaluation::Proportion;
/// let p = Proportion::wilson(0.25, 40.0);
/// assert!(p.low < 0.25 && 0.25 < p.high);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Proportion {
    /// The estimate.
    pub value: f64,
    /// The interval's lower end.
    pub low: f64,
    /// The interval's upper end.
    pub high: f64,
}

impl Proportion {
    /// `value` with the Wilson score interval (95 %) of a proportion observed
    /// over `n` independent trials: it stays within [0, 1] and is not empty at
    /// 0 or 1, unlike the normal approximation.
    ///
    /// ```
    /// use psmi_std::evaluation::Proportion;
    /// // 0 successes of 10: [0, 0.2775] (Wilson 1927; z = 1.96).
    /// let p = Proportion::wilson(0.0, 10.0);
    /// assert_eq!(p.low, 0.0);
    /// assert!((p.high - 0.277_532).abs() < 1e-6);
    /// ```
    pub fn wilson(value: f64, n: f64) -> Proportion {
        let z2 = Z95 * Z95;
        let denominator = 1.0 + z2 / n;
        let centre = (value + z2 / (2.0 * n)) / denominator;
        let half = Z95 / denominator * (value * (1.0 - value) / n + z2 / (4.0 * n * n)).sqrt();
        // The interval holds `value` exactly; the clamps only undo rounding
        // (at 0 and 1 the ends are 0 and 1).
        Proportion {
            value,
            low: (centre - half).clamp(0.0, value),
            high: (centre + half).clamp(value, 1.0),
        }
    }
}

/// The evaluation of one run's scores against the target.
///
/// ```
/// use psmi_std::evaluation::evaluate;
/// let e = evaluate(&[0.0, 1.0, 2.0, 3.0], &[false, true, false, true], 0.5)?;
/// assert_eq!((e.positives, e.negatives), (2, 2));
/// assert_eq!(e.auroc.value, 0.25);
/// # Ok::<(), psmi_std::evaluation::EvaluationError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// The area under the ROC curve of −mean: the probability that a marked
    /// sample scores lower than an unmarked one, ties counting half.
    pub auroc: Proportion,
    /// The false-positive rate at the first threshold (from the lowest
    /// scores up, tied scores taken together) whose true-positive rate
    /// reaches `tpr`.
    pub fpr_at_tpr: Proportion,
    /// The true-positive rate asked for.
    pub tpr: f64,
    /// Samples marked 1.
    pub positives: usize,
    /// Samples marked 0.
    pub negatives: usize,
}

/// The target as booleans, from integer values that must be 0 or 1.
///
/// # Errors
///
/// [`EvaluationError::NotBinary`] naming the first other value and its row.
///
/// ```
/// use psmi_std::evaluation::target_from_values;
/// assert_eq!(target_from_values(&[0, 1, 1])?, [false, true, true]);
/// # Ok::<(), psmi_std::evaluation::EvaluationError>(())
/// ```
pub fn target_from_values(values: &[i64]) -> Result<Vec<bool>, EvaluationError> {
    values
        .iter()
        .enumerate()
        .map(|(row, &value)| match value {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(EvaluationError::NotBinary { row, value }),
        })
        .collect()
}

/// Checks a true-positive rate, so that a caller can refuse it before any work.
///
/// # Errors
///
/// [`EvaluationError::Rate`] for a rate outside (0, 1] (or NaN).
///
/// ```
/// use psmi_std::evaluation::check_tpr;
/// assert!(check_tpr(0.75).is_ok() && check_tpr(1.0).is_ok());
/// assert!(check_tpr(0.0).is_err() && check_tpr(f64::NAN).is_err());
/// ```
pub fn check_tpr(tpr: f64) -> Result<(), EvaluationError> {
    if tpr > 0.0 && tpr <= 1.0 {
        Ok(())
    } else {
        Err(EvaluationError::Rate(tpr))
    }
}

/// AUROC and FPR at `tpr` of −`mean` against `target`, with 95 % intervals.
///
/// The FPR is a proportion of the negatives: its interval is Wilson's over
/// their number. The AUROC is a proportion of (marked, unmarked) pairs, which
/// are not independent: its Wilson interval uses the effective number of
/// trials whose binomial variance equals the Hanley–McNeil (1982) variance of
/// the AUROC (at most the number of pairs).
///
/// # Errors
///
/// A target of the wrong length or of one class only, a `tpr` outside
/// (0, 1], or a NaN mean.
///
/// ```
/// use psmi_std::evaluation::evaluate;
/// // Ties between a marked and an unmarked sample count half.
/// let e = evaluate(&[1.0, 1.0, 2.0], &[true, false, false], 1.0)?;
/// assert_eq!(e.auroc.value, 0.75);
/// assert_eq!(e.fpr_at_tpr.value, 0.5);
/// # Ok::<(), psmi_std::evaluation::EvaluationError>(())
/// ```
pub fn evaluate(mean: &[f64], target: &[bool], tpr: f64) -> Result<Evaluation, EvaluationError> {
    if target.len() != mean.len() {
        return Err(EvaluationError::Length {
            target: target.len(),
            samples: mean.len(),
        });
    }
    check_tpr(tpr)?;
    if let Some(row) = mean.iter().position(|m| m.is_nan()) {
        return Err(EvaluationError::NotANumber { row });
    }
    let positives = target.iter().filter(|&&t| t).count();
    let negatives = target.len() - positives;
    if positives == 0 || negatives == 0 {
        return Err(EvaluationError::OneClass {
            positives,
            samples: target.len(),
        });
    }
    // From the lowest mean (the most suspect) up.
    let mut order: Vec<usize> = (0..mean.len()).collect();
    order.sort_by(|&a, &b| mean[a].partial_cmp(&mean[b]).unwrap_or(Ordering::Equal));
    let (p, q) = (positives as f64, negatives as f64);
    // Walk groups of tied means: each negative in a group is outranked by the
    // positives of the groups before it and ties with those of its own.
    let mut pairs_won = 0.0;
    let (mut true_pos, mut false_pos) = (0usize, 0usize);
    let mut fpr = None;
    let mut start = 0;
    while start < order.len() {
        let end = start
            + order[start..]
                .iter()
                .take_while(|&&i| mean[i] == mean[order[start]])
                .count();
        let group_pos = order[start..end].iter().filter(|&&i| target[i]).count();
        let group_neg = (end - start) - group_pos;
        pairs_won += group_neg as f64 * (true_pos as f64 + 0.5 * group_pos as f64);
        true_pos += group_pos;
        false_pos += group_neg;
        if fpr.is_none() && true_pos as f64 >= tpr * p {
            fpr = Some(false_pos as f64 / q);
        }
        start = end;
    }
    let auroc = pairs_won / (p * q);
    Ok(Evaluation {
        auroc: Proportion::wilson(auroc, auroc_trials(auroc, p, q)),
        fpr_at_tpr: Proportion::wilson(fpr.unwrap_or(1.0), q),
        tpr,
        positives,
        negatives,
    })
}

/// The number of independent trials whose binomial variance, a(1 − a)/n,
/// equals the Hanley–McNeil variance of an AUROC `a` from `p` positives and
/// `q` negatives; at most p·q, which it reaches when that variance is 0
/// (a = 0 or 1).
fn auroc_trials(a: f64, p: f64, q: f64) -> f64 {
    let q1 = a / (2.0 - a);
    let q2 = 2.0 * a * a / (1.0 + a);
    let variance = (a * (1.0 - a) + (p - 1.0) * (q1 - a * a) + (q - 1.0) * (q2 - a * a)) / (p * q);
    if variance > 0.0 {
        (a * (1.0 - a) / variance).clamp(1.0, p * q)
    } else {
        p * q
    }
}
