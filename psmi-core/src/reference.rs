//! Scalar float64 reference implementations of every stage.
//!
//! Straightforward loops with no blocking, no SIMD and no f32 rounding: the
//! yardstick the kernels are tested against. Slow; not for production use.

use crate::error::{ensure_shape, Error};
use crate::statistics::check_labels;

/// Z = X Θᵀ in f64: `x` is `n × dim`, `theta` is `m × dim`, `z` is `n × m`.
///
/// ```
/// let mut z = [0.0f64; 2];
/// psmi_core::reference::project(&[1.0, 2.0], &[3.0, 4.0, 1.0, 0.0], 2, &mut z).unwrap();
/// assert_eq!(z, [11.0, 1.0]);
/// ```
///
/// # Errors
///
/// [`Error::EmptyInput`] for `dim` 0, [`Error::ShapeMismatch`] for inconsistent lengths.
pub fn project(x: &[f64], theta: &[f64], dim: usize, z: &mut [f64]) -> Result<(), Error> {
    if dim == 0 {
        return Err(Error::EmptyInput { what: "dim" });
    }
    let (n, m) = (x.len() / dim, theta.len() / dim);
    ensure_shape("features", x, n * dim)?;
    ensure_shape("directions", theta, m * dim)?;
    ensure_shape("projections", z, n * m)?;
    for i in 0..n {
        for j in 0..m {
            let mut sum = 0.0;
            for t in 0..dim {
                sum += x[i * dim + t] * theta[j * dim + t];
            }
            z[i * m + j] = sum;
        }
    }
    Ok(())
}

/// Class frequencies (k), means and population standard deviations
/// (k × m, class-major) of projections `z` (`labels.len() × m`), by two passes.
///
/// ```
/// let (mut freq, mut mean, mut std) = ([0.0; 2], [0.0; 2], [0.0; 2]);
/// psmi_core::reference::class_statistics(&[1.0, 10.0, 3.0, 14.0], &[0, 1, 0, 1], 2,
///     &mut freq, &mut mean, &mut std).unwrap();
/// assert_eq!((freq, mean, std), ([0.5, 0.5], [2.0, 12.0], [1.0, 2.0]));
/// ```
///
/// # Errors
///
/// [`Error::ShapeMismatch`] for inconsistent lengths,
/// [`Error::LabelOutOfRange`] for a class index ≥ `classes`,
/// [`Error::TooFewSamples`] for a class with fewer than 2 samples.
pub fn class_statistics(
    z: &[f64],
    labels: &[u32],
    classes: usize,
    frequency: &mut [f64],
    mean: &mut [f64],
    std: &mut [f64],
) -> Result<(), Error> {
    let n = labels.len();
    let m = mean.len() / classes.max(1);
    ensure_shape("projections", z, n * m)?;
    ensure_shape("frequency", frequency, classes)?;
    ensure_shape("std", std, classes * m)?;
    check_labels(labels, classes)?;
    for class in 0..classes {
        let count = labels.iter().filter(|&&l| l as usize == class).count();
        if count < 2 {
            return Err(Error::TooFewSamples {
                class,
                count: count as u64,
            });
        }
        frequency[class] = count as f64 / n as f64;
        for j in 0..m {
            let members = || {
                (0..n)
                    .filter(|&i| labels[i] as usize == class)
                    .map(|i| z[i * m + j])
            };
            let mu = members().sum::<f64>() / count as f64;
            let var = members().map(|v| (v - mu) * (v - mu)).sum::<f64>() / count as f64;
            mean[class * m + j] = mu;
            std[class * m + j] = libm::sqrt(var);
        }
    }
    Ok(())
}

/// PSMI of every sample along every direction, in f64 log space:
/// `out[i·m + j] = ln N(z_ij; μ_{y_i j}, σ_{y_i j}) − ln Σ_c π_c N(z_ij; μ_cj, σ_cj)`.
///
/// ```
/// let mut out = [0.0f64];
/// psmi_core::reference::psmi(&[0.0], &[0], &[0.5, 0.5], &[0.0, 10.0], &[1.0, 1.0], &mut out).unwrap();
/// assert!((out[0] - 2f64.ln()).abs() < 1e-12);
/// ```
///
/// # Errors
///
/// [`Error::ShapeMismatch`] for inconsistent lengths,
/// [`Error::LabelOutOfRange`] for a class index ≥ `frequency.len()`.
pub fn psmi(
    z: &[f64],
    labels: &[u32],
    frequency: &[f64],
    mean: &[f64],
    std: &[f64],
    out: &mut [f64],
) -> Result<(), Error> {
    let (n, classes) = (labels.len(), frequency.len());
    let m = mean.len() / classes.max(1);
    ensure_shape("projections", z, n * m)?;
    ensure_shape("std", std, classes * m)?;
    ensure_shape("scores", out, n * m)?;
    check_labels(labels, classes)?;
    let half_ln_2pi = 0.5 * libm::log(2.0 * core::f64::consts::PI);
    let log_density = |value: f64, mu: f64, sigma: f64| {
        let u = (value - mu) / sigma;
        -0.5 * u * u - libm::log(sigma) - half_ln_2pi
    };
    for i in 0..n {
        for j in 0..m {
            let value = z[i * m + j];
            let term = |c: usize| {
                libm::log(frequency[c]) + log_density(value, mean[c * m + j], std[c * m + j])
            };
            let max = (0..classes).map(term).fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = (0..classes).map(|c| libm::exp(term(c) - max)).sum();
            let own = labels[i] as usize;
            let own_density = log_density(value, mean[own * m + j], std[own * m + j]);
            out[i * m + j] = own_density - (max + libm::log(sum));
        }
    }
    Ok(())
}

/// The orthonormal frame of the columns of `gaussian` (column-major `dim ×
/// frame`, full column rank), by modified Gram–Schmidt applied twice: row j of
/// `frame_rows` (row-major `frame × dim`) is column j of the Q whose R has a
/// positive diagonal. That is the QR with R's signs moved into Q, so it is the
/// yardstick of [`directions::fill`](crate::directions::fill)'s Householder frames.
///
/// ```
/// let g = [3.0, 4.0, 0.0, 1.0, 1.0, 1.0]; // columns (3, 4, 0) and (1, 1, 1)
/// let mut q = [0.0f64; 6];
/// psmi_core::reference::orthonormal_frame(&g, 3, &mut q).unwrap();
/// assert!((q[0] - 0.6).abs() < 1e-15 && (q[1] - 0.8).abs() < 1e-15);
/// let dot: f64 = q[..3].iter().zip(&q[3..]).map(|(a, b)| a * b).sum();
/// assert!(dot.abs() < 1e-15);
/// ```
///
/// # Errors
///
/// [`Error::EmptyInput`] for `dim` 0, [`Error::ShapeMismatch`] for inconsistent
/// lengths, [`Error::FrameSize`] for more columns than `dim`.
pub fn orthonormal_frame(
    gaussian: &[f64],
    dim: usize,
    frame_rows: &mut [f64],
) -> Result<(), Error> {
    if dim == 0 {
        return Err(Error::EmptyInput { what: "dim" });
    }
    let frame = gaussian.len() / dim;
    ensure_shape("gaussian", gaussian, frame * dim)?;
    ensure_shape("frame rows", frame_rows, frame * dim)?;
    if frame > dim {
        return Err(Error::FrameSize { frame, dim });
    }
    frame_rows.copy_from_slice(gaussian);
    for j in 0..frame {
        let (done, rest) = frame_rows.split_at_mut(j * dim);
        let column = &mut rest[..dim];
        for _ in 0..2 {
            for q in done.chunks_exact(dim) {
                let r: f64 = q.iter().zip(column.iter()).map(|(a, b)| a * b).sum();
                for (c, a) in column.iter_mut().zip(q) {
                    *c -= r * a;
                }
            }
        }
        let norm = libm::sqrt(column.iter().map(|c| c * c).sum::<f64>());
        for c in column.iter_mut() {
            *c /= norm;
        }
    }
    Ok(())
}
