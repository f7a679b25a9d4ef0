//! The results of fit-transform and transform: each layer's files as it is
//! scored, then the comparison of the layers, the models, the CSV, the
//! commit and the report, all at once.

use crate::args::{DataArgs, ReportArgs};
use crate::failure::{self, Failure};
use crate::output::OutputDir;
use crate::source::{Source, LAYERS_CSV, LAYER_PLOT, SCORES_CSV, SUMMARY};
use crate::{interrupt, plot, report};
use psmi_std::evaluation::{evaluate, target_from_values, Evaluation, EvaluationError, Proportion};
use psmi_std::io::{
    read_target, write_npy_f32_2d, write_npy_f64, write_npy_f64_2d, write_whole, Input,
};
use psmi_std::sweep::delta_mean;
use psmi_std::{PsmiModel, PsmiScores, Quantiles};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What one layer's run keeps once its files are written.
pub struct LayerRun {
    /// The run's name and directory in a sweep (`--runs`), else `None`.
    pub run: Option<(String, String)>,
    /// The layer's name and directory; `None` for a single matrix.
    pub layer: Option<(String, String)>,
    /// The files the samples come from, in order, with their rows.
    pub origins: Vec<(String, usize)>,
    pub dim: usize,
    pub model: PsmiModel,
    /// Without the full matrix once written.
    pub scores: PsmiScores,
    pub quantiles: Option<Quantiles>,
    pub elapsed: f64,
}

impl LayerRun {
    /// The layer's name, `None` for a single matrix.
    pub fn name(&self) -> Option<&str> {
        self.layer.as_ref().map(|(name, _)| name.as_str())
    }

    /// The run's name in a sweep.
    pub fn run_name(&self) -> Option<&str> {
        self.run.as_ref().map(|(name, _)| name.as_str())
    }

    /// Its directory inside DIR (`<run>/<layer>`), empty for DIR itself.
    fn dirs(&self) -> Vec<&str> {
        self.run
            .iter()
            .chain(&self.layer)
            .map(|(_, dir)| dir.as_str())
            .collect()
    }

    /// The standard error of the SMI ([`PsmiScores::smi_stderr`]).
    pub fn smi_stderr(&self) -> f64 {
        self.scores.smi_stderr()
    }

    pub fn converged(&self) -> Option<bool> {
        self.model.auto_report().map(|a| a.converged)
    }
}

/// Writes one layer's files (into DIR for a single matrix, `DIR/<layer>/`
/// otherwise) and returns what is kept of it.
pub fn write_layer(
    staging: &OutputDir,
    labels: &[i64],
    mut run: LayerRun,
    options: &ReportArgs,
) -> Result<LayerRun, Failure> {
    match run.dirs().split_first() {
        None => {
            write_files(&|name| staging.path(name), labels, &run, options)?;
            mark_stale_outputs(staging, options);
        }
        Some((top, inner)) => {
            let dir = inner.iter().fold(staging.path(top), |dir, d| dir.join(d));
            std::fs::create_dir_all(&dir).map_err(failure::output(&dir))?;
            write_files(&|name| dir.join(name), labels, &run, options)?;
        }
    }
    run.scores = run.scores.without_full();
    Ok(run)
}

/// Writes one run's files, each where `path` says.
fn write_files(
    path: &dyn Fn(&str) -> PathBuf,
    labels: &[i64],
    run: &LayerRun,
    options: &ReportArgs,
) -> Result<(), Failure> {
    let (model, scores) = (&run.model, &run.scores);
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
    if let Some(quantiles) = &run.quantiles {
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
    let mut summary = report::summary(model, scores, labels, run.elapsed);
    summary["quantiles"] = json!(run.quantiles.as_ref().map(Quantiles::levels));
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

/// Saves the model, creating its directory as `--out` does (it may even be
/// inside `--out`, which appears only when the results are complete).
pub fn save_model(model: &PsmiModel, path: &Path) -> Result<(), Failure> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(failure::output(dir))?;
    }
    model.save(path).map_err(failure::saved)
}

/// Saves every layer's model as `DIR/<layer>.safetensors`, all or none.
fn save_models(runs: &[LayerRun], dir: &Path) -> Result<(), Failure> {
    let staging = OutputDir::begin(dir)?;
    for run in runs {
        if let Some((_, layer_dir)) = &run.layer {
            let path = staging.path(&format!("{layer_dir}.safetensors"));
            run.model.save(&path).map_err(failure::saved)?;
        }
    }
    staging.commit()?;
    Ok(())
}

/// A per-sample target to evaluate the scores against (`--against`).
pub struct Target {
    /// The file, as given.
    pub file: String,
    /// Whether each sample is marked.
    pub marked: Vec<bool>,
    /// `--tpr`.
    pub tpr: f64,
}

impl Target {
    /// Reads `--against`, if given, as 0/1 values.
    pub fn read(options: &ReportArgs) -> Result<Option<Target>, Failure> {
        let Some(path) = &options.against else {
            return Ok(None);
        };
        let input = Input::parse(path);
        let file = input.to_string();
        let values = read_target(&input)?;
        let marked =
            target_from_values(&values).map_err(|e| Failure::input(format!("{file}: {e}")))?;
        Ok(Some(Target {
            file,
            marked,
            tpr: options.tpr,
        }))
    }

    /// Checks the target against the samples, before any work.
    pub fn check(&self, samples: usize) -> Result<(), Failure> {
        if self.marked.len() == samples {
            return Ok(());
        }
        let e = EvaluationError::Length {
            target: self.marked.len(),
            samples,
        };
        Err(Failure::input(format!("{}: {e}", self.file)))
    }

    fn evaluate(&self, run: &LayerRun) -> Result<Evaluation, Failure> {
        evaluate(run.scores.mean(), &self.marked, self.tpr)
            .map_err(|e| Failure::input(format!("{}: {e}", self.file)))
    }
}

/// Everything a command delivers once every layer is scored.
pub struct Delivery<'a> {
    pub data: &'a DataArgs,
    /// Every sample's label (the same in every run).
    pub labels: &'a [i64],
    /// Whether results go to directories of their own (layers, runs) with a
    /// comparison beside them, rather than to DIR itself.
    pub compared: bool,
    /// `--runs`, for a sweep.
    pub sweep: Option<&'a str>,
    pub target: Option<&'a Target>,
    pub started: Instant,
    /// `--model`: a file for a single matrix, a directory of models for layers.
    pub models: Option<&'a Path>,
    pub options: &'a ReportArgs,
}

impl<'a> Delivery<'a> {
    /// The delivery of a command started at `started`, with no models to save,
    /// no sweep and no target.
    pub fn new(
        data: &'a DataArgs,
        source: &'a Source,
        started: Instant,
        options: &'a ReportArgs,
    ) -> Self {
        Delivery {
            data,
            labels: source.labels(),
            compared: source.layered(),
            sweep: None,
            target: None,
            started,
            models: None,
            options,
        }
    }

    /// Writes the comparison of the layers `runs`, the models and the CSV,
    /// commits the results and reports.
    pub fn deliver(&self, staging: OutputDir, runs: &[LayerRun]) -> Result<(), Failure> {
        let options = self.options;
        let elapsed = self.started.elapsed().as_secs_f64();
        let evaluations = match self.target {
            None => vec![None; runs.len()],
            Some(target) => runs
                .iter()
                .map(|run| target.evaluate(run).map(Some))
                .collect::<Result<_, _>>()?,
        };
        if self.compared {
            self.write_comparison(&staging, runs, &evaluations, elapsed)?;
        } else if let Some(evaluation) = &evaluations[0] {
            // A single matrix: its summary.json gains the evaluation.
            let path = staging.path(SUMMARY);
            let text = std::fs::read_to_string(&path).map_err(failure::write(&path))?;
            let mut summary: Value = serde_json::from_str(&text).map_err(Failure::other)?;
            summary["evaluation"] = self.evaluation_json(evaluation);
            report::write_json(&path, &summary)?;
        }
        if self.sweep.is_some() {
            let path = staging.path(SCORES_CSV);
            write_scores(&path, self.labels, runs).map_err(failure::write(&path))?;
        } else {
            staging.stale(SCORES_CSV);
        }
        // The last moment a signal leaves no trace: the files outside DIR and
        // the commit follow (a signal after this lets the run finish).
        interrupt::check()?;
        match (self.models, self.compared) {
            (Some(dir), true) => save_models(runs, dir)?,
            (Some(path), false) => save_model(&runs[0].model, path)?,
            (None, _) => {}
        }
        if let Some(csv) = &options.csv {
            let parts: Vec<report::CsvPart<'_>> = runs
                .iter()
                .map(|run| report::CsvPart {
                    layer: run.name(),
                    scores: &run.scores,
                    quantiles: run.quantiles.as_ref(),
                })
                .collect();
            report::write_csv(csv, self.labels, &parts)?;
        }
        let out = staging.commit()?;
        if self.compared {
            print_layers(&out, self.labels, runs, elapsed, options);
        } else {
            print_run(&out, self.labels, &runs[0], options);
        }
        Ok(())
    }

    fn evaluation_json(&self, e: &Evaluation) -> Value {
        let interval = |p: &Proportion| json!({"value": p.value, "low": p.low, "high": p.high});
        json!({
            "against": self.target.map(|t| &t.file),
            "tpr": e.tpr,
            "positives": e.positives,
            "negatives": e.negatives,
            "auroc": interval(&e.auroc),
            "fpr_at_tpr": interval(&e.fpr_at_tpr),
        })
    }

    /// DIR/layers.csv, DIR/summary.json and, with `--plot`, DIR/smi_by_layer.svg.
    fn write_comparison(
        &self,
        staging: &OutputDir,
        runs: &[LayerRun],
        evaluations: &[Option<Evaluation>],
        elapsed: f64,
    ) -> Result<(), Failure> {
        let options = self.options;
        let csv_path = staging.path(LAYERS_CSV);
        write_whole(&csv_path, |w| {
            if self.sweep.is_some() {
                write!(w, "run,")?;
            }
            write!(w, "layer,dim,n_estimators,converged,smi,smi_stderr")?;
            if self.target.is_some() {
                write!(
                    w,
                    ",auroc,auroc_low,auroc_high,fpr_at_tpr,fpr_at_tpr_low,fpr_at_tpr_high"
                )?;
            }
            writeln!(w)?;
            for (run, evaluation) in runs.iter().zip(evaluations) {
                if let Some(name) = run.run_name() {
                    write!(w, "{},", report::csv_field(name))?;
                }
                let converged = run.converged().map_or(String::new(), |c| c.to_string());
                write!(
                    w,
                    "{},{},{},{converged},{},{}",
                    report::csv_field(run.name().unwrap_or_default()),
                    run.dim,
                    run.scores.n_estimators(),
                    run.scores.smi(),
                    run.smi_stderr()
                )?;
                if let Some(e) = evaluation {
                    for p in [e.auroc, e.fpr_at_tpr] {
                        write!(w, ",{},{},{}", p.value, p.low, p.high)?;
                    }
                }
                writeln!(w)?;
            }
            Ok(())
        })
        .map_err(failure::write(&csv_path))?;
        if options.plot {
            let points: Vec<plot::LayerPoint<'_>> = runs
                .iter()
                .map(|run| plot::LayerPoint {
                    run: run.run_name(),
                    name: run.name().unwrap_or_default(),
                    smi: run.scores.smi(),
                    stderr: run.smi_stderr(),
                })
                .collect();
            plot::write_layer_svg(&staging.path(LAYER_PLOT), &points, self.labels.len())?;
        } else {
            staging.stale(LAYER_PLOT);
        }
        let layers: Vec<_> = runs
            .iter()
            .zip(evaluations)
            .map(|(run, evaluation)| {
                let mut layer = json!({
                    "layer": run.name(),
                    "dir": run.dirs().join("/"),
                    "dim": run.dim,
                    "n_estimators": run.scores.n_estimators(),
                    "converged": run.converged(),
                    "smi": run.scores.smi(),
                    "smi_stderr": run.smi_stderr(),
                    "elapsed_s": run.elapsed,
                });
                if let Some(name) = run.run_name() {
                    layer["run"] = json!(name);
                }
                if let Some(e) = evaluation {
                    layer["evaluation"] = self.evaluation_json(e);
                }
                layer
            })
            .collect();
        let mut summary = json!({
            "features": self.data.features.display().to_string(),
            "labels": self.data.labels.display().to_string(),
            "n_samples": self.labels.len(),
            "n_layers": runs.len(),
            "layers": layers,
            "quantiles": (!options.quantiles.is_empty()).then_some(&options.quantiles),
            "smi_stderr": "the samples' share (std of the per-sample mean PSMI, ddof 1, / sqrt(n_samples)) and the directions' (right for their scheme), added as variances",
            "elapsed_s": elapsed,
            "version": env!("CARGO_PKG_VERSION"),
        });
        if let Some(glob) = self.sweep {
            summary["runs"] = json!(glob);
        }
        // The best run and layer: the highest AUROC (the first of equals).
        let best = runs
            .iter()
            .zip(evaluations)
            .filter_map(|(run, e)| e.map(|e| (run, e)))
            .reduce(|best, next| {
                if next.1.auroc.value > best.1.auroc.value {
                    next
                } else {
                    best
                }
            });
        if let Some((run, e)) = best {
            summary["best"] = json!({
                "run": run.run_name(),
                "layer": run.name(),
                "auroc": e.auroc.value,
                "fpr_at_tpr": e.fpr_at_tpr.value,
            });
        }
        report::write_json(&staging.path(SUMMARY), &summary)
    }
}

/// DIR/scores.csv: one row per run × layer × sample, with the sample's file and
/// row there, and its change of mean against the first run's same layer.
fn write_scores(path: &Path, labels: &[i64], runs: &[LayerRun]) -> std::io::Result<()> {
    let levels = runs
        .first()
        .and_then(|r| r.quantiles.as_ref())
        .map_or(&[][..], Quantiles::levels);
    write_whole(path, |w| {
        write!(w, "run,layer,index,file,row,label,mean,std,stderr")?;
        for q in levels {
            write!(w, ",q{q}")?;
        }
        writeln!(w, ",delta_mean")?;
        for run in runs {
            let first = runs
                .iter()
                .find(|r| r.name() == run.name())
                .expect("the run itself at least");
            let delta = delta_mean(run.scores.mean(), first.scores.mean());
            let (scores, stderr) = (&run.scores, run.scores.stderr());
            let prefix = format!(
                "{},{}",
                report::csv_field(run.run_name().unwrap_or_default()),
                report::csv_field(run.name().unwrap_or_default())
            );
            let rows = run
                .origins
                .iter()
                .flat_map(|(file, rows)| (0..*rows).map(move |row| (file, row)));
            for (i, (label, (file, row))) in labels.iter().zip(rows).enumerate() {
                write!(
                    w,
                    "{prefix},{i},{},{row},{label},{},{},{}",
                    report::csv_field(file),
                    scores.mean()[i],
                    scores.std()[i],
                    stderr[i]
                )?;
                for value in run.quantiles.as_ref().map_or(&[][..], |q| q.row(i)) {
                    write!(w, ",{value}")?;
                }
                writeln!(w, ",{}", delta[i])?;
            }
        }
        Ok(())
    })
}

/// What a single matrix's run prints.
fn print_run(out: &Path, labels: &[i64], run: &LayerRun, options: &ReportArgs) {
    let (model, scores) = (&run.model, &run.scores);
    if let Some(k) = options.top {
        report::print_lowest(labels, scores, k, None);
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
            run.elapsed
        );
    }
}

/// What a run over layers prints.
fn print_layers(out: &Path, labels: &[i64], runs: &[LayerRun], elapsed: f64, options: &ReportArgs) {
    if let Some(k) = options.top {
        for run in runs {
            match run.run_name() {
                Some(name) => say!("Run {name}, layer {}:", run.name().unwrap_or_default()),
                None => say!("Layer {}:", run.name().unwrap_or_default()),
            }
            report::print_lowest(labels, &run.scores, k, None);
        }
    }
    if options.quiet {
        return;
    }
    for run in runs {
        let dir = run.dirs().join("/");
        say!(
            "{}: {} features, {} directions{}; SMI {:.4} ± {:.4} nats; {:.2} s",
            out.join(dir).display(),
            run.dim,
            run.scores.n_estimators(),
            report::auto_outcome(&run.model),
            run.scores.smi(),
            run.smi_stderr(),
            run.elapsed
        );
    }
    say!(
        "{}: {} layers × {} samples, {} labels; {LAYERS_CSV}, {SUMMARY}{}; {:.2} s",
        out.display(),
        runs.len(),
        labels.len(),
        runs.first().map_or(0, |r| r.model.labels().len()),
        if options.plot {
            format!(", {LAYER_PLOT}")
        } else {
            String::new()
        },
        elapsed
    );
}
