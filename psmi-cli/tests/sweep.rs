//! `psmi fit-transform --runs`: a sweep over runs (checkpoints) × layers ×
//! shards against the single runs it stands for (same bits), scores.csv and
//! its delta_mean, the evaluation against a direct count, and every bad input.
//! Every input is generated here, fresh each time.

mod common;

use common::files::{
    f32_bytes, read_json, read_npy_f64, write_labels, write_npy, write_safetensors,
};
use common::program::{assert_error, assert_success, path_str, psmi, run};
use common::ranking::pairs_auroc;
use common::{fresh_seed, listing, mixture, TestRng};
use psmi_std::io::write_npy_f32_2d;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// Odd sizes: samples, directions, layer widths.
const N: usize = 71;
const M: &str = "29";
const LAYERS: [(&str, usize); 3] = [("h.2", 5), ("h.10", 5), ("h.1", 7)];
/// In natural order.
const RUNS: [&str; 3] = ["ckpt-2", "ckpt-9", "ckpt-10"];

struct Sweep {
    dir: TempDir,
    seed: u64,
    labels: Vec<i64>,
}

impl Sweep {
    /// Three runs, each with `states.safetensors` (three layers), the same
    /// features as `part-1.npy` / `part-2.npy` shards of its first layer, and
    /// `labels.npy` (the same labels in every run).
    fn new() -> Sweep {
        let seed = fresh_seed();
        let (_, labels) = mixture(seed, N, 1, 3, 1.0);
        let dir = tempfile::tempdir().unwrap();
        let sweep = Sweep { dir, seed, labels };
        for (r, run) in RUNS.iter().enumerate() {
            let root = sweep.path(&format!("ckpts/{run}"));
            std::fs::create_dir_all(&root).unwrap();
            let tensors: Vec<(&str, &str, Vec<usize>, Vec<u8>)> = LAYERS
                .iter()
                .enumerate()
                .map(|(l, &(name, d))| (name, "F32", vec![N, d], f32_bytes(&sweep.layer(r, l, d))))
                .collect();
            write_safetensors(&root.join("states.safetensors"), &tensors);
            let first = sweep.layer(r, 0, 5);
            write_npy_f32_2d(root.join("part-1.npy"), 30, 5, &first[..30 * 5]).unwrap();
            write_npy_f32_2d(root.join("part-2.npy"), N - 30, 5, &first[30 * 5..]).unwrap();
            write_labels(&root.join("labels.npy"), "<i8", &sweep.labels);
            // The layers again in two shards of rows, with label shards.
            for (k, (a, b)) in [(0, 30), (30, N)].into_iter().enumerate() {
                sweep.write_shard(
                    r,
                    &root.join(format!("train_{}.safetensors", k + 1)),
                    a,
                    b,
                    &LAYERS,
                );
                write_labels(
                    &root.join(format!("train_{}.labels.npy", k + 1)),
                    "<i8",
                    &sweep.labels[a..b],
                );
            }
        }
        sweep
    }

    /// Rows a..b of run `run`'s `layers` in a safetensors file.
    fn write_shard(&self, run: usize, path: &Path, a: usize, b: usize, layers: &[(&str, usize)]) {
        let tensors: Vec<(&str, &str, Vec<usize>, Vec<u8>)> = layers
            .iter()
            .map(|&(name, d)| {
                let l = LAYERS.iter().position(|x| x.0 == name).unwrap();
                let values = self.layer(run, l, d);
                (
                    name,
                    "F32",
                    vec![b - a, d],
                    f32_bytes(&values[a * d..b * d]),
                )
            })
            .collect();
        write_safetensors(path, &tensors);
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn arg(&self, name: &str) -> String {
        path_str(&self.path(name))
    }

    fn layer(&self, run: usize, layer: usize, d: usize) -> Vec<f32> {
        let seed = self.seed ^ ((run as u64 + 1) << 8) ^ (layer as u64 + 1);
        mixture(seed, N, d, 3, 0.5 + layer as f64 + 0.3 * run as f64).0
    }

    /// `fit-transform` with the options every run here shares.
    fn fit_transform(
        &self,
        features: &str,
        labels: &str,
        out: &str,
        extra: &[&str],
    ) -> std::process::Output {
        run(psmi()
            .args(["fit-transform", "--features", features, "--labels", labels])
            .args(["--out", &self.arg(out), "--n-estimators", M])
            .args(["--seed", &(self.seed % 1000).to_string(), "--quiet"])
            .args(extra))
    }

    fn sweep(
        &self,
        features: &str,
        labels: &str,
        out: &str,
        extra: &[&str],
    ) -> std::process::Output {
        let runs = self.arg("ckpts/ckpt-*");
        let mut all = vec!["--runs", runs.as_str()];
        all.extend_from_slice(extra);
        self.fit_transform(features, labels, out, &all)
    }
}

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A CSV's rows as maps from column to field (no quoted fields here).
fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    lines
        .map(|line| {
            header
                .iter()
                .cloned()
                .zip(line.split(',').map(str::to_owned))
                .collect()
        })
        .collect()
}

#[test]
fn runs_by_layers_and_by_shards_give_the_bits_of_single_runs() {
    let s = Sweep::new();
    let levels = ["--quantiles", "0.01,0.5"];
    // Layers in each run.
    assert_success(&s.sweep(
        &format!("{}/states.safetensors:h.*", "{run}"),
        "{run}/labels.npy",
        "sweep",
        &levels,
    ));
    // Relative `{run}` paths would depend on the working directory: the test
    // gives the glob absolute, so `{run}` expands to absolute directories.
    let names: Vec<String> = listing(&s.path("sweep"));
    assert_eq!(
        names,
        [
            "ckpt-10",
            "ckpt-2",
            "ckpt-9",
            "layers.csv",
            "scores.csv",
            "summary.json"
        ]
    );
    for run in RUNS {
        let single = format!("single-{run}");
        let features = format!("{}:h.*", s.arg(&format!("ckpts/{run}/states.safetensors")));
        assert_success(&s.fit_transform(
            &features,
            &s.arg("ckpts/ckpt-2/labels.npy"),
            &single,
            &levels,
        ));
        for (layer, _) in LAYERS {
            for file in ["psmi_mean.npy", "psmi_std.npy", "psmi_quantiles.npy"] {
                let got = s.path(&format!("sweep/{run}/{layer}/{file}"));
                let want = s.path(&format!("{single}/{layer}/{file}"));
                assert!(bytes(&got) == bytes(&want), "{run} {layer} {file}");
            }
        }
    }
    // Shards × layers in each run, label shards beside them.
    assert_success(&s.sweep(
        "{run}/train_?.safetensors:h.*",
        "{run}/train_?.labels.npy",
        "sharded-layers",
        &levels,
    ));
    for run in RUNS {
        for (layer, _) in LAYERS {
            for file in ["psmi_mean.npy", "psmi_std.npy", "psmi_quantiles.npy"] {
                let got = s.path(&format!("sharded-layers/{run}/{layer}/{file}"));
                let want = s.path(&format!("sweep/{run}/{layer}/{file}"));
                assert!(bytes(&got) == bytes(&want), "shards: {run} {layer} {file}");
            }
        }
    }
    let rows = read_csv(&s.path("sharded-layers/scores.csv"));
    assert!(rows[31]["file"].ends_with("ckpt-2/train_2.safetensors") && rows[31]["row"] == "1");

    // Shards in each run (a single matrix per run, labels shared).
    assert_success(&s.sweep(
        "{run}/part-*.npy",
        &s.arg("ckpts/ckpt-2/labels.npy"),
        "sharded",
        &[],
    ));
    for run in RUNS {
        let out = format!("one-{run}");
        let features = format!("{}:h.2", s.arg(&format!("ckpts/{run}/states.safetensors")));
        assert_success(&s.fit_transform(&features, &s.arg("ckpts/ckpt-2/labels.npy"), &out, &[]));
        let got = s.path(&format!("sharded/{run}/psmi_mean.npy"));
        assert!(
            bytes(&got) == bytes(&s.path(&format!("{out}/psmi_mean.npy"))),
            "{run}"
        );
        // The same directions as the layer h.2 of the layered sweep.
        assert!(bytes(&got) == bytes(&s.path(&format!("sweep/{run}/h.2/psmi_mean.npy"))));
    }
    let rows = read_csv(&s.path("sharded/scores.csv"));
    assert_eq!(rows.len(), RUNS.len() * N);
    assert_eq!(
        (rows[0]["file"].ends_with("part-1.npy"), &rows[0]["row"][..]),
        (true, "0")
    );
    assert_eq!(
        (
            rows[30]["file"].ends_with("part-2.npy"),
            &rows[30]["row"][..]
        ),
        (true, "0")
    );
    assert_eq!(&rows[N - 1]["row"][..], &(N - 31).to_string());

    // scores.csv: every run × layer × sample, in order, and delta_mean.
    let rows = read_csv(&s.path("sweep/scores.csv"));
    assert_eq!(rows.len(), RUNS.len() * LAYERS.len() * N);
    let mut layers_order: Vec<&str> = LAYERS.iter().map(|l| l.0).collect();
    layers_order.sort_by_key(|name| name[2..].parse::<u32>().unwrap());
    let mut k = 0;
    for run in RUNS {
        for layer in &layers_order {
            let (_, mean) = read_npy_f64(&s.path(&format!("sweep/{run}/{layer}/psmi_mean.npy")));
            let (_, first) =
                read_npy_f64(&s.path(&format!("sweep/{}/{layer}/psmi_mean.npy", RUNS[0])));
            let (_, q) = read_npy_f64(&s.path(&format!("sweep/{run}/{layer}/psmi_quantiles.npy")));
            for i in 0..N {
                let row = &rows[k];
                k += 1;
                assert_eq!((&row["run"][..], &row["layer"][..]), (run, *layer));
                assert_eq!(row["index"], i.to_string());
                assert_eq!(row["label"], s.labels[i].to_string());
                let value = |c: &str| row[c].parse::<f64>().unwrap();
                assert_eq!(value("mean"), mean[i]);
                assert_eq!(value("q0.01"), q[2 * i]);
                assert_eq!(value("q0.5"), q[2 * i + 1]);
                assert_eq!(value("delta_mean"), mean[i] - first[i], "{run} {layer} {i}");
                if run == RUNS[0] {
                    assert_eq!(value("delta_mean"), 0.0);
                }
            }
        }
    }
    let layers = read_csv(&s.path("sweep/layers.csv"));
    assert_eq!(layers.len(), RUNS.len() * LAYERS.len());
    assert_eq!(
        (&layers[0]["run"][..], &layers[0]["layer"][..]),
        ("ckpt-2", "h.1")
    );
    assert_eq!(layers[8]["dim"], "5");
}

#[test]
fn against_a_target_gives_the_auroc_of_a_direct_count_and_names_the_best() {
    let s = Sweep::new();
    let mut rng = TestRng::new(s.seed);
    let mut marked: Vec<bool> = (0..N).map(|_| rng.uniform() < 0.3).collect();
    marked[0] = true;
    marked[1] = false;
    let values: Vec<i64> = marked.iter().map(|&m| i64::from(m)).collect();
    write_labels(&s.path("target.npy"), "<u1", &values);
    assert_success(&s.sweep(
        "{run}/states.safetensors:h.*",
        "{run}/labels.npy",
        "out",
        &["--against", &s.arg("target.npy"), "--tpr", "0.6"],
    ));
    let layers = read_csv(&s.path("out/layers.csv"));
    let mut best = (f64::NEG_INFINITY, String::new(), String::new());
    for row in &layers {
        let (_, mean) = read_npy_f64(&s.path(&format!(
            "out/{}/{}/psmi_mean.npy",
            row["run"], row["layer"]
        )));
        let auroc = pairs_auroc(&mean, &marked);
        assert_eq!(row["auroc"].parse::<f64>().unwrap(), auroc);
        let low = row["auroc_low"].parse::<f64>().unwrap();
        let high = row["auroc_high"].parse::<f64>().unwrap();
        assert!(low <= auroc && auroc <= high);
        let fpr = row["fpr_at_tpr"].parse::<f64>().unwrap();
        assert!((0.0..=1.0).contains(&fpr));
        if auroc > best.0 {
            best = (auroc, row["run"].clone(), row["layer"].clone());
        }
    }
    let summary = read_json(&s.path("out/summary.json"));
    assert_eq!(summary["best"]["auroc"], best.0);
    assert_eq!(summary["best"]["run"], best.1.as_str());
    assert_eq!(summary["best"]["layer"], best.2.as_str());

    // The same target as bool, in an .npy file and in a safetensors tensor.
    let bools: Vec<u8> = marked.iter().map(|&m| u8::from(m)).collect();
    write_npy(&s.path("target_bool.npy"), "|b1", &[N], &bools);
    write_safetensors(
        &s.path("target.safetensors"),
        &[("memorised", "BOOL", vec![N], bools)],
    );
    for (out, target) in [
        ("out_bool", s.arg("target_bool.npy")),
        (
            "out_bool_st",
            format!("{}:memorised", s.arg("target.safetensors")),
        ),
    ] {
        assert_success(&s.sweep(
            "{run}/states.safetensors:h.*",
            "{run}/labels.npy",
            out,
            &["--against", &target, "--tpr", "0.6"],
        ));
        assert_eq!(
            bytes(&s.path(&format!("{out}/layers.csv"))),
            bytes(&s.path("out/layers.csv"))
        );
    }
}

#[test]
fn bad_sweeps_are_named_and_leave_earlier_results_intact() {
    let s = Sweep::new();
    let layered = "{run}/states.safetensors:h.*";
    let labels = "{run}/labels.npy";
    assert_success(&s.sweep(layered, labels, "out", &[]));
    let before = bytes(&s.path("out/scores.csv"));
    let check = |output: std::process::Output, needles: &[&str]| {
        assert_error(&output, 2, needles);
        assert!(bytes(&s.path("out/scores.csv")) == before, "{needles:?}");
    };
    // {run} that matches nothing: no run directory, no file in a run, no {run}.
    let runs = s.arg("ckpts/none-*");
    check(
        s.fit_transform(layered, labels, "out", &["--runs", &runs]),
        &[&runs, "no file matches"],
    );
    check(
        s.sweep("{run}/missing.safetensors:h.*", labels, "out", &[]),
        &["run ckpt-2", "missing.safetensors", "cannot open"],
    );
    check(
        s.sweep(
            &s.arg("ckpts/ckpt-2/states.safetensors:h.*"),
            labels,
            "out",
            &[],
        ),
        &["{run}"],
    );
    // --against of the wrong length, or not 0/1.
    write_labels(&s.path("short.npy"), "<i8", &vec![0; N - 1]);
    check(
        s.sweep(layered, labels, "out", &["--against", &s.arg("short.npy")]),
        &[
            &s.arg("short.npy"),
            &format!("{} values for {N} samples", N - 1),
        ],
    );
    let mut values = vec![0i64; N];
    values[5] = 2;
    write_labels(&s.path("two.npy"), "<i8", &values);
    check(
        s.sweep(layered, labels, "out", &["--against", &s.arg("two.npy")]),
        &[&s.arg("two.npy"), "row 5", "0 or 1"],
    );
    // A run whose labels differ, then whose sample count differs.
    let mut other = s.labels.clone();
    other[7] = 99;
    write_labels(&s.path("ckpts/ckpt-9/labels.npy"), "<i8", &other);
    check(
        s.sweep(layered, labels, "out", &[]),
        &["run ckpt-9", "row 7", "99", "run ckpt-2"],
    );
    write_labels(&s.path("ckpts/ckpt-9/labels.npy"), "<i8", &s.labels);
    let root = s.path("ckpts/ckpt-10");
    let short: Vec<(&str, &str, Vec<usize>, Vec<u8>)> = LAYERS
        .iter()
        .map(|&(name, d)| {
            (
                name,
                "F32",
                vec![N - 2, d],
                f32_bytes(&s.layer(2, 0, d)[..(N - 2) * d]),
            )
        })
        .collect();
    write_safetensors(&root.join("states.safetensors"), &short);
    write_labels(&root.join("labels.npy"), "<i8", &s.labels[..N - 2]);
    check(
        s.sweep(layered, labels, "out", &[]),
        &["run ckpt-10", &format!("{} samples", N - 2)],
    );
    // A layer pattern that matches other tensors in another shard.
    let shard = s.path("ckpts/ckpt-9/train_2.safetensors");
    s.write_shard(1, &shard, 30, N, &LAYERS[..2]);
    check(
        s.sweep(
            "{run}/train_?.safetensors:h.*",
            "{run}/train_?.labels.npy",
            "out",
            &[],
        ),
        &[&path_str(&shard), "no layer h.1", "train_1.safetensors"],
    );
    // A run that lacks a layer the others have.
    let fewer: Vec<(&str, &str, Vec<usize>, Vec<u8>)> = LAYERS[..2]
        .iter()
        .map(|&(name, d)| (name, "F32", vec![N, d], f32_bytes(&s.layer(2, 0, d))))
        .collect();
    write_safetensors(&root.join("states.safetensors"), &fewer);
    write_labels(&root.join("labels.npy"), "<i8", &s.labels);
    check(
        s.sweep(layered, labels, "out", &[]),
        &["run ckpt-10", "no layer h.1"],
    );
}
