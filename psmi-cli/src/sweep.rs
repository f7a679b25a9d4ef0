//! `fit-transform --runs GLOB`: the same command over runs (checkpoints) ×
//! layers, `{run}` in --features and --labels standing for each run's
//! directory, one seed for all, results under `DIR/<run>/` and compared in
//! DIR/layers.csv and DIR/scores.csv. What makes runs comparable is
//! `psmi_std::sweep`'s rule.

use crate::args::{DataArgs, EstimatorArgs, ReportArgs};
use crate::commands::{checked_options, fit_layer, score_layers};
use crate::failure::Failure;
use crate::output::OutputDir;
use crate::results::Delivery;
use crate::source::{self, Source};
use psmi_std::io::matching_directories;
use psmi_std::sweep::{check_layers, check_samples};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `{run}` stands for.
const RUN: &str = "{run}";

/// One run of the sweep: its name, its directory in DIR, and its inputs.
struct Run {
    name: String,
    dir: String,
    data: DataArgs,
    layers: Vec<String>,
}

pub fn fit_transform(
    glob: &str,
    data: &DataArgs,
    out: &Path,
    estimator: &EstimatorArgs,
    options: &ReportArgs,
) -> Result<(), Failure> {
    let started = Instant::now();
    let (psmi, target) = checked_options(estimator, options)?;
    let runs = plan(glob, data)?;
    let staging = OutputDir::begin(out)?;
    let mut results = Vec::new();
    let mut first: Option<(&str, Vec<i64>)> = None;
    for run in &runs {
        let in_run = |f: Failure| f.in_run(&run.name);
        let layers = source::layers(&run.data).map_err(in_run)?;
        let source = Source::open(&run.data, layers, |n, d| {
            psmi.working_memory(n, d, options.full)
        })
        .map_err(in_run)?;
        match &first {
            None => {
                if let Some(target) = &target {
                    target.check(source.labels().len())?;
                }
                first = Some((&run.name, source.labels().to_vec()));
            }
            Some((name, labels)) => check_samples((name, labels), (&run.name, source.labels()))
                .map_err(Failure::input)?,
        }
        let scored = score_layers(
            &source,
            Some((&run.name, &run.dir)),
            &staging,
            options,
            |i, features| fit_layer(&psmi, &source, i, features, data.max_memory, options),
        )
        .map_err(in_run)?;
        results.extend(scored);
    }
    let labels = first.map(|(_, labels)| labels).unwrap_or_default();
    let delivery = Delivery {
        data,
        labels: &labels,
        compared: true,
        sweep: Some(glob),
        target: target.as_ref(),
        started,
        models: None,
        options,
    };
    delivery.deliver(staging, &results)
}

/// The runs `glob` matches, in natural order, each with its inputs, checked
/// before any work: `{run}` is used, and every run has the same layers.
fn plan(glob: &str, data: &DataArgs) -> Result<Vec<Run>, Failure> {
    let features = data.features.to_string_lossy();
    if !features.contains(RUN) {
        return Err(Failure::input(format!(
            "--features {features}: with --runs, write {RUN} where each run's directory goes"
        )));
    }
    let paths: Vec<PathBuf> = matching_directories(Path::new(glob))?;
    let names: Vec<String> = paths
        .iter()
        .map(|p| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let borrowed: Vec<&str> = names.iter().map(String::as_str).collect();
    let dirs = source::directories(&borrowed, "run", &glob)?;
    let mut runs = Vec::with_capacity(paths.len());
    for ((path, name), dir) in paths.iter().zip(names).zip(dirs) {
        let with_run = |spec: &Path| {
            let run = path.to_string_lossy();
            PathBuf::from(spec.to_string_lossy().replace(RUN, &run))
        };
        let data = DataArgs {
            features: with_run(&data.features),
            labels: with_run(&data.labels),
            max_memory: data.max_memory,
        };
        let layers = source::layers(&data)
            .map_err(|f| f.in_run(&name))?
            .map(|l| l.names().into_iter().map(str::to_owned).collect())
            .unwrap_or_default();
        runs.push(Run {
            name,
            dir,
            data,
            layers,
        });
    }
    let listed: Vec<(&str, &[String])> = runs
        .iter()
        .map(|r| (r.name.as_str(), &r.layers[..]))
        .collect();
    check_layers(&listed).map_err(Failure::input)?;
    Ok(runs)
}
