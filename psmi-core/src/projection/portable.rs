//! Portable micro-kernel: 6 × 8 tiles in `wide::f32x8` registers.
//!
//! Six rows of one 8-lane vector take 12 of the 16 registers of SSE2 (where
//! `f32x8` is a pair of 4-lane vectors), leaving room for the panel row and
//! the broadcast; NEON and 256-bit targets have registers to spare.

use super::{MicroKernel, Tile};
use wide::f32x8;

/// The portable kernel set.
pub(super) struct Kernel;

const MR: usize = 6;
const NR: usize = 8;
const KC: usize = 256;

impl MicroKernel for Kernel {
    const MR: usize = MR;
    const NR: usize = NR;
    const KC: usize = KC;

    unsafe fn tile(tile: &Tile) {
        let mut acc = [f32x8::ZERO; MR];
        let (mut a, mut b) = (tile.a, tile.b);
        for _ in 0..tile.kc {
            // SAFETY: `b` runs over the kc × NR panel and `a` over the first
            // kc values of each of the MR rows (the caller's promise).
            let panel = f32x8::new(unsafe { b.cast::<[f32; NR]>().read_unaligned() });
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: as above.
                let x = f32x8::splat(unsafe { *a.add(r * KC) });
                *acc = x.mul_add(panel, *acc);
            }
            // SAFETY: one past the last value read at most (as above).
            unsafe {
                a = a.add(1);
                b = b.add(NR);
            }
        }
        for (r, acc) in acc.iter().enumerate().take(tile.rows) {
            // SAFETY: row r < rows of the tile, columns < cols, lie in Z.
            let row =
                unsafe { core::slice::from_raw_parts_mut(tile.c.add(r * tile.ldc), tile.cols) };
            let values = acc.to_array();
            if tile.accumulate {
                for (z, v) in row.iter_mut().zip(values) {
                    *z += v;
                }
            } else {
                row.copy_from_slice(&values[..tile.cols]);
            }
        }
    }
}
