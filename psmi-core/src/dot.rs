//! The dot product the frames' Householder steps (f64) and the streaming
//! scorer (f32) share.

use core::ops::{Add, Mul};

/// Σ a_t b_t with eight independent partial sums, combined in a fixed order:
/// the compiler may vectorise it, and the result does not depend on how wide
/// the vectors are (so every instruction set gives the same bits).
#[inline(always)]
pub(crate) fn dot<T>(a: &[T], b: &[T]) -> T
where
    T: Copy + Default + Add<Output = T> + Mul<Output = T>,
{
    let mut acc = [T::default(); 8];
    let (a8, a_rest) = a.as_chunks::<8>();
    let (b8, b_rest) = b.as_chunks::<8>();
    for (x, y) in a8.iter().zip(b8) {
        for l in 0..8 {
            acc[l] = acc[l] + x[l] * y[l];
        }
    }
    let mut sum = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    for (x, y) in a_rest.iter().zip(b_rest) {
        sum = sum + *x * *y;
    }
    sum
}
