//! The vector operations the scoring kernel is written in, one implementation
//! per instruction set.
//!
//! The kernel and its exp and ln ([`super::math`]) are generic over [`Lanes`]
//! and `#[inline(always)]`, so each instruction set's entry point (a
//! `#[target_feature]` function for the x86 sets) compiles them into one body
//! with its own instructions. Every implementation performs the same IEEE
//! operations in the same order; only the portable one may round a
//! multiply-add twice (where the target lacks FMA).

/// A vector of `LANES` f32 values.
///
/// # Safety
///
/// Each implementation runs the instructions of one set without checking
/// the CPU, so every method is unsafe to call: the caller promises that the
/// CPU supports the implementation's set (none for the portable one). The
/// kernel's entry points (`kernel::score_rows`, `kernel::score_span`) carry
/// that promise from the `#[target_feature]` functions of each set.
pub(super) trait Lanes: Copy {
    /// Number of f32 lanes.
    const LANES: usize;

    /// Every lane set to `value`.
    unsafe fn splat(value: f32) -> Self;

    /// Loads `LANES` values.
    ///
    /// # Safety
    ///
    /// `src` must be valid for reading `LANES` f32 values.
    unsafe fn load(src: *const f32) -> Self;

    /// Loads `len ≤ LANES` values; the other lanes are 0.
    ///
    /// # Safety
    ///
    /// `src` must be valid for reading `len` f32 values.
    unsafe fn load_partial(src: *const f32, len: usize) -> Self;

    /// Stores `LANES` values.
    ///
    /// # Safety
    ///
    /// `dst` must be valid for writing `LANES` f32 values.
    unsafe fn store(self, dst: *mut f32);

    /// Stores the first `len ≤ LANES` lanes.
    ///
    /// # Safety
    ///
    /// `dst` must be valid for writing `len` f32 values.
    unsafe fn store_partial(self, dst: *mut f32, len: usize);

    /// `self + other`.
    unsafe fn add(self, other: Self) -> Self;

    /// `self − other`.
    unsafe fn sub(self, other: Self) -> Self;

    /// `self · other`.
    unsafe fn mul(self, other: Self) -> Self;

    /// `self · a + b`.
    unsafe fn mul_add(self, a: Self, b: Self) -> Self;

    /// `b − self · a`.
    unsafe fn neg_mul_add(self, a: Self, b: Self) -> Self;

    /// Lane-wise maximum (inputs are never NaN here).
    unsafe fn max(self, other: Self) -> Self;

    /// `self` where `a < b`, 0 elsewhere.
    unsafe fn keep_where_less(self, a: Self, b: Self) -> Self;

    /// 2^n from `self` = n + [`MAGIC_2POW`] for an integer n in [−126, 127]:
    /// the low bits of that float's representation hold n + 127, which
    /// shifted into the exponent field give 2^n exactly.
    unsafe fn exp2_from_magic(self) -> Self;

    /// (f, e) with `self` = f · 2^e, f in [0.5, 1), e an integer as f32;
    /// `self` must be positive, finite and normal.
    unsafe fn frexp(self) -> (Self, Self);
}

/// Two vectors used as one of twice the width.
///
/// A vector's log-sum-exp is a long chain of dependent operations (the
/// maximum, each exponential, the sum, the logarithm), longer than the
/// reorder buffer can hide; interleaving two independent chains keeps the
/// vector units busy.
#[derive(Clone, Copy)]
pub(super) struct Pair<V>(V, V);

impl<V: Lanes> Lanes for Pair<V> {
    const LANES: usize = 2 * V::LANES;

    #[inline(always)]
    unsafe fn splat(value: f32) -> Self {
        // SAFETY: the caller's promise (a CPU with V's set) covers both halves.
        unsafe { Pair(V::splat(value), V::splat(value)) }
    }

    #[inline(always)]
    unsafe fn load(src: *const f32) -> Self {
        // SAFETY: the caller guarantees 2 · V::LANES readable values.
        unsafe { Pair(V::load(src), V::load(src.add(V::LANES))) }
    }

    #[inline(always)]
    unsafe fn load_partial(src: *const f32, len: usize) -> Self {
        // SAFETY: each half reads only its share of the `len` readable values.
        unsafe {
            if len <= V::LANES {
                Pair(V::load_partial(src, len), V::splat(0.0))
            } else {
                let high = V::load_partial(src.add(V::LANES), len - V::LANES);
                Pair(V::load(src), high)
            }
        }
    }

    #[inline(always)]
    unsafe fn store(self, dst: *mut f32) {
        // SAFETY: the caller guarantees 2 · V::LANES writable values.
        unsafe {
            self.0.store(dst);
            self.1.store(dst.add(V::LANES));
        }
    }

    #[inline(always)]
    unsafe fn store_partial(self, dst: *mut f32, len: usize) {
        // SAFETY: each half writes only its share of the `len` writable values.
        unsafe {
            if len <= V::LANES {
                self.0.store_partial(dst, len);
            } else {
                self.0.store(dst);
                self.1.store_partial(dst.add(V::LANES), len - V::LANES);
            }
        }
    }

    #[inline(always)]
    unsafe fn add(self, other: Self) -> Self {
        // SAFETY: the caller's promise (a CPU with V's set) covers both halves.
        unsafe { Pair(self.0.add(other.0), self.1.add(other.1)) }
    }

    #[inline(always)]
    unsafe fn sub(self, other: Self) -> Self {
        // SAFETY: the caller's promise (a CPU with V's set) covers both halves.
        unsafe { Pair(self.0.sub(other.0), self.1.sub(other.1)) }
    }

    #[inline(always)]
    unsafe fn mul(self, other: Self) -> Self {
        // SAFETY: the caller's promise (a CPU with V's set) covers both halves.
        unsafe { Pair(self.0.mul(other.0), self.1.mul(other.1)) }
    }

    #[inline(always)]
    unsafe fn mul_add(self, a: Self, b: Self) -> Self {
        // SAFETY: the caller's promise (a CPU with V's set) covers both halves.
        unsafe { Pair(self.0.mul_add(a.0, b.0), self.1.mul_add(a.1, b.1)) }
    }

    #[inline(always)]
    unsafe fn neg_mul_add(self, a: Self, b: Self) -> Self {
        // SAFETY: the caller's promise (a CPU with V's set) covers both halves.
        unsafe { Pair(self.0.neg_mul_add(a.0, b.0), self.1.neg_mul_add(a.1, b.1)) }
    }

    #[inline(always)]
    unsafe fn max(self, other: Self) -> Self {
        // SAFETY: the caller's promise (a CPU with V's set) covers both halves.
        unsafe { Pair(self.0.max(other.0), self.1.max(other.1)) }
    }

    #[inline(always)]
    unsafe fn keep_where_less(self, a: Self, b: Self) -> Self {
        // SAFETY: the caller's promise (a CPU with V's set) covers both halves.
        unsafe {
            Pair(
                self.0.keep_where_less(a.0, b.0),
                self.1.keep_where_less(a.1, b.1),
            )
        }
    }

    #[inline(always)]
    unsafe fn exp2_from_magic(self) -> Self {
        // SAFETY: the caller's promise (a CPU with V's set) covers both halves.
        unsafe { Pair(self.0.exp2_from_magic(), self.1.exp2_from_magic()) }
    }

    #[inline(always)]
    unsafe fn frexp(self) -> (Self, Self) {
        // SAFETY: the caller's promise (a CPU with V's set) covers both halves.
        unsafe {
            let ((f0, e0), (f1, e1)) = (self.0.frexp(), self.1.frexp());
            (Pair(f0, f1), Pair(e0, e1))
        }
    }
}

/// 1.5·2^23 + 127: adding it to a float of magnitude below 2^22 rounds that
/// float to an integer n (the ulp is 1 in [2^23, 2^24)) and leaves n + 127 in
/// the low bits of the result's representation.
pub(super) const MAGIC_2POW: f32 = 12_583_039.0;

/// Mask of the mantissa bits of an f32.
pub(super) const MANTISSA: i32 = 0x007F_FFFF;

/// The exponent field of 0.5.
pub(super) const HALF_EXPONENT: i32 = 0x3F00_0000;

/// The exponent bias of f32 minus one: the raw exponent of f · 2^e with f in [0.5, 1) is e + 126.
pub(super) const FREXP_BIAS: i32 = 126;
