//! The data sets the `accuracy` and `coverage` programs measure on, by name,
//! and what the two programs share around them.

use crate::workload::{hidden_states, mixture};
use psmi_std::io::{read_labels, FeatureMatrix, Input};

/// A data set: features n × d (row-major f32) and labels.
///
/// ```
/// let set = psmi_bench::sets::Set::load("digits", 0)?;
/// assert_eq!((set.labels.len(), set.d), (1797, 64));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Set {
    /// Its name.
    pub name: &'static str,
    /// Features, row-major n × d.
    pub x: Vec<f32>,
    /// One label per row.
    pub labels: Vec<i64>,
    /// Features per row.
    pub d: usize,
}

impl Set {
    /// `digits` (the 1797 × 64 fixture of psmi-std's tests), `w1` (a 10000 ×
    /// 512, 10-class Gaussian mixture, unit noise) or `llm` (`llm_n` × 4096,
    /// 20 classes, Student-t noise, 8 dimensions of 20× scale).
    ///
    /// # Errors
    ///
    /// An unknown name, or the fixture's files unreadable.
    pub fn load(name: &str, llm_n: usize) -> Result<Set, Box<dyn std::error::Error>> {
        let widen = |labels: Vec<u32>| labels.into_iter().map(i64::from).collect();
        Ok(match name {
            "digits" => {
                let dir = concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../psmi-std/tests/fixtures/digits"
                );
                let x = FeatureMatrix::open(&Input::parse(format!("{dir}/features.npy")))?;
                let labels = read_labels(&Input::parse(format!("{dir}/labels.npy")))?;
                Set {
                    name: "digits",
                    d: x.cols(),
                    x: x.to_vec(),
                    labels,
                }
            }
            "w1" => {
                let (x, labels) = mixture(10_000, 512, 10, 1.0, 1);
                Set {
                    name: "w1",
                    x,
                    labels: widen(labels),
                    d: 512,
                }
            }
            "llm" => {
                let (x, labels) = hidden_states(llm_n, 4096, 20, 8, 0.3, 2);
                Set {
                    name: "llm",
                    x,
                    labels: widen(labels),
                    d: 4096,
                }
            }
            other => return Err(format!("unknown set {other:?}: digits, w1 or llm").into()),
        })
    }
}

/// Mean of `values` and its standard error: the sample standard deviation
/// (ddof 1) over √count; 0 for a single value.
///
/// ```
/// let (mean, se) = psmi_bench::sets::mean_and_stderr(&[1.0, 2.0, 3.0]);
/// assert_eq!(mean, 2.0);
/// assert!((se - 1.0 / 3f64.sqrt()).abs() < 1e-15);
/// ```
pub fn mean_and_stderr(values: &[f64]) -> (f64, f64) {
    let count = values.len() as f64;
    let mean = values.iter().sum::<f64>() / count;
    let squares: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    let variance = if count > 1.0 {
        squares / (count - 1.0)
    } else {
        0.0
    };
    (mean, (variance / count).sqrt())
}

/// The exit status of a program whose run ended in `result`: an error is
/// printed on stderr as one line beginning `error:`.
///
/// ```
/// let status = psmi_bench::sets::exit_code(Ok(()));
/// assert_eq!(status, std::process::ExitCode::SUCCESS);
/// ```
pub fn exit_code(result: Result<(), Box<dyn std::error::Error>>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
