//! The data-cache sizes the projection's blocks are cut for.
//!
//! On x86-64 they are read from CPUID (leaf 4 on Intel, 0x8000001D on AMD and
//! Hygon), once per process; elsewhere, or when the CPU reports nothing, the
//! sizes of [`CacheSizes::FALLBACK`] are used.

/// Sizes in bytes of the level-1 data cache and the level-2 cache of one core.
///
/// ```
/// use psmi_core::projection::CacheSizes;
/// let caches = CacheSizes::detect();
/// assert!(caches.l1d >= 4096 && caches.l2 >= caches.l1d);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSizes {
    /// Level-1 data cache, bytes.
    pub l1d: usize,
    /// Level-2 cache, bytes.
    pub l2: usize,
}

impl CacheSizes {
    /// The sizes assumed when the CPU reports none: 48 KiB and 2 MiB, as on
    /// Intel Ice Lake and Sapphire Rapids server cores.
    ///
    /// ```
    /// use psmi_core::projection::CacheSizes;
    /// assert_eq!(CacheSizes::FALLBACK.l1d, 48 * 1024);
    /// ```
    pub const FALLBACK: CacheSizes = CacheSizes {
        l1d: 48 * 1024,
        l2: 2048 * 1024,
    };

    /// The sizes the running CPU reports (CPUID on x86-64, read once and
    /// remembered), else [`CacheSizes::FALLBACK`].
    ///
    /// ```
    /// use psmi_core::projection::CacheSizes;
    /// assert_eq!(CacheSizes::detect(), CacheSizes::detect());
    /// ```
    pub fn detect() -> CacheSizes {
        #[cfg(target_arch = "x86_64")]
        {
            x86::detect()
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            CacheSizes::FALLBACK
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::CacheSizes;
    use core::arch::x86_64::__cpuid_count;
    use core::sync::atomic::{AtomicUsize, Ordering};

    /// The detected sizes; 0 until the first detection. Every thread that
    /// races to fill them finds and stores the same values.
    static L1D: AtomicUsize = AtomicUsize::new(0);
    static L2: AtomicUsize = AtomicUsize::new(0);

    pub(super) fn detect() -> CacheSizes {
        let (l1d, l2) = (L1D.load(Ordering::Relaxed), L2.load(Ordering::Relaxed));
        if l1d != 0 && l2 != 0 {
            return CacheSizes { l1d, l2 };
        }
        let caches = from_cpuid().unwrap_or(CacheSizes::FALLBACK);
        L1D.store(caches.l1d, Ordering::Relaxed);
        L2.store(caches.l2, Ordering::Relaxed);
        caches
    }

    /// Walks the deterministic cache parameters leaf (4 on Intel,
    /// 0x8000001D on AMD and Hygon): one sub-leaf per cache until type 0.
    fn from_cpuid() -> Option<CacheSizes> {
        let vendor = __cpuid_count(0, 0);
        let max_basic = vendor.eax;
        // "AuthenticAMD" and "HygonGenuine" end their EBX with "Auth" / "Hygo".
        let amd = matches!(&vendor.ebx.to_le_bytes(), b"Auth" | b"Hygo");
        let leaf = if amd {
            let max_extended = __cpuid_count(0x8000_0000, 0).eax;
            // The leaf exists when topology extensions (0x80000001 ECX bit 22) do.
            let topology = __cpuid_count(0x8000_0001, 0).ecx & (1 << 22) != 0;
            (max_extended >= 0x8000_001D && topology).then_some(0x8000_001D)?
        } else {
            (max_basic >= 4).then_some(4)?
        };
        let (mut l1d, mut l2) = (None, None);
        for sub_leaf in 0..16 {
            let r = __cpuid_count(leaf, sub_leaf);
            let kind = r.eax & 0x1F;
            if kind == 0 {
                break;
            }
            let level = (r.eax >> 5) & 0x7;
            let size = cache_bytes(r.ebx, r.ecx);
            match (level, kind) {
                (1, 1) => l1d = Some(size),
                (2, 1 | 3) => l2 = Some(size),
                _ => {}
            }
        }
        let (l1d, l2) = (l1d?, l2?);
        (l1d >= 4096 && l2 >= l1d).then_some(CacheSizes { l1d, l2 })
    }

    /// Ways × partitions × line size × sets, each field stored minus one.
    pub(super) fn cache_bytes(ebx: u32, ecx: u32) -> usize {
        let ways = (ebx >> 22) as usize + 1;
        let partitions = ((ebx >> 12) & 0x3FF) as usize + 1;
        let line = (ebx & 0xFFF) as usize + 1;
        let sets = ecx as usize + 1;
        ways * partitions * line * sets
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn cache_bytes_decodes_the_fields() {
            // 12 ways, 1 partition, 64-byte lines, 64 sets: 48 KiB.
            let ebx = (11 << 22) | 63;
            assert_eq!(super::cache_bytes(ebx, 63), 48 * 1024);
            // 16 ways, 2 partitions, 64-byte lines, 1024 sets: 2 MiB.
            let ebx = (15 << 22) | (1 << 12) | 63;
            assert_eq!(super::cache_bytes(ebx, 1023), 2048 * 1024);
        }
    }
}
