//! The four commands. `fit-transform` and `transform` walk the layers of
//! their input (one, for a single matrix) in one flow: score a layer, write
//! its files, keep its summaries; then deliver them all at once.

use crate::args::{Command, DataArgs, EstimatorArgs, ReportArgs};
use crate::failure::{self, Blame, Failure};
use crate::output::OutputDir;
use crate::progress::ProgressReport;
use crate::results::{self, Delivery, LayerRun, Target};
use crate::source::{self, Source};
use crate::{demo, interrupt, memory, report, sweep};
use psmi_std::io::Input;
use psmi_std::{
    Features, NEstimators, Progress, Psmi, PsmiError, PsmiModel, PsmiScores, Quantiles,
};
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
            runs: None,
            estimator,
            report,
        } => fit_transform(&data, &out, model.as_deref(), &estimator, &report),
        Command::FitTransform {
            data,
            out,
            runs: Some(runs),
            estimator,
            report,
            ..
        } => sweep::fit_transform(&runs, &data, &out, &estimator, &report),
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

fn fit_transform(
    data: &DataArgs,
    out: &Path,
    model_path: Option<&Path>,
    estimator: &EstimatorArgs,
    options: &ReportArgs,
) -> Result<(), Failure> {
    let started = Instant::now();
    let (psmi, target) = checked_options(estimator, options)?;
    let layers = source::layers(data)?;
    let staging = OutputDir::begin(out)?;
    let source = Source::open(data, layers, |n, d| psmi.working_memory(n, d, options.full))?;
    if let Some(target) = &target {
        target.check(source.labels().len())?;
    }
    let runs = score_layers(&source, None, &staging, options, |i, features| {
        fit_layer(&psmi, &source, i, features, data.max_memory, options)
    })?;
    let delivery = Delivery {
        models: model_path,
        target: target.as_ref(),
        ..Delivery::new(data, &source, started, options)
    };
    delivery.deliver(staging, &runs)
}

/// fit-transform's estimator and `--against`, checked with `--quantiles`
/// before any work.
pub fn checked_options(
    estimator: &EstimatorArgs,
    options: &ReportArgs,
) -> Result<(Psmi, Option<Target>), Failure> {
    let psmi = estimator.estimator().map_err(failure::options)?;
    check_levels(options)?;
    Ok((psmi, Target::read(options)?))
}

/// A layer's model, its scores and, with `--quantiles`, their quantiles.
pub type Scored = (PsmiModel, PsmiScores, Option<Quantiles>);

/// Fits layer `i` of `source` and scores its samples, with a progress bar.
/// With `--quantiles` in fixed mode, the scores of the single projection are
/// kept for them while they fit in what `budget` (`--max-memory`, default the
/// memory available) leaves free; otherwise the quantiles take one more pass.
pub fn fit_layer(
    psmi: &Psmi,
    source: &Source,
    i: usize,
    features: &Features<'_>,
    budget: Option<u64>,
    options: &ReportArgs,
) -> Result<Scored, Failure> {
    let progress = ProgressReport::new(!options.quiet, psmi.n_estimators(), features.rows());
    let update = |p: &Progress| progress.update(p);
    let (labels, full) = (source.labels(), options.full);
    let fitted = if options.quantiles.is_empty() {
        psmi.fit_transform_with(features, labels, full, update)
            .map(|(model, scores)| (model, scores, None))
    } else {
        let work = psmi.working_memory(features.rows(), features.cols(), full);
        let spare = memory::spare(budget, work);
        psmi.fit_transform_with_quantiles(features, labels, full, &options.quantiles, spare, update)
            .map(|(model, scores, quantiles)| (model, scores, Some(quantiles)))
    };
    progress.finish();
    fitted.map_err(|e| source.blame(i).failure(e))
}

fn transform(
    model_path: &Path,
    data: &DataArgs,
    out: &Path,
    threads: Option<usize>,
    options: &ReportArgs,
) -> Result<(), Failure> {
    let started = Instant::now();
    check_levels(options)?;
    let layers = source::layers(data)?;
    // Every model first, so that a missing one fails before any work: one
    // file for a single matrix, M/<layer>.safetensors for layers.
    let model_files = match &layers {
        None => vec![model_path.to_path_buf()],
        Some(layers) => {
            { source::directories(&layers.names(), "layer", &Input::parse(&data.features))? }
                .iter()
                .map(|dir| model_file(model_path, dir))
                .collect()
        }
    };
    let models = model_files
        .iter()
        .map(|path| load_model(path, threads))
        .collect::<Result<Vec<_>, _>>()?;
    let target = Target::read(options)?;
    let staging = OutputDir::begin(out)?;
    // Transform holds less than fit-transform with as many directions.
    let like = Psmi::builder()
        .n_estimators(NEstimators::Fixed(models[0].n_estimators()))
        .build()
        .map_err(failure::options)?;
    let source = Source::open(data, layers, |n, d| like.working_memory(n, d, options.full))?;
    if let Some(target) = &target {
        target.check(source.labels().len())?;
    }
    let mut models = models.into_iter();
    let runs = score_layers(&source, None, &staging, options, |i, features| {
        let model = models.next().expect("one model per layer");
        let labels = source.labels();
        let scored = if options.quantiles.is_empty() {
            model
                .transform_with(features, labels, options.full)
                .map(|scores| (scores, None))
        } else {
            model
                .transform_with_quantiles(features, labels, &options.quantiles, options.full)
                .map(|(scores, quantiles)| (scores, Some(quantiles)))
        };
        let (scores, quantiles) =
            scored.map_err(|e| transform_failure(e, &source.blame(i), &model_files[i]))?;
        Ok((model, scores, quantiles))
    })?;
    let delivery = Delivery {
        target: target.as_ref(),
        ..Delivery::new(data, &source, started, options)
    };
    delivery.deliver(staging, &runs)
}

/// Scores every layer of `source` (of `run`, in a sweep) with `score`,
/// writes each layer's files into the staging directory (DIR itself for a
/// single matrix, `DIR/[<run>/]<layer>/` otherwise), and keeps their summaries.
pub fn score_layers(
    source: &Source,
    run: Option<(&str, &str)>,
    staging: &OutputDir,
    options: &ReportArgs,
    mut score: impl FnMut(usize, &Features<'_>) -> Result<Scored, Failure>,
) -> Result<Vec<LayerRun>, Failure> {
    let mut runs = Vec::with_capacity(source.len());
    for i in 0..source.len() {
        let started = Instant::now();
        let features = source.features(i)?;
        // Between layers, and before the first: transform has no progress
        // callback to stop it.
        interrupt::check()?;
        let (model, scores, quantiles) = score(i, &features)?;
        let layer_run = LayerRun {
            run: run.map(|(name, dir)| (name.to_owned(), dir.to_owned())),
            origins: source.origins(),
            layer: source
                .layer(i)
                .map(|(name, dir)| (name.to_owned(), dir.to_owned())),
            dim: features.cols(),
            model,
            scores,
            quantiles,
            elapsed: started.elapsed().as_secs_f64(),
        };
        runs.push(results::write_layer(
            staging,
            source.labels(),
            layer_run,
            options,
        )?);
        source.release(i);
    }
    Ok(runs)
}

/// Checks `--quantiles` before any work.
fn check_levels(options: &ReportArgs) -> Result<(), Failure> {
    if options.quantiles.is_empty() {
        return Ok(());
    }
    Quantiles::check(&options.quantiles).map_err(failure::options)
}

fn fit(
    data: &DataArgs,
    model_path: &Path,
    estimator: &EstimatorArgs,
    quiet: bool,
) -> Result<(), Failure> {
    let psmi = estimator.estimator().map_err(failure::options)?;
    if source::layers(data)?.is_some() {
        return Err(Failure::input(format!(
            "{}: several layers; `psmi fit` fits one matrix, `psmi fit-transform --model M` fits one model per layer",
            data.features.display()
        )));
    }
    let source = Source::open(data, None, |n, d| psmi.working_memory(n, d, false))?;
    let features = source.features(0)?;
    interrupt::check()?;
    let started = Instant::now();
    let model = match psmi.n_estimators() {
        NEstimators::Fixed(_) => psmi.fit(&features, source.labels()),
        // Auto mode scores the samples to decide when to stop; show its progress.
        NEstimators::Auto => {
            let progress = ProgressReport::new(!quiet, psmi.n_estimators(), features.rows());
            let fitted =
                psmi.fit_transform_with(&features, source.labels(), false, |p| progress.update(p));
            progress.finish();
            fitted.map(|(model, _)| model)
        }
    }
    .map_err(|e| source.blame(0).failure(e))?;
    interrupt::check()?;
    results::save_model(&model, model_path)?;
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

/// Where layer `dir`'s model is, in the directory of models.
fn model_file(model_dir: &Path, dir: &str) -> PathBuf {
    model_dir.join(format!("{dir}.safetensors"))
}

/// Loads a model, to run on `threads` if given.
fn load_model(path: &Path, threads: Option<usize>) -> Result<PsmiModel, Failure> {
    let mut model = PsmiModel::load(path).map_err(Failure::input)?;
    if let Some(threads) = threads {
        model.set_threads(threads).map_err(failure::options)?;
    }
    Ok(model)
}

/// An error of `transform`, naming the model for a dimension that differs from its own.
fn transform_failure(e: PsmiError, blame: &Blame<'_>, model_path: &Path) -> Failure {
    match e {
        PsmiError::DimensionMismatch { expected, found } => Failure::input(format!(
            "{}: features have {found} columns, the model {} was fitted on {expected}",
            blame.features,
            model_path.display()
        )),
        e => blame.failure(e),
    }
}
