//! # psmi-std
//!
//! Pointwise Sliced Mutual Information (PSMI; Wongso et al., ISIT 2023) for
//! labelled data sets: for every sample, how well its label explains its
//! features, through Gaussian fits along random one-dimensional projections.
//! Low PSMI marks mislabelled or atypical samples.
//!
//! The estimator is shaped like the Python package `psmi` 0.2.0 and gives the
//! same numbers for the same directions, with, beyond it: a seed that fixes the
//! result on any number of threads, memory that grows with one block of
//! directions rather than all of them, finite scores for far-away points,
//! a bounded auto mode, streaming fits and saved models.
//!
//! ```
//! use psmi_std::{Features, Psmi};
//! // Two well separated groups of points; row 4 lies with the first group
//! // but carries the label of the second.
//! let data: Vec<f32> = vec![0.0, 0.1,  0.2, 0.0,  0.1, 0.3,  0.3, 0.2,  0.0, 0.2,
//!                           5.0, 5.1,  5.2, 5.0,  4.9, 5.1,  5.3, 4.8,  5.1, 5.0];
//! let labels = [0, 0, 0, 0, 1, 1, 1, 1, 1, 1];
//! let x = Features::new(&data, 10, 2)?;
//! let psmi = Psmi::builder().min_n_estimators(100).build()?; // auto mode
//! let (model, scores) = psmi.fit_transform(&x, &labels)?;
//! assert_eq!(scores.lowest(1), vec![4]);
//! assert!(model.auto_report().is_some());
//! # Ok::<(), psmi_std::PsmiError>(())
//! ```
#![deny(missing_docs)]

mod auto;
mod class_table;
mod classes;
mod error;
pub mod error_bars;
mod estimator;
pub mod evaluation;
mod features;
mod fitter;
pub mod io;
mod model;
mod model_file;
mod options;
mod pipeline;
mod quantiles;
mod scores;
pub mod stages;
pub mod sweep;

pub use auto::{AutoReport, AutoRule, Check, Step};
pub use error::{PsmiError, Result};
pub use estimator::Progress;
pub use features::Features;
pub use fitter::PsmiFitter;
pub use model::PsmiModel;
pub use options::{frame_size, parse_precision};
pub use options::{
    Directions, NEstimators, Psmi, PsmiBuilder, DEFAULT_DIRECTIONS, DEFAULT_MAX_N_ESTIMATORS,
    DEFAULT_SEED, FRAME_RATIO,
};
pub use psmi_core::directions::Scheme;
pub use psmi_core::projection::{Precision, Rows};
pub use psmi_core::{Isa, Kernels};
pub use quantiles::Quantiles;
pub use scores::PsmiScores;

/// The README's Rust examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
