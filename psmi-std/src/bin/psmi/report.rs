//! What a run tells: summary.json, the CSV, and the table of lowest samples.

use crate::failure::Failure;
use psmi_std::{Directions, Kernels, PsmiModel, PsmiScores};
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;

/// The contents of summary.json.
pub fn summary(model: &PsmiModel, scores: &PsmiScores, labels: &[i64], elapsed_s: f64) -> Value {
    // One pass over the samples, not one per label.
    let mut counts = vec![0usize; model.labels().len()];
    for label in labels {
        if let Ok(class) = model.labels().binary_search(label) {
            counts[class] += 1;
        }
    }
    let auto = model.auto_report();
    json!({
        "n_samples": scores.mean().len(),
        "dim": model.dim(),
        "n_classes": model.labels().len(),
        "n_estimators": scores.n_estimators(),
        "seed": model.seed(),
        "directions": Directions::from(model.scheme()).name(),
        "frame_size": model.scheme().frame_size(),
        "smi": scores.smi(),
        "mode": if auto.is_some() { "auto" } else { "fixed" },
        // Only auto mode has a convergence test: null in fixed mode.
        "converged": auto.map(|a| a.converged),
        "variation": auto.and_then(|a| a.variation),
        "blocks": auto.map(|a| a.blocks),
        "elapsed_s": elapsed_s,
        "version": env!("CARGO_PKG_VERSION"),
        "isa": Kernels::detect().isa().name(),
        "labels": model.labels(),
        "frequency": model.frequency(),
        "count_in_input": counts,
    })
}

/// Writes a JSON value, pretty-printed.
pub fn write_json(path: &Path, value: &Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(Failure::other)?;
    std::fs::write(path, text + "\n")
        .map_err(|e| Failure::other(format!("{}: {e}", path.display())))
}

/// Writes `index,label,mean,std,stderr`, one row per sample, whole or not at all.
pub fn write_csv(path: &Path, labels: &[i64], scores: &PsmiScores) -> Result<(), Failure> {
    let stderr = scores.stderr();
    psmi_std::io::write_whole(path, |w| {
        writeln!(w, "index,label,mean,std,stderr")?;
        for (i, label) in labels.iter().enumerate() {
            writeln!(
                w,
                "{i},{label},{},{},{}",
                scores.mean()[i],
                scores.std()[i],
                stderr[i]
            )?;
        }
        Ok(())
    })
    .map_err(|e| Failure::input(format!("{}: cannot write: {e}", path.display())))
}

/// Prints the `k` samples with the lowest PSMI; `flipped` marks known bad labels.
pub fn print_lowest(labels: &[i64], scores: &PsmiScores, k: usize, flipped: Option<&[bool]>) {
    let lowest = scores.lowest(k);
    let stderr = scores.stderr();
    say!("The {} samples with the lowest PSMI:", lowest.len());
    let flag_header = if flipped.is_some() { "  flipped?" } else { "" };
    say!(
        "{:>6} {:>8} {:>8}  {:>22}{flag_header}",
        "rank",
        "index",
        "label",
        "PSMI mean ± stderr"
    );
    for (rank, &i) in lowest.iter().enumerate() {
        let flag = match flipped {
            Some(f) if f[i] => "  yes",
            Some(_) => "  no",
            None => "",
        };
        say!(
            "{:>6} {:>8} {:>8}  {:>11.4} ± {:<8.4}{flag}",
            rank + 1,
            i,
            labels[i],
            scores.mean()[i],
            stderr[i]
        );
    }
}

/// ", auto: converged after 3 blocks (variation 0.031 ≤ 0.05)" or "" in fixed mode.
pub fn auto_outcome(model: &PsmiModel) -> String {
    match model.auto_report() {
        None => String::new(),
        Some(a) => {
            let variation = a.variation.map_or("n/a".to_string(), |v| format!("{v:.4}"));
            if a.converged {
                format!(
                    " (auto: converged after {} blocks, variation {variation})",
                    a.blocks
                )
            } else {
                format!(
                    " (auto: NOT converged, stopped at --max-n-estimators after {} blocks, variation {variation})",
                    a.blocks
                )
            }
        }
    }
}
