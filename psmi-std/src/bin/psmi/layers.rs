//! Layers: one run per layer of a features input (a tensor pattern, or a 3-D
//! tensor [L, n, d]), with the same labels and options, one layer after
//! another on all threads. `DIR/<layer>/` holds what a single run writes;
//! DIR/layers.csv, DIR/summary.json and DIR/smi_by_layer.svg compare them.
//! Everything, every layer's directory included, is committed at once.

use crate::args::{DataArgs, ReportArgs};
use crate::commands::{self, Results};
use crate::failure::{Blame, Failure};
use crate::progress::ProgressReport;
use crate::{interrupt, plot, report};
use psmi_std::io::{read_labels, write_whole, FeatureLayers, Input, OutputDir};
use psmi_std::{Features, Psmi, PsmiError, PsmiModel, PsmiScores, Quantiles};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Files of DIR beside the layers' directories.
const LAYERS_CSV: &str = "layers.csv";
const SUMMARY: &str = "summary.json";
const LAYER_PLOT: &str = "smi_by_layer.svg";

/// The layers of `--features`, or `None` for one matrix.
pub fn open(data: &DataArgs) -> Result<Option<FeatureLayers>, Failure> {
    Ok(FeatureLayers::open(&Input::parse(&data.features))?)
}

/// What one layer's run keeps once its files are written.
struct LayerRun {
    name: String,
    dir: String,
    dim: usize,
    model: PsmiModel,
    scores: PsmiScores,
    quantiles: Option<Quantiles>,
    elapsed: f64,
}

impl LayerRun {
    /// The standard error of the SMI: the sample standard deviation (ddof 1)
    /// of the per-sample mean PSMI, over √n. It treats the samples as
    /// independent draws and the directions as fixed.
    fn smi_stderr(&self) -> f64 {
        let means = self.scores.mean();
        let n = means.len() as f64;
        let smi = self.scores.smi();
        let squares: f64 = means.iter().map(|m| (m - smi) * (m - smi)).sum();
        (squares / (n - 1.0)).sqrt() / n.sqrt()
    }

    fn converged(&self) -> Option<bool> {
        self.model.auto_report().map(|a| a.converged)
    }
}

/// The labels, and the directory of every layer.
struct Plan {
    labels_input: Input,
    labels: Vec<i64>,
    dirs: Vec<String>,
}

impl Plan {
    fn new(layers: &FeatureLayers, data: &DataArgs) -> Result<Plan, Failure> {
        let labels_input = Input::parse(&data.labels);
        let labels = read_labels(&labels_input)?;
        Ok(Plan {
            labels_input,
            labels,
            dirs: directories(layers, &data.features)?,
        })
    }

    /// Layer `i`'s features, checked, and what its errors are blamed on.
    fn features<'l>(
        &self,
        layers: &'l FeatureLayers,
        i: usize,
        spec: &Path,
    ) -> Result<(Features<'l>, String), Failure> {
        let source = format!("{}:{}", Input::parse(spec).path().display(), layers.name(i));
        Ok((layers.features(i)?, source))
    }

    fn blame<'a>(&'a self, source: &'a String) -> Blame<'a> {
        Blame {
            features: source,
            labels: &self.labels_input,
            shards: None,
        }
    }
}

/// One directory name per layer: the layer's name with any character other
/// than letters, digits, `.`, `-` and `_` replaced by `_` (and no leading
/// `.`), distinct from each other and from DIR's own files.
fn directories(layers: &FeatureLayers, spec: &Path) -> Result<Vec<String>, Failure> {
    let mut dirs: Vec<String> = Vec::with_capacity(layers.len());
    for i in 0..layers.len() {
        let name = layers.name(i);
        let mut dir: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if dir.starts_with('.') {
            dir.insert(0, '_');
        }
        let clash = dirs
            .iter()
            .position(|d| *d == dir)
            .map(|j| format!("layer {}", layers.name(j)))
            .or_else(|| {
                [LAYERS_CSV, SUMMARY, LAYER_PLOT]
                    .contains(&dir.as_str())
                    .then(|| "a file of the results".to_owned())
            });
        if let Some(other) = clash {
            return Err(Failure::input(format!(
                "{}: layer {name} would be written to directory {dir}, as {other}; rename the tensor",
                spec.display()
            )));
        }
        dirs.push(dir);
    }
    Ok(dirs)
}

/// `fit-transform` on every layer.
pub fn fit_transform(
    layers: &FeatureLayers,
    data: &DataArgs,
    out: &Path,
    model_path: Option<&Path>,
    psmi: &Psmi,
    options: &ReportArgs,
) -> Result<(), Failure> {
    let started = Instant::now();
    let staging = OutputDir::begin(out).map_err(Failure::input)?;
    let plan = Plan::new(layers, data)?;
    let mut runs = Vec::with_capacity(layers.len());
    for i in 0..layers.len() {
        let layer_started = Instant::now();
        let (features, source) = plan.features(layers, i, &data.features)?;
        let blame = plan.blame(&source);
        let progress = ProgressReport::new(!options.quiet, psmi.n_estimators(), features.rows());
        let (model, scores) = psmi
            .fit_transform_with(&features, &plan.labels, options.full, |p| {
                progress.update(p)
            })
            .map_err(|e| blame.failure(e))?;
        progress.finish();
        let quantiles = commands::quantiles(&model, &features, &plan.labels, options)
            .map_err(|e| blame.failure(e))?;
        runs.push(finish_layer(
            &staging,
            &plan,
            layers,
            i,
            (model, scores, quantiles),
            layer_started,
            options,
        )?);
        layers.release(i);
    }
    deliver(staging, &plan, &runs, started, data, model_path, options)
}

/// `transform` on every layer, each with its own model from `model_dir`.
pub fn transform(
    layers: &FeatureLayers,
    model_dir: &Path,
    data: &DataArgs,
    out: &Path,
    threads: Option<usize>,
    options: &ReportArgs,
) -> Result<(), Failure> {
    let started = Instant::now();
    let dirs = directories(layers, &data.features)?;
    // Every model first, so that a missing one fails before any work.
    let models = dirs
        .iter()
        .map(|dir| commands::load_model(&model_file(model_dir, dir), threads))
        .collect::<Result<Vec<_>, _>>()?;
    let staging = OutputDir::begin(out).map_err(Failure::input)?;
    let plan = Plan::new(layers, data)?;
    let mut runs = Vec::with_capacity(layers.len());
    for (i, model) in models.into_iter().enumerate() {
        let layer_started = Instant::now();
        let (features, source) = plan.features(layers, i, &data.features)?;
        let blame = plan.blame(&source);
        let path = model_file(model_dir, &plan.dirs[i]);
        let fail = |e: PsmiError| commands::transform_failure(e, &blame, &path);
        let scores = model
            .transform_with(&features, &plan.labels, options.full)
            .map_err(fail)?;
        let quantiles =
            commands::quantiles(&model, &features, &plan.labels, options).map_err(fail)?;
        runs.push(finish_layer(
            &staging,
            &plan,
            layers,
            i,
            (model, scores, quantiles),
            layer_started,
            options,
        )?);
        layers.release(i);
        // transform has no progress callback: stop between layers.
        interrupt::check()?;
    }
    deliver(staging, &plan, &runs, started, data, None, options)
}

/// Where layer `dir`'s model is, in the directory of models.
fn model_file(model_dir: &Path, dir: &str) -> PathBuf {
    model_dir.join(format!("{dir}.safetensors"))
}

/// Writes layer `i`'s files into its directory in the staging area, and
/// keeps its summaries (without the full matrix).
fn finish_layer(
    staging: &OutputDir,
    plan: &Plan,
    layers: &FeatureLayers,
    i: usize,
    (model, scores, quantiles): (PsmiModel, PsmiScores, Option<Quantiles>),
    started: Instant,
    options: &ReportArgs,
) -> Result<LayerRun, Failure> {
    let dir = staging.path(&plan.dirs[i]);
    std::fs::create_dir(&dir)
        .map_err(|e| Failure::other(format!("{}: cannot create: {e}", dir.display())))?;
    let elapsed = started.elapsed().as_secs_f64();
    let results = Results {
        model: &model,
        scores: &scores,
        quantiles: quantiles.as_ref(),
        elapsed,
    };
    commands::write_results(&|name| dir.join(name), &plan.labels, &results, options)?;
    Ok(LayerRun {
        name: layers.name(i).to_owned(),
        dir: plan.dirs[i].clone(),
        dim: layers.cols(i),
        model,
        scores: scores.without_full(),
        quantiles,
        elapsed,
    })
}

/// Saves every layer's model as `DIR/<layer>.safetensors`, all or none.
fn save_models(runs: &[LayerRun], dir: &Path) -> Result<(), Failure> {
    let staging = OutputDir::begin(dir).map_err(Failure::input)?;
    for run in runs {
        let path = staging.path(&format!("{}.safetensors", run.dir));
        run.model.save(&path).map_err(Failure::input)?;
    }
    staging.commit()?;
    Ok(())
}

/// Writes the comparison of the layers, commits everything and reports.
fn deliver(
    staging: OutputDir,
    plan: &Plan,
    runs: &[LayerRun],
    started: Instant,
    data: &DataArgs,
    model_dir: Option<&Path>,
    options: &ReportArgs,
) -> Result<(), Failure> {
    let csv_path = staging.path(LAYERS_CSV);
    write_whole(&csv_path, |w| {
        writeln!(w, "layer,dim,n_estimators,converged,smi,smi_stderr")?;
        for run in runs {
            let converged = run.converged().map_or(String::new(), |c| c.to_string());
            writeln!(
                w,
                "{},{},{},{converged},{},{}",
                report::csv_field(&run.name),
                run.dim,
                run.scores.n_estimators(),
                run.scores.smi(),
                run.smi_stderr()
            )?;
        }
        Ok(())
    })
    .map_err(|e| Failure::other(format!("{}: {e}", csv_path.display())))?;
    if options.plot {
        let points: Vec<plot::LayerPoint<'_>> = runs
            .iter()
            .map(|run| plot::LayerPoint {
                name: &run.name,
                smi: run.scores.smi(),
                stderr: run.smi_stderr(),
            })
            .collect();
        plot::write_layer_svg(&staging.path(LAYER_PLOT), &points, plan.labels.len())?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let layers: Vec<_> = runs
        .iter()
        .map(|run| {
            json!({
                "layer": run.name,
                "dir": run.dir,
                "dim": run.dim,
                "n_estimators": run.scores.n_estimators(),
                "converged": run.converged(),
                "smi": run.scores.smi(),
                "smi_stderr": run.smi_stderr(),
                "elapsed_s": run.elapsed,
            })
        })
        .collect();
    let summary = json!({
        "features": data.features.display().to_string(),
        "labels": data.labels.display().to_string(),
        "n_samples": plan.labels.len(),
        "n_layers": runs.len(),
        "layers": layers,
        "quantiles": (!options.quantiles.is_empty()).then_some(&options.quantiles),
        "smi_stderr": "std of the per-sample mean PSMI (ddof 1) / sqrt(n_samples)",
        "elapsed_s": elapsed,
        "version": env!("CARGO_PKG_VERSION"),
    });
    report::write_json(&staging.path(SUMMARY), &summary)?;
    if !options.plot {
        staging.stale(LAYER_PLOT);
    }
    // The last moment a signal leaves no trace, as for a single run.
    interrupt::check()?;
    if let Some(dir) = model_dir {
        save_models(runs, dir)?;
    }
    if let Some(csv) = &options.csv {
        let parts: Vec<report::CsvPart<'_>> = runs
            .iter()
            .map(|run| report::CsvPart {
                layer: Some(&run.name),
                scores: &run.scores,
                quantiles: run.quantiles.as_ref(),
            })
            .collect();
        report::write_csv(csv, &plan.labels, &parts)?;
    }
    let out = staging.commit()?;
    report_layers(&out, plan, runs, elapsed, options);
    Ok(())
}

fn report_layers(out: &Path, plan: &Plan, runs: &[LayerRun], elapsed: f64, options: &ReportArgs) {
    if let Some(k) = options.top {
        for run in runs {
            say!("Layer {}:", run.name);
            report::print_lowest(&plan.labels, &run.scores, k, None);
        }
    }
    if options.quiet {
        return;
    }
    for run in runs {
        say!(
            "{}: {} features, {} directions{}; SMI {:.4} ± {:.4} nats; {:.2} s",
            out.join(&run.dir).display(),
            run.dim,
            run.scores.n_estimators(),
            crate::report::auto_outcome(&run.model),
            run.scores.smi(),
            run.smi_stderr(),
            run.elapsed
        );
    }
    say!(
        "{}: {} layers × {} samples, {} labels; {LAYERS_CSV}, {SUMMARY}{}; {:.2} s",
        out.display(),
        runs.len(),
        plan.labels.len(),
        runs.first().map_or(0, |r| r.model.labels().len()),
        if options.plot {
            format!(", {LAYER_PLOT}")
        } else {
            String::new()
        },
        elapsed
    );
}
