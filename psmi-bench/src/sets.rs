//! The data sets the `accuracy` and `coverage` programs measure on, by name.

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
