//! The four commands.

use crate::args::{Command, DataArgs, EstimatorArgs, ReportArgs};
use crate::failure::{self, Blame, Failure};
use crate::progress::ProgressReport;
use crate::{demo, interrupt, layers, memory, plot, report};
use psmi_std::io::{
    write_npy_f32_2d, write_npy_f64, write_npy_f64_2d, FeatureShards, Input, OutputDir,
};
use psmi_std::{Features, NEstimators, Psmi, PsmiError, PsmiModel, PsmiScores, Quantiles};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Runs one command to the end.
pub fn run(command: Command) -> Result<(), Failure> {
    // Commands that write files stop cleanly on a signal; the demo writes
    // nothing and keeps the default action, ending at once.
    if !matches!(command, Command::Demo { .. }) {
        interrupt::install();
    }
    match command {
        Command::FitTransform {
            data,
            out,
            model,
            estimator,
            report,
        } => fit_transform(&data, &out, model.as_deref(), &estimator, &report),
        Command::Fit {
            data,
            model,
            estimator,
            quiet,
        } => fit(&data, &model, &estimator, quiet),
        Command::Transform {
            model,
            data,
            out,
            threads,
            report,
        } => transform(&model, &data, &out, threads, &report),
        Command::Demo { seed, threads, top } => demo::run(seed, threads, top),
    }
}

/// Features and labels read from their files.
struct Inputs {
    features_input: Input,
    labels_input: Input,
    matrix: FeatureShards,
    labels: Vec<i64>,
}

impl Inputs {
    /// Opens the features within `--max-memory`, sized for the work of
    /// `psmi` (the largest of fit-transform's), and reads the labels.
    fn read(data: &DataArgs, psmi: &Psmi, full: bool) -> Result<Self, Failure> {
        let features_input = Input::parse(&data.features);
        let labels_input = Input::parse(&data.labels);
        let matrix = memory::open_features(&features_input, data.max_memory, |n, d| {
            psmi.working_memory(n, d, full)
        })?;
        let labels = matrix.labels(&labels_input)?;
        Ok(Inputs {
            features_input,
            labels_input,
            matrix,
            labels,
        })
    }

    fn blame(&self) -> Blame<'_> {
        Blame {
            features: &self.features_input,
            labels: &self.labels_input,
            shards: Some(&self.matrix),
        }
    }

    /// The features, checked for NaN and infinities by the estimator's first
    /// pass over them rather than by a pass of their own.
    fn features(&self) -> Result<Features<'_>, Failure> {
        Ok(self.matrix.features_checked_when_projected()?)
    }
}

fn fit_transform(
    data: &DataArgs,
    out: &Path,
    model_path: Option<&Path>,
    estimator: &EstimatorArgs,
    options: &ReportArgs,
) -> Result<(), Failure> {
    let psmi = estimator.estimator().map_err(failure::options)?;
    check_levels(options)?;
    if let Some(layers) = layers::open(data)? {
        return layers::fit_transform(&layers, data, out, model_path, &psmi, options);
    }
    let staging = OutputDir::begin(out).map_err(Failure::input)?;
    let inputs = Inputs::read(data, &psmi, options.full)?;
    let features = inputs.features()?;
    interrupt::check()?;
    let started = Instant::now();
    let progress = ProgressReport::new(!options.quiet, psmi.n_estimators(), features.rows());
    let fitted = psmi.fit_transform_with(&features, &inputs.labels, options.full, |p| {
        progress.update(p)
    });
    progress.finish();
    let (model, scores) = fitted.map_err(|e| inputs.blame().failure(e))?;
    let quantiles = quantiles(&model, &features, &inputs.labels, options)
        .map_err(|e| inputs.blame().failure(e))?;
    let elapsed = started.elapsed().as_secs_f64();
    let results = Results {
        model: &model,
        scores: &scores,
        quantiles: quantiles.as_ref(),
        elapsed,
    };
    deliver(staging, &inputs, &results, model_path, options)
}

/// Checks `--quantiles` before any work.
fn check_levels(options: &ReportArgs) -> Result<(), Failure> {
    if options.quantiles.is_empty() {
        return Ok(());
    }
    Quantiles::check(&options.quantiles).map_err(failure::options)
}

/// Each sample's quantiles at `--quantiles`, if asked: one more pass over the data.
pub fn quantiles(
    model: &PsmiModel,
    features: &Features<'_>,
    labels: &[i64],
    options: &ReportArgs,
) -> Result<Option<Quantiles>, PsmiError> {
    if options.quantiles.is_empty() {
        return Ok(None);
    }
    model
        .quantiles(features, labels, &options.quantiles)
        .map(Some)
}

fn fit(
    data: &DataArgs,
    model_path: &Path,
    estimator: &EstimatorArgs,
    quiet: bool,
) -> Result<(), Failure> {
    let psmi = estimator.estimator().map_err(failure::options)?;
    if layers::open(data)?.is_some() {
        return Err(Failure::input(format!(
            "{}: several layers; `psmi fit` fits one matrix, `psmi fit-transform --model M` fits one model per layer",
            data.features.display()
        )));
    }
    let inputs = Inputs::read(data, &psmi, false)?;
    let features = inputs.features()?;
    interrupt::check()?;
    let started = Instant::now();
    let model = match psmi.n_estimators() {
        NEstimators::Fixed(_) => psmi.fit(&features, &inputs.labels),
        // Auto mode scores the samples to decide when to stop; show its progress.
        NEstimators::Auto => {
            let progress = ProgressReport::new(!quiet, psmi.n_estimators(), features.rows());
            let fitted =
                psmi.fit_transform_with(&features, &inputs.labels, false, |p| progress.update(p));
            progress.finish();
            fitted.map(|(model, _)| model)
        }
    }
    .map_err(|e| inputs.blame().failure(e))?;
    interrupt::check()?;
    save_model(&model, model_path)?;
    if !quiet {
        say!(
            "{}: fitted {} samples × {} features, {} labels, {} directions{} in {:.2} s",
            model_path.display(),
            features.rows(),
            model.dim(),
            model.labels().len(),
            model.n_estimators(),
            report::auto_outcome(&model),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn transform(
    model_path: &Path,
    data: &DataArgs,
    out: &Path,
    threads: Option<usize>,
    options: &ReportArgs,
) -> Result<(), Failure> {
    check_levels(options)?;
    if let Some(layers) = layers::open(data)? {
        return layers::transform(&layers, model_path, data, out, threads, options);
    }
    let model = load_model(model_path, threads)?;
    let staging = OutputDir::begin(out).map_err(Failure::input)?;
    // Transform holds less than fit-transform with as many directions.
    let like = Psmi::builder()
        .n_estimators(NEstimators::Fixed(model.n_estimators()))
        .build()
        .map_err(failure::options)?;
    let inputs = Inputs::read(data, &like, options.full)?;
    let features = inputs.features()?;
    interrupt::check()?;
    let started = Instant::now();
    let blame = |e| transform_failure(e, &inputs.blame(), model_path);
    let scores = model
        .transform_with(&features, &inputs.labels, options.full)
        .map_err(blame)?;
    let quantiles = quantiles(&model, &features, &inputs.labels, options).map_err(blame)?;
    let elapsed = started.elapsed().as_secs_f64();
    let results = Results {
        model: &model,
        scores: &scores,
        quantiles: quantiles.as_ref(),
        elapsed,
    };
    deliver(staging, &inputs, &results, None, options)
}

/// Loads a model, to run on `threads` if given.
pub fn load_model(path: &Path, threads: Option<usize>) -> Result<PsmiModel, Failure> {
    let mut model = PsmiModel::load(path).map_err(Failure::input)?;
    if let Some(threads) = threads {
        model.set_threads(threads).map_err(failure::options)?;
    }
    Ok(model)
}

/// An error of `transform`, naming the model for a dimension that differs from its own.
pub fn transform_failure(e: PsmiError, blame: &Blame<'_>, model_path: &Path) -> Failure {
    match e {
        PsmiError::DimensionMismatch { expected, found } => Failure::input(format!(
            "{}: features have {found} columns, the model {} was fitted on {expected}",
            blame.features,
            model_path.display()
        )),
        e => blame.failure(e),
    }
}

/// Saves the model, creating its directory as `--out` does (it may even be
/// inside `--out`, which appears only when the results are complete).
pub fn save_model(model: &PsmiModel, path: &Path) -> Result<(), Failure> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::input(format!(
                "{}: cannot create the model's directory: {e}",
                dir.display()
            ))
        })?;
    }
    model.save(path).map_err(Failure::input)
}

/// What one run computed.
pub struct Results<'a> {
    pub model: &'a PsmiModel,
    pub scores: &'a PsmiScores,
    pub quantiles: Option<&'a Quantiles>,
    pub elapsed: f64,
}

/// Writes every result into the staging directory, and the model and the CSV
/// beside, puts the results in place, and reports the run.
fn deliver(
    staging: OutputDir,
    inputs: &Inputs,
    results: &Results<'_>,
    model_path: Option<&Path>,
    options: &ReportArgs,
) -> Result<(), Failure> {
    write_results(&|name| staging.path(name), &inputs.labels, results, options)?;
    mark_stale_outputs(&staging, options);
    // The last moment a signal leaves no trace: the files outside DIR and the
    // commit follow (a signal after this lets the run finish).
    interrupt::check()?;
    if let Some(path) = model_path {
        save_model(results.model, path)?;
    }
    if let Some(csv) = &options.csv {
        let part = report::CsvPart {
            layer: None,
            scores: results.scores,
            quantiles: results.quantiles,
        };
        report::write_csv(csv, &inputs.labels, &[part])?;
    }
    let out = staging.commit()?;
    report_run(
        inputs,
        results.model,
        results.scores,
        results.elapsed,
        &out,
        options,
    )
}

/// Writes one run's files, each where `path` says.
pub fn write_results(
    path: &dyn Fn(&str) -> PathBuf,
    labels: &[i64],
    results: &Results<'_>,
    options: &ReportArgs,
) -> Result<(), Failure> {
    let (model, scores) = (results.model, results.scores);
    write_npy_f64(path("psmi_mean.npy"), scores.mean())?;
    write_npy_f64(path("psmi_std.npy"), scores.std())?;
    if let Some(full) = scores.full() {
        write_npy_f32_2d(
            path("psmi_full.npy"),
            scores.mean().len(),
            scores.n_estimators(),
            full,
        )?;
    }
    if let Some(quantiles) = results.quantiles {
        write_npy_f64_2d(
            path("psmi_quantiles.npy"),
            quantiles.rows(),
            quantiles.levels().len(),
            quantiles.values(),
        )?;
    }
    if options.plot {
        plot::write_svg(&path("psmi.svg"), model.labels(), labels, scores)?;
    }
    // Last, so that a summary.json in DIR always describes the files beside it.
    let mut summary = report::summary(model, scores, labels, results.elapsed);
    summary["quantiles"] = serde_json::json!(results.quantiles.map(Quantiles::levels));
    report::write_json(&path("summary.json"), &summary)
}

/// Outputs of an earlier run that this run does not produce would not match
/// its results: the commit removes them.
fn mark_stale_outputs(staging: &OutputDir, options: &ReportArgs) {
    let quantiles = !options.quantiles.is_empty();
    for (name, produced) in [
        ("psmi_full.npy", options.full),
        ("psmi.svg", options.plot),
        ("psmi_quantiles.npy", quantiles),
    ] {
        if !produced {
            staging.stale(name);
        }
    }
}

fn report_run(
    inputs: &Inputs,
    model: &PsmiModel,
    scores: &PsmiScores,
    elapsed: f64,
    out: &Path,
    options: &ReportArgs,
) -> Result<(), Failure> {
    if let Some(k) = options.top {
        report::print_lowest(&inputs.labels, scores, k, None);
    }
    if !options.quiet {
        say!(
            "{}: {} samples × {} features, {} labels, {} directions{}; SMI {:.4} nats; {:.2} s",
            out.display(),
            scores.mean().len(),
            model.dim(),
            model.labels().len(),
            scores.n_estimators(),
            report::auto_outcome(model),
            scores.smi(),
            elapsed
        );
    }
    Ok(())
}
