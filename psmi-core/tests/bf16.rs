//! The bf16 projection on every kernel set this CPU has (the bf16 dot
//! product where present, the f32 kernels over rounded values everywhere)
//! against an f64 reference over the bf16-rounded values, which is exact up
//! to the f32 sums; and the rounding itself against the `half` crate.

use half::bf16;
use proptest::prelude::*;
use psmi_core::projection::{
    bf16_to_f32, f32_to_bf16, pack_directions_as, packed_len, project_rows, project_rows_checked,
    scratch_len, CacheSizes, Precision, Rows,
};
use psmi_core::{reference, Error, Isa, Kernels};

/// Every kernel set of this CPU, each also without the bf16 dot product.
fn supported() -> Vec<Kernels> {
    let mut kernels: Vec<Kernels> = Isa::ALL.into_iter().filter_map(Kernels::for_isa).collect();
    let with_dot: Vec<Kernels> = kernels
        .iter()
        .copied()
        .filter(|k| k.has_bf16_dot())
        .collect();
    kernels.iter_mut().for_each(|k| *k = k.without_bf16_dot());
    kernels.extend(with_dot);
    kernels
}

/// The dot-product kernel is among them wherever the CPU has AVX512-BF16.
#[test]
fn the_bf16_dot_product_is_tested_where_present() {
    #[cfg(target_arch = "x86_64")]
    let present = Isa::Avx512.is_supported() && std::is_x86_feature_detected!("avx512bf16");
    #[cfg(not(target_arch = "x86_64"))]
    let present = false;
    assert_eq!(supported().iter().any(|k| k.has_bf16_dot()), present);
}

/// Uniform values in [-scale, scale) from a SplitMix64 stream.
fn values(len: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            let unit = ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32;
            (2.0 * unit - 1.0) * scale
        })
        .collect()
}

fn rounded(values: &[f32]) -> Vec<f64> {
    values
        .iter()
        .map(|&v| f64::from(bf16::from_f32(v).to_f32()))
        .collect()
}

/// Z of `x` (any row type) on `theta` packed in bf16 for `kernels` and `caches`.
fn project_bf16(
    kernels: Kernels,
    caches: CacheSizes,
    x: Rows<'_>,
    theta: &[f32],
    dim: usize,
) -> Vec<f32> {
    let m = theta.len() / dim;
    let mut buffer = vec![0.0f32; packed_len(kernels, m, dim)];
    let packed =
        pack_directions_as(kernels, Precision::Bf16, caches, theta, dim, &mut buffer).unwrap();
    assert_eq!(packed.precision(), Precision::Bf16);
    let mut z = vec![f32::NAN; x.len() / dim * m];
    let mut scratch = vec![0.0f32; scratch_len(kernels, dim)];
    project_rows(x, &packed, &mut z, &mut scratch).unwrap();
    z
}

/// The bits of [`project_bf16`] with the CPU's own cache sizes.
fn projected_bits(kernels: Kernels, x: Rows<'_>, theta: &[f32], dim: usize) -> Vec<u32> {
    project_bf16(kernels, CacheSizes::detect(), x, theta, dim)
        .into_iter()
        .map(f32::to_bits)
        .collect()
}

/// The f64 projection of the bf16-rounded values, and for each entry the
/// bound of f32 summation: (terms + 2) · ε · Σ |products|.
fn reference_bf16(x: &[f32], theta: &[f32], dim: usize) -> (Vec<f64>, Vec<f64>) {
    let (x, theta) = (rounded(x), rounded(theta));
    let (n, m) = (x.len() / dim, theta.len() / dim);
    let mut exact = vec![0.0f64; n * m];
    reference::project(&x, &theta, dim, &mut exact).unwrap();
    let abs = |v: &[f64]| v.iter().map(|v| v.abs()).collect::<Vec<_>>();
    let mut magnitude = vec![0.0f64; n * m];
    reference::project(&abs(&x), &abs(&theta), dim, &mut magnitude).unwrap();
    let epsilon = f64::from(f32::EPSILON);
    let bound = magnitude
        .iter()
        .map(|s| (dim as f64 + 2.0) * epsilon * s)
        .collect();
    (exact, bound)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Every kernel set, at odd sizes and block lengths, within the bound of
    /// f32 summation of the exact products of the rounded values.
    #[test]
    fn matches_the_f64_reference_of_the_rounded_values(
        n in 1usize..40, dim in 1usize..700, m in 1usize..70, seed in any::<u64>(),
        small_l1 in any::<bool>(),
    ) {
        let x = values(n * dim, seed, 3.0);
        let theta = values(m * dim, seed ^ 0xABCD, 1.0);
        let (exact, bound) = reference_bf16(&x, &theta, dim);
        // A small L1 cuts the dimension into many short blocks, odd ones too.
        let caches = if small_l1 { CacheSizes { l1d: 4096, l2: 65536 } } else { CacheSizes::detect() };
        for kernels in supported() {
            let z = project_bf16(kernels, caches, Rows::F32(&x), &theta, dim);
            for (i, ((&z, e), b)) in z.iter().zip(&exact).zip(&bound).enumerate() {
                prop_assert!(
                    (f64::from(z) - e).abs() <= *b,
                    "{kernels:?}: entry {i}: {z} against {e} (bound {b})"
                );
            }
        }
    }

    /// The rounding is IEEE round-to-nearest-even, as the `half` crate's.
    #[test]
    fn rounds_to_nearest_even(bits in any::<u32>()) {
        let value = f32::from_bits(bits);
        let ours = f32_to_bf16(value);
        let theirs = bf16::from_f32(value);
        if value.is_nan() {
            prop_assert!(bf16_to_f32(ours).is_nan());
            prop_assert_eq!(ours >> 15, u16::from(value.is_sign_negative()));
        } else {
            prop_assert_eq!(ours, theirs.to_bits(), "{:e}", value);
        }
    }
}

/// A row's projections do not depend on the rows projected with it: any
/// chunking of the rows (as threads cut them) gives the same bits.
#[test]
fn rows_give_the_same_bits_in_any_chunking() {
    let (n, dim, m) = (61, 517, 45);
    let x = values(n * dim, 11, 2.0);
    let theta = values(m * dim, 12, 1.0);
    for kernels in supported() {
        let whole = project_bf16(kernels, CacheSizes::detect(), Rows::F32(&x), &theta, dim);
        for cut in [1, 13, 14, 29, 60] {
            let head = project_bf16(
                kernels,
                CacheSizes::detect(),
                Rows::F32(&x[..cut * dim]),
                &theta,
                dim,
            );
            let tail = project_bf16(
                kernels,
                CacheSizes::detect(),
                Rows::F32(&x[cut * dim..]),
                &theta,
                dim,
            );
            let chunked: Vec<u32> = head.iter().chain(&tail).map(|v| v.to_bits()).collect();
            let whole: Vec<u32> = whole.iter().map(|v| v.to_bits()).collect();
            assert_eq!(chunked, whole, "{kernels:?}, cut after {cut} rows");
        }
    }
}

/// bf16 features are used as stored, f16 and f32 ones rounded as they are
/// packed: each gives the bits of its f32 values.
#[test]
fn every_row_type_gives_the_bits_of_its_values() {
    let (n, dim, m) = (23, 301, 33);
    let x = values(n * dim, 21, 4.0);
    let theta = values(m * dim, 22, 1.0);
    let as_bf16: Vec<u16> = x.iter().map(|&v| f32_to_bf16(v)).collect();
    let as_f16: Vec<u16> = x
        .iter()
        .map(|&v| half::f16::from_f32(v).to_bits())
        .collect();
    let widened_f16: Vec<f32> = as_f16
        .iter()
        .map(|&h| half::f16::from_bits(h).to_f32())
        .collect();
    for kernels in supported() {
        let from_f32 = projected_bits(kernels, Rows::F32(&x), &theta, dim);
        let from_bf16 = projected_bits(kernels, Rows::Bf16(&as_bf16), &theta, dim);
        assert_eq!(from_f32, from_bf16, "{kernels:?}: bf16 rows");
        let from_f16 = projected_bits(kernels, Rows::F16(&as_f16), &theta, dim);
        let from_widened = projected_bits(kernels, Rows::F32(&widened_f16), &theta, dim);
        assert_eq!(from_f16, from_widened, "{kernels:?}: f16 rows");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4))]

    /// f32 rows rounded as they are packed give the bits of the same rows
    /// rounded first by [`f32_to_bf16`], at every length modulo the 32
    /// values of a vector step: ties (a dropped half of exactly 0x8000, to
    /// even either way), subnormals and signed zeros.
    #[test]
    fn rows_are_rounded_as_f32_to_bf16_rounds(n in 1usize..5, seed in any::<u64>()) {
        for dim in 1..=97 {
            rounded_rows_match(n, dim, seed)?;
        }
    }
}

/// The check of [`rows_are_rounded_as_f32_to_bf16_rounds`] at one size.
fn rounded_rows_match(n: usize, dim: usize, seed: u64) -> Result<(), TestCaseError> {
    let m = 3;
    let theta = values(m * dim, seed ^ 0x5EED, 1.0);
    let x: Vec<f32> = values(n * dim, seed, 4.0)
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let bits = v.to_bits();
            f32::from_bits(match i % 5 {
                0 => (bits & 0xFFFF_0000) | 0x8000,
                1 => (bits & 0xFFFF_0000) | 0x7FFF,
                2 => bits & 0x807F_FFFF,
                3 => bits & 0x8000_0000,
                _ => bits,
            })
        })
        .collect();
    let as_bf16: Vec<u16> = x.iter().map(|&v| f32_to_bf16(v)).collect();
    for kernels in supported() {
        let from_f32 = projected_bits(kernels, Rows::F32(&x), &theta, dim);
        let from_bf16 = projected_bits(kernels, Rows::Bf16(&as_bf16), &theta, dim);
        prop_assert_eq!(from_f32, from_bf16, "{:?} at dim {}", kernels, dim);
    }
    Ok(())
}

/// The bf16 dot product and the f32 kernels over the same rounded values
/// agree within f32 rounding.
#[test]
fn the_bf16_dot_product_agrees_with_the_f32_kernels() {
    let (n, dim, m) = (47, 1031, 65);
    let x = values(n * dim, 31, 2.0);
    let theta = values(m * dim, 32, 1.0);
    let (_, bound) = reference_bf16(&x, &theta, dim);
    let portable = project_bf16(
        Kernels::portable(),
        CacheSizes::detect(),
        Rows::F32(&x),
        &theta,
        dim,
    );
    for kernels in supported() {
        let z = project_bf16(kernels, CacheSizes::detect(), Rows::F32(&x), &theta, dim);
        for ((a, b), bound) in z.iter().zip(&portable).zip(&bound) {
            assert!(
                f64::from((a - b).abs()) <= 2.0 * bound,
                "{kernels:?}: {a} against {b}"
            );
        }
    }
}

/// The check of finite values sees the values as given, before rounding.
#[test]
fn a_non_finite_value_is_named() {
    let (dim, m) = (37, 5);
    let mut x = values(9 * dim, 41, 1.0);
    x[6 * dim + 30] = f32::INFINITY;
    let theta = values(m * dim, 42, 1.0);
    for kernels in supported() {
        let mut buffer = vec![0.0f32; packed_len(kernels, m, dim)];
        let packed = pack_directions_as(
            kernels,
            Precision::Bf16,
            CacheSizes::detect(),
            &theta,
            dim,
            &mut buffer,
        )
        .unwrap();
        let mut z = vec![0.0f32; 9 * m];
        let mut scratch = vec![0.0f32; scratch_len(kernels, dim)];
        let found = project_rows_checked(Rows::F32(&x), &packed, &mut z, &mut scratch);
        assert_eq!(
            found,
            Err(Error::NonFinite { row: 6, column: 30 }),
            "{kernels:?}"
        );
        // bf16 rows, packed as stored: an infinity, then a NaN, at odd columns.
        for (bits, column) in [(0xFF80u16, 30), (0x7FC1, 35)] {
            let mut halves: Vec<u16> = x.iter().map(|&v| f32_to_bf16(v.min(1e30))).collect();
            halves[6 * dim + column] = bits;
            let found = project_rows_checked(Rows::Bf16(&halves), &packed, &mut z, &mut scratch);
            assert_eq!(
                found,
                Err(Error::NonFinite { row: 6, column }),
                "{kernels:?}"
            );
        }
    }
}
