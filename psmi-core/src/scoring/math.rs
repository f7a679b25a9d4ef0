//! exp and ln on vectors, over the ranges the log-sum-exp needs.
//!
//! Both follow Cephes' single-precision `expf` and `logf` (S. L. Moshier):
//! a range reduction by powers of two with ln 2 split in two parts, then a
//! minimax polynomial. Over their ranges both are within 2 ulp of the exact
//! value (checked against f64 in the tests below).

use super::lanes::{Lanes, MAGIC_2POW};

/// exp(x) ≤ exp(EXP_MIN) ≈ 1.1762e-38 is returned as 0. It is the first value
/// above ln 2^-126 with an exactly normal result, so no lane ever computes a
/// subnormal (which costs a micro-code assist on x86); in the log-sum-exp
/// such a term is absorbed by the largest term, 1, anyway.
const EXP_MIN: f32 = -87.33;

const LOG2_E: f32 = core::f32::consts::LOG2_E;
/// ln 2 = LN2_HI + LN2_LO, LN2_HI with few enough bits that n · LN2_HI is exact.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// Cephes `expf` polynomial, highest degree first: exp(r) ≈ 1 + r + r² P(r),
/// evaluated as one Horner scheme (its last two coefficients are the 1s).
const EXP_POLY: [f32; 8] = [
    1.987_569_1e-4,
    1.398_2e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    5e-1,
    1.0,
    1.0,
];

/// Cephes `logf` polynomial, highest degree first:
/// ln(1 + g) ≈ g − g²/2 + g³ P(g) for g in [√½ − 1, √2 − 1].
const LN_POLY: [f32; 9] = [
    7.037_683_6e-2,
    -1.151_461e-1,
    1.167_699_9e-1,
    -1.242_014_1e-1,
    1.424_932_3e-1,
    -1.666_805_8e-1,
    2.000_071_4e-1,
    -2.499_999_4e-1,
    3.333_333e-1,
];

const SQRT_HALF: f32 = core::f32::consts::FRAC_1_SQRT_2;

/// Horner's scheme for a polynomial with coefficients highest degree first.
///
/// # Safety
///
/// The CPU supports `V`'s instruction set.
#[inline(always)]
unsafe fn polynomial<V: Lanes>(x: V, coefficients: &[f32]) -> V {
    // SAFETY: the caller promises a CPU with `V`'s set.
    unsafe {
        coefficients[1..]
            .iter()
            .fold(V::splat(coefficients[0]), |acc, &c| {
                acc.mul_add(x, V::splat(c))
            })
    }
}

/// exp(x) for x ≤ 0; 0 for x ≤ [`EXP_MIN`].
///
/// # Safety
///
/// The CPU supports `V`'s instruction set.
#[inline(always)]
pub(super) unsafe fn exp_nonpositive<V: Lanes>(x: V) -> V {
    // SAFETY: the caller promises a CPU with `V`'s set.
    unsafe {
        let clamped = x.max(V::splat(EXP_MIN));
        // n = round(x / ln 2) in [−126, 0]; r = x − n ln 2 in [−ln 2 / 2, ln 2 / 2].
        let shifted = clamped.mul_add(V::splat(LOG2_E), V::splat(MAGIC_2POW));
        let n = shifted.sub(V::splat(MAGIC_2POW));
        let r = n.neg_mul_add(V::splat(LN2_HI), clamped);
        let r = n.neg_mul_add(V::splat(LN2_LO), r);
        polynomial(r, &EXP_POLY)
            .mul(shifted.exp2_from_magic())
            .keep_where_less(V::splat(EXP_MIN), x)
    }
}

/// ln(x) for positive, finite, normal x.
///
/// # Safety
///
/// The CPU supports `V`'s instruction set.
#[inline(always)]
pub(super) unsafe fn ln_normal<V: Lanes>(x: V) -> V {
    // SAFETY: the caller promises a CPU with `V`'s set.
    unsafe {
        let (f, e) = x.frexp();
        // x = f · 2^e with f in [0.5, 1); move f to [√½, √2) so that g = f − 1 is small.
        let e = e.sub(V::splat(1.0).keep_where_less(f, V::splat(SQRT_HALF)));
        let g = f
            .sub(V::splat(1.0))
            .add(f.keep_where_less(f, V::splat(SQRT_HALF)));
        let g2 = g.mul(g);
        let tail = polynomial(g, &LN_POLY).mul(g).mul(g2);
        let tail = e.mul_add(V::splat(LN2_LO), tail);
        let tail = g2.neg_mul_add(V::splat(0.5), tail);
        e.mul_add(V::splat(LN2_HI), g.add(tail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wide::f32x8;

    /// Distance in ulps between an f32 and the f64 value it approximates.
    fn ulps(got: f32, exact: f64) -> f64 {
        let spacing = (exact as f32).abs();
        let ulp = f32::from_bits(spacing.to_bits() + 1) - spacing;
        (got as f64 - exact).abs() / ulp as f64
    }

    fn on_lanes(f: unsafe fn(f32x8) -> f32x8, x: f32) -> f32 {
        // SAFETY: the portable lanes run on every CPU.
        unsafe { f(f32x8::splat(x)) }.to_array()[0]
    }

    #[test]
    fn exp_is_within_two_ulps_and_flushes_below_the_normal_range() {
        let mut worst = 0.0f64;
        let mut x = 0.0f32;
        while x > EXP_MIN {
            let got = on_lanes(exp_nonpositive, x);
            worst = worst.max(ulps(got, libm::exp(x as f64)));
            x -= 0.000_73;
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
        assert_eq!(on_lanes(exp_nonpositive, 0.0), 1.0);
        for x in [EXP_MIN, -88.0, -104.0, -1e30, f32::NEG_INFINITY] {
            assert_eq!(on_lanes(exp_nonpositive, x), 0.0, "exp({x})");
        }
        assert!(on_lanes(exp_nonpositive, -87.329_99) >= f32::MIN_POSITIVE);
    }

    #[test]
    fn ln_is_within_two_ulps() {
        let mut worst = 0.0f64;
        let mut x = f32::MIN_POSITIVE;
        while x < 1e30 {
            let got = on_lanes(ln_normal, x);
            let exact = libm::log(x as f64);
            // Near 1 the result is tiny; measure absolute error there in ulps of 1.
            let error = if exact.abs() < 0.5 {
                (got as f64 - exact).abs() / f32::EPSILON as f64
            } else {
                ulps(got, exact)
            };
            worst = worst.max(error);
            x *= 1.000_37;
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
        assert_eq!(on_lanes(ln_normal, 1.0), 0.0);
    }
}
