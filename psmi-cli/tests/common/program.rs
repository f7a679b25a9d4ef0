//! Running the built `psmi` binary and checking how its runs end.
#![allow(dead_code)]

use assert_cmd::Command;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

/// The built binary, with a timeout: a hang is a failure, not a stuck test suite.
pub fn psmi() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_psmi"));
    cmd.timeout(Duration::from_secs(600));
    cmd
}

pub fn path_str(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn assert_no_panic(output: &Output) {
    let stderr = text(&output.stderr);
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE", "internal error"] {
        assert!(!stderr.contains(bad), "panic text in stderr: {stderr}");
    }
}

/// A successful run: status 0 and a silent stderr (no terminal, so no progress bar).
pub fn assert_success(output: &Output) {
    assert_no_panic(output);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        text(&output.stderr)
    );
    assert_eq!(text(&output.stderr), "", "stderr of a successful run");
}

/// A failed run: `status`, and stderr exactly one `error:` line naming every `needle`.
pub fn assert_error(output: &Output, status: i32, needles: &[&str]) -> String {
    assert_no_panic(output);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(status), "stderr: {stderr}");
    assert!(stderr.ends_with('\n'), "stderr: {stderr:?}");
    let line = stderr.trim_end_matches('\n');
    assert!(!line.contains('\n'), "more than one line: {stderr:?}");
    assert!(line.starts_with("error: "), "stderr: {stderr:?}");
    for needle in needles {
        assert!(line.contains(needle), "{needle:?} not in {line:?}");
    }
    line.to_owned()
}
