//! Choice of SIMD kernels: made once, carried by a [`Kernels`] token.
//!
//! Under `no_std` there is no run-time CPU detection, so
//! [`Kernels::compiled`] picks the best instruction set enabled at compile
//! time (`-C target-feature` / `-C target-cpu`). With the `std` feature,
//! [`Kernels::detect`] asks the CPU at run time, so a default build runs the
//! AVX2+FMA or AVX-512 kernels on a CPU that has them.
//!
//! Beside its instruction set, a token says whether the CPU also has the
//! bf16 dot product of AVX512-BF16 (`vdpbf16ps`), which only the bf16
//! projection uses ([`crate::projection::Precision::Bf16`]); every other
//! kernel runs the same with or without it.

/// An instruction set the kernels are written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Isa {
    /// Portable SIMD (`wide`), which lowers to SSE2, NEON, WASM SIMD or scalar code.
    Portable,
    /// x86-64 AVX2 with fused multiply-add (and F16C, which every such CPU has,
    /// for widening f16 features).
    Avx2Fma,
    /// x86-64 AVX-512 (F, VL, DQ, BW), with FMA and F16C.
    Avx512,
}

impl Isa {
    /// Every instruction set, from the most portable to the widest.
    pub const ALL: [Isa; 3] = [Isa::Portable, Isa::Avx2Fma, Isa::Avx512];

    /// A short lower-case name, as used in benchmark reports.
    ///
    /// ```
    /// assert_eq!(psmi_core::Isa::Avx2Fma.name(), "avx2-fma");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2Fma => "avx2-fma",
            Isa::Avx512 => "avx512",
        }
    }

    /// Whether the compile-time target features already guarantee this set.
    pub const fn enabled_at_compile_time(self) -> bool {
        match self {
            Isa::Portable => true,
            Isa::Avx2Fma => cfg!(all(
                target_arch = "x86_64",
                target_feature = "avx2",
                target_feature = "fma",
                target_feature = "f16c"
            )),
            Isa::Avx512 => cfg!(all(
                target_arch = "x86_64",
                target_feature = "avx512f",
                target_feature = "avx512vl",
                target_feature = "avx512dq",
                target_feature = "avx512bw",
                target_feature = "fma",
                target_feature = "f16c"
            )),
        }
    }

    /// Whether the running CPU supports this set (run-time detection).
    ///
    /// ```
    /// assert!(psmi_core::Isa::Portable.is_supported());
    /// ```
    #[cfg(feature = "std")]
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => {
                std::is_x86_feature_detected!("avx2")
                    && std::is_x86_feature_detected!("fma")
                    && std::is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512vl")
                    && std::is_x86_feature_detected!("avx512dq")
                    && std::is_x86_feature_detected!("avx512bw")
                    && std::is_x86_feature_detected!("fma")
                    && std::is_x86_feature_detected!("f16c")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }
}

/// Proof that the kernels of one [`Isa`] may run on this CPU.
///
/// Every kernel entry point takes a `Kernels`, so the instruction set is
/// chosen once and the choice is visible in the call.
///
/// ```
/// use psmi_core::{Isa, Kernels};
/// let portable = Kernels::portable();
/// assert_eq!(portable.isa(), Isa::Portable);
/// // The best set the compile-time target features allow:
/// let compiled = Kernels::compiled();
/// assert!(compiled.isa() >= Isa::Portable);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Kernels {
    isa: Isa,
    /// The CPU has AVX512-BF16 as well (only with [`Isa::Avx512`]).
    bf16_dot: bool,
}

/// Whether the compile-time target features guarantee AVX512-BF16.
const BF16_DOT_COMPILED: bool = cfg!(all(target_arch = "x86_64", target_feature = "avx512bf16"));

/// Whether the running CPU has AVX512-BF16 (run-time detection).
#[cfg(feature = "std")]
fn bf16_dot_supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl Kernels {
    /// The portable kernels, which run everywhere.
    pub const fn portable() -> Self {
        Kernels {
            isa: Isa::Portable,
            bf16_dot: false,
        }
    }

    /// The widest kernels the compile-time target features guarantee.
    pub const fn compiled() -> Self {
        let isa = if Isa::Avx512.enabled_at_compile_time() {
            Isa::Avx512
        } else if Isa::Avx2Fma.enabled_at_compile_time() {
            Isa::Avx2Fma
        } else {
            Isa::Portable
        };
        Kernels {
            isa,
            bf16_dot: matches!(isa, Isa::Avx512) && BF16_DOT_COMPILED,
        }
    }

    /// The widest kernels the running CPU supports, found at run time.
    ///
    /// Prefers AVX-512, then AVX2+FMA, then the portable kernels.
    ///
    /// ```
    /// let kernels = psmi_core::Kernels::detect();
    /// assert!(kernels.isa().is_supported());
    /// ```
    #[cfg(feature = "std")]
    pub fn detect() -> Self {
        let isa = Isa::ALL
            .into_iter()
            .rev()
            .find(|isa| isa.is_supported())
            .unwrap_or(Isa::Portable);
        Kernels::with_detected_bf16_dot(isa)
    }

    /// The token of `isa` (which the CPU supports), with the bf16 dot
    /// product if `isa` is AVX-512 and the CPU has it.
    #[cfg(feature = "std")]
    fn with_detected_bf16_dot(isa: Isa) -> Self {
        Kernels {
            isa,
            bf16_dot: isa == Isa::Avx512 && bf16_dot_supported(),
        }
    }

    /// The kernels of `isa` if the running CPU supports them.
    ///
    /// ```
    /// use psmi_core::{Isa, Kernels};
    /// assert!(Kernels::for_isa(Isa::Portable).is_some());
    /// ```
    #[cfg(feature = "std")]
    pub fn for_isa(isa: Isa) -> Option<Self> {
        isa.is_supported()
            .then(|| Kernels::with_detected_bf16_dot(isa))
    }

    /// The kernels of `isa`, or `None` unless the compile-time target
    /// features guarantee it (the `no_std` way to pick a set).
    ///
    /// ```
    /// use psmi_core::{Isa, Kernels};
    /// assert!(Kernels::if_compiled(Isa::Portable).is_some());
    /// ```
    pub const fn if_compiled(isa: Isa) -> Option<Self> {
        if isa.enabled_at_compile_time() {
            Some(Kernels {
                isa,
                bf16_dot: matches!(isa, Isa::Avx512) && BF16_DOT_COMPILED,
            })
        } else {
            None
        }
    }

    /// The kernels of `isa`, without checking the CPU.
    ///
    /// # Safety
    ///
    /// The running CPU must support `isa` (for example, checked by a run-time
    /// detection of the caller's own). Running kernels the CPU lacks is
    /// undefined behaviour. The token does not claim the bf16 dot product.
    pub const unsafe fn new_unchecked(isa: Isa) -> Self {
        Kernels {
            isa,
            bf16_dot: false,
        }
    }

    /// The instruction set these kernels use.
    pub const fn isa(self) -> Isa {
        self.isa
    }

    /// Whether the bf16 projection may use the bf16 dot product of
    /// AVX512-BF16 (`vdpbf16ps`); without it, it multiplies the same
    /// bf16 values with the f32 kernels of [`Kernels::isa`].
    ///
    /// ```
    /// let kernels = psmi_core::Kernels::detect();
    /// assert!(!kernels.without_bf16_dot().has_bf16_dot());
    /// assert_eq!(kernels.without_bf16_dot().isa(), kernels.isa());
    /// ```
    pub const fn has_bf16_dot(self) -> bool {
        self.bf16_dot
    }

    /// The same kernels without the bf16 dot product: the portable way to
    /// the bf16 projection's numbers (within f32 rounding) on any CPU.
    pub const fn without_bf16_dot(self) -> Self {
        Kernels {
            isa: self.isa,
            bf16_dot: false,
        }
    }
}
