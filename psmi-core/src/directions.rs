//! Stage 1: random directions θ_j, uniform on the unit sphere S^{d-1}.
//!
//! θ_j is a deterministic function of `(seed, j)`: its own xoshiro256++
//! generator, seeded from the SplitMix64 stream of `seed` at offset `4 j`, draws
//! `d` standard normals (Marsaglia's polar method, in f64) that are then
//! normalised (Marsaglia 1972). Any block of directions can therefore be drawn
//! alone, in any order, on any thread, and equals the same rows drawn at once.

use crate::error::{ensure_shape, Error};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// SplitMix64's increment: the seeds of consecutive directions are four
/// SplitMix64 steps apart, so their xoshiro256++ states never share a word.
const SPLITMIX_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// Fills `out` (row-major, `count × dim`) with directions `first .. first + count`.
///
/// Each row has unit Euclidean norm (computed in f64, rounded to f32).
///
/// ```
/// use psmi_core::directions::fill_directions;
/// let (dim, count) = (5, 3);
/// let mut all = [0.0f32; 5 * 3];
/// fill_directions(42, 0, dim, &mut all).unwrap();
/// // Direction 2 alone equals the third row of the block.
/// let mut third = [0.0f32; 5];
/// fill_directions(42, 2, dim, &mut third).unwrap();
/// assert_eq!(&all[2 * dim..], &third[..]);
/// let norm: f32 = third.iter().map(|v| v * v).sum::<f32>().sqrt();
/// assert!((norm - 1.0).abs() < 1e-6);
/// ```
///
/// # Errors
///
/// [`Error::EmptyInput`] if `dim` is 0, [`Error::ShapeMismatch`] if
/// `out.len()` is not a multiple of `dim`.
pub fn fill_directions(seed: u64, first: usize, dim: usize, out: &mut [f32]) -> Result<(), Error> {
    if dim == 0 {
        return Err(Error::EmptyInput { what: "dim" });
    }
    let count = out.len() / dim;
    ensure_shape("directions buffer", out, count * dim)?;
    for (offset, row) in out.chunks_exact_mut(dim).enumerate() {
        fill_direction(seed, (first + offset) as u64, row);
    }
    Ok(())
}

/// The generator of direction `index`.
fn direction_rng(seed: u64, index: u64) -> Xoshiro256PlusPlus {
    let stream_offset = index.wrapping_mul(4).wrapping_mul(SPLITMIX_GAMMA);
    Xoshiro256PlusPlus::seed_from_u64(seed.wrapping_add(stream_offset))
}

fn fill_direction(seed: u64, index: u64, row: &mut [f32]) {
    let mut rng = direction_rng(seed, index);
    let mut normals = StandardNormals::default();
    let mut sum_sq = 0.0f64;
    for value in row.iter_mut() {
        let v = normals.next(&mut rng);
        sum_sq += v * v;
        *value = v as f32;
    }
    // The norm is taken of the f64 draws; scaling the stored values in f64
    // keeps each row's norm within an f32 rounding of 1.
    let inv_norm = 1.0 / libm::sqrt(sum_sq);
    for value in row.iter_mut() {
        *value = (*value as f64 * inv_norm) as f32;
    }
}

/// Standard normal variates by Marsaglia's polar method, two per accepted pair.
#[derive(Default)]
struct StandardNormals {
    spare: Option<f64>,
}

impl StandardNormals {
    fn next(&mut self, rng: &mut Xoshiro256PlusPlus) -> f64 {
        if let Some(v) = self.spare.take() {
            return v;
        }
        loop {
            let u = 2.0 * unit_f64(rng.next_u64()) - 1.0;
            let v = 2.0 * unit_f64(rng.next_u64()) - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let factor = libm::sqrt(-2.0 * libm::log(s) / s);
                self.spare = Some(v * factor);
                return u * factor;
            }
        }
    }
}

/// The top 53 bits of `bits` as a uniform f64 in [0, 1).
fn unit_f64(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec;

    #[test]
    fn rows_have_unit_norm() {
        for dim in [1usize, 2, 7, 63, 65, 513] {
            let mut out = vec![0.0f32; dim * 9];
            fill_directions(7, 11, dim, &mut out).unwrap();
            for row in out.chunks_exact(dim) {
                let norm: f64 = row
                    .iter()
                    .map(|&v| (v as f64) * (v as f64))
                    .sum::<f64>()
                    .sqrt();
                assert!((norm - 1.0).abs() < 1e-6, "dim {dim}: norm {norm}");
            }
        }
    }

    #[test]
    fn blocks_equal_rows_drawn_at_once() {
        let dim = 33;
        let mut all = vec![0.0f32; dim * 40];
        fill_directions(123, 0, dim, &mut all).unwrap();
        // Drawn in uneven blocks, out of order.
        for (first, count) in [(30usize, 10usize), (0, 7), (7, 23)] {
            let mut block = vec![0.0f32; dim * count];
            fill_directions(123, first, dim, &mut block).unwrap();
            assert_eq!(block, all[first * dim..(first + count) * dim]);
        }
    }

    #[test]
    fn seeds_give_different_directions() {
        let mut a = [0.0f32; 16];
        let mut b = [0.0f32; 16];
        fill_directions(1, 0, 16, &mut a).unwrap();
        fill_directions(2, 0, 16, &mut b).unwrap();
        assert_ne!(a, b);
    }

    /// Uniform on the sphere: E[θ] = 0 and E[θθᵀ] = I/d. With m draws, each
    /// entry of the sample mean has standard deviation sqrt(1/(d m)), and each
    /// entry of the sample second moment about sqrt(2/(d² m)) on the diagonal
    /// and sqrt(1/(d² m)) off it; 5 standard deviations is the bound.
    #[test]
    fn directions_are_isotropic() {
        let (dim, m) = (8usize, 40_000usize);
        let mut theta = vec![0.0f32; dim * m];
        fill_directions(2024, 0, dim, &mut theta).unwrap();
        let mut mean = vec![0.0f64; dim];
        let mut second = vec![0.0f64; dim * dim];
        for row in theta.chunks_exact(dim) {
            for a in 0..dim {
                mean[a] += row[a] as f64;
                for b in 0..dim {
                    second[a * dim + b] += row[a] as f64 * row[b] as f64;
                }
            }
        }
        let (d, mf) = (dim as f64, m as f64);
        for value in &mean {
            assert!((value / mf).abs() < 5.0 * (1.0 / (d * mf)).sqrt());
        }
        for a in 0..dim {
            for b in 0..dim {
                let expected = if a == b { 1.0 / d } else { 0.0 };
                let sd = if a == b {
                    (2.0 / (d * d * mf)).sqrt()
                } else {
                    (1.0 / (d * d * mf)).sqrt()
                };
                let got = second[a * dim + b] / mf;
                assert!((got - expected).abs() < 5.0 * sd, "E[θθᵀ][{a},{b}] = {got}");
            }
        }
    }

    #[test]
    fn rejects_bad_shapes() {
        let mut out = [0.0f32; 10];
        assert_eq!(
            fill_directions(0, 0, 0, &mut out),
            Err(Error::EmptyInput { what: "dim" })
        );
        assert!(matches!(
            fill_directions(0, 0, 3, &mut out),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}
