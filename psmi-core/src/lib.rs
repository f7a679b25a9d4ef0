//! # psmi-core
//!
//! The `no_std`, allocation-free engine of Pointwise Sliced Mutual Information
//! (PSMI; Wongso et al., ISIT 2023, algorithm 1). Every stage works on flat
//! row-major slices and buffers the caller provides, and says how large each
//! buffer must be:
//!
//! 1. [`directions`]: θ_j uniform on the unit sphere, a pure function of `(seed, j)`;
//! 2. [`projection`]: Z = X Θᵀ, cache-blocked SIMD;
//! 3. [`statistics`]: per-class mean and variance along each direction, in f64, mergeable;
//! 4. [`scoring`]: psmi_ij in log space, and per-sample mean and spread over directions.
//!
//! [`stream`] scores one sample at a time, drawing each direction again from
//! the seed, and keeps the K lowest-scoring samples, in fixed memory.
//!
//! [`reference`](mod@reference) holds scalar float64 versions of each stage, the yardstick of
//! the tests. Kernels are chosen once, through a [`Kernels`] token: at compile
//! time under `no_std`, or at run time with the `std` feature.
//!
//! ## Example: PSMI of four samples, with no allocation
//!
//! ```
//! use psmi_core::{directions, projection, scoring, statistics::{ClassMoments, Moments}, Kernels};
//!
//! const N: usize = 6; const D: usize = 3; const M: usize = 4; const K: usize = 2;
//! let x: [f32; N * D] = [0.0, 0.1, 0.2,  0.3, 0.1, 0.0,  0.1, 0.2, 0.1,
//!                        2.0, 2.1, 1.9,  2.2, 1.8, 2.0,  1.9, 2.3, 2.1];
//! let labels: [u32; N] = [0, 0, 0, 1, 1, 1];
//! let kernels = Kernels::compiled();
//!
//! // 1. Directions, packed for the projection kernel.
//! let mut theta = [0.0f32; M * D];
//! directions::fill_directions(7, 0, D, &mut theta)?;
//! let mut packed_buf = [0.0f32; 1024];
//! assert!(projection::packed_len(kernels, M, D) <= packed_buf.len());
//! let packed = projection::pack_directions(kernels, &theta, D, &mut packed_buf)?;
//!
//! // 2. Projections.
//! let mut z = [0.0f32; N * M];
//! let mut scratch = [0.0f32; 4096];
//! assert!(projection::scratch_len(kernels, D) <= scratch.len());
//! projection::project(&x, &packed, &mut z, &mut scratch)?;
//!
//! // 3. Class statistics.
//! let (mut counts, mut mean, mut m2) = ([0u64; K], [0.0f64; K * M], [0.0f64; K * M]);
//! let mut moments = ClassMoments::new(K, M, &mut counts, &mut mean, &mut m2)?;
//! moments.accumulate(&z, &labels)?;
//! let (mut frequency, mut std) = ([0.0f64; K], [0.0f64; K * M]);
//! moments.finish(&mut frequency, &mut std)?;
//!
//! // 4. Scores, in place, and each sample's mean over directions.
//! let mut table_buf = [0.0f32; scoring::table_len(K, M)];
//! let mut class_mean = [0.0f64; K * M];
//! for c in 0..K { class_mean[c * M..(c + 1) * M].copy_from_slice(moments.mean(c)); }
//! let table = scoring::ScoringTable::new(K, M, &frequency, &class_mean, &std, &mut table_buf)?;
//! scoring::score_in_place(kernels, &table, &labels, &mut z)?;
//! let mut per_sample = [Moments::default(); N];
//! scoring::summarize_rows(&z, M, &mut per_sample)?;
//! // Well separated classes: every label explains its sample, PSMI ≈ ln 2.
//! assert!(per_sample.iter().all(|s| (s.mean - 2f64.ln()).abs() < 1e-3));
//! # Ok::<(), psmi_core::Error>(())
//! ```
#![no_std]
#![deny(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

pub mod directions;
mod dispatch;
mod dot;
mod error;
pub mod projection;
pub mod reference;
pub mod scoring;
pub mod statistics;
pub mod stream;

pub use dispatch::{Isa, Kernels};
pub use error::Error;
