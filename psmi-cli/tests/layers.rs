//! The `psmi` program on layers (a tensor pattern, a 3-D tensor) and with
//! `--quantiles`, run as a user runs it, against separate single runs and
//! against the full matrix. Every input is generated here.

mod common;

use assert_cmd::Command;
use common::files::{
    f32_bytes, read_json, read_npy_f64, write_labels, write_npy, write_safetensors,
};
use common::program::{assert_error, assert_success, psmi};
use common::{fresh_seed, listing, mixture, TestRng};
use psmi_std::io::write_npy_f32_2d;
use serde_json::Value;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// Odd sizes: samples, directions.
const N: usize = 83;
const M: &str = "37";
const LEVELS: [f64; 3] = [0.01, 0.5, 0.99];

/// A temporary directory with labels.npy and whatever features a test writes.
struct Case {
    dir: TempDir,
    seed: u64,
    labels: Vec<i64>,
}

impl Case {
    fn new() -> Case {
        let seed = fresh_seed();
        let (_, labels) = mixture(seed, N, 1, 3, 1.0);
        let dir = tempfile::tempdir().unwrap();
        write_labels(&dir.path().join("labels.npy"), "<i8", &labels);
        Case { dir, seed, labels }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_owned()
    }

    /// Features of layer `l` with `d` columns: the classes further apart in
    /// later layers, fresh noise each run.
    fn layer(&self, l: usize, d: usize) -> Vec<f32> {
        let (x, _) = mixture(self.seed ^ (l as u64 + 1), N, d, 3, 0.5 + l as f64);
        x
    }

    /// `COMMAND --features F --labels labels.npy --out OUT` and the options
    /// every run here shares.
    fn command(&self, command: &str, features: &str, out: &str, extra: &[&str]) -> Command {
        let mut cmd = psmi();
        cmd.args([command, "--features", features])
            .args(["--labels", &self.arg("labels.npy"), "--out", &self.arg(out)])
            .args(extra)
            .arg("--quiet");
        cmd
    }

    fn fit_transform(&self, features: &str, out: &str, extra: &[&str]) -> Command {
        let seed = self.seed.to_string();
        let mut all = vec!["--n-estimators", M, "--seed", &seed];
        all.extend_from_slice(extra);
        self.command("fit-transform", features, out, &all)
    }
}

/// A safetensors file of F32 tensors `(name, shape, values)`.
fn write_f32_safetensors(path: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) {
    let tensors: Vec<_> = tensors
        .iter()
        .map(|(name, shape, values)| (*name, "F32", shape.clone(), f32_bytes(values)))
        .collect();
    write_safetensors(path, &tensors);
}

/// Every file under `dir`, with its bytes, in sorted order.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for name in listing(dir) {
        let path = dir.join(&name);
        if path.is_dir() {
            for (inner, bytes) in tree(&path) {
                files.push((format!("{name}/{inner}"), bytes));
            }
        } else {
            files.push((name, std::fs::read(&path).unwrap()));
        }
    }
    files
}

/// The fields of a single run's summary.json that do not depend on time.
fn results_of(summary: &Value) -> Vec<Value> {
    [
        "n_samples",
        "dim",
        "n_classes",
        "n_estimators",
        "seed",
        "smi",
        "converged",
        "labels",
        "quantiles",
    ]
    .iter()
    .map(|key| summary[*key].clone())
    .collect()
}

/// Runs `layer` alone (written as an .npy file) with `extra`, and checks that
/// `layer_dir` holds the same files with the same results.
fn assert_same_as_single_run(
    case: &Case,
    layer: &[f32],
    d: usize,
    layer_dir: &Path,
    extra: &[&str],
) {
    let name = layer_dir.file_name().unwrap().to_str().unwrap();
    let single = format!("single-{name}");
    write_npy_f32_2d(case.path(&format!("{single}.npy")), N, d, layer).unwrap();
    let features = case.arg(&format!("{single}.npy"));
    assert_success(
        &case
            .fit_transform(&features, &single, extra)
            .output()
            .unwrap(),
    );
    let single_dir = case.path(&single);
    assert_eq!(listing(layer_dir), listing(&single_dir), "{name}");
    for file in listing(layer_dir) {
        let (a, b) = (layer_dir.join(&file), single_dir.join(&file));
        if file == "summary.json" {
            assert_eq!(
                results_of(&read_json(&a)),
                results_of(&read_json(&b)),
                "{name}"
            );
        } else if file.ends_with(".npy") {
            assert!(
                std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
                "{name}/{file}"
            );
        }
    }
}

/// The samples' share of the SMI's standard error: std (ddof 1) of the
/// per-sample means / √n, a lower bound of the whole.
fn samples_share(means: &[f64]) -> f64 {
    let n = means.len() as f64;
    let smi = means.iter().sum::<f64>() / n;
    let var = means.iter().map(|m| (m - smi).powi(2)).sum::<f64>() / (n - 1.0);
    (var / n).sqrt()
}

#[test]
fn a_pattern_over_tensors_gives_what_separate_runs_give() {
    let case = Case::new();
    // Different dimensions per layer, names out of natural order in the file,
    // and a tensor the pattern leaves out.
    let dims = [("layers.10", 7), ("layers.2", 4), ("layers.1", 9)];
    let layers: Vec<Vec<f32>> = dims
        .iter()
        .enumerate()
        .map(|(l, &(_, d))| case.layer(l, d))
        .collect();
    let mut tensors: Vec<(&str, Vec<usize>, Vec<f32>)> = dims
        .iter()
        .zip(&layers)
        .map(|(&(name, d), x)| (name, vec![N, d], x.clone()))
        .collect();
    tensors.push(("head", vec![2, 2], vec![0.0; 4]));
    write_f32_safetensors(&case.path("states.safetensors"), &tensors);
    let features = format!("{}:layers.*", case.arg("states.safetensors"));
    let levels = "0.01,0.5,0.99";
    let extra = ["--quantiles", levels, "--plot"];
    let mut cmd = case.fit_transform(&features, "results", &extra);
    cmd.args([
        "--model",
        &case.arg("models"),
        "--csv",
        &case.arg("all.csv"),
    ]);
    assert_success(&cmd.output().unwrap());

    let out = case.path("results");
    let order = ["layers.1", "layers.2", "layers.10"];
    let mut want = order.to_vec();
    want.extend(["layers.csv", "smi_by_layer.svg", "summary.json"]);
    want.sort();
    assert_eq!(listing(&out), want);
    let csv = std::fs::read_to_string(out.join("layers.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "layer,dim,n_estimators,converged,smi,smi_stderr");
    assert_eq!(rows.len(), 4);
    let summary = read_json(&out.join("summary.json"));
    for (i, name) in order.iter().enumerate() {
        let (l, d) = dims
            .iter()
            .enumerate()
            .find(|(_, (n, _))| n == name)
            .map(|(l, &(_, d))| (l, d))
            .unwrap();
        assert_same_as_single_run(&case, &layers[l], d, &out.join(name), &extra);
        // layers.csv and summary.json against the layer's own files.
        let single = read_json(&out.join(name).join("summary.json"));
        let (_, means) = read_npy_f64(&out.join(name).join("psmi_mean.npy"));
        let fields: Vec<&str> = rows[i + 1].split(',').collect();
        assert_eq!(fields[..4], [*name, &d.to_string(), M, ""], "{csv}");
        // serde_json reads floats to within an ulp, not exactly.
        let (smi, want) = (
            fields[4].parse::<f64>().unwrap(),
            single["smi"].as_f64().unwrap(),
        );
        assert!((smi - want).abs() <= 1e-15 * want.abs(), "{smi} vs {want}");
        let stderr: f64 = fields[5].parse().unwrap();
        let want = single["smi_stderr"].as_f64().unwrap();
        assert!((stderr - want).abs() <= 1e-15 * want, "{stderr} vs {want}");
        assert!(stderr >= samples_share(&means) * (1.0 - 1e-12), "{stderr}");
        assert_eq!(summary["layers"][i]["layer"], *name);
        assert_eq!(summary["layers"][i]["dim"], d);
        // One model per layer, which transforms that layer as a single run does.
        let model = case.path(&format!("models/{name}.safetensors"));
        assert!(model.is_file(), "{}", model.display());
    }
    assert_eq!(summary["n_layers"], 3);
    assert_eq!(summary["quantiles"], serde_json::json!(LEVELS));
    // The CSV: every layer's samples with their quantiles.
    let all = std::fs::read_to_string(case.path("all.csv")).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(
        lines[0],
        "layer,index,label,mean,std,stderr,q0.01,q0.5,q0.99"
    );
    assert_eq!(lines.len(), 1 + 3 * N);
    let (_, q) = read_npy_f64(&out.join("layers.2/psmi_quantiles.npy"));
    let row = lines[1 + N + 5];
    assert!(
        row.starts_with(&format!("layers.2,5,{},", case.labels[5])),
        "{row}"
    );
    let tail: Vec<f64> = row.split(',').skip(6).map(|v| v.parse().unwrap()).collect();
    assert_eq!(tail, q[5 * 3..6 * 3]);

    // transform with the directory of models gives what single transforms give.
    let mut cmd = case.command("transform", &features, "again", &["--quantiles", levels]);
    cmd.args(["--model", &case.arg("models")]);
    assert_success(&cmd.output().unwrap());
    for name in order {
        let layer = format!("{}:{name}", case.arg("states.safetensors"));
        let out_name = format!("again-{name}");
        let mut cmd = case.command("transform", &layer, &out_name, &["--quantiles", levels]);
        cmd.args(["--model", &case.arg(&format!("models/{name}.safetensors"))]);
        assert_success(&cmd.output().unwrap());
        for file in ["psmi_mean.npy", "psmi_std.npy", "psmi_quantiles.npy"] {
            let a = std::fs::read(case.path("again").join(name).join(file)).unwrap();
            let b = std::fs::read(case.path(&out_name).join(file)).unwrap();
            assert!(a == b, "{name}/{file}");
        }
    }
    // With --full, the quantiles come from the full matrix: the same bytes,
    // and the quantiles of its rows.
    let mut cmd = case.command("transform", &features, "full", &["--quantiles", levels]);
    cmd.args(["--model", &case.arg("models"), "--full"]);
    assert_success(&cmd.output().unwrap());
    for name in order {
        for file in ["psmi_mean.npy", "psmi_std.npy", "psmi_quantiles.npy"] {
            let a = std::fs::read(case.path("again").join(name).join(file)).unwrap();
            let b = std::fs::read(case.path("full").join(name).join(file)).unwrap();
            assert!(a == b, "{name}/{file} with --full");
        }
        let levels: Vec<f64> = levels.split(',').map(|v| v.parse().unwrap()).collect();
        assert_quantiles_match_the_full_matrix(&case.path("full").join(name), &levels);
    }
}

#[test]
fn a_three_dimensional_tensor_gives_what_separate_runs_give() {
    let case = Case::new();
    let (layers, d) = (4, 6);
    let stack: Vec<f32> = (0..layers).flat_map(|l| case.layer(l, d)).collect();
    write_npy(
        &case.path("stack.npy"),
        "<f4",
        &[layers, N, d],
        &f32_bytes(&stack),
    );
    write_f32_safetensors(
        &case.path("stack.safetensors"),
        &[("hidden", vec![layers, N, d], stack.clone())],
    );
    let extra = ["--quantiles", "0.3,0.7", "--full"];
    for (features, out) in [
        (case.arg("stack.npy"), "from-npy"),
        (
            format!("{}:hidden", case.arg("stack.safetensors")),
            "from-safetensors",
        ),
    ] {
        assert_success(&case.fit_transform(&features, out, &extra).output().unwrap());
        let out = case.path(out);
        let names: Vec<String> = (0..layers).map(|l| l.to_string()).collect();
        let mut want = names.clone();
        want.extend(["layers.csv".to_owned(), "summary.json".to_owned()]);
        assert_eq!(listing(&out), want);
        for (l, name) in names.iter().enumerate() {
            let layer = &stack[l * N * d..(l + 1) * N * d];
            assert_same_as_single_run(&case, layer, d, &out.join(name), &extra);
        }
    }
    // The same bytes either way.
    assert!(tree(&case.path("from-npy"))
        .iter()
        .zip(tree(&case.path("from-safetensors")))
        .all(|((a, x), (b, y))| a == &b && (a.ends_with(".json") || *x == y)));
}

/// `np.quantile(full, q, axis=1)` from its definition, on the sorted rows of psmi_full.npy.
fn assert_quantiles_match_the_full_matrix(dir: &Path, levels: &[f64]) {
    let (shape, full) = read_npy_f64(&dir.join("psmi_full.npy"));
    let (qshape, quantiles) = read_npy_f64(&dir.join("psmi_quantiles.npy"));
    let (n, m) = (shape[0], shape[1]);
    assert_eq!(qshape, [n, levels.len()]);
    for i in 0..n {
        let mut row = full[i * m..(i + 1) * m].to_vec();
        row.sort_by(f64::total_cmp);
        for (j, q) in levels.iter().enumerate() {
            let h = (m - 1) as f64 * q;
            let below = h.floor() as usize;
            let above = (below + 1).min(m - 1);
            let want = row[below] + (h - below as f64) * (row[above] - row[below]);
            let got = quantiles[i * levels.len() + j];
            assert!(
                (got - want).abs() <= 1e-6,
                "{}: sample {i}, q {q}: {got} vs {want}",
                dir.display()
            );
        }
    }
}

#[test]
fn quantiles_match_the_full_matrix_in_fixed_and_auto_mode() {
    let case = Case::new();
    let d = 5;
    write_npy_f32_2d(case.path("x.npy"), N, d, &case.layer(1, d)).unwrap();
    let levels = [0.02, 0.25, 0.5, 0.75, 0.98];
    let text = "0.02,0.25,0.5,0.75,0.98";
    let x = case.arg("x.npy");
    assert_success(
        &case
            .fit_transform(&x, "fixed", &["--full", "--quantiles", text])
            .output()
            .unwrap(),
    );
    assert_quantiles_match_the_full_matrix(&case.path("fixed"), &levels);
    let auto = ["--min-n-estimators", "21", "--max-n-estimators", "105"];
    let mut cmd = case.command("fit-transform", &x, "auto", &auto);
    cmd.args([
        "--full",
        "--quantiles",
        text,
        "--seed",
        &case.seed.to_string(),
    ]);
    assert_success(&cmd.output().unwrap());
    let summary = read_json(&case.path("auto/summary.json"));
    assert_eq!(summary["mode"], "auto");
    assert_eq!(summary["quantiles"], serde_json::json!(levels));
    assert_quantiles_match_the_full_matrix(&case.path("auto"), &levels);
}

/// Runs `cmd`, which must fail naming `needles`, and checks that the results
/// of an earlier run in `out` are untouched.
fn assert_fails_leaving_results(case: &Case, out: &str, cmd: &mut Command, needles: &[&str]) {
    let before = tree(&case.path(out));
    assert_error(&cmd.output().unwrap(), 2, needles);
    let after = tree(&case.path(out));
    assert!(before == after, "{out} changed");
}

/// A case with an earlier layered run in `results`.
fn case_with_results() -> (Case, String) {
    let case = Case::new();
    let tensors = [
        ("layers.0", vec![N, 3], case.layer(0, 3)),
        ("layers.1", vec![N, 3], case.layer(1, 3)),
    ];
    write_f32_safetensors(&case.path("states.safetensors"), &tensors);
    let features = format!("{}:layers.*", case.arg("states.safetensors"));
    assert_success(
        &case
            .fit_transform(&features, "results", &[])
            .output()
            .unwrap(),
    );
    (case, features)
}

#[test]
fn a_pattern_that_matches_nothing_names_it_and_the_tensors() {
    let (case, _) = case_with_results();
    let features = format!("{}:blocks.*", case.arg("states.safetensors"));
    let mut cmd = case.fit_transform(&features, "results", &[]);
    assert_fails_leaving_results(
        &case,
        "results",
        &mut cmd,
        &["blocks.*", "no tensor matches", "layers.0, layers.1"],
    );
}

#[test]
fn layers_of_different_sample_counts_are_named() {
    let (case, _) = case_with_results();
    let mut short = case.layer(1, 3);
    short.truncate((N - 2) * 3);
    let tensors = [
        ("layers.0", vec![N, 3], case.layer(0, 3)),
        ("layers.1", vec![N - 2, 3], short),
    ];
    write_f32_safetensors(&case.path("uneven.safetensors"), &tensors);
    let features = format!("{}:layers.*", case.arg("uneven.safetensors"));
    let mut cmd = case.fit_transform(&features, "results", &[]);
    let rows = (N - 2).to_string();
    assert_fails_leaving_results(
        &case,
        "results",
        &mut cmd,
        &["uneven.safetensors:layers.1", &rows, "layers.0"],
    );
}

#[test]
fn a_quantile_outside_the_unit_interval_is_named() {
    let (case, features) = case_with_results();
    for bad in ["1.5", "0", "-0.2"] {
        let levels = format!("0.5,{bad}");
        let mut cmd = case.fit_transform(&features, "results", &["--quantiles", &levels]);
        assert_fails_leaving_results(&case, "results", &mut cmd, &["--quantiles", bad]);
    }
}

#[test]
fn a_bad_value_in_a_later_layer_leaves_earlier_results_whole() {
    let (case, _) = case_with_results();
    let mut bad = case.layer(1, 3);
    let row = TestRng::new(case.seed).below(N);
    bad[row * 3 + 2] = f32::NAN;
    let tensors = [
        ("layers.0", vec![N, 3], case.layer(0, 3)),
        ("layers.1", vec![N, 3], bad),
    ];
    write_f32_safetensors(&case.path("nan.safetensors"), &tensors);
    let features = format!("{}:layers.*", case.arg("nan.safetensors"));
    let mut cmd = case.fit_transform(&features, "results", &["--plot"]);
    let row = format!("row {row}");
    assert_fails_leaving_results(
        &case,
        "results",
        &mut cmd,
        &["nan.safetensors:layers.1", &row, "column 2"],
    );
}

#[test]
fn a_rerun_replaces_every_layer_directory() {
    let (case, features) = case_with_results();
    let out = case.path("results");
    let first = tree(&out);
    let seed = (case.seed + 1).to_string();
    let extra = ["--n-estimators", M, "--seed", &seed, "--quantiles", "0.1"];
    let mut cmd = case.command("fit-transform", &features, "results", &extra);
    assert_success(&cmd.output().unwrap());
    let mut want = vec![
        "psmi_mean.npy",
        "psmi_quantiles.npy",
        "psmi_std.npy",
        "summary.json",
    ];
    want.sort();
    assert_eq!(listing(&out.join("layers.1")), want);
    assert_eq!(
        listing(&out),
        ["layers.0", "layers.1", "layers.csv", "summary.json"]
    );
    assert!(tree(&out) != first);
    let summary = read_json(&out.join("layers.0/summary.json"));
    assert_eq!(summary["seed"], case.seed + 1);
}

#[test]
fn fit_alone_refuses_layers_and_says_what_fits_them() {
    let (case, features) = case_with_results();
    let mut cmd = psmi();
    cmd.args(["fit", "--features", &features])
        .args(["--labels", &case.arg("labels.npy")])
        .args(["--model", &case.arg("model.safetensors")]);
    assert_error(
        &cmd.output().unwrap(),
        2,
        &["layers.*", "several layers", "fit-transform --model"],
    );
    assert!(!case.path("model.safetensors").exists());
}

#[test]
fn top_reports_the_lowest_samples_of_every_layer() {
    let (case, features) = case_with_results();
    let seed = case.seed.to_string();
    let mut cmd = psmi();
    cmd.args(["fit-transform", "--features", &features])
        .args([
            "--labels",
            &case.arg("labels.npy"),
            "--out",
            &case.arg("top"),
        ])
        .args(["--n-estimators", M, "--seed", &seed, "--top", "2"]);
    let output = cmd.output().unwrap();
    assert_success(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    for name in ["layers.0", "layers.1"] {
        // The lowest sample of each layer, from its own psmi_mean.npy.
        let (_, means) = read_npy_f64(&case.path("top").join(name).join("psmi_mean.npy"));
        let lowest = (0..N)
            .min_by(|&a, &b| means[a].total_cmp(&means[b]))
            .unwrap();
        let section = stdout
            .split(&format!("Layer {name}:"))
            .nth(1)
            .unwrap_or_else(|| panic!("{stdout}"));
        let first_row = section.lines().nth(3).unwrap();
        let fields: Vec<&str> = first_row.split_whitespace().collect();
        assert_eq!(fields[..2], ["1", &lowest.to_string()], "{stdout}");
    }
    assert!(stdout.contains("2 layers"), "{stdout}");
}
