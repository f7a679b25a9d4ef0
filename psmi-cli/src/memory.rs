//! The memory budget (`--max-memory`): whether the features are mapped whole
//! or streamed in chunks of rows, and the smallest budget a run can work in.

use crate::failure::Failure;
use psmi_std::io::{input_bytes, FeatureShards, Input};

/// Memory beyond what the process holds already and the estimator's own
/// estimate: allocator slack, thread stacks, the output writers.
const SLACK: u64 = 24 << 20;

/// Opens the features within `budget` bytes (default: the memory available),
/// mapped whole when they fit beside `working(rows, cols)` bytes of work,
/// streamed otherwise.
///
/// # Errors
///
/// A budget too small even for streaming, naming the smallest that works; or
/// the files' errors.
pub fn open_features(
    input: &Input,
    budget: Option<u64>,
    working: impl Fn(usize, usize) -> u64,
) -> Result<FeatureShards, Failure> {
    // Mapped without populating: only the headers are read here, unless a
    // shard has to be converted into memory (f64, big-endian), which is then
    // kept rather than converted twice.
    let streamed = FeatureShards::open(input, true)?;
    let Some(budget) = budget.or_else(available) else {
        return reopened(input, streamed);
    };
    let needed = resident().unwrap_or(0) + SLACK + working(streamed.rows(), streamed.cols());
    if let Some((shard, bytes)) = streamed.converted() {
        if needed > budget {
            return Err(Failure::input(format!(
                "{shard}: these features are converted into memory ({}) and cannot be \
                 streamed within --max-memory {}; give them as little-endian f32, f16 or bf16",
                show(bytes),
                show(budget)
            )));
        }
        return Ok(streamed);
    }
    if needed > budget {
        return Err(Failure::input(format!(
            "--max-memory {} is too small for {} × {} features: this run needs at least {} \
             (the features streamed, the per-sample results and one pass of projections)",
            show(budget),
            streamed.rows(),
            streamed.cols(),
            show(needed)
        )));
    }
    if needed + input_bytes(input)? <= budget {
        return reopened(input, streamed);
    }
    Ok(streamed)
}

/// The features mapped whole (populated at once), unless a shard was
/// converted into memory already.
fn reopened(input: &Input, streamed: FeatureShards) -> Result<FeatureShards, Failure> {
    if streamed.converted().is_some() {
        return Ok(streamed);
    }
    drop(streamed);
    Ok(FeatureShards::open(input, false)?)
}

/// Bytes of `budget` (default: the memory available) that neither the
/// process holds now nor `working` bytes of work still to come will take;
/// `None` where neither a budget nor the memory available is known.
pub fn spare(budget: Option<u64>, working: u64) -> Option<u64> {
    let budget = budget.or_else(available)?;
    Some(budget.saturating_sub(resident().unwrap_or(0) + SLACK + working))
}

/// MemAvailable from /proc/meminfo, in bytes.
fn available() -> Option<u64> {
    meminfo_kib("/proc/meminfo", "MemAvailable:").map(|kib| kib << 10)
}

/// The process's resident memory now (VmRSS), in bytes.
fn resident() -> Option<u64> {
    meminfo_kib("/proc/self/status", "VmRSS:").map(|kib| kib << 10)
}

/// The value of a `Key: N kB` line.
fn meminfo_kib(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// Bytes in MiB or GiB, rounded up so that the figure given always suffices.
fn show(bytes: u64) -> String {
    const MIB: u64 = 1 << 20;
    if bytes >= 10 << 30 {
        format!(
            "{:.1}GiB",
            (bytes as f64 / (1u64 << 30) as f64 * 10.0).ceil() / 10.0
        )
    } else {
        format!("{}MiB", bytes.div_ceil(MIB))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_up() {
        assert_eq!(show(1), "1MiB");
        assert_eq!(show(300 << 20), "300MiB");
        assert_eq!(show((300 << 20) + 1), "301MiB");
        assert_eq!(show(12 << 30), "12.0GiB");
    }

    #[test]
    fn resident_and_available_memory_are_read() {
        assert!(resident().is_some_and(|r| r > 0));
        assert!(available().is_some_and(|a| a > 0));
    }
}
