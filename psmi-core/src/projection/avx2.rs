//! AVX2 + FMA micro-kernel: 6 × 16 tiles in twelve 8-lane registers.
//!
//! Twelve accumulators, two panel vectors and one broadcast fill the 16 ymm
//! registers; each coordinate step issues 12 FMAs against 2 + 6 loads, within
//! the two load ports while the two FMA ports stay busy. Blocks as for
//! AVX-512: up to 6 × 256 rows of X (6 KiB) in L1, a slice of directions
//! in half of L2.

use super::{MicroKernel, Tile};
use core::arch::x86_64::*;

/// The AVX2 + FMA kernel set.
pub(super) struct Kernel;

const MR: usize = 6;
const NR: usize = 16;
const KC: usize = 256;

impl MicroKernel for Kernel {
    const MR: usize = MR;
    const NR: usize = NR;
    const KC: usize = KC;

    unsafe fn tile(tile: &Tile) {
        // SAFETY: the caller's promise covers the CPU features and pointers.
        unsafe { tile_avx2(tile) }
    }

    unsafe fn widen_f16(src: &[u16], out: &mut [f32]) {
        // SAFETY: the caller's promise covers the CPU features.
        unsafe { widen_f16c(src, out) }
    }

    unsafe fn widen_bf16(src: &[u16], out: &mut [f32]) {
        // SAFETY: the caller's promise covers the CPU features.
        unsafe { widen_bf16_avx2(src, out) }
    }
}

/// bf16 to f32, eight at a time: zero-extend, quiet the NaNs (magnitude
/// above 0x7F80: set bit 6), shift into the upper half; the tail one by one.
///
/// # Safety
///
/// The CPU supports AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn widen_bf16_avx2(src: &[u16], out: &mut [f32]) {
    let mut src_chunks = src.chunks_exact(8);
    let mut out_chunks = out.chunks_exact_mut(8);
    let (magnitude, infinity, quiet) = (
        _mm256_set1_epi32(0x7FFF),
        _mm256_set1_epi32(0x7F80),
        _mm256_set1_epi32(0x0040),
    );
    for (s, o) in (&mut src_chunks).zip(&mut out_chunks) {
        // SAFETY: both chunks hold eight elements; unaligned loads and stores.
        unsafe {
            let wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(s.as_ptr().cast()));
            // Below 0x8000, so the signed comparison is the unsigned one.
            let nan = _mm256_cmpgt_epi32(_mm256_and_si256(wide, magnitude), infinity);
            let wide = _mm256_or_si256(wide, _mm256_and_si256(nan, quiet));
            let bits = _mm256_slli_epi32::<16>(wide);
            _mm256_storeu_ps(o.as_mut_ptr(), _mm256_castsi256_ps(bits));
        }
    }
    let (src, out) = (src_chunks.remainder(), out_chunks.into_remainder());
    out.iter_mut()
        .zip(src)
        .for_each(|(o, &h)| *o = super::bf16_to_f32(h));
}

/// F16C conversion, eight halves at a time; the tail one by one.
///
/// # Safety
///
/// The CPU supports F16C and AVX.
#[target_feature(enable = "avx2,f16c")]
pub(super) unsafe fn widen_f16c(src: &[u16], out: &mut [f32]) {
    let mut src_chunks = src.chunks_exact(8);
    let mut out_chunks = out.chunks_exact_mut(8);
    for (s, o) in (&mut src_chunks).zip(&mut out_chunks) {
        // SAFETY: both chunks hold eight elements; unaligned loads and stores.
        unsafe {
            let halves = _mm_loadu_si128(s.as_ptr().cast());
            _mm256_storeu_ps(o.as_mut_ptr(), _mm256_cvtph_ps(halves));
        }
    }
    let (src, out) = (src_chunks.remainder(), out_chunks.into_remainder());
    for (o, &h) in out.iter_mut().zip(src) {
        // SAFETY: as above, one half in the low lane.
        *o = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(h))));
    }
}

/// # Safety
///
/// As [`MicroKernel::tile`], on a CPU with AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2(tile: &Tile) {
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    let (mut a, mut b) = (tile.a, tile.b);
    for _ in 0..tile.kc {
        // SAFETY: `b` runs over the kc × NR panel and `a` over the first kc
        // values of each of the MR rows (the caller's promise).
        let (b0, b1) = unsafe { (_mm256_loadu_ps(b), _mm256_loadu_ps(b.add(8))) };
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: as above.
            let x = _mm256_set1_ps(unsafe { *a.add(r * KC) });
            acc[0] = _mm256_fmadd_ps(x, b0, acc[0]);
            acc[1] = _mm256_fmadd_ps(x, b1, acc[1]);
        }
        // SAFETY: one past the last value read at most (as above).
        unsafe {
            a = a.add(1);
            b = b.add(NR);
        }
    }
    let cols = tile.cols as i32;
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mask0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols), lane);
    let mask1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols - 8), lane);
    for (r, acc) in acc.iter().enumerate().take(tile.rows) {
        // SAFETY: row r < rows of the tile lies in Z, and so do its first
        // `cols` values, the only ones the masks let through.
        unsafe {
            let c = tile.c.add(r * tile.ldc);
            let (mut v0, mut v1) = (acc[0], acc[1]);
            if tile.accumulate {
                v0 = _mm256_add_ps(v0, _mm256_maskload_ps(c, mask0));
                v1 = _mm256_add_ps(v1, _mm256_maskload_ps(c.add(8), mask1));
            }
            _mm256_maskstore_ps(c, mask0, v0);
            _mm256_maskstore_ps(c.add(8), mask1, v1);
        }
    }
}
