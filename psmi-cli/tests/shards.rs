//! The program on hidden states at scale: shard globs in natural order, mixed
//! dtypes, and inputs streamed within `--max-memory`, each against the same
//! values given once as f32 — bit for bit; bad shards named.

mod common;

use common::files::{halves, write_labels, write_npy, write_safetensors};
use common::halves::{bf16_of, cuts, dataset, f16_of, same_scores};
use common::program::{assert_error, assert_success, path_str};
use psmi_std::io::{write_npy_f32_2d, FeatureShards, Input};
use psmi_std::{Features, NEstimators, Psmi};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A safetensors file holding one tensor `hidden` of dtype BF16.
fn write_bf16_safetensors(path: &Path, rows: usize, cols: usize, bits: &[u16]) {
    write_safetensors(path, &[("hidden", "BF16", vec![rows, cols], halves(bits))]);
}

fn psmi_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_psmi"))
}

/// `fit-transform` quietly into `out`; the output and psmi_mean / psmi_std bytes.
fn fit_transform(features: &str, labels: &str, out: &Path, extra: &[&str]) -> Output {
    psmi_cmd()
        .args(["fit-transform", "--features", features, "--labels", labels])
        .args([
            "--out",
            &path_str(out),
            "--n-estimators",
            "40",
            "--seed",
            "3",
            "--quiet",
        ])
        .args(extra)
        .output()
        .unwrap()
}

fn results(out: &Path) -> (Vec<u8>, Vec<u8>) {
    let read = |name: &str| std::fs::read(out.join(name)).unwrap();
    (read("psmi_mean.npy"), read("psmi_std.npy"))
}

/// One f32 file of the data, and shards named so that natural order differs
/// from the byte order of their names (part-2 before part-10), in npy f16,
/// npy f32 and safetensors bf16, of uneven sizes, one of a single row.
struct Sharded {
    dir: tempfile::TempDir,
    x: Vec<f32>,
    labels: Vec<i64>,
    n: usize,
    d: usize,
}

const SHARDS: [(&str, usize); 4] = [("1", 1), ("2", 120), ("10", 37), ("11", 0)];

impl Sharded {
    fn new() -> Sharded {
        let (n, d) = (301, 19);
        let (x, labels) = dataset(7, n, d);
        let dir = tempfile::tempdir().unwrap();
        write_npy_f32_2d(dir.path().join("whole.npy"), n, d, &x).unwrap();
        write_labels(&dir.path().join("labels.npy"), "<i8", &labels);
        let case = Sharded {
            dir,
            x,
            labels,
            n,
            d,
        };
        let sizes: Vec<usize> = SHARDS[..3].iter().map(|s| s.1).collect();
        for (i, (a, b)) in cuts(n, &sizes).into_iter().enumerate() {
            let (tag, rows) = (SHARDS[i].0, b - a);
            let values = &case.x[a * d..b * d];
            match i % 3 {
                0 => write_npy(
                    &case.path(&format!("part-{tag}.npy")),
                    "<f2",
                    &[rows, d],
                    &halves(&values.iter().map(|&v| f16_of(v)).collect::<Vec<_>>()),
                ),
                1 => write_npy_f32_2d(case.path(&format!("part-{tag}.npy")), rows, d, values)
                    .unwrap(),
                _ => write_bf16_safetensors(
                    &case.path(&format!("part-{tag}.safetensors")),
                    rows,
                    d,
                    &values.iter().map(|&v| bf16_of(v)).collect::<Vec<_>>(),
                ),
            }
            write_labels(
                &case.path(&format!("labels-{tag}.npy")),
                "<i8",
                &case.labels[a..b],
            );
        }
        case
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Every part-* file, whatever its format: npy and safetensors shards are
/// named by two globs, so the test uses one format per glob and a mixed
/// directory through the library.
#[test]
fn shards_in_natural_order_give_the_results_of_one_file() {
    let case = Sharded::new();
    let reference_out = case.path("ref");
    assert_success(&fit_transform(
        &path_str(&case.path("whole.npy")),
        &path_str(&case.path("labels.npy")),
        &reference_out,
        &[],
    ));
    let reference = results(&reference_out);

    // The library over the mixed-format shards, in natural order.
    let mut parts = Vec::new();
    let opened: Vec<FeatureShards> = [
        "part-1.npy",
        "part-2.npy",
        "part-10.safetensors:hidden",
        "part-11.npy",
    ]
    .iter()
    .map(|name| FeatureShards::open(&Input::parse(case.path(name)), false).unwrap())
    .collect();
    for shards in &opened {
        parts.push(shards.features().unwrap());
    }
    let x = Features::concat(parts).unwrap();
    assert_eq!((x.rows(), x.shards()), (case.n, 4));
    let (_, scores) = Psmi::builder()
        .n_estimators(NEstimators::Fixed(40))
        .seed(3)
        .build()
        .unwrap()
        .fit_transform(&x, &case.labels)
        .unwrap();
    let whole = Features::new(&case.x, case.n, case.d).unwrap();
    let (_, expected) = psmi_std::Psmi::builder()
        .n_estimators(NEstimators::Fixed(40))
        .seed(3)
        .build()
        .unwrap()
        .fit_transform(&whole, &case.labels)
        .unwrap();
    assert!(same_scores(&scores, &expected));

    // The program: an npy glob of f16 and f32 shards (the safetensors shard
    // moved to npy f32 for the glob), labels as one file and as shards.
    let converted = case.path("part-10.npy");
    let (a, b) = (1 + 120, 1 + 120 + 37);
    write_npy_f32_2d(&converted, b - a, case.d, &case.x[a * case.d..b * case.d]).unwrap();
    let glob = path_str(&case.path("part-*.npy"));
    for (i, labels) in [
        path_str(&case.path("labels.npy")),
        path_str(&case.path("labels-*.npy")),
    ]
    .iter()
    .enumerate()
    {
        let out = case.path(&format!("out{i}"));
        assert_success(&fit_transform(&glob, labels, &out, &[]));
        assert!(results(&out) == reference, "{labels}");
    }
    // All bf16 safetensors shards.
    for (i, (a, b)) in cuts(case.n, &[1, 120, 37]).into_iter().enumerate() {
        let bits: Vec<u16> = case.x[a * case.d..b * case.d]
            .iter()
            .map(|&v| bf16_of(v))
            .collect();
        write_bf16_safetensors(
            &case.path(&format!("st-{}.safetensors", SHARDS[i].0)),
            b - a,
            case.d,
            &bits,
        );
    }
    let out = case.path("out_st");
    let glob = format!("{}:hidden", path_str(&case.path("st-*.safetensors")));
    assert_success(&fit_transform(
        &glob,
        &path_str(&case.path("labels-*.npy")),
        &out,
        &[],
    ));
    assert!(results(&out) == reference);
}

/// A child's output and its peak resident memory (VmHWM), read while it runs.
/// Not wait4's ru_maxrss: a child spawned by a large test process (vfork)
/// inherits the parent's high-water mark across exec.
fn run_measured(cmd: &mut Command) -> (Output, u64) {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    // The mark only grows, so the last reading before exit is the peak of
    // all the work (only the exit itself comes after).
    while child.try_wait().unwrap().is_none() {
        let hwm = std::fs::read_to_string(&status_file).ok().and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        });
        peak = peak.max(hwm.unwrap_or(0) * 1024);
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    (child.wait_with_output().unwrap(), peak)
}

/// The smallest budget the program names, in bytes.
fn smallest_budget(features: &str, labels: &str, out: &Path) -> u64 {
    let output = fit_transform(features, labels, out, &["--max-memory", "1"]);
    assert_error(&output, 2, &["--max-memory", "needs at least"]);
    let line = String::from_utf8_lossy(&output.stderr).into_owned();
    let mib = line
        .split("needs at least ")
        .nth(1)
        .and_then(|rest| rest.split("MiB").next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no size in {line:?}"));
    mib << 20
}

#[test]
fn a_small_max_memory_streams_the_input_with_the_same_results() {
    // 128 MB of f32 and 64 MB of bf16, above what the run needs beside them.
    let (n, d) = (40_000, 800);
    let (x, labels) = dataset(11, n, d);
    let dir = tempfile::tempdir().unwrap();
    let f32_path = dir.path().join("x.npy");
    write_npy_f32_2d(&f32_path, n, d, &x).unwrap();
    let bf16_path = dir.path().join("x.safetensors");
    let bits: Vec<u16> = x.iter().map(|&v| bf16_of(v)).collect();
    write_bf16_safetensors(&bf16_path, n, d, &bits);
    drop((x, bits));
    let labels_path = dir.path().join("y.npy");
    write_labels(&labels_path, "<i8", &labels);
    let labels = path_str(&labels_path);

    let reference_out = dir.path().join("ref");
    assert_success(&fit_transform(
        &path_str(&f32_path),
        &labels,
        &reference_out,
        &[],
    ));
    let reference = results(&reference_out);
    for (i, features) in [
        path_str(&f32_path),
        format!("{}:hidden", path_str(&bf16_path)),
    ]
    .iter()
    .enumerate()
    {
        let out = dir.path().join(format!("out{i}"));
        let budget = smallest_budget(features, &labels, &out) + (1 << 20);
        let input = std::fs::metadata(features.trim_end_matches(":hidden"))
            .unwrap()
            .len();
        assert!(
            budget < input,
            "the budget {budget} would hold the input {input}"
        );
        let (output, peak) = run_measured(
            psmi_cmd()
                .args(["fit-transform", "--features", features, "--labels", &labels])
                .args([
                    "--out",
                    &path_str(&out),
                    "--n-estimators",
                    "40",
                    "--seed",
                    "3",
                    "--quiet",
                ])
                .args(["--max-memory", &budget.to_string()]),
        );
        assert_success(&output);
        assert!(results(&out) == reference, "{features}");
        assert!(
            peak <= budget,
            "{features}: peak RSS {peak} above --max-memory {budget}"
        );
    }
}

/// Runs `fit-transform` on `features` quietly into `out`, measured.
fn fit_transform_measured(features: &str, labels: &str, out: &Path) -> (Output, u64) {
    run_measured(
        psmi_cmd()
            .args(["fit-transform", "--features", features, "--labels", labels])
            .args(["--out", &path_str(out), "--n-estimators", "40"])
            .args(["--seed", "3", "--quiet"]),
    )
}

#[test]
fn one_tensor_of_a_many_layer_file_pages_in_that_tensor_alone() {
    // Twelve bf16 layers of 8 MiB: only layer_7 holds the data, the others
    // zeros (a run that read them would show them in its RSS all the same).
    let (n, d, layers, wanted) = (8192, 512, 12, 7);
    let (x, labels) = dataset(17, n, d);
    let bits: Vec<u16> = x.iter().map(|&v| bf16_of(v)).collect();
    let layer = halves(&bits);
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..layers).map(|l| format!("layer_{l}")).collect();
    let tensors: Vec<(&str, &str, Vec<usize>, Vec<u8>)> = names
        .iter()
        .enumerate()
        .map(|(l, name)| {
            let bytes = if l == wanted {
                layer.clone()
            } else {
                vec![0; layer.len()]
            };
            (name.as_str(), "BF16", vec![n, d], bytes)
        })
        .collect();
    let many = dir.path().join("states.safetensors");
    write_safetensors(&many, &tensors);
    drop(tensors);
    let alone = dir.path().join("alone.safetensors");
    write_bf16_safetensors(&alone, n, d, &bits);
    let labels_path = dir.path().join("y.npy");
    write_labels(&labels_path, "<i8", &labels);
    let labels = path_str(&labels_path);

    let reference = dir.path().join("ref");
    assert_success(&fit_transform(
        &format!("{}:hidden", path_str(&alone)),
        &labels,
        &reference,
        &[],
    ));
    let file = std::fs::metadata(&many).unwrap().len();
    let out = dir.path().join("out");
    let features = format!("{}:layer_{wanted}", path_str(&many));
    let (output, peak) = fit_transform_measured(&features, &labels, &out);
    assert_success(&output);
    assert!(results(&out) == results(&reference));
    // One layer is 8 MiB of the file's 96: the program, the layer and the
    // work stay well under half the file.
    assert!(
        peak < file / 2,
        "peak RSS {peak} for a layer of {} bytes in a file of {file}",
        layer.len()
    );
}

// ---------------------------------------------------------------------------
// Bad shards: one `error:` line naming the file, status 2, earlier results kept.

#[test]
fn bad_shards_are_named_and_leave_earlier_results_intact() {
    let case = Sharded::new();
    let out = case.path("out");
    let labels = path_str(&case.path("labels.npy"));
    assert_success(&fit_transform(
        &path_str(&case.path("whole.npy")),
        &labels,
        &out,
        &[],
    ));
    let before = results(&out);
    let check = |features: &str, labels: &str, needles: &[&str]| {
        assert_error(&fit_transform(features, labels, &out, &[]), 2, needles);
        assert!(results(&out) == before, "results changed by {needles:?}");
    };

    let empty = path_str(&case.path("nothing-*.npy"));
    check(&empty, &labels, &[&empty, "no file matches"]);

    let d = case.d;
    write_npy_f32_2d(case.path("mixed-1.npy"), 2, d, &case.x[..2 * d]).unwrap();
    write_npy_f32_2d(case.path("mixed-2.npy"), 1, d - 1, &case.x[..d - 1]).unwrap();
    let mixed = path_str(&case.path("mixed-2.npy"));
    check(
        &path_str(&case.path("mixed-*.npy")),
        &labels,
        &[&mixed, "columns", "mixed-1.npy"],
    );

    // Labels cut where the features are not: 1 + 120 + 37 + rest rows,
    // labels 2 + 119 + 37 + rest.
    for (tag, (a, b)) in SHARDS.iter().zip(cuts(case.n, &[2, 119, 37])) {
        write_labels(
            &case.path(&format!("bad-labels-{}.npy", tag.0)),
            "<i8",
            &case.labels[a..b],
        );
    }
    let glob = path_str(&case.path("part-*.npy"));
    std::fs::remove_file(case.path("part-10.safetensors")).unwrap();
    let (a, b) = (121, 158);
    write_npy_f32_2d(case.path("part-10.npy"), b - a, d, &case.x[a * d..b * d]).unwrap();
    check(
        &glob,
        &path_str(&case.path("bad-labels-*.npy")),
        &[
            &path_str(&case.path("bad-labels-1.npy")),
            &path_str(&case.path("part-1.npy")),
        ],
    );
    check(
        &glob,
        &path_str(&case.path("labels-1*.npy")),
        &["label shards", "feature shards"],
    );

    // NaN and infinities are found by the first projection, read in place
    // (also when streamed): the first in row-major order is named, by its
    // shard and its row among all rows, though a later row holds one in an
    // earlier column (part-10: rows 121..158; part-11, f16: rows 158..301).
    let mut nan = case.x[a * d..b * d].to_vec();
    nan[5 * d + 3] = f32::NAN;
    write_npy_f32_2d(case.path("part-10.npy"), b - a, d, &nan).unwrap();
    let mut tail: Vec<u16> = case.x[b * d..].iter().map(|&v| f16_of(v)).collect();
    tail[(200 - b) * d] = 0x7C00; // +inf
    write_npy(
        &case.path("part-11.npy"),
        "<f2",
        &[case.n - b, d],
        &halves(&tail),
    );
    let part_10 = path_str(&case.path("part-10.npy"));
    let streamed = smallest_budget(&glob, &labels, &out).to_string();
    for extra in [&[][..], &["--max-memory", &streamed][..]] {
        let output = fit_transform(&glob, &labels, &out, extra);
        assert_error(&output, 2, &[&part_10, "row 126", "column 3"]);
        assert!(results(&out) == before, "results changed with {extra:?}");
    }
    write_npy_f32_2d(case.path("part-10.npy"), b - a, d, &case.x[a * d..b * d]).unwrap();

    // f64 features are converted into memory: they cannot be streamed.
    let f64s = case.path("f64.npy");
    let bytes: Vec<u8> = case
        .x
        .iter()
        .flat_map(|&v| f64::from(v).to_le_bytes())
        .collect();
    write_npy(&f64s, "<f8", &[case.n, d], &bytes);
    let output = fit_transform(&path_str(&f64s), &labels, &out, &["--max-memory", "1"]);
    assert_error(&output, 2, &[&path_str(&f64s), "cannot be streamed"]);
    assert!(results(&out) == before);

    let truncated = case.path("part-2.npy");
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() - 5]).unwrap();
    check(&glob, &labels, &[&path_str(&truncated), "truncated"]);
}
