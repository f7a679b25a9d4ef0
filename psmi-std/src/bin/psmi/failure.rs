//! How a failed run ends: one line naming what is at fault, and an exit status.

use crate::interrupt;
use psmi_std::io::{FeatureShards, IoError};
use psmi_std::PsmiError;
use std::fmt::Display;

/// Exit status for bad input or usage.
pub const USAGE: u8 = 2;
/// Exit status for any other failure.
pub const OTHER: u8 = 1;

/// A failed run.
#[derive(Debug)]
pub struct Failure {
    line: String,
    status: u8,
}

impl Failure {
    /// Bad input or usage (status 2).
    pub fn input(message: impl Display) -> Self {
        Failure {
            line: format!("error: {message}"),
            status: USAGE,
        }
    }

    /// Any other failure (status 1).
    pub fn other(message: impl Display) -> Self {
        Failure {
            line: format!("error: {message}"),
            status: OTHER,
        }
    }

    /// A run stopped by the signal `name` (`SIGINT`), with the shell's status for
    /// a process the signal ended (128 + its number).
    pub fn interrupted(name: &str, number: i32) -> Self {
        Failure {
            line: format!("interrupted: {name}, no results written"),
            status: u8::try_from(128 + number).unwrap_or(OTHER),
        }
    }

    /// The one line printed on stderr.
    pub fn line(&self) -> &str {
        &self.line
    }

    /// The process's exit status.
    pub fn status(&self) -> u8 {
        self.status
    }
}

impl From<IoError> for Failure {
    fn from(e: IoError) -> Self {
        if e.is_input_error() {
            Failure::input(e)
        } else {
            Failure::other(e)
        }
    }
}

/// The files an estimator error can be blamed on.
pub struct Blame<'a> {
    pub features: &'a dyn Display,
    pub labels: &'a dyn Display,
    /// The shards of features checked as they are projected, which name
    /// the one holding a NaN or infinity.
    pub shards: Option<&'a FeatureShards>,
}

impl Blame<'_> {
    /// The estimator's error, prefixed with the file at fault.
    pub fn failure(&self, e: PsmiError) -> Failure {
        if let (&PsmiError::NonFinite { row, column }, Some(shards)) = (&e, self.shards) {
            return Failure::input(shards.non_finite(row, column));
        }
        match &e {
            PsmiError::InvalidOption {
                option,
                value,
                expected,
            } => Failure::input(format!(
                "invalid value {value} for --{}: {expected}",
                option.replace('_', "-")
            )),
            PsmiError::NonFinite { .. }
            | PsmiError::Empty { .. }
            | PsmiError::FeatureShape { .. }
            | PsmiError::DimensionMismatch { .. }
            | PsmiError::ZeroVariance { .. } => Failure::input(format!("{}: {e}", self.features)),
            PsmiError::LabelCount { .. }
            | PsmiError::TooFewSamples { .. }
            | PsmiError::UnseenLabel { .. } => Failure::input(format!("{}: {e}", self.labels)),
            PsmiError::ModelFile { .. } | PsmiError::Io { .. } | PsmiError::Incompatible(_) => {
                Failure::input(e)
            }
            // Only the progress callback stops a run, and only on a signal.
            PsmiError::Interrupted { .. } => interrupt::failure(),
            _ => Failure::other(e),
        }
    }
}

/// An estimator error before any file is involved (options).
pub fn options(e: PsmiError) -> Failure {
    Blame {
        features: &"features",
        labels: &"labels",
        shards: None,
    }
    .failure(e)
}
