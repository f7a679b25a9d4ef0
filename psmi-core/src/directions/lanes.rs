//! Eight generators at once, one per AVX-512 lane.
//!
//! Each lane runs one xoshiro256++ stream and the ziggurat's fast path on
//! its draws, with the same IEEE operations as the scalar sampler (no fused
//! multiply-add). The layer widths come by gather. A lane whose point falls
//! outside its rectangle (about 1 draw in 80) is finished by the scalar code
//! from that lane's own state, which then goes back into the lane. So every
//! lane yields exactly the normals, and the sum of squares, that the scalar
//! sampler draws from its stream one after another.

use super::{direction_rng, finish_normal, normalise, ZIGGURAT_X};
use core::arch::x86_64::*;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Generators drawn together.
pub(super) const LANES: usize = 8;

/// A xoshiro256++ state as its four words.
pub(super) type State = [u64; 4];

/// The four words of `rng`'s state.
pub(super) fn state(rng: &Xoshiro256PlusPlus) -> State {
    let bytes = rng.state();
    core::array::from_fn(|w| {
        u64::from_le_bytes(bytes[8 * w..8 * w + 8].try_into().expect("8 bytes"))
    })
}

/// The generator whose state is `words` (never all zero: no seeded stream
/// reaches that state).
fn generator(words: &State) -> Xoshiro256PlusPlus {
    let mut bytes = [0u8; 32];
    for (chunk, word) in bytes.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    Xoshiro256PlusPlus::from_seed(bytes)
}

/// Draws `len` standard normals from each of the eight generators `states`
/// (advanced past them), as the scalar sampler would, and hands them to
/// `sink` eight per generator at a time: `sink(col, rows, count)` with
/// `rows[k]` holding generator k's normals `col .. col + count` in its first
/// `count` lanes. Returns each generator's sum of squares, in draw order.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
pub(super) fn normals<F>(states: &mut [State; LANES], len: usize, mut sink: F) -> [f64; LANES]
where
    F: FnMut(usize, &[__m512d; LANES], usize),
{
    let mut s = load_states(states);
    let mut sum = _mm512_setzero_pd();
    let mut col = 0;
    while col < len {
        let count = (len - col).min(LANES);
        let mut block = [_mm512_setzero_pd(); LANES];
        for x_out in block.iter_mut().take(count) {
            let bits = next(&mut s);
            let point = Point::new(bits);
            let mut x = point.x;
            let inside = point.inside(ALL);
            if inside != ALL {
                (s, x) = outside(s, point, !inside);
            }
            *x_out = x;
        }
        // Apart from the draws, so that the sum stays in a register.
        for x in &block[..count] {
            sum = _mm512_add_pd(sum, _mm512_mul_pd(*x, *x));
        }
        transpose(&mut block);
        sink(col, &block, count);
        col += count;
    }
    store_states(&s, states);
    let mut sums = [0.0f64; LANES];
    // SAFETY: `sums` holds eight f64.
    unsafe { _mm512_storeu_pd(sums.as_mut_ptr(), sum) };
    sums
}

/// Fills the eight rows of `rows` (row-major, `8 × dim`) with the
/// independent directions `first .. first + 8` of `seed`.
#[target_feature(enable = "avx512f,avx512dq,avx512vl")]
pub(super) fn fill_rows(seed: u64, first: u64, dim: usize, rows: &mut [f32]) {
    let mut states = core::array::from_fn(|k| state(&direction_rng(seed, first + k as u64)));
    let out = rows.as_mut_ptr();
    let sums = normals(&mut states, dim, |col, block, count| {
        let mask = ((1u32 << count) - 1) as __mmask8;
        for (k, values) in block.iter().enumerate() {
            // SAFETY: row k of the eight holds columns col .. col + count < dim.
            unsafe {
                _mm256_mask_storeu_ps(out.add(k * dim + col), mask, _mm512_cvtpd_ps(*values))
            };
        }
    });
    for (row, sum) in rows.chunks_exact_mut(dim).zip(sums) {
        normalise(row, sum);
    }
}

/// Fills the eight equal parts of `matrices` with the normals of the
/// generators `(stream, q) .. (stream, q + 8)`, in order.
#[target_feature(enable = "avx512f,avx512dq")]
pub(super) fn fill_frames(stream: u64, q: u64, matrices: &mut [f64]) {
    let len = matrices.len() / LANES;
    let mut states = core::array::from_fn(|k| state(&direction_rng(stream, q + k as u64)));
    let out = matrices.as_mut_ptr();
    normals(&mut states, len, |col, block, count| {
        let mask = ((1u32 << count) - 1) as __mmask8;
        for (k, values) in block.iter().enumerate() {
            // SAFETY: part k holds values col .. col + count < len.
            unsafe { _mm512_mask_storeu_pd(out.add(k * len + col), mask, *values) };
        }
    });
}

/// `crate::dot::dots` on f64, each vector's eight partial sums in one
/// AVX-512 register (lane l holds sum l): the same sums, added in the same
/// order, so the same bits.
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn dots<const R: usize>(a: &[f64], bs: [&[f64]; R]) -> [f64; R] {
    let len = bs.iter().fold(a.len(), |len, b| len.min(b.len()));
    let chunks = len / 8;
    let mut acc = [_mm512_setzero_pd(); R];
    for i in (0..chunks).map(|c| 8 * c) {
        // SAFETY: i + 8 ≤ len, within `a` and every one of `bs`.
        let x = unsafe { _mm512_loadu_pd(a.as_ptr().add(i)) };
        for (acc, b) in acc.iter_mut().zip(&bs) {
            // SAFETY: as above.
            let y = unsafe { _mm512_loadu_pd(b.as_ptr().add(i)) };
            *acc = _mm512_add_pd(*acc, _mm512_mul_pd(x, y));
        }
    }
    core::array::from_fn(|r| {
        // ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7)), as `dot`.
        let acc = acc[r];
        let half = _mm256_add_pd(
            _mm512_castpd512_pd256(acc),
            _mm512_extractf64x4_pd::<1>(acc),
        );
        let quarter = _mm_add_pd(
            _mm256_castpd256_pd128(half),
            _mm256_extractf128_pd::<1>(half),
        );
        let mut sum = _mm_cvtsd_f64(quarter) + _mm_cvtsd_f64(_mm_unpackhi_pd(quarter, quarter));
        for (x, y) in a[8 * chunks..len].iter().zip(&bs[r][8 * chunks..len]) {
            sum += x * y;
        }
        sum
    })
}

/// The states, word by word across the lanes.
#[inline]
#[target_feature(enable = "avx512f")]
fn load_states(states: &[State; LANES]) -> [__m512i; 4] {
    core::array::from_fn(|w| {
        let words: [u64; LANES] = core::array::from_fn(|k| states[k][w]);
        // SAFETY: `words` holds eight u64.
        unsafe { _mm512_loadu_si512(words.as_ptr().cast()) }
    })
}

/// Inverse of [`load_states`].
#[inline]
#[target_feature(enable = "avx512f")]
fn store_states(s: &[__m512i; 4], states: &mut [State; LANES]) {
    for (w, word) in s.iter().enumerate() {
        let mut words = [0u64; LANES];
        // SAFETY: `words` holds eight u64.
        unsafe { _mm512_storeu_si512(words.as_mut_ptr().cast(), *word) };
        for (state, value) in states.iter_mut().zip(words) {
            state[w] = value;
        }
    }
}

/// One xoshiro256++ step in every lane: the output, then the new state.
#[inline]
#[target_feature(enable = "avx512f")]
fn next(s: &mut [__m512i; 4]) -> __m512i {
    let result = _mm512_add_epi64(_mm512_rol_epi64::<23>(_mm512_add_epi64(s[0], s[3])), s[0]);
    let t = _mm512_slli_epi64::<17>(s[1]);
    s[2] = _mm512_xor_si512(s[2], s[0]);
    s[3] = _mm512_xor_si512(s[3], s[1]);
    s[1] = _mm512_xor_si512(s[1], s[2]);
    s[0] = _mm512_xor_si512(s[0], s[3]);
    s[2] = _mm512_xor_si512(s[2], t);
    s[3] = _mm512_rol_epi64::<45>(s[3]);
    result
}

/// Every lane.
const ALL: __mmask8 = 0xff;

/// The point of the ziggurat a draw picks, in every lane: as
/// `ziggurat_point`, with the layer's two edges.
#[derive(Clone, Copy)]
struct Point {
    bits: __m512i,
    x: __m512d,
    layer: __m512i,
    outer: __m512d,
    inner: __m512d,
}

impl Point {
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn new(bits: __m512i) -> Self {
        let u = _mm512_sub_pd(
            _mm512_mul_pd(_mm512_set1_pd(2.0), unit(bits)),
            _mm512_set1_pd(1.0),
        );
        let layer = _mm512_and_si512(bits, _mm512_set1_epi64(0x7f));
        // SAFETY: layer ≤ 127, and the table holds 129 widths.
        let (outer, inner) = unsafe {
            (
                _mm512_i64gather_pd::<8>(layer, ZIGGURAT_X.as_ptr()),
                _mm512_i64gather_pd::<8>(layer, ZIGGURAT_X.as_ptr().add(1)),
            )
        };
        Point {
            bits,
            x: _mm512_mul_pd(u, outer),
            layer,
            outer,
            inner,
        }
    }

    /// The lanes of `lanes` whose point lies in its layer's rectangle.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn inside(&self, lanes: __mmask8) -> __mmask8 {
        let abs = _mm512_andnot_pd(_mm512_set1_pd(-0.0), self.x);
        _mm512_mask_cmp_pd_mask::<_CMP_LT_OQ>(lanes, abs, self.inner)
    }

    /// Takes `other`'s values in `lanes`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn blend(self, lanes: __mmask8, other: Point) -> Point {
        Point {
            bits: _mm512_mask_mov_epi64(self.bits, lanes, other.bits),
            x: _mm512_mask_mov_pd(self.x, lanes, other.x),
            layer: _mm512_mask_mov_epi64(self.layer, lanes, other.layer),
            outer: _mm512_mask_mov_pd(self.outer, lanes, other.outer),
            inner: _mm512_mask_mov_pd(self.inner, lanes, other.inner),
        }
    }
}

/// The top 53 bits of each draw as a uniform f64 in [0, 1), as `unit_f64`.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn unit(bits: __m512i) -> __m512d {
    let scale = _mm512_set1_pd(1.0 / (1u64 << 53) as f64);
    _mm512_mul_pd(_mm512_cvtepu64_pd(_mm512_srli_epi64::<11>(bits)), scale)
}

/// Carries on, as `outside_rectangle` and the loop of `standard_normal`, in
/// the lanes of `pending`, whose points left their rectangles: the wedge
/// test in the lanes, the base layer's tail by the scalar sampler. Returns
/// the states and every lane's normal (the point's x in the other lanes).
#[inline(never)]
#[target_feature(enable = "avx512f,avx512dq")]
fn outside(
    mut s: [__m512i; 4],
    mut point: Point,
    mut pending: __mmask8,
) -> ([__m512i; 4], __m512d) {
    let mut result = point.x;
    let half = _mm512_set1_pd(-0.5);
    loop {
        let tail = _mm512_mask_cmpeq_epi64_mask(pending, point.layer, _mm512_setzero_si512());
        if tail != 0 {
            (s, result) = finish(s, point.bits, result, tail);
            pending &= !tail;
        }
        if pending == 0 {
            return (s, result);
        }
        // The wedge test, with one more draw.
        let draw = next_in(&mut s, pending);
        let (x, outer, inner) = (point.x, point.outer, point.inner);
        let x2 = _mm512_mul_pd(x, x);
        let f_outer = exp(_mm512_mul_pd(
            half,
            _mm512_sub_pd(_mm512_mul_pd(outer, outer), x2),
        ));
        let f_inner = exp(_mm512_mul_pd(
            half,
            _mm512_sub_pd(_mm512_mul_pd(inner, inner), x2),
        ));
        let height = _mm512_add_pd(
            f_inner,
            _mm512_mul_pd(unit(draw), _mm512_sub_pd(f_outer, f_inner)),
        );
        let accept = _mm512_mask_cmp_pd_mask::<_CMP_LT_OQ>(pending, height, _mm512_set1_pd(1.0));
        result = _mm512_mask_mov_pd(result, accept, x);
        pending &= !accept;
        if pending == 0 {
            return (s, result);
        }
        // Rejected: a new point.
        point = point.blend(pending, Point::new(next_in(&mut s, pending)));
        let inside = point.inside(pending);
        result = _mm512_mask_mov_pd(result, inside, point.x);
        pending &= !inside;
        if pending == 0 {
            return (s, result);
        }
    }
}

/// [`next`] in the lanes of `lanes` only; the others keep their states.
#[inline]
#[target_feature(enable = "avx512f")]
fn next_in(s: &mut [__m512i; 4], lanes: __mmask8) -> __m512i {
    let mut t = *s;
    let draw = next(&mut t);
    for (word, new) in s.iter_mut().zip(t) {
        *word = _mm512_mask_mov_epi64(*word, lanes, new);
    }
    draw
}

/// `libm::exp` (0.2) in every lane, bit for bit, for |x| < 708: its
/// argument reduction x = k ln 2 + r and rational approximation of e^r,
/// with the same IEEE operations in the same order.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn exp(x: __m512d) -> __m512d {
    // libm's constants, by their bits.
    const LN2HI: u64 = 0x3fe6_2e42_fee0_0000;
    const LN2LO: u64 = 0x3dea_39ef_3579_3c76;
    const INVLN2: u64 = 0x3ff7_1547_652b_82fe;
    const P: [u64; 5] = [
        0x3fc5_5555_5555_553e,
        0xbf66_c16c_16be_bd93,
        0x3f11_566a_af25_de2c,
        0xbebb_bd41_c5d2_6bf1,
        0x3e66_3769_72be_a4d0,
    ];
    let set = _mm512_set1_pd;
    let constant = |bits: u64| _mm512_set1_pd(f64::from_bits(bits));
    let bits = _mm512_castpd_si512(x);
    // The high word of |x|, and the sign.
    let high = _mm512_srli_epi64::<32>(_mm512_and_si512(bits, _mm512_set1_epi64(i64::MAX)));
    let negative = _mm512_movepi64_mask(bits);
    let above = |bound: i64| _mm512_cmpgt_epi64_mask(high, _mm512_set1_epi64(bound));
    // |x| > ln 2 / 2: k = ±1, or for |x| ≥ 1.5 ln 2 the rounded x / ln 2;
    // |x| ≤ 2^-28: 1 + x.
    let (reduce, far, small) = (above(0x3fd6_2e42), above(0x3ff0_a2b1), above(0x3e30_0000));
    let near_k = _mm512_mask_blend_pd(negative, set(1.0), set(-1.0));
    let half = _mm512_mask_blend_pd(negative, set(0.5), set(-0.5));
    let far_k = _mm512_roundscale_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(_mm512_add_pd(
        _mm512_mul_pd(constant(INVLN2), x),
        half,
    ));
    let k = _mm512_mask_blend_pd(far, _mm512_maskz_mov_pd(reduce, near_k), far_k);
    // With k = 0, hi = x and lo = 0 exactly, as libm's middle case.
    let hi = _mm512_sub_pd(x, _mm512_mul_pd(k, constant(LN2HI)));
    let lo = _mm512_mul_pd(k, constant(LN2LO));
    let r = _mm512_sub_pd(hi, lo);
    let rr = _mm512_mul_pd(r, r);
    let mut poly = constant(P[4]);
    for p in P[..4].iter().rev() {
        poly = _mm512_add_pd(constant(*p), _mm512_mul_pd(rr, poly));
    }
    let c = _mm512_sub_pd(r, _mm512_mul_pd(rr, poly));
    let ratio = _mm512_div_pd(_mm512_mul_pd(r, c), _mm512_sub_pd(set(2.0), c));
    let y = _mm512_add_pd(set(1.0), _mm512_add_pd(_mm512_sub_pd(ratio, lo), hi));
    // scalbn(y, k) is exact here: y · 2^k.
    let scaled = _mm512_scalef_pd(y, k);
    _mm512_mask_blend_pd(small, _mm512_add_pd(set(1.0), x), scaled)
}

/// The lanes of `lanes` left their rectangle with draw `bits`: the scalar
/// sampler finishes each from its own state. Returns the states and `x`
/// with those lanes' normals in place.
#[cold]
#[inline(never)]
#[target_feature(enable = "avx512f")]
fn finish(s: [__m512i; 4], bits: __m512i, x: __m512d, lanes: __mmask8) -> ([__m512i; 4], __m512d) {
    let mut states = [[0u64; 4]; LANES];
    store_states(&s, &mut states);
    let (mut draws, mut xs) = ([0u64; LANES], [0.0f64; LANES]);
    // SAFETY: both arrays hold eight 64-bit values.
    unsafe {
        _mm512_storeu_si512(draws.as_mut_ptr().cast(), bits);
        _mm512_storeu_pd(xs.as_mut_ptr(), x);
    }
    for k in (0..LANES).filter(|k| lanes & (1 << k) != 0) {
        let mut rng = generator(&states[k]);
        xs[k] = finish_normal(&mut rng, draws[k]);
        states[k] = state(&rng);
    }
    // SAFETY: `xs` holds eight f64.
    (load_states(&states), unsafe {
        _mm512_loadu_pd(xs.as_ptr())
    })
}

/// Transposes the 8 × 8 block of f64 in `rows`.
#[inline]
#[target_feature(enable = "avx512f")]
fn transpose(rows: &mut [__m512d; LANES]) {
    let r = *rows;
    // Pairs: t[2i] = (r[2i][0], r[2i+1][0], r[2i][2], r[2i+1][2], …), t[2i+1] the odd columns.
    let t: [__m512d; 8] = core::array::from_fn(|i| {
        let (a, b) = (r[i & !1], r[i | 1]);
        if i % 2 == 0 {
            _mm512_unpacklo_pd(a, b)
        } else {
            _mm512_unpackhi_pd(a, b)
        }
    });
    // Quads of rows, columns {c, c + 4} for c = 0, 2, 1, 3.
    let u = [
        _mm512_shuffle_f64x2::<0x88>(t[0], t[2]),
        _mm512_shuffle_f64x2::<0xdd>(t[0], t[2]),
        _mm512_shuffle_f64x2::<0x88>(t[1], t[3]),
        _mm512_shuffle_f64x2::<0xdd>(t[1], t[3]),
        _mm512_shuffle_f64x2::<0x88>(t[4], t[6]),
        _mm512_shuffle_f64x2::<0xdd>(t[4], t[6]),
        _mm512_shuffle_f64x2::<0x88>(t[5], t[7]),
        _mm512_shuffle_f64x2::<0xdd>(t[5], t[7]),
    ];
    *rows = [
        _mm512_shuffle_f64x2::<0x88>(u[0], u[4]),
        _mm512_shuffle_f64x2::<0x88>(u[2], u[6]),
        _mm512_shuffle_f64x2::<0x88>(u[1], u[5]),
        _mm512_shuffle_f64x2::<0x88>(u[3], u[7]),
        _mm512_shuffle_f64x2::<0xdd>(u[0], u[4]),
        _mm512_shuffle_f64x2::<0xdd>(u[2], u[6]),
        _mm512_shuffle_f64x2::<0xdd>(u[1], u[5]),
        _mm512_shuffle_f64x2::<0xdd>(u[3], u[7]),
    ];
}

#[cfg(test)]
mod tests {
    use super::super::{standard_normal, ZIGGURAT_R};
    use super::*;
    extern crate std;
    use rand_core::Rng;
    use std::vec;
    use std::vec::Vec;

    fn avx512() -> bool {
        crate::Isa::Avx512.is_supported()
    }

    /// The normals of eight streams through the lanes, each collected in order.
    #[target_feature(enable = "avx512f,avx512dq")]
    fn lane_normals(states: &mut [State; LANES], len: usize) -> (Vec<Vec<f64>>, [f64; LANES]) {
        let mut rows = vec![Vec::new(); LANES];
        let sums = normals(states, len, |col, block, count| {
            for (row, values) in rows.iter_mut().zip(block) {
                let mut lane = [0.0f64; LANES];
                // SAFETY: `lane` holds eight f64.
                unsafe { _mm512_storeu_pd(lane.as_mut_ptr(), *values) };
                assert_eq!(row.len(), col);
                row.extend_from_slice(&lane[..count]);
            }
        });
        (rows, sums)
    }

    /// Each lane draws what the scalar sampler draws from its stream, bit
    /// for bit, with the same sum of squares and the same state after; over
    /// the streams, points leave their rectangles (the wedges, more than one
    /// draw per normal) and reach the tail (|z| > R).
    #[test]
    fn lanes_draw_the_scalar_normals() {
        if !avx512() {
            return;
        }
        let (mut extra_draws, mut tails) = (0usize, 0usize);
        for (seed, first, len) in [
            (0u64, 0u64, 1usize),
            (9, 3, 7),
            (u64::MAX, 1 << 50, 17),
            (77, 8, 4097),
            (3, 0, 60_000),
        ] {
            let mut rngs: Vec<Xoshiro256PlusPlus> = (0..LANES as u64)
                .map(|k| direction_rng(seed, first + k))
                .collect();
            let mut states: [State; LANES] = core::array::from_fn(|k| state(&rngs[k]));
            // SAFETY: the CPU has AVX-512 (checked above).
            let (rows, sums) = unsafe { lane_normals(&mut states, len) };
            for (k, rng) in rngs.iter_mut().enumerate() {
                let mut counter = generator(&state(rng));
                let mut sum = 0.0f64;
                for (i, got) in rows[k].iter().enumerate() {
                    let z = standard_normal(rng);
                    sum += z * z;
                    assert_eq!(got.to_bits(), z.to_bits(), "seed {seed} lane {k} value {i}");
                    tails += (z.abs() > ZIGGURAT_R) as usize;
                }
                assert_eq!(sums[k].to_bits(), sum.to_bits(), "seed {seed} lane {k} sum");
                assert_eq!(states[k], state(rng), "seed {seed} lane {k} state");
                // Draws the stream took beyond one per normal.
                let mut draws = 0;
                while state(&counter) != state(rng) {
                    counter.next_u64();
                    draws += 1;
                }
                extra_draws += draws - len;
            }
        }
        assert!(extra_draws > 1000, "{extra_draws} extra draws");
        assert!(tails > 50, "{tails} tail samples");
    }

    /// Compares the lanes' exp with `libm::exp` on `values`.
    #[target_feature(enable = "avx512f,avx512dq")]
    fn exp_matches(values: &[f64]) {
        for chunk in values.chunks(LANES) {
            let mut lane = [0.0f64; LANES];
            lane[..chunk.len()].copy_from_slice(chunk);
            // SAFETY: `lane` holds eight f64.
            let got = unsafe { _mm512_loadu_pd(lane.as_ptr()) };
            let mut out = [0.0f64; LANES];
            // SAFETY: `out` holds eight f64.
            unsafe { _mm512_storeu_pd(out.as_mut_ptr(), exp(got)) };
            for (x, y) in lane.iter().zip(out) {
                assert_eq!(y.to_bits(), libm::exp(*x).to_bits(), "exp({x:e})");
            }
        }
    }

    /// The AVX-512 dot products equal the generic ones bit for bit, on
    /// lengths with and without a remainder and slices of unequal length.
    #[test]
    fn dots_match_the_generic_dots() {
        if !avx512() {
            return;
        }
        let mut rng = direction_rng(13, 0);
        let mut values =
            |n: usize| -> Vec<f64> { (0..n).map(|_| standard_normal(&mut rng)).collect() };
        for len in [0usize, 1, 7, 8, 9, 17, 64, 4097] {
            let (a, b, c, d) = (values(len), values(len), values(len + 3), values(len));
            let bs = [&b[..], &c[..], &d[..]];
            // SAFETY: the CPU has AVX-512 (checked above).
            let got = unsafe { dots(&a, bs) };
            let expected = crate::dot::dots(&a, bs);
            for (g, e) in got.iter().zip(expected) {
                assert_eq!(g.to_bits(), e.to_bits(), "length {len}");
            }
        }
    }

    /// The lanes' exp is `libm::exp` bit for bit: on the wedge test's
    /// arguments (−7, 0], across libm's cases (|x| ≤ 2⁻²⁸, ≤ ln 2 / 2,
    /// < 1.5 ln 2, beyond) and their edges, and on random values of ±700.
    #[test]
    fn exp_is_libm_exp() {
        if !avx512() {
            return;
        }
        let ln2 = core::f64::consts::LN_2;
        let mut values = vec![0.0, -0.0, 1e-300, -1e-300, 0.5, -0.5, -7.0, 7.0];
        for edge in [
            2f64.powi(-28),
            0.5 * ln2,
            1.5 * ln2,
            0.5 * ln2 * 3.0,
            2.5 * ln2,
        ] {
            let mut x = edge;
            for _ in 0..4 {
                values.extend([x, -x]);
                x = f64::from_bits(x.to_bits() - 1);
            }
            let mut x = edge;
            for _ in 0..4 {
                x = f64::from_bits(x.to_bits() + 1);
                values.extend([x, -x]);
            }
        }
        let mut rng = direction_rng(11, 0);
        for _ in 0..200_000 {
            values.push(-7.0 * super::super::unit_f64(rng.next_u64()));
        }
        for _ in 0..20_000 {
            values.push(1400.0 * super::super::unit_f64(rng.next_u64()) - 700.0);
        }
        // SAFETY: the CPU has AVX-512 (checked above).
        unsafe { exp_matches(&values) };
    }
}
