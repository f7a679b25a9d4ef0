//! The `psmi` program, run as a user runs it: every command and report option,
//! every input dtype and format, one test per bad input, and whole-or-nothing
//! output directories.

mod common;

use assert_cmd::Command;
use common::files::{
    encode, label_bytes, npy_bytes, read_json, read_npy, write_labels, write_npy, write_safetensors,
};
use common::program::{assert_error, assert_success, path_str, psmi, run, text};
use common::{listing, mixture};
use predicates::prelude::*;
use psmi_std::io::write_npy_f32_2d;
use psmi_std::{Directions, Features, NEstimators, Psmi, PsmiScores};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};
use tempfile::TempDir;

const N: usize = 60;
const D: usize = 5;
const M: usize = 50;
const SEED: u64 = 11;
/// Class values that are not class indices, so a message naming an index instead
/// of a label would show.
const LABELS: [i64; 3] = [10, 20, 30];

/// A 3-class Gaussian mixture whose values are multiples of 1/8 well inside f16 and
/// bf16 precision, so every feature format holds exactly the same numbers.
fn dataset() -> (Vec<f32>, Vec<i64>) {
    let (x, classes) = mixture(3, N, D, 3, 3.0);
    let x = x.iter().map(|v| (v * 8.0).round() / 8.0).collect();
    let labels = classes.iter().map(|&c| LABELS[c as usize]).collect();
    (x, labels)
}

/// A temporary directory holding `features.npy` (f32) and `labels.npy` (i64).
struct Case {
    dir: TempDir,
    x: Vec<f32>,
    labels: Vec<i64>,
}

impl Case {
    fn new() -> Case {
        let (x, labels) = dataset();
        Case::with(x, labels)
    }

    fn with(x: Vec<f32>, labels: Vec<i64>) -> Case {
        let dir = tempfile::tempdir().unwrap();
        let rows = labels.len();
        write_npy_f32_2d(dir.path().join("features.npy"), rows, x.len() / rows, &x).unwrap();
        write_labels(&dir.path().join("labels.npy"), "<i8", &labels);
        Case { dir, x, labels }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn features(&self) -> String {
        self.arg("features.npy")
    }

    fn labels_file(&self) -> String {
        self.arg("labels.npy")
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_owned()
    }

    /// `fit-transform` on this case's files into `out`, fixed mode, plus `extra`.
    fn fit_transform(&self, out: &str, extra: &[&str]) -> Command {
        let mut cmd = psmi();
        cmd.args(["fit-transform", "--features", &self.features()])
            .args(["--labels", &self.labels_file(), "--out", &self.arg(out)])
            .args([
                "--n-estimators",
                &M.to_string(),
                "--seed",
                &SEED.to_string(),
            ])
            .args(extra);
        cmd
    }

    /// `transform` of this case's files with `model` into `out`, plus `extra`.
    fn transform(&self, model: &str, out: &str, extra: &[&str]) -> Command {
        let mut cmd = psmi();
        cmd.args([
            "transform",
            "--model",
            model,
            "--features",
            &self.features(),
        ])
        .args(["--labels", &self.labels_file(), "--out", &self.arg(out)])
        .args(extra);
        cmd
    }

    /// What the library gives on the same data, seed and number of directions.
    fn library_scores(&self) -> PsmiScores {
        let x =
            Features::new(&self.x, self.labels.len(), self.x.len() / self.labels.len()).unwrap();
        let psmi = Psmi::builder()
            .n_estimators(NEstimators::Fixed(M))
            .seed(SEED)
            .build()
            .unwrap();
        psmi.fit_transform(&x, &self.labels).unwrap().1
    }
}

// ---------------------------------------------------------------------------
// Files in: half-precision values for hand-made .npy and .safetensors files.

/// IEEE half precision of a value it holds exactly.
fn f16_bits(v: f32) -> u16 {
    let bits = v.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    if v == 0.0 {
        return sign;
    }
    let exponent = ((bits >> 23) & 0xff) as i32 - 127 + 15;
    let mantissa = bits & 0x7f_ffff;
    assert!(
        (1..31).contains(&exponent) && mantissa & 0x1fff == 0,
        "{v} is not exact in f16"
    );
    sign | ((exponent as u16) << 10) | (mantissa >> 13) as u16
}

/// bfloat16 of a value it holds exactly.
fn bf16_bits(v: f32) -> u16 {
    let bits = v.to_bits();
    assert_eq!(bits & 0xffff, 0, "{v} is not exact in bf16");
    (bits >> 16) as u16
}

// ---------------------------------------------------------------------------
// Files out.

fn read_f64(path: &Path) -> Vec<f64> {
    let (descr, shape, data) = read_npy(path);
    assert_eq!(descr, "<f8", "{}", path.display());
    assert_eq!(shape.len(), 1, "{}", path.display());
    assert_eq!(data.len(), shape[0] * 8, "{}", path.display());
    data.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

// ---------------------------------------------------------------------------
// Commands.

#[test]
fn fit_transform_writes_what_the_library_computes() {
    let case = Case::new();
    let output = run(&mut case.fit_transform("out", &[]));
    assert_success(&output);
    let out = case.path("out");
    assert_eq!(
        listing(&out),
        ["psmi_mean.npy", "psmi_std.npy", "summary.json"]
    );
    let mean = read_f64(&out.join("psmi_mean.npy"));
    let std = read_f64(&out.join("psmi_std.npy"));
    let want = case.library_scores();
    assert_close(&mean, want.mean(), 1e-12, "psmi_mean");
    assert_close(&std, want.std(), 1e-12, "psmi_std");

    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["n_samples"], N);
    assert_eq!(summary["dim"], D);
    assert_eq!(summary["n_classes"], 3);
    assert_eq!(summary["n_estimators"], M);
    assert_eq!(summary["seed"], SEED);
    let smi = summary["smi"].as_f64().unwrap();
    assert!((smi - want.smi()).abs() <= 1e-12, "{smi} vs {}", want.smi());
    // Fixed mode has no convergence test.
    assert!(summary["converged"].is_null(), "{summary}");
    assert!(summary["elapsed_s"].as_f64().unwrap() >= 0.0);
    assert_eq!(summary["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(summary["labels"], json!(LABELS));
    let frequency: Vec<f64> = serde_json::from_value(summary["frequency"].clone()).unwrap();
    assert_close(&frequency, &[1.0 / 3.0; 3], 1e-15, "frequency");
    // The one-line report names the directory and the SMI.
    let stdout = text(&output.stdout);
    assert!(stdout.contains(&path_str(&out)), "{stdout}");
    assert!(stdout.contains("SMI"), "{stdout}");
}

#[test]
fn fit_transform_in_auto_mode_reports_convergence() {
    let case = Case::new();
    let mut cmd = psmi();
    cmd.args(["fit-transform", "--features", &case.features()])
        .args(["--labels", &case.labels_file(), "--out", &case.arg("out")])
        .args(["--min-n-estimators", "20", "--max-n-estimators", "400"])
        .args(["--seed", &SEED.to_string(), "--quiet"]);
    assert_success(&run(&mut cmd));
    let summary = read_json(&case.path("out").join("summary.json"));
    assert!(summary["converged"].is_boolean(), "{summary}");
    let m = summary["n_estimators"].as_u64().unwrap();
    assert!(m.is_multiple_of(20) && (20..=400).contains(&m), "{summary}");

    let x = Features::new(&case.x, N, D).unwrap();
    let psmi = Psmi::builder()
        .min_n_estimators(20)
        .max_n_estimators(400)
        .seed(SEED)
        .build()
        .unwrap();
    let (model, scores) = psmi.fit_transform(&x, &case.labels).unwrap();
    assert_eq!(m as usize, scores.n_estimators());
    assert_eq!(
        summary["converged"].as_bool(),
        model.auto_report().map(|a| a.converged)
    );
    let mean = read_f64(&case.path("out/psmi_mean.npy"));
    assert_close(&mean, scores.mean(), 1e-12, "psmi_mean");
}

#[test]
fn target_error_stops_when_the_watched_samples_are_that_precise() {
    let case = Case::new();
    let (target, block) = (0.05, 20);
    let mut cmd = psmi();
    cmd.args(["fit-transform", "--features", &case.features()])
        .args(["--labels", &case.labels_file(), "--out", &case.arg("out")])
        .args(["--min-n-estimators", &block.to_string()])
        .args(["--max-n-estimators", "20000", "--target-error", "0.05"])
        .args(["--directions", "iid"])
        .args(["--seed", &SEED.to_string(), "--quiet"]);
    assert_success(&run(&mut cmd));
    let summary = read_json(&case.path("out").join("summary.json"));
    assert_eq!(summary["converged"], json!(true), "{summary}");
    let m = summary["n_estimators"].as_u64().unwrap() as f64;
    // The lowest max(1, floor(0.05 n)) samples by mean, each within the target
    // (i.i.d. directions: std / sqrt(m)), as the files say.
    let mean = read_f64(&case.path("out/psmi_mean.npy"));
    let std = read_f64(&case.path("out/psmi_std.npy"));
    let mut order: Vec<usize> = (0..N).collect();
    order.sort_by(|&a, &b| mean[a].total_cmp(&mean[b]));
    let watched = &order[..(N / 20).max(1)];
    let worst = watched
        .iter()
        .map(|&i| std[i] / m.sqrt())
        .fold(0.0, f64::max);
    assert!(
        worst <= target,
        "stderr {worst} > {target} after {m} directions"
    );
    // It did not stop later than it had to: one block fewer was not enough
    // for the samples watched then (or this is the first block).
    let psmi = Psmi::builder()
        .n_estimators(NEstimators::Fixed(m as usize - block))
        .directions(Directions::Iid)
        .seed(SEED)
        .build()
        .unwrap();
    if m as usize > block {
        let x = Features::new(&case.x, N, D).unwrap();
        let (_, earlier) = psmi.fit_transform(&x, &case.labels).unwrap();
        let mut order: Vec<usize> = (0..N).collect();
        let mean = earlier.mean();
        order.sort_by(|&a, &b| mean[a].total_cmp(&mean[b]));
        let stderr = earlier.stderr();
        let worst = order[..(N / 20).max(1)]
            .iter()
            .map(|&i| stderr[i])
            .fold(0.0, f64::max);
        assert!(
            worst > target,
            "{worst} was within {target} a block earlier"
        );
    }
}

#[test]
fn full_matrix_rows_average_to_the_mean() {
    let case = Case::new();
    assert_success(&run(&mut case.fit_transform("out", &["--full", "--quiet"])));
    let out = case.path("out");
    let (descr, shape, data) = read_npy(&out.join("psmi_full.npy"));
    assert_eq!(descr, "<f4");
    assert_eq!(shape, [N, M]);
    let full: Vec<f32> = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(full.len(), N * M);
    let mean = read_f64(&out.join("psmi_mean.npy"));
    for (i, row) in full.chunks_exact(M).enumerate() {
        let row_mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / M as f64;
        let scale = row.iter().fold(1.0f64, |a, &v| a.max(f64::from(v).abs()));
        assert!(
            (row_mean - mean[i]).abs() <= 1e-6 * scale,
            "row {i}: {row_mean} vs {}",
            mean[i]
        );
    }
}

#[test]
fn model_saved_by_fit_transform_transforms_to_the_same_numbers() {
    let case = Case::new();
    let model = case.arg("model.safetensors");
    assert_success(&run(
        &mut case.fit_transform("first", &["--model", &model, "--quiet"])
    ));
    assert!(case.path("model.safetensors").is_file());
    let mut transform = case.transform(&model, "second", &["--quiet"]);
    assert_success(&run(&mut transform));
    for name in ["psmi_mean.npy", "psmi_std.npy"] {
        let first = read_f64(&case.path("first").join(name));
        let second = read_f64(&case.path("second").join(name));
        assert_close(&second, &first, 1e-12, name);
    }
    let summary = read_json(&case.path("second").join("summary.json"));
    assert_eq!(summary["n_estimators"], M);
    assert_eq!(summary["seed"], SEED);
}

#[test]
fn directions_in_frames_are_chosen_recorded_and_reproduced() {
    let case = Case::new();
    let model = case.arg("model.safetensors");
    assert_success(&run(&mut case.fit_transform(
        "framed",
        &["--directions", "orthogonal", "--model", &model, "--quiet"],
    )));
    let summary = read_json(&case.path("framed").join("summary.json"));
    assert_eq!(summary["directions"], "orthogonal");
    let frame = psmi_std::frame_size(N, D);
    assert_eq!(summary["frame_size"], frame);
    let x = Features::new(&case.x, N, D).unwrap();
    let framed = Psmi::builder()
        .n_estimators(NEstimators::Fixed(M))
        .directions(psmi_std::Directions::Orthogonal)
        .seed(SEED)
        .build()
        .unwrap();
    let want = framed.fit_transform(&x, &case.labels).unwrap().1;
    assert_close(
        &read_f64(&case.path("framed/psmi_mean.npy")),
        want.mean(),
        1e-12,
        "psmi_mean",
    );

    let mut transform = case.transform(&model, "again", &["--quiet"]);
    assert_success(&run(&mut transform));
    assert_close(
        &read_f64(&case.path("again/psmi_mean.npy")),
        want.mean(),
        1e-12,
        "psmi_mean after transform",
    );
    let summary = read_json(&case.path("again").join("summary.json"));
    assert_eq!(summary["directions"], "orthogonal");
    assert_eq!(summary["frame_size"], frame);

    assert_success(&run(
        &mut case.fit_transform("iid", &["--directions", "iid", "--quiet"])
    ));
    let summary = read_json(&case.path("iid").join("summary.json"));
    assert_eq!(summary["directions"], "iid");
    assert!(summary["frame_size"].is_null(), "{summary}");

    let output = run(&mut case.fit_transform("bad", &["--directions", "sobol"]));
    assert_error(&output, 2, &["directions", "sobol"]);
}

/// `--precision bf16`: the library's bf16 numbers, named in summary.json,
/// and the saved model projects in bf16 again in `transform`.
#[test]
fn precision_is_chosen_recorded_and_reproduced() {
    let case = Case::new();
    let model = case.arg("model.safetensors");
    assert_success(&run(&mut case.fit_transform(
        "bf16",
        &["--precision", "bf16", "--model", &model, "--quiet"],
    )));
    let summary = read_json(&case.path("bf16").join("summary.json"));
    assert_eq!(summary["precision"], "bf16");
    let x = Features::new(&case.x, N, D).unwrap();
    let bf16 = Psmi::builder()
        .n_estimators(NEstimators::Fixed(M))
        .precision(psmi_std::Precision::Bf16)
        .seed(SEED)
        .build()
        .unwrap();
    let want = bf16.fit_transform(&x, &case.labels).unwrap().1;
    let mean = read_f64(&case.path("bf16/psmi_mean.npy"));
    assert_eq!(mean, want.mean(), "psmi_mean");

    let mut transform = case.transform(&model, "again", &["--quiet"]);
    assert_success(&run(&mut transform));
    assert_eq!(
        read_f64(&case.path("again/psmi_mean.npy")),
        mean,
        "psmi_mean after transform"
    );
    let summary = read_json(&case.path("again").join("summary.json"));
    assert_eq!(summary["precision"], "bf16");

    assert_success(&run(&mut case.fit_transform("f32", &["--quiet"])));
    let summary = read_json(&case.path("f32").join("summary.json"));
    assert_eq!(summary["precision"], "f32");

    let output = run(&mut case.fit_transform("bad", &["--precision", "fp8"]));
    assert_error(&output, 2, &["precision", "fp8"]);
}

/// As in the README: the model saved inside an output directory that does
/// not exist yet, which appears only once the results are complete.
#[test]
fn model_inside_a_new_output_directory() {
    let case = Case::new();
    let model = case.arg("results/model.safetensors");
    assert_success(&run(
        &mut case.fit_transform("results", &["--model", &model, "--quiet"])
    ));
    for name in [
        "model.safetensors",
        "psmi_mean.npy",
        "psmi_std.npy",
        "summary.json",
    ] {
        assert!(case.path("results").join(name).is_file(), "{name}");
    }
}

#[test]
fn fit_then_transform_matches_fit_transform() {
    let case = Case::new();
    let model = case.arg("model.safetensors");
    let mut fit = psmi();
    fit.args(["fit", "--features", &case.features()])
        .args(["--labels", &case.labels_file(), "--model", &model])
        .args([
            "--n-estimators",
            &M.to_string(),
            "--seed",
            &SEED.to_string(),
        ]);
    let output = run(&mut fit);
    assert_success(&output);
    assert!(text(&output.stdout).contains("model.safetensors"));
    let mut transform = case.transform(&model, "out", &[]);
    assert_success(&run(&mut transform));
    let want = case.library_scores();
    let mean = read_f64(&case.path("out/psmi_mean.npy"));
    let std = read_f64(&case.path("out/psmi_std.npy"));
    assert_close(&mean, want.mean(), 1e-12, "psmi_mean");
    assert_close(&std, want.std(), 1e-12, "psmi_std");
}

#[test]
fn top_prints_the_k_lowest_samples() {
    let case = Case::new();
    let output = run(&mut case.fit_transform("out", &["--top", "4", "--quiet"]));
    assert_success(&output);
    let stdout = text(&output.stdout);
    // Table rows: rank, index, label, mean ± stderr.
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() >= 3 && w[..3].iter().all(|t| t.parse::<i64>().is_ok()))
        .collect();
    assert_eq!(rows.len(), 4, "{stdout}");
    let mean = read_f64(&case.path("out/psmi_mean.npy"));
    let mut order: Vec<usize> = (0..N).collect();
    order.sort_by(|&a, &b| mean[a].total_cmp(&mean[b]));
    for (rank, row) in rows.iter().enumerate() {
        assert_eq!(row[0], (rank + 1).to_string(), "{stdout}");
        let index: usize = row[1].parse().unwrap();
        assert_eq!(index, order[rank], "{stdout}");
        assert_eq!(row[2], case.labels[index].to_string(), "{stdout}");
    }
}

#[test]
fn csv_has_a_header_and_one_line_per_sample() {
    let case = Case::new();
    let csv = case.arg("scores.csv");
    assert_success(&run(
        &mut case.fit_transform("out", &["--csv", &csv, "--quiet"])
    ));
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), N + 1);
    assert_eq!(lines[0], "index,label,mean,std,stderr");
    let mean = read_f64(&case.path("out/psmi_mean.npy"));
    let std = read_f64(&case.path("out/psmi_std.npy"));
    // The library's standard errors, right for the default frames.
    let library = case.library_scores().stderr();
    for (i, line) in lines[1..].iter().enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 5, "{line}");
        assert_eq!(fields[0], i.to_string());
        assert_eq!(fields[1], case.labels[i].to_string());
        assert_eq!(fields[2].parse::<f64>().unwrap(), mean[i], "{line}");
        assert_eq!(fields[3].parse::<f64>().unwrap(), std[i], "{line}");
        let stderr: f64 = fields[4].parse().unwrap();
        assert_eq!(stderr, library[i], "{line}");
        assert!(stderr > 0.0 && stderr <= std[i], "{line}");
    }
    // The CSV lives where it was asked for, not in DIR.
    assert!(!case.path("out/scores.csv").exists());
}

#[test]
fn plot_writes_an_svg() {
    let case = Case::new();
    assert_success(&run(&mut case.fit_transform("out", &["--plot", "--quiet"])));
    let svg = std::fs::read_to_string(case.path("out/psmi.svg")).unwrap();
    assert!(svg.trim_start().starts_with("<svg"), "{svg:.200}");
    assert!(svg.trim_end().ends_with("</svg>"));
}

#[test]
fn quiet_prints_nothing() {
    let case = Case::new();
    let output = run(&mut case.fit_transform("out", &["--quiet"]));
    assert_success(&output);
    assert_eq!(text(&output.stdout), "");
    assert!(case.path("out/psmi_mean.npy").is_file());

    let mut fit = psmi();
    fit.args(["fit", "--features", &case.features()])
        .args(["--labels", &case.labels_file()])
        .args([
            "--model",
            &case.arg("m.safetensors"),
            "--n-estimators",
            "20",
        ])
        .arg("--quiet");
    let output = run(&mut fit);
    assert_success(&output);
    assert_eq!(text(&output.stdout), "");
}

#[test]
fn every_command_has_help_with_an_example() {
    for command in ["fit-transform", "fit", "transform", "demo"] {
        psmi()
            .args([command, "--help"])
            .assert()
            .code(0)
            .stdout(predicate::str::contains("Example"))
            .stderr("");
    }
    psmi().arg("--help").assert().code(0).stdout(
        predicate::str::contains("fit-transform")
            .and(predicate::str::contains("transform"))
            .and(predicate::str::contains("demo")),
    );
}

#[test]
fn demo_finds_flipped_labels() {
    let output = run(psmi().args(["demo", "--top", "3"]));
    assert_success(&output);
    let stdout = text(&output.stdout);
    assert!(stdout.contains("flipped"), "{stdout}");
    assert!(stdout.contains("precision"), "{stdout}");
}

#[test]
fn version_prints_the_crate_version() {
    psmi()
        .arg("--version")
        .assert()
        .code(0)
        .stdout(format!("psmi {}\n", env!("CARGO_PKG_VERSION")));
}

// ---------------------------------------------------------------------------
// Input formats: the same numbers in every dtype give the same bytes out.

/// `psmi_mean.npy` and `psmi_std.npy` of a quiet fixed-mode run on these inputs.
fn results_of(case: &Case, features: &str, labels: &str, out: &str) -> (Vec<u8>, Vec<u8>) {
    let mut cmd = psmi();
    cmd.args(["fit-transform", "--features", features, "--labels", labels])
        .args(["--out", &case.arg(out), "--n-estimators", &M.to_string()])
        .args(["--seed", &SEED.to_string(), "--quiet"]);
    let output = run(&mut cmd);
    assert_success(&output);
    let read = |name: &str| std::fs::read(case.path(out).join(name)).unwrap();
    (read("psmi_mean.npy"), read("psmi_std.npy"))
}

#[test]
fn every_feature_dtype_and_format_gives_the_same_scores() {
    let case = Case::new();
    let x = &case.x;
    let shape = vec![N, D];
    let inputs: Vec<(&str, &str, Vec<u8>)> = vec![
        ("f64.npy", "<f8", encode(x, |v| f64::from(v).to_le_bytes())),
        (
            "f64_be.npy",
            ">f8",
            encode(x, |v| f64::from(v).to_be_bytes()),
        ),
        ("f32_be.npy", ">f4", encode(x, f32::to_be_bytes)),
        ("f16.npy", "<f2", encode(x, |v| f16_bits(v).to_le_bytes())),
        (
            "f16_be.npy",
            ">f2",
            encode(x, |v| f16_bits(v).to_be_bytes()),
        ),
    ];
    for (name, descr, bytes) in &inputs {
        write_npy(&case.path(name), descr, &shape, bytes);
    }
    let tensors = case.path("features.safetensors");
    write_safetensors(
        &tensors,
        &[
            ("x_f32", "F32", shape.clone(), encode(x, f32::to_le_bytes)),
            (
                "x_f64",
                "F64",
                shape.clone(),
                encode(x, |v| f64::from(v).to_le_bytes()),
            ),
            (
                "x_f16",
                "F16",
                shape.clone(),
                encode(x, |v| f16_bits(v).to_le_bytes()),
            ),
            (
                "x_bf16",
                "BF16",
                shape.clone(),
                encode(x, |v| bf16_bits(v).to_le_bytes()),
            ),
        ],
    );

    let labels = case.labels_file();
    let reference = results_of(&case, &case.features(), &labels, "ref");
    let mean = read_f64(&case.path("ref/psmi_mean.npy"));
    assert_close(&mean, case.library_scores().mean(), 1e-12, "f32 psmi_mean");

    let mut specs: Vec<String> = inputs.iter().map(|(name, _, _)| case.arg(name)).collect();
    for tensor in ["x_f32", "x_f64", "x_f16", "x_bf16"] {
        specs.push(format!("{}:{tensor}", path_str(&tensors)));
    }
    for (i, spec) in specs.iter().enumerate() {
        let got = results_of(&case, spec, &labels, &format!("out{i}"));
        assert!(got.0 == reference.0, "{spec}: psmi_mean.npy differs");
        assert!(got.1 == reference.1, "{spec}: psmi_std.npy differs");
    }
}

#[test]
fn every_label_dtype_and_format_gives_the_same_scores() {
    let case = Case::new();
    let labels = &case.labels;
    let mut specs = Vec::new();
    for descr in ["<i1", "<u2", "<i4", ">i4", "<u8", ">i8"] {
        let order = if descr.starts_with('>') { "be" } else { "le" };
        let name = format!("labels_{}_{order}.npy", &descr[1..]);
        write_labels(&case.path(&name), descr, labels);
        specs.push(case.arg(&name));
    }
    let tensors = case.path("labels.safetensors");
    write_safetensors(
        &tensors,
        &[
            ("y_i8", "I8", vec![N], label_bytes("<i1", labels)),
            ("y_u8", "U8", vec![N], label_bytes("<u1", labels)),
            ("y_i16", "I16", vec![N], label_bytes("<i2", labels)),
            ("y_i32", "I32", vec![N], label_bytes("<i4", labels)),
            ("y_i64", "I64", vec![N], label_bytes("<i8", labels)),
            ("y_u64", "U64", vec![N], label_bytes("<u8", labels)),
        ],
    );
    for tensor in ["y_i8", "y_u8", "y_i16", "y_i32", "y_i64", "y_u64"] {
        specs.push(format!("{}:{tensor}", path_str(&tensors)));
    }
    let reference = results_of(&case, &case.features(), &case.labels_file(), "ref");
    for (i, spec) in specs.iter().enumerate() {
        let got = results_of(&case, &case.features(), spec, &format!("out{i}"));
        assert!(got.0 == reference.0, "{spec}: psmi_mean.npy differs");
        assert!(got.1 == reference.1, "{spec}: psmi_std.npy differs");
    }
}

// ---------------------------------------------------------------------------
// Bad inputs: status 2 and one line that names what is at fault.

/// `fit-transform` on `features` and `labels` (paths or specs) into a fresh DIR.
fn fit_transform_on(case: &Case, features: &str, labels: &str) -> Output {
    let mut cmd = psmi();
    cmd.args(["fit-transform", "--features", features, "--labels", labels])
        .args(["--out", &case.arg("out"), "--n-estimators", "20"]);
    let output = run(&mut cmd);
    assert!(!case.path("out").exists(), "a failed run created DIR");
    output
}

fn bad_features(case: &Case, name: &str, bytes: &[u8]) -> Output {
    std::fs::write(case.path(name), bytes).unwrap();
    fit_transform_on(case, &case.arg(name), &case.labels_file())
}

/// A run on features and labels that are well-formed files but bad data.
fn bad_data(x: Vec<f32>, labels: Vec<i64>) -> (Case, Output) {
    let case = Case::with(x, labels);
    let output = fit_transform_on(&case, &case.features(), &case.labels_file());
    (case, output)
}

fn bad_labels(case: &Case, name: &str, bytes: &[u8]) -> Output {
    std::fs::write(case.path(name), bytes).unwrap();
    fit_transform_on(case, &case.features(), &case.arg(name))
}

#[test]
fn missing_features_file() {
    let case = Case::new();
    let missing = case.arg("no_such_features.npy");
    let output = fit_transform_on(&case, &missing, &case.labels_file());
    assert_error(&output, 2, &[&missing, "cannot open"]);
}

#[test]
fn missing_labels_file() {
    let case = Case::new();
    let missing = case.arg("no_such_labels.npy");
    let output = fit_transform_on(&case, &case.features(), &missing);
    assert_error(&output, 2, &[&missing, "cannot open"]);
}

#[test]
fn random_bytes_are_not_npy() {
    let case = Case::new();
    let mut rng = common::TestRng::new(5);
    let bytes: Vec<u8> = (0..1000).map(|_| rng.next_u64() as u8).collect();
    let output = bad_features(&case, "random.npy", &bytes);
    assert_error(&output, 2, &[&case.arg("random.npy"), "not a valid .npy"]);
}

#[test]
fn truncated_npy() {
    let case = Case::new();
    let whole = std::fs::read(case.path("features.npy")).unwrap();
    let output = bad_features(&case, "truncated.npy", &whole[..whole.len() - 7]);
    assert_error(&output, 2, &[&case.arg("truncated.npy"), "truncated"]);
}

#[test]
fn header_announcing_more_data_than_the_file_holds_fails_fast() {
    let case = Case::new();
    let bytes = npy_bytes("<f4", false, &[100_000_000, 1000], &[0; 64]);
    let started = Instant::now();
    let output = bad_features(&case, "huge.npy", &bytes);
    let elapsed = started.elapsed();
    assert_error(
        &output,
        2,
        &[&case.arg("huge.npy"), "truncated", "100000000"],
    );
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[test]
fn fortran_order_features() {
    let case = Case::new();
    let bytes = npy_bytes("<f4", true, &[N, D], &encode(&case.x, f32::to_le_bytes));
    let output = bad_features(&case, "fortran.npy", &bytes);
    assert_error(&output, 2, &[&case.arg("fortran.npy"), "Fortran"]);
}

#[test]
fn one_dimensional_features() {
    let case = Case::new();
    let bytes = npy_bytes("<f4", false, &[N], &encode(&case.x[..N], f32::to_le_bytes));
    let output = bad_features(&case, "flat.npy", &bytes);
    assert_error(&output, 2, &[&case.arg("flat.npy"), "2-D", "[60]"]);
}

#[test]
fn empty_features() {
    let case = Case::new();
    let bytes = npy_bytes("<f4", false, &[0, 3], &[]);
    let output = bad_features(&case, "empty.npy", &bytes);
    assert_error(&output, 2, &[&case.arg("empty.npy"), "empty", "(0, 3)"]);
}

#[test]
fn two_dimensional_labels() {
    let case = Case::new();
    let bytes = npy_bytes("<i8", false, &[N, 1], &label_bytes("<i8", &case.labels));
    let output = bad_labels(&case, "labels_2d.npy", &bytes);
    assert_error(&output, 2, &[&case.arg("labels_2d.npy"), "1-D", "[60, 1]"]);
}

#[test]
fn float_labels() {
    let case = Case::new();
    let values: Vec<f64> = case.labels.iter().map(|&l| l as f64).collect();
    let bytes = npy_bytes("<f8", false, &[N], &encode(&values, f64::to_le_bytes));
    let output = bad_labels(&case, "labels_f8.npy", &bytes);
    assert_error(&output, 2, &[&case.arg("labels_f8.npy"), "'<f8'"]);
}

#[test]
fn label_count_differs_from_rows() {
    let case = Case::new();
    let bytes = npy_bytes(
        "<i8",
        false,
        &[N - 1],
        &label_bytes("<i8", &case.labels[1..]),
    );
    let output = bad_labels(&case, "short.npy", &bytes);
    assert_error(&output, 2, &[&case.arg("short.npy"), "59", "60"]);
}

#[test]
fn label_with_a_single_sample() {
    let (x, mut labels) = dataset();
    labels[17] = 42;
    let (case, output) = bad_data(x, labels);
    assert_error(&output, 2, &[&case.labels_file(), "label 42", "1 sample"]);
}

#[test]
fn nan_feature_names_row_and_column() {
    let (mut x, labels) = dataset();
    x[7 * D + 2] = f32::NAN;
    let (case, output) = bad_data(x, labels);
    assert_error(&output, 2, &[&case.features(), "row 7", "column 2"]);
}

#[test]
fn infinite_feature_names_row_and_column() {
    let (mut x, labels) = dataset();
    x[3 * D + 4] = f32::NEG_INFINITY;
    let (case, output) = bad_data(x, labels);
    assert_error(&output, 2, &[&case.features(), "row 3", "column 4"]);
}

#[test]
fn f64_feature_beyond_f32_range_names_row_and_column() {
    let case = Case::new();
    let mut values: Vec<f64> = case.x.iter().map(|&v| f64::from(v)).collect();
    values[4 * D + 1] = 1e300;
    let path = case.path("large.npy");
    write_npy(&path, "<f8", &[N, D], &encode(&values, f64::to_le_bytes));
    let output = fit_transform_on(&case, &path_str(&path), &case.labels_file());
    assert_error(&output, 2, &[&path_str(&path), "row 4", "column 1"]);
}

#[test]
fn class_with_zero_variance_names_its_label() {
    let (mut x, labels) = dataset();
    // Every sample of label 30 at the same point.
    let first = labels.iter().position(|&l| l == 30).unwrap();
    let point = x[first * D..(first + 1) * D].to_vec();
    for i in 0..N {
        if labels[i] == 30 {
            x[i * D..(i + 1) * D].copy_from_slice(&point);
        }
    }
    let (case, output) = bad_data(x, labels);
    assert_error(&output, 2, &[&case.features(), "label 30", "zero variance"]);
}

#[test]
fn safetensors_tensor_that_does_not_exist_lists_those_that_do() {
    let case = Case::new();
    let path = case.path("x.safetensors");
    write_safetensors(
        &path,
        &[
            (
                "hidden",
                "F32",
                vec![N, D],
                encode(&case.x, f32::to_le_bytes),
            ),
            (
                "logits",
                "F32",
                vec![N, 1],
                encode(&case.x[..N], f32::to_le_bytes),
            ),
        ],
    );
    let spec = format!("{}:h12", path_str(&path));
    let output = fit_transform_on(&case, &spec, &case.labels_file());
    assert_error(&output, 2, &[&spec, "hidden, logits"]);
}

#[test]
fn safetensors_input_without_a_tensor_name_lists_the_tensors() {
    let case = Case::new();
    let path = case.path("x.safetensors");
    write_safetensors(
        &path,
        &[(
            "hidden",
            "F32",
            vec![N, D],
            encode(&case.x, f32::to_le_bytes),
        )],
    );
    let output = fit_transform_on(&case, &path_str(&path), &case.labels_file());
    assert_error(&output, 2, &[&path_str(&path), "hidden"]);
}

#[test]
fn unsigned_label_above_the_largest_i64() {
    let case = Case::new();
    let mut bytes = label_bytes("<u8", &case.labels);
    bytes[8 * 9..8 * 10].copy_from_slice(&(1u64 << 63).to_le_bytes());
    let bytes = npy_bytes("<u8", false, &[N], &bytes);
    let output = bad_labels(&case, "labels_u8.npy", &bytes);
    assert_error(
        &output,
        2,
        &[&case.arg("labels_u8.npy"), "row 9", "9223372036854775808"],
    );
}

#[test]
fn model_file_that_is_not_a_model() {
    let case = Case::new();
    let model = case.arg("model.safetensors");
    // A valid safetensors file, without the model's tensors.
    write_safetensors(
        &case.path("model.safetensors"),
        &[(
            "hidden",
            "F32",
            vec![N, D],
            encode(&case.x, f32::to_le_bytes),
        )],
    );
    let output = transform_on(&case, &model, &case.features(), &case.labels_file());
    assert_error(&output, 2, &[&model]);
    std::fs::write(case.path("model.safetensors"), b"not a model").unwrap();
    let output = transform_on(&case, &model, &case.features(), &case.labels_file());
    assert_error(&output, 2, &[&model]);
}

/// Fits a model on the standard case and returns its path.
fn fitted_model(case: &Case) -> String {
    let model = case.arg("model.safetensors");
    let mut fit = psmi();
    fit.args(["fit", "--features", &case.features()])
        .args(["--labels", &case.labels_file(), "--model", &model])
        .args(["--n-estimators", "20", "--quiet"]);
    assert_success(&run(&mut fit));
    model
}

fn transform_on(case: &Case, model: &str, features: &str, labels: &str) -> Output {
    let mut cmd = psmi();
    cmd.args(["transform", "--model", model, "--features", features])
        .args(["--labels", labels, "--out", &case.arg("out")]);
    let output = run(&mut cmd);
    assert!(!case.path("out").exists(), "a failed run created DIR");
    output
}

#[test]
fn transform_with_a_label_unseen_at_fit() {
    let case = Case::new();
    let model = fitted_model(&case);
    let mut labels = case.labels.clone();
    labels[5] = 40;
    write_labels(&case.path("new_labels.npy"), "<i8", &labels);
    let output = transform_on(&case, &model, &case.features(), &case.arg("new_labels.npy"));
    assert_error(
        &output,
        2,
        &[&case.arg("new_labels.npy"), "label 40", "row 5"],
    );
}

#[test]
fn transform_with_another_dimension() {
    let case = Case::new();
    let model = fitted_model(&case);
    let narrow: Vec<f32> = case
        .x
        .chunks_exact(D)
        .flat_map(|r| r[..D - 1].to_vec())
        .collect();
    write_npy_f32_2d(case.path("narrow.npy"), N, D - 1, &narrow).unwrap();
    let output = transform_on(&case, &model, &case.arg("narrow.npy"), &case.labels_file());
    assert_error(
        &output,
        2,
        &[&case.arg("narrow.npy"), &model, "4 columns", "5"],
    );
}

/// `fit-transform` with one bad option; nothing is read or written.
fn with_option(option: &str, value: &str) -> Output {
    let case = Case::new();
    let mut cmd = psmi();
    cmd.args(["fit-transform", "--features", &case.features()])
        .args(["--labels", &case.labels_file(), "--out", &case.arg("out")])
        .args([option, value]);
    let output = run(&mut cmd);
    assert!(!case.path("out").exists(), "a failed run created DIR");
    output
}

#[test]
fn milestone_out_of_range() {
    assert_error(
        &with_option("--milestone", "1.5"),
        2,
        &["--milestone", "1.5"],
    );
}

#[test]
fn n_estimators_not_a_number() {
    assert_error(
        &with_option("--n-estimators", "abc"),
        2,
        &["--n-estimators", "abc"],
    );
}

#[test]
fn zero_threads() {
    assert_error(&with_option("--threads", "0"), 2, &["--threads", "0"]);
}

#[test]
fn negative_lowest_psmi_quantile() {
    assert_error(
        &with_option("--lowest-psmi-quantile", "-1"),
        2,
        &["--lowest-psmi-quantile", "-1"],
    );
}

#[test]
fn negative_lowest_psmi_quantile_after_equals() {
    let case = Case::new();
    let mut cmd = psmi();
    cmd.args(["fit-transform", "--features", &case.features()])
        .args(["--labels", &case.labels_file(), "--out", &case.arg("out")])
        .arg("--lowest-psmi-quantile=-1");
    assert_error(&run(&mut cmd), 2, &["--lowest-psmi-quantile", "-1"]);
    assert!(!case.path("out").exists());
}

#[test]
fn missing_required_option() {
    let case = Case::new();
    let mut cmd = psmi();
    cmd.args(["fit-transform", "--features", &case.features()])
        .args(["--labels", &case.labels_file()]);
    assert_error(&run(&mut cmd), 2, &["--out"]);
}

#[test]
fn unknown_command() {
    assert_error(&run(psmi().arg("fit-predict")), 2, &["fit-predict"]);
}

#[test]
fn min_n_estimators_not_a_number() {
    assert_error(
        &with_option("--min-n-estimators", "many"),
        2,
        &["--min-n-estimators", "many"],
    );
}

#[test]
fn output_directory_under_a_regular_file() {
    let case = Case::new();
    std::fs::write(case.path("file"), "not a directory").unwrap();
    let out = case.path("file").join("out");
    let mut cmd = psmi();
    cmd.args(["fit-transform", "--features", &case.features()])
        .args(["--labels", &case.labels_file(), "--out", &path_str(&out)])
        .args(["--n-estimators", "20"]);
    let output = run(&mut cmd);
    // A failed write is status 1, wherever it happens (bad input is 2).
    assert_error(&output, 1, &[&path_str(&out), "cannot write"]);
    assert_eq!(
        std::fs::read_to_string(case.path("file")).unwrap(),
        "not a directory"
    );
}

/// Every output the program writes, put where it cannot be written (under a
/// regular file): status 1 and the path named, for a single matrix and for
/// layers, and the results in DIR untouched.
#[test]
fn every_failed_write_is_status_1() {
    let case = Case::new();
    std::fs::write(case.path("file"), "not a directory").unwrap();
    let blocked = path_str(&case.path("file").join("x"));
    let layers = case.path("layers.safetensors");
    let bytes = encode(&case.x, f32::to_le_bytes);
    write_safetensors(
        &layers,
        &[
            ("h.0", "F32", vec![N, D], bytes.clone()),
            ("h.1", "F32", vec![N, D], bytes),
        ],
    );
    let inputs = [case.features(), format!("{}:h.*", path_str(&layers))];
    for features in &inputs {
        assert_success(&run(psmi()
            .args(["fit-transform", "--features", features])
            .args(["--labels", &case.labels_file(), "--out", &case.arg("out")])
            .args(["--n-estimators", "20", "--quiet"])));
        let before = listing(&case.path("out"));
        for extra in [
            vec!["--out", blocked.as_str()],
            vec!["--out", &case.arg("out"), "--csv", &blocked],
            vec!["--out", &case.arg("out"), "--model", &blocked],
        ] {
            let mut cmd = psmi();
            cmd.args(["fit-transform", "--features", features])
                .args(["--labels", &case.labels_file()])
                .args(["--n-estimators", "20", "--quiet"])
                .args(&extra);
            assert_error(&run(&mut cmd), 1, &[&case.arg("file")]);
            assert_eq!(listing(&case.path("out")), before, "{features} {extra:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// Whole or nothing.

#[test]
fn failed_run_leaves_earlier_results_untouched() {
    let case = Case::new();
    assert_success(&run(&mut case.fit_transform("out", &["--full", "--quiet"])));
    let out = case.path("out");
    let names = listing(&out);
    let before: Vec<Vec<u8>> = names
        .iter()
        .map(|n| std::fs::read(out.join(n)).unwrap())
        .collect();

    let mut x = case.x.clone();
    x[11 * D] = f32::NAN;
    write_npy_f32_2d(case.path("nan.npy"), N, D, &x).unwrap();
    let mut cmd = psmi();
    cmd.args(["fit-transform", "--features", &case.arg("nan.npy")])
        .args(["--labels", &case.labels_file(), "--out", &path_str(&out)])
        .args(["--n-estimators", &M.to_string(), "--quiet"]);
    assert_error(
        &run(&mut cmd),
        2,
        &[&case.arg("nan.npy"), "row 11", "column 0"],
    );

    // Same files, same bytes, and no staging directory left behind.
    assert_eq!(listing(&out), names);
    for (name, bytes) in names.iter().zip(&before) {
        assert!(
            std::fs::read(out.join(name)).unwrap() == *bytes,
            "{name} changed"
        );
    }
}

#[test]
fn rerun_without_full_removes_stale_full_matrix() {
    let case = Case::new();
    assert_success(&run(
        &mut case.fit_transform("out", &["--full", "--plot", "--quiet"])
    ));
    let out = case.path("out");
    assert!(out.join("psmi_full.npy").is_file() && out.join("psmi.svg").is_file());
    assert_success(&run(&mut case.fit_transform("out", &["--quiet"])));
    assert_eq!(
        listing(&out),
        ["psmi_mean.npy", "psmi_std.npy", "summary.json"]
    );
}
