//! The output directory, on its own: what appears when, what a failed or
//! killed run leaves, and concurrent runs.

#[path = "../../../psmi-std/tests/common/mod.rs"]
mod common;

use super::OutputDir;
use common::{listing, staging_dirs};
use psmi_std::io::{write_npy_f32_2d, write_npy_f64, IoErrorKind};
use std::fs;
use std::path::{Path, PathBuf};

#[test]
fn output_appears_only_at_commit() {
    let parent = tempfile::tempdir().unwrap();
    let target = parent.path().join("a/b/out");
    let out = OutputDir::begin(&target).unwrap();
    write_npy_f64(out.path("psmi_mean.npy"), &[1.0, 2.0]).unwrap();
    fs::write(out.path("summary.json"), "{}").unwrap();
    assert!(!target.exists());
    assert_eq!(out.commit().unwrap(), target);
    assert_eq!(listing(&target), ["psmi_mean.npy", "summary.json"]);
    assert_eq!(listing(&parent.path().join("a/b")), ["out"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let plain = parent.path().join("plain");
        fs::create_dir(&plain).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode();
        assert_eq!(mode(&target), mode(&plain));
    }
}

#[test]
fn failed_run_keeps_earlier_results() {
    let parent = tempfile::tempdir().unwrap();
    let target = parent.path().join("out");
    let out = OutputDir::begin(&target).unwrap();
    write_npy_f64(out.path("psmi_mean.npy"), &[1.0]).unwrap();
    fs::write(out.path("summary.json"), "first").unwrap();
    out.commit().unwrap();
    let before = fs::read(target.join("psmi_mean.npy")).unwrap();

    let out = OutputDir::begin(&target).unwrap();
    write_npy_f64(out.path("psmi_mean.npy"), &[2.0]).unwrap();
    let failed = write_npy_f32_2d(out.path("psmi_full.npy"), 2, 2, &[0.0]);
    assert!(failed.is_err());
    drop(out);
    assert_eq!(fs::read(target.join("psmi_mean.npy")).unwrap(), before);
    assert_eq!(
        fs::read_to_string(target.join("summary.json")).unwrap(),
        "first"
    );
    assert_eq!(listing(&target), ["psmi_mean.npy", "summary.json"]);
    assert_eq!(listing(parent.path()), ["out"]);
}

#[test]
fn commit_replaces_existing_results_file_by_file() {
    let parent = tempfile::tempdir().unwrap();
    let target = parent.path().join("out");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("summary.json"), "old").unwrap();
    fs::write(target.join("notes.txt"), "mine").unwrap();
    let out = OutputDir::begin(&target).unwrap();
    fs::write(out.path("summary.json"), "new").unwrap();
    let _never_written = out.path("psmi_full.npy");
    assert_eq!(
        fs::read_to_string(target.join("summary.json")).unwrap(),
        "old"
    );
    out.commit().unwrap();
    assert_eq!(
        fs::read_to_string(target.join("summary.json")).unwrap(),
        "new"
    );
    assert_eq!(listing(&target), ["notes.txt", "summary.json"]);
}

/// What a run killed mid-way (SIGKILL) leaves: a staging directory with files and a
/// lock file that nobody holds any more.
fn debris(dir: &Path, name: &str, with_lock: bool) -> PathBuf {
    let path = dir.join(name);
    fs::create_dir(&path).unwrap();
    fs::write(path.join("psmi_full.npy"), vec![7u8; 4096]).unwrap();
    if with_lock {
        fs::write(path.join(".lock"), "").unwrap();
    }
    path
}

#[test]
fn commit_removes_staging_directories_of_dead_runs_only() {
    let parent = tempfile::tempdir().unwrap();
    let target = parent.path().join("out");
    fs::create_dir(&target).unwrap();
    // Names as a killed run with this very process id would have made them: the
    // id in the name decides nothing, the lock does.
    let id = std::process::id();
    let dead = debris(&target, &format!(".psmi-staging-{id}-900"), true);
    let dead_beside = debris(parent.path(), ".psmi-staging-1-0", true);
    // A directory whose lock file is missing is not known to be dead: left alone.
    let unknown = debris(&target, ".psmi-staging-2-0", false);
    // A live run in this process, and the run that commits.
    let live = OutputDir::begin(&target).unwrap();
    fs::write(live.path("summary.json"), "live").unwrap();
    let out = OutputDir::begin(parent.path().join("new")).unwrap();
    fs::write(out.path("summary.json"), "new").unwrap();
    out.commit().unwrap();
    // A commit scans the target and its parent.
    assert!(!dead_beside.exists());
    assert!(dead.exists(), "out/ is not where the run committed");
    // Left beside out/ by a run that began before out/ existed.
    let dead_beside = debris(parent.path(), ".psmi-staging-3-0", true);
    let done = OutputDir::begin(&target).unwrap();
    fs::write(done.path("summary.json"), "done").unwrap();
    done.commit().unwrap();
    assert!(!dead.exists() && !dead_beside.exists());
    assert!(unknown.exists());
    let names = staging_dirs(&target);
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(live.path("summary.json").is_file());
    live.commit().unwrap();
    assert_eq!(staging_dirs(&target), [".psmi-staging-2-0"]);
    assert_eq!(
        fs::read_to_string(target.join("summary.json")).unwrap(),
        "live"
    );
    assert_eq!(listing(parent.path()), ["new", "out"]);
    assert_eq!(listing(&parent.path().join("new")), ["summary.json"]);
}

#[test]
fn commit_removes_what_the_run_declares_stale() {
    let parent = tempfile::tempdir().unwrap();
    let target = parent.path().join("out");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("psmi_full.npy"), "old").unwrap();
    fs::write(target.join("notes.txt"), "mine").unwrap();
    let out = OutputDir::begin(&target).unwrap();
    fs::write(out.path("summary.json"), "new").unwrap();
    out.stale("psmi_full.npy");
    out.stale("psmi.svg");
    assert!(target.join("psmi_full.npy").exists());
    out.commit().unwrap();
    assert_eq!(listing(&target), ["notes.txt", "summary.json"]);
}

#[test]
fn a_target_made_by_another_run_meanwhile_is_joined_file_by_file() {
    let parent = tempfile::tempdir().unwrap();
    let target = parent.path().join("out");
    let first = OutputDir::begin(&target).unwrap();
    let second = OutputDir::begin(&target).unwrap();
    fs::write(first.path("a.txt"), "first").unwrap();
    fs::write(first.path("b.txt"), "first").unwrap();
    fs::write(second.path("a.txt"), "second").unwrap();
    first.commit().unwrap();
    second.stale("b.txt");
    second.commit().unwrap();
    assert_eq!(listing(&target), ["a.txt"]);
    assert_eq!(fs::read_to_string(target.join("a.txt")).unwrap(), "second");
    assert_eq!(listing(parent.path()), ["out"]);
}

#[test]
fn unwritable_output_dir_is_named() {
    let parent = tempfile::tempdir().unwrap();
    let file = parent.path().join("file");
    fs::write(&file, "").unwrap();
    let err = OutputDir::begin(&file).unwrap_err();
    assert!(matches!(err.kind(), IoErrorKind::NotADirectory));
    assert_eq!(err.path(), file);
    let below_a_file = file.join("out");
    let err = OutputDir::begin(&below_a_file).unwrap_err();
    assert!(matches!(err.kind(), IoErrorKind::Output(_)), "{err}");
    assert_eq!(err.path(), below_a_file);
    assert!(err
        .to_string()
        .starts_with(&format!("{}: ", below_a_file.display())));
    assert!(!err.is_input_error());
}

#[test]
fn output_dirs_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<OutputDir>();
}
