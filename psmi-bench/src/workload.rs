//! Deterministic synthetic workloads: Gaussian features and balanced labels.
//!
//! The generator is SplitMix64 (Steele, Lea and Flood, 2014): tiny, fast and
//! good enough for benchmark data, which only has to be the same from run to
//! run and free of structure the kernels could exploit.

/// SplitMix64's increment (the golden ratio in 64-bit fixed point).
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// A SplitMix64 stream of uniform and normal numbers.
///
/// ```
/// use psmi_bench::workload::SplitMix64;
/// let mut a = SplitMix64::new(7);
/// let mut b = SplitMix64::new(7);
/// assert_eq!(a.next_u64(), b.next_u64());
/// let u = a.next_f64();
/// assert!((0.0..1.0).contains(&u));
/// assert!(a.below(10) < 10);
/// ```
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// The stream of `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform number in [0, 1), from the top 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `0..bound` (Lemire's multiply-shift, whose bias
    /// of at most `bound / 2^64` is irrelevant here). `bound` must be positive.
    pub fn below(&mut self, bound: usize) -> usize {
        ((self.next_u64() as u128 * bound as u128) >> 64) as usize
    }

    /// Two independent standard normals (Box–Muller).
    pub fn normal_pair(&mut self) -> (f64, f64) {
        // 1 − u lies in (0, 1], so the logarithm is finite.
        let radius = (-2.0 * (1.0 - self.next_f64()).ln()).sqrt();
        let angle = core::f64::consts::TAU * self.next_f64();
        (radius * angle.cos(), radius * angle.sin())
    }
}

/// Row-major `n × d` standard normal features (f32), a function of `seed`.
///
/// ```
/// let x = psmi_bench::workload::gaussian_features(3, 5, 1);
/// assert_eq!(x.len(), 15);
/// assert_eq!(x, psmi_bench::workload::gaussian_features(3, 5, 1));
/// ```
pub fn gaussian_features(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    let mut x = vec![0.0f32; n * d];
    for pair in x.chunks_mut(2) {
        let (a, b) = rng.normal_pair();
        pair[0] = a as f32;
        if let Some(second) = pair.get_mut(1) {
            *second = b as f32;
        }
    }
    x
}

/// `n` labels in `0..classes`, as balanced as `n` allows (class `i mod k`
/// for sample `i`) and shuffled, so every class has ⌊n/k⌋ or ⌈n/k⌉ samples
/// and each sample's label is uniform over the classes.
///
/// ```
/// let labels = psmi_bench::workload::balanced_labels(100, 10, 3);
/// for class in 0..10 {
///     assert_eq!(labels.iter().filter(|&&l| l == class).count(), 10);
/// }
/// ```
pub fn balanced_labels(n: usize, classes: usize, seed: u64) -> Vec<u32> {
    let mut labels: Vec<u32> = (0..n).map(|i| (i % classes.max(1)) as u32).collect();
    let mut rng = SplitMix64::new(seed);
    // Fisher–Yates.
    for i in (1..n).rev() {
        labels.swap(i, rng.below(i + 1));
    }
    labels
}

/// A `classes`-class Gaussian mixture: class means with entries
/// N(0, `separation`²), unit-variance noise, balanced shuffled labels; the
/// shape of the compare script's W1 (10000 × 512, 10 classes, separation 1).
///
/// ```
/// let (x, labels) = psmi_bench::workload::mixture(20, 3, 4, 1.0, 5);
/// assert_eq!((x.len(), labels.len()), (60, 20));
/// ```
pub fn mixture(
    n: usize,
    d: usize,
    classes: usize,
    separation: f64,
    seed: u64,
) -> (Vec<f32>, Vec<u32>) {
    let means = gaussian_features(classes, d, seed ^ 0x6d65_616e);
    let labels = balanced_labels(n, classes, seed ^ 0x6c61_6265);
    let mut x = gaussian_features(n, d, seed);
    for (row, &label) in x.chunks_exact_mut(d).zip(&labels) {
        let mean = &means[label as usize * d..(label as usize + 1) * d];
        for (v, mu) in row.iter_mut().zip(mean) {
            *v += (separation * *mu as f64) as f32;
        }
    }
    (x, labels)
}

/// Features shaped like a language model's hidden states: a `classes`-class
/// mixture (means N(0, `separation`²)) whose noise is Student-t with 4
/// degrees of freedom (heavy tails), and whose first `outliers` dimensions
/// have 20 times the scale of the others (the few "massive activations" of
/// such states).
///
/// ```
/// let (x, labels) = psmi_bench::workload::hidden_states(30, 16, 3, 2, 0.5, 1);
/// assert_eq!((x.len(), labels.len()), (480, 30));
/// let big: f32 = x.chunks(16).map(|r| r[0].abs()).sum();
/// let small: f32 = x.chunks(16).map(|r| r[15].abs()).sum();
/// assert!(big > 5.0 * small);
/// ```
pub fn hidden_states(
    n: usize,
    d: usize,
    classes: usize,
    outliers: usize,
    separation: f64,
    seed: u64,
) -> (Vec<f32>, Vec<u32>) {
    const DOF: usize = 4;
    let means = gaussian_features(classes, d, seed ^ 0x6d65_616e);
    let labels = balanced_labels(n, classes, seed ^ 0x6c61_6265);
    let mut rng = SplitMix64::new(seed);
    let mut x = vec![0.0f32; n * d];
    for (row, &label) in x.chunks_exact_mut(d).zip(&labels) {
        let mean = &means[label as usize * d..(label as usize + 1) * d];
        for (j, (v, mu)) in row.iter_mut().zip(mean).enumerate() {
            let (z, _) = rng.normal_pair();
            let mut chi2 = 0.0;
            for _ in 0..DOF / 2 {
                let (a, b) = rng.normal_pair();
                chi2 += a * a + b * b;
            }
            let t = z / (chi2 / DOF as f64).sqrt();
            let scale = if j < outliers { 20.0 } else { 1.0 };
            *v = (scale * (t + separation * *mu as f64)) as f32;
        }
    }
    (x, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normals_have_unit_variance() {
        let x = gaussian_features(1000, 101, 9);
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / x.len() as f64;
        let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / x.len() as f64;
        // 101 000 draws: the standard errors are about 0.003 and 0.0045.
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.03, "variance {var}");
    }

    #[test]
    fn labels_are_shuffled() {
        let labels = balanced_labels(1000, 10, 1);
        let in_order = labels
            .iter()
            .enumerate()
            .filter(|(i, &l)| l as usize == i % 10);
        // A shuffle leaves about a tenth in place.
        assert!(in_order.count() < 200);
    }
}
