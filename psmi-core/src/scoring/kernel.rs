//! The scoring kernel, generic over the vector type: directions go across
//! lanes; classes are taken in groups whose log terms are kept in a small
//! buffer, so each is computed once, then their maximum, then the sum of
//! exponentials (an online log-sum-exp across groups).

use super::lanes::Lanes;
use super::math::{exp_nonpositive, ln_normal};
use super::ScoringTable;

/// Bytes of the scoring table one block of directions may span: the block's
/// rows of every class stay in the 48 KiB L1 data cache while every sample
/// is scored along them.
const TABLE_BLOCK_BYTES: usize = 32 * 1024;

/// Classes whose log terms are buffered at once. Up to this many classes
/// (the common case) the log-sum-exp takes exactly two passes; each further
/// group costs one exponential to rescale the running sum.
const GROUP: usize = 16;

/// Scores `values` (row-major `labels.len() × m`) in place.
///
/// # Safety
///
/// The CPU supports `V`'s instruction set.
#[inline(always)]
pub(super) unsafe fn score_rows<V: Lanes>(
    table: &ScoringTable<'_>,
    labels: &[u32],
    values: &mut [f32],
) {
    let m = table.directions();
    // Each direction takes three f32 per class; blocks are whole vectors so
    // that only a row's last vector is partial.
    let per_direction = 3 * core::mem::size_of::<f32>() * table.classes();
    let block = (TABLE_BLOCK_BYTES / per_direction / V::LANES).max(1) * V::LANES;
    let mut first = 0;
    while first < m {
        let width = block.min(m - first);
        for (row, &label) in values.chunks_exact_mut(m).zip(labels) {
            let span = &mut row[first..first + width];
            // SAFETY: the caller promises a CPU with V's set; labels are
            // below k (checked by `score_in_place`) and the span ends by m.
            unsafe { score_span::<V>(table, label as usize, first, span) };
        }
        first += width;
    }
}

/// Scores `span`, the directions `first..first + span.len()` of one sample
/// of class `label`.
///
/// # Safety
///
/// The CPU supports `V`'s instruction set, `label` < k and
/// `first + span.len()` ≤ m.
#[inline(always)]
pub(super) unsafe fn score_span<V: Lanes>(
    table: &ScoringTable<'_>,
    label: usize,
    first: usize,
    span: &mut [f32],
) {
    let whole = span.len() / V::LANES * V::LANES;
    let out = span.as_mut_ptr();
    // SAFETY: the caller promises a CPU with V's set.
    let mut terms = [unsafe { V::splat(0.0) }; GROUP];
    for j in (0..whole).step_by(V::LANES) {
        // SAFETY: the caller promises a CPU with V's set; j + LANES ≤
        // span.len(), and direction first + j + LANES ≤ m bounds every table
        // row read.
        unsafe {
            let z = load::<V, false>(out.add(j), V::LANES);
            let score = score_lanes::<V, false>(table, label, first + j, V::LANES, z, &mut terms);
            score.store(out.add(j));
        }
    }
    let rest = span.len() - whole;
    if rest > 0 {
        // SAFETY: as above, reading and writing only the `rest` valid lanes.
        unsafe {
            let z = load::<V, true>(out.add(whole), rest);
            let score = score_lanes::<V, true>(table, label, first + whole, rest, z, &mut terms);
            score.store_partial(out.add(whole), rest);
        }
    }
}

/// Loads `len` values, all `LANES` of them unless `PARTIAL` (a constant, so
/// the choice costs nothing in the loops).
///
/// # Safety
///
/// The CPU supports `V`'s instruction set; `src` must be valid for reading
/// `len` values, and `len` = `LANES` unless `PARTIAL`.
#[inline(always)]
unsafe fn load<V: Lanes, const PARTIAL: bool>(src: *const f32, len: usize) -> V {
    // SAFETY: by the caller's contract.
    unsafe {
        if PARTIAL {
            V::load_partial(src, len)
        } else {
            V::load(src)
        }
    }
}

/// t_c = ln π_c − ln σ_c − w² with w = (z − μ_c) · √½ / σ_c, at directions
/// `j..j + len` of class `class`.
///
/// # Safety
///
/// The CPU supports `V`'s instruction set; `class` < k, `j + len` ≤ m, and
/// `len` = `LANES` unless `PARTIAL`.
#[inline(always)]
unsafe fn log_term<V: Lanes, const PARTIAL: bool>(
    table: &ScoringTable<'_>,
    class: usize,
    j: usize,
    len: usize,
    z: V,
) -> V {
    let m = table.directions();
    // SAFETY: the caller promises a CPU with V's set; the three rows of
    // `class` lie in the table, and the loads read `len` values from
    // direction j, which the rows hold.
    unsafe {
        let mu = table.data.as_ptr().add(3 * class * m + j);
        let w = z
            .sub(load::<V, PARTIAL>(mu, len))
            .mul(load::<V, PARTIAL>(mu.add(m), len));
        w.neg_mul_add(w, load::<V, PARTIAL>(mu.add(2 * m), len))
    }
}

/// PSMI of projections `z` at directions `j..j + len` of a sample of class
/// `label`; `terms` is scratch.
///
/// # Safety
///
/// The CPU supports `V`'s instruction set; `label` < k, `j + len` ≤ m,
/// and `len` = `LANES` unless `PARTIAL`.
#[inline(always)]
unsafe fn score_lanes<V: Lanes, const PARTIAL: bool>(
    table: &ScoringTable<'_>,
    label: usize,
    j: usize,
    len: usize,
    z: V,
    terms: &mut [V; GROUP],
) -> V {
    let term = |class: usize| {
        // SAFETY: the CPU and the directions are the caller's promise, and
        // every class passed here is below k.
        unsafe { log_term::<V, PARTIAL>(table, class, j, len, z) }
    };
    // SAFETY: the caller promises a CPU with V's set.
    unsafe {
        let classes = table.classes();
        let mut max = V::splat(f32::NEG_INFINITY);
        let mut sum = V::splat(0.0);
        for first in (0..classes).step_by(GROUP) {
            let size = GROUP.min(classes - first);
            let group = &mut terms[..size];
            // Two running maxima, so consecutive classes do not wait on each other.
            let (mut even, mut odd) = (V::splat(f32::NEG_INFINITY), V::splat(f32::NEG_INFINITY));
            let mut pairs = group.chunks_exact_mut(2);
            for (class, pair) in (first..).step_by(2).zip(pairs.by_ref()) {
                pair[0] = term(class);
                pair[1] = term(class + 1);
                even = even.max(pair[0]);
                odd = odd.max(pair[1]);
            }
            if let [last] = pairs.into_remainder() {
                *last = term(first + size - 1);
                even = even.max(*last);
            }
            let group_max = even.max(odd);
            if first == 0 {
                max = group_max;
            } else {
                let new_max = max.max(group_max);
                sum = sum.mul(exp_nonpositive(max.sub(new_max)));
                max = new_max;
            }
            // Each exponent is ≤ 0 and the largest is exactly 0, so 1 ≤ sum ≤ k.
            sum = group
                .iter()
                .fold(sum, |sum, &t| sum.add(exp_nonpositive(t.sub(max))));
        }
        // ln N(z; μ_y, σ_y) up to −½ ln 2π is the own class's term without ln π_y.
        term(label)
            .sub(V::splat(table.log_weight(label)))
            .sub(max)
            .sub(ln_normal(sum))
    }
}
