//! Library errors as Python exceptions, and Ctrl-C during a computation.

use psmi_std::PsmiError;
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyType;
use std::ops::ControlFlow;

/// The Python exception for a library error, its message prefixed with the
/// argument at fault (`X` for the features, `y` for the labels), as the
/// `psmi` program prefixes the file.
pub fn to_py(error: PsmiError) -> PyErr {
    match &error {
        PsmiError::NonFinite { .. }
        | PsmiError::Empty { .. }
        | PsmiError::FeatureShape { .. }
        | PsmiError::DimensionMismatch { .. }
        | PsmiError::ZeroVariance { .. } => PyValueError::new_err(format!("X: {error}")),
        PsmiError::LabelCount { .. } | PsmiError::UnseenLabel { .. } => {
            PyValueError::new_err(format!("y: {error}"))
        }
        // The package raises RuntimeError here: ours is both.
        PsmiError::TooFewSamples { .. } => Python::attach(|py| {
            let class = py
                .import("psmi_rs._errors")
                .and_then(|m| m.getattr("TooFewSamplesError"))
                .and_then(|c| Ok(c.cast_into::<PyType>()?));
            match class {
                Ok(class) => PyErr::from_type(class, format!("y: {error}")),
                Err(e) => e,
            }
        }),
        PsmiError::InvalidOption { .. }
        | PsmiError::Incompatible(_)
        | PsmiError::ModelFile { .. }
        | PsmiError::Decode { .. } => PyValueError::new_err(error.to_string()),
        PsmiError::Io { path, source } => PyOSError::new_err((
            source.raw_os_error().unwrap_or(0),
            source.to_string(),
            path.display().to_string(),
        )),
        PsmiError::Interrupted { .. } => PyKeyboardInterrupt::new_err(error.to_string()),
        _ => PyRuntimeError::new_err(error.to_string()),
    }
}

/// Runs a computation without the GIL, stoppable from Python.
pub trait Interruptible {
    /// Runs `work` with the GIL released. `work` calls the check it is given
    /// between passes: the check takes the GIL for a moment and runs Python's
    /// signal handlers; if one raises (Ctrl-C raises `KeyboardInterrupt`), it
    /// returns `Break`, `work` stops with [`PsmiError::Interrupted`], and the
    /// handler's exception is what Python sees.
    fn run_interruptible<T: Send>(
        self,
        work: impl FnOnce(&mut (dyn FnMut() -> ControlFlow<()> + Send)) -> psmi_std::Result<T> + Send,
    ) -> PyResult<T>;
}

impl Interruptible for Python<'_> {
    fn run_interruptible<T: Send>(
        self,
        work: impl FnOnce(&mut (dyn FnMut() -> ControlFlow<()> + Send)) -> psmi_std::Result<T> + Send,
    ) -> PyResult<T> {
        let mut raised: Option<PyErr> = None;
        let result = self.detach(|| {
            let mut check = || {
                Python::attach(|py| match py.check_signals() {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(e) => {
                        raised = Some(e);
                        ControlFlow::Break(())
                    }
                })
            };
            work(&mut check)
        });
        match (result, raised) {
            (Ok(value), _) => Ok(value),
            (Err(PsmiError::Interrupted { .. }), Some(raised)) => Err(raised),
            (Err(error), _) => Err(to_py(error)),
        }
    }
}
