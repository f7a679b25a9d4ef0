//! Class statistics: chunked and merged accumulation equals one pass, and
//! both equal the two-pass float64 reference; mergeable moments form a monoid.

use proptest::prelude::*;
use psmi_core::statistics::{ClassMoments, Moments};
use psmi_core::{reference, Error};

/// Owned buffers of one `ClassMoments`.
struct Buffers {
    counts: Vec<u64>,
    mean: Vec<f64>,
    m2: Vec<f64>,
}

impl Buffers {
    fn new(k: usize, m: usize) -> Self {
        Buffers {
            counts: vec![0; k],
            mean: vec![0.0; k * m],
            m2: vec![0.0; k * m],
        }
    }

    fn moments(&mut self, m: usize) -> ClassMoments<'_> {
        let k = self.counts.len();
        ClassMoments::new(k, m, &mut self.counts, &mut self.mean, &mut self.m2).unwrap()
    }
}

/// Labelled projections in which every class has at least two samples.
#[derive(Debug, Clone)]
struct Sample {
    k: usize,
    m: usize,
    labels: Vec<u32>,
    z: Vec<f32>,
}

fn sample() -> impl Strategy<Value = Sample> {
    (1usize..6, 1usize..40, 0usize..40).prop_flat_map(|(k, m, extra)| {
        let n = 2 * k + extra;
        (
            prop::collection::vec(0..k as u32, extra),
            prop::collection::vec(-1e3f32..1e3, n * m),
            // Offsets per class and direction, so classes differ in location.
            prop::collection::vec(-1e4f32..1e4, k * m),
        )
            .prop_map(move |(mut labels, mut z, shift)| {
                labels.extend((0..k as u32).flat_map(|c| [c, c]));
                for (row, &label) in z.chunks_exact_mut(m).zip(&labels) {
                    let shift = &shift[label as usize * m..][..m];
                    for (v, s) in row.iter_mut().zip(shift) {
                        *v += s;
                    }
                }
                Sample { k, m, labels, z }
            })
    })
}

/// |a − b| ≤ 1e-12 · scale.
fn close(a: f64, b: f64, scale: f64) -> bool {
    (a - b).abs() <= 1e-12 * scale
}

/// The largest |z| of class `class` along direction `j`: the scale rounding
/// errors of the mean and standard deviation are relative to.
fn magnitude(s: &Sample, class: usize, j: usize) -> f64 {
    s.labels
        .iter()
        .enumerate()
        .filter(|&(_, &l)| l as usize == class)
        .map(|(i, _)| (s.z[i * s.m + j] as f64).abs())
        .fold(1e-300, f64::max)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Accumulating chunks into separate moments and merging them, in any
    /// order, gives one pass's result within 1e-12 relative; and both equal
    /// the two-pass reference.
    #[test]
    fn chunked_and_merged_equals_one_pass_and_the_reference(
        s in sample(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
        order in any::<u64>(),
    ) {
        let (k, m, n) = (s.k, s.m, s.labels.len());
        let mut whole = Buffers::new(k, m);
        let mut one_pass = whole.moments(m);
        one_pass.accumulate(&s.z, &s.labels).unwrap();

        // Random chunk boundaries, merged in a random order.
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c.index(n + 1)).collect();
        bounds.extend([0, n]);
        bounds.sort_unstable();
        let mut chunks: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
        let len = chunks.len();
        for i in 0..len {
            chunks.swap(i, (order.rotate_left(i as u32 * 7) as usize) % len);
        }
        let mut total = Buffers::new(k, m);
        let mut merged = total.moments(m);
        for (start, end) in chunks {
            let mut part = Buffers::new(k, m);
            let mut moments = part.moments(m);
            moments.accumulate(&s.z[start * m..end * m], &s.labels[start..end]).unwrap();
            merged.merge(&moments).unwrap();
        }

        let z64: Vec<f64> = s.z.iter().map(|&v| v as f64).collect();
        let (mut frequency, mut mean, mut std) = (vec![0.0; k], vec![0.0; k * m], vec![0.0; k * m]);
        reference::class_statistics(&z64, &s.labels, k, &mut frequency, &mut mean, &mut std).unwrap();
        let (mut got_frequency, mut got_std) = (vec![0.0; k], vec![0.0; k * m]);
        one_pass.finish(&mut got_frequency, &mut got_std).unwrap();
        prop_assert_eq!(&got_frequency, &frequency);

        for c in 0..k {
            prop_assert_eq!(merged.count(c), one_pass.count(c));
            for j in 0..m {
                let scale = magnitude(&s, c, j);
                let cell = c * m + j;
                prop_assert!(close(merged.mean(c)[j], one_pass.mean(c)[j], scale));
                prop_assert!(close(one_pass.mean(c)[j], mean[cell], scale));
                // M2 is a sum of squares: its rounding is relative to n·scale².
                let m2_scale = one_pass.count(c) as f64 * scale * scale;
                prop_assert!(close(merged.m2(c)[j], one_pass.m2(c)[j], m2_scale));
                prop_assert!(close(got_std[cell], std[cell], scale));
            }
        }
    }

    /// Merging is associative (up to rounding) and the empty set is its
    /// identity (exactly).
    #[test]
    fn moments_merge_is_associative_with_identity(
        a in prop::collection::vec(-1e6f64..1e6, 0..20),
        b in prop::collection::vec(-1e6f64..1e6, 0..20),
        c in prop::collection::vec(-1e6f64..1e6, 0..20),
    ) {
        let (ma, mb, mc) = (Moments::of(&a), Moments::of(&b), Moments::of(&c));
        prop_assert_eq!(ma.merge(Moments::default()), ma);
        prop_assert_eq!(Moments::default().merge(ma), ma);
        let left = ma.merge(mb).merge(mc);
        let right = ma.merge(mb.merge(mc));
        let all: Vec<f64> = a.iter().chain(&b).chain(&c).copied().collect();
        let direct = Moments::of(&all);
        prop_assert_eq!(left.count, right.count);
        prop_assert_eq!(left.count, direct.count);
        let scale = 1e6;
        for (x, y) in [(left, right), (left, direct)] {
            prop_assert!(close(x.mean, y.mean, scale));
            prop_assert!(close(x.m2, y.m2, x.count as f64 * scale * scale));
        }
    }
}

#[test]
fn finish_names_a_class_with_too_few_samples() {
    let mut buffers = Buffers::new(3, 2);
    let mut moments = buffers.moments(2);
    moments
        .accumulate(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[0, 0, 2])
        .unwrap();
    let (mut frequency, mut std) = ([0.0; 3], [0.0; 6]);
    assert_eq!(
        moments.finish(&mut frequency, &mut std),
        Err(Error::TooFewSamples { class: 1, count: 0 })
    );
    moments.accumulate(&[7.0, 8.0, 9.0, 1.0], &[1, 1]).unwrap();
    assert_eq!(
        moments.finish(&mut frequency, &mut std),
        Err(Error::TooFewSamples { class: 2, count: 1 })
    );
}

#[test]
fn labels_out_of_range_name_their_row_and_add_nothing() {
    let mut buffers = Buffers::new(2, 1);
    let mut moments = buffers.moments(1);
    assert_eq!(
        moments.accumulate(&[1.0, 2.0, 3.0], &[0, 1, 5]),
        Err(Error::LabelOutOfRange {
            row: 2,
            label: 5,
            classes: 2
        })
    );
    assert_eq!(moments.total(), 0);
    assert!(matches!(
        moments.accumulate(&[1.0, 2.0], &[0]),
        Err(Error::ShapeMismatch { .. })
    ));
}
