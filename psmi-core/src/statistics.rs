//! Stage 3: class statistics along each direction, in f64 and mergeable.
//!
//! For every class c and direction j the core keeps the count n_c, the mean
//! and M2 = Σ (z − mean)² of the projections (Welford 1962). Two partial
//! statistics over disjoint samples combine exactly with Chan, Golub and
//! LeVeque's formula ([`Moments::merge`]), so chunks and threads can each
//! accumulate their own and be merged in a fixed order.

use crate::error::{ensure_len, ensure_shape, Error};

/// Count, mean and M2 of a set of values: a mergeable summary.
///
/// ```
/// use psmi_core::statistics::Moments;
/// let left = Moments::of(&[1.0, 2.0]);
/// let right = Moments::of(&[3.0, 4.0, 5.0]);
/// let all = left.merge(right);
/// assert_eq!(all.count, 5);
/// assert!((all.mean - 3.0).abs() < 1e-15);
/// assert!((all.variance() - 2.0).abs() < 1e-15); // population variance
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    /// Number of values.
    pub count: u64,
    /// Their mean.
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
}

impl Moments {
    /// The moments of `values`, by two passes in f64.
    pub fn of(values: &[f64]) -> Moments {
        two_pass(values)
    }

    /// The moments of the union of two disjoint sets (Chan et al. 1979).
    #[inline]
    pub fn merge(self, other: Moments) -> Moments {
        let (mean, m2) = merge_parts(
            self.count as f64,
            self.mean,
            self.m2,
            other.count as f64,
            other.mean,
            other.m2,
        );
        Moments {
            count: self.count + other.count,
            mean,
            m2,
        }
    }

    /// Population variance (ddof = 0, as numpy's `var`); 0 for an empty set.
    pub fn variance(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.m2 / self.count as f64
        }
    }

    /// Population standard deviation (ddof = 0, as numpy's `std`).
    pub fn std(&self) -> f64 {
        libm::sqrt(self.variance())
    }
}

/// The moments of `values` by two passes in f64 (mean, then squared deviations).
#[inline]
pub(crate) fn two_pass<T: Copy + Into<f64>>(values: &[T]) -> Moments {
    if values.is_empty() {
        return Moments::default();
    }
    let mean = sum_f64(values, |v| v) / values.len() as f64;
    let m2 = sum_f64(values, |v| (v - mean) * (v - mean));
    Moments {
        count: values.len() as u64,
        mean,
        m2,
    }
}

/// Independent partial sums in [`sum_f64`]. The compiler may not reorder one
/// chain of f64 additions, so a single accumulator runs at one addition per
/// add latency; eight interleaved ones vectorise, and sum more accurately.
const PARTIAL_SUMS: usize = 8;

/// Σ f(v) over `values`, in f64.
#[inline(always)]
fn sum_f64<T: Copy + Into<f64>>(values: &[T], f: impl Fn(f64) -> f64) -> f64 {
    let mut partial = [0.0f64; PARTIAL_SUMS];
    let mut chunks = values.chunks_exact(PARTIAL_SUMS);
    for chunk in chunks.by_ref() {
        for (sum, &v) in partial.iter_mut().zip(chunk) {
            *sum += f(v.into());
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|&v| f(v.into())).sum();
    partial.iter().sum::<f64>() + tail
}

/// Chan's merge of (mean, M2) for counts `na` and `nb`; an empty side is the identity.
#[inline]
fn merge_parts(na: f64, mean_a: f64, m2_a: f64, nb: f64, mean_b: f64, m2_b: f64) -> (f64, f64) {
    if nb == 0.0 {
        return (mean_a, m2_a);
    }
    if na == 0.0 {
        return (mean_b, m2_b);
    }
    let n = na + nb;
    let delta = mean_b - mean_a;
    (
        mean_a + delta * (nb / n),
        m2_a + m2_b + delta * delta * (na * nb / n),
    )
}

/// Per-class, per-direction moments over caller-provided buffers.
///
/// `counts` has one entry per class; `mean` and `m2` are class-major
/// `classes × directions` arrays (row c holds class c along every direction).
///
/// ```
/// use psmi_core::statistics::ClassMoments;
/// // Two classes, one direction; projections of four samples.
/// let (mut counts, mut mean, mut m2) = ([0u64; 2], [0.0f64; 2], [0.0f64; 2]);
/// let mut moments = ClassMoments::new(2, 1, &mut counts, &mut mean, &mut m2).unwrap();
/// moments.accumulate(&[1.0, 10.0, 3.0, 14.0], &[0, 1, 0, 1]).unwrap();
/// assert_eq!(moments.count(1), 2);
/// assert_eq!(moments.mean(0), &[2.0]);
/// assert_eq!(moments.m2(1), &[8.0]);
/// ```
#[derive(Debug)]
pub struct ClassMoments<'a> {
    counts: &'a mut [u64],
    mean: &'a mut [f64],
    m2: &'a mut [f64],
    directions: usize,
}

impl<'a> ClassMoments<'a> {
    /// Empty moments for `classes × directions` over the given buffers
    /// (each at least as long as needed; the prefix is used and zeroed).
    ///
    /// # Errors
    ///
    /// [`Error::EmptyInput`] for zero classes or directions,
    /// [`Error::BufferTooSmall`] for a short buffer.
    pub fn new(
        classes: usize,
        directions: usize,
        counts: &'a mut [u64],
        mean: &'a mut [f64],
        m2: &'a mut [f64],
    ) -> Result<Self, Error> {
        if classes == 0 {
            return Err(Error::EmptyInput { what: "classes" });
        }
        if directions == 0 {
            return Err(Error::EmptyInput { what: "directions" });
        }
        let cells = classes * directions;
        ensure_len("counts", counts, classes)?;
        ensure_len("mean", mean, cells)?;
        ensure_len("m2", m2, cells)?;
        let mut moments = ClassMoments {
            counts: &mut counts[..classes],
            mean: &mut mean[..cells],
            m2: &mut m2[..cells],
            directions,
        };
        moments.clear();
        Ok(moments)
    }

    /// Wraps moments accumulated earlier (for example by a streaming fitter
    /// that keeps its own buffers), without clearing them.
    ///
    /// ```
    /// use psmi_core::statistics::ClassMoments;
    /// let (mut counts, mut mean, mut m2) = ([2u64], [1.5f64], [0.5f64]);
    /// let mut moments = ClassMoments::from_parts(1, &mut counts, &mut mean, &mut m2).unwrap();
    /// moments.accumulate(&[4.5], &[0]).unwrap();
    /// assert_eq!(moments.mean(0), &[2.5]);
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::EmptyInput`] for zero directions or classes,
    /// [`Error::ShapeMismatch`] unless `mean` and `m2` hold
    /// `counts.len() × directions` values.
    pub fn from_parts(
        directions: usize,
        counts: &'a mut [u64],
        mean: &'a mut [f64],
        m2: &'a mut [f64],
    ) -> Result<Self, Error> {
        if directions == 0 {
            return Err(Error::EmptyInput { what: "directions" });
        }
        if counts.is_empty() {
            return Err(Error::EmptyInput { what: "classes" });
        }
        ensure_shape("mean", mean, counts.len() * directions)?;
        ensure_shape("m2", m2, counts.len() * directions)?;
        Ok(ClassMoments {
            counts,
            mean,
            m2,
            directions,
        })
    }

    /// Forgets every sample.
    pub fn clear(&mut self) {
        self.counts.fill(0);
        self.mean.fill(0.0);
        self.m2.fill(0.0);
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.counts.len()
    }

    /// Number of directions.
    pub fn directions(&self) -> usize {
        self.directions
    }

    /// Samples seen in class `class`.
    pub fn count(&self, class: usize) -> u64 {
        self.counts[class]
    }

    /// Samples seen in all classes.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Mean of class `class` along every direction.
    pub fn mean(&self, class: usize) -> &[f64] {
        &self.mean[class * self.directions..(class + 1) * self.directions]
    }

    /// M2 of class `class` along every direction.
    pub fn m2(&self, class: usize) -> &[f64] {
        &self.m2[class * self.directions..(class + 1) * self.directions]
    }

    /// Adds samples: `projections` is row-major `labels.len() × directions`,
    /// `labels` holds class indices.
    ///
    /// # Errors
    ///
    /// [`Error::ShapeMismatch`] if the projections do not have one row per
    /// label, [`Error::LabelOutOfRange`] for a class index ≥ `classes`
    /// (then nothing is added).
    pub fn accumulate(&mut self, projections: &[f32], labels: &[u32]) -> Result<(), Error> {
        let m = self.directions;
        ensure_shape("projections", projections, labels.len() * m)?;
        check_labels(labels, self.classes())?;
        for (row, &label) in projections.chunks_exact(m).zip(labels) {
            let class = label as usize;
            self.counts[class] += 1;
            // One reciprocal per row instead of one division per element.
            let inv_count = 1.0 / self.counts[class] as f64;
            let cells = class * m..(class + 1) * m;
            let mean = &mut self.mean[cells.clone()];
            let m2 = &mut self.m2[cells];
            for ((&z, mean), m2) in row.iter().zip(mean).zip(m2) {
                let z = z as f64;
                let delta = z - *mean;
                *mean += delta * inv_count;
                *m2 += delta * (z - *mean);
            }
        }
        Ok(())
    }

    /// Adds the samples summarised by `other` (same classes and directions).
    ///
    /// # Errors
    ///
    /// [`Error::ShapeMismatch`] if the shapes differ.
    pub fn merge(&mut self, other: &ClassMoments<'_>) -> Result<(), Error> {
        ensure_shape("merged class counts", other.counts, self.classes())?;
        ensure_shape("merged class moments", other.mean, self.mean.len())?;
        let m = self.directions;
        for class in 0..self.classes() {
            let (na, nb) = (self.counts[class] as f64, other.counts[class] as f64);
            let cells = class * m..(class + 1) * m;
            for j in cells {
                let (mean, m2) =
                    merge_parts(na, self.mean[j], self.m2[j], nb, other.mean[j], other.m2[j]);
                self.mean[j] = mean;
                self.m2[j] = m2;
            }
            self.counts[class] += other.counts[class];
        }
        Ok(())
    }

    /// Class frequencies π_c = n_c / n into `frequency` (k) and population
    /// standard deviations into `std` (k × directions).
    ///
    /// # Errors
    ///
    /// [`Error::TooFewSamples`] for a class with fewer than 2 samples,
    /// [`Error::BufferTooSmall`] for a short buffer.
    pub fn finish(&self, frequency: &mut [f64], std: &mut [f64]) -> Result<(), Error> {
        ensure_len("frequency", frequency, self.classes())?;
        ensure_len("std", std, self.mean.len())?;
        if let Some((class, &count)) = self.counts.iter().enumerate().find(|(_, &c)| c < 2) {
            return Err(Error::TooFewSamples { class, count });
        }
        let total = self.total() as f64;
        for (f, &count) in frequency.iter_mut().zip(self.counts.iter()) {
            *f = count as f64 / total;
        }
        let m = self.directions;
        for (class, &count) in self.counts.iter().enumerate() {
            let cells = class * m..(class + 1) * m;
            for (s, &m2) in std[cells.clone()].iter_mut().zip(&self.m2[cells]) {
                *s = libm::sqrt(m2 / count as f64);
            }
        }
        Ok(())
    }
}

/// Checks that every label is a class index below `classes`.
pub(crate) fn check_labels(labels: &[u32], classes: usize) -> Result<(), Error> {
    match labels.iter().position(|&l| l as usize >= classes) {
        Some(row) => Err(Error::LabelOutOfRange {
            row,
            label: labels[row],
            classes,
        }),
        None => Ok(()),
    }
}
