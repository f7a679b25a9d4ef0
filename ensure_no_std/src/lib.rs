//! A no_std, allocator-free static library that runs every psmi-core stage,
//! and the stream scorer with its tracker of the lowest scores.
#![no_std]

use core::panic::PanicInfo;
use psmi_core::statistics::{ClassMoments, Moments};
use psmi_core::stream::{LowestScores, StreamScorer};
use psmi_core::{directions, projection, scoring, stream, Kernels};

#[panic_handler]
fn panic(_info: &PanicInfo) -> ! {
    loop {}
}

const N: usize = 8;
const D: usize = 4;
const M: usize = 3;
const K: usize = 2;

/// Mean PSMI of a fixed toy data set, through every stage; NaN on error.
#[no_mangle]
pub extern "C" fn psmi_core_smoke(seed: u64) -> f64 {
    run(seed).unwrap_or(f64::NAN)
}

fn run(seed: u64) -> Result<f64, psmi_core::Error> {
    let mut x = [0.0f32; N * D];
    for (i, v) in x.iter_mut().enumerate() {
        *v = (i % 7) as f32 + if i >= N * D / 2 { 5.0 } else { 0.0 };
    }
    let labels: [u32; N] = [0, 0, 0, 0, 1, 1, 1, 1];
    let kernels = Kernels::compiled();
    let mut theta = [0.0f32; M * D];
    // Orthonormal frames of 2 rows: the frames' Householder QR links without std too.
    let scheme = directions::Scheme::Orthogonal { frame: 2 };
    let mut frame_scratch =
        [0.0f64; directions::scratch_len(directions::Scheme::Orthogonal { frame: 2 }, D)];
    directions::fill(kernels, seed, scheme, 0, D, &mut theta, &mut frame_scratch)?;
    let mut packed_buf = [0.0f32; 4096];
    let packed = projection::pack_directions(kernels, &theta, D, &mut packed_buf)?;
    let mut z = [0.0f32; N * M];
    let mut scratch = [0.0f32; 65536];
    projection::project(&x, &packed, &mut z, &mut scratch)?;
    let (mut counts, mut mean, mut m2) = ([0u64; K], [0.0f64; K * M], [0.0f64; K * M]);
    let mut moments = ClassMoments::new(K, M, &mut counts, &mut mean, &mut m2)?;
    moments.accumulate(&z, &labels)?;
    let (mut frequency, mut std) = ([0.0f64; K], [0.0f64; K * M]);
    moments.finish(&mut frequency, &mut std)?;
    let mut class_mean = [0.0f64; K * M];
    for c in 0..K {
        class_mean[c * M..(c + 1) * M].copy_from_slice(moments.mean(c));
    }
    let mut table_buf = [0.0f32; scoring::table_len(K, M)];
    let table = scoring::ScoringTable::new(K, M, &frequency, &class_mean, &std, &mut table_buf)?;
    scoring::score_in_place(kernels, &table, &labels, &mut z)?;
    let mut per_sample = [Moments::default(); N];
    scoring::summarize_rows(&z, M, &mut per_sample)?;
    Ok(per_sample.iter().map(|s| s.mean).sum::<f64>() / N as f64)
}

/// Index of the sample of lowest mean PSMI, scored one by one against the
/// model of the toy data set's first half (class 0) and second half (class
/// 1), its directions drawn again from `seed`; `u64::MAX` on error.
#[no_mangle]
pub extern "C" fn psmi_core_stream_smoke(seed: u64) -> u64 {
    stream_lowest(seed).unwrap_or(u64::MAX)
}

fn stream_lowest(seed: u64) -> Result<u64, psmi_core::Error> {
    const SCHEME: directions::Scheme = directions::Scheme::Orthogonal { frame: 2 };
    let frequency = [0.5, 0.5];
    let mut mean = [0.0f64; K * M];
    mean[M..].fill(5.0);
    let std = [1.0f64; K * M];
    let mut table_buf = [0.0f32; scoring::table_len(K, M)];
    let table = scoring::ScoringTable::new(K, M, &frequency, &mean, &std, &mut table_buf)?;
    let mut rows = [0.0f32; stream::rows_len(SCHEME, D)];
    let mut scratch = [0.0f64; stream::scratch_len(SCHEME, D)];
    let kernels = Kernels::compiled();
    let mut scorer = StreamScorer::new(kernels, table, seed, SCHEME, D, &mut rows, &mut scratch)?;
    let mut lowest = LowestScores::<2>::new();
    for i in 0..N {
        let sample = [(i % 7) as f32; D];
        let class = (i >= N / 2) as u32;
        lowest.push(i as u64, scorer.score(&sample, class)?.mean);
    }
    Ok(lowest.sorted().first().map_or(u64::MAX, |s| s.index))
}
