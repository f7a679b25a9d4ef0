//! AVX-512 scoring kernel: 16 lanes of `__m512`, masked loads and stores
//! for a row's last vector.

use super::lanes::{Lanes, Pair, FREXP_BIAS, HALF_EXPONENT, MANTISSA};
use super::{kernel, ScoringTable};
use core::arch::x86_64::*;

/// The lanes below `len` (< 16), as a write mask.
#[inline(always)]
fn first_lanes(len: usize) -> __mmask16 {
    ((1u32 << len) - 1) as __mmask16
}

impl Lanes for __m512 {
    const LANES: usize = 16;

    #[inline(always)]
    unsafe fn splat(value: f32) -> Self {
        // SAFETY: the caller promises a CPU with AVX-512F.
        unsafe { _mm512_set1_ps(value) }
    }

    #[inline(always)]
    unsafe fn load(src: *const f32) -> Self {
        // SAFETY: the caller guarantees a CPU with AVX-512F, and 16 readable values.
        unsafe { _mm512_loadu_ps(src) }
    }

    #[inline(always)]
    unsafe fn load_partial(src: *const f32, len: usize) -> Self {
        // SAFETY: the caller guarantees a CPU with AVX-512F; masked-out lanes are neither read nor fault.
        unsafe { _mm512_maskz_loadu_ps(first_lanes(len), src) }
    }

    #[inline(always)]
    unsafe fn store(self, dst: *mut f32) {
        // SAFETY: the caller guarantees a CPU with AVX-512F, and 16 writable values.
        unsafe { _mm512_storeu_ps(dst, self) }
    }

    #[inline(always)]
    unsafe fn store_partial(self, dst: *mut f32, len: usize) {
        // SAFETY: the caller guarantees a CPU with AVX-512F; masked-out lanes are not written.
        unsafe { _mm512_mask_storeu_ps(dst, first_lanes(len), self) }
    }

    #[inline(always)]
    unsafe fn add(self, other: Self) -> Self {
        // SAFETY: the caller promises a CPU with AVX-512F.
        unsafe { _mm512_add_ps(self, other) }
    }

    #[inline(always)]
    unsafe fn sub(self, other: Self) -> Self {
        // SAFETY: the caller promises a CPU with AVX-512F.
        unsafe { _mm512_sub_ps(self, other) }
    }

    #[inline(always)]
    unsafe fn mul(self, other: Self) -> Self {
        // SAFETY: the caller promises a CPU with AVX-512F.
        unsafe { _mm512_mul_ps(self, other) }
    }

    #[inline(always)]
    unsafe fn mul_add(self, a: Self, b: Self) -> Self {
        // SAFETY: the caller promises a CPU with AVX-512F.
        unsafe { _mm512_fmadd_ps(self, a, b) }
    }

    #[inline(always)]
    unsafe fn neg_mul_add(self, a: Self, b: Self) -> Self {
        // SAFETY: the caller promises a CPU with AVX-512F.
        unsafe { _mm512_fnmadd_ps(self, a, b) }
    }

    #[inline(always)]
    unsafe fn max(self, other: Self) -> Self {
        // SAFETY: the caller promises a CPU with AVX-512F.
        unsafe { _mm512_max_ps(self, other) }
    }

    #[inline(always)]
    unsafe fn keep_where_less(self, a: Self, b: Self) -> Self {
        // SAFETY: the caller promises a CPU with AVX-512F.
        unsafe { _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, b), self) }
    }

    #[inline(always)]
    unsafe fn exp2_from_magic(self) -> Self {
        // SAFETY: the caller promises a CPU with AVX-512F.
        unsafe { _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_castps_si512(self))) }
    }

    #[inline(always)]
    unsafe fn frexp(self) -> (Self, Self) {
        // SAFETY: the caller promises a CPU with AVX-512F.
        unsafe {
            let bits = _mm512_castps_si512(self);
            let fraction = _mm512_or_si512(
                _mm512_and_si512(bits, _mm512_set1_epi32(MANTISSA)),
                _mm512_set1_epi32(HALF_EXPONENT),
            );
            let exponent =
                _mm512_sub_epi32(_mm512_srli_epi32::<23>(bits), _mm512_set1_epi32(FREXP_BIAS));
            (_mm512_castsi512_ps(fraction), _mm512_cvtepi32_ps(exponent))
        }
    }
}

/// # Safety
///
/// The CPU must support AVX-512 F, VL, DQ and BW, and FMA.
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,fma")]
pub(super) unsafe fn score_rows(table: &ScoringTable<'_>, labels: &[u32], values: &mut [f32]) {
    // SAFETY: the caller's promise covers the CPU.
    unsafe { kernel::score_rows::<Pair<__m512>>(table, labels, values) };
}

/// # Safety
///
/// The CPU must support AVX-512 F, VL, DQ and BW, and FMA. `label` < k and `first + span.len()` ≤ m.
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,fma")]
pub(super) unsafe fn score_span(
    table: &ScoringTable<'_>,
    label: usize,
    first: usize,
    span: &mut [f32],
) {
    // SAFETY: the caller's promise covers the CPU, the label and the span.
    unsafe { kernel::score_span::<Pair<__m512>>(table, label, first, span) };
}
