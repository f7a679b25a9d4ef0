//! The sweep's rules for `psmi_rs.sweep`: one layer's scores with the
//! per-layer statistics, the checks that make runs comparable, the deltas and
//! the evaluation, all from `psmi_std` (`sweep`, `evaluation`, `quantiles`).
//! The Python layer only walks the runs and layers and names them in errors.

use crate::errors::Interruptible;
use crate::{contiguous, inputs, quantiles_to_py, Model};
use numpy::{PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use psmi_std::evaluation::{check_tpr, evaluate, target_from_values, EvaluationError, Proportion};
use psmi_std::sweep::{check_layers, check_samples, delta_mean};
use psmi_std::Psmi;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Bytes of n × m scores a layer keeps in memory to take its quantiles from
/// them; beyond that the quantiles take a second pass (the same numbers).
const QUANTILE_SCORES_MEMORY: u64 = 1 << 28;

/// One layer's results: `(mean, std, stderr, quantiles n × q or None, smi,
/// smi_stderr)`.
pub type LayerScores<'py> = (
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Option<Bound<'py, PyArray2<f64>>>,
    f64,
    f64,
);

/// Fits a layer and scores its samples as the `psmi` program's sweep does
/// (`fit_transform_with_quantiles` when `levels` is not empty).
pub fn score_layer<'py>(
    psmi: &Psmi,
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f32>,
    y: PyReadonlyArray1<'py, i64>,
    levels: Vec<f64>,
) -> PyResult<(Model, LayerScores<'py>)> {
    let (x, y) = inputs(&x, &y)?;
    let (model, scores, quantiles) = py.run_interruptible(|check| {
        if levels.is_empty() {
            psmi.fit_transform_with(&x, y, false, |_| check())
                .map(|(model, scores)| (model, scores, None))
        } else {
            let memory = Some(QUANTILE_SCORES_MEMORY);
            psmi.fit_transform_with_quantiles(&x, y, false, &levels, memory, |_| check())
                .map(|(model, scores, quantiles)| (model, scores, Some(quantiles)))
        }
    })?;
    let quantiles = match quantiles {
        Some(q) => Some(quantiles_to_py(py, &q)?),
        None => None,
    };
    let (smi, smi_stderr, stderr) = (scores.smi(), scores.smi_stderr(), scores.stderr());
    let (mean, std, _) = scores.into_parts();
    let layer = (
        PyArray1::from_vec(py, mean),
        PyArray1::from_vec(py, std),
        PyArray1::from_vec(py, stderr),
        quantiles,
        smi,
        smi_stderr,
    );
    Ok((Model { model }, layer))
}

/// Checks that every run `(name, layer names)` has the same layers
/// (`psmi_std::sweep::check_layers`).
#[pyfunction]
pub fn sweep_check_layers(runs: Vec<(String, Vec<String>)>) -> PyResult<()> {
    let runs: Vec<(&str, &[String])> = runs.iter().map(|(r, l)| (r.as_str(), &l[..])).collect();
    check_layers(&runs).map_err(|e| PyValueError::new_err(format!("states: {e}")))
}

/// Checks that run `(name, labels)` has the samples and labels of the first
/// (`psmi_std::sweep::check_samples`).
#[pyfunction]
pub fn sweep_check_samples(
    first: (String, PyReadonlyArray1<'_, i64>),
    run: (String, PyReadonlyArray1<'_, i64>),
) -> PyResult<()> {
    let first_labels = contiguous(&first.1, "y")?;
    let labels = contiguous(&run.1, "y")?;
    check_samples((&first.0, first_labels), (&run.0, labels))
        .map_err(|e| PyValueError::new_err(format!("y: {e}")))
}

/// Each sample's mean minus the first run's (`psmi_std::sweep::delta_mean`).
#[pyfunction]
pub fn sweep_delta_mean<'py>(
    py: Python<'py>,
    mean: PyReadonlyArray1<'py, f64>,
    first: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (mean, first) = (contiguous(&mean, "mean")?, contiguous(&first, "first")?);
    if mean.len() != first.len() {
        return Err(PyValueError::new_err(format!(
            "mean has {} samples, first {}",
            mean.len(),
            first.len()
        )));
    }
    Ok(PyArray1::from_vec(py, delta_mean(mean, first)))
}

/// The evaluation target from 0/1 values, checked against the number of
/// samples, and the rate `tpr`, before any work.
#[pyfunction]
pub fn evaluation_target<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, i64>,
    samples: usize,
    tpr: f64,
) -> PyResult<Bound<'py, PyArray1<bool>>> {
    check_tpr(tpr).map_err(|e| PyValueError::new_err(format!("tpr: {e}")))?;
    let against = |e: EvaluationError| PyValueError::new_err(format!("against: {e}"));
    let marked = target_from_values(contiguous(&values, "against")?).map_err(against)?;
    if marked.len() != samples {
        return Err(against(EvaluationError::Length {
            target: marked.len(),
            samples,
        }));
    }
    Ok(PyArray1::from_vec(py, marked))
}

/// A proportion and its 95 % interval, `(value, low, high)`.
type Interval = (f64, f64, f64);

fn interval(p: Proportion) -> Interval {
    (p.value, p.low, p.high)
}

/// AUROC of −mean and FPR at `tpr` against `target`, with their Wilson
/// intervals (`psmi_std::evaluation::evaluate`): `(auroc, fpr_at_tpr,
/// positives, negatives)`.
#[pyfunction]
pub fn evaluation(
    mean: PyReadonlyArray1<'_, f64>,
    target: PyReadonlyArray1<'_, bool>,
    tpr: f64,
) -> PyResult<(Interval, Interval, usize, usize)> {
    let (mean, target) = (contiguous(&mean, "mean")?, contiguous(&target, "against")?);
    let e = evaluate(mean, target, tpr).map_err(|e| {
        let name = if matches!(e, EvaluationError::Rate(_)) {
            "tpr"
        } else {
            "against"
        };
        PyValueError::new_err(format!("{name}: {e}"))
    })?;
    Ok((
        interval(e.auroc),
        interval(e.fpr_at_tpr),
        e.positives,
        e.negatives,
    ))
}
