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
    dots(a, [b])[0]
}

/// [`dot`] of `a` with each of `bs`, each sum exactly as `dot` forms it (over
/// the common length), in one pass over `a`: the R sums are independent
/// chains of additions, which the CPU overlaps.
#[inline(always)]
pub(crate) fn dots<T, const R: usize>(a: &[T], bs: [&[T]; R]) -> [T; R]
where
    T: Copy + Default + Add<Output = T> + Mul<Output = T>,
{
    let len = bs.iter().fold(a.len(), |len, b| len.min(b.len()));
    let (a8, a_rest) = a[..len].as_chunks::<8>();
    let b8: [(&[[T; 8]], &[T]); R] = core::array::from_fn(|r| bs[r][..len].as_chunks::<8>());
    let mut acc = [[T::default(); 8]; R];
    for (i, x) in a8.iter().enumerate() {
        for (acc, (b, _)) in acc.iter_mut().zip(&b8) {
            let y = &b[i];
            for l in 0..8 {
                acc[l] = acc[l] + x[l] * y[l];
            }
        }
    }
    core::array::from_fn(|r| {
        let acc = &acc[r];
        let mut sum =
            ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
        for (x, y) in a_rest.iter().zip(b8[r].1) {
            sum = sum + *x * *y;
        }
        sum
    })
}
