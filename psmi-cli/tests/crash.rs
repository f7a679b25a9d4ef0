//! The `psmi` program stopped from outside: SIGINT and SIGTERM end a run
//! cleanly, a run killed outright (SIGKILL) leaves debris that the next run
//! removes, and concurrent runs into one directory never leave a mixed set.
#![cfg(unix)]

mod common;

use common::files::write_labels;
use common::{mixture, staging_dirs};
use psmi_std::io::write_npy_f32_2d;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Long enough for any run here on a loaded machine; reaching it is a failure.
const LIMIT: Duration = Duration::from_secs(300);

/// Features (`features.npy`, f32) and labels (`labels.npy`, i64) in a temporary directory.
struct Data {
    dir: TempDir,
}

impl Data {
    fn new(n: usize, d: usize) -> Data {
        let dir = tempfile::tempdir().unwrap();
        let (x, labels) = mixture(5, n, d, 4, 1.0);
        write_npy_f32_2d(dir.path().join("features.npy"), n, d, &x).unwrap();
        write_labels(&dir.path().join("labels.npy"), "<i8", &labels);
        Data { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `psmi COMMAND` on these features and labels, plus `extra`.
    fn command(&self, command: &str, extra: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_psmi"));
        cmd.arg(command)
            .arg("--features")
            .arg(self.path("features.npy"))
            .arg("--labels")
            .arg(self.path("labels.npy"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }

    /// A run into `out` that would go on for hours: auto mode with blocks of
    /// 8 directions, a target it cannot reach and no practical upper bound.
    /// Reaching that bound would take more memory than any machine has, so
    /// the run declares a budget that allows it (the default, the memory
    /// available, would refuse it at the start).
    fn endless(&self, command: &str, target: &[&str]) -> Child {
        let mut args = target.to_vec();
        args.extend([
            "--min-n-estimators",
            "8",
            "--max-n-estimators",
            "1000000000",
            "--max-memory",
            "1000000TiB",
            "--max-variation-of-the-lowest",
            "1e-300",
            "--quiet",
        ]);
        self.command(command, &args).spawn().unwrap()
    }

    /// A short fixed-mode run into `out`, to completion.
    fn quick(&self, out: &Path, seed: u64, extra: &[&str]) {
        let mut cmd = self.command("fit-transform", extra);
        cmd.arg("--out").arg(out);
        cmd.args([
            "--n-estimators",
            "40",
            "--quiet",
            "--seed",
            &seed.to_string(),
        ]);
        let (status, stderr) = finish(cmd.spawn().unwrap());
        assert!(status.success(), "{stderr}");
    }
}

/// Waits for `child` (at most [`LIMIT`]) and returns its status and stderr.
fn finish(mut child: Child) -> (ExitStatus, String) {
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("the run did not end within {LIMIT:?}");
        }
        sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

fn send(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal}");
}

/// Waits until `child` has made its staging directory in `dir` and is well
/// into its run, and returns the directory's name.
fn running_in(child: &mut Child, dir: &Path) -> String {
    let own = format!(".psmi-staging-{}-", child.id());
    let started = Instant::now();
    loop {
        if let Some(name) = staging_dirs(dir).into_iter().find(|n| n.starts_with(&own)) {
            // Past reading the inputs and into the directions, most likely; a
            // signal before that is handled as well.
            sleep(Duration::from_millis(500));
            return name;
        }
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        assert!(started.elapsed() < LIMIT, "no staging directory appeared");
        sleep(Duration::from_millis(10));
    }
}

/// Every file in `dir` with its bytes, hidden ones included (staging
/// directories are checked on their own).
fn contents(dir: &Path) -> Files {
    let mut files: Files = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_type().unwrap().is_dir())
        .map(|e| {
            let name = e.file_name().into_string().unwrap();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// Asserts that `dir` holds exactly the files `before`, byte for byte, and no
/// staging directory.
fn assert_unchanged(dir: &Path, before: &[(String, Vec<u8>)]) {
    let now = contents(dir);
    assert_eq!(names(&now), names(before));
    for ((name, bytes), (_, old)) in now.iter().zip(before) {
        assert!(bytes == old, "{name} changed");
    }
    assert_eq!(staging_dirs(dir), Vec::<String>::new());
}

fn names(files: &[(String, Vec<u8>)]) -> Vec<&str> {
    files.iter().map(|(n, _)| n.as_str()).collect()
}

fn interrupted_run_keeps_earlier_results(signal: &str, status: i32) {
    let data = Data::new(3000, 48);
    let out = data.path("out");
    data.quick(&out, 1, &["--full"]);
    let before = contents(&out);
    assert_eq!(
        names(&before),
        [
            "psmi_full.npy",
            "psmi_mean.npy",
            "psmi_std.npy",
            "summary.json"
        ]
    );
    let out_arg = out.to_str().unwrap();
    let model = data.path("model.safetensors");
    let model_arg = model.to_str().unwrap();
    let csv = data.path("scores.csv");
    let csv_arg = csv.to_str().unwrap();
    let args = [
        "--out", out_arg, "--full", "--model", model_arg, "--csv", csv_arg,
    ];
    let mut child = data.endless("fit-transform", &args);
    running_in(&mut child, &out);
    send(&child, signal);
    let (exit, stderr) = finish(child);
    assert_eq!(exit.code(), Some(status), "{stderr}");
    assert_eq!(
        stderr,
        format!("interrupted: {signal}, no results written\n")
    );
    assert_unchanged(&out, &before);
    assert!(!model.exists() && !csv.exists());
    assert_eq!(
        names(&contents(data.dir.path())),
        ["features.npy", "labels.npy"]
    );
}

#[test]
fn sigint_stops_the_run_and_keeps_earlier_results() {
    interrupted_run_keeps_earlier_results("SIGINT", 130);
}

#[test]
fn sigterm_stops_the_run_and_keeps_earlier_results() {
    interrupted_run_keeps_earlier_results("SIGTERM", 143);
}

#[test]
fn sigterm_stops_fit_before_the_model_is_written() {
    let data = Data::new(3000, 48);
    let model = data.path("models/model.safetensors");
    let model_arg = model.to_str().unwrap();
    let mut child = data.endless("fit", &["--model", model_arg]);
    sleep(Duration::from_millis(1500));
    assert!(child.try_wait().unwrap().is_none(), "the run ended early");
    send(&child, "SIGTERM");
    let (exit, stderr) = finish(child);
    assert_eq!(exit.code(), Some(143), "{stderr}");
    assert_eq!(stderr, "interrupted: SIGTERM, no results written\n");
    assert!(!model.exists());
}

#[test]
fn a_second_signal_ends_a_run_at_once() {
    // Fixed-mode fit checks for a signal only when its directions are done
    // (seconds here); a second signal does not wait for that, and ends the
    // process without a word.
    let data = Data::new(3000, 48);
    let model = data.path("model.safetensors");
    let mut child = data
        .command("fit", &["--n-estimators", "600000", "--quiet"])
        .arg("--model")
        .arg(&model)
        .spawn()
        .unwrap();
    sleep(Duration::from_millis(1000));
    assert!(child.try_wait().unwrap().is_none(), "the run ended early");
    send(&child, "SIGINT");
    // Apart, so that the two are not merged into one pending signal.
    sleep(Duration::from_millis(500));
    send(&child, "SIGINT");
    let (exit, stderr) = finish(child);
    assert_eq!(exit.code(), Some(130), "{stderr}");
    assert_eq!(stderr, "");
    assert!(!model.exists());
}

#[test]
fn the_next_run_removes_what_killed_runs_left() {
    let data = Data::new(3000, 48);
    let out = data.path("out");
    data.quick(&out, 1, &[]);
    let out_arg = out.to_str().unwrap();
    // Killed outright, twice, over earlier results: each leaves its staging directory.
    for _ in 0..2 {
        let mut child = data.endless("fit-transform", &["--out", out_arg, "--full"]);
        let name = running_in(&mut child, &out);
        send(&child, "KILL");
        finish(child);
        assert!(staging_dirs(&out).contains(&name));
    }
    assert_eq!(staging_dirs(&out).len(), 2);
    data.quick(&out, 2, &[]);
    assert!(staging_dirs(&out).is_empty());
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(summary.contains("\"seed\": 2"), "{summary}");

    // Into a directory that does not exist yet, the run stages beside it.
    let fresh = data.path("fresh");
    let fresh_arg = fresh.to_str().unwrap();
    let mut child = data.endless("fit-transform", &["--out", fresh_arg]);
    running_in(&mut child, data.dir.path());
    send(&child, "KILL");
    finish(child);
    assert_eq!(staging_dirs(data.dir.path()).len(), 1);
    data.quick(&fresh, 3, &[]);
    assert!(staging_dirs(data.dir.path()).is_empty());
    assert!(fresh.join("summary.json").is_file());
}

#[test]
fn a_live_run_keeps_its_staging_directory_while_another_commits() {
    let data = Data::new(3000, 48);
    let out = data.path("out");
    data.quick(&out, 1, &[]);
    let out_arg = out.to_str().unwrap();
    let mut child = data.endless("fit-transform", &["--out", out_arg]);
    let name = running_in(&mut child, &out);
    data.quick(&out, 2, &[]);
    assert_eq!(staging_dirs(&out), [name]);
    let after = contents(&out);
    send(&child, "SIGINT");
    let (exit, stderr) = finish(child);
    assert_eq!(exit.code(), Some(130), "{stderr}");
    assert_unchanged(&out, &after);
}

/// Files by name with their bytes.
type Files = Vec<(String, Vec<u8>)>;

/// A set of results that one run wrote: the seed of its summary, and the bytes
/// of the arrays.
fn result_set(dir: &Path) -> (u64, Files) {
    let summary = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    let seed = summary["seed"].as_u64().unwrap();
    let arrays = contents(dir)
        .into_iter()
        .filter(|(name, _)| name.ends_with(".npy"))
        .collect();
    (seed, arrays)
}

#[test]
fn concurrent_runs_into_one_directory_never_mix_their_results() {
    let data = Data::new(400, 16);
    // What each run writes on its own: seed 1 with the full matrix, seed 2
    // without (so a mixed set could also be a full matrix beside the wrong summary).
    let options = |seed: u64| -> &'static [&'static str] {
        if seed == 1 {
            &["--full"]
        } else {
            &[]
        }
    };
    let alone: Vec<(u64, Files)> = [1, 2]
        .into_iter()
        .map(|seed| {
            let dir = data.path(&format!("alone-{seed}"));
            data.quick(&dir, seed, options(seed));
            result_set(&dir)
        })
        .collect();
    assert_eq!(alone[0].1.len(), 3);
    assert_eq!(alone[1].1.len(), 2);
    assert_ne!(
        alone[0].1[1], alone[1].1[0],
        "the seeds give the same means"
    );

    let out = data.path("out");
    for round in 0..12 {
        let children: Vec<Child> = [1u64, 2, 1, 2]
            .into_iter()
            .map(|seed| {
                let mut cmd = data.command("fit-transform", options(seed));
                cmd.arg("--out").arg(&out);
                cmd.args([
                    "--n-estimators",
                    "40",
                    "--quiet",
                    "--seed",
                    &seed.to_string(),
                ]);
                cmd.spawn().unwrap()
            })
            .collect();
        for child in children {
            let (status, stderr) = finish(child);
            assert!(status.success(), "round {round}: {stderr}");
        }
        let found = result_set(&out);
        assert!(
            alone.contains(&found),
            "round {round}: a mixed set {:?}",
            names(&found.1)
        );
        assert!(staging_dirs(&out).is_empty());
    }
}
