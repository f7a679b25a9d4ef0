//! The results of fit-transform and transform: each layer's files as it is
//! scored, then the comparison of the layers, the models, the CSV, the
//! commit and the report, all at once.

use crate::args::{DataArgs, ReportArgs};
use crate::failure::{self, Failure};
use crate::output::OutputDir;
use crate::source::{Source, LAYERS_CSV, LAYER_PLOT, SUMMARY};
use crate::{interrupt, plot, report};
use psmi_std::io::{write_npy_f32_2d, write_npy_f64, write_npy_f64_2d, write_whole};
use psmi_std::{PsmiModel, PsmiScores, Quantiles};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What one layer's run keeps once its files are written.
pub struct LayerRun {
    /// The layer's name and directory; `None` for a single matrix.
    pub layer: Option<(String, String)>,
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

    /// The standard error of the SMI: the sample standard deviation (ddof 1)
    /// of the per-sample mean PSMI, over √n. It treats the samples as
    /// independent draws and the directions as fixed.
    pub fn smi_stderr(&self) -> f64 {
        let means = self.scores.mean();
        let n = means.len() as f64;
        let smi = self.scores.smi();
        let squares: f64 = means.iter().map(|m| (m - smi) * (m - smi)).sum();
        (squares / (n - 1.0)).sqrt() / n.sqrt()
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
    match &run.layer {
        None => {
            write_files(&|name| staging.path(name), labels, &run, options)?;
            mark_stale_outputs(staging, options);
        }
        Some((_, dir)) => {
            let dir = staging.path(dir);
            std::fs::create_dir(&dir).map_err(failure::output(&dir))?;
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

/// Everything a command delivers once every layer is scored.
pub struct Delivery<'a> {
    pub data: &'a DataArgs,
    pub source: &'a Source,
    pub started: Instant,
    /// `--model`: a file for a single matrix, a directory of models for layers.
    pub models: Option<&'a Path>,
    pub options: &'a ReportArgs,
}

impl<'a> Delivery<'a> {
    /// The delivery of a command started at `started`, with no models to save.
    pub fn new(
        data: &'a DataArgs,
        source: &'a Source,
        started: Instant,
        options: &'a ReportArgs,
    ) -> Self {
        Delivery {
            data,
            source,
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
        if self.source.layered() {
            self.write_comparison(&staging, runs, elapsed)?;
        }
        // The last moment a signal leaves no trace: the files outside DIR and
        // the commit follow (a signal after this lets the run finish).
        interrupt::check()?;
        match (self.models, self.source.layered()) {
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
            report::write_csv(csv, self.source.labels(), &parts)?;
        }
        let out = staging.commit()?;
        let labels = self.source.labels();
        if self.source.layered() {
            print_layers(&out, labels, runs, elapsed, options);
        } else {
            print_run(&out, labels, &runs[0], options);
        }
        Ok(())
    }

    /// DIR/layers.csv, DIR/summary.json and, with `--plot`, DIR/smi_by_layer.svg.
    fn write_comparison(
        &self,
        staging: &OutputDir,
        runs: &[LayerRun],
        elapsed: f64,
    ) -> Result<(), Failure> {
        let options = self.options;
        let csv_path = staging.path(LAYERS_CSV);
        write_whole(&csv_path, |w| {
            writeln!(w, "layer,dim,n_estimators,converged,smi,smi_stderr")?;
            for run in runs {
                let converged = run.converged().map_or(String::new(), |c| c.to_string());
                writeln!(
                    w,
                    "{},{},{},{converged},{},{}",
                    report::csv_field(run.name().unwrap_or_default()),
                    run.dim,
                    run.scores.n_estimators(),
                    run.scores.smi(),
                    run.smi_stderr()
                )?;
            }
            Ok(())
        })
        .map_err(failure::write(&csv_path))?;
        if options.plot {
            let points: Vec<plot::LayerPoint<'_>> = runs
                .iter()
                .map(|run| plot::LayerPoint {
                    name: run.name().unwrap_or_default(),
                    smi: run.scores.smi(),
                    stderr: run.smi_stderr(),
                })
                .collect();
            let n = self.source.labels().len();
            plot::write_layer_svg(&staging.path(LAYER_PLOT), &points, n)?;
        } else {
            staging.stale(LAYER_PLOT);
        }
        let layers: Vec<_> = runs
            .iter()
            .map(|run| {
                json!({
                    "layer": run.name(),
                    "dir": run.layer.as_ref().map(|(_, dir)| dir),
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
            "features": self.data.features.display().to_string(),
            "labels": self.data.labels.display().to_string(),
            "n_samples": self.source.labels().len(),
            "n_layers": runs.len(),
            "layers": layers,
            "quantiles": (!options.quantiles.is_empty()).then_some(&options.quantiles),
            "smi_stderr": "std of the per-sample mean PSMI (ddof 1) / sqrt(n_samples)",
            "elapsed_s": elapsed,
            "version": env!("CARGO_PKG_VERSION"),
        });
        report::write_json(&staging.path(SUMMARY), &summary)
    }
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
            say!("Layer {}:", run.name().unwrap_or_default());
            report::print_lowest(labels, &run.scores, k, None);
        }
    }
    if options.quiet {
        return;
    }
    for run in runs {
        let dir = run.layer.as_ref().map_or("", |(_, dir)| dir.as_str());
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
