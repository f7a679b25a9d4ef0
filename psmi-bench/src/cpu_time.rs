//! Time on the CPU, apart from the time spent waiting for it.
//!
//! On a machine other processes share, wall time counts the slices of time
//! the scheduler gives to them; a thread's own on-CPU time does not (its
//! caches still suffer from theirs). Linux reports it per thread in
//! `/proc/thread-self/schedstat` (nanoseconds on the CPU, first field).

/// Seconds the calling thread has spent on a CPU, or `None` where the
/// system does not report it.
///
/// ```
/// if let Some(before) = psmi_bench::cpu_time::thread_cpu_seconds() {
///     let spin: u64 = (0..1_000_000u64).map(std::hint::black_box).sum();
///     assert!(spin > 0);
///     assert!(psmi_bench::cpu_time::thread_cpu_seconds().unwrap() >= before);
/// }
/// ```
pub fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanoseconds: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(nanoseconds as f64 * 1e-9)
}

/// Seconds every thread of `pool` has spent on a CPU, in total.
///
/// ```
/// let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
/// let total = psmi_bench::cpu_time::pool_cpu_seconds(&pool);
/// assert!(total.is_none_or(|seconds| seconds >= 0.0));
/// ```
pub fn pool_cpu_seconds(pool: &rayon::ThreadPool) -> Option<f64> {
    pool.broadcast(|_| thread_cpu_seconds()).into_iter().sum()
}
