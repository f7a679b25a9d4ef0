//! Stage 4: pointwise scores, in log space, and per-sample summaries.
//!
//! With t_c = ln π_c − ln σ_c − ½((z − μ_c)/σ_c)² (the Gaussian log-density
//! of class c weighted by its frequency, up to the common −½ ln 2π),
//!
//! psmi = t_y − ln Σ_c exp(t_c), computed as t_y − t_max − ln Σ_c exp(t_c − t_max):
//! a stable log-sum-exp: the largest term contributes exactly 1 to the sum, so
//! the logarithm is finite for a point however far it lies from every class.
//!
//! The kernels put directions across SIMD lanes (8 for the portable and AVX2
//! sets, 16 for AVX-512) and evaluate exp and ln with polynomials accurate
//! to 2 ulp; a row's last, partial vector uses masked loads and stores, so
//! every direction goes through the same arithmetic. The AVX2 and AVX-512
//! kernels give bit-identical scores.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod kernel;
mod lanes;
mod math;
mod portable;

use crate::dispatch::{Isa, Kernels};
use crate::error::{ensure_len, ensure_shape, Error};
use crate::statistics::{check_labels, two_pass, Moments};

/// Parameters of every class along every direction, in the form the kernels
/// read: for class c, three rows of length `directions` holding μ_c, √½/σ_c
/// and ln π_c − ln σ_c (f32), then the k values ln π_c. (With the √½ folded
/// in, the kernels get ½((z − μ)/σ)² as one square.)
///
/// ```
/// use psmi_core::scoring::{ScoringTable, table_len};
/// // Two classes, one direction.
/// let mut buffer = [0.0f32; 8];
/// assert_eq!(table_len(2, 1), 8);
/// let table = ScoringTable::new(2, 1, &[0.5, 0.5], &[0.0, 3.0], &[1.0, 2.0], &mut buffer).unwrap();
/// assert_eq!(table.classes(), 2);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ScoringTable<'a> {
    data: &'a [f32],
    classes: usize,
    directions: usize,
}

/// Length of the buffer a [`ScoringTable`] of this shape needs.
pub const fn table_len(classes: usize, directions: usize) -> usize {
    3 * classes * directions + classes
}

impl<'a> ScoringTable<'a> {
    /// Builds the table from class frequencies (k), means and population
    /// standard deviations (both class-major, k × directions).
    ///
    /// # Errors
    ///
    /// [`Error::EmptyInput`] for no classes or directions,
    /// [`Error::ShapeMismatch`] for inputs of the wrong length,
    /// [`Error::BufferTooSmall`] for a short `out`,
    /// [`Error::ZeroVariance`] where a standard deviation is zero or too small
    /// to invert in f32, [`Error::TooFewSamples`] for a class of frequency 0.
    pub fn new(
        classes: usize,
        directions: usize,
        frequency: &[f64],
        mean: &[f64],
        std: &[f64],
        out: &'a mut [f32],
    ) -> Result<Self, Error> {
        if classes == 0 {
            return Err(Error::EmptyInput { what: "classes" });
        }
        if directions == 0 {
            return Err(Error::EmptyInput { what: "directions" });
        }
        ensure_shape("frequency", frequency, classes)?;
        ensure_shape("mean", mean, classes * directions)?;
        ensure_shape("std", std, classes * directions)?;
        ensure_len("scoring table", out, table_len(classes, directions))?;
        let m = directions;
        for class in 0..classes {
            let weight = frequency[class];
            if weight.is_nan() || weight <= 0.0 {
                return Err(Error::TooFewSamples { class, count: 0 });
            }
            let log_weight = libm::log(weight);
            out[3 * classes * m + class] = log_weight as f32;
            let rows = &mut out[3 * class * m..3 * (class + 1) * m];
            let (mu_row, rest) = rows.split_at_mut(m);
            let (scale_row, offset_row) = rest.split_at_mut(m);
            for j in 0..m {
                let sigma = std[class * m + j];
                let scale = (core::f64::consts::FRAC_1_SQRT_2 / sigma) as f32;
                if sigma.is_nan() || sigma <= 0.0 || !scale.is_finite() {
                    return Err(Error::ZeroVariance {
                        class,
                        direction: j,
                    });
                }
                mu_row[j] = mean[class * m + j] as f32;
                scale_row[j] = scale;
                offset_row[j] = (log_weight - libm::log(sigma)) as f32;
            }
        }
        Ok(ScoringTable {
            data: &out[..table_len(classes, directions)],
            classes,
            directions,
        })
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Number of directions.
    pub fn directions(&self) -> usize {
        self.directions
    }

    /// ln π_c of class `class`.
    #[inline]
    pub(crate) fn log_weight(&self, class: usize) -> f32 {
        self.data[3 * self.classes * self.directions + class]
    }
}

/// Replaces projections by their PSMI: `values` is row-major
/// `labels.len() × table.directions()`, holding z on entry and psmi on return.
///
/// ```
/// use psmi_core::{Kernels, scoring::{ScoringTable, score_in_place}};
/// let mut buffer = [0.0f32; 8];
/// let table = ScoringTable::new(2, 1, &[0.5, 0.5], &[0.0, 10.0], &[1.0, 1.0], &mut buffer).unwrap();
/// // A point at the mean of class 0, far from class 1: PSMI ≈ ln 2 for label 0.
/// let mut values = [0.0f32];
/// score_in_place(Kernels::portable(), &table, &[0], &mut values).unwrap();
/// assert!((values[0] - 2f32.ln()).abs() < 1e-6);
/// ```
///
/// # Errors
///
/// [`Error::ShapeMismatch`] if `values` is not one row per label,
/// [`Error::LabelOutOfRange`] for a class index ≥ `table.classes()`.
pub fn score_in_place(
    kernels: Kernels,
    table: &ScoringTable<'_>,
    labels: &[u32],
    values: &mut [f32],
) -> Result<(), Error> {
    ensure_shape("projections", values, labels.len() * table.directions())?;
    check_labels(labels, table.classes())?;
    match kernels.isa() {
        Isa::Portable => portable::score_rows(table, labels, values),
        // SAFETY: `kernels` proves the CPU supports the instruction set.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { avx2::score_rows(table, labels, values) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { avx512::score_rows(table, labels, values) },
        // Only `new_unchecked` makes such kernels elsewhere; compute the same scores.
        #[cfg(not(target_arch = "x86_64"))]
        Isa::Avx2Fma | Isa::Avx512 => portable::score_rows(table, labels, values),
    }
    Ok(())
}

/// Scores `span` in place: projections, on entry, of one sample of class
/// `class` along directions `first .. first + span.len()`; their PSMI on
/// return, by the same kernel as [`score_in_place`], so a direction's score
/// does not depend on how the directions are split.
///
/// # Errors
///
/// [`Error::LabelOutOfRange`] (row 0) for a class ≥ `table.classes()`,
/// [`Error::ShapeMismatch`] if the span runs past the last direction.
pub(crate) fn score_span(
    kernels: Kernels,
    table: &ScoringTable<'_>,
    class: u32,
    first: usize,
    span: &mut [f32],
) -> Result<(), Error> {
    check_labels(&[class], table.classes())?;
    if first + span.len() > table.directions() {
        return Err(Error::ShapeMismatch {
            what: "directions scored",
            expected: table.directions(),
            found: first + span.len(),
        });
    }
    let class = class as usize;
    match kernels.isa() {
        // SAFETY: the class and directions were checked above.
        Isa::Portable => unsafe { portable::score_span(table, class, first, span) },
        // SAFETY: `kernels` proves the CPU supports the instruction set, and
        // the class and directions were checked above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { avx2::score_span(table, class, first, span) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { avx512::score_span(table, class, first, span) },
        // SAFETY: as for the portable kernel.
        #[cfg(not(target_arch = "x86_64"))]
        Isa::Avx2Fma | Isa::Avx512 => unsafe { portable::score_span(table, class, first, span) },
    }
    Ok(())
}

/// The moments (over directions) of each row of `values` (row-major
/// `out.len() × directions`), by two passes in f64.
///
/// ```
/// use psmi_core::{scoring::summarize_rows, statistics::Moments};
/// let mut out = [Moments::default(); 2];
/// summarize_rows(&[1.0, 3.0, 5.0, 5.0], 2, &mut out).unwrap();
/// assert_eq!(out[0].mean, 2.0);
/// assert_eq!(out[1].m2, 0.0);
/// ```
///
/// # Errors
///
/// [`Error::EmptyInput`] for zero directions, [`Error::ShapeMismatch`] if
/// `values` does not hold `out.len()` rows.
pub fn summarize_rows(values: &[f32], directions: usize, out: &mut [Moments]) -> Result<(), Error> {
    if directions == 0 {
        return Err(Error::EmptyInput { what: "directions" });
    }
    ensure_shape("scores", values, out.len() * directions)?;
    for (row, summary) in values.chunks_exact(directions).zip(out.iter_mut()) {
        *summary = two_pass(row);
    }
    Ok(())
}
