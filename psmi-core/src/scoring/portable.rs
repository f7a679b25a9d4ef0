//! Portable scoring kernel: the `wide` crate's 8-lane f32 vectors, which
//! lower to whatever SIMD the compile-time target offers.

use super::lanes::{Lanes, Pair, FREXP_BIAS, HALF_EXPONENT, MANTISSA};
use super::{kernel, ScoringTable};
use wide::{f32x8, i32x8};

impl Lanes for f32x8 {
    const LANES: usize = 8;

    #[inline(always)]
    unsafe fn splat(value: f32) -> Self {
        f32x8::splat(value)
    }

    #[inline(always)]
    unsafe fn load(src: *const f32) -> Self {
        // SAFETY: the caller guarantees 8 readable values; f32x8 is plain data.
        unsafe { src.cast::<f32x8>().read_unaligned() }
    }

    #[inline(always)]
    unsafe fn load_partial(src: *const f32, len: usize) -> Self {
        let mut lanes = [0.0f32; 8];
        // SAFETY: the caller guarantees `len` (< 8) readable values.
        unsafe { core::ptr::copy_nonoverlapping(src, lanes.as_mut_ptr(), len) };
        f32x8::from(lanes)
    }

    #[inline(always)]
    unsafe fn store(self, dst: *mut f32) {
        // SAFETY: the caller guarantees 8 writable values.
        unsafe { dst.cast::<f32x8>().write_unaligned(self) }
    }

    #[inline(always)]
    unsafe fn store_partial(self, dst: *mut f32, len: usize) {
        // SAFETY: the caller guarantees `len` (< 8) writable values.
        unsafe { core::ptr::copy_nonoverlapping(self.to_array().as_ptr(), dst, len) };
    }

    #[inline(always)]
    unsafe fn add(self, other: Self) -> Self {
        self + other
    }

    #[inline(always)]
    unsafe fn sub(self, other: Self) -> Self {
        self - other
    }

    #[inline(always)]
    unsafe fn mul(self, other: Self) -> Self {
        self * other
    }

    #[inline(always)]
    unsafe fn mul_add(self, a: Self, b: Self) -> Self {
        f32x8::mul_add(self, a, b)
    }

    #[inline(always)]
    unsafe fn neg_mul_add(self, a: Self, b: Self) -> Self {
        f32x8::mul_neg_add(self, a, b)
    }

    #[inline(always)]
    unsafe fn max(self, other: Self) -> Self {
        self.fast_max(other)
    }

    #[inline(always)]
    unsafe fn keep_where_less(self, a: Self, b: Self) -> Self {
        self & a.simd_lt(b)
    }

    #[inline(always)]
    unsafe fn exp2_from_magic(self) -> Self {
        let bits: i32x8 = wide::bytemuck::cast(self);
        wide::bytemuck::cast(bits << 23_i32)
    }

    #[inline(always)]
    unsafe fn frexp(self) -> (Self, Self) {
        let bits: i32x8 = wide::bytemuck::cast(self);
        let fraction =
            wide::bytemuck::cast((bits & i32x8::splat(MANTISSA)) | i32x8::splat(HALF_EXPONENT));
        let exponent = ((bits >> 23_i32) - i32x8::splat(FREXP_BIAS)).round_float();
        (fraction, exponent)
    }
}

pub(super) fn score_rows(table: &ScoringTable<'_>, labels: &[u32], values: &mut [f32]) {
    // SAFETY: the portable lanes run on every CPU.
    unsafe { kernel::score_rows::<Pair<f32x8>>(table, labels, values) };
}

/// # Safety
///
/// `label` < k and `first + span.len()` ≤ m.
pub(super) unsafe fn score_span(
    table: &ScoringTable<'_>,
    label: usize,
    first: usize,
    span: &mut [f32],
) {
    // SAFETY: the portable lanes run on every CPU; the caller promises the
    // label and the span.
    unsafe { kernel::score_span::<Pair<f32x8>>(table, label, first, span) };
}
