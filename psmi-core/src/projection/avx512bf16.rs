//! AVX512-BF16 micro-kernel: 14 × 32 tiles of bf16 dot products.
//!
//! The tile of the AVX-512 kernel (28 accumulators, two panel vectors and
//! one broadcast in 31 of the 32 zmm registers), with `vdpbf16ps` in place
//! of `vfmadd231ps`: each step takes a pair of coordinates, a 32-bit word of
//! two bf16 values, so it does twice the work of an FMA step at the same
//! instruction rate on the CPUs that have it (Zen 4 and 5, Cooper Lake,
//! Sapphire Rapids). Rows of X and panels take half the bytes of f32, so
//! blocks from the same cache sizes are twice as long; 512 coordinates is
//! the longest block (and the row stride, 256 words).

use super::avx512::{store_tile, widen_bf16_avx512, widen_f16c, MR, NR};
use super::{MicroKernel, Tile};
use core::arch::x86_64::*;

/// The AVX512-BF16 kernel set.
pub(super) struct Kernel;

const KC: usize = 512;
/// Row stride of packed X, in words of two coordinates: a block and one
/// cache line, so the 14 rows fall in different sets of the L1 cache.
const STRIDE: usize = KC / 2 + 16;

impl MicroKernel for Kernel {
    const MR: usize = MR;
    const NR: usize = NR;
    const KC: usize = KC;
    const PER_SLOT: usize = 2;
    const STRIDE: usize = STRIDE;

    unsafe fn widen_f16(src: &[u16], out: &mut [f32]) {
        // SAFETY: the caller's promise covers the CPU features (AVX-512 with F16C).
        unsafe { widen_f16c(src, out) }
    }

    unsafe fn widen_bf16(src: &[u16], out: &mut [f32]) {
        // SAFETY: the caller's promise covers the CPU features.
        unsafe { widen_bf16_avx512(src, out) }
    }

    unsafe fn tile(tile: &Tile) {
        // SAFETY: the caller's promise covers the CPU features and pointers.
        unsafe { tile_bf16(tile) }
    }

    unsafe fn pair_rounded(values: &[f32], slots: &mut [f32]) {
        // SAFETY: the caller's promise covers the CPU features (the AVX-512
        // set this kernel extends includes AVX512BW).
        unsafe { pair_rounded_avx512(values, slots) }
    }
}

/// Word `j` is `2j + 1`: the high half of value `j` of the 32 in a pair of
/// vectors, where a rounded value's bf16 bits lie.
const HIGH_WORDS: [u16; 32] = {
    let mut words = [0; 32];
    let mut j = 0;
    while j < 32 {
        words[j] = 2 * j as u16 + 1;
        j += 1;
    }
    words
};

/// Rounds 32 values at a time to bf16 as [`super::f32_to_bf16`] does, in
/// the integers (`vcvtne2ps2bf16` would flush subnormals to zero), then
/// gathers their high halves into 16 slots; the rest as the scalar path.
///
/// # Safety
///
/// The CPU supports AVX-512F and AVX512BW.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn pair_rounded_avx512(values: &[f32], slots: &mut [f32]) {
    let (one, half, magnitude, infinity, quiet) = (
        _mm512_set1_epi32(1),
        _mm512_set1_epi32(0x7FFF),
        _mm512_set1_epi32(0x7FFF_FFFF),
        _mm512_set1_epi32(0x7F80_0000),
        _mm512_set1_epi32(0x0040_0000),
    );
    let round = |bits: __m512i| {
        let odd = _mm512_and_si512(_mm512_srli_epi32::<16>(bits), one);
        let rounded = _mm512_add_epi32(_mm512_add_epi32(bits, half), odd);
        let nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(bits, magnitude), infinity);
        _mm512_mask_or_epi32(rounded, nan, bits, quiet)
    };
    // SAFETY: HIGH_WORDS holds 64 bytes; an unaligned load.
    let high_words = unsafe { _mm512_loadu_si512(HIGH_WORDS.as_ptr().cast()) };
    let value_chunks = values.chunks_exact(32);
    let rest = value_chunks.remainder();
    // 31 values left take 16 slots: the slots left are counted from the values.
    let (whole, rest_slots) = slots.split_at_mut(16 * (values.len() / 32));
    for (v, s) in value_chunks.zip(whole.chunks_exact_mut(16)) {
        // SAFETY: `v` holds 32 values and `s` 16 slots; unaligned loads and store.
        unsafe {
            let low = round(_mm512_loadu_si512(v.as_ptr().cast()));
            let high = round(_mm512_loadu_si512(v.as_ptr().add(16).cast()));
            let pairs = _mm512_permutex2var_epi16(low, high_words, high);
            _mm512_storeu_si512(s.as_mut_ptr().cast(), pairs);
        }
    }
    super::pair_each(rest, rest_slots);
}

/// # Safety
///
/// As [`MicroKernel::tile`], on a CPU with AVX-512F and AVX512-BF16; the
/// packed values are pairs of bf16.
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn tile_bf16(tile: &Tile) {
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    let (a, b) = (tile.a.cast::<i32>(), tile.b.cast::<__m512i>());
    for k in 0..tile.kc {
        // SAFETY: `b` holds kc × NR words (two vectors per step) and `a`
        // the first kc words of each of the MR rows (the caller's promise).
        let (b0, b1) = unsafe {
            let panel = b.add(2 * k);
            (
                as_bf16(_mm512_loadu_si512(panel)),
                as_bf16(_mm512_loadu_si512(panel.add(1))),
            )
        };
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: as above; the broadcast word is one pair of row r.
            let x = as_bf16(_mm512_set1_epi32(unsafe { *a.add(r * STRIDE + k) }));
            acc[0] = _mm512_dpbf16_ps(acc[0], x, b0);
            acc[1] = _mm512_dpbf16_ps(acc[1], x, b1);
        }
    }
    // SAFETY: the caller's promise covers the CPU features and `tile.c`.
    unsafe { store_tile(acc, tile) }
}

/// The 32 bf16 values held in the bits of `words`, pair `i` in word `i`.
#[inline(always)]
fn as_bf16(words: __m512i) -> __m512bh {
    // SAFETY: both types are 512 bits of plain data, every bit pattern valid.
    unsafe { core::mem::transmute::<__m512i, __m512bh>(words) }
}
