//! Criterion benchmarks of the projection kernels, single thread.
//!
//! `project` is timed over all n rows in one call, with the directions packed
//! beforehand; `pack_directions` is timed on its own. Throughput is declared
//! as `Elements(2·n·d·m)`: each "element" is one floating-point operation (a
//! multiply or an add), so criterion's "elem/s" reads as FLOP/s, comparable
//! with an sgemm of the same shape.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use psmi_core::projection::{pack_directions, packed_len, project, scratch_len};
use psmi_core::{Isa, Kernels};
use std::hint::black_box;
use std::time::Duration;

/// (n, d, m): many samples in a small space, and a large square-ish product.
const SHAPES: [(usize, usize, usize); 2] = [(10_000, 512, 500), (2_000, 4_096, 2_000)];

/// Uniform values in [-1, 1) from a fixed SplitMix64 stream.
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let supported: Vec<Kernels> = Isa::ALL.into_iter().filter_map(Kernels::for_isa).collect();
    for (n, d, m) in SHAPES {
        let x = values(n * d, 1);
        let theta = values(m * d, 2);
        let shape = format!("n{n}_d{d}_m{m}");

        let mut group = c.benchmark_group(format!("project/{shape}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3))
            .throughput(Throughput::Elements((2 * n * d * m) as u64));
        for &kernels in &supported {
            let mut packed_buf = vec![0.0f32; packed_len(kernels, m, d)];
            let packed = pack_directions(kernels, &theta, d, &mut packed_buf).unwrap();
            let mut scratch = vec![0.0f32; scratch_len(kernels, d)];
            let mut z = vec![0.0f32; n * m];
            group.bench_function(BenchmarkId::from_parameter(kernels.isa().name()), |b| {
                b.iter(|| project(black_box(&x), &packed, &mut z, &mut scratch).unwrap())
            });
        }
        group.finish();

        let mut group = c.benchmark_group(format!("pack_directions/d{d}_m{m}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(600))
            .throughput(Throughput::Elements((d * m) as u64));
        for &kernels in &supported {
            let mut packed_buf = vec![0.0f32; packed_len(kernels, m, d)];
            group.bench_function(BenchmarkId::from_parameter(kernels.isa().name()), |b| {
                b.iter(|| {
                    pack_directions(kernels, black_box(&theta), d, &mut packed_buf)
                        .unwrap()
                        .directions()
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
