//! Widening f16 and bf16 features: every bit pattern against the `half` crate,
//! on every instruction set this CPU supports, and the projection of half
//! features against the projection of the same values given as f32.

use psmi_core::projection::{
    bf16_to_f32, check_finite_rows, f16_to_f32, pack_directions, packed_len, project, project_rows,
    scratch_len, widen, Rows,
};
use psmi_core::{Error, Isa, Kernels};

fn supported() -> Vec<Kernels> {
    Isa::ALL.into_iter().filter_map(Kernels::for_isa).collect()
}

fn all_bits() -> Vec<u16> {
    (0..=u16::MAX).collect()
}

/// `half` quiets NaNs as F16C does, so all 65536 patterns compare as bits.
#[test]
fn scalar_conversions_match_half_on_every_bit_pattern() {
    for bits in all_bits() {
        let f16 = half::f16::from_bits(bits).to_f32();
        assert_eq!(f16_to_f32(bits).to_bits(), f16.to_bits(), "f16 {bits:#06x}");
        let bf16 = half::bf16::from_bits(bits).to_f32();
        assert_eq!(
            bf16_to_f32(bits).to_bits(),
            bf16.to_bits(),
            "bf16 {bits:#06x}"
        );
    }
}

/// Every kernel set, on lengths around its vector widths, at every offset of
/// the 65536 patterns (so every pattern lands in the vector body and the tail).
#[test]
fn every_kernel_set_widens_as_the_scalar_conversion() {
    let bits = all_bits();
    for kernels in supported() {
        for len in [1, 7, 8, 9, 15, 16, 17, 31, 33, 65535, 65536] {
            for start in [0, 3] {
                let src = &bits[start..(start + len).min(bits.len())];
                for (rows, scalar) in [
                    (Rows::F16(src), f16_to_f32 as fn(u16) -> f32),
                    (Rows::Bf16(src), bf16_to_f32),
                ] {
                    let mut out = vec![0.0f32; src.len()];
                    widen(kernels, rows, &mut out).unwrap();
                    for (o, &h) in out.iter().zip(src) {
                        assert_eq!(o.to_bits(), scalar(h).to_bits(), "{kernels:?} {h:#06x}");
                    }
                }
            }
        }
    }
}

#[test]
fn widen_refuses_an_output_of_another_length() {
    let mut out = [0.0f32; 2];
    assert!(matches!(
        widen(Kernels::portable(), Rows::F16(&[0; 3]), &mut out),
        Err(Error::ShapeMismatch { .. })
    ));
}

/// Fresh pseudo-random finite halves: random bits, the non-finite ones
/// (exponent all ones) redrawn. Heavy-tailed on purpose: the whole range.
fn random_halves(len: usize, seed: u64, exponent: u16) -> Vec<u16> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as u16
    };
    (0..len)
        .map(|_| loop {
            let h = next();
            // bf16 kept to moderate magnitudes, so that products stay finite.
            let h = if exponent == 0x7F80 { h & 0xBFFF } else { h };
            if h & exponent != exponent {
                break h;
            }
        })
        .collect()
}

/// Projection of f16 / bf16 rows, bit for bit the projection of the same
/// values widened to f32 beforehand, on every kernel set and odd sizes
/// (partial tiles, several coordinate blocks).
#[test]
fn half_rows_project_as_their_f32_values() {
    for kernels in supported() {
        for (n, dim, m) in [(1, 1, 1), (13, 37, 29), (7, 300, 41), (20, 513, 3)] {
            let theta: Vec<f32> = random_halves(m * dim, 99, 0x7C00)
                .into_iter()
                .map(|h| f16_to_f32(h) / 64.0)
                .collect();
            let mut packed_buf = vec![0.0f32; packed_len(kernels, m, dim)];
            let packed = pack_directions(kernels, &theta, dim, &mut packed_buf).unwrap();
            let mut scratch = vec![f32::NAN; scratch_len(kernels, dim)];
            for (exponent, seed) in [(0x7C00u16, 1u64), (0x7F80, 2)] {
                let bits = random_halves(n * dim, seed + n as u64, exponent);
                let (rows, wide): (Rows<'_>, Vec<f32>) = if exponent == 0x7C00 {
                    (
                        Rows::F16(&bits),
                        bits.iter().map(|&h| f16_to_f32(h)).collect(),
                    )
                } else {
                    (
                        Rows::Bf16(&bits),
                        bits.iter().map(|&h| bf16_to_f32(h)).collect(),
                    )
                };
                let mut expected = vec![f32::NAN; n * m];
                project(&wide, &packed, &mut expected, &mut scratch).unwrap();
                let mut z = vec![f32::NAN; n * m];
                project_rows(rows, &packed, &mut z, &mut scratch).unwrap();
                let same = z
                    .iter()
                    .zip(&expected)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{kernels:?} n={n} dim={dim} m={m}");
            }
        }
    }
}

#[test]
fn non_finite_halves_are_found_with_their_row_and_column() {
    // f16: inf and NaN have all exponent bits set; 0x7BFF (65504) is finite.
    let mut x = vec![0x7BFFu16; 15];
    assert_eq!(check_finite_rows(Rows::F16(&x), 5), Ok(()));
    x[12] = 0xFC00;
    assert_eq!(
        check_finite_rows(Rows::F16(&x), 5),
        Err(Error::NonFinite { row: 2, column: 2 })
    );
    let mut x = vec![0x7F7Fu16; 6];
    assert_eq!(check_finite_rows(Rows::Bf16(&x), 3), Ok(()));
    x[4] = 0x7FC1;
    assert_eq!(
        check_finite_rows(Rows::Bf16(&x), 3),
        Err(Error::NonFinite { row: 1, column: 1 })
    );
}
