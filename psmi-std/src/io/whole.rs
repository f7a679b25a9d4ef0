//! Files written whole or not at all.

use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::time::Duration;

/// Names of [`write_whole`]'s temporary files start with this.
const PARTIAL_PREFIX: &str = ".psmi-partial-";
/// Age after which an unlocked temporary file of [`write_whole`] is taken for a
/// dead writer's: a live writer locks its file the moment it has made it.
const PARTIAL_AGE: Duration = Duration::from_secs(60);

/// Writes one file whole or not at all: `write` fills a temporary file beside
/// `path` (same directory, so the final rename is atomic), which is flushed to
/// disk and then renamed over `path`. On error `path` keeps its old contents.
///
/// A process killed while writing cannot remove its temporary file
/// (`.psmi-partial-*`). On Unix each writer holds a lock on its own, and a later
/// write into the same directory removes those that nobody holds and that are
/// over a minute old.
///
/// ```
/// use std::io::Write;
/// let path = std::env::temp_dir().join("psmi-doc-write-whole.txt");
/// psmi_std::io::write_whole(&path, |w| writeln!(w, "index,label"))?;
/// assert_eq!(std::fs::read_to_string(&path)?, "index,label\n");
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// The first error of creating, writing, syncing or renaming the temporary file.
pub fn write_whole(
    path: &Path,
    write: impl FnOnce(&mut io::BufWriter<&mut fs::File>) -> io::Result<()>,
) -> io::Result<()> {
    let dir = parent_of(path);
    let mut staged = tempfile::Builder::new()
        .prefix(PARTIAL_PREFIX)
        .tempfile_in(dir)?;
    if cfg!(unix) {
        staged.as_file().lock()?;
    }
    {
        let mut writer = io::BufWriter::new(staged.as_file_mut());
        write(&mut writer)?;
        io::Write::flush(&mut writer)?;
    }
    staged.as_file().sync_all()?;
    staged.persist(path).map_err(|e| e.error)?;
    remove_partial_files(dir);
    Ok(())
}

/// Removes the temporary files of [`write_whole`] in `dir` whose writer is gone:
/// unlocked, and older than [`PARTIAL_AGE`] (so that a file made an instant ago,
/// not yet locked, is safe). Unix only: elsewhere a lock may not be visible to
/// other processes in the same way, and nothing is removed.
fn remove_partial_files(dir: &Path) {
    if !cfg!(unix) {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let is_partial = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(PARTIAL_PREFIX));
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > PARTIAL_AGE);
        if !is_partial || !old || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let Ok(file) = File::open(entry.path()) else {
            continue;
        };
        if file.try_lock().is_ok() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The directory holding `path` (`.` for a bare name).
fn parent_of(path: &Path) -> &Path {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    parent.unwrap_or(Path::new("."))
}
