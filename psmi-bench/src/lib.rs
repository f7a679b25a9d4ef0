//! # psmi-bench
//!
//! Benchmarks of psmi-core and psmi-std: criterion micro-benchmarks of each
//! kernel (`benches/`), the `throughput` program, which times every stage of
//! one block of directions on all cores with psmi-std's own stages
//! (`psmi_std::stages`), and the side-by-side comparison with the Python
//! package and with OpenBLAS sgemm (`compare/`).
//!
//! The library holds what the programs share: deterministic workloads
//! ([`workload`]), the probes of the machine's arithmetic peaks ([`peak`]),
//! on-CPU time ([`cpu_time`]) and the named data sets of the `accuracy` and
//! `coverage` programs ([`sets`]).
#![deny(missing_docs)]

pub mod cpu_time;
pub mod peak;
pub mod sets;
pub mod workload;

/// The median of `values` (the mean of the two middle ones of an even count;
/// NaN for none).
///
/// ```
/// assert_eq!(psmi_bench::median(vec![3.0, 1.0, 2.0]), 2.0);
/// assert_eq!(psmi_bench::median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
/// ```
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() {
        0 => f64::NAN,
        len if len % 2 == 1 => values[mid],
        _ => (values[mid - 1] + values[mid]) / 2.0,
    }
}
