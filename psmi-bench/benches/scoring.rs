//! Criterion benchmarks of scoring (stage 4), class statistics (stage 3),
//! per-sample summaries and direction sampling (stage 1).
//!
//! Throughput units:
//! - `score_in_place`: `Elements(n·m·k)`, one *evaluation* per sample ×
//!   direction × class (the Gaussian log term of one class at one projection);
//! - `accumulate` and `summarize_rows`: `Elements(n·m)`, projections read;
//! - `fill_directions`: `Elements(m·d)`, coordinates of i.i.d. directions
//!   drawn on one thread with the CPU's widest kernels;
//! - `stream`: `Elements(m)`, directions one sample is scored along.
//!
//! Run with `cargo bench -p psmi-bench --bench scoring`; about two minutes.
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use psmi_core::scoring::{score_in_place, summarize_rows, table_len, ScoringTable};
use psmi_core::statistics::{ClassMoments, Moments};
use psmi_core::stream::{rows_len, scratch_len, StreamScorer};
use psmi_core::{directions, projection, Isa, Kernels};
use std::hint::black_box;
use std::time::Duration;

/// A deterministic stream of uniform numbers in [0, 1) (SplitMix64).
struct Uniform(u64);

impl Uniform {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Projections of `n` samples on `m` directions from `k` overlapping classes,
/// with their labels, the class statistics and the scoring table buffer.
struct Problem {
    n: usize,
    m: usize,
    k: usize,
    labels: Vec<u32>,
    z: Vec<f32>,
    frequency: Vec<f64>,
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl Problem {
    fn new(n: usize, m: usize, k: usize) -> Self {
        let mut rng = Uniform(42);
        let mean: Vec<f64> = (0..k * m).map(|_| 4.0 * rng.next() - 2.0).collect();
        let std: Vec<f64> = (0..k * m).map(|_| 0.5 + rng.next()).collect();
        let labels: Vec<u32> = (0..n).map(|i| (i % k) as u32).collect();
        let mut z = vec![0.0f32; n * m];
        for (row, &label) in z.chunks_exact_mut(m).zip(&labels) {
            let c = label as usize * m;
            for (j, v) in row.iter_mut().enumerate() {
                // A uniform spread of the class's width: cheap, and overlaps the others.
                *v = (mean[c + j] + std[c + j] * (3.0 * rng.next() - 1.5)) as f32;
            }
        }
        let frequency = vec![1.0 / k as f64; k];
        Problem {
            n,
            m,
            k,
            labels,
            z,
            frequency,
            mean,
            std,
        }
    }
}

fn scoring(c: &mut Criterion) {
    let mut group = c.benchmark_group("score_in_place");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (n, m, k) in [(10_000, 500, 10), (2_000, 2_000, 2)] {
        let p = Problem::new(n, m, k);
        let mut table_buf = vec![0.0f32; table_len(k, m)];
        let table = ScoringTable::new(k, m, &p.frequency, &p.mean, &p.std, &mut table_buf).unwrap();
        group.throughput(Throughput::Elements((n * m * k) as u64));
        for kernels in Isa::ALL.into_iter().filter_map(Kernels::for_isa) {
            let id = BenchmarkId::new(kernels.isa().name(), format!("n{n}_m{m}_k{k}"));
            // Each run scores a fresh copy of the projections; the copy is not timed.
            group.bench_function(id, |b| {
                b.iter_batched_ref(
                    || p.z.clone(),
                    |values| score_in_place(kernels, &table, &p.labels, values).unwrap(),
                    BatchSize::LargeInput,
                )
            });
        }
    }
    group.finish();
}

fn statistics(c: &mut Criterion) {
    let mut group = c.benchmark_group("class_statistics");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let p = Problem::new(10_000, 500, 10);
    let (mut counts, mut mean, mut m2) = (
        vec![0u64; p.k],
        vec![0.0f64; p.k * p.m],
        vec![0.0f64; p.k * p.m],
    );
    group.throughput(Throughput::Elements((p.n * p.m) as u64));
    group.bench_function("accumulate/n10000_m500_k10", |b| {
        b.iter(|| {
            let mut moments = ClassMoments::new(p.k, p.m, &mut counts, &mut mean, &mut m2).unwrap();
            moments.accumulate(&p.z, &p.labels).unwrap();
            black_box(moments.count(0));
        })
    });
    let mut summaries = vec![Moments::default(); p.n];
    group.bench_function("summarize_rows/n10000_m500", |b| {
        b.iter(|| {
            summarize_rows(&p.z, p.m, &mut summaries).unwrap();
            black_box(&summaries);
        })
    });
    group.finish();
}

fn direction_sampling(c: &mut Criterion) {
    let mut group = c.benchmark_group("fill_directions");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    // The CPU's widest kernels, as runs draw them (eight lanes with AVX-512).
    let kernels = Kernels::detect();
    for (m, d) in [(500, 512), (2_000, 4_096)] {
        let mut theta = vec![0.0f32; m * d];
        group.throughput(Throughput::Elements((m * d) as u64));
        group.bench_function(format!("m{m}_d{d}"), |b| {
            b.iter(|| {
                let scheme = directions::Scheme::Iid;
                directions::fill(kernels, black_box(7), scheme, 0, d, &mut theta, &mut []).unwrap()
            })
        });
    }
    group.finish();
}

/// One orthonormal frame of f rows in dimension d (Householder QR in f64):
/// ≈ 4·d·f² flops, on one thread.
fn frame_sampling(c: &mut Criterion) {
    let mut group = c.benchmark_group("orthonormal_frame");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    let kernels = Kernels::detect();
    for (f, d) in [(512, 512), (256, 4_096)] {
        let scheme = directions::Scheme::Orthogonal { frame: f };
        let mut theta = vec![0.0f32; f * d];
        let mut scratch = vec![0.0f64; directions::scratch_len(scheme, d)];
        group.throughput(Throughput::Elements(f as u64));
        group.bench_function(format!("f{f}_d{d}"), |b| {
            b.iter(|| {
                directions::fill(
                    kernels,
                    black_box(7),
                    scheme,
                    0,
                    d,
                    &mut theta,
                    &mut scratch,
                )
                .unwrap()
            })
        });
    }
    group.finish();
}

/// One sample scored alone (`psmi_core::stream`): its directions drawn
/// again (i.i.d., or frames of 64), or read from a cache of all m × d, as
/// rows or packed for the projection kernel.
fn stream_scoring(c: &mut Criterion) {
    let mut group = c.benchmark_group("stream");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    let kernels = Kernels::detect();
    let (d, m, k) = (512, 500, 10);
    let p = Problem::new(1, m, k);
    let mut table_buf = vec![0.0f32; table_len(k, m)];
    let table = ScoringTable::new(k, m, &p.frequency, &p.mean, &p.std, &mut table_buf).unwrap();
    let mut rng = Uniform(3);
    let sample: Vec<f32> = (0..d).map(|_| (4.0 * rng.next() - 2.0) as f32).collect();
    group.throughput(Throughput::Elements(m as u64));
    for (name, scheme) in [
        ("iid", directions::Scheme::Iid),
        ("frames64", directions::Scheme::Orthogonal { frame: 64 }),
    ] {
        let mut rows = vec![0.0f32; rows_len(scheme, d)];
        let mut scratch = vec![0.0f64; scratch_len(scheme, d)];
        let mut theta = vec![0.0f32; m * d];
        directions::fill(kernels, 7, scheme, 0, d, &mut theta, &mut scratch).unwrap();
        let mut drawn =
            StreamScorer::new(kernels, table, 7, scheme, d, &mut rows, &mut scratch).unwrap();
        group.bench_function(format!("{name}_drawn_d{d}_m{m}_k{k}"), |b| {
            b.iter(|| drawn.score(black_box(&sample), 1).unwrap())
        });
        let mut cached = StreamScorer::cached(kernels, table, d, &theta).unwrap();
        group.bench_function(format!("{name}_cached_d{d}_m{m}_k{k}"), |b| {
            b.iter(|| cached.score(black_box(&sample), 1).unwrap())
        });
        let mut packed_buf = vec![0.0f32; projection::packed_len(kernels, m, d)];
        let packed = projection::pack_directions(kernels, &theta, d, &mut packed_buf).unwrap();
        let mut z = vec![0.0f32; m];
        let mut z_scratch = vec![0.0f32; projection::scratch_len(kernels, d)];
        let mut packed =
            StreamScorer::packed(kernels, table, packed, &mut z, &mut z_scratch).unwrap();
        group.bench_function(format!("{name}_packed_d{d}_m{m}_k{k}"), |b| {
            b.iter(|| packed.score(black_box(&sample), 1).unwrap())
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    scoring,
    statistics,
    direction_sampling,
    frame_sampling,
    stream_scoring
);
criterion_main!(benches);
