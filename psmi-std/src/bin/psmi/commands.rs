//! The four commands.

use crate::args::{Command, DataArgs, EstimatorArgs, ReportArgs};
use crate::failure::{self, Blame, Failure};
use crate::progress::ProgressReport;
use crate::{demo, memory, plot, report};
use psmi_std::io::{write_npy_f32_2d, write_npy_f64, FeatureShards, Input, OutputDir};
use psmi_std::{Features, NEstimators, Psmi, PsmiModel, PsmiScores};
use std::path::Path;
use std::time::Instant;

/// Runs one command to the end.
pub fn run(command: Command) -> Result<(), Failure> {
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
        }
    }

    fn features(&self) -> Result<Features<'_>, Failure> {
        Ok(self.matrix.features()?)
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
    let staging = OutputDir::begin(out).map_err(Failure::input)?;
    let inputs = Inputs::read(data, &psmi, options.full)?;
    let features = inputs.features()?;
    let started = Instant::now();
    let progress = ProgressReport::new(!options.quiet, psmi.n_estimators(), features.rows());
    let (model, scores) = psmi
        .fit_transform_with(&features, &inputs.labels, options.full, |p| {
            progress.update(p)
        })
        .map_err(|e| inputs.blame().failure(e))?;
    progress.finish();
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(path) = model_path {
        save_model(&model, path)?;
    }
    deliver(staging, &inputs, &model, &scores, elapsed, options)
}

fn fit(
    data: &DataArgs,
    model_path: &Path,
    estimator: &EstimatorArgs,
    quiet: bool,
) -> Result<(), Failure> {
    let psmi = estimator.estimator().map_err(failure::options)?;
    let inputs = Inputs::read(data, &psmi, false)?;
    let features = inputs.features()?;
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
    let mut model = PsmiModel::load(model_path).map_err(Failure::input)?;
    if let Some(threads) = threads {
        model.set_threads(threads).map_err(failure::options)?;
    }
    let staging = OutputDir::begin(out).map_err(Failure::input)?;
    // Transform holds less than fit-transform with as many directions.
    let like = Psmi::builder()
        .n_estimators(NEstimators::Fixed(model.n_estimators()))
        .build()
        .map_err(failure::options)?;
    let inputs = Inputs::read(data, &like, options.full)?;
    let features = inputs.features()?;
    let started = Instant::now();
    let scores = model
        .transform_with(&features, &inputs.labels, options.full)
        .map_err(|e| match e {
            psmi_std::PsmiError::DimensionMismatch { expected, found } => Failure::input(format!(
                "{}: features have {found} columns, the model {} was fitted on {expected}",
                inputs.features_input,
                model_path.display()
            )),
            e => inputs.blame().failure(e),
        })?;
    let elapsed = started.elapsed().as_secs_f64();
    deliver(staging, &inputs, &model, &scores, elapsed, options)
}

/// Saves the model, creating its directory as `--out` does (it may even be
/// inside `--out`, which appears only when the results are complete).
fn save_model(model: &PsmiModel, path: &Path) -> Result<(), Failure> {
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

/// Writes every result into the staging directory and the CSV beside, puts
/// the results in place, and reports the run.
fn deliver(
    staging: OutputDir,
    inputs: &Inputs,
    model: &PsmiModel,
    scores: &PsmiScores,
    elapsed: f64,
    options: &ReportArgs,
) -> Result<(), Failure> {
    write_npy_f64(staging.path("psmi_mean.npy"), scores.mean())?;
    write_npy_f64(staging.path("psmi_std.npy"), scores.std())?;
    if let Some(full) = scores.full() {
        write_npy_f32_2d(
            staging.path("psmi_full.npy"),
            scores.mean().len(),
            scores.n_estimators(),
            full,
        )?;
    }
    if options.plot {
        plot::write_svg(
            &staging.path("psmi.svg"),
            model.labels(),
            &inputs.labels,
            scores,
        )?;
    }
    // Last, so that a summary.json in DIR always describes the files beside it.
    let summary = report::summary(model, scores, &inputs.labels, elapsed);
    report::write_json(&staging.path("summary.json"), &summary)?;
    if let Some(csv) = &options.csv {
        report::write_csv(csv, &inputs.labels, scores)?;
    }
    let out = staging.commit()?;
    remove_stale_outputs(&out, options);
    report_run(inputs, model, scores, elapsed, &out, options)
}

/// Outputs of an earlier run that this run did not produce would not match
/// its results: remove them once the new results are in place.
fn remove_stale_outputs(out: &Path, options: &ReportArgs) {
    for (name, produced) in [("psmi_full.npy", options.full), ("psmi.svg", options.plot)] {
        if !produced {
            let _ = std::fs::remove_file(out.join(name));
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
