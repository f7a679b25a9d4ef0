//! Data that f16, bf16 and f32 hold alike, their half-precision bits, and
//! comparisons bit for bit: for the tests of inputs at scale, of the library
//! and of the program.

use super::mixture;
use psmi_core::projection::{bf16_to_f32, f16_to_f32};
use psmi_std::PsmiScores;

/// A mixture rounded so that f16, bf16 and f32 hold exactly the same values
/// (multiples of 1/8 below 16 in magnitude: 7 significant bits at most).
pub fn dataset(seed: u64, n: usize, d: usize) -> (Vec<f32>, Vec<i64>) {
    let (x, labels) = mixture(seed, n, d, 4, 3.0);
    let x = x
        .iter()
        .map(|v| ((v * 8.0).round() / 8.0).clamp(-15.875, 15.875))
        .collect();
    (x, labels)
}

pub fn f16_of(v: f32) -> u16 {
    // Exact by construction of the data: checked against the widening.
    let bits = half_bits(v, 10, 15);
    assert_eq!(f16_to_f32(bits), v);
    bits
}

pub fn bf16_of(v: f32) -> u16 {
    let bits = (v.to_bits() >> 16) as u16;
    assert_eq!(bf16_to_f32(bits), v);
    bits
}

/// The half-precision bits of `v` with `mantissa` bits and exponent `bias`
/// (normal values and zero only, which is all the data holds).
fn half_bits(v: f32, mantissa: u32, bias: i32) -> u16 {
    if v == 0.0 {
        return ((v.to_bits() >> 16) & 0x8000) as u16;
    }
    let bits = v.to_bits();
    let sign = (bits >> 31) << 15;
    let exponent = ((bits >> 23) & 0xFF) as i32 - 127 + bias;
    let fraction = (bits & 0x7F_FFFF) >> (23 - mantissa);
    (sign | ((exponent as u32) << mantissa) | fraction) as u16
}

pub fn same_scores(a: &PsmiScores, b: &PsmiScores) -> bool {
    let bits = |s: &[f64]| s.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    bits(a.mean()) == bits(b.mean()) && bits(a.std()) == bits(b.std()) && a.full() == b.full()
}

/// Cuts `n` rows into shards of the given sizes (the last takes the rest).
pub fn cuts(n: usize, sizes: &[usize]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for &size in sizes {
        out.push((start, start + size));
        start += size;
    }
    out.push((start, n));
    out
}
