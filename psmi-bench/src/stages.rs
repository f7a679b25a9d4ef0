//! The stages of one block of directions, decomposed over threads as
//! psmi-std decomposes them, so each can be timed alone.
//!
//! Every function runs on the current rayon pool: call it inside
//! [`rayon::ThreadPool::install`] to choose the threads. Rows are cut into
//! chunks of [`ROW_CHUNK`]; class statistics are accumulated over at most
//! [`ROW_GROUPS`] contiguous groups of chunks and merged in group order.

use psmi_core::projection::{self, PackedDirections};
use psmi_core::scoring::{self, ScoringTable};
use psmi_core::statistics::{ClassMoments, Moments};
use psmi_core::{directions, Error, Kernels};
use rayon::prelude::*;

/// Rows per task, as in psmi-std: large enough to amortise packing rows of
/// X, small enough that a chunk's projections stay in L2.
pub const ROW_CHUNK: usize = 256;

/// Most row groups whose class moments are merged, as in psmi-std.
pub const ROW_GROUPS: usize = 64;

/// Fills `theta` (row-major `m × dim`) with directions `0..m` of `seed`, one
/// task per direction.
///
/// # Errors
///
/// As [`directions::fill_directions`].
pub fn draw_directions(seed: u64, dim: usize, theta: &mut [f32]) -> Result<(), Error> {
    theta
        .par_chunks_mut(dim.max(1))
        .enumerate()
        .try_for_each(|(j, row)| directions::fill_directions(seed, j, dim, row))
}

/// Z = X Θᵀ over all rows of `x`, one task per chunk of rows, each packing
/// its rows of X into its own scratch buffer.
///
/// # Errors
///
/// As [`projection::project`].
pub fn project(x: &[f32], packed: &PackedDirections<'_>, z: &mut [f32]) -> Result<(), Error> {
    let (d, m) = (packed.dim(), packed.directions());
    let scratch_len = projection::scratch_len(packed.kernels(), d);
    x.par_chunks(ROW_CHUNK * d)
        .zip(z.par_chunks_mut(ROW_CHUNK * m))
        .try_for_each_init(
            || vec![0.0f32; scratch_len],
            |scratch, (x, z)| projection::project(x, packed, z, scratch),
        )
}

/// Per-class, per-direction count, mean and M2, owned.
#[derive(Clone, Debug)]
pub struct ClassStatistics {
    counts: Vec<u64>,
    mean: Vec<f64>,
    m2: Vec<f64>,
    directions: usize,
}

impl ClassStatistics {
    fn zeros(classes: usize, directions: usize) -> Self {
        ClassStatistics {
            counts: vec![0; classes],
            mean: vec![0.0; classes * directions],
            m2: vec![0.0; classes * directions],
            directions,
        }
    }

    fn view(&mut self) -> Result<ClassMoments<'_>, Error> {
        ClassMoments::from_parts(
            self.directions,
            &mut self.counts,
            &mut self.mean,
            &mut self.m2,
        )
    }

    /// The statistics of the projections `z` (row-major `labels.len() × m`)
    /// of samples of the given classes (`0..classes`).
    ///
    /// # Errors
    ///
    /// As [`ClassMoments::accumulate`]; [`Error::EmptyInput`] for no classes or directions.
    pub fn of(z: &[f32], labels: &[u32], classes: usize, m: usize) -> Result<Self, Error> {
        if classes == 0 || m == 0 {
            return Err(Error::EmptyInput {
                what: if m == 0 { "directions" } else { "classes" },
            });
        }
        let chunks = labels.len().div_ceil(ROW_CHUNK);
        let rows = chunks.div_ceil(ROW_GROUPS).max(1) * ROW_CHUNK;
        let partials = z
            .par_chunks(rows * m)
            .zip(labels.par_chunks(rows))
            .map(|(z, labels)| {
                let mut partial = ClassStatistics::zeros(classes, m);
                partial.view()?.accumulate(z, labels)?;
                Ok(partial)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let mut total = ClassStatistics::zeros(classes, m);
        for mut partial in partials {
            total.view()?.merge(&partial.view()?)?;
        }
        Ok(total)
    }

    /// Class frequencies, means and population standard deviations.
    ///
    /// # Errors
    ///
    /// [`Error::TooFewSamples`] for a class with fewer than two samples.
    pub fn parameters(&mut self) -> Result<ClassParameters, Error> {
        let mut frequency = vec![0.0; self.counts.len()];
        let mut std = vec![0.0; self.mean.len()];
        self.view()?.finish(&mut frequency, &mut std)?;
        Ok(ClassParameters {
            frequency,
            mean: self.mean.clone(),
            std,
            directions: self.directions,
        })
    }
}

/// Frequencies (k), means and standard deviations (k × m, class-major).
#[derive(Clone, Debug)]
pub struct ClassParameters {
    frequency: Vec<f64>,
    mean: Vec<f64>,
    std: Vec<f64>,
    directions: usize,
}

impl ClassParameters {
    /// The scoring table, in `buffer`.
    ///
    /// # Errors
    ///
    /// As [`ScoringTable::new`].
    pub fn table<'b>(&self, buffer: &'b mut Vec<f32>) -> Result<ScoringTable<'b>, Error> {
        let classes = self.frequency.len();
        buffer.resize(scoring::table_len(classes, self.directions), 0.0);
        ScoringTable::new(
            classes,
            self.directions,
            &self.frequency,
            &self.mean,
            &self.std,
            buffer,
        )
    }
}

/// Replaces the projections `z` (row-major `labels.len() × m`) by their PSMI,
/// one task per chunk of rows.
///
/// # Errors
///
/// As [`scoring::score_in_place`].
pub fn score(
    kernels: Kernels,
    table: &ScoringTable<'_>,
    labels: &[u32],
    z: &mut [f32],
) -> Result<(), Error> {
    let m = table.directions();
    z.par_chunks_mut(ROW_CHUNK * m)
        .zip(labels.par_chunks(ROW_CHUNK))
        .try_for_each(|(z, labels)| scoring::score_in_place(kernels, table, labels, z))
}

/// Each row's mean and M2 over its `m` scores, one task per chunk of rows.
///
/// # Errors
///
/// As [`scoring::summarize_rows`].
pub fn summarize(scores: &[f32], m: usize, out: &mut [Moments]) -> Result<(), Error> {
    if m == 0 {
        return Err(Error::EmptyInput { what: "directions" });
    }
    scores
        .par_chunks(ROW_CHUNK * m)
        .zip(out.par_chunks_mut(ROW_CHUNK))
        .try_for_each(|(scores, out)| scoring::summarize_rows(scores, m, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{balanced_labels, gaussian_features};

    /// The parallel stages give the serial reference's numbers.
    #[test]
    fn stages_match_one_serial_pass() {
        let (n, d, m, k) = (700, 37, 29, 3);
        let x = gaussian_features(n, d, 1);
        let labels = balanced_labels(n, k, 2);
        let kernels = Kernels::detect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(|| {
            let mut theta = vec![0.0f32; m * d];
            draw_directions(5, d, &mut theta).unwrap();
            let mut serial = vec![0.0f32; m * d];
            directions::fill_directions(5, 0, d, &mut serial).unwrap();
            assert_eq!(theta, serial);

            let mut packed_buf = vec![0.0f32; projection::packed_len(kernels, m, d)];
            let packed = projection::pack_directions(kernels, &theta, d, &mut packed_buf).unwrap();
            let mut z = vec![0.0f32; n * m];
            project(&x, &packed, &mut z).unwrap();
            for (i, row) in z.chunks_exact(m).enumerate() {
                for (j, &value) in row.iter().enumerate() {
                    let exact: f64 = (0..d)
                        .map(|c| x[i * d + c] as f64 * theta[j * d + c] as f64)
                        .sum();
                    assert!((value as f64 - exact).abs() < 1e-4, "z[{i}][{j}]");
                }
            }

            let mut stats = ClassStatistics::of(&z, &labels, k, m).unwrap();
            let mut serial = ClassStatistics::zeros(k, m);
            serial.view().unwrap().accumulate(&z, &labels).unwrap();
            assert_eq!(stats.counts, serial.counts);
            for (a, b) in stats.mean.iter().zip(&serial.mean) {
                assert!((a - b).abs() < 1e-9);
            }

            let params = stats.parameters().unwrap();
            let mut table_buf = Vec::new();
            let table = params.table(&mut table_buf).unwrap();
            let mut scores = z.clone();
            score(kernels, &table, &labels, &mut scores).unwrap();
            let mut summaries = vec![Moments::default(); n];
            summarize(&scores, m, &mut summaries).unwrap();
            let mut serial = vec![Moments::default(); n];
            scoring::summarize_rows(&scores, m, &mut serial).unwrap();
            assert_eq!(summaries, serial);
            assert!(scores.iter().all(|v| v.is_finite()));
        });
    }
}
