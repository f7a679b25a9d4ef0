//! # psmi-bench
//!
//! Benchmarks of psmi-core and psmi-std: criterion micro-benchmarks of each
//! kernel (`benches/`), the `throughput` program, which times every stage of
//! one block of directions on all cores with psmi-std's own stages
//! (`psmi_std::stages`), and the side-by-side comparison with the Python
//! package and with OpenBLAS sgemm (`compare/`).
//!
//! The library holds what the programs share: deterministic workloads
//! ([`workload`]), the probes of the machine's arithmetic peaks ([`peak`])
//! and on-CPU time ([`cpu_time`]).
#![deny(missing_docs)]

pub mod cpu_time;
pub mod peak;
pub mod workload;
