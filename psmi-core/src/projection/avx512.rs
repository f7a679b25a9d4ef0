//! AVX-512 micro-kernel: 14 × 32 tiles in twenty-eight 16-lane registers.
//!
//! Twenty-eight accumulators, two panel vectors and one broadcast use 31 of
//! the 32 zmm registers. Each coordinate step issues 28 FMAs (14 cycles on
//! the two FMA ports) against 2 + 14 loads (8 cycles on the two load ports);
//! 12 rows measured slower. Blocks (from the cache sizes, in `mod.rs`): with
//! a 48 KiB L1, the 14 × 256 rows of X (14 KiB) stay in it while the 32 KiB
//! panels stream from L2. KC = 128 measured slower (twice the passes over
//! Z), KC = 384 no better, so 256 is also the row stride and the longest block.

use super::{MicroKernel, Tile};
use core::arch::x86_64::*;

/// The AVX-512 kernel set.
pub(super) struct Kernel;

/// Rows of a tile (shared with the bf16 dot-product kernel).
pub(super) const MR: usize = 14;
/// Directions of a tile (shared with the bf16 dot-product kernel).
pub(super) const NR: usize = 32;
const KC: usize = 256;
/// Row stride of packed X: a block and one cache line, 1088 bytes, so the
/// 14 rows fall in 14 different sets of an L1 cache whose ways span 4 KiB
/// (Zen 4 and 5, Intel since Skylake); at a stride of 1 KiB every fourth row
/// shares a set, and with the streaming panel they overflow Zen 4's 8 ways.
const STRIDE: usize = KC + 16;

impl MicroKernel for Kernel {
    const MR: usize = MR;
    const NR: usize = NR;
    const KC: usize = KC;
    const STRIDE: usize = STRIDE;

    unsafe fn widen_f16(src: &[u16], out: &mut [f32]) {
        // SAFETY: the caller's promise covers the CPU features.
        unsafe { widen_f16c(src, out) }
    }

    unsafe fn widen_bf16(src: &[u16], out: &mut [f32]) {
        // SAFETY: the caller's promise covers the CPU features.
        unsafe { widen_bf16_avx512(src, out) }
    }

    unsafe fn tile(tile: &Tile) {
        // SAFETY: the caller's promise covers the CPU features and pointers.
        unsafe { tile_avx512(tile) }
    }
}

/// # Safety
///
/// As [`MicroKernel::tile`], on a CPU with AVX-512F and FMA.
#[target_feature(enable = "avx512f,fma")]
unsafe fn tile_avx512(tile: &Tile) {
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    let (mut a, mut b) = (tile.a, tile.b);
    // One coordinate step: a row of the panel against a column of X.
    let step = |acc: &mut [[__m512; 2]; MR], a: *const f32, b: *const f32| {
        // SAFETY: `b` runs over the kc × NR panel and `a` over the first kc
        // values of each of the MR rows (the caller's promise).
        let (b0, b1) = unsafe { (_mm512_loadu_ps(b), _mm512_loadu_ps(b.add(16))) };
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: as above.
            let x = _mm512_set1_ps(unsafe { *a.add(r * STRIDE) });
            acc[0] = _mm512_fmadd_ps(x, b0, acc[0]);
            acc[1] = _mm512_fmadd_ps(x, b1, acc[1]);
        }
    };
    for _ in 0..tile.kc / 2 {
        step(&mut acc, a, b);
        step(&mut acc, a.wrapping_add(1), b.wrapping_add(NR));
        a = a.wrapping_add(2);
        b = b.wrapping_add(2 * NR);
    }
    if tile.kc % 2 == 1 {
        step(&mut acc, a, b);
    }
    // SAFETY: the caller's promise covers the CPU features and `tile.c`.
    unsafe { store_tile(acc, tile) }
}

/// Writes (or with `tile.accumulate`, adds) the `rows × cols` of `acc` that
/// lie in Z at `tile.c`.
///
/// The accumulators come by value, so the kernels never take their array's
/// address: lent by reference, the compiler stored all 28 registers to the
/// stack after every step of the loop, a store per FMA.
///
/// # Safety
///
/// The CPU supports AVX-512F; `tile.c` is writable (and readable) at
/// `r·ldc + j` for every `r < rows`, `j < cols`.
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn store_tile(acc: [[__m512; 2]; MR], tile: &Tile) {
    let mask = |cols: usize| -> __mmask16 { ((1u32 << cols.min(16)) - 1) as __mmask16 };
    let (mask0, mask1) = (mask(tile.cols), mask(tile.cols.saturating_sub(16)));
    for (r, acc) in acc.iter().enumerate().take(tile.rows) {
        // SAFETY: row r < rows of the tile lies in Z, and so do its first
        // `cols` values, the only ones the masks let through.
        unsafe {
            let c = tile.c.add(r * tile.ldc);
            let (mut v0, mut v1) = (acc[0], acc[1]);
            if tile.accumulate {
                v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(mask0, c));
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(mask1, c.add(16)));
            }
            _mm512_mask_storeu_ps(c, mask0, v0);
            _mm512_mask_storeu_ps(c.add(16), mask1, v1);
        }
    }
}

/// F16C conversion, sixteen halves at a time; the tail as AVX2 does.
///
/// # Safety
///
/// The CPU supports AVX-512F and F16C.
#[target_feature(enable = "avx512f,avx2,f16c")]
pub(super) unsafe fn widen_f16c(src: &[u16], out: &mut [f32]) {
    let mut src_chunks = src.chunks_exact(16);
    let mut out_chunks = out.chunks_exact_mut(16);
    for (s, o) in (&mut src_chunks).zip(&mut out_chunks) {
        // SAFETY: both chunks hold sixteen elements; unaligned loads and stores.
        unsafe {
            let halves = _mm256_loadu_si256(s.as_ptr().cast());
            _mm512_storeu_ps(o.as_mut_ptr(), _mm512_cvtph_ps(halves));
        }
    }
    // SAFETY: AVX2 and F16C are enabled here.
    unsafe { super::avx2::widen_f16c(src_chunks.remainder(), out_chunks.into_remainder()) }
}

/// bf16 to f32, sixteen at a time, as the AVX2 version does; the tail by AVX2.
///
/// # Safety
///
/// The CPU supports AVX-512F and AVX2.
#[target_feature(enable = "avx512f,avx2")]
pub(super) unsafe fn widen_bf16_avx512(src: &[u16], out: &mut [f32]) {
    let mut src_chunks = src.chunks_exact(16);
    let mut out_chunks = out.chunks_exact_mut(16);
    let (magnitude, infinity, quiet) = (
        _mm512_set1_epi32(0x7FFF),
        _mm512_set1_epi32(0x7F80),
        _mm512_set1_epi32(0x0040),
    );
    for (s, o) in (&mut src_chunks).zip(&mut out_chunks) {
        // SAFETY: both chunks hold sixteen elements; unaligned loads and stores.
        unsafe {
            let wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(s.as_ptr().cast()));
            let nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(wide, magnitude), infinity);
            let wide = _mm512_mask_or_epi32(wide, nan, wide, quiet);
            let bits = _mm512_slli_epi32::<16>(wide);
            _mm512_storeu_ps(o.as_mut_ptr(), _mm512_castsi512_ps(bits));
        }
    }
    // SAFETY: AVX2 is enabled here.
    unsafe { super::avx2::widen_bf16_avx2(src_chunks.remainder(), out_chunks.into_remainder()) }
}
