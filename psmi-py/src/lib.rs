//! `psmi_rs._native`: the thin layer between Python and `psmi-std`.
//!
//! The pure-Python package `psmi_rs` (psmi-py/python) turns whatever the user
//! passes into a C-contiguous float32 matrix and int64 labels, then calls the
//! classes here. Every computation runs with the GIL released; long ones stop
//! on Ctrl-C, checked between passes over the data.

mod dlpack;
mod errors;
mod sweep;

use errors::{to_py, Interruptible};
use numpy::{
    PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use psmi_std::{
    Check, Directions, Features, NEstimators, Psmi, PsmiBuilder, PsmiFitter, PsmiModel, Step,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

/// The slice behind a C-contiguous array (the Python layer makes it so).
fn contiguous<'a, T: numpy::Element, D: numpy::ndarray::Dimension>(
    array: &'a numpy::PyReadonlyArray<'_, T, D>,
    name: &str,
) -> PyResult<&'a [T]> {
    array
        .as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be C-contiguous and aligned")))
}

/// Features and labels as the library takes them, borrowed from numpy.
fn inputs<'a>(
    x: &'a PyReadonlyArray2<'_, f32>,
    y: &'a PyReadonlyArray1<'_, i64>,
) -> PyResult<(Features<'a>, &'a [i64])> {
    inputs_at(x, y, 0)
}

/// Names a bad feature by its row in the whole data set when `x` is the
/// part of it that starts at row `first_row` (a partition of a distributed run).
fn at_row(error: psmi_std::PsmiError, first_row: usize) -> psmi_std::PsmiError {
    match error {
        psmi_std::PsmiError::NonFinite { row, column } => psmi_std::PsmiError::NonFinite {
            row: first_row + row,
            column,
        },
        other => other,
    }
}

/// Features and labels of the rows from `first_row` on, bad features named by their global row.
fn inputs_at<'a>(
    x: &'a PyReadonlyArray2<'_, f32>,
    y: &'a PyReadonlyArray1<'_, i64>,
    first_row: usize,
) -> PyResult<(Features<'a>, &'a [i64])> {
    let (rows, cols) = (x.shape()[0], x.shape()[1]);
    let features =
        Features::new(contiguous(x, "X")?, rows, cols).map_err(|e| to_py(at_row(e, first_row)))?;
    Ok((features, contiguous(y, "y")?))
}

/// `(mean, std, full or None, smi, stderr, smi_stderr)` as numpy arrays,
/// handed over without copies; the standard errors are the library's, right
/// for the scheme of directions.
type Scores<'py> = (
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Option<Bound<'py, PyArray2<f32>>>,
    f64,
    Bound<'py, PyArray1<f64>>,
    f64,
);

/// Each sample's mean and std, as numpy arrays.
type MeanStd<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>);

fn scores_to_py(py: Python<'_>, scores: psmi_std::PsmiScores) -> PyResult<Scores<'_>> {
    let (smi, m) = (scores.smi(), scores.n_estimators());
    let (stderr, smi_stderr) = (scores.stderr(), scores.smi_stderr());
    let (mean, std, full) = scores.into_parts();
    let n = mean.len();
    let full = match full {
        Some(values) => Some(PyArray1::from_vec(py, values).reshape([n, m])?),
        None => None,
    };
    Ok((
        PyArray1::from_vec(py, mean),
        PyArray1::from_vec(py, std),
        full,
        smi,
        PyArray1::from_vec(py, stderr),
        smi_stderr,
    ))
}

/// Quantiles as an n × q numpy array (copied: `Quantiles` keeps its buffer).
fn quantiles_to_py<'py>(
    py: Python<'py>,
    quantiles: &psmi_std::Quantiles,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let shape = [quantiles.rows(), quantiles.levels().len()];
    PyArray1::from_slice(py, quantiles.values()).reshape(shape)
}

/// Rows per `PsmiFitter::update` in an interruptible fit: about 2^28
/// multiply-adds (tens of milliseconds), and at least 1024 rows, so that
/// packing the directions again for each chunk stays a small part of it.
fn chunk_rows(m: usize, d: usize) -> usize {
    ((1usize << 28) / (m * d).max(1)).max(1024)
}

/// Sets the options the estimator and the fitter share, and checks them all.
fn common_options(
    builder: PsmiBuilder,
    seed: u64,
    threads: Option<usize>,
    directions: &str,
    frame_size: Option<usize>,
    precision: &str,
) -> PyResult<Psmi> {
    let mut builder = builder
        .seed(seed)
        .directions(directions.parse().map_err(to_py)?)
        .precision(psmi_std::parse_precision(precision).map_err(to_py)?);
    if let Some(threads) = threads {
        builder = builder.threads(threads);
    }
    if let Some(frame) = frame_size {
        builder = builder.frame_size(frame);
    }
    builder.build().map_err(to_py)
}

/// Validated hyper-parameters (`psmi_std::Psmi`).
#[pyclass(module = "psmi_rs._native", frozen)]
struct Estimator {
    psmi: Psmi,
}

#[pymethods]
impl Estimator {
    /// Checks the options; `n_estimators` None is auto mode, `threads` None
    /// all cores, `target_error` None the package's stopping rule.
    #[new]
    #[pyo3(signature = (n_estimators, min_n_estimators, lowest_psmi_quantile,
        max_variation_of_the_lowest, milestone, max_n_estimators, seed, threads,
        directions, frame_size, target_error=None, precision="f32"))]
    #[allow(clippy::too_many_arguments)] // the Python constructor's options, one by one
    fn new(
        n_estimators: Option<usize>,
        min_n_estimators: usize,
        lowest_psmi_quantile: f64,
        max_variation_of_the_lowest: f64,
        milestone: f64,
        max_n_estimators: usize,
        seed: u64,
        threads: Option<usize>,
        directions: &str,
        frame_size: Option<usize>,
        target_error: Option<f64>,
        precision: &str,
    ) -> PyResult<Self> {
        let mut builder = Psmi::builder()
            .n_estimators(n_estimators.map_or(NEstimators::Auto, NEstimators::Fixed))
            .min_n_estimators(min_n_estimators)
            .lowest_psmi_quantile(lowest_psmi_quantile)
            .max_variation_of_the_lowest(max_variation_of_the_lowest)
            .milestone(milestone)
            .max_n_estimators(max_n_estimators);
        if let Some(error) = target_error {
            builder = builder.target_error(error);
        }
        Ok(Estimator {
            psmi: common_options(builder, seed, threads, directions, frame_size, precision)?,
        })
    }

    /// Fits a model. Fixed mode streams the rows through a fitter in chunks,
    /// auto mode runs `fit_transform` (it needs the scores to stop), so that
    /// either stops on Ctrl-C.
    fn fit(
        &self,
        py: Python<'_>,
        x: PyReadonlyArray2<'_, f32>,
        y: PyReadonlyArray1<'_, i64>,
    ) -> PyResult<Model> {
        let (x, y) = inputs(&x, &y)?;
        let psmi = &self.psmi;
        let model = py.run_interruptible(|check| match psmi.n_estimators() {
            NEstimators::Fixed(m) => {
                let (n, d) = (x.rows(), x.cols());
                if y.len() != n {
                    return Err(psmi_std::PsmiError::LabelCount {
                        labels: y.len(),
                        rows: n,
                    });
                }
                let mut fitter = PsmiFitter::for_samples(psmi, d, Some(n))?;
                let rows = chunk_rows(m, d);
                for first in (0..n).step_by(rows) {
                    let end = (first + rows).min(n);
                    fitter.update(&x.slice_rows(first..end), &y[first..end])?;
                    if check().is_break() {
                        return Err(psmi_std::PsmiError::Interrupted { directions: None });
                    }
                }
                fitter.finish()
            }
            NEstimators::Auto => psmi
                .fit_transform_with(&x, y, false, |_| check())
                .map(|(model, _)| model),
        })?;
        Ok(Model { model })
    }

    /// An empty streaming fitter over the estimator's directions (fixed
    /// mode), frames sized for `n` samples in all.
    fn fitter(&self, dim: usize, n: usize) -> PyResult<Fitter> {
        let fitter = PsmiFitter::for_samples(&self.psmi, dim, Some(n)).map_err(to_py)?;
        Ok(Fitter { fitter })
    }

    /// An empty fitter over directions `first .. first + count` of the seed:
    /// one block of auto mode over `n` samples in all.
    fn block_fitter(&self, dim: usize, n: usize, first: usize, count: usize) -> PyResult<Fitter> {
        let fitter =
            PsmiFitter::for_block(&self.psmi, dim, Some(n), first, count).map_err(to_py)?;
        Ok(Fitter { fitter })
    }

    /// Joins the models of auto mode's blocks over `n` samples, with the
    /// run's report `(blocks, variation or None, converged)`.
    fn join(
        &self,
        py: Python<'_>,
        blocks: Vec<PyRef<'_, Model>>,
        n: usize,
        report: (usize, Option<f64>, bool),
    ) -> PyResult<Model> {
        let parts: Vec<PsmiModel> = blocks.iter().map(|b| b.model.clone()).collect();
        let (blocks, variation, converged) = report;
        let auto = psmi_std::AutoReport {
            blocks,
            variation,
            converged,
        };
        let seed = self.psmi.seed();
        let dim = parts.first().map_or(0, PsmiModel::dim);
        let scheme = self.psmi.scheme(Some(n), dim).map_err(to_py)?;
        let model = py
            .detach(|| PsmiModel::concat(&parts, seed, scheme, Some(auto)))
            .map_err(to_py)?;
        Ok(Model { model })
    }

    /// What a partition keeps for a target error, empty, for a run over
    /// `n` samples of `dim` features (the order of `fitter`'s arguments).
    fn running_errors(&self, dim: usize, n: usize) -> PyResult<RunningErrors> {
        let scheme = self.psmi.scheme(Some(n), dim).map_err(to_py)?;
        Ok(RunningErrors {
            errors: psmi_std::error_bars::RunningErrors::new(scheme),
        })
    }

    /// Auto mode's stopping rule over `n` samples, to step block by block.
    fn auto_rule(&self, n: usize) -> AutoRule {
        AutoRule {
            rule: psmi_std::AutoRule::new(&self.psmi, n),
        }
    }

    /// Fits a model and scores the samples: `(model, mean, std, full, smi)`.
    fn fit_transform<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f32>,
        y: PyReadonlyArray1<'py, i64>,
        full: bool,
    ) -> PyResult<(Model, Scores<'py>)> {
        let (x, y) = inputs(&x, &y)?;
        let psmi = &self.psmi;
        let (model, scores) =
            py.run_interruptible(|check| psmi.fit_transform_with(&x, y, full, |_| check()))?;
        Ok((Model { model }, scores_to_py(py, scores)?))
    }

    /// Fits a layer of a sweep and scores its samples: `(model, (mean, std,
    /// stderr, quantiles n × q or None, smi, smi_stderr))`.
    fn score_layer<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f32>,
        y: PyReadonlyArray1<'py, i64>,
        levels: Vec<f64>,
    ) -> PyResult<(Model, sweep::LayerScores<'py>)> {
        sweep::score_layer(&self.psmi, py, x, y, levels)
    }
}

/// Auto mode's stopping rule (`psmi_std::AutoRule`), stepped by a
/// distributed driver: `step()` says what it waits for.
#[pyclass(module = "psmi_rs._native")]
struct AutoRule {
    rule: psmi_std::AutoRule,
}

#[pymethods]
impl AutoRule {
    /// `("block", first, count)`: score directions `first .. first + count`,
    /// then call `block_scored`; `("gather", check, blocks, half_blocks,
    /// watched)`: call `observe` with each partition's candidates (`check`
    /// `"variation"`: running means and means over the first `half_blocks`
    /// blocks; `"stderr"`: means and standard errors over all directions so
    /// far, as `PsmiScores.stderr` gives them, `half_blocks` 0); `("stop", (blocks, statistic or None,
    /// converged))`: done, with auto mode's report (None in fixed mode).
    fn step<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        match self.rule.step() {
            Step::Block(range) => ("block", range.start, range.len()).into_pyobject(py),
            Step::Gather(Check::Variation {
                blocks,
                half_blocks,
                watched,
            }) => ("gather", "variation", blocks, half_blocks, watched).into_pyobject(py),
            Step::Gather(Check::StandardError { watched }) => {
                let blocks = self.rule.blocks();
                ("gather", "stderr", blocks, 0usize, watched).into_pyobject(py)
            }
            Step::Stop(report) => {
                let report = report.map(|r| (r.blocks, r.variation, r.converged));
                ("stop", report).into_pyobject(py)
            }
        }
    }

    fn block_scored(&mut self) -> PyResult<()> {
        self.rule.block_scored().map_err(to_py)
    }

    /// The candidates of every partition, in sample order.
    fn observe(
        &mut self,
        full: PyReadonlyArray1<'_, f64>,
        other: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<()> {
        let (full, other) = (contiguous(&full, "full")?, contiguous(&other, "other")?);
        self.rule.observe(full, other).map_err(to_py)
    }
}

/// What a partition of a distributed run keeps about its samples for a
/// target error (`psmi_std::error_bars::RunningErrors`).
#[pyclass(module = "psmi_rs._native")]
struct RunningErrors {
    errors: psmi_std::error_bars::RunningErrors,
}

#[pymethods]
impl RunningErrors {
    /// This partition's share of the two sums the design effect pools.
    fn sums(&self) -> (f64, f64) {
        let [between, within] = self.errors.sums();
        (between, within)
    }

    /// `(means, stderrs)` of the `watched` samples with the lowest mean, in
    /// row order, for the sums pooled over all partitions.
    fn lowest<'py>(
        &self,
        py: Python<'py>,
        watched: usize,
        pooled: (f64, f64),
    ) -> (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>) {
        let (mean, stderr) = self.errors.lowest(watched, [pooled.0, pooled.1]);
        (PyArray1::from_vec(py, mean), PyArray1::from_vec(py, stderr))
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.errors.to_bytes())
    }

    #[staticmethod]
    fn from_bytes(bytes: &[u8]) -> PyResult<RunningErrors> {
        let errors = psmi_std::error_bars::RunningErrors::from_bytes(bytes).map_err(to_py)?;
        Ok(RunningErrors { errors })
    }

    #[getter]
    fn rows(&self) -> usize {
        self.errors.rows()
    }
}

/// A fitted model (`psmi_std::PsmiModel`).
#[pyclass(module = "psmi_rs._native")]
struct Model {
    model: PsmiModel,
}

#[pymethods]
impl Model {
    /// Scores samples: `(mean, std, full or None, smi)`; a bad feature is
    /// named by its row plus `first_row`.
    #[pyo3(signature = (x, y, full, first_row=0))]
    fn transform<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f32>,
        y: PyReadonlyArray1<'py, i64>,
        full: bool,
        first_row: usize,
    ) -> PyResult<Scores<'py>> {
        let (x, y) = inputs_at(&x, &y, first_row)?;
        let model = &self.model;
        let scores = py
            .detach(|| model.transform_with(&x, y, full))
            .map_err(to_py)?;
        scores_to_py(py, scores)
    }

    /// Scores rows `row ..` of a partition along this block of auto mode,
    /// whose first direction is `first_direction`, into `errors`; a bad
    /// feature is named by its row plus `first_row`.
    #[allow(clippy::too_many_arguments)] // the Python method's arguments, one by one
    fn score_running(
        &self,
        py: Python<'_>,
        x: PyReadonlyArray2<'_, f32>,
        y: PyReadonlyArray1<'_, i64>,
        mut errors: PyRefMut<'_, RunningErrors>,
        first_direction: usize,
        row: usize,
        first_row: usize,
    ) -> PyResult<()> {
        let (x, y) = inputs_at(&x, &y, first_row)?;
        let (model, errors) = (&self.model, &mut errors.errors);
        py.detach(|| model.score_running(&x, y, first_direction, row, errors))
            .map_err(to_py)
    }

    /// `(mean, std)` of each row from its projections kept by
    /// `Fitter.update_keeping` (n × m float32).
    fn transform_kept<'py>(
        &self,
        py: Python<'py>,
        kept: PyReadonlyArray2<'py, f32>,
        y: PyReadonlyArray1<'py, i64>,
    ) -> PyResult<MeanStd<'py>> {
        let (kept, y) = (contiguous(&kept, "kept")?, contiguous(&y, "y")?);
        let model = &self.model;
        let scores = py.detach(|| model.transform_kept(kept, y)).map_err(to_py)?;
        let (mean, std, _) = scores.into_parts();
        Ok((PyArray1::from_vec(py, mean), PyArray1::from_vec(py, std)))
    }

    /// As `score_running`, from the rows' projections kept by
    /// `Fitter.update_keeping` on this block.
    fn score_running_kept(
        &self,
        py: Python<'_>,
        kept: PyReadonlyArray2<'_, f32>,
        y: PyReadonlyArray1<'_, i64>,
        mut errors: PyRefMut<'_, RunningErrors>,
        first_direction: usize,
        row: usize,
    ) -> PyResult<()> {
        let (kept, y) = (contiguous(&kept, "kept")?, contiguous(&y, "y")?);
        let (model, errors) = (&self.model, &mut errors.errors);
        py.detach(|| model.score_running_kept(kept, y, first_direction, row, errors))
            .map_err(to_py)
    }

    /// Each sample's exact quantiles at `levels` over the directions, n × q
    /// (one more pass over the data, never the n × m matrix).
    fn quantiles<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f32>,
        y: PyReadonlyArray1<'py, i64>,
        levels: Vec<f64>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let (x, y) = inputs(&x, &y)?;
        let model = &self.model;
        let quantiles = py
            .detach(|| model.quantiles(&x, y, &levels))
            .map_err(to_py)?;
        quantiles_to_py(py, &quantiles)
    }

    /// Worker threads for `transform`.
    fn set_threads(&mut self, threads: usize) -> PyResult<()> {
        self.model.set_threads(threads).map_err(to_py)
    }

    /// Reads a model file.
    #[staticmethod]
    fn load(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Model> {
        let model = py.detach(|| PsmiModel::load(&path)).map_err(to_py)?;
        Ok(Model { model })
    }

    /// Writes a model file.
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        let model = &self.model;
        py.detach(|| model.save(&path)).map_err(to_py)
    }

    /// The model as bytes (a seeded model without its directions).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.model.to_bytes())
    }

    /// Reads `to_bytes`' output.
    #[staticmethod]
    fn from_bytes(bytes: &[u8]) -> PyResult<Model> {
        let model = PsmiModel::from_bytes(bytes).map_err(to_py)?;
        Ok(Model { model })
    }

    #[getter]
    fn n_estimators(&self) -> usize {
        self.model.n_estimators()
    }

    #[getter]
    fn dim(&self) -> usize {
        self.model.dim()
    }

    #[getter]
    fn seed(&self) -> Option<u64> {
        self.model.seed()
    }

    /// The arithmetic of the projection: `"f32"` or `"bf16"`.
    #[getter]
    fn precision(&self) -> &'static str {
        self.model.precision().name()
    }

    /// `(scheme name, frame size or None)`.
    #[getter]
    fn scheme(&self) -> (&'static str, Option<usize>) {
        let scheme = self.model.scheme();
        (Directions::from(scheme).name(), scheme.frame_size())
    }

    #[getter]
    fn labels<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        PyArray1::from_slice(py, self.model.labels())
    }

    #[getter]
    fn frequency<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_slice(py, self.model.frequency())
    }

    #[getter]
    fn mean<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let k = self.model.labels().len();
        PyArray1::from_slice(py, self.model.mean()).reshape([k, self.model.n_estimators()])
    }

    #[getter]
    fn std<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let k = self.model.labels().len();
        PyArray1::from_slice(py, self.model.std()).reshape([k, self.model.n_estimators()])
    }

    /// The m × d directions, drawn from the seed on first use.
    #[getter]
    fn directions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let model = &self.model;
        let directions = py.detach(|| model.directions());
        PyArray1::from_slice(py, directions).reshape([model.n_estimators(), model.dim()])
    }

    /// `(blocks, variation or None, converged)` after auto mode, else None.
    #[getter]
    fn auto_report(&self) -> Option<(usize, Option<f64>, bool)> {
        self.model
            .auto_report()
            .map(|a| (a.blocks, a.variation, a.converged))
    }
}

/// A streaming fit (`psmi_std::PsmiFitter`).
#[pyclass(module = "psmi_rs._native")]
struct Fitter {
    fitter: PsmiFitter,
}

#[pymethods]
impl Fitter {
    #[new]
    #[pyo3(signature = (dim, n_estimators, seed, threads, directions, frame_size, precision="f32"))]
    #[allow(clippy::too_many_arguments)] // the Python constructor's options, one by one
    fn new(
        dim: usize,
        n_estimators: usize,
        seed: u64,
        threads: Option<usize>,
        directions: &str,
        frame_size: Option<usize>,
        precision: &str,
    ) -> PyResult<Self> {
        let builder = Psmi::builder().n_estimators(NEstimators::Fixed(n_estimators));
        let psmi = common_options(builder, seed, threads, directions, frame_size, precision)?;
        let fitter = PsmiFitter::new(&psmi, dim).map_err(to_py)?;
        Ok(Fitter { fitter })
    }

    /// Adds samples; a bad feature is named by its row plus `first_row`.
    #[pyo3(signature = (x, y, first_row=0))]
    fn update(
        &mut self,
        py: Python<'_>,
        x: PyReadonlyArray2<'_, f32>,
        y: PyReadonlyArray1<'_, i64>,
        first_row: usize,
    ) -> PyResult<()> {
        let (x, y) = inputs_at(&x, &y, first_row)?;
        let fitter = &mut self.fitter;
        py.detach(|| fitter.update(&x, y)).map_err(to_py)
    }

    /// As `update`, returning the rows' projections on every direction
    /// (n × m float32), from which `Model.transform_kept` scores them.
    #[pyo3(signature = (x, y, first_row=0))]
    fn update_keeping<'py>(
        &mut self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f32>,
        y: PyReadonlyArray1<'py, i64>,
        first_row: usize,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let (x, y) = inputs_at(&x, &y, first_row)?;
        let m = self.fitter.n_estimators();
        let fitter = &mut self.fitter;
        let mut kept = vec![0.0f32; x.rows() * m];
        py.detach(|| fitter.update_keeping(&x, y, &mut kept))
            .map_err(to_py)?;
        PyArray1::from_vec(py, kept).reshape([x.rows(), m])
    }

    fn merge(&mut self, py: Python<'_>, other: PyRef<'_, Fitter>) -> PyResult<()> {
        let (fitter, other) = (&mut self.fitter, &other.fitter);
        py.detach(|| fitter.merge(other)).map_err(to_py)
    }

    fn finish(&self, py: Python<'_>) -> PyResult<Model> {
        let fitter = &self.fitter;
        let model = py.detach(|| fitter.finish()).map_err(to_py)?;
        Ok(Model { model })
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.fitter.to_bytes())
    }

    #[staticmethod]
    fn from_bytes(bytes: &[u8], threads: Option<usize>) -> PyResult<Fitter> {
        let fitter = PsmiFitter::from_bytes(bytes, threads).map_err(to_py)?;
        Ok(Fitter { fitter })
    }

    #[getter]
    fn samples(&self) -> u64 {
        self.fitter.samples()
    }

    /// The arithmetic of the projection: `"f32"` or `"bf16"`.
    #[getter]
    fn precision(&self) -> &'static str {
        self.fitter.precision().name()
    }

    #[getter]
    fn n_estimators(&self) -> usize {
        self.fitter.n_estimators()
    }

    #[getter]
    fn dim(&self) -> usize {
        self.fitter.dim()
    }

    #[getter]
    fn seed(&self) -> Option<u64> {
        self.fitter.seed()
    }
}

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Estimator>()?;
    m.add_class::<Model>()?;
    m.add_class::<Fitter>()?;
    m.add_class::<AutoRule>()?;
    m.add_class::<RunningErrors>()?;
    m.add_function(wrap_pyfunction!(dlpack::dlpack_to_f32, m)?)?;
    m.add_function(wrap_pyfunction!(sweep::sweep_check_layers, m)?)?;
    m.add_function(wrap_pyfunction!(sweep::sweep_check_samples, m)?)?;
    m.add_function(wrap_pyfunction!(sweep::sweep_delta_mean, m)?)?;
    m.add_function(wrap_pyfunction!(sweep::evaluation_target, m)?)?;
    m.add_function(wrap_pyfunction!(sweep::evaluation, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DEFAULT_DIRECTIONS", psmi_std::DEFAULT_DIRECTIONS.name())?;
    Ok(())
}
