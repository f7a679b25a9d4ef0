//! What a run tells: summary.json, the CSV, and the table of lowest samples.

use crate::failure::{self, Failure};
use psmi_std::{Directions, Kernels, PsmiModel, PsmiScores, Quantiles};
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
        "precision": model.precision().name(),
        "smi": scores.smi(),
        "smi_stderr": scores.smi_stderr(),
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
    std::fs::write(path, text + "\n").map_err(failure::write(path))
}

/// One run's scores in the CSV: a layer's (named) or a single run's.
pub struct CsvPart<'a> {
    pub layer: Option<&'a str>,
    pub scores: &'a PsmiScores,
    pub quantiles: Option<&'a Quantiles>,
}

/// Writes `[layer,]index,label,mean,std,stderr[,q0.01,..]`, one row per sample
/// (and layer), whole or not at all.
pub fn write_csv(path: &Path, labels: &[i64], parts: &[CsvPart<'_>]) -> Result<(), Failure> {
    let layered = parts.iter().any(|p| p.layer.is_some());
    let levels = parts
        .first()
        .and_then(|p| p.quantiles)
        .map_or(&[][..], Quantiles::levels);
    psmi_std::io::write_whole(path, |w| {
        if layered {
            write!(w, "layer,")?;
        }
        write!(w, "index,label,mean,std,stderr")?;
        for q in levels {
            write!(w, ",q{q}")?;
        }
        writeln!(w)?;
        for part in parts {
            let (scores, stderr) = (part.scores, part.scores.stderr());
            for (i, label) in labels.iter().enumerate() {
                if let Some(layer) = part.layer {
                    write!(w, "{},", csv_field(layer))?;
                }
                write!(
                    w,
                    "{i},{label},{},{},{}",
                    scores.mean()[i],
                    scores.std()[i],
                    stderr[i]
                )?;
                for value in part.quantiles.map_or(&[][..], |q| q.row(i)) {
                    write!(w, ",{value}")?;
                }
                writeln!(w)?;
            }
        }
        Ok(())
    })
    .map_err(failure::write(path))
}

/// `text` as one CSV field: quoted (quotes doubled) if it holds a comma, a
/// quote or a line break, as a tensor's name may.
pub fn csv_field(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_they_must_be() {
        assert_eq!(csv_field("layers.3"), "layers.3");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
