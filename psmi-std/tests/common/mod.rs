//! Data generators and files shared by the integration tests of the library and,
//! through a `#[path]`, of the `psmi` program (psmi-cli/tests/common).
#![allow(dead_code)]

pub mod files;
pub mod halves;
pub mod ranking;

/// A seed from the clock: fresh inputs on every run.
pub fn fresh_seed() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |t| t.as_nanos() as u64)
}

/// A small deterministic generator (SplitMix64), so tests need no RNG crate.
pub struct TestRng(u64);

impl TestRng {
    pub fn new(seed: u64) -> Self {
        TestRng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.uniform();
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.uniform() * n as f64) as usize
    }
}

/// A Gaussian mixture: `k` classes with random centres `separation` apart on
/// average, unit noise, `n` samples in `d` dimensions. Labels are `label_of(c)`.
pub fn mixture(seed: u64, n: usize, d: usize, k: usize, separation: f64) -> (Vec<f32>, Vec<i64>) {
    let mut rng = TestRng::new(seed);
    let centres: Vec<f64> = (0..k * d)
        .map(|_| rng.normal() * separation / (2.0f64).sqrt())
        .collect();
    let mut x = Vec::with_capacity(n * d);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % k;
        labels.push(c as i64);
        for t in 0..d {
            x.push((centres[c * d + t] + rng.normal()) as f32);
        }
    }
    (x, labels)
}

/// The sorted names in a directory, hidden (staging) entries included.
pub fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The staging directories (hidden, `.psmi-staging-*`) in `dir`.
pub fn staging_dirs(dir: &std::path::Path) -> Vec<String> {
    listing(dir)
        .into_iter()
        .filter(|n| n.starts_with(".psmi-staging-"))
        .collect()
}
