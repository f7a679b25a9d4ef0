//! A file mapped read-only, and what we do with its pages: fill in those of
//! an array before it is read whole, and let them go once rows are used.
//!
//! The only platform-specific code of the crate. Both page hints are
//! `madvise` calls, which exist on Unix alone; elsewhere (Windows) they are
//! skipped: pages are then faulted in on first touch and stay until the map
//! is dropped, with the same values read.

use crate::features::ReleasePages;
use memmap2::Mmap;
use std::fs::File;
use std::ops::{Deref, Range};
use std::path::Path;

/// A whole file mapped read-only, private to this process.
#[derive(Debug)]
pub(crate) struct MappedFile(Mmap);

impl MappedFile {
    /// Maps `path` without reading it: pages are filled in by
    /// [`Self::populate`] or on first touch, so that only the arrays used are
    /// read, not the whole file.
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        let file = File::open(path)?;
        // SAFETY: the map is read-only and private to this process. Another
        // process truncating or rewriting the file while it is mapped would
        // change what we read (or raise SIGBUS); inputs are treated as
        // immutable for the run, as with any mmap.
        let map = unsafe { memmap2::MmapOptions::new().map(&file)? };
        Ok(MappedFile(map))
    }

    /// Fills in the page tables of `bytes` (an array about to be read whole)
    /// in one call rather than one fault per page; best effort.
    pub(crate) fn populate(&self, bytes: Range<usize>) {
        #[cfg(target_os = "linux")]
        let filled = self
            .0
            .advise_range(memmap2::Advice::PopulateRead, bytes.start, bytes.len())
            .is_ok();
        // MADV_POPULATE_READ needs Linux 5.14; elsewhere (or before), ask for
        // read-ahead and let the first touch map each page.
        #[cfg(not(target_os = "linux"))]
        let filled = false;
        #[cfg(unix)]
        if !filled {
            let _ = self
                .0
                .advise_range(memmap2::Advice::WillNeed, bytes.start, bytes.len());
        }
        #[cfg(not(unix))]
        let _ = (filled, bytes);
    }

    /// Drops the pages of `bytes` from the process: they stay in the page
    /// cache, and a later read faults the same bytes in again from the file.
    pub(crate) fn release(&self, bytes: Range<usize>) {
        #[cfg(unix)]
        // SAFETY: the map is private, read-only and never written, so
        // MADV_DONTNEED only drops its page-table entries: any later read,
        // through a reference still alive or not, faults the same bytes back
        // in from the file. Failure leaves the pages mapped, which is harmless.
        let _ = unsafe {
            self.0.unchecked_advise_range(
                memmap2::UncheckedAdvice::DontNeed,
                bytes.start,
                bytes.len(),
            )
        };
        #[cfg(not(unix))]
        let _ = bytes;
    }
}

impl Deref for MappedFile {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl ReleasePages for MappedFile {
    fn release_pages(&self, bytes: &[u8]) {
        // The rows of a shard lie in its map: their offset is in range.
        let start = (bytes.as_ptr() as usize).saturating_sub(self.0.as_ptr() as usize);
        let end = (start + bytes.len()).min(self.0.len());
        self.release(start.min(end)..end);
    }
}
