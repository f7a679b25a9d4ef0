//! How a failed run ends: one line naming what is at fault, and an exit status.

use psmi_std::io::IoError;
use psmi_std::PsmiError;
use std::fmt::Display;

/// Exit status for bad input or usage.
pub const USAGE: u8 = 2;
/// Exit status for any other failure.
pub const OTHER: u8 = 1;

/// A failed run.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    input: bool,
}

impl Failure {
    /// Bad input or usage (status 2).
    pub fn input(message: impl Display) -> Self {
        Failure {
            message: message.to_string(),
            input: true,
        }
    }

    /// Any other failure (status 1).
    pub fn other(message: impl Display) -> Self {
        Failure {
            message: message.to_string(),
            input: false,
        }
    }

    /// The process's exit status.
    pub fn status(&self) -> u8 {
        if self.input {
            USAGE
        } else {
            OTHER
        }
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
}

impl Blame<'_> {
    /// The estimator's error, prefixed with the file at fault.
    pub fn failure(&self, e: PsmiError) -> Failure {
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
            _ => Failure::other(e),
        }
    }
}

/// An estimator error before any file is involved (options).
pub fn options(e: PsmiError) -> Failure {
    Blame {
        features: &"features",
        labels: &"labels",
    }
    .failure(e)
}
