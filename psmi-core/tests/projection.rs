//! The projection kernels of every instruction set this CPU supports, against
//! the float64 reference.

use proptest::prelude::*;
use psmi_core::projection::{
    check_finite_rows, pack_directions, pack_directions_with, packed_len, project, project_rows,
    project_rows_checked, scratch_len, CacheSizes, Rows,
};
use psmi_core::{reference, Error, Isa, Kernels};

fn supported() -> Vec<Kernels> {
    Isa::ALL.into_iter().filter_map(Kernels::for_isa).collect()
}

/// Deterministic normal-ish values (a sum of four uniforms, centred) plus a
/// common offset.
fn values(len: usize, seed: u64, offset: f32) -> Vec<f32> {
    let mut state = seed;
    let mut uniform = move || {
        // SplitMix64.
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
    };
    (0..len)
        .map(|_| offset + (uniform() + uniform() + uniform() + uniform() - 2.0) * 1.7)
        .collect()
}

fn run(kernels: Kernels, x: &[f32], theta: &[f32], dim: usize) -> Vec<f32> {
    run_with(kernels, CacheSizes::detect(), x, theta, dim)
}

/// As [`run`], with the blocks cut for `caches`.
fn run_with(
    kernels: Kernels,
    caches: CacheSizes,
    x: &[f32],
    theta: &[f32],
    dim: usize,
) -> Vec<f32> {
    let (n, m) = (x.len() / dim, theta.len() / dim);
    let mut packed_buf = vec![f32::NAN; packed_len(kernels, m, dim)];
    let packed = pack_directions_with(kernels, caches, theta, dim, &mut packed_buf).unwrap();
    // NaN in the scratch and output: the kernels must overwrite, not read, them.
    let mut scratch = vec![f32::NAN; scratch_len(kernels, dim)];
    let mut z = vec![f32::NAN; n * m];
    project(x, &packed, &mut z, &mut scratch).unwrap();
    z
}

fn reference(x: &[f32], theta: &[f32], dim: usize) -> Vec<f64> {
    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let theta64: Vec<f64> = theta.iter().map(|&v| v as f64).collect();
    let mut z = vec![0.0; x.len() / dim * (theta.len() / dim)];
    reference::project(&x64, &theta64, dim, &mut z).unwrap();
    z
}

fn row_norms(values: &[f32], dim: usize) -> Vec<f64> {
    values
        .chunks_exact(dim)
        .map(|row| row.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt())
        .collect()
}

/// The largest error of `z` as a fraction of ‖x_i‖·‖θ_j‖, which bounds
/// |z_ij| (Cauchy–Schwarz) and Σ_k |x_ik θ_jk|, the scale of the rounding
/// error of any summation order; and ‖Z − Z64‖_F / ‖Z64‖_F.
fn errors(x: &[f32], theta: &[f32], dim: usize, z: &[f32], expected: &[f64]) -> (f64, f64) {
    let (x_norms, theta_norms) = (row_norms(x, dim), row_norms(theta, dim));
    let m = theta_norms.len();
    let (mut worst, mut diff2, mut norm2) = (0.0f64, 0.0f64, 0.0f64);
    for (index, (&got, &want)) in z.iter().zip(expected).enumerate() {
        let scale = x_norms[index / m] * theta_norms[index % m];
        let error = (got as f64 - want).abs();
        if scale > 0.0 {
            worst = worst.max(error / scale);
        } else {
            assert_eq!(got, 0.0);
        }
        diff2 += error * error;
        norm2 += want * want;
    }
    let frobenius = if norm2 > 0.0 {
        (diff2 / norm2).sqrt()
    } else {
        diff2.sqrt()
    };
    (worst, frobenius)
}

/// Sizes around the register tiles (multiples of 6, 8, 12, 16, 32) and the
/// coordinate blocks (256).
const SIZES: [usize; 15] = [1, 2, 7, 8, 15, 16, 17, 31, 33, 63, 65, 127, 129, 257, 513];

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![3 => proptest::sample::select(&SIZES[..]), 1 => 1usize..300]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn matches_the_reference(
        (n, m, dim) in (size(), size(), size())
            .prop_filter("keep debug runs short", |&(n, m, d)| n * m * d <= 400_000),
        seed in any::<u64>(),
        offset in prop_oneof![Just(0.0f32), Just(20.0f32), -5.0f32..5.0],
    ) {
        let x = values(n * dim, seed, offset);
        let theta = values(m * dim, seed ^ 0x5eed, 0.0);
        let expected = reference(&x, &theta, dim);
        for kernels in supported() {
            let z = run(kernels, &x, &theta, dim);
            let (worst, _) = errors(&x, &theta, dim, &z, &expected);
            // At most 513 coordinates: blocks of ≤ 257, a few blocks; the
            // bound of the accuracy test holds with room to spare.
            prop_assert!(worst <= 1e-5, "{:?} n={} m={} d={}: {:e}", kernels.isa(), n, m, dim, worst);
        }
    }

    /// Blocks cut for any caches, from ones too small for the model (the
    /// shortest blocks, one panel per slice) to large ones, give the same
    /// products within the same bound.
    #[test]
    fn matches_the_reference_for_any_caches(
        (n, m, dim) in (size(), size(), size())
            .prop_filter("keep debug runs short", |&(n, m, d)| n * m * d <= 400_000),
        seed in any::<u64>(),
        l1d in 1usize..128 * 1024,
        l2 in 1usize..8 * 1024 * 1024,
    ) {
        let x = values(n * dim, seed, 1.0);
        let theta = values(m * dim, seed ^ 0x5eed, 0.0);
        let expected = reference(&x, &theta, dim);
        let caches = CacheSizes { l1d, l2 };
        for kernels in supported() {
            let z = run_with(kernels, caches, &x, &theta, dim);
            let (worst, _) = errors(&x, &theta, dim, &z, &expected);
            prop_assert!(worst <= 1e-5, "{:?} {:?} n={} m={} d={}: {:e}", kernels.isa(), caches, n, m, dim, worst);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The checked projection, with blocks cut small so that X is packed in
    /// many blocks and several slices of directions: on finite rows the same
    /// bits as the plain one; with NaN and infinities anywhere (in f32, f16
    /// or bf16), the error the plain scan gives, naming the first in
    /// row-major order even when a later row holds one in an earlier block.
    #[test]
    fn checked_projection_names_the_first_bad_value(
        (n, m, dim) in (1usize..40, 1usize..70, 1usize..90),
        seed in any::<u64>(),
        bad in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3), 0..4),
        l1d in 2048usize..8192,
        format in 0u8..3,
    ) {
        let mut x = values(n * dim, seed, 0.5);
        let len = x.len();
        for (at, kind) in &bad {
            x[at.index(len)] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][*kind as usize];
        }
        let halves: Vec<u16> = match format {
            1 => x.iter().map(|&v| half::f16::from_f32(v).to_bits()).collect(),
            _ => x.iter().map(|&v| half::bf16::from_f32(v).to_bits()).collect(),
        };
        let rows = match format {
            0 => Rows::F32(&x),
            1 => Rows::F16(&halves),
            _ => Rows::Bf16(&halves),
        };
        let theta = values(m * dim, seed ^ 0x5eed, 0.0);
        let caches = CacheSizes { l1d, l2: 4 * l1d };
        for kernels in supported() {
            let mut packed_buf = vec![0.0f32; packed_len(kernels, m, dim)];
            let packed = pack_directions_with(kernels, caches, &theta, dim, &mut packed_buf).unwrap();
            let mut scratch = vec![0.0f32; scratch_len(kernels, dim)];
            let mut checked = vec![0.0f32; n * m];
            let found = project_rows_checked(rows, &packed, &mut checked, &mut scratch);
            prop_assert_eq!(found, check_finite_rows(rows, dim), "{:?}", kernels.isa());
            if found.is_ok() {
                let mut plain = vec![0.0f32; n * m];
                project_rows(rows, &packed, &mut plain, &mut scratch).unwrap();
                prop_assert!(checked.iter().zip(&plain).all(|(a, b)| a.to_bits() == b.to_bits()));
            }
        }
    }
}

/// At d = 4096 each z_ij sums blocks of at most KC = 256 products in f32
/// (fused multiply-adds), then adds the 16 block sums into Z. The classical
/// bound is |z − z64| ≤ γ_{256+16}·Σ_k |x_ik θ_jk| ≤ 272·2⁻²⁴·‖x_i‖‖θ_j‖
/// ≈ 1.6e-5·‖x_i‖‖θ_j‖ in the worst case; rounding errors of random sign
/// grow like the square root of that count, ~1e-6, and we require 1e-5
/// elementwise (observed: about 2e-8). For random unit directions
/// |z_ij| ≈ ‖x_i‖/√d, so relative to ‖Z64‖_F the error is √d = 64 times
/// larger; we require 1e-6 (observed: about 3e-7).
#[test]
fn accurate_at_dim_4096() {
    let (n, m, dim) = (200, 64, 4096);
    // An offset common to every feature, as in un-centred embeddings.
    let x = values(n * dim, 1, 1.5);
    let mut theta = values(m * dim, 2, 0.0);
    for row in theta.chunks_exact_mut(dim) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        row.iter_mut().for_each(|v| *v /= norm);
    }
    let expected = reference(&x, &theta, dim);
    for kernels in supported() {
        let z = run(kernels, &x, &theta, dim);
        let (worst, frobenius) = errors(&x, &theta, dim, &z, &expected);
        assert!(worst <= 1e-5, "{:?}: elementwise {worst:e}", kernels.isa());
        assert!(
            frobenius <= 1e-6,
            "{:?}: Frobenius {frobenius:e}",
            kernels.isa()
        );
    }
}

/// One packed block serves row chunks of any size with one scratch buffer.
#[test]
fn row_chunks_agree_with_the_whole() {
    let (n, m, dim) = (41, 37, 300);
    let x = values(n * dim, 7, 1.0);
    let theta = values(m * dim, 8, 0.0);
    for kernels in supported() {
        let whole = run(kernels, &x, &theta, dim);
        let mut packed_buf = vec![0.0; packed_len(kernels, m, dim)];
        let packed = pack_directions(kernels, &theta, dim, &mut packed_buf).unwrap();
        let mut scratch = vec![0.0; scratch_len(kernels, dim)];
        let mut z = vec![0.0; n * m];
        let mut start = 0;
        for rows in [1, 5, 13, 22] {
            let x_chunk = &x[start * dim..(start + rows) * dim];
            let z_chunk = &mut z[start * m..(start + rows) * m];
            project(x_chunk, &packed, z_chunk, &mut scratch).unwrap();
            start += rows;
        }
        assert_eq!(z, whole, "{:?}", kernels.isa());
    }
}

#[test]
fn no_rows_is_no_work() {
    for kernels in supported() {
        let z = run(kernels, &[], &[1.0, 0.0], 2);
        assert!(z.is_empty());
    }
}

#[test]
fn errors_name_the_argument() {
    for kernels in supported() {
        let (m, dim) = (5, 9);
        let theta = values(m * dim, 3, 0.0);
        let len = packed_len(kernels, m, dim);

        let mut short = vec![0.0; len - 1];
        assert_eq!(
            pack_directions(kernels, &theta, dim, &mut short).unwrap_err(),
            Error::BufferTooSmall {
                buffer: "packed directions",
                required: len,
                provided: len - 1
            }
        );
        let mut buf = vec![0.0; len];
        assert_eq!(
            pack_directions(kernels, &theta, 0, &mut buf).unwrap_err(),
            Error::EmptyInput { what: "dim" }
        );
        assert_eq!(
            pack_directions(kernels, &[], dim, &mut buf).unwrap_err(),
            Error::EmptyInput { what: "directions" }
        );
        assert!(matches!(
            pack_directions(kernels, &theta[1..], dim, &mut buf).unwrap_err(),
            Error::ShapeMismatch {
                what: "directions",
                ..
            }
        ));

        let packed = pack_directions(kernels, &theta, dim, &mut buf).unwrap();
        let n = 4;
        let x = values(n * dim, 4, 0.0);
        let scratch_needed = scratch_len(kernels, dim);
        let mut scratch = vec![0.0; scratch_needed];
        let mut z = vec![0.0; n * m];

        let mut short_scratch = vec![0.0; scratch_needed - 1];
        assert_eq!(
            project(&x, &packed, &mut z, &mut short_scratch).unwrap_err(),
            Error::BufferTooSmall {
                buffer: "projection scratch",
                required: scratch_needed,
                provided: scratch_needed - 1
            }
        );
        assert_eq!(
            project(&x, &packed, &mut z[1..], &mut scratch).unwrap_err(),
            Error::ShapeMismatch {
                what: "projections",
                expected: n * m,
                found: n * m - 1
            }
        );
        assert_eq!(
            project(&x[1..], &packed, &mut z, &mut scratch).unwrap_err(),
            Error::ShapeMismatch {
                what: "features",
                expected: (n - 1) * dim,
                found: n * dim - 1
            }
        );
        project(&x, &packed, &mut z, &mut scratch).unwrap();
    }
}
