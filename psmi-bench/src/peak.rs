//! The machine's own arithmetic peaks, measured, so that a kernel's rate can
//! be given as a fraction of what one core can do.
//!
//! Each probe runs twelve independent chains of one instruction (more than
//! latency × ports on any x86-64 core, so the chains never wait on each
//! other) from registers only, for a fixed number of steps, and reports
//! floating-point operations per second of the calling thread's time on the
//! CPU ([`crate::cpu_time`]; wall time where the system does not report it),
//! so that other processes' share of the core does not lower it:
//!
//! - [`fma_f32`]: `vfmadd231ps` on zmm registers where the CPU has AVX-512,
//!   on ymm registers where it has only AVX2 + FMA (2 operations per lane);
//! - [`dot_bf16`]: `vdpbf16ps` on zmm registers where the CPU has
//!   AVX512-BF16 (two products and two additions per f32 lane: 64 operations
//!   per instruction).

use crate::cpu_time::thread_cpu_seconds;
use psmi_core::{Isa, Kernels};
use std::time::Instant;

/// Independent accumulators of each probe.
const CHAINS: usize = 12;
/// Steps of each probe: 12 · 2²¹ instructions, tens of milliseconds.
const STEPS: usize = 1 << 21;

/// A measured peak: the register width it ran on and its rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Peak {
    /// The instruction and register width, e.g. `"vfmadd231ps zmm"`.
    pub instruction: &'static str,
    /// Floating-point operations per second, in units of 10⁹.
    pub gflops: f64,
}

/// The f32 FMA peak of one core for `kernels`' instruction set, the median
/// of `runs` probes; `None` for the portable kernels, which have no single
/// instruction to measure.
///
/// ```
/// let peak = psmi_bench::peak::fma_f32(psmi_core::Kernels::detect(), 1);
/// if let Some(peak) = peak {
///     assert!(peak.gflops > 0.0);
/// }
/// ```
pub fn fma_f32(kernels: Kernels, runs: usize) -> Option<Peak> {
    #[cfg(target_arch = "x86_64")]
    {
        let (instruction, lanes, probe): (_, _, fn() -> f32) = match kernels.isa() {
            Isa::Portable => return None,
            // SAFETY: the token proves the CPU has AVX2 and FMA.
            Isa::Avx2Fma => ("vfmadd231ps ymm", 8, || unsafe { x86::fma_ymm() }),
            // SAFETY: the token proves the CPU has AVX-512F and FMA.
            Isa::Avx512 => ("vfmadd231ps zmm", 16, || unsafe { x86::fma_zmm() }),
        };
        let operations = 2.0 * lanes as f64 * (CHAINS * STEPS) as f64;
        Some(Peak {
            instruction,
            gflops: operations / median_seconds(runs, probe) / 1e9,
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (kernels, runs, Isa::Portable);
        None
    }
}

/// The bf16 dot-product peak of one core (`vdpbf16ps` zmm), the median of
/// `runs` probes, if `kernels` may use it ([`Kernels::has_bf16_dot`]).
///
/// ```
/// let kernels = psmi_core::Kernels::detect();
/// let peak = psmi_bench::peak::dot_bf16(kernels, 1);
/// assert_eq!(peak.is_some(), kernels.has_bf16_dot());
/// ```
pub fn dot_bf16(kernels: Kernels, runs: usize) -> Option<Peak> {
    if !kernels.has_bf16_dot() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the token proves the CPU has AVX-512F and AVX512-BF16.
        let probe = || unsafe { x86::dot_bf16_zmm() };
        let operations = 64.0 * (CHAINS * STEPS) as f64;
        Some(Peak {
            instruction: "vdpbf16ps zmm",
            gflops: operations / median_seconds(runs, probe) / 1e9,
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// The median on-CPU time of `runs` calls of `probe` (at least one), after
/// one call that warms the core up to its sustained clock.
fn median_seconds(runs: usize, probe: impl Fn() -> f32) -> f64 {
    std::hint::black_box(probe());
    let seconds: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let (start, cpu_start) = (Instant::now(), thread_cpu_seconds());
            std::hint::black_box(probe());
            match (cpu_start, thread_cpu_seconds()) {
                (Some(before), Some(after)) => after - before,
                _ => start.elapsed().as_secs_f64(),
            }
        })
        .collect();
    crate::median(seconds)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{CHAINS, STEPS};
    use core::arch::x86_64::*;
    use std::hint::black_box;

    /// Twelve chains of `acc = acc · 1 + 0` stay finite and cannot be folded
    /// away: the factors come through `black_box`.
    ///
    /// # Safety
    ///
    /// The CPU supports AVX-512F and FMA.
    #[target_feature(enable = "avx512f,fma")]
    pub(super) unsafe fn fma_zmm() -> f32 {
        let (one, zero) = (black_box(1.0f32), black_box(0.0f32));
        let (a, b) = (_mm512_set1_ps(one), _mm512_set1_ps(zero));
        let mut acc = [_mm512_set1_ps(one); CHAINS];
        for _ in 0..STEPS {
            for acc in &mut acc {
                *acc = _mm512_fmadd_ps(*acc, a, b);
            }
        }
        acc.iter().map(|&v| _mm512_reduce_add_ps(v)).sum()
    }

    /// As [`fma_zmm`], on ymm registers.
    ///
    /// # Safety
    ///
    /// The CPU supports AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn fma_ymm() -> f32 {
        let (one, zero) = (black_box(1.0f32), black_box(0.0f32));
        let (a, b) = (_mm256_set1_ps(one), _mm256_set1_ps(zero));
        let mut acc = [_mm256_set1_ps(one); CHAINS];
        for _ in 0..STEPS {
            for acc in &mut acc {
                *acc = _mm256_fmadd_ps(*acc, a, b);
            }
        }
        let mut lanes = [0.0f32; 8];
        acc.iter()
            .map(|&v| {
                // SAFETY: `lanes` holds the 8 values an unaligned store writes.
                unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
                lanes.iter().sum::<f32>()
            })
            .sum()
    }

    /// Twelve chains of `acc += 1 · 0 + 1 · 0` in bf16 pairs.
    ///
    /// # Safety
    ///
    /// The CPU supports AVX-512F and AVX512-BF16.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn dot_bf16_zmm() -> f32 {
        let (one, zero) = (
            _mm512_set1_ps(black_box(1.0)),
            _mm512_set1_ps(black_box(0.0)),
        );
        let (a, b) = (
            _mm512_cvtne2ps_pbh(one, one),
            _mm512_cvtne2ps_pbh(zero, zero),
        );
        let mut acc = [_mm512_set1_ps(black_box(1.0f32)); CHAINS];
        for _ in 0..STEPS {
            for acc in &mut acc {
                *acc = _mm512_dpbf16_ps(*acc, a, b);
            }
        }
        acc.iter().map(|&v| _mm512_reduce_add_ps(v)).sum()
    }
}
