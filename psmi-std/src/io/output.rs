//! Output directories that receive a run's files whole or not at all.

use super::error::{IoError, IoErrorKind};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// A run's output directory, filled through a staging directory and committed at the end.
///
/// Files are written to [`OutputDir::path`], inside a fresh hidden staging directory.
/// [`OutputDir::commit`] moves them into the target; dropping the value without
/// committing (an error, a panic) deletes the staging directory and leaves the target
/// as it was, earlier results included.
///
/// Where the staging directory lives makes each move a same-filesystem rename:
/// - a target that does not exist yet is staged next to it (same parent) and appears
///   at commit by one rename of the whole directory;
/// - an existing target is staged inside it, which proves at [`OutputDir::begin`] that
///   it is writable; at commit each file is renamed over its namesake, in the order
///   their paths were first asked for (so a summary asked for last lands last).
///
/// ```
/// use psmi_std::io::{write_npy_f64, OutputDir};
/// let dir = std::env::temp_dir().join("psmi-doc-output-dir");
/// # let _ = std::fs::remove_dir_all(&dir);
/// let out = OutputDir::begin(&dir)?;
/// write_npy_f64(out.path("psmi_mean.npy"), &[0.5])?;
/// std::fs::write(out.path("summary.json"), "{}")?;
/// assert!(!dir.exists());
/// out.commit()?;
/// assert!(dir.join("psmi_mean.npy").is_file() && dir.join("summary.json").is_file());
///
/// // A run that fails leaves the earlier results alone.
/// let out = OutputDir::begin(&dir)?;
/// std::fs::write(out.path("summary.json"), "{\"partial\": true}")?;
/// drop(out);
/// assert_eq!(std::fs::read_to_string(dir.join("summary.json"))?, "{}");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct OutputDir {
    target: PathBuf,
    staging: PathBuf,
    /// Whether `staging` sits inside `target` (which existed at `begin`).
    inside: bool,
    names: Mutex<Vec<String>>,
    committed: bool,
}

/// Creates a fresh staging directory in `parent`. Made with `create_dir`, not a
/// temp-dir crate, so that it has the usual (umask) permissions when it becomes the
/// target itself.
fn create_staging(parent: &Path) -> io::Result<PathBuf> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = parent.join(format!(".psmi-staging-{}-{n}", process::id()));
        match fs::create_dir(&path) {
            // Left behind by a killed run that had the same process id.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < u32::MAX => continue,
            result => return result.map(|()| path),
        }
    }
}

impl OutputDir {
    /// Starts a run whose results go to `dir`, creating its parent directories if needed.
    ///
    /// # Errors
    ///
    /// An [`IoError`] naming `dir`: [`IoErrorKind::NotADirectory`] if it is a file,
    /// [`IoErrorKind::Output`] if it or its staging directory cannot be created.
    ///
    /// ```
    /// use psmi_std::io::{IoErrorKind, OutputDir};
    /// let file = std::env::temp_dir().join("psmi-doc-begin-file");
    /// std::fs::write(&file, "")?;
    /// let err = OutputDir::begin(&file).unwrap_err();
    /// assert!(matches!(err.kind(), IoErrorKind::NotADirectory));
    /// assert!(err.to_string().contains("psmi-doc-begin-file"));
    /// # std::fs::remove_file(&file)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn begin(dir: impl AsRef<Path>) -> Result<OutputDir, IoError> {
        let target = dir.as_ref().to_path_buf();
        let fail = |e| IoError::new(&target, IoErrorKind::Output(e));
        let inside = match fs::metadata(&target) {
            Ok(meta) if meta.is_dir() => true,
            Ok(_) => return Err(IoError::new(&target, IoErrorKind::NotADirectory)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(fail(e)),
        };
        let staging = if inside {
            create_staging(&target).map_err(fail)?
        } else {
            let parent = match target.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            fs::create_dir_all(parent).map_err(fail)?;
            create_staging(parent).map_err(fail)?
        };
        Ok(OutputDir {
            target,
            staging,
            inside,
            names: Mutex::new(Vec::new()),
            committed: false,
        })
    }

    /// Where to write the output file `name` (a plain file name) during the run.
    /// A directory created there is committed whole, replacing any directory of
    /// that name in the target.
    ///
    /// ```
    /// # use psmi_std::io::OutputDir;
    /// # let dir = std::env::temp_dir().join("psmi-doc-path");
    /// let out = OutputDir::begin(&dir)?;
    /// assert_eq!(out.path("summary.json").file_name().unwrap(), "summary.json");
    /// assert_ne!(out.path("summary.json").parent().unwrap(), dir);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self, name: &str) -> PathBuf {
        // A panic elsewhere while holding the lock leaves the list intact.
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
        self.staging.join(name)
    }

    /// The directory the results go to.
    ///
    /// ```
    /// # use psmi_std::io::OutputDir;
    /// # let dir = std::env::temp_dir().join("psmi-doc-target");
    /// assert_eq!(OutputDir::begin(&dir)?.target(), dir);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Moves every file written through [`OutputDir::path`] into the target directory,
    /// replacing files of the same name, and returns the target. Names asked for but
    /// never written are skipped.
    ///
    /// # Errors
    ///
    /// [`IoErrorKind::Output`] naming the target if a move fails; the staging
    /// directory is removed either way.
    ///
    /// ```
    /// # use psmi_std::io::OutputDir;
    /// # let dir = std::env::temp_dir().join("psmi-doc-commit");
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let out = OutputDir::begin(&dir)?;
    /// std::fs::write(out.path("a.txt"), "new")?;
    /// assert_eq!(out.commit()?, dir);
    /// assert_eq!(std::fs::read_to_string(dir.join("a.txt"))?, "new");
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commit(mut self) -> Result<PathBuf, IoError> {
        let moved = if !self.inside && !self.target.exists() {
            fs::rename(&self.staging, &self.target)
        } else {
            // The target existed, or appeared during the run: move file by file.
            let names = self.names.get_mut().unwrap_or_else(|e| e.into_inner());
            names
                .iter()
                .map(|name| (self.staging.join(name), self.target.join(name)))
                .filter(|(from, _)| from.exists())
                .try_for_each(|(from, to)| {
                    // A directory cannot be renamed over a non-empty one: the
                    // old one goes into the staging directory, removed below.
                    if from.is_dir() && to.is_dir() {
                        fs::rename(&to, replaced(&self.staging, &to))?;
                    }
                    fs::rename(from, to)
                })
                .and_then(|()| fs::remove_dir_all(&self.staging))
        };
        match moved {
            Ok(()) => {
                self.committed = true;
                Ok(self.target.clone())
            }
            Err(e) => Err(IoError::new(&self.target, IoErrorKind::Output(e))),
        }
    }
}

/// Where `old`, a directory being replaced, is put aside inside `staging`.
fn replaced(staging: &Path, old: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".replaced-");
    name.push(old.file_name().unwrap_or_default());
    staging.join(name)
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// Writes one file whole or not at all: `write` fills a temporary file beside
/// `path` (same directory, so the final rename is atomic), which is flushed to
/// disk and then renamed over `path`. On error `path` keeps its old contents.
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
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut staged = tempfile::NamedTempFile::new_in(dir)?;
    {
        let mut writer = io::BufWriter::new(staged.as_file_mut());
        write(&mut writer)?;
        io::Write::flush(&mut writer)?;
    }
    staged.as_file().sync_all()?;
    staged.persist(path).map_err(|e| e.error)?;
    Ok(())
}
