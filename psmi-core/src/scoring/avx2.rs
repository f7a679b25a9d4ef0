//! AVX2+FMA scoring kernel: 8 lanes of `__m256`.

use super::lanes::{Lanes, Pair, FREXP_BIAS, HALF_EXPONENT, MANTISSA};
use super::{kernel, ScoringTable};
use core::arch::x86_64::*;

/// The lanes below `len`, as a mask for `vmaskmovps`.
///
/// # Safety
///
/// The CPU supports AVX2.
#[inline(always)]
unsafe fn first_lanes(len: usize) -> __m256i {
    // SAFETY: the caller promises a CPU with AVX2.
    unsafe {
        _mm256_cmpgt_epi32(
            _mm256_set1_epi32(len as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        )
    }
}

impl Lanes for __m256 {
    const LANES: usize = 8;

    #[inline(always)]
    unsafe fn splat(value: f32) -> Self {
        // SAFETY: the caller promises a CPU with AVX2 and FMA.
        unsafe { _mm256_set1_ps(value) }
    }

    #[inline(always)]
    unsafe fn load(src: *const f32) -> Self {
        // SAFETY: the caller guarantees a CPU with AVX2 and FMA, and 8 readable values.
        unsafe { _mm256_loadu_ps(src) }
    }

    #[inline(always)]
    unsafe fn load_partial(src: *const f32, len: usize) -> Self {
        // SAFETY: the caller guarantees a CPU with AVX2 and FMA; masked-out lanes are neither read nor fault.
        unsafe { _mm256_maskload_ps(src, first_lanes(len)) }
    }

    #[inline(always)]
    unsafe fn store(self, dst: *mut f32) {
        // SAFETY: the caller guarantees a CPU with AVX2 and FMA, and 8 writable values.
        unsafe { _mm256_storeu_ps(dst, self) }
    }

    #[inline(always)]
    unsafe fn store_partial(self, dst: *mut f32, len: usize) {
        // SAFETY: the caller guarantees a CPU with AVX2 and FMA; masked-out lanes are not written.
        unsafe { _mm256_maskstore_ps(dst, first_lanes(len), self) }
    }

    #[inline(always)]
    unsafe fn add(self, other: Self) -> Self {
        // SAFETY: the caller promises a CPU with AVX2 and FMA.
        unsafe { _mm256_add_ps(self, other) }
    }

    #[inline(always)]
    unsafe fn sub(self, other: Self) -> Self {
        // SAFETY: the caller promises a CPU with AVX2 and FMA.
        unsafe { _mm256_sub_ps(self, other) }
    }

    #[inline(always)]
    unsafe fn mul(self, other: Self) -> Self {
        // SAFETY: the caller promises a CPU with AVX2 and FMA.
        unsafe { _mm256_mul_ps(self, other) }
    }

    #[inline(always)]
    unsafe fn mul_add(self, a: Self, b: Self) -> Self {
        // SAFETY: the caller promises a CPU with AVX2 and FMA.
        unsafe { _mm256_fmadd_ps(self, a, b) }
    }

    #[inline(always)]
    unsafe fn neg_mul_add(self, a: Self, b: Self) -> Self {
        // SAFETY: the caller promises a CPU with AVX2 and FMA.
        unsafe { _mm256_fnmadd_ps(self, a, b) }
    }

    #[inline(always)]
    unsafe fn max(self, other: Self) -> Self {
        // SAFETY: the caller promises a CPU with AVX2 and FMA.
        unsafe { _mm256_max_ps(self, other) }
    }

    #[inline(always)]
    unsafe fn keep_where_less(self, a: Self, b: Self) -> Self {
        // SAFETY: the caller promises a CPU with AVX2 and FMA.
        unsafe { _mm256_and_ps(self, _mm256_cmp_ps::<_CMP_LT_OQ>(a, b)) }
    }

    #[inline(always)]
    unsafe fn exp2_from_magic(self) -> Self {
        // SAFETY: the caller promises a CPU with AVX2 and FMA.
        unsafe { _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_castps_si256(self))) }
    }

    #[inline(always)]
    unsafe fn frexp(self) -> (Self, Self) {
        // SAFETY: the caller promises a CPU with AVX2 and FMA.
        unsafe {
            let bits = _mm256_castps_si256(self);
            let fraction = _mm256_or_si256(
                _mm256_and_si256(bits, _mm256_set1_epi32(MANTISSA)),
                _mm256_set1_epi32(HALF_EXPONENT),
            );
            let exponent =
                _mm256_sub_epi32(_mm256_srli_epi32::<23>(bits), _mm256_set1_epi32(FREXP_BIAS));
            (_mm256_castsi256_ps(fraction), _mm256_cvtepi32_ps(exponent))
        }
    }
}

/// # Safety
///
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn score_rows(table: &ScoringTable<'_>, labels: &[u32], values: &mut [f32]) {
    // SAFETY: the caller's promise covers the CPU.
    unsafe { kernel::score_rows::<Pair<__m256>>(table, labels, values) };
}

/// # Safety
///
/// The CPU must support AVX2 and FMA. `label` < k and `first + span.len()` ≤ m.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn score_span(
    table: &ScoringTable<'_>,
    label: usize,
    first: usize,
    span: &mut [f32],
) {
    // SAFETY: the caller's promise covers the CPU, the label and the span.
    unsafe { kernel::score_span::<Pair<__m256>>(table, label, first, span) };
}
