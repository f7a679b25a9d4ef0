//! How a failed run ends: one line naming what is at fault, and an exit status.

use crate::interrupt::{self, Stopped};
use psmi_std::io::{FeatureShards, IoError, IoErrorKind};
use psmi_std::PsmiError;
use std::fmt::Display;
use std::path::Path;

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

    /// The same failure, said of run `name` of a sweep (an interruption stays as it is).
    pub fn in_run(self, name: &str) -> Self {
        match self.line.strip_prefix("error: ") {
            Some(rest) => Failure {
                line: format!("error: run {name}: {rest}"),
                status: self.status,
            },
            None => self,
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

/// A run stopped by a signal, with the shell's status for a process the
/// signal ended (128 + its number).
impl From<Stopped> for Failure {
    fn from(signal: Stopped) -> Self {
        Failure {
            line: format!("interrupted: {}, no results written", signal.name),
            status: u8::try_from(128 + signal.number).unwrap_or(OTHER),
        }
    }
}

/// Every error about a file, input or output, ends here: whether it is the
/// input's fault (status 2) or a failed write (status 1) is
/// [`IoError::is_input_error`]'s rule, the only one.
impl From<IoError> for Failure {
    fn from(e: IoError) -> Self {
        if e.is_input_error() {
            Failure::input(e)
        } else {
            Failure::other(e)
        }
    }
}

/// A failed write of the file `path`.
pub fn write(path: &Path) -> impl FnOnce(std::io::Error) -> Failure + '_ {
    move |e| IoError::new(path, IoErrorKind::Write(e)).into()
}

/// A directory of the results (`path`) that cannot be made.
pub fn output(path: &Path) -> impl FnOnce(std::io::Error) -> Failure + '_ {
    move |e| IoError::new(path, IoErrorKind::Output(e)).into()
}

/// A model that could not be saved: a failed write like any other.
pub fn saved(e: PsmiError) -> Failure {
    match e {
        PsmiError::Io { path, source } => write(&path)(source),
        e => Failure::other(e),
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
            PsmiError::Interrupted { .. } => {
                interrupt::received().map_or_else(|| Failure::other("interrupted"), Failure::from)
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
        shards: None,
    }
    .failure(e)
}
